"""Import an InVEST parameter set ("datastack" JSON) unchanged.

Supported models: annual_water_yield, carbon and sdr. Both the current format
(``{"model_id": ..., "args": {...}}``) and the older one
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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import rasterio
from rasterio.errors import RasterioError

from restore_db.errors import InputError
from restore_db.grid import studyarea
from restore_db.grid.studyarea import StudyArea
from restore_db.load.boundaries import load_zones
from restore_db.load.common import existing_file, lock_name, must_load, sha256
from restore_db.load.params import insert_scalars, load_params
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
}
TABLES = {
    "annual_water_yield": {"biophysical_table_path": "awy_biophysical"},
    "carbon": {"carbon_pools_path": "carbon_pools"},
    "sdr": {"biophysical_table_path": "sdr_biophysical"},
}
SCALARS = {
    "annual_water_yield": {"seasonality_constant": "seasonality_z"},
    "carbon": {"price_per_metric_ton_of_c": "carbon_price", "discount_rate": "discount_rate",
               "rate_change": "rate_change", "lulc_bas_year": "lulc_bas_year", "lulc_alt_year": "lulc_alt_year"},
    "sdr": {"threshold_flow_accumulation": "threshold_flow_accumulation", "k_param": "sdr_k",
            "ic_0_param": "sdr_ic0", "sdr_max": "sdr_max", "l_max": "l_max"},
}
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
    watershed shapefile that declares none.

    Each layer, parameter set and zone set follows the reload rule (module docstring): the same content is
    kept, other content is replaced only with ``replace``. Returns an :class:`InvestImport`. Raises
    :class:`InputError` naming the argument at fault, and naming the layer or set loaded with other content
    without ``replace``."""
    path = existing_file(path, "InVEST parameter set")
    model, args = read_datastack(path)
    base = path.parent
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
    scalars = {name: args[arg] for arg, name in SCALARS[model].items() if args.get(arg) not in (None, "")}
    if scalars:
        set_name = f"invest_{model}"[:40]
        try:
            scalars = {k: float(v) for k, v in scalars.items()}
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: non-numeric model argument: {exc}") from exc
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
