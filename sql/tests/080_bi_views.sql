-- 080_bi_views.sql: the bi schema. Its relations and conventions, bi.simplify_4326,
-- bi.publish / bi.refresh / bi.refresh_matview on hand-made results, the values of
-- the wide and long views, the current analysis, and the read-only role restore_bi.
--
-- Geometry is stored in EPSG:3857 so that EPSG:4326 coordinates follow by hand
-- from the spherical Mercator formulas (R = 6378137 m):
--   lon(x) = degrees(x / R)                      lon(10000) = 0.0898315284
--   lat(y) = degrees(2 atan(exp(y / R)) - pi/2)  lat(10000) = 0.0898314916
-- Counties: Alpha x 0..10000, Beta x 10000..20000 (y 0..10000 both, 100 km2 each),
-- and a city over both (never in the county relations).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(113);

-- relations, keys and conventions ------------------------------------------------------
SELECT has_view('bi', v, format('bi.%s is a view', v))
FROM unnest(ARRAY['current_run', 'county_ratio_long', 'county_indicator_long', 'county_dimension_long',
                  'indicator_weight', 'balance_class', 'zone_summary']) AS v;
SELECT has_materialized_view('bi', 'county_shape', 'bi.county_shape is a materialized view');
SELECT has_materialized_view('bi', 'county_current', 'bi.county_current is a materialized view');
SELECT has_table('bi', 'county', 'bi.county is a table');
SELECT has_table('bi', 'zone_map', 'bi.zone_map is a table');
SELECT col_is_pk('bi', 'county', 'id', 'bi.county key id');
SELECT col_is_pk('bi', 'zone_map', 'id', 'bi.zone_map key id');
SELECT fk_ok('bi', 'county', 'id', 'result', 'county_zone', 'id');
SELECT fk_ok('bi', 'zone_map', 'id', 'result', 'zone', 'id');
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
                  WHERE n.nspname = 'bi' AND c.relkind IN ('r', 'v', 'm')
                    AND c.relname <> 'qgis_projects'   -- QGIS's own table (084), keyed by name
                    AND a.atttypid NOT IN ('integer'::regtype, 'bigint'::regtype)$$,
                'the first column of every bi relation is an integer or bigint key (but QGIS''s qgis_projects)');
SELECT results_eq($$SELECT f_table_name::text COLLATE "C", type::text COLLATE "C", srid FROM geometry_columns
                    WHERE f_table_schema = 'bi' ORDER BY 1$$,
                  $$VALUES ('county'::text COLLATE "C", 'MULTIPOLYGON'::text COLLATE "C", 4326), ('county_current', 'MULTIPOLYGON', 4326),
                           ('county_shape', 'MULTIPOLYGON', 4326), ('pattern_barrier', 'MULTIPOLYGON', 4326),
                           ('pattern_collab_unit', 'MULTIPOLYGON', 4326),
                           ('pattern_corridor', 'LINESTRING', 4326), ('pattern_corridor_area', 'MULTIPOLYGON', 4326),
                           ('pattern_county_link', 'LINESTRING', 4326), ('pattern_node', 'POINT', 4326),
                           ('pattern_pinch', 'MULTIPOLYGON', 4326),
                           ('pattern_source', 'MULTIPOLYGON', 4326), ('pattern_task', 'MULTIPOLYGON', 4326),
                           ('zone_map', 'MULTIPOLYGON', 4326)$$,
                  'bi geometries are typed and registered in EPSG:4326: polygons as MultiPolygon (the relations of 080 and 082)');
SELECT is_empty($$SELECT m.matviewname FROM pg_matviews m WHERE m.schemaname = 'bi'
                  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = format('bi.%I', m.matviewname)::regclass
                                  AND i.indisunique)$$,
                'every bi materialized view has a unique index (QGIS, concurrent refresh)');

SELECT has_function('bi', 'simplify_4326', ARRAY['geometry', 'integer', 'double precision'], 'bi.simplify_4326 exists');
SELECT function_returns('bi', 'simplify_4326', ARRAY['geometry', 'integer', 'double precision'], 'geometry',
                        'bi.simplify_4326 returns geometry');
SELECT is_strict('bi', 'simplify_4326', ARRAY['geometry', 'integer', 'double precision'], 'bi.simplify_4326 is STRICT');
SELECT volatility_is('bi', 'simplify_4326', ARRAY['geometry', 'integer', 'double precision'], 'stable',
                     'bi.simplify_4326 is STABLE');
SELECT function_returns('bi', 'current_run_id', ARRAY['text'], 'integer', 'bi.current_run_id(text) returns integer');
SELECT function_returns('bi', 'publish', ARRAY['integer'], 'integer', 'bi.publish(integer) returns integer');
SELECT function_returns('bi', 'refresh', ARRAY[]::text[], 'setof record', 'bi.refresh() returns a table');
SELECT function_returns('bi', 'refresh_matview', ARRAY['text'], 'record', 'bi.refresh_matview(text) returns a record');
SELECT function_returns('bi', 'secure_database', ARRAY[]::text[], 'void', 'bi.secure_database() returns void');

