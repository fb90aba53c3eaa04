-- 045_county_membership.sql: result.county_share, the pixels a county smaller
-- than a pixel shares: keys, the bounds of a share, and its references.
BEGIN;
SELECT plan(18);

SELECT has_table('result', 'county_share', 'table result.county_share exists');
SELECT col_is_pk('result', 'county_share', ARRAY['run_id', 'unit_id', 'px_row', 'px_col'], 'county_share key');
SELECT fk_ok('result', 'county_share', 'run_id', 'core', 'run', 'run_id');
SELECT fk_ok('result', 'county_share', 'unit_id', 'core', 'admin_unit_version', 'unit_id');
SELECT fk_ok('result', 'county_share', 'centre_unit_id', 'core', 'admin_unit_version', 'unit_id');
SELECT col_is_null('result', 'county_share', 'centre_unit_id', 'centre_unit_id is NULL where no county holds the centre');

-- a 1 km grid; a 100 m x 100 m county (share 0.01 of a pixel) inside a big one
INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
VALUES ('t045', 32650, 500000, 4400000, 1000, 20, 20, 16);
INSERT INTO core.admin_unit (study_area_id, level, code, geom)
SELECT study_area_id, 'county', c.code, ST_Multi(c.g)
FROM core.study_area, (VALUES ('big', ST_MakeEnvelope(500000, 4380000, 510000, 4400000, 32650)),
                              ('tiny', ST_MakeEnvelope(500100, 4399100, 500200, 4399200, 32650))) AS c (code, g)
WHERE name = 't045';
INSERT INTO core.run (study_area_id, stage, label)
SELECT study_area_id, 'services', 't045' FROM core.study_area WHERE name = 't045';

SELECT lives_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share, centre_unit_id)
                  SELECT r.run_id, t.unit_id, 0, 0, 0.01, b.unit_id
                  FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny' JOIN core.admin_unit b ON b.code = 'big'
                  WHERE r.label = 't045'$$, 'a share of 0.01 of pixel (0, 0), centre in the big county');
SELECT lives_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                  SELECT r.run_id, t.unit_id, 0, 1, 1 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                  WHERE r.label = 't045'$$, 'a share of a whole pixel without a centre county');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, 1, 0, 0 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23514', NULL, 'a share of 0 is refused');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, 1, 0, 1.0000001 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23514', NULL, 'a share above 1 is refused');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, 1, 0, -0.5 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23514', NULL, 'a negative share is refused');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, -1, 0, 0.5 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23514', NULL, 'a negative pixel row is refused');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, 0, -1, 0.5 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23514', NULL, 'a negative pixel column is refused');
SELECT throws_ok($$INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share)
                   SELECT r.run_id, t.unit_id, 0, 0, 0.5 FROM core.run r JOIN core.admin_unit t ON t.code = 'tiny'
                   WHERE r.label = 't045'$$, '23505', NULL, 'one share per run, county and pixel');
SELECT is((SELECT sum(share) FROM result.county_share), 1.01::double precision, 'the shares are kept as given');

SELECT throws_ok($$DELETE FROM core.admin_unit WHERE code = 'big'$$, '23503', NULL,
                 'the county holding a shared pixel centre cannot be deleted while a share names it');
DELETE FROM core.run WHERE label = 't045';
SELECT is((SELECT count(*)::integer FROM result.county_share), 0, 'deleting the run deletes its shares');
SELECT lives_ok($$DELETE FROM core.admin_unit WHERE code = 'big'$$, 'then the county can be deleted');

SELECT * FROM finish();
ROLLBACK;
