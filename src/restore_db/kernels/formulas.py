"""Per-pixel formulas of the five ecosystem services (single source of truth).

Every per-pixel equation used by the pipeline — water yield, carbon, soil
conservation (CSLE), food and recreation, plus the supply–demand ratio — is
written here once, as a pure numpy function.  The module runs unchanged in the
Python pipeline and inside PostgreSQL's PL/Python, so it imports only numpy
(1.24 API: no numpy-2-only calls, no scipy) and the standard library, and
nothing from ``restore_db``.

Conventions (``docs/models/conventions.md#conventions-common-to-every-model):

* Inputs are numpy arrays of any shape (2-D tiles usually) or scalars; they
  are converted to float64 and broadcast against each other.  The result has
  the broadcast shape; a result of all-scalar inputs is a numpy float64.
* **Nodata is NaN.**  Any NaN operand gives a NaN result unless the function's
  docstring names an exception.
* A division by zero gives NaN (or the documented fallback), never ±inf; as a
  final guard every public function maps any ±inf it would return to NaN.
* Physically bounded factors (FVC, C, B) are clamped to [0, 1].
* Units are SI unless stated; ``ha`` = 10 000 m², ``t`` = Mg.

Citations point to the model pages of ``docs/models/``; the worked values are listed in
docs/models/README.md#reference-test-values.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    # water (docs/models/water-yield.md#water-yield-and-water-demand)
    "awy_fractp",
    "awy_water_yield",
    "water_yield_volume",
    "water_demand_domestic",
    # carbon (docs/models/carbon.md#carbon-storage-and-carbon-demand)
    "carbon_storage",
    "per_pixel",
    "carbon_valuation_constant",
    "carbon_demand",
    # topography (docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#cross-check-with-invest-sdr)
    "horn_slope_degrees",
    "slope_percent_to_degrees",
    "slope_degrees_to_percent",
    "csle_m",
    "csle_S",
    "csle_L",
    "ls_ucav",
    # CSLE factors (docs/models/soil-conservation.md#soil-conservation-with-the-chinese-soil-loss-equation)
    "rusle_R_monthly",
    "R_annual_zhang_fu",
    "zhang2002_beta_alpha",
    "zhang2002_halfmonth_erosivity",
    "epic_K",
    "fvc_dimidiate",
    "cai_C",
    "b_forest",
    "b_grass",
    "csle_soil_loss",
    "soil_demand",
    # food (docs/models/food.md#food-supply-and-demand)
    "food_ndvi_weight",
    "food_supply_ndvi",
    "food_supply_lookup",
    "food_demand",
    # recreation (docs/models/recreation.md#leisure-and-recreation)
    "proximity_bonus",
    "recreation_supply",
    "recreation_demand_density",
    # habitat quality (docs/models/pattern.md#habitat-quality)
    "hq_threat_decay",
    "hq_quality",
    # supply–demand (docs/models/ratios.md#ratios-of-supply-and-demand-deficit-classes-and-matching-types)
    "esdr",
    "esdr_scaled",
    "minmax_scale",
    "weighted_mean",
]

NAN = np.nan
M2_PER_HA = 10_000.0
M2_PER_KM2 = 1_000_000.0
C_PER_CO2 = 12.0 / 44.0  # mass of C in a mass of CO2
EPIC_US_TO_SI = 0.1317  # K: US customary -> t·ha·h/(ha·MJ·mm)
R_US_TO_SI = 17.02  # R: hundreds of ft·tonf·in/(acre·h·yr) -> MJ·mm/(ha·h·yr)
USLE_UNIT_LENGTH = 22.13  # m, length of the USLE unit plot


# ---------------------------------------------------------------------------
# private helpers
# ---------------------------------------------------------------------------


def _quiet(fn):
    """Run ``fn`` with numpy floating-point warnings silenced.

    NaN results of invalid operations and masked divisions are intended here,
    so the warnings they raise are noise (and would be errors under some
    PL/Python warning filters).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            return fn(*args, **kwargs)

    return wrapper


def _f(x):
    """``x`` as a float64 ndarray (bool/int accepted)."""
    return np.asarray(x, dtype=np.float64)


def _ret(a):
    """Final guard: float64, ±inf -> NaN; 0-d results become numpy scalars."""
    a = np.asarray(a, dtype=np.float64)
    a = np.where(np.isinf(a), NAN, a)
    return a if a.ndim else a[()]


def _div(num, den):
    """``num / den`` with ``den == 0`` -> NaN (never inf)."""
    num = _f(num)
    den = _f(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den == 0, NAN, out)


def _any_nan(*arrays):
    """Elementwise: is any of the (broadcast) arrays NaN?"""
    mask = np.zeros(np.broadcast(*[_f(a) for a in arrays]).shape, dtype=bool)
    for a in arrays:
        mask = mask | np.isnan(_f(a))
    return mask


def _set_nan(values, mask):
    """Copy of ``values`` (broadcast to ``mask``'s shape) with NaN where ``mask``."""
    values = np.broadcast_to(_f(values), np.broadcast(_f(values), mask).shape)
    return np.where(mask, NAN, values)


# ---------------------------------------------------------------------------
# 3. Water yield (InVEST Annual Water Yield) and water demand
# ---------------------------------------------------------------------------


def _fu_aet_ratio(x, w):
    """Fu (1981) / Zhang et al. (2004) AET/P = 1 + x - (1 + x**w)**(1/w), x = PET/P.

    Evaluated in a form that is algebraically identical to InVEST's expression
    but cannot overflow or cancel catastrophically:

    * x <= 1:  x - expm1(log1p(x**w) / w)
    * x >  1:  1 - x * expm1(log1p(x**-w) / w)      (factoring x out of the root)

    * x = +inf (P so small that PET/P overflows): the limit, 1.

    Both stay in [0, 1] for x >= 0 and w >= 1 and agree with InVEST's float32
    output far below its precision (checked on the docs/models/water-yield.md#invest-fractp-fixture fixture).
    """
    small = x <= 1
    y = np.where(small, x, 1.0 / x)          # x**-w == (1/x)**w: one power, log and exp per pixel
    r = np.expm1(np.log1p(y**w) / w)
    return np.where(small, x - r, np.where(np.isposinf(x), 1.0, 1.0 - x * r))


