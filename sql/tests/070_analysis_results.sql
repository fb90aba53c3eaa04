-- 070_analysis_results.sql: the results of the ratios, resilience and zoning
-- stages, run lineage (core.run_input) and result.analysis_run; every county has
-- a row, an unclassified one with NULL values and a reason.
BEGIN;
SELECT plan(62);

SELECT has_table('core', 'run_input', 'table core.run_input exists');
SELECT has_table('result', t, format('table result.%s exists', t))
FROM unnest(ARRAY['ratio_service', 'county_ratio', 'balance_class', 'run_indicator', 'county_indicator',
                  'county_dimension', 'county_resilience', 'county_zone', 'zone']) AS t;
SELECT has_view('result', 'analysis_run', 'result.analysis_run is a view');
SELECT col_is_pk('core', 'run_input', ARRAY['run_id', 'stage'], 'run_input key: one input run per stage');
SELECT col_is_pk('result', 'ratio_service', ARRAY['run_id', 'service'], 'ratio_service key');
-- every county-level table has an integer identity key (QGIS, BI tools)
SELECT col_is_pk('result', t, 'id', format('result.%s has the key id', t))
FROM unnest(ARRAY['county_ratio', 'balance_class', 'run_indicator', 'county_indicator', 'county_dimension',
                  'county_resilience', 'county_zone', 'zone']) AS t;
SELECT is_empty($$SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'result' AND a.attname = 'id' AND c.relkind = 'r'
                    AND (a.attidentity <> 'a' OR a.atttypid <> 'integer'::regtype)$$,
                'every id of result is an integer GENERATED ALWAYS AS IDENTITY');
SELECT col_is_unique('result', 'county_ratio', ARRAY['run_id', 'unit_id', 'service'], 'one ratio per run, county and service');
SELECT col_is_unique('result', 'county_zone', ARRAY['run_id', 'unit_id'], 'one zone per run and county');
SELECT col_is_unique('result', 'zone', ARRAY['run_id', 'display_code'], 'display codes are unique per run');
SELECT fk_ok('core', 'run_input', 'input_run_id', 'core', 'run', 'run_id');
SELECT fk_ok('result', t, 'unit_id', 'core', 'admin_unit_version', 'unit_id')
FROM unnest(ARRAY['county_ratio', 'county_indicator', 'county_dimension', 'county_resilience', 'county_zone']) AS t;
SELECT has_column('result', t, 'missing_reason', format('result.%s says why a value is missing', t))
FROM unnest(ARRAY['county_ratio', 'county_indicator', 'county_resilience', 'county_zone']) AS t;
SELECT col_default_is('result', 'county_indicator', 'imputed', 'false', 'an indicator value is not imputed by default');
SELECT col_default_is('result', 'zone', 'classified', 'true', 'a zone is classified by default');

-- an analysis: services S, ratios R, resilience E, zoning Z (run by pipeline P)
INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t070', 32650, 500000, 4400000, 100, 200, 100);
INSERT INTO core.admin_unit (study_area_id, level, code, geom)
SELECT study_area_id, 'county', c.code, ST_Multi(ST_MakeEnvelope(c.x0, 4390000, c.x0 + 10000, 4400000, 32650))
FROM core.study_area, (VALUES ('130101', 500000), ('130102', 510000)) AS c (code, x0) WHERE name = 't070';
INSERT INTO core.run (study_area_id, stage, label, status, finished_at)
SELECT study_area_id, r.stage, r.label, r.status, '2024-05-01 12:00+00'::timestamptz
FROM core.study_area, (VALUES ('pipeline', 'P', 'succeeded'), ('services', 'S', 'succeeded'), ('ratios', 'R', 'succeeded'),
                              ('resilience', 'E', 'succeeded'), ('zoning', 'Z', 'succeeded'), ('zoning', 'Zfailed', 'failed'),
                              ('zoning', 'Zpartial', 'succeeded')) AS r (stage, label, status)
WHERE name = 't070';
UPDATE core.run SET parent_run_id = (SELECT run_id FROM core.run WHERE label = 'P') WHERE label = 'Z';
INSERT INTO core.run_input (run_id, stage, input_run_id)
SELECT z.run_id, i.stage, (SELECT run_id FROM core.run WHERE label = i.label)
FROM core.run z, (VALUES ('ratios', 'R'), ('resilience', 'E'), ('services', 'S')) AS i (stage, label)
WHERE z.label IN ('Z', 'Zfailed');
INSERT INTO core.run_input (run_id, stage, input_run_id)
SELECT z.run_id, i.stage, (SELECT run_id FROM core.run WHERE label = i.label)
FROM core.run z, (VALUES ('ratios', 'R'), ('services', 'S')) AS i (stage, label) WHERE z.label = 'Zpartial';
INSERT INTO core.run_input (run_id, stage, input_run_id)
SELECT run_id, 'services', (SELECT run_id FROM core.run WHERE label = 'S') FROM core.run WHERE label IN ('R', 'E');

