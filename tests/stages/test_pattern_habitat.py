"""Habitat quality (restore_db.stages.pattern.habitat): by hand, and parity with natcap.invest 3.20.2 on the
Beijing–Tianjin–Hebei reference run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data
from restore_db.errors import InputError
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


# --- the inputs stored in the database (read_inputs, compute) ----------------------------------------------------


def worked_datastack(tmp_path, threats="road,2000,1.0,linear,road.tif\n",
                     sensitivity="lucode,name,habitat,road\n1,forest,1.0,0.5\n2,built,0.0,0.0\n"):
    """The small grid by hand above as an InVEST habitat_quality datastack: 1 x 4 cells of 1000 m, land use 1 1 1 2,
    one road cell at the west end."""
    from affine import Affine

    from helpers import write_tif

    transform = Affine(1000, 0, 400000, 0, -1000, 4500000)
    write_tif(tmp_path / "lulc.tif", np.array([[1, 1, 1, 2]], dtype=np.uint8), "EPSG:32650", transform, nodata=255)
    write_tif(tmp_path / "road.tif", np.array([[1, 0, 0, 0]], dtype=np.float32), "EPSG:32650", transform, nodata=-1.0)
    (tmp_path / "threats.csv").write_text("threat,max_dist,weight,decay,cur_path\n" + threats, encoding="utf-8")
    (tmp_path / "sens.csv").write_text(sensitivity, encoding="utf-8")
    path = tmp_path / "hq.json"
    path.write_text(json.dumps({"model_id": "habitat_quality", "args": {
        "lulc_cur_path": "lulc.tif", "threats_table_path": "threats.csv", "sensitivity_table_path": "sens.csv",
        "half_saturation_constant": 0.25}}))
    return path


def test_worked_value_through_the_database(conn, tmp_path):
    """read_inputs gives back what the datastack holds; compute gives the values worked by hand above."""
    from restore_db.grid import studyarea
    from restore_db.load.invest import import_datastack
    from restore_db.store.layers import read_array

    with conn.transaction():
        import_datastack(conn, worked_datastack(tmp_path), "tiny")
    area = studyarea.get(conn, "tiny")
    inputs = HQ.read_inputs(conn, area)
    assert inputs.param_set == "hq_sensitivity" and inputs.scalar_set == "invest_habitat_quality"
    assert inputs.threats == (HQ.Threat("road", 2000.0, 1.0, "linear"),)
    assert inputs.layers == {"road": "threat_road"} and inputs.layer_names == ["threat_road"]
    assert inputs.habitat == {1: 1.0, 2: 0.0} and inputs.sensitivity == {"road": {1: 0.5, 2: 0.0}}
    assert inputs.half_saturation == 0.25 and inputs.half_saturation_source.startswith("parameter set invest_habitat")
    lulc = read_array(conn, area, "lulc")
    deg, q = HQ.compute(conn, area, lulc)
    np.testing.assert_allclose(deg, [[0.5, 0.25, 0.0, 0.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(q, [[1 - 0.5 ** 2.5 / (0.5 ** 2.5 + 0.25 ** 2.5), 0.5, 1.0, 0.0]], rtol=1e-15)
    deg2, q2 = HQ.compute(conn, area, lulc, inputs)                       # the inputs read once, passed in
    assert np.array_equal(deg, deg2) and np.array_equal(q, q2)
    lulc[0, 3] = np.nan                                                   # nodata land use: nodata out
    assert np.isnan(HQ.compute(conn, area, lulc, inputs)[1][0, 3])
    lulc[0, 3] = 7
    with pytest.raises(InputError, match=r"land-use class\(es\) 7 of study area 'tiny' are missing from the "
                                         r"sensitivity table \(parameter set 'hq_sensitivity'\)"):
        HQ.compute(conn, area, lulc, inputs)
    with pytest.raises(ValueError, match="1 x 3 cells"):
        HQ.compute(conn, area, lulc[:, :3], inputs)


def test_read_inputs_none_and_incomplete(conn, tmp_path):
    """None without any habitat-quality input; an InputError naming what is missing when only part is loaded."""
    import psycopg

    from restore_db.grid import studyarea
    from restore_db.load.invest import import_datastack
    from restore_db.load.raster import load_raster

    with conn.transaction():
        import_datastack(conn, worked_datastack(tmp_path), "tiny")
        area = studyarea.get(conn, "tiny")
        studyarea.create(conn, "empty", 32650, 1000, (400000, 4499000, 404000, 4500000))
        load_raster(conn, studyarea.get(conn, "empty"), "lulc", tmp_path / "lulc.tif", "categorical", "class")
    empty = studyarea.get(conn, "empty")
    assert HQ.read_inputs(conn, empty) is None
    with pytest.raises(InputError, match="study area 'empty' has no habitat-quality inputs"):
        HQ.compute(conn, empty, np.ones((1, 4)))
    with pytest.raises(InputError, match="no habitat-quality threats in parameter set 'igbp'"):
        HQ.read_inputs(conn, empty, param_set="igbp")

    def incomplete(sql, *match):
        with conn.transaction():
            conn.execute(sql)
            for pattern in match:
                with pytest.raises(InputError, match=pattern):
                    HQ.read_inputs(conn, area)
            raise psycopg.Rollback()

    incomplete("DELETE FROM param.param_set WHERE name = 'invest_habitat_quality'",
               r"study area 'tiny': the habitat-quality inputs are incomplete: no half-saturation constant "
               r"\(hq_half_saturation\) for parameter set 'hq_sensitivity'; load an InVEST habitat_quality datastack")
    incomplete("DELETE FROM param.param_set WHERE name = 'hq_sensitivity'",
               r"incomplete: hq_half_saturation is loaded \(parameter set 'invest_habitat_quality'\) but no "
               r"sensitivity table with its threats")
    incomplete("DELETE FROM core.layer WHERE name = 'threat_road'",
               r"incomplete: layer 'threat_road' of threat 'road' \(parameter set 'hq_sensitivity'\) not loaded")
    incomplete("DELETE FROM param.threat_sensitivity WHERE lucode = 2",
               r"incomplete: parameter set 'hq_sensitivity' has no sensitivity of class 2 to road")
    with pytest.raises(InputError, match="no half-saturation constant \\(hq_half_saturation in parameter set "
                                         "'mine'\\)"):
        HQ.read_inputs(conn, area, scalar_set="mine")
    assert HQ.read_inputs(conn, area).threats[0].name == "road"        # all rolled back: complete again


@pytest.mark.realdata
def test_parity_with_invest_on_bth_through_the_database(cli_env, conn):
    """The BTH datastack loaded by `restore-db load invest`, habitat quality computed from what the database holds:
    the same worst pixel relative difference bound (≤ 1e-4) against quality_c.tif and deg_sum_c.tif, the reference
    cells placed on the study grid by their georeferencing."""
    import rasterio

    from helpers import run_cli
    from restore_db.grid import studyarea
    from restore_db.store.layers import read_array

    root = shared_data("invest", "bth_1km_reference")
    proc = run_cli(cli_env, "load", "invest", root / "habitat_quality_datastack.json", "-a", "bth")
    assert proc.returncode == 0, proc.stderr
    area = studyarea.get(conn, "bth")
    inputs = HQ.read_inputs(conn, area)
    assert [t.name for t in inputs.threats] == ["threat_urban", "threat_cropland"] and inputs.half_saturation == 0.05
    deg, q = HQ.compute(conn, area, read_array(conn, area, "lulc"), inputs)
    grid = area.grid
    for name, ours in (("deg_sum_c.tif", deg), ("quality_c.tif", q)):
        with rasterio.open(root / "outputs" / "habitat_quality" / name) as src:
            ref = src.read(1).astype(np.float64)
            ref[ref == src.nodata] = np.nan
            t = src.transform
        assert (t.a, t.e) == (grid.pixel_size, -grid.pixel_size)
        col0, row0 = (t.c - grid.origin_x) / grid.pixel_size, (grid.origin_y - t.f) / grid.pixel_size
        assert col0 == int(col0) >= 0 and row0 == int(row0) >= 0, (col0, row0)
        ours = ours[int(row0):int(row0) + ref.shape[0], int(col0):int(col0) + ref.shape[1]]
        assert ours.shape == ref.shape
        assert np.array_equal(np.isfinite(ours), np.isfinite(ref)), f"{name}: nodata cells differ"
        ok = np.isfinite(ref) & (np.abs(ref) > 1e-6)
        worst = float(np.max(np.abs(ours[ok] - ref[ok]) / np.abs(ref[ok])))
        print(f"habitat quality parity through the database {name}: worst pixel relative difference {worst:.2e} "
              f"over {ok.sum()} pixels")
        assert worst <= 1e-4, f"{name}: worst relative difference {worst:.2e}"
        tiny = np.isfinite(ref) & ~ok
        assert np.max(np.abs(ours[tiny] - ref[tiny]), initial=0.0) <= 1e-6
