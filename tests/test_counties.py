"""Which county each pixel counts for (restore_db.counties): pixel shares of
counties that hold no pixel centre, county sums with those shares, and the
tiny-county case of ../shared/cases through the CLI.

Expected shares are computed here from the polygons and the pixel squares with
shapely; expected county values from the stored layers and those shares.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from helpers import create_area
from restore_db import counties, demo
from restore_db.cli import app
from restore_db.engine import read_array

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases"
SRID = 32650


def case(*parts: str) -> Path:
    path = CASES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"case not available: {path}")
    return path


def test_pixel_shares_of_a_square_between_centres(conn):
    area = create_area(conn, "sh", SRID, 500_000, 4_410_000, 1000, 10, 10)
    # 400 m x 400 m across the corner of four pixels: 100 x 100, 300 x 100, 100 x 300, 300 x 300 m
    tiny = shapely.box(502_900, 4_405_700, 503_300, 4_406_100)
    got = {(r, c): s for r, c, s in counties.pixel_shares(tiny, area)}
    assert got == {(3, 2): pytest.approx(0.01), (3, 3): pytest.approx(0.03),
                   (4, 2): pytest.approx(0.03), (4, 3): pytest.approx(0.09)}
    assert sum(got.values()) == pytest.approx(tiny.area / 1e6)
    # a polygon touching a pixel edge takes nothing from the pixel beyond it; outside the grid nothing
    assert counties.pixel_shares(shapely.box(502_000, 4_405_000, 503_000, 4_406_000), area) == [(4, 2, 1.0)]
    assert counties.pixel_shares(shapely.box(400_000, 4_405_000, 401_000, 4_406_000), area) == []


def test_membership_gives_sub_pixel_counties_their_shares(conn):
    area = create_area(conn, "mb", SRID, 500_000, 4_410_000, 1000, 10, 10)
    big = shapely.box(500_000, 4_400_000, 510_000, 4_410_000).difference(shapely.box(502_900, 4_405_700,
                                                                                      503_300, 4_406_100))
    small = shapely.box(502_900, 4_405_700, 503_300, 4_406_100)
    with conn.transaction():
        ids = [conn.execute("""INSERT INTO core.admin_unit (study_area_id, level, code, geom)
                               VALUES (%s, 'county', %s, ST_Multi(ST_GeomFromText(%s, %s))) RETURNING unit_id""",
                            (area.study_area_id, code, g.wkt, SRID)).fetchone()[0]
               for code, g in (("big", big), ("small", small))]
    m = counties.rasterize(conn, area)
    assert m.centres == {ids[0]: 100, ids[1]: 0}
    assert sorted((s.row, s.col, round(s.share, 9), s.centre) for s in m.shares) == [
        (3, 2, 0.01, ids[0]), (3, 3, 0.03, ids[0]), (4, 2, 0.03, ids[0]), (4, 3, 0.09, ids[0])]
    assert (m.ids == ids[0]).all()


@pytest.mark.realdata
def test_tiny_county_case_every_county_is_zoned(db_url, conn, cli_env, tmp_path):
    """cases/tiny-county: a 400 m district between the pixel centres of the demo's 1 km grid."""
    gpkg = case("tiny-county", "counties_with_tiny.gpkg")
    demo.run(name="tiny", pixel_size=1000, workdir=tmp_path, url=db_url, log=lambda m: None)
    runner = CliRunner()
    loaded = runner.invoke(app, ["load", "boundaries", str(gpkg), "--level", "county", "--code-field", "code",
                                 "--name-field", "name", "--parent-field", "city_code", "--province-field",
                                 "province_code", "--replace", "-a", "tiny"], env=cli_env)
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(app, ["compute", "all", "-a", "tiny"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "130199" in result.output and "hold no pixel centre" in result.output   # the warning is printed
    (zoning, ratios, resilience, services) = conn.execute(
        "SELECT run_id, ratios_run_id, resilience_run_id, services_run_id FROM bi.current_run").fetchone()
    units = dict(conn.execute("SELECT code, unit_id FROM core.admin_unit WHERE level = 'county'").fetchall())
    assert len(units) == 201
    tiny = units["130199"]
    # every county in every county result
    for table, run_id, per_county in [("result.county_service", services, 10), ("result.county_ratio", ratios, 6),
                                      ("result.county_resilience", resilience, 1), ("result.county_zone", zoning, 1),
                                      ("bi.county", zoning, 1)]:
        n, distinct = conn.execute(f"SELECT count(*), count(DISTINCT unit_id) FROM {table} WHERE run_id = %s",
                                   (run_id,)).fetchone()
        assert (n, distinct) == (201 * per_county, 201), table
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 201
    assert sum(r[0] for r in conn.execute("SELECT counties FROM bi.zone_map WHERE run_id = %s", (zoning,))) == 201

    # 130199's shares: its polygon against the pixel squares of the grid, computed here
    area_row = conn.execute("SELECT origin_x, origin_y, pixel_size FROM core.study_area WHERE name = 'tiny'").fetchone()
    x0, y0, ps = area_row
    poly = gpd.read_file(gpkg, layer="county").set_index("code").geometry["130199"]
    cols = np.arange(int((poly.bounds[0] - x0) // ps), int((poly.bounds[2] - x0) // ps) + 1)
    rows = np.arange(int((y0 - poly.bounds[3]) // ps), int((y0 - poly.bounds[1]) // ps) + 1)
    expected = {}
    for r in rows:
        for c in cols:
            a = poly.intersection(shapely.box(x0 + c * ps, y0 - (r + 1) * ps, x0 + (c + 1) * ps, y0 - r * ps)).area
            if a > 0:
                expected[(int(r), int(c))] = a / ps**2
    stored = {(r, c): s for r, c, s in conn.execute(
        "SELECT px_row, px_col, share FROM result.county_share WHERE run_id = %s AND unit_id = %s",
        (services, tiny)).fetchall()}
    assert stored.keys() == expected.keys()
    assert [stored[k] for k in expected] == pytest.approx(list(expected.values()), rel=1e-9)
    share_total = sum(expected.values())
    assert share_total == pytest.approx(0.16, rel=1e-9)            # 400 m x 400 m on a 1 km grid

    # every service: 130199's mean is the share-weighted mean of its pixels; its total is taken from the
    # county holding the pixel centres, so the region total is the total over the county raster
    from restore_db import studyarea

    area = studyarea.get(conn, "tiny")
    county = read_array(conn, area, "county", services)
    for service, side, layer, total, mean, cells in conn.execute(
            """SELECT service, side, layer, total, mean, valid_cells FROM result.county_service
               WHERE run_id = %s AND unit_id = %s""", (services, tiny)).fetchall():
        values = read_array(conn, area, layer, services)
        v = np.array([values[k] for k in expected])
        w = np.array(list(expected.values()))
        ok = np.isfinite(v)
        assert cells == pytest.approx(w[ok].sum(), rel=1e-9), (service, side)
        assert mean == pytest.approx((w[ok] * v[ok]).sum() / w[ok].sum(), rel=1e-6), (service, side)
        all_totals = conn.execute("SELECT sum(total), sum(mean * valid_cells) FROM result.county_service "
                                  "WHERE run_id = %s AND service = %s AND side = %s",
                                  (services, service, side)).fetchone()
        scale = total / (mean * cells) if mean else None
        in_counties = np.isfinite(county) & np.isfinite(values)
        assert all_totals[1] == pytest.approx(values[in_counties].sum(), rel=1e-9), (service, side)
        if scale:
            assert all_totals[0] == pytest.approx(scale * values[in_counties].sum(), rel=1e-9), (service, side)
    # and it is zoned like every other county (its landscape metrics took the median, with a warning)
    zone = conn.execute("SELECT zone_code, missing_reason FROM result.county_zone WHERE run_id = %s AND unit_id = %s",
                        (zoning, tiny)).fetchone()
    assert zone[0] != "unclassified" and zone[1] is None
    imputed = {r[0] for r in conn.execute("SELECT indicator FROM result.county_indicator WHERE run_id = %s "
                                          "AND unit_id = %s AND imputed", (resilience, tiny)).fetchall()}
    assert imputed == {"shdi", "pd", "cohesion"}