-- bi.simplify_4326 ------------------------------------------------------------------------
SELECT is(bi.simplify_4326(NULL), NULL::geometry, 'NULL in, NULL out');
SELECT is(ST_AsText(bi.simplify_4326(ST_Multi(ST_MakeEnvelope(0, 0, 10000, 10000, 3857))), 6),
          'MULTIPOLYGON(((0 0,0 0.089831,0.089832 0.089831,0.089832 0,0 0)))',
          'a 10 km square at the origin of EPSG:3857 in EPSG:4326, 6 decimals');
SELECT is(ST_SRID(bi.simplify_4326(ST_MakeEnvelope(0, 0, 10000, 10000, 3857))), 4326, 'the result is in EPSG:4326');
SELECT is(GeometryType(bi.simplify_4326(ST_MakeEnvelope(0, 0, 10000, 10000, 3857))), 'MULTIPOLYGON',
          'a Polygon comes back as a MultiPolygon');
-- a 50 km circle of 1025 points: at 100 m tolerance a chord deviates at most 100 m from the circle,
-- so the area changes by less than perimeter x 100 m / area = 2 x 100 / 50000 = 0.4 %
SELECT ok((SELECT ST_NPoints(s) < 1025 AND abs(ST_Area(ST_Transform(s, 3857)) / (pi() * 50000 ^ 2) - 1) < 0.005
           FROM bi.simplify_4326(ST_Buffer(ST_SetSRID(ST_MakePoint(0, 0), 3857), 50000, 256)) s),
          'a circle loses points at 100 m tolerance, its area changes by < 0.5 %');
SELECT ok((SELECT length(ST_AsGeoJSON(s, 6)) <= 600 AND length(ST_AsText(s, 6)) <= 600
                  AND ST_NPoints(s) < ST_NPoints(bi.simplify_4326(ST_Buffer(ST_SetSRID(ST_MakePoint(0, 0), 3857), 50000, 256)))
           FROM bi.simplify_4326(ST_Buffer(ST_SetSRID(ST_MakePoint(0, 0), 3857), 50000, 256), 600) s),
          'with max_chars 600 the tolerance grows until GeoJSON and WKT fit');
-- the square and 40 islands of 10 m x 10 m (100 m2 < 1e4 m2): simplifying keeps the islands, so only
-- dropping the parts under 1e4 m2 brings the text under 200 characters
SELECT is((SELECT ST_AsText(bi.simplify_4326(ST_Collect(ST_MakeEnvelope(0, 0, 10000, 10000, 3857),
                                                        ST_Collect(ST_MakeEnvelope(20000 + i * 100, 0, 20010 + i * 100, 10, 3857))),
                                             200), 6)
           FROM generate_series(1, 40) i),
          'MULTIPOLYGON(((0 0,0 0.089831,0.089832 0.089831,0.089832 0,0 0)))',
          'parts smaller than 1e4 m2 are dropped when the text is still too long');
SELECT is(ST_NumGeometries(bi.simplify_4326(ST_Buffer(ST_SetSRID(ST_MakePoint(0, 0), 3857), 50000, 256), 10)), 1,
          'the largest part is always kept, even when it cannot fit');

