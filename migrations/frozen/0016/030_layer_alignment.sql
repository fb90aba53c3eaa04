-- core.layer_alignment(study_area_id): one row per layer (run_id NULL for a
-- source layer, else the run that computed it); aligned = every tile sits where
-- its tile_id says on the study-area grid, with the grid's pixel size and SRID.
-- misplaced = number of tiles that do not. Each tile's header is read once
-- (ST_MetaData; OFFSET 0 keeps it from being evaluated once per field).
CREATE OR REPLACE FUNCTION core.layer_alignment(p_area integer)
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
