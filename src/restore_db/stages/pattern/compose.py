"""The ecological security pattern of one grid, from arrays to sources, corridors, nodes and network measures
(docs/models/pattern.md#the-pattern-of-a-grid). The pattern stage reads the arrays from the database and writes this
result back; everything here is arrays in, arrays and records out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from restore_db.stages.pattern import barriers as barrier_score
from restore_db.stages.pattern import circuit as cc
from restore_db.stages.pattern import cost, network, nodes, pinch, resistance as resist, sources as src, tasks


@dataclass(frozen=True)
class CircuitStep:
    """The circuit-theory step of the pattern (docs/models/pattern.md#circuit-theory).

    circuit: how the grid becomes a circuit and how it is solved.
    mode: ``pairwise`` (1 A between the two sources of each corridor) or ``all_to_one`` (each source in turn the
        ground, every other source injecting 1 A) for the cumulative current map.
    factor: the current map's grid is this many corridor cells per side; 0: the smallest factor whose grid holds at
        most ``max_cells`` passable cells.
    pinch_min_current: a corridor cell carrying at least this share of its pair's 1 A is a pinch cell.
    pinch_degraded: the resistance a pinch is degraded to, to measure what protecting it keeps.
    barrier_diameters_m: window diameters of the barrier score (m).
    restored: resistance of restored land (barrier windows, corridor segments).
    barrier_min_share: cells whose best window shortens their corridor by at least this share of its LCD make the
        barrier areas.
    segment_resistance: least-cost-path cells at least this resistant make the corridor segments to restore.
    """

    circuit: cc.CircuitSettings = cc.CircuitSettings()
    mode: str = "pairwise"
    factor: int = 0
    max_cells: int = 1_000_000
    pinch_min_current: float = 0.5
    pinch_degraded: float = 100.0
    barrier_diameters_m: tuple[float, ...] = (2000.0, 4000.0)
    restored: float = 1.0
    barrier_min_share: float = 0.05
    segment_resistance: float = 50.0


@dataclass(frozen=True)
class PatternSettings:
    """The choices of the pattern (the ``[pattern]`` settings).

    corridor_factor: the corridor grid is this many study cells per side (integer >= 1).
    importance_share: the most important cells hold this share of the total importance (0..1].
    edge_width_m: MSPA edge width in metres (at least one cell).
    min_source_area_m2: smallest source patch kept.
    corridor_width: corridor cells have NLCC <= this fraction of the pair's LCD.
    barrier_resistance: path cells of at least this resistance are barrier nodes.
    d50: distance (cost-weighted metres) at which the probability of dispersal is 0.5, for dPC; None: the median LCD.
    max_lcd: pairs with a larger LCD get no corridor (None: no cap).
    important_method, important_gravity: how important corridors are told from general ones
        (:func:`network.important_corridors`).
    core_method: the MSPA Core of :func:`sources.core` (erosion, mspa or auto).
    processes: processes for the sources' searches (:func:`cost.bounded_searches`).
    circuit: the circuit-theory step (:class:`CircuitStep`), or None to leave it out.
    source_rule: ``top_share`` (the cells holding ``importance_share`` of the total) or ``natural_breaks`` (the
        ``top_classes`` highest of five Fisher–Jenks classes of the importance).
    min_dpc, max_sources: keep the sources of dPC (%) at least ``min_dpc`` and at most the ``max_sources`` of highest
        dPC (0: no limit); the pattern is then made again over the sources kept.
    """

    corridor_factor: int = 1
    importance_share: float = 0.3
    edge_width_m: float = 1000.0
    min_source_area_m2: float = 0.0
    corridor_width: float = 0.1
    barrier_resistance: float = 100.0
    d50: float | None = None
    max_lcd: float | None = None
    important_method: str = "natural_breaks"
    important_gravity: float = 0.0
    core_method: str = "erosion"
    processes: int = 1
    min_dpc: float = 0.0
    max_sources: int = 0
    source_rule: str = "top_share"
    top_classes: int = 1
    circuit: CircuitStep | None = None


@dataclass
class Corridor:
    """A least-cost corridor between sources a and b: its path, LCD (cost-weighted metres), length (m), ratios and
    importance (gravity G)."""

    a: int
    b: int
    path: cost.LeastCostPath
    euclidean_m: float
    gravity: float = math.nan
    important: bool = False
    effective_resistance: float = math.nan     # Ω between the two sources, over the whole grid
    corridor_resistance: float = math.nan      # Ω through the corridor truncated at its cutoff
    current_mean: float = math.nan             # A along the path (pairwise: the pair's 1 A; all-to-one: cumulative)
    current_peak: float = math.nan

    @property
    def cwd_to_euc_ratio(self) -> float:
        return self.path.lcd / self.euclidean_m if self.euclidean_m > 0 else math.nan


@dataclass
class PatternResult:
    """Arrays on the corridor grid ((h, w), cell ``cell`` m) and the records of the pattern."""

    cell: float
    resistance: np.ndarray          # float32, +inf impassable
    sources: np.ndarray             # int32 source ids, 0 elsewhere
    source_area_m2: dict[int, float]
    source_resistance: dict[int, float]
    mcr: np.ndarray                 # float64 cost-weighted metres from the nearest source
    allocation: np.ndarray          # int32 cheapest source of each cell
    corridor: np.ndarray            # float64 NLCC mosaic (minimum over pairs), inf outside every corridor
    corridor_owner: np.ndarray     # int32 corridor number (1-based) of the minimum NLCC, 0 outside
    corridors: list[Corridor] = field(default_factory=list)
    nodes: list[nodes.Node] = field(default_factory=list)
    pc: float = math.nan
    dpc: dict[int, float] = field(default_factory=dict)
    iic: float = math.nan
    diic: dict[int, float] = field(default_factory=dict)
    dropped: int = 0                # candidate sources left out by min_dpc / max_sources
    indices: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)     # time of each step
    # the circuit step (empty when it is left out)
    current: np.ndarray | None = None           # float64 cumulative current (A), NaN where impassable
    current_factor: int = 1                     # the current map's cell is this many corridor cells per side
    current_solver: str = ""
    corridor_current: np.ndarray | None = None  # float64 current of the corridors' own circuits (maximum), NaN outside
    barrier: np.ndarray | None = None           # float64 best improvement per metre of window (ΔLCD / D), 0: none
    pinches: list[pinch.Pinch] = field(default_factory=list)
    tasks: list[tasks.Task] = field(default_factory=list)
    circuit_warnings: list[str] = field(default_factory=list)


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the finite cells of each factor × factor block (NaN when none); edge blocks are smaller."""
    v = np.asarray(values, dtype=np.float64)
    if factor == 1:
        return v
    h, w = v.shape
    hb, wb = -(-h // factor), -(-w // factor)
    padded = np.full((hb * factor, wb * factor), np.nan)
    padded[:h, :w] = v
    blocks = padded.reshape(hb, factor, wb, factor).swapaxes(1, 2).reshape(hb, wb, -1)
    n = np.isfinite(blocks).sum(axis=-1)
    total = np.where(np.isfinite(blocks), blocks, 0.0).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _intersection(p: tuple[slice, slice], q: tuple[slice, slice]) -> tuple[slice, slice]:
    return tuple(slice(max(x.start, y.start), min(x.stop, y.stop)) for x, y in zip(p, q))


def _within(inner: tuple[slice, slice], outer: tuple[slice, slice]) -> tuple[slice, slice]:
    """``inner`` in the coordinates of the array cut by ``outer``."""
    return tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer))


