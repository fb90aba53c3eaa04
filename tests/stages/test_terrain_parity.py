"""Terrain (slope, flow accumulation) and LS parity with natcap.invest 3.20.2 SDR.

Reference: the real InVEST SDR run on the BTH 1 km grid in
../shared/data/invest/bth_1km_reference (``flow_dir_algorithm=MFD``, ``l_max=122``,
EPSG:32650, 1000 m pixels).  Its intermediate rasters are InVEST's own output:
``pit_filled_dem``, ``slope`` (percent), ``flow_accumulation`` (cells, incl. self),
``ls``; ``rkls`` is the final RKLS.  InVEST aligns the inputs to the watershed
vector first: its rasters are 2 px smaller on each side than ``dem_m.tif`` and
nodata outside the counties, so the DEM it routed is ``dem_m.tif`` on that window,
masked where ``pit_filled_dem`` is nodata.  No database is needed.

The numbers asserted are the ones measured on this data (docs/csle-vs-invest-sdr.md).
The last tests are small synthetic cases for :func:`restore_db.stages.services.terrain.flow_accumulation`.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from conftest import shared_data
from restore_db.stages.services import terrain
from restore_db.kernels import formulas as F

REF = ("invest", "bth_1km_reference")
CELL = 1000.0  # m
L_MAX = 122.0  # sdr_datastack.json
N_VALID = 216264  # valid pixels of every SDR intermediate raster
# slope break points of InVEST's m table / S switch, in degrees
P1, P35, P9 = (float(np.degrees(np.arctan(p / 100.0))) for p in (1.0, 3.5, 9.0))


def _read(path):
    with rasterio.open(path) as src:
        arr = src.read(1).astype(np.float64)
        if src.nodata is not None:
            arr[arr == src.nodata] = np.nan
        return arr, src.transform


@pytest.fixture(scope="module")
def sdr():
    """InVEST's SDR rasters, and the inputs cut to their window, as float64 with NaN nodata."""
    inter = shared_data(*REF, "outputs", "sdr", "intermediate")
    out = {name: _read(inter / f"{name}.tif")[0] for name in ("slope", "flow_accumulation", "ls")}
    out["pit_filled_dem"], window = _read(inter / "pit_filled_dem.tif")
    out["rkls"] = _read(shared_data(*REF, "outputs", "sdr", "rkls.tif"))[0]
    out["stream"] = _read(shared_data(*REF, "outputs", "sdr", "stream.tif"))[0]
    rows, cols = out["ls"].shape
    for key, name in (("dem", "dem_m"), ("R", "erosivity_MJmm_ha_h_yr"), ("K", "erodibility_t_ha_h_ha_MJ_mm")):
        arr, transform = _read(shared_data(*REF, "inputs", f"{name}.tif"))
        r0 = round((transform.f - window.f) / CELL)
        c0 = round((window.c - transform.c) / CELL)
        out[key] = arr[r0:r0 + rows, c0:c0 + cols]
    out["dem"] = np.where(np.isnan(out["pit_filled_dem"]), np.nan, out["dem"])
    out["theta"] = F.slope_percent_to_degrees(out["slope"])
    return out


def _rel(a, b):
    return np.abs(a - b) / np.abs(b)


def _invest_ls_float32(percent_slope, flow_acc, cell, l_max, m_breaks=(1.0, 3.5, 5.0, 9.0)):
    """InVEST 3.20 ``sdr._calculate_ls_factor`` with its dtypes: the slope raster is
    float32, so trig and S run in float32 and ``m_exp`` is a float32 array (the flow
    accumulation is float64, so is the numerator). Same dtypes under numpy 1.26 and 2.x."""
    p = percent_slope.astype(np.float32)
    rad = np.arctan(p / 100)
    aspect = np.fabs(np.sin(rad)) + np.fabs(np.cos(rad))
    s = np.where(p < 9, 10.8 * np.sin(rad) + 0.03, 16.8 * np.sin(rad) - 0.5)
    beta = (np.sin(rad) / 0.0896) / (3 * np.sin(rad) ** 0.8 + 0.56)
    big = p > 9
    m = np.empty(p.shape, dtype=np.float32)
    m[big] = beta[big] / (1 + beta[big])
    m[~big] = np.array([0.2, 0.3, 0.4, 0.5])[np.digitize(p[~big], np.array(m_breaks), right=True)]
    area = np.sqrt((flow_acc - 1) * cell**2)
    lf = ((area + cell**2) ** (m + 1) - area ** (m + 1)) / (cell ** (m + 2) * aspect**m * 22.13**m)
    lf[lf > l_max] = l_max
    return lf * s


