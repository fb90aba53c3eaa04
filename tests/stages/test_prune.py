"""Cleaning up runs (stages/prune.py) on the computed demo: a published run, a run another run read and a
pipeline run are refused with one line naming why and change nothing; a leaf run goes with its tables; a prune
keeps the published runs (the current analysis), their lineage and the newest runs of each stage, leaves the current
analysis in every bi relation as it was and
frees the layers of the rest."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from helpers import db_fingerprint, run_cli
from restore_db.errors import InputError
from restore_db.grid import studyarea
from restore_db.publish import bi
from restore_db.stages import prune


def _bi_rows(conn: psycopg.Connection, run_ids: set[int] | None = None) -> dict[str, list]:
    """Every row of every public bi relation, in key order; with ``run_ids``, of a relation with a run_id column
    only the rows of those runs."""
    conn.rollback()
    out = {}
    for rel in bi.VIEWS + bi.PROJECTS:
        has_run = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'bi' AND table_name = %s"
                               " AND column_name = 'run_id'", (rel,)).fetchone()
        query = sql.SQL("SELECT * FROM bi.{} {} ORDER BY 1").format(
            sql.Identifier(rel), sql.SQL("WHERE run_id = ANY(%(runs)s)" if has_run and run_ids is not None else ""))
        out[rel] = conn.execute(query, {"runs": sorted(run_ids or ())}).fetchall()
    conn.rollback()
    return out


def _tables(conn: psycopg.Connection, run_ids: list[int]) -> list[str]:
    """The layer tables of these runs that exist."""
    return [r[0] for r in conn.execute(
        "SELECT table_name FROM core.layer WHERE run_id = ANY(%s) AND to_regclass(format('%%I.%%I', table_schema, "
        "table_name)) IS NOT NULL", (run_ids,)).fetchall()]


def _result_tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'result'").fetchall()}


def _force(url: str, stage: str, *args: str) -> None:
    """A new run of ``stage`` (``compute services`` always makes one; the others need --force)."""
    force = () if stage == "services" else ("--force",)
    proc = run_cli({"RESTORE_DB_URL": url}, "compute", stage, *args, "-a", "demo", *force)
    assert proc.returncode == 0, proc.stderr


def test_drop_refuses_what_is_needed_and_drops_a_leaf_run(computed_demo_copy):
    url = computed_demo_copy
    _force(url, "services", "--service", "carbon")          # a services run nothing reads
    with psycopg.connect(url) as conn:
        area = studyarea.get(conn, "demo")
        ids = dict(conn.execute("SELECT stage, min(run_id) FROM core.run GROUP BY stage").fetchall())
        leaf = conn.execute("SELECT max(run_id) FROM core.run WHERE stage = 'services'").fetchone()[0]
        listed = {r.run_id: r for r in prune.list_runs(conn, area)}
        assert {r.stage for r in listed.values()} == {"pipeline", "services", "ratios", "resilience", "zoning",
                                                       "pattern"}
        assert listed[ids["zoning"]].published and listed[ids["pattern"]].published
        assert not listed[ids["services"]].published and not listed[leaf].published
        assert ids["ratios"] in listed[ids["services"]].read_by and ids["pattern"] in listed[ids["services"]].read_by
        assert ids["services"] in listed[ids["pipeline"]].children
        assert listed[leaf].dependants == [] and listed[leaf].layers > 0 and listed[leaf].bytes > 0
        assert [r.run_id for r in prune.list_runs(conn, area, "zoning")] == [ids["zoning"]]

        for run_id, match in [(ids["services"], ["services run", "read by run(s)", f"{ids['ratios']} (ratios)",
                                                 f"{ids['pattern']} (pattern)", "drop those first"]),
                              (ids["zoning"], ["zoning run", "the current analysis in bi"]),
                              (ids["pattern"], ["pattern run", "the current analysis in bi"]),
                              (ids["pipeline"], ["pipeline run", "the parent of run(s)", f"{ids['zoning']} (zoning)"]),
                              (999999, ["no run 999999"])]:
            before = db_fingerprint(conn)
            with pytest.raises(InputError) as info:
                with conn.transaction():
                    prune.drop(conn, None, run_id)
            conn.rollback()
            assert "\n" not in str(info.value)
            for part in match:
                assert part in str(info.value), (part, str(info.value))
            assert db_fingerprint(conn) == before
        with pytest.raises(InputError, match="no run .* in study area 'other'"):
            prune.check_drop(conn, studyarea.StudyArea(-1, "other", area.grid), leaf)
        conn.rollback()

        tables = _tables(conn, [leaf])
        assert len(tables) == listed[leaf].layers
        bi_before = _bi_rows(conn)
        with conn.transaction():
            dropped = prune.drop(conn, area, leaf)
        assert (dropped.run_id, dropped.bytes) == (leaf, listed[leaf].bytes)
        assert conn.execute("SELECT count(*) FROM core.run WHERE run_id = %s", (leaf,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM core.layer WHERE run_id = %s", (leaf,)).fetchone()[0] == 0
        assert not set(tables) & _result_tables(conn)
        assert _bi_rows(conn) == bi_before


def test_prune_keeps_published_runs_their_lineage_and_the_newest(computed_demo_copy):
    url = computed_demo_copy
    for _ in range(3):
        _force(url, "services", "--service", "carbon")
    _force(url, "ratios")                                    # reads the newest services run
    _force(url, "all", "--no-report")                        # a second analysis, published
    with psycopg.connect(url) as conn:
        area = studyarea.get(conn, "demo")
        (failed,) = conn.execute("INSERT INTO core.run (study_area_id, stage, status, error) VALUES (%s, 'services', "
                                 "'failed', 'boom') RETURNING run_id", (area.study_area_id,)).fetchone()
        # a tile table the failed run's worker committed, never registered; and a stray table of no run
        for table in (f"demo__carbon_storage__{failed}", "demo__stray__999999"):
            conn.execute(sql.SQL("CREATE TABLE result.{} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(
                sql.Identifier(table)))
        conn.commit()
        runs = {r.run_id: r for r in prune.list_runs(conn, area)}
        published = {i for i, r in runs.items() if r.published}
        current = set(conn.execute("SELECT run_id, pattern_run_id FROM bi.current_run").fetchone())
        assert published == current and {runs[i].stage for i in published} == {"zoning", "pattern"}
        older = {max(i for i in runs if runs[i].stage == s and i not in current) for s in ("zoning", "pattern")}
        lineage = set()
        for run_id in published:
            lineage |= prune._lineage_closure(conn, [run_id])
        services = sorted(i for i, r in runs.items() if r.stage == "services" and r.state == "succeeded")
        newest_services = services[-1:]
        bi_before = _bi_rows(conn, current)
        size_before = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

        # --dry-run: the plan, nothing changed
        before = db_fingerprint(conn)
        with conn.transaction():
            plan = prune.prune(conn, area, keep=1, dry_run=True)
        assert db_fingerprint(conn) == before
        expected_kept = lineage | set(newest_services) | prune._lineage_closure(conn, newest_services) | {
            max(i for i, r in runs.items() if r.stage == s and r.state == "succeeded") for s in
            {r.stage for r in runs.values()}}
        expected_kept = prune._lineage_closure(conn, sorted(expected_kept))
        assert set(plan.kept) == expected_kept
        dropped = {r.run_id for r in plan.dropped}
        assert dropped == set(runs) - expected_kept
        assert failed in dropped and runs[failed].state == "failed"
        assert runs[failed].orphans == [f"demo__carbon_storage__{failed}"] and runs[failed].bytes > 0
        # the three forced services runs but the newest, and the ratios run that read none of the analyses' runs
        assert set(services[:-1]) - lineage <= dropped and len(set(services) - lineage - {services[-1]}) >= 2
        assert plan.bytes > 0 and [name for name, _ in plan.orphans] == ["demo__stray__999999"]

        doomed = _tables(conn, sorted(dropped))
        assert doomed
        with conn.transaction():
            done = prune.prune(conn, area, keep=1)
        conn.commit()                                        # the dropped tables' files go at commit
        assert {r.run_id for r in done.dropped} == dropped and done.bytes == plan.bytes
        remaining = {r[0] for r in conn.execute("SELECT run_id FROM core.run").fetchall()}
        assert remaining == expected_kept
        assert not set(doomed) & _result_tables(conn)
        assert f"demo__carbon_storage__{failed}" not in _result_tables(conn)      # went with its run
        assert "demo__stray__999999" in _result_tables(conn)                      # listed, left alone
        assert _bi_rows(conn, current) == bi_before          # the current analysis as it was in every bi relation
        assert older <= dropped                              # the first analysis is older than the newest one
        assert not _bi_rows(conn, older)["county"]           # ... and its bi rows went with it
        size_after = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        assert size_after < size_before
        # nothing left to prune: a second prune drops nothing
        with conn.transaction():
            assert prune.prune(conn, area, keep=1).dropped == []
        with pytest.raises(InputError, match="--keep must be 0 or more"):
            prune.plan_prune(conn, area, keep=-1)