SELECT results_eq(
    $$SELECT run_id, study_area_id, label, finished_at, ratios_run_id, resilience_run_id, services_run_id, pipeline_run_id
      FROM result.analysis_run$$,
    $$SELECT z.run_id, z.study_area_id, 'Z'::text, '2024-05-01 12:00+00'::timestamptz,
             (SELECT run_id FROM core.run WHERE label = 'R'), (SELECT run_id FROM core.run WHERE label = 'E'),
             (SELECT run_id FROM core.run WHERE label = 'S'), (SELECT run_id FROM core.run WHERE label = 'P')
      FROM core.run z WHERE z.label = 'Z'$$,
    'analysis_run: succeeded zoning runs that read a ratios, a resilience and a services run (not failed ones, '
    'not those missing an input, not other stages)');
SELECT throws_ok($$INSERT INTO core.run_input (run_id, stage, input_run_id)
                   SELECT run_id, 'ratios', run_id FROM core.run WHERE label = 'Z'$$, '23505', NULL,
                 'a run reads one run of a stage');

-- constraints of the result rows
SELECT throws_ok($$INSERT INTO result.ratio_service (run_id, service, basis, scaling, supply_unit, demand_unit, cesd_weight)
                   SELECT run_id, 'food', 'mean', 'raw', 't', 't', 1 FROM core.run WHERE label = 'R'$$,
                 '23514', NULL, 'ratio basis is density or total');
SELECT throws_ok($$INSERT INTO result.ratio_service (run_id, service, basis, scaling, supply_unit, demand_unit, cesd_weight)
                   SELECT run_id, 'food', 'total', 'log', 't', 't', 1 FROM core.run WHERE label = 'R'$$,
                 '23514', NULL, 'ratio scaling is raw or minmax');
SELECT throws_ok($$INSERT INTO result.county_ratio (run_id, unit_id, service, esdr, matching_type)
                   SELECT r.run_id, u.unit_id, 'food', 0.5, 'HX' FROM core.run r, core.admin_unit u
                   WHERE r.label = 'R' AND u.code = '130101'$$, '23514', NULL, 'matching type is HH, LH, LL or HL');
SELECT throws_ok($$INSERT INTO result.county_ratio (id, run_id, unit_id, service)
                   SELECT 1, r.run_id, u.unit_id, 'food' FROM core.run r, core.admin_unit u
                   WHERE r.label = 'R' AND u.code = '130101'$$, '428C9', NULL, 'an id cannot be given (identity ALWAYS)');
SELECT lives_ok($$INSERT INTO result.county_ratio (run_id, unit_id, service, supply, demand, esdr, matching_type, missing_reason)
                  SELECT r.run_id, u.unit_id, 'food', 10, NULL, NULL, NULL, 'no demand statistic' FROM core.run r, core.admin_unit u
                  WHERE r.label = 'R' AND u.code = '130101'$$, 'a ratio without ESDR and matching type, with its reason');
SELECT throws_ok($$INSERT INTO result.balance_class (run_id, level, service, rank, label, units, area_km2, area_share)
                   SELECT run_id, 'region', 'combined', 0, 'balance', 1, 100, 50 FROM core.run WHERE label = 'R'$$,
                 '23514', NULL, 'a balance class is of level county or pixel');
SELECT throws_ok($$INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, level)
                   SELECT r.run_id, u.unit_id, 0.5, 6 FROM core.run r, core.admin_unit u
                   WHERE r.label = 'E' AND u.code = '130101'$$, '23514', NULL, 'resilience level is 1..5 (6 refused)');
SELECT throws_ok($$INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, level)
                   SELECT r.run_id, u.unit_id, 0.5, 0 FROM core.run r, core.admin_unit u
                   WHERE r.label = 'E' AND u.code = '130101'$$, '23514', NULL, 'resilience level is 1..5 (0 refused)');
SELECT throws_ok($$INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, resilience_class)
                   SELECT r.run_id, u.unit_id, 0.5, 'M' FROM core.run r, core.admin_unit u
                   WHERE r.label = 'E' AND u.code = '130101'$$, '23514', NULL, 'resilience class is H or L');
