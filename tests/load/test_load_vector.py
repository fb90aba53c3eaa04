"""Polygon layers prepared for loading: codes (integers or text, never with a decimal part) and the CRS given
with --src-crs."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import MultiPolygon
import pytest
from pyproj import CRS
from shapely.geometry import box

from helpers import check_bad_input, create_area
from restore_db.errors import InputError
from restore_db.load.common import code_list, code_text
from restore_db.load.vector import prepare_polygons

SQUARES = [box(400000 + 2000 * i, 4491000, 401500 + 2000 * i, 4499000) for i in range(3)]


@pytest.mark.parametrize("value,code", [
    (110101, "110101"), (110101.0, "110101"), ("110101", "110101"), ("110101.0", "110101"), (" 110101.00 ", "110101"),
    ("0101", "0101"), ("A.1", "A.1"), ("", None), (None, None), (float("nan"), None),
])
def test_code_text(value, code):
    assert code_text(value) == code


@pytest.mark.parametrize("value", [110101.5, "110101.5", "110101.50", "-3.25"])
def test_code_with_a_decimal_part(value):
    with pytest.raises(ValueError):
        code_text(value)
    with pytest.raises(InputError, match="units.gpkg, field 'code': code"):
        code_list([1, value], "units.gpkg, field 'code'")


@pytest.mark.parametrize("codes", [[110101.0, 110101.5, 110102.0], ["110101", "110101.5", "110102"]])
def test_polygons_with_decimal_codes_refused(tmp_path, codes):
    frame = gpd.GeoDataFrame({"code": codes}, geometry=SQUARES, crs=32650)
    with pytest.raises(InputError) as info:
        prepare_polygons(frame, tmp_path / "units.gpkg", CRS.from_epsg(32650), None)
    assert "units.gpkg, field 'code'" in str(info.value) and "110101.5" in str(info.value)
    assert "decimal part" in str(info.value)


def test_polygons_with_decimal_parent_codes_refused(tmp_path):
    frame = gpd.GeoDataFrame({"code": [1, 2, 3], "parent": [10.0, 10.5, 11.0]}, geometry=SQUARES, crs=32650)
    with pytest.raises(InputError, match=r"field 'parent': code\(s\) 10.5 have a decimal part"):
        prepare_polygons(frame, tmp_path / "units.gpkg", CRS.from_epsg(32650), None, None, {"parent_code": "parent"})


def test_invalid_src_crs(tmp_path):
    frame = gpd.GeoDataFrame({"code": [1, 2, 3]}, geometry=SQUARES)
    with pytest.raises(InputError, match="--src-crs: cannot read CRS 'EPSG:bogus'"):
        prepare_polygons(frame, tmp_path / "units.gpkg", CRS.from_epsg(32650), None, src_crs="EPSG:bogus")


def test_cli_bad_boundaries_one_line_database_unchanged(cli_env, conn, tmp_path):
    create_area(conn, "v", 32650, 400000.0, 4500000.0, 1000.0, 10, 10)
    decimal = tmp_path / "decimal.gpkg"
    gpd.GeoDataFrame({"code": [110101.0, 110101.5, 110102.0]}, geometry=SQUARES, crs=32650).to_file(decimal)
    check_bad_input(conn, cli_env, "load", "boundaries", decimal, "--level", "county",
                    match=["decimal.gpkg, field 'code'", "110101.5", "decimal part"])
    no_crs = tmp_path / "no_crs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame({"code": [1, 2, 3]}, geometry=SQUARES).to_file(no_crs)
    assert not no_crs.with_suffix(".prj").exists()
    check_bad_input(conn, cli_env, "load", "boundaries", no_crs, "--level", "county", "--src-crs", "EPSG:bogus",
                    match=["--src-crs: cannot read CRS 'EPSG:bogus'"])


def test_src_crs_wins_and_a_local_crs_is_refused(tmp_path):
    """--src-crs overrides the CRS the file declares (as for rasters); a local (engineering) CRS cannot be placed
    on the earth: one line naming the file and --src-crs, not an internal error."""
    from pyproj import CRS as Crs

    frame = gpd.GeoDataFrame({"code": [1, 2, 3]}, geometry=SQUARES, crs=32650)
    # declared UTM 50N, but the coordinates are UTM 51N: --src-crs says so, and it is used
    polys = prepare_polygons(frame, tmp_path / "units.gpkg", CRS.from_epsg(32651), None, src_crs="EPSG:32651")
    assert polys.frame.geometry.values[0].equals_exact(MultiPolygon([SQUARES[0]]), 1e-6)   # not moved
    local = Crs.from_wkt('LOCAL_CS["Site grid",LOCAL_DATUM["site",32767],UNIT["metre",1],AXIS["X",EAST],'
                         'AXIS["Y",NORTH]]')
    with pytest.raises(InputError, match=r"local \(engineering\) CRS 'Site grid'.*--src-crs"):
        prepare_polygons(frame.set_crs(local, allow_override=True), tmp_path / "site.gpkg", CRS.from_epsg(32650),
                         None)
