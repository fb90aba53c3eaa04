"""All five services, supply and demand, on the real BTH inputs (../shared/data).

Inputs: the InVEST 3.20.2 BTH datastacks (land use, precipitation, ET0, soil depth, PAWC, DEM,
erosivity, erodibility and InVEST's tables), the 199 Tianditu counties, the 2020 census
population, and the IGBP table shipped with restore-db for the remaining coefficients.
"""

import csv

import pandas as pd
import pytest

from restore_db.grid import studyarea
from restore_db.stages.services.stage import compute_services
from restore_db.load.boundaries import load_boundaries
from restore_db.load.invest import import_datastack
from restore_db.load.params import load_params
from restore_db.load.stats import load_stats
from restore_db.resources import package_data

from conftest import shared_data

pytestmark = pytest.mark.realdata
REF = ("invest", "bth_1km_reference")
POP = "人口数_合计"
KEY = "区划代码"


@pytest.fixture
def bth(conn):
    for model in ("annual_water_yield", "carbon", "sdr"):
        with conn.transaction():
            import_datastack(conn, shared_data(*REF, f"{model}_datastack.json"), "bth")
    area = studyarea.get(conn, "bth")
    with conn.transaction():
        load_boundaries(conn, area, shared_data("boundaries", "bth_counties_tianditu_2025.geojson"), "county")
        load_stats(conn, area, shared_data("stats", "bth_census2020_county.csv"), year=2020, code_column=KEY,
                   columns={POP: "population"})
        load_params(conn, area, package_data("params", "igbp_lulc.csv"), name="igbp_lulc")
    return area


def census_of_loaded_counties(conn, area) -> dict[str, float]:
    codes = {r[0] for r in conn.execute("SELECT code FROM core.admin_unit WHERE study_area_id = %s AND level = 'county'",
                                        (area.study_area_id,))}
    frame = pd.read_csv(shared_data("stats", "bth_census2020_county.csv"), dtype={KEY: str})
    return {c: float(v) for c, v in zip(frame[KEY], frame[POP]) if c in codes}


def test_five_services_on_real_bth(conn, bth):
    with conn.transaction():
        run_id, results = compute_services(conn, bth, params=["awy_biophysical", "carbon_pools", "igbp_lulc"],
                                           scalars="invest_annual_water_yield")
    assert [r.service for r in results] == ["food", "carbon", "water", "soil", "recreation"]
    rows = conn.execute("""SELECT service, side, count(*), sum(total) FROM result.county_service WHERE run_id = %s
                           GROUP BY 1, 2""", (run_id,)).fetchall()
    totals = {(s, side): (n, t) for s, side, n, t in rows}
    assert set(totals) == {(s, side) for s in ("food", "carbon", "water", "soil", "recreation")
                           for side in ("supply", "demand")}
    assert all(n == 199 for n, _ in totals.values())

    # the census population is allocated to pixels without loss: recreation demand total = persons
    census = census_of_loaded_counties(conn, bth)
    per_county = dict(conn.execute(
        """SELECT u.code, c.total FROM result.county_service c JOIN core.admin_unit u USING (unit_id)
           WHERE c.run_id = %s AND c.service = 'recreation' AND c.side = 'demand'""", (run_id,)).fetchall())
    worst = max(abs(per_county[c] - v) / v for c, v in census.items())
    assert worst < 1e-6, f"allocated population differs from the census by up to {worst:.1e}"
    # demands follow from the population and the default scalars (docs/models/food.md#demand, docs/models/carbon.md#demand-emissions-of-the-population, docs/models/water-yield.md#demand-water-use)
    persons = totals[("recreation", "demand")][1]
    assert totals[("food", "demand")][1] == pytest.approx(persons * 0.4, rel=1e-6)
    assert totals[("carbon", "demand")][1] == pytest.approx(persons * 7.4 * 12 / 44, rel=1e-6)
    assert totals[("water", "demand")][1] == pytest.approx(persons * 150 * 365 / 1000, rel=1e-6)

    # supply totals against InVEST's own BTH totals (the counties cover almost all valid pixels)
    with open(shared_data(*REF, "outputs", "carbon", "raster_values_summary.csv"), encoding="utf-8") as fh:
        invest_carbon = float(next(csv.DictReader(fh))["Total"])
    assert totals[("carbon", "supply")][1] == pytest.approx(invest_carbon, rel=0.02)
    with open(shared_data(*REF, "outputs", "annual_water_yield", "watershed_results_wyield_by_county.csv"),
              encoding="utf-8") as fh:
        invest_water = sum(float(r["wyield_vol"]) for r in csv.DictReader(fh))
    assert totals[("water", "supply")][1] == pytest.approx(invest_water, rel=0.01)
    # soil: conservation is positive and never exceeds the potential loss
    soil = conn.execute("""SELECT min(total), count(*) FILTER (WHERE total < 0) FROM result.county_service
                           WHERE run_id = %s AND service = 'soil'""", (run_id,)).fetchone()
    assert soil[1] == 0
    assert totals[("soil", "supply")][1] > 0
