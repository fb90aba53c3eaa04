"""Resilience indicators: the catalogue rows of a set (``param.indicator``),
checked before computing, and their raw values per county.

Each row says where its county value comes from (see sql/060_analysis_params.sql):
a landscape metric of the land-use layer, a zonal statistic of a layer (a
layer of the services run first, else a source layer), a ratio of two layer
means, an area-weighted class coefficient or class share, a services result,
a county statistic, or a SQL query. A source that does not exist is an error
naming the indicator, unless the row is ``optional`` (then it is left out and
the run records a warning).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from scipy import ndimage

from restore_db.grid import counties
from restore_db.store.layers import COMPACT, has_layer, read_array
from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages.resilience import landscape

LAYER_STATS = ("mean", "sum", "density", "min", "max", "range")
SERVICE_STATS = {"density": "density_km2", "total": "total", "mean": "mean"}


@dataclass
class Indicator:
    indicator: str
    position: int
    dimension: str
    dimension_name: str
    name: str
    direction: int
    unit: str
    source_kind: str
    source: str
    statistic: str | None
    weight: float | None
    optional: bool
    # resolved at planning time: layer -> run id (None = source layer)
    layers: dict | None = None


def catalogue(conn: psycopg.Connection, indicator_set: str) -> list[Indicator]:
    rows = conn.execute(
        """SELECT indicator, position, dimension, dimension_name, name, direction, unit, source_kind, source,
                  statistic, weight, optional FROM param.indicator
           WHERE indicator_set = %s AND enabled ORDER BY position, indicator""", (indicator_set,)).fetchall()
    if not rows:
        sets = [r[0] for r in conn.execute("SELECT DISTINCT indicator_set FROM param.indicator ORDER BY 1")]
        raise InputError(f"indicator set {indicator_set!r} has no enabled indicators "
                         f"(sets: {', '.join(sets) or 'none'})")
    return [Indicator(*r) for r in rows]


class Planner:
    """Resolves each indicator's source for a study area and a services run."""

    def __init__(self, conn: psycopg.Connection, area: StudyArea, services_run_id: int | None, lulc_sets: list[str],
                 lulc_layer: str, planned_layers: set[str] | None = None, used_sets: list[str] | None = None):
        self.conn, self.area, self.run = conn, area, services_run_id
        self.planned = planned_layers or set()
        self.lulc_sets = lulc_sets            # preferred (--params), in order
        self.used_sets = used_sets or []      # the parameter sets the services run read
        self.lulc_layer = lulc_layer
        self.warnings: list[str] = []
        self.coefficients: dict[str, np.ndarray] = {}
        self.param_sets: set[str] = set()      # land-use tables the class indicators read

    def layer(self, name: str) -> tuple[str, int | None] | None:
        """(layer, run) of the services run's layer, else of the source layer; None when neither exists."""
        if self.run is not None and has_layer(self.conn, self.area, name, self.run):
            return (name, self.run)
        if has_layer(self.conn, self.area, name):
            return (name, None)
        if name in self.planned:
            return (name, 0)    # produced by the services run about to be computed
        return None

    def _missing(self, ind: Indicator, what: str) -> bool:
        if ind.optional:
            self.warnings.append(f"indicator {ind.indicator!r} left out: {what}")
            return True
        raise InputError(f"indicator {ind.indicator!r} ({ind.source_kind} {ind.source!r}): {what}")

    def coefficient(self, ind: Indicator) -> bool:
        """Resolve a class coefficient by the rule of the services (:func:`choose_lulc_set`): a preferred
        set (``--params``), else the one set the services run read that holds it, else the only table
        holding it (several: an error naming them and the ``--params`` to pass)."""
        from restore_db.stages.services.common import choose_lulc_set, lookup_table

        holders = [r[0] for r in self.conn.execute(
            """SELECT DISTINCT p.name FROM param.param_set p JOIN param.lulc_value v USING (param_set_id)
               WHERE p.study_area_id = %s AND p.kind = 'lulc' AND v.coefficient = %s ORDER BY 1""",
            (self.area.study_area_id, ind.source)).fetchall()]
        if not holders:
            return self._missing(ind, f"no land-use parameter table of study area {self.area.name!r} has "
                                      f"coefficient {ind.source!r}")
        read = [n for n in self.used_sets if n in holders]
        preferred = self.lulc_sets + (read if len(read) == 1 else [])
        try:
            name = choose_lulc_set(self.conn, self.area, [ind.source], preferred)
        except InputError as exc:
            raise InputError(f"indicator {ind.indicator!r}: {exc}") from None
        self.param_sets.add(name)
        self.coefficients[ind.source] = lookup_table(self.conn, self.area, name, [ind.source],
                                                     self.lulc_layer)[ind.source]
        return False

    def plan(self, inds: list[Indicator]) -> list[Indicator]:
        """The indicators that will be computed (optional ones without a source dropped)."""
        out = []
        for ind in inds:
            kind, src = ind.source_kind, ind.source
            dropped = False
            if kind == "landscape":
                if src not in landscape.METRICS:
                    raise InputError(f"indicator {ind.indicator!r}: unknown landscape metric {src!r} "
                                     f"(known: {', '.join(sorted(landscape.METRICS))})")
                lulc = self.layer(self.lulc_layer)
                dropped = lulc is None and self._missing(ind, f"no land-use layer {self.lulc_layer!r}")
                ind.layers = {"lulc": lulc}
            elif kind == "layer":
                if (ind.statistic or "mean") not in LAYER_STATS:
                    raise InputError(f"indicator {ind.indicator!r}: statistic {ind.statistic!r} does not apply to "
                                     f"a layer (use {', '.join(LAYER_STATS)})")
                found = self.layer(src)
                dropped = found is None and self._missing(
                    ind, f"no layer {src!r} in study area {self.area.name!r} or services run {self.run}")
                ind.layers = {"value": found}
            elif kind == "ratio":
                parts = [p.strip() for p in src.split("/")]
                if len(parts) != 2 or not all(parts):
                    raise InputError(f"indicator {ind.indicator!r}: ratio source must be 'a/b', got {src!r}")
                found = {p: self.layer(p) for p in parts}
                absent = [p for p, f in found.items() if f is None]
                dropped = bool(absent) and self._missing(ind, f"no layer {', '.join(absent)} in study area "
                                                              f"{self.area.name!r}")
                ind.layers = {"num": found[parts[0]], "den": found[parts[1]]}
            elif kind in ("class_mean", "class_share"):
                known = self.conn.execute("SELECT 1 FROM param.coefficient WHERE name = %s", (src,)).fetchone()
                if not known:
                    raise InputError(f"indicator {ind.indicator!r}: unknown land-use coefficient {src!r}")
                lulc = self.layer(self.lulc_layer)
                if lulc is None:
                    dropped = self._missing(ind, f"no land-use layer {self.lulc_layer!r}")
                else:
                    dropped = self.coefficient(ind)
                ind.layers = {"lulc": lulc}
            elif kind == "service":
                service, _, side = src.partition(".")
                if side not in ("supply", "demand") or (ind.statistic or "density") not in SERVICE_STATS:
                    raise InputError(f"indicator {ind.indicator!r}: service source must be 'service.supply|demand' "
                                     f"with statistic density, total or mean; got {src!r} {ind.statistic!r}")
                from restore_db.stages.settings import SERVICES

                if service not in SERVICES:
                    raise InputError(f"indicator {ind.indicator!r}: unknown service {service!r}")
                if self.run is not None:
                    has = self.conn.execute("SELECT 1 FROM result.county_service WHERE run_id = %s AND service = %s "
                                            "AND side = %s LIMIT 1", (self.run, service, side)).fetchone()
                    dropped = has is None and self._missing(ind, f"services run {self.run} has no {src}")
            elif kind == "county_stat":
                has = self.conn.execute("SELECT 1 FROM src.county_stat WHERE study_area_id = %s AND variable = %s "
                                        "LIMIT 1", (self.area.study_area_id, src)).fetchone()
                dropped = has is None and self._missing(ind, f"no county statistic {src!r} loaded")
            elif kind == "sql":
                try:
                    with self.conn.transaction():
                        cur = self.conn.execute(f"SELECT * FROM ({src}) q LIMIT 0", self._sql_params())
                        if len(cur.description) != 2:
                            raise InputError(f"indicator {ind.indicator!r}: the query must return two columns "
                                             f"(unit_id, value), it returns {len(cur.description)}")
                except psycopg.Error as exc:
                    raise InputError(f"indicator {ind.indicator!r}: its SQL source fails: "
                                     f"{str(exc).strip().splitlines()[0]}") from None
            if not dropped:
                out.append(ind)
        if len(out) < 2:
            raise InputError(f"only {len(out)} indicator(s) can be computed; resilience needs at least 2")
        return out

    def _sql_params(self) -> dict:
        return {"study_area_id": self.area.study_area_id, "services_run_id": self.run or 0}


