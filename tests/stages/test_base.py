"""The one stage machinery (restore_db.stages.base): a stage is a declaration and a plan; the runner gives identity
and reuse, the run record and lineage, the check before computing, progress and publishing. A new stage written
here the way a new module would be runs without any other code."""

from __future__ import annotations

import psycopg
import pytest

from helpers import create_area
from restore_db.errors import InputError
from restore_db.stages import base, registry, runs


class CountStage(base.Stage):
    """A toy stage: writes nothing but its summary; reads the runs of ``upstream``."""

    name = "count"
    title = "Counting"
    settings_key = "count"
    inputs = (base.Input("boundaries", "counties"),)
    outputs = (base.Output("table", "none", None),)

    def __init__(self, upstream=(), fail: str | None = None):
        self.upstream = tuple(upstream)
        self.fail = fail
        self.computed: list[int] = []

    def resolve(self, ctx, given):
        return {name: runs.require(ctx.conn, ctx.area, run, name) for name, run in given.items() if run is not None}

    def plan(self, ctx, upstream):
        if ctx.cfg["count"].get("refuse"):
            raise InputError("count: refused before anything is recorded")

        def compute(run_id: int) -> base.Result:
            if self.fail:
                raise RuntimeError(self.fail)
            self.computed.append(run_id)
            return base.Result({"n": ctx.cfg["count"]["n"]}, [f"counted {ctx.cfg['count']['n']}"])

        return base.Plan(self.settings(ctx), {"boundaries": runs.boundary_checksum(ctx.conn, ctx.area)}, compute,
                         layers=frozenset({"counted"}))


@pytest.fixture
def area(conn):
    return create_area(conn, "stg", 32650, 500000, 4400000, 1000, 4, 4)


def _ctx(conn, area, n=1, **kw):
    return base.Context(conn, area, {"count": {"n": n, **kw.pop("extra", {})}}, {}, **kw)


def test_a_stage_runs_records_and_is_reused(conn, area):
    stage = CountStage()
    ticks, checked = [], []
    ctx = _ctx(conn, area, 3, progress=lambda name, n, total: ticks.append((name, n, total)))
    first = base.run(stage, ctx, before_compute=lambda layers, reused: checked.append((layers, reused)))
    assert not first.skipped and first.summary == {"n": 3} and stage.computed == [first.run_id]
    assert checked == [({"counted"}, None)] and ticks == [("count", 1, 1)]
    status, params, timings = conn.execute("SELECT status, params, timings FROM core.run WHERE run_id = %s",
                                           (first.run_id,)).fetchone()
    assert status == "succeeded" and params == {"count": {"n": 3}}
    assert timings["warnings"] == ["counted 3"] and timings["summary"] == {"n": 3}

    again = base.run(stage, ctx, before_compute=lambda layers, reused: checked.append((layers, reused)))
    assert again.skipped and again.run_id == first.run_id and stage.computed == [first.run_id]
    assert checked[-1] == (set(), first.run_id)

    other = base.run(stage, _ctx(conn, area, 4))            # other settings: another identity
    forced = base.run(stage, _ctx(conn, area, 3, force=True))
    assert len({first.run_id, other.run_id, forced.run_id}) == 3 and not forced.skipped


def test_upstream_runs_are_checked_recorded_and_make_the_identity(conn, area):
    up = base.run(CountStage(), _ctx(conn, area))
    down_stage = CountStage(upstream=("count",))
    down = base.run(down_stage, _ctx(conn, area), {"count": up.run_id})
    assert runs.input_run(conn, down.run_id, "count") == up.run_id
    assert runs.lineage(conn, down.run_id) == {"count": up.run_id}
    other_up = base.run(CountStage(), _ctx(conn, area, 2))
    assert not base.run(down_stage, _ctx(conn, area), {"count": other_up.run_id}).skipped   # other upstream run
    with pytest.raises(InputError, match="no run 99999"):
        base.run(down_stage, _ctx(conn, area), {"count": 99999})


def test_a_refused_plan_records_nothing(conn, area):
    before = conn.execute("SELECT count(*) FROM core.run").fetchone()[0]
    with pytest.raises(InputError, match="refused"):
        base.run(CountStage(), _ctx(conn, area, extra={"refuse": True}))
    assert conn.execute("SELECT count(*) FROM core.run").fetchone()[0] == before


def test_a_failing_computation_leaves_a_failed_run(db_url, area):
    with psycopg.connect(db_url) as conn:
        with pytest.raises(RuntimeError):
            with runs.recording(conn), conn.transaction():
                base.run(CountStage(fail="disk full"), _ctx(conn, area))
        row = conn.execute("SELECT stage, status, error FROM core.run ORDER BY run_id DESC LIMIT 1").fetchone()
    assert row == ("count", "failed", "disk full")


def test_the_registry_lists_the_pipeline_in_order():
    stages = registry.stages()
    assert list(stages) == ["services", "ratios", "resilience", "zoning", "pattern"]
    seen: set[str] = set()
    for stage in stages.values():
        assert set(stage.upstream) <= seen, f"{stage.name} reads a stage that runs after it"
        assert stage.outputs and stage.title
        seen.add(stage.name)