@_quiet
def awy_fractp(kc, eto, precip, root_depth, soil_depth, pawc, veg, z):
    """Actual-evapotranspiration fraction AET/P ("fractp") of InVEST Annual Water Yield.

    Computes, per pixel (InVEST ``annual_water_yield.fractp_op``)::

        PET  = Kc * ET0                                    mm
        veg == 1 (vegetated):
            AWC = min(root_depth, soil_depth) * PAWC       mm
            w   = min(AWC / P * Z + 1.25, 5)
            fractp = min(PET/P, 1 + PET/P - (1 + (PET/P)**w)**(1/w))
        veg != 1 (water, urban, wetland, bare ...):
            fractp = min(P, PET) / P

    Order of operations as in InVEST: min(root, depth) before the PAWC product;
    ``(AWC / P) * Z + 1.25`` then capped at 5 (the cap includes the 1.25);
    vegetated result = min(PET/P, AET/P).  The Fu term is evaluated in an
    overflow-free but algebraically identical form (``_fu_aet_ratio``).

    Units: kc [-]; eto, precip, root_depth, soil_depth [mm, mm/yr]; pawc
    [fraction 0-1]; veg [0/1 flag, any value other than 1 is non-vegetated,
    as in InVEST]; z [-] (seasonality constant, scalar or array).
    Output: fractp [-], in [0, 1] for non-negative inputs.

    Nodata: NaN in kc, eto, precip, soil_depth, pawc, veg or z -> NaN;
    **precip <= 0 -> NaN** (InVEST treats P = 0 as invalid; negative P is not
    physical).  Exception: ``root_depth`` is ignored where veg != 1 (a NaN or
    -1 root depth of a non-vegetated class does not invalidate the pixel).

    Source: docs/models/water-yield.md#supply-annual-water-yield, docs/models/water-yield.md#invest-fractp-fixture; InVEST ``annual_water_yield.py::fractp_op``
    (Fu 1981; Zhang et al. 2004; Donohue et al. 2012 for the cap of 5).
    """
    kc, eto, p, root, soil, pawc, veg, z = np.broadcast_arrays(
        *[_f(a) for a in (kc, eto, precip, root_depth, soil_depth, pawc, veg, z)]
    )
    is_veg = veg == 1
    pet = kc * eto
    phi = pet / p

    # vegetated branch (InVEST order of operations)
    awc = np.where(root < soil, root, soil) * pawc
    w = (awc / p) * z + 1.25
    w = np.where(w > 5, 5.0, w)
    aet_p = _fu_aet_ratio(phi, w)
    veg_result = np.where(phi < aet_p, phi, aet_p)

    # non-vegetated branch: min(P, Kc*ET0) / P
    nonveg_result = np.where(p < pet, p, pet) / p

    out = np.where(is_veg, veg_result, nonveg_result)
    invalid = _any_nan(kc, eto, p, soil, pawc, veg, z) | ~(p > 0) | (is_veg & np.isnan(root))
    return _ret(_set_nan(out, invalid))


@_quiet
def awy_water_yield(fractp, precip):
    """Water yield and actual evapotranspiration from fractp (InVEST ``wyield_op``).

    Computes ``wyield = (1 - fractp) * P`` and ``aet = fractp * P``.

    Units: fractp [-]; precip [mm/yr].  Output: tuple ``(wyield_mm, aet_mm)``,
    both mm/yr (depth over the pixel).

    Nodata: NaN in either input -> NaN in both outputs.

    Source: docs/models/water-yield.md#supply-annual-water-yield; InVEST ``annual_water_yield.py::wyield_op`` / ``aet_op``.
    """
    f = _f(fractp)
    p = _f(precip)
    return _ret((1.0 - f) * p), _ret(f * p)


@_quiet
def water_yield_volume(wyield_mm, pixel_area_m2):
    """Water-yield volume of a pixel: ``Y [mm] * a_px [m2] / 1000`` -> m3/yr.

    Units: wyield_mm [mm/yr]; pixel_area_m2 [m2].  Output: m3/yr.
    Nodata: NaN propagates.
    Source: docs/models/water-yield.md#supply-annual-water-yield (InVEST ``wyield_vol`` = mean depth x area / 1000), docs/models/water-yield.md#demand-water-use.
    """
    return _ret(_f(wyield_mm) * _f(pixel_area_m2) / 1000.0)


@_quiet
def water_demand_domestic(pop, q_dom):
    """Domestic water demand ``W_dom = Pop * q_dom * 365 / 1000``.

    Units: pop [persons per pixel]; q_dom [L/(person*d)].  Output: m3/yr.
    Nodata: NaN propagates.
    Source: docs/models/water-yield.md#demand-water-use (provincial Water Resources Bulletins for q_dom).
    """
    return _ret(_f(pop) * _f(q_dom) * 365.0 / 1000.0)


# ---------------------------------------------------------------------------
# 2. Carbon
# ---------------------------------------------------------------------------


@_quiet
def carbon_storage(c_above, c_below, c_soil, c_dead):
    """Total carbon density: sum of the four InVEST pools.

    Units: each pool t C/ha (Mg/ha, elemental carbon).  Output: t C/ha.
    Nodata: NaN in any pool -> NaN (never treated as 0).
    Source: docs/models/carbon.md#supply-carbon-storage, docs/models/carbon.md#reference-test-values; InVEST ``carbon.py`` (per-hectare outputs
    since 3.15.0).
    """
    return _ret(_f(c_above) + _f(c_below) + _f(c_soil) + _f(c_dead))


@_quiet
def per_pixel(value_per_ha, pixel_area_m2):
    """Per-hectare density to per-pixel total: ``value * a_px / 10 000``.

    Units: value_per_ha [X/ha], pixel_area_m2 [m2].  Output: X per pixel
    (e.g. t C/ha -> t C, t/(ha*yr) -> t/yr).  Linear in pixel area.
    Nodata: NaN propagates.
    Source: docs/models/conventions.md#grid-crs-and-alignment, docs/models/carbon.md#supply-carbon-storage ("Total (t) = sum C * a_px / 10 000"), docs/models/soil-conservation.md#equation.
    """
    return _ret(_f(value_per_ha) * _f(pixel_area_m2) / M2_PER_HA)


@_quiet
def carbon_valuation_constant(price, discount_rate_pct, rate_change_pct, years):
    """InVEST carbon valuation constant V (NPV_i = delta C_i * V).

    With n = years (alt_year - bas_year), r = discount_rate_pct/100,
    c = rate_change_pct/100, ratio = 1/((1+r)(1+c))::

        V = price / n * sum_{t=0}^{n-1} ratio**t
          = price / n * (1 - ratio**n) / (1 - ratio)      ratio != 1
          = price                                         ratio == 1

    The geometric sum is evaluated as ``expm1(n*ln ratio) / expm1(ln ratio)``
    with ``ln ratio = -(log1p(r) + log1p(c))``, which equals InVEST's closed
    form and is exact (-> n) when ratio is 1 or within rounding of 1.

    Units: price [currency / t C]; rates in **percent** per year; years [yr].
    Output: currency / t C.

    Nodata: NaN propagates; years <= 0 -> NaN (n = 0 is a division by zero);
    (1+r)(1+c) <= 0 -> NaN (rates <= -100 % have no meaning).

    Source: docs/models/carbon.md#supply-carbon-storage, docs/models/carbon.md#reference-test-values; InVEST ``carbon.py::_calculate_valuation_constant``.
    """
    price = _f(price)
    r = _f(discount_rate_pct) / 100.0
    c = _f(rate_change_pct) / 100.0
    n = _f(years)
    log_ratio = -(np.log1p(r) + np.log1p(c))
    geo_sum = np.where(log_ratio == 0, n, np.expm1(n * log_ratio) / np.expm1(log_ratio))
    v = price / n * geo_sum
    invalid = ~(n > 0) | ~((1.0 + r) * (1.0 + c) > 0)
    return _ret(_set_nan(v, invalid))