# float32 machine epsilon: a float32 result k ulps away from another differs by at most k * EPS32 relatively
EPS32 = 2.0**-23
# numpy's float32 arctan, sin, cos and power are within 4 ulps of the exact result on every SIMD path and
# version (SVML on AVX-512: 4 ulps max, numpy PR 19478; numpy-simd-routines: ~4 ulps, PR 29699; its own
# validation sets allow 3 for arctan, 2 for sin/cos; glibc < 2), so two machines differ by up to 8 ulps
F32_FN_ULPS = 8


def _ls_float32_tolerance(percent_slope, flow_acc, cell):
    """Largest relative difference between two runs of :func:`_invest_ls_float32` on machines whose
    float32 arctan/sin/cos/power differ by up to F32_FN_ULPS ulps; per pixel, first order in EPS32.

    With f = F32_FN_ULPS * EPS32 (one function) and e = EPS32 (one float32 rounding of inputs that differ):

    * rad = arctan(p/100): f; sin: r_s = 2f (f + rad cot(rad) f); cos: f (1 + rad tan(rad));
      aspect x = sin + cos: max of both + e;
    * S = 10.8 sin + 0.03 or 16.8 sin - 0.5: kappa (r_s + e) + e, kappa = |sin term / S| (<= 1.5);
    * m is the exact table value at p <= 9 % (the same on every machine: nothing below is amplified);
      above, m = beta / (1 + beta) with r_m <= 1.8 r_s + f + 6e (sin**0.8, sums, quotients);
    * L = ((A + D^2)^(m+1) - A^(m+1)) / (D^(m+2) x^m 22.13^m), A = sqrt(FA - 1) D: a change dm of m
      changes ln L by at most dm (|ln((A + D^2) / (22.13 D x))| + 1/(m+1)) (the numerator's
      d ln / d(m+1) lies in [ln(A + D^2), ln(A + D^2) + 1/(m+1)]); m + 1 and m + 2 are rounded to
      float32 (one ulp: e and 2e), which ln(A + D^2) ~ 14 and ln D ~ 7 amplify separately;
    * the three float32 powers of the denominator: 3f, its two float32 products: 2e, x^m: m r_x.

    On BTH: 30-52 ulps (3.6e-6 - 6.2e-6) at p <= 9 %, up to 206 ulps (2.5e-5) above.
    """
    p = np.asarray(percent_slope, dtype=np.float64)
    f, e = F32_FN_ULPS * EPS32, EPS32
    rad = np.arctan(p / 100.0)
    sin = np.sin(rad)
    r_s = 2 * f
    r_x = np.maximum(r_s, f * (1 + rad * np.tan(rad))) + e
    lin = np.where(p < 9, 10.8 * sin, 16.8 * sin)
    r_S = np.abs(lin / np.where(p < 9, lin + 0.03, lin - 0.5)) * (r_s + e) + e
    beta = (sin / 0.0896) / (3 * sin**0.8 + 0.56)
    big = p > 9
    table = np.array([0.2, 0.3, 0.4, 0.5, 0.5])[np.digitize(p, [1.0, 3.5, 5.0, 9.0], right=True)]
    m = np.where(big, beta / (1 + beta), table)
    dm = np.where(big, m * (1.8 * r_s + f + 6 * e), 0.0)
    b1 = np.sqrt((flow_acc - 1) * cell**2) + cell**2
    x = sin + np.cos(rad)
    through_m = dm * (np.abs(np.log(b1 / (22.13 * cell * x))) + 1 / (m + 1))
    exponent_rounding = np.where(big, (np.log(b1) + 1 / (m + 1)) * e + np.log(cell) * 2 * e, 0.0)
    return r_S + through_m + exponent_rounding + 3 * f + 2 * e + m * r_x


