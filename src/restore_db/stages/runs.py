"""Run records: each computation stores its parameters, input checksums, code
version, timings and status in ``core.run``.

A run's identity (``core.run.input_hash``) is the SHA-256 of its stage, its
parameters and the checksums of everything it read (layers, parameter sets,
boundaries, statistics, the runs of earlier stages). A stage whose identity
matches a succeeded run is skipped and that run is reused.

Failures are recorded. Inside :func:`recording` (every CLI command), a run's
``running`` row is written and committed at once through a second, autocommit
connection, which also holds a session-level advisory lock keyed by the run id
while the run lives. The results are written by the caller's transaction and
the row is set to ``succeeded`` there, so results and status commit together.
When the command fails, its transaction is rolled back (no result of the run
is kept) and the row is set to ``failed`` with the message, through the second
connection. When the process is killed, the row stays ``running`` but its lock
is gone: :func:`state` and :func:`problems` report it as ``interrupted``. Only
``succeeded`` runs are reused or read by later stages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import make_conninfo

from restore_db import __version__
from restore_db.errors import InputError, database_cause, database_message, one_line

if TYPE_CHECKING:   # (pyproj and numpy, which grid.studyarea imports, are not needed to record runs or to read them)
    from restore_db.grid.studyarea import StudyArea

# advisory lock held by a live run: pg_advisory_lock(RUN_LOCK_CLASS, run_id) (the two-integer key form)
RUN_LOCK_CLASS = 0x52554E
LEDGER_APPLICATION = "restore-db run ledger"

# SQL: whether the run ``r`` is held by a live process (its advisory lock is taken)
_LIVE = f"""EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid = {RUN_LOCK_CLASS}::oid AND l.objid = r.run_id::oid AND l.objsubid = 2)"""
# SQL: the state of the run ``r``: succeeded, failed, running, or interrupted (running, no live process)
STATE_SQL = f"CASE WHEN r.status = 'running' AND NOT {_LIVE} THEN 'interrupted' ELSE r.status END"


def boundary_checksum(conn: psycopg.Connection, area: StudyArea) -> str | None:
    """MD5 of the area's administrative units (codes, names, parents and geometry)."""
    return conn.execute(
        """SELECT md5(string_agg(concat_ws('|', level, code, name, parent_code, province_code, md5(ST_AsBinary(geom))),
                                 ',' ORDER BY level, code))
           FROM core.admin_unit WHERE study_area_id = %s""", (area.study_area_id,)).fetchone()[0]


def stats_checksum(conn: psycopg.Connection, area: StudyArea) -> str | None:
    """MD5 of the area's county statistics."""
    return conn.execute(
        """SELECT md5(string_agg(concat_ws('|', code, year, variable, value, unit), ',' ORDER BY code, year, variable))
           FROM src.county_stat WHERE study_area_id = %s""", (area.study_area_id,)).fetchone()[0]


def digest(stage: str, params, inputs) -> str:
    return hashlib.sha256(json.dumps([stage, params, inputs], sort_keys=True, default=str).encode()).hexdigest()


def find_succeeded(conn: psycopg.Connection, area: StudyArea, stage: str, params, inputs) -> int | None:
    """The newest succeeded run of ``stage`` with this identity, if any (failed, running and interrupted
    runs are never reused)."""
    row = conn.execute(
        """SELECT run_id FROM core.run WHERE study_area_id = %s AND stage = %s AND status = 'succeeded'
           AND input_hash = %s ORDER BY run_id DESC LIMIT 1""",
        (area.study_area_id, stage, digest(stage, params, inputs))).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------- the failure ledger


@dataclass
class _Ledger:
    """The second connection of a :func:`recording` block and the runs started through it."""

    conn: psycopg.Connection
    side: psycopg.Connection | None = None
    started: list[tuple[int, str]] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)

    def connection(self) -> psycopg.Connection:
        if self.side is None:
            info = self.conn.info
            self.side = psycopg.connect(make_conninfo(info.dsn, password=info.password,
                                                      application_name=LEDGER_APPLICATION), autocommit=True)
        return self.side

    def fail(self, exc: BaseException) -> None:
        """Set every run started here that is still ``running`` (its results rolled back) to ``failed``."""
        if not self.started or self.side is None or self.side.closed:
            return
        message = failure_message(exc)
        unfinished = [run for run in self.started if run[0] not in self.finished]
        culprit = unfinished[-1] if unfinished else None
        with contextlib.suppress(psycopg.Error):
            with self.side.transaction():
                # never wait long on a lock the failed transaction might still hold
                self.side.execute("SET LOCAL lock_timeout = '5s'")
                for run_id, _stage in self.started:
                    error = (message if culprit is None or culprit[0] == run_id
                             else f"{culprit[1]} run {culprit[0]} failed: {message}")
                    self.side.execute("UPDATE core.run SET status = 'failed', error = %s, "
                                      "finished_at = clock_timestamp() WHERE run_id = %s AND status = 'running'",
                                      (error, run_id))

    def close(self) -> None:
        if self.side is not None and not self.side.closed:
            self.side.close()      # ends the session: its run locks are released


