"""The bi schema: keys, geometry registration, values of the wide and long views,
the current analysis, dissolved zones, concurrent refresh and the read-only role.

Result rows are inserted directly (the pipeline is tested elsewhere): four
10 km square counties in EPSG:32650 laid out 2 x 2, a city around them, and
services/ratios/resilience/zoning runs with hand-made values. Expected values
are those inserted; expected coordinates come from pyproj and shapely.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest
import shapely
import shapely.geometry
from psycopg import errors, sql
from pyproj import Transformer
from typer.testing import CliRunner

from helpers import create_area, expect_input_error
from restore_db.publish import bi
from restore_db.errors import InputError

SRID = 32650
X0, Y0, SIDE = 500_000.0, 4_400_000.0, 10_000.0
# code, name, column, row of the 2 x 2 layout (row 0 at the bottom)
COUNTIES = [("130101", "Alpha", 0, 0), ("130102", "Beta", 1, 0), ("130103", "Gamma", 0, 1), ("130104", "Delta", 1, 1)]
# city and province of each county: Delta lies over a city and province boundary
CITY = {"130101": ("1301", "13"), "130102": ("1301", "13"), "130103": ("1301", "13"), "130104": ("1401", "14")}
SERVICES = ["food", "carbon", "water", "soil", "recreation"]
INDICATORS = [  # indicator, dimension, weight, method weights
    ("shdi", "D1", 0.4, {"entropy": 0.5, "critic": 0.3, "ahp": 0.2, "equal": 0.25}),
    ("ndvi", "D2", 0.3, {"entropy": 0.2, "critic": 0.3, "manual": 0.6, "equal": 0.25}),
    ("relief", "D4", 0.2, {"entropy": 0.2, "critic": 0.3, "equal": 0.25}),
    ("noise", "D6", 0.1, {"entropy": 0.1, "critic": 0.1, "equal": 0.25}),
]
DIMENSIONS = ["D1", "D2", "D3", "D4", "D5", "D6"]
ZONE_NAMES = {"HH-H": ("I-1", "Conservation"), "LL-L": ("III-1", "Improvement"), "HL-H": ("IV-1", "Export"),
              "LH-L": ("II-1", "Priority")}
TO_4326 = Transformer.from_crs(SRID, 4326, always_xy=True)
_roles = itertools.count()


def to_4326(geom):
    return shapely.transform(geom, TO_4326.transform, interleaved=False)


def from_4326(geom):
    return shapely.transform(geom, lambda x, y: TO_4326.transform(x, y, direction="INVERSE"), interleaved=False)


def same_shape(got_4326, expected_projected) -> bool:
    """Coordinates at 6 decimals (~0.1 m): compared in the projected CRS."""
    back = from_4326(got_4326)
    return back.symmetric_difference(expected_projected).area < 1e-5 * expected_projected.area


def square(col: int, row: int) -> shapely.Polygon:
    x, y = X0 + col * SIDE, Y0 + row * SIDE
    return shapely.box(x, y, x + SIDE, y + SIDE)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def area(conn):
    """Study area 'bia' with four counties and a city; returns {code: unit_id} and the area id."""
    a = create_area(conn, "bia", SRID, X0 - 5000, Y0 + 2 * SIDE + 5000, 1000.0, 30, 30)
    units = {}
    with conn.transaction():
        for code, name, col, row in COUNTIES:
            (units[code],) = conn.execute(
                """INSERT INTO core.admin_unit (study_area_id, level, code, name, parent_code, province_code, geom)
                   VALUES (%s, 'county', %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, %s)))
                   RETURNING unit_id""",
                (a.study_area_id, code, name, *CITY[code], square(col, row).wkt, SRID)).fetchone()
        conn.execute(
            """INSERT INTO core.admin_unit (study_area_id, level, code, name, province_code, geom)
               VALUES (%s, 'city', '1301', 'City', '13', ST_Multi(ST_GeomFromText(%s, %s)))""",
            (a.study_area_id, shapely.box(X0, Y0, X0 + 2 * SIDE, Y0 + 2 * SIDE).wkt, SRID))
    return {"id": a.study_area_id, "units": units}


def run(conn, area_id: int, stage: str, finished: str | None = "2025-01-01 10:00", status: str = "succeeded",
        inputs: dict | None = None) -> int:
    (run_id,) = conn.execute(
        """INSERT INTO core.run (study_area_id, stage, status, label, started_at, finished_at)
           VALUES (%s, %s, %s, %s, %s::timestamptz - interval '1 minute', %s) RETURNING run_id""",
        (area_id, stage, status, f"{stage} test", finished or "2025-01-01", finished)).fetchone()
    for up_stage, up_run in (inputs or {}).items():
        conn.execute("INSERT INTO core.run_input (run_id, stage, input_run_id) VALUES (%s, %s, %s)",
                     (run_id, up_stage, up_run))
    return run_id


def ratio_values(seed: int, u: int, s: int) -> dict:
    """Hand-made county_ratio values of unit index u and service index s (s = 5: combined)."""
    base = seed * 1000 + u * 10 + s
    return {"supply": base + 0.25 if s < 5 else None, "demand": base + 0.5 if s < 5 else None,
            "supply_scaled": base / 1e4, "demand_scaled": base / 2e4, "esdr": (u - 1.5) / 10 + s / 100,
            "z_supply": u - 1.5, "z_demand": 1.5 - u, "matching_type": "HH LH LL HL".split()[(u + s) % 4],
            "balance_rank": (u - 2) if s == 5 else None, "balance_class": f"class {u - 2}" if s == 5 else None}


def build_inputs(conn, area: dict, seed: int = 1, finished: str = "2025-01-01 10:00") -> dict:
    """Succeeded services, ratios and resilience runs with their result rows."""
    aid, units = area["id"], list(area["units"].values())
    with conn.transaction():
        services = run(conn, aid, "services", finished)
        ratios = run(conn, aid, "ratios", finished, inputs={"services": services})
        resilience = run(conn, aid, "resilience", finished, inputs={"services": services})
        for u, unit in enumerate(units):
            for s, service in enumerate(SERVICES + ["combined"]):
                v = ratio_values(seed, u, s)
                conn.execute(
                    """INSERT INTO result.county_ratio (run_id, unit_id, service, supply, demand, supply_scaled,
                       demand_scaled, esdr, z_supply, z_demand, matching_type, balance_rank, balance_class)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (ratios, unit, service, *v.values()))
        for rank in (-1, 0, 1):
            conn.execute(
                """INSERT INTO result.balance_class (run_id, level, service, rank, label, lower_bound, upper_bound,
                   units, area_km2, area_share) VALUES (%s, 'county', 'combined', %s, %s, %s, %s, %s, %s, %s)""",
                (ratios, rank, f"class {rank}", rank - 0.5, rank + 0.5, rank + 2, 100.0 * (rank + 2),
                 25.0 * (rank + 2)))
        for pos, (ind, dim, weight, weights) in enumerate(INDICATORS, 1):
            conn.execute(
                """INSERT INTO result.run_indicator (run_id, indicator, position, dimension, dimension_name, name,
                   direction, unit, source_kind, source, weight, weights)
                   VALUES (%s, %s, %s, %s, %s, %s, 1, '1', 'sql', 'x', %s, %s)""",
                (resilience, ind, pos, dim, f"dimension {dim}", f"indicator {ind}", weight, json.dumps(weights)))
            for u, unit in enumerate(units):
                conn.execute(
                    """INSERT INTO result.county_indicator (run_id, unit_id, indicator, raw_value, norm_value)
                       VALUES (%s, %s, %s, %s, %s)""", (resilience, unit, ind, seed * 100 + u + pos, u / 3))
        for u, unit in enumerate(units):
            for d, dim in enumerate(DIMENSIONS):
                conn.execute(
                    """INSERT INTO result.county_dimension (run_id, unit_id, dimension, contribution, score)
                       VALUES (%s, %s, %s, %s, %s)""", (resilience, unit, dim, (u + d) / 100, (u + d) / 10))
            conn.execute(
                """INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, resilience_class, level,
                   level_name) VALUES (%s, %s, %s, %s, %s, %s)""",
                (resilience, unit, u / 4 + seed / 100, "H" if u % 2 else "L", u + 1, f"level {u + 1}"))
    return {"services": services, "ratios": ratios, "resilience": resilience}


