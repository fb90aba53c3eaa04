"""Benchmarks: the five services end to end, against the numpy floor.

``python benchmarks/bench.py`` (``make bench``):

1. starts a private throw-away PostgreSQL cluster in a temporary folder, with
   the embedded cluster's settings (so benchmarks never touch user data), or
   uses ``--url`` when given;
2. generates the demo region at ``--pixel-size`` into study area
   ``bench<pixel>``, prints the load time, and vacuums the layer tables (the
   first scan of new tiles would otherwise set their hint bits inside the
   first run measured);
3. runs :func:`restore_db.stages.services.stage.compute_services` with each engine asked
   for and prints every step: cells, seconds, M cells/s; service totals and
   the grand total. Every run is rolled back once measured, so each one does
   the same work (a committed run would let the next one reuse its flow
   accumulation) and nothing piles up; commits are not measured. Per step it
   also prints (:mod:`measure`, helpers reading ``/proc``): the cores used
   (CPU seconds of this client and of the server's processes over the wall
   time), the peak resident set of the connection's backend and of the
   client, bytes per cell (the larger peak / cells), and the temporary files
   the server wrote (logged with ``log_temp_files = 0`` on the throw-away
   cluster; ``pg_stat_database.temp_files`` / ``temp_bytes`` are compared per
   run, as a backend publishes them only when idle outside a transaction);
4. times the numpy floor: each tile kernel of the run called in memory on the
   same input arrays (read once with :func:`restore_db.store.layers.read_array`) and
   the same parameters, on the engine's own blocks (the 256 x 256 tiles where
   every input has data, in ``CHUNK_ROWS``-row blocks for pixel-wise kernels
   as :class:`restore_db.kernels.tiles.TileRunner` does), best of 3 or more;
   the ratio end-to-end / floor is what decoding, encoding, I/O and TOAST cost;
5. writes every figure to ``--json``.

A benchmark is not a test: nothing here asserts timings. A service whose run
fails (e.g. soil while :mod:`restore_db.stages.services.terrain` does not exist) is reported
and left out; the other services still run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from psycopg import sql
from rich.console import Console
from rich.table import Table

from restore_db import __version__, db
from restore_db.load import demo
from restore_db.grid import studyarea
from restore_db.db.cluster import Cluster
from restore_db.stages.services.stage import compute_services, schedule
from restore_db.grid.engine import choose_backend, server_backend
from restore_db.store.layers import read_array
from restore_db.kernels import catalog, tiles
from restore_db.stages.services.common import COUNTY_STEP, Context, GridStep, Plan
from restore_db.stages.services.registry import SERVICES
from restore_db.grid import counties

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402 - benchmarks/measure.py, beside this file

ENGINES = ("auto", "server", "client", "both")


# ---------------------------------------------------------------------------
# the database
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def database(url: str | None, fsync: bool, console: Console):
    """(url, description, server log) of the server to use: ``url``, else a throw-away cluster destroyed afterwards
    (which logs its temporary files: ``log_temp_files = 0``)."""
    if url:
        yield url, "server given by --url", None
        return
    home = Path(tempfile.mkdtemp(prefix="restore-db-bench-"))
    os.chmod(home, 0o755)                      # the server user (postgres, when we are root) must reach it
    cluster = Cluster(home / "state", throwaway=not fsync)
    try:
        t0 = time.perf_counter()
        cluster.start()
        db.ensure_database(cluster.url("postgres"), "restore")
        with db.connect(cluster.url("postgres"), autocommit=True) as conn:
            measure.log_temp_files(conn)
        console.print(f"throw-away cluster in {home} ({'fsync on' if fsync else 'fsync off'}), "
                      f"started in {time.perf_counter() - t0:.1f} s")
        yield (cluster.url("restore"), f"throw-away cluster ({'fsync on' if fsync else 'fsync off'})",
               cluster.logfile)
    finally:
        cluster.destroy()
        shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------

def load_demo(url: str, name: str, pixel_size: float, workdir: Path, console: Console) -> dict:
    log: list[str] = []

    def say(msg: str) -> None:
        log.append(msg)
        console.print("  " + msg)

    t0 = time.perf_counter()
    summary = demo.run(name=name, pixel_size=pixel_size, workdir=workdir, replace=True, log=say, url=url)
    seconds = time.perf_counter() - t0
    console.print(f"demo {name!r} generated and loaded in [bold]{seconds:.1f} s[/]: {summary}")
    # The first scan of freshly loaded tiles sets the hint bits of every TOAST tuple (and so rewrites the
    # pages); VACUUM does it once here, so the first engine measured does not pay for it alone.
    t1 = time.perf_counter()
    with db.connect(url, autocommit=True) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM core.layer JOIN core.study_area USING"
                              " (study_area_id) WHERE core.study_area.name = %s AND run_id IS NULL", (name,)).fetchall()
        for schema, table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    vacuum = time.perf_counter() - t1
    console.print(f"VACUUM ANALYZE of its {len(tables)} layer tables: {vacuum:.1f} s")
    return {"seconds": round(seconds, 3), "vacuum_seconds": round(vacuum, 3), "summary": summary, "log": log}


def _failed_service(exc: BaseException) -> str | None:
    """The service whose module the failure happened in (deepest frame), if any."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("restore_db.stages.services.") and module.rsplit(".", 1)[1] in SERVICES:
            found = module.rsplit(".", 1)[1]
        tb = tb.tb_next
    return found


