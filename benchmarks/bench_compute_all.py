"""`compute all` as a user runs it, at several pixel sizes: time per cell, cores used, peak memory, temp files.

``python benchmarks/bench_compute_all.py --pixel-sizes 1000 250 125 --config 250=benchmarks/pattern_1km_at_250m.toml
125=benchmarks/pattern_1km_at_125m.toml`` (``make bench-scale``; the configurations keep the pattern on a 1 km
corridor grid, as a planner would for a fine grid):

1. starts a throw-away cluster (as ``bench.py`` does, with ``log_temp_files = 0``), or uses ``--url``;
2. per pixel size, generates and loads the demo region (timed, with the generator's peak memory), then runs
   ``restore-db compute all --no-report --steps`` in a child process, ``--workers`` as given (default: the
   server's cores), and a second time with ``--force`` (the first run pays numba's one-off compilation when its
   cache is empty; the second is the one reported);
3. while the command runs, samples every postgres process of the cluster each 0.1 s: the peak of the private
   memory (``RssAnon``) of any backend, and the server's CPU time (live processes plus the postmaster's reaped
   children); the client's peak resident set and CPU come from ``wait4``;
4. prints per run: cells, seconds, µs per cell, cores used = (client CPU + server CPU) / wall, client peak and
   bytes per cell, backend peak, and the temporary files the server logged; ``--json`` keeps them.

With ``--prune N`` it then makes N more forced runs at the last pixel size and prints the database size before
and after ``restore-db runs prune --keep 1 --yes``.

A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from bench import database  # noqa: E402

from restore_db import db  # noqa: E402

CLI = [sys.executable, "-c", "from restore_db.cli import main; main()"]


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.0f} MiB"


def rss_anon(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class ServerWatch:
    """Samples the cluster's processes while a command runs: CPU seconds and the largest private memory."""

    def __init__(self, postmaster: int | None):
        self.postmaster = postmaster
        self.peak_anon = 0
        self.cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self) -> float:
        if self.postmaster is None:
            return 0.0
        total = measure.proc_cpu(self.postmaster, children=True) or 0.0
        for pid in measure.children_of(self.postmaster):
            total += measure.proc_cpu(pid) or 0.0
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            if self.postmaster is None:
                continue
            for pid in measure.children_of(self.postmaster):
                self.peak_anon = max(self.peak_anon, rss_anon(pid))

    def __enter__(self):
        self.cpu0 = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu = self._cpu() - self.cpu0


def temp_lines(logfile: Path | None, start: int) -> tuple[int, int]:
    """(files, bytes) of the temporary files logged after byte ``start`` of the server log."""
    if logfile is None or not logfile.exists():
        return 0, 0
    with open(logfile, "rb") as fh:
        fh.seek(start)
        sizes = [int(m.group(1)) for m in measure.TEMP_LINE.finditer(fh.read())]
    return len(sizes), sum(sizes)