def build_zoning(conn, area: dict, inputs: dict, zones: dict[str, str], finished: str = "2025-01-01 11:00",
                 status: str = "succeeded") -> int:
    """A zoning run reading ``inputs`` that puts county code -> zone code."""
    with conn.transaction():
        zoning = run(conn, area["id"], "zoning", finished, status, inputs=inputs)
        for code, zone in zones.items():
            conn.execute(
                """INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination,
                   zone_code, adjustment) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (zoning, area["units"][code], zone[:2], zone[3], zone, zone, "smoothed" if code == "130104" else None))
        for zone in sorted(set(zones.values())):
            n = sum(1 for z in zones.values() if z == zone)
            display, strategy_name = ZONE_NAMES[zone]
            conn.execute(
                """INSERT INTO result.zone (run_id, zone_code, display_code, matching_type, resilience_class, name_en,
                   name_zh, strategy_name, strategy, counties, area_km2, area_share)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (zoning, zone, display, zone[:2], zone[3], f"zone {zone}", f"区 {zone}", strategy_name,
                 f"do {strategy_name}", n, 100.0 * n, 25.0 * n))
    return zoning


ZONES_1 = {"130101": "HH-H", "130102": "HH-H", "130103": "LL-L", "130104": "HL-H"}
ZONES_2 = {"130101": "LH-L", "130102": "HH-H", "130103": "HH-H", "130104": "LH-L"}  # LH-L: diagonal, corner only


def xy(x: float, y: float) -> str:
    """A point of the study area, in metres from the corner of Alpha."""
    return f"{X0 + x} {Y0 + y}"


# restoration tasks of the pattern: a barrier area across the Alpha-Beta boundary (1 km2 in Alpha, 3 km2 in Beta)
# and a pinch area inside Alpha
TASKS = [(1, "restore_barrier", 2, 4000.0, "cost-weighted m", 0.2, (9500, 3500, 11500, 5500), {"diameter_m": 2000.0}),
         (2, "protect_pinch", 1, 30000.0, "cost-weighted m", 1.5, (7000, 3500, 8000, 4500),
          {"current_max": 0.9, "current_mean": 0.7, "resistance_rise": 12.5})]


def build_pattern(conn, area: dict, inputs: dict, zoning: int, method: str = "components") -> int:
    """A pattern run reading ``zoning`` with two sources, one corridor, its area and a barrier node, and its
    collaboration computed by the real SQL and Python (``collaboration.collaborate``).

    Source 1: 4 x 4 km inside Alpha; source 2: 4 x 8 km across the Beta-Delta boundary; corridor 1 from source 1
    east 4 km in Alpha, then north-east 3 km x 3 km into Beta (length 4000 + 3000 sqrt 2 m); its area the
    7 x 2 km box around its first part; a barrier node in Beta."""
    from restore_db.stages.pattern import collaboration

    with conn.transaction():
        pattern = run(conn, area["id"], "pattern", "2025-01-02 12:00",
                      inputs={"zoning": zoning, "services": inputs["services"]})
        for sid, (x0, y0, x1, y1), resistance, importance, dpc in [(1, (2000, 2000, 6000, 6000), 1.5, 0.8, 60.0),
                                                                   (2, (13000, 6000, 17000, 14000), 2.0, 0.7, 40.0)]:
            geom = shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)
            conn.execute(
                """INSERT INTO result.pattern_source (run_id, source_id, area_m2, cells, mean_resistance, importance,
                       dpc, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, %s)))""",
                (pattern, sid, geom.area, int(geom.area / 1e6), resistance, importance, dpc, geom.wkt, SRID))
        conn.execute(
            """INSERT INTO result.pattern_corridor (run_id, corridor_id, source_a, source_b, lcd, length_m,
                   cwd_to_path_ratio, cwd_to_euc_ratio, gravity, important, geom)
               VALUES (%s, 1, 1, 2, 20000, %s, %s, 2.0, 150.0, true, ST_GeomFromText(%s, %s))""",
            (pattern, 4000 + 3000 * 2 ** 0.5, 20000 / (4000 + 3000 * 2 ** 0.5),
             f"LINESTRING({xy(6000, 4000)}, {xy(10000, 4000)}, {xy(13000, 7000)})", SRID))
        conn.execute(
            """INSERT INTO result.pattern_corridor_area (run_id, corridor_id, cells, area_m2, geom)
               VALUES (%s, 1, 14, 14e6, ST_Multi(ST_GeomFromText(%s, %s)))""",
            (pattern, shapely.box(X0 + 6000, Y0 + 3000, X0 + 13000, Y0 + 5000).wkt, SRID))
        conn.execute(
            """INSERT INTO result.pattern_node (run_id, node_id, kind, corridors, geom)
               VALUES (%s, 1, 'barrier', '{1}', ST_GeomFromText(%s, %s))""",
            (pattern, f"POINT({xy(10500, 4500)})", SRID))
        conn.execute(
            """INSERT INTO result.pattern_network (run_id, cell_m, sources, corridors, important_corridors, pc, alpha,
                   beta, gamma) VALUES (%s, 1000, 2, 1, 1, 0.01, NULL, 0.5, NULL)""", (pattern,))
        summary = collaboration.collaborate(conn, pattern, zoning, collaboration.CollaborationSettings(method=method))
        for task, kind, rank, gain, unit, share, box, extra in TASKS:
            geom = shapely.box(X0 + box[0], Y0 + box[1], X0 + box[2], Y0 + box[3])
            conn.execute(
                """INSERT INTO result.pattern_task (run_id, task_id, kind, corridor_id, rank, gain, gain_unit,
                       gain_share, area_m2, priority, cells, diameter_m, current_max, current_mean, resistance_rise,
                       geom)
                   VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                           ST_Multi(ST_GeomFromText(%s, %s)))""",
                (pattern, task, kind, rank, gain, unit, share, geom.area, share / (geom.area / 1e6),
                 int(geom.area / 1e6), extra.get("diameter_m"), extra.get("current_max"), extra.get("current_mean"),
                 extra.get("resistance_rise"), geom.wkt, SRID))
        conn.execute("SELECT result.pattern_place_tasks(%s)", (pattern,))
        conn.execute("""UPDATE core.run SET timings = jsonb_build_object('seconds', 1.5, 'summary',
                            jsonb_build_object('collaboration', %s::jsonb)) WHERE run_id = %s""",
                     (json.dumps(summary), pattern))
    return pattern


