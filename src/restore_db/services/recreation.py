"""Leisure and recreation: scored land use near water and forest as supply, population as demand (domain.md 5).

Supply per pixel (relative score): Rec_S = score(lulc) x (1 + sum_k w_k
exp(-d_k / d0_k)), with d_k the Euclidean distance (m) to the nearest water
and forest pixel (classes flagged ``water`` / ``forest``) and w_k, d0_k the
scalars rec_w_<k>, rec_d0_<k> (domain.md 5.1a). A feature type absent from
the whole study area adds nothing. Demand per pixel: population density
(persons/km2, domain.md 5.2). Both are intensive: the county "total" is the
area integral (score x km2, persons) and the density is the area mean.
"""

from __future__ import annotations

import numpy as np

from ..engine import Output, read_array, write_array
from ..load.params import lulc_codes_in_layer
from .common import Aggregate, Context, GridStep, Plan, Step, demand_params, population_plan, source_layers

SUPPLY = Output("recreation_supply", "score", "recreation score x (1 + proximity bonus to water and forest)")
DEMAND = Output("recreation_demand", "persons/km2", "population density")
FEATURES = ("water", "forest")


def distance_step(flags: dict[str, list]):
    def run(ctx: Context, run_id: int) -> None:
        """Distance (m) of every pixel to the nearest pixel of each feature class (Euclidean transform)."""
        from scipy.ndimage import distance_transform_edt

        codes = read_array(ctx.conn, ctx.area, "lulc")
        valid = ~np.isnan(codes)
        idx = np.where(valid, codes, 0).astype(np.int64)
        for name, table in flags.items():
            lut = np.array([0.0 if v is None else v for v in table])
            feature = valid & (lut[np.clip(idx, 0, lut.size - 1)] == 1)
            dist = distance_transform_edt(~feature) * ctx.area.grid.pixel_size
            write_array(ctx.conn, ctx.area, run_id, Output(f"dist_{name}", "m", f"distance to the nearest {name} pixel"),
                        dist)
    return run


def plan(ctx: Context) -> Plan:
    ctx.require("lulc")
    steps, aggregates, record = [], [], {}
    px_km2 = ctx.pixel_area_m2 / 1e6
    if ctx.wants("supply"):
        steps, record = supply_plan(ctx)
        aggregates.append(Aggregate("supply", SUPPLY.name, "score*km2", px_km2))
    if ctx.wants("demand"):
        pop_steps, pop_layer, pop_record = population_plan(ctx)
        steps += [*pop_steps, Step("demand", {"population": pop_layer}, [DEMAND], demand_params(ctx))]
        record.update(pop_record)
        aggregates.append(Aggregate("demand", DEMAND.name, "persons", px_km2))
    return Plan(steps, aggregates, record, source_layers(ctx, "lulc", "population"))


def supply_plan(ctx: Context) -> tuple[list, dict]:
    tables = ctx.lookups(["rec_score", *FEATURES])
    present = lulc_codes_in_layer(ctx.conn, ctx.area, "lulc") or []
    features, weights, d0s, record = [], [], [], {"rec_score": tables["rec_score"], "features": {}}
    for name in FEATURES:
        w, w_src = ctx.scalar(f"rec_w_{name}")
        d0, d0_src = ctx.scalar(f"rec_d0_{name}")
        if not any(tables[name][c] == 1 for c in present):
            record["features"][name] = "absent from the land-use layer: no bonus"
            continue
        features.append(name)
        weights.append(w)
        d0s.append(d0)
        record["features"][name] = {"weight": w, "weight_source": w_src, "d0_m": d0, "d0_source": d0_src}
    steps = []
    if features:
        steps.append(GridStep("distances", distance_step({f: tables[f] for f in features}),
                              [f"dist_{f}" for f in features], ["lulc"]))
    steps.append(Step("recreation", {"lulc": "lulc", **{f"dist_{f}": f"dist_{f}" for f in features}}, [SUPPLY],
                      {"rec_score": tables["rec_score"], "features": features, "weights": weights, "d0": d0s}))
    return steps, record
