"""Failed and interrupted runs: a run that fails keeps a ``failed`` row with its
message and nothing else (its results are rolled back); a run whose process is
killed is reported ``interrupted``; neither is ever reused nor read by a later
stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import psycopg
import pytest

from helpers import cli_argv, run_cli
from restore_db.stages.services import stage as compute
from restore_db.load import demo
from restore_db.stages import runs
from restore_db.grid import studyarea
from restore_db.errors import InputError

BOOM = ("SELECT unit_id, 1.0 / (unit_id - unit_id) FROM core.admin_unit "
        "WHERE study_area_id = %(study_area_id)s AND level = 'county'")


def _runs(conn) -> list[tuple]:
    conn.rollback()
    return conn.execute("SELECT run_id, stage, status, error, finished_at IS NOT NULL, parent_run_id "
                        "FROM core.run ORDER BY run_id").fetchall()


def _kept_results(conn, run_ids: list[int]) -> dict[str, int]:
    """Rows any result table holds for these runs, and their computed layers."""
    out = {"core.layer": conn.execute("SELECT count(*) FROM core.layer WHERE run_id = ANY(%s)",
                                      (run_ids,)).fetchone()[0]}
    for schema, table in conn.execute(
            """SELECT table_schema, table_name FROM information_schema.columns
               WHERE column_name = 'run_id' AND table_schema IN ('result', 'bi') AND table_name IN
                     (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')""").fetchall():
        n = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE run_id = ANY(%s)', (run_ids,)).fetchone()[0]
        if n:
            out[f"{schema}.{table}"] = n
    out["result tables"] = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'result' AND tablename ~ ('__(' || %s || ')$')",
        ("|".join(map(str, run_ids)) or "x",)).fetchone()[0]
    conn.rollback()
    return {k: v for k, v in out.items() if v}


def test_a_run_failing_mid_way_is_recorded_failed_with_its_message_and_nothing_else(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    # an indicator whose query plans but fails when it runs: the services and ratios compute, resilience fails
    with conn.transaction():
        conn.execute("""INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name,
                            direction, unit, source_kind, source) VALUES
                        ('default', 'boom', 'D5', 'x', 'boom', 1, '1', 'sql', %s)""", (BOOM,))
    proc = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: indicator 'boom': its SQL source fails: "
                                                            "division by zero"), proc.stderr
    rows = _runs(conn)
    by_stage = {r[1]: r for r in rows}
    assert [r[1] for r in rows] == ["pipeline", "services", "ratios", "resilience"], rows
    assert all(r[2] == "failed" and r[4] for r in rows), rows
    resilience_run = by_stage["resilience"][0]
    assert by_stage["resilience"][3] == "indicator 'boom': its SQL source fails: division by zero"
    for stage in ("pipeline", "services", "ratios"):   # rolled back with it, and they say why
        assert by_stage[stage][3] == (f"resilience run {resilience_run} failed: indicator 'boom': its SQL "
                                      "source fails: division by zero"), by_stage[stage]
    pipeline_run = by_stage["pipeline"][0]
    assert all(r[5] == pipeline_run for r in rows if r[1] != "pipeline")
    # no result of a failed run is kept, none is current
    assert _kept_results(conn, [r[0] for r in rows]) == {}
    assert conn.execute("SELECT count(*) FROM bi.current_run").fetchone()[0] == 0
    problems = runs.problems(conn, studyarea.get(conn, "demo"))
    assert [(p["run_id"], p["state"]) for p in problems] == [(r[0], "failed") for r in reversed(rows)]
    conn.rollback()

    # a failed run is never reused nor read: without the bad indicator everything is computed anew
    with conn.transaction():
        conn.execute("DELETE FROM param.indicator WHERE indicator = 'boom'")
    proc = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    assert "reused" not in proc.stderr
    new = [r for r in _runs(conn) if r[0] > max(r[0] for r in rows)]
    assert sorted(r[1] for r in new) == ["pattern", "pipeline", "ratios", "resilience", "services", "zoning"]
    assert all(r[2] == "succeeded" and r[3] is None for r in new), new
    current = conn.execute("SELECT services_run_id, ratios_run_id, resilience_run_id, pipeline_run_id "
                           "FROM bi.current_run").fetchone()
    assert set(current) <= {r[0] for r in new}
    with pytest.raises(InputError, match=f"services run {by_stage['services'][0]} did not succeed: it failed: "
                                         f"resilience run {resilience_run} failed"):
        runs.require(conn, studyarea.get(conn, "demo"), by_stage["services"][0], "services")


