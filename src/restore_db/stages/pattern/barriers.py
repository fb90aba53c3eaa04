"""Barriers to restore (docs/models/pattern.md#barriers): the moving-window improvement score of McRae et al. 2012
(PLoS ONE 7(12): e52604; Linkage Mapper's Barrier Mapper).

For a corridor between sources A and B with least-cost distance LCD and cost-weighted distance surfaces CWD_A and
CWD_B, a circular window of diameter D centred on a cell is imagined restored to the resistance ``R_restored``. The
cheapest path through the window then costs

    LCD′ = min_window CWD_A + min_window CWD_B + D × R_restored

and the improvement score is ``ΔLCD = LCD − LCD′`` (cost-weighted metres; positive: restoring the window shortens
the corridor). The window minimum is taken over the cells whose centres lie within D / 2 of the window's centre
(Barrier Mapper's circular focal minimum; CWD has no minimum inside a window that holds no source, so this is the
minimum on its rim).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def disk(diameter_m: float, cell: float) -> np.ndarray:
    """(2k + 1, 2k + 1) bool footprint of the cells whose centres lie within ``diameter_m / 2`` of the centre cell
    (at least the centre cell)."""
    radius = diameter_m / 2.0 / cell
    k = int(math.floor(radius + 1e-9))
    y, x = np.mgrid[-k:k + 1, -k:k + 1]
    return (y * y + x * x) <= radius * radius + 1e-9


def disk_minimum(values: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The minimum of ``values`` over a symmetric footprint centred on each cell (cells beyond the edges count as
    +inf): ``scipy.ndimage.minimum_filter(values, footprint=footprint, mode="constant", cval=inf)``, computed as the
    footprint's rows: a running minimum along each row for each half-width (``minimum_filter1d``), then the minimum
    of those rows shifted. The cost grows with the footprint's diameter, not its area.

    Args:
        values: (h, w) float64.
        footprint: (2k + 1, 2k + 1) bool, symmetric, each row one centred run of cells (a disk).
    Returns:
        (h, w) float64.
    """
    v = np.asarray(values, dtype=np.float64)
    k = footprint.shape[0] // 2
    rows: dict[int, np.ndarray] = {}
    out = np.full(v.shape, np.inf)
    h = v.shape[0]
    for dy in range(-k, k + 1):
        run = int(footprint[dy + k].sum())
        if run == 0 or abs(dy) >= h:
            continue
        if run not in rows:
            rows[run] = ndimage.minimum_filter1d(v, size=run, axis=1, mode="constant", cval=np.inf)
        m = rows[run]
        # out[i] = min(out[i], m[i + dy])
        if dy >= 0:
            np.minimum(out[:h - dy], m[dy:], out=out[:h - dy])
        else:
            np.minimum(out[-dy:], m[:h + dy], out=out[-dy:])
    return out


def improvement(cwd_a: np.ndarray, cwd_b: np.ndarray, lcd: float, diameter_m: float, cell: float,
                restored: float = 1.0, passable: np.ndarray | None = None) -> np.ndarray:
    """The improvement score ΔLCD of restoring a window of ``diameter_m`` centred on each cell.

    Args:
        cwd_a, cwd_b: (h, w) float64 cost-weighted distance from sources A and B (cost-weighted metres; inf where not
            reached).
        lcd: the least-cost distance of the pair (cost-weighted metres).
        diameter_m: window diameter (m).
        cell: cell size (m).
        restored: resistance of the restored window (>= 1, the resistance floor).
        passable: (h, w) bool land that can be restored; a window holding any other cell (nodata, outside the
            region, an absolute barrier) scores 0. None: every cell.
    Returns:
        (h, w) float64 ΔLCD in cost-weighted metres, 0 where restoring does not shorten the corridor.
    Raises:
        ValueError: shapes that differ, a diameter or cell <= 0, or a restored resistance below 1.
    Source: docs/models/pattern.md#barriers; McRae et al. 2012, eq. 1.
    """
    a, b = np.asarray(cwd_a, dtype=np.float64), np.asarray(cwd_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cwd_a {a.shape} and cwd_b {b.shape} differ in shape")
    if not (diameter_m > 0 and cell > 0):
        raise ValueError("the window diameter and the cell size must be > 0 m")
    if restored < 1:
        raise ValueError(f"the restored resistance must be >= 1 (the floor), not {restored!r}")
    foot = disk(diameter_m, cell)
    min_a = disk_minimum(a, foot)
    min_b = disk_minimum(b, foot)
    gain = lcd - (min_a + min_b + diameter_m * restored)
    ok = np.isfinite(gain) & (gain > 0)
    if passable is not None:        # every cell of the window restorable (beyond the array: not known, so not)
        k = foot.shape[0] // 2
        known = np.pad(np.asarray(passable, dtype=np.float64), k, constant_values=0.0)
        ok &= disk_minimum(known, foot)[k:k + a.shape[0], k:k + a.shape[1]] > 0.5
    return np.where(ok, gain, 0.0)


def pair_scores(cwd_a: np.ndarray, cwd_b: np.ndarray, lcd: float, diameters_m: list[float], cell: float,
                restored: float = 1.0, passable: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of each cell over several diameters, for one corridor.

    Only the cells where a window can shorten the corridor are filtered (both CWDs below the LCD, widened by the
    largest window), so the cost follows the corridor, not the window searched.

    Returns:
        (the largest ΔLCD / D over the diameters (h, w) float64: Barrier Mapper's score per unit distance, which
        compares windows of different sizes; the largest ΔLCD (h, w) float64 in cost-weighted metres; the diameter
        of that window (h, w) float64 in m, 0 where no window helps).
    Source: docs/models/pattern.md#barriers.
    """
    a, b = np.asarray(cwd_a, dtype=np.float64), np.asarray(cwd_b, dtype=np.float64)
    per_metre, gain, size = np.zeros(a.shape), np.zeros(a.shape), np.zeros(a.shape)
    near = (a < lcd) & (b < lcd)
    if not near.any() or not diameters_m:
        return per_metre, gain, size
    k = disk(max(diameters_m), cell).shape[0] // 2 + 1
    rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    box = (slice(max(0, rows[0] - k), rows[-1] + k + 1), slice(max(0, cols[0] - k), cols[-1] + k + 1))
    pm, g_best, s_best = per_metre[box], gain[box], size[box]          # views
    for d in sorted(diameters_m):
        g = improvement(a[box], b[box], lcd, d, cell, restored, None if passable is None else passable[box])
        np.maximum(pm, g / d, out=pm)
        more = g > g_best
        g_best[more], s_best[more] = g[more], d
    return per_metre, gain, size
