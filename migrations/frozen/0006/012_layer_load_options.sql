-- 012_layer_load_options.sql
-- The options of a raster load that change what is stored but have no column
-- of their own (the band read, the nodata of the source): with the source's
-- SHA-256, kind, unit, CRS and resampling they tell whether loading the same
-- name again would store the same layer (then nothing is written).

ALTER TABLE core.layer ADD COLUMN load_options jsonb;
COMMENT ON COLUMN core.layer.load_options IS 'Options of the load that changed what was stored and have no column of their own (band, source nodata); NULL for layers loaded before they were recorded, and for computed layers';