def run_cli(url: str, home: Path, args: list[str], postmaster: int | None, logfile: Path | None) -> dict:
    env = {**os.environ, "RESTORE_DB_URL": url, "RESTORE_DB_HOME": str(home)}
    log_start = logfile.stat().st_size if logfile is not None and logfile.exists() else 0
    t0 = time.perf_counter()
    with ServerWatch(postmaster) as watch:
        proc = subprocess.Popen(CLI + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"restore-db {' '.join(args)} failed ({proc.returncode}):\n{err}")
    files, size = temp_lines(logfile, log_start)
    client_cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": wall, "client_cpu": client_cpu, "server_cpu": watch.cpu,
            "cores": (client_cpu + watch.cpu) / wall if wall else None,
            "client_peak": usage.ru_maxrss * 1024, "backend_peak_anon": watch.peak_anon,
            "temp_files": files, "temp_bytes": size, "stderr": err, "stdout": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pixel-sizes", type=float, nargs="+", default=[1000.0, 250.0])
    ap.add_argument("--workers", type=int, default=None, help="--workers of compute all (default: its own)")
    ap.add_argument("--url", default=None)
    ap.add_argument("--prune", type=int, default=0, help="forced runs before a prune, at the last pixel size")
    ap.add_argument("--json", default=None)
    ap.add_argument("--steps", action="store_true", help="print compute all's --steps output")
    ap.add_argument("--once", action="store_true", help="one run per pixel size (numba's cache already warm)")
    ap.add_argument("--config", nargs="*", default=[], metavar="PIXEL=FILE",
                    help="--config of compute all at a pixel size, e.g. 125=pattern_1km.toml")
    opts = ap.parse_args()
    console = Console(width=200)
    figures = []
    workers = [] if opts.workers is None else ["--workers", str(opts.workers)]
    with database(opts.url, fsync=False, console=console) as (url, what, logfile):
        with db.connect(url, autocommit=True) as conn:
            pid = measure.backend_pid(conn)
            postmaster = measure.parent_pid(pid) if measure.vm_hwm(pid) is not None else None
        home = Path(tempfile.mkdtemp(prefix="restore-db-bench-home-"))
        console.print(f"server: {what}; cores here: {os.cpu_count()}")
        name = ""
        for pixel in opts.pixel_sizes:
            name = f"scale{int(pixel)}"
            t0 = time.perf_counter()
            gen = subprocess.run(CLI + ["demo", "--replace", "--name", name, "--pixel-size", f"{pixel:g}",
                                        "--workdir", str(home / "demo")],
                                 env={**os.environ, "RESTORE_DB_URL": url, "RESTORE_DB_HOME": str(home)},
                                 capture_output=True, text=True)
            if gen.returncode:
                raise SystemExit(gen.stderr)
            load_seconds = time.perf_counter() - t0
            with db.connect(url) as conn:
                cells = conn.execute("SELECT width::bigint * height FROM core.study_area WHERE name = %s",
                                     (name,)).fetchone()[0]
            console.print(f"[bold]{pixel:g} m[/]: {cells:,} cells; demo generated and loaded in {load_seconds:.1f} s")
            runs = []
            configs = dict(item.split("=", 1) for item in opts.config)
            config = configs.get(f"{pixel:g}")
            extra = ["--config", config] if config else []
            for force in ([[]] if opts.once else [[], ["--force"]]):
                r = run_cli(url, home, ["compute", "all", "-a", name, "--no-report", "--steps", *workers, *extra,
                                        *force], postmaster, logfile)
                r["config"] = config
                r.update(pixel=pixel, cells=cells, force=bool(force))
                runs.append(r)
                console.print(
                    f"  compute all{' --force' if force else '        '}{' --config ' + config if config else ''}: {r['seconds']:7.1f} s  "
                    f"{r['seconds'] / cells * 1e6:5.2f} µs/cell  {r['cores']:.2f} cores  "
                    f"client peak {mib(r['client_peak'])} ({r['client_peak'] / cells:.0f} B/cell)  "
                    f"backend peak {mib(r['backend_peak_anon'])} private  "
                    f"temp files {r['temp_files']} ({mib(r['temp_bytes'])})", highlight=False)
            if opts.steps:
                console.print(runs[-1]["stderr"], highlight=False, markup=False)
            for r in runs:
                r.pop("stdout")
                r.pop("stderr")
            figures.extend(runs)
        if opts.prune:
            with db.connect(url, autocommit=True) as conn:
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            console.print(f"before {opts.prune} more forced runs of {name}: database {mib(size)}")
            for _ in range(opts.prune):
                run_cli(url, home, ["compute", "all", "-a", name, "--no-report", "--force", *workers], postmaster,
                        logfile)
            with db.connect(url, autocommit=True) as conn:
                before = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            r = run_cli(url, home, ["runs", "prune", "-a", name, "--keep", "1", "--yes"], postmaster, logfile)
            with db.connect(url, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
                after = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            console.print(f"after {opts.prune} more forced runs: database {mib(before)}; after "
                          f"`runs prune --keep 1`: {mib(after)} ({r['seconds']:.1f} s)")
            figures.append({"prune_runs": opts.prune, "size_before_prune": before, "size_after_prune": after})
    if opts.json:
        Path(opts.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
