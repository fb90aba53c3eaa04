"""Maps and charts of the report, drawn with matplotlib's object API (no pyplot state, no display needed).

Maps are in the study area's grid CRS, with a legend, a scale bar (matplotlib-scalebar, in the CRS's metres), a
north arrow (grid north) and the county outlines (provinces thicker). Supply, demand, the resilience index and the
dimension scores are classed by Fisher–Jenks natural breaks (at most 5 classes; the ratios stage's
:func:`restore_db.stages.classify.breaks`); ESDR and CESD are drawn in the run's own deficit/surplus classes
(``bi.balance_class``), so a map agrees with the tables and the exports. Categories take the fixed colours of
:mod:`restore_db.publish.palette`. A county without a value is drawn hatched grey and listed in the legend as
"no value" (the county table says why).

Every function returns a :class:`Figure` holding one PNG; :func:`png` renders it (``DPI`` 100, laid out by matplotlib's constrained layout).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.ticker
import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib_scalebar.scalebar import ScaleBar

from restore_db.publish import palette
from restore_db.stages import classify
from restore_db.publish.report.data import ReportData
from restore_db.publish.report.i18n import SERVICES, has, text
from restore_db.publish.report.names import province_names

DPI = 100
# Sans-serif families tried in order for each glyph: a CJK font for Chinese text, then matplotlib's own.
FONTS = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei",
         "Microsoft YaHei", "PingFang SC"]
_CJK_FILES = re.compile(r"wqy|NotoSansCJK|NotoSerifCJK|SourceHan|simhei|msyh|PingFang", re.IGNORECASE)


@dataclass
class Figure:
    """One figure of the report: an id (the HTML anchor), its caption and the PNG bytes."""
    key: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@functools.cache
def fonts() -> list[str]:
    """The families of ``FONTS`` installed here, in order (matplotlib falls back glyph by glyph along them)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not any(f in installed for f in FONTS[1:]):
        # matplotlib's font cache may predate a CJK font installed later: add the system's CJK fonts to it
        for path in font_manager.findSystemFonts():
            if _CJK_FILES.search(Path(path).name):
                with contextlib.suppress(OSError, RuntimeError, ValueError):
                    font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONTS if f in installed] or ["DejaVu Sans"]


def cjk_font() -> str | None:
    """The first installed family of ``FONTS`` that has Chinese glyphs; None when there is none."""
    return next((f for f in fonts() if f != "DejaVu Sans"), None)


def _style() -> dict:
    return {"font.family": fonts(), "font.size": 9, "axes.titlesize": 10,
            "legend.fontsize": 8, "legend.title_fontsize": 8, "savefig.facecolor": "white"}


def png(fig: MplFigure) -> bytes:
    """The figure as PNG bytes (``DPI`` dots per inch, cropped to what is drawn, legends included)."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # "no bold face" of a CJK font
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)  # legends outside the axes
    return buf.getvalue()


def _metres_per_unit(crs) -> float:
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (AttributeError, IndexError, TypeError):
        return 1.0


def _frame(ax, data: ReportData, title: str | None = None, outlines: bool = True) -> None:
    """Outlines, scale bar, north arrow, equal aspect, no axes."""
    if outlines:
        data.counties.boundary.plot(ax=ax, color=palette.OUTLINE, linewidth=0.25)
        if len(data.provinces):
            data.provinces.boundary.plot(ax=ax, color=palette.PROVINCE_OUTLINE, linewidth=0.9)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    ax.add_artist(ScaleBar(_metres_per_unit(data.crs), "m", location="lower left", box_alpha=0.7,
                           length_fraction=0.25, font_properties={"size": 7}))
    ax.annotate(text("north", data_lang(ax)), xy=(0.95, 0.97), xytext=(0.95, 0.85), xycoords="axes fraction",
                ha="center", va="center", fontsize=9, fontweight="bold",
                arrowprops={"facecolor": "black", "width": 3, "headwidth": 9, "headlength": 8})


def data_lang(ax) -> str:
    return getattr(ax.figure, "_report_lang", "en")


def _new(lang: str, ncols: int = 1, nrows: int = 1, width: float = 6.5, height: float = 6.0) -> tuple:
    fig = MplFigure(figsize=(width * ncols, height * nrows), layout="constrained")
    fig._report_lang = lang
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _fmt(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _classes(values: np.ndarray, k: int = 5) -> list[float]:
    """Upper bounds of at most ``k`` classes of the finite ``values``: natural breaks, by the ratios stage's
    :func:`restore_db.stages.classify.breaks`."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    return _breaks(values, k)