# ---------------------------------------------------------------------------
# a. where the methods coincide: InVEST's own slope and FA -> formulas.ls_ucav
# ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_ls_ucav_reproduces_invest_ls(sdr):
    ours = F.ls_ucav(sdr["theta"], sdr["flow_accumulation"], CELL, L_MAX, s_method="mccool", m_method="invest")
    ref = sdr["ls"]
    valid = ~np.isnan(ref)
    assert valid.sum() == N_VALID
    assert np.array_equal(valid, ~np.isnan(ours))
    rel = _rel(ours[valid], ref[valid])
    assert rel.max() < 2.5e-6, rel.max()  # measured 1.81e-6
    assert np.median(rel) < 5e-7  # measured 3.2e-7
    # the whole difference is InVEST's float32 arithmetic on the float32 slope raster: a float32 emulation
    # agrees, up to the few ulps by which float32 arctan/sin/cos/power differ between numpy builds and
    # CPUs (SIMD paths), amplified where m is computed (x**m with x ~ 1e6): a per-pixel bound in ulps
    slope, fa = sdr["slope"][valid], sdr["flow_accumulation"][valid]
    bound = _ls_float32_tolerance(slope, fa, CELL)
    assert bound.max() < 210 * EPS32 and (bound[slope <= 9] < 53 * EPS32).all()
    rel = _rel(_invest_ls_float32(slope, fa, CELL, L_MAX), ref[valid])
    assert (rel <= bound).all(), (rel / bound).max()  # measured max 1.95e-6 (16.4 ulps), 0.086 of the bound
    # and it still fails a wrong emulation: m's 3.5 % break at 3 % exceeds it on the 6984 pixels between
    # (5.0e-1, 88 000 times the bound). (It cannot tell float64 from float32 arithmetic, 15 ulps apart:
    # as much as two machines may differ.)
    wrong = _rel(_invest_ls_float32(slope, fa, CELL, L_MAX, m_breaks=(1.0, 3.0, 5.0, 9.0)), ref[valid])
    assert (wrong > bound).sum() == ((slope > 3.0) & (slope <= 3.5)).sum() == 6984
    # l_max = 122 is never reached at 1 km (max L = 11.25): the clamp is covered by the docs/models/soil-conservation.md#invest-sdr-ls-fixture fixture
    l_only = F.ls_ucav(sdr["theta"], sdr["flow_accumulation"], CELL, None, s_method="mccool", m_method="invest")
    assert np.nanmax(l_only / F._mccool_S(sdr["theta"])) < 12.0


@pytest.mark.realdata
def test_rkls_is_r_k_ls_per_hectare_on_non_stream_pixels(sdr):
    ls = F.ls_ucav(sdr["theta"], sdr["flow_accumulation"], CELL, L_MAX, s_method="mccool", m_method="invest")
    rkls = sdr["rkls"]
    valid = ~np.isnan(rkls)
    # RKLS is nodata on InVEST's stream pixels (threshold_flow_accumulation = 50), valid elsewhere
    assert np.array_equal(valid, ~np.isnan(ls) & (sdr["stream"] == 0))
    assert valid.sum() == N_VALID - 37140
    ours = sdr["R"] * sdr["K"] * ls
    rel = _rel(ours[valid], rkls[valid])
    assert rel.max() < 2.5e-6, rel.max()  # measured 1.78e-6 (the LS float32 difference above)
    # t/(ha·yr), not t per pixel: multiplying by the pixel area (100 ha) would be off by 100x
    pixel_area_ha = CELL * CELL / 10_000.0
    assert np.median(rkls[valid] / (ours[valid] * pixel_area_ha)) == pytest.approx(0.01, rel=1e-6)


