-- 050_kernels.sql: the stored kernel modules (calc.kernel_module) and, where
-- PL/Python is installed, calc.kernel_modules, calc.apply_kernel and
-- calc.zonal_stats run on small tiles whose results are worked out by hand.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(35);

SELECT has_table('calc', 'kernel_module', 'table calc.kernel_module exists');
SELECT col_is_pk('calc', 'kernel_module', 'name', 'kernel_module key: the module name');
SELECT results_eq($$SELECT name FROM calc.kernel_module ORDER BY load_order$$,
                  ARRAY['restore_db.kernels.wkb', 'restore_db.kernels.formulas', 'restore_db.kernels.catalog',
                        'restore_db.kernels.tiles'],
                  'the four kernel modules are stored, dependencies first');
SELECT is_empty($$SELECT name FROM calc.kernel_module
                  WHERE sha256 <> encode(sha256(convert_to(source, 'UTF8')), 'hex')$$,
                'every stored module has the SHA-256 of its source');

-- tiles of 10 m pixels, upper-left y 100, in EPSG:32650; -9999 = nodata
CREATE FUNCTION pg_temp.t050_tile(ulx double precision, vals double precision[]) RETURNS raster
LANGUAGE sql AS $$
    SELECT ST_SetValues(ST_AddBand(ST_MakeEmptyRaster(array_length(vals, 2), array_length(vals, 1), ulx, 100, 10, -10, 0, 0, 32650),
                                   '32BF'::text, 0::float8, -9999::float8), 1, 1, 1, vals)
$$;

SELECT (to_regprocedure('calc.apply_kernel(text,jsonb,text[],text[],boolean,integer,text[],text[],integer,integer)') IS NOT NULL
        AND to_regprocedure('calc.zonal_stats(text,text[],text[])') IS NOT NULL) AS have_plpython \gset
\if :have_plpython

SELECT has_extension('plpython3u', 'PL/Python is installed');
SELECT function_lang_is('calc', 'kernel_modules', ARRAY[]::text[], 'plpython3u', 'calc.kernel_modules is PL/Python');
SELECT function_returns('calc', 'kernel_modules', ARRAY[]::text[], 'text', 'calc.kernel_modules returns text');
SELECT function_returns('calc', 'apply_kernel',
                        ARRAY['text', 'jsonb', 'text[]', 'text[]', 'boolean', 'integer', 'text[]', 'text[]', 'integer',
                              'integer'], 'jsonb',
                        'calc.apply_kernel(kernel, params, inputs, kernel_args, halo, tiles_x, outputs, targets, first_row, end_row) returns jsonb');
SELECT cmp_ok(calc.server_cores(), '>=', 1, 'calc.server_cores() gives the cores the server may use');
SELECT function_returns('calc', 'zonal_stats', ARRAY['text', 'text[]', 'text[]'], 'jsonb',
                        'calc.zonal_stats(zones, names, tables) returns jsonb');
SELECT matches(calc.kernel_modules(), '^[0-9]+\.[0-9]+', 'calc.kernel_modules loads the modules and returns the numpy version');

