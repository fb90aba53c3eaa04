"""County statistics: the 2020 census tables of BTH and Hunan, code crosswalks, and rejected tables."""

from __future__ import annotations

import csv
import math

import geopandas as gpd
import pytest
from pyproj import CRS

from conftest import shared_data
from helpers import create_area, expect_input_error
from restore_db.grid import studyarea
from restore_db.load.boundaries import load_boundaries
from restore_db.errors import InputError
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
    # no boundaries loaded: nothing to match against
    assert not info.has_boundaries and info.boundaries_without_stats == [] and info.stats_without_boundary == []
    got = stats(conn)
    assert {c: v[1] for c, v in got.items()} == {c: float(v) for c, v in expected.items()}
    assert all(v[0] == 2020 and v[2] == "persons" and v[3] == path.name for v in got.values())
    counties = [c for c in got if not c.endswith("00")]
    assert len(counties) == 222
    assert got["110000"][1] == 21_893_095 and got["120000"][1] == 13_866_009 and got["130000"][1] == 74_610_235
    # Beijing's districts add up to the Beijing total
    assert sum(v[1] for c, v in got.items() if c.startswith("11") and not c.endswith("00")) == 21_893_095


@pytest.mark.realdata
def test_unmatched_codes_listed_with_counties(conn):
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
    assert info.has_boundaries and info.boundaries_without_stats == []
    assert info.stats_without_boundary == sorted(census - counties)
    assert len(info.stats_without_boundary) == 238 - 199
    assert "130171" in info.stats_without_boundary and "110000" in info.stats_without_boundary  # zone, province row
    assert info.names["130171"] == "石家庄高新技术产业开发区"  # from the census column 区县


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


# --- values: missing markers, non-finite, negative; codes and years --------------------------------------------------


def test_missing_markers_are_counted_per_column(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population,gdp\n"
                                         "110101,5,\n110102,NA,1\n110105,n/a,2\n110106,NULL,3\n110107,-,4\n"
                                         "110108,nan,5\n110109,  ,6\n110110,7,N/A\n")
    with conn.transaction():
        info = load_stats(conn, area, path, year=2020)
    assert info.missing == {"population": ["110102", "110105", "110106", "110107", "110108", "110109"],
                            "gdp": ["110101", "110110"]}
    assert {c: v[1] for c, v in stats(conn).items()} == {"110101": 5.0, "110110": 7.0}
    assert len(stats(conn, "gdp")) == 6 and info.rows == 8


@pytest.mark.parametrize("cell,match", [
    ("1e400", ["not finite", "110102: '1e400'"]),
    ("inf", ["not finite", "110102: 'inf'"]),
    ("-Infinity", ["not finite", "110102: '-Infinity'"]),
    ("-5", ["negative", "110102: -5", "counts or amounts"]),
    ("1_000", ["non-numeric", "110102: '1_000'", "NULL"]),
])
def test_values_must_be_finite_and_not_negative(conn, area, tmp_path, cell, match):
    path = write_csv(tmp_path / "s.csv", f"code,population\n110101,5\n110102,{cell}\n")
    expect_input_error(conn, load_stats, conn, area, path, year=2020, match=[str(path), "'population'", *match])


def test_codes_and_years_with_a_decimal_part(conn, area, tmp_path):
    path = write_csv(tmp_path / "s.csv", "code,population\n110101,5\n110101.5,6\n110102.00,7\n")
    expect_input_error(conn, load_stats, conn, area, path, year=2020,
                       match=[str(path), "column 'code'", "110101.5", "decimal part"])
    years = write_csv(tmp_path / "y.csv", "code,year,population\n110101,2020.5,5\n")
    expect_input_error(conn, load_stats, conn, area, years, match=[str(years), "'year'", "valid year"])
    cw = write_csv(tmp_path / "cw.csv", "old_code,new_code\n110101,110101.5\n")
    ok = write_csv(tmp_path / "ok.csv", "code,population\n110101,5\n")
    expect_input_error(conn, load_stats, conn, area, ok, year=2020, crosswalk=cw,
                       match=[str(cw), "'new_code'", "110101.5", "decimal part"])