# ---------------------------------------------------------------------------
# b. slope: formulas.horn_slope_degrees vs pygeoprocessing.calculate_slope
# ---------------------------------------------------------------------------


F32_HALF_ULP = 2.0**-24  # relative rounding error of a float32 value (round to nearest)


def _full_window(valid):
    """Valid pixels whose 8 neighbours are valid too (NaN beyond the raster)."""
    padded = np.pad(valid, 1, constant_values=False)
    out = valid.copy()
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            out &= padded[1 + dr:1 + dr + valid.shape[0], 1 + dc:1 + dc + valid.shape[1]]
    return out


@pytest.mark.realdata
def test_slope_matches_invest_slope_on_every_pixel(sdr):
    # InVEST computes slope on the pit-filled DEM with pygeoprocessing's calculate_slope: Horn's
    # 3x3 stencil when all 8 neighbours are valid, its partial stencil next to nodata and on the
    # raster edge; horn_slope_degrees does both (the pad is the tile kernel's NaN halo)
    dem = np.pad(sdr["pit_filled_dem"], 1, constant_values=np.nan)
    ours = F.slope_degrees_to_percent(F.horn_slope_degrees(dem, CELL))
    ref = sdr["slope"]
    valid = ~np.isnan(ref)
    assert np.array_equal(~np.isnan(ours), valid)  # every valid DEM pixel has a slope, no other
    interior = _full_window(valid)
    edge = valid & ~interior
    assert (interior.sum(), edge.sum()) == (211916, N_VALID - 211916)  # 4348 edge pixels
    # both are float64 computations of the same stencil; InVEST stores its result as float32, so the
    # difference is its rounding to float32 (at most half an ulp, 2**-24 relative), plus float64
    # rounding of our degree round trip (atan, tan: a few 1e-16 on any libm / SIMD path)
    for sel, worst_abs in ((interior, 1.86e-6), (edge, 1.86e-6)):  # measured, % slope
        diff = np.abs(ours[sel] - ref[sel])
        assert (diff <= (F32_HALF_ULP + 1e-13) * np.abs(ref[sel])).all()  # measured max 5.93e-8, 5.86e-8
        assert diff.max() < 1.01 * worst_abs  # < 2**-24 * max slope (38.8 %) = 2.3e-6


# ---------------------------------------------------------------------------
# c. flow accumulation: terrain.flow_accumulation vs pygeoprocessing MFD
# ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_fill_depressions_reproduces_invest_pit_filled_dem(sdr):
    filled = terrain.fill_depressions(sdr["dem"])
    ref = sdr["pit_filled_dem"]
    assert np.array_equal(np.isnan(filled), np.isnan(ref))
    valid = ~np.isnan(ref)
    assert np.array_equal(filled[valid], ref[valid])
    assert (ref[valid] > sdr["dem"][valid]).sum() == 19230  # pixels raised by the fill


@pytest.mark.realdata
def test_flow_accumulation_mfd_agrees_with_invest(sdr):
    ours = terrain.flow_accumulation(sdr["dem"], CELL, method="mfd")
    ref = sdr["flow_accumulation"]
    valid = ~np.isnan(ref)
    assert np.array_equal(valid, ~np.isnan(ours))
    a, b = ours[valid], ref[valid]
    rel, ratio = _rel(a, b), a / b
    # measured: 31.7 % within 1 %, 86.5 % within 5 %, 96.5 % within 10 %
    assert (rel <= 0.01).mean() > 0.30
    assert (rel <= 0.05).mean() > 0.85
    assert (rel <= 0.10).mean() > 0.96
    assert np.corrcoef(a, b)[0, 1] > 0.9998  # measured 0.99987
    assert np.corrcoef(np.log(a), np.log(b))[0, 1] > 0.998  # measured 0.99911
    assert np.median(ratio) == pytest.approx(1.0, abs=1e-3)  # measured 1.0002
    q01, q99 = np.quantile(ratio, [0.01, 0.99])
    assert 0.88 < q01 and q99 < 1.19  # measured 0.895, 1.171
    assert a.sum() / b.sum() == pytest.approx(1.0, abs=0.002)  # measured 0.99868
    assert a.min() >= 1.0


