-- 040_results.sql: result.county_service (supply and demand per county and
-- services run): keys, the allowed services and sides, fractional cell counts,
-- NULL values with a reason, and what deleting a run, a unit or a study area does.
BEGIN;
SELECT plan(20);

SELECT has_table('result', 'county_service', 'table result.county_service exists');
SELECT col_is_pk('result', 'county_service', ARRAY['run_id', 'unit_id', 'service', 'side'], 'county_service key');
SELECT fk_ok('result', 'county_service', 'run_id', 'core', 'run', 'run_id');
SELECT fk_ok('result', 'county_service', 'unit_id', 'core', 'admin_unit_version', 'unit_id');
SELECT col_type_is('result', 'county_service', 'valid_cells', 'double precision',
                   'valid_cells is fractional (shares of pixels)');
SELECT col_not_null('result', 'county_service', 'valid_cells', 'valid_cells is always given');
SELECT col_is_null('result', 'county_service', 'total', 'total may be NULL');
SELECT has_column('result', 'county_service', 'null_reason', 'null_reason says why values are NULL');

INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t040', 32650, 500000, 4400000, 100, 200, 100);
INSERT INTO core.admin_unit (study_area_id, level, code, geom)
SELECT study_area_id, 'county', c.code, ST_Multi(ST_MakeEnvelope(c.x0, 4390000, c.x0 + 10000, 4400000, 32650))
FROM core.study_area, (VALUES ('130101', 500000), ('130102', 510000)) AS c (code, x0)
WHERE name = 't040';
INSERT INTO core.run (study_area_id, stage, label, status)
SELECT study_area_id, 'services', 't040', 'succeeded' FROM core.study_area WHERE name = 't040';

SELECT lives_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, mean, density_km2, valid_cells)
                  SELECT r.run_id, u.unit_id, 'food', 'supply', 'food_supply', 1234.5, 't/yr', 0.12345, 12.345, 10000
                  FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040' AND u.code = '130101'$$,
                'a county row with values is accepted');
SELECT lives_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, valid_cells, null_reason)
                  SELECT r.run_id, u.unit_id, 'food', 'supply', 'food_supply', NULL, 't/yr', 0.25, 'no valid pixel'
                  FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040' AND u.code = '130102'$$,
                'a county row without values, a quarter of a pixel and a reason is accepted');
SELECT is((SELECT valid_cells FROM result.county_service WHERE null_reason = 'no valid pixel'), 0.25::double precision,
          'valid_cells keeps a share of a pixel');
SELECT throws_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, unit, valid_cells)
                   SELECT r.run_id, u.unit_id, 'wind', 'supply', 'wind', 'MWh', 1
                   FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040' AND u.code = '130101'$$,
                 '23514', NULL, 'service is food, carbon, water, soil or recreation');
SELECT throws_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, unit, valid_cells)
                   SELECT r.run_id, u.unit_id, 'food', 'balance', 'x', 't', 1
                   FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040' AND u.code = '130101'$$,
                 '23514', NULL, 'side is supply or demand');
SELECT throws_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, unit, valid_cells)
                   SELECT r.run_id, u.unit_id, 'food', 'supply', 'x', 't', 1
                   FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040' AND u.code = '130101'$$,
                 '23505', NULL, 'one row per run, county, service and side');
SELECT throws_ok($$INSERT INTO result.county_service (run_id, unit_id, service, side, layer, unit, valid_cells)
                   SELECT r.run_id, -1, 'carbon', 'supply', 'x', 't', 1 FROM core.run r WHERE r.label = 't040'$$,
                 '23503', NULL, 'a unit that does not exist is refused');

-- a unit referred to by a result cannot be deleted; a superseded one stays with its results
SELECT throws_ok($$DELETE FROM core.admin_unit WHERE code = '130101'$$, '23503', NULL,
                 'deleting a unit that results refer to is refused');
UPDATE core.admin_unit_version SET superseded_at = now() WHERE code = '130101';
SELECT is((SELECT count(*)::integer FROM result.county_service s JOIN core.admin_unit_version u USING (unit_id)
           WHERE u.code = '130101'), 1, 'results of a superseded unit stay');

-- deleting the run deletes its rows; deleting the study area deletes everything at once
INSERT INTO core.run (study_area_id, stage, label, status)
SELECT study_area_id, 'services', 't040 second', 'succeeded' FROM core.study_area WHERE name = 't040';
INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, valid_cells)
SELECT r.run_id, u.unit_id, 'carbon', 'demand', 'carbon_demand', 1, 't C/yr', 1
FROM core.run r JOIN core.admin_unit u USING (study_area_id) WHERE r.label = 't040 second' AND u.code = '130102';
DELETE FROM core.run WHERE label = 't040 second';
SELECT is((SELECT count(*)::integer FROM result.county_service WHERE service = 'carbon'), 0,
          'deleting a run deletes its county rows');
SELECT lives_ok($$DELETE FROM core.study_area WHERE name = 't040'$$,
                'deleting a study area deletes its runs, results and units in one statement');
SELECT is((SELECT count(*)::integer FROM result.county_service) + (SELECT count(*)::integer FROM core.admin_unit_version),
          0, 'nothing of the study area is left');

SELECT * FROM finish();
ROLLBACK;