-- class_values: a lookup of land-use codes. Tile 0 holds codes [[1, 2], [3, nodata]], tile 1 only 3;
-- the table kc = [null, 0.5, 0.25, null] (index = code) gives [[0.5, 0.25], [none, none]] and nothing in tile 1.
CREATE TABLE src.t050_lulc (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t050_lulc VALUES (0, pg_temp.t050_tile(0, ARRAY[[1, 2], [3, -9999]])),
                                 (1, pg_temp.t050_tile(20, ARRAY[[3, 3], [3, 3]]));
CREATE TABLE calc.t050_kc (tile_id integer PRIMARY KEY, rast raster);
SELECT calc.apply_kernel('class_values', '{"tables": {"kc": [null, 0.5, 0.25, null]}}', ARRAY['src.t050_lulc'],
                         ARRAY['lulc'], false, 2, ARRAY['kc'], ARRAY['calc.t050_kc']) AS summary \gset
SELECT is(:'summary'::jsonb - 'seconds' - 'cpu_seconds' #- '{outputs,kc,partials}',
          '{"tiles": 2, "cells": 8, "added": 0, "outputs": {"kc": {"valid": 2, "sum": 0.75, "min": 0.25, "max": 0.5}}}'::jsonb,
          'apply_kernel returns tiles, cells and the count, sum, min and max of each output');
SELECT cmp_ok((:'summary'::jsonb ->> 'cpu_seconds')::double precision, '>=', 0::double precision,
              'and the CPU seconds of its backend');
-- one band of tile rows: tiles_x = 1 puts the two tiles in rows 0 and 1; rows 1..1 compute tile 1 only
CREATE TABLE calc.t050_kc_band (tile_id integer PRIMARY KEY, rast raster);
SELECT is((calc.apply_kernel('class_values', '{"tables": {"kc": [null, 0.5, 0.25, 0.75]}}', ARRAY['src.t050_lulc'],
                             ARRAY['lulc'], false, 1, ARRAY['kc'], ARRAY['calc.t050_kc_band'], 1, 2) ->> 'tiles')::integer,
          1, 'a band of tile rows computes the tiles of those rows only');
SELECT results_eq('SELECT tile_id FROM calc.t050_kc_band', ARRAY[1], 'and writes only them');
SELECT cmp_ok((:'summary'::jsonb ->> 'seconds')::double precision, '>=', 0::double precision, 'and the seconds it took');
SELECT results_eq($$SELECT tile_id FROM calc.t050_kc$$, ARRAY[0], 'a tile without a valid pixel is not written');
SELECT results_eq($$SELECT ST_Value(rast, 1, 1, 1), ST_Value(rast, 1, 2, 1), ST_Value(rast, 1, 1, 2), ST_Value(rast, 1, 2, 2)
                    FROM calc.t050_kc$$,
                  $$VALUES (0.5::double precision, 0.25::double precision, NULL::double precision, NULL::double precision)$$,
                  'the output tile holds the looked-up values, nodata where the code has none');
SELECT results_eq($$SELECT ST_BandPixelType(rast, 1), ST_BandNoDataValue(rast, 1), ST_UpperLeftX(rast), ST_UpperLeftY(rast),
                           ST_ScaleX(rast), ST_SRID(rast), ST_Width(rast), ST_Height(rast) FROM calc.t050_kc$$,
                  $$VALUES ('32BF'::text, -3.4028234663852886e38::double precision, 0::double precision, 100::double precision,
                            10::double precision, 32650, 2, 2)$$,
                  'an output tile is float32 with the lowest float32 as nodata, on the input tile''s place');

-- params._add adds values to single pixels after the kernel (nodata counts as 0 there):
-- tile 0 (row 1, col 1) += 2, tile 1 (row 0, col 0) += 1.5: valid 2 + 2, sum 0.75 + 2 + 1.5 = 4.25.
CREATE TABLE calc.t050_kc_add (tile_id integer PRIMARY KEY, rast raster);
SELECT is(calc.apply_kernel('class_values', '{"tables": {"kc": [null, 0.5, 0.25, null]},
                                              "_add": {"kc": {"0": [[1, 1, 2.0]], "1": [[0, 0, 1.5]]}}}',
                            ARRAY['src.t050_lulc'], ARRAY['lulc'], false, 2, ARRAY['kc'], ARRAY['calc.t050_kc_add'])
          - 'seconds' - 'cpu_seconds' - 'tiles' - 'cells' #- '{outputs,kc,partials}',
          '{"added": 2, "outputs": {"kc": {"valid": 4, "sum": 4.25, "min": 0.25, "max": 2.0}}}'::jsonb,
          'apply_kernel with _add: pixels added to are counted');
SELECT results_eq($$SELECT tile_id, ST_Value(rast, 1, 2, 2), ST_Value(rast, 1, 1, 1) FROM calc.t050_kc_add ORDER BY tile_id$$,
                  $$VALUES (0, 2::double precision, 0.5::double precision), (1, NULL, 1.5)$$,
                  'the added values are stored (a tile that had none is now written)');

