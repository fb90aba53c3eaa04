-- 030_grid_functions.sql
-- Functions of the reference grid: tile geometry, empty tiles, alignment checks.

-- core.study_area_id(name): id of a study area, error naming it when unknown.
CREATE OR REPLACE FUNCTION core.study_area_id(p_name text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE v integer;
BEGIN
    SELECT study_area_id INTO v FROM core.study_area WHERE name = p_name;
    IF v IS NULL THEN
        RAISE EXCEPTION 'unknown study area "%"', p_name USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v;
END $$;

-- core.tile_raster(study_area_id, tile_id, pixel_type, nodata): an empty
-- one-band raster (all nodata) covering tile tile_id of the study-area grid.
-- Edge tiles are cut at the grid border (not padded). A tile_id off the grid
-- (below 0, or past the last tile) is an error naming the valid range; an
-- unknown study area gives NULL.
CREATE OR REPLACE FUNCTION core.tile_raster(
    p_area integer, p_tile integer, p_pixel_type text DEFAULT '32BF',
    p_nodata double precision DEFAULT -3.4028234663852886e38) RETURNS raster
LANGUAGE plpgsql STABLE AS $$
DECLARE a core.study_area;
BEGIN
    SELECT * INTO a FROM core.study_area WHERE study_area_id = p_area;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_tile < 0 OR p_tile >= a.tiles_x * a.tiles_y THEN
        RAISE EXCEPTION 'tile % is not on the grid of study area "%" (tiles 0 to %)',
            p_tile, a.name, a.tiles_x * a.tiles_y - 1 USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ST_AddBand(
             ST_MakeEmptyRaster(
                 LEAST(a.tile_size, a.width - (p_tile % a.tiles_x) * a.tile_size),
                 LEAST(a.tile_size, a.height - (p_tile / a.tiles_x) * a.tile_size),
                 a.origin_x + (p_tile % a.tiles_x) * a.tile_size * a.pixel_size,
                 a.origin_y - (p_tile / a.tiles_x) * a.tile_size * a.pixel_size,
                 a.pixel_size, -a.pixel_size, 0, 0, a.srid),
             p_pixel_type, p_nodata, p_nodata);
END $$;

-- core.tile_envelope(study_area_id, tile_id): polygon of a tile.
CREATE OR REPLACE FUNCTION core.tile_envelope(p_area integer, p_tile integer) RETURNS geometry
LANGUAGE sql STABLE AS $$
    SELECT ST_Envelope(core.tile_raster(p_area, p_tile, '8BUI', 0)::geometry)
$$;

-- core.layer_alignment(study_area_id): one row per layer (run_id NULL for a
-- source layer, else the run that computed it); aligned = every tile sits where
-- its tile_id says on the study-area grid, with the grid's pixel size and SRID.
-- misplaced = number of tiles that do not. Each tile's header is read once
-- (ST_MetaData; OFFSET 0 keeps it from being evaluated once per field).
DROP FUNCTION IF EXISTS core.layer_alignment(integer);
CREATE FUNCTION core.layer_alignment(p_area integer)
RETURNS TABLE (layer text, tiles bigint, misplaced bigint, aligned boolean, run_id integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE l record;
BEGIN
    FOR l IN SELECT name, table_schema, table_name, layer.run_id FROM core.layer
             WHERE study_area_id = p_area ORDER BY name, layer.run_id NULLS FIRST LOOP
        RETURN QUERY EXECUTE format($q$
            SELECT %L::text, n, bad, bad = 0, %L::integer FROM (SELECT count(*) AS n,
                   count(*) FILTER (WHERE NOT (
                       (t.m).upperleftx = a.origin_x + (t.tile_id %% a.tiles_x) * a.tile_size * a.pixel_size
                   AND (t.m).upperlefty = a.origin_y - (t.tile_id / a.tiles_x) * a.tile_size * a.pixel_size
                   AND (t.m).scalex = a.pixel_size AND (t.m).scaley = -a.pixel_size
                   AND (t.m).srid = a.srid
                   AND (t.m).width = LEAST(a.tile_size, a.width - (t.tile_id %% a.tiles_x) * a.tile_size)
                   AND (t.m).height = LEAST(a.tile_size, a.height - (t.tile_id / a.tiles_x) * a.tile_size))) AS bad
            FROM (SELECT tile_id, ST_MetaData(rast) AS m FROM %I.%I OFFSET 0) t, core.study_area a
            WHERE a.study_area_id = %s) s$q$,
            l.name, l.run_id, l.table_schema, l.table_name, p_area);
    END LOOP;
END $$;
