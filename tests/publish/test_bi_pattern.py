"""The pattern's zoning collaboration and its bi relations, checked by hand on the four square counties of
test_bi_views (Alpha, Beta at the bottom, Gamma, Delta on top; Delta in another city and province).

build_pattern writes a pattern run by hand: source 1 inside Alpha, source 2 across the Beta-Delta boundary, corridor 1
from Alpha 4 km east then 3 km x 3 km north-east into Beta, its 7 x 2 km area, a barrier node in Beta. Here food is in
surplus in Gamma and in deficit in Delta. The collaboration is the real SQL and Python.
"""

from __future__ import annotations

import math

import pytest
import shapely

from test_bi_views import CITY, ZONES_2, area, build_inputs, build_pattern, build_zoning, rows, square  # noqa: F401
from test_bi_views import from_4326
from restore_db.publish import bi

LENGTH = 4000 + 3000 * math.sqrt(2)      # corridor 1: 4 km in Alpha, 3 sqrt 2 km in Beta


@pytest.fixture
def collab(conn, area):  # noqa: F811
    inputs = build_inputs(conn, area)
    with conn.transaction():
        for code, rank in (("130103", 1), ("130104", -1)):     # food: surplus in Gamma, deficit in Delta
            conn.execute("UPDATE result.county_ratio SET balance_rank = %s WHERE run_id = %s AND unit_id = %s "
                         "AND service = 'food'", (rank, inputs["ratios"], area["units"][code]))
    zoning = build_zoning(conn, area, inputs, ZONES_2, "2025-01-02 11:00")
    pattern = build_pattern(conn, area, inputs, zoning)
    bi.refresh(conn)
    conn.commit()
    code = {u: c for c, u in area["units"].items()}
    return {"pattern": pattern, "zoning": zoning, "code": code}


def test_crossings_by_hand(conn, collab):
    got = {(r["element"], r["element_id"], collab["code"][r["unit_id"]]): r for r in rows(
        conn, "SELECT * FROM result.pattern_crossing WHERE run_id = %s", (collab["pattern"],))}
    assert set(got) == {("corridor", 1, "130101"), ("corridor", 1, "130102"), ("source", 1, "130101"),
                        ("source", 2, "130102"), ("source", 2, "130104")}
    alpha, beta = got["corridor", 1, "130101"], got["corridor", 1, "130102"]
    assert alpha["length_m"] == pytest.approx(4000) and beta["length_m"] == pytest.approx(3000 * math.sqrt(2))
    assert alpha["share"] == pytest.approx(4000 / LENGTH) and beta["share"] == pytest.approx(1 - 4000 / LENGTH)
    assert alpha["first_at"] == pytest.approx(0) and beta["first_at"] == pytest.approx(4000 / LENGTH)
    assert alpha["area_m2"] == pytest.approx(8e6) and beta["area_m2"] == pytest.approx(6e6)   # the 7 x 2 km box
    assert got["source", 1, "130101"]["share"] == pytest.approx(1.0)
    for code in ("130102", "130104"):
        assert (got["source", 2, code]["area_m2"], got["source", 2, code]["share"]) == (pytest.approx(16e6),
                                                                                      pytest.approx(0.5))
    (node_county,) = conn.execute("SELECT unit_id FROM result.pattern_node WHERE run_id = %s",
                                  (collab["pattern"],)).fetchone()
    assert collab["code"][node_county] == "130102"


def test_links_units_and_members_by_hand(conn, collab):
    code = collab["code"]
    links = {(code[r["unit_a"]], code[r["unit_b"]]): r for r in rows(
        conn, "SELECT * FROM result.pattern_county_link WHERE run_id = %s", (collab["pattern"],))}
    # rook adjacency: the four shared edges of 10 km; Alpha-Delta and Beta-Gamma meet at a corner only
    assert set(links) == {("130101", "130102"), ("130101", "130103"), ("130102", "130104"), ("130103", "130104")}
    for link in links.values():
        assert link["shared_boundary_m"] == pytest.approx(10000, abs=1e-6)
    ab, bd, gd, ag = (links[k] for k in [("130101", "130102"), ("130102", "130104"), ("130103", "130104"),
                                         ("130101", "130103")])
    assert (ab["corridors"], ab["corridor_gravity"], ab["corridor_term"]) == ([1], 150.0, 1.0)
    assert (bd["sources"], bd["shared_source_m2"], bd["source_term"]) == ([2], pytest.approx(16e6), 1.0)
    assert (gd["complementary"], gd["services_compared"], gd["complement_term"]) == (["food"], 1, 1.0)
    for strong in (ab, bd, gd):
        assert strong["weight"] == pytest.approx(1 / 3) and strong["strong"] is True
    assert ag["weight"] == 0.0 and ag["strong"] is False
    # the three strong links join the four counties in one unit
    (unit,) = rows(conn, "SELECT * FROM result.pattern_collab_unit WHERE run_id = %s", (collab["pattern"],))
    assert unit["unit_no"] == 1 and unit["counties"] == 4
    assert (unit["provinces"], unit["cities"], unit["zone_codes"]) == (["13", "14"], ["1301", "1401"],
                                                                       sorted(set(ZONES_2.values())))
    assert (unit["corridors"], unit["sources"], unit["barrier_nodes"]) == ([1], [2], 1)
    assert unit["corridor_length_m"] == pytest.approx(LENGTH)
    assert unit["area_m2"] == pytest.approx(400e6)
    members = rows(conn, "SELECT unit_id, unit_no, zone_code, reason FROM result.pattern_collab_member "
                         "WHERE run_id = %s", (collab["pattern"],))
    assert {code[m["unit_id"]]: (m["unit_no"], m["zone_code"], m["reason"]) for m in members} == {
        c: (1, z, None) for c, z in ZONES_2.items()}


