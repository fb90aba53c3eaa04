"""Tests of restore_db.kernels.formulas.

Expected numbers come from outside the code under test:

* the InVEST unit fixtures in ../shared/data/invest/unit_fixtures/*.csv
  (transcribed from the natcap/invest test-suite; skipped when absent);
* the worked values of docs/models/README.md#reference-test-values typed in below;
* hand computations written out in the test.

Hypothesis property tests check the invariants (bounds, linearity, NaN
propagation, no inf).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restore_db.kernels import formulas as F

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "invest" / "unit_fixtures"


def _fixture_rows(name):
    """Rows of a fixture CSV as pytest params (one skipped param when the file is absent)."""
    path = FIXTURES / name
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"fixture not available: {path}"))]
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ids = [r.get("case") or r.get("ws_id") or str(i) for i, r in enumerate(rows)]
    return [pytest.param(r, id=i) for r, i in zip(rows, ids)]


def _carbon_case(name):
    path = FIXTURES / "carbon_cases.csv"
    if not path.exists():
        pytest.skip(f"fixture not available: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["case"] == name:
                return row
    raise KeyError(name)


def _kv(text):
    """'a=1,b=2' -> {'a': 1.0, 'b': 2.0}."""
    out = {}
    for part in text.split(","):
        key, value = part.split("=")
        out[key.strip()] = float(value)
    return out


def _is_nan(value):
    return bool(np.all(np.isnan(np.asarray(value, dtype=float))))


# ===========================================================================
# InVEST fixtures
# ===========================================================================


@pytest.mark.parametrize("row", _fixture_rows("awy_fractp_op_cases.csv"))
def test_awy_fractp_invest_fixture(row):
    got = F.awy_fractp(
        float(row["kc"]),
        float(row["eto_mm"]),
        float(row["precip_mm"]),
        float(row["root_depth_mm"]),
        float(row["soil_depth_mm"]),
        float(row["pawc"]),
        float(row["lulc_veg"]),
        float(row["seasonality_z"]),
    )
    assert got == pytest.approx(float(row["expected_fractp"]), abs=1e-6)


def test_awy_fractp_invest_fixture_as_tile():
    """docs/models/water-yield.md#invest-fractp-fixture typed in: the whole 2x3 tile in one call (array form, scalar Z)."""
    kc = np.array([[1, 0.1, 0.1], [0.6, 0.6, 0.1]])
    eto = np.array([[1000, 900, 900], [1100, 1005, 1000]])
    p = np.array([[100, 1000, 10], [500, 800, 1100]])
    root = np.array([[99, 300, 400], [5, 500, 800]])
    soil = np.array([[600, 700, 700], [800, 900, 600]])
    pawc = np.array([[0.11, 0.11, 0.12], [0.55, 0.55, 0.19]])
    veg = np.array([[1, 1, 0], [0, 1, 0]])
    expected = np.array([[0.9345682, 0.06896508, 1.0], [1.0, 0.6487423, 0.09090909]])
    got = F.awy_fractp(kc, eto, p, root, soil, pawc, veg, 6)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("row", _fixture_rows("sdr_ls_factor_cases.csv"))
def test_ls_ucav_invest_fixture(row):
    theta = math.degrees(math.atan(float(row["pct_slope"]) / 100.0))
    got = F.ls_ucav(
        theta,
        float(row["flow_accum_pixels"]),
        float(row["pixel_size_m"]),
        float(row["l_max"]),
        s_method="mccool",
        m_method="invest",
    )
    assert got == pytest.approx(float(row["expected_ls"]), rel=1e-6)


def test_ls_ucav_invest_fixture_vector_with_nodata():
    """docs/models/soil-conservation.md#invest-sdr-ls-fixture typed in, including the nodata pixel."""
    pct = np.array([1.5, 4, 8, 10, 15, np.nan])
    fa = np.array([100, 100, 100, 100, 1e7, np.nan])
    theta = np.degrees(np.arctan(pct / 100))
    got = F.ls_ucav(theta, fa, 30.0, 25.0, s_method="mccool", m_method="invest")
    expected = [0.253996, 0.657229, 1.345856, 1.776729, 49.802994]
    np.testing.assert_allclose(got[:5], expected, rtol=1e-6)
    assert np.isnan(got[5])


@pytest.mark.parametrize("row", _fixture_rows("awy_watershed_valuation_cases.csv"))
def test_water_yield_volume_invest_fixture(row):
    # unit-square polygons: area = 1 m2; wyield_vol = mean depth (mm) * area / 1000
    vol = F.water_yield_volume(float(row["wyield_mn_in"]), 1.0)
    assert vol == pytest.approx(float(row["expected_wyield_vol"]), rel=1e-12)
    # realized supply = volume - consumptive volume
    assert vol - float(row["consum_vol_in"]) == pytest.approx(float(row["expected_rsupply_vl"]), rel=1e-12)


@pytest.mark.parametrize("case", ["pools_bas", "pools_alt"])
def test_carbon_storage_invest_fixture(case):
    row = _carbon_case(case)
    pools = _kv(row["inputs"])
    got = F.carbon_storage(pools["C_above"], pools["C_below"], pools["C_soil"], pools["C_dead"])
    assert got == pytest.approx(float(row["expected"]))


def test_carbon_change_and_npv_invest_fixture():
    bas = _kv(_carbon_case("pools_bas")["inputs"])
    alt = _kv(_carbon_case("pools_alt")["inputs"])
    c_bas = F.carbon_storage(bas["C_above"], bas["C_below"], bas["C_soil"], bas["C_dead"])
    c_alt = F.carbon_storage(alt["C_above"], alt["C_below"], alt["C_soil"], alt["C_dead"])
    change = c_alt - c_bas
    assert change == pytest.approx(float(_carbon_case("change")["expected"]))

    v = _kv(_carbon_case("valuation_constant_a")["inputs"])
    const = F.carbon_valuation_constant(
        v["price_per_metric_ton_of_c"], v["discount_rate"], v["rate_change"], v["lulc_alt_year"] - v["lulc_bas_year"]
    )
    assert change * const == pytest.approx(float(_carbon_case("npv_alt_a")["expected"]), abs=1e-3)
    zero = F.carbon_valuation_constant(43.0, 0.0, 0.0, 14)
    assert change * zero == pytest.approx(float(_carbon_case("npv_alt_zero_rates")["expected"]), abs=1e-9)


@pytest.mark.parametrize("case", ["valuation_constant_a", "valuation_constant_b"])
def test_carbon_valuation_constant_invest_fixture(case):
    row = _carbon_case(case)
    v = _kv(row["inputs"])
    got = F.carbon_valuation_constant(
        v["price_per_metric_ton_of_c"], v["discount_rate"], v["rate_change"], v["lulc_alt_year"] - v["lulc_bas_year"]
    )
    assert got == pytest.approx(float(row["expected"]), abs=1e-5)


