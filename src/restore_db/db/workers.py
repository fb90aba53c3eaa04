"""Tile workers: side connections that run the tile kernels of one command in parallel.

A kernel run is split into bands of tile rows (:func:`restore_db.kernels.tiles.row_bands`), and each band
runs on its own database connection: in its own server backend (``calc.apply_kernel`` with the band) or,
with the client engine, in its own thread of this process. The bands are independent, so the tiles equal
those of one serial pass bit for bit, and so do the layer statistics
(:class:`restore_db.kernels.tiles.LayerStats` sums exactly).

The catch is visibility. Other connections cannot see what the command's own transaction has not committed,
and a kernel reads the layers that earlier steps of the same run wrote. So while a pool is open, every result
table is created, filled, indexed and constrained through the workers, each step committed at once. The
command's transaction only registers the tables in ``core.layer`` (and records the run), so until it commits,
nothing refers to them. When the command fails, its transaction rolls back, and :func:`scope` then drops every
table the workers made. A table left by a killed process is an orphan that no ``core.layer`` row names.

A pool is opened per command with :func:`scope`; without one, the engine works serially in the caller's
transaction, as a library caller expects. The size is ``--workers``, else ``RESTORE_DB_WORKERS``, else the
server's cores (``calc.server_cores()``; the client's when the server cannot say and runs on this machine),
never more than the free connections of the server allow.

This module imports psycopg and the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from restore_db.errors import InputError, SettingsError

WORKERS_ENV = "RESTORE_DB_WORKERS"
APPLICATION = "restore-db tile worker"
MAX_WORKERS = 64

T = TypeVar("T")


def server_cores(conn: psycopg.Connection) -> int | None:
    """The number of CPU cores of the database server, or None when it cannot be known.

    ``calc.server_cores()`` (PL/Python) answers when it exists; otherwise a server on this machine (a Unix
    socket, localhost or 127.0.0.1) has this machine's cores.
    """
    try:
        if conn.execute("SELECT to_regprocedure('calc.server_cores()')").fetchone()[0] is not None:
            with conn.transaction():
                cores = conn.execute("SELECT calc.server_cores()").fetchone()[0]
            if cores:
                return int(cores)
    except psycopg.Error:
        pass
    host = conn.info.host or ""
    if host.startswith("/") or host in ("localhost", "127.0.0.1", "::1"):
        return usable_cores()
    return None


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, within the cgroup's CPU quota (a container's limit)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return n


def free_connections(conn: psycopg.Connection) -> int:
    """Connections the server still accepts for ordinary users (max_connections minus those open and reserved)."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").fetchone()
    return max(0, int(row[0]))


def env_size() -> int | None:
    """``$RESTORE_DB_WORKERS`` as a number, or None when it is not set.

    Raises:
        InputError: it is not a whole number of at least 1.
    """
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"{WORKERS_ENV}={text!r} is not a whole number of at least 1")
    return int(text)


def processes(conn: psycopg.Connection | None = None) -> int:
    """How many processes a client-side step of ``conn``'s command may use (the pattern's cost searches): the size
    of its pool of tile workers when it has one, else ``$RESTORE_DB_WORKERS``, else the cores of this machine.

    Raises:
        InputError: ``$RESTORE_DB_WORKERS`` is not a whole number of at least 1.
    """
    pool = _pools.get(conn) if conn is not None else None
    if pool is not None:
        return pool.requested or usable_cores()
    return env_size() or usable_cores()


