"""Supply–demand ratios (docs/models/ratios.md#ratios-of-supply-and-demand-deficit-classes-and-matching-types): ESDR per service and county, CESD,
deficit/surplus classes with their area shares, and matching types.

County values come from ``result.county_service`` of one services run, on
the basis chosen in the settings (density per km2 of valid area, or total).
For each service S and D enter ESDR raw when their units agree, else min–max
scaled (``ratios.scaling``). The combined row (service ``combined``) holds
CESD, the mean of the min–max scaled supplies and demands, and the combined
matching type. With ``pixel_maps`` the same ESDR and CESD are written per
pixel by the ``esdr`` tile kernel (densities of the pixel, maxima over all
pixels), and the CESD classes get pixel area shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from restore_db.grid.engine import Output, choose_backend, run_kernel
from restore_db.grid.counties import of_run
from restore_db.errors import InputError
from restore_db.kernels import formulas
from restore_db.load.common import short_list
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import base, classify, runs
from restore_db.store import layers
from restore_db.stages.resilience import weights

COMBINED = "combined"


@dataclass
class RatioInputs:
    """What a ratios run reads, checked before anything is computed."""
    services_run_id: int
    frame: pd.DataFrame                     # unit_id, service, side, value, unit, null_reason
    units: dict[tuple[str, str], str]       # (service, side) -> unit of the basis value
    aggregates: dict[str, list[dict]]       # service -> [{side, layer, unit, scale}] of the services run
    area_km2: pd.Series                     # unit_id -> county area (km2), every county of the boundaries
    codes: dict[int, str] = field(default_factory=dict)   # unit_id -> administrative code
    warnings: list[str] = field(default_factory=list)


def prepare(conn: psycopg.Connection, area: StudyArea, cfg: dict, services_run_id: int) -> RatioInputs:
    """Read and check the county supply and demand of ``services_run_id``."""
    r = cfg["ratios"]
    column = "density_km2" if r["basis"] == "density" else "total"
    rows = conn.execute(
        f"""SELECT cs.unit_id, cs.service, cs.side, cs.{column}, cs.unit, cs.null_reason FROM result.county_service cs
            WHERE cs.run_id = %s AND cs.service = ANY(%s)""", (services_run_id, r["services"])).fetchall()
    frame = pd.DataFrame(rows, columns=["unit_id", "service", "side", "value", "unit", "null_reason"])
    missing = [f"{s} {side}" for s in r["services"] for side in ("supply", "demand")
               if frame[(frame.service == s) & (frame.side == side)].empty]
    if missing:
        raise InputError(f"services run {services_run_id} has no county {', '.join(missing)}: run "
                         "`restore-db compute services` for both sides of every service in ratios.services")
    suffix = "/km2" if r["basis"] == "density" else ""
    units = {(s, side): u + suffix for (s, side), u in
             frame.groupby(["service", "side"])["unit"].first().items()}
    (params,) = conn.execute("SELECT params FROM core.run WHERE run_id = %s", (services_run_id,)).fetchone()
    counties = conn.execute(   # the counties of the services run, with their codes for messages
        "SELECT unit_id, area_m2 / 1e6, code FROM core.admin_unit_version WHERE unit_id = ANY(%s) ORDER BY unit_id",
        (of_run(conn, services_run_id),)).fetchall()
    area_km2 = pd.Series({u: a for u, a, _ in counties}, dtype=float)
    return RatioInputs(services_run_id, frame, units, params.get("_aggregates", {}), area_km2,
                       codes={u: c for u, _, c in counties})


def scaling_of(cfg: dict, supply_unit: str, demand_unit: str) -> str:
    mode = cfg["ratios"]["scaling"]
    if mode == "auto":
        return "raw" if supply_unit == demand_unit else "minmax"
    return mode


def cesd_weights(cfg: dict) -> list[float]:
    r = cfg["ratios"]
    if r["cesd"]["method"] == "equal":
        return [1.0 / len(r["services"])] * len(r["services"])
    return [float(r["cesd"]["weights"][s]) for s in r["services"]]


def _missing_reasons(inp: RatioInputs, service: str, side: str, units: np.ndarray) -> dict[int, str]:
    """unit_id -> why the county has no ``side`` of ``service`` (from the services run)."""
    part = inp.frame[(inp.frame.service == service) & (inp.frame.side == side)].set_index("unit_id")
    out = {}
    for u in units:
        if u not in part.index:
            out[u] = f"no {service} {side} in services run {inp.services_run_id}"
        elif pd.isna(part.at[u, "value"]):
            why = part.at[u, "null_reason"]
            out[u] = f"no {service} {side}" + (f" ({why})" if isinstance(why, str) and why else "")
    return out


def county_table(inp: RatioInputs, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(county rows, per-service summary rows, warnings) of ESDR, CESD and matching types.

    One row per county of the boundaries and service (and ``combined``). A
    service enters over the counties that have both its supply and its demand;
    CESD and the combined matching type over the counties that have every
    service. Elsewhere the values are NaN and ``missing_reason`` says why; the
    warnings name the counties.
    """
    r = cfg["ratios"]
    method = r["matching"]["method"]
    wide = inp.frame.pivot(index="unit_id", columns=["service", "side"], values="value")
    units = np.array(sorted(inp.area_km2.index), dtype=np.int64)
    wide = wide.reindex(units)
    weights_ = cesd_weights(cfg)
    rows, summary, warnings = [], [], []
    esdrs, s_norm, d_norm, types = [], [], [], []
    combined_reason: dict[int, list[str]] = {}
    for service, w in zip(r["services"], weights_):
        s = wide[(service, "supply")].to_numpy(float) if (service, "supply") in wide else np.full(len(units), np.nan)
        d = wide[(service, "demand")].to_numpy(float) if (service, "demand") in wide else np.full(len(units), np.nan)
        ok = np.isfinite(s) & np.isfinite(d)
        no_s = _missing_reasons(inp, service, "supply", units[~ok])
        no_d = _missing_reasons(inp, service, "demand", units[~ok])
        reasons = {u: "; ".join(r for r in (no_s.get(u), no_d.get(u)) if r) for u in set(no_s) | set(no_d)}
        s, d = np.where(ok, s, np.nan), np.where(ok, d, np.nan)
        su, du = inp.units[(service, "supply")], inp.units[(service, "demand")]
        scaling = scaling_of(cfg, su, du)
        if scaling == "raw" and su != du:
            raise InputError(f"ratios.scaling = 'raw' needs one unit for {service} supply and demand "
                             f"({su} vs {du}); use 'auto' or 'minmax'")
        if not ok.any():
            raise InputError(f"no county has both {service} supply and demand in services run "
                             f"{inp.services_run_id}")
        e, ss, ds = formulas.esdr_scaled(s, d, scaling, np.nanmin(s), np.nanmax(s), np.nanmin(d), np.nanmax(d))
        s_max, d_max = float(np.nanmax(ss)), float(np.nanmax(ds))
        if s_max + d_max == 0:
            warnings.append(f"{service}: no supply and no demand in any county; ESDR = 0")
        mt = classify.matching_types(s, d, method)
        missing = [reasons.get(u) for u in units]
        rows.append(pd.DataFrame({"unit_id": units, "service": service, "supply": s, "demand": d,
                                  "supply_scaled": ss, "demand_scaled": ds, "esdr": e,
                                  "z_supply": weights.zscore(s), "z_demand": weights.zscore(d),
                                  "matching_type": mt, "missing_reason": missing}))
        for u, why in reasons.items():
            combined_reason.setdefault(u, []).append(why)
        by_reason: dict[str, list[int]] = {}
        for u, why in reasons.items():
            by_reason.setdefault(why, []).append(u)
        for why, us in by_reason.items():
            warnings.append(f"{service}: county(ies) {short_list(sorted(inp.codes[u] for u in us))} have no ESDR "
                            f"or matching type: {why}")
        summary.append({"service": service, "basis": r["basis"], "scaling": scaling, "supply_unit": su,
                        "demand_unit": du, "s_max": s_max, "d_max": d_max, "cesd_weight": w})
        esdrs.append(e)
        s_norm.append(formulas.minmax_scale(s, np.nanmin(s), np.nanmax(s)))
        d_norm.append(formulas.minmax_scale(d, np.nanmin(d), np.nanmax(d)))
        types.append(mt)
    complete = ~np.isin(units, list(combined_reason))
    cesd = np.where(complete, formulas.weighted_mean([np.nan_to_num(e) for e in esdrs], weights_), np.nan)
    s_mean = np.where(complete, np.mean(np.nan_to_num(s_norm), axis=0), np.nan)
    d_mean = np.where(complete, np.mean(np.nan_to_num(d_norm), axis=0), np.nan)
    combined_type = classify.matching_types(s_mean, d_mean, method)
    if r["matching"]["combined"] == "majority":
        stacked = np.array(types, dtype=object)
        for i in np.flatnonzero(complete):
            values, counts = np.unique(stacked[:, i].astype(str), return_counts=True)
            top = values[counts == counts.max()]
            if len(top) == 1:
                combined_type[i] = top[0]
    rows.append(pd.DataFrame({"unit_id": units, "service": COMBINED, "supply": s_mean, "demand": d_mean,
                              "supply_scaled": s_mean, "demand_scaled": d_mean, "esdr": cesd,
                              "z_supply": weights.zscore(s_mean), "z_demand": weights.zscore(d_mean),
                              "matching_type": combined_type,
                              "missing_reason": ["; ".join(combined_reason[u]) if u in combined_reason else None
                                                 for u in units]}))
    if combined_reason:
        warnings.append(f"county(ies) {short_list(sorted(inp.codes[u] for u in combined_reason))} have no CESD or "
                        "combined matching type (a service is missing; reasons in result.county_ratio.missing_reason)")
    return pd.concat(rows, ignore_index=True), pd.DataFrame(summary), warnings


