"""The whole pipeline on the real BTH inputs (../shared/data): services ->
ratios -> resilience -> zoning for the 199 Tianditu counties."""

import pytest

from restore_db.stages import pipeline, settings

from test_services_bth import bth  # noqa: F401  (fixture)

pytestmark = pytest.mark.realdata


def test_zoning_of_real_bth(conn, bth):  # noqa: F811
    from conftest import shared_data
    from restore_db.load.invest import import_datastack

    with conn.transaction():      # habitat quality as a fourth importance layer of the pattern
        import_datastack(conn, shared_data("invest", "bth_1km_reference", "habitat_quality_datastack.json"), "bth")
    cfg = settings.load()
    cfg["pattern"]["importance_layers"] = [*cfg["pattern"]["importance_layers"], "habitat_quality"]
    with conn.transaction():
        outcomes = pipeline.run_all(conn, bth, cfg, services_options={
            "params": ["awy_biophysical", "carbon_pools", "igbp_lulc"], "scalars": "invest_annual_water_yield"})
    assert [o.stage for o in outcomes] == ["services", "ratios", "resilience", "zoning", "pattern"]
    zoning_run = outcomes[3].run_id
    pattern = outcomes[4].summary
    print(f"BTH pattern: {pattern['sources']} sources, {pattern['corridors']} corridors "
          f"({pattern['important_corridors']} important), nodes {pattern['nodes']}, indices {pattern['indices']}, "
          f"{outcomes[4].seconds:.1f} s")
    assert pattern["sources"] >= 2 and pattern["corridors"] >= 1
    pattern_run = outcomes[4].run_id
    quality = conn.execute("""SELECT count(*) FROM core.layer WHERE run_id = %s
                              AND name IN ('habitat_quality', 'habitat_degradation')""", (pattern_run,)).fetchone()[0]
    assert quality == 2
    # every county of the zoning run has its collaboration row; the bi relations of the pattern are filled
    together = pattern["collaboration"]
    print(f"BTH collaboration: {together}")
    members = conn.execute("SELECT count(*) FROM result.pattern_collab_member WHERE run_id = %s",
                           (pattern_run,)).fetchone()[0]
    assert members == 199
    in_units = conn.execute("SELECT count(*) FROM result.pattern_collab_member WHERE run_id = %s AND unit_no IS NOT "
                            "NULL", (pattern_run,)).fetchone()[0]
    assert in_units == together["counties_in_units"] >= 2
    assert together["cross_county_corridors"] > 0 and together["units"] >= 1
    for table in ("pattern_source", "pattern_corridor", "pattern_corridor_area", "pattern_node", "pattern_collab_unit",
                  "pattern_county_link"):
        assert conn.execute(f"SELECT count(*) FROM bi.{table} WHERE run_id = %s", (pattern_run,)).fetchone()[0] > 0
    counties = conn.execute("SELECT count(*) FROM core.admin_unit WHERE study_area_id = %s AND level = 'county'",
                            (bth.study_area_id,)).fetchone()[0]
    assert counties == 199
    rows = conn.execute("SELECT unit_id, matching_type, resilience_class, zone_code FROM result.county_zone "
                        "WHERE run_id = %s", (zoning_run,)).fetchall()
    assert len(rows) == counties == len({r[0] for r in rows})
    assert all(f"{m}-{r}" == z for _, m, r, z in rows)
    zones = conn.execute("SELECT zone_code, counties, area_share FROM result.zone WHERE run_id = %s",
                         (zoning_run,)).fetchall()
    assert sum(z[1] for z in zones) == counties
    assert sum(z[2] for z in zones) == pytest.approx(100.0)
    # BTH has no NDVI or soil organic carbon layer: those two optional indicators are left out, with warnings
    resilience = outcomes[2]
    assert len(resilience.summary["indicators"]) == 13
    assert {"ndvi", "soil_organic_carbon"}.isdisjoint(resilience.summary["indicators"])
    assert sum("left out" in w for w in resilience.summary["warnings"]) == 2
    # the county view for BI tools has one row per county
    assert conn.execute("SELECT count(*) FROM bi.county WHERE run_id = %s", (zoning_run,)).fetchone()[0] == counties
