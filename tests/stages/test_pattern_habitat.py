"""Habitat quality (restore_db.stages.pattern.habitat): by hand, and parity with natcap.invest 3.20.2 on the
Beijing–Tianjin–Hebei reference run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data
from restore_db.kernels import formulas as F
from restore_db.stages.pattern import habitat as HQ


def test_decay_by_hand():
    d = np.array([0.0, 500.0, 1000.0, 1000.1, np.nan])
    np.testing.assert_allclose(F.hq_threat_decay(d, 1000.0, "linear"), [1.0, 0.5, 0.0, 0.0, np.nan])
    np.testing.assert_allclose(F.hq_threat_decay(d, 1000.0, "exponential"),
                               [1.0, math.exp(-1.495), math.exp(-2.99), 0.0, np.nan], rtol=1e-15)
    with pytest.raises(ValueError, match="linear or exponential"):
        F.hq_threat_decay(d, 1000.0, "gaussian")


def test_quality_by_hand():
    # H = 1, D = k: Q = 1 − k^z / (2 k^z) = 0.5; D = 0: Q = H
    assert F.hq_quality(1.0, 0.05, 0.05) == pytest.approx(0.5)
    assert F.hq_quality(0.7, 0.0, 0.05) == pytest.approx(0.7)


def test_a_small_grid_by_hand():
    lulc = np.array([[1, 1, 1, 2]], dtype=float)
    road = np.array([[1, 0, 0, 0]], dtype=float)
    threat = HQ.Threat("road", 2000.0, 1.0, "linear")
    deg, q = HQ.habitat_quality(lulc, {1: 1.0, 2: 0.0}, [threat], {"road": road}, {"road": {1: 0.5, 2: 0.0}},
                                0.25, 1000.0)
    # distances 0, 1000, 2000, 3000 m: impacts 1, 0.5, 0, 0; sensitivity 0.5 for class 1
    np.testing.assert_allclose(deg, [[0.5, 0.25, 0.0, 0.0]])
    np.testing.assert_allclose(q[0, :3], [1 - 0.5 ** 2.5 / (0.5 ** 2.5 + 0.25 ** 2.5), 0.5, 1.0])
    assert q[0, 3] == 0.0


@pytest.mark.realdata
def test_parity_with_invest_on_bth():
    """Worst relative difference of the pixels against InVEST 3.20.2's quality_c.tif and deg_sum_c.tif ≤ 1e-4.

    InVEST writes degradation as float32 and computes quality from that float32 raster. So the reference values carry
    float32 rounding (relative 6e-8). On the steep part of the half-saturation curve, quality amplifies it by up to
    z = 2.5 times D/Q, which gives the 1e-5 level seen here.
    """
    import rasterio

    root = shared_data("invest", "bth_1km_reference")

    def read(path):
        with rasterio.open(path) as src:
            a = src.read(1).astype(np.float64)
            nodata, cell = src.nodata, abs(src.transform.a)
        if nodata is not None:
            a[a == nodata] = np.nan
        return a, cell

    lulc, cell = read(root / "inputs" / "lulc_igbp.tif")
    threats_df = pd.read_csv(root / "inputs" / "hq_threats_table.csv")
    sens_df = pd.read_csv(root / "inputs" / "hq_sensitivity_table.csv").set_index("lucode")
    threats = [HQ.Threat(r.threat, float(r.max_dist), float(r.weight), r.decay) for r in threats_df.itertuples()]
    rasters = {r.threat: read(root / "inputs" / r.cur_path)[0] for r in threats_df.itertuples()}
    sensitivity = {t.name: sens_df[t.name].to_dict() for t in threats}
    deg, q = HQ.habitat_quality(lulc, sens_df["habitat"].to_dict(), threats, rasters, sensitivity, 0.05, cell)
    for name, ours in (("deg_sum_c.tif", deg), ("quality_c.tif", q)):
        ref, _ = read(root / "outputs" / "habitat_quality" / name)
        assert np.array_equal(np.isfinite(ours), np.isfinite(ref)), f"{name}: nodata cells differ"
        ok = np.isfinite(ref) & (np.abs(ref) > 1e-6)
        worst = float(np.max(np.abs(ours[ok] - ref[ok]) / np.abs(ref[ok])))
        print(f"habitat quality parity {name}: worst pixel relative difference {worst:.2e} over {ok.sum()} pixels")
        assert worst <= 1e-4, f"{name}: worst relative difference {worst:.2e}"
        tiny = np.isfinite(ref) & ~ok
        assert np.max(np.abs(ours[tiny] - ref[tiny]), initial=0.0) <= 1e-6