def test_replace_merge_and_identical_reload(conn, area, tmp_path):
    first = write_csv(tmp_path / "all.csv", "code,population\n110101,1\n110102,2\n110105,5\n")
    with conn.transaction():
        load_stats(conn, area, first, year=2020)
    values = lambda: {c: v[1] for c, v in stats(conn).items()}  # noqa: E731
    # the same file again: nothing written, with or without an option
    for options in ({}, {"replace": True}, {"merge": True}):
        before = conn.execute("SELECT code, loaded_at FROM src.county_stat ORDER BY 1").fetchall()
        with conn.transaction():
            assert load_stats(conn, area, first, year=2020, **options).unchanged
        assert conn.execute("SELECT code, loaded_at FROM src.county_stat ORDER BY 1").fetchall() == before
    # other values of the same variable and year: --replace or --merge
    part = write_csv(tmp_path / "part.csv", "code,population\n110102,20\n110106,6\n")
    expect_input_error(conn, load_stats, conn, area, part, year=2020,
                       match=["'s'", "already has statistics 'population'", "3 values of population for 2020",
                              "--replace", "--merge"])
    expect_input_error(conn, load_stats, conn, area, part, year=2020, replace=True, merge=True,
                       match=["--replace and --merge exclude each other"])
    with conn.transaction():
        info = load_stats(conn, area, part, year=2020, merge=True)
    assert not info.unchanged and values() == {"110101": 1.0, "110102": 20.0, "110105": 5.0, "110106": 6.0}
    with conn.transaction():  # the codes of the file hold these values now: merging it again is a no-op
        assert load_stats(conn, area, part, year=2020, merge=True).unchanged
    with conn.transaction():
        load_stats(conn, area, part, year=2020, replace=True)
    assert values() == {"110102": 20.0, "110106": 6.0}
    # another year is other variables and years: no option needed, the 2020 values stay
    with conn.transaction():
        load_stats(conn, area, first, year=2019)
    assert conn.execute("SELECT count(*) FROM src.county_stat WHERE year = 2020").fetchone() == (2,)


def test_cli_bad_statistics_one_line_database_unchanged(cli_env, conn, area, tmp_path):
    from helpers import check_bad_input, run_cli

    ok = write_csv(tmp_path / "ok.csv", "code,population\n110101,5\n110102,6\n")
    with conn.transaction():
        load_stats(conn, area, ok, year=2020)
    cases = [
        ("inf.csv", "code,population\n110101,1e400\n", ["inf.csv", "'population'", "not finite", "1e400"]),
        ("neg.csv", "code,population\n110101,-3\n", ["neg.csv", "negative", "110101: -3"]),
        ("dec.csv", "code,population\n110101.5,3\n", ["dec.csv", "110101.5", "decimal part"]),
        ("text.csv", "code,population\n110101,lots\n", ["text.csv", "non-numeric", "'lots'"]),
        ("other.csv", "code,population\n110101,7\n", ["already has statistics", "--replace", "--merge"]),
    ]
    for name, text, match in cases:
        check_bad_input(conn, cli_env, "load", "stats", write_csv(tmp_path / name, text), "--year", "2020",
                        match=match)
    check_bad_input(conn, cli_env, "load", "stats", ok, "--year", "2020", "--replace", "--merge",
                    match=["--replace and --merge"])
    missing = write_csv(tmp_path / "gaps.csv", "code,name,population\n110101,A,5\n110102,B,NA\n110105,C,-\n")
    proc = run_cli(cli_env, "load", "stats", missing, "--year", "2019")
    assert proc.returncode == 0, proc.stderr
    assert "column population: missing values: 2\n  110102 B, 110105 C\n" in proc.stderr
    proc = run_cli(cli_env, "load", "stats", missing, "--year", "2019")
    assert proc.returncode == 0 and "unchanged (already stored); nothing written" in proc.stderr, proc.stderr
    part = write_csv(tmp_path / "part.csv", "code,population\n110102,60\n")
    proc = run_cli(cli_env, "load", "stats", part, "--year", "2020", "--merge")
    assert proc.returncode == 0 and "1 values of population for 2020 merged" in proc.stderr, proc.stderr
    assert dict(conn.execute("SELECT code, value FROM src.county_stat WHERE year = 2020").fetchall()) == {
        "110101": 5.0, "110102": 60.0}