@_quiet
def carbon_demand(pop, e_pc_co2):
    """Carbon demand (emissions) ``D_C = Pop * e_pc * 12/44``.

    Units: pop [persons per pixel]; e_pc_co2 [t CO2/(person*yr)].
    Output: t C/yr.
    Nodata: NaN propagates.
    Source: docs/models/carbon.md#demand-emissions-of-the-population.
    """
    return _ret(_f(pop) * _f(e_pc_co2) * C_PER_CO2)


# ---------------------------------------------------------------------------
# 4.4 / 4.6 Topography: slope, L, S, LS
# ---------------------------------------------------------------------------


_SQRT2 = 2.0**0.5


def _outer_line(p, m, q, e, vp, vm, vq):
    """pygeoprocessing's difference along an outer row or column ``p m q`` (weight 1) of the window.

    Returns ``(numerator, factor)`` oriented from ``p`` to ``q``: ``q - p`` with factor 2
    when both ends are valid; else the one-cell difference with the middle cell
    (``m - p`` or ``q - m``, factor 1); else the valid end against the centre times
    sqrt(2) (``(e - p) * sqrt 2`` or ``(q - e) * sqrt 2``, factor 1); else 0 with factor 0.
    """
    num = np.where(vp & vq, q - p,
                   np.where(vp & vm, m - p,
                            np.where(vm & vq, q - m,
                                     np.where(vp, (e - p) * _SQRT2, np.where(vq, (q - e) * _SQRT2, 0.0)))))
    fac = np.where(vp & vq, 2.0, np.where(vp | vq, 1.0, 0.0))
    return num, fac


def _middle_line(p, q, e, vp, vq):
    """pygeoprocessing's difference along the middle row or column ``p e q`` (weight 2).

    ``2 (q - p)`` with factor 4 when both are valid; else ``2 (e - p)`` or
    ``2 (q - e)`` with factor 2; else 0 with factor 0.
    """
    num = np.where(vp & vq, 2.0 * (q - p), np.where(vp, 2.0 * (e - p), np.where(vq, 2.0 * (q - e), 0.0)))
    fac = np.where(vp & vq, 4.0, np.where(vp | vq, 2.0, 0.0))
    return num, fac


@_quiet
def horn_slope_degrees(dem_with_halo, cell_size):
    """Slope in degrees by Horn's (1981) method, with pygeoprocessing's stencil next to nodata.

    For every interior cell e of the window ``a b c / d e f / g h i`` whose 8
    neighbours are all valid (Horn; GDAL ``gdaldem slope``, PostGIS ``ST_Slope``)::

        dz/dx = ((c + 2f + i) - (a + 2d + g)) / (8 * dx)
        dz/dy = ((g + 2h + i) - (a + 2b + c)) / (8 * dy)
        slope = atan(sqrt(dz/dx**2 + dz/dy**2))    in degrees

    Where a neighbour is nodata, the rule of pygeoprocessing ``calculate_slope``
    (InVEST's slope) is used.  dz/dx sums the three rows (a-c, d-f, g-i), dz/dy
    the three columns (a-g, b-h, c-i); each line contributes:

    * outer line ``p m q`` (weight 1): ``q - p`` over 2 cells if both ends are
      valid; else ``m - p`` or ``q - m`` over 1 cell if the middle cell and one
      end are valid; else ``(e - p)`` or ``(q - e)`` times sqrt(2) over 1 cell
      if one end is valid; else nothing;
    * middle line ``p e q`` (weight 2): ``2 (q - p)`` over 4 cells if both are
      valid; else ``2 (e - p)`` or ``2 (q - e)`` over 2 cells; else nothing;

    and ``dz/dx = sum / (sum of cells * dx)`` (likewise dz/dy with dy), or 0
    when no line contributes.  With all 8 neighbours valid this is Horn's
    stencil, and those cells are computed with the Horn formulas above (the
    same values as before the partial stencil existed).  The sqrt(2) branch
    is pygeoprocessing's: it is not exact on a plane (sqrt 2 times the
    diagonal rise, over one cell) and is kept for parity with InVEST.

    Input: a 2-D DEM tile carrying a 1-pixel halo on every side (the halo is
    NaN beyond the grid and in missing tiles, so the grid border follows the
    same rule); output shape is ``(rows - 2, cols - 2)`` (the interior),
    float64.  ``cell_size`` is the pixel size in the DEM's vertical unit (m):
    a scalar for square pixels or ``(dx, dy)``; signs are ignored.
    Output: degrees in [0, 90).

    Nodata: NaN (any non-finite height) is nodata.  Centre cell nodata -> NaN.
    A valid centre always gets a slope: nodata neighbours only change the
    stencil as above, and a cell whose 8 neighbours are all nodata has slope 0.

    Errors: ``ValueError`` if the tile is not 2-D and at least 3x3, or if a
    cell size is zero.

    Source: docs/models/soil-conservation.md#slope-length-and-steepness-ls ("slope with Horn's method"); Horn (1981); GDAL
    ``gdaldem`` slope algorithm; pygeoprocessing ``calculate_slope``
    (``geoprocessing_core.pyx``) as used by InVEST SDR 3.20 (which works in
    percent, ``100 * sqrt(dz/dx**2 + dz/dy**2)``; see
    :func:`slope_degrees_to_percent`).
    """
    z = _f(dem_with_halo)
    if z.ndim != 2 or z.shape[0] < 3 or z.shape[1] < 3:
        raise ValueError(f"dem_with_halo must be 2-D and at least 3x3, got shape {z.shape}")
    if np.ndim(cell_size) == 0:
        dx = dy = abs(float(cell_size))
    else:
        dx, dy = (abs(float(v)) for v in cell_size)
    if dx == 0 or dy == 0:
        raise ValueError("cell_size must be non-zero")
    rows, cols = z.shape
    ok = np.isfinite(z)

    def win(arr, i, j):
        return arr[i : rows - 2 + i, j : cols - 2 + j]

    a, b, c = win(z, 0, 0), win(z, 0, 1), win(z, 0, 2)
    d, e, f = win(z, 1, 0), win(z, 1, 1), win(z, 1, 2)
    g, h, i = win(z, 2, 0), win(z, 2, 1), win(z, 2, 2)
    va, vb, vc = win(ok, 0, 0), win(ok, 0, 1), win(ok, 0, 2)
    vd, ve, vf = win(ok, 1, 0), win(ok, 1, 1), win(ok, 1, 2)
    vg, vh, vi = win(ok, 2, 0), win(ok, 2, 1), win(ok, 2, 2)

    # Horn, where all 8 neighbours are valid
    dzdx = ((c + 2.0 * f + i) - (a + 2.0 * d + g)) / (8.0 * dx)
    dzdy = ((g + 2.0 * h + i) - (a + 2.0 * b + c)) / (8.0 * dy)
    full = va & vb & vc & vd & vf & vg & vh & vi
    if not full[ve].all():
        # pygeoprocessing's partial stencil elsewhere (x: left -> right, y: top -> bottom, as Horn)
        lines_x = (_outer_line(a, b, c, e, va, vb, vc), _middle_line(d, f, e, vd, vf),
                   _outer_line(g, h, i, e, vg, vh, vi))
        lines_y = (_outer_line(a, d, g, e, va, vd, vg), _middle_line(b, h, e, vb, vh),
                   _outer_line(c, f, i, e, vc, vf, vi))
        partial = []
        for lines, size in ((lines_x, dx), (lines_y, dy)):
            num = lines[0][0] + lines[1][0] + lines[2][0]
            fac = lines[0][1] + lines[1][1] + lines[2][1]
            partial.append(np.where(fac > 0, num / (np.where(fac > 0, fac, 1.0) * size), 0.0))
        dzdx = np.where(full, dzdx, partial[0])
        dzdy = np.where(full, dzdy, partial[1])
    slope = np.degrees(np.arctan(np.sqrt(dzdx * dzdx + dzdy * dzdy)))
    return _ret(_set_nan(slope, ~ve | np.isnan(slope)))


