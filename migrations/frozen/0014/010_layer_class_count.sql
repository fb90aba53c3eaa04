-- Revision 0014: the class counts of categorical source layers (core.layer_class_count), stored by the raster
-- loader, so the checks that every land-use class has a coefficient no longer scan the whole layer with
-- ST_ValueCount. The layers loaded before this revision are counted here, once.
CREATE TABLE core.layer_class_count (
    layer_id  integer NOT NULL REFERENCES core.layer ON DELETE CASCADE,
    code      integer NOT NULL,
    cells     bigint NOT NULL CHECK (cells > 0),
    PRIMARY KEY (layer_id, code)
);
COMMENT ON TABLE core.layer_class_count IS 'Cells of each class code of a categorical source layer, nodata excluded (ST_ValueCount of the whole layer), stored by the raster loader as it writes the tiles: the classes a land-use table must cover, known without reading the tiles';

DO $$
DECLARE
    l record;
BEGIN
    FOR l IN SELECT layer_id, table_schema, table_name FROM core.layer
             WHERE kind = 'categorical' AND run_id IS NULL
               AND to_regclass(format('%I.%I', table_schema, table_name)) IS NOT NULL
             ORDER BY layer_id
    LOOP
        EXECUTE format('INSERT INTO core.layer_class_count (layer_id, code, cells)
                        SELECT $1, value::integer, sum(count)::bigint FROM %I.%I, ST_ValueCount(rast, 1, true)
                        GROUP BY 2', l.table_schema, l.table_name)
            USING l.layer_id;
    END LOOP;
END
$$;