# --- crosswalk: old statistics codes -> boundary codes -------------------------------------------------------------

HAND_STATS = ("code,name,population,gdp\n"
              "110199,Old one,100,10\n"        # renamed to 110101
              "110102,Two,100,20\n"            # merged with 110171 into 110102: 100 + 50 = 150
              "110171,Zone A,50,5\n"
              "110120,Split,1000,300\n"        # split 0.6 / 0.4: 600 -> 110105, 400 -> 110106
              "110172,Zone dropped,7,1\n"      # dropped
              "110173,Zone kept,9,2\n")        # not in the crosswalk, no boundary
HAND_CW = ("old_code,new_code,share,note\n"
           "110199,110101,,rename\n"
           "110102,110102,,merge: the county itself\n"
           "110171,110102,,merge: its functional zone\n"
           "110120,110105,0.6,split\n"
           "110120,110106,0.4,split\n"
           "110172,,,drop\n"
           "999999,110101,,not in the file: ignored\n")
HAND_UNITS = {"110101": "One", "110102": "Two", "110105": "Five", "110106": "Six", "110108": "Eight"}


@pytest.fixture
def hand(conn, area, tmp_path):
    """Five square counties in the 10 km test area, a statistics file and a crosswalk (written as Excel does, BOM)."""
    from shapely.geometry import box

    frame = gpd.GeoDataFrame({"code": list(HAND_UNITS), "name": list(HAND_UNITS.values())},
                             geometry=[box(400000 + 2000 * i, 4491000, 401500 + 2000 * i, 4499000)
                                       for i in range(len(HAND_UNITS))], crs=32650)
    frame.to_file(tmp_path / "units.gpkg")
    with conn.transaction():
        load_boundaries(conn, area, tmp_path / "units.gpkg", "county")
    (tmp_path / "cw.csv").write_text(HAND_CW, encoding="utf-8-sig")
    return write_csv(tmp_path / "s.csv", HAND_STATS), tmp_path / "cw.csv"


def test_crosswalk_rename_merge_split_drop(conn, area, hand):
    path, cw = hand
    with conn.transaction():
        info = load_stats(conn, area, path, year=2020, crosswalk=cw)
    got = {(c, var): (v, src) for c, var, v, src in conn.execute(
        "SELECT code, variable, value, source FROM src.county_stat WHERE year = 2020").fetchall()}
    via = "s.csv via crosswalk cw.csv: "
    assert got == {
        ("110101", "population"): (100.0, via + "110199"), ("110101", "gdp"): (10.0, via + "110199"),
        ("110102", "population"): (150.0, via + "110102 + 110171"), ("110102", "gdp"): (25.0, via + "110102 + 110171"),
        ("110105", "population"): (600.0, via + "0.6 of 110120"), ("110105", "gdp"): (180.0, via + "0.6 of 110120"),
        ("110106", "population"): (400.0, via + "0.4 of 110120"), ("110106", "gdp"): (120.0, via + "0.4 of 110120"),
        ("110173", "population"): (9.0, "s.csv"), ("110173", "gdp"): (2.0, "s.csv"),
    }
    assert info.rows == 10
    assert info.mapped_codes == ["110102", "110120", "110171", "110199"] and info.dropped_codes == ["110172"]
    assert info.has_boundaries
    assert info.boundaries_without_stats == ["110108"]
    assert info.stats_without_boundary == ["110173"]
    assert info.names["110108"] == "Eight" and info.names["110173"] == "Zone kept"
    assert info.names["110172"] == "Zone dropped"

    # the same file without the crosswalk, --replace: the crosswalked rows do not linger
    with conn.transaction():
        info = load_stats(conn, area, path, year=2020, replace=True)
    assert sorted(stats(conn)) == ["110102", "110120", "110171", "110172", "110173", "110199"]
    assert stats(conn)["110102"][1:] == (100.0, "persons", "s.csv")
    assert info.boundaries_without_stats == ["110101", "110105", "110106", "110108"]
    assert info.stats_without_boundary == ["110120", "110171", "110172", "110173", "110199"]
    assert info.mapped_codes == [] and info.dropped_codes == []


