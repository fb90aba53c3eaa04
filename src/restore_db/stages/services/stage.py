"""The services stage: supply and demand of the five ecosystem services, per pixel and per county.

:class:`ServicesStage` plans every requested service first (all parameters,
statistics and layers are checked before anything is computed), schedules
their steps (a step whose outputs an earlier step already produces is
skipped; identical tile kernels are merged into one pass), runs them with
the in-database or the client engine, and sums supply and demand per county.
It runs through :func:`restore_db.stages.base.run` like every stage;
:func:`compute_services` is the function form used by the CLI and the tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from restore_db.stages import base, runs
from concurrent.futures import Future, ThreadPoolExecutor

from restore_db.db import workers
from restore_db.grid.engine import choose_backend, run_kernel
from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.stages.services.common import COUNTY_STEP, Context, GridStep, Step, county_sums
from restore_db.stages.services.registry import SERVICES
from restore_db.grid.studyarea import StudyArea
from restore_db.store.layers import input_checksums


@dataclass
class StepResult:
    label: str
    service: str
    cells: int
    seconds: float
    backend: str
    cpu_seconds: float = 0.0   # this process's CPU time plus the server's kernel functions'
    workers: int = 1           # connections the step's tiles were computed on

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds else float("nan")

    @property
    def cores(self) -> float:
        """Cores used: CPU seconds per second of wall time."""
        return self.cpu_seconds / self.seconds if self.seconds else float("nan")

    def as_dict(self) -> dict:
        return {"step": self.label, "service": self.service, "cells": self.cells, "seconds": round(self.seconds, 3),
                "cells_per_s": round(self.cells_per_second) if self.seconds else None, "engine": self.backend,
                "cores": round(self.cores, 2) if self.seconds else None, "workers": self.workers}


@dataclass
class ServiceResult:
    service: str
    cells: int
    seconds: float = 0.0
    counties: dict[str, int] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds else float("nan")


@dataclass
class _Scheduled:
    step: Step | GridStep
    service: str
    key: tuple | None


def _step_key(step) -> tuple | None:
    """Identity of a static tile kernel (same kernel, inputs and parameters -> one pass)."""
    if isinstance(step, Step) and not callable(step.params):
        return (step.kernel, tuple(sorted(step.inputs.items())), json.dumps(step.params, sort_keys=True), step.halo)
    return None


def schedule(plans: dict) -> list[_Scheduled]:
    """Steps of all plans in order, shared steps once, identical kernels merged."""
    out: list[_Scheduled] = []
    produced: set[str] = set()
    by_key: dict[tuple, _Scheduled] = {}
    for service, plan in plans.items():
        for step in plan.steps:
            outputs = [o.name for o in step.outputs] if isinstance(step, Step) else list(step.outputs)
            if all(o in produced for o in outputs):
                continue
            key = _step_key(step)
            if key is not None and key in by_key:
                first = by_key[key].step
                first.outputs = first.outputs + [o for o in step.outputs if o.name not in produced]
            else:
                if isinstance(step, Step):
                    step = Step(step.kernel, dict(step.inputs), list(step.outputs), step.params, step.halo)
                item = _Scheduled(step, service, key)
                out.append(item)
                if key is not None:
                    by_key[key] = item
            produced.update(outputs)
    return out


def upstream_layers(scheduled: list[_Scheduled]) -> dict[str, set[str]]:
    """layer -> every layer it is computed from in this run (its inputs, their inputs ...)."""
    out: dict[str, set[str]] = {}
    for item in scheduled:
        step = item.step
        inputs = set(step.inputs.values()) if isinstance(step, Step) else set(step.inputs)
        names = [o.name for o in step.outputs] if isinstance(step, Step) else list(step.outputs)
        for name in names:
            out[name] = inputs.union(*(out.get(i, set()) for i in inputs))
    return out


def _county_plan():
    """Every services run starts with the county raster the county sums use."""
    from restore_db.stages.services.common import Plan

    return Plan([COUNTY_STEP], [], {})


def plan_services(ctx: Context, services: list[str]) -> dict:
    """Plan every service; raises one :class:`InputError` naming every service that cannot be computed and why
    (all missing inputs at once, not one per try)."""
    plans, problems = {}, []
    for name in services:
        ctx.service = name
        try:
            plans[name] = SERVICES[name].plan(ctx)
        except InputError as exc:
            problems.append((name, str(exc)))
    ctx.service = None
    if len(problems) == 1:
        raise InputError(f"{problems[0][0]}: {problems[0][1]}")
    if problems:
        raise InputError(f"{len(problems)} services cannot be computed: "
                         + "; ".join(f"{name}: {why}" for name, why in problems))
    return plans


class ServicesStage(base.Stage):
    """Supply and demand layers of the services and their county sums (``result.county_service``)."""

    name = "services"
    title = "Ecosystem-service supply and demand"
    settings_key = None        # the services read parameter sets, not analysis settings
    upstream = ()
    inputs = (base.Input("layer", "source layers", "land use, DEM, climate, soil, NDVI, population ... as each "
                         "service's plan names them"),
              base.Input("param_set", "land-use and scalar parameters", "--params, --scalars"),
              base.Input("statistics", "county statistics", "grain output, population ... of --year"),
              base.Input("boundaries", "counties", "the current core.admin_unit"))
    outputs = (base.Output("layer", "<service>_supply, <service>_demand", "per service",
                           "per-pixel supply and demand (food t, carbon t C, water m3, soil t, recreation score)"),
               base.Output("layer", "county", None, "the county each pixel counts for"),
               base.Output("table", "result.county_service", "per service",
                           "county total, mean and density of supply and demand"),
               base.Output("table", "result.county_share", "1", "pixel shares of counties holding no pixel centre"))

    def plan(self, ctx: base.Context, upstream: dict[str, int]) -> base.Plan:
        conn, area = ctx.conn, ctx.area
        services = ctx.option("services") or list(SERVICES)
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            raise InputError(f"unknown service(s) {short_list(unknown)}; choose from {', '.join(SERVICES)}")
        services = [s for s in SERVICES if s in services]   # pipeline order
        sides = tuple(ctx.option("sides", ("supply", "demand")))
        bad = [s for s in sides if s not in ("supply", "demand")]
        if bad or not sides:
            raise InputError(f"sides must be supply and/or demand, got {short_list(bad) if bad else 'none'}")
        sctx = Context(conn, area, ctx.option("params"), ctx.option("scalars"), ctx.option("stats_year"), sides)
        plans = plan_services(sctx, services)     # validate everything first
        backend = choose_backend(conn, ctx.option("engine"))
        sctx.backend = backend
        layers = sorted({l for p in plans.values() for l in p.layers})
        inputs = input_checksums(conn, area, layers, sorted(sctx.param_sets))
        inputs["boundaries"] = runs.boundary_checksum(conn, area)
        inputs["county_stats"] = runs.stats_checksum(conn, area)
        record = {name: p.record for name, p in plans.items()}
        record["_aggregates"] = {name: [{"side": a.side, "layer": a.layer, "unit": a.unit, "scale": a.scale}
                                        for a in p.aggregates] for name, p in plans.items()}
        record["_sides"] = list(sides)
        # the engine does not change results, nor does naming a set the run would choose anyway (the sets read are
        # checksummed in ``inputs``): neither is part of the identity
        identity = dict(record)
        record["_params"] = sctx.preferred_lulc_sets
        record["_engine"] = backend
        produced = frozenset({o.name if hasattr(o, "name") else o for p in plans.values() for st in p.steps
                              for o in st.outputs} | {"county"})
        return base.Plan(record, inputs, lambda run_id: _compute(sctx, plans, services, backend, run_id,
                                                                 ctx.progress),
                         identity=identity, layers=produced)


def _compute(ctx: Context, plans: dict, services: list[str], backend: str, run_id: int,
             progress: Callable[[str, int, int], None] | None) -> base.Result:
    """Run the scheduled steps of ``plans`` and the county sums, as run ``run_id``."""
    conn, area = ctx.conn, ctx.area
    results = {name: ServiceResult(name, area.grid.cells) for name in services}
    produced: dict[str, int] = {}   # layer -> run holding it
    ntiles = area.grid.tiles_x * area.grid.tiles_y
    has_counties = conn.execute("SELECT 1 FROM core.admin_unit WHERE study_area_id = %s AND level = 'county' LIMIT 1",
                                (area.study_area_id,)).fetchone() is not None
    if not has_counties:
        ctx.warnings.append(f"study area {area.name!r} has no counties: per-pixel layers only, no county sums")
    scheduled = schedule({"_county": _county_plan(), **plans} if has_counties else plans)
    ctx.upstream = upstream_layers(scheduled)
    made_here = {o for item in scheduled for o in _outputs(item.step)}

    def grid_step(item, clock):
        step = item.step
        t0, cpu0 = time.perf_counter(), clock()
        reused = step.fn(ctx, run_id) or {}
        if progress:
            progress(step.name, 1, 1)
        return reused, StepResult(step.name + (" (reused)" if reused else ""), item.service, area.grid.cells,
                                  time.perf_counter() - t0, "client", clock() - cpu0,
                                  workers.size_of(conn) if step.outputs else 1)

    # With tile workers, a whole-grid step that reads source layers only (flow accumulation, proximity) runs
    # in a thread of its own from the start, while the kernels before the first step that needs it go on.
    background: dict[int, Future] = {}
    executor = None
    if workers.size_of(conn) > 1:
        for item in scheduled:
            if (isinstance(item.step, GridStep) and item.step is not COUNTY_STEP
                    and not set(item.step.inputs) & made_here):
                executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="grid-step")
                background[id(item)] = executor.submit(grid_step, item, time.thread_time)
    try:
        for item in scheduled:
            _compute_item(ctx, item, services, backend, run_id, progress, results, produced, ntiles, background,
                          grid_step)
    except Exception as exc:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)   # a failure: do not start the next
            # a background step that failed first (its SQL aborted the shared transaction) is the cause to report
            first = next((f.exception() for f in background.values()
                          if f.done() and not f.cancelled() and f.exception() is not None), None)
            if first is not None and first is not exc:
                raise first from exc
        raise
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    for name, plan in plans.items() if has_counties else ():
        t0, cpu0 = time.perf_counter(), time.process_time()
        results[name].counties = county_sums(ctx, run_id, name, plan.aggregates)
        results[name].steps.append(StepResult("county sums", name, 0, time.perf_counter() - t0, backend,
                                              time.process_time() - cpu0))
        results[name].seconds += time.perf_counter() - t0
    timings = {"engine": backend, "notes": ctx.notes,
               "param_sets": {name: sorted(ctx.used.get(name, ())) for name in services},
               "services": {n: {"seconds": round(r.seconds, 3), "cells": r.cells,
                                "cells_per_s": round(r.cells_per_second) if r.seconds else None,
                                "steps": [s.as_dict() for s in r.steps]} for n, r in results.items()}}
    return base.Result(warnings=ctx.warnings, timings=timings, detail=list(results.values()))


def _outputs(step) -> list[str]:
    return [o.name for o in step.outputs] if isinstance(step, Step) else list(step.outputs)


def _compute_item(ctx: Context, item: _Scheduled, services, backend, run_id, progress, results, produced, ntiles,
                  background, grid_step) -> None:
    """Run (or collect, when it ran in the background) one scheduled step."""
    conn, area = ctx.conn, ctx.area
    if item.service == "_county":
        item.service = services[0]
    step = item.step
    if isinstance(step, GridStep):
        future = background.get(id(item))
        reused, done = future.result() if future is not None else grid_step(item, time.process_time)
        produced.update({o: reused.get(o, run_id) for o in step.outputs})
    else:
        label_ = "+".join(o.name for o in step.outputs)
        tick = progress and (lambda n, label=label_: progress(label, n, ntiles))
        step_params = step.params(ctx, run_id) if callable(step.params) else step.params
        resolved = {arg: (layer, produced.get(layer)) for arg, layer in step.inputs.items()}
        stats = run_kernel(conn, area, run_id, step.kernel, step_params, resolved, step.outputs, step.halo,
                           backend, tick)
        planned = sum(len(v) for per_tile in step_params.get("_add", {}).values() for v in per_tile.values())
        if stats.added < planned:
            ctx.warnings.append(f"{'+'.join(o.name for o in step.outputs)}: {planned - stats.added} pixel(s) "
                                "of counties holding no pixel centre lie in tiles without input data; their "
                                "share of the statistic is not allocated")
        done = StepResult(f"{step.kernel} -> {label_}", item.service, stats.cells, stats.seconds, backend,
                          stats.cpu_seconds, stats.workers)
        produced.update({o.name: run_id for o in step.outputs})
    results[item.service].steps.append(done)
    results[item.service].seconds += done.seconds


def compute_services(conn: psycopg.Connection, area: StudyArea, services: list[str] | None = None,
                     label: str | None = None, params: str | list[str] | None = None, scalars: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None, engine: str | None = None,
                     stats_year: int | None = None, sides: tuple[str, ...] = ("supply", "demand"),
                     reuse: bool = False, parent_run_id: int | Callable[[], int] | None = None,
                     before_compute: Callable[[set[str]], None] | None = None,
                     ) -> tuple[int, list[ServiceResult]]:
    """Compute supply and demand layers of ``services`` and their county sums, as one run of the services stage.

    With ``reuse``, a succeeded services run of the same parameters and input
    checksums is returned instead (with no service results) and nothing is computed.
    ``before_compute(layers)`` is called with the names of the layers the run
    will produce, after planning and before the first computation (later
    stages check their settings there). ``parent_run_id`` is the pipeline run this run belongs to, or a
    callable returning it (called only when the run starts).

    Returns:
        The run id and one :class:`ServiceResult` per service computed (none when reused).
    Raises:
        InputError: an unknown service or side, or a service that cannot be computed (every problem of
        every service in one message); raised before the run is recorded.
    """
    ctx = base.Context(conn, area, {}, {"services": services, "params": params, "scalars": scalars,
                                        "stats_year": stats_year, "sides": tuple(sides), "engine": engine},
                       label=label, force=not reuse, progress=progress, parent=parent_run_id)
    hook = None if before_compute is None else (lambda layers, reused: None if reused else before_compute(layers))
    outcome = base.run(ServicesStage(), ctx, before_compute=hook)
    return outcome.run_id, outcome.detail or []
