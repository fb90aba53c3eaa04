"""Leisure and recreation: scored land use near water and forest as supply, population as demand (docs/models/recreation.md#leisure-and-recreation).

Supply per pixel (relative score): Rec_S = score(lulc) x (1 + bonus), bonus = sum_k w_k
exp(-d_k / d0_k), with d_k the Euclidean distance (m) to the nearest water
and forest pixel (classes flagged ``water`` / ``forest``) and w_k, d0_k the
scalars rec_w_<k>, rec_d0_<k> (docs/models/recreation.md#supply-scored-land-use-near-water-and-forest). A feature type absent from
the whole study area adds nothing. Demand per pixel: population density
(persons/km2, docs/models/recreation.md#demand-population-density). Both are intensive: the county "total" is the
area integral (score x km2, persons) and the density is the area mean.
"""

from __future__ import annotations

import numpy as np

from restore_db.grid.engine import Output, write_array
from restore_db.store.layers import COMPACT, read_array
from restore_db.kernels import formulas
from restore_db.kernels.catalog import lookup
from restore_db.load.params import lulc_codes_in_layer
from restore_db.stages.services.common import Aggregate, Context, GridStep, Plan, Step, population_demand, source_layers

SUPPLY = Output("recreation_supply", "score", "recreation score x (1 + proximity bonus to water and forest)")
DEMAND = Output("recreation_demand", "persons/km2", "population density")
PROXIMITY = Output("rec_proximity", "1", "recreation proximity bonus: sum of w exp(-d/d0) over water and forest")
FEATURES = ("water", "forest")


ROWS = 256   # rows per block of the per-pixel parts of the proximity step


def proximity_step(flags: dict[str, list], weights: list[float], d0s: list[float]):
    def run(ctx: Context, run_id: int) -> None:
        """Proximity bonus sum_k w_k exp(-d_k / d0_k), d_k = Euclidean distance (m) to the nearest feature pixel.

        Global by nature (the nearest feature may be anywhere). Client memory, bytes per cell of the grid:
        the land use as float32 (4; float64 for 32-bit codes) and its valid mask (1), one boolean feature mask (1) and the nearest
        feature pixel of every cell for each feature type (scipy's feature transform, 2 x int32 = 8 per
        type; 9 more while one is made), the float32 output (4): about 35 with two feature types. The
        distances and the bonus are computed by blocks of :data:`ROWS` rows with scipy's own arithmetic
        (float64 ``sqrt(dr * dr + dc * dc)`` x pixel size), so the values equal the whole-grid
        ``distance_transform_edt`` ones.
        """
        from scipy.ndimage import distance_transform_edt

        grid = ctx.area.grid
        codes = read_array(ctx.conn, ctx.area, "lulc", dtype=COMPACT)
        valid = ~np.isnan(codes)
        nearest = []
        for table in flags.values():
            feature = np.empty(codes.shape, dtype=bool)
            for r0 in range(0, grid.height, ROWS):
                block = slice(r0, r0 + ROWS)
                feature[block] = valid[block] & (lookup(codes[block], table) == 1)
            nearest.append(distance_transform_edt(~feature, return_distances=False, return_indices=True))
            del feature
        del codes
        bonus = np.empty(valid.shape, dtype=np.float32)
        cols = np.arange(grid.width, dtype=np.int32)
        for r0 in range(0, grid.height, ROWS):
            r1 = min(r0 + ROWS, grid.height)
            rows = np.arange(r0, r1, dtype=np.int32)[:, None]
            dists = []
            for ft in nearest:
                dr = (ft[0, r0:r1] - rows).astype(np.float64)
                dc = (ft[1, r0:r1] - cols).astype(np.float64)
                dists.append(np.sqrt(dr * dr + dc * dc) * grid.pixel_size)
            bonus[r0:r1] = np.where(valid[r0:r1], formulas.proximity_bonus(dists, weights, d0s), np.nan)
        del nearest
        write_array(ctx.conn, ctx.area, run_id, PROXIMITY, bonus)
    return run


def plan(ctx: Context) -> Plan:
    ctx.require("lulc")
    steps, aggregates, record = [], [], {}
    px_km2 = ctx.pixel_area_m2 / 1e6
    if ctx.wants("supply"):
        steps, record = supply_plan(ctx)
        aggregates.append(Aggregate("supply", SUPPLY.name, "score*km2", px_km2))
    if ctx.wants("demand"):
        demand_steps, pop_record = population_demand(ctx, DEMAND)
        steps += demand_steps
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
        steps.append(GridStep("proximity to water and forest",
                              proximity_step({f: tables[f] for f in features}, weights, d0s), [PROXIMITY.name],
                              ["lulc"]))
    steps.append(Step("recreation", {"lulc": "lulc", **({PROXIMITY.name: PROXIMITY.name} if features else {})},
                      [SUPPLY], {"rec_score": tables["rec_score"]}))
    return steps, record