@_quiet
def slope_percent_to_degrees(pct):
    """Slope in percent (100 * rise/run) to degrees: ``atan(pct/100)``. NaN propagates. docs/models/soil-conservation.md#cross-check-with-invest-sdr."""
    return _ret(np.degrees(np.arctan(_f(pct) / 100.0)))


@_quiet
def slope_degrees_to_percent(theta_deg):
    """Slope in degrees to percent: ``100 * tan(theta)``. NaN propagates; 90° -> NaN. docs/models/soil-conservation.md#cross-check-with-invest-sdr."""
    t = _f(theta_deg)
    out = 100.0 * np.tan(np.radians(t))
    return _ret(_set_nan(out, np.abs(t) >= 90.0))


@_quiet
def csle_m(theta_deg):
    """CSLE slope-length exponent m from the slope angle (degrees).

    m = 0.2 (theta <= 1°), 0.3 (1° < theta <= 3°), 0.4 (3° < theta <= 5°),
    0.5 (theta > 5°).

    Units: theta_deg [degrees].  Output: m [-].
    Nodata: NaN -> NaN.
    Source: docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#invest-sdr-ls-fixture note on break points (Liu et al. 1994, 2000;
    McCool et al. 1989 classes on degree break points).
    """
    t = _f(theta_deg)
    m = np.where(t <= 1.0, 0.2, np.where(t <= 3.0, 0.3, np.where(t <= 5.0, 0.4, 0.5)))
    return _ret(_set_nan(m, np.isnan(t)))


@_quiet
def csle_S(theta_deg):
    """CSLE slope-steepness factor S (McCool et al. 1987 + Liu et al. 1994 steep-slope branch).

    S = 10.8 sin(theta) + 0.03    theta < 5°
    S = 16.8 sin(theta) - 0.50    5° <= theta < 10°
    S = 21.91 sin(theta) - 0.96   theta >= 10°

    The discontinuity at 10° (2.42 vs 2.84) is part of the published form.

    Units: theta_deg [degrees].  Output: S [-].
    Nodata: NaN -> NaN.
    Source: docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#csle-factor-values (Liu Baoyu et al. 1994, 2000).
    """
    t = _f(theta_deg)
    s = np.sin(np.radians(t))
    out = np.where(t < 5.0, 10.8 * s + 0.03, np.where(t < 10.0, 16.8 * s - 0.50, 21.91 * s - 0.96))
    return _ret(_set_nan(out, np.isnan(t)))


@_quiet
def csle_L(slope_length_m, theta_deg):
    """CSLE slope-length factor from a horizontal slope length: ``L = (lambda / 22.13)**m``.

    m from :func:`csle_m` (degree break points).

    Units: slope_length_m [m, horizontal]; theta_deg [degrees].  Output: L [-].
    Nodata: NaN in either input -> NaN; negative lengths -> NaN.
    Source: docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#csle-factor-values (Wischmeier & Smith 1978; Liu et al. 2000).
    """
    lam = _f(slope_length_m)
    m = _f(csle_m(theta_deg))
    return _ret((lam / USLE_UNIT_LENGTH) ** m)


def _invest_m(theta_deg):
    """InVEST SDR m exponent: percent break points 1 / 3.5 / 5 / 9 %, beta/(1+beta) above 9 %."""
    t = _f(theta_deg)
    rad = np.radians(t)
    pct = 100.0 * np.tan(rad)
    s = np.sin(rad)
    beta = (s / 0.0896) / (3.0 * s**0.8 + 0.56)
    table = np.where(pct <= 1.0, 0.2, np.where(pct <= 3.5, 0.3, np.where(pct <= 5.0, 0.4, 0.5)))
    return np.where(pct > 9.0, beta / (1.0 + beta), table)


def _mccool_S(theta_deg):
    """InVEST SDR (McCool 1987) S: 10.8 sin + 0.03 below 9 %, else 16.8 sin - 0.5."""
    t = _f(theta_deg)
    rad = np.radians(t)
    pct = 100.0 * np.tan(rad)
    s = np.sin(rad)
    return np.where(pct < 9.0, 10.8 * s + 0.03, 16.8 * s - 0.5)


