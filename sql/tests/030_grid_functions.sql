-- 030_grid_functions.sql: core.study_area_id, core.tile_raster, core.tile_envelope
-- and core.layer_alignment on a small grid whose tiles are worked out by hand.
--
-- Grid t030: EPSG:32650, upper-left origin (1000, 5000), 10 m pixels, 40 x 25
-- cells, tiles of 16: tiles_x = ceil(40/16) = 3, tiles_y = ceil(25/16) = 2,
-- tile_id = row * 3 + col:
--   tile 0 (row 0, col 0): 16 x 16, upper-left (1000, 5000)
--   tile 2 (row 0, col 2): 40 - 32 = 8 wide, 16 high, upper-left (1000 + 2*16*10, 5000) = (1320, 5000)
--   tile 4 (row 1, col 1): 16 wide, 25 - 16 = 9 high, upper-left (1160, 5000 - 160) = (1160, 4840)
--   tile 5 (row 1, col 2): 8 x 9, upper-left (1320, 4840), lower-right (1400, 4750)
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(40);

SELECT has_function('core', 'study_area_id', ARRAY['text'], 'core.study_area_id(text) exists');
SELECT function_returns('core', 'study_area_id', ARRAY['text'], 'integer', 'core.study_area_id returns integer');
SELECT has_function('core', 'tile_raster', ARRAY['integer', 'integer', 'text', 'double precision'],
                    'core.tile_raster(integer, integer, text, double precision) exists');
SELECT function_returns('core', 'tile_raster', ARRAY['integer', 'integer', 'text', 'double precision'], 'raster',
                        'core.tile_raster returns raster');
SELECT has_function('core', 'tile_envelope', ARRAY['integer', 'integer'], 'core.tile_envelope(integer, integer) exists');
SELECT function_returns('core', 'tile_envelope', ARRAY['integer', 'integer'], 'geometry', 'core.tile_envelope returns geometry');
SELECT has_function('core', 'layer_alignment', ARRAY['integer'], 'core.layer_alignment(integer) exists');
SELECT function_returns('core', 'layer_alignment', ARRAY['integer'], 'setof record', 'core.layer_alignment returns a table');
SELECT volatility_is('core', f, 'stable', format('core.%s is STABLE', f))
FROM unnest(ARRAY['study_area_id', 'tile_raster', 'tile_envelope', 'layer_alignment']) AS f;

INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
VALUES ('t030', 32650, 1000, 5000, 10, 40, 25, 16);

-- core.study_area_id ------------------------------------------------------------------
SELECT is(core.study_area_id('t030'), (SELECT study_area_id FROM core.study_area WHERE name = 't030'),
          'study_area_id finds an area by name');
SELECT throws_ok($$SELECT core.study_area_id('nope')$$, 'P0002', 'unknown study area "nope"',
                 'an unknown name raises no_data_found naming it');

-- core.tile_raster --------------------------------------------------------------------
SELECT results_eq(
    $$SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r), ST_ScaleX(r), ST_ScaleY(r), ST_SRID(r)
      FROM core.tile_raster(core.study_area_id('t030'), 0) r$$,
    $$VALUES (16, 16, 1000::double precision, 5000::double precision, 10::double precision, -10::double precision, 32650)$$,
    'tile 0: 16 x 16 at the grid origin, 10 m pixels, north up, grid SRID');
SELECT results_eq(
    $$SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r)
      FROM core.tile_raster(core.study_area_id('t030'), 2) r$$,
    $$VALUES (8, 16, 1320::double precision, 5000::double precision)$$,
    'tile 2 (row 0, col 2) is cut at the right border: 8 x 16 at (1320, 5000)');
SELECT results_eq(
    $$SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r)
      FROM core.tile_raster(core.study_area_id('t030'), 4) r$$,
    $$VALUES (16, 9, 1160::double precision, 4840::double precision)$$,
    'tile 4 (row 1, col 1) is cut at the bottom border: 16 x 9 at (1160, 4840)');
SELECT results_eq(
    $$SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r)
      FROM core.tile_raster(core.study_area_id('t030'), 5) r$$,
    $$VALUES (8, 9, 1320::double precision, 4840::double precision)$$,
    'tile 5 (corner) is cut on both borders: 8 x 9 at (1320, 4840)');
