"""Restoration tasks (docs/models/pattern.md#restoration-tasks): what to do where, ranked by the connectivity it
gains per km² of land restored or protected.

Three kinds, each measured on its corridor:

- ``restore_barrier``: restore a barrier area (:mod:`restore_db.stages.pattern.barriers`); gain = ΔLCD of its best
  window (cost-weighted metres);
- ``protect_pinch``: protect a pinch area (:mod:`restore_db.stages.pattern.pinch`); gain = the rise of the
  corridor's least-cost distance were it degraded (cost-weighted metres; the rise of its effective resistance, Ω,
  is reported beside);
- ``restore_segment``: restore a run of least-cost-path cells of high resistance; gain = the fall of the path's
  cost when those cells take the restored resistance (cost-weighted metres; the corridor's LCD falls at least as
  much).

Every gain is a change of the corridor's LCD, so tasks of all kinds compare as a share of it (ΔLCD / LCD); the
priority is that share per km², and tasks rank by it (1 = first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("restore_barrier", "protect_pinch", "restore_segment")


@dataclass
class Task:
    """One restoration task on the corridor grid.

    kind: one of :data:`KINDS`; corridor: 1-based corridor number; cells: (n, 2) int cells restored or protected;
    gain, gain_unit: the connectivity gained; gain_share: gain / the corridor's LCD;
    area_m2: area restored or protected; detail: kind-specific figures (window diameter, current…).
    """

    kind: str
    corridor: int
    cells: np.ndarray
    gain: float
    gain_unit: str
    gain_share: float
    area_m2: float
    detail: dict
    priority: float = math.nan
    rank: int = 0


def path_cost(cells: np.ndarray, resistance: np.ndarray, cell: float) -> float:
    """Cost of a path of 8-neighbour steps (cost-weighted metres): Σ cell × (R_a + R_b) / 2, × √2 diagonally (the
    convention of :class:`restore_db.stages.pattern.cost.CostGraph`)."""
    cells = np.asarray(cells).reshape(-1, 2)
    return _cost_along(cells, np.asarray(resistance, dtype=np.float64)[cells[:, 0], cells[:, 1]], cell)


def _cost_along(cells: np.ndarray, values: np.ndarray, cell: float) -> float:
    """Cost of the path ``cells`` (n, 2) when its cells have the resistances ``values`` (n,)."""
    if len(cells) < 2:
        return 0.0
    step = np.where(np.abs(np.diff(cells, axis=0)).sum(axis=1) == 2, math.sqrt(2.0), 1.0)
    return float((cell * (values[1:] + values[:-1]) / 2.0 * step).sum())


def segments(path: np.ndarray, resistance: np.ndarray, labels: np.ndarray, corridor: int, lcd: float, cell: float,
             threshold: float, restored: float) -> list[Task]:
    """Runs of consecutive path cells outside the sources with resistance at least ``threshold``, each a
    ``restore_segment`` task whose gain is the fall of the path's cost when the run takes ``restored``.

    Args:
        path: (n, 2) path cells from one source to the other.
        resistance, labels: (H, W) of the corridor grid.
        corridor: 1-based corridor number; lcd: its LCD (cost-weighted metres); cell: cell size (m).
        threshold: resistance from which a path cell needs restoring; restored: its resistance once restored.
    Source: docs/models/pattern.md#restoration-tasks.
    """
    path = np.asarray(path).reshape(-1, 2)
    r = np.asarray(resistance, dtype=np.float64)
    values = r[path[:, 0], path[:, 1]]
    on = (np.asarray(labels)[path[:, 0], path[:, 1]] == 0) & (values >= threshold)
    base = _cost_along(path, values, cell)
    out = []
    starts = np.flatnonzero(on & ~np.concatenate([[False], on[:-1]]))
    for i in starts:
        j = i
        while j + 1 < len(path) and on[j + 1]:
            j += 1
        after = values.copy()
        after[i:j + 1] = np.minimum(after[i:j + 1], restored)
        gain = base - _cost_along(path, after, cell)
        run = path[i:j + 1].copy()
        if gain > 0:
            out.append(Task("restore_segment", corridor, run, gain, "cost-weighted m",
                            gain / lcd if lcd > 0 else math.nan, len(run) * cell * cell,
                            {"cells": len(run), "mean_resistance": float(values[i:j + 1].mean())}))
    return out


def distinct(tasks: list[Task]) -> list[Task]:
    """One task per kind and set of cells: corridors that share a trunk share its segments and pinches, which are
    one task (that of the largest gain share; the others' corridors are in its ``detail['corridors']``)."""
    best: dict[tuple, Task] = {}
    for t in tasks:
        key = (t.kind, tuple(sorted(map(tuple, np.asarray(t.cells).reshape(-1, 2).tolist()))))
        held = best.get(key)
        if held is None or (t.gain_share, -t.corridor) > (held.gain_share, -held.corridor):
            if held is not None:
                t.detail["corridors"] = sorted({*held.detail.get("corridors", [held.corridor]), t.corridor})
            best[key] = t
        else:
            held.detail["corridors"] = sorted({*held.detail.get("corridors", [held.corridor]), t.corridor})
    return list(best.values())


def rank(tasks: list[Task]) -> list[Task]:
    """Priority = gain share per km² of the task's area; rank 1 the highest (ties: larger gain, then kind and
    corridor). Returns the tasks in rank order."""
    for t in tasks:
        km2 = t.area_m2 / 1e6
        t.priority = t.gain_share / km2 if km2 > 0 and math.isfinite(t.gain_share) else math.nan
    order = sorted(tasks, key=lambda t: (-(t.priority if math.isfinite(t.priority) else -math.inf), -t.gain,
                                         KINDS.index(t.kind), t.corridor))
    for i, t in enumerate(order, start=1):
        t.rank = i
    return order
