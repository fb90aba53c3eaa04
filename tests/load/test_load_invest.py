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


def test_unsupported_model(conn, tmp_path):
    path = tmp_path / "ndr_datastack.json"
    path.write_text(json.dumps({"model_id": "ndr", "args": {"lulc_path": "lulc.tif"}}))
    expect_input_error(conn, import_datastack, conn, path, "bth",
                       match=[str(path), "'ndr' is not supported", "annual_water_yield", "habitat_quality"])


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


# --- habitat quality: the threats table, the threat rasters and the sensitivity table -------------------------------

HQ_THREATS = [  # (threat as written, max_dist m, weight, decay, cur_path relative to the threats table)
    ("Roads", "500", "0.7", "Linear", "rasters/roads.tif"),
    ("urban", "1200", "1.0", "exponential", "rasters/urban_50m.tif"),
]
HQ_SENSITIVITY = ("LUCODE,Name,Habitat,ROADS,urban,old_threat\n"
                  "1,forest,1.0,0.8,0.6,0.3\n2,crop,0.4,0.5,0.2,0.1\n3,urban,0.0,0.0,0.0,0.0\n")


def hq_arrays():
    """The synthetic habitat-quality inputs on the 30 x 40 grid of 100 m: land use (255 nodata), roads (a column of
    threat cells), and urban as written on a 50 m grid (60 x 80) and as expected on the study grid (nearest)."""
    lulc = np.zeros((30, 40), dtype=np.uint8)
    lulc[:, :14], lulc[:, 14:28], lulc[:, 28:] = 1, 2, 3
    lulc[0, 0] = 255
    roads = np.zeros((30, 40), dtype=np.float32)
    roads[:, 10] = 1.0
    urban_50m = np.zeros((60, 80), dtype=np.float32)
    urban_50m[20:30, 56:76] = 1.0              # 2 x 2 blocks of 50 m cells: the same whichever is nearest
    urban = np.zeros((30, 40), dtype=np.float32)
    urban[10:15, 28:38] = 1.0
    return lulc, roads, urban_50m, urban


def hq_datastack(tmp_path, tag="hq", threats=HQ_THREATS, sensitivity=HQ_SENSITIVITY, roads=None, **args):
    """A habitat_quality datastack in ``tmp_path/tag``: inputs/lulc.tif, inputs/threats.csv (upper-case columns,
    mixed-case values, rasters in inputs/rasters/ relative to the table), inputs/sens.csv; ``args`` override the
    datastack's arguments (None removes one)."""
    from affine import Affine

    from helpers import write_tif

    folder = tmp_path / tag / "inputs"
    (folder / "rasters").mkdir(parents=True, exist_ok=True)
    lulc, default_roads, urban_50m, _ = hq_arrays()
    write_tif(folder / "lulc.tif", lulc, "EPSG:32650", Affine(100, 0, 400000, 0, -100, 4500000), nodata=255)
    write_tif(folder / "rasters" / "roads.tif", default_roads if roads is None else roads, "EPSG:32650",
              Affine(100, 0, 400000, 0, -100, 4500000), nodata=-1.0)
    write_tif(folder / "rasters" / "urban_50m.tif", urban_50m, "EPSG:32650", Affine(50, 0, 400000, 0, -50, 4500000),
              nodata=-1.0)
    (folder / "threats.csv").write_text("THREAT,MAX_DIST,WEIGHT,DECAY,CUR_PATH\n"
                                        + "".join(",".join(row) + "\n" for row in threats), encoding="utf-8")
    (folder / "sens.csv").write_text(sensitivity, encoding="utf-8")
    values = {"lulc_cur_path": "inputs/lulc.tif", "threats_table_path": "inputs/threats.csv",
              "sensitivity_table_path": "inputs/sens.csv", "half_saturation_constant": "0.3", "n_workers": -1,
              "results_suffix": ""}
    values.update(args)
    path = tmp_path / tag / "habitat_quality_datastack.json"
    path.write_text(json.dumps({"model_id": "habitat_quality", "invest_version": "3.20.2",
                                "args": {k: v for k, v in values.items() if v is not None}}))
    return path


def hq_threat_rows(conn, area="syn"):
    return conn.execute(
        """SELECT t.position, t.threat, t.max_dist_m, t.weight, t.decay, t.layer FROM param.threat t
           JOIN param.param_set p USING (param_set_id) JOIN core.study_area a USING (study_area_id)
           WHERE a.name = %s AND p.name = 'hq_sensitivity' ORDER BY t.position""", (area,)).fetchall()


