"""Orchestration of computations: one run per invocation, recorded in core.run.

``compute_services`` plans every requested service first (all parameters,
statistics and layers are checked before anything is computed), schedules
their steps (a step whose outputs an earlier step already produces is
skipped; identical tile kernels are merged into one pass), runs them with
the in-database or the client engine, and sums supply and demand per county.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from restore_db.stages import runs
from restore_db.grid.engine import choose_backend, run_kernel
from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.stages.services.common import COUNTY_STEP, Context, GridStep, Step, county_sums
from restore_db.stages.services.registry import SERVICES
from restore_db.grid.studyarea import StudyArea


@dataclass
class StepResult:
    label: str
    service: str
    cells: int
    seconds: float
    backend: str

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds else float("nan")

    def as_dict(self) -> dict:
        return {"step": self.label, "service": self.service, "cells": self.cells, "seconds": round(self.seconds, 3),
                "cells_per_s": round(self.cells_per_second) if self.seconds else None, "engine": self.backend}


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


def compute_services(conn: psycopg.Connection, area: StudyArea, services: list[str] | None = None,
                     label: str | None = None, params: str | list[str] | None = None, scalars: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None, engine: str | None = None,
                     stats_year: int | None = None, sides: tuple[str, ...] = ("supply", "demand"),
                     reuse: bool = False, parent_run_id: int | Callable[[], int] | None = None,
                     before_compute: Callable[[set[str]], None] | None = None,
                     ) -> tuple[int, list[ServiceResult]]:
    """Compute supply and demand layers of ``services`` and their county sums, as one run.

    With ``reuse``, a succeeded services run of the same parameters and input
    checksums is returned instead (with no service results) and nothing is computed.
    ``before_compute(layers)`` is called with the names of the layers the run
    will produce, after planning and before the first computation (later
    stages check their settings there). ``parent_run_id`` is the pipeline run this run belongs to, or a
    callable returning it (called only when the run starts).

    Raises:
        InputError: an unknown service or side, or a service that cannot be computed (every problem of
        every service in one message); raised before the run is recorded.
    """
    services = services or list(SERVICES)
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise InputError(f"unknown service(s) {short_list(unknown)}; choose from {', '.join(SERVICES)}")
    services = [s for s in SERVICES if s in services]   # pipeline order
    bad = [s for s in sides if s not in ("supply", "demand")]
    if bad or not sides:
        raise InputError(f"sides must be supply and/or demand, got {short_list(bad) if bad else 'none'}")
    ctx = Context(conn, area, params, scalars, stats_year, tuple(sides))
    plans = plan_services(ctx, services)     # validate everything first
    backend = choose_backend(conn, engine)
    ctx.backend = backend
    layers = sorted({l for p in plans.values() for l in p.layers})
    inputs = runs.input_checksums(conn, area, layers, sorted(ctx.param_sets))
    inputs["boundaries"] = runs.boundary_checksum(conn, area)
    inputs["county_stats"] = runs.stats_checksum(conn, area)
    record = {name: p.record for name, p in plans.items()}
    record["_aggregates"] = {name: [{"side": a.side, "layer": a.layer, "unit": a.unit, "scale": a.scale}
                                    for a in p.aggregates] for name, p in plans.items()}
    record["_sides"] = list(sides)
    # the engine does not change results, nor does naming a set the run would choose anyway (the sets read are
    # checksummed in ``inputs``): neither is part of the identity
    identity = dict(record)
    record["_params"] = ctx.preferred_lulc_sets
    if reuse:
        previous = runs.find_succeeded(conn, area, "services", identity, inputs)
        if previous is not None:
            return previous, []
    if before_compute is not None:
        before_compute({o.name if hasattr(o, "name") else o for p in plans.values() for st in p.steps
                        for o in st.outputs} | {"county"})
    record["_engine"] = backend
    run_id = runs.start(conn, area, "services", label, record, inputs, identity=identity,
                        parent_run_id=parent_run_id() if callable(parent_run_id) else parent_run_id)

    results = {name: ServiceResult(name, area.grid.cells) for name in services}
    produced: dict[str, int] = {}   # layer -> run holding it
    ntiles = area.grid.tiles_x * area.grid.tiles_y
    has_counties = conn.execute("SELECT 1 FROM core.admin_unit WHERE study_area_id = %s AND level = 'county' LIMIT 1",
                                (area.study_area_id,)).fetchone() is not None
    if not has_counties:
        ctx.warnings.append(f"study area {area.name!r} has no counties: per-pixel layers only, no county sums")
    scheduled = schedule({"_county": _county_plan(), **plans} if has_counties else plans)
    ctx.upstream = upstream_layers(scheduled)
    for item in scheduled:
        if item.service == "_county":
            item.service = services[0]
        step = item.step
        t0 = time.perf_counter()
        if isinstance(step, GridStep):
            tick = progress and (lambda n, label=step.name: progress(label, n, 1))
            reused = step.fn(ctx, run_id) or {}
            if tick:
                tick(1)
            done = StepResult(step.name + (" (reused)" if reused else ""), item.service, area.grid.cells,
                              time.perf_counter() - t0, "client")
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
            done = StepResult(f"{step.kernel} -> {label_}", item.service, stats.cells, stats.seconds, backend)
            produced.update({o.name: run_id for o in step.outputs})
        results[item.service].steps.append(done)
        results[item.service].seconds += done.seconds
    for name, plan in plans.items() if has_counties else ():
        t0 = time.perf_counter()
        results[name].counties = county_sums(ctx, run_id, name, plan.aggregates)
        results[name].steps.append(StepResult("county sums", name, 0, time.perf_counter() - t0, backend))
        results[name].seconds += time.perf_counter() - t0
    timings = {"engine": backend, "warnings": ctx.warnings, "notes": ctx.notes,
               "param_sets": {name: sorted(ctx.used.get(name, ())) for name in services},
               "services": {n: {"seconds": round(r.seconds, 3), "cells": r.cells,
                                "cells_per_s": round(r.cells_per_second) if r.seconds else None,
                                "steps": [s.as_dict() for s in r.steps]} for n, r in results.items()}}
    runs.finish(conn, run_id, timings)
    return run_id, list(results.values())