def _breaks(values: np.ndarray, k: int) -> list[float]:
    k = max(1, min(k, len(np.unique(values))))
    return [float(b) for b in classify.breaks(values, k, "natural_breaks")] if k > 1 else [float(values.max())]


def choropleth(ax, data: ReportData, values: pd.Series, cmap: str, title: str, legend_title: str) -> None:
    """Counties classed by ``values`` (aligned with ``data.counties``); NaN = hatched 'no value'."""
    lang = data_lang(ax)
    vals = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bounds = _classes(vals)
    cm = matplotlib.colormaps[cmap]
    handles = []
    if bounds:
        finite = vals[np.isfinite(vals)]
        lower = [float(finite.min())] + bounds[:-1]
        n = len(bounds)
        colours = [cm(0.15 + 0.8 * (i / max(n - 1, 1))) for i in range(n)]
        idx = np.searchsorted(np.asarray(bounds), vals, side="left")
        idx = np.clip(idx, 0, len(bounds) - 1)
        ok = np.isfinite(vals)
        for i, colour in enumerate(colours):
            sel = ok & (idx == i)
            if sel.any():
                data.counties[sel].plot(ax=ax, color=colour, linewidth=0)
            handles.append(Patch(facecolor=colour, edgecolor="none",
                                 label=f"{_fmt(lower[i])} – {_fmt(bounds[i])}"))
    missing = ~np.isfinite(vals)
    if missing.any():
        data.counties[missing].plot(ax=ax, facecolor=palette.NO_VALUE, hatch="////", edgecolor="white", linewidth=0)
        handles.append(Patch(facecolor=palette.NO_VALUE, hatch="////", edgecolor="white",
                             label=f"{text('no_value', lang)} ({int(missing.sum())})"))
    _frame(ax, data, title)
    ax.legend(handles=handles, title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def categorical(ax, data: ReportData, values: pd.Series, colours: dict[str, str], labels: dict[str, str],
                title: str, legend_title: str, frame=None, alpha: float = 1.0, legend: bool = True) -> list:
    """Counties (or ``frame``'s polygons) coloured by category; unknown/None categories grey."""
    frame = data.counties if frame is None else frame
    vals = values.astype(object).where(values.notna(), None).to_numpy()
    handles = []
    for cat in list(colours) + [None]:
        sel = np.array([(v == cat) if cat is not None else (v not in colours) for v in vals], dtype=bool)
        if not sel.any():
            continue
        colour = colours.get(cat, palette.UNCLASSIFIED) if cat is not None else palette.UNCLASSIFIED
        frame[sel].plot(ax=ax, color=colour, linewidth=0, alpha=alpha)
        label = labels.get(cat, cat) if cat is not None else labels.get(None, text("no_value", data_lang(ax)))
        handles.append(Patch(facecolor=colour, edgecolor="none", alpha=alpha, label=f"{label} ({int(sel.sum())})"))
    _frame(ax, data, title)
    if legend:
        ax.legend(handles=handles, title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return handles


def service_map(data: ReportData, service: str, lang: str) -> Figure:
    """Supply, demand and ESDR of ``service`` per county (three panels)."""
    name = text(service, lang)
    supply_unit, demand_unit = data.units.get(service, ("", ""))
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, ncols=3, width=5.0, height=5.2)
        choropleth(axes[0], data, data.counties[f"{service}_supply"], "YlGn", text("supply", lang),
                   f"{text('supply', lang)} ({supply_unit})")
        choropleth(axes[1], data, data.counties[f"{service}_demand"], "OrRd", text("demand", lang),
                   f"{text('demand', lang)} ({demand_unit})")
        balance_classes(axes[2], data, data.counties[f"{service}_esdr"], service, text("esdr", lang),
                        text("esdr", lang))
        return Figure(f"map-{service}", text("map_service", lang, service=name), png(fig))


def _class_rows(data: ReportData, service: str) -> pd.DataFrame:
    """The county-level deficit/surplus classes of ``service`` ('combined' = CESD) of the run, by rank."""
    b = data.balance
    return b[(b.level == "county") & (b.service == service)].sort_values("rank")


def balance_classes(ax, data: ReportData, values: pd.Series, service: str, title: str, legend_title: str) -> None:
    """Counties coloured by the run's deficit/surplus class of ``values`` (ESDR of ``service``, or CESD): the
    bounds of ``bi.balance_class`` (class i holds lower < v <= upper, the lowest class its lower bound too), the
    colours of :func:`restore_db.publish.palette.balance_colours` over every rank of the run."""
    lang = data_lang(ax)
    rows = _class_rows(data, service)
    ranks = [int(r) for r in rows["rank"]]
    colours = palette.balance_colours(ranks)
    vals = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    cats = pd.Series([None] * len(vals), index=values.index, dtype=object)
    if len(rows):
        uppers = rows.upper_bound.to_numpy(dtype=float)
        idx = np.clip(np.searchsorted(uppers, vals, side="left"), 0, len(uppers) - 1)
        ok = np.isfinite(vals)
        cats[ok] = [str(ranks[i]) for i in idx[ok]]
    labels = {str(r): f"{balance_label(lab, lang)} ({_fmt(lo)} – {_fmt(hi)})"
              for r, lab, lo, hi in zip(ranks, rows.label, rows.lower_bound, rows.upper_bound)}
    categorical(ax, data, cats, {str(r): colours[r] for r in ranks}, labels, title, legend_title)


def balance_label(label: str | None, lang: str) -> str:
    """A deficit/surplus class label of the ratios stage in ``lang`` ("high deficit", "deficit class 2 of 5" ...)."""
    if label is None or (not isinstance(label, str) and pd.isna(label)):
        return ""
    if lang != "zh":
        return label
    if has(f"class_{label}"):
        return text(f"class_{label}", lang)
    m = re.fullmatch(r"(deficit|surplus) class (\d+) of (\d+)", label)
    return text("class_generic", lang, side=text(m.group(1), lang), i=m.group(2), k=m.group(3)) if m else label


def balance_map(data: ReportData, lang: str) -> Figure:
    """CESD deficit/surplus classes of the run."""
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang)
        balance_classes(axes[0], data, data.counties.cesd, "combined", text("map_cesd", lang), text("cesd", lang))
        return Figure("map-cesd", text("map_cesd", lang), png(fig))