@pytest.mark.realdata
def test_flow_accumulation_invest_compat_reproduces_invest(sdr):
    # with pygeoprocessing's 4-bit MFD proportions emulated, the rest of the algorithm
    # (fill, weights, plateau routing, accumulation) is InVEST's: equal to rounding
    ours = terrain.flow_accumulation(sdr["dem"], CELL, method="mfd", invest_compat=True)
    ref = sdr["flow_accumulation"]
    valid = ~np.isnan(ref)
    assert np.array_equal(valid, ~np.isnan(ours))
    assert _rel(ours[valid], ref[valid]).max() < 1e-12  # measured 7.3e-15


@pytest.mark.realdata
def test_our_terrain_chain_gives_invest_ls(sdr):
    # fill -> slope (Horn, pygeoprocessing's stencil at the edge) -> MFD FA -> ls_ucav(mccool, invest),
    # on every valid pixel (the 4348 edge pixels included)
    filled = terrain.fill_depressions(sdr["dem"])
    theta = F.horn_slope_degrees(np.pad(filled, 1, constant_values=np.nan), CELL)
    ref = sdr["ls"]
    valid = ~np.isnan(ref)
    edge = valid & ~_full_window(valid)
    for compat, max_rel in ((True, 2.5e-6), (False, 0.025)):  # measured 1.78e-6 (edge 1.32e-6), 0.0195 (edge 0.003)
        fa = terrain.flow_accumulation(sdr["dem"], CELL, invest_compat=compat)
        ours = F.ls_ucav(theta, fa, CELL, L_MAX, s_method="mccool", m_method="invest")
        assert np.array_equal(~np.isnan(ours), valid)
        rel = _rel(ours[valid], ref[valid])
        assert rel.max() < max_rel, (compat, rel.max())
        assert _rel(ours[edge], ref[edge]).max() < max_rel
        if not compat:
            assert (rel <= 0.01).mean() > 0.9999  # measured 0.99995: L is insensitive to FA at 1 km


# ---------------------------------------------------------------------------
# d. CSLE LS (Liu S, degree m) vs InVEST LS (McCool S, percent m)
# ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_csle_and_invest_s_and_m_coincide_exactly_where_theory_says(sdr):
    t = sdr["theta"][~np.isnan(sdr["theta"])]
    # S: both 10.8 sin + 0.03 below 5°, both 16.8 sin - 0.5 on [atan 9 %, 10°)
    s_same = (t < 5.0) | ((t >= P9) & (t < 10.0))
    assert np.array_equal(F.csle_S(t) == F._mccool_S(t), s_same)
    # m: 0.2 on [0, atan 1 %], 0.3 on (1°, atan 3.5 %] and 0.5 on (5°, atan 9 %] in both;
    # elsewhere the degree (1°, 3°, 5°) and percent (1, 3.5, 5, 9 %) classes disagree, and
    # above 9 % InVEST's beta/(1+beta) > 0.5 = CSLE's m
    m_same = (t <= P1) | ((t > 1.0) & (t <= P35)) | ((t > 5.0) & (t <= P9))
    assert np.array_equal(F.csle_m(t) == F._invest_m(t), m_same)
    assert (F._invest_m(t[t > P9]) > 0.5).all()


