"""Services end to end on a tiny synthetic study area, against a real PostGIS.

The area is 30 x 20 pixels of 60 m (UTM 50N) in 16-pixel tiles (2 x 2 tiles, the last ones cut), with four
rectangular counties whose edges do not all follow pixel edges, and a strip of pixels outside every
county. Inputs are written here with numpy; expected values are computed here from the domain formulas
(docs/models/README.md#services) with plain numpy, the county of a pixel from its centre, never with the code under test.
Computed layers are read back with helpers.read_layer.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from conftest import snapshot
from helpers import create_area, expect_input_error, read_layer, slope_by_hand, write_tif
from restore_db.stages.services.stage import compute_services
from restore_db.errors import InputError
from restore_db.load.boundaries import load_boundaries
from restore_db.load.params import load_params
from restore_db.load.raster import load_raster
from restore_db.load.stats import load_stats

W, H, TS, PX = 30, 20, 16, 60.0
OX, OY = 500040.0, 4400040.0  # multiples of the pixel size
TRANSFORM = Affine(PX, 0, OX, 0, -PX, OY)
PX_HA, PX_KM2 = PX * PX / 1e4, PX * PX / 1e6
NODATA = -9999.0
YEAR = 2020

# counties: (code, xmin, xmax, ymin, ymax) in metres from the upper-left corner (y downwards)
COUNTIES = [("c1", 0, 740, 0, 600), ("c2", 740, 1800, 0, 600), ("c3", 0, 900, 600, 1200),
            ("c4", 900, 1560, 600, 1200)]
CODES = [c[0] for c in COUNTIES]

# land-use classes: 1 cropland, 2 forest, 3 grassland, 4 water, 5 built-up, 6 bare land
_COLS = ["cropland", "forest", "grassland", "water", "built_up", "pop_weight", "food_yield", "c_above", "c_below",
         "c_soil", "c_dead", "rec_score", "lulc_veg", "root_depth", "kc", "csle_e", "csle_t", "erodible", "csle_b"]
CLASS_TABLE = {code: dict(zip(_COLS, vals)) for code, vals in {
    #  crop forest grass water built pop_w food_y c_above c_below c_soil c_dead rec veg root kc  E    T   erod B
    1: (1, 0, 0, 0, 0, 2.0, 6.0, 5.0, 1.0, 50.0, 0.0, 2, 1, 1000, 0.8, 1.0, 0.5, 1, 1.0),
    2: (0, 1, 0, 0, 0, 0.5, 0.0, 60.0, 15.0, 100.0, 5.0, 5, 1, 4000, 1.0, 1.0, 1.0, 1, 0.1),
    3: (0, 0, 1, 0, 0, 0.5, 0.0, 2.0, 5.0, 70.0, 1.0, 4, 1, 1500, 0.7, 1.0, 1.0, 1, 0.2),
    4: (0, 0, 0, 1, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5, 0, -1, 1.1, 1.0, 1.0, 0, None),
    5: (0, 0, 0, 0, 1, 10.0, 0.0, 2.0, 0.0, 20.0, 0.0, 1, 0, -1, 0.3, 1.0, 1.0, 0, None),
    6: (0, 0, 0, 0, 0, 0.2, 0.0, 0.0, 0.0, 10.0, 0.0, 1, 1, 500, 0.4, 0.8, 1.0, 1, 0.9),
}.items()}

SCALARS = {"c_food": 0.35, "e_pc_co2": 8.0, "q_dom": 120.0, "rec_w_water": 0.8, "rec_d0_water": 150.0,
           "rec_w_forest": 0.3, "rec_d0_forest": 240.0, "seasonality_z": 4.0}
STATS = {"grain_output": {"c1": 1000.0, "c2": 2500.0, "c3": 400.0, "c4": 300.0},
         "population": {"c1": 5000.0, "c2": 12000.0, "c3": 3000.0, "c4": 8000.0},
         "gdp_secondary": {"c1": 100.0, "c2": 300.0, "c3": 50.0, "c4": 200.0}}


# ---------------------------------------------------------------- synthetic data


def county_of_pixels() -> np.ndarray:
    """Index 0..3 of the county holding each pixel centre, -1 outside every county."""
    yc = (np.arange(H) + 0.5) * PX
    xc = (np.arange(W) + 0.5) * PX
    out = np.full((H, W), -1)
    for k, (_, x0, x1, y0, y1) in enumerate(COUNTIES):
        inside = ((yc >= y0) & (yc < y1))[:, None] & ((xc >= x0) & (xc < x1))[None, :]
        out[inside] = k
    return out


COUNTY = county_of_pixels()


def base_lulc() -> np.ndarray:
    """Classes 1..6 (NaN = nodata); county c4 has no cropland; every county has every other class."""
    rng = np.random.default_rng(11)
    codes = rng.choice([1, 2, 3, 4, 5, 6], size=(H, W), p=[0.3, 0.15, 0.15, 0.1, 0.15, 0.15]).astype(float)
    codes[(COUNTY == 3) & (codes == 1)] = 3
    for k in range(4):  # make sure each county holds water, forest and built-up
        rows, cols = np.nonzero(COUNTY == k)
        for j, cls in enumerate((4, 2, 5)):
            codes[rows[j * 7], cols[j * 7]] = cls
    codes[3, 2] = codes[17, 27] = codes[12, 5] = np.nan  # lulc nodata inside and outside counties
    return codes


class Syn:
    """Builds the study area ``syn`` step by step; every step is committed."""

    def __init__(self, conn, tmp_path):
        self.conn, self.tmp = conn, tmp_path
        self.area = create_area(conn, "syn", 32650, OX, OY, PX, W, H, tile_size=TS)
        self.layers: dict[str, np.ndarray] = {}
        conn.commit()

    def raster(self, name, arr, kind="continuous", unit="1"):
        if kind == "categorical":
            data = np.where(np.isnan(arr), 255, arr).astype(np.uint8)
            nodata = 255
        else:
            data = np.where(np.isnan(arr), NODATA, arr).astype(np.float32)
            nodata = NODATA
        path = write_tif(self.tmp / f"{name}.tif", data, "EPSG:32650", TRANSFORM, nodata=nodata)
        with self.conn.transaction():
            load_raster(self.conn, self.area, name, path, kind, unit, overviews=False)
        self.conn.commit()
        stored = data.astype(np.float64)
        stored[data == nodata] = np.nan
        self.layers[name] = stored
        return stored

    def counties(self):
        geoms = [box(OX + x0, OY - y1, OX + x1, OY - y0) for _, x0, x1, y0, y1 in COUNTIES]
        path = self.tmp / "counties.gpkg"
        gpd.GeoDataFrame({"code": CODES, "name": [f"County {c}" for c in CODES]}, geometry=geoms,
                         crs="EPSG:32650").to_file(path, driver="GPKG")
        with self.conn.transaction():
            load_boundaries(self.conn, self.area, path, "county")
        self.conn.commit()

    def stats(self, variables: dict[str, dict[str, float]], name="stats.csv"):
        lines = ["code,year," + ",".join(variables)]
        for code in CODES:
            cells = ("" if values.get(code) is None else repr(values[code]) for values in variables.values())
            lines.append(f"{code},{YEAR}," + ",".join(cells))
        path = self.tmp / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with self.conn.transaction():
            load_stats(self.conn, self.area, path)
        self.conn.commit()

    def lulc_params(self, name="classes", table=None, columns=None):
        table = table or CLASS_TABLE
        columns = columns or _COLS
        lines = ["lucode," + ",".join(columns)]
        for code, vals in table.items():
            lines.append(f"{code}," + ",".join("" if vals.get(c) is None else repr(vals[c]) for c in columns))
        path = self.tmp / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with self.conn.transaction():
            load_params(self.conn, self.area, path, name=name)
        self.conn.commit()

    def scalars(self, values: dict[str, float], name="scalars"):
        path = self.tmp / f"{name}.csv"
        path.write_text("name,value\n" + "".join(f"{k},{v!r}\n" for k, v in values.items()), encoding="utf-8")
        with self.conn.transaction():
            load_params(self.conn, self.area, path, name=name)
        self.conn.commit()

    # -- convenience
    def lookup(self, coefficient, table=None) -> np.ndarray:
        table = table or CLASS_TABLE
        codes = self.layers["lulc"]
        out = np.full(codes.shape, np.nan)
        for c, vals in table.items():
            if vals.get(coefficient) is not None:
                out[codes == c] = vals[coefficient]
        return out

    def compute(self, services, **kwargs):
        with self.conn.transaction():
            run_id, results = compute_services(self.conn, self.area, services, **kwargs)
        self.conn.commit()
        return run_id, results

    def layer(self, name, run_id):
        arr, nodata, _ = read_layer(self.conn, "syn", name, run_id)
        out = arr.astype(np.float64)
        out[arr == nodata] = np.nan
        return out

    def run_row(self, run_id):
        return self.conn.execute("SELECT status, params, timings FROM core.run WHERE run_id = %s",
                                 (run_id,)).fetchone()

    def county_rows(self, run_id) -> dict:
        rows = self.conn.execute(
            """SELECT u.code, c.service, c.side, c.layer, c.total, c.unit, c.mean, c.density_km2, c.valid_cells
               FROM result.county_service c JOIN core.admin_unit u USING (unit_id) WHERE c.run_id = %s""",
            (run_id,)).fetchall()
        return {(r[0], r[1], r[2]): r[3:] for r in rows}


def population_layer() -> np.ndarray:
    rng = np.random.default_rng(5)
    pop = rng.uniform(0, 300, size=(H, W))
    pop[5, 20] = pop[15, 3] = np.nan
    return pop


def ndvi_layer(lulc) -> np.ndarray:
    rng = np.random.default_rng(3)
    ndvi = rng.uniform(-0.15, 0.9, size=(H, W))
    crop = np.argwhere(lulc == 1)
    ndvi[tuple(crop[0])] = -0.3         # negative NDVI on cropland: weight 0
    ndvi[tuple(crop[5])] = np.nan       # NDVI nodata on cropland: supply nodata there
    ndvi[tuple(np.argwhere(lulc == 2)[0])] = np.nan  # NDVI nodata off cropland: supply 0 there
    return ndvi


@pytest.fixture
def syn(conn, tmp_path, request):
    """Counties, land use, class table and scalars; each test adds what it needs."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "server":
        from restore_db.grid.engine import server_backend

        ok, why = server_backend(conn)
        if not ok:
            pytest.skip(f"no in-database engine on the test server: {why}")
        conn.rollback()
    s = Syn(conn, tmp_path)
    s.raster("lulc", base_lulc(), "categorical", "class")
    s.counties()
    s.lulc_params()
    s.scalars(SCALARS)
    return s