def matching_map(data: ReportData, lang: str) -> Figure:
    """Matching types of the combined services."""
    labels = {k: text(k, lang) for k in palette.MATCHING}
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang)
        categorical(axes[0], data, data.counties.matching_type, palette.MATCHING, labels,
                    text("map_matching", lang), text("col_matching", lang))
        return Figure("map-matching", text("map_matching", lang), png(fig))


def resilience_map(data: ReportData, lang: str) -> Figure:
    """Resilience index (classed) and the two-level class used for zoning."""
    labels = {k: text(f"res_{k}", lang) for k in palette.RESILIENCE}
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, ncols=2, width=5.5, height=5.5)
        choropleth(axes[0], data, data.counties.resilience_index, "viridis", text("resilience_index", lang),
                   text("resilience_index", lang))
        categorical(axes[1], data, data.counties.resilience_class, palette.RESILIENCE, labels,
                    text("resilience_class", lang), text("resilience_class", lang))
        return Figure("map-resilience", text("map_resilience", lang), png(fig))


def dimension_maps(data: ReportData, lang: str) -> Figure:
    """Score of every resilience dimension (small multiples)."""
    dims = data.dimensions[["dimension", "dimension_name"]].drop_duplicates().sort_values("dimension")
    n = max(len(dims), 1)
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, ncols=ncols, nrows=nrows, width=4.6, height=4.4)
        for ax, (_, d) in zip(axes, dims.iterrows()):
            rows = data.dimensions[data.dimensions.dimension == d.dimension]
            by_unit = dict(zip(rows.unit_id, rows.score))
            vals = pd.Series([by_unit.get(u, np.nan) for u in data.counties.unit_id], index=data.counties.index)
            choropleth(ax, data, vals, "viridis", f"{d.dimension} {d.dimension_name}", d.dimension)
        for ax in axes[len(dims):]:
            ax.set_axis_off()
        return Figure("map-dimensions", text("map_dimensions", lang), png(fig))