@pytest.mark.realdata
def test_csle_ls_equals_invest_ls_only_where_both_m_and_s_coincide(sdr):
    theta, fa, ref = sdr["theta"], sdr["flow_accumulation"], sdr["ls"]
    valid = ~np.isnan(ref)
    t = theta[valid]
    csle = F.ls_ucav(theta, fa, CELL, L_MAX, s_method="csle", m_method="csle")[valid]
    invest = F.ls_ucav(theta, fa, CELL, L_MAX, s_method="mccool", m_method="invest")[valid]
    same = (t <= P1) | ((t > 1.0) & (t <= P35))  # m and S both coincide (S differs on (5°, atan 9 %))
    assert np.array_equal(csle == invest, same)
    assert same.sum() == 130792  # 60.5 % of the pixels, all below 2.005° (3.5 %)
    assert _rel(csle[same], ref[valid][same]).max() < 2.5e-6
    ratio = csle / invest
    # gentle slopes where the m classes differ: CSLE m lower by 0.1-0.2 -> LS 31-54 % lower at 1 km
    lower_m = ((t > P1) & (t <= 1.0)) | ((t > P35) & (t <= 5.0))
    assert ratio[lower_m].max() < 0.69 and ratio[lower_m].min() > 0.45
    # (5°, atan 9 %]: same m = 0.5, S differs by < 1 % (16.8 sin - 0.5 vs 10.8 sin + 0.03)
    band = (t > 5.0) & (t <= P9)
    assert np.abs(ratio[band] - 1.0).max() < 0.01
    # [atan 9 %, 10°): same S, CSLE m = 0.5 < InVEST beta/(1+beta)
    mid = (t > P9) & (t < 10.0)
    assert ratio[mid].max() < 1.0 and ratio[mid].min() > 0.69
    # >= 10°: Liu's steep-slope S is 17-25 % larger, but InVEST's m (0.60-0.69) makes its L
    # larger still at 1 km, so CSLE LS is 18-35 % lower
    steep = t >= 10.0
    assert steep.sum() == 1983
    s_ratio = F.csle_S(t[steep]) / F._mccool_S(t[steep])
    assert s_ratio.min() > 1.17 and s_ratio.max() < 1.26
    assert ratio[steep].max() < 0.83 and ratio[steep].min() > 0.65
    # so nowhere on this grid does CSLE LS exceed InVEST LS by more than 1 %
    assert ratio.max() < 1.01


# ---------------------------------------------------------------------------
# e. synthetic cases for terrain.flow_accumulation
# ---------------------------------------------------------------------------


def _plane(rows=12, cols=9, drop=5.0):
    """Plane falling towards the last row by ``drop`` m per row."""
    return np.repeat((rows - np.arange(rows, dtype=float))[:, None] * drop, cols, axis=1)


@pytest.mark.parametrize("method", ["mfd", "d8"])
def test_tilted_plane_accumulates_downslope_and_conserves_mass(method):
    dem = _plane()
    fa = terrain.flow_accumulation(dem, 30.0, method=method)
    assert fa.shape == dem.shape and fa.dtype == np.float64
    assert (fa[0] == 1.0).all()  # ridge row: nothing upslope
    assert (np.diff(fa, axis=0) > 0).all()  # grows downslope in every column
    # all flow leaves through the last row: its FA sums to the number of cells
    assert fa[-1].sum() == pytest.approx(dem.size, rel=1e-12)
    rows, cols = dem.shape
    row = np.arange(rows, dtype=float)[:, None].repeat(cols, axis=1)
    if method == "d8":
        np.testing.assert_array_equal(fa, row + 1)  # straight down each column
    else:
        # S takes 1/(1 + sqrt 2) and SE, SW 1/(2 + sqrt 2) each; away from the side edges
        # (which send more inwards) every cell carries exactly its column's share, row + 1
        col = np.arange(cols)[None, :]
        far = row < np.minimum(col, cols - 1 - col)  # outside the side edges' cone of influence
        np.testing.assert_allclose(fa[far], (row + 1)[far], rtol=1e-12)
        assert far.sum() == 16


