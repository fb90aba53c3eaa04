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

from restore_db.stages.pattern import cost, network, nodes, resistance as resist, sources as src


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
            for k in (a, b):
                if last_use[k] == i:
                    del cwd[k]
    finally:
        searches.close()     # stops the workers on an error too
    tick("corridors")
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
        if len(chosen) < len(ids):
            again = compose(resistance, importance, foreground, cell, settings, keep=chosen)
            again.dropped = len(ids) - len(chosen)
            again.seconds = {k: round(seconds.get(k, 0.0) + again.seconds.get(k, 0.0), 3)
                             for k in {*seconds, *again.seconds}}
            return again
    result.iic, result.diic = network.integral_index_connectivity(
        area, [(c.a, c.b) for c in result.corridors], landscape)
    paths = [c.path.cells for c in result.corridors]
    result.nodes = (nodes.intersections(r.shape, paths, labels) + nodes.ridge_crossings(paths, alloc)
                    + nodes.barriers(r.shape, paths, r, settings.barrier_resistance))
    result.indices = network.network_indices(len(result.corridors), len(ids))
    tick("network_nodes")
    return result
