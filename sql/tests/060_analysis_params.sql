-- 060_analysis_params.sql: the editable catalogues of the analysis: resilience
-- indicators (param.indicator) and restoration zone types (param.zone_type),
-- their seed rows and the constraints on user edits.
BEGIN;
SELECT plan(30);

SELECT has_table('param', 'indicator', 'table param.indicator exists');
SELECT has_table('param', 'zone_type', 'table param.zone_type exists');
SELECT col_is_pk('param', 'indicator', ARRAY['indicator_set', 'indicator'], 'indicator key: set and indicator');
SELECT col_is_pk('param', 'zone_type', ARRAY['zone_set', 'code'], 'zone_type key: set and code');

-- seed indicators of the default set: three per dimension D1..D5, positions 1..15
SELECT is((SELECT count(*)::integer FROM param.indicator WHERE indicator_set = 'default'), 15,
          'the default set has 15 indicators');
SELECT results_eq($$SELECT dimension, count(*)::integer FROM param.indicator WHERE indicator_set = 'default'
                    GROUP BY dimension ORDER BY dimension$$,
                  $$VALUES ('D1'::text, 3), ('D2', 3), ('D3', 3), ('D4', 3), ('D5', 3)$$,
                  'three indicators in each of the dimensions D1..D5');
SELECT results_eq($$SELECT position::integer FROM param.indicator WHERE indicator_set = 'default' ORDER BY position$$,
                  $$SELECT generate_series(1, 15)$$, 'positions 1..15, each once');
SELECT results_eq($$SELECT indicator, direction::integer FROM param.indicator
                    WHERE indicator_set = 'default' AND direction = -1 ORDER BY position$$,
                  $$VALUES ('pd'::text, -1), ('aridity', -1), ('relief', -1), ('erosion', -1), ('population_density', -1),
                           ('built_up_share', -1), ('land_use_intensity', -1)$$,
                  'the cost indicators (direction -1)');
SELECT results_eq($$SELECT source_kind, source, statistic FROM param.indicator WHERE indicator = 'relief'$$,
                  $$VALUES ('layer'::text, 'dem'::text, 'range'::text)$$, 'relief is the range of the DEM');
SELECT results_eq($$SELECT source_kind, source FROM param.indicator WHERE indicator = 'aridity'$$,
                  $$VALUES ('ratio'::text, 'eto/precipitation'::text)$$, 'aridity is the ratio ET0 / precipitation');
SELECT set_eq($$SELECT indicator FROM param.indicator WHERE indicator_set = 'default' AND optional$$,
              $$VALUES ('ndvi'), ('aridity'), ('soil_organic_carbon')$$, 'ndvi, aridity and soil organic carbon are optional');
SELECT is_empty($$SELECT indicator FROM param.indicator WHERE indicator_set = 'default' AND (NOT enabled OR weight IS NOT NULL)$$,
                'seed indicators are enabled, without a manual weight');
SELECT is_empty($$SELECT i.indicator FROM param.indicator i
                  WHERE i.source_kind IN ('class_mean', 'class_share')
                    AND NOT EXISTS (SELECT 1 FROM param.coefficient c WHERE c.name = i.source)$$,
                'class_mean and class_share indicators read catalogued coefficients');

-- constraints on edits
SELECT throws_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                               source_kind, source) VALUES ('mine', 'x', 'D1', 'd', 'x', 0, '1', 'layer', 'x')$$,
                 '23514', NULL, 'direction is -1 or 1');
SELECT throws_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                               source_kind, source) VALUES ('mine', 'x', 'D1', 'd', 'x', 1, '1', 'raster', 'x')$$,
                 '23514', NULL, 'source_kind is one of the eight kinds');
SELECT throws_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                               source_kind, source, statistic)
                   VALUES ('mine', 'x', 'D1', 'd', 'x', 1, '1', 'layer', 'x', 'median')$$,
                 '23514', NULL, 'statistic is one of the known statistics');
SELECT throws_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                               source_kind, source, weight)
                   VALUES ('mine', 'x', 'D1', 'd', 'x', 1, '1', 'layer', 'x', -0.1)$$,
                 '23514', NULL, 'a weight is not negative');
SELECT throws_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                               source_kind, source) VALUES ('Mine', 'x', 'D1', 'd', 'x', 1, '1', 'layer', 'x')$$,
                 '23514', NULL, 'an indicator set name is a lower-case identifier');
SELECT lives_ok($$INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                              source_kind, source, weight)
                  VALUES ('mine', 'noise', 'D6', 'noise', 'noise level', -1, 'dB', 'sql', 'SELECT 1, 2', 0)$$,
                'a user indicator in a set of its own, with weight 0');
SELECT results_eq($$SELECT enabled, optional, position::integer FROM param.indicator WHERE indicator = 'noise'$$,
                  $$VALUES (true, false, 0)$$, 'a new indicator is enabled, required, at position 0');

-- zone types: the eight combinations, the matching type and resilience class generated from the code
SELECT set_eq($$SELECT code FROM param.zone_type WHERE zone_set = 'default'$$,
              $$SELECT m || '-' || r FROM unnest(ARRAY['HH', 'LH', 'LL', 'HL']) m, unnest(ARRAY['H', 'L']) r$$,
              'the default zone types are the 4 x 2 combinations');
SELECT is_empty($$SELECT code FROM param.zone_type
                  WHERE matching_type <> split_part(code, '-', 1) OR resilience <> split_part(code, '-', 2)$$,
                'matching_type and resilience are the two halves of the code');
SELECT results_eq($$SELECT DISTINCT matching_type, roman FROM param.zone_type WHERE zone_set = 'default' ORDER BY roman$$,
                  $$VALUES ('HH'::text, 'I'::text), ('LH', 'II'), ('LL', 'III'), ('HL', 'IV')$$,
                  'one Roman numeral per matching type: HH I, LH II, LL III, HL IV');
SELECT is((SELECT strategy_name FROM param.zone_type WHERE zone_set = 'default' AND code = 'LH-L'), 'Priority restoration',
          'LH-L: priority restoration');
SELECT is((SELECT name_zh FROM param.zone_type WHERE zone_set = 'default' AND code = 'HL-H'), '高供给低需求高韧性区',
          'Chinese names are stored as UTF-8');
SELECT is_empty($$SELECT code FROM param.zone_type WHERE strategy = '' OR name_en = ''$$, 'every zone type has a name and a strategy');
SELECT throws_ok($$INSERT INTO param.zone_type (zone_set, code, roman, name_en, strategy_name, strategy)
                   VALUES ('mine', 'HX-H', 'I', 'x', 'x', 'x')$$, '23514', NULL, 'a code outside the combinations is refused');
SELECT throws_ok($$INSERT INTO param.zone_type (zone_set, code, roman, name_en, strategy_name, strategy)
                   VALUES ('mine', 'HH-H', 'one', 'x', 'x', 'x')$$, '23514', NULL, 'roman is a Roman numeral');
SELECT throws_ok($$INSERT INTO param.zone_type (zone_set, code, matching_type, roman, name_en, strategy_name, strategy)
                   VALUES ('mine', 'HH-H', 'LL', 'I', 'x', 'x', 'x')$$, '428C9', NULL,
                 'matching_type cannot be written (generated from the code)');
SELECT throws_ok($$INSERT INTO param.zone_type (zone_set, code, roman, name_en, strategy_name, strategy)
                   VALUES ('default', 'HH-H', 'I', 'x', 'x', 'x')$$, '23505', NULL, 'one row per set and code');

SELECT * FROM finish();
ROLLBACK;
