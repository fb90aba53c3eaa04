"""The parallel path: every stage of one study area computed through N >= 2 independent connections (tile
workers, restore_db.db.workers) equals the serial run bit for bit: every tile of every layer, every layer
statistic of the registry and every row of the result tables.

The demo region at 8 km is cut into 32-pixel tiles (3 x 3 tiles), so that the kernels and the whole-grid
writes run in several bands of tile rows.
"""

from __future__ import annotations

import psycopg
import pytest

from restore_db.db import workers
from restore_db.grid import studyarea
from restore_db.load import demo
from restore_db.stages import pipeline, runs, settings
from restore_db.stages.services.stage import compute_services

AREA = "par"


@pytest.fixture
def area_url(db_url, tmp_path):
    demo.run(name=AREA, pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None, tile_size=32)
    return db_url


def compute_all(url: str, size: int, engine: str | None = None) -> list[int]:
    """Run ids of a forced ``compute all`` with ``size`` tile workers (as the CLI does it)."""
    with psycopg.connect(url) as conn, runs.recording(conn), workers.scope(conn, size), conn.transaction():
        area = studyarea.get(conn, AREA)
        assert area.grid.tiles_y >= 3
        outcomes = pipeline.run_all(conn, area, settings.load(), force=True, engine=engine)
        assert workers.size_of(conn) == size
    assert {o.stage for o in outcomes} >= {"services", "ratios", "resilience", "zoning", "pattern"}
    return [o.run_id for o in outcomes]


def fingerprint(conn, run_ids: list[int]) -> dict:
    """Everything the runs produced, without their run ids: per layer the registry's statistics and the md5 of
    every tile; per result table its rows (every column but run ids, times and generated ids), sorted."""
    out = {}
    for name, schema, table, *registry in conn.execute(
            """SELECT name, table_schema, table_name, valid_cells, nodata_share, min_value, max_value, mean_value
               FROM core.layer WHERE run_id = ANY(%s)""", (run_ids,)).fetchall():
        tiles = conn.execute(f'SELECT tile_id, md5(ST_AsBinary(rast)) FROM "{schema}"."{table}" ORDER BY tile_id'
                             ).fetchall()
        out[f"layer {name}"] = (registry, tiles)
    tables = conn.execute(
        """SELECT c.table_name, array_agg(c.column_name::text ORDER BY c.ordinal_position)
                  FILTER (WHERE c.column_name NOT LIKE '%%run_id' AND c.data_type NOT LIKE 'timestamp%%'
                          AND c.is_identity = 'NO' AND coalesce(c.column_default, '') NOT LIKE 'nextval%%')
           FROM information_schema.columns c
           WHERE c.table_schema = 'result'
             AND c.table_name IN (SELECT table_name FROM information_schema.columns
                                  WHERE table_schema = 'result' AND column_name = 'run_id')
           GROUP BY c.table_name""").fetchall()
    for table, columns in tables:
        cols = ", ".join(f'"{c}"::text' for c in columns)
        rows = conn.execute(f'SELECT {cols} FROM result."{table}" WHERE run_id = ANY(%s) ORDER BY 1', (run_ids,)
                            ).fetchall()
        out[f"table {table}"] = sorted(rows, key=repr)
    return out


def assert_same(first: dict, second: dict) -> None:
    """The fingerprints of two runs are equal; the second run reuses the first one's flow accumulation (same
    DEM, same method), its only missing layer."""
    assert first.keys() - second.keys() == {"layer flow_acc"} and second.keys() <= first.keys()
    for key in second:
        assert first[key] == second[key], key


def test_compute_all_on_several_connections_equals_the_serial_run(area_url):
    serial = compute_all(area_url, 1)
    parallel = compute_all(area_url, 3)
    with psycopg.connect(area_url) as conn:
        a, b = fingerprint(conn, serial), fingerprint(conn, parallel)
        assert sum(k.startswith("layer ") for k in a) >= 20
        assert sum(1 for k, v in a.items() if k.startswith("table ") and v) >= 10
        assert_same(a, b)
        # the parallel run's tables were made by the workers, and every one is registered
        orphans = conn.execute("""SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'result'
                                    AND t.tablename LIKE %s AND NOT EXISTS (
                                      SELECT 1 FROM core.layer l WHERE l.table_schema = t.schemaname
                                        AND l.table_name = t.tablename)""", (f"{AREA}__%",)).fetchone()[0]
        assert orphans == 0


def test_services_with_the_client_engine_on_two_connections(area_url):
    """The client engine runs its bands in threads of this process, each with its own connection."""
    run_ids = []
    for size in (1, 2):
        with psycopg.connect(area_url) as conn, workers.scope(conn, size), conn.transaction():
            run_id, results = compute_services(conn, studyarea.get(conn, AREA), engine="client")
            run_ids.append(run_id)
            kernel_steps = [s for r in results for s in r.steps if "->" in s.label]
            assert kernel_steps and all(s.workers == size for s in kernel_steps)
    with psycopg.connect(area_url) as conn:
        assert_same(fingerprint(conn, [run_ids[0]]), fingerprint(conn, [run_ids[1]]))
