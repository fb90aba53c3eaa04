"""Orchestration of computations: one run per invocation, recorded in core.run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from . import runs
from .engine import KernelStats, layer_table, run_kernel
from .errors import InputError
from .load.common import short_list
from .services.common import aggregate_counties
from .services.registry import SERVICES
from .studyarea import StudyArea


@dataclass
class ServiceResult:
    service: str
    stats: KernelStats
    counties: int


def pick_lulc_set(conn: psycopg.Connection, area: StudyArea, needed: list[str], preferred: str | None) -> str:
    """The land-use parameter set to use: ``preferred``, or the only one holding every coefficient needed."""
    if preferred:
        return preferred
    rows = conn.execute(
        """SELECT p.name FROM param.param_set p JOIN param.lulc_value v USING (param_set_id)
           WHERE p.study_area_id = %s AND p.kind = 'lulc' AND v.coefficient = ANY(%s)
           GROUP BY p.name HAVING count(DISTINCT v.coefficient) = %s ORDER BY p.name""",
        (area.study_area_id, needed, len(needed))).fetchall()
    if not rows:
        raise InputError(f"study area {area.name!r} has no land-use parameter table with {short_list(needed)}")
    if len(rows) > 1:
        raise InputError(f"several parameter tables hold {short_list(needed)} ({short_list(r[0] for r in rows)}): "
                         "choose one with --params")
    return rows[0][0]


def compute_services(conn: psycopg.Connection, area: StudyArea, services: list[str] | None = None,
                     label: str | None = None, params: str | None = None, scalars: str | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> tuple[int, list[ServiceResult]]:
    """Compute the supply (and demand) layers of ``services`` and their county sums, as one run."""
    services = services or list(SERVICES)
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise InputError(f"unknown service(s) {short_list(unknown)}; choose from {', '.join(SERVICES)}")
    prepared = {}
    for name in services:  # validate every parameter before computing anything
        module = SERVICES[name]
        needed = {"water": ["lulc_veg", "root_depth", "kc"], "carbon": ["c_above", "c_below", "c_soil", "c_dead"]}[name]
        param_set = pick_lulc_set(conn, area, needed, params)
        for layer in module.INPUTS:
            layer_table(conn, area, layer)
        prepared[name] = module.prepare(conn, area, param_set, scalars)
    inputs = runs.input_checksums(conn, area, sorted({l for s in services for l in SERVICES[s].INPUTS}),
                                  sorted({p["param_set"] for _, p in prepared.values()}))
    run_id = runs.start(conn, area, "services", label, {s: p for s, (_, p) in prepared.items()}, inputs)
    results, timings = [], {}
    ntiles = area.grid.tiles_x * area.grid.tiles_y
    for name in services:
        module = SERVICES[name]
        kernel, _ = prepared[name]
        tick = (lambda n, name=name: progress(name, n, ntiles)) if progress else None
        stats = run_kernel(conn, area, run_id, {l: (l, None) for l in module.INPUTS}, kernel, module.OUTPUTS, tick)
        t0 = time.perf_counter()
        counties = aggregate_counties(conn, area, run_id, name, "supply",
                                      layer_table(conn, area, module.SUPPLY_LAYER, run_id), module.SUPPLY_LAYER,
                                      module.SUPPLY_UNIT, module.supply_scale(area))
        timings[name] = {"kernel_s": round(stats.seconds, 3), "cells": stats.cells,
                         "cells_per_s": round(stats.cells_per_second), "aggregate_s": round(time.perf_counter() - t0, 3)}
        results.append(ServiceResult(name, stats, counties))
    runs.finish(conn, run_id, timings)
    return run_id, results