def test_carbon_report_totals_invest_fixture():
    row = _carbon_case("report_totals")
    expected = [float(x) for x in row["expected"].split(";")]
    bas = np.full((10, 10), 86.0)
    alt = np.full((10, 10), 28.0)
    npv = (alt - bas) * F.carbon_valuation_constant(43.0, -7.1, 2.8, 14)
    totals = [float(np.sum(F.per_pixel(x, 1.0))) for x in (bas, alt, alt - bas, npv)]
    np.testing.assert_allclose(totals, expected, atol=1e-4)


# ===========================================================================
# worked values of the model pages (docs/models/carbon.md#reference-test-values, docs/models/soil-conservation.md#csle-factor-values, docs/models/ratios.md#reference-test-values, docs/models/water-yield.md#budyko-worked-value)
# ===========================================================================


def test_carbon_valuation_constant_domain_16_1():
    assert F.carbon_valuation_constant(43.0, -7.1, 2.8, 2030 - 2016) == pytest.approx(59.00136, abs=1e-5)
    assert F.carbon_valuation_constant(50.0, 50.0, 5.0, 2) == pytest.approx(40.87302, abs=1e-5)


def test_carbon_valuation_constant_ratio_one_is_price():
    assert F.carbon_valuation_constant(43.0, 0.0, 0.0, 14) == 43.0
    # (1 + 25 %) * (1 - 20 %) = 1 exactly -> ratio 1 -> price
    assert F.carbon_valuation_constant(43.0, 25.0, -20.0, 14) == pytest.approx(43.0, rel=1e-12)
    # ratio within rounding of 1 stays well behaved (no 0/0 noise)
    assert F.carbon_valuation_constant(43.0, 5.0, 100 * (1 / 1.05 - 1), 30) == pytest.approx(43.0, rel=1e-9)
    # hand-computed geometric sum: r = 10 %, c = 0, n = 2 -> 43/2 * (1 + 1/1.1)
    assert F.carbon_valuation_constant(43.0, 10.0, 0.0, 2) == pytest.approx(43 / 2 * (1 + 1 / 1.1), rel=1e-12)


def test_carbon_valuation_constant_invalid():
    assert _is_nan(F.carbon_valuation_constant(43.0, 5.0, 2.0, 0))
    assert _is_nan(F.carbon_valuation_constant(43.0, -100.0, 2.0, 10))


@pytest.mark.parametrize(
    ("theta", "expected"),
    [(2, 0.4069), (5, 0.9642), (8, 1.8381), (10, 2.8446), (20, 6.5337), (35, 11.6071)],
)
def test_csle_S_domain_16_9(theta, expected):
    assert F.csle_S(theta) == pytest.approx(expected, abs=5e-5)


def test_csle_S_vectorised_and_discontinuity_at_10_deg():
    got = F.csle_S(np.array([[2.0, 5.0, 8.0], [10.0, 20.0, 35.0]]))
    np.testing.assert_allclose(got, [[0.4069, 0.9642, 1.8381], [2.8446, 6.5337, 11.6071]], atol=5e-5)
    below = F.csle_S(np.nextafter(10.0, 0.0))
    assert below == pytest.approx(2.42, abs=5e-3)  # 16.8 sin 10° - 0.5
    assert F.csle_S(10.0) - below > 0.4  # the published jump is kept


@pytest.mark.parametrize(
    ("theta", "m"),
    [(0.0, 0.2), (1.0, 0.2), (1.0001, 0.3), (3.0, 0.3), (3.5, 0.4), (5.0, 0.4), (5.0001, 0.5), (40.0, 0.5)],
)
def test_csle_m_classes(theta, m):
    assert F.csle_m(theta) == m


@pytest.mark.parametrize(("theta", "expected"), [(20.0, 1.6466), (2.0, 1.3488)])
def test_csle_L_domain_16_9(theta, expected):
    assert F.csle_L(60.0, theta) == pytest.approx(expected, abs=5e-5)


def test_csle_m_at_invest_fixture_slopes_domain_16_4():
    """docs/models/soil-conservation.md#invest-sdr-ls-fixture: the five test slopes are 0.86°, 2.29°, 4.57°, 5.71°, 8.53° with CSLE m 0.2/0.3/0.4/0.5/0.5."""
    pct = np.array([1.5, 4, 8, 10, 15])
    theta = np.degrees(np.arctan(pct / 100))
    np.testing.assert_allclose(theta, [0.86, 2.29, 4.57, 5.71, 8.53], atol=5e-3)
    np.testing.assert_array_equal(F.csle_m(theta), [0.2, 0.3, 0.4, 0.5, 0.5])


def test_ls_ucav_csle_S_equals_mccool_at_fixture_slopes():
    """docs/models/soil-conservation.md#invest-sdr-ls-fixture: for the five fixture slopes CSLE S coincides with McCool S, so
    (s=csle, m=invest) reproduces the InVEST expected LS too."""
    pct = np.array([1.5, 4, 8, 10, 15])
    theta = np.degrees(np.arctan(pct / 100))
    fa = np.array([100, 100, 100, 100, 1e7])
    got = F.ls_ucav(theta, fa, 30.0, 25.0, s_method="csle", m_method="invest")
    np.testing.assert_allclose(got, [0.253996, 0.657229, 1.345856, 1.776729, 49.802994], rtol=1e-6)
    # CSLE m differs (0.2/0.3/0.4/0.5/0.5), so L and LS differ: the fixture must not be reused for CSLE
    csle = F.ls_ucav(theta, fa, 30.0, 25.0, s_method="csle", m_method="csle")
    assert not np.any(np.isclose(csle, got, rtol=1e-3))


@pytest.mark.parametrize(("theta", "l_expected", "s_expected"), [(20.0, 1.6466, 6.5337), (2.0, 1.3488, 0.4069)])
def test_ls_ucav_csle_matches_slope_length_form(theta, l_expected, s_expected):
    """With FA = 1 (no upslope area) the UCA L reduces to (D / (22.13 x))**m, x = sin θ + cos θ.

    Choosing D = 60 m * x makes it the docs/models/soil-conservation.md#csle-factor-values slope-length L for λ = 60 m.
    """
    rad = math.radians(theta)
    d = 60.0 * (math.sin(rad) + math.cos(rad))
    got = F.ls_ucav(theta, 1.0, d, None, s_method="csle", m_method="csle")
    assert got == pytest.approx(l_expected * s_expected, rel=1e-4)


