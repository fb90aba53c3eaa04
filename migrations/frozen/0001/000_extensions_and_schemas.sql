-- 000_extensions_and_schemas.sql
-- Extensions and the schema layout of restore-db.
--   core    registry: study areas and their grid, layers, administrative units, zones, runs
--   param   parameters: coefficient catalogue, land-use lookup tables, scalars (each with a source)
--   src     source data: one raster tile table per loaded layer, county statistics
--   calc    intermediate rasters (rebuildable from src + param)
--   result  results, keyed by run
--   bi      stable, documented views for SQL users and BI tools (the only schema BI roles read)

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS postgis_raster;

CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS param;
CREATE SCHEMA IF NOT EXISTS src;
CREATE SCHEMA IF NOT EXISTS calc;
CREATE SCHEMA IF NOT EXISTS result;
CREATE SCHEMA IF NOT EXISTS bi;

COMMENT ON SCHEMA core IS 'restore-db registry: study areas, reference grids, layers, administrative units, zones, runs';
COMMENT ON SCHEMA param IS 'restore-db parameters: coefficient catalogue, land-use lookup tables and scalars, each with its source';
COMMENT ON SCHEMA src IS 'restore-db source data: raster tile tables on the study-area grid, county statistics';
COMMENT ON SCHEMA calc IS 'restore-db intermediate rasters, rebuildable from src and param';
COMMENT ON SCHEMA result IS 'restore-db results, one row set per run';
COMMENT ON SCHEMA bi IS 'restore-db stable result views for SQL and BI tools';
