"""Pinch points (docs/models/pattern.md#pinch-points): the current of each corridor truncated at its cost-distance
cutoff, as Linkage Mapper's Pinchpoint Mapper runs Circuitscape (adjacent-pair mode), and the narrow places where
most of the pair's current must pass.

The corridor's circuit holds the corridor cells (NLCC at most the cutoff) and the cells of its two sources, each
source short-circuited into one node; 1 A flows from A to B. A cell carrying at least ``min_current`` of that ampere
is a pinch cell: a single-cell-wide corridor carries all of it (1 A) in every cell, a wide corridor spreads it thin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from restore_db.stages.pattern import circuit as cc
from restore_db.stages.pattern import cost

EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class CorridorFlow:
    """The current of one corridor's circuit, on its window ``box`` of the corridor grid.

    resistance: effective resistance A–B through the corridor (NaN: the corridor does not join them).
    current: (h, w) float64 current density (A per A injected), NaN outside the circuit.
    """

    box: tuple[slice, slice]
    resistance: float
    current: np.ndarray


@dataclass
class Pinch:
    """A pinch area: its cells (n, 2) on the corridor grid, its largest and mean current (A), and what its corridor
    loses were the pinch degraded to ``degraded`` resistance: its effective resistance (Ω) and its least-cost
    distance through the corridor (cost-weighted metres) then, against ``resistance`` and ``lcd``."""

    corridor: int
    cells: np.ndarray
    current_max: float
    current_mean: float
    resistance: float
    degraded_resistance: float
    lcd: float
    degraded_lcd: float


def _cut(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _circuit(r: np.ndarray, within: np.ndarray, labels: np.ndarray, a: int, b: int,
             settings: cc.CircuitSettings) -> tuple[cc.Circuit, int, int]:
    regions = np.where(labels == a, 1, np.where(labels == b, 2, 0))
    circuit = cc.Circuit(np.where(within, r, np.nan), regions, settings)
    node_a = int(circuit.nodemap[regions == 1][0])
    node_b = int(circuit.nodemap[regions == 2][0])
    return circuit, node_a, node_b


def corridor_flow(resistance: np.ndarray, labels: np.ndarray, a: int, b: int, corridor: np.ndarray,
                  settings: cc.CircuitSettings = cc.CircuitSettings()) -> CorridorFlow:
    """The current of the corridor between sources ``a`` and ``b``.

    Args:
        resistance: (H, W) resistance of the corridor grid (inf or NaN impassable).
        labels: (H, W) int source ids.
        a, b: the two sources (each must have a passable cell inside ``corridor`` or among its own cells).
        corridor: (H, W) bool corridor cells (NLCC at most the cutoff).
        settings: the circuit's :class:`~restore_db.stages.pattern.circuit.CircuitSettings`.
    Returns:
        The :class:`CorridorFlow` over the bounding box of the corridor and the two sources' cells in it.
    Source: docs/models/pattern.md#pinch-points; McRae 2012 (Pinchpoint Mapper).
    """
    labels = np.asarray(labels)
    r = np.asarray(resistance, dtype=np.float64)
    ends = ((labels == a) | (labels == b))
    box = _cut(corridor | (ends & ndimage.binary_dilation(corridor, EIGHT)))
    within = (corridor | ends)[box] & np.isfinite(r[box]) & (r[box] > 0)
    lab = labels[box]
    if not ((lab == a) & within).any() or not ((lab == b) & within).any():
        return CorridorFlow(box, math.nan, np.full(lab.shape, np.nan))
    circuit, na, nb = _circuit(r[box], within, lab, a, b, settings)
    if circuit.component[na] != circuit.component[nb]:
        return CorridorFlow(box, math.nan, np.full(lab.shape, np.nan))
    v, injection = circuit.pair(na, nb)
    current = circuit.cell_map(circuit.node_currents(v, injection), fill=np.nan)
    return CorridorFlow(box, float(v[na] - v[nb]), current)


def _lcd(r: np.ndarray, lab: np.ndarray, a: int, b: int, cell: float) -> float:
    """Least-cost distance from source a to source b over the grid ``r`` (cost-weighted metres)."""
    graph = cost.CostGraph(r, cell)
    dist = graph.distances(lab == a)
    return float(dist[lab == b].min())


def pinches(flow: CorridorFlow, resistance: np.ndarray, labels: np.ndarray, a: int, b: int, corridor_id: int,
            min_current: float, degraded: float, cell: float,
            settings: cc.CircuitSettings = cc.CircuitSettings()) -> list[Pinch]:
    """The pinch areas of one corridor: 8-connected clusters of its cells outside every source that carry at least
    ``min_current`` A of the pair's 1 A; each with the corridor's effective resistance (its own circuit) and the
    pair's least-cost distance (over the whole of ``resistance``, so a detour around the pinch counts) when its cells
    are degraded to at least ``degraded`` resistance: what protecting it keeps. A pinch whose degrading would not
    lengthen the least-cost distance (its cells resist that much already, or a detour costs no more) is left out.

    Args:
        resistance, labels: (H, W) window of the corridor grid holding the corridor and its two sources' cells.
        cell: cell size (m).

    Returns:
        The pinches, cells in corridor-grid coordinates, in the order of their clusters.
    Source: docs/models/pattern.md#pinch-points.
    """
    if not math.isfinite(flow.resistance):
        return []
    box = flow.box
    lab = np.asarray(labels)[box]
    cur = flow.current
    mask = np.isfinite(cur) & (cur >= min_current) & (lab == 0)
    if not mask.any():
        return []
    full = np.asarray(resistance, dtype=np.float64)
    full_labels = np.asarray(labels)
    r = full[box]
    within = np.isfinite(cur)
    lcd = _lcd(full, full_labels, a, b, cell)
    clusters, n = ndimage.label(mask, structure=EIGHT)
    out = []
    for k in range(1, n + 1):
        cells = clusters == k
        worse = np.where(cells, np.maximum(r, degraded), r)
        degraded_full = full.copy()
        degraded_full[box] = worse
        lcd_deg = _lcd(degraded_full, full_labels, a, b, cell)
        if not lcd_deg > lcd:
            continue
        circuit, na, nb = _circuit(worse, within, lab, a, b, settings)
        v = circuit.pair(na, nb)[0]
        where = np.argwhere(cells) + [box[0].start, box[1].start]
        out.append(Pinch(corridor_id, where, float(cur[cells].max()), float(cur[cells].mean()), flow.resistance,
                         float(v[na] - v[nb]), lcd, lcd_deg))
    return out