def test_bi_relations_by_hand(conn, collab):
    p = collab["pattern"]
    (current,) = conn.execute("SELECT pattern_run_id FROM bi.current_run").fetchone()
    assert current == p
    (run,) = rows(conn, "SELECT * FROM bi.pattern_run")
    assert (run["run_id"], run["zoning_run_id"], run["sources"], run["corridors"],
            run["important_corridors"], run["barrier_nodes"]) == (p, collab["zoning"], 2, 1, 1, 1)
    assert (run["county_links"], run["strong_links"], run["collab_units"], run["counties_alone"]) == (4, 3, 1, 0)
    assert (run["cross_county_corridors"], run["cross_province_corridors"], run["cross_county_sources"],
            run["cross_province_sources"]) == (1, 0, 1, 1)
    (corridor,) = rows(conn, "SELECT * FROM bi.pattern_corridor")
    assert (corridor["county_codes"], corridor["counties"], corridor["cross_county"], corridor["cross_province"],
            corridor["importance_class"]) == ("130102,130101", 2, True, False, "important")
    assert corridor["length_km"] == pytest.approx(LENGTH / 1e3) and corridor["corridor_area_km2"] == pytest.approx(14)
    sources = {r["source_id"]: r for r in rows(conn, "SELECT * FROM bi.pattern_source")}
    assert (sources[2]["county_codes"], sources[2]["cross_province"]) == ("130102,130104", True)
    assert (sources[1]["county_codes"], sources[1]["cross_county"]) == ("130101", False)
    (unit,) = rows(conn, "SELECT * FROM bi.pattern_collab_unit")
    assert (unit["county_codes"], unit["provinces"], unit["cross_province"], unit["cities"]) == (
        "130101,130102,130103,130104", "13,14", True, "1301,1401")
    # the unit's polygon is the four squares dissolved; the tolerance is that of the round trip through EPSG:4326
    # (the straight edges of the square bend slightly in lon/lat and back: < 1e-5 of the area, as test_bi_views)
    whole = shapely.box(*square(0, 0).bounds[:2], *square(1, 1).bounds[2:])
    assert from_4326(shapely.from_wkb(bytes(conn.execute("SELECT ST_AsBinary(geom) FROM bi.pattern_collab_unit")
                                            .fetchone()[0]))).symmetric_difference(whole).area < 1e-5 * whole.area
    (node,) = rows(conn, "SELECT * FROM bi.pattern_node")
    assert (node["kind"], node["corridor_ids"], node["county_code"], node["province_code"]) == ("barrier", "1",
                                                                                              "130102", "13")
    # both directions of each link
    partners = rows(conn, "SELECT county_code, partner_code, same_city, same_province, strong, collab_unit "
                          "FROM bi.pattern_partner ORDER BY county_code, partner_code")
    assert len(partners) == 8
    assert {(r["county_code"], r["partner_code"]) for r in partners if not r["same_province"]} == {
        ("130102", "130104"), ("130104", "130102"), ("130103", "130104"), ("130104", "130103")}
    # which counties outside city 1301 must its counties coordinate with, and on what: Delta, for a shared source
    # (with Beta) and food (with Gamma)
    rollup = rows(conn, "SELECT * FROM bi.pattern_rollup_partner WHERE level = 'city' AND code = '1301'")
    assert [(r["name"], r["partner_code"], r["own_counties"], r["links"], r["complementary"], r["corridor_ids"])
            for r in rollup] == [("City", "130104", "130102,130103", 2, "food", None)]
    assert (rollup[0]["source_ids"], rollup[0]["corridor_gravity"]) == ("2", 0)
    by_province = rows(conn, "SELECT code, partner_code FROM bi.pattern_rollup_partner WHERE level = 'province' "
                             "ORDER BY code, partner_code")
    assert [(r["code"], r["partner_code"]) for r in by_province] == [("13", "130104"), ("14", "130102"),
                                                                     ("14", "130103")]
    members = rows(conn, "SELECT county_code, collab_unit, reason FROM bi.pattern_member ORDER BY county_code")
    assert [(m["county_code"], m["collab_unit"], m["reason"]) for m in members] == [
        (c, 1, None) for c in sorted(CITY)]


