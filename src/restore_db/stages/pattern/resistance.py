"""The resistance surface of the ecological security pattern (docs/models/pattern.md#resistance-surface): base
resistance per land-use class, one correction by a continuous factor relative to its class mean, a floor of 1,
absolute barriers, and the aggregation to a coarser corridor grid. Arrays in, arrays out; NaN is nodata and +inf
is impassable.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from restore_db.stages.pattern.habitat import classes

FLOOR = 1.0


def base_resistance(lulc: np.ndarray, table: Mapping[int, float]) -> np.ndarray:
    """Resistance of each cell from its land-use class.

    Args:
        lulc: (H, W) land-use codes, float with NaN for nodata or integer.
        table: class code -> base resistance (>= 1, dimensionless; the coefficient ``resistance``).
    Returns:
        (H, W) float64; NaN where the land use is nodata or its class is not in the table.
    Source: docs/models/pattern.md#resistance-surface.
    """
    return classes(lulc, table)


def correct_by_factor(base: np.ndarray, lulc: np.ndarray, factor: np.ndarray, mode: str) -> np.ndarray:
    """Base resistance scaled by a continuous factor relative to the mean of the cell's class.

    ``mode`` ``inverse`` (NDVI: greener than its class resists less): ``R = R_base × F̄_class / F``;
    ``direct`` (human pressure: population density, impervious share): ``R = R_base × F / F̄_class``. Where the factor
    is nodata, not positive (``inverse``) or its class mean is not positive, the cell keeps its base resistance.

    Args:
        base: (H, W) base resistance (:func:`base_resistance`).
        lulc: (H, W) land-use codes (the classes of the means).
        factor: (H, W) the factor, NaN for nodata.
        mode: ``inverse`` or ``direct``.
    Returns:
        (H, W) float64 corrected resistance (not floored; see :func:`finish`).
    Raises:
        ValueError: another mode, or shapes that differ.
    Source: docs/models/pattern.md#resistance-surface.
    """
    if mode not in ("inverse", "direct"):
        raise ValueError(f"mode must be inverse or direct, not {mode!r}")
    base = np.asarray(base, dtype=np.float64)
    codes = np.asarray(lulc, dtype=np.float64)
    f = np.asarray(factor, dtype=np.float64)
    if not base.shape == codes.shape == f.shape:
        raise ValueError(f"shapes differ: base {base.shape}, lulc {codes.shape}, factor {f.shape}")
    out = base.copy()
    valid = np.isfinite(f) & np.isfinite(codes) & np.isfinite(base)
    for code in np.unique(codes[valid]):
        cls = valid & (codes == code)
        mean = float(f[cls].mean())
        if mean <= 0:
            continue
        if mode == "inverse":
            use = cls & (f > 0)
            out[use] = base[use] * mean / f[use]
        else:
            out[cls] = base[cls] * f[cls] / mean
    return out


def finish(resistance: np.ndarray, barriers: np.ndarray | None = None) -> np.ndarray:
    """Floor the resistance at 1 and make absolute barriers impassable.

    Args:
        resistance: (H, W) float, NaN nodata.
        barriers: (H, W) bool, cells that no corridor may cross (for example motorways for terrestrial species).
    Returns:
        (H, W) float32: >= 1, NaN kept as nodata (impassable for the cost surface), +inf on barriers.
    Source: docs/models/pattern.md#resistance-surface.
    """
    r = np.asarray(resistance, dtype=np.float64)
    out = np.where(np.isnan(r), np.nan, np.maximum(r, FLOOR))
    if barriers is not None:
        out = np.where(np.asarray(barriers, dtype=bool), np.inf, out)
    return out.astype(np.float32)


def aggregate(resistance: np.ndarray, factor: int, impassable_share: float = 0.5) -> np.ndarray:
    """The resistance on a corridor grid ``factor`` times coarser: each block of factor × factor cells (smaller at the
    right and bottom edges) takes the mean of its passable cells, and is impassable (+inf) when the share of its
    cells that are impassable or nodata is at least ``impassable_share``.

    Args:
        resistance: (H, W) float, NaN nodata, +inf impassable.
        factor: integer >= 1 (corridor pixel size / study pixel size).
        impassable_share: in (0, 1].
    Returns:
        (ceil(H / factor), ceil(W / factor)) float32.
    Raises:
        ValueError: a factor below 1, or a share outside (0, 1].
    Source: docs/models/pattern.md#corridor-grid.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"the aggregation factor must be an integer >= 1, not {factor!r}")
    if not 0 < impassable_share <= 1:
        raise ValueError(f"impassable_share must be in (0, 1], not {impassable_share!r}")
    r = np.asarray(resistance, dtype=np.float64)
    if factor == 1:
        return np.where(np.isnan(r), np.inf, r).astype(np.float32)
    h, w = r.shape
    hb, wb = -(-h // factor), -(-w // factor)
    padded = np.full((hb * factor, wb * factor), np.nan)
    padded[:h, :w] = r
    inside = np.zeros(padded.shape, dtype=bool)
    inside[:h, :w] = True
    blocks = padded.reshape(hb, factor, wb, factor).swapaxes(1, 2).reshape(hb, wb, factor * factor)
    cells = inside.reshape(hb, factor, wb, factor).swapaxes(1, 2).reshape(hb, wb, factor * factor).sum(axis=-1)
    passable = np.isfinite(blocks)
    n = passable.sum(axis=-1)
    total = np.where(passable, blocks, 0.0).sum(axis=-1)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.inf)
    blocked = (cells - n) >= impassable_share * cells
    return np.where(blocked, np.inf, mean).astype(np.float32)