def in_county(k):
    return COUNTY == k


def warnings_of(syn, run_id):
    return syn.run_row(run_id)[2]["warnings"]


# ---------------------------------------------------------------- food supply


@pytest.mark.parametrize("engine", ["server", "client"])
def test_food_method_a_ndvi_conserves_county_grain(syn, engine):
    lulc = syn.layers["lulc"]
    ndvi = syn.raster("ndvi", ndvi_layer(lulc))
    syn.stats({"grain_output": STATS["grain_output"]})
    run_id, _ = syn.compute(["food"], sides=("supply",), engine=engine)
    got = syn.layer("food_supply", run_id)

    crop = lulc == 1
    weight = np.where(crop, np.maximum(ndvi, 0.0), 0.0)
    weight[np.isnan(lulc) | (crop & np.isnan(ndvi))] = np.nan
    want = np.full((H, W), np.nan)
    for k, code in enumerate(CODES):
        sel = in_county(k)
        wsum = np.nansum(weight[sel])
        g = STATS["grain_output"][code]
        want[sel] = weight[sel] * g / wsum if wsum > 0 else np.where(np.isnan(weight[sel]), np.nan, 0.0)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6, atol=1e-9)
    assert np.isnan(got[COUNTY == -1]).all()            # outside every county: nodata
    assert got[np.argwhere(crop)[0][0], np.argwhere(crop)[0][1]] == 0.0  # negative NDVI -> 0
    # mass conservation per county: c1..c3 get their grain output, c4 (no cropland) nothing
    for k, code in enumerate(CODES):
        total = np.nansum(got[in_county(k)])
        expected = STATS["grain_output"][code] if code != "c4" else 0.0
        assert total == pytest.approx(expected, rel=1e-6, abs=1e-9), code
    rows = syn.county_rows(run_id)
    for code in CODES[:3]:
        assert rows[(code, "food", "supply")][1] == pytest.approx(STATS["grain_output"][code], rel=1e-6)
    assert rows[("c4", "food", "supply")][1] == 0.0
    status, params, timings = syn.run_row(run_id)
    assert status == "succeeded" and timings["engine"] == engine
    assert params["food"]["supply_method"].startswith("A:") and "NDVI" in params["food"]["supply_method"]
    (warning,) = [w for w in timings["warnings"] if "food supply" in w]
    assert "c4" in warning and "not allocated" in warning and "c1" not in warning


