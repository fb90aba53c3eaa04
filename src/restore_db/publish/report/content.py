"""The report's sections in pipeline order (services → ratios → resilience → zoning → pattern → collaboration →
counties → decision rules), and their rendering with the Jinja2 template ``template.html``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

import restore_db
from restore_db.publish.report import figures as fig
from restore_db.publish.report import rules, tables
from restore_db.publish.report.data import ReportData
from restore_db.publish.report.i18n import SERVICES, text, text_or

TEMPLATE = Path(__file__).with_name("template.html")


@dataclass
class Section:
    key: str
    title: str
    items: list = field(default_factory=list)
    text: str = ""


@dataclass
class Page:
    lang: str
    data: ReportData
    sections: list[Section]
    rules: dict
    facts: list[tuple[str, str]]

    @property
    def figures(self) -> list[fig.Figure]:
        return [i for s in self.sections for i in s.items if isinstance(i, fig.Figure)]

    @property
    def all_tables(self) -> list[tables.Table]:
        own = [i for s in self.sections for i in s.items if isinstance(i, tables.Table)]
        return own + [v for v in self.rules.values() if isinstance(v, tables.Table)]

    @property
    def figure_count(self) -> int:
        return len(self.figures)

    @property
    def table_count(self) -> int:
        return len(self.all_tables)


def _facts(data: ReportData, lang: str) -> list[tuple[str, str]]:
    c = data.counties
    classified = int((c.missing_reason.isna()).sum())
    out = [(text("counties", lang), f"{len(c)}"),
           (text("fact_zones", lang), f"{int(data.zones.classified.sum())}"),
           (text("fact_classified", lang), f"{classified} / {len(c)}")]
    s = data.pattern_summary
    if s:
        out += [(text("sources", lang), f"{s['sources']}"),
                (text("corridor_important", lang), f"{s['important_corridors']}"),
                (text("corridor_general", lang), f"{s['general_corridors']}"),
                (text("pinch_points", lang), f"{len(data.pattern['pinches'])}"),
                (text("barriers", lang), f"{len(data.pattern['barriers'])}"),
                (text("tab_tasks", lang), f"{s['tasks']}"),
                (text("tab_units", lang), f"{s['collab_units']}")]
    return out


def build(data: ReportData, lang: str) -> Page:
    """Every section of the report of ``data`` in ``lang``: maps, charts and tables (PNG bytes drawn here)."""
    services = [s for s in SERVICES if f"{s}_supply" in data.counties]
    sec = [
        Section("services", text("sec_services", lang),
                [fig.service_map(data, s, lang) for s in services] + [fig.scatter_chart(data, lang)]),
        Section("ratios", text("sec_ratios", lang),
                [fig.balance_map(data, lang), fig.matching_map(data, lang), fig.balance_chart(data, lang)]),
        Section("resilience", text("sec_resilience", lang),
                [fig.resilience_map(data, lang), fig.dimension_maps(data, lang), fig.weights_chart(data, lang)]),
        Section("zoning", text("sec_zoning", lang), [fig.zone_map(data, lang), tables.zone_table(data, lang)]),
    ]
    if data.runs.pattern is not None:
        sec.append(Section("pattern", text("sec_pattern", lang),
                           [fig.pattern_map(data, lang), tables.task_table(data, lang)]))
        sec.append(Section("collaboration", text("sec_collab", lang),
                           [fig.collaboration_map(data, lang), tables.unit_table(data, lang)]))
    else:
        sec.append(Section("pattern", text("sec_pattern", lang), [], text("no_pattern", lang)))
    sec.append(Section("counties", text("sec_tables", lang), [tables.county_table(data, lang)]))
    sec.append(Section("rules", text("sec_rules", lang)))
    formulas = [(page, list(blocks)) for page, blocks in
                itertools.groupby(rules.formulas(), key=lambda f: f.page)]
    rule = {
        "zone_rule": tables.zone_rule_table(data, lang),
        "settings": tables.settings_table(rules.settings_table(data.params), lang),
        "thresholds": tables.threshold_table(data, lang),
        "choices": tables.choices_table(rules.model_choices(data.params), lang),
        "parameters": tables.scalar_table(data, lang),
        "coefficients": tables.coefficient_table(data, lang),
        "formulas": formulas,
    }
    return Page(lang, data, sec, rule, _facts(data, lang))


def _runs_text(data: ReportData, lang: str) -> str:
    r = data.runs
    line = text("runs_line", lang, services=r.services, ratios=r.ratios, resilience=r.resilience, zoning=r.zoning,
                pattern=r.pattern if r.pattern is not None else "–")
    when = pd.Timestamp(r.finished_at).strftime("%Y-%m-%d %H:%M") if r.finished_at is not None else ""
    return line + (f" ({text('zoning_finished', lang, when=when)})" if when else "")


def html(page: Page) -> str:
    """The page rendered with ``template.html`` (Jinja2, HTML autoescaping on)."""
    from restore_db.publish.report import now_text

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    data, lang = page.data, page.lang
    grid = data.area.grid
    crs = data.crs
    return template.render(
        t=lambda key, **kw: text(key, lang, **kw),
        html_lang="zh-CN" if lang == "zh" else "en",
        version=restore_db.__version__ if hasattr(restore_db, "__version__") else "",
        area_name=data.area.name, area_title=data.area.title or data.area.name,
        generated=now_text(),
        crs_name=f"{crs.name} (SRID {grid.srid})" if crs is not None else f"SRID {grid.srid}",
        grid_text=text("grid_line", lang, width=grid.width, height=grid.height, size=f"{grid.pixel_size:g}"),
        runs_text=_runs_text(data, lang),
        sections=page.sections, rules=page.rules, facts=page.facts,
        warnings=[(text_or(f"stage_{stage}", lang, stage), run, w)
                  for stage, run, w in data.warnings],
    )
