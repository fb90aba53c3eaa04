"""Tests of restore_db.stages.resilience.landscape (pure numpy, no database).

Expected numbers come from outside the code under test:

* the worked 4x4 example of docs/models/landscape-metrics.md#reference-test-values, typed in below;
* hand tallies written out in the tests (adjacency matrix, patch perimeters
  of the docs/models/landscape-metrics.md#reference-test-values raster; single-class and checkerboard landscapes);
* pylandstats 3.1.0 (test-only dependency): its landscape-level functions for
  PD, ED, LPI, LSI, MESH, TA, NP, and its building blocks (adjacency table,
  patch areas and perimeters, class proportions) for the metrics it does not
  provide (COHESION, AI, SIDI) or defines by another convention (SHDI,
  CONTAG: P_i from the adjacency table instead of cell counts).

Hypothesis property tests check bounds and invariances.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from restore_db.stages.resilience.landscape import METRICS, landscape_metrics, zone_metrics

# docs/models/landscape-metrics.md#reference-test-values
EX168 = np.array(
    [
        [1, 1, 2, 2],
        [1, 1, 2, 2],
        [3, 3, 3, 2],
        [3, 1, 1, 2],
    ],
    dtype=float,
)
REQUIRED = ["np", "pd", "ed", "lpi", "lsi", "mesh", "shdi", "shei", "sidi", "contag", "cohesion", "ai"]


def _close(actual, expected, rel=1e-9, abs_=1e-9):
    return actual == pytest.approx(expected, rel=rel, abs=abs_, nan_ok=True)


# ---------------------------------------------------------------------------
# API surface
# ---------------------------------------------------------------------------


def test_metrics_table_has_required_names_and_units():
    for name in REQUIRED:
        assert name in METRICS
        unit, description = METRICS[name]
        assert isinstance(unit, str) and unit
        assert isinstance(description, str) and description
    assert list(landscape_metrics(EX168, 30.0)) == list(METRICS)


def test_metric_subset_and_unknown_name():
    out = landscape_metrics(EX168, 30.0, metrics=["shdi", "np"])
    assert list(out) == ["np", "shdi"]  # METRICS order
    assert all(isinstance(v, float) for v in out.values())
    with pytest.raises(ValueError, match="unknown"):
        landscape_metrics(EX168, 30.0, metrics=["nope"])


@pytest.mark.parametrize("bad", [0, -30, float("nan"), float("inf")])
def test_bad_pixel_size(bad):
    with pytest.raises(ValueError):
        landscape_metrics(EX168, bad)


def test_bad_shapes():
    with pytest.raises(ValueError):
        landscape_metrics(EX168.ravel(), 30.0)
    with pytest.raises(ValueError):
        zone_metrics(EX168, np.ones((3, 3)), 30.0)
    with pytest.raises(ValueError, match="integer"):
        zone_metrics(EX168, np.full(EX168.shape, 1.5), 30.0)


# ---------------------------------------------------------------------------
# 1. the docs/models/landscape-metrics.md#reference-test-values worked example
# ---------------------------------------------------------------------------


def test_domain_16_8_worked_values():
    out = landscape_metrics(EX168, 30.0)
    expected = {  # typed from docs/models/landscape-metrics.md#reference-test-values
        "np": 4,
        "pd": 277.78,
        "lpi": 37.5,
        "ed": 208.33,
        "lsi": 1.625,
        "mesh": 0.405,
        "shdi": 1.082196,
        "sidi": 0.65625,
    }
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, rel=1e-4), name
    assert out["ta"] == pytest.approx(1.44)


def test_domain_16_8_adjacency_metrics_by_hand():
    """CONTAG, AI, COHESION, SHEI of the docs/models/landscape-metrics.md#reference-test-values raster from hand tallies.

    4-neighbour joins (single count) tallied row by row and column by column:
    like 1-1 = 5, 2-2 = 6, 3-3 = 3; unlike 1-2 = 3, 1-3 = 5, 2-3 = 2 (E = 10).
    Patches (8-connected): class 1 {2x2 block: a=4, p=8}, {row 3 pair: a=2,
    p=6}; class 2 {a=6, p=12}; class 3 {a=4, p=10}  (p = 4a - 2 like joins).
    """
    out = landscape_metrics(EX168, 30.0)
    p = np.array([6, 6, 4]) / 16
    g = np.array([[10, 3, 5], [3, 12, 2], [5, 2, 6]], dtype=float)  # double count
    q = p[:, None] * g / g.sum(axis=1)[:, None]
    contag = (1 + np.sum(q * np.log(q)) / (2 * math.log(3))) * 100
    assert _close(out["contag"], contag)
    # max-g_ii: 6 cells -> n=2, m=2 <= n -> 2*2*1 + 2*2 - 1 = 7; 4 cells -> 4
    ai = 100 * (6 / 16 * 5 / 7 + 6 / 16 * 6 / 7 + 4 / 16 * 3 / 4)
    assert _close(out["ai"], ai)
    perim = np.array([8, 6, 12, 10], dtype=float)
    area = np.array([4, 2, 6, 4], dtype=float)
    cohesion = (1 - perim.sum() / np.sum(perim * np.sqrt(area))) / (1 - 1 / math.sqrt(16)) * 100
    assert _close(out["cohesion"], cohesion)
    assert _close(out["shei"], out["shdi"] / math.log(3))
    # LSI = 0.25 E*/sqrt(A): E* = 10 internal + 16 boundary sides = 26 -> 780 m
    assert _close(out["lsi"], 0.25 * 780 / math.sqrt(16 * 900))


# ---------------------------------------------------------------------------
# 2. cross-check with pylandstats
# ---------------------------------------------------------------------------


def _random_case(seed, masked):
    """(float classes with NaN, int classes with 0 = nodata) of a seeded random raster."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(12, 40)), int(rng.integers(12, 40)))
    k = int(rng.integers(2, 6))
    # blocky classes so that patches have a range of sizes
    coarse = rng.integers(1, k + 1, (shape[0] // 3 + 1, shape[1] // 3 + 1))
    ints = np.kron(coarse, np.ones((3, 3), dtype=int))[: shape[0], : shape[1]]
    noise = rng.random(shape) < 0.25
    ints = np.where(noise, rng.integers(1, k + 1, shape), ints)
    if masked:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        ry, rx = shape[0] / 2, shape[1] / 2
        outside = ((yy - ry) / ry) ** 2 + ((xx - rx) / rx) ** 2 > 1
        outside |= rng.random(shape) < 0.05  # holes of nodata inside
        ints = np.where(outside, 0, ints)
    floats = np.where(ints == 0, np.nan, ints.astype(float))
    return floats, ints


CASES = [(seed, masked) for seed in range(4) for masked in (False, True)]


@pytest.mark.parametrize(("seed", "masked"), CASES)
def test_against_pylandstats(seed, masked):
    pls = pytest.importorskip("pylandstats")
    floats, ints = _random_case(seed, masked)
    ps = 30.0
    ours = landscape_metrics(floats, ps)
    assert landscape_metrics(ints, ps, nodata=0) == ours  # int + nodata code == float + NaN

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ls = pls.Landscape(ints, res=(ps, ps), nodata=0)
        # pylandstats conventions: nodata cells are outside; ED excludes the landscape
        # boundary and edges to nodata (count_boundary=False); LSI is E*/min E* with E*
        # counting edges to nodata/boundary (FRAGSTATS raster form).
        assert _close(ours["ta"], ls.total_area())
        assert ours["np"] == ls.number_of_patches()
        assert _close(ours["pd"], ls.patch_density())
        assert _close(ours["ed"], ls.edge_density())
        assert _close(ours["lpi"], ls.largest_patch_index())
        assert _close(ours["lsi"], ls.landscape_shape_index())
        assert _close(ours["mesh"], ls.effective_mesh_size())

        adj = ls.compute_total_adjacency_df().to_numpy(dtype=float)  # double count, no nodata
        cls = ls.classes
        counts = np.array([np.sum(ints == c) for c in cls], dtype=float)
        p_cells = counts / counts.sum()
        m = len(cls)

        # SIDI and SHDI: P_i from class areas (pylandstats PLAND), FRAGSTATS formulas.
        pland = np.array([ls.proportion_of_landscape(c, percent=False) for c in cls])
        assert np.allclose(pland, p_cells)
        assert _close(ours["sidi"], 1 - np.sum(pland**2))
        assert _close(ours["shdi"], -np.sum(pland * np.log(pland)))
        # pylandstats' own SHDI takes P_i from the adjacency table's row sums (a
        # documented convention difference, domain docs/models/landscape-metrics.md#metrics): check that this is the only
        # difference, rather than asserting our value against it.
        rows = adj.sum(axis=1)
        p_adj = rows / rows.sum()
        assert _close(ls.shannon_diversity_index(), -np.sum(p_adj * np.log(p_adj)))

        # CONTAG (FRAGSTATS): q_ik = P_i g_ik / sum_k g_ik with P_i from cell counts and
        # g_ik = pylandstats' double-count adjacency table.
        with np.errstate(divide="ignore", invalid="ignore"):
            q = p_cells[:, None] * adj / rows[:, None]
            s = np.nansum(np.where(q > 0, q * np.log(q), 0.0))
        assert _close(ours["contag"], (1 + s / (2 * math.log(m))) * 100)
        # pylandstats' CONTAG = same table with q_ik = g_ik / sum g (P_i from adjacencies).
        q_adj = adj / adj.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            s_adj = np.sum(np.where(q_adj > 0, q_adj * np.log(q_adj), 0.0))
        assert _close(ls.contagion(), (1 + s_adj / (2 * math.log(m))) * 100)

        # AI (FRAGSTATS L-AI): single-count like joins = diag(double count) / 2.
        like = np.diag(adj) / 2
        n = np.floor(np.sqrt(counts))
        rest = counts - n**2
        base = 2 * n * (n - 1)
        max_g = np.where(rest == 0, base, np.where(rest <= n, base + 2 * rest - 1, base + 2 * rest - 2))
        ok = max_g > 0
        assert _close(ours["ai"], 100 * np.sum(p_cells[ok] * like[ok] / max_g[ok]))

        # COHESION (FRAGSTATS L-COHESION) from pylandstats' patch areas and perimeters
        # (its patch perimeters count the sides facing nodata and the raster edge).
        patches = ls.compute_patch_metrics_df(metrics=["area", "perimeter"])
        a_cells = patches["area"].to_numpy() * 10_000 / ps**2
        p_sides = patches["perimeter"].to_numpy() / ps
        z = counts.sum()
        cohesion = (1 - p_sides.sum() / np.sum(p_sides * np.sqrt(a_cells))) / (1 - 1 / math.sqrt(z)) * 100
        assert _close(ours["cohesion"], cohesion)
        assert ours["np"] == len(patches)


def test_pylandstats_shdi_differs_on_16_8():
    """domain docs/models/landscape-metrics.md#reference-test-values: pylandstats' SHDI is 1.089208 (adjacency-based); ours 1.082196."""
    pls = pytest.importorskip("pylandstats")
    ls = pls.Landscape(EX168.astype(int), res=(30, 30), nodata=0)
    assert ls.shannon_diversity_index() == pytest.approx(1.089208, rel=1e-6)
    assert landscape_metrics(EX168, 30.0)["shdi"] == pytest.approx(1.082196, rel=1e-6)


# ---------------------------------------------------------------------------
# 3. hand-checkable landscapes
# ---------------------------------------------------------------------------


def test_single_class_landscape():
    out = landscape_metrics(np.full((5, 5), 7.0), 30.0)
    area_m2 = 25 * 900
    assert out["np"] == 1
    assert _close(out["pd"], 1 / area_m2 * 1e6)
    assert out["pr"] == 1
    assert out["shdi"] == 0
    assert out["sidi"] == 0
    assert math.isnan(out["shei"])
    assert math.isnan(out["contag"])
    assert out["lpi"] == 100
    assert out["ed"] == 0
    assert out["lsi"] == 1  # E* = 20 boundary sides = min E* of 25 cells
    assert _close(out["mesh"], area_m2 / 10_000)
    assert _close(out["ai"], 100)  # 40 like joins = max-g of a 5x5 square
    # one patch: 1 - 20/(20*5) = 0.8, divided by 1 - 1/5 -> 100
    assert _close(out["cohesion"], 100)


def test_checkerboard():
    board = (np.indices((4, 4)).sum(axis=0) % 2 + 1).astype(float)
    out = landscape_metrics(board, 10.0)
    # diagonal neighbours are 8-connected: each class is one patch of 8 cells
    assert out["np"] == 2
    assert out["lpi"] == 50
    assert out["ai"] == 0  # no like joins at all
    # only unlike joins: q_12 = q_21 = 0.5 -> sum q ln q = -ln 2 -> CONTAG 50
    assert _close(out["contag"], 50)
    # 24 internal sides, all edge: ED = 24*10 m / 0.16 ha
    assert _close(out["ed"], 24 * 10 / (16 * 100) * 10_000)
    # E* = 24 + 16 boundary = 40 sides, min E* of 16 cells = 16
    assert _close(out["lsi"], 40 / 16)
    # patches of a=8, p=32 (no like joins)
    assert _close(out["cohesion"], (1 - 64 / (64 * math.sqrt(8))) / (1 - 1 / 4) * 100)
    assert _close(out["shdi"], math.log(2))
    assert _close(out["shei"], 1)
    assert _close(out["sidi"], 0.5)


def test_empty_landscape_all_nan():
    out = landscape_metrics(np.full((3, 3), np.nan), 30.0)
    assert list(out) == list(METRICS)
    assert all(math.isnan(v) for v in out.values())
    out = landscape_metrics(np.zeros((3, 3), dtype=int), 30.0, nodata=0)
    assert all(math.isnan(v) for v in out.values())


def test_single_cells():
    one = landscape_metrics(np.array([[np.nan, 3.0], [np.nan, np.nan]]), 30.0)
    assert one["np"] == 1 and one["lpi"] == 100 and one["lsi"] == 1
    assert one["cohesion"] == 0  # FRAGSTATS: 0 for a single non-background cell
    assert math.isnan(one["ai"])  # max-g_ii = 0
    pair = landscape_metrics(np.array([[1.0, 2.0]]), 30.0)
    assert math.isnan(pair["ai"])  # every class is a single cell
    assert _close(pair["contag"], 50)


def test_ai_skips_single_cell_classes():
    # class 1: 2x2 block (4 like joins = max) ; class 2: a single cell
    arr = np.array([[1, 1, 2], [1, 1, np.nan]])
    out = landscape_metrics(arr, 30.0)
    assert _close(out["ai"], 100 * 4 / 5 * 4 / 4)


def test_nodata_edges_are_not_edge_but_are_perimeter():
    # two classes side by side; a nodata column in the middle of class 2
    arr = np.array([[1, 2, np.nan, 2], [1, 2, np.nan, 2]])
    out = landscape_metrics(arr, 10.0)
    # internal edge: only the 2 sides between column 0 and column 1
    assert _close(out["ed"], 2 * 10 / (6 * 100) * 10_000)
    # E*: class 1: 4*2 - 2*1 = 6, class 2: 4*4 - 2*2 = 12 -> 18 - 2 shared = 16 sides;
    # min E* of 6 cells: n=2, m=2 <= 2*3 -> 4*2 + 2 = 10
    assert _close(out["lsi"], 16 / 10)
    assert out["np"] == 3  # class 2 is split by the nodata column


# ---------------------------------------------------------------------------
# zones
# ---------------------------------------------------------------------------


def _zone_raster():
    rng = np.random.default_rng(42)
    classes = rng.integers(1, 5, (20, 24)).astype(float)
    classes[rng.random(classes.shape) < 0.05] = np.nan
    zones = np.full(classes.shape, np.nan)
    zones[:, :10] = 110101  # county-like codes
    zones[:, 10:] = 130102
    zones[5:15, 5:15] = 120103  # a zone inside both others' bounding boxes
    zones[0:3, 20:24] = np.nan  # no zone
    zones[18:20, 0:3] = 990000  # a zone without any valid class cell
    classes[18:20, 0:3] = np.nan
    return classes, zones


def test_zone_equals_landscape_of_masked_cutout():
    classes, zones = _zone_raster()
    res = zone_metrics(classes, zones, 30.0)
    assert list(res) == [110101, 120103, 130102]  # empty zone 990000 not returned
    assert all(isinstance(z, int) for z in res)
    for z, metrics in res.items():
        cut = np.where(zones == z, classes, np.nan)
        expected = landscape_metrics(cut, 30.0)
        assert list(metrics) == list(expected)
        for name in expected:
            assert _close(metrics[name], expected[name]), (z, name)
        # the same on the zone's bounding box only (what zone_metrics slices)
        rows, cols = np.nonzero(zones == z)
        box = cut[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert landscape_metrics(box, 30.0) == pytest.approx(expected, nan_ok=True)


def test_zone_other_zones_do_not_leak():
    classes, zones = _zone_raster()
    before = zone_metrics(classes, zones, 30.0)
    changed = classes.copy()
    changed[zones == 120103] = 9  # a class unknown to the other zones, one big patch
    after = zone_metrics(changed, zones, 30.0)
    for z in (110101, 130102):
        assert after[z] == pytest.approx(before[z], nan_ok=True)
    assert after[120103]["np"] == 1 and after[120103]["pr"] == 1
    assert after[110101]["pr"] == before[110101]["pr"] == 4


def test_zone_masking_cuts_patches_at_zone_border():
    # one class everywhere; zone 1 is a ring around zone 2
    classes = np.ones((6, 6))
    zones = np.ones((6, 6))
    zones[2:4, 2:4] = 2
    res = zone_metrics(classes, zones, 10.0)
    assert res[2]["np"] == 1 and res[2]["lpi"] == 100
    ring = res[1]
    assert ring["np"] == 1 and ring["ta"] == pytest.approx(32 * 100 / 10_000)
    # ring perimeter: 24 outer + 8 inner sides; min E* of 32 cells: n=5, m=7 > 5 -> 24
    assert _close(ring["lsi"], 32 / 24)
    assert ring["ed"] == 0  # sides facing the other zone are boundary, not edge


def test_zone_int_arrays_and_subset():
    classes, zones = _zone_raster()
    ints = np.where(np.isnan(classes), 0, classes).astype(np.int16)
    zint = np.where(np.isnan(zones), -1, zones).astype(np.int64)
    a = zone_metrics(classes, zones, 30.0, metrics=["shdi", "ed"])
    b = zone_metrics(ints, zint, 30.0, metrics=["shdi", "ed"], nodata=0, zone_nodata=-1)
    assert a == b
    assert all(list(v) == ["ed", "shdi"] for v in a.values())


def test_zone_metrics_no_zones():
    assert zone_metrics(EX168, np.full(EX168.shape, np.nan), 30.0) == {}


# ---------------------------------------------------------------------------
# 4. properties
# ---------------------------------------------------------------------------

rasters = hnp.arrays(
    dtype=np.float64,
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
    elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, np.nan]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rasters)
def test_property_bounds(arr):
    out = landscape_metrics(arr, 30.0)
    valid = ~np.isnan(arr)
    if not valid.any():
        assert all(math.isnan(v) for v in out.values())
        return
    eps = 1e-9
    m = len(np.unique(arr[valid]))
    assert out["pr"] == m
    assert out["shdi"] >= -eps
    assert out["shdi"] <= math.log(m) + eps
    assert -eps <= out["sidi"] < 1
    assert 0 < out["lpi"] <= 100 + eps
    assert out["lsi"] >= 1 - eps
    assert out["np"] >= m
    assert out["ed"] >= 0
    assert 0 < out["mesh"] <= out["ta"] + eps
    for name in ("contag", "cohesion", "ai", "shei"):
        value = out[name]
        if not math.isnan(value):
            upper = 1 if name == "shei" else 100
            assert -eps <= value <= upper + eps, name
    if m >= 2:
        assert not math.isnan(out["contag"])
        assert not math.isnan(out["shei"])
    else:
        assert math.isnan(out["contag"])


@settings(max_examples=100, deadline=None)
@given(rasters, st.permutations([1.0, 2.0, 3.0, 4.0]))
def test_property_relabelling_classes_changes_nothing(arr, perm):
    relabelled = arr.copy()
    for old, new in zip([1.0, 2.0, 3.0, 4.0], perm):
        relabelled[arr == old] = new * 10
    assert landscape_metrics(relabelled, 30.0) == pytest.approx(landscape_metrics(arr, 30.0), nan_ok=True)


@settings(max_examples=100, deadline=None)
@given(rasters, st.integers(min_value=1, max_value=3))
def test_property_single_zone_equals_landscape(arr, zone_id):
    zones = np.full(arr.shape, float(zone_id))
    res = zone_metrics(arr, zones, 30.0)
    if np.isnan(arr).all():
        assert res == {}
    else:
        assert res[zone_id] == pytest.approx(landscape_metrics(arr, 30.0), nan_ok=True)


def test_zone_metrics_of_float32_layers_equal_those_of_float64():
    """Resilience reads land use and the county raster as float32 (exact for them): the same metrics, bit for bit;
    _dense's int32 blocks give the codes of the intp version."""
    rng = np.random.default_rng(11)
    lulc = rng.integers(1, 7, (120, 150)).astype(np.float64)
    lulc[rng.random(lulc.shape) < 0.05] = np.nan
    county = np.repeat(np.arange(1, 7), 20)[:, None] * 1000.0 + np.repeat(np.arange(5), 30)[None, :]
    county[:4, :] = np.nan
    metrics = list(METRICS)
    wide = zone_metrics(lulc, county, 250.0, metrics)
    narrow = zone_metrics(lulc.astype(np.float32), county.astype(np.float32), 250.0, metrics)
    assert list(narrow) == list(wide)
    for zone, values in wide.items():
        assert narrow[zone].keys() == values.keys()
        for name, v in values.items():
            assert narrow[zone][name] == v or (np.isnan(v) and np.isnan(narrow[zone][name])), (zone, name)