SELECT results_eq(
    $$SELECT ST_NumBands(r), ST_BandPixelType(r, 1), ST_BandNoDataValue(r, 1), ST_Count(r, 1, true)
      FROM core.tile_raster(core.study_area_id('t030'), 0) r$$,
    $$VALUES (1, '32BF'::text, -3.4028234663852886e38::double precision, 0::bigint)$$,
    'default: one 32BF band, nodata the lowest float32, no valid pixel');
SELECT results_eq(
    $$SELECT ST_BandPixelType(r, 1), ST_BandNoDataValue(r, 1), ST_Count(r, 1, false)
      FROM core.tile_raster(core.study_area_id('t030'), 3, '8BUI', 0) r$$,
    $$VALUES ('8BUI'::text, 0::double precision, 144::bigint)$$,
    'tile 3 (16 x 9) in the pixel type and nodata asked: its 144 pixels hold nodata');
SELECT is(ST_Value(core.tile_raster(core.study_area_id('t030'), 0), 1, 1, 1), NULL::double precision,
          'the pixels of an empty tile are nodata');
SELECT is(core.tile_raster(-1, 0), NULL::raster, 'an unknown study area gives NULL');
-- A tile_id off the grid is an error naming the valid range (tiles 0 to 5 on this 3 x 2 grid), for the
-- raster and for its envelope.
SELECT throws_ok($$SELECT core.tile_raster(core.study_area_id('t030'), 6)$$, '22023',
                 'tile 6 is not on the grid of study area "t030" (tiles 0 to 5)', 'tile 6, past the last tile, is refused');
SELECT throws_ok($$SELECT core.tile_raster(core.study_area_id('t030'), -1)$$, '22023',
                 'tile -1 is not on the grid of study area "t030" (tiles 0 to 5)', 'tile -1 is refused');
SELECT throws_ok($$SELECT core.tile_envelope(core.study_area_id('t030'), 6)$$, '22023', NULL,
                 'the envelope of tile 6 is refused');

-- core.tile_envelope ------------------------------------------------------------------
SELECT ok(ST_Equals(core.tile_envelope(core.study_area_id('t030'), 0), ST_MakeEnvelope(1000, 4840, 1160, 5000, 32650)),
          'envelope of tile 0: x 1000..1160, y 4840..5000');
SELECT ok(ST_Equals(core.tile_envelope(core.study_area_id('t030'), 5), ST_MakeEnvelope(1320, 4750, 1400, 4840, 32650)),
          'envelope of tile 5: x 1320..1400, y 4750..4840');
SELECT is(ST_SRID(core.tile_envelope(core.study_area_id('t030'), 5)), 32650, 'the envelope has the grid SRID');
SELECT is(GeometryType(core.tile_envelope(core.study_area_id('t030'), 1)), 'POLYGON', 'the envelope is a polygon');
SELECT is((SELECT sum(ST_Area(core.tile_envelope(core.study_area_id('t030'), t))) FROM generate_series(0, 5) t),
          100000::double precision, 'the six tiles cover 400 m x 250 m');
SELECT ok((SELECT ST_Equals(ST_Union(core.tile_envelope(a.study_area_id, t)), a.extent)
           FROM core.study_area a, generate_series(0, 5) t WHERE a.name = 't030' GROUP BY a.extent),
          'the tiles together are the study-area extent');

