"""County statistics: the 2020 census table of BTH, and rejected tables."""

from __future__ import annotations

import csv

import geopandas as gpd
import pytest
from pyproj import CRS

from conftest import shared_data
from helpers import create_area, expect_input_error
from restore_db import studyarea
from restore_db.load.boundaries import load_boundaries
from restore_db.load.stats import load_stats

CENSUS = ("stats", "bth_census2020_county.csv")
KEY, POP = "区划代码", "人口数_合计"


@pytest.fixture
def area(conn):
    return create_area(conn, "s", 32650, 400000.0, 4500000.0, 1000.0, 10, 10)


def census_population(path) -> dict[str, int]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r[KEY]: int(r[POP]) for r in csv.DictReader(fh) if r[POP] != ""}


def stats(conn, variable="population"):
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT code, year, value, unit, source FROM src.county_stat WHERE variable = %s", (variable,)).fetchall()}


@pytest.mark.realdata
def test_census_population(conn, area):
    path = shared_data(*CENSUS)
    with conn.transaction():
        info = load_stats(conn, area, path, year=2020, code_column=KEY, columns={POP: "population"})
    expected = census_population(path)
    assert len(expected) == 238  # province + city + county rows (PROVENANCE.md)
    assert info.rows == len(expected) and info.variables == ["population"] and info.years == [2020]
    assert info.unmatched_codes == []  # no boundaries loaded: nothing to match against
    got = stats(conn)
    assert {c: v[1] for c, v in got.items()} == {c: float(v) for c, v in expected.items()}
    assert all(v[0] == 2020 and v[2] == "persons" and v[3] == path.name for v in got.values())
    counties = [c for c in got if not c.endswith("00")]
    assert len(counties) == 222
    assert got["110000"][1] == 21_893_095 and got["120000"][1] == 13_866_009 and got["130000"][1] == 74_610_235
    # Beijing's districts add up to the Beijing total
    assert sum(v[1] for c, v in got.items() if c.startswith("11") and not c.endswith("00")) == 21_893_095


@pytest.mark.realdata
def test_unmatched_codes_reported_with_counties(conn):
    bpath = shared_data("boundaries", "bth_counties_tianditu_2025.geojson")
    path = shared_data(*CENSUS)
    bounds = studyarea.bounds_of_vector(bpath, None, CRS.from_epsg(32650))
    with conn.transaction():
        area = studyarea.create(conn, "bth", 32650, 5000.0, bounds)
        load_boundaries(conn, area, bpath, "county")
    with conn.transaction():
        info = load_stats(conn, area, path, year=2020, code_column=KEY, columns={POP: "population"})
    counties = {str(c) for c in gpd.read_file(bpath)["district_adcode"]}
    census = set(census_population(path))
    assert counties <= census  # all 199 Tianditu codes are in the census (PROVENANCE.md)
    assert info.unmatched_codes == sorted(census - counties)
    assert len(info.unmatched_codes) == 238 - 199
    assert "130171" in info.unmatched_codes and "110000" in info.unmatched_codes  # functional zone, province row


@pytest.mark.realdata
def test_census_all_columns_rejected_as_unknown_variables(conn, area):
    path = shared_data(*CENSUS)
    expect_input_error(conn, load_stats, conn, area, path, year=2020, code_column=KEY,
                       match=[str(path), "unknown variable", POP])


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_year_column_and_replace(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,year,name,population,gdp\n"
                                         "110101,2019,A,700000,1.5e7\n110101,2020,A,708829,\n110102,2020,B,1106214,2e7\n")
    with conn.transaction():
        info = load_stats(conn, area, path, source="yearbook")
    assert info.rows == 5 and info.variables == ["gdp", "population"] and info.years == [2019, 2020]
    rows = conn.execute("SELECT code, year, variable, value, unit, source FROM src.county_stat ORDER BY 1, 2, 3").fetchall()
    assert rows == [("110101", 2019, "gdp", 1.5e7, "1e4 CNY", "yearbook"),
                    ("110101", 2019, "population", 700000.0, "persons", "yearbook"),
                    ("110101", 2020, "population", 708829.0, "persons", "yearbook"),
                    ("110102", 2020, "gdp", 2e7, "1e4 CNY", "yearbook"),
                    ("110102", 2020, "population", 1106214.0, "persons", "yearbook")]
    expect_input_error(conn, load_stats, conn, area, path, match=["'s'", "already has statistics", "--replace"])
    write_csv(path, "code,year,population\n110101,2020,1\n")
    with conn.transaction():
        load_stats(conn, area, path, replace=True)
    assert conn.execute("SELECT value FROM src.county_stat WHERE code = '110101' AND year = 2020 "
                        "AND variable = 'population'").fetchone() == (1.0,)


def test_codes_keep_leading_zeros_and_drop_float_suffix(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population\n0101,5\n110101.0,6\n")
    with conn.transaction():
        load_stats(conn, area, path, year=2020)
    assert {c: v[1] for c, v in stats(conn).items()} == {"0101": 5.0, "110101": 6.0}


def test_unknown_variable(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population,happiness\n110101,5,9\n")
    expect_input_error(conn, load_stats, conn, area, path, year=2020, match=[str(path), "unknown variable", "happiness"])
    expect_input_error(conn, load_stats, conn, area, path, year=2020, columns={"population": "populace"},
                       match=[str(path), "populace"])
    expect_input_error(conn, load_stats, conn, area, path, year=2020, columns={"pop": "population"},
                       match=[str(path), "column(s) pop not found"])


def test_duplicate_code_year(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,year,population\n110101,2020,5\n110102,2020,6\n110101,2020,7\n")
    expect_input_error(conn, load_stats, conn, area, path, match=[str(path), "duplicate", "110101/2020"])


def test_non_numeric_values(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", 'code,population\n110101,5\n110102,"1,234"\n110105,about 7\n')
    expect_input_error(conn, load_stats, conn, area, path, year=2020,
                       match=[str(path), "non-numeric", "'population'", "110102: '1,234'", "110105: 'about 7'"])


def test_missing_year(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population\n110101,5\n")
    expect_input_error(conn, load_stats, conn, area, path, match=[str(path), "'year'", "--year"])
    bad = write_csv(tmp_path / "b.csv", "code,year,population\n110101,2020,5\n110102,,6\n")
    expect_input_error(conn, load_stats, conn, area, bad, match=[str(bad), "valid year"])


def test_missing_code(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population\n110101,5\n,6\n")
    expect_input_error(conn, load_stats, conn, area, path, year=2020, match=[str(path), "without a code"])
    expect_input_error(conn, load_stats, conn, area, path, year=2020, code_column="adcode",
                       match=[str(path), "no code column 'adcode'"])


def test_cli_column_mapping(cli_env, conn, area, tmp_path):
    from typer.testing import CliRunner

    from restore_db.cli import app

    path = write_csv(tmp_path / "s.csv", "区划代码,人口数_合计,other\n110101,708829,x\n110102,1106214,y\n")
    result = CliRunner().invoke(app, ["load", "stats", str(path), "--code-column", "区划代码", "--year", "2020",
                                      "--column", "人口数_合计=population"])
    assert result.exit_code == 0, result.output
    assert {c: v[:2] for c, v in stats(conn).items()} == {"110101": (2020, 708829.0), "110102": (2020, 1106214.0)}
    result = CliRunner().invoke(app, ["load", "stats", str(path), "--code-column", "区划代码", "--year", "2020",
                                      "--column", "人口数_合计"])
    assert result.exit_code != 0 and "CSV_COLUMN=variable" in str(result.exception)
