-- 010_core_tables.sql: the registry tables (study areas and their grid, runs,
-- layers, versioned administrative units, zones, county statistics): keys,
-- generated columns and the constraints that reject bad rows.
BEGIN;
SELECT plan(71);

-- tables, views, keys ---------------------------------------------------------------
SELECT has_table('core', t, format('table core.%s exists', t))
FROM unnest(ARRAY['study_area', 'run', 'layer', 'layer_class_count', 'admin_unit_version', 'zone']) AS t;
SELECT has_table('src', 'county_stat', 'table src.county_stat exists');
SELECT has_view('core', 'admin_unit', 'core.admin_unit is a view (the current boundaries)');

SELECT col_is_pk('core', 'study_area', 'study_area_id', 'study_area key');
SELECT col_is_pk('core', 'run', 'run_id', 'run key');
SELECT col_is_pk('core', 'layer', 'layer_id', 'layer key');
SELECT col_is_pk('core', 'layer_class_count', ARRAY['layer_id', 'code'], 'layer_class_count key');
SELECT col_is_pk('core', 'admin_unit_version', 'unit_id', 'admin unit key');
SELECT col_is_pk('core', 'zone', 'zone_id', 'zone key');
SELECT col_is_pk('src', 'county_stat', ARRAY['study_area_id', 'code', 'year', 'variable'], 'county_stat key');

SELECT fk_ok('core', 'run', 'study_area_id', 'core', 'study_area', 'study_area_id');
SELECT fk_ok('core', 'run', 'parent_run_id', 'core', 'run', 'run_id');
SELECT fk_ok('core', 'layer', 'study_area_id', 'core', 'study_area', 'study_area_id');
SELECT fk_ok('core', 'layer', 'run_id', 'core', 'run', 'run_id');
SELECT fk_ok('core', 'layer_class_count', 'layer_id', 'core', 'layer', 'layer_id');
SELECT fk_ok('core', 'admin_unit_version', 'study_area_id', 'core', 'study_area', 'study_area_id');
SELECT fk_ok('core', 'zone', 'study_area_id', 'core', 'study_area', 'study_area_id');
SELECT fk_ok('src', 'county_stat', 'study_area_id', 'core', 'study_area', 'study_area_id');
SELECT col_type_is('core', 'layer', 'load_options', 'jsonb', 'core.layer.load_options is jsonb');

-- study area: the grid's generated columns ------------------------------------------
-- origin (500000, 4400000), 30 m pixels, 1000 x 300 cells, default tiles of 256:
-- tiles_x = ceil(1000 / 256) = 4, tiles_y = ceil(300 / 256) = 2,
-- extent x 500000 .. 500000 + 1000 * 30 = 530000, y 4400000 - 300 * 30 = 4391000 .. 4400000.
INSERT INTO core.study_area (name, title, srid, origin_x, origin_y, pixel_size, width, height)
VALUES ('t010', 'core tables', 32650, 500000, 4400000, 30, 1000, 300);

SELECT is((SELECT tile_size FROM core.study_area WHERE name = 't010'), 256, 'tile_size defaults to 256');
SELECT is((SELECT tiles_x FROM core.study_area WHERE name = 't010'), 4, 'tiles_x = ceil(width / tile_size)');
SELECT is((SELECT tiles_y FROM core.study_area WHERE name = 't010'), 2, 'tiles_y = ceil(height / tile_size)');
SELECT ok((SELECT ST_Equals(extent, ST_MakeEnvelope(500000, 4391000, 530000, 4400000, 32650))
           FROM core.study_area WHERE name = 't010'), 'extent is the grid envelope from the upper-left origin');
SELECT is((SELECT ST_SRID(extent) FROM core.study_area WHERE name = 't010'), 32650, 'extent has the area SRID');

SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('Bad', 32650, 0, 0, 30, 10, 10)$$, '23514', NULL, 'a name with capitals is refused');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('a23456789012345678901', 32650, 0, 0, 30, 10, 10)$$, '23514', NULL,
                 'a name of 21 characters is refused');