def _classes(values: np.ndarray, cfg: dict):
    c = cfg["ratios"]["classes"]
    thresholds = ({"deficit": c["deficit_thresholds"], "surplus": c["surplus_thresholds"]}
                  if c["method"] == "fixed" else None)
    return classify.balance_classes(values, eps=c["eps"], k=c["k"], method=c["method"], thresholds=thresholds,
                                    sample=c["sample"], seed=c["seed"])


def _class_rows(level: str, service: str, ranks: np.ndarray, info: dict, area_km2: np.ndarray, k: int) -> list[tuple]:
    """One row per class (all 2k + 1 classes, empty ones too) with bounds, count, area and area share."""
    ok = ranks >= -k
    total = float(area_km2[ok].sum()) if ok.any() else 0.0
    eps = info["eps"]
    out = []
    def bounds(mags: list, i: int):
        """(lower, upper) magnitude of class i (1-based) of one side; None when the side has fewer classes."""
        if i > len(mags):
            return None, None
        return (mags[i - 2] if i >= 2 else eps), mags[i - 1]

    for rank in range(-k, k + 1):
        sel = ranks == rank
        if rank == 0:
            lo, hi = -eps, eps
        elif rank < 0:
            m_lo, m_hi = bounds(info["deficit_bounds"], -rank)
            lo, hi = (-m_hi if m_hi is not None else None), (-m_lo if m_lo is not None else None)
        else:
            lo, hi = bounds(info["surplus_bounds"], rank)
        a = float(area_km2[sel].sum())
        out.append((level, service, rank, classify.balance_label(rank, k), lo, hi, int(sel.sum()), a,
                    100.0 * a / total if total else 0.0))
    return out


