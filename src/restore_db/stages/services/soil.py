"""Soil conservation with the Chinese Soil Loss Equation (docs/models/soil-conservation.md#soil-conservation-with-the-chinese-soil-loss-equation).

SC = R K LS (1 - B E T) in t/(ha*yr), the erosion the present cover and
measures prevent (docs/models/soil-conservation.md#equation); county supply = sum x pixel area / 10 000
(t/yr). Demand = actual loss A (default) or max(A - A_tol, 0) when the scalar
``soil_demand_tolerance`` is 1 (docs/models/soil-conservation.md#demand).

* Slope: Horn's method on the DEM with a one-pixel tile halo (exact at tile
  edges); flow accumulation (cells) over the whole grid, see
  :mod:`restore_db.stages.services.terrain` (D8 by pyflwdir by default; MFD as InVEST with the
  scalar ``flow_routing`` = 2), reused across runs on the same DEM; LS by the unit-contributing-area method with
  Liu's steep-slope S (docs/models/soil-conservation.md#slope-length-and-steepness-ls), L capped at ``l_max``.
* R: the ``erosivity`` layer when loaded, else annual precipitation by Zhang
  & Fu (2003) (docs/models/soil-conservation.md#r-from-annual-precipitation).
* K: the ``erodibility`` layer, else EPIC from soil_sand/silt/clay/oc with
  the Zhang (2007) correction (4.3), else the scalar ``k_const``.
* B: the class value ``csle_b`` where the table has one, else from NDVI
  (FVC by the dimidiate model, 5 %/95 % NDVI percentiles of the scene):
  forest/shrub B_forest with GD = FVC, grassland B_grass, cropland 1 (4.5).
* E, T: class tables ``csle_e``, ``csle_t``. Classes with ``erodible`` = 0
  (water, built-up) lose and conserve nothing.
"""

from __future__ import annotations

import numpy as np

from restore_db.grid.engine import Output, write_array
from restore_db.store.layers import COMPACT, read_array
from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.load.params import lulc_codes_in_layer
from restore_db.stages.services.common import Aggregate, Context, GridStep, Plan, Step, source_layers
from restore_db.store import layers

SLOPE = Output("slope", "degree", "slope by Horn's method (tile halo)")
OUTPUTS = [
    Output("ls", "1", "CSLE slope length and steepness factor LS"),
    Output("soil_potential", "t/(ha*yr)", "potential soil loss R K LS"),
    Output("soil_loss", "t/(ha*yr)", "actual soil loss R K LS B E T"),
    Output("soil_conservation", "t/(ha*yr)", "soil conservation R K LS (1 - B E T)"),
    Output("soil_demand", "t/(ha*yr)", "soil-conservation demand (actual loss, or loss above tolerance)"),
]
TEXTURE = ("soil_sand", "soil_silt", "soil_clay", "soil_oc")


FLOW_METHODS = {1: "d8_pyflwdir", 2: "mfd", 3: "d8"}   # scalar flow_routing -> terrain.flow_accumulation method


def flow_accumulation_step(method: str, dem_key: str):
    def run(ctx: Context, run_id: int) -> dict | None:
        """Flow accumulation (cells, the cell included) over the whole DEM.

        Reused from an earlier succeeded run computed from the same DEM with the
        same method (it depends on nothing else); returns {"flow_acc": that run}.

        Global by nature. Client memory, bytes per cell: the DEM as float32 (4) and
        :func:`terrain.flow_accumulation`'s peak (about 20 for the default D8 by pyflwdir,
        whose result is float32): about 24 (60 when both were float64).
        """
        held = layers.computed_by_run(ctx.conn, ctx.area, "flow_acc",
                                      {"params.soil.flow_accumulation": method, "inputs.layers.dem": dem_key})
        if held is not None:
            ctx.notes.append(f"flow accumulation ({method}) reused from run {held}")
            return {"flow_acc": held}
        from restore_db.stages.services.terrain import flow_accumulation

        # float32 throughout: the DEM is stored as float32 (and the routing rounds heights to float32 anyway),
        # the accumulation is stored as float32; see flow_accumulation for the bytes per cell of each method
        dem = read_array(ctx.conn, ctx.area, "dem", dtype=COMPACT)
        acc = flow_accumulation(dem, ctx.area.grid.pixel_size, method=method, dtype=np.float32)
        del dem
        write_array(ctx.conn, ctx.area, run_id,
                    Output("flow_acc", "cells", f"flow accumulation ({method}), the cell included"), acc)
        return None
    return run


def percentiles(values: np.ndarray, pcts) -> list[float]:
    """``np.percentile(values.astype(np.float64), pcts)`` (method "linear") without the float64 copy.

    ``values``: a 1-D float array without NaN, partitioned in place (its order is lost). The two order
    statistics around each virtual index ``(n - 1) q / 100`` are found with ``np.partition`` in the
    array's own dtype (float32 -> float64 is exact and keeps the order, so they are the float64 ones),
    then interpolated in float64 with numpy's own formula (``numpy.lib._function_base_impl._lerp``):
    ``a + (b - a) g``, or ``b - (b - a)(1 - g)`` when ``g >= 0.5``. The results equal numpy's bit for
    bit. Memory: none besides ``values`` (4 bytes per valid cell for float32).
    """
    n = values.size
    if n == 0:
        raise ValueError("percentiles of no value")
    picks = []
    for pct in pcts:
        virtual = (n - 1) * (float(pct) / 100.0)
        if virtual >= n - 1:
            lo = hi = n - 1
        elif virtual < 0:
            lo = hi = 0
        else:
            lo = int(np.floor(virtual))
            hi = lo + 1
        picks.append((virtual, lo, hi))
    values.partition(sorted({i for _, lo, hi in picks for i in (lo, hi)}))
    out = []
    for virtual, lo, hi in picks:
        a, b = float(values[lo]), float(values[hi])
        gamma = virtual - (lo if 0 <= virtual < n - 1 else (-1 if virtual >= n - 1 else 0))
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


