"""The per-pixel CESD classes of a ratios run are made from the valid values read as float32 in tile order
(``layers.valid_values``), not from the whole grid as float64: the class bounds, counts and areas are the same.
No database: the classification functions of ``stages.ratios`` on the same values both ways."""

from __future__ import annotations

import numpy as np
import pytest

from restore_db.stages import ratios


@pytest.mark.parametrize("method", ["natural_breaks", "quantiles", "equal_interval", "fixed"])
def test_pixel_classes_of_valid_float32_values_equal_the_whole_float64_grid(method):
    rng = np.random.default_rng(5)
    grid = np.tanh(rng.normal(0.1, 0.6, (300, 410))).astype(np.float32)   # a stored (float32) CESD
    grid[rng.random(grid.shape) < 0.2] = np.nan
    grid[:3] = 0.0                                                       # exact balance
    classes = {"eps": 0.01, "k": 4, "method": method, "sample": 2000, "seed": 0,
               "deficit_thresholds": [0.1, 0.3, 0.6], "surplus_thresholds": [0.1, 0.3, 0.6]}
    cfg = {"ratios": {"classes": classes}}
    px_km2 = 0.0625
    # before: the whole grid as float64, NaN included, and a full array of pixel areas
    whole = grid.astype(np.float64).ravel()
    ranks, info = ratios._classes(whole, cfg)
    expected = ratios._class_rows("pixel", "combined", ranks, info, np.full(ranks.shape, px_km2), 4)
    # now: the valid values as float32 in another order (tiles), the pixel area broadcast
    valid = grid[~np.isnan(grid)]
    valid = valid[rng.permutation(valid.size)]
    ranks, info2 = ratios._classes(valid, cfg)
    got = ratios._class_rows("pixel", "combined", ranks, info2,
                             np.broadcast_to(np.float64(px_km2), ranks.shape), 4)
    assert info2 == info
    assert got == expected