def run_once(conn, area, services: list[str], engine: str, failed: dict, console: Console,
             meter: measure.Meter | None = None) -> dict | None:
    """One compute_services run, left uncommitted; a failing service is dropped (into ``failed``), the run retried.

    With ``meter``, every step also gets its ``measure`` (cores, peaks, temp files; :mod:`measure`)."""
    while services:
        steps = measure.StepMeter(meter) if meter else None
        t0 = time.perf_counter()
        try:
            with steps.watch(area.grid.cells) if steps else contextlib.nullcontext():
                run_id, results = compute_services(conn, area, services, label="bench", engine=engine,
                                                   progress=steps)
        except Exception as exc:   # noqa: BLE001 - reported, and the bench goes on
            conn.rollback()
            culprit = _failed_service(exc)
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if culprit not in services:
                console.print(f"[red]run with engine {engine} failed[/] ({message}); skipping this engine")
                failed[f"engine {engine}"] = message + "\n" + "".join(traceback.format_exception(exc)[-3:])
                return None
            console.print(f"[yellow]{culprit} failed[/] with engine {engine}: {message}; "
                          "going on without it")
            failed[culprit] = message
            services.remove(culprit)
            continue
        wall = time.perf_counter() - t0
        figures = steps.figures if steps else {}
        out = {"run_id": run_id, "wall": wall, "services": {r.service: r.seconds for r in results},
               "steps": [s.as_dict() | {"seconds": s.seconds} for r in results for s in r.steps]}
        for step in out["steps"]:
            step["measure"] = figures.get(measure.step_key(step["step"], step["service"]))
        if figures:
            out["measure"] = figures["_run"]
        return out
    return None


def _blocks(grid, arrays: dict[str, np.ndarray], halo: bool) -> tuple[list[dict[str, np.ndarray]], int]:
    """The engine's blocks and their cells: tiles where every input has data, in CHUNK_ROWS rows unless focal."""
    chunk = getattr(tiles, "CHUNK_ROWS", None) or grid.tile_size
    if halo:
        (arg, arr), = arrays.items()
        padded = np.pad(arr, 1, constant_values=np.nan)
    out, cells = [], 0
    for t in grid.tiles():
        cut = {k: v[t.row0:t.row0 + t.height, t.col0:t.col0 + t.width] for k, v in arrays.items()}
        if not all(np.isfinite(v).any() for v in cut.values()):
            continue                                    # the tile is not stored in some input
        cells += t.height * t.width
        if halo:
            out.append({arg: padded[t.row0:t.row0 + t.height + 2, t.col0:t.col0 + t.width + 2].copy()})
            continue
        cut = {k: np.ascontiguousarray(v) for k, v in cut.items()}
        out += [{k: v[r:r + chunk] for k, v in cut.items()} for r in range(0, t.height, chunk)]
    return out, cells


def _layer_run(conn, area, layer: str, run_id: int) -> int:
    """The run holding computed layer ``layer``: ``run_id``, or the earlier run it was reused from."""
    (found,) = conn.execute("SELECT max(run_id) FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id"
                            " <= %s", (area.study_area_id, layer, run_id)).fetchone()
    return found or run_id


