"""What the services share: the planning context, steps, lookups, allocation and county sums.

A service module exposes ``plan(ctx) -> Plan``. Planning reads and checks
every parameter, statistic and layer the service needs (so bad input fails
before any computation) and returns:

* ``steps``: tile kernels (:class:`Step`) and whole-grid steps
  (:class:`GridStep`) in dependency order; an input names a layer computed
  by an earlier step of the run, or else a source layer;
* ``aggregates``: the layers summed per county for the supply and the demand;
* ``record``: the parameter values (with their sources) stored with the run.

The orchestrator (:mod:`restore_db.stages.services.stage`) runs shared steps once (for
example the population grid feeds four demands, and identical tile kernels
are merged into one pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg

from restore_db.grid import counties
from restore_db.grid.engine import Output, pixel_values, write_array, zonal_stats
from restore_db.store.layers import has_layer
from restore_db.errors import InputError
from restore_db.load.common import short_list
from restore_db.load.params import lulc_codes_in_layer
from restore_db.grid.studyarea import StudyArea


@dataclass
class Step:
    """A tile kernel: ``params`` is a dict, or a callable ``(ctx, run_id) -> dict`` evaluated when it runs."""
    kernel: str
    inputs: dict[str, str]
    outputs: list[Output]
    params: dict | Callable = field(default_factory=dict)
    halo: bool = False


@dataclass
class GridStep:
    """A whole-grid step: ``fn(ctx, run_id)`` stores the layers named in ``outputs`` in the run, or
    returns {output: run_id} for outputs it reuses from an earlier run."""
    name: str
    fn: Callable
    outputs: list[str]
    inputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Aggregate:
    """County sum of ``layer``: total = scale x sum of pixel values, in ``unit``."""
    side: str
    layer: str
    unit: str
    scale: float


@dataclass
class Plan:
    steps: list
    aggregates: list[Aggregate]
    record: dict
    layers: list[str] = field(default_factory=list)   # source layers read (checksummed in the run)


class Context:
    """What planning needs: the connection, study area and the parameter choices of the run."""

    def __init__(self, conn: psycopg.Connection, area: StudyArea, lulc_sets: str | list[str] | None = None,
                 scalars: str | None = None, stats_year: int | None = None,
                 sides: tuple[str, ...] = ("supply", "demand")):
        self.conn = conn
        self.sides = tuple(sides)
        self.area = area
        self.preferred_lulc_sets = [lulc_sets] if isinstance(lulc_sets, str) else list(lulc_sets or [])
        known = {r[0] for r in conn.execute("SELECT name FROM param.param_set WHERE study_area_id = %s AND kind = 'lulc'",
                                            (area.study_area_id,)).fetchall()}
        unknown = [p for p in self.preferred_lulc_sets if p not in known]
        if unknown:
            raise InputError(f"study area {area.name!r} has no land-use parameter set {short_list(unknown)} "
                             f"(loaded: {short_list(sorted(known)) if known else 'none'})")
        if scalars is not None:
            sets = [r[0] for r in conn.execute(
                "SELECT name FROM param.param_set WHERE study_area_id = %s AND kind = 'scalar' ORDER BY name",
                (area.study_area_id,)).fetchall()]
            if scalars not in sets:
                raise InputError(f"study area {area.name!r} has no scalar parameter set {scalars!r} (--scalars; "
                                 f"loaded: {short_list(sets) if sets else 'none'})")
        self.scalar_set = scalars
        self.stats_year = stats_year
        self.param_sets: set[str] = set()
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.backend = "client"   # set by the orchestrator once the engine is chosen
        # set by the county raster step: which county each pixel counts for (restore_db.grid.counties)
        self.membership: counties.Membership | None = None
        # unit_id -> why the county's values of a layer may be missing (e.g. no statistic)
        self.county_reasons: dict[int, list[str]] = {}
        # allocated layer -> counties without the statistic (nothing derived from the layer has a value there)
        self.void: dict[str, set[int]] = {}
        # layer -> the layers it is computed from in this run (set by the orchestrator)
        self.upstream: dict[str, set[str]] = {}
        self.service: str | None = None            # the service being planned
        self.used: dict[str, set[str]] = {}        # service -> parameter sets it reads

    def codes(self, unit_ids) -> list[str]:
        """Administrative codes of counties, in code order."""
        return sorted(counties.codes(self.conn, unit_ids).values())

    def wants(self, side: str) -> bool:
        return side in self.sides

    # -- layers -----------------------------------------------------------
    def has(self, layer: str) -> bool:
        return has_layer(self.conn, self.area, layer)

    def require(self, *layers: str) -> None:
        missing = [l for l in layers if not self.has(l)]
        if missing:
            raise InputError(f"study area {self.area.name!r} has no layer {short_list(missing)}; load it first")

    @property
    def pixel_area_m2(self) -> float:
        return self.area.grid.pixel_area_m2

    # -- parameters -------------------------------------------------------
    def lulc_set(self, needed: list[str]) -> str:
        """The land-use parameter set holding every coefficient in ``needed`` (:func:`choose_lulc_set`
        with the ``--params`` preference); the choice is recorded for the run."""
        name = choose_lulc_set(self.conn, self.area, needed, self.preferred_lulc_sets)
        self.param_sets.add(name)
        if self.service:
            self.used.setdefault(self.service, set()).add(name)
        return name

    def lookups(self, coefficients: list[str], optional: tuple[str, ...] = ()) -> dict[str, list]:
        """Lookup lists (index = class code, None = no value) of land-use coefficients.

        Every class of the land-use layer needs a value of each required
        coefficient (docs/models/conventions.md#nodata); ``optional`` ones may have gaps.
        """
        name = self.lulc_set(list(coefficients))
        out = lookup_table(self.conn, self.area, name, list(coefficients))
        for coef in optional:
            try:
                out.update(lookup_table(self.conn, self.area, name, [coef], allow_gaps=True))
            except InputError:
                pass
        return {k: [None if np.isnan(v) else float(v) for v in arr] for k, arr in out.items()}

    def scalar(self, name: str) -> tuple[float, str]:
        value, source, set_name = scalar_row(self.conn, self.area, name, self.scalar_set)
        if set_name:
            self.param_sets.add(set_name)   # checksummed with the run's inputs
            if self.service:
                self.used.setdefault(self.service, set()).add(set_name)
        return value, source

    def scalar_or_none(self, name: str) -> tuple[float, str] | tuple[None, None]:
        try:
            return self.scalar(name)
        except InputError:
            return None, None

    def county_stat(self, variable: str) -> tuple[dict[int, float], int] | tuple[None, None]:
        """{unit_id: value} of a county statistic for the chosen (default: newest) year, and the year;
        (None, None) when the statistic is not loaded. Raises InputError when the year chosen with --year has
        no county value of a statistic loaded for other years (the service would silently change method)."""
        year = self.stats_year
        if year is None:
            row = self.conn.execute(
                "SELECT max(year) FROM src.county_stat WHERE study_area_id = %s AND variable = %s",
                (self.area.study_area_id, variable)).fetchone()
            year = row[0]
        if year is None:
            return None, None
        rows = self.conn.execute(
            """SELECT u.unit_id, s.value FROM src.county_stat s
               JOIN core.admin_unit u ON u.study_area_id = s.study_area_id AND u.code = s.code AND u.level = 'county'
               WHERE s.study_area_id = %s AND s.variable = %s AND s.year = %s AND s.value IS NOT NULL""",
            (self.area.study_area_id, variable, year)).fetchall()
        if not rows:
            if self.stats_year is not None:
                years = [r[0] for r in self.conn.execute(
                    "SELECT DISTINCT year FROM src.county_stat WHERE study_area_id = %s AND variable = %s "
                    "AND value IS NOT NULL ORDER BY 1", (self.area.study_area_id, variable)).fetchall()]
                if years:
                    raise InputError(f"county statistic {variable!r} has no county value for --year {year} "
                                     f"(years loaded: {short_list(years)})")
            return None, None
        negative = [uid for uid, v in rows if v < 0]
        if negative:
            raise InputError(f"county statistic {variable!r} ({year}) is negative for {len(negative)} county(ies)")
        return {uid: float(v) for uid, v in rows}, year


def choose_lulc_set(conn: psycopg.Connection, area: StudyArea, needed: list[str], preferred: list[str]) -> str:
    """The land-use parameter set that holds every coefficient in ``needed``: the one rule of every stage.

    The first of ``preferred`` (``--params``, in order) that holds them all;
    otherwise the only loaded set that does. Raises :class:`InputError` when no
    set holds them, or when several do and none is preferred: the message names
    the candidates and the ``--params`` to pass.
    """
    rows = [r[0] for r in conn.execute(
        """SELECT p.name FROM param.param_set p JOIN param.lulc_value v USING (param_set_id)
           WHERE p.study_area_id = %s AND p.kind = 'lulc' AND v.coefficient = ANY(%s)
           GROUP BY p.name HAVING count(DISTINCT v.coefficient) = %s ORDER BY p.name""",
        (area.study_area_id, needed, len(needed))).fetchall()]
    chosen = [p for p in preferred if p in rows]
    if chosen:
        return chosen[0]
    if not rows:
        raise InputError(f"study area {area.name!r} has no land-use parameter table with "
                         f"{short_list(needed)}; load one with `load params`")
    if len(rows) > 1:
        raise InputError(f"several land-use parameter tables hold {short_list(needed)} ({short_list(rows)}): "
                         f"pass {' or '.join(f'--params {r}' for r in rows)}")
    return rows[0]


def lookup_table(conn: psycopg.Connection, area: StudyArea, param_set: str, coefficients: list[str],
                 lulc_layer: str = "lulc", allow_gaps: bool = False) -> dict[str, np.ndarray]:
    """Coefficient arrays indexed by land-use code (NaN for codes without a value).

    Fails before any computation when the set is missing, a coefficient column is
    absent, or (unless ``allow_gaps``) a class present in the land-use layer has
    no value (docs/models/conventions.md#nodata).
    """
    row = conn.execute("SELECT param_set_id, kind FROM param.param_set WHERE study_area_id = %s AND name = %s",
                       (area.study_area_id, param_set)).fetchone()
    if row is None:
        raise InputError(f"study area {area.name!r} has no parameter set {param_set!r}; load it with `load params`")
    if row[1] != "lulc":
        raise InputError(f"parameter set {param_set!r} is not a land-use lookup table")
    values = conn.execute("SELECT lucode, coefficient, value FROM param.lulc_value WHERE param_set_id = %s",
                          (row[0],)).fetchall()
    present = lulc_codes_in_layer(conn, area, lulc_layer)
    if present is None:
        raise InputError(f"study area {area.name!r} has no land-use layer {lulc_layer!r}")
    if min(present + [0]) < 0:
        raise InputError(f"layer {lulc_layer!r} has negative class codes; lookup tables need codes >= 0")
    size = max([v[0] for v in values] + present + [0]) + 1
    out = {}
    for coef in coefficients:
        lut = np.full(size, np.nan)
        for code, name, value in values:
            if name == coef and value is not None:
                lut[code] = value
        missing = [c for c in present if np.isnan(lut[c])]
        if np.isnan(lut).all():
            raise InputError(f"parameter set {param_set!r} has no column {coef!r}")
        if missing and not allow_gaps:
            raise InputError(f"parameter set {param_set!r}: {coef!r} has no value for land-use class(es) "
                             f"{short_list(missing)} present in layer {lulc_layer!r}")
        out[coef] = lut
    return out


def scalar(conn: psycopg.Connection, area: StudyArea, name: str, param_set: str | None = None) -> tuple[float, str]:
    """A scalar parameter and its source: from ``param_set`` when given, else the newest set defining it, else the default."""
    return scalar_row(conn, area, name, param_set)[:2]


def scalar_row(conn: psycopg.Connection, area: StudyArea, name: str,
               param_set: str | None = None) -> tuple[float, str, str | None]:
    """(value, source, parameter set or None for the catalogue default) of a scalar parameter."""
    q = """SELECT s.value, s.source, p.name FROM param.scalar s JOIN param.param_set p USING (param_set_id)
           WHERE p.study_area_id = %s AND s.name = %s AND (%s::text IS NULL OR p.name = %s)
           ORDER BY p.loaded_at DESC, p.param_set_id DESC LIMIT 1"""
    row = conn.execute(q, (area.study_area_id, name, param_set, param_set)).fetchone()
    if row:
        return float(row[0]), f"parameter set {row[2]}" + (f": {row[1]}" if row[1] else ""), row[2]
    row = conn.execute("SELECT default_value, reference FROM param.scalar_def WHERE name = %s", (name,)).fetchone()
    if row is None or row[0] is None:
        where = f" in parameter set {param_set!r}" if param_set else ""
        raise InputError(f"no value for parameter {name!r}{where}: load a scalar table that defines it")
    return float(row[0]), f"default ({row[1]})", None


# ---------------------------------------------------------------------------
# whole-grid steps shared by the services
# ---------------------------------------------------------------------------

COUNTY = Output("county", "id", "county (core.admin_unit.unit_id) of each pixel, pixel-centre rule")


def county_raster(ctx: Context, run_id: int) -> None:
    """Rasterize the counties on the grid into layer ``county`` and record the shares of the
    counties that hold no pixel centre (:mod:`restore_db.grid.counties`, docs/models/aggregation.md)."""
    membership = counties.rasterize(ctx.conn, ctx.area)
    if not membership.centres:
        raise InputError(f"study area {ctx.area.name!r} has no counties; load boundaries first")
    # float32, the stored type (int32 ids round to float32 as they would through float64): 4 bytes per cell
    arr = membership.ids.astype(np.float32)
    arr[membership.ids == 0] = np.nan
    write_array(ctx.conn, ctx.area, run_id, COUNTY, arr)
    del arr
    counties.store_shares(ctx.conn, run_id, membership.shares)
    ctx.membership = membership
    small = sorted({s.unit_id for s in membership.shares})
    if small:
        ctx.warnings.append(
            f"county(ies) {short_list(ctx.codes(small))} hold no pixel centre of the {ctx.area.grid.pixel_size:g} m "
            f"grid: they count the area shares of the {len(membership.shares)} pixel(s) they overlap")
    outside = sorted(u for u, n in membership.centres.items() if n == 0 and u not in small)
    if outside:
        ctx.warnings.append(f"county(ies) {short_list(ctx.codes(outside))} overlap no pixel of the grid: "
                            "their values are NULL")
        for uid in outside:
            ctx.county_reasons.setdefault(uid, []).append("overlaps no pixel of the study grid")


COUNTY_STEP = GridStep("county raster", county_raster, ["county"])


def allocation_factor(ctx: Context, run_id: int, totals: dict[int, float], weight_layer: str,
                      what: str, missing: float | None = None) -> list:
    """Per-county factor total / weight sum for :func:`catalog.allocate` (index = unit_id).

    Over the counties holding pixel centres (pixel-centre rule); counties
    holding none are placed by :func:`share_additions`. A county with a
    positive total but no weight (nothing to allocate to) is a data
    inconsistency: it is reported, and its total is not allocated. A county of
    the boundaries without a total gets ``missing``: None (its pixels are
    nodata, and ``ctx.county_reasons`` says why) or 0.0 (an optional term, such
    as a water-use sector, counts as absent); either way it is reported.
    """
    sums = zonal_stats(ctx.conn, ctx.area, ("county", run_id), {"w": (weight_layer, run_id)}, ctx.backend)["w"]
    size = max(list(totals) + list(sums) + list(ctx.membership.centres) + [0]) + 1
    factor: list = [None] * size
    lost = []
    small = {s.unit_id for s in ctx.membership.shares}
    absent = sorted(uid for uid in ctx.membership.centres if uid not in totals)
    if absent:
        effect = "its pixels are nodata" if missing is None else f"counted as {missing:g}"
        ctx.warnings.append(f"{what}: county(ies) {short_list(ctx.codes(absent))} have no statistic ({effect})")
        if missing is None:
            for uid in absent:
                ctx.county_reasons.setdefault(uid, []).append(f"no county statistic for {what}")
    for uid in range(size):
        total = totals.get(uid)
        if total is None:
            factor[uid] = missing
            continue
        w = sums.get(uid, (0, 0.0))[1]
        if w > 0:
            factor[uid] = total / w
        else:
            factor[uid] = 0.0
            if total > 0 and uid not in small:
                lost.append(uid)
    if lost:
        ctx.warnings.append(f"{what}: county(ies) {short_list(ctx.codes(lost))} have a positive total but no pixel to "
                            "allocate it to (no weight); their total is not allocated")
    return factor


def share_additions(ctx: Context, run_id: int, totals: dict[int, float], factor: list, weight_layer: str,
                    what: str) -> dict[str, list]:
    """Where the totals of counties holding no pixel centre go: ``{str(tile_id): [[row, col, value], ...]}``
    (row and col inside the tile), the ``_add`` of the ``allocate`` kernel (kernels.tiles.TileRunner).

    A county with total T and shares s_p of pixels p of weight w_p adds
    T x s_p w_p / sum(s w) to each pixel, on top of the allocation of the
    county holding its centre, so the layer's total equals the sum of the
    statistics (docs/models/aggregation.md). A pixel whose weight is nodata, or
    whose centre county has no statistic (the pixel stays nodata), takes
    nothing; a total that cannot be placed is reported.
    """
    shares = [s for s in ctx.membership.shares if s.unit_id in totals]
    if not shares:
        return {}
    pixels = sorted({(s.row, s.col) for s in shares})
    w = dict(zip(pixels, pixel_values(ctx.conn, ctx.area, (weight_layer, run_id), pixels)))
    usable = [s for s in shares if np.isfinite(w[(s.row, s.col)])
              and (s.centre is None or (s.centre < len(factor) and factor[s.centre] is not None))]
    weight_sum: dict[int, float] = {}
    for s in usable:
        weight_sum[s.unit_id] = weight_sum.get(s.unit_id, 0.0) + s.share * w[(s.row, s.col)]
    added: dict[tuple[int, int], float] = {}
    for s in usable:
        if weight_sum[s.unit_id] > 0:
            key = (s.row, s.col)
            added[key] = added.get(key, 0.0) + totals[s.unit_id] * s.share * w[key] / weight_sum[s.unit_id]
    lost = sorted({s.unit_id for s in shares if weight_sum.get(s.unit_id, 0.0) <= 0 and totals[s.unit_id] > 0})
    if lost:
        ctx.warnings.append(f"{what}: county(ies) {short_list(ctx.codes(lost))} hold no pixel centre and the pixels "
                            "they overlap take no allocation (no weight, or nodata); their total is not allocated")
    out: dict[str, list] = {}
    for (row, col), value in sorted(added.items()):
        tile_id, r, c = ctx.area.grid.place(row, col)
        out.setdefault(str(tile_id), []).append([r, c, value])
    return out


def allocation_step(totals: dict[int, float], weight_layer: str, output: Output, what: str,
                    missing: float | None = None) -> Step:
    """The tile kernel ``allocate`` of county ``totals`` over ``weight_layer`` into ``output``
    (dasymetric allocation, docs/models/food.md#method-a-grain-output-allocated-by-ndvi, docs/models/food.md#demand, docs/models/water-yield.md#demand-water-use), counties smaller than a pixel included.

    With ``missing`` None, the counties without a total are recorded in
    ``ctx.void[output]``: what is derived from ``output`` has no value for them.
    """
    def params(ctx: Context, run_id: int) -> dict:
        factor = allocation_factor(ctx, run_id, totals, weight_layer, what, missing)
        if missing is None:
            ctx.void[output.name] = {u for u in ctx.membership.centres if u not in totals}
        add = share_additions(ctx, run_id, totals, factor, weight_layer, what)
        return {"output": output.name, "factor": factor, **({"_add": {output.name: add}} if add else {})}

    return Step("allocate", {"county": "county", "weight": weight_layer}, [output], params)


def population_plan(ctx: Context) -> tuple[list, str, dict]:
    """Steps giving the per-pixel population (persons/pixel) and its provenance.

    The ``population`` source layer when loaded; otherwise the county
    statistic ``population`` allocated to pixels by the land-use weight
    ``pop_weight`` (dasymetric mapping, docs/models/food.md#demand).
    """
    if ctx.has("population"):
        return [], "population", {"population": "layer population (persons per pixel)"}
    totals, year = ctx.county_stat("population")
    if totals is None:
        raise InputError(f"study area {ctx.area.name!r} has neither a population layer nor a county statistic "
                         "'population': load one of them for the demand side")
    weights = ctx.lookups(["pop_weight"])
    steps = [
        COUNTY_STEP,
        Step("class_values", {"lulc": "lulc"}, [Output("pop_weight", "1", "dasymetric population weight of the class")],
             {"tables": {"pop_weight": weights["pop_weight"]}}),
        allocation_step(totals, "pop_weight", Output("population", "persons",
                                                     "county population allocated by land-use weight"), "population"),
    ]
    return steps, "population", {"population": f"county statistic population {year} allocated by pop_weight"}


def population_demand(ctx: Context, output: Output, extra_inputs: dict[str, str] | None = None) -> tuple[list, dict]:
    """Steps giving a population-driven demand layer (kernel ``demand``) and the population's provenance.

    ``extra_inputs`` are layers the kernel adds (the water-use sectors); the
    steps producing them must come earlier in the plan.
    """
    pop_steps, pop_layer, record = population_plan(ctx)
    step = Step("demand", {"population": pop_layer, **(extra_inputs or {})}, [output], demand_params(ctx))
    return [*pop_steps, step], record


def demand_params(ctx: Context) -> dict:
    """Parameters of the shared population-demand kernel (one pass gives all four demands)."""
    return {"c_food": ctx.scalar("c_food")[0], "e_pc_co2": ctx.scalar("e_pc_co2")[0],
            "q_dom": ctx.scalar("q_dom")[0], "pixel_area_m2": ctx.pixel_area_m2}


def source_layers(ctx: Context, *layers: str) -> list[str]:
    """The source layers among ``layers`` (for the run's input checksums)."""
    return [l for l in layers if ctx.has(l)]


def county_sums(ctx: Context, run_id: int, service: str, aggregates: list[Aggregate]) -> dict[str, int]:
    """Sum supply and demand layers per county into ``result.county_service``; {side: counties with a value}.

    Pixel by pixel over the county raster with the shares of counties holding
    no pixel centre (:func:`restore_db.grid.counties.sums`): total = scale x sum,
    mean = share-weighted pixel mean, density = total / valid area (km2).
    Nodata pixels are skipped (docs/models/conventions.md#nodata, docs/models/aggregation.md#which-county-a-pixel-counts-for). Every county of the
    boundaries gets a row: one without a valid pixel has NULL values and a
    ``null_reason``, and the run records a warning naming it.
    """
    if ctx.membership is None:
        raise RuntimeError("county sums need the county raster step of the run")
    shares = ctx.membership.shares
    stats = counties.sums(ctx.conn, ctx.area, run_id, {a.side: (a.layer, run_id) for a in aggregates},
                          ctx.backend, shares)
    px_km2 = ctx.pixel_area_m2 / 1e6
    centres = ctx.membership.centres
    small = {s.unit_id for s in shares}
    out = {}
    stored = []
    for agg in aggregates:
        rows, empty = [], {}
        # counties without a statistic the layer derives from: a county holding no pixel centre would
        # otherwise take its neighbours' values through its shares
        void = set().union(*(ctx.void.get(layer, set()) for layer in ctx.upstream.get(agg.layer, set()) | {agg.layer}))
        for uid in sorted(centres):
            if uid in stats[agg.side] and not (uid in small and uid in void):
                n, total = stats[agg.side][uid]
                rows.append((run_id, uid, service, agg.side, agg.layer, total * agg.scale, agg.unit, total / n,
                             total * agg.scale / (n * px_km2), n, None))
                continue
            why = list(ctx.county_reasons.get(uid, []))
            if uid in small and uid in void:
                pass
            elif uid in small:
                why.append(f"holds no pixel centre and the pixels it overlaps have no value of layer {agg.layer!r}")
            elif centres[uid]:
                why.append(f"none of its {centres[uid]} pixels has a value of layer {agg.layer!r}")
            reason = "; ".join(why) or f"no value of layer {agg.layer!r}"
            empty.setdefault(reason, []).append(uid)
            rows.append((run_id, uid, service, agg.side, agg.layer, None, agg.unit, None, None, 0.0, reason))
        for reason, uids in empty.items():
            ctx.warnings.append(f"{service} {agg.side}: county(ies) {short_list(ctx.codes(uids))} have no value "
                                f"(NULL): {reason}")
        stored += rows
        out[agg.side] = len(rows) - sum(len(u) for u in empty.values())
    insert_county_service(ctx.conn, stored)
    return out


def insert_county_service(conn: psycopg.Connection, rows: list[tuple]) -> None:
    """Store rows of ``result.county_service`` (run_id, unit_id, service, side, layer, total, unit, mean,
    density_km2, valid_cells, null_reason) in one statement: one array per column, unnested."""
    if not rows:
        return
    run, unit_id, service, side, layer, total, unit, mean, density, cells, reason = map(list, zip(*rows))

    def real(values: list) -> list:
        return [None if v is None else float(v) for v in values]

    conn.execute(
        """INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, mean, density_km2,
               valid_cells, null_reason)
           SELECT * FROM unnest(%s::integer[], %s::integer[], %s::text[], %s::text[], %s::text[],
                                %s::double precision[], %s::text[], %s::double precision[], %s::double precision[],
                                %s::double precision[], %s::text[])""",
        (run, unit_id, service, side, layer, real(total), unit, real(mean), real(density), real(cells), reason))