def hq_wide_table(conn, area="syn"):
    return {r[0]: r[1] for r in conn.execute(
        """SELECT t.lucode, t.coefficients FROM param.lulc_table t JOIN core.study_area a USING (study_area_id)
           WHERE a.name = %s AND t.param_set = 'hq_sensitivity'""", (area,)).fetchall()}


def test_habitat_quality_datastack(conn, tmp_path):
    """Threat names and columns read case-insensitively, in lower case (as InVEST 3.20); cur_path relative to the
    threats table's folder; a threat raster on a 50 m grid warped onto the 100 m grid by nearest neighbour; the
    sensitivity column of a threat not in the threats table ignored."""
    path = hq_datastack(tmp_path)
    with conn.transaction():
        result = import_datastack(conn, path, "syn")
    assert result.model == "habitat_quality" and result.created_area
    assert result.layers == ["lulc", "threat_roads", "threat_urban"]
    assert result.param_sets == ["hq_sensitivity", "invest_habitat_quality"] and result.zone_sets == []
    assert hq_threat_rows(conn) == [(1, "roads", 500.0, 0.7, "linear", "threat_roads"),
                                    (2, "urban", 1200.0, 1.0, "exponential", "threat_urban")]
    assert hq_wide_table(conn) == {1: {"habitat": 1.0, "roads": 0.8, "urban": 0.6},
                                   2: {"habitat": 0.4, "roads": 0.5, "urban": 0.2},
                                   3: {"habitat": 0.0, "roads": 0.0, "urban": 0.0}}
    descriptions = dict(conn.execute("SELECT lucode, description FROM param.lulc_class JOIN param.param_set "
                                     "USING (param_set_id) WHERE name = 'hq_sensitivity'").fetchall())
    assert descriptions == {1: "forest", 2: "crop", 3: "urban"}
    (k,) = conn.execute("""SELECT c.value FROM param.scalar c JOIN param.param_set s USING (param_set_id)
                           WHERE s.name = 'invest_habitat_quality' AND c.name = 'hq_half_saturation'""").fetchone()
    assert k == 0.3
    lulc, roads, _, urban = hq_arrays()
    stored, nodata, info = read_layer(conn, "syn", "threat_roads")
    assert info["kind"] == "continuous" and info["unit"] == "fraction"
    np.testing.assert_array_equal(stored, roads)
    stored, nodata, info = read_layer(conn, "syn", "threat_urban")
    assert info["resampling"] == "nearest"
    np.testing.assert_array_equal(stored, urban)
    stored, nodata, _ = read_layer(conn, "syn", "lulc")
    np.testing.assert_array_equal(stored == nodata, lulc == 255)
    np.testing.assert_array_equal(stored[lulc != 255], lulc[lulc != 255])


def test_habitat_quality_reload_rule(conn, tmp_path):
    """The same datastack again changes nothing; another weight is refused without --replace and replaces the
    threats with it."""
    from helpers import db_fingerprint

    with conn.transaction():
        import_datastack(conn, hq_datastack(tmp_path), "syn")
    before = db_fingerprint(conn)
    with conn.transaction():
        again = import_datastack(conn, hq_datastack(tmp_path, "again"), "syn")
    assert (again.layers, again.param_sets) == ([], [])
    assert again.kept_layers == ["lulc", "threat_roads", "threat_urban"]
    assert again.kept_param_sets == ["hq_sensitivity", "invest_habitat_quality"]
    assert db_fingerprint(conn) == before
    heavier = [HQ_THREATS[0][:2] + ("0.9",) + HQ_THREATS[0][3:], HQ_THREATS[1]]
    other = hq_datastack(tmp_path, "heavier", threats=heavier)
    expect_input_error(conn, import_datastack, conn, other, "syn",
                       match=["'syn'", "a parameter set 'hq_sensitivity'", "with threats roads, urban", "other content",
                              "--replace"])
    with conn.transaction():
        result = import_datastack(conn, other, "syn", replace=True)
    assert result.param_sets == ["hq_sensitivity"] and result.kept_layers == ["lulc", "threat_roads", "threat_urban"]
    assert hq_threat_rows(conn)[0] == (1, "roads", 500.0, 0.9, "linear", "threat_roads")


