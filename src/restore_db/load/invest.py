"""Import an InVEST parameter set ("datastack" JSON) unchanged.

Supported models: annual_water_yield, carbon, sdr and habitat_quality. Both the
current format (``{"model_id": ..., "args": {...}}``) and the older one
(``{"model_name": "natcap.invest.<model>", "args": {...}}``) are read; paths
are relative to the JSON file's folder. Rasters become layers of the study
area (created from the LULC raster's grid when it does not exist yet), tables
become parameter sets, numeric arguments become scalars, and watersheds
become zone sets. Every layer and set follows the reload rule of
:mod:`restore_db.load.common`: one already loaded with the same content (a
raster from the same file with the same options, a table from the same file,
the same scalar values, the same zones) is kept, so several datastacks sharing
inputs can be imported; one loaded with other content is an error naming it
unless ``--replace``.

Habitat quality (InVEST 3.20, docs/models/pattern.md#habitat-quality): the
current land use (``lulc_cur_path``) is layer ``lulc``; the sensitivity table
and the threats table together are the land-use parameter set
``hq_sensitivity`` (coefficient ``habitat`` in ``param.lulc_value``, the
threats in ``param.threat``, the sensitivity of each class to each threat in
``param.threat_sensitivity``); each threat raster (``cur_path``, relative to
the threats table's folder, values 0..1) is the continuous layer
``threat_<name>`` (the threat name itself when it starts with ``threat_``),
warped with nearest neighbour as InVEST aligns it; ``half_saturation_constant``
is the scalar ``hq_half_saturation`` of set ``invest_habitat_quality``. Column
names and threat names are read case-insensitively and in lower case, as
InVEST reads them; sensitivity columns that are not threats of the threats
table are ignored, as InVEST ignores them. A future or baseline land use and
an access vector are refused (not supported yet).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg
import rasterio
from rasterio.errors import RasterioError

from restore_db.errors import InputError
from restore_db.grid import studyarea
from restore_db.grid.studyarea import LAYER_NAME_RE, StudyArea
from restore_db.load.boundaries import load_zones
from restore_db.load.common import existing_file, lock_name, must_load, sha256, short_list
from restore_db.load.params import (DESCRIPTIVE, check_classes_cover_layer, insert_scalars, load_params,
                                    read_csv)
from restore_db.load.raster import load_raster

# arg -> (layer name, kind, unit)
RASTERS = {
    "annual_water_yield": {
        "lulc_path": ("lulc", "categorical", "class"),
        "precipitation_path": ("precipitation", "continuous", "mm/yr"),
        "eto_path": ("eto", "continuous", "mm/yr"),
        "depth_to_root_rest_layer_path": ("soil_depth", "continuous", "mm"),
        "pawc_path": ("pawc", "continuous", "fraction"),
    },
    "carbon": {
        "lulc_bas_path": ("lulc", "categorical", "class"),
        "lulc_cur_path": ("lulc", "categorical", "class"),
        "lulc_alt_path": ("lulc_alt", "categorical", "class"),
        "lulc_fut_path": ("lulc_alt", "categorical", "class"),
    },
    "sdr": {
        "lulc_path": ("lulc", "categorical", "class"),
        "dem_path": ("dem", "continuous", "m"),
        "erosivity_path": ("erosivity", "continuous", "MJ*mm/(ha*h*yr)"),
        "erodibility_path": ("erodibility", "continuous", "t*ha*h/(ha*MJ*mm)"),
    },
    "habitat_quality": {
        "lulc_cur_path": ("lulc", "categorical", "class"),
    },
}
TABLES = {
    "annual_water_yield": {"biophysical_table_path": "awy_biophysical"},
    "carbon": {"carbon_pools_path": "carbon_pools"},
    "sdr": {"biophysical_table_path": "sdr_biophysical"},
    "habitat_quality": {},   # the sensitivity and threats tables are read together: _load_habitat_quality
}
SCALARS = {
    "annual_water_yield": {"seasonality_constant": "seasonality_z"},
    "carbon": {"price_per_metric_ton_of_c": "carbon_price", "discount_rate": "discount_rate",
               "rate_change": "rate_change", "lulc_bas_year": "lulc_bas_year", "lulc_alt_year": "lulc_alt_year"},
    "sdr": {"threshold_flow_accumulation": "threshold_flow_accumulation", "k_param": "sdr_k",
            "ic_0_param": "sdr_ic0", "sdr_max": "sdr_max", "l_max": "l_max"},
    "habitat_quality": {"half_saturation_constant": "hq_half_saturation"},
}
# arguments a model must have (besides its land use), and those restore-db refuses (not supported yet)
REQUIRED = {"habitat_quality": ("threats_table_path", "sensitivity_table_path", "half_saturation_constant")}
UNSUPPORTED = {
    "habitat_quality": {
        "lulc_fut_path": "restore-db computes the habitat quality of the current land use (lulc_cur_path) only",
        "lulc_bas_path": "restore-db computes the habitat quality of the current land use (lulc_cur_path) only, "
                         "without rarity",
        "access_vector_path": "restore-db computes habitat quality with access 1 everywhere",
    },
}
HQ_SET = "hq_sensitivity"
HQ_THREAT_COLUMNS = ("threat", "max_dist", "weight", "decay", "cur_path")
HQ_SENSITIVITY_OWN = ("lucode", "name", "habitat")   # columns of the sensitivity table that are not threats
HQ_DECAYS = ("linear", "exponential")
ZONES = {"watersheds_path": ("watersheds", "ws_id"), "sub_watersheds_path": ("sub_watersheds", "subws_id"),
         "aoi_path": ("aoi", None)}
LULC_ARGS = ("lulc_path", "lulc_bas_path", "lulc_cur_path")


@dataclass
class InvestImport:
    """What an import wrote (layers, param_sets, zone_sets) and what it kept, already loaded the same (kept_*)."""

    model: str
    study_area: str
    created_area: bool
    layers: list[str] = field(default_factory=list)
    kept_layers: list[str] = field(default_factory=list)
    param_sets: list[str] = field(default_factory=list)
    zone_sets: list[str] = field(default_factory=list)
    kept_param_sets: list[str] = field(default_factory=list)
    kept_zone_sets: list[str] = field(default_factory=list)


def read_datastack(path: Path) -> tuple[str, dict]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON parameter set: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("args"), dict):
        raise InputError(f"{path}: not an InVEST parameter set (no 'args' object)")
    model = doc.get("model_id") or doc.get("model_name") or ""
    model = str(model).rsplit(".", 1)[-1]
    if model not in RASTERS:
        raise InputError(f"{path}: InVEST model {model or '(none)'!r} is not supported; "
                         f"restore-db imports {', '.join(sorted(RASTERS))}")
    return model, doc["args"]


def _arg_path(base: Path, value) -> Path | None:
    if value in (None, ""):
        return None
    p = Path(str(value))
    return p if p.is_absolute() else base / p


def import_datastack(conn: psycopg.Connection, path: str | Path, area_name: str, pixel_size: float | None = None,
                     replace: bool = False, encoding: str | None = None) -> InvestImport:
    """Load the rasters, tables, scalar arguments and watersheds of an InVEST datastack into study area
    ``area_name`` (created on the grid of the land-use raster when new); ``encoding``: the text encoding of a
    watershed shapefile that declares none. A habitat_quality datastack also gives its threats, threat rasters
    and sensitivity table (module docstring).

    Each layer, parameter set and zone set follows the reload rule (module docstring): the same content is
    kept, other content is replaced only with ``replace``. Returns an :class:`InvestImport`. Raises
    :class:`InputError` naming the argument at fault (a missing or unsupported argument, a bad file, table
    column, threat or value), and naming the layer or set loaded with other content without ``replace``."""
    path = existing_file(path, "InVEST parameter set")
    model, args = read_datastack(path)
    base = path.parent
    for arg, reason in UNSUPPORTED.get(model, {}).items():
        if args.get(arg) not in (None, ""):
            raise InputError(f"{path}: {arg} is not supported yet ({reason}); remove it from the parameter set")
    missing = [arg for arg in REQUIRED.get(model, ()) if args.get(arg) in (None, "")]
    if missing:
        raise InputError(f"{path}: InVEST {model} needs the argument(s) {', '.join(missing)}")
    lulc_arg = next((a for a in LULC_ARGS if args.get(a)), None)
    if lulc_arg is None:
        raise InputError(f"{path}: no land-use raster argument ({', '.join(LULC_ARGS)})")
    lulc_path = existing_file(_arg_path(base, args[lulc_arg]), f"{lulc_arg} of {path.name}:")
    created = False
    exists = conn.execute("SELECT 1 FROM core.study_area WHERE name = %s", (area_name,)).fetchone()
    if not exists:
        _create_area_from_raster(conn, area_name, lulc_path, pixel_size)
        created = True
    area = studyarea.get(conn, area_name)
    result = InvestImport(model, area.name, created)
    given: dict[str, tuple[str, Path]] = {}  # layer -> (argument, file) of this datastack
    for arg, (layer, kind, unit) in RASTERS[model].items():
        file = _arg_path(base, args.get(arg))
        if file is None:
            continue
        file = existing_file(file, f"{arg} of {path.name}:")
        if layer in given:
            first_arg, first_file = given[layer]
            if sha256(first_file) != sha256(file):
                raise InputError(f"{path}: {first_arg} and {arg} are both layer {layer!r} but name different files "
                                 f"({first_file.name}, {file.name}); keep one of them")
            continue
        given[layer] = (arg, file)
        info = load_raster(conn, area, layer, file, kind, unit, replace=replace,
                           description=f"InVEST {model} argument {arg}")
        (result.kept_layers if info.unchanged else result.layers).append(layer)
    for arg, set_name in TABLES[model].items():
        file = _arg_path(base, args.get(arg))
        if file is None:
            continue
        info = load_params(conn, area, existing_file(file, f"{arg} of {path.name}:"), name=set_name,
                           citation=f"InVEST {model} {arg}", replace=replace)
        (result.kept_param_sets if info.unchanged else result.param_sets).append(set_name)
    if model == "habitat_quality":
        _load_habitat_quality(conn, area, path, args, replace, result)
    scalars = {name: args[arg] for arg, name in SCALARS[model].items() if args.get(arg) not in (None, "")}
    if scalars:
        set_name = f"invest_{model}"[:40]
        try:
            scalars = {k: float(v) for k, v in scalars.items()}
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: non-numeric model argument: {exc}") from exc
        k = scalars.get("hq_half_saturation")
        if k is not None and not k > 0:
            raise InputError(f"{path}: half_saturation_constant = {k:g} must be > 0")
        info = insert_scalars(conn, area, set_name, scalars, str(path.resolve()), replace=replace)
        (result.kept_param_sets if info.unchanged else result.param_sets).append(set_name)
    for arg, (zone_set, code_field) in ZONES.items():
        file = _arg_path(base, args.get(arg))
        if file is None:
            continue
        written = _load_zone_set(conn, area, existing_file(file, f"{arg} of {path.name}:"), zone_set, code_field,
                                 replace, encoding)
        (result.zone_sets if written else result.kept_zone_sets).append(zone_set)
    return result


def _zones(conn: psycopg.Connection, area: StudyArea, zone_set: str) -> list[tuple]:
    """(code, name, attributes, WKB hex) of every zone of ``zone_set``: its content, whatever file it came from."""
    return conn.execute(
        """SELECT code, name, attrs::text, encode(ST_AsBinary(geom, 'NDR'), 'hex') FROM core.zone
           WHERE study_area_id = %s AND zone_set = %s ORDER BY code""", (area.study_area_id, zone_set)).fetchall()


def _load_zone_set(conn: psycopg.Connection, area: StudyArea, file: Path, zone_set: str, code_field: str | None,
                   replace: bool, encoding: str | None) -> bool:
    """Load ``file`` as zone set ``zone_set`` under the reload rule: True when written, False when the zone
    set already holds the same zones (the new load is rolled back to a savepoint, nothing changes). Raises
    InputError for other zones without ``replace``, and for a bad file (see ``load_zones``)."""
    lock_name(conn, area.study_area_id, "zone set", zone_set)
    before = _zones(conn, area, zone_set)
    if not before:
        load_zones(conn, area, file, zone_set, code_field=code_field, encoding=encoding)
        return True
    sources = {r[0] for r in conn.execute("SELECT DISTINCT source_path FROM core.zone WHERE study_area_id = %s "
                                          "AND zone_set = %s", (area.study_area_id, zone_set)).fetchall()}
    loaded = f"{len(before)} zones, loaded from {', '.join(sorted(Path(p or '?').name for p in sources))}"
    written = True
    with conn.transaction():
        load_zones(conn, area, file, zone_set, code_field=code_field, replace=True, encoding=encoding)
        if not must_load(area.name, "a zone set", zone_set, loaded, _zones(conn, area, zone_set) == before, replace):
            written = False
            raise psycopg.Rollback()
    return written


def _create_area_from_raster(conn, name: str, raster: Path, pixel_size: float | None) -> None:
    """A study area on the grid of ``raster`` (InVEST aligns everything to the LULC raster)."""
    try:
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise InputError(f"raster {raster} declares no CRS")
            res = src.res
            if abs(res[0] - res[1]) > 1e-6 * max(res):
                raise InputError(f"raster {raster} has non-square pixels ({res[0]:g} x {res[1]:g}); "
                                 "the study-area grid needs square pixels")
            studyarea.create(conn, name, src.crs.to_wkt(), pixel_size or res[0], tuple(src.bounds),
                             title=f"from {raster.name}")
    except RasterioError as exc:
        raise InputError(f"cannot read raster {raster}: {exc}") from exc


# ---------------------------------------------------------------- habitat quality: threats and sensitivity


@dataclass(frozen=True)
class HabitatThreat:
    """A row of a habitat-quality threats table, checked: its name (lower case), order (1-based), maximum
    distance of impact (m, > 0), weight (0 < w <= 1), decay (``linear`` or ``exponential``), raster file
    (``cur_path``) and the layer that holds the raster."""

    name: str
    position: int
    max_dist_m: float
    weight: float
    decay: str
    raster: Path
    layer: str


def threat_layer_name(threat: str) -> str:
    """The source layer of a threat's raster: ``threat_<name>``, or the name itself when it starts with
    ``threat_``; characters other than lower-case letters, digits and '_' become '_'. May be an invalid layer
    name (too long): :func:`read_threats` checks it."""
    slug = re.sub(r"[^a-z0-9_]+", "_", threat.lower()).strip("_")
    return slug if slug.startswith("threat_") else f"threat_{slug}"


def _empty(raw) -> bool:
    """A table cell holding nothing: None, NaN, NA or blank text."""
    return raw is None or (not isinstance(raw, str) and bool(pd.isna(raw))) or (isinstance(raw, str) and not raw.strip())


def _threat_number(file: Path, frame, columns: dict[str, str], column: str, row: int, threat: str) -> float:
    """The number in ``column`` of row ``row`` (threat ``threat``); InputError naming the file, column and threat
    for an empty or non-numeric cell."""
    raw = frame[columns[column]].iloc[row]
    if _empty(raw):
        raise InputError(f"{file}: threat {threat!r} has no {column}")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{file}: {column} of threat {threat!r} is {raw!r}, not a number") from None


def read_threats(file: Path) -> list[HabitatThreat]:
    """Read and check an InVEST 3.20 habitat-quality threats table.

    Columns (case-insensitive): ``threat`` (name, read in lower case as InVEST does), ``max_dist`` (m, > 0, finite),
    ``weight`` (0 < w <= 1), ``decay`` (``linear`` or ``exponential``) and ``cur_path`` (the threat raster,
    relative to the table's folder); ``fut_path`` and ``base_path`` are not read. Empty rows are skipped.
    Returns the threats in table order. Raises InputError naming the file and the column or threat: a missing
    column, an empty or repeated threat name, a name of the sensitivity table's own columns (``lucode``, ``name``,
    ``habitat``), a value out of range, another decay, no ``cur_path``, a raster that does not exist, two
    threats naming one raster, a threat whose layer name (:func:`threat_layer_name`) is invalid or taken by
    another threat. Source: natcap.invest 3.20 habitat_quality MODEL_SPEC and ``execute``.
    """
    frame = read_csv(file).dropna(how="all").reset_index(drop=True)
    columns = {c.lower(): c for c in frame.columns}
    missing = [c for c in HQ_THREAT_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{file}: no column(s) {', '.join(missing)}; a habitat-quality threats table has columns "
                         f"{', '.join(HQ_THREAT_COLUMNS)} (InVEST 3.20)")
    threats: list[HabitatThreat] = []
    by_raster: dict[Path, str] = {}
    by_layer: dict[str, str] = {}
    for i in range(len(frame)):
        raw = frame[columns["threat"]].iloc[i]
        name = "" if _empty(raw) else str(raw).strip().lower()
        if not name:
            raise InputError(f"{file}: row {i + 2} has no threat name")
        if any(t.name == name for t in threats):
            raise InputError(f"{file}: threat {name!r} is listed twice")
        if name in HQ_SENSITIVITY_OWN:
            raise InputError(f"{file}: a threat cannot be named {name!r}, a column of the sensitivity table")
        max_dist = _threat_number(file, frame, columns, "max_dist", i, name)
        if not (max_dist > 0 and math.isfinite(max_dist)):
            raise InputError(f"{file}: max_dist of threat {name!r} is {max_dist:g}; it must be a distance > 0 "
                             "in metres")
        weight = _threat_number(file, frame, columns, "weight", i, name)
        if not 0 < weight <= 1:
            raise InputError(f"{file}: weight of threat {name!r} is {weight:g}; it must be > 0 and at most 1")
        decay_raw = frame[columns["decay"]].iloc[i]
        decay = str(decay_raw).strip().lower()
        if decay not in HQ_DECAYS:
            raise InputError(f"{file}: decay of threat {name!r} is {decay_raw!r}; it must be linear or exponential")
        cur = frame[columns["cur_path"]].iloc[i]
        if _empty(cur):
            raise InputError(f"{file}: threat {name!r} has no cur_path (its raster)")
        raster = Path(str(cur).strip())
        raster = existing_file(raster if raster.is_absolute() else file.parent / raster,
                               f"raster of threat {name!r} (cur_path of {file}):")
        key = raster.resolve()
        if key in by_raster:
            raise InputError(f"{file}: threats {by_raster[key]!r} and {name!r} name the same raster {raster.name}; "
                             "each threat needs its own raster")
        by_raster[key] = name
        layer = threat_layer_name(name)
        if not LAYER_NAME_RE.match(layer):
            raise InputError(f"{file}: threat {name!r} would be stored as layer {layer!r}, not a valid layer name "
                             "(1-32 lower-case letters, digits and '_'); shorten the threat name")
        if layer in by_layer:
            raise InputError(f"{file}: threats {by_layer[layer]!r} and {name!r} would both be stored as layer "
                             f"{layer!r}; rename one of them")
        by_layer[layer] = name
        threats.append(HabitatThreat(name, i + 1, max_dist, weight, decay, raster, layer))
    if not threats:
        raise InputError(f"{file}: the threats table lists no threat")
    return threats


def read_sensitivity(file: Path, threats: list[HabitatThreat], threats_file: Path, habitat_bounds=(0.0, 1.0)) -> dict:
    """Read and check an InVEST 3.20 habitat-quality sensitivity table against its threats.

    Columns (case-insensitive): ``lucode`` (integer class codes, unique), ``habitat`` (0..1), one column per threat
    of ``threats`` named as the threat (0..1), and optionally ``name`` or another descriptive column. Other
    columns are ignored, as InVEST ignores sensitivity columns of threats not in its threats table. Every value
    of ``habitat`` and of the threat columns is required. Returns ``{"codes": [int], "descriptions": [str|None],
    "habitat": {code: float}, "sensitivity": {threat: {code: float}}}``. Raises InputError naming the file and
    the column, threat or class: no ``lucode`` or ``habitat`` column, no column for a threat of
    ``threats_file``, a column given twice, a bad or repeated code, an empty, non-numeric or out-of-range value.
    Source: natcap.invest 3.20 habitat_quality MODEL_SPEC (``[THREAT]`` ratio columns) and ``validate``.
    """
    frame = read_csv(file).dropna(how="all").reset_index(drop=True)
    lowered = [c.lower() for c in frame.columns]
    twice = sorted({c for c in lowered if lowered.count(c) > 1})
    if twice:
        raise InputError(f"{file}: column(s) {short_list(twice)} given twice (column names are case-insensitive)")
    columns = dict(zip(lowered, frame.columns))
    for needed in ("lucode", "habitat"):
        if needed not in columns:
            raise InputError(f"{file}: no column {needed!r}; a habitat-quality sensitivity table has columns lucode, "
                             "habitat and one column per threat")
    absent = [t.name for t in threats if t.name not in columns]
    if absent:
        others = [c for c in lowered if c not in HQ_SENSITIVITY_OWN and c not in DESCRIPTIVE]
        raise InputError(f"{file}: no sensitivity column for threat(s) {short_list(absent)} of {threats_file.name} "
                         f"(threat columns found: {short_list(others) if others else 'none'})")
    raw_codes = frame[columns["lucode"]]
    codes = []
    for raw in raw_codes:
        try:
            value = math.nan if _empty(raw) else float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value.is_integer()):
            raise InputError(f"{file}: 'lucode' must hold integer class codes; bad value {raw!r}")
        codes.append(int(value))
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise InputError(f"{file}: duplicate lucode(s) {short_list(twice)}")

    def values(column: str, label: str, lo: float, hi: float) -> dict[int, float]:
        out = {}
        for code, raw in zip(codes, frame[columns[column]]):
            if _empty(raw):
                raise InputError(f"{file}: {label} of lucode {code} is empty; every class needs a value")
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise InputError(f"{file}: {label} of lucode {code} is {raw!r}, not a number") from None
            if not lo <= value <= hi:
                raise InputError(f"{file}: {label} of lucode {code} = {value:g} is outside {lo:g}..{hi:g}")
            out[code] = value
        return out

    desc_col = next((columns[c] for c in ("name", "description", "lulc_name", "lulc_desc", "desc", "class_name")
                     if c in columns), None)
    descriptions = [None if _empty(raw) else str(raw) for raw in (frame[desc_col] if desc_col else [None] * len(codes))]
    return {"codes": codes, "descriptions": descriptions,
            "habitat": values("habitat", "habitat", *habitat_bounds),
            "sensitivity": {t.name: values(t.name, f"sensitivity to threat {t.name!r}", 0.0, 1.0) for t in threats}}


def _load_habitat_quality(conn: psycopg.Connection, area: StudyArea, path: Path, args: dict, replace: bool,
                          result: InvestImport) -> None:
    """The threats table, the threat rasters and the sensitivity table of a habitat_quality datastack: each
    threat raster as layer ``threat_<name>`` (continuous, 0..1), the two tables as parameter set ``hq_sensitivity``
    (module docstring), each under the reload rule. Appends what it wrote or kept to ``result``. Raises
    InputError naming the file and column or threat (:func:`read_threats`, :func:`read_sensitivity`), a class
    of layer ``lulc`` missing from the sensitivity table, a threat raster outside 0..1, and other content
    without ``replace``."""
    base = path.parent
    threats_file = existing_file(_arg_path(base, args["threats_table_path"]), f"threats_table_path of {path.name}:")
    sens_file = existing_file(_arg_path(base, args["sensitivity_table_path"]), f"sensitivity_table_path of {path.name}:")
    threats = read_threats(threats_file)
    (lo, hi), = conn.execute("SELECT min_value, max_value FROM param.coefficient WHERE name = 'habitat'").fetchall()
    table = read_sensitivity(sens_file, threats, threats_file, (lo, hi))
    check_classes_cover_layer(conn, area, set(table["codes"]), str(sens_file))
    for t in threats:
        info = load_raster(conn, area, t.layer, t.raster, "continuous", "fraction", resampling="nearest",
                           replace=replace,
                           description=f"InVEST habitat_quality threat {t.name!r} (cur_path of {threats_file.name})")
        (result.kept_layers if info.unchanged else result.layers).append(t.layer)

    citation = "InVEST habitat_quality sensitivity_table_path"
    checksum = sha256(sens_file)
    rows = [(t.position, t.name, t.max_dist_m, t.weight, t.decay, t.layer) for t in threats]
    lock_name(conn, area.study_area_id, "parameter set", HQ_SET)
    cur = conn.execute("SELECT param_set_id, kind, source_path, source_sha256, citation FROM param.param_set "
                       "WHERE study_area_id = %s AND name = %s", (area.study_area_id, HQ_SET))
    row = cur.fetchone()
    loaded = same = None
    if row is not None:
        stored = conn.execute("SELECT position, threat, max_dist_m, weight, decay, layer FROM param.threat "
                              "WHERE param_set_id = %s ORDER BY position", (row[0],)).fetchall()
        same = (row[1], row[3], row[4]) == ("lulc", checksum, citation) and [tuple(r) for r in stored] == rows
        loaded = (f"{row[1]}, loaded from {Path(row[2] or '?').name}"
                  + (f" with threats {', '.join(r[1] for r in stored)}" if stored else ""))
    if not must_load(area.name, "a parameter set", HQ_SET, loaded, bool(same), replace):
        result.kept_param_sets.append(HQ_SET)
        return
    if row is not None:
        conn.execute("DELETE FROM param.param_set WHERE param_set_id = %s", (row[0],))
    (set_id,) = conn.execute(
        """INSERT INTO param.param_set (study_area_id, name, kind, source_path, source_sha256, citation)
           VALUES (%s, %s, 'lulc', %s, %s, %s) RETURNING param_set_id""",
        (area.study_area_id, HQ_SET, str(sens_file.resolve()), checksum, citation)).fetchone()
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO param.lulc_class (param_set_id, lucode, description) VALUES (%s, %s, %s)",
                        [(set_id, c, d) for c, d in zip(table["codes"], table["descriptions"])])
        cur.executemany("INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value, source) "
                        "VALUES (%s, %s, 'habitat', %s, %s)",
                        [(set_id, c, v, citation) for c, v in table["habitat"].items()])
        cur.executemany("INSERT INTO param.threat (param_set_id, position, threat, max_dist_m, weight, decay, layer, "
                        "source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [(set_id, *r, str(threats_file.resolve())) for r in rows])
        cur.executemany("INSERT INTO param.threat_sensitivity (param_set_id, lucode, threat, value, source) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(set_id, c, name, v, citation) for name, by_code in table["sensitivity"].items()
                         for c, v in by_code.items()])
    result.param_sets.append(HQ_SET)