@pytest.fixture
def analysis(conn, area):
    """Two zoning runs reading the same ratios and resilience runs (the second is newer), and a pattern run of the
    second."""
    inputs = build_inputs(conn, area)
    z1 = build_zoning(conn, area, inputs, ZONES_1, "2025-01-01 11:00")
    z2 = build_zoning(conn, area, inputs, ZONES_2, "2025-01-02 11:00")
    pattern = build_pattern(conn, area, inputs, z2)
    bi.refresh(conn)
    conn.commit()
    return {"area": area, "inputs": inputs, "runs": [z1, z2], "pattern": pattern}


def rows(conn, query: str, params=()) -> list[dict]:
    cur = conn.execute(query, params)
    return [dict(zip([d.name for d in cur.description], r)) for r in cur.fetchall()]


# ------------------------------------------------------------------ structure


def test_view_list_is_complete(conn):
    found = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'bi' AND c.relkind IN ('v', 'm', 'r')").fetchall()}
    assert found == set(bi.VIEWS) | set(bi.PROJECTS)
    matviews = {r[0] for r in conn.execute("SELECT matviewname FROM pg_matviews WHERE schemaname = 'bi'").fetchall()}
    assert matviews == set(bi.MATVIEWS)
    tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'bi'").fetchall()}
    assert tables == set(bi.TABLES) | set(bi.PROJECTS)
    # the QGIS projects table has QGIS's layout: (name text key, metadata jsonb, content bytea), in that order
    for table in bi.PROJECTS:
        assert conn.execute(
            """SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped""",
            (f"bi.{table}",)).fetchone()[0] == ["name text", "metadata jsonb", "content bytea"]
    # every relation with a geometry is keyed for QGIS: a table or a materialized view, never a plain view
    with_geometry = {r[0] for r in conn.execute(
        "SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'bi'").fetchall()}
    assert with_geometry <= matviews | tables
    # documented
    undocumented = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'bi' AND c.relkind IN ('v', 'm', 'r') "
        "AND obj_description(c.oid, 'pg_class') IS NULL").fetchall()]
    assert undocumented == []


def test_first_column_is_a_unique_integer_key(conn, analysis):
    for view in bi.VIEWS:
        name, typ = conn.execute(
            """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
               WHERE a.attrelid = %s::regclass AND a.attnum = 1""", (f"bi.{view}",)).fetchone()
        assert typ in ("integer", "bigint"), (view, name, typ)
        total, distinct, non_null = conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT {k}), count({k}) FROM bi.{v}").format(
                k=sql.Identifier(name), v=sql.Identifier(view))).fetchone()
        assert total > 0, view
        assert total == distinct == non_null, view
    # matviews and tables: exactly one unique index, plain, on the key (QGIS takes the first unique index it
    # finds as the feature id; REFRESH ... CONCURRENTLY needs one)
    for view, key in [("county_shape", "unit_id"), ("county_current", "id"), ("zone_map", "id"), ("county", "id")]:
        idx = conn.execute(
            """SELECT count(*) FILTER (WHERE i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL
                                         AND a.attname = %s), count(*)
               FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
               WHERE i.indrelid = %s::regclass AND i.indisunique""", (key, f"bi.{view}")).fetchone()
        assert idx == (1, 1), view


def test_geometry_columns_registered_with_typmod(conn, analysis):
    found = {r[0]: r[1:] for r in conn.execute(
        """SELECT f_table_name, f_geometry_column, type, srid, coord_dimension FROM geometry_columns
           WHERE f_table_schema = 'bi'""").fetchall()}
    expected = ("geom", "MULTIPOLYGON", 4326, 2)
    polygons = ("county_shape", "county", "county_current", "zone_map", "pattern_source", "pattern_corridor_area",
                "pattern_collab_unit", "pattern_task", "pattern_pinch", "pattern_barrier")
    assert found == {**{v: expected for v in polygons}, "pattern_node": ("geom", "POINT", 4326, 2),
                     **{v: ("geom", "LINESTRING", 4326, 2) for v in ("pattern_corridor", "pattern_county_link")}}


def test_county_shape_text_and_points(conn, analysis):
    shapes = rows(conn, "SELECT * FROM bi.county_shape ORDER BY code")
    assert [s["code"] for s in shapes] == [c[0] for c in COUNTIES]  # counties only, not the city
    for s, (code, name, col, row) in zip(shapes, COUNTIES):
        assert (s["name"], s["study_area"], s["level"], s["province_code"]) == (name, "bia", "county", CITY[code][1])
        assert s["area_km2"] == pytest.approx(100.0)
        # GeoJSON: EPSG:4326 coordinates of the square's corners (pyproj)
        gj = json.loads(s["geom_geojson_4326"])
        assert gj["type"] == "MultiPolygon"
        got = shapely.geometry.shape(gj)
        assert -180 <= got.bounds[0] <= got.bounds[2] <= 180 and -90 <= got.bounds[1] <= got.bounds[3] <= 90
        assert 116 < got.centroid.x < 118 and 39 < got.centroid.y < 41
        assert same_shape(got, square(col, row))
        assert same_shape(shapely.from_wkt(s["geom_wkt_simpl"]), square(col, row))
        assert len(s["geom_geojson_4326"]) <= 30000 and len(s["geom_wkt_simpl"]) <= 30000
        # the point lies inside the county
        assert square(col, row).contains(from_4326(shapely.Point(s["lon"], s["lat"])))
    (inside,) = conn.execute(
        "SELECT bool_and(ST_Contains(geom, ST_SetSRID(ST_MakePoint(lon, lat), 4326))) FROM bi.county_shape").fetchone()
    assert inside