def test_food_method_a_without_ndvi_allocates_by_cropland_area(syn):
    syn.stats({"grain_output": STATS["grain_output"]})
    run_id, _ = syn.compute(["food"], sides=("supply",))
    got = syn.layer("food_supply", run_id)
    lulc = syn.layers["lulc"]
    for k, code in enumerate(CODES[:3]):
        sel = in_county(k) & ~np.isnan(lulc)
        n_crop = (sel & (lulc == 1)).sum()
        np.testing.assert_allclose(got[sel & (lulc == 1)], STATS["grain_output"][code] / n_crop, rtol=1e-6)
        assert (got[sel & (lulc != 1)] == 0).all()
        assert np.nansum(got[in_county(k)]) == pytest.approx(STATS["grain_output"][code], rel=1e-6)
    assert (got[in_county(3) & ~np.isnan(lulc)] == 0).all()
    assert "by area" in syn.run_row(run_id)[1]["food"]["supply_method"]
    assert any("c4" in w for w in warnings_of(syn, run_id))


def test_food_method_b_without_grain_statistics(syn):
    syn.stats({"population": STATS["population"]})  # statistics, but no grain output
    run_id, _ = syn.compute(["food"], sides=("supply",))
    got = syn.layer("food_supply", run_id)
    want = syn.lookup("food_yield") * PX_HA
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-6)
    assert not np.isnan(got[COUNTY == -1][~np.isnan(syn.layers["lulc"][COUNTY == -1])]).any()  # pixel-wise method
    params = syn.run_row(run_id)[1]["food"]
    assert params["supply_method"].startswith("B:")
    assert params["food_yield"][1] == 6.0


def test_food_grain_in_a_county_without_cropland_is_reported_not_allocated(syn):
    syn.stats({"grain_output": STATS["grain_output"]})
    run_id, results = syn.compute(["food"], sides=("supply",))
    got = syn.layer("food_supply", run_id)
    assert np.nansum(got[in_county(3)]) == 0.0
    assert (got[in_county(3) & ~np.isnan(syn.layers["lulc"])] == 0).all()
    warnings = syn.conn.execute("SELECT timings->'warnings' FROM core.run WHERE run_id = %s", (run_id,)).fetchone()[0]
    assert len(warnings) == 1 and "c4" in warnings[0] and "food supply" in warnings[0]
    assert results[0].counties == {"supply": 4}


# ---------------------------------------------------------------- demand


@pytest.mark.parametrize("engine", ["server", "client"])
def test_demand_from_population_layer(syn, engine):
    pop = syn.raster("population", population_layer(), unit="persons")
    run_id, _ = syn.compute(["food", "carbon", "water", "recreation"], sides=("demand",), engine=engine)
    want = {"food_demand": pop * SCALARS["c_food"],
            "carbon_demand": pop * SCALARS["e_pc_co2"] * 12.0 / 44.0,
            "water_demand": pop * SCALARS["q_dom"] * 365.0 / 1000.0,
            "recreation_demand": pop / PX_KM2}
    for name, expected in want.items():
        got = syn.layer(name, run_id)
        assert np.array_equal(np.isnan(got), np.isnan(expected)), name
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, err_msg=name)
    params = syn.run_row(run_id)[1]
    assert params["food"]["c_food"] == SCALARS["c_food"]
    assert params["carbon"]["e_pc_co2"] == SCALARS["e_pc_co2"]
    assert params["water"]["sectors"]["water_industry"].startswith("not included")
    assert params["water"]["sectors"]["water_agriculture"].startswith("not included")


def test_run_records_which_scalar_set_a_value_came_from(syn):
    """Provenance of scalars: the run names the parameter set of c_food and checksums it with its inputs.

    (A value from a set without a 'source' column is recorded as coming from "parameter set", and only
    land-use sets enter core.run.inputs, so two runs with different scalar sets look alike there.)
    """
    syn.raster("population", population_layer(), unit="persons")
    syn.scalars({"c_food": 0.5}, name="newer_scalars")
    run_id, _ = syn.compute(["food"], sides=("demand",))
    params = syn.run_row(run_id)[1]["food"]
    assert params["c_food"] == 0.5
    assert "newer_scalars" in params["c_food_source"]
    inputs = syn.conn.execute("SELECT inputs->'param_sets' FROM core.run WHERE run_id = %s", (run_id,)).fetchone()[0]
    assert "newer_scalars" in inputs


def test_newest_scalar_set_wins_when_loaded_in_one_transaction(syn):
    """Without --scalars a scalar comes from the newest set defining it: the one loaded last, also when
    both sets are loaded in one transaction (their loaded_at, now(), is then equal)."""
    syn.raster("population", population_layer(), unit="persons")
    with syn.conn.transaction():
        for name, value in (("first", 0.3), ("second", 0.5)):
            path = syn.tmp / f"{name}.csv"
            path.write_text(f"name,value\nc_food,{value}\n", encoding="utf-8")
            load_params(syn.conn, syn.area, path, name=name)
    run_id, _ = syn.compute(["food"], sides=("demand",))
    assert syn.run_row(run_id)[1]["food"]["c_food"] == 0.5


def test_demand_population_allocated_from_county_statistic(syn):
    syn.stats({"population": STATS["population"]})
    run_id, _ = syn.compute(["food", "recreation"], sides=("demand",))
    pop = syn.layer("population", run_id)
    w = syn.lookup("pop_weight")
    for k, code in enumerate(CODES):
        sel = in_county(k)
        total = STATS["population"][code]
        assert np.nansum(pop[sel]) == pytest.approx(total, rel=1e-6), code
        np.testing.assert_allclose(pop[sel & ~np.isnan(w)], (w * total / np.nansum(w[sel]))[sel & ~np.isnan(w)],
                                   rtol=1e-6)
    assert np.isnan(pop[COUNTY == -1]).all()
    food = syn.layer("food_demand", run_id)
    ok = ~np.isnan(pop)
    np.testing.assert_allclose(food[ok], pop[ok] * SCALARS["c_food"], rtol=1e-6)
    rows = syn.county_rows(run_id)
    for code in CODES:
        assert rows[(code, "food", "demand")][1] == pytest.approx(STATS["population"][code] * SCALARS["c_food"],
                                                                  rel=1e-6)
        assert rows[(code, "recreation", "demand")][1] == pytest.approx(STATS["population"][code], rel=1e-6)
    assert "allocated by pop_weight" in syn.run_row(run_id)[1]["food"]["population"]


