"""The resistance surface (restore_db.stages.pattern.resistance), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from restore_db.stages.pattern import resistance as R

NAN, INF = np.nan, np.inf


def test_base_resistance_from_the_class_table():
    lulc = np.array([[1, 2], [3, 9]], dtype=float)
    lulc[1, 1] = NAN
    got = R.base_resistance(lulc, {1: 1, 2: 20, 3: 100})
    np.testing.assert_array_equal(got, [[1, 20], [100, NAN]])
    assert np.isnan(R.base_resistance(np.array([[4.0]]), {1: 1})[0, 0])     # a class without a value


def test_ndvi_correction_by_class_mean():
    lulc = np.array([[1, 1, 1, 2]], dtype=float)
    base = np.array([[10, 10, 10, 50]], dtype=float)
    ndvi = np.array([[0.2, 0.4, 0.6, NAN]])
    got = R.correct_by_factor(base, lulc, ndvi, "inverse")
    # class 1 mean NDVI 0.4: 10 × 0.4/0.2, 10 × 0.4/0.4, 10 × 0.4/0.6; class 2 has no NDVI and keeps 50
    np.testing.assert_allclose(got, [[20.0, 10.0, 10 * 0.4 / 0.6, 50.0]], rtol=1e-15)
    ndvi0 = np.array([[0.0, 0.4, 0.8, 0.5]])
    got0 = R.correct_by_factor(base, lulc, ndvi0, "inverse")
    assert got0[0, 0] == 10.0                                                # NDVI <= 0 keeps the base value


def test_pressure_correction_floor_and_barriers():
    lulc = np.array([[6, 6, 6]], dtype=float)
    base = np.array([[100.0, 100.0, 100.0]])
    pop = np.array([[0.0, 300.0, 600.0]])                                     # class mean 300
    got = R.correct_by_factor(base, lulc, pop, "direct")
    np.testing.assert_allclose(got, [[0.0, 100.0, 200.0]])
    done = R.finish(got, barriers=np.array([[False, False, True]]))
    assert done.dtype == np.float32
    np.testing.assert_array_equal(done, np.array([[1.0, 100.0, INF]], dtype=np.float32))   # floor 1, barrier
    with pytest.raises(ValueError, match="inverse or direct"):
        R.correct_by_factor(base, lulc, pop, "ratio")


def test_aggregate_to_the_corridor_grid():
    r = np.array([[1, 3, 10, 10, 5],
                  [5, 7, INF, INF, 5],
                  [NAN, 2, 1, 1, 1]], dtype=float)
    got = R.aggregate(r, 2)
    assert got.shape == (2, 3)
    # block (0,0): mean of 1, 3, 5, 7 = 4; block (0,1): half impassable -> impassable at share 0.5;
    # block (0,2): the 2 x 1 edge block 5, 5; block (1,0): NaN and 2 -> half nodata -> impassable;
    # block (1,1): 1, 1; block (1,2): the single cell 1
    np.testing.assert_array_equal(got, np.array([[4, INF, 5], [INF, 1, 1]], dtype=np.float32))
    loose = R.aggregate(r, 2, impassable_share=0.75)
    assert loose[0, 1] == 10.0 and loose[1, 0] == 2.0
    with pytest.raises(ValueError, match="integer >= 1"):
        R.aggregate(r, 0)
