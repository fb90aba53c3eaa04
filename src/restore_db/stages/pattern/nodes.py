"""Ecological nodes on the corridors (docs/models/pattern.md#ecological-nodes): where corridors meet, where a corridor
crosses an MCR ridge line (the line where the cost fronts of two sources meet), and where a corridor runs through
high-resistance land. Each node is a cell (row, col) with its type and the corridors it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Node:
    """A node: ``kind`` (``intersection``, ``ridge`` or ``barrier``), its cell (row, col) and the indices of the
    corridors (paths) it lies on."""

    kind: str
    row: int
    col: int
    corridors: tuple[int, ...]


def _clusters(mask: np.ndarray) -> list[np.ndarray]:
    """Cells of each 8-connected cluster of ``mask``, each as an (n, 2) array, in label order."""
    labels, n = ndimage.label(mask, structure=EIGHT)
    return [np.argwhere(labels == k) for k in range(1, n + 1)]


def centre(cells: np.ndarray) -> tuple[int, int]:
    """The cell of a cluster nearest its centroid (ties: the first in row order)."""
    centre = cells.mean(axis=0)
    k = int(np.argmin(((cells - centre) ** 2).sum(axis=1)))
    return int(cells[k, 0]), int(cells[k, 1])


def _on_paths(paths: Sequence[np.ndarray]) -> dict[tuple[int, int], set[int]]:
    """The paths through each path cell: (row, col) -> path indices (memory grows with the path cells only)."""
    owners: dict[tuple[int, int], set[int]] = {}
    for i, cells in enumerate(paths):
        for r, c in np.asarray(cells).reshape(-1, 2):
            owners.setdefault((int(r), int(c)), set()).add(i)
    return owners


def _mask(shape: tuple[int, int], cells) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for r, c in cells:
        out[r, c] = True
    return out


def intersections(shape: tuple[int, int], paths: Sequence[np.ndarray], sources: np.ndarray) -> list[Node]:
    """Strategic points where least-cost paths meet or cross outside the sources: one node per 8-connected cluster
    of cells shared by two or more paths (paths that leave one source along a common trunk meet too).

    Args:
        shape: (H, W) of the grid.
        paths: each path's cells, (n, 2) int arrays (``LeastCostPath.cells``).
        sources: (H, W) int source ids (cells inside a source are not nodes).
    Returns:
        The nodes, in the order of their clusters (row-major).
    Source: docs/models/pattern.md#ecological-nodes.
    """
    owners = _on_paths(paths)
    shared = _mask(shape, [k for k, o in owners.items() if len(o) >= 2]) & (np.asarray(sources) == 0)
    out = []
    for cells in _clusters(shared):
        row, col = centre(cells)
        ids = sorted(set().union(*(owners[(int(r), int(c))] for r, c in cells)))
        out.append(Node("intersection", row, col, tuple(ids)))
    return out


def ridge_crossings(paths: Sequence[np.ndarray], allocation: np.ndarray) -> list[Node]:
    """Where each least-cost path crosses an MCR ridge line: the first cell of the path allocated to another source
    than the cell before it (the fronts of the two sources meet there).

    Args:
        paths: each path's cells, (n, 2) int arrays, from one source to the other.
        allocation: (H, W) int source ids of the cost allocation (:func:`restore_db.stages.pattern.cost.cost_allocation`).
    Returns:
        One node per crossing, in path order.
    Source: docs/models/pattern.md#ecological-nodes.
    """
    alloc = np.asarray(allocation)
    out = []
    for i, cells in enumerate(paths):
        cells = np.asarray(cells).reshape(-1, 2)
        zones = alloc[cells[:, 0], cells[:, 1]]
        for k in np.flatnonzero((zones[1:] != zones[:-1]) & (zones[1:] > 0) & (zones[:-1] > 0)) + 1:
            out.append(Node("ridge", int(cells[k, 0]), int(cells[k, 1]), (i,)))
    return out


def barriers(shape: tuple[int, int], paths: Sequence[np.ndarray], resistance: np.ndarray,
             threshold: float) -> list[Node]:
    """Barrier points: one node per 8-connected run of path cells whose resistance is at least ``threshold`` (built-up
    land, major roads for terrestrial species).

    Args:
        shape: (H, W).
        paths: each path's cells.
        resistance: (H, W) resistance of the corridor grid.
        threshold: resistance from which a path cell is a barrier.
    Returns:
        The nodes, in the order of their clusters (row-major).
    Source: docs/models/pattern.md#ecological-nodes.
    """
    owners = _on_paths(paths)
    on_path = _mask(shape, owners)
    r = np.asarray(resistance, dtype=np.float64)
    mask = on_path & np.isfinite(r) & (r >= threshold)
    out = []
    for cells in _clusters(mask):
        row, col = centre(cells)
        ids = sorted(set().union(*(owners[(int(a), int(b))] for a, b in cells)))
        out.append(Node("barrier", row, col, tuple(ids)))
    return out