SELECT lives_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                  VALUES ('a2345678901234567890', 32650, 0, 0, 30, 10, 10)$$, 'a name of 20 characters is accepted');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('t010_px', 32650, 0, 0, 0, 10, 10)$$, '23514', NULL, 'pixel_size 0 is refused');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('t010_w', 32650, 0, 0, 30, 0, 10)$$, '23514', NULL, 'width 0 is refused');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
                   VALUES ('t010_t', 32650, 0, 0, 30, 10, 10, 8)$$, '23514', NULL, 'tile_size 8 (< 16) is refused');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('t010_s', 999999, 0, 0, 30, 10, 10)$$, '23503', NULL, 'an SRID unknown to PostGIS is refused');
SELECT throws_ok($$INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height)
                   VALUES ('t010', 32650, 0, 0, 30, 10, 10)$$, '23505', NULL, 'study area names are unique');

-- runs ------------------------------------------------------------------------------
INSERT INTO core.run (study_area_id, stage, label)
SELECT study_area_id, 'services', 'parent' FROM core.study_area WHERE name = 't010';
INSERT INTO core.run (study_area_id, stage, label, parent_run_id)
SELECT study_area_id, 'ratios', 'child', (SELECT run_id FROM core.run WHERE label = 'parent')
FROM core.study_area WHERE name = 't010';

SELECT is((SELECT status FROM core.run WHERE label = 'parent'), 'running', 'a new run is running');
SELECT throws_ok($$UPDATE core.run SET status = 'done' WHERE label = 'parent'$$, '23514', NULL,
                 'run status is running, succeeded or failed');
DELETE FROM core.run WHERE label = 'parent';
SELECT is((SELECT parent_run_id FROM core.run WHERE label = 'child'), NULL::integer,
          'deleting a parent run leaves its child with parent_run_id NULL');

-- layers ----------------------------------------------------------------------------
INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name, load_options)
SELECT study_area_id, 'lulc', 'categorical', 'class', '8BUI', 0, 'src', 't010_lulc', '{"band": 2, "src_nodata": 255}'
FROM core.study_area WHERE name = 't010';

SELECT is((SELECT load_options ->> 'band' FROM core.layer WHERE table_name = 't010_lulc'), '2',
          'load_options keeps the band of the load');
SELECT is((SELECT run_id FROM core.layer WHERE table_name = 't010_lulc'), NULL::integer, 'a source layer has no run');
SELECT throws_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
                   SELECT study_area_id, 'lulc', 'categorical', 'class', '8BUI', 0, 'src', 't010_lulc2'
                   FROM core.study_area WHERE name = 't010'$$, '23505', NULL,
                 'two source layers of one name are refused (NULLS NOT DISTINCT)');
SELECT lives_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name, run_id)
                  SELECT study_area_id, 'lulc', 'continuous', '1', '32BF', -1, 'calc', 't010_lulc_run', r.run_id
                  FROM core.study_area a JOIN core.run r USING (study_area_id) WHERE a.name = 't010' AND r.label = 'child'$$,
                'a computed layer may share the name of a source layer');
SELECT throws_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name, run_id)
                   SELECT study_area_id, 'lulc', 'continuous', '1', '32BF', -1, 'calc', 't010_lulc_run2', r.run_id
                   FROM core.study_area a JOIN core.run r USING (study_area_id) WHERE a.name = 't010' AND r.label = 'child'$$,
                 '23505', NULL, 'one run has one layer of a name');
SELECT throws_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
                   SELECT study_area_id, 'other', 'categorical', 'class', '8BUI', 0, 'src', 't010_lulc'
                   FROM core.study_area WHERE name = 't010'$$, '23505', NULL, 'two layers cannot share a tile table');
SELECT throws_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
                   SELECT study_area_id, 'ndvi', 'discrete', '1', '32BF', 0, 'src', 't010_ndvi'
                   FROM core.study_area WHERE name = 't010'$$, '23514', NULL, 'layer kind is categorical or continuous');
SELECT throws_ok($$INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
                   SELECT study_area_id, 'NDVI', 'continuous', '1', '32BF', 0, 'src', 't010_ndvi'
                   FROM core.study_area WHERE name = 't010'$$, '23514', NULL, 'a layer name with capitals is refused');
