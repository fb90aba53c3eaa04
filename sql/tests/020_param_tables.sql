-- 020_param_tables.sql: parameter catalogues, parameter sets, land-use lookup
-- tables (long form) and their wide view param.lulc_table.
BEGIN;
SELECT plan(31);

SELECT has_table('param', t, format('table param.%s exists', t))
FROM unnest(ARRAY['coefficient', 'scalar_def', 'stat_variable', 'param_set', 'lulc_class', 'lulc_value', 'scalar']) AS t;
SELECT has_view('param', 'lulc_table', 'param.lulc_table is a view');

SELECT col_is_pk('param', 'coefficient', 'name', 'coefficient key');
SELECT col_is_pk('param', 'param_set', 'param_set_id', 'param_set key');
SELECT col_is_pk('param', 'lulc_class', ARRAY['param_set_id', 'lucode'], 'lulc_class key');
SELECT col_is_pk('param', 'lulc_value', ARRAY['param_set_id', 'lucode', 'coefficient'], 'lulc_value key');
SELECT col_is_pk('param', 'scalar', ARRAY['param_set_id', 'name'], 'scalar key');
SELECT fk_ok('param', 'lulc_value', ARRAY['param_set_id', 'lucode'], 'param', 'lulc_class', ARRAY['param_set_id', 'lucode']);
SELECT fk_ok('param', 'lulc_value', 'coefficient', 'param', 'coefficient', 'name');
SELECT fk_ok('param', 'scalar', 'name', 'param', 'scalar_def', 'name');
SELECT fk_ok('param', 'param_set', 'study_area_id', 'core', 'study_area', 'study_area_id');

INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t020', 32650, 0, 1000, 10, 100, 100);
INSERT INTO param.param_set (study_area_id, name, kind, citation)
SELECT study_area_id, 'biophysical', 'lulc', 'test' FROM core.study_area WHERE name = 't020';
INSERT INTO param.param_set (study_area_id, name, kind)
SELECT study_area_id, 'scalars', 'scalar' FROM core.study_area WHERE name = 't020';
INSERT INTO param.lulc_class (param_set_id, lucode, description)
SELECT param_set_id, c.lucode, c.description FROM param.param_set,
       (VALUES (1, 'cropland'), (2, 'forest'), (5, 'water')) AS c (lucode, description)
WHERE name = 'biophysical';
INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value)
SELECT param_set_id, v.lucode, v.coefficient, v.value FROM param.param_set,
       (VALUES (1, 'kc', 0.7), (1, 'root_depth', 500), (2, 'kc', 1.0), (2, 'c_above', 140.5)) AS v (lucode, coefficient, value)
WHERE name = 'biophysical';

-- the wide view: one row per class, its coefficients as one JSON object, NULL without any
SELECT results_eq(
    $$SELECT lucode, description, coefficients FROM param.lulc_table WHERE param_set = 'biophysical' ORDER BY lucode$$,
    $$VALUES (1, 'cropland'::text, '{"kc": 0.7, "root_depth": 500}'::jsonb),
             (2, 'forest', '{"kc": 1.0, "c_above": 140.5}'::jsonb),
             (5, 'water', NULL::jsonb)$$,
    'param.lulc_table: one row per class with its coefficients (NULL for a class without values)');
SELECT is((SELECT DISTINCT study_area_id FROM param.lulc_table WHERE param_set = 'biophysical'),
          (SELECT study_area_id FROM core.study_area WHERE name = 't020'), 'param.lulc_table names the study area');
SELECT is((SELECT count(*)::integer FROM param.lulc_table WHERE param_set = 'scalars'), 0,
          'a scalar set has no row in param.lulc_table');

SELECT throws_ok($$INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value)
                   SELECT param_set_id, 1, 'no_such_coefficient', 1 FROM param.param_set WHERE name = 'biophysical'$$,
                 '23503', NULL, 'a coefficient missing from the catalogue is refused');
SELECT throws_ok($$INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value)
                   SELECT param_set_id, 9, 'kc', 1 FROM param.param_set WHERE name = 'biophysical'$$,
                 '23503', NULL, 'a value of an undeclared class is refused');
SELECT throws_ok($$INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value)
                   SELECT param_set_id, 5, 'kc', NULL FROM param.param_set WHERE name = 'biophysical'$$,
                 '23502', NULL, 'a NULL value is refused');
SELECT throws_ok($$INSERT INTO param.scalar (param_set_id, name, value, unit)
                   SELECT param_set_id, 'no_such_scalar', 1, '1' FROM param.param_set WHERE name = 'scalars'$$,
                 '23503', NULL, 'a scalar missing from the catalogue is refused');
SELECT lives_ok($$INSERT INTO param.scalar (param_set_id, name, value, unit)
                  SELECT param_set_id, 'seasonality_z', 5, '1' FROM param.param_set WHERE name = 'scalars'$$,
                'a catalogued scalar is accepted');
SELECT throws_ok($$INSERT INTO param.param_set (study_area_id, name, kind)
                   SELECT study_area_id, 'other', 'table' FROM core.study_area WHERE name = 't020'$$,
                 '23514', NULL, 'param_set kind is lulc or scalar');
SELECT throws_ok($$INSERT INTO param.param_set (study_area_id, name, kind)
                   SELECT study_area_id, 'Other Set', 'lulc' FROM core.study_area WHERE name = 't020'$$,
                 '23514', NULL, 'a param_set name with capitals or spaces is refused');
SELECT throws_ok($$INSERT INTO param.param_set (study_area_id, name, kind)
                   SELECT study_area_id, 'biophysical', 'lulc' FROM core.study_area WHERE name = 't020'$$,
                 '23505', NULL, 'param_set names are unique per study area');
SELECT throws_ok($$INSERT INTO param.coefficient (name, unit, description) VALUES ('Bad-Name', '1', 'x')$$,
                 '23514', NULL, 'a coefficient name must be a lower-case identifier');

-- deleting a set deletes its classes and values
DELETE FROM param.param_set WHERE name = 'biophysical';
SELECT is((SELECT count(*)::integer FROM param.lulc_class) + (SELECT count(*)::integer FROM param.lulc_value), 0,
          'deleting a lookup table deletes its classes and values');
DELETE FROM core.study_area WHERE name = 't020';
SELECT is((SELECT count(*)::integer FROM param.param_set) + (SELECT count(*)::integer FROM param.scalar), 0,
          'deleting a study area deletes its parameter sets and scalars');

SELECT * FROM finish();
ROLLBACK;