def test_crosswalk_partial_drop_and_other_years(conn, area, hand, tmp_path):
    path = write_csv(tmp_path / "y.csv", "code,year,population\n110120,2019,1000\n110120,2020,2000\n"
                                         "110105,2019,5\n")
    cw = write_csv(tmp_path / "part.csv", "old_code,new_code,share\n110120,110105,0.25\n110120,,0.75\n")
    # 110105 has its own row in 2019 only: 2019 would add 0.25 x 1000 to it -> ambiguous
    expect_input_error(conn, load_stats, conn, area, path, crosswalk=cw,
                       match=[str(cw), str(path), "110120 to 110105", "own row 110105 (2019)", "110105,110105"])
    path = write_csv(tmp_path / "y.csv", "code,year,population\n110120,2019,1000\n110120,2020,2000\n"
                                         "110105,2018,5\n")
    with conn.transaction():
        info = load_stats(conn, area, path, crosswalk=cw)
    rows = conn.execute("SELECT code, year, value FROM src.county_stat ORDER BY 2").fetchall()
    assert rows == [("110105", 2018, 5.0), ("110105", 2019, 250.0), ("110105", 2020, 500.0)]
    assert info.dropped_codes == ["110120"] and info.mapped_codes == ["110120"]


CROSSWALK_ERRORS = {
    "shares": ("old_code,new_code,share\n110120,110105,0.6\n110120,110106,0.3\n", ["110120", "sum to 0.9, not 1"]),
    "share_zero": ("old_code,new_code,share\n110199,110101,0\n", ["110199 -> 110101", "share 0 is not in (0, 1]"]),
    "share_big": ("old_code,new_code,share\n110199,110101,1.5\n", ["110199", "share 1.5 is not in (0, 1]"]),
    "share_text": ("old_code,new_code,share\n110199,110101,half\n", ["110199", "'half' is not a number"]),
    "duplicate": ("old_code,new_code,share\n110120,110105,0.5\n110120,110105,0.5\n",
                  ["duplicate row 110120 -> 110105"]),
    "no_old": ("old_code,new_code\n110199,110101\n,110102\n", ["line 3 has no old_code"]),
    "columns": ("old,new\n110199,110101\n", ["no column(s) old_code, new_code"]),
    "extra": ("old_code,new_code,shares\n110199,110101,1\n", ["unknown column(s) shares"]),
    "empty": ("old_code,new_code,share\n", ["no rows"]),
    # 110102 has a row of its own that the crosswalk leaves alone: merging 110171 into it must be explicit
    "ambiguous": ("old_code,new_code\n110171,110102\n", ["maps 110171 to 110102", "own row 110102 (2020)",
                                                         "add a row 110102,110102"]),
}


@pytest.mark.parametrize("case", sorted(CROSSWALK_ERRORS))
def test_crosswalk_errors_change_nothing(conn, area, hand, tmp_path, case):
    path, good = hand
    with conn.transaction():  # something to keep: an earlier load the failed --replace must not touch
        load_stats(conn, area, path, year=2020, crosswalk=good)
    before = sorted(conn.execute("SELECT code, variable, value, source FROM src.county_stat").fetchall())
    text, match = CROSSWALK_ERRORS[case]
    cw = write_csv(tmp_path / f"{case}.csv", text)
    expect_input_error(conn, load_stats, conn, area, path, year=2020, crosswalk=cw, replace=True,
                       match=[str(cw), *match])
    assert sorted(conn.execute("SELECT code, variable, value, source FROM src.county_stat").fetchall()) == before


