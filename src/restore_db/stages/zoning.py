"""Restoration zoning (docs/models/zoning.md#restoration-zoning): combined matching type x resilience class.

Each county gets the canonical combination ``<matching type>-<resilience>``
(e.g. ``LH-L``). Merge rules then fold rare or named combinations into
another zone, and optional smoothing gives an isolated county the zone of
most of its neighbours. Display codes number the zones that occur within
each matching type, low resilience first (I-1, II-1, II-2, ...), and names
and strategies come from ``param.zone_type`` (snapshotted into the run).
"""

from __future__ import annotations

from collections import Counter

import psycopg

from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import base, runs

MATCHING_ORDER = ("HH", "LH", "LL", "HL")


ZONE_TYPE_FIELDS = ("code", "roman", "name_en", "name_zh", "strategy_name", "strategy", "strategy_name_zh",
                    "strategy_zh")


def zone_types(conn: psycopg.Connection, zone_set: str) -> dict[str, dict]:
    """The zone types of ``zone_set`` by code (every field of ``ZONE_TYPE_FIELDS``), as the zoning run records them
    (``core.run.inputs -> 'zone_types'``) for the report's zone rule.

    Raises:
        InputError: a combination of matching type and resilience class has no zone type in the set.
    """
    rows = conn.execute(
        f"""SELECT {', '.join(ZONE_TYPE_FIELDS)} FROM param.zone_type WHERE zone_set = %s""", (zone_set,)).fetchall()
    types = {r[0]: dict(zip(ZONE_TYPE_FIELDS, r)) for r in rows}
    missing = [f"{m}-{r}" for m in MATCHING_ORDER for r in ("L", "H") if f"{m}-{r}" not in types]
    if missing:
        raise InputError(f"zone set {zone_set!r} lacks zone type(s) {', '.join(missing)} in param.zone_type")
    return types


def _merge(zones: dict[int, str], cfg: dict) -> dict[int, str]:
    """Apply explicit merges, then fold combinations with fewer than min_counties counties."""
    z = cfg["zoning"]
    out = {u: z["merge"].get(c, c) for u, c in zones.items()}
    if z["min_counties"] > 0:
        counts = Counter(out.values())
        rare = {c for c, n in counts.items() if n < z["min_counties"]}
        for code in sorted(rare):
            m, r = code.split("-")
            other = f"{m}-{'H' if r == 'L' else 'L'}"
            if counts.get(other, 0) >= z["min_counties"]:
                out = {u: (other if c == code else c) for u, c in out.items()}
    return out


def neighbours(conn: psycopg.Connection, area: StudyArea, rule: str, units: list[int] | None = None
               ) -> dict[int, list[int]]:
    """County adjacency among ``units`` (default: the current counties): rook = shared boundary line,
    queen = any shared point."""
    if units is None:
        units = [r[0] for r in conn.execute("SELECT unit_id FROM core.admin_unit WHERE study_area_id = %s "
                                            "AND level = 'county'", (area.study_area_id,)).fetchall()]
    test = "ST_Relate(a.geom, b.geom, '****1****')" if rule == "rook" else "ST_Intersects(a.geom, b.geom)"
    rows = conn.execute(
        f"""SELECT a.unit_id, b.unit_id FROM core.admin_unit_version a JOIN core.admin_unit_version b
              ON a.unit_id <> b.unit_id AND a.geom && b.geom AND {test}
            WHERE a.unit_id = ANY(%s) AND b.unit_id = ANY(%s)""", (units, units)).fetchall()
    out: dict[int, list[int]] = {}
    for a, b in rows:
        out.setdefault(a, []).append(b)
    return out


def smooth(zones: dict[int, str], adjacency: dict[int, list[int]]) -> dict[int, str]:
    """An isolated county (no neighbour in its zone) takes its neighbours' majority zone (ties: unchanged)."""
    out = dict(zones)
    for u, code in zones.items():
        near = [zones[n] for n in adjacency.get(u, []) if n in zones]
        if not near or code in near:
            continue
        ranked = Counter(near).most_common()
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            out[u] = ranked[0][0]
    return out


