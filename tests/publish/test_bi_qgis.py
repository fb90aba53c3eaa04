"""Issue 9, point 8: QGIS opens every geometry relation of the bi schema as it is.

A user drags a bi view from QGIS's browser: the PostGIS provider gets schema,
table and geometry column but no key column picked by hand. Every relation
listed in geometry_columns for schema bi (discovered here, so later views are
covered too) must then open valid, with as many features as rows, distinct
feature ids, geometry type MultiPolygon for the polygon relations, CRS
EPSG:4326, and draw on a map.

QGIS's Python bindings belong to Debian's /usr/bin/python3 (python3-qgis,
installed by scripts/setup.sh), not to the venv: QGIS runs in a subprocess,
tests/publish/qgis_open_layers.py, headless (QT_QPA_PLATFORM=offscreen) with a temporary
HOME so that no user profile is read or written. The data are the bi_views
analysis (four counties, two zoning runs, materialized views refreshed),
committed so that QGIS's own connections see it.

What QGIS 3.22's provider takes as key when the URI names none (found by
experiment): the relation's primary key or first unique index, on a table or a
materialized view (any column type; several columns allowed); for a table
without one, ctid (read-only). A plain view never has one, whatever its columns
or definition: "No key field for view/query given". A unique index on an
expression, or a key column holding NULLs, opens but gives features the same id;
hence the distinct-id check.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from test_bi_views import analysis, area  # noqa: F401  (fixtures: committed rows in every bi relation)

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("qgis_open_layers.py")


def _qgis_probe() -> tuple[bool, str]:
    """Whether Debian's python imports qgis.core; the QGIS version or why not."""
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", "from qgis.core import Qgis; print(Qgis.QGIS_VERSION)"],
            capture_output=True, text=True, timeout=60, env=_clean_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{SYSTEM_PYTHON} cannot run: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"{SYSTEM_PYTHON} cannot import qgis.core ({last}); scripts/setup.sh installs python3-qgis"
    return True, proc.stdout.strip()


def _clean_env(home: Path | None = None) -> dict:
    """The environment without the venv's Python variables; with ``home``: a throw-away profile."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QGIS", "XDG_"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    if home is not None:
        runtime = home / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                   XDG_CACHE_HOME=str(home / "cache"), XDG_RUNTIME_DIR=str(runtime))
    return env


QGIS_OK, QGIS_INFO = _qgis_probe()


def geometry_relations(conn) -> list[dict]:
    """Every geometry column of schema bi, with the relation's rows, rows with a geometry, type and SRID."""
    out = []
    for table, column, gtype, srid in conn.execute(
            """SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns
               WHERE f_table_schema = 'bi' ORDER BY 1, 2""").fetchall():
        rows, with_geom = conn.execute(
            sql.SQL("SELECT count(*), count({}) FROM bi.{}").format(
                sql.Identifier(column), sql.Identifier(table))).fetchone()
        out.append({"schema": "bi", "table": table, "geometry_column": column, "type": gtype, "srid": srid,
                    "rows": rows, "with_geom": with_geom})
    return out


def open_in_qgis(db_url: str, relations: list[dict], tmp_path: Path) -> dict:
    params = conninfo_to_dict(db_url)
    home = tmp_path / "home"
    (home / "profile").mkdir(parents=True)
    job = {"connection": {"host": params.get("host", ""), "port": params.get("port", "5432"),
                          "dbname": params["dbname"], "user": params.get("user", ""),
                          "password": params.get("password", "")},
           "relations": relations, "outdir": str(tmp_path), "size": 400, "profile": str(home / "profile")}
    proc = subprocess.run([SYSTEM_PYTHON, str(SCRIPT)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=180, env=_clean_env(home), cwd=tmp_path)
    assert proc.returncode == 0, f"{SCRIPT.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    (tmp_path / "qgis.json").write_text(proc.stdout)  # the full report, next to the PNGs
    result = json.loads(proc.stdout)
    assert "error" not in result, result["error"]
    return result


def qgis_type(geometry_columns_type: str) -> str:
    """The QGIS type expected for a geometry_columns type: polygons are MultiPolygon in bi."""
    t = geometry_columns_type.upper()
    if t in ("POLYGON", "MULTIPOLYGON"):
        return "MultiPolygon"
    return {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
            "MULTILINESTRING": "MultiLineString"}.get(t, t)


@pytest.mark.skipif(not QGIS_OK, reason=f"QGIS not available: {QGIS_INFO}")
def test_qgis_opens_every_bi_geometry_relation_without_a_key_column(conn, db_url, analysis, tmp_path):  # noqa: F811
    relations = geometry_relations(conn)
    conn.commit()
    rows = {r["table"]: r["rows"] for r in relations}
    for known in ("county", "county_current", "county_shape", "zone_map"):  # the fixture fills these
        assert rows.get(known, 0) > 0, rows

    layers = open_in_qgis(db_url, relations, tmp_path)["layers"]

    failures = []
    for rel in relations:
        name = f"bi.{rel['table']}"
        got = layers[name]
        if not got["valid"]:
            failures.append(f"{name}: not valid in QGIS: " + " | ".join([got["error"]] * bool(got["error"])
                                                                         + got["messages"]))
            continue
        problems = []
        if got["feature_count"] != rel["rows"]:
            problems.append(f"featureCount {got['feature_count']} != {rel['rows']} rows")
        if got["features_read"] != rel["rows"] or got["distinct_fids"] != rel["rows"]:
            problems.append(f"read {got['features_read']} features with {got['distinct_fids']} distinct ids "
                            f"(key {got['key']}) for {rel['rows']} rows")
        if got["wkb_type"] != qgis_type(rel["type"]):
            problems.append(f"geometry type {got['wkb_type']} != {qgis_type(rel['type'])}")
        if got["crs"] != "EPSG:4326":
            problems.append(f"CRS {got['crs']!r} != 'EPSG:4326'")
        if rel["with_geom"] > 0 and got["drawn_pixels"] <= 0:
            problems.append(f"nothing drawn in {got['png']}")
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))
    assert not failures, "QGIS does not open these bi relations as they are:\n" + "\n".join(failures)
