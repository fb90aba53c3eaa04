"""One way to make a stage: a declaration, a plan, and one runner for all of them.

A stage (services, ratios, resilience, zoning, and the stages that follow) is a
subclass of :class:`Stage` that declares

- ``name``, ``title`` and ``settings_key`` (its section of the analysis settings, or None);
- ``upstream``: the stages whose runs it reads, in order;
- ``inputs``: what else it reads (layers, parameter sets, statistics, boundaries, catalogues);
- ``outputs``: the layers and tables it writes, with units;

and implements :meth:`Stage.resolve` (which upstream runs to read), :meth:`Stage.check`
(refuse bad settings before anything is computed) and :meth:`Stage.plan` (everything the
run will do, checked, plus a ``compute(run_id)`` callable). :func:`run` does the rest, the
same way for every stage:

1. identity: the SHA-256 of the stage, its parameters, the checksums of what it reads
   and its upstream run ids; a succeeded run of the same identity is reused unless ``force``;
2. the run record: ``core.run`` started (with its ``core.run_input`` lineage) only once
   the plan is checked, and set to succeeded with its timings and warnings in the caller's
   transaction (a failure is recorded by :func:`restore_db.stages.runs.recording`);
3. the check before computing: ``before_compute(planned_layers, reused_run)`` lets
   ``compute all`` check the later stages before the first computation;
4. progress: one tick per stage (stages with steps report their own as well);
5. publishing: :func:`restore_db.publish.after_run` once a new run has succeeded.

:mod:`restore_db.stages.registry` lists the stages in pipeline order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import runs

Progress = Callable[[str, int, int], None] | None
# the parent pipeline run of a stage: its id, a callable that starts it on first use, or None
Parent = int | Callable[[], int] | None


@dataclass(frozen=True)
class Input:
    """Something a stage reads besides its upstream runs.

    ``kind``: ``layer`` (a stored raster layer), ``param_set`` (land-use or scalar parameters),
    ``statistics`` (``src.county_stat``), ``boundaries`` (``core.admin_unit``) or ``catalogue``
    (a ``param`` table of the database).
    """

    kind: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Output:
    """A layer or table a stage writes, with the unit of its values (None for classes and codes)."""

    kind: str          # "layer" or "table"
    name: str
    unit: str | None
    description: str = ""


@dataclass
class Result:
    """What a computation returns to the runner.

    ``summary`` (JSON) and ``warnings`` go to ``core.run.timings``; ``timings`` adds keys of its own there;
    ``detail`` is for the caller only (the services' per-step figures).
    """

    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    detail: Any = None


@dataclass
class Plan:
    """A checked plan: what the run will record and a callable that computes it.

    ``params`` go to ``core.run.params``; ``identity`` (default ``params``) and ``inputs`` (checksums of what the
    run reads) make its hash with the upstream run ids; ``layers`` are the layers it will produce (later stages
    check against them); ``compute(run_id)`` writes the results in the caller's transaction. ``precheck()``, when
    given, checks what only the inputs' data can tell (raising InputError) once it is known that the run will be
    computed, before the run is recorded: a refusal then leaves no run behind.
    """

    params: dict
    inputs: dict
    compute: Callable[[int], Result]
    identity: dict | None = None
    layers: frozenset[str] = frozenset()
    precheck: Callable[[], None] | None = None


@dataclass
class Context:
    """What every stage of one command shares: the connection, the study area, the analysis settings and the
    options of the command (``engine``, ``params``, ``scalars``, ``stats_year``, ``sides``, ``services``)."""

    conn: psycopg.Connection
    area: StudyArea
    cfg: dict
    options: dict = field(default_factory=dict)
    label: str | None = None
    force: bool = False
    progress: Progress = None
    parent: Parent = None

    def option(self, name: str, default=None):
        value = self.options.get(name)
        return default if value is None else value


@dataclass
class Outcome:
    """A stage's run: new or reused (``skipped``), its time and summary (and the computation's ``detail``)."""

    stage: str
    run_id: int
    skipped: bool
    seconds: float
    summary: dict = field(default_factory=dict)
    detail: Any = None


class Stage:
    """Base class of the stages; see the module docstring for what a subclass declares and implements."""

    name: ClassVar[str]
    title: ClassVar[str]
    settings_key: ClassVar[str | None] = None
    #: ``compute all`` skips an optional stage whose inputs are absent (saying why) instead of failing
    optional: ClassVar[bool] = False
    upstream: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[Input, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()

    def resolve(self, ctx: Context, given: dict[str, int | None]) -> dict[str, int]:
        """The upstream runs to read: those given (checked: a succeeded run of that stage in the area), the
        newest suitable ones otherwise. Raises InputError when there is none."""
        return {}

    def check(self, ctx: Context, planned_layers: set[str], upstream: dict[str, int]) -> None:
        """Refuse the settings and catalogues before any computation of the pipeline (InputError); computes
        nothing. ``planned_layers`` are the layers earlier stages will produce, ``upstream`` the runs known."""

    def plan(self, ctx: Context, upstream: dict[str, int]) -> Plan:
        """Check everything the run needs and say what it will do (InputError naming every problem)."""
        raise NotImplementedError

    def settings(self, ctx: Context) -> dict:
        """The stage's section of the analysis settings, as recorded in its run's parameters."""
        return {self.settings_key: ctx.cfg[self.settings_key]} if self.settings_key else {}


def run(stage: Stage, ctx: Context, given: dict[str, int | None] | None = None,
        before_compute: Callable[[set[str], int | None], None] | None = None) -> Outcome:
    """Run ``stage`` as a recorded run, or reuse a succeeded run of the same identity.

    Args:
        stage: the stage.
        ctx: the command's context (``ctx.force`` computes even when an identical run exists).
        given: upstream run ids the user gave (stage -> run id or None).
        before_compute: called with the layers the run will produce and None before it computes, or with no
            layers and the reused run's id when the run is reused.
    Returns:
        The :class:`Outcome`.
    Raises:
        InputError: the upstream runs, the plan or its precheck are refused (nothing is recorded).
    """
    try:
        upstream = stage.resolve(ctx, dict(given or {}))
        plan = stage.plan(ctx, upstream)
    except InputError as exc:
        exc.before_run = True       # nothing recorded: an optional stage may be left out (pipeline.run_all)
        raise
    t0 = time.perf_counter()          # a run's time is that of its reuse check and computation, not of planning
    inputs = {**plan.inputs, "runs": upstream} if upstream else dict(plan.inputs)
    identity = plan.params if plan.identity is None else plan.identity
    if not ctx.force:
        previous = runs.find_succeeded(ctx.conn, ctx.area, stage.name, identity, inputs)
        if previous is not None:
            if before_compute is not None:
                before_compute(set(), previous)
            _tick(ctx, stage.name)
            return Outcome(stage.name, previous, True, time.perf_counter() - t0)
    if plan.precheck is not None:
        try:
            plan.precheck()
        except InputError as exc:
            exc.before_run = True
            raise
    if before_compute is not None:
        before_compute(set(plan.layers), None)
    parent = ctx.parent() if callable(ctx.parent) else ctx.parent
    run_id = runs.start(ctx.conn, ctx.area, stage.name, ctx.label, plan.params, inputs, identity=identity,
                        parent_run_id=parent, upstream=upstream or None)
    result = plan.compute(run_id)
    seconds = time.perf_counter() - t0
    timings = {"seconds": round(seconds, 3), "warnings": result.warnings, **result.timings}
    if result.summary:
        timings["summary"] = result.summary
    runs.finish(ctx.conn, run_id, timings)
    outcome = Outcome(stage.name, run_id, False, seconds, dict(result.summary), result.detail)

    from restore_db import publish

    published = publish.after_run(ctx.conn, stage.name, run_id)
    if published is not None:     # publishing reads the succeeded run: after finish, same transaction
        outcome.seconds += published
        outcome.summary["publish_seconds"] = round(published, 3)
        ctx.conn.execute("UPDATE core.run SET timings = timings || jsonb_build_object('publish_seconds', %s::float8)"
                         " WHERE run_id = %s", (round(published, 3), run_id))
    _tick(ctx, stage.name)
    return outcome


def _tick(ctx: Context, name: str) -> None:
    if ctx.progress:
        ctx.progress(name, 1, 1)
