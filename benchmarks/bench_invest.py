"""Benchmark against the peer: natcap.invest 3.20.2 and restore-db on the same inputs.

``python benchmarks/bench_invest.py`` (``make bench-invest``, which builds the peer first with
``scripts/setup_invest.sh`` into ``.venv-invest``):

1. makes the inputs: the BTH reference inputs of ``../shared/data/invest/bth_1km_reference``
   (1 km, EPSG:32650, 565 x 732) warped to ``--pixel-size`` (default 125 m: 4520 x 5856 =
   26.5 M cells, 14.0 M of them valid), land use and soil depth by nearest neighbour (classes and
   a class-derived depth), precipitation, ET0 and PAWC bilinearly, written to a temporary folder
   as GeoTIFFs (256 x 256 tiles, deflate, as the reference inputs), with one datastack per model
   (the reference arguments, ``n_workers = -1``) that both tools read;
2. runs, interleaved ``--repeat`` times (InVEST water yield, restore-db water yield, InVEST
   carbon, restore-db carbon, then again):

   * **InVEST**: ``natcap.invest.annual_water_yield.execute`` and ``natcap.invest.carbon.execute``
     in the peer's Python (a subprocess per run, a fresh workspace each time, so its task
     graph reuses nothing), timed around ``execute`` only (imports excluded). InVEST has no load
     step: it reads the GeoTIFFs inside ``execute``, so its load + compute is its execute time.
     Its water yield also writes the watershed table (199 counties as watersheds);
   * **restore-db**, on a throw-away cluster (as ``bench.py``: the embedded cluster's settings, fsync
     on), each run in a study area of its own: *load* = ``import_datastack`` of the model's
     datastack (the rasters the service needs, its parameter table and scalars, the watersheds)
     plus the counties as boundaries (so the run computes county sums, the counterpart of InVEST's
     watershed table), committed; *compute* = ``compute_services`` of that one service, supply side
     (everything it computes for it: county raster, the per-pixel kernel, county sums), committed;

3. checks per-pixel parity on the fly: wyield (mm) and carbon storage (Mg C per pixel) of restore-db
   against InVEST's own output rasters, aligned by georeference (InVEST trims its border): valid
   pixels that differ, maximum absolute and relative difference, and pixels outside float32
   tolerance (|ours - invest| > 1e-4 * |invest| + 1e-3);
4. prints seconds (median and best of the repeats), the four ratios InVEST / restore-db (water yield
   compute, water yield load + compute, carbon compute, carbon load + compute; above 1 means
   restore-db is faster), the cores each used (CPU / wall) and peak memory, and writes ``--json``.

Develop at ``--pixel-size 1000`` (the reference grid itself: about a minute); the 125 m run takes
several minutes and both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402 - benchmarks/measure.py
from bench import database  # noqa: E402 - the throw-away cluster of bench.py

from restore_db import __version__, db  # noqa: E402
from restore_db.grid import studyarea  # noqa: E402
from restore_db.load.boundaries import load_boundaries  # noqa: E402
from restore_db.load.invest import import_datastack  # noqa: E402
from restore_db.db import workers  # noqa: E402
from restore_db.stages.services.stage import compute_services  # noqa: E402
from restore_db.store.layers import read_array  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "data" / "invest" / "bth_1km_reference"
INVEST_PYTHON = ROOT / ".venv-invest" / "bin" / "python"
COUNTIES = "counties_as_watersheds_epsg32650.gpkg"

# input file -> resampling from 1 km
RASTERS = {
    "lulc_igbp.tif": Resampling.nearest,
    "precipitation_mm.tif": Resampling.bilinear,
    "eto_mm.tif": Resampling.bilinear,
    "depth_to_root_restricting_layer_mm.tif": Resampling.nearest,
    "pawc_fraction.tif": Resampling.bilinear,
}
TABLES = ("awy_biophysical_table.csv", "carbon_pools.csv", COUNTIES)
# service -> model, InVEST module, compute_services keywords, output compared, InVEST's output file
SERVICES = {
    "water": {"model": "annual_water_yield", "module": "natcap.invest.annual_water_yield",
              "compute": {"params": "awy_biophysical", "scalars": "invest_annual_water_yield"},
              "layer": "wyield", "invest_output": ("output/per_pixel/wyield.tif", "output/per_pixel/wyield_.tif")},
    "carbon": {"model": "carbon", "module": "natcap.invest.carbon",
               "compute": {"params": "carbon_pools"},
               "layer": "c_storage", "invest_output": ("c_storage_bas.tif", "c_storage_bas_.tif")},
}
RTOL, ATOL = 1e-4, 1e-3     # float32 tolerance of the parity check

# Run in the peer's Python: execute(args) timed alone, with its CPU time and peak memory.
RUNNER = r"""
import importlib, json, sys, time
spec = json.loads(sys.argv[1])
t0 = time.perf_counter()
model = importlib.import_module(spec["module"])
if not hasattr(model, "execute"):   # a package holding the module of the same name
    model = importlib.import_module(spec["module"] + "." + spec["module"].rsplit(".", 1)[1])
