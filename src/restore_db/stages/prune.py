"""Cleaning up runs: list the runs of a study area with the space their layers take, drop one run, or prune the
runs nothing needs.

Every run keeps its result layers (``result.<area>__<layer>__<run>``), so each forced run adds its layers' size. A
run is **needed** when dropping it would change what ``bi`` shows or break another run:

- it is **published**: it is the current analysis of the study area in ``bi`` (``bi.current_run``: the newest
  succeeded zoning run and the newest pattern run that read it), which BI tools and QGIS show, or it is named by a
  QGIS project stored in ``bi.qgis_projects``. Older analyses keep their rows in the per-run ``bi`` relations
  only as long as their runs exist: a prune that drops them removes those rows with them (by the foreign keys),
  and leaves every row of the current analysis as it was;
- it is **depended on**: another run read it (``core.run_input``) or belongs to it (a pipeline run is the parent of
  its stages' runs, ``core.run.parent_run_id``). Deleting it would delete that lineage with it;
- it is **running** (its process is alive).

:func:`drop` drops one run that is none of these; :func:`prune` keeps the published runs, the newest ``keep``
succeeded runs of each stage, the running runs, and every run these read or belong to (transitively), and drops
the rest, failed and interrupted runs included. Both delete the run rows (their result rows, layer registrations
and lineage rows go with them by the foreign keys) and drop the layer tables, in the caller's transaction.

Orphan tables are tile tables in schema ``result`` that no ``core.layer`` row registers. A computation may create
its tables through a tile worker's connection, committed at once and registered only when the command commits, so
a failed or interrupted run can leave its tables behind, and a running one has them before they are registered.
An orphan named after a run (``<area>__<layer>__<run>``) goes with that run when the run is dropped (a run being
dropped is never running). Any other orphan (of a run that no longer exists, or made by hand) is listed, never
dropped: it may belong to a computation whose run is not committed yet, or to someone else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages.runs import STATE_SQL
from restore_db.store import layers

#: runs kept per stage by :func:`prune` besides the published runs and their lineage
DEFAULT_KEEP = 2


@dataclass
class RunInfo:
    """One run as :func:`list_runs` shows it."""

    run_id: int
    stage: str
    state: str                      # succeeded, failed, running, interrupted
    label: str | None
    started_at: object
    finished_at: object
    layers: int                     # result layers registered
    bytes: int                      # pg_total_relation_size of its layer tables (and their overviews)
    published: str | None = None    # why it is published, or None
    read_by: list[int] = field(default_factory=list)    # runs that read it (core.run_input)
    children: list[int] = field(default_factory=list)   # runs whose parent it is (a pipeline's stages)
    orphans: list[str] = field(default_factory=list)    # unregistered result tables named after it (in ``bytes``)

    @property
    def dependants(self) -> list[int]:
        return sorted(set(self.read_by) | set(self.children))

    def as_json(self) -> dict:
        out = asdict(self)
        out["dependants"] = self.dependants
        return out


@dataclass
class PrunePlan:
    """What :func:`prune` drops and keeps."""

    keep: int
    dropped: list[RunInfo]
    kept: dict[int, str]                    # run id -> why it is kept
    orphans: list[tuple[str, int]]          # (result table, bytes) of no run being dropped: listed, not dropped

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.dropped)


def _current_runs(conn: psycopg.Connection, area: StudyArea) -> set[int]:
    """The zoning and pattern runs of the current analysis of ``area`` (``bi.current_run``)."""
    row = conn.execute("SELECT run_id, pattern_run_id FROM bi.current_run WHERE study_area_id = %s",
                       (area.study_area_id,)).fetchone()
    return {r for r in (row or ()) if r is not None}


def _project_runs(conn: psycopg.Connection) -> dict[int, str]:
    """Run id -> name of the stored QGIS project that shows it."""
    out: dict[int, str] = {}
    for name, metadata in conn.execute("SELECT name, metadata FROM bi.qgis_projects "
                                       "WHERE metadata ? 'zoning_run_id' ORDER BY name").fetchall():
        meta = metadata if isinstance(metadata, dict) else json.loads(metadata or "{}")
        for key in ("zoning_run_id", "pattern_run_id"):
            if isinstance(meta.get(key), int):
                out.setdefault(meta[key], name)
    return out


def list_runs(conn: psycopg.Connection, area: StudyArea, stage: str | None = None) -> list[RunInfo]:
    """Every run of ``area`` (of ``stage`` when given), oldest first, with its size, whether it is published and
    the runs that depend on it."""
    current = _current_runs(conn, area)
    projects = _project_runs(conn)
    rows = conn.execute(
        f"""SELECT r.run_id, r.stage, {STATE_SQL}, r.label, r.started_at, r.finished_at,
                   (SELECT count(*) FROM core.layer l WHERE l.run_id = r.run_id),
                   (SELECT coalesce(sum(pg_total_relation_size(format('%%I.%%I', t.s, t.t)::regclass)), 0)
                    FROM (SELECT l.table_schema AS s, l.table_name AS t FROM core.layer l WHERE l.run_id = r.run_id
                          UNION
                          SELECT o.o_table_schema, o.o_table_name FROM core.layer l
                          JOIN raster_overviews o ON o.r_table_schema = l.table_schema
                                                 AND o.r_table_name = l.table_name
                          WHERE l.run_id = r.run_id) t
                    WHERE to_regclass(format('%%I.%%I', t.s, t.t)) IS NOT NULL),
                   ARRAY(SELECT DISTINCT i.run_id FROM core.run_input i WHERE i.input_run_id = r.run_id
                         ORDER BY 1),
                   ARRAY(SELECT c.run_id FROM core.run c WHERE c.parent_run_id = r.run_id ORDER BY 1)
            FROM core.run r WHERE r.study_area_id = %s AND (%s::text IS NULL OR r.stage = %s)
            ORDER BY r.run_id""", (area.study_area_id, stage, stage)).fetchall()
    by_run: dict[int, list[tuple[str, int]]] = {}
    prefix = f"{area.name}__"
    for name, size in orphan_tables(conn):
        head, _, tail = name.rpartition("__")
        if name.startswith(prefix) and len(head) > len(prefix) and tail.isdigit():
            by_run.setdefault(int(tail), []).append((name, size))
    out = []
    for run_id, stage_, state, label, started, finished, nlayers, size, read_by, children in rows:
        orphans = by_run.get(run_id, [])
        size = int(size) + sum(b for _, b in orphans)
        published = None
        if run_id in current:
            published = "the current analysis in bi"
        elif run_id in projects:
            published = f"shown by QGIS project {projects[run_id]!r}"
        out.append(RunInfo(run_id, stage_, state, label, started, finished, nlayers, int(size), published,
                           list(read_by), list(children), [name for name, _ in orphans]))
    return out


def _one(conn: psycopg.Connection, area: StudyArea | None, run_id: int) -> tuple[StudyArea, RunInfo]:
    from restore_db.grid import studyarea

    row = conn.execute("SELECT a.name FROM core.run r JOIN core.study_area a USING (study_area_id) "
                       "WHERE r.run_id = %s", (run_id,)).fetchone()
    if row is None or (area is not None and row[0] != area.name):
        where = f" in study area {area.name!r}" if area is not None else ""
        raise InputError(f"no run {run_id}{where}; `restore-db runs list` lists the runs")
    area = area or studyarea.get(conn, row[0])
    (info,) = [r for r in list_runs(conn, area) if r.run_id == run_id]
    return area, info


def _runs_text(run_ids: list[int], stages: dict[int, str]) -> str:
    return ", ".join(f"{r} ({stages[r]})" if r in stages else str(r) for r in run_ids)


def check_drop(conn: psycopg.Connection, area: StudyArea | None, run_id: int) -> tuple[StudyArea, RunInfo]:
    """The study area and run ``run_id`` when it may be dropped.

    Raises:
        InputError: no such run (in ``area``, when given); the run is published, depended on by other runs (named
            with their stages), or still running.
    """
    area, info = _one(conn, area, run_id)
    what = f"{info.stage} run {run_id}"
    if info.state == "running":
        raise InputError(f"cannot drop {what}: it is still running")
    if info.published:
        raise InputError(f"cannot drop {what}: it is {info.published}")
    if info.dependants:
        stages = dict(conn.execute("SELECT run_id, stage FROM core.run WHERE run_id = ANY(%s)",
                                   (info.dependants,)).fetchall())
        parts = []
        if info.read_by:
            parts.append(f"read by run(s) {_runs_text(info.read_by, stages)}")
        if info.children:
            parts.append(f"the parent of run(s) {_runs_text(info.children, stages)}")
        raise InputError(f"cannot drop {what}: it is {' and '.join(parts)}; drop those first")
    return area, info


def _lock(conn: psycopg.Connection) -> None:
    # no run starts, finishes or records its inputs while the runs to drop are chosen and dropped
    conn.execute("LOCK TABLE core.run, core.run_input IN SHARE ROW EXCLUSIVE MODE")


def _drop(conn: psycopg.Connection, dropped: list[RunInfo]) -> None:
    """Drop the layer tables (and orphan tables) of these runs and delete their rows (results, layers and lineage
    go by cascade)."""
    if not dropped:
        return
    run_ids = [r.run_id for r in dropped]
    for schema, table in conn.execute("SELECT table_schema, table_name FROM core.layer WHERE run_id = ANY(%s) "
                                      "ORDER BY table_schema, table_name", (run_ids,)).fetchall():
        layers.drop_layer_table(conn, schema, table)
    for table in sorted(t for r in dropped for t in r.orphans):
        layers.drop_layer_table(conn, layers.RESULT_SCHEMA, table)
    conn.execute("DELETE FROM core.run WHERE run_id = ANY(%s)", (run_ids,))


def drop(conn: psycopg.Connection, area: StudyArea | None, run_id: int) -> RunInfo:
    """Drop run ``run_id`` with its layer tables and registry rows, in the caller's transaction.

    Args:
        area: the study area it must belong to, or None (the run's own).
    Returns:
        The run as it was (its ``bytes`` are what its layer tables took).
    Raises:
        InputError: as :func:`check_drop`; nothing is changed.
    """
    _lock(conn)
    _, info = check_drop(conn, area, run_id)
    _drop(conn, [info])
    return info


def _lineage_closure(conn: psycopg.Connection, run_ids: list[int]) -> set[int]:
    """``run_ids`` and every run they read or belong to, transitively."""
    rows = conn.execute(
        """WITH RECURSIVE up(run_id) AS (
               SELECT unnest(%s::integer[])
               UNION
               SELECT x.run_id FROM up, LATERAL (
                   SELECT i.input_run_id AS run_id FROM core.run_input i WHERE i.run_id = up.run_id
                   UNION ALL
                   SELECT r.parent_run_id FROM core.run r WHERE r.run_id = up.run_id AND r.parent_run_id IS NOT NULL
               ) x)
           SELECT run_id FROM up""", (run_ids,)).fetchall()
    return {r[0] for r in rows}


def orphan_tables(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """Tile tables (columns tile_id and rast) in schema ``result`` that no ``core.layer`` row registers and that are
    not overviews of a registered table: (table, bytes)."""
    return [(name, int(size)) for name, size in conn.execute(
        """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'rast'
                          AND NOT a.attisdropped)
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tile_id'
                          AND NOT a.attisdropped)
              AND NOT EXISTS (SELECT 1 FROM core.layer l WHERE l.table_schema = n.nspname
                              AND l.table_name = c.relname)
              AND NOT EXISTS (SELECT 1 FROM raster_overviews o JOIN core.layer l
                              ON l.table_schema = o.r_table_schema AND l.table_name = o.r_table_name
                              WHERE o.o_table_schema = n.nspname AND o.o_table_name = c.relname)
            ORDER BY c.relname""", (layers.RESULT_SCHEMA,)).fetchall()]


def plan_prune(conn: psycopg.Connection, area: StudyArea, keep: int = DEFAULT_KEEP) -> PrunePlan:
    """What :func:`prune` would drop: every run of ``area`` but the published ones, the newest ``keep`` succeeded
    runs of each stage, the running ones, and the runs all of these read or belong to (transitively).

    Raises:
        InputError: ``keep`` is negative.
    """
    if keep < 0:
        raise InputError(f"--keep must be 0 or more, got {keep}")
    runs_ = list_runs(conn, area)
    why: dict[int, str] = {}
    newest: dict[str, int] = {}
    for info in reversed(runs_):            # newest first
        if info.published:
            why[info.run_id] = info.published
        elif info.state == "running":
            why[info.run_id] = "running"
        elif info.state == "succeeded" and newest.get(info.stage, 0) < keep:
            why[info.run_id] = f"one of the {keep} newest {info.stage} runs"
        if info.state == "succeeded":
            newest[info.stage] = newest.get(info.stage, 0) + 1
    for run_id in sorted(_lineage_closure(conn, list(why)) - set(why)):
        why[run_id] = "read by a kept run (or the parent of one)"
    dropped = [r for r in runs_ if r.run_id not in why]
    going = {t for r in dropped for t in r.orphans}
    return PrunePlan(keep, dropped, dict(sorted(why.items())),
                     [(name, size) for name, size in orphan_tables(conn) if name not in going])


def prune(conn: psycopg.Connection, area: StudyArea, keep: int = DEFAULT_KEEP, dry_run: bool = False) -> PrunePlan:
    """Drop the runs of ``area`` that nothing needs (see :func:`plan_prune`) with their layer tables, in the
    caller's transaction; with ``dry_run`` only say what would be dropped. Returns the plan."""
    if not dry_run:
        _lock(conn)
    plan = plan_prune(conn, area, keep)
    if not dry_run:
        _drop(conn, plan.dropped)
    return plan


def size_text(n: int) -> str:
    """Bytes in B, kB, MB or GB (powers of 1024)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
