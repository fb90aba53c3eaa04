"""Benchmark of the pattern stage on the real Hunan inputs (../shared/data), at several pixel sizes.

For each pixel size it loads Hunan as the README does (`tests/regions.py`), runs `compute all`, then times
`compute pattern --force` in a process of its own and reports its peak memory (RSS), the time of each step of the
pattern, and what grows from one pixel size to the next. It then measures the cost distance, the search at the heart
of the pattern, in cells per second: restore-db's (``CostGraph``: graph built, MCR and allocation of all sources)
against the library's own speed on the same graph (scipy ``csgraph.dijkstra`` alone, the floor) and against
scikit-image's ``MCP_Geometric`` on the same array.

    python benchmarks/bench_pattern.py [--pixel-sizes 1000 250] [--url URL] [--json FILE]

Benchmarks print figures; correctness is the test suite's business.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from bench import database  # noqa: E402
from regions import hunan_commands  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CHILD = """
import resource, sys, time
from restore_db.cli import app
t0 = time.perf_counter()
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print("RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "SECONDS", time.perf_counter() - t0,
          file=sys.stderr)
"""


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RESTORE_DB_URL": url}
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"restore-db {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def measured(proc: subprocess.CompletedProcess) -> tuple[int, float]:
    line = next(x for x in proc.stderr.splitlines() if x.startswith("RSS_KB"))
    parts = line.split()
    return int(parts[1]) * 1024, float(parts[3])


def cost_distance_speed(url: str, area_name: str, repeat: int) -> dict:
    """Cells per second of the cost distance on the corridor grid of the newest pattern run's inputs."""
    from skimage.graph import MCP_Geometric
    from scipy.sparse.csgraph import dijkstra

    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.stages import settings
    from restore_db.stages.pattern import compose, cost
    from restore_db.stages.pattern import stage as pattern_stage

    cfg = settings.load()["pattern"]
    with db.connect(url) as conn:
        area = studyarea.get(conn, area_name)
        (services,) = conn.execute("SELECT services_run_id FROM bi.current_run WHERE study_area = %s",
                                   (area_name,)).fetchone()
        inputs = pattern_stage._prepare(conn, area, {**cfg, "mspa": "erosion"}, services, "igbp_lulc", None)
    r, labels, _, cell = compose.find_sources(inputs.resistance, inputs.importance, inputs.foreground,
                                              area.grid.pixel_size, inputs.settings)
    cells = int(np.isfinite(r).sum())
    starts = np.flatnonzero(labels.ravel() > 0)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    graph = cost.CostGraph(r, cell)
    ours = best(lambda: cost.CostGraph(r, cell).allocation(labels))
    floor = best(lambda: dijkstra(graph.matrix, indices=starts, min_only=True, return_predecessors=True))
    costs = np.where(np.isfinite(r), r, np.inf)
    points = [tuple(p) for p in np.argwhere(labels > 0)]
    mcp = best(lambda: MCP_Geometric(costs, fully_connected=True, sampling=(cell, cell)).find_costs(points))
    return {"cells": cells, "restore_db_s": ours, "scipy_floor_s": floor, "skimage_mcp_s": mcp,
            "graph_bytes": int(graph.matrix.data.nbytes + graph.matrix.indices.nbytes + graph.matrix.indptr.nbytes)}