DELETE FROM core.run WHERE label = 'child';
SELECT is((SELECT count(*)::integer FROM core.layer WHERE table_name = 't010_lulc_run'), 0,
          'deleting a run deletes its computed layers');

-- class counts of a categorical layer, gone with the layer
INSERT INTO core.layer_class_count (layer_id, code, cells)
SELECT layer_id, code, cells FROM core.layer, (VALUES (1, 120), (-3, 5)) v (code, cells)
WHERE table_name = 't010_lulc';
SELECT throws_ok($$INSERT INTO core.layer_class_count (layer_id, code, cells)
                   SELECT layer_id, 2, 0 FROM core.layer WHERE table_name = 't010_lulc'$$, '23514', NULL,
                 'a class is counted with at least one cell');
SELECT throws_ok($$INSERT INTO core.layer_class_count (layer_id, code, cells)
                   SELECT layer_id, 1, 7 FROM core.layer WHERE table_name = 't010_lulc'$$, '23505', NULL,
                 'a class is counted once per layer');
INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
SELECT study_area_id, 'lulc_gone', 'categorical', 'class', '16BSI', -32768, 'src', 't010_lulc_gone'
FROM core.study_area WHERE name = 't010';
INSERT INTO core.layer_class_count (layer_id, code, cells)
SELECT layer_id, 4, 9 FROM core.layer WHERE table_name = 't010_lulc_gone';
DELETE FROM core.layer WHERE table_name = 't010_lulc_gone';
SELECT is((SELECT count(*)::integer FROM core.layer_class_count c
           WHERE NOT EXISTS (SELECT 1 FROM core.layer l WHERE l.layer_id = c.layer_id)), 0,
          'deleting a layer deletes its class counts');
SELECT is((SELECT sum(cells)::integer FROM core.layer_class_count JOIN core.layer USING (layer_id)
           WHERE table_name = 't010_lulc'), 125, 'the counts of the other layer stay');

-- administrative units: versioned, core.admin_unit is the current ones ---------------
-- a 10 km square: area 1e8 m2
INSERT INTO core.admin_unit (study_area_id, level, code, name, geom)
SELECT study_area_id, 'county', '130101', 'Alpha',
       ST_Multi(ST_MakeEnvelope(500000, 4390000, 510000, 4400000, 32650))
FROM core.study_area WHERE name = 't010';

SELECT is((SELECT count(*)::integer FROM core.admin_unit_version WHERE code = '130101' AND superseded_at IS NULL), 1,
          'a unit inserted through core.admin_unit is stored in core.admin_unit_version, current');
SELECT is((SELECT area_m2 FROM core.admin_unit WHERE code = '130101'), 1e8::double precision,
          'area_m2 is the polygon area in the study-area CRS');
SELECT isnt((SELECT loaded_at FROM core.admin_unit WHERE code = '130101'), NULL, 'loaded_at is set');
SELECT throws_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                   SELECT study_area_id, 'county', '130101', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 32650))
                   FROM core.study_area WHERE name = 't010'$$, '23505', NULL,
                 'two current units of one level and code are refused');
SELECT throws_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                   SELECT study_area_id, 'village', '1', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 32650))
                   FROM core.study_area WHERE name = 't010'$$, '23514', NULL, 'level is county, city or province');
SELECT throws_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                   SELECT study_area_id, 'county', 'bowtie',
                          'SRID=32650;MULTIPOLYGON(((0 0,10 10,10 0,0 10,0 0)))'::geometry
                   FROM core.study_area WHERE name = 't010'$$, '23514', NULL, 'an invalid (self-crossing) polygon is refused');
SELECT throws_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                   SELECT study_area_id, 'county', 'empty', 'SRID=32650;MULTIPOLYGON EMPTY'::geometry
                   FROM core.study_area WHERE name = 't010'$$, '23514', NULL, 'an empty polygon is refused');
SELECT throws_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                   SELECT study_area_id, 'county', 'poly', ST_MakeEnvelope(0, 0, 1, 1, 32650)
                   FROM core.study_area WHERE name = 't010'$$, '22023', NULL,
                 'a Polygon is refused (the column holds MultiPolygons)');