def evaluate(planner: Planner, inds: list[Indicator], units: list[int], backend: str
             ) -> tuple[np.ndarray, dict[int, str]]:
    """Raw values, counties (in ``units`` order) x indicators, NaN where a county has no value; and
    unit_id -> a note for counties that hold no pixel centre.

    County values follow the membership rule of :mod:`restore_db.grid.counties`: means,
    sums, densities and class shares count the area shares of counties that
    hold no pixel centre, their min and max are those of the pixels they
    overlap, and their landscape metrics are NaN (a landscape needs whole pixels).

    Whole-grid layers (the county raster, the land use, a layer's min/max) are read as float32 where that
    is exact (``layers.COMPACT``): 4 bytes per cell each; the landscape metrics add their class codes
    (1), zone labels (4) and int32 dense indices (4), about 15 bytes per cell at 250 m (21 with float64).
    """
    conn, area, run = planner.conn, planner.area, planner.run
    index = {u: i for i, u in enumerate(units)}
    out = np.full((len(units), len(inds)), np.nan)
    px_km2 = area.grid.pixel_area_m2 / 1e6
    cache: dict = {}

    def arrays(layer):
        if layer not in cache:
            # float32 where it is exact (the stored float32 and 16-bit layers): half the memory, the same values
            cache[layer] = read_array(conn, area, *layer, dtype=COMPACT)
        return cache[layer]

    # count and sum per county of every layer a mean, sum, density or ratio needs, in one pass
    zonal_layers = sorted({ind.layers["value"] for ind in inds
                           if ind.source_kind == "layer" and (ind.statistic or "mean") in ("mean", "sum", "density")}
                          | {ind.layers[k] for ind in inds if ind.source_kind == "ratio" for k in ("num", "den")},
                          key=lambda layer: (layer[0], layer[1] or 0))
    shares = counties.load_shares(conn, run)
    stats = counties.sums(conn, area, run, {f"v{i}": layer for i, layer in enumerate(zonal_layers)},
                          backend, shares) if zonal_layers else {}
    notes = {s.unit_id: "holds no pixel centre: landscape metrics need whole pixels; other values come from "
                        "the area shares of the pixels it overlaps" for s in shares}

    def zonal(layer):
        return stats[f"v{zonal_layers.index(layer)}"]

    def put(j, values: dict):
        for uid, v in values.items():
            if uid in index:
                out[index[uid], j] = v

    needs_grid = any(i.source_kind in ("landscape", "class_mean", "class_share") or
                     (i.source_kind == "layer" and i.statistic in ("min", "max", "range")) for i in inds)
    county = read_array(conn, area, "county", run, dtype=COMPACT) if needs_grid else None
    size = int(np.nanmax(county)) + 1 if needs_grid and np.isfinite(county).any() else 1
    metrics = sorted({i.source for i in inds if i.source_kind == "landscape"})
    if metrics:
        lulc = arrays(next(i.layers["lulc"] for i in inds if i.source_kind == "landscape"))
        per_zone = landscape.zone_metrics(lulc, county, area.grid.pixel_size, metrics)
    class_counts = None
    for j, ind in enumerate(inds):
        kind, src, stat = ind.source_kind, ind.source, ind.statistic
        if kind == "landscape":
            put(j, {u: m[src] for u, m in per_zone.items()})
        elif kind == "layer" and (stat or "mean") in ("mean", "sum", "density"):
            z = zonal(ind.layers["value"])
            if (stat or "mean") == "mean":
                put(j, {u: s / n for u, (n, s) in z.items() if n})
            elif stat == "sum":
                put(j, {u: s for u, (n, s) in z.items()})
            else:
                put(j, {u: s / (n * px_km2) for u, (n, s) in z.items() if n})
        elif kind == "layer":
            values = arrays(ind.layers["value"])
            ok = np.isfinite(values) & np.isfinite(county)
            labels = county[ok].astype(np.int64)
            ids = np.unique(labels)
            lo = dict(zip(ids.tolist(), np.atleast_1d(ndimage.minimum(values[ok], labels, ids)).tolist()))
            hi = dict(zip(ids.tolist(), np.atleast_1d(ndimage.maximum(values[ok], labels, ids)).tolist()))
            lo = {u: float(v) for u, v in lo.items()}   # Python floats: min, max and range as in float64
            hi = {u: float(v) for u, v in hi.items()}
            for sh in shares:    # a county holding no pixel centre: the pixels it overlaps
                v = float(values[sh.row, sh.col])
                if np.isfinite(v):
                    lo[sh.unit_id] = min(lo.get(sh.unit_id, v), v)
                    hi[sh.unit_id] = max(hi.get(sh.unit_id, v), v)
            res = {"min": lo, "max": hi, "range": {u: hi[u] - lo[u] for u in lo}}[stat]
            put(j, res)
        elif kind == "ratio":
            num, den = zonal(ind.layers["num"]), zonal(ind.layers["den"])
            put(j, {u: (num[u][1] / num[u][0]) / (den[u][1] / den[u][0]) for u in num
                    if u in den and num[u][0] and den[u][0] and den[u][1] != 0})
        elif kind in ("class_mean", "class_share"):
            if class_counts is None:
                lulc = arrays(ind.layers["lulc"])
                ok = np.isfinite(lulc) & np.isfinite(county)
                codes = lulc[ok].astype(np.int64)
                ncls = int(codes.max()) + 1 if codes.size else 1
                class_counts = np.bincount(county[ok].astype(np.int64) * ncls + codes,
                                           minlength=size * ncls).reshape(size, ncls).astype(float)
                if shares:   # area shares of counties holding no pixel centre, taken from the centre county
                    class_counts = _add_shares(class_counts, lulc, shares)
            coef = planner.coefficients[src]
            ncls = class_counts.shape[1]
            lut = np.full(ncls, np.nan)
            n = min(ncls, coef.size)
            lut[:n] = coef[:n]
            counts = class_counts.astype(float)
            valid = counts[:, np.isfinite(lut)]
            values = np.nan_to_num(lut[np.isfinite(lut)])
            if kind == "class_share":
                values = (values == 1).astype(float) * 100.0
            total = valid.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                res = (valid * values).sum(axis=1) / total
            put(j, {u: float(res[u]) for u in range(res.shape[0]) if total[u] > 1e-12})
        elif kind == "service":
            service, _, side = src.partition(".")
            col = SERVICE_STATS[stat or "density"]
            put(j, {u: v for u, v in conn.execute(f"SELECT unit_id, {col} FROM result.county_service WHERE run_id = %s"
                                                   " AND service = %s AND side = %s", (run, service, side)).fetchall()
                     if v is not None})
        elif kind == "county_stat":
            rows = conn.execute(
                """SELECT u.unit_id, s.value, u.area_m2 FROM src.county_stat s
                   JOIN core.admin_unit_version u ON u.code = s.code AND u.unit_id = ANY(%s)
                   WHERE s.study_area_id = %s AND s.variable = %s
                     AND s.year = (SELECT max(year) FROM src.county_stat WHERE study_area_id = %s AND variable = %s)""",
                (list(units), area.study_area_id, src, area.study_area_id, src)).fetchall()
            dens = (stat or "value") == "density"
            put(j, {u: (v / (a / 1e6) if dens else v) for u, v, a in rows if v is not None})
        elif kind == "sql":
            try:
                with conn.transaction():
                    rows = conn.execute(src, planner._sql_params()).fetchall()
            except psycopg.Error as exc:
                raise InputError(f"indicator {ind.indicator!r}: its SQL source fails: "
                                 f"{str(exc).strip().splitlines()[0]}") from None
            put(j, {int(u): float(v) for u, v in rows if v is not None})
    return out, notes


def _add_shares(class_counts: np.ndarray, lulc: np.ndarray, shares: list) -> np.ndarray:
    """Class cell counts per county (rows = unit_id) with the shares of counties holding no pixel centre."""
    need = max([s.unit_id for s in shares] + [s.centre or 0 for s in shares]) + 1
    if need > class_counts.shape[0]:
        class_counts = np.pad(class_counts, ((0, need - class_counts.shape[0]), (0, 0)))
    for s in shares:
        code = lulc[s.row, s.col]
        if not np.isfinite(code) or int(code) >= class_counts.shape[1]:
            continue
        class_counts[s.unit_id, int(code)] += s.share
        if s.centre is not None:
            class_counts[s.centre, int(code)] -= s.share
    return class_counts