def test_mfd_proportions_are_drop_over_distance():
    # three valid cells: c (10 m) drains to e (9 m, drop 1 over 1 cell) and to
    # se (8 m, drop 2 over sqrt(2) cells); e drains to se (the outlet)
    nan = np.nan
    dem = np.array([[nan, nan, nan], [nan, 10.0, 9.0], [nan, nan, 8.0]])
    share_e = 1.0 / (1.0 + np.sqrt(2.0))  # tan(beta): 1 vs sqrt(2)
    fa = terrain.flow_accumulation(dem, 25.0, method="mfd")
    np.testing.assert_allclose(fa[1:, 1:], [[1.0, 1.0 + share_e], [nan, 3.0]], rtol=1e-12)
    # pygeoprocessing stores round(15 p): 6/15 and 9/15
    fa = terrain.flow_accumulation(dem, 25.0, method="mfd", invest_compat=True)
    np.testing.assert_allclose(fa[1:, 1:], [[1.0, 1.4], [nan, 3.0]], rtol=1e-12)
    fa = terrain.flow_accumulation(dem, 25.0, method="d8")  # steepest: se
    np.testing.assert_array_equal(fa[1:, 1:], [[1.0, 1.0], [nan, 3.0]])


@pytest.mark.parametrize("method", ["mfd", "d8"])
def test_pit_is_filled_and_passes_flow_on(method):
    dem = _plane()  # rows 4..8 at 40, 35, 30, 25, 20 m
    dem[5:8, 3:6] = 10.0  # a 3x3 pit; its lowest pour point is row 8 at 20 m
    filled = terrain.fill_depressions(dem)
    np.testing.assert_array_equal(filled[5:8, 3:6], 20.0)  # raised to a flat at the pour point
    untouched = np.ones(dem.shape, dtype=bool)
    untouched[5:8, 3:6] = False
    np.testing.assert_array_equal(filled[untouched], dem[untouched])
    fa = terrain.flow_accumulation(dem, 30.0, method=method)
    assert np.isfinite(fa).all() and fa.min() >= 1.0
    assert fa[-1].sum() == pytest.approx(dem.size, rel=1e-12)  # no flow lost in the pit
    assert (fa[8, 3:6] > fa[4, 3:6]).all()  # the filled pit passes its inflow on


@pytest.mark.parametrize("method", ["mfd", "d8"])
def test_flat_terrace_is_crossed_towards_its_drain(method):
    dem = _plane(rows=14)
    dem[4:9, :] = dem[4, 0]  # rows 4-8 flat; row 8 drains to row 9, 25 m lower
    fa = terrain.flow_accumulation(dem, 30.0, method=method)
    assert fa[-1].sum() == pytest.approx(dem.size, rel=1e-12)
    # across the flat FA keeps growing towards the drain, in every column
    assert (np.diff(fa[3:10], axis=0) > 0).all()


@pytest.mark.parametrize("method", ["mfd", "d8"])
def test_nodata_stays_nodata_and_takes_no_flow(method):
    dem = _plane()
    dem[6, 4] = np.nan  # a hole: flow goes round it
    dem[0, 0] = np.inf  # non-finite is nodata too
    fa = terrain.flow_accumulation(dem, 30.0, method=method)
    assert np.array_equal(np.isnan(fa), ~np.isfinite(dem))
    assert np.array_equal(np.isnan(terrain.fill_depressions(dem)), ~np.isfinite(dem))
    # everything valid still arrives in the last row
    assert fa[-1].sum() == pytest.approx(np.isfinite(dem).sum(), rel=1e-12)