def display_codes(codes: set[str], types: dict[str, dict]) -> dict[str, str]:
    """Roman numeral of the matching type and a sequential index over occurring resilience levels, L first."""
    out = {}
    for m in MATCHING_ORDER:
        present = [f"{m}-{r}" for r in ("L", "H") if f"{m}-{r}" in codes]
        for i, code in enumerate(present, start=1):
            out[code] = f"{types[code]['roman']}-{i}"
    return out


def compute(conn: psycopg.Connection, area: StudyArea, cfg: dict, ratios_run_id: int, resilience_run_id: int,
            run_id: int) -> dict:
    """Zone every county of the boundaries; write result.county_zone and result.zone.

    A county without a combined matching type (ratios run) or a resilience
    class (resilience run) gets the zone ``zoning.unclassified`` with the
    reason, and takes no part in merges and smoothing.
    """
    types = zone_types(conn, cfg["zoning"]["zone_set"])
    unclassified = cfg["zoning"]["unclassified"]
    # the counties of the two runs (the boundaries their services run used, current or superseded since)
    rows = conn.execute(
        """SELECT u.unit_id, u.code, u.area_m2 / 1e6, r.matching_type, r.missing_reason, e.resilience_class,
                  e.missing_reason
           FROM core.admin_unit_version u
           LEFT JOIN result.county_ratio r ON r.unit_id = u.unit_id AND r.run_id = %s AND r.service = 'combined'
           LEFT JOIN result.county_resilience e ON e.unit_id = u.unit_id AND e.run_id = %s
           WHERE u.unit_id IN (SELECT unit_id FROM result.county_ratio WHERE run_id = %s
                               UNION SELECT unit_id FROM result.county_resilience WHERE run_id = %s)
           ORDER BY u.unit_id""", (ratios_run_id, resilience_run_id, ratios_run_id, resilience_run_id)).fetchall()
    info, missing = {}, {}
    for u, code, a, m, m_why, r, r_why in rows:
        info[u] = (m, r, a)
        why = []
        if m is None:
            why.append("no combined matching type: " + (m_why or f"no row in ratios run {ratios_run_id}"))
        if r is None:
            why.append("no resilience class: " + (r_why or f"no row in resilience run {resilience_run_id}"))
        if why:
            missing[u] = (code, "; ".join(why))
    if len(missing) == len(info):
        raise InputError(f"ratios run {ratios_run_id} and resilience run {resilience_run_id} "
                         "share no classified county")
    combination = {u: f"{m}-{r}" for u, (m, r, _) in info.items() if u not in missing}
    merged = _merge(combination, cfg)
    final = merged
    if cfg["zoning"]["smoothing"] != "none":
        final = smooth(merged, neighbours(conn, area, cfg["zoning"]["smoothing"], sorted(info)))
    codes = display_codes(set(final.values()), types)
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.county_zone (run_id, unit_id, matching_type, resilience_class, combination,
                   zone_code, adjustment, missing_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            [(run_id, u, info[u][0], info[u][1], combination.get(u),
              final[u] if u in final else unclassified["code"],
              None if u not in final else "smoothed" if final[u] != merged[u]
              else "merged" if merged[u] != combination[u] else None,
              missing[u][1] if u in missing else None)
             for u in sorted(info)])
    total = sum(a for _, _, a in info.values())
    summary = []
    for code in sorted(codes, key=lambda c: codes[c]):
        members = [u for u, c in final.items() if c == code]
        a = sum(info[u][2] for u in members)
        t = types[code]
        m, r = code.split("-")
        summary.append((run_id, code, codes[code], m, r, t["name_en"], t["name_zh"], t["strategy_name"],
                        t["strategy"], len(members), a, 100.0 * a / total if total else 0.0, True))
    if missing:
        a = sum(info[u][2] for u in missing)
        summary.append((run_id, unclassified["code"], unclassified["display_code"], None, None,
                        unclassified["name_en"], unclassified["name_zh"], unclassified["strategy_name"],
                        unclassified["strategy"], len(missing), a, 100.0 * a / total if total else 0.0, False))
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.zone (run_id, zone_code, display_code, matching_type, resilience_class, name_en,
                   name_zh, strategy_name, strategy, counties, area_km2, area_share, classified)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", summary)
    warnings = []
    if missing:
        warnings.append(f"county(ies) {short_list(sorted(c for c, _ in missing.values()))} are "
                        f"{unclassified['code']} (reasons in result.county_zone.missing_reason)")
    return {"counties": len(info), "classified": len(final), "warnings": warnings,
            "zones": [{"zone": s[2], "code": s[1], "name": s[5], "counties": s[9], "area_share": round(s[11], 2)}
                      for s in summary],
            "adjusted": {"merged": sum(1 for u in final if merged[u] != combination[u]),
                         "smoothed": sum(1 for u in final if final[u] != merged[u])}}


