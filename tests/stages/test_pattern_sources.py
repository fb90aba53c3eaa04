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
