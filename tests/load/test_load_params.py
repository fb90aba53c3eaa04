"""Parameter tables: InVEST lookup tables unchanged, scalar lists, and rejected tables."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
from affine import Affine

from conftest import shared_data, snapshot
from helpers import create_area, expect_input_error, write_tif
from restore_db.load.params import load_params
from restore_db.load.raster import load_raster

INPUTS = ("invest", "bth_1km_reference", "inputs")
DESCRIPTIVE = {"lucode", "description", "lulc_name"}


@pytest.fixture
def area(conn):
    return create_area(conn, "p", 32650, 400000.0, 4500000.0, 100.0, 40, 30, tile_size=16)


def lulc_layer(conn, area, tmp_path, codes):
    arr = np.resize(np.array(codes, dtype=np.uint8), (30, 40))
    path = write_tif(tmp_path / "lulc.tif", arr, "EPSG:32650", Affine(100, 0, 400000, 0, -100, 4500000), nodata=255)
    with conn.transaction():
        load_raster(conn, area, "lulc", path, "categorical", "class", overviews=False)


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def stored_values(conn, set_name):
    rows = conn.execute(
        """SELECT v.lucode, v.coefficient, v.value FROM param.lulc_value v JOIN param.param_set s USING (param_set_id)
           WHERE s.name = %s""", (set_name,)).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.realdata
@pytest.mark.parametrize("file,set_name,coefficients", [
    ("awy_biophysical_table.csv", "awy_biophysical", {"lulc_veg", "root_depth", "kc"}),
    ("carbon_pools.csv", "carbon_pools", {"c_above", "c_below", "c_soil", "c_dead"}),
    ("sdr_biophysical_table.csv", "sdr_biophysical", {"usle_c", "usle_p"}),
])
def test_invest_tables_load_unchanged(conn, area, tmp_path, file, set_name, coefficients):
    path = shared_data(*INPUTS, file)
    lulc_layer(conn, area, tmp_path, [0, 1, 5, 10, 12, 13, 16])  # IGBP classes, all in the tables
    with conn.transaction():
        info = load_params(conn, area, path, name=set_name, citation="InVEST reference run")
    rows = csv_rows(path)
    assert info.kind == "lulc" and info.rows == len(rows) == 17 and set(info.columns) == coefficients
    expected = {(int(r["lucode"]), c): float(r[c]) for r in rows for c in coefficients}
    assert stored_values(conn, set_name) == expected
    kind, sha, citation, source_path = conn.execute(
        "SELECT kind, source_sha256, citation, source_path FROM param.param_set WHERE name = %s", (set_name,)).fetchone()
    assert (kind, citation, source_path) == ("lulc", "InVEST reference run", str(path.resolve()))
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    desc_col = "lulc_name" if "lulc_name" in rows[0] else "description"
    classes = dict(conn.execute("SELECT lucode, description FROM param.lulc_class").fetchall())
    assert classes == {int(r["lucode"]): r[desc_col] for r in rows}
    # the wide view gives the table back as InVEST users know it
    (coefs,) = conn.execute("SELECT coefficients FROM param.lulc_table WHERE param_set = %s AND lucode = 12",
                            (set_name,)).fetchone()
    assert coefs == {c: float(next(r for r in rows if r["lucode"] == "12")[c]) for c in coefficients}


@pytest.mark.realdata
def test_column_names_are_case_insensitive(conn, area, tmp_path):
    src = shared_data(*INPUTS, "awy_biophysical_table.csv")
    lines = src.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "lucode,description,lulc_veg,root_depth,kc"
    path = write_csv(tmp_path / "awy_upper.csv", "\n".join(["LUCODE,Description,LULC_veg,Root_Depth,Kc"] + lines[1:]))
    with conn.transaction():
        info = load_params(conn, area, path)
    assert info.name == "awy_upper" and set(info.columns) == {"lulc_veg", "root_depth", "kc"}
    rows = csv_rows(src)
    assert stored_values(conn, "awy_upper") == {
        (int(r["lucode"]), c): float(r[c]) for r in rows for c in ("lulc_veg", "root_depth", "kc")}


def test_scalar_table(conn, area, tmp_path):
    path = write_csv(tmp_path / "scalars.csv",
                     "name,value,unit,source\n"
                     "seasonality_z,7.5,1,Zhang 2001\n"
                     "q_dom,150,L/(person*d),local survey\n"
                     "c_food,0.4,t/(person*yr),\n")
    with conn.transaction():
        info = load_params(conn, area, path, name="my_scalars", citation="fallback citation")
    assert (info.kind, info.rows) == ("scalar", 3)
    rows = conn.execute(
        """SELECT c.name, c.value, c.unit, c.source FROM param.scalar c JOIN param.param_set s USING (param_set_id)
           WHERE s.name = 'my_scalars' ORDER BY c.name""").fetchall()
    assert rows == [("c_food", 0.4, "t/(person*yr)", "fallback citation"),
                    ("q_dom", 150.0, "L/(person*d)", "local survey"),
                    ("seasonality_z", 7.5, "1", "Zhang 2001")]
    assert conn.execute("SELECT kind FROM param.param_set WHERE name = 'my_scalars'").fetchone() == ("scalar",)


def test_replace_parameter_set(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "name,value\nseasonality_z,5\n")
    with conn.transaction():
        assert not load_params(conn, area, path, name="s").unchanged
    before = snapshot(conn), conn.execute("SELECT param_set_id, loaded_at FROM param.param_set").fetchall()
    for replace in (False, True):  # the same file again: nothing written, with or without --replace
        with conn.transaction():
            info = load_params(conn, area, path, name="s", replace=replace)
        assert info.unchanged and (info.kind, info.rows, info.columns) == ("scalar", 1, ["seasonality_z"])
        assert (snapshot(conn), conn.execute("SELECT param_set_id, loaded_at FROM param.param_set").fetchall()) == before
    expect_input_error(conn, load_params, conn, area, path, name="s", citation="another source",
                       match=["'s'", "already has a parameter set 's'", "s.csv", "other content", "--replace"])
    path.write_text("name,value\nseasonality_z,9\n")
    expect_input_error(conn, load_params, conn, area, path, name="s", match=["'s'", "other content", "--replace"])
    with conn.transaction():
        load_params(conn, area, path, name="s", replace=True)
    assert conn.execute("SELECT value FROM param.scalar").fetchall() == [(9.0,)]
    assert conn.execute("SELECT count(*) FROM param.param_set").fetchone() == (1,)


def test_lulc_layer_must_be_loaded(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", LULC_OK)
    with conn.transaction():  # no land-use layer yet: the default 'lulc' is checked when it is used
        load_params(conn, area, path, name="early")
    expect_input_error(conn, load_params, conn, area, path, name="named", lulc_layer="nope",
                       match=[str(path), "no layer 'nope'", "--lulc-layer", "categorical layers: none"])
    lulc_layer(conn, area, tmp_path, [1, 2, 3])
    expect_input_error(conn, load_params, conn, area, path, name="named", lulc_layer="landuse",
                       match=[str(path), "no layer 'landuse'", "categorical layers: lulc"])
    with conn.transaction():
        load_params(conn, area, path, name="named", lulc_layer="lulc")


def test_cli_bad_parameter_tables_one_line_database_unchanged(cli_env, conn, area, tmp_path):
    from helpers import check_bad_input, db_fingerprint, run_cli

    lulc_layer(conn, area, tmp_path, [1, 2, 3])
    path = write_csv(tmp_path / "t.csv", LULC_OK)
    with conn.transaction():
        load_params(conn, area, path, name="coefficients")
    check_bad_input(conn, cli_env, "load", "params", path, "--name", "other", "--lulc-layer", "nope",
                    match=["t.csv", "no layer 'nope'", "--lulc-layer"])
    changed = write_csv(tmp_path / "t2.csv", LULC_OK.replace("0.7,1500", "0.8,1500"))
    check_bad_input(conn, cli_env, "load", "params", changed, "--name", "coefficients",
                    match=["already has a parameter set 'coefficients'", "(lulc, loaded from t.csv)", "--replace"])
    before = db_fingerprint(conn)
    proc = run_cli(cli_env, "load", "params", path, "--name", "coefficients")
    assert proc.returncode == 0 and "unchanged" in proc.stderr and "nothing written" in proc.stderr, proc.stderr
    assert db_fingerprint(conn) == before


LULC_OK = "lucode,description,kc,root_depth,lulc_veg\n1,forest,1.0,5000,1\n2,crop,0.7,1500,1\n3,urban,0.3,1,0\n"


def test_unknown_column(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", "lucode,kc,Wibble\n1,1.0,3\n")
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "unknown column", "Wibble"])


def test_missing_classes_of_the_lulc_layer(conn, area, tmp_path):
    lulc_layer(conn, area, tmp_path, [1, 2, 3, 17, 20])
    path = write_csv(tmp_path / "t.csv", LULC_OK)
    expect_input_error(conn, load_params, conn, area, path,
                       match=[str(path), "17, 20", "missing from the table", "'lulc'"])
    complete = write_csv(tmp_path / "t2.csv", LULC_OK + "17,x,1,1,0\n20,y,1,1,0\n")
    with conn.transaction():
        load_params(conn, area, complete)  # extra classes in the table are fine, missing ones are not
    assert conn.execute("SELECT count(*) FROM param.lulc_class").fetchone() == (5,)


def test_duplicate_lucode(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", LULC_OK + "2,crop again,0.8,1500,1\n")
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "duplicate lucode", "2"])


def test_non_integer_lucode(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", "lucode,kc\n1,1.0\n2.5,0.7\nx,0.3\n")
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "lucode", "2.5", "x"])


def test_non_numeric_value(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", LULC_OK.replace("0.7,1500", "high,1500"))
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "non-numeric", "'kc'", "high"])


def test_value_out_of_bounds(conn, area, tmp_path):
    path = write_csv(tmp_path / "t.csv", "lucode,lulc_name,c_above,c_below,c_soil,c_dead\n1,forest,80,20,100,10\n"
                                         "3,crop,5,2,-5,0\n")
    expect_input_error(conn, load_params, conn, area, path,
                       match=[str(path), "c_soil of lucode 3", "-5", "outside the allowed range", "t C/ha"])
    flag = write_csv(tmp_path / "f.csv", "lucode,lulc_veg\n1,2\n")
    expect_input_error(conn, load_params, conn, area, flag, match=[str(flag), "lulc_veg of lucode 1"])


def test_scalar_wrong_unit(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "name,value,unit\nseasonality_z,5,1\nq_dom,150,m3/d\n")
    expect_input_error(conn, load_params, conn, area, path,
                       match=[str(path), "'q_dom'", "'m3/d'", "'L/(person*d)'"])


def test_scalar_unknown_name(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "name,value\nseasonality_z,5\nmagic_number,42\n")
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "unknown parameter", "magic_number"])


def test_scalar_out_of_bounds_and_missing_value(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "name,value\nsdr_max,1.5\n")
    expect_input_error(conn, load_params, conn, area, path, match=[str(path), "sdr_max", "outside the allowed range"])
    empty = write_csv(tmp_path / "e.csv", "name,value\nsdr_max,\n")
    expect_input_error(conn, load_params, conn, area, empty, match=[str(empty), "'sdr_max' has no value"])
    twice = write_csv(tmp_path / "t.csv", "name,value\nsdr_max,0.5\nsdr_max,0.6\n")
    expect_input_error(conn, load_params, conn, area, twice, match=[str(twice), "listed twice", "sdr_max"])


def test_not_a_parameter_table(conn, area, tmp_path):
    path = write_csv(tmp_path / "x.csv", "code,population\n110101,700000\n")
    expect_input_error(conn, load_params, conn, area, path,
                       match=[str(path), "not a parameter table", "lucode", "code, population"])
    empty = write_csv(tmp_path / "empty.csv", "")
    expect_input_error(conn, load_params, conn, area, empty, match=str(empty))
    missing = tmp_path / "missing.csv"
    expect_input_error(conn, load_params, conn, area, missing, match=[str(missing), "does not exist"])


def test_bad_set_name(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "name,value\nseasonality_z,5\n")
    expect_input_error(conn, load_params, conn, area, path, name="Bad-Name", match="invalid parameter-set name")


def test_excel_byte_order_mark_and_latin1(conn, area, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + LULC_OK.encode("utf-8"))
    with conn.transaction():
        info = load_params(conn, area, path)
    assert info.kind == "lulc" and info.rows == 3
    assert stored_values(conn, "bom")[(2, "kc")] == 0.7
    latin = tmp_path / "latin.csv"
    latin.write_bytes("lucode,description,kc\n1,for\xeat,1.0\n".encode("latin-1"))
    expect_input_error(conn, load_params, conn, area, latin, match=[str(latin), "UTF-8"])