-- an analysis made by hand ----------------------------------------------------------------
INSERT INTO core.study_area (name, title, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t080', 'bi views', 3857, 0, 10000, 100, 200, 100), ('t080_none', NULL, 3857, 0, 10000, 100, 10, 10);
SELECT study_area_id AS area FROM core.study_area WHERE name = 't080' \gset
INSERT INTO core.admin_unit (study_area_id, level, code, name, province_code, geom) VALUES
    (:area, 'county', '110101', 'Alpha', '11', ST_Multi(ST_MakeEnvelope(0, 0, 10000, 10000, 3857))),
    (:area, 'county', '110102', 'Beta', '11', ST_Multi(ST_MakeEnvelope(10000, 0, 20000, 10000, 3857))),
    (:area, 'city', '1101', 'City', '11', ST_Multi(ST_MakeEnvelope(0, 0, 20000, 10000, 3857)));
SELECT max(unit_id) FILTER (WHERE code = '110101') AS ua, max(unit_id) FILTER (WHERE code = '110102') AS ub
FROM core.admin_unit \gset
INSERT INTO core.run (study_area_id, stage, label, status, finished_at) VALUES
    (:area, 'services', 'S', 'succeeded', '2024-01-01 00:00+00'),
    (:area, 'ratios', 'R', 'succeeded', '2024-01-01 00:00+00'),
    (:area, 'resilience', 'E', 'succeeded', '2024-01-01 00:00+00'),
    (:area, 'zoning', 'Z1', 'succeeded', '2024-01-02 00:00+00'),
    (:area, 'zoning', 'Z2', 'succeeded', '2024-01-03 00:00+00'),
    (:area, 'zoning', 'Zf', 'failed', NULL);
SELECT max(run_id) FILTER (WHERE label = 'S') AS s, max(run_id) FILTER (WHERE label = 'R') AS r,
       max(run_id) FILTER (WHERE label = 'E') AS e, max(run_id) FILTER (WHERE label = 'Z1') AS z1,
       max(run_id) FILTER (WHERE label = 'Z2') AS z2, max(run_id) FILTER (WHERE label = 'Zf') AS zf
FROM core.run \gset
INSERT INTO core.run_input (run_id, stage, input_run_id)
SELECT z, i.stage, i.input FROM unnest(ARRAY[:z1, :z2, :zf]) z,
       (VALUES ('ratios', :r), ('resilience', :e), ('services', :s)) AS i (stage, input);
INSERT INTO result.county_ratio (run_id, unit_id, service, supply, demand, supply_scaled, demand_scaled, esdr, z_supply,
                                 z_demand, matching_type, balance_rank, balance_class, missing_reason) VALUES
    (:r, :ua, 'food', 10, 5, 10, 5, 0.25, 1, -1, 'HL', NULL, NULL, NULL),
    (:r, :ua, 'combined', NULL, NULL, NULL, NULL, 0.2, 0.5, -0.5, 'HL', 1, 'slight surplus', NULL),
    (:r, :ub, 'food', 2, 8, 2, 8, -0.5, -1, 1, 'LH', NULL, NULL, NULL),
    (:r, :ub, 'combined', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'no carbon demand');
INSERT INTO result.balance_class (run_id, level, service, rank, label, lower_bound, upper_bound, units, area_km2, area_share)
VALUES (:r, 'county', 'combined', 1, 'slight surplus', 0.1, 0.3, 1, 100, 50);
INSERT INTO result.run_indicator (run_id, indicator, position, dimension, dimension_name, name, direction, unit, source_kind,
                                  source, statistic, weight, weights) VALUES
    (:e, 'shdi', 1, 'D1', 'landscape structure', 'Shannon diversity', 1, '1', 'landscape', 'shdi', NULL, 0.6,
     '{"entropy": 0.5, "critic": 0.7, "equal": 0.5}'),
    (:e, 'ndvi', 2, 'D2', 'ecological function', 'mean NDVI', 1, '1', 'layer', 'ndvi', 'mean', 0.4,
     '{"entropy": 0.5, "manual": 0.4, "combined": 0.45}');
INSERT INTO result.county_indicator (run_id, unit_id, indicator, raw_value, norm_value) VALUES
    (:e, :ua, 'shdi', 1.5, 1), (:e, :ua, 'ndvi', 0.6, 0), (:e, :ub, 'shdi', 1.0, 0);
INSERT INTO result.county_dimension (run_id, unit_id, dimension, contribution, score) VALUES
    (:e, :ua, 'D1', 0.6, 1), (:e, :ua, 'D2', 0, 0), (:e, :ub, 'D1', 0, 0);
INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, resilience_class, level, level_name, missing_reason)
VALUES (:e, :ua, 0.6, 'H', 4, 'high', NULL), (:e, :ub, NULL, NULL, NULL, NULL, 'indicator ndvi missing');
-- Z1: Alpha HL-H, Beta unclassified; Z2: both HL-H (Beta merged into it)
INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination, zone_code, adjustment,
                                missing_reason) VALUES
    (:z1, :ua, 'HL', 'H', 'HL-H', 'HL-H', NULL, NULL),
    (:z1, :ub, NULL, NULL, NULL, 'unclassified', NULL, 'resilience missing'),
    (:z2, :ua, 'HL', 'H', 'HL-H', 'HL-H', NULL, NULL),
    (:z2, :ub, 'LH', 'L', 'LH-L', 'HL-H', 'merged', NULL);
INSERT INTO result.zone (run_id, zone_code, display_code, matching_type, resilience_class, name_en, name_zh, strategy_name,
                         strategy, counties, area_km2, area_share, classified) VALUES
    (:z1, 'HL-H', 'IV-1', 'HL', 'H', 'High supply, low demand, high resilience', '高供给低需求高韧性区', 'Export', 'protect',
     1, 100, 50, true),
    (:z1, 'unclassified', 'U', NULL, NULL, 'Unclassified', NULL, 'Data', 'collect the missing data', 1, 100, 50, false),
    (:z2, 'HL-H', 'IV-1', 'HL', 'H', 'High supply, low demand, high resilience', NULL, 'Export', 'protect', 2, 200, 100, true);

-- bi.publish ------------------------------------------------------------------------------------
SELECT is(bi.publish(:z1), 2, 'publish writes one bi.county row per county of the zoning run');
SELECT results_eq(
    format($$SELECT study_area_id, study_area, county_code, county_name, province_code, area_km2, food_supply, food_demand,
                    food_esdr, food_matching, carbon_supply, carbon_esdr, cesd, balance_rank, balance_class, matching_type
             FROM bi.county WHERE run_id = %s AND unit_id = %s$$, :z1, :ua),
    format($$VALUES (%s, 't080'::text, '110101'::text, 'Alpha'::text, '11'::text, 100::double precision,
                     10::double precision, 5::double precision, 0.25::double precision, 'HL'::text, NULL::double precision,
                     NULL::double precision, 0.2::double precision, 1::smallint, 'slight surplus'::text, 'HL'::text)$$, :area),
    'bi.county: supply, demand, ESDR and matching per service, CESD and its class (Alpha, Z1)');
