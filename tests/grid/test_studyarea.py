"""Study areas: grid snapping, CRS rules, custom CRS registration, names, look-up."""

import math

import pytest
from pyproj import CRS, Transformer
from typer.testing import CliRunner

from conftest import shared_data, snapshot
from helpers import expect_input_error
from restore_db.grid import studyarea
from restore_db.cli import app

ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m"


def area_row(conn, name):
    cur = conn.execute("SELECT *, ST_AsText(extent) AS extent_wkt, ST_SRID(extent) AS extent_srid "
                       "FROM core.study_area WHERE name = %s", (name,))
    row = cur.fetchone()
    return dict(zip([d.name for d in cur.description], row))


def test_create_by_bbox_snaps_outward(conn):
    with conn.transaction():
        area = studyarea.create(conn, "t1", 32650, 100.0, (400050.5, 4399990.0, 420321.0, 4413801.0), tile_size=64)
    # hand-computed: x0 = floor(400050.5/100)*100, y0 = ceil(4413801/100)*100, cells cover xmax / ymin
    row = area_row(conn, "t1")
    assert (row["srid"], row["pixel_size"], row["tile_size"]) == (32650, 100.0, 64)
    assert (row["origin_x"], row["origin_y"]) == (400000.0, 4413900.0)
    assert (row["width"], row["height"]) == (204, 140)  # 400000 + 204*100 = 420400 >= 420321; 4413900 - 140*100 = 4399900 <= 4399990
    assert (row["tiles_x"], row["tiles_y"]) == (4, 3)  # ceil(204/64), ceil(140/64)
    assert row["extent_srid"] == 32650
    assert row["extent_wkt"] == "POLYGON((400000 4399900,400000 4413900,420400 4413900,420400 4399900,400000 4399900))"
    assert area.study_area_id == row["study_area_id"]
    assert (area.grid.width, area.grid.height, area.grid.tiles_x, area.grid.tiles_y) == (204, 140, 4, 3)


def test_bbox_exactly_on_cell_edges_adds_no_cell(conn):
    with conn.transaction():
        studyarea.create(conn, "edges", 32650, 1000.0, (181000, 3989000, 746000, 4721000))
    row = area_row(conn, "edges")
    assert (row["origin_x"], row["origin_y"], row["width"], row["height"]) == (181000, 4721000, 565, 732)
    assert (row["tiles_x"], row["tiles_y"]) == (3, 3)  # ceil(565/256), ceil(732/256)


def test_bbox_in_another_crs_is_covered(conn):
    bbox = (116.0, 39.5, 116.5, 40.0)
    with conn.transaction():
        area = studyarea.create(conn, "lonlat", 32650, 500.0, bbox, bounds_crs=CRS.from_epsg(4326))
    g = area.grid
    tr = Transformer.from_crs(4326, 32650, always_xy=True)
    # every corner and edge midpoint of the lon/lat box lies inside the grid
    for lon in (116.0, 116.25, 116.5):
        for lat in (39.5, 39.75, 40.0):
            x, y = tr.transform(lon, lat)
            assert g.origin_x <= x <= g.origin_x + g.width * 500.0
            assert g.origin_y - g.height * 500.0 <= y <= g.origin_y
    assert g.origin_x % 500 == 0 and g.origin_y % 500 == 0


def test_geographic_crs_rejected(conn):
    msg = expect_input_error(conn, studyarea.create, conn, "geo", 4326, 0.01, (116, 39, 117, 40), match="geographic")
    assert "'geo'" in msg
    assert conn.execute("SELECT count(*) FROM core.study_area").fetchone()[0] == 0


def test_foot_based_crs_rejected(conn):
    msg = expect_input_error(conn, studyarea.create, conn, "ny", "EPSG:2263", 100.0,
                             (980000, 190000, 1010000, 220000), match="metres")
    assert "foot" in msg.lower()


def test_custom_albers_registered_once_and_reused(conn):
    n0 = conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0]
    with conn.transaction():
        a = studyarea.create(conn, "albers_a", ALBERS, 1000.0, (-500000, 3500000, 500000, 4500000))
    with conn.transaction():
        b = studyarea.create(conn, "albers_b", ALBERS, 250.0, (0, 4000000, 100000, 4100000))
    assert a.grid.srid >= 900000
    assert b.grid.srid == a.grid.srid
    assert conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0] == n0 + 1
    assert area_row(conn, "albers_b")["srid"] == a.grid.srid
    # PostGIS itself projects with the registered definition as pyproj does with the PROJ string
    x, y = conn.execute(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(116.4, 39.9), 4326), %s) g) s",
        (a.grid.srid,),
    ).fetchone()
    ex, ey = Transformer.from_crs(4326, CRS.from_proj4(ALBERS), always_xy=True).transform(116.4, 39.9)
    assert x == pytest.approx(ex, abs=0.01) and y == pytest.approx(ey, abs=0.01)
    # the grid CRS reads back as the same CRS
    assert studyarea.crs_of_srid(conn, a.grid.srid).equals(CRS.from_proj4(ALBERS))


