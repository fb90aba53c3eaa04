"""The pattern stage: the ecological security pattern of a services run (docs/models/pattern.md).

It reads the land use, the importance layers of the services run and the land-use coefficients ``resistance`` and
``eco_land``; computes the pattern of the grid (:func:`restore_db.stages.pattern.compose.compose`); and writes
back the layers ``importance``, ``resistance``, ``mcr`` and ``corridor`` (on the study grid; a coarser corridor grid is
repeated onto it) and the tables ``result.pattern_source``, ``pattern_corridor``, ``pattern_node`` and
``pattern_network``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import psycopg
from rasterio.transform import Affine

from restore_db.errors import InputError, SettingsError
from restore_db.grid.engine import Output, write_array
from restore_db.load.common import short_list
from restore_db.stages import base, runs
from restore_db.db import workers as tile_workers
from restore_db.stages.pattern import collaboration
from restore_db.stages.pattern import compose as pattern_compose
from restore_db.stages.pattern import resistance as resist
from restore_db.stages.pattern import sources as src
from restore_db.store import layers
from restore_db.store.layers import input_checksums

COEFFICIENTS = ["resistance", "eco_land"]
LAYERS = (Output("importance", "1", "ecosystem-service importance, min-max scaled services, equal weights"),
          Output("resistance", "1", "ecological resistance (land-use base, corrected, floor 1; nodata impassable)"),
          Output("mcr", "cost-weighted m", "minimum cumulative resistance from the nearest source"),
          Output("corridor", "cost-weighted m", "NLCC of the least-cost corridors (minimum over pairs)"))
CIRCUIT_LAYERS = (Output("current", "A", "cumulative current of the sources (circuit theory, pattern.circuit_mode)"),
                  Output("corridor_current", "A", "current of each corridor's own circuit truncated at its cutoff "
                         "(largest over the corridors; pinch points carry pattern.pinch_min_current or more)"),
                  Output("barrier", "1", "barrier score: the largest fall of a corridor's LCD per metre of restored "
                         "window (McRae et al. 2012), 0 where restoring helps no corridor"))
HQ = "habitat_quality"      # an importance layer the pattern computes itself (InVEST Habitat Quality)
HQ_LAYERS = (Output(HQ, "1", "habitat quality (InVEST Habitat Quality 3.20), 0-1"),
             Output("habitat_degradation", "1", "habitat degradation (InVEST Habitat Quality 3.20)"))


class PatternStage(base.Stage):
    """Ecological sources, resistance, least-cost corridors, nodes and network measures of a services run."""

    name = "pattern"
    title = "Ecological security pattern"
    settings_key = "pattern"
    optional = True          # an area without resistance coefficients or importance layers still gets its zoning
    upstream = ("zoning", "services")
    inputs = (base.Input("layer", "lulc", "land use (source layer)"),
              base.Input("layer", "importance layers", "layers of the services run (pattern.importance_layers)"),
              base.Input("param_set", "hq_sensitivity", "habitat quality: sensitivity, threats and threat layers "
                         "(`load invest` of a habitat_quality datastack), when pattern.importance_layers names "
                         "habitat_quality"),
              base.Input("layer", "ndvi", "for pattern.correction = 'ndvi'"),
              base.Input("layer", "population, slope", "of the services run, for pattern.correction = 'population' "
                         "or 'slope'"),
              base.Input("param_set", "land-use parameters", "coefficients resistance and eco_land (--params)"))
    outputs = (*(base.Output("layer", o.name, o.unit, o.description) for o in LAYERS),
               *(base.Output("layer", o.name, o.unit, o.description + "; when pattern.circuit is true")
                 for o in CIRCUIT_LAYERS),
               *(base.Output("layer", o.name, o.unit, o.description + "; when pattern.importance_layers names it")
                 for o in HQ_LAYERS),
               base.Output("table", "result.pattern_source", "m2, %", "sources: area, resistance, importance, dPC"),
               base.Output("table", "result.pattern_corridor", "cost-weighted m, m",
                           "corridors: LCD, length, ratios, gravity G"),
               base.Output("table", "result.pattern_node", None, "intersection, ridge, barrier and pinch nodes"),
               base.Output("table", "result.pattern_task", "1 per km2", "restoration tasks ranked by the connectivity "
                           "gained per km2, with their counties and collaboration units"),
               base.Output("table", "result.pattern_network", "1", "PC, alpha, beta, gamma"))

    def resolve(self, ctx: base.Context, given: dict[str, int | None]) -> dict[str, int]:
        """The zoning run whose counties the collaboration uses, and the services run it read (which holds the
        importance layers): those given, else the newest zoning run of a services run with the importance layers."""
        conn, area = ctx.conn, ctx.area
        zoning, services = given.get("zoning"), given.get("services")
        of_services = """AND EXISTS (SELECT 1 FROM core.run_input i WHERE i.run_id = r.run_id AND i.stage = 'services'
                                     AND i.input_run_id = %s)"""
        if zoning is not None:
            runs.require(conn, area, zoning, "zoning")
            read = runs.input_run(conn, zoning, "services")
            if services is not None and runs.require(conn, area, services, "services") != read:
                raise InputError(f"pattern: zoning run {zoning} read services run {read}, not {services}: give one "
                                 "of them, or runs that belong together")
            return {"zoning": zoning, "services": read}
        if services is not None:
            runs.require(conn, area, services, "services")
            zoning = runs.latest(conn, area, "zoning", of_services, (services,))
            if zoning is None:
                raise InputError(f"pattern: services run {services} has no zoning run (the collaboration needs the "
                                 "counties' zones and ratios): run `restore-db compute zoning` first")
            return {"zoning": zoning, "services": services}
        needed = [n for n in ctx.cfg["pattern"]["importance_layers"] if n != HQ]
        zoning = runs.latest(conn, area, "zoning",
                             """AND (SELECT count(DISTINCT l.name) FROM core.run_input i
                                     JOIN core.layer l ON l.run_id = i.input_run_id
                                     WHERE i.run_id = r.run_id AND i.stage = 'services' AND l.name = ANY(%s)) = %s""",
                             (needed, len(needed)))
        if zoning is None:
            raise InputError(f"pattern: study area {area.name!r} has no zoning run of a services run with the layers "
                             f"{short_list(needed)} (pattern.importance_layers): run `restore-db compute all`")
        return {"zoning": zoning, "services": runs.input_run(conn, zoning, "services")}

    def check(self, ctx: base.Context, planned_layers: set[str], upstream: dict[str, int]) -> None:
        services_run = upstream.get("services")
        _core_method(ctx.cfg["pattern"]["mspa"])
        _corridor_grid(ctx)
        _layers_available(ctx, services_run, planned_layers)
        _coefficients(ctx, _param_set(ctx, services_run))
        if HQ in ctx.cfg["pattern"]["importance_layers"]:
            _habitat_inputs(ctx)

    def plan(self, ctx: base.Context, upstream: dict[str, int]) -> base.Plan:
        conn, area = ctx.conn, ctx.area
        cfg = {**ctx.cfg["pattern"], "mspa": _core_method(ctx.cfg["pattern"]["mspa"])}   # the method used
        services_run, zoning_run = upstream["services"], upstream["zoning"]
        _corridor_grid(ctx)
        _layers_available(ctx, services_run, set())
        param_set = _param_set(ctx, services_run)
        _coefficients(ctx, param_set)
        sources = ["lulc"] + (["ndvi"] if cfg["correction"] == "ndvi" else [])
        factor = cfg["correction"]
        if factor in ("population", "slope") and _factor_run(conn, area, factor, services_run) is None:
            sources.append(factor)        # the source layer stands in for the services' one
        hq = _habitat_inputs(ctx) if HQ in cfg["importance_layers"] else None
        sets = [param_set] + ([hq.param_set, hq.scalar_set] if hq else [])
        inputs = input_checksums(conn, area, sources + (sorted(hq.layers.values()) if hq else []), sets)
        produced = ([o.name for o in LAYERS] + ([o.name for o in HQ_LAYERS] if hq else [])
                    + ([o.name for o in CIRCUIT_LAYERS] if cfg["circuit"] else []))

        prepared: list[_Inputs] = []

        def precheck() -> None:      # the whole pattern: whatever it refuses leaves no run behind
            inputs = _prepare(conn, area, cfg, services_run, param_set, hq)
            prepared.append((inputs, _pattern(cfg, inputs, area.grid.pixel_size)))

        def run(run_id: int) -> base.Result:
            return _compute(conn, area, cfg, *prepared[0], zoning_run, run_id)

        return base.Plan({"pattern": cfg, "_params": param_set}, inputs, run,
                         identity={"pattern": cfg}, layers=frozenset(produced), precheck=precheck)


def _core_method(setting: str) -> str:
    """The MSPA Core method a run uses: ``auto`` resolved by what is installed; ``mspa`` without it is refused."""
    if setting == "auto":
        return "mspa" if src.mspa_available() else "erosion"
    if setting == "mspa" and not src.mspa_available():
        raise SettingsError(f"pattern: pattern.mspa = 'mspa' needs the JRC's MSPA: {src.MSPA_INSTALL}")
    return setting


def _corridor_grid(ctx: base.Context) -> None:
    """A corridor grid of at least 3 x 3 cells (SettingsError naming pattern.corridor_factor otherwise)."""
    grid, f = ctx.area.grid, int(ctx.cfg["pattern"]["corridor_factor"])
    rows, cols = -(-grid.height // f), -(-grid.width // f)
    if min(rows, cols) < 3:
        raise SettingsError(f"pattern: pattern.corridor_factor = {f} makes a corridor grid of {rows} x {cols} cells of "
                         f"{grid.pixel_size * f:g} m, coarser than the study area ({grid.height} x {grid.width} cells)"
                         "; use a smaller factor")


def _layers_available(ctx: base.Context, services_run: int | None, planned: set[str]) -> None:
    conn, area, cfg = ctx.conn, ctx.area, ctx.cfg["pattern"]
    missing = []
    if not layers.has_layer(conn, area, "lulc"):
        missing.append("lulc (source layer)")
    if cfg["correction"] == "ndvi" and not layers.has_layer(conn, area, "ndvi"):
        missing.append("ndvi (source layer, pattern.correction = 'ndvi')")
    if cfg["correction"] in ("population", "slope"):
        name = cfg["correction"]
        held = layers.has_layer(conn, area, name) or (
            name in planned if services_run is None else layers.has_layer(conn, area, name, services_run))
        if not held:
            missing.append(f"{name} (of the services or a source layer, pattern.correction = {name!r})")
    for name in (n for n in cfg["importance_layers"] if n != HQ):
        held = name in planned if services_run is None else layers.has_layer(conn, area, name, services_run)
        if not held:
            where = "the services" if services_run is None else f"services run {services_run}"
            missing.append(f"{name} (of {where})")
    if missing:
        raise InputError(f"pattern: study area {area.name!r} lacks {short_list(missing)}")


def _habitat_inputs(ctx: base.Context):
    """The habitat-quality inputs (``habitat.read_inputs``); InputError when none is loaded."""
    from restore_db.stages.pattern import habitat

    try:
        found = habitat.read_inputs(ctx.conn, ctx.area)
    except InputError as exc:
        raise InputError(f"pattern: {exc}") from None
    if found is None:
        raise InputError(f"pattern: pattern.importance_layers names {HQ} but study area {ctx.area.name!r} has no "
                         "habitat-quality inputs: load an InVEST habitat_quality datastack (`restore-db load invest`)")
    return found


def _param_set(ctx: base.Context, services_run: int | None) -> str:
    from restore_db.stages.services.common import choose_lulc_set

    preferred = list(ctx.option("params") or [])
    if services_run is not None:
        (params,) = ctx.conn.execute("SELECT params FROM core.run WHERE run_id = %s", (services_run,)).fetchone()
        preferred += list((params or {}).get("_params", []))
    try:
        return choose_lulc_set(ctx.conn, ctx.area, COEFFICIENTS, preferred)
    except InputError as exc:
        raise InputError(f"pattern: {exc}") from None


def _coefficients(ctx: base.Context, param_set: str) -> dict[str, np.ndarray]:
    """``resistance`` and ``eco_land`` by class code; every class of the land use must have both (InputError)."""
    from restore_db.stages.services.common import lookup_table

    try:
        tables = lookup_table(ctx.conn, ctx.area, param_set, COEFFICIENTS)
    except InputError as exc:
        raise InputError(f"pattern: {exc}") from None
    r = tables["resistance"]
    bad = np.flatnonzero(np.isfinite(r) & (r <= 0))
    if len(bad):
        raise InputError(f"pattern: land-use class {int(bad[0])} has a resistance of {r[bad[0]]:g} (parameter set "
                         f"{param_set!r}, coefficient resistance): resistance must be > 0 (a cell of no resistance "
                         "would be a short circuit)" + (f"; {len(bad) - 1} more class(es) too" if len(bad) > 1 else ""))
    return tables


@dataclass
class _Inputs:
    """The arrays of a pattern run, read and checked before the run is recorded."""

    resistance: np.ndarray
    importance: np.ndarray
    foreground: np.ndarray
    settings: pattern_compose.PatternSettings
    warnings: list[str]
    habitat: dict[str, np.ndarray]      # habitat_quality and habitat_degradation on the study grid, when computed


def _factor_run(conn: psycopg.Connection, area, name: str, services_run: int) -> int | None:
    """Where a correction factor is read: the services run when it holds the layer, else (None) the source layer."""
    return services_run if layers.has_layer(conn, area, name, services_run) else None


def _corrected(conn: psycopg.Connection, area, correction: str, base_r: np.ndarray, lulc: np.ndarray,
               services_run: int) -> np.ndarray:
    """The base resistance corrected by one factor relative to the mean of the cell's class (domain practice; see
    docs/models/pattern.md#resistance-surface): ``ndvi`` inversely (greener than its class resists less);
    ``population`` directly (human pressure: persons per cell, the layer of the services run, else the source
    layer); ``slope`` directly with the factor 1 + slope in degrees (steeper than its class resists more; flat land
    keeps a factor; likewise the services' layer, else a source layer)."""
    if correction == "ndvi":
        return resist.correct_by_factor(base_r, lulc, layers.read_array(conn, area, "ndvi"), "inverse")
    factor = layers.read_array(conn, area, correction, _factor_run(conn, area, correction, services_run))
    if correction == "slope":
        factor = 1.0 + factor
    return resist.correct_by_factor(base_r, lulc, factor, "direct")


def _prepare(conn: psycopg.Connection, area, cfg: dict, services_run: int, param_set: str, hq) -> _Inputs:
    """Read the land use, coefficients and importance layers; refuse (InputError) land use missing inside the
    counties (unless pattern.resistance_nodata = 'impassable') and fewer than two sources."""
    from restore_db.grid import counties
    from restore_db.stages.services.common import lookup_table

    warnings: list[str] = []
    lulc = layers.read_array(conn, area, "lulc")
    tables = lookup_table(conn, area, param_set, COEFFICIENTS)     # checked in the plan
    codes = np.where(np.isfinite(lulc), lulc, 0).astype(np.int64)
    base_r = np.where(np.isfinite(lulc), tables["resistance"][codes], np.nan)
    if cfg["correction"] != "none":
        base_r = _corrected(conn, area, cfg["correction"], base_r, lulc, services_run)
    inside = counties.rasterize(conn, area).ids > 0
    holes = inside & ~np.isfinite(base_r)
    if holes.any():
        row, col = (int(v) for v in np.argwhere(holes)[0])
        what = (f"{int(holes.sum())} cell(s) inside the counties have no land use, hence no resistance (the first at "
                f"row {row}, column {col} of the study grid)")
        if cfg["resistance_nodata"] == "error":
            raise InputError(f"pattern: {what}: fill the land use, or set pattern.resistance_nodata = 'impassable'")
        warnings.append(f"pattern: {what}: impassable (pattern.resistance_nodata = 'impassable')")
    if cfg["extent"] == "counties":      # the pattern of the region: cells outside every county are impassable
        base_r = np.where(inside, base_r, np.nan)
    r = resist.finish(base_r)
    foreground = np.isfinite(lulc) & (np.where(np.isfinite(lulc), tables["eco_land"][codes], 0.0) == 1.0)
    extra: dict[str, np.ndarray] = {}
    if hq is not None:
        from restore_db.stages.pattern import habitat

        extra["habitat_degradation"], extra[HQ] = habitat.compute(conn, area, lulc, hq)
    services = {name: extra[name] if name == HQ else layers.read_array(conn, area, name, services_run)
                for name in cfg["importance_layers"]}
    if cfg["importance_weighting"] == "entropy":
        weights = src.entropy_weights(services)
    elif cfg["importance_weighting"] == "manual":
        weights = dict(zip(cfg["importance_layers"], cfg["importance_weights"]))
    else:
        weights = None
    importance = src.importance(services, weights)
    if weights is not None:
        warnings.append("pattern: importance weights " + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()))
    settings = pattern_compose.PatternSettings(
        corridor_factor=int(cfg["corridor_factor"]), importance_share=cfg["importance_share"],
        edge_width_m=cfg["edge_width_m"], min_source_area_m2=cfg["min_source_area_m2"],
        corridor_width=cfg["corridor_width"], barrier_resistance=cfg["barrier_resistance"],
        d50=cfg["d50"] or None, max_lcd=cfg["max_lcd"] or None, important_method=cfg["important_method"],
        important_gravity=cfg["important_gravity"], core_method=cfg["mspa"], processes=tile_workers.processes(conn),
        min_dpc=cfg["min_dpc"], max_sources=int(cfg["max_sources"]), source_rule=cfg["source_rule"],
        top_classes=int(cfg["top_classes"]), circuit=_circuit_step(cfg) if cfg["circuit"] else None)
    return _Inputs(r, importance, foreground, settings, warnings, extra)


