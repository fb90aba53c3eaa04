"""The QGIS project of a study area (restore_db.publish.qgis_project), opened by QGIS itself.

The project is built without QGIS; QGIS 3.22 (Debian's /usr/bin/python3, headless, throw-away HOME, see
test_bi_qgis.py) then opens it (a) from the database, through its postgresql:// project URI, and (b) from the
.qgz file, with tests/publish/qgis_open_project.py. Every layer must be valid with as many features as SQL counts
for its relation and filter (the study area's current analysis), the groups must follow the pipeline, the zones
must be categorized with Paul Tol's muted colours and their labels, and the zone map must draw in those colours.
A BI user (a member of restore_bi) opens the stored project and its layers too, and cannot overwrite it. The
project stores no credentials: QGIS gets them from libpq's environment (PGUSER, PGPASSWORD).

The data: a private copy of the demo region after ``compute all`` (computed_demo_copy), committed so that QGIS's
own connections see it.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import secrets
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from helpers import run_cli
from restore_db.errors import InputError
from restore_db.publish import bi, qgis_project
from test_bi_qgis import QGIS_INFO, QGIS_OK, SYSTEM_PYTHON, _clean_env

SCRIPT = Path(__file__).with_name("qgis_open_project.py")
needs_qgis = pytest.mark.skipif(not QGIS_OK, reason=f"QGIS not available: {QGIS_INFO}")
_roles = itertools.count()

GROUPS = ["Counties: supply and demand", "Resilience", "Zoning", "Ecological security pattern", "Collaboration"]
# Paul Tol's muted scheme by (matching type, resilience class), pale grey for the unclassified zone
TOL_MUTED = {("HH", "H"): "#332288", ("HH", "L"): "#88CCEE", ("LH", "H"): "#882255", ("LH", "L"): "#CC6677",
             ("LL", "H"): "#999933", ("LL", "L"): "#DDCC77", ("HL", "H"): "#117733", ("HL", "L"): "#44AA99"}
PALE_GREY = "#DDDDDD"
ZONING_TABLES = {"county", "county_current", "zone_map"}


@pytest.fixture
def demo(computed_demo_copy):
    with psycopg.connect(computed_demo_copy) as conn:
        yield computed_demo_copy, conn


def current(conn) -> dict:
    zoning, pattern, area_id = conn.execute(
        "SELECT run_id, pattern_run_id, study_area_id FROM bi.current_run WHERE study_area = 'demo'").fetchone()
    zones = conn.execute(
        """SELECT zone_code, display_code, zone_name, matching_type, resilience_class, classified
           FROM bi.zone_summary WHERE run_id = %s""", (zoning,)).fetchall()
    return {"zoning": zoning, "pattern": pattern, "area_id": area_id, "zones": zones}


def open_project(project: str, tmp_path: Path, user: str, password: str, colours=()) -> dict:
    """QGIS's report on the project (see qgis_open_project.py), the credentials in libpq's environment only."""
    home = tmp_path / "home"
    (home / "profile").mkdir(parents=True, exist_ok=True)
    env = _clean_env(home)
    env.update(PGUSER=user, PGPASSWORD=password)
    job = {"project": project, "render": "Restoration zones", "colours": list(colours), "outdir": str(tmp_path),
           "size": 500, "profile": str(home / "profile")}
    proc = subprocess.run([SYSTEM_PYTHON, str(SCRIPT)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, f"{SCRIPT.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    (tmp_path / "qgis.json").write_text(proc.stdout)
    result = json.loads(proc.stdout)
    assert result["read"], f"QGIS cannot read {project}: {result.get('error')}\n" + "\n".join(result["messages"])
    return result


def check_layers(conn, result: dict, runs: dict) -> None:
    """Every layer valid, filtered to the current analysis, with the features SQL counts; every bi geometry
    relation present; no credentials."""
    layers = result["layers"]
    tables = {r[0] for r in conn.execute(
        "SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'bi'").fetchall()}
    assert {lay["table"] for lay in layers.values()} == tables
    failures = []
    for name, lay in sorted(layers.items()):
        if not lay["valid"]:
            failures.append(f"{name}: not valid: {lay['error']}")
            continue
        table = lay["table"]
        run = (runs["area_id"] if table == "county_shape" else runs["zoning"] if table in ZONING_TABLES
               else runs["pattern"])
        column = "study_area_id" if table == "county_shape" else "run_id"
        expected_subset = f'"{column}" = {run}'
        count = conn.execute(sql.SQL("SELECT count(*) FROM bi.{} WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(column)), (run,)).fetchone()[0]
        problems = []
        if (lay["provider"], lay["schema"], lay["subset"]) != ("postgres", "bi", expected_subset):
            problems.append(f"provider/schema/subset {lay['provider']}, {lay['schema']}, {lay['subset']!r}")
        if lay["has_user"] or lay["has_password"]:
            problems.append("credentials stored")
        if not (lay["feature_count"] == lay["features_read"] == lay["distinct_fids"] == count):
            problems.append(f"features {lay['feature_count']}/{lay['features_read']}/{lay['distinct_fids']} "
                            f"!= {count} rows")
        if lay["crs"] != "EPSG:4326":
            problems.append(f"CRS {lay['crs']}")
        if problems:
            failures.append(f"{name} (bi.{table}): " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def check_project(conn, result: dict, runs: dict) -> None:
    check_layers(conn, result, runs)
    assert "demo" in result["title"]
    assert result["crs"] == result["view_crs"] == "EPSG:4326"
    xmin, ymin, xmax, ymax = conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM bi.zone_map "
        "WHERE run_id = %s) s", (runs["zoning"],)).fetchone()
    vx0, vy0, vx1, vy1 = result["view_extent"]
    assert vx0 < xmin and vy0 < ymin and vx1 > xmax and vy1 > ymax            # the zones, with a margin
    assert (vx1 - vx0) < 1.2 * (xmax - xmin) and (vy1 - vy0) < 1.2 * (ymax - ymin)
    assert [g for g, _ in result["groups"]] == GROUPS
    members = dict(result["groups"])
    assert "Restoration zones" in members["Zoning"] and "Nodes" in members["Ecological security pattern"]
    assert "Collaboration units" in members["Collaboration"] and "Resilience class" in members["Resilience"]
    order = result["drawing_order"]
    assert result["custom_order"] and order.index("Nodes") < order.index("Corridors") < order.index("Sources") \
        < order.index("Restoration zones")
    layers = result["layers"]

    zones = layers["Restoration zones"]
    assert (zones["table"], zones["renderer"], zones["attr"], zones["labels"]) == \
        ("zone_map", "categorizedSymbol", "zone_code", '"display_code"')
    expected = {code: (display, name, TOL_MUTED[(m, r)] if classified else PALE_GREY)
                for code, display, name, m, r, classified in runs["zones"]}
    got = {value: (label, colour) for value, label, colour in zones["categories"]}
    assert set(got) == set(expected)
    for code, (display, name, colour) in expected.items():
        label, got_colour = got[code]
        assert display in label and name in label and got_colour == colour, (code, label, got_colour)

    matching = layers["Matching type (CESD, all services)"]
    assert matching["attr"] == "matching_type" and [c[0] for c in matching["categories"]] == ["HH", "LH", "LL", "HL", ""]
    assert [c[0] for c in layers["Resilience class"]["categories"]] == ["H", "L", ""]
    corridors = layers["Corridors"]
    assert corridors["attr"] == "importance_class" and {c[0] for c in corridors["categories"]} == {"important", "general"}
    nodes = layers["Nodes"]
    kinds = {k for k, in conn.execute("SELECT DISTINCT kind FROM bi.pattern_node WHERE run_id = %s",
                                      (runs["pattern"],)).fetchall()}
    assert nodes["attr"] == "kind" and {"intersection", "ridge", "pinch", "barrier"} | kinds \
        <= {c[0] for c in nodes["categories"]}
    assert "pinch" in kinds   # the demo has pinch points

    drawn = result["render"]
    colours = {colour for _, _, colour in expected.values()}
    assert drawn["drawn"] > 0.3 * drawn["pixels"], drawn
    missing = [c for c in colours if drawn["colours"][c] == 0]
    assert not missing, f"zone colours not drawn in {drawn['png']}: {missing} ({drawn['colours']})"


def _credentials(url: str) -> tuple[str, str]:
    params = conninfo_to_dict(url)
    return params.get("user", ""), params.get("password", "")


@needs_qgis
def test_qgis_opens_the_project_stored_in_the_database(demo, tmp_path):
    url, conn = demo
    runs = current(conn)
    info = qgis_project.store_project(conn, "demo")
    conn.commit()
    params = conninfo_to_dict(url)
    assert info.target == (f"postgresql://{params['host']}:{params['port']}?sslmode=prefer"
                           f"&dbname={params['dbname']}&schema=bi&project=demo")
    assert (info.zoning_run_id, info.pattern_run_id) == (runs["zoning"], runs["pattern"])
    result = open_project(info.target, tmp_path, *_credentials(url),
                          colours=set(TOL_MUTED.values()) | {PALE_GREY})
    assert len(result["layers"]) == info.layers
    check_project(conn, result, runs)


@needs_qgis
def test_qgis_opens_the_project_file(demo, tmp_path):
    url, conn = demo
    runs = current(conn)
    target = tmp_path / "demo.qgz"
    info = qgis_project.write_project_file(conn, "demo", target)
    conn.rollback()
    assert info.target == str(target) and target.stat().st_size == info.bytes
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == ["demo.qgs"]
    result = open_project(str(target), tmp_path, *_credentials(url), colours=set(TOL_MUTED.values()) | {PALE_GREY})
    check_project(conn, result, runs)


@needs_qgis
def test_a_bi_user_opens_the_stored_project_and_its_layers(demo, tmp_path):
    url, conn = demo
    if not conn.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        pytest.skip("the test server's user may not create roles")
    from restore_db import db

    db.prepare(url)   # database rights of restore_bi (a copy of a database does not inherit them)
    runs = current(conn)
    info = qgis_project.store_project(conn, "demo")
    conn.commit()
    name, password = f"bi_qgis_{os.getpid()}_{next(_roles)}", secrets.token_hex(12)
    bi.create_user(conn, name, password)
    conn.commit()
    try:
        result = open_project(info.target, tmp_path, name, password)
        check_layers(conn, result, runs)
        assert len(result["layers"]) == info.layers
        user_url = psycopg.conninfo.make_conninfo(url, user=name, password=password)
        with psycopg.connect(user_url, autocommit=True) as user:
            user.execute("SET default_transaction_read_only = off")   # privileges, not read-only mode, refuse
            assert user.execute("SELECT count(*) FROM bi.qgis_projects WHERE name = 'demo'").fetchone()[0] == 1
            for stmt in ("UPDATE bi.qgis_projects SET content = NULL",
                         "INSERT INTO bi.qgis_projects VALUES ('mine', NULL, NULL)", "DELETE FROM bi.qgis_projects"):
                with pytest.raises(errors.InsufficientPrivilege):
                    user.execute(stmt)
    finally:
        conn.rollback()
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()


def test_the_project_names_no_credentials_and_every_bi_geometry_relation(demo):
    url, conn = demo
    runs = current(conn)
    qgs = qgis_project.project_qgs(conn, "demo")
    user, password = _credentials(url)
    assert password and password not in qgs and "password" not in qgs and "user=" not in qgs
    root = ET.fromstring(qgs.split("\n", 1)[1])
    sources = [m.findtext("datasource") for m in root.iter("maplayer")]
    tables = {r[0] for r in conn.execute(
        "SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'bi'").fetchall()}
    assert {s.split('table="bi"."', 1)[1].split('"', 1)[0] for s in sources} == tables
    params = conninfo_to_dict(url)
    for source in sources:
        assert source.startswith(f"dbname='{params['dbname']}' host='{params['host']}' port={params['port']} "
                                 "sslmode=prefer key=")
        assert source.endswith((f'sql="run_id" = {runs["zoning"]}', f'sql="run_id" = {runs["pattern"]}',
                                f'sql="study_area_id" = {runs["area_id"]}'))
    # the .qgz holds the same project
    with zipfile.ZipFile(io.BytesIO(qgis_project.project_qgz(conn, "demo"))) as zf:
        assert zf.read("demo.qgs").decode() == qgs


def test_store_project_replaces_the_row_of_the_study_area(demo):
    url, conn = demo
    runs = current(conn)
    conn.execute("INSERT INTO bi.qgis_projects VALUES ('my edits', '{}'::jsonb, 'x')")
    first = qgis_project.store_project(conn, "demo")
    second = qgis_project.store_project(conn, "demo")
    assert first.bytes == second.bytes > 1000 and second.layers == 19
    rows = conn.execute("SELECT name, metadata, length(content) FROM bi.qgis_projects ORDER BY name").fetchall()
    assert [r[0] for r in rows] == ["demo", "my edits"]          # a project saved under another name stays
    meta = rows[0][1]
    assert {k: meta[k] for k in ("study_area", "zoning_run_id", "pattern_run_id", "last_modified_user")} == {
        "study_area": "demo", "zoning_run_id": runs["zoning"], "pattern_run_id": runs["pattern"],
        "last_modified_user": conn.info.user}
    assert meta["last_modified_time"][:4].isdigit() and rows[0][2] == second.bytes


def test_a_study_area_without_a_zoning_run_has_no_project(demo, tmp_path):
    url, conn = demo
    proc = run_cli({"RESTORE_DB_URL": url}, "study-area", "create", "bare", "--srid", "32650", "--pixel-size",
                   "1000", "--bbox", "0,0,1000,1000")
    assert proc.returncode == 0, proc.stderr
    for call in (lambda: qgis_project.project_qgs(conn, "bare"), lambda: qgis_project.store_project(conn, "bare"),
                 lambda: qgis_project.write_project_file(conn, "bare", tmp_path / "bare.qgz")):
        with pytest.raises(InputError, match="study area 'bare' has no succeeded zoning run"):
            call()
    assert not (tmp_path / "bare.qgz").exists()
    with pytest.raises(InputError, match="unknown study area 'nope'"):
        qgis_project.project_qgs(conn, "nope")


def test_export_qgis_cli_writes_the_file_and_stores_the_project(demo, tmp_path):
    url, conn = demo
    conn.execute("DELETE FROM bi.qgis_projects")   # the one `compute all` stored
    conn.commit()
    target = tmp_path / "demo.qgz"
    proc = run_cli({"RESTORE_DB_URL": url}, "export", "qgis", str(target), "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    assert "19 layers" in proc.stderr and zipfile.ZipFile(target).namelist() == ["demo.qgs"]
    proc = run_cli({"RESTORE_DB_URL": url}, "export", "qgis", str(target), "-a", "demo", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert conn.execute("SELECT count(*) FROM bi.qgis_projects").fetchone()[0] == 0
    proc = run_cli({"RESTORE_DB_URL": url}, "export", "qgis", "--db", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    assert "postgresql://" in proc.stderr and "project=demo" in proc.stderr
    assert conn.execute("SELECT name FROM bi.qgis_projects").fetchall() == [("demo",)]


def test_compute_all_stores_the_project_of_its_analysis(computed_demo):
    with psycopg.connect(computed_demo) as conn:
        run, pattern = conn.execute("SELECT run_id, pattern_run_id FROM bi.current_run WHERE study_area = 'demo'"
                                    ).fetchone()
        rows = conn.execute("SELECT name, metadata FROM bi.qgis_projects").fetchall()
    assert [name for name, _ in rows] == ["demo"]
    assert rows[0][1]["zoning_run_id"] == run and rows[0][1]["pattern_run_id"] == pattern


def test_a_project_saved_from_qgis_is_replaced_only_with_overwrite(demo, tmp_path):
    url, conn = demo
    # what QGIS writes when a user saves a project under the study area's name: its own metadata, no run ids
    conn.execute("""UPDATE bi.qgis_projects SET metadata = '{"last_modified_time": "2026-01-01 00:00:00",
                    "last_modified_user": "planner"}', content = 'edited' WHERE name = 'demo'""")
    conn.commit()
    proc = run_cli({"RESTORE_DB_URL": url}, "export", "qgis", "--db", "-a", "demo")
    assert proc.returncode == 1 and "saved from QGIS" in proc.stderr and "--overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert conn.execute("SELECT content FROM bi.qgis_projects").fetchone()[0] == b"edited"
    conn.rollback()   # no transaction left open while the CLI computes
    proc = run_cli({"RESTORE_DB_URL": url}, "compute", "all", "-a", "demo", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "warning: QGIS project not stored" in proc.stderr
    assert conn.execute("SELECT content FROM bi.qgis_projects").fetchone()[0] == b"edited"
    conn.rollback()
    proc = run_cli({"RESTORE_DB_URL": url}, "export", "qgis", "--db", "-a", "demo", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert conn.execute("SELECT metadata ? 'zoning_run_id' FROM bi.qgis_projects").fetchone()[0]