def simplified(conn, wkt: str) -> dict:
    return rows(conn, """
        SELECT length(ST_AsGeoJSON(ST_Transform(g, 4326), 6)) AS full_chars,
               length(ST_AsGeoJSON(s, 6)) AS geojson, length(ST_AsText(s, 6)) AS wkt, ST_SRID(s) AS srid,
               GeometryType(s) AS type, ST_Area(g) AS area, ST_Area(ST_Transform(s, %(srid)s)) AS simple_area,
               ST_NumGeometries(g) AS parts, ST_NumGeometries(s) AS simple_parts
        FROM (SELECT g, bi.simplify_4326(g) AS s FROM ST_GeomFromText(%(wkt)s, %(srid)s) AS g) x""",
                {"wkt": wkt, "srid": SRID})[0]


def test_simplification_keeps_text_under_the_power_bi_limit(conn):
    # a detailed boundary: a 20,000-vertex circle of radius 20 km (100 m is enough)
    circle = shapely.Point(X0, Y0).buffer(20_000, quad_segs=5000)
    got = simplified(conn, circle.wkt)
    assert got["full_chars"] > 32766  # the full boundary would be truncated by Power BI
    assert got["geojson"] <= 30000 and got["wkt"] <= 30000 and got["srid"] == 4326 and got["type"] == "MULTIPOLYGON"
    assert got["simple_area"] == pytest.approx(got["area"], rel=0.01)
    # a zigzag boundary of amplitude 300 m: 100 and 200 m keep every tooth, the doubled tolerance does not
    angles = np.linspace(0, 2 * np.pi, 6000, endpoint=False)
    radius = np.where(np.arange(6000) % 2, 20_000, 20_300)
    zigzag = shapely.Polygon(np.column_stack([X0 + radius * np.cos(angles), Y0 + radius * np.sin(angles)]))
    assert len(rows(conn, "SELECT ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(ST_GeomFromText(%s, %s), 200), "
                          "4326), 6) AS j", (zigzag.wkt, SRID))[0]["j"]) > 30000
    got = simplified(conn, zigzag.wkt)
    assert got["geojson"] <= 30000 and got["wkt"] <= 30000
    assert got["simple_area"] == pytest.approx(got["area"], rel=0.02)
    # an archipelago that no simplification shrinks: a 10 km mainland, 150 islands of 250 m and
    # 2,850 islets of 50 m -> the islets (< 1 ha) are dropped, the islands kept
    def islet(i, j):
        x, y, size = X0 + 400 * i, Y0 - 1000 - 400 * j, 250 if (i * 50 + j) % 20 == 0 else 50
        return shapely.box(x, y, x + size, y + size)

    islets = [islet(i, j) for i in range(60) for j in range(50)]
    mainland = shapely.box(X0, Y0, X0 + 10_000, Y0 + 10_000)
    got = simplified(conn, shapely.MultiPolygon([mainland, *islets]).wkt)
    assert got["full_chars"] > 32766 and got["parts"] == 3001
    assert got["geojson"] <= 30000 and got["wkt"] <= 30000
    assert got["simple_parts"] == 151
    assert got["simple_area"] == pytest.approx(mainland.area + 150 * 250**2, rel=1e-4)


# ------------------------------------------------------------------ values


def test_county_wide_view_values(conn, analysis):
    z1 = analysis["runs"][0]
    got = rows(conn, "SELECT * FROM bi.county WHERE run_id = %s ORDER BY county_code", (z1,))
    assert len(got) == 4
    cols = list(got[0])
    assert cols[:2] == ["id", "run_id"] and cols[-1] == "geom"
    assert "d6_score" not in cols
    zone_ids = dict(conn.execute("SELECT unit_id, id FROM result.county_zone WHERE run_id = %s", (z1,)).fetchall())
    for u, (r, (code, name, col, row)) in enumerate(zip(got, COUNTIES)):
        unit = analysis["area"]["units"][code]
        assert r["id"] == zone_ids[unit]
        assert (r["study_area_id"], r["study_area"], r["unit_id"], r["county_code"], r["county_name"],
                r["province_code"]) == (analysis["area"]["id"], "bia", unit, code, name, CITY[code][1])
        assert r["area_km2"] == pytest.approx(100.0)
        for s, service in enumerate(SERVICES):
            v = ratio_values(1, u, s)
            assert (r[f"{service}_supply"], r[f"{service}_demand"], r[f"{service}_esdr"],
                    r[f"{service}_matching"]) == (v["supply"], v["demand"], v["esdr"], v["matching_type"])
        c = ratio_values(1, u, 5)
        assert (r["cesd"], r["balance_rank"], r["balance_class"], r["matching_type"]) == (
            c["esdr"], c["balance_rank"], c["balance_class"], c["matching_type"])
        assert (r["resilience_index"], r["resilience_class"], r["resilience_level"], r["resilience_level_name"]) == (
            u / 4 + 0.01, "H" if u % 2 else "L", u + 1, f"level {u + 1}")
        assert [r[f"d{d}_score"] for d in range(1, 6)] == [(u + d) / 10 for d in range(5)]
        zone = ZONES_1[code]
        assert (r["zone_code"], r["display_code"], r["zone_name"], r["zone_name_zh"], r["strategy_name"],
                r["strategy"]) == (zone, ZONE_NAMES[zone][0], f"zone {zone}", f"区 {zone}",
                                   ZONE_NAMES[zone][1], f"do {ZONE_NAMES[zone][1]}")
        assert r["adjustment"] == ("smoothed" if code == "130104" else None)
        assert square(col, row).contains(from_4326(shapely.Point(r["lon"], r["lat"])))
        assert json.loads(r["geom_geojson_4326"])["type"] == "MultiPolygon"


