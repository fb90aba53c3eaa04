"""Ecological sources (docs/models/pattern.md#ecological-sources): ecosystem-service importance, its most important
share, the core of the natural foreground (MSPA Core, approximated by erosion), and source patches. Arrays in, arrays
out; NaN is nodata.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from restore_db.kernels import formulas

EIGHT = np.ones((3, 3), dtype=bool)     # 8-connectivity, as MSPA's default foreground connectivity


def importance(services: Mapping[str, np.ndarray], weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Ecosystem-service importance: the weighted sum of the services, each min–max scaled over its valid cells.

    Args:
        services: name -> (H, W) supply layer (water yield, soil conservation, carbon, habitat quality ...), NaN nodata.
        weights: name -> weight (summing to 1); default equal weights.
    Returns:
        (H, W) float64 in [0, 1]; NaN where any service is nodata.
    Raises:
        ValueError: no service, weights that do not name the services or do not sum to 1, shapes that differ.
    Source: docs/models/pattern.md#ecological-sources.
    """
    if not services:
        raise ValueError("importance needs at least one service")
    names = list(services)
    w = {n: 1.0 / len(names) for n in names} if weights is None else dict(weights)
    if set(w) != set(names) or abs(sum(w.values()) - 1.0) > 1e-9:
        raise ValueError(f"weights must name the services {names} and sum to 1")
    shapes = {np.shape(a) for a in services.values()}
    if len(shapes) != 1:
        raise ValueError(f"the service layers differ in shape: {sorted(shapes)}")
    scaled = []
    for name in names:
        x = np.asarray(services[name], dtype=np.float64)
        valid = np.isfinite(x)
        lo, hi = (x[valid].min(), x[valid].max()) if valid.any() else (np.nan, np.nan)
        scaled.append(formulas.minmax_scale(x, lo, hi))
    return formulas.weighted_mean(scaled, [w[n] for n in names])


def top_share(values: np.ndarray, share: float) -> np.ndarray:
    """The most important cells: those that, taken from the highest value down, hold the first ``share`` of the
    total value (the "top x % of cumulative value" rule).

    Args:
        values: (H, W) float >= 0, NaN nodata.
        share: in (0, 1].
    Returns:
        (H, W) bool.
    Raises:
        ValueError: a share outside (0, 1].
    Source: docs/models/pattern.md#ecological-sources.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share!r}")
    v = np.asarray(values, dtype=np.float64)
    flat = np.where(np.isfinite(v), v, 0.0).ravel()
    order = np.argsort(-flat, kind="stable")
    cum = np.cumsum(flat[order])
    total = cum[-1] if len(cum) else 0.0
    out = np.zeros(flat.shape, dtype=bool)
    if total > 0:
        # a cell is taken when the value before it has not yet reached the share
        before = cum - flat[order]
        out[order[(before < share * total) & (flat[order] > 0)]] = True
    return out.reshape(v.shape)


def core(foreground: np.ndarray, edge_width: int) -> np.ndarray:
    """MSPA Core, approximated: the foreground eroded ``edge_width`` times by the 3 × 3 square (8-connectivity).

    Cells beyond the grid count as foreground (the study area is cut from a larger landscape), nodata cells inside
    it as background.

    Args:
        foreground: (H, W) bool, natural land (forest, grassland, water and wetland by default).
        edge_width: edge width in cells (>= 1).
    Returns:
        (H, W) bool.
    Raises:
        ValueError: an edge width below 1.
    Source: docs/models/pattern.md#ecological-sources (Soille & Vogt 2009, MSPA).
    """
    if int(edge_width) != edge_width or edge_width < 1:
        raise ValueError(f"edge width must be a whole number of cells >= 1, not {edge_width!r}")
    fg = np.asarray(foreground, dtype=bool)
    return ndimage.binary_erosion(fg, structure=EIGHT, iterations=int(edge_width), border_value=1)


def patches(mask: np.ndarray, cell_area_m2: float, min_area_m2: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """Source patches: the 8-connected components of ``mask`` of at least ``min_area_m2``, numbered 1..n by
    decreasing area (ties by position).

    Args:
        mask: (H, W) bool.
        cell_area_m2: area of one cell (m²).
        min_area_m2: smallest patch kept (m²).
    Returns:
        (labels, areas): (H, W) int32 with 0 outside the patches, and the area (m²) of patch k at index k - 1.
    Source: docs/models/pattern.md#ecological-sources.
    """
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=EIGHT)
    if n == 0:
        return np.zeros(labels.shape, dtype=np.int32), []
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    first = ndimage.minimum(np.arange(labels.size).reshape(labels.shape), labels, index=np.arange(1, n + 1))
    keep = [k for k in range(n) if counts[k] * cell_area_m2 >= min_area_m2]
    keep.sort(key=lambda k: (-counts[k], first[k]))
    remap = np.zeros(n + 1, dtype=np.int32)
    for new, k in enumerate(keep, start=1):
        remap[k + 1] = new
    return remap[labels], [float(counts[k] * cell_area_m2) for k in keep]
