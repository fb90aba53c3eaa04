"""Bad inputs through the real CLI, table-driven: each ends in exactly one line
on stderr naming the culprit, with its exit status (1 input, 3 database), and
leaves the database byte for byte as it was.

All cases share one database holding the demo region and a finished
``compute all`` (a case that changed it would fail). The last test checks the
totals of the module's cases (``pytest -s`` prints them).
"""

from __future__ import annotations

import os
import socket

import geopandas as gpd
import numpy as np
import psycopg
import pytest
from affine import Affine
from shapely.geometry import box

import helpers
from conftest import TEMPLATE
from helpers import check_bad_input, run_cli, write_tif
from restore_db.load import demo
from restore_db.config import with_dbname
from restore_db.resources import package_data

_MINE: list[dict] = []


@pytest.fixture(scope="module")
def demo_db(server_url, template_url, tmp_path_factory):
    """(url, run ids by stage, folder of the input files) of a database with the demo region computed."""
    name = f"restore_test_bad_inputs_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    url = with_dbname(server_url, name)
    folder = tmp_path_factory.mktemp("bad_inputs")
    demo.run(name="demo", pixel_size=8000, workdir=folder / "demo", url=url, log=lambda m: None)
    proc = run_cli({"RESTORE_DB_URL": url}, "compute", "all", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(url) as conn:
        ids = dict(conn.execute("SELECT stage, max(run_id) FROM core.run WHERE status = 'succeeded' "
                                "GROUP BY stage").fetchall())
    _write_files(folder)
    yield url, ids, folder
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _write_files(folder) -> None:
    (folder / "latin1.toml").write_bytes("# réglages\n[zoning]\nsmoothing = 'none'\n".encode("latin-1"))
    (folder / "invalid.toml").write_text("[zoning\nsmoothing = 'none'\n", encoding="utf-8")
    (folder / "unknown.toml").write_text("[zoning]\nsmoothin = 'none'\n", encoding="utf-8")
    (folder / "type.toml").write_text("[ratios.classes]\nk = 'three'\n", encoding="utf-8")
    (folder / "choice.toml").write_text("[zoning]\nsmoothing = 'hexagonal'\n", encoding="utf-8")
    (folder / "alpha.toml").write_text("[resilience.combined]\nalpha = 1.5\n", encoding="utf-8")
    (folder / "a_folder.toml").mkdir()
    (folder / "exists.gpkg").write_bytes(b"not replaced without --overwrite")
    (folder / "csv_taken").mkdir()
    (folder / "csv_taken" / "county.csv").write_text("not replaced without --overwrite", encoding="utf-8")
    (folder / "exists.qgz").write_bytes(b"PK")
    (folder / "exists.html").write_text("not replaced without --overwrite", encoding="utf-8")
    frame = gpd.GeoDataFrame({"code": ["110101"], "name": ["x"]}, geometry=[box(116, 39, 116.5, 39.5)])
    frame.to_file(folder / "noprj.shp", encoding="utf-8")
    (folder / "noprj.prj").unlink(missing_ok=True)     # no CRS: no .prj
    write_tif(folder / "dem.tif", np.ones((4, 4), dtype="float32"), "EPSG:4326",
              Affine(0.1, 0, 116, 0, -0.1, 40), nodata=-9999)
    write_tif(folder / "nocrs.tif", np.ones((4, 4), dtype="float32"), None, Affine(1000, 0, 0, 0, -1000, 0),
              nodata=-9999)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CREATE = ["study-area", "create", "bad", "--pixel-size", "1000"]
# (id, arguments, exit status, text the line must hold, extra: {"lock": SQL held by another connection meanwhile,
#  "env": environment, "area": a study area without runs that exists meanwhile}); {services} {ratios} {resilience} {zoning} {pipeline}: run ids, {dir}: the input files
CASES = [
    # CRS, extents and grids
    ("srid-bogus", [*CREATE, "--srid", "EPSG:bogus", "--bbox", "0,0,1000,1000"], 1, "--srid: cannot read CRS 'EPSG:bogus'"),
    ("srid-geographic", [*CREATE, "--srid", "EPSG:4326", "--bbox", "0,0,1,1"], 1, "is geographic"),
    ("bbox-inf", [*CREATE, "--srid", "32650", "--bbox", "0,0,inf,1000"], 1, "inf is not finite"),
    ("bbox-nan", [*CREATE, "--srid", "32650", "--bbox", "0,0,1000,nan"], 1, "nan is not finite"),
    ("bbox-overflow", [*CREATE, "--srid", "32650", "--bbox", "0,0,1e999,1000"], 1, "1e999 is not finite"),
    ("bbox-three", [*CREATE, "--srid", "32650", "--bbox", "0,0,1000"], 1, "--bbox must be four numbers"),
    ("bbox-words", [*CREATE, "--srid", "32650", "--bbox", "a,b,c,d"], 1, "--bbox must be four numbers"),
    ("bbox-empty", [*CREATE, "--srid", "32650", "--bbox", "1000,0,0,1000"], 1, "is an empty extent"),
    ("bbox-crs-bogus", [*CREATE, "--srid", "32650", "--bbox", "0,0,1,1", "--bbox-crs", "EPSG:bogus"], 1,
     "--bbox-crs: cannot read CRS 'EPSG:bogus'"),
    ("bbox-crs-outside", [*CREATE, "--srid", "32650", "--bbox", "116,91,117,95", "--bbox-crs", "EPSG:4326"], 1,
     "study area 'bad'"),
    ("pixel-nan", [*CREATE[:-1], "nan", "--srid", "32650", "--bbox", "0,0,1000,1000"], 1, "pixel size"),
    ("pixel-negative", [*CREATE[:-1], "-5", "--srid", "32650", "--bbox", "0,0,1000,1000"], 1, "pixel size"),
    ("margin-inf", [*CREATE, "--srid", "32650", "--bbox", "0,0,1000,1000", "--margin", "inf"], 1, "--margin"),
    ("tile-size", [*CREATE, "--srid", "32650", "--bbox", "0,0,1000,1000", "--tile-size", "3"], 1, "tile size"),
    ("area-name", ["study-area", "create", "Bad-Name", "--srid", "32650", "--pixel-size", "1000", "--bbox",
                   "0,0,1000,1000"], 1, "invalid study-area name 'Bad-Name'"),
    ("area-exists", ["study-area", "create", "demo", "--srid", "32650", "--pixel-size", "1000", "--bbox",
                     "0,0,1000,1000"], 1, "study area 'demo' already exists"),
    ("area-extent-twice", [*CREATE, "--srid", "32650"], 1, "give exactly one of --from-boundaries"),
    ("area-from-missing", [*CREATE, "--srid", "32650", "--from-boundaries", "{dir}/missing.gpkg"], 1, "missing.gpkg"),
    ("area-delete-unknown", ["study-area", "delete", "nope", "--yes"], 1, "unknown study area 'nope'"),
    ("area-delete-not-asked", ["study-area", "delete", "demo"], 1,
     "study-area delete asks before it deletes, and standard input is not a terminal: give --yes to go on"),
    # settings files
    ("settings-latin1", ["compute", "all", "--config", "{dir}/latin1.toml"], 1, "not UTF-8"),
    ("settings-missing", ["compute", "all", "--config", "{dir}/missing.toml"], 1, "settings file not found"),
    ("settings-folder", ["compute", "ratios", "--config", "{dir}/a_folder.toml"], 1, "cannot read settings file"),
    ("settings-invalid", ["compute", "zoning", "--config", "{dir}/invalid.toml"], 1, "not valid TOML"),
    ("settings-unknown-key", ["compute", "all", "--config", "{dir}/unknown.toml"], 1, "unknown setting 'zoning.smoothin'"),
    ("settings-type", ["compute", "all", "--config", "{dir}/type.toml"], 1, "'ratios.classes.k' must be of type int"),
    ("settings-choice", ["compute", "all", "--config", "{dir}/choice.toml"], 1, "'zoning.smoothing' = 'hexagonal'"),
    ("settings-range", ["compute", "resilience", "--config", "{dir}/alpha.toml"], 1, "resilience.combined.alpha"),
    # run ids given on the command line
    ("services-run-negative", ["compute", "ratios", "--services-run", "-1"], 1, "no run -1 in study area 'demo'"),
    ("services-run-zero", ["compute", "resilience", "--services-run", "0"], 1, "no run 0 in study area 'demo'"),
    ("services-run-unknown", ["compute", "ratios", "--services-run", "99999"], 1, "no run 99999 in study area 'demo'"),
    ("services-run-zoning", ["compute", "ratios", "--services-run", "{zoning}"], 1,
     "run {zoning} is a zoning run, not a services run"),
    ("services-run-pipeline", ["compute", "resilience", "--services-run", "{pipeline}"], 1,
     "run {pipeline} is a pipeline run, not a services run"),
    ("resilience-run-ratios", ["compute", "zoning", "--resilience-run", "{ratios}"], 1,
     "run {ratios} is a ratios run, not a resilience run"),
    ("ratios-run-services", ["compute", "zoning", "--ratios-run", "{services}"], 1,
     "run {services} is a services run, not a ratios run"),
    ("ratios-run-unknown", ["compute", "zoning", "--ratios-run", "424242", "--resilience-run", "{resilience}"], 1,
     "no run 424242 in study area 'demo'"),
    # names and choices
    ("area-unknown", ["compute", "services", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("service-unknown", ["compute", "services", "--service", "fishing"], 1, "unknown service(s) fishing"),
    ("side-unknown", ["compute", "services", "--side", "sideways"], 1, "sideways"),
    ("engine-unknown", ["compute", "services", "--engine", "gpu"], 1, "unknown engine 'gpu'"),
    ("engine-env-unknown", ["compute", "all"], 1, "unknown engine 'warp'", {"env": {"RESTORE_DB_ENGINE": "warp"}}),
    ("params-unknown", ["compute", "services", "--service", "carbon", "--params", "nope"], 1, "nope"),
    ("export-layer-unknown", ["export", "raster", "nope", "{dir}/out.tif"], 1, "nope"),
    ("export-run-unknown", ["export", "raster", "cesd", "{dir}/out.tif", "--run", "99999"], 1,
     "study area 'demo' has no run 99999"),
    ("export-layer-of-run", ["export", "raster", "lulc_nope", "{dir}/out.tif", "--run", "{services}"], 1,
     "run {services} of study area 'demo' has no layer 'lulc_nope'"),
    ("export-cog-exists", ["export", "raster", "dem", "{dir}/dem.tif", "--cog"], 1,
     "{dir}/dem.tif already exists; use --overwrite"),
    ("export-gpkg-area-unknown", ["export", "gpkg", "{dir}/out.gpkg", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("export-gpkg-run-unknown", ["export", "gpkg", "{dir}/out.gpkg", "--run", "99999"], 1,
     "no run 99999 in study area 'demo'"),
    ("export-gpkg-run-not-zoning", ["export", "gpkg", "{dir}/out.gpkg", "--run", "{services}"], 1,
     "run {services} of study area 'demo' is a services run, not a zoning run"),
    ("export-gpkg-exists", ["export", "gpkg", "{dir}/exists.gpkg"], 1,
     "{dir}/exists.gpkg already exists; use --overwrite"),
    ("export-gpkg-folder-missing", ["export", "gpkg", "{dir}/missing/out.gpkg"], 1,
     "folder {dir}/missing does not exist"),
    ("export-gpkg-is-folder", ["export", "gpkg", "{dir}/csv_taken"], 1, "{dir}/csv_taken is a directory"),
    ("export-gpkg-suffix", ["export", "gpkg", "{dir}/out.shp"], 1, "{dir}/out.shp must end in .gpkg"),
    ("export-csv-exists", ["export", "csv", "{dir}/csv_taken"], 1,
     "{dir}/csv_taken already holds county.csv; use --overwrite"),
    ("export-csv-run-not-zoning", ["export", "csv", "{dir}/csv_new", "--run", "{pattern}"], 1,
     "run {pattern} of study area 'demo' is a pattern run, not a zoning run"),
    ("export-csv-is-file", ["export", "csv", "{dir}/dem.tif"], 1, "{dir}/dem.tif is a file, not a folder"),
    ("export-gpkg-no-zoning", ["export", "gpkg", "{dir}/bare.gpkg", "-a", "bare"], 1,
     "study area 'bare' has no succeeded zoning run", {"area": "bare"}),
    ("export-csv-no-zoning", ["export", "csv", "{dir}/bare_csv", "-a", "bare"], 1,
     "study area 'bare' has no succeeded zoning run", {"area": "bare"}),
    ("export-qgis-exists", ["export", "qgis", "{dir}/exists.qgz"], 1,
     "export qgis: output {dir}/exists.qgz already exists; use --overwrite to replace it"),
    ("export-qgis-folder", ["export", "qgis", "{dir}/missing/demo.qgz"], 1,
     "export qgis: cannot write {dir}/missing/demo.qgz: folder {dir}/missing does not exist"),
    ("export-qgis-area-unknown", ["export", "qgis", "{dir}/out.qgz", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("export-qgis-area-unknown-db", ["export", "qgis", "--db", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("export-qgis-no-zoning", ["export", "qgis", "{dir}/bare.qgz", "-a", "bare"], 1,
     "QGIS project: study area 'bare' has no succeeded zoning run", {"area": "bare"}),
    ("export-qgis-no-zoning-db", ["export", "qgis", "--db", "-a", "bare"], 1,
     "QGIS project: study area 'bare' has no succeeded zoning run", {"area": "bare"}),
    ("export-qgis-file-and-db", ["export", "qgis", "{dir}/out.qgz", "--db"], 1, "give either FILE.qgz or --db"),
    # the report
    ("report-lang", ["report", "--lang", "fr", "--out", "{dir}/r.html"], 1, "report: unknown language 'fr'"),
    ("report-run-unknown", ["report", "--run", "99999", "--out", "{dir}/r.html"], 1,
     "report: no run 99999 in study area 'demo'"),
    ("report-run-not-zoning", ["report", "--run", "{pattern}", "--out", "{dir}/r.html"], 1,
     "report: run {pattern} of study area 'demo' is a pattern run, not a zoning run"),
    ("report-exists", ["report", "--out", "{dir}/exists.html"], 1, "{dir}/exists.html already exists; use --overwrite"),
    ("report-folder-missing", ["report", "--out", "{dir}/missing/r.html"], 1, "folder {dir}/missing does not exist"),
    ("report-is-folder", ["report", "--out", "{dir}/csv_taken"], 1, "{dir}/csv_taken is a directory"),
    ("report-area-unknown", ["report", "--out", "{dir}/r.html", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("report-no-zoning", ["report", "--out", "{dir}/bare.html", "-a", "bare"], 1,
     "study area 'bare' has no succeeded zoning run", {"area": "bare"}),
    ("report-lang-compute", ["compute", "all", "--report-lang", "fr"], 1, "--report-lang: unknown language 'fr'"),
    # cleaning up runs
    ("runs-list-area-unknown", ["runs", "list", "-a", "nope"], 1, "unknown study area 'nope'"),
    ("runs-drop-unknown", ["runs", "drop", "99999", "--yes"], 1, "no run 99999"),
    ("runs-drop-read", ["runs", "drop", "{services}", "--yes"], 1,
     "cannot drop services run {services}: it is read by run(s)"),
    ("runs-drop-published", ["runs", "drop", "{zoning}", "--yes"], 1,
     "cannot drop zoning run {zoning}: it is the current analysis in bi"),
    ("runs-drop-parent", ["runs", "drop", "{pipeline}", "--yes"], 1,
     "cannot drop pipeline run {pipeline}: it is the parent of run(s)"),
    ("runs-drop-other-area", ["runs", "drop", "{services}", "-a", "bare", "--yes"], 1,
     "no run {services} in study area 'bare'", {"area": "bare"}),
    ("runs-prune-keep", ["runs", "prune", "--keep", "-1", "--yes"], 1, "--keep must be 0 or more"),
    # tile workers: a bad RESTORE_DB_WORKERS is refused before anything is computed (never a stage left out)
    ("workers-env", ["compute", "all", "--force", "--no-report"], 1,
     "RESTORE_DB_WORKERS='abc' is not a whole number of at least 1", {"env": {"RESTORE_DB_WORKERS": "abc"}}),
    # files of the loaders
    ("load-raster-missing", ["load", "raster", "dem2", "{dir}/missing.tif", "--kind", "continuous", "--unit", "m"], 1,
     "missing.tif"),
    ("load-raster-kind", ["load", "raster", "dem2", "{dir}/dem.tif", "--kind", "fuzzy", "--unit", "m"], 1, "fuzzy"),
    ("load-raster-not-a-raster", ["load", "raster", "dem2", "{dir}/invalid.toml", "--kind", "continuous", "--unit", "m"],
     1, "cannot read raster {dir}/invalid.toml: '{dir}/invalid.toml' not recognized as being in a supported file format"),
    ("load-raster-name", ["load", "raster", "Dem-2", "{dir}/dem.tif", "--kind", "continuous", "--unit", "m"], 1,
     "Dem-2"),
    ("load-raster-src-crs", ["load", "raster", "dem2", "{dir}/nocrs.tif", "--kind", "continuous", "--unit", "m",
                             "--src-crs", "EPSG:bogus"], 1, "EPSG:bogus"),
    ("load-boundaries-src-crs", ["load", "boundaries", "{dir}/noprj.shp", "--level", "county", "--replace",
                                 "--src-crs", "EPSG:bogus"], 1, "EPSG:bogus"),
    ("load-boundaries-missing", ["load", "boundaries", "{dir}/missing.gpkg", "--level", "county"], 1, "missing.gpkg"),
    ("load-boundaries-level", ["load", "boundaries", "{dir}/noprj.shp", "--level", "township",
                               "--src-crs", "EPSG:4326"], 1, "township"),
    ("load-params-missing", ["load", "params", "{dir}/missing.csv"], 1, "missing.csv"),
    ("load-stats-missing", ["load", "stats", "{dir}/missing.csv", "--year", "2020"], 1, "missing.csv"),
    ("load-stats-column", ["load", "stats", "{dir}/missing.csv", "--column", "population"], 1,
     "--column must be CSV_COLUMN=variable"),
    # the database
    ("db-lock-conflict", ["compute", "services", "--service", "carbon"], 3,
     "error: database: canceling statement due to lock timeout (SQLSTATE 55P03 lock_not_available)",
     {"lock": "LOCK TABLE core.run IN EXCLUSIVE MODE", "env": {"PGOPTIONS": "-c lock_timeout=300"}}),
    ("db-lock-load", ["load", "params", str(package_data("params", "demo_lulc.csv")), "--name", "second"], 3,
     "error: database: canceling statement due to lock timeout",
     {"lock": "LOCK TABLE param.param_set IN EXCLUSIVE MODE", "env": {"PGOPTIONS": "-c lock_timeout=300"}}),
    ("db-not-there", ["status"], 3, "cannot connect to the database", {"server": "gone"}),
    ("db-not-there-compute", ["compute", "all"], 3, "cannot connect to the database", {"server": "gone"}),
]


@pytest.fixture(scope="module")
def module_conn(demo_db):
    with psycopg.connect(demo_db[0]) as conn:
        yield conn


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, demo_db, module_conn):
    name, args, exit_code, match, *extra = case
    extra = extra[0] if extra else {}
    url, ids, folder = demo_db
    fill = {**ids, "dir": folder}
    args = [a.format(**fill) for a in args]
    env = {"RESTORE_DB_URL": url, **extra.get("env", {})}
    if extra.get("server") == "gone":
        env["RESTORE_DB_URL"] = url.replace(f":{module_conn.info.port}/", f":{_free_port()}/")
        assert env["RESTORE_DB_URL"] != url
    before = len(helpers.BAD_INPUT_CASES)
    if extra.get("area"):
        proc = run_cli({"RESTORE_DB_URL": url}, "study-area", "create", extra["area"], "--srid", "32650",
                       "--pixel-size", "1000", "--bbox", "0,0,1000,1000")
        assert proc.returncode == 0, proc.stderr
    try:
        if extra.get("lock"):
            with psycopg.connect(url) as holder:
                holder.execute(extra["lock"])
                check_bad_input(module_conn, env, *args, exit_code=exit_code, match=match.format(**fill))
        else:
            check_bad_input(module_conn, env, *args, exit_code=exit_code, match=match.format(**fill))
    finally:
        _MINE.extend(dict(c, case=name) for c in helpers.BAD_INPUT_CASES[before:])
        if extra.get("area"):
            proc = run_cli({"RESTORE_DB_URL": url}, "study-area", "delete", extra["area"], "--yes")
            assert proc.returncode == 0, proc.stderr


def test_zz_totals_of_the_bad_input_cases():
    """Runs last in this module: every case ran, ended in one line without a traceback, and left the database
    unchanged."""
    if len(_MINE) != len(CASES):
        pytest.skip(f"only {len(_MINE)} of the {len(CASES)} cases ran")
    one_line = [c for c in _MINE if c["lines"] == 1 and not c["traceback"]]
    unchanged = [c for c in _MINE if c["unchanged"]]
    print(f"\nbad-input cases: {len(_MINE)}; ending in one line: {len(one_line)}; "
          f"leaving the database unchanged: {len(unchanged)}")
    by_exit = {}
    for c in _MINE:
        by_exit[c["exit"]] = by_exit.get(c["exit"], 0) + 1
    print("by exit status: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_exit.items())))
    assert [c["case"] for c in _MINE if c not in one_line] == []
    assert [c["case"] for c in _MINE if c not in unchanged] == []