SELECT results_eq(
    format($$SELECT resilience_index, resilience_class, resilience_level, resilience_level_name, d1_score, d2_score, d3_score,
                    zone_code, display_code, zone_name, zone_name_zh, strategy_name, strategy, adjustment, missing_reason
             FROM bi.county WHERE run_id = %s AND unit_id = %s$$, :z1, :ua),
    $$VALUES (0.6::double precision, 'H'::text, 4::smallint, 'high'::text, 1::double precision, 0::double precision,
              NULL::double precision, 'HL-H'::text, 'IV-1'::text, 'High supply, low demand, high resilience'::text,
              '高供给低需求高韧性区'::text, 'Export'::text, 'protect'::text, NULL::text, NULL::text)$$,
    'bi.county: resilience, dimension scores, zone and strategy (Alpha, Z1)');
SELECT results_eq(
    format($$SELECT food_esdr, cesd, balance_rank, matching_type, resilience_index, d1_score, zone_code, display_code,
                    zone_name, missing_reason
             FROM bi.county WHERE run_id = %s AND unit_id = %s$$, :z1, :ub),
    $$VALUES (-0.5::double precision, NULL::double precision, NULL::smallint, NULL::text, NULL::double precision,
              0::double precision, 'unclassified'::text, 'U'::text, 'Unclassified'::text, 'resilience missing'::text)$$,
    'bi.county: an unclassified county keeps its values, NULL where missing, and says why (Beta, Z1)');
SELECT is_empty(format($$SELECT c.id FROM bi.county c JOIN result.county_zone cz ON cz.id = c.id
                         WHERE c.run_id = %s AND (cz.run_id <> c.run_id OR cz.unit_id <> c.unit_id)$$, :z1),
                'bi.county.id is the result.county_zone id of the county and run');
SELECT results_eq(format($$SELECT ST_SRID(geom), GeometryType(geom) FROM bi.county WHERE run_id = %s AND unit_id = %s$$, :z1, :ua),
                  $$VALUES (4326, 'MULTIPOLYGON'::text)$$, 'bi.county.geom is a MultiPolygon in EPSG:4326');
SELECT ok((SELECT abs(ST_XMin(geom)) < 1e-9 AND abs(ST_XMax(geom) - degrees(10000 / 6378137.0)) < 1e-9
                  AND abs(ST_YMax(geom) - degrees(2 * atan(exp(10000 / 6378137.0)) - pi() / 2)) < 1e-9
           FROM bi.county WHERE run_id = :z1 AND unit_id = :ua),
          'bi.county.geom spans lon 0..lon(10000), lat 0..lat(10000) (spherical Mercator inverse)');
SELECT ok((SELECT abs(lon - degrees(5000 / 6378137.0)) < 1e-9
                  AND abs(lat - degrees(2 * atan(exp(10000 / 6378137.0)) - pi() / 2) / 2) < 1e-9
           FROM bi.county WHERE run_id = :z1 AND unit_id = :ua),
          'lon, lat: the point inside the square is its centre in EPSG:4326');
SELECT is((SELECT geom_geojson_4326 FROM bi.county WHERE run_id = :z1 AND unit_id = :ua),
          '{"type":"MultiPolygon","coordinates":[[[[0,0],[0,0.089831],[0.089832,0.089831],[0.089832,0],[0,0]]]]}',
          'geom_geojson_4326: the GeoJSON of the square, 6 decimals');
SELECT results_eq(format($$SELECT zone_code, display_code, zone_name, zone_name_zh, strategy_name, classified, counties,
                                  area_km2, area_share FROM bi.zone_map WHERE run_id = %s ORDER BY zone_code$$, :z1),
                  $$VALUES ('HL-H'::text, 'IV-1'::text, 'High supply, low demand, high resilience'::text,
                            '高供给低需求高韧性区'::text, 'Export'::text, true, 1, 100::double precision, 50::double precision),
                           ('unclassified', 'U', 'Unclassified', NULL, 'Data', false, 1, 100, 50)$$,
                  'bi.zone_map: the zones of the run, the unclassified one included');
SELECT ok((SELECT abs(ST_XMin(geom) - degrees(10000 / 6378137.0)) < 1e-9 AND abs(ST_XMax(geom) - degrees(20000 / 6378137.0)) < 1e-9
           FROM bi.zone_map WHERE run_id = :z1 AND zone_code = 'unclassified'),
          'the unclassified zone of Z1 is Beta: lon(10000)..lon(20000)');
SELECT is_empty(format($$SELECT m.id FROM bi.zone_map m JOIN result.zone z ON z.id = m.id
                         WHERE m.run_id = %s AND (z.run_id <> m.run_id OR z.zone_code <> m.zone_code)$$, :z1),
                'bi.zone_map.id is the result.zone id');