class ZoningStage(base.Stage):
    """Restoration zones: the combined matching type of a ratios run x the resilience class of a resilience run
    of the same services run."""

    name = "zoning"
    title = "Restoration zoning"
    settings_key = "zoning"
    upstream = ("ratios", "resilience", "services")
    inputs = (base.Input("catalogue", "param.zone_type", "the zone set of zoning.zone_set: names and strategies"),)
    outputs = (base.Output("table", "result.county_zone", None, "zone of each county, merges and smoothing"),
               base.Output("table", "result.zone", "km2, %", "zones with names, strategy, counties, area share"))

    def resolve(self, ctx: base.Context, given: dict[str, int | None]) -> dict[str, int]:
        conn, area = ctx.conn, ctx.area
        ratios_run, resilience_run = given.get("ratios"), given.get("resilience")
        if ratios_run is not None:
            runs.require(conn, area, ratios_run, "ratios")
        if resilience_run is not None:
            runs.require(conn, area, resilience_run, "resilience")
        if ratios_run is None:
            ratios_run = runs.latest(conn, area, "ratios")
            if ratios_run is None:
                raise InputError(f"study area {area.name!r} has no ratios run: run `restore-db compute ratios` first")
        services = runs.input_run(conn, ratios_run)
        if resilience_run is None:
            resilience_run = runs.latest(conn, area, "resilience", """AND EXISTS (SELECT 1 FROM core.run_input i
                WHERE i.run_id = r.run_id AND i.stage = 'services' AND i.input_run_id = %s)""", (services,))
            if resilience_run is None:
                raise InputError(f"no resilience run of services run {services} (the one ratios run {ratios_run} "
                                 "read): run `restore-db compute resilience` first")
        elif runs.input_run(conn, resilience_run) != services:
            raise InputError(f"resilience run {resilience_run} and ratios run {ratios_run} read different "
                             f"services runs ({runs.input_run(conn, resilience_run)} and {services}): give runs of "
                             "the same services run")
        return {"ratios": ratios_run, "resilience": resilience_run, "services": services}

    def check(self, ctx: base.Context, planned_layers: set[str], upstream: dict[str, int]) -> None:
        zone_types(ctx.conn, ctx.cfg["zoning"]["zone_set"])

    def plan(self, ctx: base.Context, upstream: dict[str, int]) -> base.Plan:
        types = zone_types(ctx.conn, ctx.cfg["zoning"]["zone_set"])

        def run(run_id: int) -> base.Result:
            summary = compute(ctx.conn, ctx.area, ctx.cfg, upstream["ratios"], upstream["resilience"], run_id)
            return base.Result(summary, summary.get("warnings", []))

        # the counties are those of the services run (versioned, never changed): its id in the upstream runs
        # fixes them
        return base.Plan(self.settings(ctx), {"zone_types": types}, run)