def circuit_scaling(url: str, area_name: str, factors=(4, 2, 1), shares=(0.25, 0.5, 1.0),
                    max_nodes: int = 1_500_000) -> list[dict]:
    """Time of the sources' current map (the circuit step's global part) on the corridor grid coarsened by each
    factor (grids above ``max_nodes`` passable cells, beyond the direct solver's default, are skipped): the circuit
    and its factorisation once, then one solve per source and the current of each pair, for a share of the adjacent
    pairs; cg+amg on the finest grid measured on its first four pairs. Memory: the entries the solver holds (the
    factors, or the multigrid hierarchy)."""
    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.stages import settings
    from restore_db.stages.pattern import circuit as cc
    from restore_db.stages.pattern import compose, cost
    from restore_db.stages.pattern import resistance as resist
    from restore_db.stages.pattern import stage as pattern_stage

    cfg = settings.load()["pattern"]
    with db.connect(url) as conn:
        area = studyarea.get(conn, area_name)
        (services,) = conn.execute("SELECT services_run_id FROM bi.current_run WHERE study_area = %s",
                                   (area_name,)).fetchone()
        inputs = pattern_stage._prepare(conn, area, {**cfg, "mspa": "erosion"}, services, "igbp_lulc", None)
    r, labels, _, cell = compose.find_sources(inputs.resistance, inputs.importance, inputs.foreground,
                                              area.grid.pixel_size, inputs.settings)
    mcr, alloc = cost.CostGraph(r, cell).allocation(labels)
    pairs_all = sorted(cost.boundary_lcd(mcr, alloc, r, cell))
    out = []
    usable = [f for f in factors if np.isfinite(resist.aggregate(r, f) if f > 1 else r).sum() <= max_nodes]
    for f in usable:
        coarse_r = resist.aggregate(r, f) if f > 1 else r
        coarse = compose.coarse_labels(labels, f)
        for solver in ("direct", "cg+amg"):
            if solver == "cg+amg" and f != min(usable):
                continue
            t0 = time.perf_counter()
            circuit = cc.Circuit(coarse_r, coarse, cc.CircuitSettings(solver=solver, direct_max_nodes=max_nodes))
            node = {}
            for k in np.unique(coarse[coarse > 0]):
                cells = circuit.nodemap[(coarse == k) & (circuit.nodemap >= 0)]
                if len(cells):
                    node[int(k)] = int(cells[0])
            circuit.prepare(list(node.values()))      # build the solver once: its time is the setup's
            setup = time.perf_counter() - t0
            ids = sorted(node)
            index = {k: i for i, k in enumerate(ids)}
            pairs = [(index[a], index[b]) for a, b in pairs_all if a in node and b in node]
            for share in shares if solver == "direct" else (None,):
                chosen = pairs[:max(1, int(round(share * len(pairs))))] if share else pairs[:4]
                t0 = time.perf_counter()
                cc.pairwise(circuit, [node[k] for k in ids], chosen)
                seconds = time.perf_counter() - t0
                out.append({"factor": f, "cell_m": cell * f, "nodes": circuit.n, "solver": solver,
                            "sources": len({k for p in chosen for k in p}), "pairs": len(chosen),
                            "setup_s": round(setup, 2), "pairs_s": round(seconds, 2),
                            "solver_entries": circuit.solver_entries})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pixel-sizes", type=float, nargs="+", default=[1000.0, 250.0])
    parser.add_argument("--url", help="a PostGIS server (default: a throw-away cluster)")
    parser.add_argument("--repeat", type=int, default=3, help="cost-distance repetitions (best kept)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if not DATA.is_dir():
        console.print(f"no shared data at {DATA}: the pattern benchmark needs the Hunan inputs")
        return 2
    rows = []
    with database(args.url, False, console) as (url, where):
        console.print(f"database: {where}")
        for pixel in args.pixel_sizes:
            name = f"hunan_{int(pixel)}"
            with tempfile.TemporaryDirectory() as work:
                t0 = time.perf_counter()
                for command in hunan_commands(DATA, Path(work), pixel, name=name):
                    cli(url, *command)
                load = time.perf_counter() - t0
            _, compute_all = measured(cli(url, "compute", "all", "-a", name))
            rss, seconds = measured(cli(url, "compute", "pattern", "-a", name, "--force"))
            from restore_db import db

            with db.connect(url) as conn:
                (timings,) = conn.execute("""SELECT timings FROM core.run r JOIN core.study_area a USING
                                             (study_area_id) WHERE a.name = %s AND r.stage = 'pattern'
                                             ORDER BY run_id DESC LIMIT 1""", (name,)).fetchone()
                (width, height) = conn.execute("SELECT width, height FROM core.study_area WHERE name = %s",
                                               (name,)).fetchone()
            summary = timings["summary"]
            speed = cost_distance_speed(url, name, args.repeat)
            scaling = circuit_scaling(url, name)
            rows.append({"pixel_m": pixel, "cells": width * height, "load_s": round(load, 1),
                         "compute_all_s": round(compute_all, 1), "pattern_process_s": round(seconds, 1),
                         "pattern_run_s": timings["seconds"], "steps_s": timings.get("steps", {}),
                         "peak_rss_bytes": rss, "sources": summary["sources"], "corridors": summary["corridors"],
                         "important": summary["important_corridors"], "cost_distance": speed,
                         "circuit": summary.get("circuit"), "circuit_scaling": scaling})
            console.print(f"{name}: {rows[-1]}")

    table = Table(title="Pattern stage on Hunan (restore-db compute pattern --force, own process)")
    for col in ("pixel", "cells", "sources", "corridors", "run s", "steps s", "peak RSS", "compute all s"):
        table.add_column(col, justify="right")
    for row in rows:
        steps = ", ".join(f"{k} {v:g}" for k, v in row["steps_s"].items())
        table.add_row(f"{row['pixel_m']:g} m", f"{row['cells']:,}", str(row["sources"]),
                      f"{row['corridors']} ({row['important']})", f"{row['pattern_run_s']:.1f}", steps,
                      f"{row['peak_rss_bytes'] / 2**20:,.0f} MiB", f"{row['compute_all_s']:.1f}")
    console.print(table)
    speed = Table(title="Cost distance (MCR and allocation of all sources), cells per second, best of "
                        f"{args.repeat}")
    for col in ("pixel", "passable cells", "restore-db (graph + search)", "scipy dijkstra alone (floor)",
                "skimage MCP_Geometric", "graph bytes/cell"):
        speed.add_column(col, justify="right")
    for row in rows:
        c = row["cost_distance"]
        speed.add_row(f"{row['pixel_m']:g} m", f"{c['cells']:,}", f"{c['cells'] / c['restore_db_s']:,.0f}",
                      f"{c['cells'] / c['scipy_floor_s']:,.0f}", f"{c['cells'] / c['skimage_mcp_s']:,.0f}",
                      f"{c['graph_bytes'] / c['cells']:.0f}")
    console.print(speed)
    circuit = Table(title="Circuit step inside the pattern run (compute pattern --force)")
    for col in ("pixel", "circuit s", "solver", "current map cell", "pinch areas", "barrier areas", "segments",
                "tasks (joint)"):
        circuit.add_column(col, justify="right")
    for row in rows:
        c = row["circuit"] or {}
        circuit.add_row(f"{row['pixel_m']:g} m", f"{row['steps_s'].get('circuit', 0):.1f}", str(c.get("solver")),
                        f"{c.get('current_cell_m', 0):g} m", str(c.get("pinch_areas")), str(c.get("barrier_areas")),
                        str(c.get("segments")), f"{c.get('tasks')} ({c.get('joint_tasks')})")
    console.print(circuit)
    grow = Table(title="The sources' current map by cells and pairs: setup (circuit and factorisation or multigrid), "
                       "then a solve per source and the current of each pair")
    for col in ("pixel", "map cell", "nodes", "solver", "setup s", "sources", "pairs", "pairs s", "solver entries",
                "bytes/node"):
        grow.add_column(col, justify="right")
    for row in rows:
        for g in row["circuit_scaling"]:
            grow.add_row(f"{row['pixel_m']:g} m", f"{g['cell_m']:g} m", f"{g['nodes']:,}", g["solver"],
                         f"{g['setup_s']:.2f}", str(g["sources"]), str(g["pairs"]), f"{g['pairs_s']:.2f}",
                         f"{g['solver_entries']:,}", f"{12 * g['solver_entries'] / g['nodes']:.0f}")
    console.print(grow)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = b["cells"] / a["cells"]
        per_cell = (b["peak_rss_bytes"] - a["peak_rss_bytes"]) / (b["cells"] - a["cells"])
        console.print(f"from {a['pixel_m']:g} m to {b['pixel_m']:g} m: cells x{growth:.1f}, pattern run time "
                      f"x{b['pattern_run_s'] / a['pattern_run_s']:.1f}, peak RSS x{b['peak_rss_bytes'] / a['peak_rss_bytes']:.1f}"
                      f"; memory per extra cell {per_cell:.0f} bytes (peak RSS difference / cell difference)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