def zone_labels(data: ReportData, lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """(colours, labels) of the zone codes present, in the zone types' order, labels 'II-1 name'."""
    zones = data.zones
    colours, labels = {}, {}
    for _, z in zones.sort_values(["classified", "display_code"], ascending=[False, True]).iterrows():
        colours[z.zone_code] = palette.zone_colour(z.zone_code) if z.classified else palette.UNCLASSIFIED
        name = (z.zone_name_zh if lang == "zh" and z.zone_name_zh else z.zone_name) or z.zone_code
        labels[z.zone_code] = f"{z.display_code or z.zone_code} {name}"
    return colours, labels


def zone_map(data: ReportData, lang: str) -> Figure:
    """Restoration zones of the counties."""
    colours, labels = zone_labels(data, lang)
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, width=7.5)
        categorical(axes[0], data, data.counties.zone_code, colours, labels, text("map_zones", lang),
                    text("col_zone", lang))
        return Figure("map-zones", text("map_zones", lang), png(fig))


def pattern_map(data: ReportData, lang: str) -> Figure:
    """Sources, corridor areas, corridors by importance, nodes by kind, pinch points and barriers over the zones."""
    colours, labels = zone_labels(data, lang)
    p = data.pattern
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, width=8.0, height=7.0)
        ax = axes[0]
        zone_handles = categorical(ax, data, data.counties.zone_code, colours, labels, None, "", alpha=0.35,
                                   legend=False)
        handles = []
        if len(p["corridor_areas"]):
            p["corridor_areas"].plot(ax=ax, color=palette.CORRIDOR_AREA, linewidth=0, alpha=0.8)
            handles.append(Patch(facecolor=palette.CORRIDOR_AREA, label=text("corridor_area", lang)))
        if len(p["sources"]):
            p["sources"].plot(ax=ax, color=palette.SOURCE, linewidth=0)
            handles.append(Patch(facecolor=palette.SOURCE, label=f"{text('sources', lang)} ({len(p['sources'])})"))
        for cls, width in (("general", 0.9), ("important", 2.0)):
            sel = p["corridors"][p["corridors"].importance_class == cls]
            if len(sel):
                sel.plot(ax=ax, color=palette.CORRIDOR[cls], linewidth=width)
                handles.append(Line2D([], [], color=palette.CORRIDOR[cls], linewidth=width,
                                      label=f"{text('corridor_' + cls, lang)} ({len(sel)})"))
        if len(p["pinches"]):
            p["pinches"].plot(ax=ax, color=palette.PINCH, linewidth=0.6, edgecolor=palette.PINCH)
            handles.append(Patch(facecolor=palette.PINCH, label=f"{text('pinch_points', lang)} ({len(p['pinches'])})"))
        if len(p["barriers"]):
            p["barriers"].plot(ax=ax, facecolor="none", edgecolor=palette.BARRIER, hatch="xxxx", linewidth=0.6)
            handles.append(Patch(facecolor="white", edgecolor=palette.BARRIER, hatch="xxxx",
                                 label=f"{text('barriers', lang)} ({len(p['barriers'])})"))
        markers = {"intersection": "o", "ridge": "^", "pinch": "D", "barrier": "X"}
        for kind, colour in palette.NODE.items():
            sel = p["nodes"][p["nodes"].kind == kind]
            if len(sel):
                sel.plot(ax=ax, color=colour, marker=markers.get(kind, "o"), markersize=7, edgecolor="white",
                         linewidth=0.3, zorder=5)
                handles.append(Line2D([], [], color=colour, marker=markers.get(kind, "o"), linestyle="",
                                      markeredgecolor="white", label=f"{text('node_' + kind, lang)} ({len(sel)})"))
        ax.set_title(text("map_pattern", lang))
        spacer = Patch(facecolor="none", edgecolor="none", label=" ")
        ax.legend(handles=handles + [spacer] + zone_handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  frameon=False, title=text("sec_pattern", lang))
        return Figure("map-pattern", text("map_pattern", lang), png(fig))