def plan(ctx: Context) -> Plan:
    ctx.require("dem", "lulc")
    record: dict = {}
    inputs = {"slope": "slope", "flow_acc": "flow_acc", "lulc": "lulc"}
    params: dict = {"cell_size": ctx.area.grid.pixel_size, "s_method": "csle", "m_method": "csle"}
    if ctx.has("erosivity"):
        inputs["erosivity"] = "erosivity"
        record["R"] = "layer erosivity"
    else:
        ctx.require("precipitation")
        inputs["precipitation"] = "precipitation"
        record["R"] = "annual precipitation, R = 0.0534 P^1.6548 (Zhang & Fu 2003)"
    if ctx.has("erodibility"):
        inputs["erodibility"] = "erodibility"
        record["K"] = "layer erodibility"
    elif all(ctx.has(t) for t in TEXTURE):
        inputs.update({t: t for t in TEXTURE})
        record["K"] = "EPIC from soil texture and organic carbon, Zhang (2007) correction"
    else:
        k, k_src = ctx.scalar_or_none("k_const")
        if k is None:
            raise InputError(f"study area {ctx.area.name!r}: soil erodibility needs an 'erodibility' layer, the "
                             f"layers {', '.join(TEXTURE)}, or the scalar k_const")
        params["k_const"] = k
        record["K"] = f"constant {k} ({k_src})"
    tables = ctx.lookups(["csle_e", "csle_t", "erodible", "forest", "grassland", "cropland"], optional=("csle_b",))
    tables.setdefault("csle_b", [None] * len(tables["csle_e"]))
    params.update(tables)
    present = lulc_codes_in_layer(ctx.conn, ctx.area, "lulc") or []
    has_ndvi = ctx.has("ndvi")
    derivable = {"forest", "grassland", "cropland"} if has_ndvi else set()
    lacking = [c for c in present if tables["erodible"][c] == 1 and tables["csle_b"][c] is None
               and not any(tables[f][c] == 1 for f in derivable)]
    if lacking:
        how = "" if has_ndvi else " (no ndvi layer to derive it from vegetation cover)"
        raise InputError(f"parameter table: erodible land-use class(es) {short_list(lacking)} have no csle_b{how}")
    if has_ndvi:
        inputs["ndvi"] = "ndvi"
        lo_pct, _ = ctx.scalar("fvc_ndvi_soil_pct")
        hi_pct, _ = ctx.scalar("fvc_ndvi_veg_pct")
        ndvi = layers.valid_values(ctx.conn, ctx.area, "ndvi")   # float32 (stored so), 4 bytes per valid cell
        if ndvi.size == 0:
            raise InputError(f"study area {ctx.area.name!r}: layer 'ndvi' has no valid pixel, so the 5 %/95 % "
                             "NDVI percentiles of the vegetation cover cannot be taken")
        params["ndvi_soil"], params["ndvi_veg"] = percentiles(ndvi, [lo_pct, hi_pct])
        del ndvi
        record["fvc"] = {"ndvi_soil": params["ndvi_soil"], "ndvi_veg": params["ndvi_veg"],
                         "percentiles": [lo_pct, hi_pct]}
    params["l_max"], _ = ctx.scalar("l_max")
    tolerance, _ = ctx.scalar("soil_demand_tolerance")
    if tolerance:
        params["demand_method"] = "tolerance"
        params["a_tol"], a_src = ctx.scalar("a_tol")
        record["demand"] = f"max(A - A_tol, 0), A_tol = {params['a_tol']} t/(ha*yr) ({a_src})"
    else:
        params["demand_method"] = "actual"
        record["demand"] = "actual soil loss A"
    routing, _ = ctx.scalar("flow_routing")
    if int(routing) not in FLOW_METHODS:
        raise InputError(f"scalar flow_routing must be one of {sorted(FLOW_METHODS)} "
                         f"({', '.join(f'{k} = {v}' for k, v in FLOW_METHODS.items())}), got {routing:g}")
    method = FLOW_METHODS[int(routing)]
    dem_key = layers.input_checksums(ctx.conn, ctx.area, ["dem"], [])["layers"]["dem"]
    record.update({"flow_accumulation": method, "l_max": params["l_max"], "S": "Liu et al. 1994 (csle)"})
    steps = [
        Step("slope", {"dem": "dem"}, [SLOPE], {"cell_size": ctx.area.grid.pixel_size}, halo=True),
        GridStep("flow accumulation", flow_accumulation_step(method, dem_key), ["flow_acc"], ["dem"]),
        Step("soil", inputs, OUTPUTS, params),
    ]
    scale = ctx.pixel_area_m2 / 10_000.0
    aggregates = [Aggregate(side, layer, "t/yr", scale)
                  for side, layer in (("supply", "soil_conservation"), ("demand", "soil_demand")) if ctx.wants(side)]
    return Plan(steps, aggregates, record,
                source_layers(ctx, "dem", "lulc", "erosivity", "precipitation", "erodibility", *TEXTURE, "ndvi"))