-- core.layer_alignment ----------------------------------------------------------------
-- layer "aligned": tiles 0 and 5 made by hand where the grid puts them.
CREATE TABLE src.t030_aligned (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t030_aligned VALUES
    (0, ST_AddBand(ST_MakeEmptyRaster(16, 16, 1000, 5000, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8)),
    (5, ST_AddBand(ST_MakeEmptyRaster(8, 9, 1320, 4840, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8));
-- layer "shifted": tile 1 right, tile 4 shifted 10 m east, tile 5 padded to 16 x 16, tile 3 with 20 m pixels.
CREATE TABLE src.t030_shifted (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t030_shifted VALUES
    (1, ST_AddBand(ST_MakeEmptyRaster(16, 16, 1160, 5000, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8)),
    (4, ST_AddBand(ST_MakeEmptyRaster(16, 9, 1170, 4840, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8)),
    (5, ST_AddBand(ST_MakeEmptyRaster(16, 16, 1320, 4840, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8)),
    (3, ST_AddBand(ST_MakeEmptyRaster(8, 5, 1000, 4840, 20, -20, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8));
-- layer "empty": no tile.
CREATE TABLE src.t030_empty (tile_id integer PRIMARY KEY, rast raster);
-- a computed layer "aligned" of a run: one tile in the wrong SRID.
CREATE TABLE calc.t030_run (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO calc.t030_run VALUES
    (0, ST_AddBand(ST_MakeEmptyRaster(16, 16, 1000, 5000, 10, -10, 0, 0, 32651), '32BF'::text, 1::float8, -1::float8));
INSERT INTO core.run (study_area_id, stage, label) SELECT study_area_id, 'services', 't030' FROM core.study_area WHERE name = 't030';
INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name, run_id)
SELECT a.study_area_id, l.name, 'continuous', '1', '32BF', -1, l.sch, l.tab, CASE WHEN l.computed THEN r.run_id END
FROM core.study_area a JOIN core.run r ON r.study_area_id = a.study_area_id AND r.label = 't030',
     (VALUES ('shifted', 'src', 't030_shifted', false), ('aligned', 'src', 't030_aligned', false),
             ('empty', 'src', 't030_empty', false), ('aligned', 'calc', 't030_run', true)) AS l (name, sch, tab, computed)
WHERE a.name = 't030';
-- another study area whose layer must not be listed
INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
VALUES ('t030_other', 32650, 0, 0, 10, 16, 16, 16);
CREATE TABLE src.t030_other_empty (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name)
SELECT study_area_id, 'aligned', 'continuous', '1', '32BF', -1, 'src', 't030_other_empty'
FROM core.study_area WHERE name = 't030_other';

SELECT results_eq(
    $$SELECT layer, tiles, misplaced, aligned, run_id FROM core.layer_alignment(core.study_area_id('t030'))$$,
    $$VALUES ('aligned'::text, 2::bigint, 0::bigint, true, NULL::integer),
             ('aligned', 1, 1, false, (SELECT run_id FROM core.run WHERE label = 't030')),
             ('empty', 0, 0, true, NULL),
             ('shifted', 4, 3, false, NULL)$$,
    'layer_alignment: one row per layer by name, source layer first; tiles off the grid counted');
SELECT is((SELECT count(*)::integer FROM core.layer_alignment(core.study_area_id('t030_other'))), 1,
          'layer_alignment lists the layers of its study area only');
SELECT is_empty($$SELECT * FROM core.layer_alignment(-1)$$, 'a study area without layers gives no row');

-- a tile is misplaced by any one of: origin, pixel size, SRID, width, height (one layer each)
CREATE TABLE src.t030_one (tile_id integer PRIMARY KEY, rast raster);
UPDATE core.layer SET table_name = 't030_one' WHERE table_name = 't030_shifted';
INSERT INTO src.t030_one VALUES
    (2, ST_AddBand(ST_MakeEmptyRaster(8, 16, 1320, 5000, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8));
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 0::bigint,
          'tile 2 at (1320, 5000), 8 x 16 is in place');
UPDATE src.t030_one SET rast = ST_SetUpperLeft(rast, 1320, 5010);
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 1::bigint,
          'a tile 10 m too far north is misplaced');
UPDATE src.t030_one SET rast = ST_AddBand(ST_MakeEmptyRaster(8, 15, 1320, 5000, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8);
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 1::bigint,
          'a tile one row short is misplaced');
UPDATE src.t030_one SET rast = ST_AddBand(ST_MakeEmptyRaster(8, 16, 1320, 5000, 10, 10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8);
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 1::bigint,
          'a tile with south-up pixels (positive scale y) is misplaced');
UPDATE src.t030_one SET rast = ST_AddBand(ST_MakeEmptyRaster(8, 16, 1320, 5000, 10, -10, 0, 0, 3857), '32BF'::text, 1::float8, -1::float8);
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 1::bigint,
          'a tile in another SRID is misplaced');
UPDATE src.t030_one SET tile_id = 1;
UPDATE src.t030_one SET rast = ST_AddBand(ST_MakeEmptyRaster(8, 16, 1320, 5000, 10, -10, 0, 0, 32650), '32BF'::text, 1::float8, -1::float8);
SELECT is((SELECT misplaced FROM core.layer_alignment(core.study_area_id('t030')) WHERE layer = 'shifted'), 1::bigint,
          'tile 2 stored under tile_id 1 is misplaced');

SELECT * FROM finish();
ROLLBACK;