# colours of the collaboration units, cycled by unit number (numbers label every unit on the map)
_UNIT_COLOURS = palette.UNITS
_LEGEND_UNITS = 30


def collaboration_map(data: ReportData, lang: str) -> Figure:
    """Collaboration units (each a colour, numbered), with the corridors that tie them."""
    units = data.pattern["units"]
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, width=7.5)
        ax = axes[0]
        handles = []
        for i, (_, u) in enumerate(units.iterrows()):
            colour = _UNIT_COLOURS[i % len(_UNIT_COLOURS)]
            units.iloc[[i]].plot(ax=ax, color=colour, linewidth=0, alpha=0.75)
            pt = u.geometry.representative_point()
            ax.annotate(str(u.unit_no), xy=(pt.x, pt.y), ha="center", va="center", fontsize=8, fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
            handles.append(Patch(facecolor=colour, alpha=0.75, label=text(
                "unit_legend", lang, no=u.unit_no, n=u.counties, provinces=province_names(data, u.provinces))))
        corridors = data.pattern["corridors"]
        if len(corridors):
            corridors.plot(ax=ax, color=palette.LINK, linewidth=0.7)
        if len(handles) > _LEGEND_UNITS:
            more = len(handles) - _LEGEND_UNITS
            handles = handles[:_LEGEND_UNITS] + [Patch(facecolor="none", edgecolor="none",
                                                       label=text("more_units", lang, n=more))]
        if len(corridors):
            handles.append(Line2D([], [], color=palette.LINK, linewidth=0.7, label=text("col_corridors", lang)))
        _frame(ax, data, text("map_collab", lang))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                  title=text("map_collab", lang))
        return Figure("map-collab", text("map_collab", lang), png(fig))


def matching_lines(data: ReportData, service: str):
    """Supply and demand of ``service`` per county (float Series aligned with ``data.counties``), the mask of the
    counties with both, and the quadrant lines of the run's matching method over those counties: the mean (z-score
    method, z > 0 ⇔ value > mean) or the median. Lines are None when no county has both.
    Source: docs/models/ratios.md#matching-types."""
    method = data.params.get("ratios", {}).get("ratios", {}).get("matching", {}).get("method", "zscore")
    c = data.counties
    s = pd.to_numeric(c[f"{service}_supply"], errors="coerce")
    d = pd.to_numeric(c[f"{service}_demand"], errors="coerce")
    ok = s.notna() & d.notna()
    if not ok.any():
        return s, d, ok, None, None, method
    if method == "median":
        return s, d, ok, s[ok].median(), d[ok].median(), method
    return s, d, ok, s[ok].mean(), d[ok].mean(), method


