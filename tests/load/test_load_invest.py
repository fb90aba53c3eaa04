"""InVEST datastacks: the BTH 1 km reference run imported unchanged, cell for cell."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio

from conftest import shared_data
from helpers import alignment, expect_input_error, read_layer
from restore_db.load.invest import import_datastack

REF = ("invest", "bth_1km_reference")
AWY_RASTERS = {  # datastack arg -> layer
    "lulc_path": "lulc",
    "precipitation_path": "precipitation",
    "eto_path": "eto",
    "depth_to_root_rest_layer_path": "soil_depth",
    "pawc_path": "pawc",
}


def assert_layer_equals_file(conn, area, layer, file):
    stored, nodata, info = read_layer(conn, area, layer)
    with rasterio.open(file) as src:
        arr = src.read(1)
        valid = arr != src.nodata
    assert stored.shape == arr.shape
    np.testing.assert_array_equal(stored != nodata, valid, err_msg=f"{layer}: nodata positions differ")
    np.testing.assert_array_equal(stored[valid], arr[valid].astype(stored.dtype), err_msg=f"{layer}: values differ")
    assert stored[valid].astype(np.float64).tolist() == arr[valid].astype(np.float64).tolist()  # no rounding
    assert info["valid_cells"] == valid.sum() and info["resampling"] == "nearest"
    return info


@pytest.mark.realdata
def test_annual_water_yield_then_carbon(conn):
    path = shared_data(*REF, "annual_water_yield_datastack.json")
    args = json.loads(path.read_text())["args"]
    with conn.transaction():
        result = import_datastack(conn, path, "bth")
    assert result.model == "annual_water_yield" and result.created_area
    assert sorted(result.layers) == sorted(AWY_RASTERS.values()) and result.kept_layers == []
    assert sorted(result.param_sets) == ["awy_biophysical", "invest_annual_water_yield"]
    assert result.zone_sets == ["watersheds"]

    # the study area is the LULC raster's grid
    with rasterio.open(path.parent / args["lulc_path"]) as src:
        assert (src.width, src.height, src.res, src.crs.to_epsg()) == (565, 732, (1000.0, 1000.0), 32650)
        ulx, uly = src.transform.c, src.transform.f
    row = conn.execute("SELECT srid, pixel_size, width, height, origin_x, origin_y FROM core.study_area "
                       "WHERE name = 'bth'").fetchone()
    assert row == (32650, 1000.0, 565, 732, ulx, uly)

    # every raster cell for cell, nodata where the file has nodata
    for arg, layer in AWY_RASTERS.items():
        info = assert_layer_equals_file(conn, "bth", layer, path.parent / args[arg])
        assert info["kind"] == ("categorical" if layer == "lulc" else "continuous")
    assert all(ok for _, _, ok in alignment(conn, "bth").values())
    units = dict(conn.execute("SELECT name, unit FROM core.layer").fetchall())
    assert units["precipitation"] == "mm/yr" and units["soil_depth"] == "mm"

    # parameters: the biophysical table and the seasonality constant
    (z,) = conn.execute(
        """SELECT c.value FROM param.scalar c JOIN param.param_set s USING (param_set_id)
           WHERE s.name = 'invest_annual_water_yield' AND c.name = 'seasonality_z'""").fetchone()
    assert z == args["seasonality_constant"] == 10
    (n,) = conn.execute("""SELECT count(*) FROM param.lulc_class JOIN param.param_set USING (param_set_id)
                           WHERE name = 'awy_biophysical'""").fetchone()
    assert n == 17

    # watersheds: one zone per feature, ws_id as the code
    ws_path = path.parent / args["watersheds_path"]
    (layer_name, _), = pyogrio.list_layers(ws_path)
    n_features = pyogrio.read_info(ws_path, layer=layer_name)["features"]
    codes = {r[0] for r in conn.execute("SELECT code FROM core.zone WHERE zone_set = 'watersheds'").fetchall()}
    assert len(codes) == n_features == 199 and "110101" in codes

    # the carbon datastack shares the LULC raster: it is kept, the pools table is added
    carbon = shared_data(*REF, "carbon_datastack.json")
    lulc_before = conn.execute("SELECT layer_id, loaded_at FROM core.layer WHERE name = 'lulc'").fetchone()
    with conn.transaction():
        result = import_datastack(conn, carbon, "bth")
    assert result.model == "carbon" and not result.created_area
    assert result.kept_layers == ["lulc"] and result.layers == []
    assert result.param_sets == ["carbon_pools"]
    assert conn.execute("SELECT layer_id, loaded_at FROM core.layer WHERE name = 'lulc'").fetchone() == lulc_before
    (n,) = conn.execute("""SELECT count(*) FROM param.lulc_value JOIN param.param_set USING (param_set_id)
                           WHERE name = 'carbon_pools'""").fetchone()
    assert n == 17 * 4
    assert conn.execute("SELECT count(*) FROM core.study_area").fetchone() == (1,)


@pytest.mark.realdata
def test_old_style_datastack_with_absolute_paths(conn, tmp_path):
    path = shared_data(*REF, "annual_water_yield_datastack.json")
    doc = json.loads(path.read_text())
    old = {
        "model_name": "natcap.invest.annual_water_yield",
        "invest_version": "3.9.0",
        "args": {k: (str((path.parent / v).resolve()) if isinstance(v, str) and "/" in v else v)
                 for k, v in doc["args"].items()},
    }
    assert "model_id" not in old and old["args"]["lulc_path"].startswith("/")
    copy = tmp_path / "old_awy.json"
    copy.write_text(json.dumps(old))
    with conn.transaction():
        result = import_datastack(conn, copy, "old")
    assert result.model == "annual_water_yield" and result.created_area
    assert sorted(result.layers) == sorted(AWY_RASTERS.values())
    assert_layer_equals_file(conn, "old", "eto", path.parent / doc["args"]["eto_path"])


@pytest.mark.realdata
def test_unsupported_model(conn):
    path = shared_data(*REF, "habitat_quality_datastack.json")
    expect_input_error(conn, import_datastack, conn, path, "bth",
                       match=[str(path), "'habitat_quality' is not supported", "annual_water_yield"])


def test_malformed_json(conn, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"model_id": "carbon", "args": {')
    expect_input_error(conn, import_datastack, conn, path, "bth", match=[str(path), "not a JSON parameter set"])
    noargs = tmp_path / "noargs.json"
    noargs.write_text('{"model_id": "carbon"}')
    expect_input_error(conn, import_datastack, conn, noargs, "bth", match=[str(noargs), "no 'args'"])
    nomodel = tmp_path / "nomodel.json"
    nomodel.write_text('{"args": {}}')
    expect_input_error(conn, import_datastack, conn, nomodel, "bth", match=[str(nomodel), "(none)", "not supported"])
    missing = tmp_path / "missing.json"
    expect_input_error(conn, import_datastack, conn, missing, "bth", match=[str(missing), "does not exist"])


@pytest.mark.realdata
def test_missing_input_file_changes_nothing(conn, tmp_path):
    path = shared_data(*REF, "annual_water_yield_datastack.json")
    doc = json.loads(path.read_text())
    doc["args"] = {k: (str((path.parent / v).resolve()) if isinstance(v, str) and "/" in v else v)
                   for k, v in doc["args"].items()}
    doc["args"]["pawc_path"] = str(tmp_path / "no_pawc.tif")
    copy = tmp_path / "awy.json"
    copy.write_text(json.dumps(doc))
    # the area, lulc, precipitation ... are written before pawc is found missing: all rolled back
    expect_input_error(conn, import_datastack, conn, copy, "bth", match=["pawc_path", "no_pawc.tif", "does not exist"])
    assert conn.execute("SELECT count(*) FROM core.study_area").fetchone() == (0,)
    (tables,) = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'src' AND tablename LIKE 'bth%'").fetchone()
    assert tables == 0


@pytest.mark.realdata
def test_cli_invest(cli_env, conn):
    from typer.testing import CliRunner

    from restore_db.cli import app

    path = shared_data(*REF, "carbon_datastack.json")
    result = CliRunner().invoke(app, ["load", "invest", str(path), "--study-area", "bth"])
    assert result.exit_code == 0, result.output
    assert "study area bth (created)" in result.stderr
    assert conn.execute("SELECT name FROM core.layer").fetchall() == [("lulc",)]
    result = CliRunner().invoke(app, ["load", "invest", str(path), "--study-area", "bth"])
    assert result.exit_code == 0 and "kept lulc" in result.stderr


@pytest.mark.realdata
def test_sdr_datastack(conn):
    path = shared_data(*REF, "sdr_datastack.json")
    args = json.loads(path.read_text())["args"]
    with conn.transaction():
        result = import_datastack(conn, path, "bth")
    assert sorted(result.layers) == ["dem", "erodibility", "erosivity", "lulc"]
    assert result.param_sets == ["sdr_biophysical", "invest_sdr"] and result.zone_sets == ["watersheds"]
    scalars = dict(conn.execute(
        """SELECT c.name, c.value FROM param.scalar c JOIN param.param_set s USING (param_set_id)
           WHERE s.name = 'invest_sdr'""").fetchall())
    assert scalars == {"threshold_flow_accumulation": args["threshold_flow_accumulation"], "sdr_k": args["k_param"],
                       "sdr_ic0": args["ic_0_param"], "sdr_max": args["sdr_max"], "l_max": args["l_max"]}
    assert_layer_equals_file(conn, "bth", "erosivity", path.parent / args["erosivity_path"])
    assert_layer_equals_file(conn, "bth", "dem", path.parent / args["dem_path"])


# --- the reload rule: nothing loaded is replaced without --replace ---------------------------------------------------


def synthetic_datastack(tmp_path, precipitation=500.0, seasonality=5, watershed_width=2000.0, lulc_cur=None):
    """An annual water yield datastack on a 40 x 30 grid of 100 m (two land-use classes, one watershed)."""
    import geopandas as gpd
    from affine import Affine
    from shapely.geometry import box

    from helpers import write_tif

    folder = tmp_path / "inputs"
    folder.mkdir(exist_ok=True)
    transform = Affine(100, 0, 400000, 0, -100, 4500000)
    lulc = np.resize(np.array([1, 2], dtype=np.uint8), (30, 40))
    write_tif(folder / "lulc.tif", lulc, "EPSG:32650", transform, nodata=255)
    write_tif(folder / f"precip_{precipitation:g}.tif", np.full((30, 40), precipitation, np.float32), "EPSG:32650",
              transform, nodata=-9999.0)
    (folder / "bio.csv").write_text("lucode,description,lulc_veg,root_depth,kc\n1,forest,1,5000,1.0\n"
                                    "2,crop,1,1500,0.7\n", encoding="utf-8")
    gpd.GeoDataFrame({"ws_id": [1]}, geometry=[box(400000, 4497000, 400000 + watershed_width, 4500000)],
                     crs=32650).to_file(folder / f"ws_{watershed_width:g}.gpkg")
    args = {"lulc_path": "inputs/lulc.tif", "precipitation_path": f"inputs/precip_{precipitation:g}.tif",
            "biophysical_table_path": "inputs/bio.csv", "seasonality_constant": seasonality,
            "watersheds_path": f"inputs/ws_{watershed_width:g}.gpkg"}
    model = "annual_water_yield"
    if lulc_cur is not None:  # a carbon datastack naming two land-use rasters
        write_tif(folder / "lulc_cur.tif", np.resize(np.array(lulc_cur, dtype=np.uint8), (30, 40)), "EPSG:32650",
                  transform, nodata=255)
        (folder / "pools.csv").write_text("lucode,c_above,c_below,c_soil,c_dead\n1,5,1,50,0\n2,2,5,70,1\n"
                                          "3,1,1,1,0\n", encoding="utf-8")
        args = {"lulc_bas_path": "inputs/lulc.tif", "lulc_cur_path": "inputs/lulc_cur.tif",
                "carbon_pools_path": "inputs/pools.csv"}
        model = "carbon"
    path = tmp_path / f"{model}_{precipitation:g}_{seasonality}_{watershed_width:g}.json"
    path.write_text(json.dumps({"model_id": model, "args": args}))
    return path


def test_reimport_keeps_identical_and_refuses_other_content(conn, tmp_path):
    from conftest import snapshot

    from helpers import db_fingerprint

    path = synthetic_datastack(tmp_path)
    with conn.transaction():
        first = import_datastack(conn, path, "syn")
    assert first.created_area and sorted(first.layers) == ["lulc", "precipitation"]
    assert first.param_sets == ["awy_biophysical", "invest_annual_water_yield"] and first.zone_sets == ["watersheds"]
    before = db_fingerprint(conn)
    for replace in (False, True):  # the same datastack again: everything kept, nothing written
        with conn.transaction():
            again = import_datastack(conn, path, "syn", replace=replace)
        assert (again.layers, again.param_sets, again.zone_sets) == ([], [], [])
        assert sorted(again.kept_layers) == ["lulc", "precipitation"] and again.kept_zone_sets == ["watersheds"]
        assert again.kept_param_sets == ["awy_biophysical", "invest_annual_water_yield"]
        assert db_fingerprint(conn) == before
    # one input changed: refused, naming the layer or set and --replace, nothing written
    for changed, match in (
        ({"precipitation": 800.0}, ["a layer 'precipitation'", "precip_500.tif"]),
        ({"seasonality": 9}, ["a parameter set 'invest_annual_water_yield'"]),
        ({"watershed_width": 3000.0}, ["a zone set 'watersheds'", "1 zones, loaded from ws_2000.gpkg"]),
    ):
        other = synthetic_datastack(tmp_path, **changed)
        snap = snapshot(conn)
        expect_input_error(conn, import_datastack, conn, other, "syn",
                           match=["'syn'", *match, "other content", "--replace"])
        assert snapshot(conn) == snap and db_fingerprint(conn) == before
    other = synthetic_datastack(tmp_path, precipitation=800.0, seasonality=9, watershed_width=3000.0)
    with conn.transaction():
        result = import_datastack(conn, other, "syn", replace=True)
    assert result.layers == ["precipitation"] and result.kept_layers == ["lulc"]
    assert result.param_sets == ["invest_annual_water_yield"] and result.kept_param_sets == ["awy_biophysical"]
    assert result.zone_sets == ["watersheds"]
    assert read_layer(conn, "syn", "precipitation")[2]["max_value"] == 800.0
    (area_m2,) = conn.execute("SELECT area_m2 FROM core.zone WHERE zone_set = 'watersheds'").fetchone()
    assert area_m2 == pytest.approx(3000.0 * 3000.0)


def test_two_land_use_arguments_naming_different_files(conn, tmp_path):
    path = synthetic_datastack(tmp_path, lulc_cur=[1, 3])
    expect_input_error(conn, import_datastack, conn, path, "syn",
                       match=[str(path), "lulc_bas_path and lulc_cur_path", "'lulc'", "lulc.tif, lulc_cur.tif"])
    same = synthetic_datastack(tmp_path, lulc_cur=[1, 2])  # the same codes: the same file content
    with conn.transaction():
        result = import_datastack(conn, same, "syn")
    assert result.layers == ["lulc"]


@pytest.mark.realdata
def test_cli_datastack_onto_the_demo_replaces_nothing(cli_env, db_url, conn, tmp_path):
    """The InVEST annual water yield datastack onto the demo region, whose lulc, precipitation, eto, soil_depth
    and pawc come from other files: refused in one line, the demo left byte for byte as it was."""
    from restore_db.load import demo

    from helpers import check_bad_input

    path = shared_data(*REF, "annual_water_yield_datastack.json")
    demo.run(name="demo", pixel_size=4000, workdir=tmp_path, url=db_url, log=lambda m: None)
    check_bad_input(conn, cli_env, "load", "invest", path, "-a", "demo",
                    match=["'demo'", "already has a layer 'lulc'", "other content", "--replace"])
