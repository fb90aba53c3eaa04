"""Analysis settings: the shipped defaults (``data/analysis.toml``) with a
user's TOML file merged over them.

Every (project decision) choice of the ratios, resilience and zoning stages is a key
here. A user file holds only the keys it changes; an unknown key, a wrong type
or a value outside its choices is an :class:`InputError` naming the key, raised
before anything is computed. The resolved settings of a stage are stored with
its run (``core.run.params``), so the run can be repeated and compared.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from pathlib import Path

from restore_db.errors import InputError
from restore_db.resources import package_data
from restore_db.stages.services import NAMES

SERVICES = NAMES   # the one list of the services

# key path -> allowed values (for string settings chosen from a list)
CHOICES = {
    "ratios.basis": ("density", "total"),
    "ratios.scaling": ("auto", "raw", "minmax"),
    "ratios.cesd.method": ("equal", "weighted"),
    "ratios.classes.method": ("natural_breaks", "quantiles", "equal_interval", "fixed"),
    "ratios.matching.method": ("zscore", "median"),
    "ratios.matching.combined": ("mean_normalised", "majority"),
    "resilience.weighting": ("entropy", "critic", "ahp", "equal", "manual", "combined"),
    "resilience.class_method": ("mean", "median", "natural_breaks"),
    "resilience.levels_method": ("natural_breaks", "quantiles", "equal_interval"),
    "resilience.combined.subjective": ("ahp", "manual"),
    "resilience.combined.objective": ("entropy", "critic"),
    "resilience.combined.method": ("additive", "multiplicative"),
    "zoning.smoothing": ("none", "rook", "queen"),
    "resilience.missing": ("median", "null"),
    "pattern.correction": ("none", "ndvi", "population", "slope"),
    "pattern.resistance_nodata": ("error", "impassable"),
    "pattern.collaboration_method": ("louvain", "components"),
    "pattern.important_method": ("natural_breaks", "mean", "median"),
    "pattern.mspa": ("auto", "mspa", "erosion"),
    "pattern.importance_weighting": ("equal", "entropy", "manual"),
    "pattern.source_rule": ("top_share", "natural_breaks"),
    "pattern.extent": ("counties", "grid"),
    "pattern.circuit_mode": ("pairwise", "all_to_one"),
    "pattern.circuit_connect": ("average_conductance", "average_resistance"),
    "pattern.circuit_solver": ("auto", "direct", "cg+amg"),
}
# keys whose value is a free-form table (their own keys are checked by the stage)
FREE_TABLES = {"ratios.cesd.weights", "zoning.merge"}


def defaults() -> dict:
    with package_data("analysis.toml").open("rb") as fh:
        return tomllib.load(fh)


def _merge(base: dict, user: dict, path: str, source: str) -> None:
    for key, value in user.items():
        where = f"{path}.{key}" if path else key
        if key not in base:
            raise InputError(f"{source}: unknown setting {where!r}; known here: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and where not in FREE_TABLES:
            if not isinstance(value, dict):
                raise InputError(f"{source}: setting {where!r} must be a table")
            _merge(base[key], value, where, source)
            continue
        expected = type(base[key])
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int)
                                             and not isinstance(value, bool))
        if isinstance(value, bool) != isinstance(base[key], bool):
            ok = False
        if not ok:
            raise InputError(f"{source}: setting {where!r} must be of type {expected.__name__}, got {value!r}")
        base[key] = float(value) if expected is float else value


def _check(cfg: dict, source: str) -> None:
    for where, allowed in CHOICES.items():
        node = cfg
        for part in where.split("."):
            node = node[part]
        if node not in allowed:
            raise InputError(f"{source}: setting {where!r} = {node!r}; choose from {', '.join(allowed)}")
    r = cfg["ratios"]
    bad = [s for s in r["services"] if s not in SERVICES]
    if bad or not r["services"] or len(set(r["services"])) != len(r["services"]):
        raise InputError(f"{source}: ratios.services must list distinct services of {', '.join(SERVICES)}; "
                         f"got {r['services']!r}")
    c = r["classes"]
    if c["k"] < 1 or c["k"] > 9:
        raise InputError(f"{source}: ratios.classes.k must be between 1 and 9, got {c['k']}")
    if c["eps"] < 0:
        raise InputError(f"{source}: ratios.classes.eps must be >= 0, got {c['eps']}")
    if c["method"] == "fixed":
        for side in ("deficit", "surplus"):
            t = c[f"{side}_thresholds"]
            if len(t) != c["k"] - 1 or any(b <= a for a, b in zip(t, t[1:])) or any(x <= 0 for x in t):
                raise InputError(f"{source}: ratios.classes.{side}_thresholds must hold k - 1 = {c['k'] - 1} "
                                 f"increasing positive magnitudes for method 'fixed'; got {t!r}")
    if c["sample"] < 100:
        raise InputError(f"{source}: ratios.classes.sample must be at least 100, got {c['sample']}")
    if r["cesd"]["method"] == "weighted":
        w = r["cesd"]["weights"]
        missing = [s for s in r["services"] if s not in w]
        extra = [s for s in w if s not in r["services"]]
        if missing or extra:
            raise InputError(f"{source}: ratios.cesd.weights needs one weight per service of ratios.services; "
                             f"missing {missing or 'none'}, not in ratios.services {extra or 'none'}")
        if any(not isinstance(v, (int, float)) or v < 0 for v in w.values()):
            raise InputError(f"{source}: ratios.cesd.weights must be non-negative numbers; got {w!r}")
        total = sum(w.values())
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"{source}: ratios.cesd.weights must sum to 1; they sum to {total:.6g}")
    comb = cfg["resilience"]["combined"]
    if not 0.0 <= comb["alpha"] <= 1.0:
        raise InputError(f"{source}: resilience.combined.alpha must be within [0, 1], got {comb['alpha']}")
    if cfg["resilience"]["entropy_shift"] <= 0:
        raise InputError(f"{source}: resilience.entropy_shift must be > 0")
    if not 0.0 <= cfg["resilience"]["max_missing_share"] < 1.0:
        raise InputError(f"{source}: resilience.max_missing_share must be within [0, 1), "
                         f"got {cfg['resilience']['max_missing_share']}")
    z = cfg["zoning"]
    if z["min_counties"] < 0:
        raise InputError(f"{source}: zoning.min_counties must be >= 0")
    u = z["unclassified"]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", u["code"]):    # a zone code such as LH-L has a '-'
        raise InputError(f"{source}: zoning.unclassified.code must be a word of letters, digits and underscores "
                         f"(not a zone code such as LH-L); got {u['code']!r}")
    for key in ("display_code", "name_en", "strategy_name", "strategy"):
        if not u[key].strip():
            raise InputError(f"{source}: zoning.unclassified.{key} must not be empty")
    p = cfg["pattern"]
    for key in ("importance_share", "corridor_width"):
        if not math.isfinite(p[key]):
            raise InputError(f"{source}: pattern.{key} must be a finite number, got {p[key]}")
    layers = p["importance_layers"]
    if not layers or len(set(layers)) != len(layers) or not all(isinstance(x, str) and x for x in layers):
        raise InputError(f"{source}: pattern.importance_layers must list distinct layer names; got {layers!r}")
    if not 0.0 < p["importance_share"] <= 1.0:
        raise InputError(f"{source}: pattern.importance_share must be within (0, 1], got {p['importance_share']}")
    if not 0.0 < p["corridor_width"] <= 10.0:
        raise InputError(f"{source}: pattern.corridor_width must be within (0, 10], got {p['corridor_width']}")
    if p["corridor_factor"] < 1 or p["corridor_factor"] > 64:
        raise InputError(f"{source}: pattern.corridor_factor must be between 1 and 64, got {p['corridor_factor']}")
    for key in ("importance_share", "corridor_width", "edge_width_m", "min_source_area_m2", "barrier_resistance",
                "d50", "max_lcd"):
        if not math.isfinite(p[key]) or p[key] < 0:
            raise InputError(f"{source}: pattern.{key} must be a finite number >= 0, got {p[key]}")
    for key in ("weight_corridor", "weight_source", "weight_complement", "boundary_tolerance_m", "important_gravity",
                "min_shared_boundary_m"):
        if not math.isfinite(p[key]) or p[key] < 0:
            raise InputError(f"{source}: pattern.{key} must be a finite number >= 0, got {p[key]}")
    if p["weight_corridor"] + p["weight_source"] + p["weight_complement"] <= 0:
        raise InputError(f"{source}: pattern.weight_corridor, weight_source and weight_complement must not all be 0")
    if p["importance_weighting"] == "manual":
        w = p["importance_weights"]
        if (len(w) != len(layers) or not all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in w)
                or abs(sum(w) - 1.0) > 1e-6):
            raise InputError(f"{source}: pattern.importance_weights must give one weight >= 0 per layer of "
                             f"pattern.importance_layers ({len(layers)}), summing to 1; got {w!r}")
    if not 1 <= p["top_classes"] <= 4:
        raise InputError(f"{source}: pattern.top_classes must be between 1 and 4 (of 5 classes), got {p['top_classes']}")
    if not (math.isfinite(p["min_dpc"]) and 0.0 <= p["min_dpc"] <= 100.0):
        raise InputError(f"{source}: pattern.min_dpc must be within [0, 100] (%), got {p['min_dpc']}")
    if p["max_sources"] < 0 or p["max_sources"] == 1:
        raise InputError(f"{source}: pattern.max_sources must be 0 (no limit) or at least 2, got {p['max_sources']}")
    if not 0.0 <= p["min_link_weight"] < 1.0:
        raise InputError(f"{source}: pattern.min_link_weight must be within [0, 1), got {p['min_link_weight']}")
    if p["edge_width_m"] <= 0:
        raise InputError(f"{source}: pattern.edge_width_m must be > 0 (metres of MSPA edge), got {p['edge_width_m']}")
    if p["barrier_resistance"] < 1:
        raise InputError(f"{source}: pattern.barrier_resistance must be >= 1 (the resistance floor), "
                         f"got {p['barrier_resistance']}")
    if p["circuit_neighbours"] not in (4, 8):
        raise InputError(f"{source}: pattern.circuit_neighbours must be 4 or 8, got {p['circuit_neighbours']}")
    if not 0 <= p["circuit_factor"] <= 64:
        raise InputError(f"{source}: pattern.circuit_factor must be between 0 (automatic) and 64, "
                         f"got {p['circuit_factor']}")
    for key in ("circuit_max_cells", "circuit_direct_max_cells"):
        if p[key] < 1000:
            raise InputError(f"{source}: pattern.{key} must be at least 1000 cells, got {p[key]}")
    if not 0.0 < p["pinch_min_current"] <= 1.0:
        raise InputError(f"{source}: pattern.pinch_min_current must be within (0, 1] (A of the pair's 1 A), "
                         f"got {p['pinch_min_current']}")
    for key in ("restored_resistance", "pinch_degraded_resistance", "segment_resistance"):
        if not (math.isfinite(p[key]) and p[key] >= 1):
            raise InputError(f"{source}: pattern.{key} must be a finite number >= 1 (the resistance floor), "
                             f"got {p[key]}")
    d = p["barrier_diameters_m"]
    if not d or not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in d):
        raise InputError(f"{source}: pattern.barrier_diameters_m must list window diameters > 0 (m), got {d!r}")
    if not 0.0 < p["barrier_min_share"] < 1.0:
        raise InputError(f"{source}: pattern.barrier_min_share must be within (0, 1), got {p['barrier_min_share']}")
    for a, b in z["merge"].items():
        for code in (a, b):
            if not isinstance(code, str) or not re.fullmatch(r"(HH|LH|LL|HL)-(H|L)", code):
                raise InputError(f"{source}: zoning.merge: {code!r} is not a zone code like 'LH-L'")


def load(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Defaults, merged with the TOML file ``path`` and then ``overrides`` (a dict of the same shape).

    Args:
        path: a TOML file (UTF-8, as TOML requires) holding the keys that change, or None.
        overrides: settings of the same shape, merged last.
    Returns:
        The resolved settings.
    Raises:
        InputError: the file is missing, unreadable, not UTF-8 or not TOML; a key is unknown, of the
        wrong type or outside its choices (naming the file and the key).
    """
    cfg = defaults()
    if path is not None:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise InputError(f"settings file not found: {p}") from None
        except OSError as exc:
            raise InputError(f"cannot read settings file {p}: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8-sig")     # a byte-order mark, as Windows editors write, is dropped
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise InputError(f"{p}: not UTF-8 text (a TOML file must be UTF-8): byte 0x{data[exc.start]:02x} "
                             f"on line {line}; save it as UTF-8") from None
        try:
            user = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{p}: not valid TOML: {exc}") from None
        _merge(cfg, user, "", str(p))
    if overrides:
        _merge(cfg, copy.deepcopy(overrides), "", "settings")
    _check(cfg, str(path) if path else "settings")
    return cfg
