"""``compute all`` and the function form of each stage, all through :func:`restore_db.stages.base.run`.

``compute all`` (:func:`run_all`) runs the stages of :mod:`restore_db.stages.registry` in order, each reading the
runs the earlier ones made or reused, under one parent ``pipeline`` run. Before the first computation, every later
stage checks its settings and catalogues against the layers the first stage will produce (or the run it reuses),
so a bad indicator or AHP matrix costs nothing. The pipeline run is recorded when the first stage run starts, so
that an input rejected before any computation leaves no run; when every stage is reused it is recorded at the end.

Run ids given by the user (``--services-run``, ``--ratios-run``, ``--resilience-run``) are checked first: a
succeeded run of that stage in the study area (:func:`restore_db.stages.runs.require`).
"""

from __future__ import annotations

import json
import time

from restore_db.errors import InputError, SettingsError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import base, registry, runs
from restore_db.stages.base import Outcome as StageOutcome, Parent, Progress

__all__ = ["StageOutcome", "Outcomes", "run_all", "run_ratios", "run_resilience", "run_zoning", "check"]


class Outcomes(list):
    """The outcomes of ``compute all``, one per stage run, in order; ``skipped`` names the optional stages left out
    (stage -> why)."""

    def __init__(self, items=(), skipped: dict[str, str] | None = None):
        super().__init__(items)
        self.skipped = dict(skipped or {})


def _context(conn, area: StudyArea, cfg: dict, *, force: bool = False, label: str | None = None,
             engine: str | None = None, progress: Progress = None, parent: Parent = None,
             params: list[str] | None = None) -> base.Context:
    return base.Context(conn, area, cfg, {"engine": engine, "params": params}, label=label, force=force,
                        progress=progress, parent=parent)


def run_ratios(conn, area: StudyArea, cfg: dict, services_run_id: int | None = None, *, force: bool = False,
               label: str | None = None, engine: str | None = None, progress: Progress = None,
               parent: Parent = None) -> StageOutcome:
    """ESDR, CESD, classes and matching types of a services run (default: the newest complete one).

    Raises:
        InputError: ``services_run_id`` is not a succeeded services run of the area, or the settings or
        the run's results do not allow the ratios.
    """
    ctx = _context(conn, area, cfg, force=force, label=label, engine=engine, progress=progress, parent=parent)
    return base.run(registry.get("ratios"), ctx, {"services": services_run_id})


def run_resilience(conn, area: StudyArea, cfg: dict, services_run_id: int | None = None, *, force: bool = False,
                   label: str | None = None, engine: str | None = None, progress: Progress = None,
                   parent: Parent = None, params: list[str] | None = None) -> StageOutcome:
    """Resilience index of every county of the boundaries (default: the newest complete services run);
    ``params``: land-use parameter sets to prefer (``--params``), as for the services.

    Raises:
        InputError: ``services_run_id`` is not a succeeded services run of the area, or the indicators
        cannot be computed.
    """
    ctx = _context(conn, area, cfg, force=force, label=label, engine=engine, progress=progress, parent=parent,
                   params=params)
    return base.run(registry.get("resilience"), ctx, {"services": services_run_id})


def run_zoning(conn, area: StudyArea, cfg: dict, ratios_run_id: int | None = None,
               resilience_run_id: int | None = None, *, force: bool = False, label: str | None = None,
               progress: Progress = None, parent: Parent = None) -> StageOutcome:
    """Zones from a ratios run and a resilience run of the same services run (default: the newest such pair).

    Raises:
        InputError: a run id given is not a succeeded run of its stage in the area; the two runs read
        different services runs; no ratios or resilience run to use.
    """
    ctx = _context(conn, area, cfg, force=force, label=label, progress=progress, parent=parent)
    return base.run(registry.get("zoning"), ctx, {"ratios": ratios_run_id, "resilience": resilience_run_id})


def check(conn, area: StudyArea, cfg: dict, planned_layers: set[str], services_run_id: int | None = None,
          params: list[str] | None = None) -> None:
    """Check every stage after the services against what the services will produce (or a services run
    produced); computes nothing. An optional stage whose inputs are absent is not an error here."""
    ctx = _context(conn, area, cfg, params=params)
    upstream = {"services": services_run_id} if services_run_id is not None else {}
    for stage in list(registry.stages().values())[1:]:
        try:
            stage.check(ctx, planned_layers, upstream)
        except InputError as exc:
            if not stage.optional or isinstance(exc, SettingsError):
                raise


def run_all(conn, area: StudyArea, cfg: dict, *, force: bool = False, label: str | None = None,
            engine: str | None = None, progress: Progress = None, services_options: dict | None = None,
            ) -> Outcomes:
    """Every stage of the registry in order, under one parent ``pipeline`` run; returns one outcome per stage run.

    An optional stage (the pattern) whose inputs are absent is left out: ``Outcomes.skipped`` and the pipeline run's
    warnings say why.

    ``services_options``: ``params``, ``scalars``, ``stats_year`` (and ``services``, default the services of the
    ratios settings) of the services stage.

    Raises:
        InputError: a stage refused its inputs or settings (before any computation when the later stages'
        settings are at fault).
    """
    t0 = time.perf_counter()
    started: list[int] = []

    def parent() -> int:
        if not started:
            started.append(runs.start(conn, area, "pipeline", label,
                                      {"settings": cfg, "services": services_options or {}}, {}))
        return started[0]

    options = {"engine": engine, **(services_options or {})}
    options.setdefault("services", cfg["ratios"]["services"])
    ctx = base.Context(conn, area, cfg, options, label=label, force=force, progress=progress, parent=parent)
    stages = list(registry.stages().values())

    skipped: dict[str, str] = {}

    def check_later(planned: set[str], reused: int | None) -> None:
        known = {stages[0].name: reused} if reused is not None else {}
        for later in stages[1:]:
            try:
                later.check(ctx, planned, known)
            except InputError as exc:
                if not later.optional or isinstance(exc, SettingsError):
                    raise
                skipped[later.name] = str(exc)     # an optional stage whose inputs are absent is left out

    outcomes: dict[str, StageOutcome] = {}
    for i, stage in enumerate(stages):
        if stage.name in skipped:
            continue
        given = {name: outcomes[name].run_id for name in stage.upstream if name in outcomes}
        if stage.optional:          # its inputs, checked again against the upstream runs now known
            try:
                stage.check(ctx, set(), given)
            except SettingsError:
                raise
            except InputError as exc:
                skipped[stage.name] = str(exc)
                continue
        try:
            outcomes[stage.name] = base.run(stage, ctx, given, before_compute=check_later if i == 0 else None)
        except InputError as exc:
            # an optional stage refused before its run was recorded (e.g. a pattern without two sources) is left out
            if not stage.optional or isinstance(exc, SettingsError) or not getattr(exc, "before_run", False):
                raise
            skipped[stage.name] = str(exc)
    ordered = Outcomes(outcomes.values(), skipped)
    runs.finish(conn, parent(), {"seconds": round(time.perf_counter() - t0, 3),
                               "stages": [{"stage": o.stage, "run_id": o.run_id, "skipped": o.skipped,
                                           "seconds": round(o.seconds, 3)} for o in ordered],
                               "warnings": [f"{name} left out: {why}" for name, why in skipped.items()]})
    conn.execute("UPDATE core.run SET inputs = %s WHERE run_id = %s",
                 (json.dumps({"runs": {o.stage: o.run_id for o in ordered}}), parent()))
    return ordered