-- a later load supersedes the unit and adds a new one with the same code
UPDATE core.admin_unit_version SET superseded_at = now() WHERE code = '130101';
SELECT lives_ok($$INSERT INTO core.admin_unit (study_area_id, level, code, name, geom)
                  SELECT study_area_id, 'county', '130101', 'Alpha (new)',
                         ST_Multi(ST_MakeEnvelope(500000, 4390000, 505000, 4400000, 32650))
                  FROM core.study_area WHERE name = 't010'$$, 'a superseded unit leaves its code free');
SELECT results_eq($$SELECT name, area_m2 FROM core.admin_unit WHERE code = '130101'$$,
                  $$VALUES ('Alpha (new)'::text, 5e7::double precision)$$,
                  'core.admin_unit shows only the current unit of a code');
SELECT is((SELECT count(*)::integer FROM core.admin_unit_version WHERE code = '130101'), 2,
          'core.admin_unit_version keeps the superseded unit');
UPDATE core.admin_unit SET name = 'Alpha 2' WHERE code = '130101';
SELECT results_eq($$SELECT name FROM core.admin_unit_version WHERE code = '130101' ORDER BY superseded_at NULLS LAST$$,
                  ARRAY['Alpha', 'Alpha 2'], 'an UPDATE through core.admin_unit changes the current unit only');
DELETE FROM core.admin_unit WHERE code = '130101';
SELECT is((SELECT count(*)::integer FROM core.admin_unit_version WHERE code = '130101'), 1,
          'a DELETE through core.admin_unit removes the current unit only');
SELECT is((SELECT count(*)::integer FROM pg_constraint
           WHERE confrelid = 'core.admin_unit_version'::regclass AND contype = 'f' AND confdeltype = 'c'), 0,
          'no foreign key deletes results with their unit (ON DELETE CASCADE)');

-- zones -----------------------------------------------------------------------------
INSERT INTO core.zone (study_area_id, zone_set, code, geom)
SELECT study_area_id, 'watersheds', 'w1', ST_Multi(ST_MakeEnvelope(500000, 4395000, 502000, 4400000, 32650))
FROM core.study_area WHERE name = 't010';
SELECT results_eq($$SELECT attrs, area_m2 FROM core.zone WHERE code = 'w1'$$,
                  $$VALUES ('{}'::jsonb, 1e7::double precision)$$, 'a zone has empty attrs by default and its area');
SELECT throws_ok($$INSERT INTO core.zone (study_area_id, zone_set, code, geom)
                   SELECT study_area_id, 'watersheds', 'w1', ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 32650))
                   FROM core.study_area WHERE name = 't010'$$, '23505', NULL, 'zone codes are unique per zone set');

-- county statistics -----------------------------------------------------------------
INSERT INTO src.county_stat (study_area_id, code, year, variable, value, unit)
SELECT study_area_id, '130101', 2020, 'population', 1000, 'persons' FROM core.study_area WHERE name = 't010';
SELECT throws_ok($$INSERT INTO src.county_stat (study_area_id, code, year, variable, value, unit)
                   SELECT study_area_id, '130101', 2020, 'population', 2000, 'persons'
                   FROM core.study_area WHERE name = 't010'$$, '23505', NULL,
                 'one value per county, year and variable');

-- deleting a study area deletes what belongs to it ------------------------------------
DELETE FROM core.study_area WHERE name = 't010';
SELECT is((SELECT count(*)::integer FROM core.layer l WHERE l.table_name LIKE 't010%')
          + (SELECT count(*)::integer FROM core.admin_unit_version WHERE code = '130101')
          + (SELECT count(*)::integer FROM core.zone WHERE code = 'w1')
          + (SELECT count(*)::integer FROM src.county_stat WHERE code = '130101')
          + (SELECT count(*)::integer FROM core.run WHERE label = 'child'), 0,
          'deleting a study area deletes its layers, units, zones, statistics and runs');

SELECT * FROM finish();
ROLLBACK;