def numpy_floor(conn, area, run_id: int, services: list[str], backend: str, repeat: int,
                console: Console) -> dict:
    """{step label: kernel, cells, seconds[]} of every tile kernel of the run, computed in memory."""
    ctx = Context(conn, area)
    ctx.backend = backend
    ctx.membership = counties.rasterize(conn, area)    # what the county raster step gives the allocation steps
    plans = {name: SERVICES[name].plan(ctx) for name in services}
    produced: set[str] = set()
    arrays: dict[tuple, np.ndarray] = {}
    out = {}
    t_read = 0.0
    for item in schedule({"_county": Plan([COUNTY_STEP], [], {}), **plans}):
        step = item.step
        if isinstance(step, GridStep):
            produced.update(step.outputs)
            continue
        label = f"{step.kernel} -> " + "+".join(o.name for o in step.outputs)
        params = step.params(ctx, run_id) if callable(step.params) else step.params
        inputs = {}
        for arg, layer in step.inputs.items():
            key = (layer, _layer_run(conn, area, layer, run_id) if layer in produced else None)
            if key not in arrays:
                t0 = time.perf_counter()
                arrays[key] = read_array(conn, area, *key)
                t_read += time.perf_counter() - t0
            inputs[arg] = arrays[key]
        blocks, cells = _blocks(area.grid, inputs, step.halo)
        fn = catalog.KERNELS[step.kernel]
        seconds = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for block in blocks:
                fn(block, params)
            seconds.append(time.perf_counter() - t0)
        out[label] = {"kernel": step.kernel, "cells": int(cells), "seconds": seconds}
        produced.update(o.name for o in step.outputs)
    console.print(f"numpy floor: {len(arrays)} layers read with read_array in {t_read:.1f} s, "
                  f"{len(out)} kernels timed ({repeat}x)")
    return out


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------

def _med(values) -> float:
    return statistics.median(values) if values else float("nan")


def _med_measure(figures: list[dict | None]) -> dict | None:
    """Median of every figure of :meth:`measure.Meter.between` over runs (None when not measured)."""
    figures = [f for f in figures if f]
    if not figures:
        return None
    out = {}
    for key, value in figures[0].items():
        values = [f[key] for f in figures if isinstance(f.get(key), (int, float)) and not isinstance(f[key], bool)]
        out[key] = _med(values) if values and not isinstance(value, bool) else value
    return out


def summarise(runs: list[dict]) -> dict:
    """Median over repeated runs: per step (in the first run's order), per service, totals."""
    first = runs[0]
    steps = []
    same = [r for r in runs if len(r["steps"]) == len(first["steps"])]
    for i, s in enumerate(first["steps"]):
        secs = [r["steps"][i]["seconds"] for r in same]
        steps.append({**s, "seconds": _med(secs), "all_seconds": secs,
                      "measure": _med_measure([r["steps"][i].get("measure") for r in same])})
    return {"steps": steps,
            "services": {n: _med([r["services"][n] for r in runs]) for n in first["services"]},
            "total": _med([sum(r["services"].values()) for r in runs]),
            "wall": _med([r["wall"] for r in runs]),
            "measure": _med_measure([r.get("measure") for r in runs]),
            "pg_stat_temp": [r.get("pg_stat_temp") for r in runs]}


def _measure_cells(m: dict | None) -> list[str]:
    """The cells of the measure columns: cores, peak MiB backend / client, B/cell, temp files."""
    if not m:
        return ["", "", "", ""]
    cores = "" if m.get("cores") is None or m["wall"] < 0.01 else f"{m['cores']:.2f}"
    peaks = f"{measure.mib(m.get('backend_peak')) or '?'} / {measure.mib(m.get('client_peak'))}"
    per_cell = "" if m.get("bytes_per_cell") is None else f"{m['bytes_per_cell']:,.0f}"
    if m.get("temp_files") is None:
        temp = "?"
    else:
        temp = "0" if not m["temp_files"] else f"{int(m['temp_files'])}: {m['temp_bytes'] / 2**20:,.0f} MiB"
    return [cores, peaks, per_cell, temp]