def test_current_run_and_county_current(conn, analysis):
    z1, z2 = analysis["runs"]
    cur = rows(conn, "SELECT * FROM bi.current_run")
    assert len(cur) == 1
    assert cur[0]["run_id"] == z2 and cur[0]["study_area"] == "bia"
    assert (cur[0]["ratios_run_id"], cur[0]["resilience_run_id"], cur[0]["services_run_id"]) == (
        analysis["inputs"]["ratios"], analysis["inputs"]["resilience"], analysis["inputs"]["services"])
    assert conn.execute("SELECT bi.current_run_id('bia'), bi.current_run_id('nowhere')").fetchone() == (z2, None)
    assert conn.execute("SELECT count(*) FROM bi.county").fetchone()[0] == 8
    current = conn.execute("SELECT DISTINCT run_id, count(*) OVER () FROM bi.county_current").fetchall()
    assert current == [(z2, 4)]
    zones = dict(conn.execute("SELECT county_code, zone_code FROM bi.county_current").fetchall())
    assert zones == ZONES_2
    # a newer failed zoning run and a newer zoning run without its inputs are not current
    area = analysis["area"]
    build_zoning(conn, area, analysis["inputs"], ZONES_1, "2025-01-05 11:00", status="failed")
    build_zoning(conn, area, {"ratios": analysis["inputs"]["ratios"]}, ZONES_1, "2025-01-06 11:00")
    assert conn.execute("SELECT bi.current_run_id('bia')").fetchone()[0] == z2
    # an older finish time loses even with a higher run id
    z_old = build_zoning(conn, area, analysis["inputs"], ZONES_1, "2024-12-31 11:00")
    assert z_old > z2
    assert conn.execute("SELECT bi.current_run_id('bia')").fetchone()[0] == z2
    z3 = build_zoning(conn, area, analysis["inputs"], ZONES_1, "2025-01-07 11:00")
    assert conn.execute("SELECT bi.current_run_id('bia')").fetchone()[0] == z3
    bi.publish(conn, z3)    # a run made by hand: the pipeline publishes its runs itself
    assert conn.execute("SELECT DISTINCT run_id FROM bi.county_current").fetchall() == [(z3,)]


def test_long_views(conn, analysis):
    z1, z2 = analysis["runs"]
    units = analysis["area"]["units"]
    index = {unit: u for u, unit in enumerate(units.values())}
    # both zoning runs read the same ratios run: ids stay unique, rows repeat per zoning run
    ratio = rows(conn, "SELECT * FROM bi.county_ratio_long ORDER BY id")
    assert len(ratio) == 2 * 4 * 6 * 7
    assert list(ratio[0])[:2] == ["id", "run_id"]
    for r in ratio:
        s = (SERVICES + ["combined"]).index(r["service"])
        assert r["value"] == ratio_values(1, index[r["unit_id"]], s)[r["metric"]]
        assert r["ratios_run_id"] == analysis["inputs"]["ratios"] and r["run_id"] in (z1, z2)
    assert {r["metric"] for r in ratio} == {"supply", "demand", "supply_scaled", "demand_scaled", "esdr", "z_supply",
                                           "z_demand"}
    ind = rows(conn, "SELECT * FROM bi.county_indicator_long WHERE run_id = %s ORDER BY county_code, indicator", (z1,))
    assert len(ind) == 4 * len(INDICATORS)
    spec = {i[0]: (p, i) for p, i in enumerate(INDICATORS, 1)}
    for r in ind:
        pos, (name, dim, weight, _) = spec[r["indicator"]]
        u = index[r["unit_id"]]
        assert (r["dimension"], r["name"], r["unit"], r["direction"], r["weight"], r["raw_value"],
                r["norm_value"]) == (dim, f"indicator {name}", "1", 1, weight, 100 + u + pos, u / 3)
    dims = rows(conn, "SELECT * FROM bi.county_dimension_long WHERE run_id = %s", (z2,))
    assert len(dims) == 4 * 6 and {d["dimension"] for d in dims} == set(DIMENSIONS)
    for d in dims:
        k = DIMENSIONS.index(d["dimension"])
        u = index[d["unit_id"]]
        assert (d["contribution"], d["score"]) == ((u + k) / 100, (u + k) / 10)
        assert d["dimension_name"] == (f"dimension {d['dimension']}" if d["dimension"] in ("D1", "D2", "D4", "D6")
                                       else None)
    weights = rows(conn, "SELECT * FROM bi.indicator_weight WHERE run_id = %s ORDER BY position", (z1,))
    assert [w["indicator"] for w in weights] == [i[0] for i in INDICATORS]
    for w, (name, dim, weight, ws) in zip(weights, INDICATORS):
        assert (w["dimension"], w["weight"]) == (dim, weight)
        for method in ("entropy", "critic", "ahp", "manual", "equal", "combined"):
            assert w[method] == ws.get(method), (name, method)
    classes = rows(conn, "SELECT * FROM bi.balance_class WHERE run_id = %s ORDER BY rank", (z2,))
    assert [(c["rank"], c["label"], c["lower_bound"], c["upper_bound"], c["units"], c["area_km2"], c["area_share"])
            for c in classes] == [(k, f"class {k}", k - 0.5, k + 0.5, k + 2, 100.0 * (k + 2), 25.0 * (k + 2))
                                  for k in (-1, 0, 1)]
    zones = rows(conn, "SELECT * FROM bi.zone_summary WHERE run_id = %s ORDER BY zone_code", (z1,))
    ids = dict(conn.execute("SELECT zone_code, id FROM result.zone WHERE run_id = %s", (z1,)).fetchall())
    assert [(z["id"], z["zone_code"], z["display_code"], z["zone_name"], z["counties"], z["area_km2"])
            for z in zones] == [(ids[c], c, ZONE_NAMES[c][0], f"zone {c}", n, 100.0 * n)
                                for c, n in [("HH-H", 2), ("HL-H", 1), ("LL-L", 1)]]


def test_zone_map_dissolves_adjacent_counties(conn, analysis):
    z1, z2 = analysis["runs"]
    got = {r["zone_code"]: r for r in rows(
        conn, """SELECT *, ST_NumGeometries(geom) AS parts, ST_Area(ST_Transform(geom, %s)) AS area_m2
                 FROM bi.zone_map WHERE run_id = %s""", (SRID, z1))}
    assert set(got) == {"HH-H", "LL-L", "HL-H"}
    hh = got["HH-H"]
    assert hh["parts"] == 1 and hh["counties"] == 2
    assert hh["area_m2"] == pytest.approx(2 * SIDE * SIDE, rel=1e-6)
    expected = square(0, 0).union(square(1, 0))
    gj = shapely.geometry.shape(json.loads(hh["geom_geojson_4326"]))
    assert same_shape(gj, expected)
    assert len(shapely.get_coordinates(gj)) == 5  # the shared edge is gone: one rectangle
    assert expected.contains(from_4326(shapely.Point(hh["lon"], hh["lat"])))
    assert got["LL-L"]["area_m2"] == pytest.approx(SIDE * SIDE, rel=1e-6)
    # run 2: LH-L counties touch at a corner only -> two parts
    lh = rows(conn, "SELECT ST_NumGeometries(geom) AS parts, counties, ST_Area(ST_Transform(geom, %s)) AS a "
                    "FROM bi.zone_map WHERE run_id = %s AND zone_code = 'LH-L'", (SRID, z2))
    assert lh == [{"parts": 2, "counties": 2, "a": pytest.approx(2 * SIDE * SIDE, rel=1e-6)}]
    assert conn.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 5


# ------------------------------------------------------------------ refresh