def find_sources(resistance: np.ndarray, importance: np.ndarray, foreground: np.ndarray, cell: float,
                 settings: PatternSettings = PatternSettings()) -> tuple[np.ndarray, np.ndarray, list[float], float]:
    """The corridor grid and the ecological sources on it: the first steps of :func:`compose`.

    Resistance is aggregated by :func:`resistance.aggregate`, importance by block mean, the foreground is the blocks
    at least half foreground; sources = patches of (MSPA Core ∩ the most important cells ∩ passable cells) of at
    least the minimum area.

    Args:
        resistance, importance, foreground, cell, settings: as :func:`compose`.
    Returns:
        (resistance on the corridor grid (h, w) float32 with +inf impassable, source labels (h, w) int32 numbered by
        decreasing area, their areas in m² (index k - 1 for source k), the corridor-grid cell in m).
    Raises:
        ValueError: shapes that differ, or settings outside their ranges.
    Source: docs/models/pattern.md#ecological-sources.
    """
    if not np.shape(resistance) == np.shape(importance) == np.shape(foreground):
        raise ValueError("resistance, importance and foreground differ in shape")
    f = int(settings.corridor_factor)
    grid_cell = cell * f
    r = resist.aggregate(resistance, f)
    imp = block_mean(importance, f)
    fg = block_mean(np.asarray(foreground, dtype=np.float64), f) >= 0.5
    edge = max(1, math.floor(settings.edge_width_m / grid_cell + 0.5))    # half a cell rounds up
    if settings.source_rule == "natural_breaks":
        important = src.top_classes(imp, 5, settings.top_classes)
    else:
        important = src.top_share(imp, settings.importance_share)
    candidate = src.core(fg, edge, settings.core_method) & important & np.isfinite(r)
    labels, areas = src.patches(candidate, grid_cell ** 2, settings.min_source_area_m2)
    return r, labels, areas, grid_cell