def test_a_library_failure_inside_recording_is_recorded(db_url, conn, tmp_path, monkeypatch):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    area = studyarea.get(conn, "demo")
    conn.rollback()

    def broken(*args, **kwargs):
        raise RuntimeError("county sums broke")

    monkeypatch.setattr(compute, "county_sums", broken)
    with pytest.raises(RuntimeError):
        with runs.recording(conn), conn.transaction():
            compute.compute_services(conn, area, ["carbon"])
    [(run_id, stage, status, error, finished, _parent)] = _runs(conn)
    assert (stage, status, error, finished) == ("services", "failed", "county sums broke", True)
    assert _kept_results(conn, [run_id]) == {}
    assert runs.state(conn, run_id) == "failed"
    # without recording, a failure leaves nothing (the run is written in the caller's transaction)
    with pytest.raises(RuntimeError):
        with conn.transaction():
            compute.compute_services(conn, area, ["carbon"])
    assert len(_runs(conn)) == 1


def test_a_killed_run_is_reported_interrupted(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=2000, workdir=tmp_path, url=db_url, log=lambda m: None)
    conn.rollback()
    env = {**os.environ, **cli_env}
    proc = subprocess.Popen(cli_argv("compute", "services", "-a", "demo"), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = psycopg.connect(db_url, autocommit=True)
    try:
        run_id = None
        deadline = time.monotonic() + 120
        while run_id is None and proc.poll() is None and time.monotonic() < deadline:
            row = watcher.execute("SELECT run_id FROM core.run WHERE stage = 'services' AND status = 'running'"
                                  ).fetchone()
            run_id = row[0] if row else None
            if run_id is None:
                time.sleep(0.02)
        assert run_id is not None, f"no running services run seen (exit {proc.poll()})"
        assert runs.state(watcher, run_id) == "running"      # its process is alive and holds the run
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()
        deadline = time.monotonic() + 60
        while runs.state(watcher, run_id) != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runs.state(watcher, run_id) == "interrupted"
        area = studyarea.get(watcher, "demo")
        [problem] = runs.problems(watcher, area)
        assert (problem["run_id"], problem["stage"], problem["state"]) == (run_id, "services", "interrupted")
        assert _kept_results(watcher, [run_id]) == {}
        with pytest.raises(InputError, match=f"services run {run_id} did not succeed: it was interrupted"):
            runs.require(watcher, area, run_id, "services")
        # the next computation is not disturbed and does not read it
        done = run_cli(cli_env, "compute", "services", "-a", "demo", "--service", "carbon")
        assert done.returncode == 0, done.stderr
        assert runs.state(watcher, run_id) == "interrupted"
        # `restore-db status` shows it, in the text and in --json
        shown = run_cli(cli_env, "status")
        assert f"interrupted run #{run_id} services: its process ended while it ran" in shown.stderr, shown.stderr
        listed = json.loads(run_cli(cli_env, "status", "--json").stdout)["study_areas"][0]
        assert [(p["run_id"], p["state"]) for p in listed["problems"]] == [(run_id, "interrupted")]
        assert {r["run_id"]: r["status"] for r in listed["runs"]}[run_id] == "interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()


def test_require_names_the_stage_of_a_run(db_url, conn, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    area = studyarea.get(conn, "demo")
    with conn.transaction():
        run_id, _ = compute.compute_services(conn, area, ["carbon"])
    assert runs.require(conn, area, run_id, "services") == run_id
    with pytest.raises(InputError, match=f"^run {run_id} is a services run, not a ratios run$"):
        runs.require(conn, area, run_id, "ratios")
    with pytest.raises(InputError, match="^no run -1 in study area 'demo'$"):
        runs.require(conn, area, -1, "services")