def test_crosswalk_incomplete_merge(conn, area, hand, tmp_path):
    path, cw = hand
    path = write_csv(path, HAND_STATS.replace("110171,Zone A,50,5", "110171,Zone A,50,"))
    expect_input_error(conn, load_stats, conn, area, path, year=2020, crosswalk=cw,
                       match=[str(path), "column 'gdp' has no value for 110171 (2020)", "merges into 110102"])
    expect_input_error(conn, load_stats, conn, area, path, year=2020, crosswalk=tmp_path / "none.csv",
                       match=["crosswalk file", "none.csv", "does not exist"])


def cli(*args, env):
    from typer.testing import CliRunner

    from restore_db.cli import app

    return CliRunner().invoke(app, ["load", "stats", *map(str, args)], env=env)


def test_cli_crosswalk_and_lists(cli_env, conn, area, hand, tmp_path):
    from conftest import snapshot

    path, cw = hand
    result = cli(path, "--year", 2020, "--crosswalk", cw, env=cli_env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "10 values of gdp, population for 2020" in out
    assert "crosswalk cw.csv: 4 code(s) of the file mapped, 1 dropped" in out
    assert "dropped by the crosswalk: 1\n  110172 Zone dropped\n" in out
    assert "county boundaries without statistics: 1\n  110108 Eight\n" in out
    assert "statistics codes without boundary (after the crosswalk): 1\n  110173 Zone kept\n" in out
    assert stats(conn)["110102"][1] == 150.0

    bad = write_csv(tmp_path / "bad.csv", "old_code,new_code,share\n110120,110105,0.6\n110120,110106,0.3\n")
    before = snapshot(conn)
    result = cli(path, "--year", 2020, "--crosswalk", bad, "--replace", env=cli_env)
    assert result.exit_code == 1 and isinstance(result.exception, InputError), result.output
    assert str(bad) in str(result.exception) and "110120" in str(result.exception)
    assert snapshot(conn) == before

    # without the crosswalk: the lists are printed every time
    result = cli(path, "--year", 2020, "--replace", env=cli_env)
    assert result.exit_code == 0, result.output
    assert ("county boundaries without statistics: 4\n  110101 One, 110105 Five, 110106 Six, 110108 Eight\n"
            in result.output)
    assert ("statistics codes without boundary: 5\n  110120 Split, 110171 Zone A, 110172 Zone dropped, "
            "110173 Zone kept,") in result.output  # wrapped to the console's width (if any), between items
    assert ("statistics codes without boundary: 5 110120 Split, 110171 Zone A, 110172 Zone dropped, "
            "110173 Zone kept, 110199 Old one") in " ".join(result.output.split())

    # a study area without boundaries says so
    with conn.transaction():
        studyarea.create(conn, "empty", 32650, 1000.0, (400000, 4490000, 410000, 4500000))
    result = cli(path, "--year", 2020, "-a", "empty", env=cli_env)
    assert result.exit_code == 0, result.output
    assert "study area empty has no county boundaries yet" in result.output
    assert "without statistics" not in result.output


@pytest.mark.realdata
def test_hunan_census_onto_2025_counties_cli(cli_env, conn, tmp_path):
    """Hunan: the 2020 census has 431121 祁阳县 where the 2025 boundaries have 431181 祁阳市."""
    from rich.cells import cell_len

    counties = shared_data("boundaries", "hunan_counties_tianditu_2025.geojson")
    admin = shared_data("boundaries", "hunan_admin_tianditu_2025.gpkg")
    census = shared_data("stats", "hunan_census2020_county.csv")
    with conn.transaction():
        area = studyarea.create(conn, "hunan", 32649, 5000.0,
                                studyarea.bounds_of_vector(counties, None, CRS.from_epsg(32649)))
        assert load_boundaries(conn, area, counties, "county").count == 122
        load_boundaries(conn, area, admin, "city", layer="city", code_field="city_adcode", name_field="city_name")
        load_boundaries(conn, area, admin, "province", layer="province", code_field="province_adcode",
                        name_field="province_name")
    population = census_population(census)
    boundary = {str(c) for c in gpd.read_file(counties)["district_adcode"]}
    census_counties = {c for c in population if not c.endswith("00")}
    assert boundary - census_counties == {"431181"} and len(census_counties) == 124
    zones = sorted(census_counties - boundary - {"431121"})
    assert zones == ["430271", "431271"] and all(z[4] == "7" for z in zones)  # 云龙示范区, 洪江管理区

    args = (census, "--code-column", KEY, "--year", 2020, "--column", f"{POP}=population", "-a", "hunan")
    result = cli(*args, env=cli_env)
    assert result.exit_code == 0, result.output
    assert "county boundaries without statistics: 1\n  431181 祁阳市\n" in result.output
    assert ("statistics codes without boundary: 3\n"
            "  430271 云龙示范区, 431121 祁阳县, 431271 怀化市洪江管理区\n"
            in result.output)

    cw = write_csv(tmp_path / "hunan_cw.csv", "old_code,new_code,note\n431121,431181,祁阳县 -> 祁阳市 (2021)\n")
    result = cli(*args, "--crosswalk", cw, "--replace", env=cli_env)
    assert result.exit_code == 0, result.output
    assert "county boundaries without statistics: 0\n" in result.output
    assert ("statistics codes without boundary (after the crosswalk): 2\n"
            "  430271 云龙示范区, 431271 怀化市洪江管理区\n"
            in result.output)
    assert all(cell_len(line) <= 80 for line in result.output.splitlines()), result.output
    got = stats(conn)
    county_values = conn.execute(
        """SELECT u.code, s.value FROM core.admin_unit u LEFT JOIN src.county_stat s
               ON s.study_area_id = u.study_area_id AND s.code = u.code AND s.variable = 'population'
           WHERE u.level = 'county'""").fetchall()
    assert len(county_values) == 122 and all(v is not None and v > 0 for _, v in county_values)
    assert got["431181"][1:] == (791_939.0, "persons", "hunan_census2020_county.csv via crosswalk hunan_cw.csv: 431121")
    assert "431121" not in got
    assert {c: v[1] for c, v in got.items()} == {
        ("431181" if c == "431121" else c): float(v) for c, v in population.items()}


GARY = ("boundaries", "bth_counties_2020_garybikini.gpkg")
GARY_LAYER = "county_wgs84_from_gcj02"
# Albers equal-area for China (standard parallels 25N and 47N)
CHINA_ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"


def xingtai_shares(gary, tianditu) -> dict[str, float]:
    """Share of the 2025 襄都区 (130502) and 信都区 (130503) lying in the 2020 邢台县 (130521).

    Area of (2025 polygon ∩ 2020 130521) over the area of (2025 polygon ∩ 2020 {130502, 130503, 130521}),
    in an equal-area projection: an area-based estimate (people are not spread evenly).
    """
    old = gpd.read_file(gary, layer=GARY_LAYER).to_crs(CHINA_ALBERS)
    new = gpd.read_file(tianditu).to_crs(CHINA_ALBERS)
    before = {str(c): g for c, g in zip(old["adcode"], old.geometry) if str(c) in ("130502", "130503", "130521")}
    shares = {}
    for code in ("130502", "130503"):
        poly = new.geometry[new["district_adcode"].astype(str) == code].union_all()
        overlap = {c: poly.intersection(g).area for c, g in before.items()}
        shares[code] = overlap["130521"] / sum(overlap.values())
        print(f"2025 {code}: overlap with 2020 130502/130503/130521 = "
              f"{', '.join(f'{v / 1e6:.2f}' for v in overlap.values())} km2; share to 130521 = {shares[code]!r}")
    return shares


@pytest.mark.realdata
def test_bth_census_onto_2020_counties(conn, tmp_path):
    """The 200 June-2020 BTH counties with the (Nov 2020) census: Xingtai's 2020 reform needs a crosswalk."""
    gary = shared_data(*GARY)
    census = shared_data(*CENSUS)
    tianditu = shared_data("boundaries", "bth_counties_tianditu_2025.geojson")
    with conn.transaction():
        area = studyarea.create(conn, "bth2020", 32650, 5000.0,
                                studyarea.bounds_of_vector(gary, GARY_LAYER, CRS.from_epsg(32650)))
        assert load_boundaries(conn, area, gary, "county", layer=GARY_LAYER, code_field="adcode",
                               name_field="name").count == 200
    population = census_population(census)
    boundary = {str(c) for c in gpd.read_file(gary, layer=GARY_LAYER)["adcode"]}
    census_counties = {c for c in population if not c.endswith("00")}
    zones = sorted(census_counties - boundary - {"130505", "130506"})
    assert len(zones) == 23 and all(z[4] == "7" for z in zones)  # the functional zones (PROVENANCE.md 2a)
    upper = sorted(c for c in population if c.endswith("00"))  # province and city rows: no county polygon
    assert len(upper) == 16

    def load(crosswalk=None):
        with conn.transaction():
            return load_stats(conn, area, census, year=2020, code_column=KEY, columns={POP: "population"},
                              crosswalk=crosswalk, replace=True)

    info = load()
    assert info.boundaries_without_stats == ["130521", "130526", "130527"]
    assert [info.names[c] for c in info.boundaries_without_stats] == ["邢台县", "任县", "南和县"]
    assert info.stats_without_boundary == sorted(zones + upper + ["130505", "130506"])

    renames = ("old_code,new_code,share,note\n"
               "130505,130526,,任泽区 -> 任县\n130506,130527,,南和区 -> 南和县\n")
    info = load(write_csv(tmp_path / "renames.csv", renames))
    assert info.boundaries_without_stats == ["130521"]
    assert info.stats_without_boundary == sorted(zones + upper)
    got = stats(conn)
    assert got["130526"][1] == 342_869 and got["130527"][1] == 350_384

    shares = xingtai_shares(gary, tianditu)
    assert 0.5 < shares["130502"] < 1 and 0.5 < shares["130503"] < 1
    split = "".join(f"{code},{code},{1 - s!r},area-based\n{code},130521,{s!r},area-based\n"
                    for code, s in shares.items())
    info = load(write_csv(tmp_path / "xingtai.csv", renames + split))
    assert info.boundaries_without_stats == []
    assert info.stats_without_boundary == sorted(zones + upper)
    got = {c: v[1] for c, v in stats(conn).items()}
    assert boundary <= set(got) and len(boundary) == 200 and all(got[c] > 0 for c in boundary)
    assert got["130521"] == pytest.approx(426_224 * shares["130502"] + 798_770 * shares["130503"], rel=1e-12)
    assert got["130502"] == pytest.approx(426_224 * (1 - shares["130502"]), rel=1e-12)
    assert got["130503"] == pytest.approx(798_770 * (1 - shares["130503"]), rel=1e-12)
    # the population is conserved: the county-level rows still add up to each province's census total
    for province, total in (("11", 21_893_095), ("12", 13_866_009), ("13", 74_610_235)):
        assert population[f"{province}0000"] == total
        kept = [v for c, v in got.items() if c.startswith(province) and not c.endswith("00")]
        assert abs(math.fsum(kept) - total) < 1e-6
    print(f"130521 邢台县 estimated population: {got['130521']:.0f}; 130502: {got['130502']:.0f}; "
          f"130503: {got['130503']:.0f}")


def test_code_lists_wrap_by_display_width(monkeypatch):
    """Chinese names are two columns wide: lines break between items, never past the width, nothing cut."""
    import io

    from rich.cells import cell_len
    from rich.console import Console

    from restore_db.cli import load as load_cli

    buffer = io.StringIO()
    monkeypatch.setattr(load_cli, "err", Console(file=buffer, width=41))
    names = {f"1301{i:02d}": "石家庄高新技术产业开发区"[: 2 + i % 10] for i in range(30)}
    load_cli._print_codes("statistics codes without boundary", sorted(names), names)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "statistics codes without boundary: 30"
    assert len(lines) > 5 and all(cell_len(line) <= 40 for line in lines)
    items = " ".join(line.strip() for line in lines[1:]).split(", ")
    assert items == [f"{code} {name}" for code, name in sorted(names.items())]
