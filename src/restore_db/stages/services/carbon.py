"""Carbon: InVEST storage as supply, emissions of the population as demand (docs/models/carbon.md#supply-carbon-storage, docs/models/carbon.md#demand-emissions-of-the-population).

Supply per pixel: c_storage (t C/ha), the sum of the four pools of the
land-use class (InVEST >= 3.15); county supply = sum x pixel area / 10 000
(t C). Demand per pixel: carbon_demand = population x e_pc_co2 x 12/44
(t C/yr); county demand = sum (t C/yr). Supply is a stock and demand a flow:
the ratios (docs/models/ratios.md#cesd) normalise both before comparing them.
Land-use nodata gives nodata.
"""

from __future__ import annotations

from restore_db.grid.engine import Output
from restore_db.kernels.catalog import CARBON_POOLS
from restore_db.stages.services.common import Aggregate, Context, Plan, Step, population_demand, source_layers

SUPPLY = Output("c_storage", "t C/ha", "carbon storage, sum of the four pools (InVEST c_storage)")
DEMAND = Output("carbon_demand", "t C/yr", "carbon emitted by the resident population")


def plan(ctx: Context) -> Plan:
    ctx.require("lulc")
    steps, aggregates, record = [], [], {}
    if ctx.wants("supply"):
        pools = ctx.lookups(list(CARBON_POOLS))
        steps.append(Step("carbon_storage", {"lulc": "lulc"}, [SUPPLY], pools))
        aggregates.append(Aggregate("supply", SUPPLY.name, "t C", ctx.pixel_area_m2 / 10_000.0))
        record["pools"] = pools
    if ctx.wants("demand"):
        e_pc, e_src = ctx.scalar("e_pc_co2")
        demand_steps, pop_record = population_demand(ctx, DEMAND)
        steps += demand_steps
        aggregates.append(Aggregate("demand", DEMAND.name, "t C/yr", 1.0))
        record.update({"e_pc_co2": e_pc, "e_pc_co2_source": e_src, **pop_record})
    return Plan(steps, aggregates, record, source_layers(ctx, "lulc", "population"))