_ledgers: weakref.WeakKeyDictionary[psycopg.Connection, _Ledger] = weakref.WeakKeyDictionary()


def failure_message(exc: BaseException) -> str:
    """The text recorded in ``core.run.error`` for the exception that ended a run.

    Args:
        exc: the exception.
    Returns:
        One line: the database's message for a database error, "interrupted (Ctrl-C)" for a keyboard
        interrupt, else the exception's message (its type when it has none).
    """
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if database_cause(exc) is not None:
        return database_message(exc)
    return one_line(str(exc)) or type(exc).__name__


@contextlib.contextmanager
def recording(conn: psycopg.Connection) -> Iterator[None]:
    """Record the runs started on ``conn`` inside this block so that a failure leaves a ``failed`` run.

    Wrap the transaction(s) that compute: ``with recording(conn), conn.transaction(): ...``. A run started
    inside is committed as ``running`` at once through a second connection (which holds the run's lock);
    when the block raises, the transaction has been rolled back and every such run still ``running`` is
    set to ``failed`` with the error message (the run whose work raised gets the message; the runs it
    belonged to or that finished before it name it). Without this block, :func:`start` writes the run in
    the caller's transaction and a failure leaves no trace.

    Args:
        conn: the connection whose transactions start runs.
    Raises:
        Whatever the block raises, unchanged.
    """
    if conn in _ledgers:      # nested: the outer block records
        yield
        return
    ledger = _Ledger(conn)
    _ledgers[conn] = ledger
    try:
        yield
    except BaseException as exc:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()        # an implicit transaction of the block: its locks would hold the update
        ledger.fail(exc)
        raise
    finally:
        _ledgers.pop(conn, None)
        ledger.close()


def start(conn: psycopg.Connection, area: StudyArea, stage: str, label: str | None, params: dict,
          inputs: dict, identity=None, parent_run_id: int | None = None, upstream: dict[str, int] | None = None) -> int:
    """Record a running run and the runs it reads.

    Args:
        conn: the connection whose transaction writes the run's results.
        area: the study area.
        stage: services, ratios, resilience, zoning or pipeline.
        label: the user's label, or None.
        params: the run's parameters (stored in ``core.run.params``).
        inputs: the checksums of what it reads.
        identity: what, with ``inputs``, makes the run's hash (default ``params``).
        parent_run_id: the pipeline run it belongs to.
        upstream: stage -> run id of the runs of earlier stages it reads.
    Returns:
        The run id. Inside :func:`recording` the row is committed at once (and the run's lock taken);
        otherwise it is written in the caller's transaction.
    """
    values = (area.study_area_id, stage, label, json.dumps(params, default=str), json.dumps(inputs, default=str),
              digest(stage, params if identity is None else identity, inputs), __version__, parent_run_id)
    ledger = _ledgers.get(conn)
    if ledger is not None:
        side = ledger.connection()
        try:
            with side.transaction():
                run_id = _insert(side, values, upstream)
                side.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, run_id))
        except psycopg.errors.ForeignKeyViolation:
            pass          # the area or an upstream run exists only in the caller's transaction: write it there
        else:
            ledger.started.append((run_id, stage))
            return run_id
    return _insert(conn, values, upstream)


def _insert(conn: psycopg.Connection, values: tuple, upstream: dict[str, int] | None) -> int:
    (run_id,) = conn.execute(
        """INSERT INTO core.run (study_area_id, stage, label, params, inputs, input_hash, code_version, parent_run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id""", values).fetchone()
    for up_stage, up_run in (upstream or {}).items():
        conn.execute("INSERT INTO core.run_input (run_id, stage, input_run_id) VALUES (%s, %s, %s)",
                     (run_id, up_stage, up_run))
    return run_id


def finish(conn: psycopg.Connection, run_id: int, timings: dict, status: str = "succeeded") -> None:
    """Set a run's status (in the caller's transaction, so that it commits with the run's results)."""
    conn.execute(
        "UPDATE core.run SET status = %s, finished_at = clock_timestamp(), timings = %s WHERE run_id = %s",
        (status, json.dumps(timings, default=str), run_id),
    )
    ledger = _ledgers.get(conn)
    if ledger is not None:
        ledger.finished.add(run_id)


# ---------------------------------------------------------------- reading run states


def state(conn: psycopg.Connection, run_id: int) -> str | None:
    """The state of a run: succeeded, failed, running (its process is alive), interrupted (it was
    running when its process died), or None when there is no such run."""
    row = conn.execute(f"SELECT {STATE_SQL} FROM core.run r WHERE r.run_id = %s", (run_id,)).fetchone()
    return row[0] if row else None