@_quiet
def ls_ucav(theta_deg, flow_acc_cells, cell_size, l_max, s_method="csle", m_method="csle"):
    """LS factor by the unit-contributing-area method (Desmet & Govers 1996, as InVEST SDR).

    Per pixel, with D = cell size (m), FA = flow accumulation in cells
    **including the cell itself**::

        A_in = sqrt((FA - 1) * D**2)          InVEST/SAGA "square root of catchment area"
        x    = |sin(theta)| + |cos(theta)|    InVEST uses the slope angle (classic D&G: aspect)
        L    = ((A_in + D**2)**(m+1) - A_in**(m+1)) / (D**(m+2) * x**m * 22.13**m)
        L    = min(L, l_max)
        LS   = L * S

    The mixed units of ``A_in + D**2`` (m and m2) are InVEST's; kept so that
    the InVEST fixture (docs/models/soil-conservation.md#invest-sdr-ls-fixture) is reproduced.

    Options:

    * ``s_method="csle"``: Liu steep-slope S (:func:`csle_S`, degree break
      points 5°/10°); ``"mccool"``: InVEST SDR S (break point 9 %).
    * ``m_method="csle"``: :func:`csle_m` (1°/3°/5°); ``"invest"``: InVEST SDR m
      (1/3.5/5/9 %, ``beta/(1+beta)`` above 9 %,
      ``beta = (sin theta / 0.0896) / (3 sin(theta)**0.8 + 0.56)``).

    ``s_method="mccool", m_method="invest"`` reproduces InVEST
    ``sdr._calculate_ls_factor`` (percent slope p <-> theta = atan(p/100)).

    Units: theta_deg [degrees]; flow_acc_cells [cells]; cell_size [m];
    l_max [-] (None = no cap).  Output: LS [-].

    Nodata: NaN in theta or FA -> NaN; FA < 1 -> NaN (a cell counts itself).

    Source: docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#cross-check-with-invest-sdr, docs/models/soil-conservation.md#invest-sdr-ls-fixture, docs/models/soil-conservation.md#csle-factor-values; InVEST ``sdr.py::_calculate_ls_factor``;
    Desmet & Govers (1996); McCool et al. (1987, 1989); Liu et al. (1994).
    """
    if s_method not in ("csle", "mccool"):
        raise ValueError(f"s_method must be 'csle' or 'mccool', got {s_method!r}")
    if m_method not in ("csle", "invest"):
        raise ValueError(f"m_method must be 'csle' or 'invest', got {m_method!r}")
    t = _f(theta_deg)
    fa = _f(flow_acc_cells)
    d = _f(cell_size)
    cell_area = d * d
    m = _f(csle_m(t)) if m_method == "csle" else _invest_m(t)
    s_factor = _f(csle_S(t)) if s_method == "csle" else _mccool_S(t)

    contributing = np.sqrt((fa - 1.0) * cell_area)
    rad = np.radians(t)
    x = np.abs(np.sin(rad)) + np.abs(np.cos(rad))
    l_factor = ((contributing + cell_area) ** (m + 1.0) - contributing ** (m + 1.0)) / (
        d ** (m + 2.0) * x**m * USLE_UNIT_LENGTH**m
    )
    if l_max is not None:
        l_factor = np.where(l_factor > l_max, _f(l_max), l_factor)
    ls = l_factor * s_factor
    return _ret(_set_nan(ls, np.isnan(t) | np.isnan(fa) | ~(fa >= 1.0)))


# ---------------------------------------------------------------------------
# 4.2 R — rainfall erosivity
# ---------------------------------------------------------------------------


@_quiet
def rusle_R_monthly(monthly_precip_mm):
    """Rainfall erosivity from monthly precipitation (Wischmeier–Smith / Arnoldus form).

    ::

        R_US = sum_{i=1..12} 1.735 * 10**(1.5 * log10(P_i**2 / P) - 0.8188)
        R    = 17.02 * R_US

    with P_i the monthly and P = sum P_i the annual precipitation.  A month
    with P_i = 0 contributes 0 (10**-inf).

    Input: array of shape ``(12, ...)`` (month first), mm.
    Output: R in MJ*mm/(ha*h*yr), shape ``monthly.shape[1:]``.

    Nodata: NaN in any month -> NaN; annual P = 0 -> NaN (division by zero);
    negative monthly values -> NaN.

    Source: docs/models/soil-conservation.md#r-from-monthly-precipitation, docs/models/soil-conservation.md#csle-factor-values (Wischmeier & Smith 1978; Arnoldus 1980;
    the exponent is -0.8188, not the misprinted -0.08188).
    """
    pm = _f(monthly_precip_mm)
    if pm.ndim == 0 or pm.shape[0] != 12:
        raise ValueError(f"monthly_precip_mm must have 12 months on axis 0, got shape {pm.shape}")
    annual = pm.sum(axis=0)
    ratio = _div(pm * pm, annual)
    r_us = (1.735 * 10.0 ** (1.5 * np.log10(ratio) - 0.8188)).sum(axis=0)
    invalid = np.isnan(annual) | (annual == 0) | np.any(pm < 0, axis=0)
    return _ret(_set_nan(R_US_TO_SI * r_us, invalid))


@_quiet
def R_annual_zhang_fu(P):
    """Rainfall erosivity from annual precipitation: ``R = 0.0534 * P**1.6548``.

    Units: P [mm/yr].  Output: R [MJ*mm/(ha*h*yr)].
    Nodata: NaN -> NaN; negative P -> NaN.
    Source: docs/models/soil-conservation.md#r-from-annual-precipitation (Zhang Wenbo & Fu Jinsheng 2003, Resources
    Science) (constants as published; check them against the source before relying on them).
    """
    return _ret(0.0534 * _f(P) ** 1.6548)


@_quiet
def zhang2002_beta_alpha(pd12, py12):
    """Parameters of the half-month daily-rainfall erosivity model (Zhang, Xie & Liu 2002).

    beta = 0.8363 + 18.144 / P_d12 + 24.455 / P_y12;  alpha = 21.586 * beta**(-7.1891)

    Units: pd12 = mean daily rainfall of erosive days (>= 12 mm) [mm];
    py12 = mean annual sum of erosive-day rainfall [mm].
    Output: tuple ``(beta, alpha)`` [-].
    Nodata: NaN propagates; pd12 or py12 = 0 -> NaN.
    Source: docs/models/soil-conservation.md#r-from-daily-rainfall, docs/models/soil-conservation.md#csle-factor-values (Zhang W.B., Xie Y., Liu B.Y. 2002,
    Scientia Geographica Sinica 22(6):705-711).
    """
    beta = 0.8363 + _div(18.144, pd12) + _div(24.455, py12)
    alpha = 21.586 * beta ** (-7.1891)
    return _ret(beta), _ret(alpha)


@_quiet
def zhang2002_halfmonth_erosivity(daily_mm, alpha, beta, threshold_mm=12.0):
    """Erosivity of one half-month: ``M = alpha * sum_j D_j**beta`` over erosive days.

    Days with rainfall below ``threshold_mm`` (12 mm) count as 0.

    Input: daily rainfall, shape ``(n_days, ...)`` (day first), mm.
    Output: M in MJ*mm/(ha*h) for the half-month, shape ``daily.shape[1:]``.
    Nodata: NaN on any day, or NaN alpha/beta -> NaN (even with no erosive day).
    Source: docs/models/soil-conservation.md#r-from-daily-rainfall, docs/models/soil-conservation.md#csle-factor-values (Zhang, Xie & Liu 2002).
    """
    d = _f(daily_mm)
    if d.ndim == 0:
        raise ValueError("daily_mm must have days on axis 0")
    b = _f(beta)
    erosive = np.where(d >= threshold_mm, d, 0.0)
    total = np.where(erosive > 0, erosive**b, 0.0).sum(axis=0)
    invalid = np.any(np.isnan(d), axis=0) | np.isnan(_f(alpha)) | np.isnan(b)
    return _ret(_set_nan(_f(alpha) * total, invalid))


# ---------------------------------------------------------------------------
# 4.3 K — soil erodibility
# ---------------------------------------------------------------------------