def test_water_sectoral_demand_added_to_built_up_pixels(syn):
    pop = syn.raster("population", population_layer(), unit="persons")
    syn.stats({"gdp_secondary": STATS["gdp_secondary"]})
    q_ind = 20.0
    syn.scalars({"q_ind": q_ind}, name="sector_coefficients")
    run_id, _ = syn.compute(["water"], sides=("demand",))
    industry = syn.layer("water_industry", run_id)
    demand = syn.layer("water_demand", run_id)
    lulc = syn.layers["lulc"]
    domestic = pop * SCALARS["q_dom"] * 365.0 / 1000.0
    rows = syn.county_rows(run_id)
    for k, code in enumerate(CODES):
        sel = in_county(k)
        volume = STATS["gdp_secondary"][code] * q_ind
        built = sel & (lulc == 5)
        assert np.nansum(industry[sel]) == pytest.approx(volume, rel=1e-6), code
        np.testing.assert_allclose(industry[built], volume / built.sum(), rtol=1e-6)
        assert (industry[sel & ~np.isnan(lulc) & (lulc != 5)] == 0).all()
        ok = sel & ~np.isnan(domestic) & ~np.isnan(lulc)
        np.testing.assert_allclose(demand[ok], (domestic + industry)[ok], rtol=1e-6)
        assert rows[(code, "water", "demand")][1] == pytest.approx(np.nansum(domestic[ok]) + volume, rel=1e-6)
    sectors = syn.run_row(run_id)[1]["water"]["sectors"]
    assert "gdp_secondary 2020 x q_ind = 20.0" in sectors["water_industry"]
    assert sectors["water_agriculture"].startswith("not included")


def test_water_sector_coefficient_without_statistic_is_left_out(syn):
    pop = syn.raster("population", population_layer(), unit="persons")
    syn.scalars({"q_ind": 20.0, "q_irr": 300.0}, name="sector_coefficients")
    syn.stats({"population": STATS["population"]})  # no gdp_secondary, no irrigated_area
    run_id, _ = syn.compute(["water"], sides=("demand",))
    sectors = syn.run_row(run_id)[1]["water"]["sectors"]
    assert sectors["water_industry"].startswith("not included") and "gdp_secondary" in sectors["water_industry"]
    assert sectors["water_agriculture"].startswith("not included")
    got = syn.layer("water_demand", run_id)
    ok = ~np.isnan(pop)
    np.testing.assert_allclose(got[ok], pop[ok] * SCALARS["q_dom"] * 365 / 1000, rtol=1e-6)
    assert not syn.conn.execute("SELECT 1 FROM core.layer WHERE name = 'water_industry'").fetchone()


def test_water_statistic_without_coefficient_is_left_out(syn):
    syn.raster("population", population_layer(), unit="persons")
    syn.stats({"gdp_secondary": STATS["gdp_secondary"]})  # no q_ind anywhere (no default)
    run_id, _ = syn.compute(["water"], sides=("demand",))
    sectors = syn.run_row(run_id)[1]["water"]["sectors"]
    assert sectors["water_industry"].startswith("not included") and "q_ind" in sectors["water_industry"]


def test_water_sector_county_without_statistic_keeps_its_domestic_demand(syn):
    """A county missing from the gdp_secondary table still has people who use water.

    Its industrial share is unknown (not allocated, and reported), but its domestic demand must not
    turn into nodata, or the county drops out of the water demand sums altogether.
    """
    pop = syn.raster("population", population_layer(), unit="persons")
    gdp = dict(STATS["gdp_secondary"])
    del gdp["c3"]
    syn.stats({"gdp_secondary": gdp, "population": STATS["population"]})
    syn.scalars({"q_ind": 20.0}, name="sector_coefficients")
    run_id, _ = syn.compute(["water"], sides=("demand",))
    demand = syn.layer("water_demand", run_id)
    domestic = pop * SCALARS["q_dom"] * 365.0 / 1000.0
    sel = in_county(2) & ~np.isnan(pop) & ~np.isnan(syn.layers["lulc"])
    assert not np.isnan(demand[sel]).any(), "water demand of c3 became nodata"
    np.testing.assert_allclose(demand[sel], domestic[sel], rtol=1e-6)
    assert ("c3", "water", "demand") in syn.county_rows(run_id)


# ---------------------------------------------------------------- county sums


def water_inputs(syn):
    rng = np.random.default_rng(21)
    syn.raster("precipitation", rng.uniform(300, 800, size=(H, W)), unit="mm/yr")
    syn.raster("eto", rng.uniform(700, 1300, size=(H, W)), unit="mm/yr")
    syn.raster("soil_depth", rng.uniform(300, 2000, size=(H, W)), unit="mm")
    syn.raster("pawc", rng.uniform(0.05, 0.3, size=(H, W)), unit="1")


SCALE_UNIT = {  # (service, side): (layer, scale, unit)
    ("food", "supply"): ("food_supply", 1.0, "t/yr"), ("food", "demand"): ("food_demand", 1.0, "t/yr"),
    ("carbon", "supply"): ("c_storage", PX_HA, "t C"), ("carbon", "demand"): ("carbon_demand", 1.0, "t C/yr"),
    ("water", "supply"): ("wyield", PX * PX / 1000.0, "m3/yr"), ("water", "demand"): ("water_demand", 1.0, "m3/yr"),
    ("recreation", "supply"): ("recreation_supply", PX_KM2, "score*km2"),
    ("recreation", "demand"): ("recreation_demand", PX_KM2, "persons"),
}


@pytest.mark.parametrize("engine", ["server", "client"])
def test_county_sums_by_hand(syn, engine):
    syn.raster("population", population_layer(), unit="persons")
    syn.raster("ndvi", ndvi_layer(syn.layers["lulc"]))
    syn.stats({"grain_output": STATS["grain_output"]})
    water_inputs(syn)
    services = ["food", "carbon", "water", "recreation"]
    run_id, results = syn.compute(services, engine=engine)
    # the run's county raster is the pixel-centre rule (here: by hand, and by rasterio)
    from rasterio.features import rasterize

    ids = dict(syn.conn.execute("SELECT code, unit_id FROM core.admin_unit").fetchall())
    county = syn.layer("county", run_id)
    by_hand = np.select([COUNTY == k for k in range(4)], [ids[c] for c in CODES], np.nan)
    np.testing.assert_array_equal(county, by_hand)
    shapes = [(box(OX + x0, OY - y1, OX + x1, OY - y0), k + 1) for k, (_, x0, x1, y0, y1) in enumerate(COUNTIES)]
    np.testing.assert_array_equal(rasterize(shapes, out_shape=(H, W), transform=TRANSFORM, fill=0), COUNTY + 1)

    rows = syn.county_rows(run_id)
    assert len(rows) == len(services) * 2 * len(CODES)  # every service x side for every county
    assert [r.service for r in results] == services
    assert all(r.counties == {"supply": 4, "demand": 4} for r in results)
    for (service, side), (layer, scale, unit) in SCALE_UNIT.items():
        values = syn.layer(layer, run_id)
        for k, code in enumerate(CODES):
            sel = in_county(k) & ~np.isnan(values)
            n = int(sel.sum())
            total = scale * values[sel].sum()
            got_layer, got_total, got_unit, got_mean, got_density, got_n = rows[(code, service, side)]
            assert (got_layer, got_unit, got_n) == (layer, unit, n), (service, side, code)
            assert got_total == pytest.approx(total, rel=1e-9), (service, side, code)
            assert got_mean == pytest.approx(values[sel].mean(), rel=1e-9)
            assert got_density == pytest.approx(total / (n * PX_KM2), rel=1e-9)
    # carbon supply by hand from the pool table, not only from the stored layer
    pools = sum(syn.lookup(p) for p in ("c_above", "c_below", "c_soil", "c_dead"))
    for k, code in enumerate(CODES):
        assert rows[(code, "carbon", "supply")][1] == pytest.approx(np.nansum(pools[in_county(k)]) * PX_HA, rel=1e-6)