def problems(conn: psycopg.Connection, area: StudyArea | int, limit: int = 10) -> list[dict]:
    """The newest failed and interrupted runs of a study area.

    Args:
        conn: a connection.
        area: the study area, or its ``study_area_id``.
        limit: at most this many runs.
    Returns:
        Newest first, dicts with run_id, stage, label, state ('failed' or 'interrupted'), error (the
        message of a failed run; None for an interrupted one), started_at and finished_at.
    """
    area_id = area if isinstance(area, int) else area.study_area_id
    rows = conn.execute(
        f"""SELECT * FROM (SELECT r.run_id, r.stage, r.label, {STATE_SQL} AS state, r.error, r.started_at,
                                  r.finished_at
                           FROM core.run r WHERE r.study_area_id = %s AND r.status IN ('failed', 'running')) q
            WHERE state IN ('failed', 'interrupted') ORDER BY run_id DESC LIMIT %s""", (area_id, limit)).fetchall()
    keys = ("run_id", "stage", "label", "state", "error", "started_at", "finished_at")
    return [dict(zip(keys, row)) for row in rows]


def require(conn: psycopg.Connection, area: StudyArea, run_id: int, stage: str) -> int:
    """Check a run id given by the user: a succeeded run of ``stage`` in ``area``.

    Args:
        conn: a connection.
        area: the study area.
        run_id: the run id given (e.g. ``--services-run``).
        stage: the stage it must be of.
    Returns:
        ``run_id``.
    Raises:
        InputError: no such run in the area; a run of another stage ("run 3 is a ratios run, not a
        resilience run"); a run that did not succeed (failed, running or interrupted).
    """
    row = conn.execute(f"SELECT r.stage, {STATE_SQL}, r.error FROM core.run r "
                       "WHERE r.run_id = %s AND r.study_area_id = %s", (run_id, area.study_area_id)).fetchone()
    if row is None:
        raise InputError(f"no run {run_id} in study area {area.name!r}")
    actual, run_state, error = row
    if actual != stage:
        raise InputError(f"run {run_id} is a {actual} run, not a {stage} run")
    if run_state != "succeeded":
        why = {"failed": f"it failed: {error}", "running": "it is still running",
               "interrupted": "it was interrupted (its process ended while it ran)"}.get(run_state, run_state)
        raise InputError(f"{stage} run {run_id} did not succeed: {why}")
    return run_id


# ---------------------------------------------------------------- finding the runs a stage reads


def latest(conn: psycopg.Connection, area: StudyArea, stage: str, where: str = "", args: tuple = ()) -> int | None:
    """The newest succeeded run of ``stage`` in ``area`` that also meets the SQL condition ``where`` on the run
    ``r`` (with ``args``), or None."""
    row = conn.execute(
        f"""SELECT r.run_id FROM core.run r WHERE r.study_area_id = %s AND r.stage = %s AND r.status = 'succeeded'
            {where} ORDER BY r.run_id DESC LIMIT 1""", (area.study_area_id, stage, *args)).fetchone()
    return row[0] if row else None


def latest_services_run(conn: psycopg.Connection, area: StudyArea, services: list[str]) -> int:
    """The newest succeeded services run with county supply and demand of every one of ``services``.

    Raises:
        InputError: there is none.
    """
    run = latest(conn, area, "services",
                 """AND (SELECT count(DISTINCT (cs.service, cs.side)) FROM result.county_service cs
                         WHERE cs.run_id = r.run_id AND cs.service = ANY(%s)) = %s""",
                 (services, 2 * len(services)))
    if run is None:
        raise InputError(f"study area {area.name!r} has no services run with county supply and demand of "
                         f"{', '.join(services)}: run `restore-db compute services` (or `compute all`)")
    return run


def input_run(conn: psycopg.Connection, run_id: int, stage: str = "services") -> int:
    """The run of ``stage`` that run ``run_id`` read (``core.run_input``).

    Raises:
        InputError: the run recorded no input of that stage.
    """
    row = conn.execute("SELECT input_run_id FROM core.run_input WHERE run_id = %s AND stage = %s",
                       (run_id, stage)).fetchone()
    if row is None:
        raise InputError(f"run {run_id} is not a ratios or resilience run (no {stage} input recorded)")
    return row[0]


def lineage(conn: psycopg.Connection, run_id: int) -> dict[str, int]:
    """Every run that run ``run_id`` read, directly or through the runs it read: stage -> run id (the nearest
    one when a stage appears at several depths)."""
    rows = conn.execute(
        """WITH RECURSIVE up(run_id, stage, depth) AS (
               SELECT input_run_id, stage, 1 FROM core.run_input WHERE run_id = %s
               UNION ALL
               SELECT i.input_run_id, i.stage, up.depth + 1 FROM core.run_input i JOIN up ON i.run_id = up.run_id)
           SELECT DISTINCT ON (stage) stage, run_id FROM up ORDER BY stage, depth""", (run_id,)).fetchall()
    return dict(rows)
