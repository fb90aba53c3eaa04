"""Which county each pixel counts for (restore_db.grid.counties): pixel shares of
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
from restore_db.grid import counties
from restore_db.load import demo
from restore_db.cli import app
from restore_db.store.layers import read_array

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
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
    """cases/tiny-county: a 400 m district between the pixel centres of the demo's 1 km grid, with no statistic."""
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
    from restore_db.grid import studyarea

    area = studyarea.get(conn, "tiny")
    county = read_array(conn, area, "county", services)
    for service, side, layer, total, mean, cells, why in conn.execute(
            """SELECT service, side, layer, total, mean, valid_cells, null_reason FROM result.county_service
               WHERE run_id = %s AND unit_id = %s""", (services, tiny)).fetchall():
        values = read_array(conn, area, layer, services)
        if (service, side) == ("food", "supply"):
            # grain output is a county statistic allocated to pixels; 130199 has none: no value, and why
            assert (total, mean, cells) == (None, None, 0.0)
            assert why.startswith("no county statistic for food supply")
            continue
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
    # without food supply it has no CESD: unclassified, and the zone says why
    zone = conn.execute("SELECT zone_code, missing_reason FROM result.county_zone WHERE run_id = %s AND unit_id = %s",
                        (zoning, tiny)).fetchone()
    assert zone[0] == "unclassified" and "no food supply (no county statistic for food supply" in zone[1]
    # its resilience is computed: its landscape metrics took the median, the rest came from its shares
    assert conn.execute("SELECT resilience_index FROM result.county_resilience WHERE run_id = %s AND unit_id = %s",
                        (resilience, tiny)).fetchone()[0] is not None
    imputed = {r[0] for r in conn.execute("SELECT indicator FROM result.county_indicator WHERE run_id = %s "
                                          "AND unit_id = %s AND imputed", (resilience, tiny)).fetchall()}
    assert imputed == {"shdi", "pd", "cohesion"}


def _syn_with_sub_pixel_county(conn, tmp_path, population: dict):
    """The services' synthetic area (tests/stages/test_services.py) with c5, 24 m x 24 m inside c1 between the centres of
    the 60 m pixels (it overlaps pixel row 1, col 1 only), and population statistics; food demand computed."""
    import test_services as ts
    from shapely.geometry import box

    from restore_db.load.boundaries import load_boundaries
    from restore_db.load.stats import load_stats

    syn = ts.Syn(conn, tmp_path)
    syn.raster("lulc", ts.base_lulc(), "categorical", "class")
    syn.lulc_params()
    syn.scalars(ts.SCALARS)
    tiny = box(ts.OX + 63, ts.OY - 87, ts.OX + 87, ts.OY - 63)
    geoms = [box(ts.OX + x0, ts.OY - y1, ts.OX + x1, ts.OY - y0) for _, x0, x1, y0, y1 in ts.COUNTIES]
    geoms[0] = geoms[0].difference(tiny)
    path = tmp_path / "counties.gpkg"
    gpd.GeoDataFrame({"code": ts.CODES + ["c5"]}, geometry=geoms + [tiny], crs="EPSG:32650").to_file(path)
    with conn.transaction():
        load_boundaries(conn, syn.area, path, "county")
    lines = ["code,year,population"] + [f"{c},{ts.YEAR},{v}" for c, v in population.items()]
    (tmp_path / "pop.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with conn.transaction():
        load_stats(conn, syn.area, tmp_path / "pop.csv")
    run_id, _ = syn.compute(["food"], sides=("demand",))
    return ts, syn, run_id


def test_sub_pixel_county_without_its_statistic_has_no_value(conn, tmp_path):
    ts, syn, run_id = _syn_with_sub_pixel_county(conn, tmp_path, dict(ts_population()))
    total, why = conn.execute(
        """SELECT c.total, c.null_reason FROM result.county_service c JOIN core.admin_unit u USING (unit_id)
           WHERE c.run_id = %s AND u.code = 'c5' AND c.service = 'food' AND c.side = 'demand'""",
        (run_id,)).fetchone()
    # it does not take its neighbour's population through its share
    assert total is None and why.startswith("no county statistic for population")
    assert any("population: county(ies) c5 have no statistic" in w
               for w in syn.run_row(run_id)[2]["warnings"])


def ts_population() -> dict:
    import test_services as ts

    return ts.STATS["population"]


def test_statistic_of_a_sub_pixel_county_is_allocated_to_the_pixels_it_overlaps(conn, tmp_path):
    """A county holding no pixel centre keeps its population: the allocated layer's total is the census total."""
    population = {**ts_population(), "c5": 1000.0}
    ts, syn, run_id = _syn_with_sub_pixel_county(conn, tmp_path, population)
    pop = syn.layer("population", run_id)
    # the layer holds every county's population, the small county's included (float32 storage: 1e-6)
    assert np.nansum(pop) == pytest.approx(sum(population.values()), rel=1e-6)
    # pixel (1, 1): c1's allocation by the pixel-centre rule, plus all of c5 (its only pixel)
    w = syn.lookup("pop_weight")
    c1 = ts.in_county(0) & np.isfinite(w)
    expected = w[1, 1] * population["c1"] / w[c1].sum() + population["c5"]
    assert pop[1, 1] == pytest.approx(expected, rel=1e-6)
    others = np.ones(pop.shape, bool)
    others[1, 1] = False
    c1_others = c1 & others
    np.testing.assert_allclose(pop[c1_others], (w * population["c1"] / w[c1].sum())[c1_others], rtol=1e-6)
    # the layer statistics follow the written pixel
    row = conn.execute("SELECT max_value, valid_cells FROM core.layer WHERE name = 'population' AND run_id = %s",
                       (run_id,)).fetchone()
    assert row == (pytest.approx(float(np.nanmax(pop)), rel=1e-7), int(np.isfinite(pop).sum()))
    # county sums: c5 counts 0.16 of pixel (1, 1), taken from c1
    got = dict((code, (n, total)) for code, n, total in conn.execute(
        """SELECT u.code, c.valid_cells, c.total FROM result.county_service c JOIN core.admin_unit u USING (unit_id)
           WHERE c.run_id = %s AND c.service = 'food' AND c.side = 'demand'""", (run_id,)).fetchall())
    share = 24 * 24 / 3600
    demand = syn.layer("food_demand", run_id)
    assert got["c5"] == (pytest.approx(share), pytest.approx(share * demand[1, 1], rel=1e-6))
    assert got["c1"][0] == pytest.approx(np.isfinite(demand[ts.in_county(0)]).sum() - share)
    assert sum(t for _, t in got.values()) == pytest.approx(np.nansum(demand[ts.COUNTY >= 0]), rel=1e-9)