def test_publish_writes_a_run_once_and_refresh_catches_up(conn, db_url, area):
    assert conn.execute("SELECT count(*) FROM bi.county_shape").fetchone()[0] == 0  # not refreshed yet
    conn.commit()
    inputs = build_inputs(conn, area)
    z1 = build_zoning(conn, area, inputs, ZONES_1)
    conn.commit()
    assert conn.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 0   # not published yet
    # publishing a run refreshes the county shapes it needs and the current analysis
    assert bi.publish(conn, z1) == 4
    assert conn.execute("SELECT count(geom) FROM bi.county WHERE run_id = %s", (z1,)).fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM bi.county_shape").fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 4
    conn.commit()
    # a second run: readers are not blocked and see the old rows until commit
    z2 = build_zoning(conn, area, inputs, ZONES_2, "2025-01-02 11:00")
    conn.commit()
    with psycopg.connect(db_url, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '2s'")
        with conn.transaction():
            assert bi.publish(conn, z2) == 4
            locks = reader.execute(
                """SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                   WHERE l.pid = %s AND c.relname IN ('county_current', 'zone_map', 'county')""",
                (conn.info.backend_pid,)).fetchall()
            assert all(mode != "AccessExclusiveLock" for _, mode in locks), locks
            assert reader.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 3
            assert reader.execute("SELECT DISTINCT run_id FROM bi.county_current").fetchall() == [(z1,)]
        assert reader.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 5
        assert reader.execute("SELECT count(*) FROM bi.zone_map WHERE run_id = %s", (z2,)).fetchone()[0] == 2
        assert reader.execute("SELECT DISTINCT run_id FROM bi.county_current").fetchall() == [(z2,)]
    # publishing again replaces the run's rows; the earlier run's rows are untouched
    before = conn.execute("SELECT id, zone_code FROM bi.county WHERE run_id = %s ORDER BY id", (z1,)).fetchall()
    assert bi.publish(conn, z2) == 4
    assert conn.execute("SELECT count(*) FROM bi.county").fetchone()[0] == 8
    assert conn.execute("SELECT id, zone_code FROM bi.county WHERE run_id = %s ORDER BY id", (z1,)).fetchall() == before
    # a run that is not a succeeded zoning run is refused
    with pytest.raises(psycopg.errors.RaiseException, match="not a succeeded zoning run"):
        bi.publish(conn, inputs["ratios"])
    conn.rollback()
    # refresh publishes what is missing (runs written by hand) and reports every relation
    z3 = build_zoning(conn, area, inputs, ZONES_1, "2025-01-03 11:00")
    conn.commit()
    assert bi.refresh(conn) == [("bi.county_shape", 4, True), ("bi.county", 12, None), ("bi.zone_map", 8, None),
                                ("bi.county_current", 4, True)] + [
        (f"bi.{t}", 0, None) for t in bi.TABLES if t.startswith("pattern_")]   # no pattern run here
    assert conn.execute("SELECT DISTINCT run_id FROM bi.county_current").fetchall() == [(z3,)]
    # an unpopulated matview is refreshed plainly
    conn.execute("REFRESH MATERIALIZED VIEW bi.county_current WITH NO DATA")
    conn.commit()
    assert bi.refresh(conn)[3] == ("bi.county_current", 4, False)
    assert bi.refresh(conn)[3] == ("bi.county_current", 4, True)


def test_deleting_a_run_deletes_its_published_rows(conn, area):
    inputs = build_inputs(conn, area)
    z1 = build_zoning(conn, area, inputs, ZONES_1)
    bi.publish(conn, z1)
    conn.execute("DELETE FROM core.run WHERE run_id = %s", (z1,))
    assert conn.execute("SELECT count(*) FROM bi.county").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 0
    assert bi.refresh_current(conn) == 0
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 0


def test_boundaries_are_versioned_and_results_stay_whole(conn, area, tmp_path):
    """Loading boundaries again never deletes results: replaced units that runs used are kept (superseded);
    identical boundaries are a no-op; other boundaries need --replace."""
    import geopandas as gpd

    from restore_db.grid import studyarea
    from restore_db.load.boundaries import load_boundaries

    inputs = build_inputs(conn, area)
    z1 = build_zoning(conn, area, inputs, ZONES_1)
    bi.publish(conn, z1)
    conn.commit()
    bia = studyarea.get(conn, "bia")
    path = tmp_path / "counties.gpkg"
    gpd.GeoDataFrame({"code": [c for c, *_ in COUNTIES], "name": [n for _, n, *_ in COUNTIES]},
                     geometry=[square(col, row) for _, _, col, row in COUNTIES], crs=f"EPSG:{SRID}").to_file(path)
    old_units = set(area["units"].values())
    with conn.transaction():
        info = load_boundaries(conn, bia, path, "county", replace=True)
    assert (info.count, info.unchanged, info.superseded) == (4, False, 4)
    current = {r[0] for r in conn.execute("SELECT unit_id FROM core.admin_unit WHERE level = 'county'")}
    assert len(current) == 4 and not current & old_units
    kept = {r[0]: r[1] for r in conn.execute(
        "SELECT unit_id, superseded_at IS NOT NULL FROM core.admin_unit_version WHERE unit_id = ANY(%s)",
        (list(old_units),))}
    assert kept == {u: True for u in old_units}
    # the earlier analysis is whole, still current, and its rows still carry their counties
    assert conn.execute("SELECT count(*) FROM result.county_zone WHERE run_id = %s", (z1,)).fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM bi.county WHERE run_id = %s AND geom IS NOT NULL",
                        (z1,)).fetchone()[0] == 4
    assert conn.execute("SELECT count(DISTINCT run_id), count(*) FROM bi.county_current").fetchone() == (1, 4)
    assert conn.execute("SELECT count(*) FROM bi.zone_map WHERE run_id = %s", (z1,)).fetchone()[0] == 3
    assert {r[0] for r in conn.execute("SELECT unit_id FROM bi.county_shape")} == current
    # republishing the old run (e.g. after re-applying sql/080) still finds its superseded counties' shapes
    bi.publish(conn, z1)
    assert conn.execute("SELECT count(*) FROM bi.county WHERE run_id = %s AND geom IS NOT NULL AND lon IS NOT NULL",
                        (z1,)).fetchone()[0] == 4
    conn.commit()
    # the same file again: nothing changes, not even the unit ids
    with conn.transaction():
        again = load_boundaries(conn, bia, path, "county")
    assert again.unchanged and {r[0] for r in conn.execute(
        "SELECT unit_id FROM core.admin_unit WHERE level = 'county'")} == current
    # other boundaries without --replace: refused, nothing written
    gpd.GeoDataFrame({"code": ["130101"]}, geometry=[square(0, 0)], crs=f"EPSG:{SRID}").to_file(tmp_path / "one.gpkg")
    expect_input_error(conn, load_boundaries, conn, bia, tmp_path / "one.gpkg", "county",
                       match=["already has 4 other county units", "--replace"])
    # replaced units are kept even when no result refers to them yet (a run may be committing them)
    with conn.transaction():
        third = load_boundaries(conn, bia, tmp_path / "one.gpkg", "county", replace=True)
    assert third.superseded == 4
    assert conn.execute("SELECT count(*) FROM core.admin_unit_version WHERE unit_id = ANY(%s) "
                        "AND superseded_at IS NOT NULL", (list(current),)).fetchone()[0] == 4
    # a unit that a result refers to cannot be deleted: results never vanish with their counties
    with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction():
        conn.execute("DELETE FROM core.admin_unit_version WHERE unit_id = ANY(%s)", (list(old_units),))