@pytest.mark.parametrize("method", ["mfd", "d8"])
def test_cells_next_to_nodata_are_outlets_and_not_filled(method):
    # a cone whose centre is nodata: the valid cells drain into the hole, so nothing is
    # filled and the four cells next to it (lowest, equal) are the outlets
    r, c = np.mgrid[0:9, 0:9]
    dem = np.hypot(r - 4, c - 4) * 10.0
    dem[4, 4] = np.nan
    # fill_depressions rounds heights to float32 (the DEM storage precision), nothing more
    np.testing.assert_array_equal(terrain.fill_depressions(dem), dem.astype(np.float32).astype(float))
    fa = terrain.flow_accumulation(dem, 30.0, method=method)
    cardinal = fa[3, 4] + fa[5, 4] + fa[4, 3] + fa[4, 5]
    assert cardinal == pytest.approx(80.0, rel=1e-12)


def test_all_nodata_and_bad_arguments():
    assert np.isnan(terrain.flow_accumulation(np.full((4, 5), np.nan), 30.0)).all()
    assert terrain.flow_accumulation(np.array([[5.0]]), 30.0)[0, 0] == 1.0
    with pytest.raises(ValueError):
        terrain.flow_accumulation(np.zeros(5), 30.0)
    with pytest.raises(ValueError):
        terrain.flow_accumulation(_plane(), 30.0, method="dinf")
    with pytest.raises(ValueError):
        terrain.flow_accumulation(_plane(), 0.0)


def test_rough_terrain_conserves_mass_for_every_variant():
    # rough integer-metre terrain (many depressions and flats) inside a low frame:
    # the frame is the only way out, so its FA sums to the number of cells
    rng = np.random.default_rng(7)
    dem = np.full((32, 27), -100.0)
    dem[1:-1, 1:-1] = np.round(rng.normal(0.0, 5.0, (30, 25)) + np.linspace(0, 20, 25))
    frame = dem == -100.0
    mfd = terrain.flow_accumulation(dem, 30.0)
    np.testing.assert_allclose(mfd, terrain.flow_accumulation(dem, 1000.0), rtol=1e-12)  # scale-free
    for fa in (mfd, terrain.flow_accumulation(dem, 30.0, invest_compat=True),
               terrain.flow_accumulation(dem, 30.0, method="d8")):
        assert fa.min() >= 1.0
        assert fa[frame].sum() == pytest.approx(dem.size, rel=1e-9)


def test_pyflwdir_d8_equals_pyflwdir_upstream_area_and_float32_output_rounds_once():
    """The d8_pyflwdir accumulation orders the cells by a counting sort on pyflwdir's ranks (4 bytes per cell)
    instead of FlwdirRaster.upstream_area's argsort: the counts are integers, so they are equal; the float32
    output equals the float64 one rounded to float32 (the stored layer's values)."""
    import pyflwdir
    from affine import Affine

    rng = np.random.default_rng(3)
    y, x = np.mgrid[:181, :233]
    dem = (np.sin(x / 7.0) * 20 + np.cos(y / 5.0) * 15 + y * 0.3 + rng.normal(0, 2, x.shape)).astype(np.float32)
    dem[rng.random(dem.shape) < 0.03] = np.nan
    dem[:5, :9] = np.nan
    ours = terrain.flow_accumulation(dem, 30.0, method="d8_pyflwdir")
    flw = pyflwdir.from_dem(np.where(np.isnan(dem), -9999.0, dem).astype(np.float32), nodata=-9999.0,
                            transform=Affine(30, 0, 0, 0, -30, 0), latlon=False)
    theirs = flw.upstream_area(unit="cell").astype(np.float64)
    theirs[np.isnan(dem) | (theirs <= 0)] = np.nan
    assert ours.dtype == np.float64 and np.array_equal(ours, theirs, equal_nan=True)
    single = terrain.flow_accumulation(dem, 30.0, method="d8_pyflwdir", dtype=np.float32)
    assert single.dtype == np.float32 and np.array_equal(single, ours.astype(np.float32), equal_nan=True)
    for method in ("mfd", "d8"):
        a = terrain.flow_accumulation(dem, 30.0, method=method)
        b = terrain.flow_accumulation(dem, 30.0, method=method, dtype=np.float32)
        assert np.array_equal(b, a.astype(np.float32), equal_nan=True)
