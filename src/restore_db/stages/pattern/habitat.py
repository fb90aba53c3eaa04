"""Habitat quality, as InVEST Habitat Quality 3.20 computes it (docs/models/pattern.md#habitat-quality): each threat's
impact decays with the distance to its nearest threat cell, degradation is the weighted sum of impacts times the
sensitivity of the cell's class, and quality falls with degradation by a half-saturation curve. Arrays in, arrays out
(:func:`habitat_quality`); :func:`read_inputs` and :func:`compute` take the inputs from the database, as
``load invest`` of a habitat_quality datastack stores them (:mod:`restore_db.load.invest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from scipy import ndimage

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.kernels import formulas
from restore_db.load.common import short_list
from restore_db.store.layers import read_array

HALF_SATURATION = "hq_half_saturation"   # the scalar k (param.scalar_def)


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


# ---------------------------------------------------------------- the inputs stored in the database


@dataclass(frozen=True)
class HabitatInputs:
    """The habitat-quality inputs of a study area, as stored by ``load invest`` (no arrays).

    Attributes:
        param_set: the land-use parameter set of the sensitivity table (``hq_sensitivity``).
        habitat: class code -> habitat suitability H, 0..1.
        threats: the threats in the order of their table (name, max distance m, weight, decay).
        layers: threat name -> the source layer of its raster (0..1, nonzero = threat cell).
        sensitivity: threat name -> (class code -> sensitivity 0..1).
        half_saturation: k, > 0 (dimensionless, like the degradation).
        half_saturation_source: where k comes from (``parameter set invest_habitat_quality: <file>``).
        scalar_set: the scalar parameter set holding k.
    """

    param_set: str
    habitat: dict[int, float]
    threats: tuple[Threat, ...]
    layers: dict[str, str]
    sensitivity: dict[str, dict[int, float]]
    half_saturation: float
    half_saturation_source: str
    scalar_set: str

    @property
    def layer_names(self) -> list[str]:
        """The source layers read besides the land use (the threat rasters), in threat order."""
        return [self.layers[t.name] for t in self.threats]


def _incomplete(area: StudyArea, what: str) -> InputError:
    return InputError(f"study area {area.name!r}: the habitat-quality inputs are incomplete: {what}; load an InVEST "
                      "habitat_quality datastack with `restore-db load invest`")


def read_inputs(conn: psycopg.Connection, area: StudyArea, param_set: str | None = None,
                scalar_set: str | None = None) -> HabitatInputs | None:
    """The habitat-quality inputs of ``area``: the sensitivity table with its threats, the layers of the threat
    rasters and the half-saturation constant, checked for completeness; no array is read.

    Args:
        conn: a connection (nothing is written).
        area: the study area.
        param_set: the land-use parameter set holding the threats; default the only one of the area.
        scalar_set: the scalar set holding ``hq_half_saturation``; default the newest set that defines it.
    Returns:
        :class:`HabitatInputs`, or None when the area has none of these inputs (no set with threats, no
        ``hq_half_saturation``) and ``param_set`` is not given.
    Raises:
        InputError: only part of the inputs is loaded (threats without k, k without threats, a threat layer or a
            class value missing), several sets hold threats and none is named, or ``param_set`` /
            ``scalar_set`` holds no threats / no k. The message names what is missing.
    Source: docs/models/pattern.md#habitat-quality; storage in sql/022_habitat_threats.sql.
    """
    sid = area.study_area_id
    sets = [r[0] for r in conn.execute(
        """SELECT DISTINCT p.name FROM param.param_set p JOIN param.threat t USING (param_set_id)
           WHERE p.study_area_id = %s AND (%s::text IS NULL OR p.name = %s) ORDER BY 1""",
        (sid, param_set, param_set)).fetchall()]
    k_row = conn.execute(
        """SELECT s.value, s.source, p.name FROM param.scalar s JOIN param.param_set p USING (param_set_id)
           WHERE p.study_area_id = %s AND s.name = %s AND (%s::text IS NULL OR p.name = %s)
           ORDER BY p.loaded_at DESC, p.param_set_id DESC LIMIT 1""",
        (sid, HALF_SATURATION, scalar_set, scalar_set)).fetchone()
    if not sets:
        if param_set is not None:
            raise InputError(f"study area {area.name!r} has no habitat-quality threats in parameter set "
                             f"{param_set!r}")
        if k_row is None:
            return None
        raise _incomplete(area, f"{HALF_SATURATION} is loaded (parameter set {k_row[2]!r}) but no sensitivity table "
                                "with its threats")
    if len(sets) > 1:
        raise InputError(f"study area {area.name!r} has several habitat-quality sensitivity tables "
                         f"({short_list(sets)}): name one of them")
    name = sets[0]
    if k_row is None:
        where = f" in parameter set {scalar_set!r}" if scalar_set else ""
        raise _incomplete(area, f"no half-saturation constant ({HALF_SATURATION}{where}) for parameter set {name!r}")
    (set_id,) = conn.execute("SELECT param_set_id FROM param.param_set WHERE study_area_id = %s AND name = %s",
                             (sid, name)).fetchone()
    threats, layers = [], {}
    for threat, max_dist, weight, decay, layer in conn.execute(
            "SELECT threat, max_dist_m, weight, decay, layer FROM param.threat WHERE param_set_id = %s "
            "ORDER BY position", (set_id,)).fetchall():
        threats.append(Threat(threat, float(max_dist), float(weight), decay))
        layers[threat] = layer
    loaded = {r[0] for r in conn.execute(
        "SELECT name FROM core.layer WHERE study_area_id = %s AND run_id IS NULL AND name = ANY(%s)",
        (sid, list(layers.values()))).fetchall()}
    absent = [f"layer {layers[t.name]!r} of threat {t.name!r}" for t in threats if layers[t.name] not in loaded]
    if absent:
        raise _incomplete(area, f"{short_list(absent)} (parameter set {name!r}) not loaded")
    codes = [r[0] for r in conn.execute("SELECT lucode FROM param.lulc_class WHERE param_set_id = %s ORDER BY 1",
                                        (set_id,)).fetchall()]
    habitat = {int(c): float(v) for c, v in conn.execute(
        "SELECT lucode, value FROM param.lulc_value WHERE param_set_id = %s AND coefficient = 'habitat'",
        (set_id,)).fetchall()}
    sensitivity: dict[str, dict[int, float]] = {t.name: {} for t in threats}
    for code, threat, value in conn.execute(
            "SELECT lucode, threat, value FROM param.threat_sensitivity WHERE param_set_id = %s", (set_id,)).fetchall():
        sensitivity[threat][int(code)] = float(value)
    gaps = [f"habitat of class {c}" for c in codes if c not in habitat]
    gaps += [f"sensitivity of class {c} to {t}" for t in sensitivity for c in codes if c not in sensitivity[t]]
    if gaps:
        raise _incomplete(area, f"parameter set {name!r} has no {short_list(gaps)}")
    value, source, k_set = k_row
    return HabitatInputs(name, habitat, tuple(threats), layers, sensitivity, float(value),
                         f"parameter set {k_set}" + (f": {source}" if source else ""), k_set)


def compute(conn: psycopg.Connection, area: StudyArea, lulc: np.ndarray, inputs: HabitatInputs | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Degradation and habitat quality of a land-use grid of ``area``, with the inputs stored in the database.

    Args:
        conn: a connection (nothing is written).
        area: the study area; its pixel size (m) is the cell size.
        lulc: (H, W) land-use codes on the study grid (the grid's height and width), NaN for nodata (e.g.
            ``store.layers.read_array(conn, area, "lulc")``).
        inputs: from :func:`read_inputs` (read when not given).
    Returns:
        (degradation, quality): (H, W) float64 each, dimensionless (degradation 0..1, quality 0..H), NaN where
        the land use is nodata; computed by :func:`habitat_quality` from the threat layers read as float64 with
        NaN for nodata (a nodata cell is no threat cell, as in InVEST).
    Raises:
        InputError: the area has no habitat-quality inputs, they are incomplete (:func:`read_inputs`), or a class
            present in ``lulc`` is missing from the sensitivity table (named, with the set).
        ValueError: ``lulc`` is not on the study grid.
    Source: docs/models/pattern.md#habitat-quality (InVEST Habitat Quality 3.20).
    """
    inputs = inputs if inputs is not None else read_inputs(conn, area)
    if inputs is None:
        raise InputError(f"study area {area.name!r} has no habitat-quality inputs; load an InVEST habitat_quality "
                         "datastack with `restore-db load invest`")
    grid = area.grid
    lulc = np.asarray(lulc, dtype=np.float64)
    if lulc.shape != (grid.height, grid.width):
        raise ValueError(f"the land use is {lulc.shape[0]} x {lulc.shape[1]} cells, the grid of study area "
                         f"{area.name!r} {grid.height} x {grid.width}")
    present = np.unique(lulc[np.isfinite(lulc)])
    missing = [int(c) for c in present if int(c) not in inputs.habitat]
    if missing:
        raise InputError(f"habitat quality: land-use class(es) {short_list(missing)} of study area {area.name!r} are "
                         f"missing from the sensitivity table (parameter set {inputs.param_set!r})")
    rasters = {t.name: read_array(conn, area, inputs.layers[t.name]) for t in inputs.threats}
    return habitat_quality(lulc, inputs.habitat, inputs.threats, rasters, inputs.sensitivity,
                           inputs.half_saturation, grid.pixel_size)
