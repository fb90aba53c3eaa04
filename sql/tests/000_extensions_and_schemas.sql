-- 000_extensions_and_schemas.sql: the extensions restore-db needs and its schema layout.
BEGIN;
SELECT plan(14);

SELECT has_extension('postgis', 'PostGIS is installed');
SELECT has_extension('postgis_raster', 'PostGIS raster is installed');

SELECT has_schema(s, format('schema %s exists', s))
FROM unnest(ARRAY['core', 'param', 'src', 'calc', 'result', 'bi']) AS s;

SELECT is(obj_description(to_regnamespace(s), 'pg_namespace') IS NOT NULL, true,
          format('schema %s has a comment', s))
FROM unnest(ARRAY['core', 'param', 'src', 'calc', 'result', 'bi']) AS s;

SELECT * FROM finish();
ROLLBACK;