SELECT is((SELECT count(*)::integer FROM bi.county_current), 0,
          'bi.county_current: the current analysis is Z2 (finished last), not published yet: no row');
SELECT is(bi.publish(:z1), 2, 'publishing a run again gives the same count');
SELECT is((SELECT count(*)::integer FROM bi.county WHERE run_id = :z1), 2, 'and replaces its rows');
SELECT throws_ok(format('SELECT bi.publish(%s)', :zf), 'P0001', format('run %s is not a succeeded zoning run', :zf),
                 'publishing a failed zoning run is refused');
SELECT throws_ok(format('SELECT bi.publish(%s)', :r), 'P0001', format('run %s is not a succeeded zoning run', :r),
                 'publishing a ratios run is refused');

-- bi.refresh: county shapes, then every succeeded zoning run not yet published (Z2), then the current rows
SELECT results_eq($$SELECT relation, row_count, concurrent FROM bi.refresh()$$,
                  $$VALUES ('bi.county_shape'::text, 2::bigint, true), ('bi.county', 4, NULL), ('bi.zone_map', 3, NULL),
                           ('bi.county_current', 2, true)$$,
                  'bi.refresh: shapes of the two counties, Z2 published (4 county rows, 3 zones), 2 current rows');
SELECT results_eq(format($$SELECT county_code, zone_code, adjustment FROM bi.county WHERE run_id = %s ORDER BY 1$$, :z2),
                  $$VALUES ('110101'::text, 'HL-H'::text, NULL::text), ('110102', 'HL-H', 'merged')$$,
                  'Z2 was published by bi.refresh');
SELECT ok((SELECT ST_NumGeometries(geom) = 1 AND abs(ST_XMin(geom)) < 1e-9
                  AND abs(ST_XMax(geom) - degrees(20000 / 6378137.0)) < 1e-9
                  AND abs(lon - degrees(10000 / 6378137.0)) < 1e-9
                  AND abs(lat - degrees(2 * atan(exp(10000 / 6378137.0)) - pi() / 2) / 2) < 1e-9
           FROM bi.zone_map WHERE run_id = :z2),
          'the zone of both counties is dissolved into one polygon lon 0..lon(20000), its point at the centre');
SELECT results_eq($$SELECT DISTINCT run_id FROM bi.county_current$$, ARRAY[:z2],
                  'bi.county_current holds the rows of the current analysis (Z2) only');
SELECT results_eq($$SELECT code, level, study_area, name, area_km2 FROM bi.county_shape ORDER BY code$$,
                  $$VALUES ('110101'::text, 'county'::text, 't080'::text, 'Alpha'::text, 100::double precision),
                           ('110102', 'county', 't080', 'Beta', 100)$$,
                  'bi.county_shape: the counties (not the city) with their area in km2');
SELECT is((SELECT geom_wkt_simpl FROM bi.county_shape WHERE code = '110101'),
          'MULTIPOLYGON(((0 0,0 0.089831,0.089832 0.089831,0.089832 0,0 0)))', 'bi.county_shape.geom_wkt_simpl');

-- the current analysis -------------------------------------------------------------------
SELECT results_eq($$SELECT study_area_id, study_area, title, run_id, label, finished_at, ratios_run_id, resilience_run_id,
                           services_run_id, pipeline_run_id FROM bi.current_run$$,
                  format($$VALUES (%s, 't080'::text, 'bi views'::text, %s, 'Z2'::text, '2024-01-03 00:00+00'::timestamptz,
                                   %s, %s, %s, NULL::integer)$$, :area, :z2, :r, :e, :s),
                  'bi.current_run: the latest succeeded zoning run and the runs it read; no row for an area without one');
SELECT is(bi.current_run_id('t080'), :z2, 'bi.current_run_id names the current zoning run');
SELECT is(bi.current_run_id('t080_none'), NULL::integer, 'NULL for a study area without an analysis');
SELECT is(bi.current_run_id('nope'), NULL::integer, 'NULL for an unknown study area');
UPDATE core.run SET finished_at = '2023-12-31 00:00+00' WHERE run_id = :z2;
SELECT is(bi.current_run_id('t080'), :z1, 'the zoning run that finished last is current');
UPDATE core.run SET finished_at = '2024-01-02 00:00+00' WHERE run_id = :z2;
SELECT is(bi.current_run_id('t080'), :z2, 'of two finished at the same time, the higher run_id is current');
UPDATE core.run SET finished_at = NULL WHERE run_id = :z2;
SELECT is(bi.current_run_id('t080'), :z1, 'a run without finished_at comes last');
UPDATE core.run SET finished_at = '2024-01-03 00:00+00' WHERE run_id = :z2;

-- the long views ---------------------------------------------------------------------------
SELECT is((SELECT count(*)::integer FROM bi.county_ratio_long WHERE run_id = :z1), 28,
          'bi.county_ratio_long: 4 ratios x 7 metrics for a zoning run');
