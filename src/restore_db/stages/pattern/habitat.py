"""Habitat quality, as InVEST Habitat Quality 3.20 computes it (docs/models/pattern.md#habitat-quality): each threat's
impact decays with the distance to its nearest threat cell, degradation is the weighted sum of impacts times the
sensitivity of the cell's class, and quality falls with degradation by a half-saturation curve. Arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from restore_db.kernels import formulas


@dataclass(frozen=True)
class Threat:
    """A threat of the threats table: its name, maximum distance of impact (m), weight (> 0) and decay
    (``linear`` or ``exponential``)."""

    name: str
    max_dist_m: float
    weight: float
    decay: str


def classes(lulc: np.ndarray, table: Mapping[int, float]) -> np.ndarray:
    """Values by land-use class: (H, W) float64, NaN where the land use is nodata or its class is not in ``table``."""
    codes = np.asarray(lulc, dtype=np.float64)
    out = np.full(codes.shape, np.nan)
    for code, value in table.items():
        out[codes == code] = float(value)
    return out


def threat_impact(threat_cells: np.ndarray, threat: Threat, cell: float) -> np.ndarray:
    """Impact of one threat on every cell: the decay of the Euclidean distance to the nearest threat cell.

    Args:
        threat_cells: (H, W) float, the threat raster: a cell is a threat cell when it is nonzero and not NaN.
        threat: its maximum distance and decay.
        cell: cell size (m).
    Returns:
        (H, W) float64, 0..1 (0 everywhere when the raster holds no threat cell).
    Source: docs/models/pattern.md#habitat-quality (InVEST: distance transform, then ``_decay_distance``).
    """
    t = np.asarray(threat_cells, dtype=np.float64)
    region = np.isfinite(t) & (t != 0)
    if not region.any():
        return np.zeros(t.shape)
    distance = ndimage.distance_transform_edt(~region) * cell
    return formulas.hq_threat_decay(distance, threat.max_dist_m, threat.decay)


def degradation(impacts: Sequence[np.ndarray], sensitivities: Sequence[np.ndarray], threats: Sequence[Threat],
                access: np.ndarray | None = None) -> np.ndarray:
    """Total degradation ``D = access × Σ_r (w_r / Σ w) × impact_r × S_r`` (S_r the sensitivity of the cell's class to
    threat r).

    Args:
        impacts, sensitivities: one (H, W) array per threat, in the order of ``threats``.
        threats: the threats (their weights).
        access: (H, W) 0..1 accessibility (default 1 everywhere).
    Returns:
        (H, W) float64 [-]; NaN where a sensitivity is nodata.
    Raises:
        ValueError: lists of different lengths, or no threat.
    Source: docs/models/pattern.md#habitat-quality (InVEST ``_calculate_total_degradation``).
    """
    if not threats or not len(impacts) == len(sensitivities) == len(threats):
        raise ValueError("one impact and one sensitivity per threat, and at least one threat")
    total_weight = float(sum(t.weight for t in threats))
    out = np.zeros(np.shape(impacts[0]))
    for impact, sens, threat in zip(impacts, sensitivities, threats):
        out += np.asarray(impact) * np.asarray(sens) * (threat.weight / total_weight)
    return out if access is None else out * np.asarray(access, dtype=np.float64)


def habitat_quality(lulc: np.ndarray, habitat: Mapping[int, float], threats: Sequence[Threat],
                    threat_rasters: Mapping[str, np.ndarray], sensitivity: Mapping[str, Mapping[int, float]],
                    half_saturation: float, cell: float, access: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Degradation and habitat quality of a land-use grid.

    Args:
        lulc: (H, W) land-use codes (NaN nodata).
        habitat: class -> habitat suitability 0..1.
        threats: the threats; ``threat_rasters[name]`` and ``sensitivity[name]`` (class -> 0..1) for each.
        half_saturation: k (> 0).
        cell: cell size (m).
        access: optional (H, W) accessibility 0..1.
    Returns:
        (degradation, quality), (H, W) float64 each, NaN where the land use or its class values are missing.
    Raises:
        ValueError: a threat without raster or sensitivity, k <= 0.
    Source: docs/models/pattern.md#habitat-quality.
    """
    if not half_saturation > 0:
        raise ValueError(f"the half-saturation constant must be positive, not {half_saturation!r}")
    missing = [t.name for t in threats if t.name not in threat_rasters or t.name not in sensitivity]
    if missing:
        raise ValueError(f"threat(s) {', '.join(missing)} lack a raster or a sensitivity column")
    impacts = [threat_impact(threat_rasters[t.name], t, cell) for t in threats]
    sens = [classes(lulc, sensitivity[t.name]) for t in threats]
    deg = degradation(impacts, sens, threats, access)
    return deg, formulas.hq_quality(classes(lulc, habitat), deg, half_saturation)
