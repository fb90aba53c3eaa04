"""What a benchmark step costs besides seconds: cores, peak memory, temporary files.

Small helpers for ``benchmarks/bench.py`` (and ``bench_invest.py``), Linux only (they read ``/proc``):

* **cores used** = (client CPU + server CPU) / wall time. The client's CPU is
  :func:`time.process_time` (every thread of this process). The server's is read from
  ``/proc/<pid>/stat`` (utime + stime): the connection's backend (``SELECT pg_backend_pid()``)
  and every other process of its cluster (children of the postmaster: parallel workers,
  autovacuum, the WAL writer…), plus the postmaster's cutime + cstime, which holds the CPU of
  children that exited (a parallel worker living within one step);
* **peak memory**: VmHWM of ``/proc/<pid>/status`` of the backend and of this process, reset
  at every measurement by writing ``5`` to ``/proc/<pid>/clear_refs``, so each step has its
  own peak (when the reset is refused, the peak is the process's peak so far, and
  ``peak_reset`` says so). A backend's resident set counts the pages of shared buffers it
  touched;
* **temporary files**: with ``log_temp_files = 0`` (set on the throw-away cluster by
  :func:`log_temp_files`) the server logs ``temporary file: path "…", size N`` as each one is
  removed; the lines written during a step are its temp files. ``pg_stat_database.temp_files``
  / ``temp_bytes`` (:func:`temp_stats`) are read before and after a whole run only: a backend
  publishes its statistics when it goes idle outside a transaction, so within the one
  transaction of a run they do not move.

Server figures need the server on this machine and readable ``/proc`` entries (root, or the
server's OS user); otherwise they are ``None`` and the client's are still given.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
TEMP_LINE = re.compile(rb'temporary file: path ".*?", size (\d+)')


# ---------------------------------------------------------------------------
# /proc readers
# ---------------------------------------------------------------------------

def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def proc_cpu(pid: int | str, children: bool = False) -> float | None:
    """CPU seconds (user + system) of process ``pid``; with ``children``, plus those of its reaped children."""
    f = _stat_fields(pid)
    if f is None:
        return None
    ticks = int(f[11]) + int(f[12])               # utime, stime (fields 14, 15)
    if children:
        ticks += int(f[13]) + int(f[14])          # cutime, cstime
    return ticks / TICK


def parent_pid(pid: int | str) -> int | None:
    f = _stat_fields(pid)
    return int(f[1]) if f else None


def children_of(ppid: int) -> list[int]:
    """The live processes whose parent is ``ppid``."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            f = _stat_fields(entry.name)
            if f is not None and int(f[1]) == ppid:
                out.append(int(entry.name))
    return out


def vm_hwm(pid: int | str = "self") -> int | None:
    """Peak resident set (VmHWM) of ``pid`` in bytes, or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak(pid: int | str = "self") -> bool:
    """Reset VmHWM of ``pid`` to its current resident set (Linux >= 4.0); False when refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def client_peak() -> int:
    """This process's peak resident set in bytes (VmHWM, else ru_maxrss)."""
    return vm_hwm("self") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

def backend_pid(conn) -> int:
    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(pid)


def log_temp_files(conn) -> None:
    """Have the server log every temporary file (``log_temp_files = 0``); needs a superuser."""
    conn.execute("ALTER SYSTEM SET log_temp_files = 0")
    conn.execute("SELECT pg_reload_conf()")