SELECT is_empty($$SELECT l.id FROM bi.county_ratio_long l
                  JOIN result.county_ratio r ON r.run_id = l.ratios_run_id AND r.unit_id = l.unit_id AND r.service = l.service
                  JOIN (VALUES (0, 'supply'), (1, 'demand'), (2, 'supply_scaled'), (3, 'demand_scaled'), (4, 'esdr'),
                               (5, 'z_supply'), (6, 'z_demand')) AS m (ordinal, metric) ON m.metric = l.metric
                  WHERE l.id <> l.run_id::bigint * 17179869184 + r.id::bigint * 8 + m.ordinal$$,
                'county_ratio_long.id = run_id * 2^34 + county_ratio id * 8 + metric ordinal');
SELECT is((SELECT count(DISTINCT id)::integer FROM bi.county_ratio_long), (SELECT count(*)::integer FROM bi.county_ratio_long),
          'county_ratio_long ids are unique over the runs that share a ratios run');
SELECT results_eq(format($$SELECT value FROM bi.county_ratio_long WHERE run_id = %s AND county_code = '110101'
                           AND service = 'food' AND metric IN ('esdr', 'z_demand') ORDER BY metric$$, :z1),
                  $$VALUES (0.25::double precision), (-1)$$, 'county_ratio_long values (Alpha, food: esdr, z_demand)');
SELECT results_eq(format($$SELECT value FROM bi.county_ratio_long WHERE run_id = %s AND county_code = '110102'
                           AND service = 'combined' AND metric = 'esdr'$$, :z1),
                  $$VALUES (NULL::double precision)$$, 'county_ratio_long keeps a row for a missing CESD (NULL)');
SELECT results_eq(format($$SELECT county_code, indicator, dimension, name, unit, direction::integer, weight, raw_value, norm_value
                           FROM bi.county_indicator_long WHERE run_id = %s ORDER BY county_code, indicator$$, :z1),
                  $$VALUES ('110101'::text, 'ndvi'::text, 'D2'::text, 'mean NDVI'::text, '1'::text, 1,
                            0.4::double precision, 0.6::double precision, 0::double precision),
                           ('110101', 'shdi', 'D1', 'Shannon diversity', '1', 1, 0.6, 1.5, 1),
                           ('110102', 'shdi', 'D1', 'Shannon diversity', '1', 1, 0.6, 1.0, 0)$$,
                  'bi.county_indicator_long: raw and normalised values with the indicator''s weight');
SELECT is_empty($$SELECT l.id FROM bi.county_indicator_long l JOIN result.county_indicator ci
                  ON ci.run_id = l.resilience_run_id AND ci.unit_id = l.unit_id AND ci.indicator = l.indicator
                  WHERE l.id <> l.run_id::bigint * 4294967296 + ci.id$$,
                'county_indicator_long.id = run_id * 2^32 + county_indicator id');
SELECT results_eq(format($$SELECT county_code, dimension, dimension_name, contribution, score
                           FROM bi.county_dimension_long WHERE run_id = %s ORDER BY county_code, dimension$$, :z1),
                  $$VALUES ('110101'::text, 'D1'::text, 'landscape structure'::text, 0.6::double precision, 1::double precision),
                           ('110101', 'D2', 'ecological function', 0, 0), ('110102', 'D1', 'landscape structure', 0, 0)$$,
                  'bi.county_dimension_long: contribution and score, the dimension named by the run''s indicators');
SELECT is_empty($$SELECT l.id FROM bi.county_dimension_long l JOIN result.county_dimension d
                  ON d.run_id = l.resilience_run_id AND d.unit_id = l.unit_id AND d.dimension = l.dimension
                  WHERE l.id <> l.run_id::bigint * 4294967296 + d.id$$,
                'county_dimension_long.id = run_id * 2^32 + county_dimension id');
SELECT results_eq(format($$SELECT indicator, position::integer, dimension, weight, entropy, critic, ahp, manual, equal, combined, constant
                           FROM bi.indicator_weight WHERE run_id = %s ORDER BY position$$, :z1),
                  $$VALUES ('shdi'::text, 1, 'D1'::text, 0.6::double precision, 0.5::double precision,
                            0.7::double precision, NULL::double precision, NULL::double precision, 0.5::double precision,
                            NULL::double precision, false),
                           ('ndvi', 2, 'D2', 0.4, 0.5, NULL, NULL, 0.4, NULL, 0.45, false)$$,
                  'bi.indicator_weight: the final weight and each method''s, NULL where not computed');
SELECT results_eq(format($$SELECT id - run_id::bigint * 4294967296, level, service, rank, label, lower_bound, upper_bound,
                                  units, area_km2, area_share FROM bi.balance_class WHERE run_id = %s$$, :z1),
                  format($$SELECT id::bigint, level, service, rank, label, lower_bound, upper_bound, units, area_km2, area_share
                           FROM result.balance_class WHERE run_id = %s$$, :r),
                  'bi.balance_class: the classes of the ratios run, id = run_id * 2^32 + balance_class id');