@_quiet
def epic_K(san, sil, cla, oc, correction="zhang2007"):
    """Soil erodibility K by EPIC (Williams 1990) with the optional Chinese correction.

    ::

        K_EPIC = {0.2 + 0.3 exp[-0.0256 SAN (1 - SIL/100)]} * [SIL/(CLA + SIL)]**0.3
                 * {1 - 0.25 C / [C + exp(3.72 - 2.95 C)]}
                 * {1 - 0.7 SN1 / [SN1 + exp(-5.51 + 22.9 SN1)]},   SN1 = 1 - SAN/100

    ``correction``:

    * ``"zhang2007"`` (default, the form most often printed):
      ``K = (-0.01383 + 0.51575 * K_EPIC) * 0.1317``
    * ``"zhang2007_si"`` (variant applying the correction to the SI value):
      ``K = -0.01383 + 0.51575 * (K_EPIC * 0.1317)``
    * ``"none"``: ``K = K_EPIC * 0.1317``

    Units: san, sil, cla = sand/silt/clay [%]; oc = organic carbon [%]
    (organic matter / 1.724).  Output: K in SI, t*ha*h/(ha*MJ*mm), clamped at
    >= 0 (the linear correction turns negative for K_EPIC < 0.027).

    Nodata: NaN propagates; SIL + CLA = 0 -> NaN (0/0 in the silt term).

    Source: docs/models/soil-conservation.md#soil-erodibility-k, docs/models/soil-conservation.md#csle-factor-values (Williams 1990; Sharpley & Williams 1990;
    Zhang Keli et al. 2007/2008 — (the published form is ambiguous; see docs/models/soil-conservation.md#soil-erodibility-k)).
    """
    if correction not in ("zhang2007", "zhang2007_si", "none"):
        raise ValueError(f"correction must be 'zhang2007', 'zhang2007_si' or 'none', got {correction!r}")
    san, sil, cla, c = _f(san), _f(sil), _f(cla), _f(oc)
    sn1 = 1.0 - san / 100.0
    f_csand = 0.2 + 0.3 * np.exp(-0.0256 * san * (1.0 - sil / 100.0))
    f_clsi = _div(sil, cla + sil) ** 0.3
    f_orgc = 1.0 - 0.25 * c / (c + np.exp(3.72 - 2.95 * c))
    f_hisand = 1.0 - 0.7 * sn1 / (sn1 + np.exp(-5.51 + 22.9 * sn1))
    k_epic = f_csand * f_clsi * f_orgc * f_hisand
    if correction == "zhang2007":
        k = (-0.01383 + 0.51575 * k_epic) * EPIC_US_TO_SI
    elif correction == "zhang2007_si":
        k = -0.01383 + 0.51575 * (k_epic * EPIC_US_TO_SI)
    else:
        k = k_epic * EPIC_US_TO_SI
    return _ret(np.maximum(k, 0.0))


# ---------------------------------------------------------------------------
# 4.5 B, C — vegetation factors
# ---------------------------------------------------------------------------


@_quiet
def fvc_dimidiate(ndvi, ndvi_soil, ndvi_veg):
    """Fractional vegetation cover by the dimidiate pixel model, clamped to [0, 1].

    ``FVC = (NDVI - NDVI_soil) / (NDVI_veg - NDVI_soil)``; NDVI_soil/NDVI_veg
    are usually the 5 % / 95 % cumulative percentiles of the scene.

    Units: NDVI [-].  Output: FVC as a **fraction** 0-1.
    Nodata: NaN propagates; NDVI_veg == NDVI_soil -> NaN (division by zero).
    Source: docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t (Gutman & Ignatov 1998; Li Miaomiao 2003).
    """
    fvc = _div(_f(ndvi) - _f(ndvi_soil), _f(ndvi_veg) - _f(ndvi_soil))
    return _ret(np.clip(fvc, 0.0, 1.0))


@_quiet
def cai_C(fvc):
    """Cover-management factor C of Cai Chongfa et al. (2000) from vegetation cover.

    With f = 100 * fvc (percent)::

        C = 1                              f <= 0
        C = 0.6508 - 0.3436 log10(f)       0 < f < 78.3
        C = 0                              f >= 78.3

    and the result clamped to [0, 1] (the log branch exceeds 1 for f < 0.096 %).

    Units: **fvc is a fraction 0-1** (the output of :func:`fvc_dimidiate`),
    converted to percent internally.  Output: C [-] in [0, 1].
    Nodata: NaN -> NaN.
    Source: docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t, docs/models/soil-conservation.md#csle-factor-values (Cai Chongfa et al. 2000).
    """
    f = 100.0 * _f(fvc)
    c = np.where(f <= 0.0, 1.0, np.where(f >= 78.3, 0.0, 0.6508 - 0.3436 * np.log10(f)))
    return _ret(_set_nan(np.clip(c, 0.0, 1.0), np.isnan(f)))


@_quiet
def b_forest(gd, fvc):
    """CSLE biological factor B for forest/shrub (first national water census).

    ``B = 0.44468 exp(-3.20096 GD) - 0.04099 exp(FVC - FVC*GD) + 0.025``,
    clamped to [0, 1].  If canopy closure is unknown use GD = FVC.

    Units: gd = canopy closure, fvc = understorey cover, both fractions 0-1.
    Output: B [-].
    Nodata: NaN propagates.
    Source: docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t, docs/models/soil-conservation.md#csle-factor-values (Liu Baoyu et al., national soil-erosion
    survey 2010-2012) (constants as published; check them against the source before relying on them).
    """
    g = _f(gd)
    f = _f(fvc)
    b = 0.44468 * np.exp(-3.20096 * g) - 0.04099 * np.exp(f - f * g) + 0.025
    return _ret(np.clip(b, 0.0, 1.0))


@_quiet
def b_grass(fvc):
    """CSLE biological factor B for grassland: ``1 / (1.17647 + 0.86242 * 1.05905**(100 FVC))``.

    Units: fvc fraction 0-1.  Output: B [-], clamped to [0, 1].
    Nodata: NaN propagates.
    Source: docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t, docs/models/soil-conservation.md#csle-factor-values (Liu Baoyu et al., national soil-erosion
    survey) (constants as published; check them against the source before relying on them).
    """
    f = _f(fvc)
    b = 1.0 / (1.17647 + 0.86242 * 1.05905 ** (100.0 * f))
    return _ret(np.clip(b, 0.0, 1.0))


# ---------------------------------------------------------------------------
# 4.1 / 4.7 Soil loss, conservation and demand
# ---------------------------------------------------------------------------