# ---------------------------------------------------------------- recreation


def distance_to(feature: np.ndarray) -> np.ndarray:
    """Euclidean distance (m) from every pixel centre to the nearest ``feature`` pixel centre, by brute force."""
    rows, cols = np.mgrid[0:H, 0:W]
    fr, fc = np.nonzero(feature)
    d2 = (rows[..., None] - fr) ** 2 + (cols[..., None] - fc) ** 2
    return np.sqrt(d2.min(axis=-1)) * PX


@pytest.mark.parametrize("engine", ["server", "client"])
def test_recreation_supply_with_proximity_bonus(syn, engine):
    run_id, _ = syn.compute(["recreation"], sides=("supply",), engine=engine)
    lulc = syn.layers["lulc"]
    d_water = distance_to(lulc == 4)
    d_forest = distance_to(lulc == 2)
    s = SCALARS
    want = syn.lookup("rec_score") * (1 + s["rec_w_water"] * np.exp(-d_water / s["rec_d0_water"])
                                      + s["rec_w_forest"] * np.exp(-d_forest / s["rec_d0_forest"]))
    got = syn.layer("recreation_supply", run_id)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6)
    # a water pixel gets the full water weight
    r, c = np.argwhere(lulc == 4)[0]
    bonus_forest = s["rec_w_forest"] * math.exp(-d_forest[r, c] / 240.0)
    assert got[r, c] == pytest.approx(5 * (1 + s["rec_w_water"] + bonus_forest), rel=1e-6)
    features = syn.run_row(run_id)[1]["recreation"]["features"]
    assert features["water"]["weight"] == 0.8 and features["forest"]["d0_m"] == 240.0


def test_recreation_without_forest_has_no_forest_bonus(syn):
    table = {c: dict(v) for c, v in CLASS_TABLE.items()}
    table[2]["forest"] = 0  # no class is forest
    syn.lulc_params("no_forest", table)
    run_id, _ = syn.compute(["recreation"], sides=("supply",), params="no_forest")
    lulc = syn.layers["lulc"]
    want = syn.lookup("rec_score") * (1 + 0.8 * np.exp(-distance_to(lulc == 4) / 150.0))
    got = syn.layer("recreation_supply", run_id)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6)
    assert "absent" in syn.run_row(run_id)[1]["recreation"]["features"]["forest"]


# ---------------------------------------------------------------- soil


def ls_by_hand(theta, fa, d, l_max):
    """docs/models/soil-conservation.md#slope-length-and-steepness-ls: unit-contributing-area L (InVEST form) with CSLE m, Liu's S, L capped at l_max."""
    m = np.where(theta <= 1, 0.2, np.where(theta <= 3, 0.3, np.where(theta <= 5, 0.4, 0.5)))
    s_rad = np.sin(np.radians(theta))
    s = np.where(theta < 5, 10.8 * s_rad + 0.03, np.where(theta < 10, 16.8 * s_rad - 0.5, 21.91 * s_rad - 0.96))
    a_in = np.sqrt((fa - 1) * d * d)
    x = np.abs(np.sin(np.radians(theta))) + np.abs(np.cos(np.radians(theta)))
    l_factor = ((a_in + d * d) ** (m + 1) - a_in ** (m + 1)) / (d ** (m + 2) * x ** m * 22.13 ** m)
    return np.minimum(l_factor, l_max) * s


def soil_inputs(syn, k_source="layer"):
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    dem = 400.0 + 6.0 * xx + 2.0 * yy + 40.0 * np.exp(-((xx - 10) ** 2 + (yy - 8) ** 2) / 12.0)  # plane + hill
    syn.raster("dem", dem, unit="m")
    rng = np.random.default_rng(8)
    syn.raster("precipitation", rng.uniform(350, 700, size=(H, W)), unit="mm/yr")
    if k_source == "layer":
        syn.raster("erodibility", np.full((H, W), 0.032), unit="t*ha*h/(ha*MJ*mm)")
    elif k_source == "texture":
        syn.raster("soil_sand", rng.uniform(20, 60, size=(H, W)), unit="%")
        syn.raster("soil_silt", rng.uniform(20, 50, size=(H, W)), unit="%")
        syn.raster("soil_clay", rng.uniform(5, 25, size=(H, W)), unit="%")
        syn.raster("soil_oc", rng.uniform(0.3, 2.5, size=(H, W)), unit="%")


def epic_k_by_hand(san, sil, cla, c):
    """docs/models/soil-conservation.md#soil-erodibility-k: EPIC K with the Zhang (2007) correction, first form, in SI units."""
    sn1 = 1 - san / 100
    k = ((0.2 + 0.3 * np.exp(-0.0256 * san * (1 - sil / 100))) * (sil / (cla + sil)) ** 0.3
         * (1 - 0.25 * c / (c + np.exp(3.72 - 2.95 * c)))
         * (1 - 0.7 * sn1 / (sn1 + np.exp(-5.51 + 22.9 * sn1))))
    return np.maximum((-0.01383 + 0.51575 * k) * 0.1317, 0)


