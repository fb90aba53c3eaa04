"""The README's walkthroughs on the real data of ../shared/data, command by command through the CLI:
Beijing-Tianjin-Hebei with the 200 June-2020 counties and the 2020 census, and Hunan with its 122
2025 counties. Every county of the boundaries must be in every county result and in bi.county,
zoned or unclassified with its reason."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from conftest import shared_data
from restore_db.cli import app

pytestmark = pytest.mark.realdata

from regions import BTH_CROSSWALK, hunan_commands  # noqa: E402  (the README's commands)


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
    settings = tmp_path / "bth.toml"
    settings.write_text('[pattern]\nresistance_nodata = "impassable"\n', encoding="utf-8")
    out = _run(cli_env, "compute", "all", "-a", "bth", "--params", "awy_biophysical", "--params", "carbon_pools",
               "--params", "igbp_lulc", "--config", settings)
    assert "parameter sets:" in out and "130521" in out
    got = _every_county_everywhere(conn, "bth")
    assert got["units"] == 200
    # 199 counties zoned; 邢台县 (split in 2020 between 襄都区 and 信都区) has no population: unclassified, and why
    assert sum(z != "unclassified" for z in got["zones"].values()) == 199
    assert list(got["reasons"]) == ["130521"]
    assert "no county statistic for population" in got["reasons"]["130521"]
    # the report lists every county, the unclassified one with its zone and reason
    report = tmp_path / "bth.html"
    _run(cli_env, "report", "-a", "bth", "--out", report)
    rows = re.findall(r"<tr>(.*?)</tr>", report.read_text(encoding="utf-8"), re.S)
    county_rows = {m.group(1): row for row in rows if (m := re.match(r'<td data-sort="(\d{6})">', row))}
    assert len(county_rows) == 200
    assert ">U<" in county_rows["130521"] and "no county statistic for population" in county_rows["130521"]
    assert "pattern left out" not in out
    assert len(re.findall(r'<figure id="', report.read_text(encoding="utf-8"))) == 15   # the pattern's maps too


def test_hunan_2025_counties(cli_env, conn, tmp_path):
    d = shared_data()
    for command in hunan_commands(d, tmp_path, 1000.0):
        loaded = _run(cli_env, *command)
        if command[:2] == ["load", "stats"]:
            assert "county boundaries without statistics: 0" in loaded
    out = _run(cli_env, "compute", "all", "-a", "hunan")
    got = _every_county_everywhere(conn, "hunan")
    assert got["units"] == 122
    assert got["reasons"] == {} and "unclassified" not in got["zones"].values()
    # the water supply used the scalars standing in for the soil layers, and says so
    (record,) = conn.execute("SELECT r.params->'water' FROM core.run r JOIN bi.current_run c "
                             "ON c.services_run_id = r.run_id").fetchone()
    assert record["pawc"].startswith("scalar pawc_const = 0.15 everywhere")
    assert record["soil_depth"].startswith("scalar soil_depth_const = 800 everywhere")
    # the pattern of Hunan and its collaboration: every county has its row, Changsha's partners outside the city
    assert "collaboration:" in out
    (pattern,) = conn.execute("SELECT pattern_run_id FROM bi.current_run WHERE study_area = 'hunan'").fetchone()
    (run,) = conn.execute("SELECT row_to_json(p) FROM bi.pattern_run p WHERE run_id = %s", (pattern,)).fetchone()
    print("Hunan pattern (1 km):", {k: run[k] for k in (
        "sources", "important_corridors", "general_corridors", "intersection_nodes", "ridge_nodes", "barrier_nodes",
        "cross_county_corridors", "cross_province_corridors", "collab_units", "counties_alone", "alpha", "beta",
        "gamma", "seconds")})
    assert run["sources"] >= 2 and run["corridors"] >= 1 and run["collab_units"] >= 1
    assert conn.execute("SELECT count(*) FROM result.pattern_collab_member WHERE run_id = %s",
                        (pattern,)).fetchone()[0] == 122
    for table in ("pattern_source", "pattern_corridor", "pattern_corridor_area", "pattern_node", "pattern_collab_unit",
                  "pattern_county_link"):
        assert conn.execute(f"SELECT count(*) FROM bi.{table} WHERE run_id = %s", (pattern,)).fetchone()[0] > 0
    # the circuit step: pinch points, barrier areas and the ranked restoration tasks, each in a county
    print("Hunan circuit (1 km):", {k: run[k] for k in ("pinch_nodes", "barrier_nodes", "tasks", "joint_tasks",
                                                         "circuit_solver", "current_cell_m")})
    top = conn.execute("""SELECT rank, kind, corridor_id, round(gain::numeric, 1), gain_unit,
                                 round(gain_share::numeric, 3), area_km2, round(priority::numeric, 4), county_code,
                                 county_name, collab_units, joint
                          FROM bi.pattern_task WHERE run_id = %s ORDER BY rank LIMIT 10""", (pattern,)).fetchall()
    for row in top:
        print("  task", row)
    kinds = dict(conn.execute("SELECT kind, count(*) FROM result.pattern_task WHERE run_id = %s GROUP BY kind",
                              (pattern,)).fetchall())
    print("Hunan tasks by kind (1 km):", kinds)
    assert run["pinch_nodes"] == kinds.get("protect_pinch", 0) >= 1
    assert run["barrier_nodes"] == kinds.get("restore_barrier", 0) >= 1
    assert [r[0] for r in top] == list(range(1, len(top) + 1)) and all(r[8] for r in top)
    assert conn.execute("SELECT count(*) FROM result.pattern_task WHERE run_id = %s AND unit_id IS NULL",
                        (pattern,)).fetchone()[0] == 0
    for table in ("pattern_task", "pattern_pinch"):
        assert conn.execute(f"SELECT count(*) FROM bi.{table} WHERE run_id = %s", (pattern,)).fetchone()[0] > 0
    changsha = conn.execute("""SELECT name, partner_code FROM bi.pattern_rollup_partner
                               WHERE run_id = %s AND level = 'city' AND code = '430100'""", (pattern,)).fetchall()
    assert changsha and all(name == "长沙市" for name, _ in changsha)