def test_the_bi_file_can_be_applied_again(conn, analysis):
    """sql/080 re-applies cleanly on a database at head, and rebuilds the published rows."""
    from restore_db.resources import sql_dir

    before = conn.execute("SELECT id, run_id, zone_code, missing_reason FROM bi.county ORDER BY id").fetchall()
    zones = conn.execute("SELECT id, ST_AsBinary(geom) FROM bi.zone_map ORDER BY id").fetchall()
    conn.execute((sql_dir() / "080_bi_views.sql").read_text(encoding="utf-8"))
    assert conn.execute("SELECT id, run_id, zone_code, missing_reason FROM bi.county ORDER BY id").fetchall() == before
    assert conn.execute("SELECT id, ST_AsBinary(geom) FROM bi.zone_map ORDER BY id").fetchall() == zones
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 4


def test_publish_rolls_back_with_the_transaction(conn, area):
    inputs = build_inputs(conn, area)
    conn.commit()
    with pytest.raises(RuntimeError), conn.transaction():
        z1 = build_zoning(conn, area, inputs, ZONES_1)
        assert bi.publish(conn, z1) == 4
        raise RuntimeError
    assert conn.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM bi.county").fetchone()[0] == 0


def test_cli_refresh_views(cli_env, conn, area):
    from restore_db.cli import app

    build_zoning(conn, area, build_inputs(conn, area), ZONES_1)
    conn.commit()
    result = CliRunner().invoke(app, ["db", "refresh-views"])
    assert result.exit_code == 0, result.output
    assert "bi.county_shape: 4 rows" in result.output and "bi.zone_map: 3 rows" in result.output
    assert conn.execute("SELECT count(*) FROM bi.zone_map").fetchone()[0] == 3


# ------------------------------------------------------------------ read-only role


def can_create_roles(conn) -> bool:
    return conn.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()[0]


@pytest.fixture
def bi_login(conn, db_url, analysis):
    """A login member of restore_bi, with the URL to connect as it; dropped afterwards."""
    if not can_create_roles(conn):
        pytest.skip("the test server's user may not create roles")
    from restore_db import db

    db.prepare(db_url)      # as every command does (the test database is a copy, without database rights)
    name = f"bi_test_{os.getpid()}_{next(_roles)}"
    password = secrets.token_hex(12)
    bi.create_user(conn, name, password)
    conn.commit()
    parts = urlsplit(db_url)
    netloc = f"{quote(name)}:{quote(password)}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    try:
        yield name, urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    finally:
        conn.rollback()
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()


def test_bi_role_reads_bi_only(conn, analysis, bi_login):
    name, url = bi_login
    assert conn.execute("SELECT rolcanlogin, pg_has_role(%s, 'restore_bi', 'member') FROM pg_roles "
                        "WHERE rolname = %s", (name, name)).fetchone() == (True, True)
    assert conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'restore_bi'").fetchone() == (False,)
    with psycopg.connect(url, autocommit=True) as user:
        assert user.execute("SELECT current_user").fetchone()[0] == name
        assert user.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert user.execute("SHOW search_path").fetchone()[0] == "bi, public"
        user.execute("SET default_transaction_read_only = off")  # privileges, not read-only mode, must refuse
        for view in bi.VIEWS:
            assert user.execute(sql.SQL("SELECT count(*) FROM bi.{}").format(sql.Identifier(view))).fetchone()[0] > 0
        for table in bi.PROJECTS:   # QGIS projects: readable (none stored here)
            user.execute(sql.SQL("SELECT name, metadata, content FROM bi.{}").format(sql.Identifier(table)))
        assert user.execute("SELECT count(*) FROM county_current").fetchone()[0] == 4  # search_path
        assert user.execute("SELECT bi.current_run_id('bia')").fetchone()[0] == analysis["runs"][1]
        user.execute("SELECT ST_AsText(geom) FROM bi.zone_map")  # PostGIS functions are callable
        visible = {r[0] for r in user.execute("SELECT f_table_schema FROM geometry_columns").fetchall()}
        assert visible == {"bi"}
        for query in ["SELECT * FROM core.admin_unit", "SELECT * FROM src.county_stat",
                      "SELECT * FROM result.county_zone", "SELECT * FROM param.indicator",
                      "SELECT * FROM result.analysis_run", "SELECT * FROM calc.kernel_module",
                      "SELECT * FROM core.run", "SELECT core.study_area_id('bia')",
                      "SELECT * FROM public.alembic_version",
                      "CREATE TABLE bi.x (i integer)", "CREATE VIEW bi.v AS SELECT 1 AS i",
                      "CREATE TABLE public.x (i integer)", "CREATE SCHEMA x", "CREATE TEMP TABLE t (i integer)",
                      "CREATE FUNCTION bi.f() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
                      "REFRESH MATERIALIZED VIEW bi.county_shape",
                      "REFRESH MATERIALIZED VIEW CONCURRENTLY bi.county_current",
                      "SELECT * FROM bi.refresh()", "SELECT bi.publish(1)",
                      "SELECT * FROM bi.refresh_matview('county_current')",
                      "INSERT INTO public.spatial_ref_sys (srid) VALUES (990000)",
                      "DELETE FROM public.spatial_ref_sys",
                      "DROP MATERIALIZED VIEW bi.county_current", "ALTER TABLE bi.county RENAME TO c",
                      "DROP VIEW bi.zone_summary", "COMMENT ON TABLE bi.county IS 'x'"]:
            with pytest.raises(errors.InsufficientPrivilege):
                user.execute(query)