SELECT lives_ok($$INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, resilience_class, level, missing_reason)
                  SELECT r.run_id, u.unit_id, NULL, NULL, NULL, 'indicator ndvi missing' FROM core.run r, core.admin_unit u
                  WHERE r.label = 'E' AND u.code = '130101'$$, 'a county without a resilience index, with its reason');
SELECT throws_ok($$INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination, zone_code, adjustment)
                   SELECT r.run_id, u.unit_id, 'HH', 'H', 'HH-H', 'HH-H', 'moved' FROM core.run r, core.admin_unit u
                   WHERE r.label = 'Z' AND u.code = '130101'$$, '23514', NULL, 'adjustment is merged or smoothed');
SELECT throws_ok($$INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination, zone_code)
                   SELECT r.run_id, u.unit_id, 'HH', 'X', 'HH-X', 'HH-X' FROM core.run r, core.admin_unit u
                   WHERE r.label = 'Z' AND u.code = '130101'$$, '23514', NULL, 'a zone''s resilience class is H or L');
SELECT lives_ok($$INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination, zone_code)
                  SELECT r.run_id, u.unit_id, 'HH', 'H', 'HH-H', 'HH-H' FROM core.run r, core.admin_unit u
                  WHERE r.label = 'Z' AND u.code = '130102'$$, 'a classified county');
SELECT lives_ok($$INSERT INTO result.county_zone (run_id, unit_id, zone_code, missing_reason)
                  SELECT r.run_id, u.unit_id, 'unclassified', 'resilience missing' FROM core.run r, core.admin_unit u
                  WHERE r.label = 'Z' AND u.code = '130101'$$,
                'an unclassified county: no matching type, resilience class or combination');
SELECT throws_ok($$INSERT INTO result.county_zone (run_id, unit_id, zone_code)
                   SELECT r.run_id, u.unit_id, NULL FROM core.run r, core.admin_unit u
                   WHERE r.label = 'Zfailed' AND u.code = '130101'$$, '23502', NULL, 'every county has a zone code');
INSERT INTO result.zone (run_id, zone_code, display_code, matching_type, resilience_class, name_en, strategy_name, strategy,
                         counties, area_km2, area_share)
SELECT run_id, 'HH-H', 'I-1', 'HH', 'H', 'High supply, high demand, high resilience', 'Conservation', 'keep', 1, 100, 50
FROM core.run WHERE label = 'Z';
SELECT lives_ok($$INSERT INTO result.zone (run_id, zone_code, display_code, name_en, strategy_name, strategy, counties,
                                           area_km2, area_share, classified)
                  SELECT run_id, 'unclassified', 'U', 'Unclassified', 'none', 'collect the missing data', 1, 100, 50, false
                  FROM core.run WHERE label = 'Z'$$, 'the unclassified zone has no matching type or resilience class');
SELECT throws_ok($$INSERT INTO result.zone (run_id, zone_code, display_code, name_en, strategy_name, strategy, counties,
                                            area_km2, area_share)
                   SELECT run_id, 'LL-L', 'I-1', 'x', 'x', 'x', 0, 0, 0 FROM core.run WHERE label = 'Z'$$,
                 '23505', NULL, 'two zones of a run cannot share a display code');
SELECT results_eq($$SELECT zone_code, classified FROM result.zone ORDER BY zone_code$$,
                  $$VALUES ('HH-H'::text, true), ('unclassified', false)$$, 'classified defaults to true');
INSERT INTO result.county_indicator (run_id, unit_id, indicator, raw_value)
SELECT r.run_id, u.unit_id, 'shdi', 1.2 FROM core.run r, core.admin_unit u WHERE r.label = 'E' AND u.code = '130102';
SELECT is((SELECT imputed FROM result.county_indicator), false, 'an indicator value is not imputed unless said');

-- deleting runs: results and lineage go with them
DELETE FROM core.run WHERE label = 'R';
SELECT is((SELECT count(*)::integer FROM result.county_ratio), 0, 'deleting the ratios run deletes its ratios');
SELECT is((SELECT count(*)::integer FROM core.run_input WHERE stage = 'ratios'), 0,
          'deleting an input run deletes the lineage rows that name it');
SELECT is_empty($$SELECT * FROM result.analysis_run$$, 'a zoning run whose ratios run is gone is no analysis');
DELETE FROM core.run WHERE label = 'Z';
SELECT is((SELECT count(*)::integer FROM result.county_zone) + (SELECT count(*)::integer FROM result.zone), 0,
          'deleting the zoning run deletes its county zones and zones');

SELECT * FROM finish();
ROLLBACK;