imported = time.perf_counter() - t0
import natcap.invest
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
c0, t0 = time.process_time(), time.perf_counter()
model.execute(spec["args"])
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print("\n" + json.dumps({"seconds": wall, "cpu": cpu, "peak": hwm(), "import_seconds": imported,
                         "version": natcap.invest.__version__}))
"""


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def make_inputs(reference: Path, pixel: float, folder: Path, console: Console) -> dict:
    """The reference inputs at ``pixel`` metres in ``folder``, and one datastack per model; their figures."""
    t0 = time.perf_counter()
    inputs = folder / "inputs"
    inputs.mkdir(parents=True)
    with rasterio.open(reference / "inputs" / "lulc_igbp.tif") as src:
        left, top = src.transform.c, src.transform.f
        width = round(src.width * src.res[0] / pixel)
        height = round(src.height * src.res[1] / pixel)
        crs = src.crs
    transform = rasterio.Affine(pixel, 0, left, 0, -pixel, top)
    valid = None
    for name, resampling in RASTERS.items():
        with rasterio.open(reference / "inputs" / name) as src:
            out = np.full((height, width), src.nodata, dtype=src.dtypes[0])
            reproject(rasterio.band(src, 1), out, dst_transform=transform, dst_crs=crs, dst_nodata=src.nodata,
                      resampling=resampling, num_threads=2)
            profile = {"driver": "GTiff", "dtype": src.dtypes[0], "nodata": src.nodata, "width": width,
                       "height": height, "count": 1, "crs": crs, "transform": transform, "tiled": True,
                       "blockxsize": 256, "blockysize": 256, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        with rasterio.open(inputs / name, "w", **profile) as dst:
            dst.write(out, 1)
        if name == "lulc_igbp.tif":
            valid = int((out != profile["nodata"]).sum())
    for name in TABLES:
        shutil.copy(reference / "inputs" / name, inputs / name)
    for model in ("annual_water_yield", "carbon"):
        doc = json.loads((reference / f"{model}_datastack.json").read_text())
        doc["args"]["n_workers"] = -1
        (folder / f"{model}_datastack.json").write_text(json.dumps(doc, indent=2))
    if (left / pixel) % 1 or (top / pixel) % 1:
        # restore-db's study grid starts at multiples of its pixel size (Grid.covering): on another origin it
        # resamples the inputs half a pixel away from InVEST's grid, and per-pixel parity is lost
        console.print(f"[yellow]the grid's origin ({left:g}, {top:g}) is not a multiple of {pixel:g} m[/]: restore-db "
                      "shifts its grid to one, so the per-pixel parity with InVEST does not hold at this size")
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in inputs.iterdir())
    console.print(f"inputs at {pixel:g} m: {width} x {height} = {width * height:,} cells ({valid:,} valid land-use "
                  f"cells), {size / 2**20:,.0f} MiB of GeoTIFF, made in {seconds:.1f} s")
    return {"width": width, "height": height, "cells": width * height, "valid_cells": valid,
            "bytes": size, "seconds": seconds}


def invest_args(folder: Path, model: str, workspace: Path) -> dict:
    """The datastack's arguments with absolute paths and ``workspace_dir``."""
    args = json.loads((folder / f"{model}_datastack.json").read_text())["args"]
    out = {k: str(folder / v) if isinstance(v, str) and v.startswith("inputs/") else v for k, v in args.items()}
    return out | {"workspace_dir": str(workspace)}