def compute(conn: psycopg.Connection, area: StudyArea, cfg: dict, inp: RatioInputs, run_id: int,
            backend: str, progress=None) -> dict:
    """Write the county ratios, the class tables and (optionally) the pixel maps of a ratios run."""
    table, summary, warnings = county_table(inp, cfg)
    k = cfg["ratios"]["classes"]["k"]
    class_rows = []
    table["balance_rank"] = None
    table["balance_class"] = None
    for service, part in table.groupby("service", sort=False):
        ranks, info = _classes(part["esdr"].to_numpy(float), cfg)
        table.loc[part.index, "balance_rank"] = [int(x) if x >= -k else None for x in ranks]
        table.loc[part.index, "balance_class"] = [classify.balance_label(int(x), k) if x >= -k else None
                                                  for x in ranks]
        areas = inp.area_km2.reindex(part["unit_id"]).to_numpy(float)
        class_rows += _class_rows("county", service, ranks, info, areas, k)
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.ratio_service (run_id, service, basis, scaling, supply_unit, demand_unit, s_max,
                   d_max, cesd_weight) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, s.service, s.basis, s.scaling, s.supply_unit, s.demand_unit, s.s_max, s.d_max, s.cesd_weight)
             for s in summary.itertuples()])
        cur.executemany(
            """INSERT INTO result.county_ratio (run_id, unit_id, service, supply, demand, supply_scaled, demand_scaled,
                   esdr, z_supply, z_demand, matching_type, balance_rank, balance_class, missing_reason)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, int(t.unit_id), t.service, _num(t.supply), _num(t.demand), _num(t.supply_scaled),
              _num(t.demand_scaled), _num(t.esdr), _num(t.z_supply), _num(t.z_demand), _text(t.matching_type),
              t.balance_rank, t.balance_class, _text(t.missing_reason)) for t in table.itertuples()])
    pixel = {}
    if cfg["ratios"]["pixel_maps"]:
        pixel = pixel_maps(conn, area, cfg, inp, summary, run_id, backend, progress)
        class_rows += pixel.pop("class_rows", [])
        warnings += pixel.pop("warnings", [])
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.balance_class (run_id, level, service, rank, label, lower_bound, upper_bound, units,
                   area_km2, area_share) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, *row) for row in class_rows])
    counts = table.groupby(["service", "matching_type"]).size()
    combined = table[table.service == COMBINED]
    return {"counties": int(combined.shape[0]), "unclassified": int(combined["matching_type"].isna().sum()),
            "warnings": warnings,
            "matching": {s: {t: int(n) for t, n in counts[s].items()} for s in counts.index.levels[0]},
            **pixel}


def _num(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def _text(x):
    return x if isinstance(x, str) else None


def pixel_maps(conn: psycopg.Connection, area: StudyArea, cfg: dict, inp: RatioInputs, summary: pd.DataFrame,
               run_id: int, backend: str, progress=None) -> dict:
    """ESDR per service and CESD per pixel, and the pixel area shares of the CESD classes.

    The maps are a tile kernel. The classes are global (their bounds need every value): client memory is
    the valid CESD values as float32 (4 bytes per cell) and ``classify.balance_classes``' float64 copies
    of them, about 30 bytes per cell at 250 m (39 when the whole grid was read as float64).
    """
    px_km2 = area.grid.pixel_area_m2 / 1e6
    services, inputs = [], {}
    for s in summary.itertuples():
        aggs = {a["side"]: a for a in inp.aggregates.get(s.service, [])}
        if set(aggs) != {"supply", "demand"}:
            return {"warnings": [f"services run {inp.services_run_id} does not record how {s.service} layers are "
                                 "summed; no pixel maps (re-run the services)"]}
        entry = {"name": s.service, "scaling": s.scaling}
        for side, key in (("supply", "s"), ("demand", "d")):
            a = aggs[side]
            factor = a["scale"] / px_km2 if cfg["ratios"]["basis"] == "density" else a["scale"]
            row = layers.stats_of(conn, area, a["layer"], inp.services_run_id)
            if row is None or row[1] is None:
                return {"warnings": [f"layer {a['layer']!r} of services run {inp.services_run_id} is missing or "
                                     "empty; no pixel maps"]}
            entry[f"{key}_factor"] = factor
            entry[f"{key}_min"], entry[f"{key}_max"] = row[0] * factor, row[1] * factor
            inputs[f"{key}_{s.service}"] = (a["layer"], inp.services_run_id)
        services.append(entry)
    outputs = [Output(f"esdr_{s['name']}", "1", f"ESDR of {s['name']} per pixel (docs/models/ratios.md#esdr)") for s in services]
    outputs.append(Output("cesd", "1", "CESD: weighted mean of the ESDRs per pixel (docs/models/ratios.md#cesd)"))
    tick = progress and (lambda n: progress("esdr + cesd per pixel", n, area.grid.tiles_x * area.grid.tiles_y))
    stats = run_kernel(conn, area, run_id, "esdr", {"services": services, "weights": cesd_weights(cfg)}, inputs,
                       outputs, False, backend, tick)
    # the classes of the valid pixels only, read as float32 (the stored type) in tile order: the bounds
    # (sorted values, samples, quantiles) and each value's class do not depend on the order, and the NaN
    # pixels are in no class; the pixel area is a broadcast view, its selections sum as a full array's
    cesd = layers.valid_values(conn, area, "cesd", run_id)
    ranks, info = _classes(cesd, cfg)
    del cesd
    k = cfg["ratios"]["classes"]["k"]
    rows = _class_rows("pixel", COMBINED, ranks, info, np.broadcast_to(np.float64(px_km2), ranks.shape), k)
    return {"class_rows": rows, "pixel_cells": stats.cells,
            "pixel_seconds": round(stats.seconds, 3)}


class RatiosStage(base.Stage):
    """ESDR per service, CESD, deficit/surplus classes and matching types of a services run."""

    name = "ratios"
    title = "Supply-demand ratios and matching types"
    settings_key = "ratios"
    upstream = ("services",)
    inputs = ()
    outputs = (base.Output("table", "result.ratio_service", None, "how each service's ESDR was formed"),
               base.Output("table", "result.county_ratio", "1", "ESDR (CESD for 'combined'), z-scores, matching type "
                           "and deficit/surplus class per county"),
               base.Output("table", "result.balance_class", "km2, %", "class bounds, counts, area and area share"),
               base.Output("layer", "esdr_<service>, cesd", "1", "per-pixel ESDR and CESD (ratios.pixel_maps)"))

    def resolve(self, ctx: base.Context, given: dict[str, int | None]) -> dict[str, int]:
        run = given.get("services")
        if run is None:
            return {"services": runs.latest_services_run(ctx.conn, ctx.area, ctx.cfg["ratios"]["services"])}
        return {"services": runs.require(ctx.conn, ctx.area, run, "services")}

    def plan(self, ctx: base.Context, upstream: dict[str, int]) -> base.Plan:
        cfg = ctx.cfg
        inp = prepare(ctx.conn, ctx.area, cfg, upstream["services"])
        backend = choose_backend(ctx.conn, ctx.option("engine")) if cfg["ratios"]["pixel_maps"] else "client"

        def run(run_id: int) -> base.Result:
            summary = compute(ctx.conn, ctx.area, cfg, inp, run_id, backend, ctx.progress)
            return base.Result(summary, summary.get("warnings", []))

        return base.Plan(self.settings(ctx), {}, run)