def test_bi_role_cannot_write_anything(conn, analysis, bi_login):
    name, url = bi_login
    relations = conn.execute(
        """SELECT n.nspname, c.relname, c.relkind, a.attname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
           WHERE n.nspname IN ('core', 'param', 'src', 'calc', 'result', 'bi', 'public')
             AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname NOT LIKE 'pg\\_%'
           ORDER BY 1, 2""").fetchall()
    assert len(relations) > 30
    nothing_rules: dict[str, set] = {}
    for schema, rel, event in conn.execute(
            """SELECT n.nspname, c.relname, CASE r.ev_type WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT'
                                                       WHEN '4' THEN 'DELETE' END
               FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE r.is_instead AND r.ev_action::text LIKE '({QUERY :commandType 7 %%' """).fetchall():
        nothing_rules.setdefault(event, set()).add((schema, rel))
    before = conn.execute("SELECT count(*) FROM result.county_zone").fetchone()[0]
    with psycopg.connect(url, autocommit=True) as user:
        user.execute("SET default_transaction_read_only = off")
        for schema, rel, kind, col in relations:
            target = sql.Identifier(schema, rel)
            column = sql.Identifier(col)
            for stmt in [sql.SQL("DELETE FROM {}").format(target),
                         sql.SQL("UPDATE {} SET {} = {}").format(target, column, column),
                         sql.SQL("INSERT INTO {} DEFAULT VALUES").format(target),
                         sql.SQL("TRUNCATE {}").format(target)]:
                try:
                    user.execute(stmt)
                except psycopg.Error as exc:
                    if schema not in ("bi", "public") or kind in "rp":
                        assert isinstance(exc, errors.InsufficientPrivilege), (schema, rel, stmt.as_string(user))
                else:  # only PostGIS's catalogue views accept writes, which their rules turn into no-ops
                    event = stmt.as_string(user).split()[0]
                    assert (schema, rel) in nothing_rules.get(event, set()), (schema, rel, stmt.as_string(user))
    assert conn.execute("SELECT count(*) FROM result.county_zone").fetchone()[0] == before


def test_create_user_errors(conn, analysis):
    if not can_create_roles(conn):
        pytest.skip("the test server's user may not create roles")
    for bad in ["", "Bad", "1abc", "a-b", 'x"; DROP ROLE postgres; --', "pg_reader", "restore_bi"]:
        with pytest.raises(InputError):
            bi.create_user(conn, bad)
    with pytest.raises(InputError, match="already exists"):
        bi.create_user(conn, "postgres" if conn.info.user == "postgres" else conn.info.user)


def test_cli_bi_user(cli_env, conn, analysis):
    from restore_db.cli import app

    if not can_create_roles(conn):
        pytest.skip("the test server's user may not create roles")
    name = f"bi_cli_{os.getpid()}_{next(_roles)}"
    try:
        result = CliRunner().invoke(app, ["db", "bi-user", name, "--password", "s3cret"])
        assert result.exit_code == 0, result.output
        assert name in result.output
        assert conn.execute("SELECT pg_has_role(%s, 'restore_bi', 'member')", (name,)).fetchone()[0]
        if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            password = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)).fetchone()[0]
            assert password.startswith("SCRAM-SHA-256$")  # sent as a verifier, never in clear
        result = CliRunner().invoke(app, ["db", "bi-user", name])
        assert isinstance(result.exception, InputError) and "already exists" in str(result.exception)
    finally:
        conn.rollback()
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()


def test_securing_the_database_is_safe_under_concurrency(db_url, conn):
    """bi.secure_database() runs at the start of every command: once the rights are set it writes nothing, so
    commands starting together never fail on "tuple concurrently updated"."""
    import threading

    conn.execute("SELECT bi.secure_database()")
    conn.commit()
    errors_seen: list[str] = []

    def work():
        with psycopg.connect(db_url, autocommit=True) as c:
            for _ in range(100):
                try:
                    c.execute("SELECT bi.secure_database()")
                except psycopg.Error as exc:
                    errors_seen.append(str(exc).splitlines()[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors_seen == []
    assert not conn.execute("SELECT has_database_privilege('public', current_database(), 'TEMPORARY')").fetchone()[0]


def test_restoration_tasks_placed_in_counties_and_units(conn, analysis):
    """Each task takes the county holding most of it, lists every county it touches (largest first) and the
    collaboration units of those counties; bi publishes tasks, pinch and barrier areas with their figures."""
    pattern = analysis["pattern"]
    placed = rows(conn, """SELECT t.task_id, u.code AS main, t.collab_units, t.joint,
                                  (SELECT array_agg(v.code ORDER BY k.o) FROM unnest(t.counties) WITH ORDINALITY k(id, o)
                                   JOIN core.admin_unit_version v ON v.unit_id = k.id) AS codes
                           FROM result.pattern_task t JOIN core.admin_unit_version u ON u.unit_id = t.unit_id
                           WHERE t.run_id = %s ORDER BY t.task_id""", (pattern,))
    assert [(p["task_id"], p["main"], p["codes"]) for p in placed] == [(1, "130102", ["130102", "130101"]),
                                                                        (2, "130101", ["130101"])]
    unit_of = dict(conn.execute("""SELECT u.code, m.unit_no FROM result.pattern_collab_member m
                                   JOIN core.admin_unit_version u ON u.unit_id = m.unit_id WHERE m.run_id = %s""",
                                (pattern,)).fetchall())
    for p in placed:
        units = sorted({unit_of[c] for c in p["codes"] if unit_of[c] is not None})
        assert p["collab_units"] == units and p["joint"] == (len(units) >= 2)
    task = rows(conn, "SELECT * FROM bi.pattern_task WHERE run_id = %s ORDER BY rank", (pattern,))
    assert [(t["rank"], t["kind"], t["county_code"], t["county_codes"]) for t in task] == [
        (1, "protect_pinch", "130101", "130101"), (2, "restore_barrier", "130102", "130102,130101")]
    assert task[0]["action"] == "protect the pinch point" and task[0]["importance_class"] == "important"
    assert task[1]["area_km2"] == pytest.approx(4.0) and task[1]["priority"] == pytest.approx(0.2 / 4)
    (pinch,) = rows(conn, "SELECT * FROM bi.pattern_pinch WHERE run_id = %s", (pattern,))
    assert (pinch["current_max"], pinch["current_mean"], pinch["resistance_rise"]) == (0.9, 0.7, 12.5)
    assert (pinch["lcd_rise"], pinch["lcd_rise_share"]) == (30000.0, 1.5)
    (barrier,) = rows(conn, "SELECT * FROM bi.pattern_barrier WHERE run_id = %s", (pattern,))
    assert barrier["lcd_drop"] == 4000.0 and barrier["diameter_m"] == 2000.0
    assert barrier["lcd_drop_per_km2"] == pytest.approx(1000.0) and barrier["county_code"] == "130102"
    (run,) = rows(conn, "SELECT tasks, joint_tasks FROM bi.pattern_run WHERE run_id = %s", (pattern,))
    assert run == {"tasks": 2, "joint_tasks": sum(p["joint"] for p in placed)}