def temp_stats(conn) -> tuple[int, int]:
    """(temp_files, temp_bytes) of the current database in pg_stat_database, as published so far."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT temp_files, temp_bytes FROM pg_stat_database WHERE datname = current_database()"
                       ).fetchone()
    return int(row[0]), int(row[1])


def settled_temp_stats(conn, before: tuple[int, int] | None = None, wait: float = 2.5) -> tuple[int, int]:
    """:func:`temp_stats` once the backends went idle and published theirs (waits until it moves past
    ``before``, at most ``wait`` seconds: a backend publishes at most once a second)."""
    deadline = time.monotonic() + wait
    while True:
        now = temp_stats(conn)
        if (before is not None and now != before) or time.monotonic() >= deadline:
            return now
        time.sleep(0.25)


# ---------------------------------------------------------------------------
# per-step meter
# ---------------------------------------------------------------------------

@dataclass
class Sample:
    wall: float
    client_cpu: float
    server_cpu: float | None
    backend_peak: int | None       # VmHWM since the previous sample (when resets work)
    client_peak: int
    log_offset: int | None


@dataclass
class Meter:
    """Samples of the cluster serving ``conn`` and of this process; :meth:`between` gives a step's figures.

    ``logfile``: the server log (with ``log_temp_files = 0``), to count temp files per step."""

    conn: object
    logfile: Path | None = None
    pid: int | None = field(init=False, default=None)
    postmaster: int | None = field(init=False, default=None)
    peak_reset: bool = field(init=False, default=False)
    _children: list[int] = field(init=False, default_factory=list)
    _refreshed: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        pid = backend_pid(self.conn)
        if not getattr(self.conn, "autocommit", True):
            self.conn.rollback()
        if _stat_fields(pid) is not None and Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres"):
            self.pid = pid
            self.postmaster = parent_pid(pid)
        self.peak_reset = reset_peak("self") and (self.pid is None or reset_peak(self.pid))
        if self.logfile is not None and not os.access(self.logfile, os.R_OK):
            self.logfile = None

    @property
    def server_local(self) -> bool:
        return self.pid is not None

    def _server_cpu(self) -> float | None:
        if self.postmaster is None:
            return None
        now = time.monotonic()
        if now - self._refreshed > 0.5:            # new parallel workers; the exited ones are in the cutime
            self._children = children_of(self.postmaster)
            self._refreshed = now
        total = proc_cpu(self.postmaster, children=True) or 0.0
        for pid in self._children:
            total += proc_cpu(pid) or 0.0
        return total

    def sample(self) -> Sample:
        """The counters now; resets both peaks, so the next sample's peaks are those in between."""
        backend = vm_hwm(self.pid) if self.pid else None
        client = client_peak()
        if self.peak_reset:
            reset_peak("self")
            if self.pid:
                reset_peak(self.pid)
        offset = None
        if self.logfile is not None:
            try:
                offset = self.logfile.stat().st_size
            except OSError:
                offset = None
        return Sample(time.perf_counter(), time.process_time(), self._server_cpu(), backend, client, offset)

    def temp_files(self, start: int | None, end: int | None) -> tuple[int, int] | None:
        """(files, bytes) the server logged between two log offsets."""
        if self.logfile is None or start is None or end is None:
            return None
        with open(self.logfile, "rb") as fh:
            fh.seek(start)
            sizes = [int(m.group(1)) for m in TEMP_LINE.finditer(fh.read(max(0, end - start)))]
        return len(sizes), sum(sizes)

    def between(self, a: Sample, b: Sample, peaks: list[Sample] | None = None, cells: int | None = None) -> dict:
        """Figures of the interval a..b; ``peaks``: every sample after ``a`` up to ``b`` (their peaks)."""
        peaks = peaks or [b]
        wall = b.wall - a.wall
        client = b.client_cpu - a.client_cpu
        server = None if a.server_cpu is None or b.server_cpu is None else b.server_cpu - a.server_cpu
        backend_peak = max((s.backend_peak for s in peaks if s.backend_peak), default=None)
        client_pk = max(s.client_peak for s in peaks)
        temp = self.temp_files(a.log_offset, b.log_offset)
        peak = max(backend_peak or 0, client_pk)
        return {
            "wall": wall, "client_cpu": client, "server_cpu": server,
            "cores": (client + (server or 0.0)) / wall if wall > 0 else None,
            "backend_peak": backend_peak, "client_peak": client_pk, "peak_reset": self.peak_reset,
            "bytes_per_cell": peak / cells if cells else None,
            "temp_files": temp[0] if temp else None, "temp_bytes": temp[1] if temp else None,
        }


class StepMeter:
    """Cuts a compute_services run into its steps: a ``progress`` callback, and :meth:`watch` around the call.

    :meth:`watch` wraps the services stage's ``run_kernel`` and ``county_sums`` for the duration of the
    call (nothing else sees the wrappers), so a kernel step or the county sums of a service are measured
    from their start to their end, whatever they do after their last progress tick (registering the
    layer). A whole-grid step (county raster, flow accumulation, proximity) reports its name once when
    done; it is measured from the end of the previous step (the first one from the start of the call, so
    with the planning). Keys: the progress label of a step (the
    names of a kernel's outputs, or the grid step's name), ``county sums|<service>``, ``_run``."""

    def __init__(self, meter: Meter):
        self.meter = meter
        self.start: Sample | None = None
        self.last: Sample | None = None
        self.figures: dict[str, dict] = {}
        self.cells: int | None = None
        self._inside = 0

    @contextlib.contextmanager
    def watch(self, cells: int):
        from restore_db.stages.services import stage

        self.cells, self.figures, self._inside = cells, {}, 0
        originals = {name: getattr(stage, name) for name in ("run_kernel", "county_sums") if hasattr(stage, name)}

        def timed(name, fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                if name == "run_kernel":
                    outputs = kwargs.get("outputs", args[6] if len(args) > 6 else ())
                    key = "+".join(getattr(o, "name", str(o)) for o in outputs)
                else:
                    key = f"county sums|{kwargs.get('service', args[2] if len(args) > 2 else '')}"
                begin = self.meter.sample()
                self._inside += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    self._inside -= 1
                    end = self.meter.sample()
                    self.figures[key] = self.meter.between(begin, end, [end], self.cells)
                    self.last = end
            return wrapper

        for name, fn in originals.items():
            setattr(stage, name, timed(name, fn))
        self.start = self.last = self.meter.sample()
        try:
            yield self
        finally:
            for name, fn in originals.items():
                setattr(stage, name, fn)
            end = self.meter.sample()
            self.figures["_run"] = self.meter.between(self.start, end, [end], self.cells)

    def __call__(self, label: str, done: int, total: int) -> None:
        if self._inside or label in self.figures or self.last is None:
            return                                  # a kernel's own ticks, or the stage's tick at its end
        now = self.meter.sample()
        self.figures[label] = self.meter.between(self.last, now, [now], self.cells)
        self.last = now


def step_key(step_label: str, service: str = "") -> str:
    """The key of :class:`StepMeter` of a step of compute_services' results ("kernel -> a+b" -> "a+b")."""
    label = step_label.removesuffix(" (reused)")
    if label == "county sums":
        return f"county sums|{service}"
    return label.split(" -> ", 1)[1] if " -> " in label else label


def mib(n: int | None) -> str:
    return "" if n is None else f"{n / 2**20:,.0f}"
