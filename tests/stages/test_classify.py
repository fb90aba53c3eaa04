"""Tests of restore_db.stages.classify (pure numpy + mapclassify, no database).

Expected numbers come from outside the code under test:

* Fisher–Jenks optimal breaks checked against an exhaustive search over all
  contiguous partitions of a small sorted array (written out below);
* quantile/equal-interval bounds computed by hand;
* the matching types of docs/models/ratios.md#reference-test-values, typed in below;
* hand-built arrays for the deficit/surplus ranks.
"""

from __future__ import annotations

import itertools

import mapclassify
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from restore_db.stages import classify as C
from restore_db.errors import InputError

# --- breaks -----------------------------------------------------------------


def _brute_force_jenks(values, k):
    """Upper bounds of the contiguous k-partition of sorted values with minimum within-class SSE."""
    x = np.sort(np.asarray(values, dtype=float))
    best, best_cuts = np.inf, None
    for cuts in itertools.combinations(range(1, x.size), k - 1):
        parts = np.split(x, cuts)
        sse = sum(((p - p.mean()) ** 2).sum() for p in parts)
        if sse < best - 1e-12:
            best, best_cuts = sse, parts
    return [p[-1] for p in best_cuts]


def test_natural_breaks_by_hand():
    v = np.array([1, 2, 3, 10, 11, 12, 30, 31], dtype=float)
    assert _brute_force_jenks(v, 3) == [3, 12, 31]
    np.testing.assert_array_equal(C.breaks(v, 3), [3, 12, 31])
    # order and NaN do not matter
    np.testing.assert_array_equal(C.breaks(np.r_[v[::-1], np.nan], 3), [3, 12, 31])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_natural_breaks_optimal_small(k):
    v = np.array([0.5, 0.7, 1.9, 2.0, 2.2, 4.8, 5.0, 5.1, 9.0, 9.3, 12.0])
    np.testing.assert_allclose(C.breaks(v, k), _brute_force_jenks(v, k))


def test_quantiles_by_hand():
    v = np.arange(1.0, 9.0)  # 1..8: linear percentiles 25/50/75/100 -> 2.75, 4.5, 6.25, 8
    np.testing.assert_allclose(C.breaks(v, 4, "quantiles"), [2.75, 4.5, 6.25, 8.0])


def test_equal_interval_by_hand():
    v = np.array([0.0, 1.0, 3.0, 7.0, 10.0])
    np.testing.assert_allclose(C.breaks(v, 5, "equal_interval"), [2, 4, 6, 8, 10])


def test_fixed_thresholds():
    v = np.array([1, 2, 3, 10, 11, 12, 30, 31], dtype=float)
    b = C.breaks(v, 99, "fixed", thresholds=[5, 20])  # k ignored: 3 classes
    np.testing.assert_array_equal(b, [5, 20, 31])
    np.testing.assert_array_equal(C.assign(v, b), [0, 0, 0, 1, 1, 1, 2, 2])
    # data max below the last threshold: empty top class, bound repeated
    np.testing.assert_array_equal(C.breaks([1.0, 4.0], 3, "fixed", [5, 20]), [5, 20, 20])
    for bad in ([5, 5], [20, 5], [], [1, np.nan], None, "abc"):
        with pytest.raises(InputError, match="thresholds"):
            C.breaks(v, 3, "fixed", thresholds=bad)


def test_breaks_fewer_distinct_values_than_k():
    np.testing.assert_array_equal(C.breaks([2.0, 1.0, 2.0, 1.0, np.nan], 4), [1.0, 2.0])
    np.testing.assert_array_equal(C.breaks([3.0, 3.0], 5, "quantiles"), [3.0])
    np.testing.assert_array_equal(C.breaks([3.0, 3.0], 5, "equal_interval"), [3.0])


def test_breaks_quantile_ties_merge():
    # 25th and 50th percentile of [1,1,1,1,1,1,2,3] are both 1 -> merged, 3 bounds
    np.testing.assert_allclose(C.breaks([1, 1, 1, 1, 1, 1, 2, 3], 4, "quantiles"), [1, 1.25, 3])


def test_breaks_empty_and_errors():
    assert C.breaks([np.nan, np.inf], 3).size == 0
    with pytest.raises(InputError, match="unknown classification method"):
        C.breaks([1.0, 2.0], 2, "jenks")
    with pytest.raises(InputError, match="only used with method 'fixed'"):
        C.breaks([1.0, 2.0], 2, "quantiles", thresholds=[1.5])
    for k in (0, 2.5, True):
        with pytest.raises(InputError, match="k must be"):
            C.breaks([1.0, 2.0, 3.0], k)


