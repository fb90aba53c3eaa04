"""Food: grain output allocated to cropland as supply, consumption as demand (docs/models/food.md#food-supply-and-demand).

Supply (t per pixel per year), by the first method the data allow:

* A (default): the county statistic ``grain_output`` (t) allocated to its
  cropland pixels by NDVI, G_i = G_c x max(NDVI_i, 0) / sum of the county's
  cropland NDVI (docs/models/food.md#method-a-grain-output-allocated-by-ndvi); without an ``ndvi`` layer, by cropland area;
* B: the class yield ``food_yield`` (t/ha) x pixel area when no grain
  statistic is loaded (docs/models/food.md#method-b-class-yield).

Demand: population x c_food (t/yr; 0.4 t = the 400 kg food-security
standard, docs/models/food.md#demand). County sums in t/yr. A county reporting grain but
holding no cropland is a data inconsistency: it is reported, not allocated.
"""

from __future__ import annotations

from restore_db.grid.engine import Output
from restore_db.stages.services.common import COUNTY_STEP, Aggregate, Context, Plan, Step, allocation_step, population_demand, source_layers

SUPPLY = Output("food_supply", "t/yr", "grain supply per pixel")
DEMAND = Output("food_demand", "t/yr", "grain consumption of the resident population")
WEIGHT = Output("food_weight", "1", "allocation weight of grain output: max(NDVI, 0) or 1 on cropland, 0 elsewhere")


def plan(ctx: Context) -> Plan:
    ctx.require("lulc")
    steps, aggregates, record = [], [], {}
    if ctx.wants("supply"):
        steps, record = supply_plan(ctx)
        aggregates.append(Aggregate("supply", SUPPLY.name, "t/yr", 1.0))
    if ctx.wants("demand"):
        c_food, c_src = ctx.scalar("c_food")
        demand_steps, pop_record = population_demand(ctx, DEMAND)
        steps += demand_steps
        record.update({"c_food": c_food, "c_food_source": c_src, **pop_record})
        aggregates.append(Aggregate("demand", DEMAND.name, "t/yr", 1.0))
    return Plan(steps, aggregates, record, source_layers(ctx, "lulc", "ndvi", "population"))


def supply_plan(ctx: Context) -> tuple[list, dict]:
    totals, year = ctx.county_stat("grain_output")
    if totals is not None:
        crop = ctx.lookups(["cropland"])["cropland"]
        if ctx.has("ndvi"):
            weight_step = Step("food_weight", {"ndvi": "ndvi", "lulc": "lulc"}, [WEIGHT], {"cropland": crop})
            method = f"A: county grain_output {year} allocated to cropland by NDVI (docs/models/food.md#method-a-grain-output-allocated-by-ndvi)"
        else:
            weight_step = Step("class_values", {"lulc": "lulc"}, [WEIGHT], {"tables": {WEIGHT.name: crop}})
            method = f"A: county grain_output {year} allocated to cropland by area (no ndvi layer)"
        steps = [COUNTY_STEP, weight_step,
                 allocation_step(totals, WEIGHT.name, SUPPLY, "food supply")]
        record = {"supply_method": method}
    else:
        yields = ctx.lookups(["food_yield"])
        steps = [Step("food_supply_lookup", {"lulc": "lulc"}, [SUPPLY],
                      {"food_yield": yields["food_yield"], "pixel_area_m2": ctx.pixel_area_m2})]
        record = {"supply_method": "B: class food_yield x pixel area (no grain_output statistic; docs/models/food.md#method-b-class-yield)",
                  **yields}
    return steps, record
