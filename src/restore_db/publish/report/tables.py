"""The report's tables as plain rows: a :class:`Table` has an id, a caption, column headings and cells, each cell
a display string and, for numbers, the value to sort by. The HTML template renders them; sorting is done in the
reader's browser by a small inline script (no network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from restore_db.publish.report.data import ReportData
from restore_db.publish.report.figures import balance_label, matching_lines
from restore_db.publish.report.names import province_names
from restore_db.publish.report.i18n import SERVICES, text, text_or
from restore_db.publish.report.rules import Setting


@dataclass
class Cell:
    show: str
    sort: float | str | None = None
    numeric: bool = False


@dataclass
class Table:
    key: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""
    sources: list[str] = field(default_factory=list)   # shown as a list under the table


def _num(v, digits: int = 3, percent: bool = False) -> Cell:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return Cell("", None, True)
    x = float(v)
    if percent:
        return Cell(f"{100 * x:.1f} %", x, True)
    if 1000 <= abs(x) < 1e9:
        return Cell(f"{x:,.0f}", x, True)
    if abs(x) >= 1e9:
        return Cell(f"{x:.{max(digits, 3)}g}", x, True)
    return Cell(f"{x:.{digits}g}" if x != 0 else "0", x, True)


def _txt(v) -> Cell:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return Cell("")
    if isinstance(v, bool):
        return Cell("✓" if v else "", int(v))
    return Cell(str(v), str(v))


def _zone_name(row, lang: str) -> str:
    return (row.zone_name_zh if lang == "zh" and getattr(row, "zone_name_zh", None) else row.zone_name) or ""


def county_table(data: ReportData, lang: str) -> Table:
    """One row per county of the boundaries: ESDR per service, CESD and class, matching, resilience, zone."""
    services = [s for s in SERVICES if f"{s}_esdr" in data.counties]
    cols = [text("col_code", lang), text("col_county", lang), text("col_province", lang),
            text("col_area_km2", lang)]
    cols += [f"{text('esdr', lang)} {text(s, lang)}" for s in services]
    cols += [text("cesd", lang), text("col_balance", lang), text("col_matching", lang), text("col_res_index", lang),
             text("col_res_class", lang), text("col_zone", lang), text("col_zone_name", lang),
             text("col_adjustment", lang), text("col_missing", lang)]
    t = Table("table-counties", text("tab_counties", lang), cols, note=text("sortable", lang))
    for r in data.counties.sort_values("county_code").itertuples():
        row = [_txt(r.county_code), _txt(r.county_name), _txt(r.province_code), _num(r.area_km2, 4)]
        row += [_num(getattr(r, f"{s}_esdr")) for s in services]
        adjustment = text_or(f"adjust_{r.adjustment}", lang, r.adjustment) if r.adjustment else r.adjustment
        row += [_num(r.cesd), Cell(balance_label(r.balance_class, lang),
                                   r.balance_rank if pd.notna(r.balance_rank) else None),
                _txt(r.matching_type), _num(r.resilience_index), _txt(r.resilience_class),
                _txt(r.display_code or r.zone_code), Cell(_zone_name(r, lang)), _txt(adjustment),
                _txt(r.missing_reason)]
        t.rows.append(row)
    return t


def zone_table(data: ReportData, lang: str) -> Table:
    """Zones: code, name, counties, area share, strategy and its measures."""
    t = Table("table-zones", text("tab_zones", lang),
              [text("col_zone", lang), text("col_zone_name", lang), text("col_counties", lang),
               text("col_area_km2", lang), text("col_share", lang), text("col_strategy", lang),
               text("col_strategy_text", lang)])
    strategies = _strategies(data, lang)
    for z in data.zones.sort_values(["classified", "display_code"], ascending=[False, True]).itertuples():
        name, measures = strategies.get(z.zone_code, (z.strategy_name, z.strategy))
        t.rows.append([_txt(z.display_code or z.zone_code), Cell(_zone_name(z, lang)), _num(z.counties),
                       _num(z.area_km2, 4), _num(None if pd.isna(z.area_share) else z.area_share / 100, percent=True), _txt(name), _txt(measures)])
    return t


def _strategies(data: ReportData, lang: str) -> dict[str, tuple[str, str]]:
    """zone code -> (strategy name, measures) in Chinese for ``lang`` 'zh': from ``param.zone_type``
    (strategy_name_zh, strategy_zh) and, for the unclassified zone, the zoning run's settings; {} for English or
    where none is given (the English text of the run is shown)."""
    out = {}
    if lang != "zh":
        return out
    zt = data.zone_types
    if "strategy_name_zh" in zt:
        for z in zt.itertuples():
            if z.strategy_name_zh:
                out[z.code] = (z.strategy_name_zh, z.strategy_zh or z.strategy)
    unclassified = data.params.get("zoning", {}).get("zoning", {}).get("unclassified", {})
    if unclassified.get("strategy_name_zh"):
        out[unclassified.get("code", "unclassified")] = (unclassified["strategy_name_zh"],
                                                         unclassified.get("strategy_zh") or unclassified.get("strategy"))
    return out


def unit_table(data: ReportData, lang: str) -> Table:
    """Collaboration units: members, provinces, shared corridors and joint tasks."""
    t = Table("table-units", text("tab_units", lang),
              [text("col_unit", lang), text("col_counties", lang), text("col_members", lang),
               text("col_provinces", lang), text("col_cross_province", lang), text("col_corridors", lang),
               text("col_joint_tasks", lang)])
    units = data.pattern.get("units")
    tasks = data.pattern.get("tasks")
    if units is None:
        return t
    for u in units.itertuples():
        joint = 0
        if tasks is not None and len(tasks):
            joint = int(sum(1 for tk in tasks.itertuples()
                            if tk.joint and str(u.unit_no) in str(tk.collab_units or "").replace(" ", "").split(",")))
        t.rows.append([_num(u.unit_no), _num(u.counties), _txt(_spaced(u.county_names)),
                       _txt(_spaced(province_names(data, u.provinces))),
                       _txt(bool(u.cross_province)), _txt(_spaced(u.corridor_ids)), _num(joint)])
    return t


def _spaced(listing: str | None) -> str | None:
    """A comma-separated list of bi ("a,b,c") with a space after each comma, so a table cell can wrap."""
    return None if listing is None else ", ".join(x.strip() for x in str(listing).split(","))


def task_table(data: ReportData, lang: str) -> Table:
    """Restoration tasks in rank order (gain in LCD per km²)."""
    t = Table("table-tasks", text("tab_tasks", lang), note=text("tasks_text", lang), columns=[
              text("col_rank", lang), text("col_action", lang), text("col_corridor", lang),
               text("col_importance", lang), text("col_gain", lang), text("col_gain_share", lang),
               text("col_area_km2", lang), text("col_priority", lang), text("col_lead", lang),
               text("col_units", lang), text("col_joint", lang)])
    tasks = data.pattern.get("tasks")
    if tasks is None:
        return t
    for k in tasks.itertuples():
        action = text_or(f"task_{k.kind}", lang, k.action) if lang == "zh" else k.action
        importance = text_or(f"importance_{k.importance_class}", lang, k.importance_class)
        unit = text_or(f"unit_{k.gain_unit}", lang, k.gain_unit or "")
        t.rows.append([_num(k.rank), _txt(action), _num(k.corridor_id), _txt(importance),
                       Cell(f"{_num(k.gain).show} {unit}".strip(), k.gain, True),
                       _num(k.gain_share, percent=True), _num(k.area_km2), _num(k.priority),
                       _txt(" ".join(str(v) for v in (k.county_code, k.county_name) if v)), _txt(k.collab_units),
                       _txt(bool(k.joint))])
    return t


def zone_rule_table(data: ReportData, lang: str) -> Table:
    """The zone types: matching type × resilience class → zone code, name and strategy."""
    t = Table("table-zone-rule", text("sec_zone_rule", lang),
              [text("col_matching", lang), text("col_resilience", lang), text("col_code", lang),
               text("col_zone", lang), text("col_zone_name", lang), text("col_strategy", lang)],
              note=text("rule_text", lang))
    strategies = _strategies(data, lang)
    display = dict(zip(data.zones.zone_code, data.zones.display_code))
    for z in data.zone_types.itertuples():
        name = (z.name_zh if lang == "zh" and z.name_zh else z.name_en)
        strategy = strategies.get(z.code, (z.strategy_name, z.strategy))[0]
        t.rows.append([_txt(z.matching_type), _txt(z.resilience), _txt(z.code),
                       _txt(display.get(z.code) or text("zone_absent", lang)), _txt(name), _txt(strategy)])
    return t


def settings_table(rows: list[Setting], lang: str) -> Table:
    t = Table("table-settings", text("sec_settings", lang),
              [text("col_stage", lang), text("col_setting", lang), text("col_value", lang),
               text("col_default", lang), text("col_state", lang)])
    for s in rows:
        t.rows.append([_txt(text_or(f"stage_{s.stage}", lang, s.stage)), _txt(s.key), _txt(s.value), _txt(s.default),
                       _txt(text("state_changed" if s.changed else "state_default", lang))])
    return t


def choices_table(rows: list[tuple[str, str]], lang: str) -> Table:
    t = Table("table-model-choices", text("sec_services", lang), [text("col_setting", lang), text("col_value", lang)])
    for key, value in rows:
        t.rows.append([_txt(key), _txt(value)])
    return t


def scalar_table(data: ReportData, lang: str) -> Table:
    t = Table("table-parameters", text("sec_parameters", lang),
              [text("col_parameter", lang), text("col_value", lang), text("col_unit_of", lang),
               text("col_description", lang), text("col_set", lang), text("col_source", lang)])
    if data.scalars is not None:
        for s in data.scalars.itertuples():
            t.rows.append([_txt(s.name), _num(s.value, 6), _txt(s.unit), _txt(s.description), _txt(s.parameter_set),
                           _txt(s.source)])
    return t


def coefficient_table(data: ReportData, lang: str) -> Table:
    """Land-use coefficients: one row per class, one column per coefficient (unit in the heading)."""
    coef = data.coefficients if data.coefficients is not None else pd.DataFrame(columns=["name", "unit"])
    vals = data.coefficient_values if data.coefficient_values is not None else pd.DataFrame()
    names = list(coef.name)
    units = dict(zip(coef.name, coef.unit))
    t = Table("table-coefficients", text("sec_coefficients", lang),
              ["lucode", text("col_class", lang)] + [f"{n} ({units[n]})" for n in names])
    if len(vals):
        classes = vals.groupby("lucode")["class"].first()
        wide = vals.pivot_table(index="lucode", columns="coefficient", values="value", aggfunc="first")
        for lucode, r in wide.iterrows():
            t.rows.append([_num(lucode), _txt(classes.get(lucode))] + [_num(r.get(n), 4) for n in names])
    t.sources = [f"{r.name}: {r.source}" for r in coef.itertuples() if r.source]
    return t


def threshold_table(data: ReportData, lang: str) -> Table:
    """The thresholds the runs applied: the deficit/surplus class bounds per service (``bi.balance_class``), the
    quadrant lines of the matching types (mean or median of supply and demand over the counties with both, as the
    ratios stage draws them), and the ranges of resilience index that the H/L classes and the five levels hold."""
    t = Table("table-thresholds", text("sec_thresholds", lang),
              [text("col_rule", lang), text("col_class", lang), text("col_from", lang), text("col_to", lang),
               text("col_counties", lang)], note=text("thresholds_text", lang))
    b = data.balance[data.balance.level == "county"]
    for r in b.itertuples():
        t.rows.append([_txt(f"{text('cesd' if r.service == 'combined' else 'esdr', lang)} "
                            f"{text(r.service, lang)}"), _txt(balance_label(r.label, lang)), _num(r.lower_bound, 4),
                       _num(r.upper_bound, 4), _num(r.units)])
    c = data.counties
    for service in SERVICES:
        if f"{service}_supply" not in c:
            continue
        s, d, ok, xs, ys, method = matching_lines(data, service)
        if xs is None:
            continue
        for side, v, line in (("supply", s[ok], xs), ("demand", d[ok], ys)):
            t.rows.append([_txt(f"{text('col_matching', lang)} {text(service, lang)}"),
                           _txt(f"{text(side, lang)} H: > {_num(line, 4).show} ({method})"),
                           _num(line, 4), Cell(""), _num(int((v > line).sum()))])
    for column, label in (("resilience_class", "resilience_class"), ("resilience_level", "resilience_index")):
        idx = pd.to_numeric(c.resilience_index, errors="coerce")
        for cls in sorted(c[column].dropna().unique(), key=str):
            sel = idx[(c[column] == cls) & idx.notna()]
            name = c.loc[c[column] == cls, "resilience_level_name"].dropna()
            level = name.iloc[0] if len(name) else ""
            level = text_or(f"level_{level}", lang, level)
            shown = f"{cls} {level}" if column == "resilience_level" else str(cls)
            t.rows.append([_txt(text(label, lang)), _txt(shown), _num(sel.min(), 4), _num(sel.max(), 4),
                           _num(len(sel))])
    return t
