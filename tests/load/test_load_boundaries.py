"""Administrative boundaries and zone sets: real BTH counties, and bad inputs that change nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, Point, Polygon, box

from conftest import shared_data, snapshot
from helpers import cli_argv, expect_input_error
from restore_db.grid import studyarea
from restore_db.load.boundaries import load_boundaries, load_zones

GARY = ("boundaries", "bth_counties_2020_garybikini.gpkg")
GARY_LAYER = "county_wgs84_from_gcj02"


def units(conn, level="county"):
    rows = conn.execute(
        """SELECT code, name, parent_code, province_code, repaired, ST_GeometryType(geom), ST_SRID(geom),
                  ST_IsValid(geom), area_m2, source_path
           FROM core.admin_unit WHERE level = %s ORDER BY code""", (level,)).fetchall()
    keys = ["code", "name", "parent", "province", "repaired", "type", "srid", "valid", "area", "source"]
    return {r[0]: dict(zip(keys, r)) for r in rows}


@pytest.fixture
def bth(conn):
    path = shared_data(*GARY)
    bounds = studyarea.bounds_of_vector(path, GARY_LAYER, CRS.from_epsg(32650))
    with conn.transaction():
        return studyarea.create(conn, "bth", 32650, 1000.0, bounds)


@pytest.fixture
def syn(conn):
    """A small area around 116.5E 39.5N (UTM 50N, 1 km)."""
    with conn.transaction():
        return studyarea.create(conn, "syn", 32650, 1000.0, (116.0, 39.0, 117.0, 40.0), bounds_crs=CRS.from_epsg(4326))


def square(lon, lat, d=0.1):
    return box(lon, lat, lon + d, lat + d)


def write_vector(path, records, crs="EPSG:4326", driver=None, layer=None):
    geoms = [r.pop("geometry") for r in records]
    frame = gpd.GeoDataFrame(records, geometry=geoms, crs=crs)
    frame.to_file(path, driver=driver or ("GeoJSON" if str(path).endswith("json") else "GPKG"), layer=layer)
    return path


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_bth_counties(conn, bth):
    path = shared_data(*GARY)
    with conn.transaction():
        info = load_boundaries(conn, bth, path, "county", layer=GARY_LAYER, parent_field="ctadcode",
                               province_field="pradcode")
    src = gpd.read_file(path, layer=GARY_LAYER)
    assert info.count == len(src) == 200 and info.outside == []
    got = units(conn)
    assert set(got) == {str(c) for c in src["adcode"]}
    provinces = {}
    for u in got.values():
        provinces[u["province"]] = provinces.get(u["province"], 0) + 1
    assert provinces == {"110000": 16, "120000": 16, "130000": 168}
    assert all(u["type"] == "ST_MultiPolygon" and u["srid"] == 32650 and u["valid"] for u in got.values())
    assert all(u["source"] == str(path.resolve()) for u in got.values())
    projected = src.to_crs(32650)
    for code, name, parent, geom in zip(src["adcode"], src["name"], src["ctadcode"], projected.geometry):
        u = got[str(code)]
        assert (u["name"], u["parent"]) == (name, str(parent))
        assert u["area"] == pytest.approx(geom.area, rel=1e-6)
    assert got["110101"]["name"] == "东城区" and got["110101"]["parent"] == "110100"
    # every stored polygon lies on the grid's extent and the study area is the counties' bounding box
    (outside,) = conn.execute(
        """SELECT count(*) FROM core.admin_unit u JOIN core.study_area a USING (study_area_id)
           WHERE NOT ST_Within(u.geom, a.extent)""").fetchone()
    assert outside == 0
    total = sum(u["area"] for u in got.values())
    assert 2.0e11 < total < 2.3e11  # BTH is ~216,000 km2 (PROVENANCE.md)


@pytest.mark.realdata
def test_real_tianditu_geojson(conn, bth):
    path = shared_data("boundaries", "bth_counties_tianditu_2025.geojson")
    src = gpd.read_file(path)
    assert "district_adcode" in src.columns
    with conn.transaction():
        info = load_boundaries(conn, bth, path, "county")  # code field found by name: district_adcode
    assert info.count == len(src) == 199
    got = units(conn)
    assert set(got) == {str(c) for c in src["district_adcode"]}
    assert {u["name"] for u in got.values()} == set(src["district_name"])
    assert all(u["type"] == "ST_MultiPolygon" and u["valid"] for u in got.values())
    # 2020 -> 2025: Xingtai's 130521/130526/130527 became 130505/130506
    assert {"130505", "130506"} <= set(got) and "130521" not in got


@pytest.mark.realdata
def test_real_gcj02_layer_without_crs(conn, bth):
    path = shared_data(*GARY)
    expect_input_error(conn, load_boundaries, conn, bth, path, "county", layer="county_gcj02",
                       match=[str(path), "no CRS", "--src-crs"])
    with conn.transaction():
        info = load_boundaries(conn, bth, path, "county", layer="county_gcj02", src_crs="EPSG:4326")
    assert info.count == 200


@pytest.mark.realdata
def test_real_multi_layer_gpkg_needs_layer(conn, bth):
    path = shared_data("boundaries", "bth_admin_tianditu_2025.gpkg")
    expect_input_error(conn, load_boundaries, conn, bth, path, "province",
                       match=[str(path), "several layers", "county", "city", "province", "--layer"])
    expect_input_error(conn, load_boundaries, conn, bth, path, "province", layer="provinces",
                       match=[str(path), "no layer 'provinces'"])
    expect_input_error(conn, load_boundaries, conn, bth, path, "province", layer="province",
                       match=[str(path), "no code field"])
    with conn.transaction():
        info = load_boundaries(conn, bth, path, "province", layer="province", code_field="province_adcode",
                               name_field="province_name")
    assert info.count == 3
    assert {c: u["name"] for c, u in units(conn, "province").items()} == {
        "110000": "北京市", "120000": "天津市", "130000": "河北省"}


# ---------------------------------------------------------------- synthetic bad inputs


def test_two_levels_and_replace(conn, syn, tmp_path):
    path = write_vector(tmp_path / "a.geojson", [
        {"code": 1101, "name": "A", "geometry": square(116.2, 39.2)},
        {"code": 1102, "name": "B", "geometry": MultiPolygon([square(116.5, 39.5), square(116.7, 39.5)])},
    ])
    with conn.transaction():
        info = load_boundaries(conn, syn, path, "county")
    assert info.count == 2 and info.repaired == []
    # the same file again is a no-op (reprojection is deterministic: the same units, bit for bit)
    ids = sorted(r[0] for r in conn.execute("SELECT unit_id FROM core.admin_unit WHERE level = 'county'"))
    with conn.transaction():
        again = load_boundaries(conn, syn, path, "county")
    assert again.unchanged
    assert sorted(r[0] for r in conn.execute("SELECT unit_id FROM core.admin_unit WHERE level = 'county'")) == ids
    conn.commit()
    with conn.transaction():
        load_boundaries(conn, syn, path, "city")  # another level is independent
    other = write_vector(tmp_path / "b.geojson", [{"code": "9", "name": "C", "geometry": square(116.3, 39.3)}])
    # other units need --replace
    expect_input_error(conn, load_boundaries, conn, syn, other, "county",
                       match=["'syn'", "already has 2 other county units", "--replace"])
    with conn.transaction():
        info = load_boundaries(conn, syn, other, "county", replace=True)
    assert info.count == 1
    assert list(units(conn)) == ["9"] and sorted(units(conn, "city")) == ["1101", "1102"]
    b = units(conn, "city")["1102"]
    expected = gpd.GeoSeries([MultiPolygon([square(116.5, 39.5), square(116.7, 39.5)])], crs=4326).to_crs(32650)
    assert b["area"] == pytest.approx(expected.area[0], rel=1e-6) and b["type"] == "ST_MultiPolygon"


def test_duplicate_codes(conn, syn, tmp_path):
    path = write_vector(tmp_path / "dup.geojson", [
        {"code": "110101", "geometry": square(116.2, 39.2)},
        {"code": "110102", "geometry": square(116.4, 39.2)},
        {"code": "110101", "geometry": square(116.6, 39.2)},
    ])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county",
                       match=[str(path), "duplicate", "110101 (2 features)"])


def test_float_codes_are_normalised(conn, syn, tmp_path):
    path = write_vector(tmp_path / "f.geojson", [{"adcode": 110101.0, "geometry": square(116.2, 39.2)}])
    with conn.transaction():
        load_boundaries(conn, syn, path, "county")
    assert list(units(conn)) == ["110101"]


BOWTIE = Polygon([(116.2, 39.2), (116.4, 39.4), (116.4, 39.2), (116.2, 39.4), (116.2, 39.2)])


def test_invalid_polygon_repaired_by_default(conn, syn, tmp_path):
    assert not BOWTIE.is_valid
    path = write_vector(tmp_path / "bow.geojson", [
        {"code": "BOW", "geometry": BOWTIE},
        {"code": "OK", "geometry": square(116.6, 39.6)},
    ])
    with conn.transaction():
        info = load_boundaries(conn, syn, path, "county")
    assert info.repaired == ["BOW"]
    got = units(conn)
    assert got["BOW"]["repaired"] is True and got["OK"]["repaired"] is False
    assert got["BOW"]["valid"] and got["BOW"]["type"] == "ST_MultiPolygon"
    # the bow-tie is two triangles meeting at (116.3, 39.3)
    triangles = MultiPolygon([Polygon([(116.2, 39.2), (116.3, 39.3), (116.2, 39.4)]),
                              Polygon([(116.4, 39.2), (116.3, 39.3), (116.4, 39.4)])])
    expected = gpd.GeoSeries([triangles], crs=4326).to_crs(32650).area[0]
    assert got["BOW"]["area"] == pytest.approx(expected, rel=1e-6)
    (parts,) = conn.execute("SELECT ST_NumGeometries(geom) FROM core.admin_unit WHERE code = 'BOW'").fetchone()
    assert parts == 2


def test_invalid_polygon_rejected_without_repair(conn, syn, tmp_path):
    path = write_vector(tmp_path / "bow.geojson", [
        {"code": "BOW", "geometry": BOWTIE},
        {"code": "OK", "geometry": square(116.6, 39.6)},
    ])
    msg = expect_input_error(conn, load_boundaries, conn, syn, path, "county", repair=False,
                             match=[str(path), "invalid geometry", "BOW", "Self-intersection"])
    assert "OK" not in msg.split("invalid geometry")[1].split(";")[0]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs_and_src_crs(conn, syn, tmp_path):
    path = write_vector(tmp_path / "nocrs.gpkg", [{"code": "X", "geometry": square(116.2, 39.2)}], crs=None)
    assert gpd.read_file(path).crs is None
    expect_input_error(conn, load_boundaries, conn, syn, path, "county", match=[str(path), "no CRS", "--src-crs"])
    with conn.transaction():
        load_boundaries(conn, syn, path, "county", src_crs="EPSG:4326")
    expected = gpd.GeoSeries([square(116.2, 39.2)], crs=4326).to_crs(32650).area[0]
    assert units(conn)["X"]["area"] == pytest.approx(expected, rel=1e-6)


def test_no_overlap(conn, syn, tmp_path):
    path = write_vector(tmp_path / "far.geojson", [{"code": "F", "geometry": square(100.0, 20.0)}])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county",
                       match=[str(path), "no county polygon overlaps", "'syn'"])


def test_partly_outside_reported_and_skipped(conn, syn, tmp_path):
    path = write_vector(tmp_path / "some.geojson", [
        {"code": "IN", "geometry": square(116.2, 39.2)},
        {"code": "FAR", "geometry": square(100.0, 20.0)},
    ])
    with conn.transaction():
        info = load_boundaries(conn, syn, path, "county")
    assert info.outside == ["FAR"] and info.count == 1 and list(units(conn)) == ["IN"]


def test_missing_code_field(conn, syn, tmp_path):
    path = write_vector(tmp_path / "nocode.geojson", [{"label": "x", "geometry": square(116.2, 39.2)}])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county", match=[str(path), "no code field", "label"])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county", code_field="kode",
                       match=[str(path), "'kode'", "not found"])


def test_missing_code_value(conn, syn, tmp_path):
    path = write_vector(tmp_path / "nullcode.geojson", [
        {"code": "A", "geometry": square(116.2, 39.2)},
        {"code": None, "geometry": square(116.4, 39.2)},
    ])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county", match=[str(path), "no county code"])


def test_not_polygons(conn, syn, tmp_path):
    path = write_vector(tmp_path / "pts.geojson", [{"code": "P", "geometry": Point(116.5, 39.5)}])
    expect_input_error(conn, load_boundaries, conn, syn, path, "county", match=[str(path), "P", "not polygons"])


def test_bad_level_and_missing_file(conn, syn, tmp_path):
    path = write_vector(tmp_path / "a.geojson", [{"code": "A", "geometry": square(116.2, 39.2)}])
    expect_input_error(conn, load_boundaries, conn, syn, path, "district", match="level must be one of")
    missing = tmp_path / "missing.gpkg"
    expect_input_error(conn, load_boundaries, conn, syn, missing, "county", match=[str(missing), "does not exist"])
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json")
    expect_input_error(conn, load_boundaries, conn, syn, junk, "county", match=[str(junk), "cannot read"])


def test_multi_layer_gpkg_needs_layer(conn, syn, tmp_path):
    path = tmp_path / "multi.gpkg"
    write_vector(path, [{"code": "A", "geometry": square(116.2, 39.2)}], layer="county")
    write_vector(path, [{"code": "C", "geometry": square(116.2, 39.2, 0.5)}], layer="city")
    expect_input_error(conn, load_boundaries, conn, syn, path, "county",
                       match=[str(path), "several layers", "--layer"])
    with conn.transaction():
        load_boundaries(conn, syn, path, "city", layer="city")
    assert list(units(conn, "city")) == ["C"]


def test_zones_keep_attributes(conn, syn, tmp_path):
    path = write_vector(tmp_path / "ws.geojson", [
        {"ws_id": 7, "ws_name": "upper", "area_km2": 12.5, "note": None, "geometry": square(116.2, 39.2)},
        {"ws_id": 8, "ws_name": "lower", "area_km2": 3.0, "note": "x", "geometry": square(116.5, 39.2)},
    ])
    with conn.transaction():
        info = load_zones(conn, syn, path, "watersheds")
    assert info.count == 2
    rows = conn.execute("SELECT code, name, attrs, ST_GeometryType(geom) FROM core.zone ORDER BY code").fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [("7", "upper", "ST_MultiPolygon"), ("8", "lower", "ST_MultiPolygon")]
    assert rows[0][2] == {"ws_id": 7, "ws_name": "upper", "area_km2": 12.5, "note": None}
    assert rows[1][2]["note"] == "x"
    expect_input_error(conn, load_zones, conn, syn, path, "watersheds", match=["watersheds", "--replace"])


def test_missing_name_and_parent_stored_as_null(conn, syn, tmp_path):
    path = write_vector(tmp_path / "nulls.geojson", [
        {"code": "A", "name": "Alpha", "parent": "P1", "geometry": square(116.2, 39.2)},
        {"code": "B", "name": None, "parent": None, "geometry": square(116.4, 39.2)},
    ])
    with conn.transaction():
        load_boundaries(conn, syn, path, "county", parent_field="parent")
    got = units(conn)
    assert (got["A"]["name"], got["A"]["parent"], got["A"]["province"]) == ("Alpha", "P1", None)
    assert (got["B"]["name"], got["B"]["parent"]) == (None, None)


def test_cli_boundaries_reports_repairs(cli_env, conn, syn, tmp_path):
    from typer.testing import CliRunner

    from restore_db.cli import app

    path = write_vector(tmp_path / "bow.geojson", [
        {"code": "BOW", "geometry": BOWTIE},
        {"code": "FAR", "geometry": square(100.0, 20.0)},
    ])
    before = units(conn)
    result = CliRunner().invoke(app, ["load", "boundaries", str(path), "--level", "county", "--no-repair"])
    assert result.exit_code != 0 and "BOW" in str(result.exception)
    assert units(conn) == before
    result = CliRunner().invoke(app, ["load", "boundaries", str(path), "--level", "county"])
    assert result.exit_code == 0, result.output
    assert "repaired invalid geometries: BOW" in result.stderr
    assert "outside the study area, skipped: FAR" in result.stderr
    assert list(units(conn)) == ["BOW"]


# ---------------------------------------------------------------- vector inputs as users have them: Z/M, encodings

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"


def shared_case(*parts: str) -> Path:
    """A file of ../shared/cases; the test is skipped when the folder is absent."""
    path = CASES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"case not available: {path}")
    return path


def cli(*args: str):
    from typer.testing import CliRunner

    from restore_db.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_polygon_z_case(cli_env, conn):
    path = shared_case("polygon-z", "counties_z.geojson")
    assert all(shapely.has_z(gpd.read_file(path).geometry.values))
    result = cli("study-area", "create", "z", "--srid", "32650", "--pixel-size", "1000",
                 "--bbox", "440000,4410000,460000,4430000")
    assert result.exit_code == 0, result.output
    result = cli("load", "boundaries", str(path), "--level", "county", "-a", "z")
    assert result.exit_code == 0, result.output
    assert "2 county units loaded" in result.stderr and "Z coordinates dropped" in result.stderr
    rows = conn.execute("SELECT code, name, ST_NDims(geom), ST_GeometryType(geom), ST_IsValid(geom) "
                        "FROM core.admin_unit ORDER BY code").fetchall()
    assert rows == [("110101", "West", 2, "ST_MultiPolygon", True), ("110102", "East", 2, "ST_MultiPolygon", True)]
    expected = gpd.read_file(path).force_2d().to_crs(32650).area
    assert [u["area"] for u in units(conn).values()] == pytest.approx(list(expected), rel=1e-6)


def write_measured_shp(path, wkts):
    """A shapefile of polygons given as WKT with M (or Z and M) values, which geopandas cannot write."""
    wkb = np.array([shapely.to_wkb(shapely.from_wkt(w), flavor="iso") for w in wkts], dtype=object)
    codes = np.array([f"M{i}" for i in range(len(wkts))], dtype=object)
    pyogrio.raw.write(path, geometry=wkb, field_data=[codes], fields=["code"], geometry_type="Unknown",
                      crs="EPSG:4326")
    return path


@pytest.mark.skipif(not hasattr(shapely, "has_m"), reason="shapely without M support")
@pytest.mark.filterwarnings("error::UserWarning")
def test_zones_with_z_and_m_stored_2d(conn, syn, tmp_path):
    z = write_vector(tmp_path / "z.geojson", [
        {"ws_id": 1, "geometry": shapely.force_3d(square(116.2, 39.2), 12.0)},
        {"ws_id": 2, "geometry": MultiPolygon([square(116.5, 39.5)])},
    ])
    with conn.transaction():
        info = load_zones(conn, syn, z, "z")
    assert (info.count, info.dropped_dims) == (2, "Z")
    ring = "116.2 39.2 {0}, 116.3 39.2 {0}, 116.3 39.3 {0}, 116.2 39.3 {0}, 116.2 39.2 {0}"
    m = write_measured_shp(tmp_path / "m.shp", [f"POLYGON M (({ring.format(5)}))"])
    zm = write_measured_shp(tmp_path / "zm.shp", [f"POLYGON ZM (({ring.format('1 5')}))"])
    with conn.transaction():
        assert load_zones(conn, syn, m, "m").dropped_dims == "M"
        assert load_zones(conn, syn, zm, "zm").dropped_dims == "ZM"
    rows = conn.execute("SELECT zone_set, ST_NDims(geom), ST_GeometryType(geom) FROM core.zone "
                        "GROUP BY 1, 2, 3 ORDER BY 1").fetchall()
    assert rows == [(s, 2, "ST_MultiPolygon") for s in ("m", "z", "zm")]
    expected = gpd.GeoSeries([square(116.2, 39.2)], crs=4326).to_crs(32650).area[0]
    (area,) = conn.execute("SELECT ST_Area(geom) FROM core.zone WHERE zone_set = 'zm'").fetchone()
    assert area == pytest.approx(expected, rel=1e-6)
    with conn.transaction():
        flat = load_boundaries(conn, syn, write_vector(tmp_path / "flat.geojson", [
            {"code": "F", "geometry": square(116.2, 39.2)}]), "county")
    assert flat.dropped_dims == ""


NAMES = {"110101": "东城区", "110102": "西城区"}


def write_shp(path, encoding, cpg=True, names=NAMES, ldid=None):
    """A shapefile of two squares with ``names`` written in ``encoding``; without .cpg unless ``cpg``;
    ``ldid`` sets the code-page byte of the .dbf (0 = none, as pyogrio writes it)."""
    frame = gpd.GeoDataFrame({"code": list(names), "name": list(names.values())},
                             geometry=[square(116.2, 39.2), square(116.5, 39.2)], crs=4326)
    frame.to_file(path, driver="ESRI Shapefile", encoding=encoding, engine="pyogrio")
    cpg_path = path.with_suffix(".cpg")
    if not cpg:
        cpg_path.unlink()
    assert cpg_path.exists() == cpg
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    assert data[29] == 0
    if ldid is not None:
        data[29] = ldid
        dbf.write_bytes(bytes(data))
    return path


def stored_names(conn, level="county"):
    return {c: u["name"] for c, u in units(conn, level).items()}


def test_gdal_reads_undeclared_dbf_as_latin1(tmp_path):
    """What pyogrio/GDAL do with a .dbf without .cpg and code page: no recoding, ISO-8859-1, mojibake."""
    path = write_shp(tmp_path / "gbk.shp", "GBK", cpg=False)
    assert pyogrio.read_info(path)["encoding"] == "ISO-8859-1"
    assert list(gpd.read_file(path)["name"]) == [n.encode("gbk").decode("latin-1") for n in NAMES.values()]
    assert pyogrio.read_info(write_shp(tmp_path / "cpg.shp", "GBK"))["encoding"] == "UTF-8"


def test_cli_gbk_shapefile_without_cpg(cli_env, conn, syn, tmp_path):
    path = write_shp(tmp_path / "gbk.shp", "GBK", cpg=False)
    before = snapshot(conn)
    env = dict(os.environ, RESTORE_DB_URL=cli_env["RESTORE_DB_URL"], COLUMNS="500")
    proc = subprocess.run(
        cli_argv("load", "boundaries", path, "--level", "county"),
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    for part in ("error:", str(path), "field 'name'", "--encoding GB18030", "东城区"):
        assert part in proc.stderr, proc.stderr
    assert snapshot(conn) == before
    result = cli("load", "boundaries", str(path), "--level", "county", "--encoding", "GB18030")
    assert result.exit_code == 0, result.output
    assert stored_names(conn) == NAMES


def test_cli_shapefile_encodings(cli_env, conn, syn, tmp_path):
    gbk = write_shp(tmp_path / "gbk.shp", "GBK", cpg=False)
    result = cli("load", "boundaries", str(gbk), "--level", "county", "--encoding", "GBK")
    assert result.exit_code == 0, result.output
    assert "text read as" not in result.stderr
    assert stored_names(conn) == NAMES
    utf8 = write_shp(tmp_path / "utf8.shp", "UTF-8", cpg=False)
    result = cli("load", "boundaries", str(utf8), "--level", "city")
    assert result.exit_code == 0, result.output
    assert "text read as UTF-8 (detected" in result.stderr
    assert stored_names(conn, "city") == NAMES
    cpg = write_shp(tmp_path / "cpg.shp", "GBK", cpg=True)
    result = cli("load", "boundaries", str(cpg), "--level", "province")
    assert result.exit_code == 0, result.output
    assert "text read as" not in result.stderr
    assert stored_names(conn, "province") == NAMES


def test_shapefile_encoding_errors_and_declarations(conn, syn, tmp_path):
    # a code page in the .dbf (0x4D = 936) is a declaration: read without option
    ldid = write_shp(tmp_path / "ldid.shp", "GBK", cpg=False, ldid=0x4D)
    with conn.transaction():
        info = load_boundaries(conn, syn, ldid, "county")
    assert stored_names(conn) == NAMES and info.detected_encoding is None
    # UTF-8 text given as GBK would be garbled: refused
    utf8 = write_shp(tmp_path / "utf8.shp", "UTF-8", cpg=False)
    expect_input_error(conn, load_boundaries, conn, syn, utf8, "city", encoding="GBK",
                       match=[str(utf8), "field 'name'", "UTF-8 text, not GBK"])
    # a .cpg that lies (UTF-8 declared, GBK bytes)
    lying = write_shp(tmp_path / "lying.shp", "GBK", cpg=False)
    lying.with_suffix(".cpg").write_text("UTF-8")
    expect_input_error(conn, load_boundaries, conn, syn, lying, "city",
                       match=[str(lying), "field 'name'", "not valid text", "--encoding GB18030"])
    # undeclared Latin-1 text: refused too, loaded with the encoding given
    latin = write_shp(tmp_path / "latin.shp", "ISO-8859-1", cpg=False,
                      names={"110101": "Zürich", "110102": "Gößnitz"})
    expect_input_error(conn, load_boundaries, conn, syn, latin, "city",
                       match=[str(latin), "field 'name'", "declares no encoding", "--encoding"])
    with conn.transaction():
        load_boundaries(conn, syn, latin, "city", encoding="cp1252")
    assert stored_names(conn, "city") == {"110101": "Zürich", "110102": "Gößnitz"}
    # bytes that are not GBK at all
    bad = write_shp(tmp_path / "bad.shp", "ISO-8859-1", cpg=False, names={"110101": "\xff\xff", "110102": "x"})
    expect_input_error(conn, load_boundaries, conn, syn, bad, "province", encoding="GBK",
                       match=[str(bad), "field 'name'", "not valid GBK"])
    # the option is for shapefiles; unknown encodings are named
    geojson = write_vector(tmp_path / "a.geojson", [{"code": "A", "name": "东城区", "geometry": square(116.2, 39.2)}])
    expect_input_error(conn, load_boundaries, conn, syn, geojson, "province", encoding="GBK",
                       match=[str(geojson), "--encoding applies to shapefiles", "UTF-8"])
    expect_input_error(conn, load_boundaries, conn, syn, ldid, "province", encoding="klingon",
                       match=[str(ldid), "unknown encoding 'klingon'"])
    # text already garbled (U+FFFD) is never stored
    garbled = write_vector(tmp_path / "g.geojson", [{"code": "A", "name": "东\ufffd区", "geometry": square(116.2, 39.2)}])
    expect_input_error(conn, load_boundaries, conn, syn, garbled, "province",
                       match=[str(garbled), "field 'name'", "U+FFFD"])


def test_zones_from_undeclared_shapefile(conn, syn, tmp_path):
    gbk = write_shp(tmp_path / "ws.shp", "GBK", cpg=False)
    expect_input_error(conn, load_zones, conn, syn, gbk, "ws", match=[str(gbk), "field 'name'", "--encoding GB18030"])
    with conn.transaction():
        info = load_zones(conn, syn, gbk, "ws", code_field="code", encoding="GB18030")
    assert info.count == 2
    rows = conn.execute("SELECT code, name, attrs->>'name' FROM core.zone ORDER BY code").fetchall()
    assert rows == [(c, n, n) for c, n in NAMES.items()]


def test_concurrent_loads_of_one_level_wait_for_each_other(db_url, conn, syn, tmp_path):
    """Two sessions load county boundaries at once: the second waits for the first, then follows the rule
    (the same units: nothing written) instead of a unique-key violation."""
    import threading
    import time

    import psycopg

    conn.commit()
    path = write_vector(tmp_path / "a.geojson", [{"code": "1101", "name": "A", "geometry": square(116.2, 39.2)}])
    results: dict = {}
    started = threading.Event()

    def slow_first():
        with psycopg.connect(db_url) as c, c.transaction():
            load_boundaries(c, studyarea.get(c, "syn"), path, "county")
            started.set()
            time.sleep(1.5)      # written, not committed, while the other load starts
        results["first"] = "loaded"

    def racing():
        started.wait(30)
        try:
            with psycopg.connect(db_url) as c, c.transaction():
                info = load_boundaries(c, studyarea.get(c, "syn"), path, "county")
            results["second"] = "unchanged" if info.unchanged else "loaded"
        except Exception as exc:  # noqa: BLE001 - the test reports what the racing load raised
            results["second"] = exc

    threads = [threading.Thread(target=slow_first), threading.Thread(target=racing)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"first": "loaded", "second": "unchanged"}
    assert conn.execute("SELECT count(*) FROM core.admin_unit_version").fetchone()[0] == 1
