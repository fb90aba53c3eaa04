"""The synthetic demo region, generated and loaded through the public loaders."""

import json

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from restore_db.load import demo
from restore_db.publish import status
from restore_db.cli import app


def test_demo_region_is_complete_and_aligned(db_url, conn, tmp_path):
    summary = demo.run(name="demo", pixel_size=4000, workdir=tmp_path, url=db_url, log=lambda m: None)
    assert "200 counties" in summary
    info = status.collect(conn)
    (area,) = info["study_areas"]
    assert area["boundaries"]["levels"] == {"county": 200, "city": 13, "province": 3}
    assert area["boundaries"]["counties_by_province"] == {"110000": 16, "120000": 16, "130000": 168}
    assert {layer["name"] for layer in area["layers"]} == set(demo.LAYERS)
    assert area["all_layers_aligned"] is True
    assert {s["variable"] for s in area["statistics"]} == {"population", "gdp", "grain_output", "land_area"}
    assert all(s["counties"] == 200 for s in area["statistics"])
    assert {p["name"] for p in area["parameter_sets"]} == {"lulc_coefficients", "model_scalars"}
    # every county's parent city is loaded and belongs to the same province
    orphans = conn.execute(
        """SELECT count(*) FROM core.admin_unit c LEFT JOIN core.admin_unit p
             ON p.study_area_id = c.study_area_id AND p.level = 'city' AND p.code = c.parent_code
           WHERE c.level = 'county' AND (p.code IS NULL OR p.parent_code IS DISTINCT FROM c.province_code)"""
    ).fetchone()[0]
    assert orphans == 0
    # counties tile the land: no overlaps, union area = sum of areas
    total, union = conn.execute(
        "SELECT sum(ST_Area(geom)), ST_Area(ST_Union(geom)) FROM core.admin_unit WHERE level = 'county'"
    ).fetchone()
    assert abs(total - union) / union < 1e-6
    # the climate layers came from a geographic file and were warped: values stay inside the file's range
    with rasterio.open(next(tmp_path.glob("*/precipitation_wgs84.tif"))) as src:
        values = src.read(1, masked=True)
    layer = next(l for l in area["layers"] if l["name"] == "precipitation")
    assert values.min() <= layer["min"] <= layer["max"] <= values.max()


def test_demo_is_deterministic_per_seed():
    a, b = demo.build_region(7), demo.build_region(7)
    assert list(a.counties["code"]) == list(b.counties["code"])
    assert np.allclose(a.counties.geometry.area, b.counties.geometry.area)
    c = demo.build_region(8)
    assert not np.allclose(sorted(a.counties.geometry.area), sorted(c.counties.geometry.area))


def test_demo_layers_by_blocks_equal_the_whole_grid():
    """Blocks of any height hold exactly the values of one whole-grid evaluation, and the county sums made
    block by block (np.add.at) equal np.bincount over the whole grid bit for bit."""
    from restore_db.grid.reference import Grid

    region = demo.build_region(20230010)
    grid = Grid.covering(demo.SRID, demo.EXTENT, 5000.0, 32)
    whole = demo.make_layers(region, grid, 20230010)
    for rows in (1, 7, 64):
        parts = list(demo.layer_blocks(region, grid, 20230010, rows=rows))
        assert [r0 for r0, _ in parts] == list(range(0, grid.height, rows))
        for key, arr in whole.items():
            assert np.array_equal(np.concatenate([b[key] for _, b in parts]), arr, equal_nan=True), key
    stats = demo._CountyStats(region, grid)
    for r0, block in demo.layer_blocks(region, grid, 20230010, rows=7):
        stats.add(r0, block)
    index = stats.index.ravel()
    n = len(region.counties) + 1
    assert np.array_equal(stats.pop, np.bincount(index, weights=np.nan_to_num(whole["population"]).ravel(),
                                                 minlength=n))
    assert np.array_equal(stats.crop, np.bincount(index, weights=(whole["lulc"] == demo.LULC["cropland"]).ravel(),
                                                  minlength=n))
    assert np.array_equal(stats.cells, np.bincount(index, minlength=n))


def test_status_json_after_demo(db_url, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    result = CliRunner().invoke(app, ["status", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    (area,) = info["study_areas"]
    assert area["grid"]["pixel_size"] == 8000
    assert area["boundaries"]["levels"]["county"] == 200
    assert all(layer["aligned"] for layer in area["layers"])


def test_five_services_run_on_the_demo(db_url, conn, tmp_path):
    """Every service, supply and demand, on the demo region; county totals cover all 200 counties."""
    from restore_db.grid import studyarea
    from restore_db.stages.services.stage import compute_services

    demo.run(name="demo", pixel_size=4000, workdir=tmp_path, url=db_url, log=lambda m: None)
    area = studyarea.get(conn, "demo")
    with conn.transaction():
        run_id, results = compute_services(conn, area)
    assert [r.service for r in results] == ["food", "carbon", "water", "soil", "recreation"]
    rows = conn.execute("""SELECT service, side, count(*), min(total), sum(total) FROM result.county_service
                           WHERE run_id = %s GROUP BY 1, 2""", (run_id,)).fetchall()
    assert len(rows) == 10
    for service, side, counties, lowest, total in rows:
        assert counties == 200, (service, side)
        assert lowest >= 0 and total > 0, (service, side)
    # food supply is the county grain output allocated to cropland: the totals are conserved
    grain = conn.execute("""SELECT sum(value) FROM src.county_stat WHERE study_area_id = %s
                            AND variable = 'grain_output'""", (area.study_area_id,)).fetchone()[0]
    food = next(r[4] for r in rows if r[0] == "food" and r[1] == "supply")
    assert abs(food - grain) / grain < 1e-6


def _wait_for_other_sessions(conn, timeout: float = 20.0) -> None:
    """Wait until no other session is connected to this database (a killed client's backend aborts its
    transaction when it notices the closed connection)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (n,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchone()
        conn.rollback()
        if n == 0:
            return
        time.sleep(0.2)
    raise AssertionError("another session is still connected")


def test_demo_replace_is_all_or_nothing(db_url, conn, tmp_path, monkeypatch):
    """A failure while loading the new region leaves the old one exactly as it was."""
    from helpers import db_fingerprint
    from restore_db.errors import InputError

    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    before = db_fingerprint(conn)

    def broken(*args, **kwargs):
        raise InputError("statistics file unreadable")

    monkeypatch.setattr(demo, "load_stats", broken)
    with pytest.raises(InputError, match="unreadable"):
        demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, replace=True, log=lambda m: None)
    assert db_fingerprint(conn) == before


def test_demo_replace_killed_half_way_leaves_the_old_region(db_url, conn, cli_env, tmp_path):
    """kill -9 during `demo --replace`, after the old area is deleted and while the new one loads: nothing of
    the new area shows and the old one is whole."""
    import os
    import signal
    import subprocess
    import time

    from helpers import cli_argv, db_fingerprint

    demo.run(name="demo", pixel_size=2000, workdir=tmp_path, url=db_url, log=lambda m: None)
    before = db_fingerprint(conn)
    proc = subprocess.Popen(cli_argv("demo", "--replace", "--pixel-size", "2000", "--workdir", tmp_path / "again"),
                            env={**os.environ, **cli_env}, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if "generated files" in line:    # the old area is deleted in the transaction; loading starts
            break
    time.sleep(0.5)
    assert proc.poll() is None, "the demo finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_for_other_sessions(conn)
    assert db_fingerprint(conn) == before