SELECT results_eq(format($$SELECT study_area_id, study_area, zone_code, display_code, matching_type, resilience_class, zone_name,
                                  zone_name_zh, strategy_name, strategy, classified, counties, area_km2, area_share
                           FROM bi.zone_summary WHERE run_id = %s$$, :z2),
                  format($$VALUES (%s, 't080'::text, 'HL-H'::text, 'IV-1'::text, 'HL'::text, 'H'::text,
                                   'High supply, low demand, high resilience'::text, NULL::text, 'Export'::text, 'protect'::text,
                                   true, 2, 200::double precision, 100::double precision)$$, :area),
                  'bi.zone_summary: the zones of a run with their strategy and extent');
SELECT is_empty(format($$SELECT run_id FROM bi.county_ratio_long WHERE run_id = %1$s
                         UNION ALL SELECT run_id FROM bi.county_indicator_long WHERE run_id = %1$s
                         UNION ALL SELECT run_id FROM bi.county_dimension_long WHERE run_id = %1$s
                         UNION ALL SELECT run_id FROM bi.indicator_weight WHERE run_id = %1$s
                         UNION ALL SELECT run_id FROM bi.balance_class WHERE run_id = %1$s
                         UNION ALL SELECT run_id FROM bi.zone_summary WHERE run_id = %1$s$$, :zf),
                'a failed zoning run shows in no bi view');

-- boundaries loaded again: a superseded county keeps its shape for the runs that used it ----------
UPDATE core.admin_unit_version SET superseded_at = now() WHERE unit_id = :ua;
INSERT INTO core.admin_unit (study_area_id, level, code, name, province_code, geom)
VALUES (:area, 'county', '110101', 'Alpha', '11', ST_Multi(ST_MakeEnvelope(0, 0, 5000, 10000, 3857)));
SELECT unit_id AS ua_new FROM core.admin_unit WHERE code = '110101' \gset
INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination, zone_code)
VALUES (:z2, :ua_new, 'HL', 'H', 'HL-H', 'HL-H');
SELECT is(bi.publish(:z2), 3, 'publishing a run with a county that has no shape yet');
SELECT results_eq($$SELECT unit_id, area_km2 FROM bi.county_shape ORDER BY code$$,
                  format($$VALUES (%s, 50::double precision), (%s, 100)$$, :ua_new, :ub),
                  'refreshes bi.county_shape first: the new Alpha (50 km2) replaces the superseded one');
SELECT is(bi.publish(:z1), 2, 'a run on superseded boundaries is published again');
SELECT ok((SELECT area_km2 = 100 AND abs(lon - degrees(5000 / 6378137.0)) < 1e-9
                  AND abs(ST_XMax(geom) - degrees(10000 / 6378137.0)) < 1e-9
                  AND geom_geojson_4326 = '{"type":"MultiPolygon","coordinates":[[[[0,0],[0,0.089831],[0.089832,0.089831],[0.089832,0],[0,0]]]]}'
           FROM bi.county WHERE run_id = :z1 AND unit_id = :ua),
          'with the shape of the unit it used (the old 10 km Alpha), though bi.county_shape no longer has it');

-- results deleted: their bi rows go, and bi.refresh drops the zones left without counties ----------
DELETE FROM result.county_zone WHERE run_id = :z1;
SELECT is((SELECT count(*)::integer FROM bi.county WHERE run_id = :z1), 0,
          'deleting a run''s county zones deletes its bi.county rows');
SELECT is((SELECT row_count FROM bi.refresh() WHERE relation = 'bi.zone_map'), 1::bigint,
          'bi.refresh drops the zone polygons of a run without county rows (Z2''s zone is left)');

-- bi.refresh_matview ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM bi.refresh_matview('county')$$, 'P0001', 'bi has no materialized view county',
                 'refresh_matview refreshes the two materialized views only');
SELECT results_eq($$SELECT row_count, concurrent FROM bi.refresh_matview('county_shape')$$,
                  $$VALUES (2::bigint, true)$$, 'a populated materialized view is refreshed concurrently');
REFRESH MATERIALIZED VIEW bi.county_current WITH NO DATA;
SELECT results_eq($$SELECT row_count, concurrent FROM bi.refresh_matview('county_current')$$,
                  $$VALUES (3::bigint, false)$$, 'an unpopulated one is refreshed plainly');

-- privileges: restore_bi reads bi and nothing else -----------------------------------------------
SELECT has_role('restore_bi', 'the BI role restore_bi exists');
SELECT ok(NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'restore_bi'), 'restore_bi is a group role (NOLOGIN)');
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'bi' AND c.relkind IN ('r', 'v', 'm') AND NOT has_table_privilege('restore_bi', c.oid, 'SELECT')$$,
                'restore_bi may read every bi relation');
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'bi' AND c.relkind IN ('r', 'v', 'm')
                    AND has_table_privilege('restore_bi', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')$$,
                'restore_bi may write no bi relation');
