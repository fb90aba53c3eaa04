-- 015_boundary_versions.sql
-- Administrative units are versioned: loading boundaries again never deletes
-- a unit that a run's results refer to. core.admin_unit_version holds every
-- unit ever loaded; a unit replaced by a later load gets superseded_at and
-- stays, with its unit_id, for the runs that used it. core.admin_unit is the
-- current boundaries (superseded_at IS NULL): what new runs read, and what
-- INSERT, UPDATE and DELETE through it change (an automatically updatable view).

ALTER TABLE core.admin_unit RENAME TO admin_unit_version;
ALTER TABLE core.admin_unit_version ADD COLUMN loaded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE core.admin_unit_version ADD COLUMN superseded_at timestamptz;
ALTER TABLE core.admin_unit_version DROP CONSTRAINT admin_unit_study_area_id_level_code_key;
CREATE UNIQUE INDEX admin_unit_current_key ON core.admin_unit_version (study_area_id, level, code)
    WHERE superseded_at IS NULL;
COMMENT ON TABLE core.admin_unit_version IS 'Every county, city and province polygon ever loaded, in the study-area CRS; superseded_at is set when a later load replaced the unit (kept because runs refer to it); repaired = geometry was made valid on load';
COMMENT ON COLUMN core.admin_unit_version.superseded_at IS 'When a later load of the same level replaced this unit; NULL for the current boundaries';

CREATE VIEW core.admin_unit AS
SELECT unit_id, study_area_id, level, code, name, parent_code, province_code, repaired, source_path, geom, area_m2,
       loaded_at
FROM core.admin_unit_version
WHERE superseded_at IS NULL;
COMMENT ON VIEW core.admin_unit IS 'The current administrative units (core.admin_unit_version not superseded): county, city and province polygons in the study-area CRS';

-- A result row keeps its unit: the foreign keys that referred to core.admin_unit
-- with ON DELETE CASCADE (results vanished with a deleted unit) now forbid
-- deleting a unit that a result refers to. Deleting a study area still deletes
-- everything: its runs and results go with it in the same statement.
DO $fk$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT con.conrelid::regclass AS rel, con.conname, pg_get_constraintdef(con.oid) AS def
             FROM pg_constraint con
             WHERE con.confrelid = 'core.admin_unit_version'::regclass AND con.contype = 'f'
               AND con.confdeltype = 'c' AND con.conrelid <> 'core.admin_unit_version'::regclass LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.rel, c.conname);
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.rel, c.conname,
                       replace(c.def, ' ON DELETE CASCADE', ''));
    END LOOP;
END $fk$;