@pytest.mark.parametrize("k_source", ["layer", "texture", "constant"])
def test_soil_conservation_by_hand(syn, k_source):
    soil_inputs(syn, k_source)
    if k_source == "constant":
        syn.scalars({"k_const": 0.021}, name="k")
    run_id, results = syn.compute(["soil"])
    lulc = syn.layers["lulc"]
    slope = syn.layer("slope", run_id)
    expected_slope = slope_by_hand(syn.layers["dem"], PX)  # InVEST's slope (docs/models/soil-conservation.md#slope-length-and-steepness-ls)
    assert np.array_equal(np.isnan(slope), np.isnan(expected_slope))
    np.testing.assert_allclose(slope[~np.isnan(slope)], expected_slope[~np.isnan(slope)], rtol=1e-6)

    ls = syn.layer("ls", run_id)
    fa = syn.layer("flow_acc", run_id)
    assert np.nanmin(fa) >= 1
    ls_hand = ls_by_hand(slope, fa, PX, 122.0)
    ok = ~np.isnan(ls_hand) & ~np.isnan(lulc)
    np.testing.assert_allclose(ls[ok], ls_hand[ok], rtol=1e-5)

    r = 0.0534 * syn.layers["precipitation"] ** 1.6548
    if k_source == "layer":
        k = syn.layers["erodibility"]
    elif k_source == "texture":
        k = epic_k_by_hand(*(syn.layers[t] for t in ("soil_sand", "soil_silt", "soil_clay", "soil_oc")))
    else:
        k = np.full((H, W), 0.021)
    potential = syn.layer("soil_potential", run_id)
    loss = syn.layer("soil_loss", run_id)
    conservation = syn.layer("soil_conservation", run_id)
    demand = syn.layer("soil_demand", run_id)
    erodible = syn.lookup("erodible") == 1
    bet = syn.lookup("csle_b") * syn.lookup("csle_e") * syn.lookup("csle_t")
    e = erodible & ~np.isnan(ls)
    np.testing.assert_allclose(potential[e], (r * k * ls)[e], rtol=1e-5)
    np.testing.assert_allclose(loss[e], (r * k * ls * bet)[e], rtol=1e-5)
    np.testing.assert_allclose(conservation[e], (potential - loss)[e], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(demand, loss)  # demand = actual loss (default)
    assert e.sum() > 200
    non = (syn.lookup("erodible") == 0)
    for arr in (potential, loss, conservation, demand):
        assert (arr[non] == 0).all()  # water and built-up: nothing lost, nothing conserved
    # nodata: land-use nodata only. The DEM has no hole, so every pixel has a slope, the outermost ring
    # included (pygeoprocessing's stencil on the NaN beyond the grid), and every erodible pixel a loss
    assert not np.isnan(expected_slope).any()
    ring = np.ones((H, W), bool)
    ring[1:-1, 1:-1] = False
    assert (ring & erodible).sum() > 20 and not np.isnan(potential[ring & erodible]).any()
    assert np.array_equal(np.isnan(potential), np.isnan(lulc))
    rows = syn.county_rows(run_id)
    for kk, code in enumerate(CODES):
        sel = in_county(kk)
        assert rows[(code, "soil", "supply")][1] == pytest.approx(np.nansum(conservation[sel]) * PX_HA, rel=1e-9)
        assert rows[(code, "soil", "demand")][1] == pytest.approx(np.nansum(loss[sel]) * PX_HA, rel=1e-9)
    record = syn.run_row(run_id)[1]["soil"]
    assert {"layer": "layer erodibility", "texture": "EPIC", "constant": "constant 0.021"}[k_source] in record["K"]
    assert "Zhang & Fu" in record["R"] and record["demand"] == "actual soil loss A"


def test_soil_b_factor_from_ndvi(syn):
    """Classes without csle_b take B from vegetation cover (docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t): forest B_forest(GD = FVC),
    grassland B_grass, cropland 1; FVC by the dimidiate model between the 5 % and 95 % NDVI percentiles."""
    soil_inputs(syn)
    ndvi = syn.raster("ndvi", ndvi_layer(syn.layers["lulc"]))
    table = {c: dict(v) for c, v in CLASS_TABLE.items()}
    for c in (1, 2, 3):
        table[c]["csle_b"] = None
    syn.lulc_params("ndvi_b", table)
    run_id, _ = syn.compute(["soil"], sides=("supply",), params="ndvi_b")
    valid = ndvi[~np.isnan(ndvi)]
    lo, hi = np.percentile(valid, 5), np.percentile(valid, 95)
    fvc = np.clip((ndvi - lo) / (hi - lo), 0, 1)
    b_forest = np.clip(0.44468 * np.exp(-3.20096 * fvc) - 0.04099 * np.exp(fvc - fvc * fvc) + 0.025, 0, 1)
    b_grass = np.clip(1 / (1.17647 + 0.86242 * 1.05905 ** (100 * fvc)), 0, 1)
    lulc = syn.layers["lulc"]
    b = np.select([lulc == 1, lulc == 2, lulc == 3, lulc == 6], [np.ones((H, W)), b_forest, b_grass,
                                                                 np.full((H, W), 0.9)], np.nan)
    potential = syn.layer("soil_potential", run_id)
    loss = syn.layer("soil_loss", run_id)
    et = syn.lookup("csle_e", table) * syn.lookup("csle_t", table)
    ok = ~np.isnan(b) & ~np.isnan(potential) & ~np.isnan(loss)
    assert ok.sum() > 200 and (ok & (lulc == 2)).any() and (ok & (lulc == 3)).any()
    np.testing.assert_allclose(loss[ok], (potential * b * et)[ok], rtol=1e-5, atol=1e-9)
    # NDVI nodata on a vegetated erodible pixel: B unknown, loss nodata there
    r, c = np.argwhere((lulc == 2) & np.isnan(ndvi))[0]
    assert np.isnan(loss[r, c]) or np.isnan(potential[r, c])
    fvc_record = syn.run_row(run_id)[1]["soil"]["fvc"]
    assert fvc_record["ndvi_soil"] == pytest.approx(lo) and fvc_record["ndvi_veg"] == pytest.approx(hi)
    assert fvc_record["percentiles"] == [5.0, 95.0]


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 20_000])
def test_ndvi_percentiles_equal_numpy_on_float64(n):
    """soil.percentiles partitions float32 values in place and interpolates in float64: equal bit for bit to
    np.percentile (linear) of the same values as float64, repeated values and the bounds included."""
    from restore_db.stages.services.soil import percentiles

    rng = np.random.default_rng(n)
    for values in (rng.normal(0.4, 0.3, n).astype(np.float32),
                   rng.integers(-3, 4, n).astype(np.float32) / np.float32(7)):   # many ties
        pcts = [0.0, 5.0, 33.3, 50.0, 95.0, 99.99, 100.0]
        expected = np.percentile(values.astype(np.float64), pcts)
        got = percentiles(values.copy(), pcts)
        assert [float(v) for v in expected] == got


