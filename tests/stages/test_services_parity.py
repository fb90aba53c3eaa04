"""Parity with natcap.invest 3.20.2 on the BTH 1 km reference run (same inputs, same arguments).

Expected values are InVEST's own output rasters and tables in ../shared/data; InVEST trims
2 px at the border, so rasters are compared by georeference, not by array index.
"""

import csv

import numpy as np
import pytest
import rasterio

import helpers
from restore_db.grid import studyarea
from restore_db.stages.services.stage import compute_services
from restore_db.load.invest import import_datastack

from conftest import shared_data

pytestmark = pytest.mark.realdata
REF = ("invest", "bth_1km_reference")


def read_layer(conn, area, layer, run_id):
    """A computed layer as float64 with NaN for nodata (tile placement checked by helpers.read_layer)."""
    arr, nodata, _ = helpers.read_layer(conn, area.name, layer, run_id)
    out = arr.astype(float)
    out[arr == nodata] = np.nan
    return out


def reference(path, grid, ours):
    """InVEST raster and the window of ``ours`` that covers it."""
    with rasterio.open(path) as src:
        ref = src.read(1).astype(float)
        ref[ref == src.nodata] = np.nan
        col0 = round((src.transform.c - grid.origin_x) / grid.pixel_size)
        row0 = round((grid.origin_y - src.transform.f) / grid.pixel_size)
    return ref, ours[row0:row0 + ref.shape[0], col0:col0 + ref.shape[1]]


@pytest.fixture
def bth(conn):
    for model in ("annual_water_yield", "carbon"):
        with conn.transaction():
            import_datastack(conn, shared_data(*REF, f"{model}_datastack.json"), "bth")
    return studyarea.get(conn, "bth")


def test_water_yield_matches_invest_per_pixel_and_per_county(conn, bth):
    with conn.transaction():
        run_id, _ = compute_services(conn, bth, ["water"], params="awy_biophysical", sides=("supply",),
                                     scalars="invest_annual_water_yield")
    out_dir = shared_data(*REF, "outputs", "annual_water_yield")
    for name in ("wyield", "fractp", "aet"):
        ref, ours = reference(out_dir / f"{name}.tif", bth.grid, read_layer(conn, bth, name, run_id))
        valid = ~np.isnan(ref)
        assert valid.sum() == 218569
        assert np.array_equal(valid, ~np.isnan(ours)), f"{name}: valid pixels differ from InVEST"
        rel = np.abs(ours[valid] - ref[valid]) / np.maximum(np.abs(ref[valid]), 1e-6)
        assert rel.max() < 1e-3, f"{name}: max relative difference {rel.max():.2e}"
    # per county: InVEST's wyield_vol = mean depth of the pixels whose centre is in the polygon x polygon area / 1000
    schema, table = conn.execute(
        "SELECT table_schema, table_name FROM core.layer WHERE name = 'wyield' AND run_id = %s", (run_id,)).fetchone()
    ours = dict(conn.execute(f"""
        SELECT z.code, (ST_SummaryStatsAgg(ST_Clip(r.rast, 1, z.geom, true), 1, true)).mean * ST_Area(z.geom) / 1000
        FROM core.zone z JOIN {schema}."{table}" r ON ST_Intersects(r.rast, z.geom)
        WHERE z.zone_set = 'watersheds' GROUP BY z.code, z.geom""").fetchall())
    with open(out_dir / "watershed_results_wyield_by_county.csv", encoding="utf-8") as fh:
        expected = {row["ws_id"]: float(row["wyield_vol"]) for row in csv.DictReader(fh)}
    assert set(ours) == set(expected)
    worst = max(abs(ours[k] - v) / v for k, v in expected.items())
    assert worst < 1e-3, f"worst county wyield_vol relative difference {worst:.2e}"


def test_carbon_matches_invest_exactly(conn, bth):
    with conn.transaction():
        run_id, _ = compute_services(conn, bth, ["carbon"], params="carbon_pools", sides=("supply",))
    out_dir = shared_data(*REF, "outputs", "carbon")
    ref, ours = reference(out_dir / "c_storage_bas.tif", bth.grid, read_layer(conn, bth, "c_storage", run_id))
    valid = ~np.isnan(ref)
    assert np.array_equal(valid, ~np.isnan(ours))
    np.testing.assert_allclose(ours[valid], ref[valid], rtol=1e-6)
    with open(out_dir / "raster_values_summary.csv", encoding="utf-8") as fh:
        total = float(next(csv.DictReader(fh))["Total"])
    ours_total = np.nansum(read_layer(conn, bth, "c_storage", run_id)) * bth.grid.pixel_area_m2 / 10_000
    assert ours_total == pytest.approx(total, rel=1e-6)


def test_missing_class_fails_before_computing(conn, bth):
    conn.execute("DELETE FROM param.lulc_value WHERE lucode = 12 AND coefficient = 'kc'")
    runs_before = conn.execute("SELECT count(*) FROM core.run").fetchone()[0]
    from restore_db.errors import InputError

    with pytest.raises(InputError, match=r"'kc' has no value for land-use class\(es\) 12"):
        compute_services(conn, bth, ["water"], params="awy_biophysical")
    assert conn.execute("SELECT count(*) FROM core.run").fetchone()[0] == runs_before
