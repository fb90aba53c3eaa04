"""Ecological sources (restore_db.stages.pattern.sources), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from restore_db.stages.pattern import sources as S

NAN = np.nan


def test_importance_equal_and_manual_weights():
    water = np.array([[0.0, 50.0, 100.0, NAN]])
    carbon = np.array([[10.0, 30.0, 20.0, 5.0]])       # valid range 5..30 over its own cells
    got = S.importance({"water": water, "carbon": carbon})
    np.testing.assert_allclose(got[0, :3], [(0 + 0.2) / 2, (0.5 + 1.0) / 2, (1.0 + 0.6) / 2], rtol=1e-12)
    assert np.isnan(got[0, 3])
    manual = S.importance({"water": water, "carbon": carbon}, {"water": 0.75, "carbon": 0.25})
    assert manual[0, 1] == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        S.importance({"water": water}, {"water": 0.5})


def test_top_share_of_cumulative_value():
    v = np.array([[5.0, 3.0, 1.0, 1.0, NAN]])           # total 10
    np.testing.assert_array_equal(S.top_share(v, 0.5), [[True, False, False, False, False]])    # 5 reaches 50 %
    np.testing.assert_array_equal(S.top_share(v, 0.6), [[True, True, False, False, False]])     # 5 < 6: take 3 too
    np.testing.assert_array_equal(S.top_share(v, 1.0), [[True, True, True, True, False]])
    assert not S.top_share(np.zeros((2, 2)), 0.3).any()


def test_core_is_the_foreground_less_its_edge():
    fg = np.zeros((7, 7), dtype=bool)
    fg[1:6, 1:6] = True                                  # a 5 x 5 block
    got = S.core(fg, 1)
    want = np.zeros((7, 7), dtype=bool)
    want[2:5, 2:5] = True                                # its 3 x 3 inside
    np.testing.assert_array_equal(got, want)
    assert S.core(fg, 2).sum() == 1 and not S.core(fg, 3).any()
    edge = np.ones((3, 3), dtype=bool)                   # foreground to the grid border: not eroded there
    assert S.core(edge, 1).all()
    with pytest.raises(ValueError, match="edge width"):
        S.core(fg, 0)


def test_patches_by_area_with_a_minimum():
    mask = np.array([[1, 1, 0, 0, 1],
                     [1, 1, 0, 0, 0],
                     [0, 0, 1, 0, 0],
                     [0, 0, 0, 0, 1]], dtype=bool)
    labels, areas = S.patches(mask, 100.0)
    # the 2 x 2 block and the diagonal cell are one 8-connected patch of 5 cells; then two single cells
    assert areas == [500.0, 100.0, 100.0]
    assert labels[2, 2] == 1 and labels[0, 4] == 2 and labels[3, 4] == 3
    labels, areas = S.patches(mask, 100.0, min_area_m2=200.0)
    assert areas == [500.0] and set(np.unique(labels)) == {0, 1}


# --- MSPA Core: the JRC's MSPA (pyguidos, the extra restore-db[mspa]) against the erosion ---------------------------

# Not pytest.importorskip("pyguidos"): importing the package compiles its numba kernels (10-30 s) and sets
# NUMBA_THREADING_LAYER for the whole test process; sources loads only the compiled MSPA engine.
needs_mspa = pytest.mark.skipif(not S.mspa_available(), reason="pyguidos (pip install 'restore-db[mspa]') is absent")


def _rasters() -> dict[str, np.ndarray]:
    """Small hand-made foregrounds."""
    inside = np.zeros((12, 14), dtype=bool)
    inside[2:10, 3:12] = True                            # a solid block well inside the grid
    apart = np.zeros((15, 15), dtype=bool)
    apart[1:5, 1:6] = True                               # two blocks that touch nothing, not even each other
    apart[8:14, 7:14] = True
    border = np.zeros((10, 12), dtype=bool)
    border[:6, 4:] = True                                # a block against the top and right edges of the grid
    holed = np.ones((13, 13), dtype=bool)
    holed[0, :] = holed[-1, :] = holed[:, 0] = holed[:, -1] = False
    holed[5:7, 6] = False                                # a block with a hole of two cells
    full = np.ones((6, 7), dtype=bool)                   # all foreground: all core (beyond the grid is foreground)
    empty = np.zeros((6, 7), dtype=bool)
    return {"inside": inside, "apart": apart, "border": border, "holed": holed, "full": full, "empty": empty}


@needs_mspa
@pytest.mark.parametrize("edge_width", [1, 2])
@pytest.mark.parametrize("name", list(_rasters()))
def test_mspa_and_erosion_cores_agree_at_edge_widths_1_and_2(name, edge_width):
    fg = _rasters()[name]
    mspa = S.core(fg, edge_width, method="mspa")
    np.testing.assert_array_equal(mspa, S.core(fg, edge_width, method="erosion"))
    assert mspa.dtype == bool and mspa.shape == fg.shape
    assert not (mspa & ~fg).any()


@needs_mspa
@pytest.mark.parametrize("edge_width", [3, 4, 5])
@pytest.mark.parametrize("name", ["inside", "apart", "border", "full", "empty"])
def test_mspa_and_erosion_cores_agree_on_blocks_at_any_edge_width(name, edge_width):
    # a block's nearest background is straight across its side, never towards a corner, so the disk and the square
    # erase the same cells
    fg = _rasters()[name]
    np.testing.assert_array_equal(S.core(fg, edge_width, method="mspa"), S.core(fg, edge_width, method="erosion"))


@needs_mspa
def test_mspa_core_is_larger_than_the_erosion_from_edge_width_3():
    # The known difference: MSPA measures the edge with the Euclidean distance (Core when the nearest background is
    # farther than edge width + 0.98 cells), the erosion with the square. Around one background cell, at edge width 3
    # the four cells 3 across and 3 down (4.24 > 3.98) are MSPA Core but eroded; at edge width 4 the 9 x 9 square takes
    # the whole 9 x 9 grid while MSPA keeps 12 cells (distance 5.66 or 5.0 > 4.98, as (4, 4) and (4, 3)).
    fg = np.ones((9, 9), dtype=bool)
    fg[4, 4] = False
    mspa, erosion = S.core(fg, 3, method="mspa"), S.core(fg, 3, method="erosion")
    assert not (erosion & ~mspa).any()
    assert sorted(zip(*np.nonzero(mspa & ~erosion))) == [(1, 1), (1, 7), (7, 1), (7, 7)]
    assert (mspa.sum(), erosion.sum()) == (36, 32)
    assert (S.core(fg, 4, method="mspa").sum(), S.core(fg, 4, method="erosion").sum()) == (12, 0)


@needs_mspa
def test_mspa_core_is_the_euclidean_rule_and_contains_the_erosion():
    from scipy import ndimage

    rng = np.random.default_rng(20240601)
    for _ in range(60):
        h, w = rng.integers(1, 40, size=2)
        fg = ndimage.binary_closing(rng.random((h, w)) < rng.random(), np.ones((3, 3), dtype=bool))
        edge_width = int(rng.integers(1, 6))
        mspa, erosion = S.core(fg, edge_width, method="mspa"), S.core(fg, edge_width, method="erosion")
        # the distance of each foreground cell to the nearest background cell of the grid (none: all core)
        far = ndimage.distance_transform_edt(fg) > edge_width + 0.98 if (~fg).any() else fg
        np.testing.assert_array_equal(mspa, far)
        assert not (erosion & ~mspa).any()
        if edge_width <= 2:
            np.testing.assert_array_equal(mspa, erosion)


@needs_mspa
def test_mspa_prints_nothing_on_stdout(capfd):
    fg = np.zeros((20, 20), dtype=bool)
    fg[3:15, 4:17] = True
    fg[8, 9] = False
    S.core(fg, 4, method="mspa")                        # miallib prints a warning of uint8 under/overflows here
    assert capfd.readouterr().out == ""


def test_core_method_auto_and_without_pyguidos(monkeypatch):
    fg = _rasters()["holed"]
    assert S.mspa_available() == (S._mspa_engine() is not None)
    if S.mspa_available():
        np.testing.assert_array_equal(S.core(fg, 3), S.core(fg, 3, method="mspa"))
    monkeypatch.setattr(S, "_mspa_engine", lambda: None)
    assert not S.mspa_available()
    np.testing.assert_array_equal(S.core(fg, 3), S.core(fg, 3, method="erosion"))     # auto falls back
    with pytest.raises(S.MspaNotInstalled, match=r"pip install 'restore-db\[mspa\]'") as caught:
        S.core(fg, 1, method="mspa")
    assert isinstance(caught.value, ImportError)
    with pytest.raises(ValueError, match="core method"):
        S.core(fg, 1, method="guidos")


def test_ci_installs_the_mspa_extra():
    # scripts/setup.sh installs .[test,mspa], and .ci/run sets CI: there the comparisons above must run, not skip
    import os

    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("not in CI")
    assert S.mspa_available(), f"CI runs without pyguidos: {S.MSPA_INSTALL} (scripts/setup.sh installs it)"


def test_top_classes_by_hand():
    # two clear groups of values: the top class of two natural-breaks classes is the high group
    v = np.array([[0.1, 0.12, 0.11, 0.9], [0.95, 0.92, np.nan, 0.13]])
    np.testing.assert_array_equal(S.top_classes(v, 2, 1), [[False, False, False, True], [True, True, False, False]])
    with pytest.raises(ValueError, match="top must be between 1 and 4"):
        S.top_classes(v, 5, 5)


def test_entropy_weights_favour_the_layer_that_varies_most():
    # layer b is constant but for one cell: it carries more information (lower entropy) than the even layer a
    a = np.array([[1.0, 2.0, 3.0, 4.0]])
    b = np.array([[0.0, 0.0, 0.0, 1.0]])
    w = S.entropy_weights({"a": a, "b": b})
    assert w["b"] > w["a"] and sum(w.values()) == pytest.approx(1.0)
    # by hand: scaled a = 0, 1/3, 2/3, 1 and b = 0, 0, 0, 1, shifted by 1e-4 (resilience.weights.entropy_weights)
    def entropy(x):
        p = (x + 1e-4) / (x + 1e-4).sum()
        return -(p * np.log(p)).sum() / np.log(len(x))
    d = np.array([1 - entropy(np.array([0, 1 / 3, 2 / 3, 1])), 1 - entropy(np.array([0.0, 0, 0, 1]))])
    assert [w["a"], w["b"]] == pytest.approx(list(d / d.sum()), rel=1e-12)