def test_existing_epsg_is_not_registered_again(conn):
    before = conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0]
    with conn.transaction():
        area = studyarea.create(conn, "utm", "EPSG:32650", 1000.0, (0, 4000000, 10000, 4010000))
    assert area.grid.srid == 32650
    assert conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0] == before


def test_duplicate_name_rejected(conn):
    with conn.transaction():
        studyarea.create(conn, "dup", 32650, 1000.0, (0, 4000000, 10000, 4010000))
    expect_input_error(conn, studyarea.create, conn, "dup", 32650, 500.0, (0, 4000000, 20000, 4010000),
                       match=["'dup'", "already exists"])
    # also with a CRS that would have to be registered: nothing is added to spatial_ref_sys
    expect_input_error(conn, studyarea.create, conn, "dup", ALBERS, 500.0, (0, 4000000, 20000, 4010000),
                       match="already exists")


@pytest.mark.parametrize("name", ["Bad", "1abc", "a-b", "", "a" * 21, "ab cd"])
def test_bad_name_rejected(conn, name):
    expect_input_error(conn, studyarea.create, conn, name, 32650, 1000.0, (0, 4000000, 10000, 4010000),
                       match="invalid study-area name")


def test_longest_valid_name_accepted(conn):
    with conn.transaction():
        studyarea.create(conn, "a" * 20, 32650, 1000.0, (0, 4000000, 10000, 4010000))
    assert studyarea.get(conn).name == "a" * 20


@pytest.mark.parametrize("kwargs,match", [
    ({"pixel_size": 0}, "pixel size"),
    ({"pixel_size": -5}, "pixel size"),
    ({"tile_size": 8}, "tile size"),
    ({"bounds": (10, 0, 10, 5)}, "empty extent"),
])
def test_bad_grid_parameters_rejected(conn, kwargs, match):
    args = {"pixel_size": 100.0, "bounds": (0, 4000000, 10000, 4010000), "tile_size": 256} | kwargs
    expect_input_error(conn, studyarea.create, conn, "bad", 32650, args["pixel_size"], args["bounds"],
                       tile_size=args["tile_size"], match=match)


def test_get(conn):
    with pytest.raises(studyarea.InputError, match="no study area yet"):
        studyarea.get(conn)
    with conn.transaction():
        studyarea.create(conn, "one", 32650, 1000.0, (0, 4000000, 10000, 4010000))
    assert studyarea.get(conn).name == "one"
    with conn.transaction():
        studyarea.create(conn, "two", 32650, 1000.0, (0, 4000000, 30000, 4010000))
    with pytest.raises(studyarea.InputError) as info:
        studyarea.get(conn)
    assert "several study areas" in str(info.value) and "one" in str(info.value) and "two" in str(info.value)
    assert "--study-area" in str(info.value)
    two = studyarea.get(conn, "two")
    assert (two.grid.width, two.grid.height, two.grid.srid) == (30, 10, 32650)
    with pytest.raises(studyarea.InputError, match="unknown study area 'three'"):
        studyarea.get(conn, "three")


def test_cli_create_and_list(cli_env, conn):
    runner = CliRunner()
    result = runner.invoke(app, ["study-area", "create", "cli_a", "--crs", "32650", "--pixel-size", "1000",
                                 "--bbox", "0,4000000,10500,4010000", "--tile-size", "64"])
    assert result.exit_code == 0, result.output
    row = area_row(conn, "cli_a")
    assert (row["width"], row["height"], row["tile_size"]) == (11, 10, 64)
    result = runner.invoke(app, ["study-area", "list"])
    assert result.exit_code == 0 and "cli_a" in result.stdout
    before = snapshot(conn)
    result = runner.invoke(app, ["study-area", "create", "cli_b", "--crs", "EPSG:4326", "--pixel-size", "0.01",
                                 "--bbox", "116,39,117,40"])
    assert result.exit_code != 0
    assert isinstance(result.exception, studyarea.InputError) and "geographic" in str(result.exception)
    assert snapshot(conn) == before


