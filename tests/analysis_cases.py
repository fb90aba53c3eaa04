"""Tiny study areas for the analysis tests: four square counties and a
recorded services run whose county supply and demand are set by the test.

The numbers are the worked examples of docs/models/ratios.md#reference-test-values (ESDR, CESD,
quadrants) and docs/models/resilience.md#reference-test-values (weights), so expected values can be derived in the
tests from the formulas, independently of the code under test.
"""

from __future__ import annotations

import json

from shapely import box
from shapely.geometry import MultiPolygon

from helpers import create_area

# docs/models/ratios.md#reference-test-values: four units x two services, raw S and D in one unit
S = [[120, 30], [80, 10], [20, 50], [5, 5]]
D = [[60, 40], [100, 5], [10, 20], [50, 30]]
# docs/models/resilience.md#reference-test-values: four units x three indicators, directions (+, -, +)
X = [[0.2, 30, 5], [0.5, 10, 3], [0.9, 20, 9], [0.4, 40, 1]]
DIRECTIONS = [1, -1, 1]
SERVICES = ("food", "water")
SRID = 32650


def four_counties(conn, name: str = "tiny"):
    """A study area with four 10 km square counties in a row (c1 c2 c3 c4); returns (area, [unit_id])."""
    area = create_area(conn, name, SRID, 500_000, 4_410_000, 1000, 40, 10)
    ids = []
    with conn.transaction():
        for i in range(4):
            geom = MultiPolygon([box(500_000 + 10_000 * i, 4_400_000, 510_000 + 10_000 * i, 4_410_000)])
            (uid,) = conn.execute(
                """INSERT INTO core.admin_unit (study_area_id, level, code, name, province_code, geom)
                   VALUES (%s, 'county', %s, %s, 'p1', ST_GeomFromText(%s, %s)) RETURNING unit_id""",
                (area.study_area_id, f"c{i + 1}", f"County {i + 1}", geom.wkt, SRID)).fetchone()
            ids.append(uid)
    return area, ids


def services_run(conn, area, units, s=S, d=D, services=SERVICES, unit: str = "t/yr") -> int:
    """A succeeded services run whose county totals are ``s`` and ``d`` (one column per service)."""
    with conn.transaction():
        (run_id,) = conn.execute(
            """INSERT INTO core.run (study_area_id, stage, status, params, finished_at)
               VALUES (%s, 'services', 'succeeded', %s, now()) RETURNING run_id""",
            (area.study_area_id, json.dumps({"_aggregates": {}}))).fetchone()
        for i, uid in enumerate(units):
            for j, service in enumerate(services):
                for side, values in (("supply", s), ("demand", d)):
                    v = float(values[i][j])
                    conn.execute(
                        """INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, mean,
                               density_km2, valid_cells) VALUES (%s, %s, %s, %s, 'x', %s, %s, %s, %s, 100)""",
                        (run_id, uid, service, side, v, unit, v / 100, v / 100))
    return run_id


def sql_indicator_set(conn, name: str, columns=X, directions=DIRECTIONS, units=None, weights=None):
    """An indicator set of SQL indicators returning the columns of ``columns`` for the counties ``units``."""
    with conn.transaction():
        for j, direction in enumerate(directions):
            values = ", ".join(f"({u}, {float(row[j])})" for u, row in zip(units, columns))
            conn.execute(
                """INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction,
                       unit, source_kind, source, weight, position)
                   VALUES (%s, %s, %s, %s, %s, %s, '1', 'sql', %s, %s, %s)""",
                (name, f"x{j + 1}", f"D{j % 2 + 1}", f"dimension {j % 2 + 1}", f"indicator {j + 1}", direction,
                 f"SELECT * FROM (VALUES {values}) v(unit_id, value)", None if weights is None else weights[j], j))