def step_table(engine: str, summary: dict, floor: dict, repeat: int) -> Table:
    note = f", median of {repeat}" if repeat > 1 else ""
    table = Table(title=f"compute_services, engine {engine}{note}", title_justify="left")
    for col, just in (("service", "left"), ("step", "left"), ("cells", "right"), ("s", "right"),
                      ("M cells/s", "right"), ("engine", "left"), ("numpy s", "right"), ("× floor", "right"),
                      ("cores", "right"), ("peak MiB srv / cli", "right"), ("B/cell", "right"),
                      ("temp files", "right")):
        table.add_column(col, justify=just)
    by_service: dict[str, list] = {}
    for s in summary["steps"]:
        by_service.setdefault(s["service"], []).append(s)
    for service, steps in by_service.items():
        for s in steps:
            f = floor.get(s["step"])
            f_s = min(f["seconds"]) if f else None
            ratio = s["seconds"] / f_s if f_s else None
            rate = f"{s['cells'] / s['seconds'] / 1e6:.1f}" if s["cells"] and s["seconds"] >= 0.001 else ""
            table.add_row(service, s["step"], f"{s['cells']:,}" if s["cells"] else "", f"{s['seconds']:.3f}", rate,
                          s["engine"], f"{f_s:.3f}" if f else "",
                          "" if ratio is None else f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×",
                          *_measure_cells(s.get("measure")))
        table.add_row(f"[bold]{service}[/]", "[bold]total[/]", "", f"[bold]{summary['services'][service]:.2f}[/]",
                      "", "", "", "", "", "", "", "", end_section=True)
    n = len(summary["services"])
    table.add_row("[bold]all[/]", f"[bold]grand total, {n} service{'s' if n != 1 else ''}[/]", "",
                  f"[bold]{summary['total']:.2f}[/]", "", "", "", "", "", "", "", "")
    table.add_row("", "compute_services call (with planning)", "", f"{summary['wall']:.2f}", "", "", "", "",
                  *_measure_cells(summary.get("measure")))
    return table


def compare_table(summaries: dict[str, dict]) -> Table:
    engines = list(summaries)
    table = Table(title="engines compared (seconds)", title_justify="left")
    table.add_column("service")
    for e in engines:
        table.add_column(e, justify="right")
    table.add_column(f"{engines[1]} / {engines[0]}", justify="right")
    names = [n for n in summaries[engines[0]]["services"] if all(n in s["services"] for s in summaries.values())]
    rows = [(n, [summaries[e]["services"][n] for e in engines]) for n in names]
    rows.append(("grand total", [summaries[e]["total"] for e in engines]))
    for name, secs in rows:
        table.add_row(name, *(f"{s:.2f}" for s in secs), f"{secs[1] / secs[0]:.2f}" if secs[0] else "")
    return table


