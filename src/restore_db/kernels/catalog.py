"""The kernels restore-db runs tile by tile, by name.

A kernel is ``fn(arrays, params) -> {output: array}``: ``arrays`` maps input
names to float64 tiles with NaN for nodata (a focal kernel gets its one input
with a one-pixel halo), ``params`` is JSON-able (numbers, strings, lists; a
land-use lookup table is a list indexed by class code with ``None`` where the
table has no value). Every formula is called from :mod:`formulas`, the single
source of truth; this module only wires layers and parameters to it. It runs
unchanged in the client and in PL/Python (numpy and the standard library only).
"""

from __future__ import annotations

import numpy as np

from restore_db.kernels import formulas

CARBON_POOLS = ("c_above", "c_below", "c_soil", "c_dead")


def lut(values) -> np.ndarray:
    """A lookup list (None = no value) as a float array (NaN = no value)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def lookup(codes: np.ndarray, table) -> np.ndarray:
    """Per-pixel value of a lookup list for land-use codes (NaN codes stay NaN).

    Codes outside the table give NaN; the services check before computing that
    every class of the land-use layer has a value (docs/models/conventions.md#nodata).
    """
    ext = np.append(lut(table), np.nan)     # the last slot answers NaN and out-of-range codes
    none = ext.size - 1
    idx = np.nan_to_num(codes, nan=none, posinf=none, neginf=none).astype(np.intp)
    idx[(idx < 0) | (idx > none)] = none
    return ext.take(idx)


def carbon_storage(a, p):
    """InVEST carbon storage (t C/ha) from the four pool tables (docs/models/carbon.md#supply-carbon-storage)."""
    codes = a["lulc"]
    return {"c_storage": formulas.carbon_storage(*(lookup(codes, p[pool]) for pool in CARBON_POOLS))}


def water_yield(a, p):
    """InVEST annual water yield, Budyko-Fu: fractp, aet and wyield (mm/yr) (docs/models/water-yield.md#supply-annual-water-yield).

    ``soil_depth`` and ``pawc`` are layers, or one value everywhere
    (``p["soil_depth_const"]``, ``p["pawc_const"]``) when the layer is not an input.
    """
    codes = a["lulc"]
    soil_depth = a["soil_depth"] if "soil_depth" in a else np.full(codes.shape, float(p["soil_depth_const"]))
    pawc = a["pawc"] if "pawc" in a else np.full(codes.shape, float(p["pawc_const"]))
    fractp = formulas.awy_fractp(lookup(codes, p["kc"]), a["eto"], a["precipitation"],
                                 lookup(codes, p["root_depth"]), soil_depth, pawc,
                                 lookup(codes, p["lulc_veg"]), p["seasonality_z"])
    wyield, aet = formulas.awy_water_yield(fractp, a["precipitation"])
    return {"fractp": fractp, "aet": aet, "wyield": wyield}


def slope(a, p):
    """Slope in degrees by Horn's method on a DEM tile with its halo (docs/models/soil-conservation.md#slope-length-and-steepness-ls)."""
    return {"slope": formulas.horn_slope_degrees(a["dem"], p["cell_size"])}


def class_values(a, p):
    """Land-use lookups as layers: ``p["tables"]`` maps output name -> lookup list."""
    codes = a["lulc"]
    return {name: lookup(codes, table) for name, table in p["tables"].items()}


def food_weight(a, p):
    """NDVI allocation weight of grain output: max(NDVI, 0) on cropland, 0 elsewhere (docs/models/food.md#method-a-grain-output-allocated-by-ndvi)."""
    return {"food_weight": formulas.food_ndvi_weight(a["ndvi"], lookup(a["lulc"], p["cropland"]))}


def allocate(a, p):
    """County total x pixel weight / county weight sum (dasymetric allocation, docs/models/food.md#method-a-grain-output-allocated-by-ndvi, docs/models/food.md#demand, docs/models/water-yield.md#demand-water-use).

    ``p["factor"]`` is indexed by the pixel's county id and holds
    total / weight sum (0 for a county whose weights sum to 0); pixels outside
    every county (id NaN) are nodata. Output name ``p["output"]``.
    """
    factor = lookup(a["county"], p["factor"])
    w = a["weight"]
    out = np.where(w == 0, 0.0, w * factor)
    out[np.isnan(w) | np.isnan(factor)] = np.nan
    return {p["output"]: out}


def food_supply_lookup(a, p):
    """Food supply by land-use yield (t per pixel per year, docs/models/food.md#method-b-class-yield)."""
    return {"food_supply": formulas.food_supply_lookup(lookup(a["lulc"], p["food_yield"]), p["pixel_area_m2"])}


def demand(a, p):
    """Population-driven demands per pixel (docs/models/food.md#demand, docs/models/carbon.md#demand-emissions-of-the-population, docs/models/water-yield.md#demand-water-use, docs/models/recreation.md#demand-population-density).

    food_demand t/yr, carbon_demand t C/yr, water_demand m3/yr (domestic, plus
    the allocated industrial and agricultural layers when given) and
    recreation_demand persons/km2.
    """
    pop = a["population"]
    water = formulas.water_demand_domestic(pop, p["q_dom"])
    for sector in ("water_industry", "water_agriculture"):
        if sector in a:
            water = water + a[sector]
    return {
        "food_demand": formulas.food_demand(pop, p["c_food"]),
        "carbon_demand": formulas.carbon_demand(pop, p["e_pc_co2"]),
        "water_demand": water,
        "recreation_demand": formulas.recreation_demand_density(pop, p["pixel_area_m2"]),
    }


def soil(a, p):
    """CSLE soil conservation (docs/models/soil-conservation.md#soil-conservation-with-the-chinese-soil-loss-equation).

    Inputs: slope (degrees), flow_acc (cells), lulc; R from ``erosivity`` or
    annual ``precipitation`` (Zhang & Fu 2003); K from ``erodibility`` or soil
    texture (EPIC with the Zhang 2007 correction) or the scalar ``k_const``;
    B from the class table ``csle_b`` where it has a value, else from NDVI
    (FVC): forest/shrub B_forest(GD = FVC), grassland B_grass, cropland 1;
    E and T from the class tables. Classes with ``erodible`` = 0 lose and
    conserve nothing (0). Outputs in t/(ha*yr): soil_potential (R K LS),
    soil_loss (A), soil_conservation (A_p - A), soil_demand (A or
    max(A - A_tol, 0)); and ls [-].
    """
    codes = a["lulc"]
    ls = formulas.ls_ucav(a["slope"], a["flow_acc"], p["cell_size"], p["l_max"],
                          s_method=p.get("s_method", "csle"), m_method=p.get("m_method", "csle"))
    if "erosivity" in a:
        r = a["erosivity"]
    else:
        r = formulas.R_annual_zhang_fu(a["precipitation"])
    if "erodibility" in a:
        k = a["erodibility"]
    elif "soil_sand" in a:
        k = formulas.epic_K(a["soil_sand"], a["soil_silt"], a["soil_clay"], a["soil_oc"],
                            correction=p.get("k_correction", "zhang2007"))
    else:
        k = np.full(codes.shape, float(p["k_const"]))
    b = lookup(codes, p["csle_b"])
    if "ndvi" in a:
        fvc = formulas.fvc_dimidiate(a["ndvi"], p["ndvi_soil"], p["ndvi_veg"])
        forest = lookup(codes, p["forest"]) == 1
        grass = lookup(codes, p["grassland"]) == 1
        crop = lookup(codes, p["cropland"]) == 1
        derived = np.where(forest, formulas.b_forest(fvc, fvc),
                           np.where(grass, formulas.b_grass(fvc), np.where(crop, 1.0, np.nan)))
        b = np.where(np.isnan(b), derived, b)
    erodible = lookup(codes, p["erodible"])
    a_p, loss, sc = formulas.csle_soil_loss(r, k, ls, b, lookup(codes, p["csle_e"]), lookup(codes, p["csle_t"]))
    off = erodible == 0
    out = {"ls": ls, "soil_potential": a_p, "soil_loss": loss, "soil_conservation": sc}
    for name in ("soil_potential", "soil_loss", "soil_conservation"):
        out[name] = np.where(off & ~np.isnan(codes), 0.0, out[name])
    out["soil_demand"] = formulas.soil_demand(out["soil_loss"], p.get("a_tol"), p.get("demand_method", "actual"))
    return out


def recreation(a, p):
    """Recreation supply: class score x (1 + proximity bonus ``rec_proximity``, 0 without it) (docs/models/recreation.md#supply-scored-land-use-near-water-and-forest)."""
    bonus = a["rec_proximity"] if "rec_proximity" in a else 0.0
    return {"recreation_supply": formulas.recreation_supply(lookup(a["lulc"], p["rec_score"]), bonus)}


def esdr(a, p):
    """ESDR of each service and CESD per pixel (docs/models/ratios.md#esdr, docs/models/ratios.md#cesd).

    ``p["services"]`` lists, per service, its name, the factors that turn the
    supply and demand layers into densities (per km2, as the county basis),
    the scaling (``raw`` or ``minmax``) and the study-area minima and maxima
    of those densities; inputs are ``s_<name>`` and ``d_<name>``. Outputs
    ``esdr_<name>`` and ``cesd`` (weights ``p["weights"]``).
    """
    out = {}
    for svc in p["services"]:
        name = svc["name"]
        s = a["s_" + name] * svc["s_factor"]
        d = a["d_" + name] * svc["d_factor"]
        out["esdr_" + name], _, _ = formulas.esdr_scaled(s, d, svc["scaling"], svc["s_min"], svc["s_max"],
                                                          svc["d_min"], svc["d_max"])
    out["cesd"] = formulas.weighted_mean([out["esdr_" + svc["name"]] for svc in p["services"]], p["weights"])
    return out


KERNELS = {
    "carbon_storage": carbon_storage,
    "water_yield": water_yield,
    "slope": slope,
    "class_values": class_values,
    "food_weight": food_weight,
    "allocate": allocate,
    "food_supply_lookup": food_supply_lookup,
    "demand": demand,
    "soil": soil,
    "recreation": recreation,
    "esdr": esdr,
}