-- slope with a halo: DEM z = 10 * col^2 over two 3 x 3 tiles side by side (global columns 0..5:
-- 0, 10, 40 | 90, 160, 250). Horn: dz/dx = ((c + 2f + i) - (a + 2d + g)) / (8 * 10), dz/dy = 0.
-- Tile 0, row 1, col 2 (column 2): (4 * 90 - 4 * 10) / 80 = 4 -> atan(4) = 75.963756532 deg; its right
-- neighbour comes from tile 1 (without the halo it would be atan(3) = 71.565 deg).
-- Tile 1, row 1, col 0 (column 3): (4 * 160 - 4 * 40) / 80 = 6 -> atan(6) = 80.537677792 deg.
CREATE TABLE src.t050_dem (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t050_dem VALUES (0, pg_temp.t050_tile(0, ARRAY[[0, 10, 40], [0, 10, 40], [0, 10, 40]])),
                                (1, pg_temp.t050_tile(30, ARRAY[[90, 160, 250], [90, 160, 250], [90, 160, 250]]));
CREATE TABLE calc.t050_slope (tile_id integer PRIMARY KEY, rast raster);
SELECT is(calc.apply_kernel('slope', '{"cell_size": 10}', ARRAY['src.t050_dem'], ARRAY['dem'], true, 2,
                            ARRAY['slope'], ARRAY['calc.t050_slope']) -> 'tiles', '2'::jsonb,
          'a focal kernel runs over both tiles');
SELECT ok(abs((SELECT ST_Value(rast, 1, 3, 2) FROM calc.t050_slope WHERE tile_id = 0) - 75.963756532) < 1e-4,
          'slope at the right edge of tile 0 uses the first column of tile 1 (atan 4)');
SELECT ok(abs((SELECT ST_Value(rast, 1, 1, 2) FROM calc.t050_slope WHERE tile_id = 1) - 80.537677792) < 1e-4,
          'slope at the left edge of tile 1 uses the last column of tile 0 (atan 6)');
SELECT ok(abs((SELECT ST_Value(rast, 1, 2, 2) FROM calc.t050_slope WHERE tile_id = 0) - 63.434948823) < 1e-4,
          'slope inside tile 0: (4 * 40 - 4 * 0) / 80 = 2 -> atan(2) = 63.435 deg');

SELECT throws_like($$SELECT calc.apply_kernel('no_such_kernel', '{}', ARRAY['src.t050_lulc'], ARRAY['lulc'], false, 2,
                                              ARRAY['x'], ARRAY['calc.t050_kc'])$$,
                   '%unknown kernel%', 'an unknown kernel is refused by name');
SELECT throws_like($$SELECT calc.apply_kernel('slope', '{"cell_size": 10}', ARRAY['src.t050_dem', 'src.t050_lulc'],
                                              ARRAY['dem', 'lulc'], true, 2, ARRAY['slope'], ARRAY['calc.t050_slope'])$$,
                   '%exactly one input%', 'a focal kernel takes one input layer');

-- zonal_stats: zones [[1, 1], [2, nodata]] and [[2, 2], [2, 2]];
-- layer a [[1, 2], [4, 8]] and [[16, nodata], [32, 64]]: zone 1 -> 2 pixels, 1 + 2 = 3;
--   zone 2 -> 4 (tile 0) + 16 + 32 + 64 (tile 1) = 116 over 4 pixels;
-- layer b has tile 1 only, all 1: zone 2 -> 4 pixels, sum 4; zone 1 has no valid pixel and no entry.
CREATE TABLE src.t050_zones (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t050_zones VALUES (0, pg_temp.t050_tile(0, ARRAY[[1, 1], [2, -9999]])),
                                  (1, pg_temp.t050_tile(20, ARRAY[[2, 2], [2, 2]]));
CREATE TABLE src.t050_a (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t050_a VALUES (0, pg_temp.t050_tile(0, ARRAY[[1, 2], [4, 8]])),
                              (1, pg_temp.t050_tile(20, ARRAY[[16, -9999], [32, 64]]));
CREATE TABLE src.t050_b (tile_id integer PRIMARY KEY, rast raster);
INSERT INTO src.t050_b VALUES (1, pg_temp.t050_tile(20, ARRAY[[1, 1], [1, 1]]));
SELECT is(calc.zonal_stats('src.t050_zones', ARRAY['a', 'b'], ARRAY['src.t050_a', 'src.t050_b']),
          '{"a": {"1": [2, 3.0], "2": [4, 116.0]}, "b": {"2": [4, 4.0]}}'::jsonb,
          'zonal_stats: valid-pixel count and sum per zone and layer, missing tiles count as nodata');
SELECT is(calc.zonal_stats('src.t050_zones', ARRAY['b'], ARRAY['src.t050_b']),
          '{"b": {"2": [4, 4.0]}}'::jsonb, 'zonal_stats of one layer');
DELETE FROM src.t050_b;
SELECT is(calc.zonal_stats('src.t050_zones', ARRAY['b'], ARRAY['src.t050_b']),
          '{"b": {}}'::jsonb, 'a layer without tiles has no zone');

-- the kernels read calc.kernel_module: a changed module is loaded again in the same session
UPDATE calc.kernel_module SET source = source || E'\nRELOADED = 42\n',
                              sha256 = encode(sha256(convert_to(source || E'\nRELOADED = 42\n', 'UTF8')), 'hex')
WHERE name = 'restore_db.kernels.catalog';
SELECT lives_ok($$SELECT calc.kernel_modules()$$, 'a changed module is imported again');
CREATE FUNCTION pg_temp.t050_reloaded() RETURNS integer LANGUAGE plpython3u AS $py$
import sys
return getattr(sys.modules["restore_db.kernels.catalog"], "RELOADED", None)
$py$;
SELECT is(pg_temp.t050_reloaded(), 42, 'the session runs the module as stored now');
CREATE TABLE calc.t050_kc_again (tile_id integer PRIMARY KEY, rast raster);
SELECT lives_ok($$SELECT calc.apply_kernel('class_values', '{"tables": {"kc": [null, 0.5]}}', ARRAY['src.t050_lulc'],
                                           ARRAY['lulc'], false, 2, ARRAY['kc'], ARRAY['calc.t050_kc_again'])$$,
                'and the kernels still run');
SELECT ok(NOT has_function_privilege('restore_bi', 'calc.apply_kernel(text,jsonb,text[],text[],boolean,integer,text[],text[],integer,integer)',
                                     'EXECUTE'), 'the BI role cannot run kernels');
SELECT ok(NOT has_function_privilege('restore_bi', 'calc.kernel_modules()', 'EXECUTE'),
          'the BI role cannot load kernel modules');

\else
SELECT skip('PL/Python (plpython3u) with numpy is not installed on this server: the kernels run on the client', 27);
\endif

SELECT * FROM finish();
ROLLBACK;
