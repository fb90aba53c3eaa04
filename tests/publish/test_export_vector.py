"""``export gpkg``: every layer of the GeoPackage, read back with pyogrio, equals its bi relation read with psycopg.

The demo region after ``compute all`` (the session's ``computed_demo``, read only) is exported once; each layer
is compared with the database row by row (by key) and column by column: integers, reals (GeoPackage REAL is
float64: exact) and text exactly, date-times within 1 ms (the GeoPackage stores milliseconds), geometry as WKB
bytes (exact) in the CRS of the column's SRID; field types from ``read_info``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import psycopg
import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

import bi_rows
from helpers import run_cli
from restore_db.errors import InputError
from restore_db.publish import export_tables
from restore_db.publish.export_tables import export_gpkg

# layer -> (bi relation, run it is filtered on, geometry type); written out here, not taken from the module
LAYERS = {
    "analysis_run": ("current_run", "zoning", None),
    "county": ("county", "zoning", "MultiPolygon"),
    "zone_map": ("zone_map", "zoning", "MultiPolygon"),
    "pattern_run": ("pattern_run", "pattern", None),
    "pattern_source": ("pattern_source", "pattern", "MultiPolygon"),
    "pattern_corridor": ("pattern_corridor", "pattern", "LineString"),
    "pattern_corridor_area": ("pattern_corridor_area", "pattern", "MultiPolygon"),
    "pattern_node": ("pattern_node", "pattern", "Point"),
    "pattern_pinch": ("pattern_pinch", "pattern", "MultiPolygon"),
    "pattern_barrier": ("pattern_barrier", "pattern", "MultiPolygon"),
    "pattern_collab_unit": ("pattern_collab_unit", "pattern", "MultiPolygon"),
    "pattern_county_link": ("pattern_county_link", "pattern", "LineString"),
    "pattern_task": ("pattern_task", "pattern", "MultiPolygon"),
}
# OGR field type and subtype of each PostgreSQL type
OGR_TYPES = {
    "integer": ("OFTInteger", "OFSTNone"),
    "smallint": ("OFTInteger", "OFSTInt16"),
    "bigint": ("OFTInteger64", "OFSTNone"),
    "double precision": ("OFTReal", "OFSTNone"),
    "boolean": ("OFTInteger", "OFSTBoolean"),
    "text": ("OFTString", "OFSTNone"),
    "timestamp with time zone": ("OFTDateTime", "OFSTNone"),
}
MS = timedelta(milliseconds=1)


@pytest.fixture
def demo(computed_demo):
    """A connection to the computed demo, closed after the test (a copy of the database needs none open)."""
    with psycopg.connect(computed_demo) as conn:
        yield conn


@pytest.fixture(scope="module")
def exported(computed_demo, tmp_path_factory):
    """(path, info) of the GeoPackage of the demo's current analysis."""
    folder = tmp_path_factory.mktemp("gpkg")
    path = folder / "demo.gpkg"
    with psycopg.connect(computed_demo) as conn, conn.transaction():
        info = export_gpkg(conn, "demo", path)
    assert os.listdir(folder) == ["demo.gpkg"]  # no temporary file, no .aux.xml left behind
    return path, info