@_quiet
def csle_soil_loss(R, K, LS, B, E=1.0, T=1.0):
    """CSLE potential loss, actual loss and soil conservation.

    ::

        A_p = R * K * LS               potential (no cover, no measures)
        A   = A_p * B * E * T          actual
        SC  = A_p - A                  soil conservation

    Units: R [MJ*mm/(ha*h*yr)]; K [t*ha*h/(ha*MJ*mm)]; LS, B, E, T [-]
    (E = T = 1 by default: no mapped terraces / tillage table).
    Output: tuple ``(A_p, A, SC)`` in t/(ha*yr); use :func:`per_pixel` for t/yr.
    Nodata: NaN in any factor -> NaN in all three outputs.
    Source: docs/models/soil-conservation.md#equation (Liu Baoyu et al. 2001/2002); analogue of InVEST
    SDR ``avoided_erosion = RKLS - USLE`` (docs/models/soil-conservation.md#cross-check-with-invest-sdr).
    """
    a_p = _f(R) * _f(K) * _f(LS)
    bet = _f(B) * _f(E) * _f(T)
    a = a_p * bet
    mask = np.isnan(a)  # covers every operand
    return _ret(_set_nan(a_p, mask)), _ret(a), _ret(_set_nan(a_p - a, mask))


@_quiet
def soil_demand(actual_A, a_tol=None, method="actual"):
    """Soil-conservation demand.

    * ``method="actual"``: D = A (the erosion that must be controlled); a_tol unused.
    * ``method="tolerance"``: D = max(A - A_tol, 0).

    Units: actual_A and a_tol in the same unit, normally t/(ha*yr)
    (A_tol = 2 t/(ha*yr) = 200 t/(km2*yr) for BTH, 5 for Hunan, 10 for the
    Loess Plateau, SL 190-2007).  Output: same unit as actual_A.
    Nodata: NaN in A -> NaN; NaN in a_tol -> NaN for ``"tolerance"``.
    Source: docs/models/soil-conservation.md#demand.
    """
    a = _f(actual_A)
    if method == "actual":
        return _ret(a)
    if method == "tolerance":
        if a_tol is None:
            raise ValueError("method='tolerance' needs a_tol")
        return _ret(np.maximum(a - _f(a_tol), 0.0))
    raise ValueError(f"method must be 'actual' or 'tolerance', got {method!r}")


# ---------------------------------------------------------------------------
# 1. Food
# ---------------------------------------------------------------------------


@_quiet
def food_ndvi_weight(ndvi, cropland):
    """NDVI allocation weight of a pixel: ``max(NDVI, 0)`` on cropland, 0 elsewhere.

    The county denominator of :func:`food_supply_ndvi` must be the (nodata-
    skipping) sum of this weight over the county's pixels.

    Units: ndvi [-]; cropland [0/1 mask, non-zero = cropland].  Output: [-].
    Nodata: NaN cropland -> NaN; NaN NDVI -> NaN on cropland, 0 off cropland
    (NDVI is not used there).
    Source: docs/models/food.md#method-a-grain-output-allocated-by-ndvi.
    """
    n = _f(ndvi)
    crop = _f(cropland)
    is_crop = crop != 0
    w = np.where(is_crop, np.maximum(n, 0.0), 0.0)
    return _ret(_set_nan(w, np.isnan(crop) | (is_crop & np.isnan(n))))


@_quiet
def food_supply_ndvi(ndvi, cropland, county_grain_t, county_ndvi_sum):
    """Grain supply allocated to cropland pixels by NDVI (method A).

    ``G_i = G_c * max(NDVI_i, 0) / sum_{k in cropland(c)} max(NDVI_k, 0)`` on
    cropland pixels; 0 on non-cropland pixels; 0 everywhere in a county whose
    cropland-NDVI sum is 0 (no cropland — a G_c > 0 there is a data
    inconsistency to report upstream).

    Units: ndvi [-]; cropland [0/1 mask]; county_grain_t [t/yr, the pixel's
    county value]; county_ndvi_sum [-, sum of :func:`food_ndvi_weight` over
    the county].  Output: t per pixel per year (divide by a_px/10 000 for t/ha).

    Nodata: NaN in cropland, county_grain_t or county_ndvi_sum -> NaN (e.g.
    pixels outside every county); NaN NDVI -> NaN only on cropland (a
    non-cropland pixel supplies 0 whatever its NDVI).
    Source: docs/models/food.md#method-a-grain-output-allocated-by-ndvi.
    """
    w = _f(food_ndvi_weight(ndvi, cropland))
    g = _f(county_grain_t)
    s = _f(county_ndvi_sum)
    share = np.where(s == 0, 0.0, w / np.where(s == 0, 1.0, s))
    out = np.where(w == 0, 0.0, g * share)
    return _ret(_set_nan(out, np.isnan(w) | np.isnan(g) | np.isnan(s)))


@_quiet
def food_supply_lookup(yield_t_ha, pixel_area_m2):
    """Food supply by land-use lookup (method B): ``G_i = y(lulc_i) * a_px / 10 000``.

    Units: yield_t_ha [t/(ha*yr)], pixel_area_m2 [m2].  Output: t per pixel per year.
    Nodata: NaN propagates.
    Source: docs/models/food.md#method-b-class-yield.
    """
    return per_pixel(yield_t_ha, pixel_area_m2)


@_quiet
def food_demand(pop, c_food):
    """Food demand ``D_i = Pop_i * c_food``.

    Units: pop [persons per pixel]; c_food [t/(person*yr)] (0.4 = the 400 kg
    food-security standard, a configuration value).  Output: t per pixel per year.
    Nodata: NaN propagates.
    Source: docs/models/food.md#demand.
    """
    return _ret(_f(pop) * _f(c_food))


# ---------------------------------------------------------------------------
# 5. Recreation
# ---------------------------------------------------------------------------


@_quiet
def proximity_bonus(dist_m_list, weights, d0_list):
    """Attraction bonus from distances to K feature types: ``sum_k w_k * exp(-d_k / d0_k)``.

    Units: dist_m_list = sequence of K distance arrays [m] (``+inf`` = no such
    feature, contributes 0); weights = K weights [-]; d0_list = K decay
    distances [m] (e.g. 2 000-5 000).  Output: bonus [-] (>= 0 for w >= 0);
    0 for K = 0.
    Nodata: NaN in any distance or weight -> NaN; d0 <= 0 -> NaN.
    Source: docs/models/recreation.md#supply-scored-land-use-near-water-and-forest (quality multiplier q = 1 + bonus) (project decision).
    """
    dists = list(dist_m_list)
    ws = list(weights)
    d0s = list(d0_list)
    if not (len(dists) == len(ws) == len(d0s)):
        raise ValueError("dist_m_list, weights and d0_list must have the same length")
    total = _f(0.0)
    for d, w, d0 in zip(dists, ws, d0s):
        d, w, d0 = _f(d), _f(w), _f(d0)
        term = w * np.exp(-_div(d, d0))
        total = total + _set_nan(term, ~(d0 > 0))
    return _ret(total)


@_quiet
def recreation_supply(score, proximity_bonus):
    """Recreation supply ``Rec_S = score * (1 + bonus)``.

    Units: score [0-5 relative land-use score]; proximity_bonus [-] (from
    :func:`proximity_bonus`; 0 = no quality adjustment).  Output: relative score.
    Nodata: NaN propagates.
    Source: docs/models/recreation.md#supply-scored-land-use-near-water-and-forest.
    """
    return _ret(_f(score) * (1.0 + _f(proximity_bonus)))