def test_deleting_the_run_deletes_its_bi_rows(conn, collab):
    conn.execute("DELETE FROM core.run WHERE run_id = %s", (collab["pattern"],))
    for table in bi.TABLES:
        if table.startswith("pattern_"):
            assert conn.execute(f"SELECT count(*) FROM bi.{table}").fetchone()[0] == 0, table
    assert conn.execute("SELECT pattern_run_id FROM bi.current_run").fetchone()[0] is None


def test_counties_meeting_at_a_corner_are_not_adjacent(conn):
    """Four wedges around one point at 120, 60, 120 and 60 degrees: the 50 m tolerance leaves a few metres between
    the wedges that only meet at the point, which min_shared_boundary_m (here 500 m) does not count; the wedges that
    share an edge share its 10 km."""
    import math as m

    from helpers import create_area
    from test_bi_views import SRID, X0, Y0, run

    a = create_area(conn, "wedges", SRID, X0 - 20000, Y0 + 20000, 1000.0, 40, 40)
    angles = [0, 120, 180, 300, 360]          # wedges: 0-120, 120-180, 180-300, 300-360 degrees
    units = []
    with conn.transaction():
        for k in range(4):
            pts = [(X0, Y0)] + [(X0 + 10000 * m.cos(m.radians(t)), Y0 + 10000 * m.sin(m.radians(t)))
                                for t in range(angles[k], angles[k + 1] + 1, 5)]
            (uid,) = conn.execute(
                """INSERT INTO core.admin_unit (study_area_id, level, code, name, geom)
                   VALUES (%s, 'county', %s, %s, ST_Multi(ST_GeomFromText(%s, %s))) RETURNING unit_id""",
                (a.study_area_id, f"w{k}", f"wedge {k}", shapely.Polygon(pts).wkt, SRID)).fetchone()
            units.append(uid)
        services = run(conn, a.study_area_id, "services")
        ratios = run(conn, a.study_area_id, "ratios", inputs={"services": services})
        resilience = run(conn, a.study_area_id, "resilience", inputs={"services": services})
        zoning = run(conn, a.study_area_id, "zoning", inputs={"services": services, "ratios": ratios,
                                                             "resilience": resilience})
        for uid in units:
            conn.execute("INSERT INTO result.county_zone (run_id, unit_id, zone_code) VALUES (%s, %s, 'HH-H')",
                         (zoning, uid))
        pattern = run(conn, a.study_area_id, "pattern", inputs={"zoning": zoning, "services": services})
        conn.execute("INSERT INTO result.pattern_network (run_id, cell_m, sources, corridors, important_corridors) "
                     "VALUES (%s, 1000, 0, 0, 0)", (pattern,))
        conn.execute("SELECT result.pattern_cross_boundary(%s, %s, 50, 500)", (pattern, zoning))
    links = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT unit_a, unit_b, shared_boundary_m FROM result.pattern_county_link WHERE run_id = %s", (pattern,))}
    w = units
    assert set(links) == {(w[0], w[1]), (w[1], w[2]), (w[2], w[3]), (w[0], w[3])}
    # 10 km each, within 10 m: at the centre the wedges meet at 60 or 120 degrees, where the tolerance's two ends do
    # not cancel exactly (the same few metres as the corner contacts below)
    assert all(v == pytest.approx(10000, abs=10) for v in links.values())
    # without the minimum, the corners at 120 and 60 degrees would count: the formula leaves them a few metres
    with conn.transaction():
        conn.execute("SELECT result.pattern_cross_boundary(%s, %s, 50, 0)", (pattern, zoning))
    corner = conn.execute("SELECT shared_boundary_m FROM result.pattern_county_link WHERE run_id = %s "
                          "AND unit_a = %s AND unit_b = %s", (pattern, w[0], w[2])).fetchone()
    assert corner is not None and 0 < corner[0] < 50