def resolve_size(conn: psycopg.Connection, requested: int | None = None) -> int:
    """How many tile workers a command uses: ``requested``, else ``$RESTORE_DB_WORKERS``, else the server's cores.

    Raises:
        InputError: ``requested`` or the environment variable is not a whole number of at least 1.
    """
    if requested is None:
        requested = env_size()
    elif requested < 1:
        raise InputError(f"--workers {requested} is not a whole number of at least 1")
    size = requested if requested is not None else (server_cores(conn) or 1)
    # at most half the free connections: a background whole-grid step may use the pool beside the kernels
    return max(1, min(size, MAX_WORKERS, free_connections(conn) // 2))


class Pool:
    """Side connections of ``conn`` (autocommit), opened on first use, and the tables made through them.

    The number of workers is resolved (:func:`resolve_size`, through a side connection, so that the command's
    connection opens no transaction) the first time :attr:`size` is read.
    """

    def __init__(self, conn: psycopg.Connection, requested: int | None = None):
        if requested is not None and requested < 1:
            raise InputError(f"--workers {requested} is not a whole number of at least 1")
        self.conn = conn
        self.requested = requested
        self._size: int | None = None
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._all: list[psycopg.Connection] = []
        self._busy: set[psycopg.Connection] = set()
        self._lock = threading.Lock()
        self.created: list[tuple[str, str]] = []

    @property
    def size(self) -> int:
        if self._size is None:
            with self.connection() as side:
                self._size = resolve_size(side, self.requested)
        return self._size

    def _open(self) -> psycopg.Connection:
        info = self.conn.info
        return psycopg.connect(make_conninfo(info.dsn, password=info.password, application_name=APPLICATION),
                               autocommit=True)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """Borrow a side connection (autocommit: each statement, or each ``transaction()`` block, commits)."""
        try:
            side = self._idle.get_nowait()
        except queue.Empty:
            side = self._open()
            with self._lock:
                self._all.append(side)
        with self._lock:
            self._busy.add(side)
        try:
            yield side
        finally:
            with self._lock:
                self._busy.discard(side)
            if not side.closed and side.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                self._idle.put(side)

    def run(self, jobs: list[Callable[[psycopg.Connection], T]]) -> list[T]:
        """Run each job with a side connection of its own, at most ``size`` at once; their results in order.

        Raises:
            the first exception of a job, once the running jobs have ended (jobs not started are cancelled, the
            queries of those running are cancelled); likewise an interrupt (Ctrl-C) while waiting for them.
        """
        if len(jobs) == 1 or self.size == 1:
            out = []
            for job in jobs:
                with self.connection() as side:
                    out.append(job(side))
            return out

        running: set[psycopg.Connection] = set()     # the connections of this call's jobs (not another thread's)
        lock = threading.Lock()

        def call(job):
            with self.connection() as side:
                with lock:
                    running.add(side)
                try:
                    return job(side)
                finally:
                    with lock:
                        running.discard(side)

        def stop(futures):
            for f in futures:
                f.cancel()
            with lock:
                sides = list(running)
            for side in sides:
                with contextlib.suppress(psycopg.Error):
                    side.cancel()

        ex = ThreadPoolExecutor(max_workers=min(self.size, len(jobs)), thread_name_prefix="tile-worker")
        futures = []
        try:
            futures = [ex.submit(call, job) for job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed:
                stop(futures)
                wait([f for f in futures if not f.cancelled()])
                raise failed[0].exception()
            return [f.result() for f in futures]
        except BaseException:
            stop(futures)
            raise
        finally:
            ex.shutdown(wait=True, cancel_futures=True)

    def track(self, schema: str, table: str) -> None:
        """Remember a table the workers made, to drop it when the command fails."""
        with self._lock:
            self.created.append((schema, table))

    def discard(self) -> None:
        """Cancel what the workers still run and drop every table they made (the command failed), but those a
        committed ``core.layer`` row names (registered by an earlier transaction of the same block)."""
        with self._lock:
            busy = list(self._busy)
        for side in busy:
            with contextlib.suppress(psycopg.Error):
                side.cancel()
        if not self.created:
            return
        with contextlib.suppress(psycopg.Error), self._open() as side:
            side.execute("SET lock_timeout = '10s'")
            for schema, table in reversed(self.created):
                with contextlib.suppress(psycopg.Error):
                    if side.execute("SELECT 1 FROM core.layer WHERE table_schema = %s AND table_name = %s",
                                    (schema, table)).fetchone() is None:
                        side.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                                   sql.Identifier(table)))
        self.created.clear()

    def close(self) -> None:
        for side in self._all:
            with contextlib.suppress(psycopg.Error):
                side.close()
        self._all.clear()


_pools: weakref.WeakKeyDictionary[psycopg.Connection, Pool] = weakref.WeakKeyDictionary()


def current(conn: psycopg.Connection) -> Pool | None:
    """The open pool of ``conn`` when it has more than one worker, else None (the engine then works serially)."""
    pool = _pools.get(conn)
    return pool if pool is not None and pool.size > 1 else None


def size_of(conn: psycopg.Connection) -> int:
    """The number of tile workers of ``conn`` (1 without a pool)."""
    pool = _pools.get(conn)
    return pool.size if pool is not None else 1


@contextlib.contextmanager
def scope(conn: psycopg.Connection, size: int | None = None) -> Iterator[Pool]:
    """Open a pool of tile workers for the commands run on ``conn`` in this block.

    Put it outside the transaction that computes, so that the transaction has rolled back (and released its
    locks) when a failure drops the tables the workers made::

        with workers.scope(conn, n), conn.transaction():
            ...

    Args:
        conn: the command's connection.
        size: the number of workers (None: :func:`resolve_size`'s default, resolved when a kernel first asks).
    Raises:
        InputError: a bad ``size`` (at once) or ``RESTORE_DB_WORKERS`` (when a kernel first asks).
    """
    if conn in _pools:                # nested: the outer block owns the pool
        yield _pools[conn]
        return
    pool = Pool(conn, size if size is not None else env_size())     # a bad variable is refused before any work
    _pools[conn] = pool
    try:
        yield pool
    except BaseException:
        pool.discard()
        raise
    finally:
        _pools.pop(conn, None)
        pool.close()