def expected(conn, layer: str, runs: tuple[int, int | None]) -> tuple[list[tuple[str, str]], dict]:
    """(columns with types, rows by key) of a layer, from the database."""
    relation, run, _ = LAYERS[layer]
    run_id = runs[0] if run == "zoning" else runs[1]
    cols = bi_rows.exported_columns(conn, relation, geometry=True)
    if layer == "analysis_run":
        cur = conn.execute("SELECT * FROM bi.current_run WHERE run_id = %s", (run_id,))
        names = [d.name for d in cur.description]
        return cols, {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
    return cols, bi_rows.rows(conn, relation, run_id)


def test_layers_names_types_and_crs(demo, exported):
    path, info = exported
    listed = {name: gtype for name, gtype in pyogrio.list_layers(path)}
    assert listed == {name: geometry for name, (_, _, geometry) in LAYERS.items()}
    zoning, pattern = bi_rows.current_runs(demo)
    assert pattern is not None  # compute all made a pattern
    assert (info.zoning_run_id, info.pattern_run_id, info.study_area) == (zoning, pattern, "demo")
    for name, (relation, _, geometry) in LAYERS.items():
        meta = pyogrio.read_info(path, layer=name)
        if geometry is None:
            assert meta["crs"] is None and meta["geometry_type"] is None
            continue
        srid = demo.execute("SELECT srid FROM geometry_columns WHERE f_table_schema = 'bi' AND f_table_name = %s",
                            (relation,)).fetchone()[0]
        assert srid == 4326 and meta["crs"] == f"EPSG:{srid}", (name, meta["crs"])
        assert meta["geometry_type"] == geometry and meta["geometry_name"] == "geom"


@pytest.mark.parametrize("layer", list(LAYERS))
def test_layer_round_trip(demo, exported, layer):
    path, info = exported
    runs = bi_rows.current_runs(demo)
    cols, want = expected(demo, layer, runs)
    geometry = LAYERS[layer][2]
    attributes = [(n, t) for n, t in cols if t != "geometry"]
    meta = pyogrio.read_info(path, layer=layer)
    # every column but the BI text copies and arrays, in the relation's order, with its type
    assert list(meta["fields"]) == [n for n, _ in attributes]
    assert list(zip(meta["ogr_types"], meta["ogr_subtypes"])) == [OGR_TYPES[t] for _, t in attributes]
    assert not bi_rows.HELPER_COLUMNS & set(meta["fields"])
    assert meta["features"] == len(want) == info.rows[layer]
    if layer not in ("pattern_barrier",):  # the demo's circuit step finds no barrier
        assert want, f"bi has no rows for {layer}: the comparison would be empty"
    frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry is not None)
    key = attributes[0][0]
    got = {int(r[key]): r for r in frame.to_dict("records")}
    assert set(got) == set(want)
    for k, row in want.items():
        for name, pg_type in attributes:
            assert bi_rows.same_value(got[k][name], row[name], pg_type, MS), (layer, k, name, got[k][name],
                                                                              row[name])
        if geometry is not None:
            shape = got[k]["geometry"]
            assert shapely.to_wkb(shape) == row["geom"], (layer, k)
            assert shape.equals_exact(shapely.from_wkb(row["geom"]), tolerance=0)


def test_chinese_text_and_dropped_columns(demo, exported):
    path, _ = exported
    zoning, _ = bi_rows.current_runs(demo)
    want = dict(demo.execute("SELECT id, zone_name_zh FROM bi.zone_map WHERE run_id = %s", (zoning,)).fetchall())
    assert any("区" in v for v in want.values())
    frame = pyogrio.read_dataframe(path, layer="zone_map", read_geometry=False)
    assert dict(zip(frame["id"].astype(int), frame["zone_name_zh"])) == want
    county = pyogrio.read_dataframe(path, layer="county", read_geometry=False)
    assert county["zone_name_zh"].str.contains("区").sum() > 0
    for layer in ("county", "zone_map", "pattern_task", "pattern_source"):
        assert "geom_geojson_4326" not in pyogrio.read_info(path, layer=layer)["fields"]
    assert "geom_wkt_simpl" not in pyogrio.read_info(path, layer="zone_map")["fields"]
    node_fields = list(pyogrio.read_info(path, layer="pattern_node")["fields"])
    assert "corridors" not in node_fields and "corridor_ids" in node_fields


def test_older_run_and_analysis_without_pattern(computed_demo_copy, tmp_path):
    """A new zoning run becomes current without a pattern run: its pattern layers are empty but typed; ``--run``
    exports the older run with its own pattern run."""
    with psycopg.connect(computed_demo_copy) as conn:
        old_zoning, old_pattern = bi_rows.current_runs(conn)
    settings = tmp_path / "rook.toml"
    settings.write_text('[zoning]\nsmoothing = "rook"\n', encoding="utf-8")
    proc = run_cli({"RESTORE_DB_URL": computed_demo_copy}, "compute", "zoning", "-a", "demo", "--config", settings)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(computed_demo_copy) as conn:
        zoning, pattern = bi_rows.current_runs(conn)
        assert zoning > old_zoning and pattern is None
        new = export_gpkg(conn, "demo", tmp_path / "new.gpkg")
        old = export_gpkg(conn, "demo", tmp_path / "old.gpkg", run_id=old_zoning)
        assert (new.zoning_run_id, new.pattern_run_id) == (zoning, None)
        assert (old.zoning_run_id, old.pattern_run_id) == (old_zoning, old_pattern)
        for name, (_, run, geometry) in LAYERS.items():
            assert dict(pyogrio.list_layers(tmp_path / "new.gpkg"))[name] == geometry
            if run == "pattern":
                assert new.rows[name] == 0 and pyogrio.read_info(tmp_path / "new.gpkg", layer=name)["features"] == 0
        runs_new = pyogrio.read_dataframe(tmp_path / "new.gpkg", layer="analysis_run")
        assert int(runs_new["run_id"][0]) == zoning and bi_rows.is_null(runs_new["pattern_run_id"][0])
        runs_old = pyogrio.read_dataframe(tmp_path / "old.gpkg", layer="analysis_run")
        assert (int(runs_old["run_id"][0]), int(runs_old["pattern_run_id"][0])) == (old_zoning, old_pattern)
        for path, run_id in ((tmp_path / "old.gpkg", old_zoning), (tmp_path / "new.gpkg", zoning)):
            want = bi_rows.rows(conn, "county", run_id)
            got = pyogrio.read_dataframe(path, layer="county")
            assert set(got["id"].astype(int)) == set(want) and set(got["run_id"]) == {run_id}
            assert dict(zip(got["id"].astype(int), got["zone_code"])) == {k: r["zone_code"] for k, r in want.items()}
        pattern_run = pyogrio.read_dataframe(tmp_path / "old.gpkg", layer="pattern_run")
        assert list(pattern_run["run_id"]) == [old_pattern] and list(pattern_run["zoning_run_id"]) == [old_zoning]


