-- 022_habitat_threats.sql: the threats of a habitat-quality sensitivity table, the sensitivity of each class to
-- each threat, and the wide view param.lulc_table that shows them with the coefficients.
BEGIN;
SELECT plan(16);

SELECT has_table('param', t, format('table param.%s exists', t)) FROM unnest(ARRAY['threat', 'threat_sensitivity']) AS t;
SELECT col_is_pk('param', 'threat', ARRAY['param_set_id', 'threat'], 'threat key');
SELECT col_is_pk('param', 'threat_sensitivity', ARRAY['param_set_id', 'lucode', 'threat'], 'threat_sensitivity key');
SELECT fk_ok('param', 'threat_sensitivity', ARRAY['param_set_id', 'threat'], 'param', 'threat', ARRAY['param_set_id', 'threat']);
SELECT fk_ok('param', 'threat_sensitivity', ARRAY['param_set_id', 'lucode'], 'param', 'lulc_class', ARRAY['param_set_id', 'lucode']);

INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t022', 32650, 0, 1000, 10, 100, 100);
INSERT INTO param.param_set (study_area_id, name, kind, citation)
SELECT study_area_id, 'hq_sensitivity', 'lulc', 'test' FROM core.study_area WHERE name = 't022';
INSERT INTO param.lulc_class (param_set_id, lucode, description)
SELECT param_set_id, c.lucode, c.description FROM param.param_set,
       (VALUES (1, 'forest'), (2, 'cropland')) AS c (lucode, description) WHERE name = 'hq_sensitivity';
INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value)
SELECT param_set_id, v.lucode, 'habitat', v.value FROM param.param_set, (VALUES (1, 1.0), (2, 0.3)) AS v (lucode, value)
WHERE name = 'hq_sensitivity';
INSERT INTO param.threat (param_set_id, threat, position, max_dist_m, weight, decay, layer)
SELECT param_set_id, 'roads', 1, 2000, 0.7, 'linear', 'threat_roads' FROM param.param_set WHERE name = 'hq_sensitivity';
INSERT INTO param.threat_sensitivity (param_set_id, lucode, threat, value)
SELECT param_set_id, v.lucode, 'roads', v.value FROM param.param_set, (VALUES (1, 0.9), (2, 0.25)) AS v (lucode, value)
WHERE name = 'hq_sensitivity';

-- the wide view: the habitat coefficient and the threat sensitivity of each class, as InVEST's sensitivity table
SELECT results_eq(
    $$SELECT lucode, coefficients FROM param.lulc_table WHERE param_set = 'hq_sensitivity' ORDER BY lucode$$,
    $$VALUES (1, '{"habitat": 1.0, "roads": 0.9}'::jsonb), (2, '{"habitat": 0.3, "roads": 0.25}'::jsonb)$$,
    'param.lulc_table shows the threat sensitivities beside the coefficients');

SELECT throws_ok($$INSERT INTO param.threat_sensitivity (param_set_id, lucode, threat, value)
                   SELECT param_set_id, 1, 'rail', 0.5 FROM param.param_set WHERE name = 'hq_sensitivity'$$,
                 '23503', NULL, 'a sensitivity to a threat not of its set is refused');
SELECT throws_ok($$INSERT INTO param.threat_sensitivity (param_set_id, lucode, threat, value)
                   SELECT param_set_id, 9, 'roads', 0.5 FROM param.param_set WHERE name = 'hq_sensitivity'$$,
                 '23503', NULL, 'a sensitivity of an undeclared class is refused');
SELECT throws_ok($$UPDATE param.threat_sensitivity SET value = 1.5 WHERE lucode = 1$$,
                 '23514', NULL, 'a sensitivity above 1 is refused');
SELECT throws_ok($$UPDATE param.threat_sensitivity SET value = 'NaN' WHERE lucode = 1$$,
                 '23514', NULL, 'a NaN sensitivity is refused');
SELECT throws_ok($$UPDATE param.threat SET max_dist_m = 0$$, '23514', NULL, 'max_dist_m must be positive');
SELECT throws_ok($$UPDATE param.threat SET weight = 0$$, '23514', NULL, 'a weight must be positive');
SELECT throws_ok($$UPDATE param.threat SET decay = 'gaussian'$$, '23514', NULL, 'decay is linear or exponential');
SELECT throws_ok($$UPDATE param.threat SET layer = 'Threat Roads'$$, '23514', NULL, 'the layer is a layer name');

-- deleting the set deletes its threats and sensitivities
DELETE FROM param.param_set WHERE name = 'hq_sensitivity';
SELECT is((SELECT count(*)::integer FROM param.threat) + (SELECT count(*)::integer FROM param.threat_sensitivity), 0,
          'deleting a sensitivity table deletes its threats and sensitivities');

SELECT * FROM finish();
ROLLBACK;