def test_natural_breaks_sampling_deterministic(monkeypatch):
    rng = np.random.default_rng(7)
    v = np.concatenate([rng.normal(0, 1, 3000), rng.normal(10, 1, 3000)])
    seen = []
    real = mapclassify.FisherJenks

    def spy(y, k):
        seen.append(np.asarray(y).copy())
        return real(y, k=k)

    monkeypatch.setattr(mapclassify, "FisherJenks", spy)
    b1 = C.breaks(v, 3, sample=500, seed=3)
    b2 = C.breaks(v, 3, sample=500, seed=3)
    b3 = C.breaks(rng.permutation(v), 3, sample=500, seed=3)  # order-independent
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(b1, b3)
    assert len(seen) == 3
    for y in seen:
        assert y.size == 500
        assert y.min() == v.min() and y.max() == v.max()
        assert np.isin(y, v).all()
    np.testing.assert_array_equal(seen[0], seen[1])
    assert b1[-1] == v.max()
    C.breaks(v, 3, sample=500, seed=4)
    assert not np.array_equal(seen[3], seen[0])  # the seed drives the sample
    # no sampling at or below the sample size
    C.breaks(v[:400], 3, sample=500)
    assert seen[-1].size == 400


def test_natural_breaks_bad_sample():
    with pytest.raises(InputError, match="sample"):
        C.breaks(np.arange(10.0), 3, sample=1)


def _spread(i: int) -> float:
    """Value i of SPREAD: 400 distinct values from a formula, the same on every machine (no random generator)."""
    return ((i * 7919) % 1009) ** 1.5 / 100


SPREAD = np.array([_spread(i) for i in range(1, 401)])
# Fisher-Jenks breaks of SPREAD by mapclassify 2.10 with numba 0.68 (compiled, not cached), recorded once: they are
# the values _spread(i) of these i (k=5: 48.366988742323, 109.46376432409038, 176.93129711840132,
# 247.37826278798224, 319.07808072633253).
SPREAD_BREAKS = {2: (194, 277), 4: (222, 194, 186, 277), 5: (163, 221, 200, 311, 277)}

