"""Minimum cumulative resistance (MCR), cost allocation, adjacent sources, least-cost paths and corridors on a
resistance grid (docs/models/pattern.md).

Every function works on whole numpy grids (the corridor grid of a study area), with scikit-image's
``MCP_Geometric`` for the accumulated cost, so no graph is written by hand:

- a step between two 8-neighbour cells costs ``cell × (R_a + R_b) / 2``, ``× √2`` diagonally (the ArcGIS Cost
  Distance convention, which ``MCP_Geometric`` implements with ``sampling = (cell, cell)``); costs are in
  cost-weighted metres (resistance × metres), as Linkage Mapper reports them;
- nodata (NaN), infinite or non-positive resistance is impassable (an absolute barrier);
- sources are labelled cells: ``labels`` holds the source id (> 0) of each source cell and 0 elsewhere.

References: Knaapen et al. 1992 and Yu 1999 (MCR); McRae & Kavanagh, Linkage Mapper (adjacent cores by cost
allocation, least-cost paths, NLCC corridors); scikit-image ``skimage.graph.MCP_Geometric``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _costs(resistance: np.ndarray) -> np.ndarray:
    """float64 costs for MCP: impassable cells (NaN, inf, <= 0) as inf."""
    r = np.asarray(resistance, dtype=np.float64)
    return np.where(np.isfinite(r) & (r > 0), r, np.inf)


def _mcp(resistance: np.ndarray, cell: float):
    from skimage.graph import MCP_Geometric

    if not (cell > 0 and math.isfinite(cell)):
        raise ValueError(f"cell size must be a positive number of metres, not {cell!r}")
    return MCP_Geometric(_costs(resistance), fully_connected=True, sampling=(cell, cell))


def cost_distance(resistance: np.ndarray, starts: np.ndarray, cell: float) -> np.ndarray:
    """MCR surface: the least accumulated cost from any start cell to every cell.

    Args:
        resistance: (H, W) float, resistance >= 1 per cell; NaN, inf or <= 0 is impassable.
        starts: (H, W) bool, the cells the cost grows from (cost 0 there).
        cell: cell size in metres.
    Returns:
        (H, W) float64 in cost-weighted metres; inf where no path reaches (behind barriers, impassable cells).
    Raises:
        ValueError: no passable start cell, shapes differ, or a cell size that is not positive.
    Source: docs/models/pattern.md#minimum-cumulative-resistance (Knaapen et al. 1992; skimage MCP_Geometric).
    """
    starts = np.asarray(starts, dtype=bool)
    if starts.shape != np.shape(resistance):
        raise ValueError(f"starts {starts.shape} and resistance {np.shape(resistance)} differ in shape")
    mcp = _mcp(resistance, cell)
    points = [tuple(p) for p in np.argwhere(starts & np.isfinite(_costs(resistance)))]
    if not points:
        raise ValueError("no passable start cell")
    cum, _ = mcp.find_costs(points)
    return np.asarray(cum, dtype=np.float64)


def cost_allocation(resistance: np.ndarray, labels: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """MCR from all sources together, and the source each cell is cheapest to reach from.

    Args:
        resistance: (H, W) float, as :func:`cost_distance`.
        labels: (H, W) integer, source id (> 0) of each source cell, 0 elsewhere.
        cell: cell size in metres.
    Returns:
        (cwd, allocation): (H, W) float64 cost-weighted metres (inf unreachable) and (H, W) int32 source id
        (0 where no source reaches). Ties go to the lower source id.
    Raises:
        ValueError: as :func:`cost_distance`; no source cell.
    Memory: two (H, W) grids besides the input, whatever the number of sources (one MCR per source, kept as a
    running minimum).
    Source: docs/models/pattern.md#sources-that-are-neighbours (Linkage Mapper: adjacency by cost allocation).
    """
    labels = np.asarray(labels)
    ids = [int(i) for i in np.unique(labels) if i > 0]
    if not ids:
        raise ValueError("no source cell (labels are all 0)")
    best = np.full(labels.shape, np.inf)
    owner = np.zeros(labels.shape, dtype=np.int32)
    for source in ids:
        cwd = cost_distance(resistance, labels == source, cell)
        closer = cwd < best
        best[closer] = cwd[closer]
        owner[closer] = source
    return best, owner


def adjacent_sources(allocation: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of sources whose allocation zones touch (8-neighbours): Linkage Mapper's adjacent cores.

    Args:
        allocation: (H, W) int source ids from :func:`cost_allocation` (0: unreached, never paired).
    Returns:
        The set of pairs.
    """
    a = np.asarray(allocation)
    pairs: set[tuple[int, int]] = set()
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        h, w = a.shape
        y0, y1 = 0, h - dy
        x0, x1 = max(0, -dx), w - max(0, dx)
        p = a[y0:y1, x0:x1]
        q = a[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        mask = (p != q) & (p > 0) & (q > 0)
        for u, v in set(zip(p[mask].tolist(), q[mask].tolist())):
            pairs.add((min(u, v), max(u, v)))
    return pairs


@dataclass(frozen=True)
class LeastCostPath:
    """A least-cost path between two sources: its cells (row, col) from source a to source b, its cost-weighted
    distance ``lcd`` (cost-weighted metres) and its length (metres)."""

    a: int
    b: int
    cells: np.ndarray
    lcd: float
    length_m: float

    @property
    def cwd_to_path_ratio(self) -> float:
        """LCD / path length: the mean resistance met along the path (lower is better)."""
        return self.lcd / self.length_m if self.length_m > 0 else math.nan


def least_cost_path(resistance: np.ndarray, labels: np.ndarray, a: int, b: int, cell: float,
                    cwd_a: np.ndarray | None = None) -> LeastCostPath | None:
    """The least-cost path from source ``a`` to source ``b``: the cell of ``b`` cheapest to reach from ``a``, traced
    back down the MCR surface of ``a`` to a cell of ``a``.

    Args:
        resistance: (H, W) float, as :func:`cost_distance`.
        labels: (H, W) int source ids.
        a, b: the two source ids.
        cell: cell size in metres.
        cwd_a: the MCR surface of ``a`` when already computed (:func:`cost_distance` of ``labels == a``).
    Returns:
        The :class:`LeastCostPath` (cells from ``a`` to ``b``), or None when no path joins them (a barrier between
        them).
    Raises:
        ValueError: as :func:`cost_distance`, or ``b`` has no cell.
    Source: docs/models/pattern.md#least-cost-paths-and-corridors (Linkage Mapper).
    """
    labels = np.asarray(labels)
    target = np.argwhere(labels == b)
    if not len(target):
        raise ValueError(f"source {b} has no cell")
    cum = cost_distance(resistance, labels == a, cell) if cwd_a is None else np.asarray(cwd_a, dtype=np.float64)
    values = cum[target[:, 0], target[:, 1]]
    k = int(np.argmin(values))
    if not np.isfinite(values[k]):
        return None
    cells = trace(cum, resistance, tuple(int(x) for x in target[k]), cell)
    steps = np.abs(np.diff(cells, axis=0))
    length = float(np.sum(np.where(steps.sum(axis=1) == 2, math.sqrt(2.0), 1.0)) * cell) if len(cells) > 1 else 0.0
    return LeastCostPath(a, b, cells, float(values[k]), length)


def trace(cwd: np.ndarray, resistance: np.ndarray, end: tuple[int, int], cell: float) -> np.ndarray:
    """The cells of a cheapest path down an MCR surface, from a start cell (MCR 0) to ``end``.

    From ``end``, each step goes to the neighbour ``p`` that minimises ``MCR(p) + step(p, x)`` (the predecessor on a
    cheapest path; ties to the first neighbour in row order), until a cell of MCR 0.

    Args:
        cwd: (H, W) MCR surface (:func:`cost_distance`).
        resistance: the (H, W) resistance it was computed on.
        end: (row, col) of a reachable cell.
        cell: cell size in metres.
    Returns:
        (n, 2) int64 cells from the start cell to ``end``.
    Raises:
        ValueError: ``end`` is not reachable.
    """
    cum = np.asarray(cwd, dtype=np.float64)
    costs = _costs(resistance)
    h, w = cum.shape
    y, x = end
    if not np.isfinite(cum[y, x]):
        raise ValueError(f"cell {end} is not reachable")
    path = [(y, x)]
    while cum[y, x] > 0:
        best, nxt = math.inf, None
        for dy, dx in _OFFSETS:
            v, u = y + dy, x + dx
            if 0 <= v < h and 0 <= u < w and np.isfinite(cum[v, u]) and np.isfinite(costs[v, u]):
                step = cell * (costs[v, u] + costs[y, x]) / 2.0 * (math.sqrt(2.0) if dy and dx else 1.0)
                if cum[v, u] + step < best:
                    best, nxt = cum[v, u] + step, (v, u)
        if nxt is None or cum[nxt] >= cum[y, x]:
            raise ValueError(f"no descent from cell {(y, x)}: not an MCR surface of this resistance")
        y, x = nxt
        path.append((y, x))
    return np.array(path[::-1], dtype=np.int64)


def nlcc(cwd_a: np.ndarray, cwd_b: np.ndarray, lcd: float) -> np.ndarray:
    """Normalised least-cost corridor ``NLCC = CWD_A + CWD_B − LCD`` (cost-weighted metres; 0 on the path).

    Args:
        cwd_a, cwd_b: (H, W) MCR surfaces from sources a and b (:func:`cost_distance`).
        lcd: their least-cost distance.
    Returns:
        (H, W) float64; inf where either surface is unreachable. Corridor cells are those with NLCC <= a width
        cutoff (cost-weighted metres); several corridors mosaic by their minimum.
    Source: docs/models/pattern.md#least-cost-paths-and-corridors (Linkage Mapper).
    """
    return np.asarray(cwd_a, dtype=np.float64) + np.asarray(cwd_b, dtype=np.float64) - float(lcd)