@pytest.mark.realdata
def test_bounds_of_vector_real_counties(conn):
    path = shared_data("boundaries", "bth_counties_2020_garybikini.gpkg")
    import geopandas as gpd

    frame = gpd.read_file(path, layer="county_wgs84_from_gcj02").to_crs(32650)
    xmin, ymin, xmax, ymax = frame.total_bounds
    bounds = studyarea.bounds_of_vector(path, "county_wgs84_from_gcj02", CRS.from_epsg(32650))
    assert bounds == pytest.approx((xmin, ymin, xmax, ymax))
    with conn.transaction():
        area = studyarea.create(conn, "bth", 32650, 1000.0, bounds)
    g = area.grid
    assert g.origin_x == math.floor(xmin / 1000) * 1000 and g.origin_y == math.ceil(ymax / 1000) * 1000
    assert g.origin_x + g.width * 1000 >= xmax > g.origin_x + (g.width - 1) * 1000
    assert g.origin_y - g.height * 1000 <= ymin < g.origin_y - (g.height - 1) * 1000


@pytest.mark.realdata
def test_bounds_of_vector_without_crs_is_an_input_error():
    path = shared_data("boundaries", "bth_counties_2020_garybikini.gpkg")
    with pytest.raises(studyarea.InputError, match="CRS"):
        studyarea.bounds_of_vector(path, "county_gcj02", CRS.from_epsg(32650))


def test_cli_custom_crs_reuses_registered_srid(cli_env, conn):
    with conn.transaction():
        first = studyarea.create(conn, "lib_albers", ALBERS, 1000.0, (0, 4000000, 10000, 4010000))
    n = conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0]
    result = CliRunner().invoke(app, ["study-area", "create", "cli_albers", "--crs", ALBERS, "--pixel-size", "500",
                                      "--bbox", "0,4000000,10000,4010000"])
    assert result.exit_code == 0, result.output
    assert area_row(conn, "cli_albers")["srid"] == first.grid.srid
    assert conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0] == n


@pytest.mark.realdata
def test_cli_create_from_boundaries_with_margin(cli_env, conn):
    path = shared_data("boundaries", "bth_counties_tianditu_2025.geojson")
    import geopandas as gpd

    xmin, ymin, xmax, ymax = gpd.read_file(path).to_crs(32650).total_bounds
    result = CliRunner().invoke(app, ["study-area", "create", "bth", "--crs", "EPSG:32650", "--pixel-size", "1000",
                                      "--from-boundaries", str(path), "--margin", "2000"])
    assert result.exit_code == 0, result.output
    row = area_row(conn, "bth")
    assert row["origin_x"] == math.floor((xmin - 2000) / 1000) * 1000
    assert row["origin_y"] == math.ceil((ymax + 2000) / 1000) * 1000
    assert row["origin_x"] + row["width"] * 1000 >= xmax + 2000
    assert row["origin_y"] - row["height"] * 1000 <= ymin - 2000


def test_grid_sql_functions(conn):
    with conn.transaction():
        area = studyarea.create(conn, "g", 32650, 100.0, (400000, 4486100, 420300, 4500000), tile_size=64)
    assert (area.grid.width, area.grid.height) == (203, 139)
    assert conn.execute("SELECT core.study_area_id('g')").fetchone() == (area.study_area_id,)
    with pytest.raises(Exception, match='unknown study area "nope"'):
        conn.execute("SELECT core.study_area_id('nope')")
    conn.rollback()
    # tile 11 = row 2, column 3: the cut corner tile (203 - 192 = 11 wide, 139 - 128 = 11 high)
    for tile_id, (w, h, ulx, uly) in {
        0: (64, 64, 400000.0, 4500000.0),
        3: (11, 64, 400000.0 + 192 * 100, 4500000.0),
        8: (64, 11, 400000.0, 4500000.0 - 128 * 100),
        11: (11, 11, 400000.0 + 192 * 100, 4500000.0 - 128 * 100),
    }.items():
        row = conn.execute(
            """SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r), ST_ScaleX(r), ST_ScaleY(r),
                      ST_SRID(r), ST_BandPixelType(r), ST_BandNoDataValue(r), ST_Count(r)
               FROM (SELECT core.tile_raster(%s, %s, '16BSI', -32768) AS r) s""",
            (area.study_area_id, tile_id)).fetchone()
        assert row == (w, h, ulx, uly, 100.0, -100.0, 32650, "16BSI", -32768.0, 0), tile_id
        (env,) = conn.execute("SELECT ST_AsText(core.tile_envelope(%s, %s))", (area.study_area_id, tile_id)).fetchone()
        x0, y1, x1, y0 = int(ulx), int(uly), int(ulx + w * 100), int(uly - h * 100)
        assert env == f"POLYGON(({x0} {y0},{x0} {y1},{x1} {y1},{x1} {y0},{x0} {y0}))"