def environment(conn) -> dict:
    pg = conn.execute("SELECT current_setting('server_version'), postgis_lib_version()").fetchone()
    ok, why = server_backend(conn)
    conn.rollback()
    return {"restore_db": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "cpus": os.cpu_count(), "machine": platform.machine(), "postgresql": pg[0], "postgis": pg[1],
            "plpython": why}


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def warm_up_imports() -> None:
    """Import what the grid steps import lazily, so the first engine measured does not pay for it."""
    import rasterio.features  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import shapely.wkb  # noqa: F401

    with contextlib.suppress(ImportError):
        import restore_db.stages.services.terrain


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--pixel-size", type=float, default=250.0, help="demo pixel size in metres (default 250)")
    p.add_argument("--engine", choices=ENGINES, default="auto", help="tile engine; 'both' runs server and client")
    p.add_argument("--services", default="all", help=f"comma-separated, or 'all' ({','.join(SERVICES)})")
    p.add_argument("--repeat", type=int, default=1, help="runs per engine; medians are reported (default 1)")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    p.add_argument("--url", help="benchmark on this server instead of a throw-away cluster "
                                 "(study area bench<pixel> is replaced there)")
    p.add_argument("--no-fsync", action="store_true",
                   help="throw-away cluster with fsync off (default: the embedded cluster's settings)")
    args = p.parse_args(argv)
    args.services = list(SERVICES) if args.services == "all" else [s.strip() for s in args.services.split(",") if s]
    unknown = [s for s in args.services if s not in SERVICES]
    if unknown or not args.services:
        p.error(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    name = f"bench{args.pixel_size:g}".replace(".", "_")
    report: dict = {"pixel_size": args.pixel_size, "study_area": name, "engine": args.engine,
                    "services": list(args.services), "repeat": args.repeat, "failed": {}, "engines": {}}
    with database(args.url, not args.no_fsync, console) as (url, where, logfile), \
            tempfile.TemporaryDirectory(prefix="restore-db-bench-files-") as files:
        report["database"] = where
        report["demo"] = load_demo(url, name, args.pixel_size, Path(files), console)
        with db.connect(url) as conn, db.connect(url, autocommit=True) as monitor:
            meter = measure.Meter(conn, logfile)
            report["measure"] = {"server_local": meter.server_local, "peak_reset": meter.peak_reset,
                                 "server_log": str(logfile) if meter.logfile else None}
            if not meter.server_local:
                console.print("[yellow]the server's processes are not readable here[/]: cores and peaks are the "
                              "client's only")
            report["environment"] = environment(conn)
            env = report["environment"]
            console.print(f"{env['cpus']} CPUs, PostgreSQL {env['postgresql'].split()[0]}, PostGIS {env['postgis']}, "
                          f"client numpy {env['numpy']}, PL/Python: {env['plpython']}")
            warm_up_imports()
            area = studyarea.get(conn, name)
            conn.rollback()
            report["cells"] = area.grid.cells
            engines = ["server", "client"] if args.engine == "both" else [args.engine]
            services = list(args.services)
            floor = None
            for engine in engines:
                try:
                    backend = choose_backend(conn, engine)
                except Exception as exc:   # noqa: BLE001 - e.g. no PL/Python: report, go on
                    conn.rollback()
                    console.print(f"[red]engine {engine} unavailable[/]: {exc}")
                    report["failed"][f"engine {engine}"] = str(exc)
                    continue
                conn.rollback()
                runs = []
                for _ in range(args.repeat):
                    stat0 = measure.settled_temp_stats(monitor, wait=0)
                    run = run_once(conn, area, services, engine, report["failed"], console, meter)
                    if run is None:
                        break
                    runs.append(run)
                    if floor is None:   # in the first run's transaction, which holds its computed layers
                        floor = {}
                        try:
                            floor = numpy_floor(conn, area, run["run_id"], services, backend, max(3, args.repeat),
                                                console)
                        except Exception as exc:   # noqa: BLE001 - the end-to-end figures are still worth printing
                            console.print(f"[red]numpy floor failed[/]: {type(exc).__name__}: {exc}")
                            report["failed"]["numpy floor"] = f"{type(exc).__name__}: {exc}"
                    conn.rollback()     # every run does the same work (nothing reused) and nothing piles up
                    stat1 = measure.settled_temp_stats(monitor, stat0)   # published once the backend is idle
                    run["pg_stat_temp"] = {"temp_files": stat1[0] - stat0[0], "temp_bytes": stat1[1] - stat0[1]}
                if runs:
                    report["engines"][backend if engine == "auto" else engine] = {"runs": runs,
                                                                                  "summary": summarise(runs)}
            floor = floor or {}
            report["numpy_floor"] = {k: {**v, "best": min(v["seconds"])} for k, v in floor.items()}
            for data in report["engines"].values():
                for step in data["summary"]["steps"]:
                    if step["step"] in floor:
                        step["numpy_seconds"] = report["numpy_floor"][step["step"]]["best"]
                        step["x_floor"] = step["seconds"] / step["numpy_seconds"]
    report["numpy_floor_blocks"] = (f"engine tiles ({area.grid.tile_size}x{area.grid.tile_size}) where every input "
                                    f"has data, {getattr(tiles, 'CHUNK_ROWS', area.grid.tile_size)}-row blocks "
                                    "(focal kernels: whole tiles with a 1-pixel halo), best of 3 or more")

    console.print(f"\n[bold]{name}[/]: {report['cells']:,} cells, demo load {report['demo']['seconds']:.1f} s, "
                  f"{report['database']}\nnumpy floor: kernels alone in memory on the {report['numpy_floor_blocks']}")
    for engine, data in report["engines"].items():
        console.print(step_table(engine, data["summary"], floor, args.repeat))
        stats = [p for p in data["summary"]["pg_stat_temp"] if p]
        if stats:
            console.print("pg_stat_database, temp files of each run (the first one includes the numpy floor's "
                          "reads): " + ", ".join(f"{p['temp_files']} ({p['temp_bytes'] / 2**20:,.0f} MiB)"
                                                 for p in stats))
    console.print("cores: CPU seconds of this client and the server's processes / wall time; peak MiB: VmHWM of "
                  "the connection's backend (shared buffers it touched included) and of this client"
                  + ("" if report["measure"]["peak_reset"] else " since they started (the peaks could not be reset)")
                  + "; B/cell: the larger peak / cells; temp files: those the server logged (log_temp_files = 0)")
    if len(report["engines"]) == 2:
        console.print(compare_table({e: d["summary"] for e, d in report["engines"].items()}))
    for what, message in report["failed"].items():
        console.print(f"[yellow]not benchmarked[/]: {what}: {message.splitlines()[0]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
