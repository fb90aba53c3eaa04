"""The README's walkthroughs on the real data of ../shared/data, command by command through the CLI:
Beijing-Tianjin-Hebei with the 200 June-2020 counties and the 2020 census, and Hunan with its 122
2025 counties. Every county of the boundaries must be in every county result and in bi.county,
zoned or unclassified with its reason."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import shared_data
from restore_db.cli import app

pytestmark = pytest.mark.realdata

# the crosswalk and scalar files the README writes with a heredoc
BTH_CROSSWALK = """old_code,new_code,share,note
130505,130526,1,任泽区 is the former 任县 (2020)
130506,130527,1,南和区 is the former 南和县 (2020)
"""
HUNAN_CROSSWALK = """old_code,new_code,share,note
431121,431181,1,祁阳县 became 祁阳市 (2021)
"""
HUNAN_SCALARS = """name,value,unit,source
pawc_const,0.15,1,placeholder: the value of the BTH InVEST reference inputs
soil_depth_const,800,mm,placeholder: the BTH reference rule for 200-1000 m elevation
k_const,0.03,t*ha*h/(ha*MJ*mm),placeholder: the value of the BTH InVEST reference inputs
"""


def _run(env, *args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, f"{' '.join(map(str, args))}\n{result.output}\n{result.exception!r}"
    return result.output


def _every_county_everywhere(conn, area: str) -> dict:
    """Counties of the boundaries, and per result of the current analysis the counties it holds."""
    (area_id,) = conn.execute("SELECT study_area_id FROM core.study_area WHERE name = %s", (area,)).fetchone()
    units = {r[0] for r in conn.execute("SELECT unit_id FROM core.admin_unit WHERE study_area_id = %s "
                                        "AND level = 'county'", (area_id,)).fetchall()}
    zoning, ratios, resilience, services = conn.execute(
        "SELECT run_id, ratios_run_id, resilience_run_id, services_run_id FROM bi.current_run "
        "WHERE study_area = %s", (area,)).fetchone()
    for table, run_id in [("result.county_service", services), ("result.county_ratio", ratios),
                          ("result.county_indicator", resilience), ("result.county_resilience", resilience),
                          ("result.county_zone", zoning), ("bi.county", zoning)]:
        got = {r[0] for r in conn.execute(f"SELECT DISTINCT unit_id FROM {table} WHERE run_id = %s", (run_id,))}
        assert got == units, table
    assert {r[0] for r in conn.execute("SELECT unit_id FROM bi.county_current WHERE study_area = %s",
                                       (area,))} == units
    zones = dict(conn.execute("SELECT u.code, cz.zone_code FROM result.county_zone cz JOIN core.admin_unit u "
                              "USING (unit_id) WHERE cz.run_id = %s", (zoning,)).fetchall())
    reasons = dict(conn.execute("SELECT u.code, cz.missing_reason FROM result.county_zone cz JOIN core.admin_unit u "
                                "USING (unit_id) WHERE cz.run_id = %s AND cz.missing_reason IS NOT NULL",
                                (zoning,)).fetchall())
    counted = conn.execute("SELECT sum(counties), sum(area_share) FROM result.zone WHERE run_id = %s",
                           (zoning,)).fetchone()
    assert counted[0] == len(units) and counted[1] == pytest.approx(100.0)
    return {"units": len(units), "zones": zones, "reasons": reasons}


def test_bth_2020_counties_with_the_2020_census(cli_env, conn, tmp_path):
    d = shared_data()
    cw = tmp_path / "bth_cw.csv"
    cw.write_text(BTH_CROSSWALK, encoding="utf-8")
    for model in ("annual_water_yield", "carbon", "sdr"):
        _run(cli_env, "load", "invest", d / "invest" / "bth_1km_reference" / f"{model}_datastack.json", "-a", "bth")
    _run(cli_env, "load", "boundaries", d / "boundaries" / "bth_counties_2020_garybikini.gpkg",
         "--layer", "county_wgs84_from_gcj02", "--level", "county", "--code-field", "adcode", "--name-field", "name",
         "--parent-field", "ctadcode", "--province-field", "pradcode", "-a", "bth")
    loaded = _run(cli_env, "load", "stats", d / "stats" / "bth_census2020_county.csv", "--code-column", "区划代码",
                  "--year", "2020", "--column", "人口数_合计=population", "--crosswalk", cw, "-a", "bth")
    assert "130521 邢台县" in loaded            # listed: the one boundary left without a statistic
    _run(cli_env, "load", "params", "igbp_lulc", "-a", "bth")
    out = _run(cli_env, "compute", "all", "-a", "bth", "--params", "awy_biophysical", "--params", "carbon_pools",
               "--params", "igbp_lulc")
    assert "parameter sets:" in out and "130521" in out
    got = _every_county_everywhere(conn, "bth")
    assert got["units"] == 200
    # 199 counties zoned; 邢台县 (split in 2020 between 襄都区 and 信都区) has no population: unclassified, and why
    assert sum(z != "unclassified" for z in got["zones"].values()) == 199
    assert list(got["reasons"]) == ["130521"]
    assert "no county statistic for population" in got["reasons"]["130521"]


def test_hunan_2025_counties(cli_env, conn, tmp_path):
    d = shared_data()
    boundaries = d / "boundaries" / "hunan_counties_tianditu_2025.geojson"
    cw, scalars = tmp_path / "hunan_cw.csv", tmp_path / "hunan_scalars.csv"
    cw.write_text(HUNAN_CROSSWALK, encoding="utf-8")
    scalars.write_text(HUNAN_SCALARS, encoding="utf-8")
    _run(cli_env, "study-area", "create", "hunan", "--srid", "32649", "--pixel-size", "1000",
         "--from-boundaries", boundaries)
    _run(cli_env, "load", "boundaries", boundaries, "--level", "county", "-a", "hunan")
    for layer, name, kind, unit in [("dem", "hunan_dem_30arcsec_meteva.tif", "continuous", "m"),
                                    ("lulc", "hunan_modis_mcd12c1_igbp_2019_0p05deg.tif", "categorical", "class"),
                                    ("precipitation", "hunan_worldclim14_bio12_10arcmin.tif", "continuous", "mm/yr"),
                                    ("eto", "hunan_et0_hargreaves_from_worldclim14_10arcmin.tif", "continuous",
                                     "mm/yr")]:
        _run(cli_env, "load", "raster", layer, d / "rasters" / name, "--kind", kind, "--unit", unit, "-a", "hunan")
    loaded = _run(cli_env, "load", "stats", d / "stats" / "hunan_census2020_county.csv", "--code-column", "区划代码",
                  "--year", "2020", "--column", "人口数_合计=population", "--crosswalk", cw, "-a", "hunan")
    assert "county boundaries without statistics: 0" in loaded
    _run(cli_env, "load", "params", "igbp_lulc", "-a", "hunan")
    _run(cli_env, "load", "params", scalars, "-a", "hunan")
    _run(cli_env, "compute", "all", "-a", "hunan")
    got = _every_county_everywhere(conn, "hunan")
    assert got["units"] == 122
    assert got["reasons"] == {} and "unclassified" not in got["zones"].values()
    # the water supply used the scalars standing in for the soil layers, and says so
    (record,) = conn.execute("SELECT r.params->'water' FROM core.run r JOIN bi.current_run c "
                             "ON c.services_run_id = r.run_id").fetchone()
    assert record["pawc"].startswith("scalar pawc_const = 0.15 everywhere")
    assert record["soil_depth"].startswith("scalar soil_depth_const = 800 everywhere")
