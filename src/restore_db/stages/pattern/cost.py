"""Minimum cumulative resistance (MCR), cost allocation, adjacent sources, least-cost paths and corridors on a
resistance grid (docs/models/pattern.md).

Every function works on whole numpy grids (the corridor grid of a study area). The accumulated cost is scipy's
Dijkstra (``scipy.sparse.csgraph.dijkstra``) on the 8-neighbour graph of the grid (:class:`CostGraph`), so no
search is written by hand:

- a step between two 8-neighbour cells costs ``cell × (R_a + R_b) / 2``, ``× √2`` diagonally (the ArcGIS Cost
  Distance convention, which scikit-image's ``MCP_Geometric`` also implements with ``sampling = (cell, cell)``);
  costs are in cost-weighted metres (resistance × metres), as Linkage Mapper reports them;
- nodata (NaN), infinite or non-positive resistance is impassable (an absolute barrier);
- sources are labelled cells: ``labels`` holds the source id (> 0) of each source cell and 0 elsewhere.

References: Knaapen et al. 1992 and Yu 1999 (MCR); McRae & Kavanagh, Linkage Mapper (adjacent cores by cost
allocation, least-cost paths, NLCC corridors); scipy ``scipy.sparse.csgraph.dijkstra``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _costs(resistance: np.ndarray) -> np.ndarray:
    """float64 costs for MCP: impassable cells (NaN, inf, <= 0) as inf."""
    r = np.asarray(resistance, dtype=np.float64)
    return np.where(np.isfinite(r) & (r > 0), r, np.inf)


class CostGraph:
    """The 8-neighbour graph of a resistance grid, for shortest paths with scipy's Dijkstra
    (``scipy.sparse.csgraph.dijkstra``).

    An edge joins two passable neighbours; it costs ``cell × (R_a + R_b) / 2``, ``× √2`` diagonally (the ArcGIS Cost
    Distance convention, as ``skimage.graph.MCP_Geometric`` with ``sampling = (cell, cell)`` and full connectivity;
    diagonal steps are allowed between any two passable cells). Built once per grid, it answers every source: a
    search bounded by ``limit`` stops there, so the cost of a source's MCR grows with the area it must cover, not with
    the grid.

    Memory: the CSR matrix holds up to 8 edges per cell, 12 bytes each (96 bytes per cell); each search returns an
    (H × W) float64 array.
    """

    def __init__(self, resistance: np.ndarray, cell: float) -> None:
        from scipy.sparse import csr_matrix

        if not (cell > 0 and math.isfinite(cell)):
            raise ValueError(f"cell size must be a positive number of metres, not {cell!r}")
        costs = _costs(resistance)
        self.shape = costs.shape
        self.passable = np.isfinite(costs)
        h, w = costs.shape
        index = np.arange(h * w, dtype=np.int32).reshape(h, w)
        rows, cols, weights = [], [], []
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            x0, x1 = max(0, -dx), w - max(0, dx)
            p, q = (slice(0, h - dy), slice(x0, x1)), (slice(dy, h), slice(x0 + dx, x1 + dx))
            ok = self.passable[p] & self.passable[q]
            weight = cell * (costs[p][ok] + costs[q][ok]) / 2.0 * (math.sqrt(2.0) if dy and dx else 1.0)
            rows += [index[p][ok], index[q][ok]]
            cols += [index[q][ok], index[p][ok]]
            weights += [weight, weight]
        self.matrix = csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(h * w, h * w))

    def _starts(self, starts: np.ndarray) -> np.ndarray:
        starts = np.asarray(starts, dtype=bool)
        if starts.shape != self.shape:
            raise ValueError(f"starts {starts.shape} and resistance {self.shape} differ in shape")
        points = np.flatnonzero(starts & self.passable)
        if not len(points):
            raise ValueError("no passable start cell")
        return points

    def distances(self, starts: np.ndarray, limit: float = math.inf) -> np.ndarray:
        """MCR from the ``starts`` cells ((H, W) bool): (H, W) float64 cost-weighted metres, inf where no path
        reaches or the MCR exceeds ``limit``.

        Raises:
            ValueError: no passable start cell, or a shape that differs.
        """
        from scipy.sparse.csgraph import dijkstra

        dist = dijkstra(self.matrix, indices=self._starts(starts), min_only=True, limit=limit)
        return dist.reshape(self.shape)

    def allocation(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MCR from every labelled cell and the label of the cheapest one: see :func:`cost_allocation`."""
        from scipy.sparse.csgraph import dijkstra

        labels = np.asarray(labels)
        if labels.shape != self.shape:
            raise ValueError(f"labels {labels.shape} and resistance {self.shape} differ in shape")
        if not (labels > 0).any():
            raise ValueError("no source cell (labels are all 0)")
        dist, _, origin = dijkstra(self.matrix, indices=self._starts(labels > 0), min_only=True,
                                   return_predecessors=True)
        flat = labels.ravel()
        owner = np.where(origin >= 0, flat[np.maximum(origin, 0)], 0).astype(np.int32)
        return dist.reshape(self.shape), owner.reshape(self.shape)