# ---------------------------------------------------------------------------
# the two tools
# ---------------------------------------------------------------------------

def run_invest(python: Path, folder: Path, service: str, workspace: Path) -> dict:
    spec = SERVICES[service]
    payload = json.dumps({"module": spec["module"], "args": invest_args(folder, spec["model"], workspace)})
    proc = subprocess.run([str(python), "-c", RUNNER, payload], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"InVEST {spec['model']} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    output = next((workspace / p for p in spec["invest_output"] if (workspace / p).exists()), None)
    if output is None:
        raise RuntimeError(f"InVEST {spec['model']}: none of {spec['invest_output']} in {workspace}")
    result["output"] = str(output)
    result["cores"] = result["cpu"] / result["seconds"]
    return result


WORKERS: list[int | None] = [None]      # --workers


def run_restore_db(url: str, logfile, folder: Path, service: str, name: str) -> tuple[dict, np.ndarray, object]:
    """Load (datastack + counties) and compute ``service`` in study area ``name``; (figures, output, grid)."""
    spec = SERVICES[service]
    with db.connect(url) as conn:
        meter = measure.Meter(conn, logfile)
        s0 = meter.sample()
        import_datastack(conn, folder / f"{spec['model']}_datastack.json", name)
        area = studyarea.get(conn, name)
        load_boundaries(conn, area, folder / "inputs" / COUNTIES, "county", code_field="ws_id",
                        name_field="district_name")
        conn.commit()
        s1 = meter.sample()
        with workers.scope(conn, WORKERS[0]):     # tile workers, as the CLI opens them (default: the cores)
            run_id, results = compute_services(conn, area, [service], label="bench-invest", sides=("supply",),
                                               **spec["compute"])
        t_commit = time.perf_counter()
        conn.commit()
        s2 = meter.sample()
        commit = time.perf_counter() - t_commit
        out = read_array(conn, area, spec["layer"], run_id)
        conn.rollback()
    load, compute = meter.between(s0, s1), meter.between(s1, s2)
    steps = [s.as_dict() for r in results for s in r.steps]
    return ({"load": load, "compute": compute, "commit_seconds": commit, "steps": steps,
             "load_seconds": load["wall"], "compute_seconds": compute["wall"]}, out, area.grid)


def parity(ours: np.ndarray, grid, invest_file: str) -> dict:
    """restore-db's layer against InVEST's raster, aligned by georeference."""
    with rasterio.open(invest_file) as src:
        ref = src.read(1).astype(np.float64)
        if src.nodata is not None:
            ref[ref == src.nodata] = np.nan
        col0 = round((src.transform.c - grid.origin_x) / grid.pixel_size)
        row0 = round((grid.origin_y - src.transform.f) / grid.pixel_size)
    window = ours[row0:row0 + ref.shape[0], col0:col0 + ref.shape[1]]
    a, b = ~np.isnan(window), ~np.isnan(ref)
    both = a & b
    diff = np.abs(window[both] - ref[both])
    rel = diff / np.maximum(np.abs(ref[both]), 1e-6)
    outside = int((diff > ATOL + RTOL * np.abs(ref[both])).sum())
    return {"compared": int(both.sum()), "only_restore_db": int((a & ~b).sum()), "only_invest": int((b & ~a).sum()),
            "max_abs": float(diff.max()) if diff.size else 0.0, "max_rel": float(rel.max()) if rel.size else 0.0,
            "outside_tolerance": outside, "tolerance": f"|d| <= {RTOL:g} * |invest| + {ATOL:g}",
            "ok": outside == 0 and not (a ^ b).any()}


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _stat(values: list[float], how: str) -> float:
    return min(values) if how == "best" else statistics.median(values)


def figures(runs: list[dict], how: str) -> dict:
    """{service: {invest, compute, load, load_compute, ratios}} over the repeats (median or best)."""
    out = {}
    for service in SERVICES:
        inv = [r[service]["invest"]["seconds"] for r in runs]
        comp = [r[service]["restore_db"]["compute_seconds"] for r in runs]
        load = [r[service]["restore_db"]["load_seconds"] for r in runs]
        both = [c + l for c, l in zip(comp, load)]
        f = {"invest": _stat(inv, how), "compute": _stat(comp, how), "load": _stat(load, how),
             "load_compute": _stat(both, how)}
        f["ratio_compute"] = f["invest"] / f["compute"]
        f["ratio_load_compute"] = f["invest"] / f["load_compute"]
        out[service] = f
    return out


def main_table(stats: dict, how: str, repeat: int, cells: int) -> Table:
    table = Table(title=f"InVEST 3.20.2 / restore-db, {cells:,} cells, {how} of {repeat} (seconds; ratio > 1: "
                        "restore-db faster)", title_justify="left")
    for col, just in (("service", "left"), ("InVEST execute", "right"), ("restore-db load", "right"),
                      ("restore-db compute", "right"), ("restore-db load + compute", "right"),
                      ("compute ratio", "right"), ("load + compute ratio", "right")):
        table.add_column(col, justify=just)
    for service, f in stats.items():
        table.add_row("water yield" if service == "water" else service, f"{f['invest']:.2f}", f"{f['load']:.2f}",
                      f"{f['compute']:.2f}", f"{f['load_compute']:.2f}", f"{f['ratio_compute']:.2f}",
                      f"{f['ratio_load_compute']:.2f}")
    return table


def detail_table(runs: list[dict], cells: int) -> Table:
    table = Table(title="every run: seconds, cores used (CPU / wall), peak memory (MiB), temp files",
                  title_justify="left")
    for col in ("run", "service", "InVEST s", "cores", "peak", "load s", "cores", "compute s", "cores",
                "peak srv / cli", "B/cell", "temp files"):
        table.add_column(col, justify="left" if col in ("run", "service") else "right")
    for i, r in enumerate(runs, 1):
        for service in SERVICES:
            inv, rdb = r[service]["invest"], r[service]["restore_db"]
            c = rdb["compute"]
            temp = "?" if c["temp_files"] is None else str(c["temp_files"] + (rdb["load"]["temp_files"] or 0))
            table.add_row(str(i), service, f"{inv['seconds']:.2f}", f"{inv['cores']:.2f}", measure.mib(inv["peak"]),
                          f"{rdb['load_seconds']:.2f}", f"{rdb['load']['cores']:.2f}",
                          f"{rdb['compute_seconds']:.2f}", f"{c['cores']:.2f}",
                          f"{measure.mib(c['backend_peak']) or '?'} / {measure.mib(c['client_peak'])}",
                          f"{max(c['backend_peak'] or 0, c['client_peak']) / cells:,.1f}", temp)
    return table


def parity_table(runs: list[dict]) -> Table:
    table = Table(title=f"per-pixel parity with InVEST (last run; tolerance |d| <= {RTOL:g}·|InVEST| + {ATOL:g})",
                  title_justify="left")
    for col in ("output", "pixels compared", "valid only in one", "max |d|", "max |d| / |InVEST|",
                "outside tolerance", "ok"):
        table.add_column(col, justify="left" if col == "output" else "right")
    for service in SERVICES:
        p = runs[-1][service]["parity"]
        unit = "mm" if service == "water" else "Mg C"
        table.add_row(f"{SERVICES[service]['layer']} ({unit})", f"{p['compared']:,}",
                      f"{p['only_restore_db']} / {p['only_invest']}", f"{p['max_abs']:.3g}", f"{p['max_rel']:.3g}",
                      f"{p['outside_tolerance']:,}", "yes" if p["ok"] else "[red]NO[/]")
    return table


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_invest.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--pixel-size", type=float, default=125.0, help="pixel size of the inputs in metres (default 125)")
    p.add_argument("--repeat", type=int, default=1, help="interleaved runs of each tool (default 1)")
    p.add_argument("--stat", choices=("median", "best"), default="median", help="over the repeats (default median)")
    p.add_argument("--invest-python", type=Path, default=INVEST_PYTHON,
                   help="Python of the natcap.invest venv (default .venv-invest/bin/python; scripts/setup_invest.sh)")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="the BTH 1 km reference run (its inputs/)")
    p.add_argument("--url", help="restore-db on this server instead of a throw-away cluster")
    p.add_argument("--workers", type=int, default=None,
                   help="restore-db's tile workers (default: the server's cores, as the CLI; 1: serial)")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    p.add_argument("--keep", type=Path, help="make the inputs in this folder and keep them (default: a temporary one)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if not args.invest_python.exists():
        p.error(f"no {args.invest_python}: run scripts/setup_invest.sh (make bench-invest does) first")
    if not (args.reference / "inputs").is_dir():
        p.error(f"no reference inputs in {args.reference}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    WORKERS[0] = args.workers
    console = Console() if sys.stdout.isatty() else Console(width=150)
    report: dict = {"pixel_size": args.pixel_size, "repeat": args.repeat, "stat": args.stat,
                    "order": "per repeat: InVEST water yield, restore-db water, InVEST carbon, restore-db carbon",
                    "environment": {"restore_db": __version__, "python": platform.python_version(),
                                    "cpus": os.cpu_count()},
                    "runs": []}
    folder = args.keep or Path(tempfile.mkdtemp(prefix="restore-db-bench-invest-"))
    try:
        if args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        report["inputs"] = make_inputs(args.reference, args.pixel_size, folder, console)
        cells = report["inputs"]["cells"]
        with database(args.url, True, console) as (url, where, logfile):
            report["database"] = where
            db.prepare(url)                 # the schema at head (not timed)
            tag = f"{args.pixel_size:g}".replace(".", "_")
            for i in range(args.repeat):
                run = {}
                for service in SERVICES:
                    workspace = folder / f"invest_{service}_{i}"
                    inv = run_invest(args.invest_python, folder, service, workspace)
                    report["environment"]["natcap.invest"] = inv["version"]
                    console.print(f"run {i + 1}, {service}: InVEST execute {inv['seconds']:.2f} s "
                                  f"({inv['cores']:.2f} cores, peak {measure.mib(inv['peak'])} MiB)")
                    rdb, ours, grid = run_restore_db(url, logfile, folder, service, f"invest_{service}_{tag}_{i}")
                    steps = ", ".join(f"{s['step']} {s['seconds']:.2f} s" for s in rdb["steps"])
                    console.print(f"run {i + 1}, {service}: restore-db load {rdb['load_seconds']:.2f} s, "
                                  f"compute {rdb['compute_seconds']:.2f} s ({steps}; commit "
                                  f"{rdb['commit_seconds']:.2f} s)")
                    par = parity(ours, grid, inv["output"])
                    console.print(f"run {i + 1}, {service}: parity of {par['compared']:,} pixels: max |d| "
                                  f"{par['max_abs']:.3g}, max relative {par['max_rel']:.3g}, "
                                  f"{par['outside_tolerance']} outside tolerance, valid in one only "
                                  f"{par['only_restore_db']} / {par['only_invest']}")
                    del ours
                    shutil.rmtree(workspace, ignore_errors=True)
                    run[service] = {"invest": inv, "restore_db": rdb, "parity": par}
                report["runs"].append(run)
                if args.json:       # the runs so far, should a long run be interrupted
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    stats = figures(report["runs"], args.stat)
    report["figures"] = stats
    report["figures_other"] = figures(report["runs"], "best" if args.stat == "median" else "median")
    inp = report["inputs"]
    console.print(f"\nBTH at {args.pixel_size:g} m: {inp['width']} x {inp['height']} = {cells:,} cells "
                  f"({inp['valid_cells']:,} valid), {report['database']}, "
                  f"natcap.invest {report['environment'].get('natcap.invest')} (n_workers = -1), restore-db engine "
                  + "/".join(sorted({st.get("engine", "?") for r in report["runs"] for v in r.values()
                                     for st in v["restore_db"]["steps"] if " -> " in st["step"]})))
    console.print(main_table(stats, args.stat, args.repeat, cells))
    console.print("InVEST has no load step: it reads the GeoTIFFs inside execute, so its load + compute is its "
                  "execute time. restore-db load = import_datastack + the counties; compute = compute_services "
                  "(supply) + commit.")
    console.print(detail_table(report["runs"], cells))
    console.print(parity_table(report["runs"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"figures written to {args.json}")
    return 0 if all(r[s]["parity"]["ok"] for r in report["runs"] for s in SERVICES) else 1


if __name__ == "__main__":
    sys.exit(main())