_BREAKS_IN_A_PROCESS = """
import json, sys
import numpy as np
from restore_db.stages import classify
v = np.array(json.loads(sys.argv[1]))
breaks = {k: classify.breaks(v, int(k)).tolist() for k in json.loads(sys.argv[2])}
import mapclassify
stats = mapclassify.classifiers._fisher_jenks_means.stats
print(json.dumps({"breaks": breaks, "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def test_natural_breaks_known_values():
    for k, at in SPREAD_BREAKS.items():
        np.testing.assert_array_equal(C.breaks(SPREAD, k), [_spread(i) for i in at])


def test_natural_breaks_are_the_same_from_numbas_cache(tmp_path):
    """The first process compiles mapclassify's Fisher-Jenks into the cache folder, the second reads it from there:
    both give the recorded breaks."""
    import json
    import os
    import subprocess
    import sys

    import matplotlib

    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path), MPLCONFIGDIR=matplotlib.get_cachedir())
    outs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", _BREAKS_IN_A_PROCESS, json.dumps(SPREAD.tolist()),
                               json.dumps(list(SPREAD_BREAKS))], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    expected = {str(k): [_spread(i) for i in at] for k, at in SPREAD_BREAKS.items()}
    assert outs[0]["breaks"] == outs[1]["breaks"] == expected
    assert outs[0]["hits"] == 0 and outs[0]["misses"] >= 1      # compiled, and written to the cache
    assert outs[1]["hits"] >= 1 and outs[1]["misses"] == 0      # read from the cache
    assert list((tmp_path / "restore-db" / "numba").rglob("*.nbi"))


def test_numba_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert C.numba_cache_dir() == tmp_path / "restore-db" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert C.numba_cache_dir() == tmp_path / "home" / ".cache" / "restore-db" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert C.numba_cache_dir() == tmp_path / "mine"
    (tmp_path / "file").write_text("", encoding="utf-8")
    assert C._writable_folder(tmp_path / "numba") and not C._writable_folder(tmp_path / "file" / "numba")


# --- assign -----------------------------------------------------------------


def test_assign():
    b = [3.0, 12.0, 31.0]
    v = np.array([1, 3, 3.0001, 12, 13, 31, 40, -np.inf, np.nan])
    np.testing.assert_array_equal(C.assign(v, b), [0, 0, 1, 1, 2, 2, 2, 0, -1])
    np.testing.assert_array_equal(C.assign(np.array([[np.nan, 5.0]]), b), [[-1, 1]])
    np.testing.assert_array_equal(C.assign([np.nan], []), [-1])
    with pytest.raises(InputError, match="no class bounds"):
        C.assign([1.0], [])
    with pytest.raises(InputError, match="ascending"):
        C.assign([1.0], [3.0, 2.0])


# --- balance classes (docs/models/ratios.md#deficit-and-surplus-classes) ---------------------------------------------------


def test_balance_classes_hand_array():
    v = np.array([-0.9, -0.8, -0.2, -0.1, -0.005, 0.0, 0.004, 0.05, 0.06, 0.5, 0.55, np.nan])
    ranks, det = C.balance_classes(v, eps=0.01, k=2)
    # deficit magnitudes {0.1, 0.2, 0.8, 0.9} -> Jenks k=2: [0.2, 0.9]
    # surplus {0.05, 0.06, 0.5, 0.55} -> [0.06, 0.55]
    np.testing.assert_allclose(det["deficit_bounds"], [0.2, 0.9])
    np.testing.assert_allclose(det["surplus_bounds"], [0.06, 0.55])
    assert ranks.dtype == np.int8
    np.testing.assert_array_equal(ranks, [-2, -2, -1, -1, 0, 0, 0, 1, 1, 2, 2, C.NODATA_RANK])
    assert det["eps"] == 0.01 and det["method"] == "natural_breaks" and det["k"] == 2


def test_balance_classes_eps_zero_only_exact_zero():
    ranks, _ = C.balance_classes(np.array([-1e-12, 0.0, 1e-12]), k=4)
    np.testing.assert_array_equal(ranks, [-1, 0, 1])


def test_balance_classes_sides_independent():
    deficit = np.array([-0.9, -0.8, -0.3, -0.2, -0.1, -0.05])
    r1, d1 = C.balance_classes(np.r_[deficit, [0.1, 0.2, 0.3]], k=3)
    r2, d2 = C.balance_classes(np.r_[deficit, [5.0, 7.0, 100.0, 101.0]], k=3)
    assert d1["deficit_bounds"] == d2["deficit_bounds"]
    np.testing.assert_array_equal(r1[:6], r2[:6])
    # deficit magnitudes 0.05,0.1,0.2,0.3 | 0.8,0.9 with k=3 -> by exhaustive search
    assert d1["deficit_bounds"] == pytest.approx(
        _brute_force_jenks([0.9, 0.8, 0.3, 0.2, 0.1, 0.05], 3)
    )
    assert r1[0] == -3 and r1[-1] == 3  # largest deficit = -k, largest surplus = +k


def test_balance_classes_default_k4_labels():
    v = np.array([-8.0, -6.0, -4.0, -2.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    ranks, det = C.balance_classes(v)
    np.testing.assert_array_equal(ranks, [-4, -3, -2, -1, 0, 1, 2, 3, 4])
    labels = [C.balance_label(r, 4) for r in ranks]
    assert labels == [
        "high deficit",
        "medium-high deficit",
        "medium deficit",
        "low deficit",
        "balance",
        "low surplus",
        "medium surplus",
        "medium-high surplus",
        "high surplus",
    ]
    assert det["deficit_bounds"] == [2.0, 4.0, 6.0, 8.0]


def test_balance_classes_fixed():
    v = np.array([-0.5, -0.15, -0.05, 0.0, 0.05, 0.25, 0.8])
    th = {"deficit": [0.1, 0.2], "surplus": [0.1, 0.5]}
    ranks, det = C.balance_classes(v, k=3, method="fixed", thresholds=th)
    np.testing.assert_array_equal(ranks, [-3, -2, -1, 0, 1, 2, 3])
    assert det["deficit_bounds"] == [0.1, 0.2, 0.5]
    assert det["surplus_bounds"] == [0.1, 0.5, 0.8]
    assert det["k"] == 3
    with pytest.raises(InputError, match="deficit"):
        C.balance_classes(v, k=2, method="fixed", thresholds={"surplus": [0.1]})
    with pytest.raises(InputError, match=r"deficit classes: .*strictly increasing"):
        C.balance_classes(v, k=3, method="fixed", thresholds={"deficit": [0.2, 0.1], "surplus": [0.1, 0.2]})
    # the number of cut points must match k (default 4 -> 3 cut points per side)
    with pytest.raises(InputError, match=r"fixed surplus thresholds must be k - 1 = 3 .* got 2"):
        C.balance_classes(v, method="fixed", thresholds={"deficit": [0.1, 0.2, 0.3], "surplus": [0.1, 0.5]})


def test_balance_classes_all_balance_and_errors():
    ranks, det = C.balance_classes(np.array([0.0, 0.001, np.nan]), eps=0.01)
    np.testing.assert_array_equal(ranks, [0, 0, C.NODATA_RANK])
    assert det["deficit_bounds"] == [] and det["surplus_bounds"] == []
    with pytest.raises(InputError, match="eps"):
        C.balance_classes(np.array([0.1]), eps=-0.1)
    with pytest.raises(InputError, match="127"):
        C.balance_classes(np.array([0.1]), k=200)
    with pytest.raises(InputError, match="unknown classification method"):
        C.balance_classes(np.array([0.1]), method="jenks")


def test_balance_label_generic_and_nodata():
    assert C.balance_label(-1, 3) == "deficit class 1 of 3"
    assert C.balance_label(3, 3) == "surplus class 3 of 3"
    assert C.balance_label(0, 3) == "balance"
    assert C.balance_label(C.NODATA_RANK, 4) is None
    assert C.BALANCE_LABELS[-4] == "high deficit" and C.BALANCE_LABELS[1] == "low surplus"
    with pytest.raises(InputError, match="outside"):
        C.balance_label(5, 4)


# --- two levels / five levels (docs/models/resilience.md#index-and-classes) ----------------------------------------


def test_two_level_mean_median_jenks():
    v = np.array([0.1, 0.2, 0.3, 0.9, np.nan])  # mean 0.375, median 0.25
    assert C.two_level(v, "mean").tolist() == ["L", "L", "L", "H", None]
    assert C.two_level(v, "median").tolist() == ["L", "L", "H", "H", None]
    assert C.two_level(v, "natural_breaks").tolist() == ["L", "L", "L", "H", None]
    # value equal to the mean is High
    assert C.two_level(np.array([1.0, 2.0, 3.0])).tolist() == ["L", "H", "H"]
    assert C.two_level(np.array([0.3, 0.3, 0.3])).tolist() == ["H", "H", "H"]
    assert C.two_level(np.array([np.nan])).tolist() == [None]
    with pytest.raises(InputError, match="two-level"):
        C.two_level(v, "mode")


def test_five_levels():
    v = np.array([1, 2, 10, 11, 20, 21, 30, 31, 40, 41, np.nan])
    lv = C.five_levels(v)
    np.testing.assert_array_equal(lv, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0])
    assert set(C.five_levels(np.arange(100.0), "quantiles")) == {1, 2, 3, 4, 5}
    np.testing.assert_array_equal(
        C.five_levels(np.array([0.0, 1.0, 5.0, 10.0]), "equal_interval"), [1, 1, 3, 5]
    )
    assert C.LEVEL_NAMES == ("low", "relatively low", "medium", "relatively high", "high")
    with pytest.raises(InputError, match="five-level"):
        C.five_levels(v, "fixed")


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    st.sampled_from(["natural_breaks", "quantiles", "equal_interval"]),
)
def test_five_levels_property(v, method):
    lv = C.five_levels(v, method)
    assert lv.min() >= 1 and lv.max() <= 5
    # levels are monotone in the value
    order = np.argsort(v, kind="stable")
    assert (np.diff(lv[order]) >= 0).all()


# --- matching types (docs/models/ratios.md#matching-types, docs/models/ratios.md#reference-test-values) ------------------------------------------

S_1610 = np.array([[120, 30], [80, 10], [20, 50], [5, 5]], dtype=float)
D_1610 = np.array([[60, 40], [100, 5], [10, 20], [50, 30]], dtype=float)


def test_matching_types_1610():
    assert C.matching_types(S_1610[:, 0], D_1610[:, 0]).tolist() == ["HH", "HH", "LL", "LL"]
    assert C.matching_types(S_1610[:, 1], D_1610[:, 1]).tolist() == ["HH", "LL", "HL", "LH"]
    assert C.matching_types(S_1610[:, 1], D_1610[:, 1], "zscore_mean").tolist() == [
        "HH",
        "LL",
        "HL",
        "LH",
    ]


def test_matching_ties_at_zero_are_low():
    s = np.array([1.0, 2.0, 3.0])  # z = [-1.22, 0, 1.22]
    d = np.array([5.0, 5.0, 5.0])  # sd 0 -> z = 0 everywhere -> Low
    assert C.matching_types(s, d).tolist() == ["LL", "LL", "HL"]


def test_matching_median_and_nan():
    s = np.array([1.0, 2.0, 3.0, 100.0, np.nan])  # median 2.5 (mean 26.5)
    d = np.array([4.0, 3.0, 2.0, 1.0, 7.0])  # median 3 (ties at the median -> Low)
    assert C.matching_types(s, d, "median").tolist() == ["LH", "LL", "HL", "HL", None]
    assert C.matching_types(s, d, "zscore").tolist() == ["LH", "LL", "LL", "HL", None]
    with pytest.raises(InputError, match="matching method"):
        C.matching_types(s, d, "mean_raw")
    with pytest.raises(InputError, match="shape"):
        C.matching_types(s, d[:3])