def test_ls_ucav_hand_computed():
    """θ = 20°, FA = 5, D = 10 m, CSLE m = 0.5, S = 6.5337 (docs/models/soil-conservation.md#csle-factor-values)."""
    d = 10.0
    a_in = math.sqrt(4 * d * d)  # 20
    x = math.sin(math.radians(20)) + math.cos(math.radians(20))
    l_hand = ((a_in + d * d) ** 1.5 - a_in**1.5) / (d**2.5 * x**0.5 * 22.13**0.5)
    got = F.ls_ucav(20.0, 5.0, d, 1000.0)
    assert got == pytest.approx(l_hand * 6.5337, rel=1e-5)
    # the l_max cap applies to L only (here L = 0.727 > 0.5)
    assert l_hand > 0.5
    assert F.ls_ucav(20.0, 5.0, d, 0.5) == pytest.approx(0.5 * 6.5337, abs=5e-5)


def test_ls_ucav_invalid():
    assert _is_nan(F.ls_ucav(10.0, 0.0, 30.0, 25.0))  # FA counts the cell itself: FA < 1 invalid
    with pytest.raises(ValueError):
        F.ls_ucav(10.0, 5.0, 30.0, 25.0, s_method="rusle")
    with pytest.raises(ValueError):
        F.ls_ucav(10.0, 5.0, 30.0, 25.0, m_method="x")


def test_epic_K_domain_16_9():
    k_si = F.epic_K(30, 50, 20, 1, correction="none")
    assert k_si / 0.1317 == pytest.approx(0.33659, abs=5e-6)  # US customary
    assert k_si == pytest.approx(0.04433, abs=5e-6)
    assert F.epic_K(30, 50, 20, 1) == pytest.approx(0.02104, abs=5e-6)  # default zhang2007
    assert F.epic_K(30, 50, 20, 1, correction="zhang2007") == pytest.approx(0.02104, abs=5e-6)
    assert F.epic_K(30, 50, 20, 1, correction="zhang2007_si") == pytest.approx(0.00903, abs=5e-6)
    with pytest.raises(ValueError):
        F.epic_K(30, 50, 20, 1, correction="bogus")


def test_epic_K_no_silt_no_clay_is_nodata():
    assert _is_nan(F.epic_K(100, 0, 0, 1))


def test_rusle_R_monthly_domain_16_9():
    p = np.array([3, 5, 10, 25, 40, 80, 170, 160, 60, 25, 10, 4], dtype=float)
    assert p.sum() == 592
    assert F.rusle_R_monthly(p) == pytest.approx(3060.04, abs=5e-3)
    assert F.rusle_R_monthly(p) / 17.02 == pytest.approx(179.791, abs=5e-4)


def test_rusle_R_monthly_tile_shape_and_rules():
    p = np.array([3, 5, 10, 25, 40, 80, 170, 160, 60, 25, 10, 4], dtype=float)
    tile = np.repeat(p[:, None, None], 6, axis=1).repeat(4, axis=2)  # (12, 6, 4)
    tile[:, 0, 0] = 0.0  # no rain at all -> 0/0 -> nodata, not inf
    tile[3, 1, 1] = np.nan
    tile[0, 2, 2] = 0.0  # a dry month simply contributes 0
    got = F.rusle_R_monthly(tile)
    assert got.shape == (6, 4)
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 1])
    dry = p.copy()
    dry[0] = 0.0
    hand = 17.02 * sum(1.735 * 10 ** (1.5 * math.log10(pi**2 / dry.sum()) - 0.8188) for pi in dry if pi > 0)
    assert got[2, 2] == pytest.approx(hand, rel=1e-12)
    assert got[3, 3] == pytest.approx(3060.04, abs=5e-3)
    with pytest.raises(ValueError):
        F.rusle_R_monthly(np.ones(11))


def test_R_annual_zhang_fu():
    assert F.R_annual_zhang_fu(1.0) == pytest.approx(0.0534)
    assert F.R_annual_zhang_fu(500.0) == pytest.approx(0.0534 * 500**1.6548)
    assert F.R_annual_zhang_fu(0.0) == 0.0


def test_zhang2002_daily_model_domain_16_9():
    beta, alpha = F.zhang2002_beta_alpha(25.0, 400.0)
    assert beta == pytest.approx(1.62320, abs=5e-6)
    assert alpha == pytest.approx(0.66342, abs=5e-6)
    # erosive days 15, 30, 60 mm; the 5 mm and 11.9 mm days are below the 12 mm threshold
    m = F.zhang2002_halfmonth_erosivity(np.array([15.0, 30.0, 60.0, 5.0, 11.9]), alpha, beta)
    assert m == pytest.approx(730.16, abs=5e-3)


@pytest.mark.parametrize(
    ("fvc_pct", "expected"), [(0, 1.0), (5, 0.4106), (20, 0.2038), (50, 0.0670), (78.3, 0.0)]
)
def test_cai_C_domain_16_9(fvc_pct, expected):
    # cai_C takes FVC as a fraction 0-1 (the output of fvc_dimidiate)
    assert F.cai_C(fvc_pct / 100.0) == pytest.approx(expected, abs=5e-5)


def test_cai_C_clamped():
    assert F.cai_C(1e-6) == 1.0  # log branch would give 1.34
    assert F.cai_C(1.0) == 0.0
    assert F.cai_C(-0.1) == 1.0


@pytest.mark.parametrize(
    ("gd", "fvc", "expected"), [(0, 0, 0.4287), (0.5, 0.5, 0.0621), (0.8, 0.6, 0.0131), (1, 1, 0.0021)]
)
def test_b_forest_domain_16_9(gd, fvc, expected):
    assert F.b_forest(gd, fvc) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("fvc", "expected"), [(0, 0.4905), (0.3, 0.1667), (0.6, 0.0355), (0.9, 0.0066), (1, 0.0037)]
)
def test_b_grass_domain_16_9(fvc, expected):
    assert F.b_grass(fvc) == pytest.approx(expected, abs=5e-5)


