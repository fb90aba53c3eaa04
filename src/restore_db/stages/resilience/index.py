"""Ecosystem resilience per county (docs/models/resilience.md#ecosystem-resilience).

Indicators of the chosen set (:mod:`indicators`) are normalised by direction
(min–max over the counties, docs/models/resilience.md#normalisation), weighted (entropy by default; CRITIC, AHP,
equal, manual or a combination, docs/models/resilience.md#weights), and summed into the index
``ER = Σ w_j x'_j`` (docs/models/resilience.md#index-and-classes), classed high/low for the zoning and in five
levels for reporting. Every method's weights are stored with the run
(``result.run_indicator``), with the final one in ``weight``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import psycopg

from restore_db.grid.counties import codes as county_codes
from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import classify
from restore_db.stages.resilience import weights
from restore_db.stages.resilience.indicators import Indicator, Planner, catalogue, evaluate


@dataclass
class ResiliencePlan:
    services_run_id: int
    planner: Planner
    indicators: list[Indicator]
    ahp: np.ndarray | None = None         # matrix restricted to the indicators, in their order
    warnings: list[str] = field(default_factory=list)

    def record(self) -> list[dict]:
        """The catalogue rows used (part of the run's identity)."""
        return [{k: getattr(i, k) for k in ("indicator", "dimension", "direction", "source_kind", "source",
                                             "statistic", "weight", "unit")} for i in self.indicators]


def prepare(conn: psycopg.Connection, area: StudyArea, cfg: dict, services_run_id: int | None,
            planned_layers: set[str] | None = None, params: list[str] | None = None) -> ResiliencePlan:
    """Check the indicator set and the weighting settings; nothing is computed.

    With ``services_run_id`` None (a check before the services run exists),
    ``planned_layers`` are the layers the services will produce. Land-use
    coefficients come from the sets of ``params`` (``--params``), then from
    those the services run preferred and read, by the rule of the services.
    """
    rc = cfg["resilience"]
    preferred, used = list(params or []), []
    if services_run_id is not None:
        (inputs, run_params) = conn.execute("SELECT inputs, params FROM core.run WHERE run_id = %s",
                                            (services_run_id,)).fetchone()
        preferred += list((run_params or {}).get("_params", []))
        used = sorted((inputs or {}).get("param_sets", {}))
    planner = Planner(conn, area, services_run_id, preferred, rc["lulc_layer"], planned_layers, used)
    inds = planner.plan(catalogue(conn, rc["indicator_set"]))
    plan = ResiliencePlan(services_run_id, planner, inds, warnings=planner.warnings)
    method = rc["weighting"]
    uses = {method}
    if method == "combined":
        uses = {rc["combined"]["subjective"], rc["combined"]["objective"]}
    if "manual" in uses:
        missing = [i.indicator for i in inds if i.weight is None]
        if missing:
            raise InputError(f"manual weights: indicator(s) {', '.join(missing)} of set {rc['indicator_set']!r} "
                             "have no weight in param.indicator")
        weights.check_weights(np.array([i.weight for i in inds]), [i.indicator for i in inds])
    if "ahp" in uses:
        plan.ahp = _ahp_matrix(rc["ahp"], inds)
        weights.ahp_weights(plan.ahp, [i.indicator for i in inds], rc["ahp"]["max_cr"])   # fails on CR or reciprocity
    return plan


def _ahp_matrix(ahp: dict, inds: list[Indicator]) -> np.ndarray:
    labels, matrix = list(ahp["labels"]), ahp["matrix"]
    if not labels or not matrix:
        raise InputError("weighting uses AHP but resilience.ahp.labels / resilience.ahp.matrix are empty")
    if len(set(labels)) != len(labels):
        raise InputError("resilience.ahp.labels has duplicates")
    m = np.asarray(matrix, dtype=float)
    if m.shape != (len(labels), len(labels)):
        raise InputError(f"resilience.ahp.matrix must be {len(labels)} x {len(labels)} (one row and column per "
                         f"label), got {m.shape[0]} x {m.shape[1] if m.ndim > 1 else 0}")
    names = [i.indicator for i in inds]
    missing = [n for n in names if n not in labels]
    if missing:
        raise InputError(f"resilience.ahp.labels lacks indicator(s) {', '.join(missing)}")
    unknown = [label for label in labels if label not in names]
    if unknown:
        raise InputError(f"resilience.ahp.labels names {', '.join(unknown)}, not indicators of this run")
    idx = [labels.index(n) for n in names]
    return m[np.ix_(idx, idx)]


def compute(conn: psycopg.Connection, plan: ResiliencePlan, cfg: dict, run_id: int, units: list[int],
            backend: str) -> dict:
    """Evaluate, normalise and weight the indicators; write the run's indicator, weight and index tables."""
    rc = cfg["resilience"]
    inds = plan.indicators
    labels = [i.indicator for i in inds]
    raw_all, notes = evaluate(plan.planner, inds, units, backend)
    warnings = list(plan.warnings)
    codes = county_codes(conn, units)
    missing = np.isnan(raw_all)
    reasons = {}     # (row, indicator) -> why the raw value is missing
    for r, u in enumerate(units):
        for j in np.flatnonzero(missing[r]):
            reasons[(r, j)] = notes.get(u) if inds[j].source_kind == "landscape" and u in notes else \
                f"no value of {inds[j].source_kind} {inds[j].source!r} in this county"
    kept, dropped = _counties_to_score(missing, rc["missing"], rc["max_missing_share"])
    if kept.sum() < 2:
        raise InputError(f"only {int(kept.sum())} of {len(units)} counties have enough indicator values; "
                         "resilience needs 2")
    for j, ind in enumerate(inds):
        if missing[kept, j].all():
            raise InputError(f"indicator {ind.indicator!r} has no value in any county")
    # a kept county without a value for an indicator gets the indicator's median, with a warning
    raw = raw_all[kept].copy()
    for j, ind in enumerate(inds):
        gaps = np.isnan(raw[:, j])
        if gaps.any():
            raw[gaps, j] = np.nanmedian(raw[:, j])
            gap_codes = sorted(codes[units[r]] for r in np.flatnonzero(kept)[gaps])
            warnings.append(f"indicator {ind.indicator!r}: county(ies) {short_list(gap_codes)} without a value "
                            "took the median")
    if dropped.any():
        warnings.append(f"county(ies) {short_list(sorted(codes[units[r]] for r in np.flatnonzero(dropped)))} have "
                        "no resilience index: " + _dropped_rule(rc) + "; reasons in result.county_resilience")
    norm = np.empty_like(raw)
    constant = []
    for j, ind in enumerate(inds):
        norm[:, j], const = weights.normalise(raw[:, j], ind.direction)
        constant.append(bool(const))
        if const:
            warnings.append(f"indicator {ind.indicator!r} is the same in every county; it carries no information")
    all_w: dict[str, np.ndarray] = {}
    details: dict[str, dict] = {}
    method = rc["weighting"]
    used = {method} | ({rc["combined"]["subjective"], rc["combined"]["objective"]} if method == "combined" else set())
    for name, fn in (("entropy", lambda: weights.entropy_weights(norm, rc["entropy_shift"])),
                     ("critic", lambda: weights.critic_weights(norm))):
        try:
            all_w[name], details[name] = fn()
        except InputError as exc:
            if name in used:
                raise
            warnings.append(f"{name} weights (not used) could not be computed: {exc}")
    all_w["equal"] = np.full(len(inds), 1.0 / len(inds))
    if plan.ahp is not None:
        all_w["ahp"], details["ahp"] = weights.ahp_weights(plan.ahp, labels, rc["ahp"]["max_cr"])
    if all(i.weight is not None for i in inds):
        w = np.array([i.weight for i in inds], dtype=float)
        if abs(w.sum() - 1.0) <= 1e-6:
            all_w["manual"] = w
    if method == "combined":
        c = rc["combined"]
        final = weights.combine({"subjective": all_w[c["subjective"]], "objective": all_w[c["objective"]]},
                                c["method"], c["alpha"])
        all_w["combined"] = final
    else:
        if method not in all_w:
            raise InputError(f"{method} weights cannot be computed for this run")
        final = all_w[method]
    weights.check_weights(final, labels)
    index = weights.composite(norm, final)
    hl = classify.two_level(index, rc["class_method"])
    levels = classify.five_levels(index, rc["levels_method"])
    dims = sorted({i.dimension for i in inds})
    rows_all = np.flatnonzero(kept)
    pos = {r: i for i, r in enumerate(rows_all)}    # row of a kept county in norm / index
    county_reason = {r: _county_reason(r, missing, reasons, inds, rc) for r in np.flatnonzero(dropped)}
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.run_indicator (run_id, indicator, position, dimension, dimension_name, name,
                   direction, unit, source_kind, source, statistic, weight, weights, constant)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, i.indicator, i.position, i.dimension, i.dimension_name, i.name, i.direction, i.unit,
              i.source_kind, i.source, i.statistic, float(final[j]),
              json.dumps({m: float(w[j]) for m, w in all_w.items()}), constant[j]) for j, i in enumerate(inds)])
        cur.executemany(
            """INSERT INTO result.county_indicator (run_id, unit_id, indicator, raw_value, norm_value, imputed,
                   missing_reason) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, u, ind.indicator, _num(raw_all[r, j]), _num(norm[pos[r], j]) if r in pos else None,
              bool(missing[r, j] and r in pos), reasons.get((r, j)))
             for r, u in enumerate(units) for j, ind in enumerate(inds)])
        dim_rows = []
        for d in dims:
            cols = [j for j, i in enumerate(inds) if i.dimension == d]
            wd = float(final[cols].sum())
            contrib = norm[:, cols] @ final[cols]
            for r, u in enumerate(units):
                c = float(contrib[pos[r]]) if r in pos else None
                dim_rows.append((run_id, u, d, c, c / wd if c is not None and wd > 0 else None))
        cur.executemany("""INSERT INTO result.county_dimension (run_id, unit_id, dimension, contribution, score)
                           VALUES (%s, %s, %s, %s, %s)""", dim_rows)
        res_rows = []
        for r, u in enumerate(units):
            if r in pos:
                i = pos[r]
                res_rows.append((run_id, u, float(index[i]), hl[i], int(levels[i]) or None,
                                 classify.LEVEL_NAMES[int(levels[i]) - 1] if levels[i] else None, None))
            else:
                res_rows.append((run_id, u, None, None, None, None, county_reason[r]))
        cur.executemany(
            """INSERT INTO result.county_resilience (run_id, unit_id, resilience_index, resilience_class, level,
                   level_name, missing_reason) VALUES (%s, %s, %s, %s, %s, %s, %s)""", res_rows)
    return {"counties": len(units), "scored": int(kept.sum()), "indicators": labels, "warnings": warnings,
            "weights": {m: [round(float(x), 6) for x in w] for m, w in all_w.items()},
            "details": _json_ready(details),
            "classes": {c: int((hl == c).sum()) for c in ("H", "L")}}


def _counties_to_score(missing: np.ndarray, policy: str, max_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, dropped) boolean masks over the counties (rows of ``missing``, counties x indicators).

    ``policy`` "median": a county missing at most ``max_share`` of the
    indicators is kept (its gaps take the median); "null": only complete
    counties are kept. A county missing every indicator is always dropped.
    """
    share = missing.mean(axis=1) if missing.shape[1] else np.zeros(missing.shape[0])
    if policy == "null":
        kept = share == 0
    else:
        kept = (share <= max_share) & (share < 1)
    return kept, ~kept


def _dropped_rule(rc: dict) -> str:
    """The setting that leaves a county without an index."""
    if rc["missing"] == "null":
        return "an indicator value is missing (resilience.missing = \"null\")"
    return (f"more than {rc['max_missing_share']:.0%} of the indicator values are missing "
            "(resilience.max_missing_share)")


def _county_reason(r: int, missing: np.ndarray, reasons: dict, inds: list[Indicator], rc: dict) -> str:
    """Why county row ``r`` has no resilience index: the indicators it lacks and why."""
    lacking = [j for j in range(len(inds)) if missing[r, j]]
    detail = "; ".join(f"{inds[j].indicator}: {reasons[(r, j)]}" for j in lacking[:5])
    more = f"; and {len(lacking) - 5} more" if len(lacking) > 5 else ""
    return f"{len(lacking)} of {len(inds)} indicator values missing ({_dropped_rule(rc)}): {detail}{more}"


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _json_ready(obj):
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_json_ready(v) for v in np.asarray(obj).tolist()] if isinstance(obj, np.ndarray) else \
            [_json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