def test_soil_demand_above_tolerance(syn):
    soil_inputs(syn)
    syn.scalars({"soil_demand_tolerance": 1, "a_tol": 2.0}, name="tolerance")
    run_id, _ = syn.compute(["soil"], sides=("demand",))
    loss = syn.layer("soil_loss", run_id)
    demand = syn.layer("soil_demand", run_id)
    ok = ~np.isnan(loss)
    np.testing.assert_allclose(demand[ok], np.maximum(loss[ok] - 2.0, 0.0), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- bad parameters fail first


def test_missing_class_value_in_coefficient_table(syn):
    table = {c: dict(v) for c, v in CLASS_TABLE.items()}
    table[3]["c_soil"] = None
    syn.lulc_params("gap", table)
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["carbon"], params="gap",
                       match=["'c_soil' has no value for land-use class(es) 3", "gap"])


def test_land_use_classes_are_read_from_the_counts_stored_with_the_layer(syn):
    """The class checks of a run read the class counts the raster loader stored (core.layer_class_count), not the
    tiles: a replaced land use brings its own counts, and a class recorded there is checked."""
    lulc = syn.layers["lulc"].copy()
    lulc[0, 0] = 7   # a class without coefficients
    path = write_tif(syn.tmp / "lulc7.tif", np.where(np.isnan(lulc), 255, lulc).astype(np.uint8), "EPSG:32650",
                     TRANSFORM, nodata=255)
    with syn.conn.transaction():
        load_raster(syn.conn, syn.area, "lulc", path, "categorical", "class", replace=True)
    counts = dict(syn.conn.execute("SELECT code, cells FROM core.layer_class_count").fetchall())
    assert counts == {c: int((lulc == c).sum()) for c in range(1, 8)}
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["carbon"], sides=("supply",),
                       match=["has no value for land-use class(es) 7 present in layer 'lulc'"])
    with syn.conn.transaction():   # replaced again: class 7 is gone
        load_raster(syn.conn, syn.area, "lulc", syn.tmp / "lulc.tif", "categorical", "class", replace=True)
    syn.conn.commit()
    assert syn.conn.execute("SELECT count(*) FROM core.layer_class_count").fetchone() == (6,)
    run_id, _ = syn.compute(["carbon"], sides=("supply",))
    assert syn.run_row(run_id)[0] == "succeeded"
    # a class recorded with the layer is checked although no tile holds it: the counts are what the run reads
    syn.conn.execute("INSERT INTO core.layer_class_count (layer_id, code, cells) "
                     "SELECT layer_id, 8, 1 FROM core.layer WHERE name = 'lulc' AND run_id IS NULL")
    with pytest.raises(InputError, match=r"land-use class\(es\) 8 present in layer 'lulc'"):
        compute_services(syn.conn, syn.area, ["carbon"], sides=("supply",))
    syn.conn.rollback()


def test_negative_coefficient_rejected_at_load(syn):
    path = syn.tmp / "negative.csv"
    path.write_text("lucode,c_above,c_below,c_soil,c_dead\n1,5,1,50,0\n2,-60,15,100,5\n3,2,5,70,1\n"
                    "4,0,0,0,0\n5,2,0,20,0\n6,0,0,10,0\n", encoding="utf-8")
    expect_input_error(syn.conn, load_params, syn.conn, syn.area, path,
                       match=["c_above of lucode 2 = -60 is outside the allowed range", "t C/ha"])


def test_wrong_unit_of_scalar_rejected_at_load(syn):
    path = syn.tmp / "units.csv"
    path.write_text("name,value,unit\nc_food,400,kg/(person*yr)\n", encoding="utf-8")
    expect_input_error(syn.conn, load_params, syn.conn, syn.area, path,
                       match=["'c_food' is given in 'kg/(person*yr)' but must be in 't/(person*yr)'"])


def test_missing_layer(syn):
    syn.raster("precipitation", np.full((H, W), 500.0), unit="mm/yr")
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["water"], sides=("supply",),
                       match=["has no layer", "eto", "soil_depth", "pawc", "load it first"])


def test_demand_without_population(syn):
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food"],
                       match="neither a population layer nor a county statistic 'population'")


def test_unknown_service(syn):
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food", "timber"],
                       match=["unknown service(s) timber", "choose from food, carbon, water, soil, recreation"])


def test_unknown_side_and_engine(syn):
    syn.raster("population", population_layer(), unit="persons")
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food"], sides=("offer",),
                       match="sides must be supply and/or demand")
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["carbon"], engine="gpu",
                       match="unknown engine 'gpu'")


def test_soil_without_erodibility_source(syn):
    syn.raster("dem", np.arange(H * W, dtype=float).reshape(H, W), unit="m")
    syn.raster("precipitation", np.full((H, W), 500.0), unit="mm/yr")
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["soil"],
                       match=["soil erodibility needs", "erodibility", "soil_sand", "k_const"])


def test_soil_erodible_class_without_b(syn):
    syn.raster("dem", np.arange(H * W, dtype=float).reshape(H, W), unit="m")
    syn.raster("precipitation", np.full((H, W), 500.0), unit="mm/yr")
    syn.raster("erodibility", np.full((H, W), 0.03), unit="t*ha*h/(ha*MJ*mm)")
    table = {c: dict(v) for c, v in CLASS_TABLE.items()}
    table[3]["csle_b"] = None
    syn.lulc_params("no_b", table)
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["soil"], params="no_b",
                       match=["erodible land-use class(es) 3 have no csle_b", "no ndvi layer"])


def test_ambiguous_parameter_tables(syn):
    syn.lulc_params("other", CLASS_TABLE)
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["carbon"], sides=("supply",),
                       match=["several land-use parameter tables", "classes", "other",
                              "--params classes or --params other"])


def test_negative_county_statistic(syn):
    syn.stats({"grain_output": STATS["grain_output"]})
    # loading refuses negative statistics; one stored by other means is still refused when it is used
    syn.conn.execute("UPDATE src.county_stat SET value = -5 WHERE code = 'c2' AND variable = 'grain_output'")
    syn.conn.commit()
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food"], sides=("supply",),
                       match="'grain_output' (2020) is negative for 1 county")


def test_unknown_scalar_set(syn, cli_env):
    from helpers import check_bad_input

    syn.stats({"population": STATS["population"]})
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food"], scalars="nope",
                       match=["'syn'", "no scalar parameter set 'nope'", "--scalars", "loaded: scalars"])
    check_bad_input(syn.conn, cli_env, "compute", "services", "-a", "syn", "--service", "food", "--scalars", "nope",
                    match=["no scalar parameter set 'nope'", "loaded: scalars"])