HQ_BAD = [  # (id, datastack changes, text the line must hold[, more arguments])
    ("threat-without-sensitivity", {"sensitivity": "lucode,habitat,roads\n1,1,0.8\n2,0.4,0.5\n3,0,0\n"},
     ["sens.csv", "no sensitivity column for threat(s) urban of threats.csv"]),
    ("sensitivity-above-1", {"sensitivity": HQ_SENSITIVITY.replace("2,crop,0.4,0.5", "2,crop,0.4,1.5")},
     ["sens.csv", "sensitivity to threat 'roads' of lucode 2 = 1.5 is outside 0..1"]),
    ("sensitivity-negative", {"sensitivity": HQ_SENSITIVITY.replace("1,forest,1.0,0.8,0.6", "1,forest,1.0,0.8,-0.1")},
     ["sens.csv", "sensitivity to threat 'urban' of lucode 1 = -0.1 is outside 0..1"]),
    ("sensitivity-empty", {"sensitivity": HQ_SENSITIVITY.replace("2,crop,0.4,0.5", "2,crop,0.4,")},
     ["sens.csv", "sensitivity to threat 'roads' of lucode 2 is empty"]),
    ("habitat-above-1", {"sensitivity": HQ_SENSITIVITY.replace("1,forest,1.0", "1,forest,2")},
     ["sens.csv", "habitat of lucode 1 = 2 is outside 0..1"]),
    ("class-missing", {"sensitivity": "lucode,habitat,roads,urban\n1,1,0.8,0.6\n2,0.4,0.5,0.2\n"},
     ["sens.csv", "land-use class(es) 3 present in layer 'lulc'", "missing from the table"]),
    ("decay", {"threats": [("Roads", "500", "0.7", "gaussian", "rasters/roads.tif"), HQ_THREATS[1]]},
     ["threats.csv", "decay of threat 'roads' is 'gaussian'; it must be linear or exponential"]),
    ("max-dist-zero", {"threats": [("Roads", "0", "0.7", "linear", "rasters/roads.tif"), HQ_THREATS[1]]},
     ["threats.csv", "max_dist of threat 'roads' is 0; it must be a distance > 0 in metres"]),
    ("max-dist-negative", {"threats": [HQ_THREATS[0], ("urban", "-100", "1.0", "linear", "rasters/urban_50m.tif")]},
     ["threats.csv", "max_dist of threat 'urban' is -100"]),
    ("weight-zero", {"threats": [("Roads", "500", "0", "linear", "rasters/roads.tif"), HQ_THREATS[1]]},
     ["threats.csv", "weight of threat 'roads' is 0; it must be > 0 and at most 1"]),
    ("weight-negative", {"threats": [("Roads", "500", "-0.5", "linear", "rasters/roads.tif"), HQ_THREATS[1]]},
     ["threats.csv", "weight of threat 'roads' is -0.5"]),
    ("threat-twice", {"threats": [HQ_THREATS[0], ("ROADS", "900", "0.5", "linear", "rasters/urban_50m.tif")]},
     ["threats.csv", "threat 'roads' is listed twice"]),
    ("raster-missing", {"threats": [HQ_THREATS[0], ("urban", "1200", "1.0", "exponential", "rasters/no_such.tif")]},
     ["raster of threat 'urban' (cur_path of", "threats.csv", "no_such.tif does not exist"]),
    ("raster-relative-to-json", {"threats": [HQ_THREATS[0], ("urban", "1200", "1.0", "exponential",
                                                             "inputs/rasters/urban_50m.tif")]},
     ["raster of threat 'urban'", "inputs/inputs/rasters/urban_50m.tif does not exist"]),
    ("raster-above-1", {"roads": np.full((30, 40), 2.0, np.float32)},     # refused even with --replace
     ["roads.tif", "layer 'threat_roads' has values 2..2 fraction, outside 0..1 fraction"], ["--replace"]),
    ("fut-lulc", {"lulc_fut_path": "inputs/lulc.tif"},
     ["habitat_quality_datastack.json", "lulc_fut_path is not supported yet"]),
    ("bas-lulc", {"lulc_bas_path": "inputs/lulc.tif"}, ["lulc_bas_path is not supported yet"]),
    ("access", {"access_vector_path": "inputs/access.shp"}, ["access_vector_path is not supported yet"]),
    ("k-zero", {"half_saturation_constant": 0}, ["half_saturation_constant = 0 must be > 0"]),
    ("k-text", {"half_saturation_constant": "half"}, ["non-numeric model argument"]),
    ("no-threats-table", {"threats_table_path": None}, ["needs the argument(s) threats_table_path"]),
    ("other-content", {"threats": [HQ_THREATS[0], ("urban", "1200", "0.3", "exponential", "rasters/urban_50m.tif")]},
     ["study area 'syn' already has a parameter set 'hq_sensitivity'", "other content", "--replace"]),
]