def _circuit_step(cfg: dict) -> pattern_compose.CircuitStep:
    from restore_db.stages.pattern import circuit as cc

    return pattern_compose.CircuitStep(
        circuit=cc.CircuitSettings(connect=cfg["circuit_connect"], neighbours=int(cfg["circuit_neighbours"]),
                                   solver=cfg["circuit_solver"], direct_max_nodes=int(cfg["circuit_direct_max_cells"])),
        mode=cfg["circuit_mode"], factor=int(cfg["circuit_factor"]), max_cells=int(cfg["circuit_max_cells"]),
        pinch_min_current=cfg["pinch_min_current"], pinch_degraded=cfg["pinch_degraded_resistance"],
        barrier_diameters_m=tuple(float(d) for d in cfg["barrier_diameters_m"]), restored=cfg["restored_resistance"],
        barrier_min_share=cfg["barrier_min_share"], segment_resistance=cfg["segment_resistance"])


def _pattern(cfg: dict, inputs: _Inputs, cell: float):
    """The pattern of the prepared arrays; InputError when it has fewer than two sources (none found, one, or fewer
    than two kept by dPC) or a source is isolated from the others (the circuit step), SettingsError when the circuit
    is too large for the direct solver asked for."""
    from restore_db.stages.pattern import circuit as cc

    try:
        result = pattern_compose.compose(inputs.resistance, inputs.importance, inputs.foreground, cell,
                                         inputs.settings)
    except cc.CircuitTooLarge as exc:
        raise SettingsError(f"pattern: {exc}") from None
    except cc.CircuitError as exc:
        raise InputError(f"pattern: {exc}") from None
    areas = sorted(result.source_area_m2.values(), reverse=True)
    if len(areas) >= 2:
        return result
    if result.dropped:
        raise InputError(f"pattern: {len(areas)} source(s) left by pattern.min_dpc = {cfg['min_dpc']:g} and "
                         f"pattern.max_sources = {cfg['max_sources']} of {len(areas) + result.dropped} candidates, "
                         "and corridors join two; lower pattern.min_dpc")
    found = ("no ecological source" if not areas else
             f"a single ecological source ({areas[0] / 1e6:.1f} km2), and corridors join two")
    rule = (f"pattern.importance_share = {cfg['importance_share']:g} of the importance"
            if cfg["source_rule"] == "top_share" else f"the top pattern.top_classes = {cfg['top_classes']} classes")
    raise InputError(f"pattern: {found}: no patch of MSPA core among the cells holding {rule} reaches "
                     f"pattern.min_source_area_m2 = {cfg['min_source_area_m2']:g}" + (" apart from it" if areas else "")
                     + "; raise the share or lower the area")