def test_year_without_statistics(syn, cli_env):
    """--year naming a year without grain_output must not switch the food supply to method B silently."""
    from helpers import check_bad_input

    syn.stats({"grain_output": STATS["grain_output"], "population": STATS["population"]})
    expect_input_error(syn.conn, compute_services, syn.conn, syn.area, ["food"], sides=("supply",), stats_year=1999,
                       match=["'grain_output'", "no county value for --year 1999", f"years loaded: {YEAR}"])
    check_bad_input(syn.conn, cli_env, "compute", "services", "-a", "syn", "--service", "food", "--year", "1999",
                    match=["'grain_output'", "--year 1999"])
    run_id, _ = syn.compute(["food"], sides=("supply",), stats_year=YEAR)
    assert syn.run_row(run_id)[1]["food"]["supply_method"].startswith("A:")


def test_failed_plan_leaves_no_run_and_no_table(syn):
    """food and carbon plan fine, soil lacks its DEM: nothing is computed for any of them."""
    syn.raster("population", population_layer(), unit="persons")
    before = snapshot(syn.conn)
    with pytest.raises(InputError) as info:
        compute_services(syn.conn, syn.area, ["food", "carbon", "soil"])
    assert "dem" in str(info.value)
    syn.conn.rollback()
    assert snapshot(syn.conn) == before
    assert syn.conn.execute("SELECT count(*) FROM core.run").fetchone()[0] == 0


# ---------------------------------------------------------------- runs side by side


def test_two_runs_with_different_parameter_sets(syn):
    double = {c: {**v, **{p: 2 * v[p] for p in ("c_above", "c_below", "c_soil", "c_dead")}}
              for c, v in CLASS_TABLE.items()}
    syn.lulc_params("doubled", double)
    run_a, _ = syn.compute(["carbon"], sides=("supply",), params="classes", label="base")
    run_b, _ = syn.compute(["carbon"], sides=("supply",), params="doubled", label="doubled")
    assert run_a != run_b
    a, b = syn.layer("c_storage", run_a), syn.layer("c_storage", run_b)
    want = sum(syn.lookup(p) for p in ("c_above", "c_below", "c_soil", "c_dead"))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(a[ok], want[ok], rtol=1e-6)
    np.testing.assert_allclose(b[ok], 2 * want[ok], rtol=1e-6)
    rows_a, rows_b = syn.county_rows(run_a), syn.county_rows(run_b)
    assert set(rows_a) == set(rows_b) == {(c, "carbon", "supply") for c in CODES}
    for key in rows_a:
        assert rows_b[key][1] == pytest.approx(2 * rows_a[key][1], rel=1e-9)
    runs = syn.conn.execute("SELECT run_id, label, status, params->'carbon'->'pools'->'c_soil' FROM core.run"
                            " ORDER BY run_id").fetchall()
    assert [(r[0], r[1], r[2]) for r in runs] == [(run_a, "base", "succeeded"), (run_b, "doubled", "succeeded")]
    assert runs[1][3][1] == 2 * runs[0][3][1] == 100.0
    tables = syn.conn.execute("SELECT run_id, table_name FROM core.layer WHERE name = 'c_storage' ORDER BY run_id"
                              ).fetchall()
    assert [t[0] for t in tables] == [run_a, run_b] and tables[0][1] != tables[1][1]
    inputs = syn.conn.execute("SELECT inputs->'param_sets' FROM core.run ORDER BY run_id").fetchall()
    assert list(inputs[0][0]) == ["classes"] and list(inputs[1][0]) == ["doubled"]


# ---------------------------------------------------------------- every county, with reasons


def test_counties_without_values_get_null_rows_with_reasons(syn):
    # county c3 has no land use at all (every pixel nodata); county c4 has no population statistic
    lulc = syn.layers["lulc"].copy()
    lulc[in_county(2)] = np.nan
    path = write_tif(syn.tmp / "lulc_hole.tif", np.where(np.isnan(lulc), 255, lulc).astype(np.uint8), "EPSG:32650",
                     TRANSFORM, nodata=255)
    with syn.conn.transaction():
        load_raster(syn.conn, syn.area, "lulc", path, "categorical", "class", replace=True, overviews=False)
    syn.stats({"population": {**STATS["population"], "c4": None}})
    run_id, results = syn.compute(["carbon"])
    rows = syn.conn.execute(
        """SELECT u.code, c.side, c.total, c.mean, c.density_km2, c.valid_cells, c.null_reason
           FROM result.county_service c JOIN core.admin_unit u USING (unit_id) WHERE c.run_id = %s""",
        (run_id,)).fetchall()
    got = {(code, side): tuple(rest) for code, side, *rest in rows}
    assert len(got) == 8                                     # every county, both sides
    n3 = int(in_county(2).sum())
    assert got[("c3", "supply")] == (None, None, None, 0.0,
                                     f"none of its {n3} pixels has a value of layer 'c_storage'")
    assert got[("c4", "demand")][:4] == (None, None, None, 0.0)
    assert got[("c4", "demand")][4].startswith("no county statistic for population")
    # c3's population has no pixel to go to either (its weight comes from the land use): reported
    assert got[("c3", "demand")][0] is None
    assert got[("c3", "demand")][4] == f"none of its {n3} pixels has a value of layer 'carbon_demand'"
    assert any("population: county(ies) c3 have a positive total but no pixel" in w for w in warnings_of(syn, run_id))
    assert all(v[0] is not None for k, v in got.items()
               if k not in {("c3", "supply"), ("c3", "demand"), ("c4", "demand")})
    assert results[0].counties == {"supply": 3, "demand": 2}
    warnings = warnings_of(syn, run_id)
    assert any("carbon supply: county(ies) c3 have no value (NULL)" in w for w in warnings), warnings
    assert any("carbon demand: county(ies) c4 have no value (NULL)" in w for w in warnings), warnings


def test_the_sql_mirrors_the_one_list_of_services(conn):
    """``result.county_service``'s check and the ``bi`` columns name exactly the services of NAMES."""
    import re

    from restore_db.stages.services import NAMES
    from restore_db.stages.services.registry import SERVICES
    from restore_db.stages.settings import load

    assert tuple(SERVICES) == NAMES and tuple(load(None)["ratios"]["services"]) == NAMES
    (check,) = conn.execute("""SELECT pg_get_constraintdef(oid) FROM pg_constraint
                               WHERE conrelid = 'result.county_service'::regclass AND contype = 'c'""").fetchone()
    assert tuple(re.findall(r"'(\w+)'::text", check)) == NAMES
    columns = {r[0] for r in conn.execute("""SELECT column_name FROM information_schema.columns
                                             WHERE table_schema = 'bi' AND table_name = 'county'""").fetchall()}
    for name in NAMES:
        assert any(c.startswith(name + "_") for c in columns), f"bi.county has no column of {name}"