def test_bad_inputs_write_nothing(demo, tmp_path):
    zoning, _ = bi_rows.current_runs(demo)
    services = demo.execute("SELECT max(run_id) FROM core.run WHERE stage = 'services'").fetchone()[0]
    out = tmp_path / "r.gpkg"
    cases = [
        (dict(path=out, run_id=99999), ["no run 99999", "'demo'"]),
        (dict(path=out, run_id=services), [f"run {services} of study area 'demo' is a services run",
                                           "not a zoning run"]),
        (dict(path=tmp_path), [str(tmp_path), "is a directory"]),
        (dict(path=tmp_path / "r.shp"), ["r.shp", "must end in .gpkg"]),
        (dict(path=tmp_path / "no" / "r.gpkg"), [str(tmp_path / "no"), "does not exist"]),
    ]
    for kwargs, parts in cases:
        with pytest.raises(InputError) as exc, demo.transaction():
            export_gpkg(demo, "demo", **kwargs)
        message = str(exc.value)
        assert "\n" not in message
        for part in parts:
            assert part in message, (part, message)
    with pytest.raises(InputError, match="unknown study area 'nope'"):
        export_gpkg(demo, "nope", out)
    demo.rollback()
    assert os.listdir(tmp_path) == []
    out.write_bytes(b"precious")
    with pytest.raises(InputError, match="already exists; use --overwrite"):
        export_gpkg(demo, "demo", out)
    assert out.read_bytes() == b"precious" and os.listdir(tmp_path) == ["r.gpkg"]
    demo.rollback()


def test_failure_midway_leaves_no_partial_file(demo, tmp_path, monkeypatch):
    out = tmp_path / "r.gpkg"
    out.write_bytes(b"old")
    real = pyogrio.write_dataframe
    calls = []

    def failing(frame, path, **kwargs):
        calls.append(kwargs["layer"])
        if len(calls) == 5:
            raise pyogrio.errors.DataLayerError("simulated failure")
        return real(frame, path, **kwargs)

    monkeypatch.setattr(export_tables.pyogrio, "write_dataframe", failing)
    with pytest.raises(InputError, match="simulated failure"):
        export_gpkg(demo, "demo", out, overwrite=True)
    demo.rollback()
    assert len(calls) == 5 and os.listdir(tmp_path) == ["r.gpkg"] and out.read_bytes() == b"old"


def test_cli_gpkg(computed_demo, tmp_path, monkeypatch):
    from restore_db.cli import app

    monkeypatch.setenv("RESTORE_DB_URL", computed_demo)
    out = tmp_path / "results.gpkg"
    result = CliRunner().invoke(app, ["export", "gpkg", str(out), "-a", "demo"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert str(out) in text and f"{len(LAYERS)} layers" in text and " rows" in text and " s (database" in text
    assert sorted(name for name, _ in pyogrio.list_layers(out)) == sorted(LAYERS)
    before = out.read_bytes()
    result = CliRunner().invoke(app, ["export", "gpkg", str(out)])
    assert isinstance(result.exception, InputError) and "--overwrite" in str(result.exception)
    assert out.read_bytes() == before
    result = CliRunner().invoke(app, ["export", "gpkg", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output


def test_study_area_without_zoning_run(conn, tmp_path):
    from helpers import create_area
    from restore_db.publish.export_tables import export_csv

    create_area(conn, "bare", 32650, 400000.0, 4500000.0, 1000.0, 20, 10)
    for export, target in ((export_gpkg, tmp_path / "r.gpkg"), (export_csv, tmp_path / "csv")):
        with pytest.raises(InputError, match="study area 'bare' has no succeeded zoning run; run `restore-db "
                                             "compute all -a bare` first"):
            export(conn, "bare", target)
        conn.rollback()
    assert os.listdir(tmp_path) == []