SELECT is_empty($$SELECT s FROM unnest(ARRAY['core', 'param', 'src', 'calc', 'result']) s
                  WHERE has_schema_privilege('restore_bi', s, 'USAGE') OR has_schema_privilege('public', s, 'USAGE')$$,
                'neither restore_bi nor PUBLIC may use core, param, src, calc or result');
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname IN ('core', 'param', 'src', 'calc', 'result') AND c.relkind IN ('r', 'v', 'm', 'S')
                    AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('restore_bi', c.oid, 'SELECT'))$$,
                'no table, view or sequence outside bi is granted to PUBLIC or restore_bi');
SELECT ok(has_function_privilege('restore_bi', 'bi.current_run_id(text)', 'EXECUTE')
          AND has_function_privilege('restore_bi', 'bi.simplify_4326(geometry, integer, double precision)', 'EXECUTE'),
          'restore_bi may call bi.current_run_id and bi.simplify_4326');
SELECT is_empty($$SELECT f FROM unnest(ARRAY['bi.publish(integer)', 'bi.refresh()', 'bi.refresh_matview(text)',
                                             'bi.secure_database()']) f
                  WHERE has_function_privilege('restore_bi', f, 'EXECUTE') OR has_function_privilege('public', f, 'EXECUTE')$$,
                'neither restore_bi nor PUBLIC may call the bi functions that write');
SELECT ok(NOT has_schema_privilege('public', 'bi', 'CREATE') AND NOT has_schema_privilege('public', 'public', 'CREATE'),
          'PUBLIC may create nothing in bi or public');
-- database rights are not copied with a template: bi.secure_database sets them in this (cloned) database
SELECT lives_ok($$SELECT bi.secure_database()$$, 'bi.secure_database runs');
SELECT lives_ok($$SELECT bi.secure_database()$$, 'and runs again (it writes only what is not set yet)');
SELECT ok(NOT has_database_privilege('public', current_database(), 'TEMPORARY'), 'PUBLIC has no TEMPORARY on the database');
SELECT ok(has_database_privilege('restore_bi', current_database(), 'CONNECT'), 'restore_bi may connect to the database');

-- the same, as restore_bi
SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi') AND pg_has_role('restore_bi', 'MEMBER')) AS can_be_bi \gset
\if :can_be_bi
SET LOCAL ROLE restore_bi;
SELECT is(bi.current_run_id('t080'), :z2, 'as restore_bi: bi.current_run_id works');
SELECT is((SELECT count(*)::integer FROM bi.county_current), 3, 'as restore_bi: bi.county_current is readable');
SELECT lives_ok($$SELECT (SELECT count(*) FROM bi.current_run) + (SELECT count(*) FROM bi.county_shape)
                         + (SELECT count(*) FROM bi.county) + (SELECT count(*) FROM bi.zone_map)
                         + (SELECT count(*) FROM bi.county_ratio_long) + (SELECT count(*) FROM bi.county_indicator_long)
                         + (SELECT count(*) FROM bi.county_dimension_long) + (SELECT count(*) FROM bi.indicator_weight)
                         + (SELECT count(*) FROM bi.balance_class) + (SELECT count(*) FROM bi.zone_summary)$$,
                'as restore_bi: every bi view reads (the views read core and result with their owner''s rights)');
SELECT ok((SELECT length(ST_AsText(bi.simplify_4326(ST_MakeEnvelope(0, 0, 10000, 10000, 3857)))) > 0),
          'as restore_bi: bi.simplify_4326 and PostGIS work');
SELECT throws_ok($$SELECT * FROM core.study_area$$, '42501', 'permission denied for schema core',
                 'as restore_bi: core is out of reach');
SELECT throws_ok($$SELECT * FROM result.county_zone$$, '42501', 'permission denied for schema result',
                 'as restore_bi: result is out of reach');
SELECT throws_ok($$SELECT * FROM param.coefficient$$, '42501', 'permission denied for schema param',
                 'as restore_bi: param is out of reach');
SELECT throws_ok(format('SELECT bi.publish(%s)', :z2), '42501', 'permission denied for function publish',
                 'as restore_bi: bi.publish is refused');
SELECT throws_ok($$SELECT * FROM bi.refresh()$$, '42501', 'permission denied for function refresh',
                 'as restore_bi: bi.refresh is refused');
SELECT throws_ok($$DELETE FROM bi.county$$, '42501', 'permission denied for table county',
                 'as restore_bi: bi.county cannot be written');
SELECT throws_ok($$CREATE TABLE bi.t080 (i integer)$$, '42501', 'permission denied for schema bi',
                 'as restore_bi: nothing can be created in bi');
SELECT throws_ok($$CREATE TABLE public.t080 (i integer)$$, '42501', 'permission denied for schema public',
                 'as restore_bi: nothing can be created in public');
SELECT throws_ok($$CREATE TEMP TABLE t080 (i integer)$$, '42501', NULL,
                 'as restore_bi: no temporary table either');
RESET ROLE;
\else
SELECT skip('this role cannot SET ROLE restore_bi', 13);
\endif

SELECT * FROM finish();
ROLLBACK;
