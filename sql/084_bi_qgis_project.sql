-- 084_bi_qgis_project.sql
-- bi.qgis_projects: QGIS projects stored in the database, in the table QGIS's
-- PostgreSQL project storage reads and writes ("Project > Open From >
-- PostgreSQL", URI postgresql://host:port?dbname=D&schema=bi&project=NAME;
-- QgsPostgresProjectStorage in QGIS 3.22): the columns in QGIS's own order, since
-- QGIS saves with INSERT ... VALUES (name, metadata, content) ON CONFLICT (name).
-- content is the .qgz file (a zip holding the .qgs XML); metadata is
-- {"last_modified_time": UTC time, "last_modified_user": role}, which QGIS shows.
--
-- The project named after a study area is derived data: restore_db.publish.qgis_project
-- writes it again after each compute, so a project edited in QGIS is saved under another name.
-- The key is the project name (text), not an integer: QGIS's layout, the one exception to
-- the key convention of 080_bi_views.sql. No geometry, so geometry_columns does not list it.
--
-- Privileges: the owner writes (QGIS saves as the owner); restore_bi only reads, so BI
-- users open the projects but cannot overwrite them.
--
-- Re-appliable: the table is created only when absent, so saved projects survive.

CREATE TABLE IF NOT EXISTS bi.qgis_projects (
    name      text PRIMARY KEY,
    metadata  jsonb,
    content   bytea
);
COMMENT ON TABLE bi.qgis_projects IS 'QGIS projects (key name): the .qgz file (content) and its metadata (last_modified_time, last_modified_user), read by QGIS''s PostgreSQL project storage (Project > Open From > PostgreSQL, schema bi); the project named after a study area is rewritten after each compute (save edits under another name)';
COMMENT ON COLUMN bi.qgis_projects.name IS 'Project name (the project of a study area is named after it)';
COMMENT ON COLUMN bi.qgis_projects.metadata IS 'JSON: last_modified_time (UTC) and last_modified_user, as QGIS writes them; the project of a study area adds study_area, zoning_run_id, pattern_run_id';
COMMENT ON COLUMN bi.qgis_projects.content IS 'The project as a .qgz file (zip holding the .qgs XML)';

DO $role$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi') THEN
        GRANT SELECT ON bi.qgis_projects TO restore_bi;
    END IF;
END $role$;
