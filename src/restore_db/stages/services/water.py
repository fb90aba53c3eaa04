"""Water: InVEST annual water yield as supply, per-capita and sectoral use as demand (docs/models/water-yield.md#supply-annual-water-yield, docs/models/water-yield.md#demand-water-use).

Supply inputs: lulc, precipitation (mm/yr), eto (mm/yr), soil_depth (mm,
depth to the root-restricting layer), pawc (fraction) — soil_depth and pawc
may instead be one value everywhere, the scalars ``soil_depth_const`` and
``pawc_const`` (a layer wins when loaded); lookup table with lulc_veg,
root_depth (mm), kc; scalar seasonality_z. Outputs per pixel:
fractp (AET/P), aet (mm/yr) and wyield (mm/yr); county supply = sum of
wyield x pixel area / 1000 (m3/yr). Nodata and P = 0 give nodata, as in InVEST.

Demand per pixel (m3/yr): population x q_dom x 365 / 1000, plus, when the
statistics and coefficients are loaded, industrial use (county
gdp_secondary x q_ind allocated to built-up land) and agricultural use
(county irrigated_area x q_irr allocated to cropland). Sectors without data
are left out and the run record says so.
"""

from __future__ import annotations

from restore_db.grid.engine import Output
from restore_db.errors import InputError
from restore_db.stages.services.common import COUNTY_STEP, Aggregate, Context, Plan, Step, allocation_step, population_demand, source_layers

INPUTS = ("lulc", "precipitation", "eto", "soil_depth", "pawc")
CONSTANTS = {"soil_depth": "soil_depth_const", "pawc": "pawc_const"}   # layer -> scalar standing in for it
OUTPUTS = [
    Output("fractp", "1", "AET/P of the Budyko curve (InVEST fractp)"),
    Output("aet", "mm/yr", "actual evapotranspiration"),
    Output("wyield", "mm/yr", "annual water yield (InVEST wyield)"),
]
DEMAND = Output("water_demand", "m3/yr", "water use: domestic, plus industrial and agricultural when known")
# sector: (county statistic, scalar per unit of it, land-use flag receiving it)
SECTORS = {"water_industry": ("gdp_secondary", "q_ind", "built_up"),
           "water_agriculture": ("irrigated_area", "q_irr", "cropland")}


def plan(ctx: Context) -> Plan:
    steps, aggregates, record = [], [], {}
    if ctx.wants("supply"):
        constants, missing = {}, []
        for layer in INPUTS:
            if ctx.has(layer):
                continue
            value, source = ctx.scalar_or_none(CONSTANTS[layer]) if layer in CONSTANTS else (None, None)
            if value is None:
                missing.append(layer + (f" (or the scalar {CONSTANTS[layer]})" if layer in CONSTANTS else ""))
            else:
                constants[CONSTANTS[layer]] = value
                record[layer] = f"scalar {CONSTANTS[layer]} = {value:g} everywhere ({source})"
        if missing:
            raise InputError(f"study area {ctx.area.name!r} has no layer {', '.join(missing)}; load it first")
        luts = ctx.lookups(["lulc_veg", "root_depth", "kc"])
        z, z_src = ctx.scalar("seasonality_z")
        layers = [l for l in INPUTS if ctx.has(l)]
        steps.append(Step("water_yield", {l: l for l in layers}, OUTPUTS, {**luts, "seasonality_z": z, **constants}))
        aggregates.append(Aggregate("supply", "wyield", "m3/yr", ctx.pixel_area_m2 / 1000.0))
        record.update({**luts, "seasonality_z": z, "seasonality_z_source": z_src})
    if ctx.wants("demand"):
        steps_d, record_d = demand_plan(ctx)
        steps += steps_d
        record.update(record_d)
        aggregates.append(Aggregate("demand", DEMAND.name, "m3/yr", 1.0))
    return Plan(steps, aggregates, record, source_layers(ctx, *INPUTS, "population"))


def demand_plan(ctx: Context) -> tuple[list, dict]:
    ctx.require("lulc")
    steps: list = []
    record: dict = {"sectors": {}}
    sector_inputs = {}
    for layer, (variable, coef, flag) in SECTORS.items():
        totals, year = ctx.county_stat(variable)
        q, q_src = ctx.scalar_or_none(coef)
        if totals is None or q is None:
            record["sectors"][layer] = f"not included (no county statistic {variable!r} or scalar {coef!r})"
            continue
        flags = ctx.lookups([flag])
        weight = f"{layer}_weight"
        volumes = {uid: v * q for uid, v in totals.items()}
        steps += [
            COUNTY_STEP,
            Step("class_values", {"lulc": "lulc"}, [Output(weight, "1", f"{flag} flag receiving {layer}")],
                 {"tables": {weight: flags[flag]}}),
            allocation_step(volumes, weight,
                            Output(layer, "m3/yr", f"county {variable} x {coef} allocated to {flag} land"),
                            layer, missing=0.0),
        ]
        sector_inputs[layer] = layer
        record["sectors"][layer] = f"{variable} {year} x {coef} = {q} ({q_src}), allocated to {flag}"
    demand_steps, pop_record = population_demand(ctx, DEMAND, sector_inputs)
    record.update(pop_record)
    return steps + demand_steps, record
