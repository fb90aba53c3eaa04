-- 030_tile_raster.sql (revision 0007): core.tile_raster refuses a tile_id off the grid;
-- core.tile_envelope, built on it, follows. CREATE OR REPLACE keeps the rights on the function.

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
