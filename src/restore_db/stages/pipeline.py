"""The stages after the services as runs: ratios, resilience, zoning, and
``compute all`` (services -> ratios -> resilience -> zoning).

Each stage is one ``core.run`` row linked to the runs it read
(``core.run_input``). Its identity is its settings plus the checksums and
run ids of its inputs; when a succeeded run of the same identity exists, the
stage is skipped and that run is reused (unless ``force``). ``compute all``
checks every stage's settings and catalogues before the first computation,
records a parent ``pipeline`` run (when the first stage run starts, so that an
input rejected before any computation leaves no run), and publishes a new
zoning run to the ``bi`` relations (:func:`restore_db.publish.bi.publish`).

Run ids given by the user (``--services-run``, ``--ratios-run``,
``--resilience-run``) are checked first: a succeeded run of that stage in the
study area (:func:`restore_db.stages.runs.require`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field


from restore_db.publish import bi
from restore_db.grid import counties
from restore_db.stages import runs
from restore_db.grid.engine import choose_backend
from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import ratios, zoning
from restore_db.stages.resilience import index as resilience

STAGES = ("services", "ratios", "resilience", "zoning")
Progress = Callable[[str, int, int], None] | None
# the parent pipeline run of a stage: its id, a callable that starts it on first use, or None
Parent = int | Callable[[], int] | None


@dataclass
class StageOutcome:
    stage: str
    run_id: int
    skipped: bool
    seconds: float
    summary: dict = field(default_factory=dict)


def _latest(conn, area: StudyArea, stage: str, where: str = "", args: tuple = ()) -> int | None:
    row = conn.execute(
        f"""SELECT r.run_id FROM core.run r WHERE r.study_area_id = %s AND r.stage = %s AND r.status = 'succeeded'
            {where} ORDER BY r.run_id DESC LIMIT 1""", (area.study_area_id, stage, *args)).fetchone()
    return row[0] if row else None


def latest_services_run(conn, area: StudyArea, cfg: dict) -> int:
    """The newest succeeded services run with county supply and demand of every service of the settings."""
    services = cfg["ratios"]["services"]
    run = _latest(conn, area, "services",
                  """AND (SELECT count(DISTINCT (cs.service, cs.side)) FROM result.county_service cs
                          WHERE cs.run_id = r.run_id AND cs.service = ANY(%s)) = %s""",
                  (services, 2 * len(services)))
    if run is None:
        raise InputError(f"study area {area.name!r} has no services run with county supply and demand of "
                         f"{', '.join(services)}: run `restore-db compute services` (or `compute all`)")
    return run


def _stage(conn, area: StudyArea, stage: str, label: str | None, params: dict, inputs: dict,
           upstream: dict[str, int], force: bool, parent: Parent,
           body: Callable[[int], dict]) -> StageOutcome:
    """Run ``body(run_id)`` as a recorded run of ``stage``, or reuse an identical succeeded run."""
    t0 = time.perf_counter()
    identity_inputs = {**inputs, "runs": upstream}
    if not force:
        previous = runs.find_succeeded(conn, area, stage, params, identity_inputs)
        if previous is not None:
            return StageOutcome(stage, previous, True, time.perf_counter() - t0)
    run_id = runs.start(conn, area, stage, label, params, identity_inputs,
                        parent_run_id=parent() if callable(parent) else parent, upstream=upstream)
    summary = body(run_id)
    seconds = time.perf_counter() - t0
    runs.finish(conn, run_id, {"seconds": round(seconds, 3), "warnings": summary.get("warnings", []),
                               "summary": summary})
    return StageOutcome(stage, run_id, False, seconds, summary)


def run_ratios(conn, area: StudyArea, cfg: dict, services_run_id: int | None = None, *, force: bool = False,
               label: str | None = None, engine: str | None = None, progress: Progress = None,
               parent: Parent = None) -> StageOutcome:
    """ESDR, CESD, classes and matching types of a services run (default: the newest complete one).

    Raises:
        InputError: ``services_run_id`` is not a succeeded services run of the area, or the settings or
        the run's results do not allow the ratios.
    """
    services_run_id = _services_run(conn, area, cfg, services_run_id)
    inp = ratios.prepare(conn, area, cfg, services_run_id)
    backend = choose_backend(conn, engine) if cfg["ratios"]["pixel_maps"] else "client"
    out = _stage(conn, area, "ratios", label, {"ratios": cfg["ratios"]}, {}, {"services": services_run_id},
                 force, parent, lambda run_id: ratios.compute(conn, area, cfg, inp, run_id, backend, progress))
    _tick(progress, "ratios")
    return out


def _resilience_inputs(conn, area: StudyArea, plan: resilience.ResiliencePlan) -> dict:
    layers = sorted({layer for i in plan.indicators for layer, run in (i.layers or {}).values() if run is None})
    sets = sorted(plan.planner.param_sets)
    inputs = runs.input_checksums(conn, area, layers, sets)
    inputs["indicators"] = plan.record()
    if any(i.source_kind in ("county_stat", "sql") for i in plan.indicators):
        inputs["county_stats"] = runs.stats_checksum(conn, area)
    if any(i.source_kind == "sql" for i in plan.indicators):
        inputs["nonce"] = time.time()   # a query may read anything: never reuse such a run
    return inputs


def run_resilience(conn, area: StudyArea, cfg: dict, services_run_id: int | None = None, *, force: bool = False,
                   label: str | None = None, engine: str | None = None, progress: Progress = None,
                   parent: Parent = None, params: list[str] | None = None) -> StageOutcome:
    """Resilience index of every county of the boundaries (default: the newest complete services run);
    ``params``: land-use parameter sets to prefer (``--params``), as for the services.

    Raises:
        InputError: ``services_run_id`` is not a succeeded services run of the area, or the indicators
        cannot be computed.
    """
    services_run_id = _services_run(conn, area, cfg, services_run_id)
    plan = resilience.prepare(conn, area, cfg, services_run_id, params=params)
    backend = choose_backend(conn, engine)
    units = counties.of_run(conn, services_run_id)     # every county of the boundaries the services used
    if len(units) < 2:
        raise InputError(f"services run {services_run_id} has {len(units)} county(ies); resilience needs at least 2")
    out = _stage(conn, area, "resilience", label, {"resilience": cfg["resilience"]},
                 _resilience_inputs(conn, area, plan), {"services": services_run_id}, force, parent,
                 lambda run_id: resilience.compute(conn, plan, cfg, run_id, units, backend))
    _tick(progress, "resilience")
    return out


def run_zoning(conn, area: StudyArea, cfg: dict, ratios_run_id: int | None = None,
               resilience_run_id: int | None = None, *, force: bool = False, label: str | None = None,
               progress: Progress = None, parent: Parent = None) -> StageOutcome:
    """Zones from a ratios run and a resilience run of the same services run (default: the newest such pair).

    Raises:
        InputError: a run id given is not a succeeded run of its stage in the area; the two runs read
        different services runs; no ratios or resilience run to use.
    """
    if ratios_run_id is not None:
        runs.require(conn, area, ratios_run_id, "ratios")
    if resilience_run_id is not None:
        runs.require(conn, area, resilience_run_id, "resilience")
    if ratios_run_id is None:
        ratios_run_id = _latest(conn, area, "ratios")
        if ratios_run_id is None:
            raise InputError(f"study area {area.name!r} has no ratios run: run `restore-db compute ratios` first")
    services = _input_run(conn, ratios_run_id)
    if resilience_run_id is None:
        resilience_run_id = _latest(conn, area, "resilience", """AND EXISTS (SELECT 1 FROM core.run_input i
            WHERE i.run_id = r.run_id AND i.stage = 'services' AND i.input_run_id = %s)""", (services,))
        if resilience_run_id is None:
            raise InputError(f"no resilience run of services run {services} (the one ratios run {ratios_run_id} "
                             "read): run `restore-db compute resilience` first")
    elif _input_run(conn, resilience_run_id) != services:
        raise InputError(f"resilience run {resilience_run_id} and ratios run {ratios_run_id} read different "
                         f"services runs ({_input_run(conn, resilience_run_id)} and {services}): give runs of "
                         "the same services run")
    types = zoning.zone_types(conn, cfg["zoning"]["zone_set"])
    # the counties are those of the services run (versioned, never changed): its id in ``upstream`` fixes them
    inputs = {"zone_types": types}
    upstream = {"ratios": ratios_run_id, "resilience": resilience_run_id, "services": services}
    out = _stage(conn, area, "zoning", label, {"zoning": cfg["zoning"]}, inputs, upstream, force, parent,
                 lambda run_id: zoning.compute(conn, area, cfg, ratios_run_id, resilience_run_id, run_id))
    if not out.skipped:
        t0 = time.perf_counter()
        bi.publish(conn, out.run_id)     # after the run is marked succeeded: bi lists succeeded runs only
        seconds = time.perf_counter() - t0
        out.seconds += seconds
        out.summary["publish_seconds"] = round(seconds, 3)
        conn.execute("UPDATE core.run SET timings = timings || jsonb_build_object('publish_seconds', %s::float8) "
                     "WHERE run_id = %s", (round(seconds, 3), out.run_id))
    _tick(progress, "zoning")
    return out


def _services_run(conn, area: StudyArea, cfg: dict, run_id: int | None) -> int:
    """The services run given (checked), or the newest complete one."""
    if run_id is None:
        return latest_services_run(conn, area, cfg)
    return runs.require(conn, area, run_id, "services")


def _input_run(conn, run_id: int) -> int:
    """The services run a ratios or resilience run read."""
    row = conn.execute("SELECT input_run_id FROM core.run_input WHERE run_id = %s AND stage = 'services'",
                       (run_id,)).fetchone()
    if row is None:
        raise InputError(f"run {run_id} is not a ratios or resilience run (no services input recorded)")
    return row[0]


def _tick(progress: Progress, name: str) -> None:
    if progress:
        progress(name, 1, 1)


def check(conn, area: StudyArea, cfg: dict, planned_layers: set[str], services_run_id: int | None = None,
          params: list[str] | None = None) -> None:
    """Check the resilience and zoning settings against what the services will produce (or a services run
    produced); computes nothing."""
    resilience.prepare(conn, area, cfg, services_run_id, planned_layers, params)
    zoning.zone_types(conn, cfg["zoning"]["zone_set"])


def run_all(conn, area: StudyArea, cfg: dict, *, force: bool = False, label: str | None = None,
            engine: str | None = None, progress: Progress = None, services_options: dict | None = None,
            ) -> list[StageOutcome]:
    """Services -> ratios -> resilience -> zoning, under one parent ``pipeline`` run.

    The pipeline run is started with the first stage run (a stage rejected before it computes leaves no
    run); when every stage is reused it is recorded at the end.
    """
    from restore_db.stages.services.stage import compute_services

    t0 = time.perf_counter()
    started: list[int] = []

    def parent() -> int:
        if not started:
            started.append(runs.start(conn, area, "pipeline", label,
                                      {"settings": cfg, "services": services_options or {}}, {}))
        return started[0]

    opts = dict(services_options or {})
    opts.setdefault("services", cfg["ratios"]["services"])
    params = opts.get("params")
    outcomes = []
    ts = time.perf_counter()
    run_id, results = compute_services(conn, area, opts.pop("services"), label, progress=progress, engine=engine,
                                       reuse=not force, parent_run_id=parent,
                                       before_compute=lambda layers: check(conn, area, cfg, layers, params=params),
                                       **opts)
    if not results:      # reused: nothing was checked against planned layers yet
        check(conn, area, cfg, set(), run_id, params)
    outcomes.append(StageOutcome("services", run_id, not results, time.perf_counter() - ts,
                                 {"cells": sum(r.cells for r in results[:1])}))
    _tick(progress, "services")
    common = {"force": force, "label": label, "progress": progress, "parent": parent}
    outcomes.append(run_ratios(conn, area, cfg, run_id, engine=engine, **common))
    outcomes.append(run_resilience(conn, area, cfg, run_id, engine=engine, params=params, **common))
    outcomes.append(run_zoning(conn, area, cfg, outcomes[1].run_id, outcomes[2].run_id, **common))
    runs.finish(conn, parent(), {"seconds": round(time.perf_counter() - t0, 3),
                               "stages": [{"stage": o.stage, "run_id": o.run_id, "skipped": o.skipped,
                                           "seconds": round(o.seconds, 3)} for o in outcomes]})
    conn.execute("UPDATE core.run SET inputs = %s WHERE run_id = %s",
                 (json.dumps({"runs": {o.stage: o.run_id for o in outcomes}}), parent()))
    return outcomes
