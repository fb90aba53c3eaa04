-- 072_pattern_results.sql: the tables of the pattern stage: keys, references to
-- the run and between corridors and their sources, and the checks on values.
BEGIN;
SELECT plan(14);

SELECT has_table('result', 'pattern_source', 'table result.pattern_source exists');
SELECT has_table('result', 'pattern_corridor', 'table result.pattern_corridor exists');
SELECT has_table('result', 'pattern_node', 'table result.pattern_node exists');
SELECT has_table('result', 'pattern_network', 'table result.pattern_network exists');
SELECT col_is_pk('result', 'pattern_network', 'run_id', 'one network row per run');
SELECT fk_ok('result', 'pattern_source', 'run_id', 'core', 'run', 'run_id');
SELECT fk_ok('result', 'pattern_corridor', ARRAY['run_id', 'source_a'], 'result', 'pattern_source',
             ARRAY['run_id', 'source_id']);

INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
VALUES ('t072', 32650, 500000, 4400000, 1000, 10, 10, 16);
INSERT INTO core.run (study_area_id, stage, label) SELECT study_area_id, 'pattern', 't072' FROM core.study_area
WHERE name = 't072';
INSERT INTO result.pattern_source (run_id, source_id, area_m2, cells, mean_resistance, geom)
SELECT run_id, s, 1e6, 1, 1, ST_Multi(ST_MakeEnvelope(500000 + s * 1000, 4399000, 501000 + s * 1000, 4400000, 32650))
FROM core.run, generate_series(1, 2) s WHERE label = 't072';

SELECT lives_ok($$INSERT INTO result.pattern_corridor (run_id, corridor_id, source_a, source_b, lcd, length_m,
                      important, geom)
                  SELECT run_id, 1, 1, 2, 1000, 1000, true,
                         ST_MakeLine(ST_Point(501500, 4399500, 32650), ST_Point(502500, 4399500, 32650))
                  FROM core.run WHERE label = 't072'$$, 'a corridor between two sources of the run');
SELECT throws_ok($$INSERT INTO result.pattern_corridor (run_id, corridor_id, source_a, source_b, lcd, length_m,
                       important, geom)
                   SELECT run_id, 2, 1, 3, 1000, 1000, false,
                          ST_MakeLine(ST_Point(501500, 4399500, 32650), ST_Point(503500, 4399500, 32650))
                   FROM core.run WHERE label = 't072'$$, '23503', NULL, 'a corridor to a source the run lacks');
SELECT throws_ok($$INSERT INTO result.pattern_node (run_id, node_id, kind, corridors, geom)
                   SELECT run_id, 1, 'bridge', '{1}', ST_Point(502000, 4399500, 32650) FROM core.run
                   WHERE label = 't072'$$, '23514', NULL, 'an unknown node kind is refused');
SELECT lives_ok($$INSERT INTO result.pattern_node (run_id, node_id, kind, corridors, geom)
                  SELECT run_id, 1, 'barrier', '{1}', ST_Point(502000, 4399500, 32650) FROM core.run
                  WHERE label = 't072'$$, 'a barrier node on corridor 1');
SELECT throws_ok($$INSERT INTO result.pattern_source (run_id, source_id, area_m2, cells, mean_resistance, geom)
                   SELECT run_id, 3, 0, 1, 1, ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 32650)) FROM core.run
                   WHERE label = 't072'$$, '23514', NULL, 'a source of no area is refused');

-- deleting the run deletes its pattern
DELETE FROM core.run WHERE label = 't072';
SELECT is((SELECT count(*) FROM result.pattern_source s JOIN core.study_area a ON a.name = 't072'), 0::bigint,
          'the sources go with their run');
SELECT is((SELECT count(*) FROM result.pattern_node), 0::bigint, 'the nodes go with their run');

SELECT * FROM finish();
ROLLBACK;