def test_fvc_dimidiate():
    got = F.fvc_dimidiate(np.array([-0.1, 0.1, 0.5, 0.9, 1.0]), 0.1, 0.9)
    np.testing.assert_allclose(got, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert _is_nan(F.fvc_dimidiate(0.5, 0.3, 0.3))  # NDVI_veg == NDVI_soil


def test_budyko_domain_16_12():
    """P 550, ET0 1000, Kc 0.75, root 2000, soil 1000, PAWC 0.15, Z 3.5 -> ω 2.2045, fractp 0.7223, Y 152.73."""
    # AWC = min(2000, 1000) * 0.15 = 150; ω = 3.5 * 150 / 550 + 1.25
    assert 3.5 * 150 / 550 + 1.25 == pytest.approx(2.2045, abs=5e-5)
    fractp = F.awy_fractp(0.75, 1000, 550, 2000, 1000, 0.15, 1, 3.5)
    assert fractp == pytest.approx(0.7223, abs=5e-5)
    wyield, aet = F.awy_water_yield(fractp, 550)
    assert wyield == pytest.approx(152.73, abs=5e-3)
    assert aet + wyield == pytest.approx(550.0)


def test_awy_fractp_rules():
    # ω capped at 5: huge AWC; result still the Fu curve with ω = 5
    x = 0.75 * 1000 / 550
    fu5 = 1 + x - (1 + x**5) ** (1 / 5)
    assert F.awy_fractp(0.75, 1000, 550, 1e6, 1e6, 1.0, 1, 30) == pytest.approx(min(x, fu5), rel=1e-12)
    # root depth is ignored for non-vegetated pixels (NaN or -1 in the table)
    assert F.awy_fractp(0.6, 1100, 500, np.nan, 800, 0.55, 0, 6) == 1.0
    assert F.awy_fractp(0.1, 1000, 1100, -1, 600, 0.19, 0, 6) == pytest.approx(100 / 1100)
    # ... but not for vegetated ones
    assert _is_nan(F.awy_fractp(0.6, 1005, 800, np.nan, 900, 0.55, 1, 6))
    # P <= 0 is invalid (InVEST: P = 0 nodata), never inf
    assert _is_nan(F.awy_fractp(1.0, 1000, 0.0, 100, 100, 0.1, 1, 6))
    assert _is_nan(F.awy_fractp(1.0, 1000, -5.0, 100, 100, 0.1, 0, 6))
    # extreme aridity does not overflow: (PET/P)**ω would be inf in the naive form
    extreme = F.awy_fractp(1.0, 3000, 1e-300, 100, 100, 0.1, 1, 1)
    assert extreme == pytest.approx(1.0, abs=1e-12)


def test_esdr_domain_16_10():
    s = np.array([[120, 30], [80, 10], [20, 50], [5, 5]], dtype=float)
    d = np.array([[60, 40], [100, 5], [10, 20], [50, 30]], dtype=float)
    s_max = np.array([120.0, 50.0])
    d_max = np.array([100.0, 40.0])
    np.testing.assert_allclose(s.max(axis=0), s_max)
    np.testing.assert_allclose(d.max(axis=0), d_max)
    got = F.esdr(s, d, s_max, d_max)
    expected = [[0.5455, -0.2222], [-0.1818, 0.1111], [0.0909, 0.6667], [-0.4091, -0.5556]]
    np.testing.assert_allclose(got, expected, atol=5e-5)
    # CESD (equal weights) = row mean
    np.testing.assert_allclose(got.mean(axis=1), [0.1616, -0.0354, 0.3788, -0.4823], atol=5e-5)


def test_esdr_zero_maxima_is_zero():
    assert F.esdr(0.0, 0.0, 0.0, 0.0) == 0.0
    assert _is_nan(F.esdr(np.nan, 0.0, 0.0, 0.0))


def test_esdr_scaled_one_rule_for_counties_and_pixels():
    s = np.array([10.0, 30.0, 50.0])
    d = np.array([20.0, 20.0, 60.0])
    # raw: the maxima of S and D themselves: (S - D) / ((50 + 60) / 2)
    e, ss, ds = F.esdr_scaled(s, d, "raw", 10.0, 50.0, 20.0, 60.0)
    np.testing.assert_allclose(e, [-10 / 55, 10 / 55, -10 / 55], rtol=1e-15)
    assert ss is s and ds is d
    # minmax: S' = (0, 0.5, 1), D' = (0, 0, 1), both maxima 1: ESDR = S' - D'
    e, ss, ds = F.esdr_scaled(s, d, "minmax", 10.0, 50.0, 20.0, 60.0)
    np.testing.assert_allclose(ss, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(e, [0.0, 0.5, 0.0])
    # a constant demand scales to 0 and its maximum is 0: ESDR = S' / (1 / 2)
    e, _, ds = F.esdr_scaled(s, np.full(3, 7.0), "minmax", 10.0, 50.0, 7.0, 7.0)
    np.testing.assert_allclose(ds, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(e, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="raw or minmax"):
        F.esdr_scaled(s, d, "auto", 0, 1, 0, 1)


def test_minmax_scale_by_direction():
    x = np.array([2.0, 4.0, 10.0, np.nan])
    np.testing.assert_allclose(F.minmax_scale(x, 2.0, 10.0), [0.0, 0.25, 1.0, np.nan])
    np.testing.assert_allclose(F.minmax_scale(x, 2.0, 10.0, -1), [1.0, 0.75, 0.0, np.nan])
    # a constant indicator carries no information: 0 everywhere (docs/models/conventions.md#normalisation)
    np.testing.assert_allclose(F.minmax_scale(np.array([3.0, 3.0]), 3.0, 3.0), [0.0, 0.0])


def test_weighted_mean_is_cesd():
    e1, e2 = np.array([0.5455, -0.1818]), np.array([-0.2222, 0.1111])
    np.testing.assert_allclose(F.weighted_mean([e1, e2], [0.5, 0.5]), [0.16165, -0.03535])
    np.testing.assert_allclose(F.weighted_mean([e1, e2], [0.25, 0.75]), 0.25 * e1 + 0.75 * e2)
    assert _is_nan(F.weighted_mean([np.array([np.nan]), np.array([1.0])], [0.5, 0.5])[0])


def test_csle_soil_loss():
    a_p, a, sc = F.csle_soil_loss(3000.0, 0.02, 2.0, 0.1, 0.5, 0.8)
    assert a_p == pytest.approx(120.0)
    assert a == pytest.approx(120.0 * 0.04)
    assert sc == pytest.approx(120.0 * (1 - 0.04))
    # defaults E = T = 1
    assert F.csle_soil_loss(3000.0, 0.02, 2.0, 0.1)[1] == pytest.approx(12.0)
    # per-pixel totals: 30 m pixel = 0.09 ha
    assert F.per_pixel(sc, 900.0) == pytest.approx(sc * 0.09)


def test_soil_demand():
    a = np.array([0.5, 2.0, 7.5, np.nan])
    np.testing.assert_array_equal(F.soil_demand(a, 2.0, method="actual"), a)
    np.testing.assert_allclose(F.soil_demand(a, 2.0, method="tolerance")[:3], [0.0, 0.0, 5.5])
    assert np.isnan(F.soil_demand(a, 2.0, method="tolerance")[3])
    assert F.soil_demand(3.0) == 3.0  # a_tol not needed for "actual"
    with pytest.raises(ValueError):
        F.soil_demand(3.0, method="tolerance")
    with pytest.raises(ValueError):
        F.soil_demand(3.0, 2.0, method="other")


def test_food_supply_ndvi_allocation():
    ndvi = np.array([[0.8, 0.2, -0.3], [0.5, np.nan, 0.6]])
    crop = np.array([[1, 1, 1], [0, 0, 1]])
    w = F.food_ndvi_weight(ndvi, crop)
    np.testing.assert_allclose(w, [[0.8, 0.2, 0.0], [0.0, 0.0, 0.6]])  # NDVI clipped >= 0; non-crop 0
    county_sum = np.nansum(w)  # 1.6
    got = F.food_supply_ndvi(ndvi, crop, 1000.0, county_sum)
    np.testing.assert_allclose(got, [[500.0, 125.0, 0.0], [0.0, 0.0, 375.0]])
    assert got.sum() == pytest.approx(1000.0)  # all county grain allocated
    # county without cropland: sum 0 -> 0 everywhere (not nodata, not inf)
    np.testing.assert_array_equal(F.food_supply_ndvi(ndvi, np.zeros_like(crop), 0.0, 0.0), np.zeros((2, 3)))
    # nodata rules
    assert _is_nan(F.food_supply_ndvi(np.nan, 1, 1000.0, 1.6))  # cropland with NaN NDVI
    assert F.food_supply_ndvi(np.nan, 0, 1000.0, 1.6) == 0.0  # NDVI unused off cropland
    assert _is_nan(F.food_supply_ndvi(0.5, 0, np.nan, 1.6))  # outside any county
    assert _is_nan(F.food_supply_ndvi(0.5, np.nan, 1000.0, 1.6))


def test_food_lookup_and_demand():
    assert F.food_supply_lookup(6.0, 900.0) == pytest.approx(0.54)
    assert F.food_demand(np.array([10.0, 0.0]), 0.4).tolist() == [4.0, 0.0]


def test_carbon_demand():
    assert F.carbon_demand(1.0, 44.0 / 12.0) == pytest.approx(1.0)
    assert F.carbon_demand(1000.0, 7.0) == pytest.approx(1000 * 7 * 12 / 44)


def test_water_demand_and_volume():
    assert F.water_demand_domestic(1000.0, 100.0) == pytest.approx(36_500.0)  # m3/yr
    assert F.water_yield_volume(100.0, 900.0) == pytest.approx(90.0)  # 100 mm over 30 m pixel


def test_recreation():
    w = [0.5, 0.3]
    d0 = [2000.0, 5000.0]
    assert F.proximity_bonus([0.0, 0.0], w, d0) == pytest.approx(0.8)
    assert F.proximity_bonus([2000.0, np.inf], w, d0) == pytest.approx(0.5 / math.e)  # inf = no feature
    assert F.proximity_bonus([], [], []) == 0.0
    assert _is_nan(F.proximity_bonus([100.0], [1.0], [0.0]))
    with pytest.raises(ValueError):
        F.proximity_bonus([1.0], [1.0, 2.0], [1.0])
    tile = F.proximity_bonus([np.array([[0.0, 1000.0]]), np.array([[5000.0, 0.0]])], w, d0)
    assert tile.shape == (1, 2)
    assert F.recreation_supply(4.0, 0.5) == pytest.approx(6.0)
    assert F.recreation_supply(4.0, 0.0) == 4.0
    assert F.recreation_demand_density(9.0, 900.0) == pytest.approx(10_000.0)  # persons/km2
    assert _is_nan(F.recreation_demand_density(9.0, 0.0))


def test_slope_unit_conversions():
    assert F.slope_percent_to_degrees(100.0) == pytest.approx(45.0)
    assert F.slope_degrees_to_percent(45.0) == pytest.approx(100.0)
    assert _is_nan(F.slope_degrees_to_percent(90.0))


# ===========================================================================
# Horn slope
# ===========================================================================


def test_horn_slope_plane_30_degrees():
    cell = 30.0
    rows, cols = 7, 9
    x = np.arange(cols) * cell
    dem = np.tile(x * math.tan(math.radians(30.0)), (rows, 1)) + 100.0
    got = F.horn_slope_degrees(dem, cell)
    assert got.shape == (rows - 2, cols - 2)
    np.testing.assert_allclose(got, 30.0, atol=1e-9)
    # same plane facing north-south (transpose) and rectangular pixels
    np.testing.assert_allclose(F.horn_slope_degrees(dem.T, cell), 30.0, atol=1e-9)


def test_horn_slope_oblique_plane_rectangular_pixels():
    dx, dy = 20.0, 10.0
    a, b = 0.3, 0.4  # dz/dx, dz/dy in m/m -> |grad| = 0.5
    yy, xx = np.mgrid[0:5, 0:6]
    dem = a * xx * dx + b * yy * dy
    got = F.horn_slope_degrees(dem, (dx, -dy))  # sign of the y size is ignored
    np.testing.assert_allclose(got, math.degrees(math.atan(0.5)), atol=1e-9)


def test_horn_slope_hand_computed_3x3():
    dem = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=float)
    # dz/dx = ((3+12+9) - (1+8+7)) / 8 = 1;  dz/dy = ((7+16+9) - (1+4+3)) / 8 = 3
    got = F.horn_slope_degrees(dem, 1.0)
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(math.degrees(math.atan(math.sqrt(10.0))), abs=1e-10)
    # the centre cell has zero weight: a spike there does not change the slope
    dem2 = np.array([[0, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    # dz/dx = (10 - 0) / (8 * 10) = 0.125; dz/dy = 0.125
    got2 = F.horn_slope_degrees(dem2, 10.0)
    assert got2[0, 0] == pytest.approx(math.degrees(math.atan(math.hypot(0.125, 0.125))), abs=1e-10)


# pygeoprocessing's stencil next to nodata (InVEST's slope).  A tilted plane, row r (y, down)
# and column c (x, right), cell size (DX, DY); its slope is atan(0.5).
DX, DY = 20.0, 10.0
GX, GY = 0.3, 0.4  # dz/dx, dz/dy in m/m
PLANE_DEG = math.degrees(math.atan(0.5))


def _plane(rows=3, cols=3):
    yy, xx = np.mgrid[0:rows, 0:cols].astype(float)
    return 100.0 + GX * DX * xx + GY * DY * yy


# window cells: a b c / d e f / g h i -> (row, col)
CELL = dict(zip("abcdefghi", [(r, c) for r in range(3) for c in range(3)]))


@pytest.mark.parametrize("missing", [
    "a", "c", "g", "i",  # outer line: one-cell difference with its middle cell (b-c, a-b, h-i, g-h; d-g, ...)
    "b", "h", "d", "f",  # middle line: the valid end against the centre, 2 (e - p) or 2 (q - e) over 2 cells
    "ac", "gi", "ag", "ci",  # a line with no valid end drops out; the other two carry the gradient
    "bh", "df",  # both middle ends missing: 2 cells on the outer lines only
    "abc", "ghi", "adg", "cfi",  # grid borders (the NaN halo of the first/last row or column)
    "abcdg", "abcfi", "adghi", "cfghi",  # grid corners
])
def test_slope_fallbacks_reproduce_a_plane(missing):
    """Every fallback but the sqrt(2) one is an exact difference of the plane: its slope, unchanged.

    (The sqrt(2) branch needs an outer line with its middle cell and one end missing, e.g. "ab":
    see test_slope_sqrt2_fallback_by_hand.)
    """
    dem = _plane()
    for cell in missing:
        dem[CELL[cell]] = np.nan
    got = F.horn_slope_degrees(dem, (DX, DY))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(PLANE_DEG, abs=1e-12)


def test_slope_sqrt2_fallback_by_hand():
    """Row a-b-c with only a valid: pygeoprocessing takes (e - a) * sqrt(2) over one cell.

    On the plane e - a = GX*DX + GY*DY (a is one column left and one row up), so with
    square pixels (DX = DY = D; D = 10) dz/dx = (sqrt2 (GX + GY) D + 2 (f - d) + (i - g)) / (7 D)
    = (sqrt2 (GX + GY) + 6 GX) / 7, while dz/dy comes from the full a-g column (g - a over
    2 cells), the middle column's 2 (h - e) over 2 and the c-i column's i - f over 1: GY exactly.
    The sqrt(2) branch is not exact on a plane (it is pygeoprocessing's rule, kept for parity).
    """
    d = 10.0
    yy, xx = np.mgrid[0:3, 0:3].astype(float)
    dem = GX * d * xx + GY * d * yy
    dem[0, 1] = dem[0, 2] = np.nan  # b, c
    dzdx = (math.sqrt(2.0) * (GX + GY) + 6 * GX) / 7  # 0.3986 instead of 0.3
    want = math.degrees(math.atan(math.hypot(dzdx, GY)))
    assert F.horn_slope_degrees(dem, d)[0, 0] == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(29.45, abs=0.01)  # not the plane's 26.57°
    # the mirror case (only c valid on that row) gives (c - e) * sqrt(2): same magnitude on a plane
    # falling in y only, where c - e = e - a = GY*D
    dem = GY * d * yy
    dem[0, 0] = dem[0, 1] = np.nan  # a, b
    mirrored = math.degrees(math.atan(math.hypot(math.sqrt(2.0) * GY / 7, GY)))
    assert F.horn_slope_degrees(dem, d)[0, 0] == pytest.approx(mirrored, abs=1e-12)


def test_slope_isolated_cell_is_flat_and_nodata_centre_is_nodata():
    dem = np.full((3, 3), np.nan)
    dem[1, 1] = 250.0
    assert F.horn_slope_degrees(dem, 30.0)[0, 0] == 0.0  # no line contributes: dz/dx = dz/dy = 0
    dem = _plane()
    dem[1, 1] = np.nan  # Horn does not use e, but a nodata centre is nodata
    assert np.isnan(F.horn_slope_degrees(dem, (DX, DY))[0, 0])
    dem[1, 1] = np.inf  # any non-finite height is nodata
    assert np.isnan(F.horn_slope_degrees(dem, (DX, DY))[0, 0])


def test_slope_plane_with_nan_halo_is_exact_up_to_the_border():
    """The tile kernel passes NaN beyond the grid: corners and borders of a plane keep its slope."""
    dem = np.pad(_plane(6, 7), 1, constant_values=np.nan)
    got = F.horn_slope_degrees(dem, (DX, DY))
    assert got.shape == (6, 7)
    np.testing.assert_allclose(got, PLANE_DEG, atol=1e-12)


@pytest.mark.parametrize("pos", [(i, j) for i in range(3) for j in range(3)])
def test_horn_slope_nan_only_removes_its_own_cell(pos):
    dem = np.arange(25, dtype=float).reshape(5, 5)  # plane: dz/dx = 1, dz/dy = 5 per cell
    dem[1 + pos[0], 1 + pos[1]] = np.nan  # one cell inside the window of output (1, 1) = dem (2, 2)
    got = F.horn_slope_degrees(dem, 1.0)
    want = math.degrees(math.atan(math.hypot(1.0, 5.0)))
    r, c = pos  # the NaN is dem (1 + r, 1 + c) = output (r, c)
    assert np.isnan(got[r, c])
    others = np.ones(got.shape, bool)
    others[r, c] = False
    # one missing neighbour never reaches the sqrt(2) branch: the plane's slope everywhere else
    np.testing.assert_allclose(got[others], want, atol=1e-12)


def test_slope_full_windows_are_plain_horn():
    """Cells with 8 valid neighbours are bit-identical to Horn's formula, NaNs elsewhere or not."""
    rng = np.random.default_rng(3)
    dem = rng.normal(500.0, 40.0, (40, 50))
    dem[rng.random(dem.shape) < 0.05] = np.nan
    got = F.horn_slope_degrees(dem, (30.0, 25.0))
    n = lambda dr, dc: dem[1 + dr:39 + dr, 1 + dc:49 + dc]  # noqa: E731
    dzdx = ((n(-1, 1) + 2 * n(0, 1) + n(1, 1)) - (n(-1, -1) + 2 * n(0, -1) + n(1, -1))) / (8 * 30.0)
    dzdy = ((n(1, -1) + 2 * n(1, 0) + n(1, 1)) - (n(-1, -1) + 2 * n(-1, 0) + n(-1, 1))) / (8 * 25.0)
    horn = np.degrees(np.arctan(np.sqrt(dzdx * dzdx + dzdy * dzdy)))
    full = ~np.isnan(horn) & ~np.isnan(n(0, 0))
    assert 1000 < full.sum() < horn.size
    np.testing.assert_array_equal(got[full], horn[full])  # same float64 operations, same order
    assert np.array_equal(np.isnan(got), np.isnan(n(0, 0)))  # only nodata centres are nodata


def test_horn_slope_bad_input():
    with pytest.raises(ValueError):
        F.horn_slope_degrees(np.zeros((2, 5)), 1.0)
    with pytest.raises(ValueError):
        F.horn_slope_degrees(np.zeros((3, 3)), 0.0)


# ===========================================================================
# Shapes and broadcasting
# ===========================================================================


def test_tiles_and_scalar_broadcast():
    tile = np.full((4, 5), 0.5)
    assert F.cai_C(tile).shape == (4, 5)
    assert F.per_pixel(tile, 900.0).shape == (4, 5)
    assert F.awy_fractp(tile, 1000.0, 600.0, 500.0, 800.0, 0.2, np.ones((4, 5), dtype=int), 5.0).shape == (4, 5)
    a_p, a, sc = F.csle_soil_loss(tile, 0.02, tile, 0.3)
    assert a_p.shape == a.shape == sc.shape == (4, 5)
    assert isinstance(F.csle_S(3.0), float)  # scalar in -> numpy float64 scalar out


# ===========================================================================
# Hypothesis property tests
# ===========================================================================

finite = dict(allow_nan=False, allow_infinity=False)
kc_s = st.floats(0.0, 2.0, **finite)
eto_s = st.floats(0.0, 3000.0, **finite)
p_s = st.floats(1e-3, 5000.0, **finite)
depth_s = st.floats(0.0, 20000.0, **finite)
pawc_s = st.floats(0.0, 1.0, **finite)
veg_s = st.sampled_from([0, 1])
z_s = st.floats(0.1, 30.0, **finite)


@settings(max_examples=300, deadline=None)
@given(kc=kc_s, eto=eto_s, p=p_s, root=depth_s, soil=depth_s, pawc=pawc_s, veg=veg_s, z=z_s)
def test_prop_fractp_bounded_and_yield_within_precip(kc, eto, p, root, soil, pawc, veg, z):
    fractp = F.awy_fractp(kc, eto, p, root, soil, pawc, veg, z)
    assert np.isfinite(fractp)
    assert 0.0 <= fractp <= 1.0
    wyield, aet = F.awy_water_yield(fractp, p)
    assert 0.0 <= wyield <= p
    assert 0.0 <= aet <= p
    assert wyield + aet == pytest.approx(p, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(kc=kc_s, eto=eto_s, root=depth_s, soil=depth_s, pawc=pawc_s, veg=veg_s, z=z_s)
def test_prop_zero_precip_gives_nan_never_inf(kc, eto, root, soil, pawc, veg, z):
    fractp = F.awy_fractp(kc, eto, 0.0, root, soil, pawc, veg, z)
    assert np.isnan(fractp)
    wyield, aet = F.awy_water_yield(fractp, 0.0)
    assert np.isnan(wyield) and np.isnan(aet)
    assert np.isnan(F.rusle_R_monthly(np.zeros(12)))
    assert not np.isinf(F.R_annual_zhang_fu(0.0))


@settings(max_examples=100, deadline=None)
@given(
    kc=st.lists(kc_s, min_size=6, max_size=6),
    p=st.lists(st.floats(0.0, 5000.0, **finite), min_size=6, max_size=6),
)
def test_prop_fractp_tile_no_inf(kc, p):
    tile_kc = np.array(kc).reshape(2, 3)
    tile_p = np.array(p).reshape(2, 3)
    out = F.awy_fractp(tile_kc, 1000.0, tile_p, 500.0, 800.0, 0.2, np.array([[1, 0, 1], [0, 1, 0]]), 5.0)
    assert out.shape == (2, 3)
    assert not np.any(np.isinf(out))
    np.testing.assert_array_equal(np.isnan(out), tile_p <= 0)


@settings(max_examples=200, deadline=None)
@given(
    v=st.floats(-1e6, 1e6, **finite),
    a1=st.floats(0.0, 1e8, **finite),
    a2=st.floats(0.0, 1e8, **finite),
    k=st.floats(0.0, 1e3, **finite),
)
def test_prop_per_pixel_linear_in_area(v, a1, a2, k):
    assert F.per_pixel(v, a1 + a2) == pytest.approx(F.per_pixel(v, a1) + F.per_pixel(v, a2), rel=1e-9, abs=1e-9)
    assert F.per_pixel(v, k * a1) == pytest.approx(k * F.per_pixel(v, a1), rel=1e-9, abs=1e-9)
    assert F.per_pixel(v, 10_000.0) == pytest.approx(v)


@settings(max_examples=200, deadline=None)
@given(
    pools=st.lists(st.floats(0.0, 500.0, **finite), min_size=4, max_size=4),
    a1=st.floats(1.0, 1e6, **finite),
    a2=st.floats(1.0, 1e6, **finite),
)
def test_prop_carbon_per_pixel_linear(pools, a1, a2):
    c = F.carbon_storage(*pools)
    assert c == pytest.approx(sum(pools))
    assert F.per_pixel(c, a1 + a2) == pytest.approx(F.per_pixel(c, a1) + F.per_pixel(c, a2), rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(theta=st.floats(0.0, 60.0, **finite), fa=st.floats(1.0, 1e7, **finite), d=st.floats(1.0, 1000.0, **finite))
def test_prop_ls_finite_and_capped(theta, fa, d):
    for s_m, m_m in (("csle", "csle"), ("mccool", "invest"), ("csle", "invest")):
        ls = F.ls_ucav(theta, fa, d, 25.0, s_method=s_m, m_method=m_m)
        assert np.isfinite(ls)
        if s_m == "csle":  # L is capped at l_max, so LS <= l_max * S (S > 0 for theta >= 0)
            assert ls <= 25.0 * F.csle_S(theta) * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(fvc=st.floats(-0.5, 1.5, **finite), gd=st.floats(0.0, 1.0, **finite))
def test_prop_cover_factors_bounded(fvc, gd):
    for value in (F.cai_C(fvc), F.b_grass(fvc), F.b_forest(gd, min(max(fvc, 0.0), 1.0))):
        assert 0.0 <= value <= 1.0


# --- NaN propagation for every public function ------------------------------

pos = st.floats(0.1, 1000.0, **finite)
frac = st.floats(0.01, 0.99, **finite)
angle = st.floats(0.0, 60.0, **finite)

# name -> (callable taking positional args, strategies per positional arg)
NAN_CASES = {
    "awy_fractp": (F.awy_fractp, [pos, pos, pos, pos, pos, frac, st.just(1.0), pos]),
    "awy_fractp_nonveg": (
        lambda kc, eto, p, soil, pawc, veg, z: F.awy_fractp(kc, eto, p, 100.0, soil, pawc, veg, z),
        [pos, pos, pos, pos, frac, st.just(0.0), pos],
    ),
    "awy_water_yield": (F.awy_water_yield, [frac, pos]),
    "water_yield_volume": (F.water_yield_volume, [pos, pos]),
    "water_demand_domestic": (F.water_demand_domestic, [pos, pos]),
    "carbon_storage": (F.carbon_storage, [pos, pos, pos, pos]),
    "per_pixel": (F.per_pixel, [pos, pos]),
    "carbon_valuation_constant": (
        F.carbon_valuation_constant,
        [pos, st.floats(-50, 50, **finite), st.floats(-50, 50, **finite), st.integers(1, 100)],
    ),
    "carbon_demand": (F.carbon_demand, [pos, pos]),
    "slope_percent_to_degrees": (F.slope_percent_to_degrees, [pos]),
    "slope_degrees_to_percent": (F.slope_degrees_to_percent, [angle]),
    "csle_m": (F.csle_m, [angle]),
    "csle_S": (F.csle_S, [angle]),
    "csle_L": (F.csle_L, [pos, angle]),
    "ls_ucav_csle": (lambda t, fa: F.ls_ucav(t, fa, 30.0, 122.0), [angle, st.floats(1.0, 1e6, **finite)]),
    "ls_ucav_invest": (
        lambda t, fa: F.ls_ucav(t, fa, 30.0, 122.0, s_method="mccool", m_method="invest"),
        [angle, st.floats(1.0, 1e6, **finite)],
    ),
    "R_annual_zhang_fu": (F.R_annual_zhang_fu, [pos]),
    "zhang2002_beta_alpha": (F.zhang2002_beta_alpha, [pos, pos]),
    "zhang2002_halfmonth_erosivity": (
        lambda d1, d2, alpha, beta: F.zhang2002_halfmonth_erosivity(np.array([d1, d2]), alpha, beta),
        [pos, pos, frac, st.floats(1.0, 2.0, **finite)],
    ),
    "epic_K": (F.epic_K, [st.floats(1, 90, **finite), st.floats(1, 90, **finite), st.floats(1, 90, **finite), frac]),
    "fvc_dimidiate": (F.fvc_dimidiate, [frac, st.just(0.05), st.just(0.9)]),
    "cai_C": (F.cai_C, [frac]),
    "b_forest": (F.b_forest, [frac, frac]),
    "b_grass": (F.b_grass, [frac]),
    "csle_soil_loss": (F.csle_soil_loss, [pos, frac, pos, frac, frac, frac]),
    "soil_demand_actual": (lambda a: F.soil_demand(a, 2.0, method="actual"), [pos]),
    "soil_demand_tolerance": (lambda a, t: F.soil_demand(a, t, method="tolerance"), [pos, pos]),
    "food_ndvi_weight": (F.food_ndvi_weight, [frac, st.just(1.0)]),
    "food_supply_ndvi": (F.food_supply_ndvi, [frac, st.just(1.0), pos, pos]),
    "food_supply_lookup": (F.food_supply_lookup, [pos, pos]),
    "food_demand": (F.food_demand, [pos, pos]),
    "proximity_bonus": (lambda d, w, d0: F.proximity_bonus([d], [w], [d0]), [pos, frac, pos]),
    "recreation_supply": (F.recreation_supply, [pos, frac]),
    "recreation_demand_density": (F.recreation_demand_density, [pos, pos]),
    "esdr": (F.esdr, [pos, pos, pos, pos]),
}


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("name", sorted(NAN_CASES))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_prop_nan_propagates(name, data):
    fn, strategies = NAN_CASES[name]
    args = [data.draw(s) for s in strategies]
    for out in _outputs(fn(*args)):  # valid inputs -> finite output
        assert np.isfinite(out), (name, args)
    i = data.draw(st.integers(0, len(args) - 1), label="nan position")
    args[i] = np.nan
    for out in _outputs(fn(*args)):
        assert np.isnan(out), (name, i, args)


def test_nan_propagates_monthly_R_and_tiles():
    p = np.tile(np.arange(1.0, 13.0)[:, None], (1, 3))
    p[5, 1] = np.nan
    got = F.rusle_R_monthly(p)
    assert np.isfinite(got[0]) and np.isnan(got[1]) and np.isfinite(got[2])
    tile = np.array([[0.2, np.nan], [0.5, 0.9]])
    out = F.cai_C(tile)
    assert np.isnan(out[0, 1]) and np.isfinite(out).sum() == 3


def test_all_public_functions_are_covered():
    covered = {
        "awy_fractp", "awy_water_yield", "water_yield_volume", "water_demand_domestic", "carbon_storage",
        "per_pixel", "carbon_valuation_constant", "carbon_demand", "slope_percent_to_degrees",
        "slope_degrees_to_percent", "csle_m", "csle_S", "csle_L", "ls_ucav", "R_annual_zhang_fu",
        "zhang2002_beta_alpha", "zhang2002_halfmonth_erosivity", "epic_K", "fvc_dimidiate", "cai_C",
        "b_forest", "b_grass", "csle_soil_loss", "soil_demand", "food_ndvi_weight", "food_supply_ndvi",
        "food_supply_lookup", "food_demand", "proximity_bonus", "recreation_supply",
        "recreation_demand_density", "esdr", "esdr_scaled", "minmax_scale", "weighted_mean", "hq_threat_decay", "hq_quality",
        # NaN behaviour tested separately:
        "horn_slope_degrees", "rusle_R_monthly",
    }  # fmt: skip
    assert set(F.__all__) == covered


def test_module_imports_only_numpy_and_stdlib():
    """formulas.py also runs in PL/Python: numpy + stdlib only, nothing from restore_db."""
    import ast
    import sys

    source = Path(F.__file__).read_text(encoding="utf-8")
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports are not allowed"
            modules.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    assert modules <= allowed, modules - allowed


def test_water_yield_kernel_takes_constant_soil_depth_and_pawc():
    # the scalars soil_depth_const / pawc_const stand for layers holding that value everywhere
    from restore_db.kernels import catalog

    rng = np.random.default_rng(7)
    shape = (4, 5)
    a = {"lulc": rng.integers(0, 3, shape).astype(float), "eto": rng.uniform(600, 1200, shape),
         "precipitation": rng.uniform(300, 900, shape)}
    a["precipitation"][0, 0] = np.nan
    p = {"kc": [0.6, 1.0, 0.8], "root_depth": [800.0, 3000.0, 1500.0], "lulc_veg": [1, 1, 0], "seasonality_z": 5.0}
    with_layers = catalog.water_yield({**a, "soil_depth": np.full(shape, 800.0), "pawc": np.full(shape, 0.15)}, p)
    with_scalars = catalog.water_yield(a, {**p, "soil_depth_const": 800, "pawc_const": 0.15})
    for name in ("fractp", "aet", "wyield"):
        np.testing.assert_array_equal(with_scalars[name], with_layers[name])   # same operations, same values
    assert np.isnan(with_scalars["wyield"][0, 0]) and np.isfinite(with_scalars["wyield"][1:]).all()