@_quiet
def recreation_demand_density(pop, pixel_area_m2):
    """Recreation demand as population density: ``Pop / (a_px / 10**6)``.

    Units: pop [persons per pixel]; pixel_area_m2 [m2].  Output: persons/km2.
    Nodata: NaN propagates; pixel area 0 -> NaN.
    Source: docs/models/recreation.md#demand-population-density.
    """
    return _ret(_div(_f(pop), _f(pixel_area_m2) / M2_PER_KM2))


# ---------------------------------------------------------------------------
# Habitat quality (InVEST Habitat Quality)
# ---------------------------------------------------------------------------

#: InVEST's constant of the exponential decay: the impact falls to about 5 % (exp(-2.99)) at the maximum distance.
HQ_EXP_DECAY = 2.99
#: InVEST's scaling exponent z of the half-saturation function.
HQ_Z = 2.5


@_quiet
def hq_threat_decay(distance_m, max_dist_m, decay):
    """Impact of a threat at a distance from its nearest threat cell: ``linear`` ``1 − d / d_max``, ``exponential``
    ``exp(−2.99 d / d_max)``, both 0 beyond ``d_max``.

    Units: distance_m, max_dist_m [m]. Output: [-], 0..1.
    Nodata: NaN propagates. Raises: ValueError for another decay or d_max <= 0.
    Source: docs/models/pattern.md#habitat-quality (InVEST 3.20 habitat_quality ``_decay_distance``).
    """
    if not max_dist_m > 0:
        raise ValueError(f"the maximum distance of a threat must be positive, not {max_dist_m!r}")
    d = _f(distance_m)
    if decay == "linear":
        out = np.where(d > max_dist_m, 0.0, (max_dist_m - d) / max_dist_m)
    elif decay == "exponential":
        out = np.where(d > max_dist_m, 0.0, np.exp(-d * HQ_EXP_DECAY / max_dist_m))
    else:
        raise ValueError(f"decay must be linear or exponential, not {decay!r}")
    return _ret(_set_nan(out, np.isnan(d)))


@_quiet
def hq_quality(habitat, degradation, k, z=HQ_Z):
    """Habitat quality ``Q = H (1 − D^z / (D^z + k^z))``.

    Units: habitat H [-] 0..1 (class suitability); degradation D [-] (the weighted sum of threat impacts times
    sensitivities); k the half-saturation constant [-] (> 0). Output: [-], 0..H.
    Nodata: NaN propagates.
    Source: docs/models/pattern.md#habitat-quality (InVEST 3.20 habitat_quality; Sharp et al., InVEST user guide).
    """
    h, dz = _f(habitat), _f(degradation) ** z
    return _ret(h * (1.0 - dz / (dz + float(k) ** z)))


# ---------------------------------------------------------------------------
# 6. Supply–demand ratio
# ---------------------------------------------------------------------------


@_quiet
def esdr(S, D, s_max, d_max):
    """Ecosystem-service supply–demand ratio ``(S - D) / ((S_max + D_max) / 2)``.

    S_max, D_max are the maxima over all units of the study area (fix them
    across years for multi-year comparison).  Range (-2, 2); [-1, 1] when S
    and D are min–max scaled first.  >0 surplus, <0 deficit.

    Units: S, D, s_max, d_max in one identical unit (or all normalised).
    Output: [-].
    Nodata: NaN in S or D (or the maxima) -> NaN; S_max + D_max = 0 -> 0
    (no service and no demand anywhere; the caller should warn).
    Source: docs/models/ratios.md#esdr, docs/models/ratios.md#reference-test-values (Li J.H., Jiang H.W., Bai Y. et al. 2016,
    Ecological Indicators 60).
    """
    s, d = _f(S), _f(D)
    half = (_f(s_max) + _f(d_max)) / 2.0
    out = np.where(half == 0, 0.0, (s - d) / np.where(half == 0, 1.0, half))
    return _ret(_set_nan(out, _any_nan(s, d, half)))



def esdr_scaled(S, D, scaling, s_min, s_max, d_min, d_max):
    """ESDR after the scaling of S and D: ``(S' - D') / ((S'_max + D'_max) / 2)``.

    ``scaling`` ``raw``: S' = S, D' = D and the maxima are ``s_max``, ``d_max``
    (S and D in one unit). ``minmax``: S' = minmax_scale(S, s_min, s_max), D'
    likewise, and their maxima are 1 (0 when the side is constant: it carries
    no information). The minima and maxima are over all units of the study area
    (counties for county ESDR, pixels for the ESDR maps), so counties and pixels
    follow this one rule.

    Returns: (ESDR, S', D'), arrays of the shape of S. Units: [-] for ESDR and
    scaled values; S', D' in the unit of S and D when raw.
    Nodata: as :func:`esdr` and :func:`minmax_scale`.
    Raises: ValueError for another ``scaling``.
    Source: docs/models/ratios.md#esdr (Li J.H. et al. 2016, Ecological Indicators 60).
    """
    if scaling == "raw":
        return esdr(S, D, s_max, d_max), S, D
    if scaling != "minmax":
        raise ValueError(f"scaling must be raw or minmax, not {scaling!r}")
    s = minmax_scale(S, s_min, s_max)
    d = minmax_scale(D, d_min, d_max)
    return esdr(s, d, 1.0 if s_max > s_min else 0.0, 1.0 if d_max > d_min else 0.0), s, d


@_quiet
def minmax_scale(x, lo, hi, direction=1):
    """Min–max scaling by direction: ``(x - lo)/(hi - lo)`` (direction +1) or
    ``(hi - x)/(hi - lo)`` (direction -1).

    ``lo``, ``hi`` are the minimum and maximum over all units of the study
    area. Output: [-], within [0, 1] for x in [lo, hi].
    Nodata: NaN in x -> NaN; ``hi == lo`` -> 0 everywhere (a constant carries
    no information; the caller warns).
    Source: docs/models/conventions.md#normalisation, docs/models/ratios.md#esdr (scaling before ESDR), docs/models/resilience.md#normalisation.
    """
    x, lo, hi = _f(x), _f(lo), _f(hi)
    span = hi - lo
    safe = np.where(span == 0, 1.0, span)
    out = (x - lo) / safe if direction >= 0 else (hi - x) / safe
    out = np.where(span == 0, 0.0, out)
    return _ret(_set_nan(out, _any_nan(x, lo, hi)))


@_quiet
def weighted_mean(values, weights):
    """``Σ_j w_j v_j`` over a list of arrays ``values`` with weights summing to 1.

    Used for CESD (equal weights 1/n, or the weighted variant).
    Output: unit of the values. Nodata: NaN in any ``v_j`` -> NaN.
    Source: docs/models/ratios.md#cesd.
    """
    out = np.zeros(np.broadcast(*[_f(v) for v in values]).shape)
    for v, w in zip(values, weights):
        out = out + float(w) * _f(v)
    return _ret(_set_nan(out, _any_nan(*values)))