def _compute(conn: psycopg.Connection, area, cfg: dict, inputs: _Inputs, result, zoning_run: int,
             run_id: int) -> base.Result:
    grid = area.grid
    warnings = list(inputs.warnings)
    importance, settings = inputs.importance, inputs.settings
    n_sources = len(result.source_area_m2)
    if not result.corridors:
        warnings.append(f"pattern: {n_sources} sources but no corridor (no two sources are neighbours, or barriers "
                        "or pattern.max_lcd separate them)")
    else:
        joined = {c.a for c in result.corridors} | {c.b for c in result.corridors}
        alone = sorted(set(result.source_area_m2) - joined)
        if alone:
            warnings.append(f"pattern: source(s) {short_list(alone)} have no corridor")
    f = settings.corridor_factor

    def study(a: np.ndarray) -> np.ndarray:
        up = np.repeat(np.repeat(np.asarray(a, dtype=np.float64), f, axis=0), f, axis=1)
        return up[:grid.height, :grid.width]

    mean_importance = pattern_compose.block_mean(importance, f)
    arrays = {"importance": importance, "resistance": study(np.where(np.isinf(result.resistance), np.nan,
                                                                        result.resistance)),
              "mcr": study(np.where(np.isfinite(result.mcr), result.mcr, np.nan)),
              "corridor": study(np.where(np.isfinite(result.corridor), result.corridor, np.nan))}
    for output in LAYERS:
        write_array(conn, area, run_id, output, arrays[output.name])
    for output in HQ_LAYERS:
        if output.name in inputs.habitat:
            write_array(conn, area, run_id, output, inputs.habitat[output.name])
    if result.current is not None:
        circuit_arrays = {"current": result.current, "corridor_current": result.corridor_current,
                          "barrier": np.where(np.isfinite(result.resistance), result.barrier, np.nan)}
        for output in CIRCUIT_LAYERS:
            write_array(conn, area, run_id, output, study(circuit_arrays[output.name]))
        warnings += result.circuit_warnings
        if max(cfg["barrier_diameters_m"]) < 2 * result.cell:
            warnings.append(f"pattern: pattern.barrier_diameters_m are all below two corridor cells "
                            f"({2 * result.cell:g} m): a window of one cell never shortens a corridor, so no barrier "
                            "can be found; give larger diameters")
        apart = [i for i, c in enumerate(result.corridors, start=1) if not math.isfinite(c.effective_resistance)]
        if apart:
            warnings.append(f"pattern: corridor(s) {short_list(apart)} join sources that the current map does not "
                            f"join (not connected with {cfg['circuit_neighbours']} neighbours, or left out of it): "
                            "no effective resistance, no current along them")
        broken = [i for i, c in enumerate(result.corridors, start=1) if not math.isfinite(c.corridor_resistance)]
        if broken:
            warnings.append(f"pattern: corridor(s) {short_list(broken)} do not join their two sources within their "
                            "cutoff (pattern.corridor_width) for the circuit: no corridor resistance, no pinch point")
    _write_records(conn, area, run_id, result, mean_importance)
    together = collaboration.collaborate(conn, run_id, zoning_run, collaboration.CollaborationSettings(
        method=cfg["collaboration_method"], min_link_weight=cfg["min_link_weight"],
        weight_corridor=cfg["weight_corridor"], weight_source=cfg["weight_source"],
        weight_complement=cfg["weight_complement"], boundary_tolerance_m=cfg["boundary_tolerance_m"],
        min_shared_boundary_m=cfg["min_shared_boundary_m"]))
    circuit = None
    if result.current is not None:
        (joint,) = conn.execute("SELECT result.pattern_place_tasks(%s)", (run_id,)).fetchone()
        kinds = {k: sum(1 for t in result.tasks if t.kind == k) for k in ("restore_barrier", "protect_pinch",
                                                                          "restore_segment")}
        circuit = {"mode": cfg["circuit_mode"], "solver": result.current_solver,
                   "current_cell_m": result.cell * result.current_factor, "pinch_areas": kinds["protect_pinch"],
                   "barrier_areas": kinds["restore_barrier"], "segments": kinds["restore_segment"],
                   "tasks": len(result.tasks), "joint_tasks": joint}
    important = sum(1 for c in result.corridors if c.important)
    summary = {"sources": n_sources, "corridors": len(result.corridors), "important_corridors": important,
               "nodes": {k: sum(1 for n in result.nodes if n.kind == k)
                         for k in ("intersection", "ridge", "barrier", "pinch")},
               "cell_m": result.cell, "indices": {k: _num(v) for k, v in result.indices.items()},
               "pc": _num(result.pc), "iic": _num(result.iic), "sources_left_out": result.dropped,
               "collaboration": together, "circuit": circuit, "warnings": warnings}
    return base.Result(summary, warnings, timings={"steps": result.seconds})


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _write_records(conn: psycopg.Connection, area, run_id: int, result, mean_importance: np.ndarray) -> None:
    """Sources (polygons of their cells), corridors (lines through cell centres) and their areas (polygons of their
    cells), nodes and the network row."""
    from rasterio import features
    from shapely.geometry import LineString, Point, shape

    grid = area.grid
    cell = result.cell
    transform = Affine(cell, 0.0, grid.origin_x, 0.0, -cell, grid.origin_y)

    def centre(row: int, col: int) -> tuple[float, float]:
        return grid.origin_x + (col + 0.5) * cell, grid.origin_y - (row + 0.5) * cell

    polygons: dict[int, list] = {}
    labels = result.sources.astype(np.int32)
    # 4-connected shapes: a patch joined at a corner becomes parts touching at a point (a valid MultiPolygon)
    for geom, value in features.shapes(labels, mask=labels > 0, transform=transform, connectivity=4):
        polygons.setdefault(int(value), []).append(shape(geom))
    with conn.cursor() as cur:
        for sid, area_m2 in result.source_area_m2.items():
            multi = _multipolygon(polygons[sid])
            cells = int((labels == sid).sum())
            imp = mean_importance[labels == sid]
            cur.execute(
                """INSERT INTO result.pattern_source (run_id, source_id, area_m2, cells, mean_resistance, importance,
                       dpc, diic, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, %s))""",
                (run_id, sid, area_m2, cells, result.source_resistance[sid],
                 _num(float(np.nanmean(imp))) if np.isfinite(imp).any() else None, _num(result.dpc.get(sid)),
                 _num(result.diic.get(sid)), multi.wkb, grid.srid))
        for i, c in enumerate(result.corridors, start=1):
            pts = [centre(int(r), int(k)) for r, k in c.path.cells]
            line = LineString(pts if len(pts) > 1 else pts * 2)
            cur.execute(
                """INSERT INTO result.pattern_corridor (run_id, corridor_id, source_a, source_b, lcd, length_m,
                       cwd_to_path_ratio, cwd_to_euc_ratio, gravity, important, geom, effective_resistance,
                       corridor_resistance, current_mean, current_peak)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, %s), %s, %s, %s, %s)""",
                (run_id, i, c.a, c.b, c.path.lcd, c.path.length_m, _num(c.path.cwd_to_path_ratio),
                 _num(c.cwd_to_euc_ratio), _num(c.gravity), c.important, line.wkb, grid.srid,
                 _num(c.effective_resistance), _num(c.corridor_resistance), _num(c.current_mean),
                 _num(c.current_peak)))
        owner = result.corridor_owner.astype(np.int32)
        areas: dict[int, list] = {}
        for geom, value in features.shapes(owner, mask=owner > 0, transform=transform, connectivity=4):
            areas.setdefault(int(value), []).append(shape(geom))
        for cid, parts in sorted(areas.items()):
            multi = _multipolygon(parts)
            cells = int((owner == cid).sum())
            cur.execute("""INSERT INTO result.pattern_corridor_area (run_id, corridor_id, cells, area_m2, geom)
                           VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, %s))""",
                        (run_id, cid, cells, cells * cell * cell, multi.wkb, grid.srid))
        for i, n in enumerate(result.nodes, start=1):
            cur.execute("""INSERT INTO result.pattern_node (run_id, node_id, kind, corridors, geom)
                           VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, %s))""",
                        (run_id, i, n.kind, [k + 1 for k in n.corridors], Point(centre(n.row, n.col)).wkb,
                         grid.srid))
        for t in result.tasks:
            multi = _cells_polygon(t.cells, transform)
            cur.execute(
                """INSERT INTO result.pattern_task (run_id, task_id, kind, corridor_id, rank, gain, gain_unit,
                       gain_share, area_m2, priority, cells, diameter_m, current_max, current_mean, resistance_rise,
                       geom)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, %s))""",
                (run_id, t.rank, t.kind, t.corridor, t.rank, t.gain, t.gain_unit, _num(t.gain_share), t.area_m2,
                 _num(t.priority), len(t.cells), t.detail.get("diameter_m"), _num(t.detail.get("current_max")),
                 _num(t.detail.get("current_mean")), _num(t.detail.get("resistance_rise")), multi.wkb, grid.srid))
        ind = result.indices
        cur.execute("""INSERT INTO result.pattern_network (run_id, cell_m, sources, corridors, important_corridors,
                           pc, alpha, beta, gamma, iic) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (run_id, cell, len(result.source_area_m2), len(result.corridors),
                     sum(1 for c in result.corridors if c.important), _num(result.pc), _num(ind.get("alpha")),
                     _num(ind.get("beta")), _num(ind.get("gamma")), _num(result.iic)))


def _cells_polygon(cells: np.ndarray, transform: Affine):
    """The cells (n, 2) of the corridor grid as one MultiPolygon (4-connected parts), polygonised over their bounding
    box only."""
    from rasterio import features
    from shapely.geometry import shape

    cells = np.asarray(cells).reshape(-1, 2)
    r0, c0 = cells.min(axis=0)
    mask = np.zeros(tuple(cells.max(axis=0) - [r0, c0] + 1), dtype=np.uint8)
    mask[cells[:, 0] - r0, cells[:, 1] - c0] = 1
    local = transform @ Affine.translation(int(c0), int(r0))
    return _multipolygon([shape(g) for g, _ in features.shapes(mask, mask=mask > 0, transform=local,
                                                                 connectivity=4)])


def _multipolygon(parts: list):
    """The union of polygon parts as one MultiPolygon (a single polygon wrapped)."""
    from shapely.geometry import MultiPolygon
    from shapely.ops import unary_union

    merged = unary_union(parts)
    return merged if merged.geom_type == "MultiPolygon" else MultiPolygon([merged])
