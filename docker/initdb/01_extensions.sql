-- Extensions and raster settings for the restore-db database of the Docker image.
--
-- The postgres entrypoint runs this once, when the data volume is empty, as
-- $POSTGRES_USER (a superuser) connected to $POSTGRES_DB. docker/Dockerfile installs it
-- as /docker-entrypoint-initdb.d/20_restore_db_extensions.sql, after the image's own
-- 10_postgis.sh. Schemas and tables are left to the migrations (`restore-db db up`),
-- so the same migrations serve this server, the embedded cluster and CI.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS postgis_raster;   -- a separate extension since PostGIS 3
CREATE EXTENSION IF NOT EXISTS plpython3u;       -- numpy kernels (python3-numpy from apt)

-- GDAL drivers for ST_AsGDALRaster / ST_FromGDALRaster (DISABLE_ALL by default);
-- out-db rasters stay off: every raster lives inside the database.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET postgis.gdal_enabled_drivers = %L',
                   current_database(), 'GTiff PNG JPEG');
    EXECUTE format('ALTER DATABASE %I SET postgis.enable_outdb_rasters = false',
                   current_database());
END
$$;
