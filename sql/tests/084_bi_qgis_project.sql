-- 084_bi_qgis_project.sql: bi.qgis_projects, the table of QGIS's PostgreSQL project
-- storage: its layout (QGIS saves with INSERT ... VALUES (name, metadata, content)
-- ON CONFLICT (name)), the queries QGIS 3.22 sends, and the rights of restore_bi.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(14);

SELECT has_table('bi', 'qgis_projects', 'bi.qgis_projects is a table');
SELECT results_eq($$SELECT a.attname::text COLLATE "C", format_type(a.atttypid, a.atttypmod) COLLATE "C" FROM pg_attribute a
                    WHERE a.attrelid = 'bi.qgis_projects'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                    ORDER BY a.attnum$$,
                  $$VALUES ('name'::text COLLATE "C", 'text'::text COLLATE "C"), ('metadata', 'jsonb'), ('content', 'bytea')$$,
                  'the columns of QGIS''s table, in its order');
SELECT col_is_pk('bi', 'qgis_projects', 'name', 'a project per name (QGIS saves ON CONFLICT (name))');
SELECT is((SELECT count(*)::integer FROM information_schema.tables
           WHERE table_name = 'qgis_projects' AND table_schema = 'bi'), 1,
          'QGIS finds the table (its probe: information_schema.tables)');
SELECT is_empty($$SELECT 1 FROM geometry_columns WHERE f_table_name = 'qgis_projects'$$,
                'no geometry: not a layer');

-- QGIS's save, twice: the second replaces the first
INSERT INTO bi.qgis_projects VALUES ('t084', ('{ "last_modified_time": "' || (now() at time zone 'utc')::text
                                              || '", "last_modified_user": "' || current_user || '" }')::jsonb,
                                     E'\\x504b0304') ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content, metadata = EXCLUDED.metadata;
INSERT INTO bi.qgis_projects VALUES ('t084', '{"last_modified_time": "2024-01-02 03:04:05"}'::jsonb, E'\\x504b0506')
    ON CONFLICT (name) DO UPDATE SET content = EXCLUDED.content, metadata = EXCLUDED.metadata;
SELECT results_eq($$SELECT name, encode(content, 'hex'), metadata ->> 'last_modified_time' FROM bi.qgis_projects
                    WHERE name = 't084'$$,
                  $$VALUES ('t084'::text, '504b0506'::text, '2024-01-02 03:04:05'::text)$$,
                  'QGIS''s INSERT ... ON CONFLICT replaces a project of the same name');

SELECT ok(has_table_privilege('restore_bi', 'bi.qgis_projects', 'SELECT'), 'restore_bi may read the projects');
SELECT ok(NOT has_table_privilege('restore_bi', 'bi.qgis_projects', 'INSERT')
          AND NOT has_table_privilege('restore_bi', 'bi.qgis_projects', 'UPDATE')
          AND NOT has_table_privilege('restore_bi', 'bi.qgis_projects', 'DELETE')
          AND NOT has_table_privilege('restore_bi', 'bi.qgis_projects', 'TRUNCATE'),
          'restore_bi may not write them');
SELECT ok(NOT has_table_privilege('public', 'bi.qgis_projects', 'SELECT'), 'PUBLIC may not read them');

-- the same, as restore_bi
SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi') AND pg_has_role('restore_bi', 'MEMBER')) AS can_be_bi \gset
\if :can_be_bi
SET LOCAL ROLE restore_bi;
SELECT is((SELECT count(*)::integer FROM information_schema.tables
           WHERE table_name = 'qgis_projects' AND table_schema = 'bi'), 1,
          'as restore_bi: QGIS finds the table');
SELECT is((SELECT encode(content, 'hex') FROM bi.qgis_projects WHERE name = 't084'), '504b0506',
          'as restore_bi: QGIS reads a project (SELECT content ... WHERE name = ...)');
SELECT is((SELECT metadata ->> 'last_modified_time' FROM bi.qgis_projects WHERE name = 't084'), '2024-01-02 03:04:05',
          'as restore_bi: and its metadata');
SELECT throws_ok($$INSERT INTO bi.qgis_projects VALUES ('mine', NULL, NULL)$$, '42501',
                 'permission denied for table qgis_projects', 'as restore_bi: saving a project is refused');
SELECT throws_ok($$DELETE FROM bi.qgis_projects$$, '42501', 'permission denied for table qgis_projects',
                 'as restore_bi: removing one too');
RESET ROLE;
\else
SELECT skip('the test role cannot act as restore_bi', 5);
\endif

SELECT * FROM finish();
ROLLBACK;