@pytest.mark.parametrize("case", HQ_BAD, ids=[c[0] for c in HQ_BAD])
def test_habitat_quality_bad_input(case, conn, cli_env, tmp_path):
    """Each bad habitat-quality input, loaded through the CLI onto an area holding the good datastack: one line
    naming the file and the column or threat, exit status 1, the database byte for byte as it was."""
    from helpers import check_bad_input

    name, changes, match, *more = case
    with conn.transaction():
        import_datastack(conn, hq_datastack(tmp_path), "syn")
    conn.commit()
    bad = hq_datastack(tmp_path, "bad", **changes)
    check_bad_input(conn, cli_env, "load", "invest", bad, "-a", "syn", *(more[0] if more else ()), exit_code=1,
                    match=match)


@pytest.mark.realdata
def test_habitat_quality_bth(conn):
    """The BTH reference datastack: the land use and the two threat rasters cell for cell, the threats and the
    sensitivity table as written, k = 0.05."""
    import pandas as pd

    path = shared_data(*REF, "habitat_quality_datastack.json")
    args = json.loads(path.read_text())["args"]
    with conn.transaction():
        result = import_datastack(conn, path, "bth")
    assert result.layers == ["lulc", "threat_urban", "threat_cropland"]
    assert result.param_sets == ["hq_sensitivity", "invest_habitat_quality"]
    threats_csv = path.parent / args["threats_table_path"]
    threats = pd.read_csv(threats_csv)
    assert hq_threat_rows(conn, "bth") == [(i + 1, r.threat, float(r.max_dist), float(r.weight), r.decay, r.threat)
                                           for i, r in enumerate(threats.itertuples())]
    assert_layer_equals_file(conn, "bth", "lulc", path.parent / args["lulc_cur_path"])
    for r in threats.itertuples():
        info = assert_layer_equals_file(conn, "bth", r.threat, threats_csv.parent / r.cur_path)
        assert info["kind"] == "continuous" and info["unit"] == "fraction"
    sens = pd.read_csv(path.parent / args["sensitivity_table_path"]).set_index("lucode")
    expected = {int(code): {c: float(row[c]) for c in ("habitat", *threats.threat)} for code, row in sens.iterrows()}
    assert hq_wide_table(conn, "bth") == expected
    (k,) = conn.execute("SELECT value FROM param.scalar WHERE name = 'hq_half_saturation'").fetchone()
    assert k == args["half_saturation_constant"] == 0.05


@pytest.mark.realdata
def test_cli_habitat_quality_again_and_after_the_other_datastacks(cli_env, conn):
    """Onto an area holding the annual water yield, carbon and SDR datastacks, the habitat quality datastack keeps
    the shared land use and replaces nothing; loaded again, it writes nothing."""
    from helpers import db_fingerprint, run_cli

    for model in ("annual_water_yield", "carbon", "sdr"):
        with conn.transaction():
            import_datastack(conn, shared_data(*REF, f"{model}_datastack.json"), "bth")
    conn.commit()
    layers_before = conn.execute("SELECT layer_id, name, loaded_at, source_sha256 FROM core.layer").fetchall()
    sets_before = conn.execute("SELECT param_set_id, name, loaded_at FROM param.param_set").fetchall()
    fingerprint = db_fingerprint(conn)
    path = shared_data(*REF, "habitat_quality_datastack.json")
    proc = run_cli(cli_env, "load", "invest", path, "-a", "bth")
    assert proc.returncode == 0, proc.stderr
    assert ("InVEST habitat_quality -> study area bth: layers threat_urban, threat_cropland; kept lulc "
            "(already loaded the same); parameter sets hq_sensitivity, invest_habitat_quality") in proc.stderr
    after = db_fingerprint(conn)
    assert set(conn.execute("SELECT layer_id, name, loaded_at, source_sha256 FROM core.layer").fetchall()) \
        >= set(layers_before)
    assert set(conn.execute("SELECT param_set_id, name, loaded_at FROM param.param_set").fetchall()) >= set(sets_before)
    changed = {k for k in fingerprint if after.get(k) != fingerprint[k]}   # rows added, none changed (above)
    assert changed <= {"_relations", "core.layer", "param.param_set", "param.lulc_class", "param.lulc_value",
                       "param.scalar", "param.threat", "param.threat_sensitivity"}, changed
    proc = run_cli(cli_env, "load", "invest", path, "-a", "bth")
    assert proc.returncode == 0, proc.stderr
    assert "kept lulc, threat_urban, threat_cropland" in proc.stderr
    assert "kept hq_sensitivity, invest_habitat_quality" in proc.stderr
    assert db_fingerprint(conn) == after