def compose(resistance: np.ndarray, importance: np.ndarray, foreground: np.ndarray, cell: float,
            settings: PatternSettings = PatternSettings(), keep: set[int] | None = None) -> PatternResult:
    """The pattern of one grid.

    Steps: aggregate to the corridor grid (resistance by :func:`resistance.aggregate`, importance by block mean, the
    foreground where at least half the block is foreground); sources = patches of (MSPA Core ∩ the most important
    cells) of at least the minimum area; MCR and cost allocation from all sources; a least-cost corridor for every
    pair of adjacent sources (below ``max_lcd``); NLCC corridors; gravity, PC/dPC, IIC/dIIC, nodes and α/β/γ. When
    ``min_dpc`` or ``max_sources`` leave sources out, the pattern is made again over the sources kept (Conefor's
    practice: rank the candidate patches by dPC, keep the important ones).

    Args:
        resistance: (H, W) finished resistance (:func:`resistance.finish`), study grid.
        importance: (H, W) ecosystem-service importance 0..1 (:func:`sources.importance`), NaN nodata.
        foreground: (H, W) bool natural land.
        cell: study cell size (m).
        settings: the :class:`PatternSettings`.
        keep: the candidate sources to keep (their numbers among all candidates), for the second making.
    Raises:
        ValueError: shapes that differ, or settings outside their ranges.
    Source: docs/models/pattern.md#the-pattern-of-a-grid.
    """
    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def tick(step: str) -> None:
        now = time.perf_counter()
        seconds[step] = round(seconds.get(step, 0.0) + now - clock[0], 3)
        clock[0] = now

    r, labels, areas, grid_cell = find_sources(resistance, importance, foreground, cell, settings)
    if keep is not None:        # renumber the sources kept 1..m, in their order (decreasing area)
        kept = sorted(keep)
        remap = np.zeros(len(areas) + 1, dtype=np.int32)
        remap[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
        labels, areas = remap[labels], [areas[k - 1] for k in kept]
    tick("sources")
    ids = list(range(1, len(areas) + 1))
    area = dict(zip(ids, areas))
    mean_r = {k: float(np.mean(r[labels == k])) for k in ids}
    empty = PatternResult(grid_cell, r, labels, area, mean_r, np.full(r.shape, np.inf), np.zeros(r.shape, np.int32),
                          np.full(r.shape, np.inf), np.zeros(r.shape, np.int32),
                          indices=network.network_indices(0, len(ids)))
    if not ids:
        return empty
    # MCR and allocation of all sources in one search; each pair's cost across the boundary of the two zones bounds
    # its LCD from above: a source's own MCR is needed only up to (1 + corridor_width) x the largest bound of its
    # pairs (paths and corridor cells lie below it), so each source's search stops there
    graph = cost.CostGraph(r, grid_cell)
    mcr, alloc = graph.allocation(labels)
    result = PatternResult(grid_cell, r, labels, area, mean_r, mcr, alloc, np.full(r.shape, np.inf),
                           np.zeros(r.shape, dtype=np.int32))
    bounds = cost.boundary_lcd(mcr, alloc, r, grid_cell)
    result.seconds = seconds
    tick("mcr_allocation")
    pairs = sorted(bounds)
    reach = {k: (1.0 + settings.corridor_width) * max(u for p, u in bounds.items() if k in p)
             for k in {k for p in pairs for k in p}}
    last_use = {k: i for i, p in enumerate(pairs) for k in p}
    first_use = list(dict.fromkeys(k for p in pairs for k in p))
    cells_of = dict(zip(ids, ndimage.find_objects(labels)))     # bounding boxes of the sources
    windows: dict[int, tuple[slice, slice]] = {}
    cwd: dict[int, np.ndarray] = {}     # float64 MCR of a source over its window, dropped after its last pair
    searches = cost.bounded_searches(graph, labels, reach, first_use, processes=settings.processes)

    def own(k: int) -> np.ndarray:
        while k not in cwd:     # the searches come in order of first use; each stops at reach[k], cut to its box
            got, box, values = next(searches)
            windows[got] = (slice(box[0], box[1]), slice(box[2], box[3]))
            cwd[got] = values
        return cwd[k]

    centroids = {k: np.argwhere(labels[cells_of[k]] == k).mean(axis=0) + [cells_of[k][0].start, cells_of[k][1].start]
                 for k in ids}
    # the circuit step runs on the pattern that is kept: not on a first making that min_dpc / max_sources redo
    step = settings.circuit if len(ids) >= 2 and (keep is not None or not (settings.min_dpc > 0
                                                                           or settings.max_sources > 0)) else None
    if step is not None:
        flows = _CorridorWork(r.shape, step)
    try:
        for i, (a, b) in enumerate(pairs):
            cwd_a, cwd_b = own(a), own(b)
            both = _intersection(windows[a], windows[b])
            wa, wb = _within(both, windows[a]), _within(both, windows[b])
            box_b, corner = cells_of[b], np.array([both[0].start, both[1].start])
            size = np.array([both[0].stop, both[1].stop]) - corner
            target = np.argwhere(labels[box_b] == b) + [box_b[0].start, box_b[1].start] - corner
            target = target[((target >= 0) & (target < size)).all(axis=1)]     # b's cells in the window
            path = cost.least_cost_path(r[both], labels[both], a, b, grid_cell, cwd_a=cwd_a[wa], target=target)
            if path is not None and not (settings.max_lcd is not None and path.lcd > settings.max_lcd):
                path = cost.LeastCostPath(a, b, path.cells + corner, path.lcd, path.length_m)
                euclid = float(np.hypot(*(centroids[a] - centroids[b])) * grid_cell)
                result.corridors.append(Corridor(a, b, path, euclid))
                nlcc = np.maximum(cost.nlcc(cwd_a[wa], cwd_b[wb], path.lcd), 0.0)
                here, owner = result.corridor[both], result.corridor_owner[both]
                lower = (nlcc <= settings.corridor_width * path.lcd) & (nlcc < here)
                here[lower] = nlcc[lower]
                owner[lower] = len(result.corridors)
                if step is not None:
                    flows.corridor(r, labels, both, corner, cwd_a[wa], cwd_b[wb], nlcc, settings.corridor_width,
                                   result.corridors[-1], len(result.corridors), grid_cell)
            for k in (a, b):
                if last_use[k] == i:
                    del cwd[k]
    finally:
        searches.close()     # stops the workers on an error too
    tick("corridors")
    if step is not None:        # the circuit's work inside the corridor loop counts as the circuit's
        seconds["corridors"] = round(seconds["corridors"] - flows.seconds, 3)
        seconds["circuit"] = round(flows.seconds, 3)
        flows.finish(result, r, labels, ids, grid_cell)
        tick("circuit")
    if result.corridors:
        lcd_max = max(c.path.lcd for c in result.corridors)
        for c in result.corridors:
            c.gravity = network.gravity(area[c.a], area[c.b], mean_r[c.a], mean_r[c.b], c.path.lcd, lcd_max)
        important = network.important_corridors([c.gravity for c in result.corridors], settings.important_method,
                                                settings.important_gravity)
        for c, flag in zip(result.corridors, important):
            c.important = bool(flag)
    lcds = [c.path.lcd for c in result.corridors if c.path.lcd > 0]
    d50 = settings.d50 if settings.d50 is not None else (float(np.median(lcds)) if lcds else 1.0)
    landscape = float(np.isfinite(r).sum()) * grid_cell ** 2
    result.pc, result.dpc = network.probability_connectivity(
        area, {(c.a, c.b): c.path.lcd for c in result.corridors}, d50, landscape)
    if keep is None and (settings.min_dpc > 0 or settings.max_sources > 0):
        ranked = sorted(ids, key=lambda k: (-result.dpc[k], k))
        chosen = {k for k in ranked if result.dpc[k] >= settings.min_dpc}
        if settings.max_sources > 0:
            chosen &= set(ranked[:settings.max_sources])
        if len(chosen) < len(ids) or step is None and settings.circuit is not None:   # again, with the circuit
            again = compose(resistance, importance, foreground, cell, settings, keep=chosen)
            again.dropped = len(ids) - len(chosen)
            again.seconds = {k: round(seconds.get(k, 0.0) + again.seconds.get(k, 0.0), 3)
                             for k in {*seconds, *again.seconds}}
            return again
    result.iic, result.diic = network.integral_index_connectivity(
        area, [(c.a, c.b) for c in result.corridors], landscape)
    paths = [c.path.cells for c in result.corridors]
    result.nodes = nodes.intersections(r.shape, paths, labels) + nodes.ridge_crossings(paths, alloc)
    if step is None:
        result.nodes += nodes.barriers(r.shape, paths, r, settings.barrier_resistance)
    else:           # pinch and barrier nodes: the centres of the pinch and barrier areas
        def on(t: tasks.Task) -> tuple[int, ...]:
            return tuple(k - 1 for k in t.detail.get("corridors", [t.corridor]))

        result.nodes += [nodes.Node("pinch", *nodes.centre(t.cells), on(t)) for t in result.tasks
                         if t.kind == "protect_pinch"]
        result.nodes += [nodes.Node("barrier", *t.detail["centre"], on(t)) for t in result.tasks
                         if t.kind == "restore_barrier"]
    result.indices = network.network_indices(len(result.corridors), len(ids))
    tick("network_nodes")
    return result


class _CorridorWork:
    """The circuit step's work on each corridor while its CWD windows are at hand (corridor current, pinches, barrier
    score, segments), and the current map of the sources once every corridor is known."""

    def __init__(self, shape: tuple[int, int], step: CircuitStep) -> None:
        self.step = step
        self.corridor_current = np.full(shape, np.nan)
        self.per_metre = np.zeros(shape)        # the barrier layer: best ΔLCD / D over the corridors and diameters
        self.share = np.zeros(shape)            # best ΔLCD / LCD of a window centred here, over corridors and diameters
        self.size = np.zeros(shape)             # that window's diameter (m)
        self.owner = np.zeros(shape, dtype=np.int32)      # and its corridor (1-based)
        self.pinches: list[pinch.Pinch] = []
        self.tasks: list[tasks.Task] = []
        self.lcd: dict[int, float] = {}
        self.seconds = 0.0

    def corridor(self, r: np.ndarray, labels: np.ndarray, both: tuple[slice, slice], corner: np.ndarray,
                 cwd_a: np.ndarray, cwd_b: np.ndarray, nlcc: np.ndarray, width: float, c: Corridor, cid: int,
                 cell: float) -> None:
        t0 = time.perf_counter()
        step = self.step
        self.lcd[cid] = c.path.lcd
        inside = nlcc <= width * c.path.lcd
        try:
            flow = pinch.corridor_flow(r[both], labels[both], c.a, c.b, inside, step.circuit)
        except cc.CircuitTooLarge as exc:
            raise cc.CircuitTooLarge(f"the circuit of corridor {cid} truncated at its cutoff: {exc}") from None
        c.corridor_resistance = flow.resistance
        box = tuple(slice(b.start + o, b.stop + o) for b, o in zip(flow.box, corner))
        here = self.corridor_current[box]
        np.fmax(here, flow.current, out=here)
        for p in pinch.pinches(flow, r[both], labels[both], c.a, c.b, cid, step.pinch_min_current,
                               step.pinch_degraded, cell, step.circuit):
            p.cells = p.cells + corner
            self.pinches.append(p)
        per_metre, gain, size = barrier_score.pair_scores(cwd_a, cwd_b, c.path.lcd, list(step.barrier_diameters_m),
                                                          cell, step.restored, np.isfinite(r[both]))
        layer = self.per_metre[both]            # views of the corridor grid
        np.maximum(layer, per_metre, out=layer)
        share = gain / c.path.lcd if c.path.lcd > 0 else np.zeros_like(gain)
        best, owner, diameter = self.share[both], self.owner[both], self.size[both]
        better = share > best
        best[better], owner[better], diameter[better] = share[better], cid, size[better]
        self.tasks += tasks.segments(c.path.cells, r, labels, cid, c.path.lcd, cell, step.segment_resistance,
                                     step.restored)
        self.seconds += time.perf_counter() - t0

    def _barrier_areas(self, r: np.ndarray, labels: np.ndarray, cell: float) -> list[tasks.Task]:
        """A barrier area per 8-connected cluster of cells whose best window shortens one corridor by at least
        barrier_min_share of its LCD (a cluster over the windows of several corridors splits by corridor): the
        window of the cluster's best cell, its cells that need restoring."""
        step = self.step
        clusters, _ = ndimage.label(self.share >= step.barrier_min_share, structure=nodes.EIGHT)
        out = []
        h, w = r.shape
        for k, box in enumerate(ndimage.find_objects(clusters), start=1):
            inside = clusters[box] == k
            for cid in np.unique(self.owner[box][inside]):
                part = inside & (self.owner[box] == cid)
                local = np.where(part, self.share[box], -1.0)
                i, j = np.unravel_index(int(np.argmax(local)), local.shape)
                row, col = i + box[0].start, j + box[1].start
                d = float(self.size[row, col])
                foot = barrier_score.disk(d, cell)
                q = foot.shape[0] // 2
                cells = np.argwhere(foot) + [row - q, col - q]
                cells = cells[(cells[:, 0] >= 0) & (cells[:, 0] < h) & (cells[:, 1] >= 0) & (cells[:, 1] < w)]
                rr = r[cells[:, 0], cells[:, 1]]
                cells = cells[np.isfinite(rr) & (rr > step.restored) & (labels[cells[:, 0], cells[:, 1]] == 0)]
                if not len(cells):
                    continue
                lcd = self.lcd[int(cid)]
                gain = float(self.share[row, col]) * lcd
                out.append(tasks.Task("restore_barrier", int(cid), cells, gain, "cost-weighted m", gain / lcd,
                                      len(cells) * cell * cell, {"diameter_m": d, "centre": (int(row), int(col)),
                                                                 "cluster_cells": int(part.sum())}))
        return out

    def finish(self, result: PatternResult, r: np.ndarray, labels: np.ndarray, ids: list[int], cell: float) -> None:
        step = self.step
        for p in self.pinches:         # measured as the other tasks: the corridor's LCD (what degrading would add)
            gain = p.degraded_lcd - p.lcd
            self.tasks.append(tasks.Task("protect_pinch", p.corridor, p.cells, gain, "cost-weighted m",
                                         gain / self.lcd[p.corridor], len(p.cells) * cell * cell,
                                         {"current_max": p.current_max, "current_mean": p.current_mean,
                                          "resistance_rise": p.degraded_resistance - p.resistance}))
        self.tasks += self._barrier_areas(r, labels, cell)
        result.pinches = self.pinches
        result.tasks = tasks.rank(tasks.distinct(self.tasks))
        result.corridor_current = self.corridor_current
        result.barrier = self.per_metre
        _source_currents(result, r, labels, ids, step)


def current_factor(r: np.ndarray, max_cells: int) -> int:
    """The smallest factor whose coarsened grid holds about ``max_cells`` passable cells or fewer (passable cells /
    factor², an estimate: a block is passable when less than half of it is impassable)."""
    passable = int(np.isfinite(r).sum())
    return max(1, math.ceil(math.sqrt(passable / max_cells))) if passable > max_cells else 1


def coarse_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Source ids on a grid ``factor`` times coarser: a block belongs to the source holding at least half of its
    cells (so a source does not spread over the land around it), else to none."""
    if factor == 1:
        return np.asarray(labels, dtype=np.int32)
    out = np.zeros((-(-labels.shape[0] // factor), -(-labels.shape[1] // factor)), dtype=np.int32)
    for k in np.unique(labels[labels > 0]):
        share = np.nan_to_num(block_mean((labels == k).astype(np.float64), factor))
        out[share >= 0.5] = k
    return out


def _parts(r: np.ndarray, neighbours: int) -> np.ndarray:
    """Connected parts of the passable cells (8 or 4 neighbours), labelled."""
    structure = np.ones((3, 3), dtype=bool) if neighbours == 8 else ndimage.generate_binary_structure(2, 1)
    return ndimage.label(np.isfinite(r), structure=structure)[0]


def _source_currents(result: PatternResult, r: np.ndarray, labels: np.ndarray, ids: list[int],
                     step: CircuitStep) -> None:
    """The cumulative current map of the sources (pairwise over the corridors' pairs, or all-to-one), each
    corridor's effective resistance and the current along its path.

    A source that no passable path joins to another source on the corridor grid is refused; one that the coarser
    grid of the current map cuts off (or that vanishes on it) is left out of the map with a warning.

    Raises:
        CircuitError: an isolated source (no passable path to any other source), or a grid too large for the
            direct solver when it is asked for.
    """
    parts = _parts(r, step.circuit.neighbours)
    part_of = {k: int(np.bincount(parts[labels == k]).argmax()) for k in ids}
    alone = [k for k in ids if sum(1 for j in ids if part_of[j] == part_of[k]) == 1]
    if alone:
        rows, cols = np.nonzero(labels == alone[0])
        raise cc.CircuitError(f"source {alone[0]} is isolated (no passable path joins it to another source; its "
                              f"first cell at row {int(rows[0])}, column {int(cols[0])} of the corridor grid)"
                              + (f", and {len(alone) - 1} more" if len(alone) > 1 else "")
                              + ": no current can flow; set pattern.extent = 'grid', lower pattern.min_source_area_m2"
                              " or set pattern.circuit = false")
    f = step.factor or current_factor(r, step.max_cells)
    coarse_r = resist.aggregate(r, f) if f > 1 else r
    coarse = coarse_labels(labels, f)
    circuit = cc.Circuit(coarse_r, coarse, step.circuit)
    try:
        circuit.prepare(circuit.nodemap[(coarse > 0) & (circuit.nodemap >= 0)])
    except cc.CircuitTooLarge as exc:
        raise cc.CircuitTooLarge(f"the current map of the sources ({f * result.cell:g} m cells): {exc}, or lower "
                                 "pattern.circuit_max_cells") from None
    node = {}
    for k in ids:
        cells = circuit.nodemap[(coarse == k) & (circuit.nodemap >= 0)]
        if len(cells):
            node[k] = int(cells[0])
    comp = {k: circuit.component[node[k]] for k in node}
    cut = sorted(set(ids) - set(node)) + sorted(k for k in node if sum(1 for j in node if comp[j] == comp[k]) == 1)
    if cut:
        result.circuit_warnings.append(
            f"pattern: source(s) {', '.join(map(str, cut))} vanish or are cut off on the current map's grid of "
            f"{f} x {f} corridor cells: left out of the current map; lower pattern.circuit_factor or raise "
            "pattern.circuit_max_cells")
    kept = [k for k in ids if k in node and k not in cut]
    focal = [node[k] for k in kept]
    index = {k: i for i, k in enumerate(kept)}
    along = _PathCurrent(result, f, circuit, coarse)
    if step.mode == "pairwise":
        known = [c for c in result.corridors if c.a in index and c.b in index]
        pairs = [(index[c.a], index[c.b]) for c in known]
        resistances, total = cc.pairwise(circuit, focal, pairs, on_pair=lambda t, cur: along.set(known[t], cur))
        for c, p in zip(known, pairs):
            c.effective_resistance = resistances[p]
    else:
        total, _, resistance = cc.all_to_one(circuit, focal)
        for c in result.corridors:
            if c.a in index and c.b in index:
                along.set(c, total)
                c.effective_resistance = float(resistance[index[c.a], index[c.b]])
    current = circuit.cell_map(total, fill=np.nan)
    if f > 1:
        current = np.repeat(np.repeat(current, f, axis=0), f, axis=1)[:r.shape[0], :r.shape[1]]
    result.current = np.where(np.isfinite(r), current, np.nan)
    result.current_factor = f
    result.current_solver = circuit.solver_used


class _PathCurrent:
    """The mean and peak current along a corridor's path, outside the sources, read on the current map's grid."""

    def __init__(self, result: PatternResult, factor: int, circuit: cc.Circuit, coarse: np.ndarray) -> None:
        self.result, self.factor, self.circuit, self.coarse = result, factor, circuit, coarse

    def set(self, c: Corridor, current: np.ndarray) -> None:
        cells = np.asarray(c.path.cells).reshape(-1, 2) // self.factor
        outside = self.coarse[cells[:, 0], cells[:, 1]] == 0
        nodes_on = self.circuit.nodemap[cells[outside, 0], cells[outside, 1]]
        values = current[nodes_on[nodes_on >= 0]]
        if len(values):
            c.current_mean, c.current_peak = float(values.mean()), float(values.max())