_SHARED: dict = {}      # the graph and labels of bounded_searches (in a worker: attached from shared memory)


def _bounded(k: int, limit: float) -> tuple[int, tuple[int, int, int, int], np.ndarray]:
    graph, labels = _SHARED["graph"], _SHARED["labels"]
    full = graph.distances(labels == k, limit=limit)
    finite = np.isfinite(full)
    rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    return k, box, full[box[0]:box[1], box[2]:box[3]].copy()


def _attach(blocks: dict, shape: tuple[int, int]) -> None:
    """In a worker: the graph and labels from the parent's shared memory, without a copy. Ctrl-C on a terminal
    reaches the workers too: they ignore it, and the command (which shuts the pool down) reports it."""
    import signal
    from multiprocessing import shared_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from scipy.sparse import csr_matrix

    arrays, _SHARED["memory"] = {}, []
    for name, (block, dtype, length) in blocks.items():
        memory = shared_memory.SharedMemory(name=block)
        _SHARED["memory"].append(memory)
        arrays[name] = np.ndarray((length,), dtype=dtype, buffer=memory.buf)
    graph = CostGraph.__new__(CostGraph)
    graph.shape = shape
    graph.passable = arrays["passable"].reshape(shape)
    n = shape[0] * shape[1]
    graph.matrix = csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n), copy=False)
    _SHARED.update(graph=graph, labels=arrays["labels"].reshape(shape))