def scatter_chart(data: ReportData, lang: str) -> Figure:
    """Supply against demand per county and service, points coloured by the county's matching type, with the
    quadrant lines of the matching method (mean for z-scores, median for 'median')."""
    services = [s for s in SERVICES if f"{s}_supply" in data.counties]
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, ncols=3, nrows=2, width=4.2, height=3.8)
        for ax, service in zip(axes, services):
            s, d, ok, xs, ys, _ = matching_lines(data, service)
            for mt, colour in palette.MATCHING.items():
                sel = ok & (data.counties[f"{service}_matching"] == mt)
                ax.scatter(s[sel], d[sel], s=10, color=colour, label=text(mt, lang), edgecolor="none")
            if xs is not None:
                ax.axvline(xs, color="#444444", linewidth=0.8, linestyle="--")
                ax.axhline(ys, color="#444444", linewidth=0.8, linestyle="--")
            ax.set_title(text(service, lang))
            su, du = data.units.get(service, ("", ""))
            ax.set_xlabel(f"{text('supply', lang)} ({su})")
            ax.set_ylabel(f"{text('demand', lang)} ({du})")
            ax.ticklabel_format(style="sci", scilimits=(-3, 4))
        for ax in axes[len(services):]:
            ax.set_axis_off()
        handles = [Line2D([], [], marker="o", linestyle="", color=col, label=text(mt, lang))
                   for mt, col in palette.MATCHING.items()]
        axes[-1].legend(handles=handles, loc="center", frameon=False, title=text("col_matching", lang))
        return Figure("chart-scatter", text("chart_scatter", lang), png(fig))


WEIGHT_METHODS = ("entropy", "critic", "ahp", "manual", "equal", "combined")


def weights_chart(data: ReportData, lang: str) -> Figure:
    """Indicator weights by every method the run computed, and the final weight used."""
    w = data.weights
    methods = [m for m in WEIGHT_METHODS if m in w and w[m].notna().any()]
    labels = [f"{r.indicator}" for r in w.itertuples()]
    n = len(w)
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, width=8.0, height=max(3.0, 0.42 * n + 1.0))
        ax = axes[0]
        series = methods + ["weight"]
        height = 0.8 / max(len(series), 1)
        y = np.arange(n)
        for i, m in enumerate(series):
            label = text("final_weight", lang) if m == "weight" else text(f"method_{m}", lang)
            ax.barh(y + i * height, pd.to_numeric(w[m], errors="coerce").fillna(0), height=height,
                    color=palette.WEIGHT_METHOD[m], label=label)
        ax.set_yticks(y + 0.4 - height / 2, labels)
        ax.invert_yaxis()
        ax.set_xlabel(text("weight", lang))
        ax.legend(loc="lower right", frameon=False)
        ax.set_title(text("chart_weights", lang))
        return Figure("chart-weights", text("chart_weights", lang), png(fig))


def balance_chart(data: ReportData, lang: str) -> Figure:
    """Area share of each deficit/surplus class, per service and combined (county level)."""
    b = data.balance[data.balance.level == "county"]
    services = [s for s in (*SERVICES, "combined") if s in set(b.service)]
    ranks = sorted(int(r) for r in b["rank"].unique())
    colours = palette.balance_colours(ranks)   # the same ranks, hence colours, as the maps
    with matplotlib.rc_context(_style()):
        fig, axes = _new(lang, width=8.0, height=0.5 * len(services) + 1.8)
        ax = axes[0]
        seen = set()
        for i, service in enumerate(services):
            left = 0.0
            for r in ranks:
                row = b[(b.service == service) & (b["rank"] == r)]
                share = float(row.area_share.sum()) / 100 if len(row) else 0.0  # bi area_share is in %
                label = balance_label(row.label.iloc[0], lang) if len(row) and r not in seen else None
                if label:
                    seen.add(r)
                ax.barh(i, share, left=left, color=colours[r], edgecolor="white", linewidth=0.5, label=label)
                left += share
        ax.set_yticks(range(len(services)), [text(s, lang) for s in services])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(text("area_share", lang))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.set_title(text("chart_balance", lang))
        return Figure("chart-balance", text("chart_balance", lang), png(fig))