def bounded_searches(graph: CostGraph, labels: np.ndarray, limits: dict[int, float], order: list[int],
                     processes: int = 1, ahead: int = 2):
    """The MCR of each source ``k`` of ``order``, searched up to ``limits[k]``, in that order.

    Yields ``(k, (row0, row1, col0, col1), mcr)``: the bounding box of the cells the search reached and the float64
    MCR over it (inf beyond the limit). With ``processes`` > 1 the searches run in that many worker processes, started
    by a fork server (they inherit no open file or database connection of the caller) and reading the graph from
    shared memory; at most ``processes + ahead`` results wait to be consumed, so memory stays that of the results the
    caller keeps. Closing the generator (or an error) stops the workers and frees the shared memory.

    Raises:
        ValueError: a source without a passable cell.
    Source: docs/models/pattern.md#sources-that-are-neighbours.
    """
    import collections

    labels = np.ascontiguousarray(labels, dtype=np.int32)
    if processes <= 1 or len(order) < 2:
        _SHARED.update(graph=graph, labels=labels)
        try:
            for k in order:
                yield _bounded(k, limits[k])
        finally:
            _SHARED.clear()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import shared_memory

    sources = {"data": graph.matrix.data, "indices": graph.matrix.indices, "indptr": graph.matrix.indptr,
               "passable": graph.passable.ravel(), "labels": labels.ravel()}
    memory, blocks = [], {}
    pool = None
    try:
        for name, array in sources.items():
            block = shared_memory.SharedMemory(create=True, size=max(1, array.nbytes))
            memory.append(block)
            np.ndarray(array.shape, dtype=array.dtype, buffer=block.buf)[:] = array
            blocks[name] = (block.name, array.dtype.str, array.size)
        pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=_attach, initargs=(blocks, graph.shape))
        queue = iter(order)
        pending = collections.deque(pool.submit(_bounded, k, limits[k])
                                    for k in itertools.islice(queue, processes + ahead))
        while pending:
            done = pending.popleft().result()
            following = next(queue, None)
            if following is not None:
                pending.append(pool.submit(_bounded, following, limits[following]))
            yield done
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for block in memory:
            block.close()
            block.unlink()


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
    Source: docs/models/pattern.md#minimum-cumulative-resistance (Knaapen et al. 1992; :class:`CostGraph`).
    """
    return CostGraph(resistance, cell).distances(starts)


def cost_allocation(resistance: np.ndarray, labels: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """MCR from all sources together, and the source each cell is cheapest to reach from.

    One Dijkstra search from every source cell (:class:`CostGraph`) gives the MCR and, for every cell, the source
    cell its cheapest path starts from.

    Args:
        resistance: (H, W) float, as :func:`cost_distance`.
        labels: (H, W) integer, source id (> 0) of each source cell, 0 elsewhere.
        cell: cell size in metres.
    Returns:
        (cwd, allocation): (H, W) float64 cost-weighted metres (inf unreachable) and (H, W) int32 source id
        (0 where no source reaches). A cell equally cheap from two sources goes to either.
    Raises:
        ValueError: as :func:`cost_distance`; no source cell.
    Source: docs/models/pattern.md#sources-that-are-neighbours (Linkage Mapper: adjacency by cost allocation).
    """
    return CostGraph(resistance, cell).allocation(labels)


def boundary_lcd(mcr: np.ndarray, allocation: np.ndarray, resistance: np.ndarray,
                 cell: float) -> dict[tuple[int, int], float]:
    """For each pair of sources whose allocation zones touch (8-neighbours), the cost of the cheapest path that
    crosses from one zone into the other: ``MCR(i) + step(i, j) + MCR(j)`` over neighbouring cells i, j of the two
    zones. It is an upper bound of the pair's least-cost distance (the path through a third zone may be cheaper).

    Args:
        mcr, allocation: (H, W) from :func:`cost_allocation`.
        resistance: the (H, W) resistance they were computed on.
        cell: cell size in metres.
    Returns:
        (a, b) with a < b -> cost-weighted metres; the keys are :func:`adjacent_sources` of ``allocation``.
    Source: docs/models/pattern.md#sources-that-are-neighbours.
    """
    costs = _costs(resistance)
    a = np.asarray(allocation)
    h, w = a.shape
    parts = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        x0, x1 = max(0, -dx), w - max(0, dx)
        sl_p = (slice(0, h - dy), slice(x0, x1))
        sl_q = (slice(dy, h), slice(x0 + dx, x1 + dx))
        p, q = a[sl_p], a[sl_q]
        mask = (p != q) & (p > 0) & (q > 0) & np.isfinite(costs[sl_p]) & np.isfinite(costs[sl_q])
        if not mask.any():
            continue
        step = cell * (costs[sl_p][mask] + costs[sl_q][mask]) / 2.0 * (math.sqrt(2.0) if dy and dx else 1.0)
        total = mcr[sl_p][mask] + mcr[sl_q][mask] + step
        lo, hi = np.minimum(p[mask], q[mask]), np.maximum(p[mask], q[mask])
        parts.append((lo.astype(np.int64), hi.astype(np.int64), total))
    if not parts:
        return {}
    lo = np.concatenate([x[0] for x in parts])
    hi = np.concatenate([x[1] for x in parts])
    total = np.concatenate([x[2] for x in parts])
    key = lo * (int(a.max()) + 1) + hi
    order = np.lexsort((total, key))
    key, lo, hi, total = key[order], lo[order], hi[order], total[order]
    first = np.r_[True, key[1:] != key[:-1]]
    return {(int(x), int(y)): float(t) for x, y, t in zip(lo[first], hi[first], total[first])}


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
                    cwd_a: np.ndarray | None = None, target: np.ndarray | None = None) -> LeastCostPath | None:
    """The least-cost path from source ``a`` to source ``b``: the cell of ``b`` cheapest to reach from ``a``, traced
    back down the MCR surface of ``a`` to a cell of ``a``.

    Args:
        resistance: (H, W) float, as :func:`cost_distance`.
        labels: (H, W) int source ids.
        a, b: the two source ids.
        cell: cell size in metres.
        cwd_a: the MCR surface of ``a`` when already computed (:func:`cost_distance` of ``labels == a``).
        target: the (n, 2) cells of ``b`` when already known.
    Returns:
        The :class:`LeastCostPath` (cells from ``a`` to ``b``), or None when no path joins them (a barrier between
        them).
    Raises:
        ValueError: as :func:`cost_distance`, or ``b`` has no cell.
    Source: docs/models/pattern.md#least-cost-paths-and-corridors (Linkage Mapper).
    """
    labels = np.asarray(labels)
    target = np.argwhere(labels == b) if target is None else np.asarray(target)
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
