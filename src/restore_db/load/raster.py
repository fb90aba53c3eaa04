"""Load any GDAL-readable raster onto the study-area grid.

The file is warped (GDAL WarpedVRT) to the grid CRS, origin and pixel size,
one row of tiles at a time, so memory stays bounded by a tile row. Resampling
defaults follow docs/models/conventions.md#grid-crs-and-alignment: categorical layers use nearest neighbour, or
mode when the source is finer than the grid; continuous layers use bilinear,
or average when the source is finer. A source already on the grid is copied
cell for cell (nearest).

Storage: categorical -> 16-bit signed integers (32-bit when codes need it),
nodata -32768; continuous -> float32, nodata = float32 lowest (as InVEST).
Tiles are written with a text COPY of hex WKB; tiles without any valid pixel
are not stored. Then a GiST index on the tile hulls, the PostGIS raster
constraints (so ``raster_columns`` answers at once) and overviews (4, 16, 64
while an overview still spans a full tile) make the table open quickly
in QGIS.

Checks: the file's band (``--band``, required when it has several), CRS
(``--src-crs`` for a file without one or with a local engineering CRS) and
nodata (one its band type can hold) are settled before anything is written;
the values of a continuous layer must lie within the plausible bounds of the
layer and unit (:data:`LAYER_BOUNDS`). A name already loaded follows the
reload rule of :mod:`restore_db.load.common`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import rasterio
from psycopg import sql
from rasterio.enums import Resampling
from pyproj import CRS as PyprojCRS
from rasterio.crs import CRS as RioCRS
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from restore_db.kernels import wkb
from restore_db.errors import InputError
from restore_db.kernels.tiles import FLOAT_NODATA, LayerStats
from restore_db.grid.studyarea import LAYER_NAME_RE, StudyArea, check_name, crs_of_srid, source_crs
from restore_db.load.common import existing_file, lock_name, must_load, sha256
from restore_db.store.layers import drop_layer_table, set_lz4

CATEGORICAL_NODATA = {"16BSI": -32768, "32BSI": -2147483648}
RESAMPLING = {r.name: r for r in Resampling}
SCHEMA = "src"
OVERVIEW_STEP = 4  # overviews at 1/4, 1/16, 1/64 resolution: QGIS needs few levels, each costs a pass
OVERVIEW_MAX = 64


@dataclass
class LayerInfo:
    name: str
    table: str
    kind: str
    unit: str
    pixel_type: str
    nodata: float
    tiles: int
    valid_cells: int
    nodata_share: float
    min_value: float | None
    max_value: float | None
    mean_value: float | None
    resampling: str
    unchanged: bool = False  # the layer was loaded from the same file with the same options: nothing written


# Plausible values of the layers the services read, by (layer name, unit): a layer whose values fall
# outside is refused (a corrupt file, an undeclared nodata or a wrong unit). Other names take the bounds of
# their unit (UNIT_BOUNDS) when it has some; every continuous layer is refused with a value beyond
# MAX_MAGNITUDE (float32 garbage such as +-3.4e38).
LAYER_BOUNDS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("precipitation", "mm/yr"): (0.0, 20000.0),
    ("eto", "mm/yr"): (0.0, 5000.0),
    ("dem", "m"): (-500.0, 9000.0),
    ("temperature", "degC"): (-90.0, 60.0),
    ("soil_depth", "mm"): (0.0, 100000.0),
    ("pawc", "fraction"): (0.0, 1.0),
    ("ndvi", "1"): (-1.0, 1.0),
    ("population", "persons"): (0.0, None),
    ("erosivity", "MJ*mm/(ha*h*yr)"): (0.0, 100000.0),
    ("erodibility", "t*ha*h/(ha*MJ*mm)"): (0.0, 1.0),
    ("soil_sand", "%"): (0.0, 100.0),
    ("soil_silt", "%"): (0.0, 100.0),
    ("soil_clay", "%"): (0.0, 100.0),
    ("soil_oc", "%"): (0.0, 100.0),
}
UNIT_BOUNDS: dict[str, tuple[float | None, float | None]] = {"fraction": (0.0, 1.0), "%": (0.0, 100.0)}
MAX_MAGNITUDE = 1e30


def table_name(area: StudyArea, layer: str) -> str:
    return f"{area.name}__{layer}"


def _square(res: tuple[float, float]) -> bool:
    return abs(abs(res[0]) - abs(res[1])) <= 1e-6 * max(abs(res[0]), abs(res[1]))


def _grid_bounds_in_source(src_crs, dst_crs, grid) -> tuple[float, float, float, float]:
    """The study-area extent in the source CRS. (The other way round is not well defined: the
    extent of a global or far-away lon/lat raster has no meaningful bounds in a UTM zone.)"""
    return transform_bounds(dst_crs, src_crs, *grid.bounds, densify_pts=21)


def _source_resolution_in_grid_units(src, grid, grid_in_src) -> float:
    """Approximate source pixel size over the study area, in grid units (for choosing resampling)."""
    left, bottom, right, top = grid_in_src
    src_cells = abs((right - left) / src.res[0]) * abs((top - bottom) / src.res[1])
    gx0, gy0, gx1, gy1 = grid.bounds
    return math.sqrt((gx1 - gx0) * (gy1 - gy0) / src_cells)


def _same_grid(src, src_crs, dst_crs, grid) -> bool:
    if not PyprojCRS.from_user_input(src_crs.to_wkt()).equals(dst_crs):
        return False
    t = src.transform
    if t.b or t.d or not math.isclose(t.a, grid.pixel_size) or not math.isclose(-t.e, grid.pixel_size):
        return False
    dx = (t.c - grid.origin_x) / grid.pixel_size
    dy = (grid.origin_y - t.f) / grid.pixel_size
    return abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6


def choose_resampling(kind: str, finer: bool) -> Resampling:
    if kind == "categorical":
        return Resampling.mode if finer else Resampling.nearest
    return Resampling.average if finer else Resampling.bilinear


def gdal_message(exc: BaseException) -> str:
    """GDAL's own message for a rasterio error, on one line: rasterio's "see previous exception" points to
    the errors chained to ``exc``, whose messages are given innermost (GDAL's cause) first."""
    messages = []
    while exc is not None:
        text = " ".join(str(exc).split()).rstrip(".")
        if text and "previous exception" not in text.lower():
            messages.append(text)
        exc = exc.__cause__ or exc.__context__
    kept = [m for i, m in enumerate(messages) if not any(m in other for j, other in enumerate(messages) if j != i)
            and m not in messages[:i]]
    return "; ".join(reversed(kept)) or "unknown GDAL error"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _band(src, path: Path, band: int | None) -> int:
    """The band to load: ``band``, or 1 when the file has only one. Raises InputError for a band not in the
    file, and for a file of several bands when none is chosen."""
    if band is None:
        if src.count > 1:
            raise InputError(f"raster {path} has {src.count} bands; choose the one to load with --band "
                             f"(1..{src.count})")
        return 1
    if not 1 <= band <= src.count:
        raise InputError(f"raster {path} has {src.count} band(s), band {band} requested")
    return band


def _source_nodata(src, path: Path, band: int, nodata: float | None) -> float:
    """The nodata value of ``band`` as the band's type holds it: ``nodata`` (``--nodata``) when given, else
    the one the file declares.

    Raises InputError when there is none, or when the band's type cannot hold it (-9999 in uint8, 1e40 in
    float32): no cell could equal it, so cells meant as nodata would load as data."""
    value = nodata if nodata is not None else src.nodatavals[band - 1]
    if value is None:
        raise InputError(
            f"raster {path} declares no nodata value for band {band}; give one with --nodata "
            "(cells outside the file and invalid cells must be distinguishable from data)"
        )
    dtype = np.dtype(src.dtypes[band - 1])
    where = f"--nodata {value:g}" if nodata is not None else f"the nodata value {value:g} the file declares"
    fix = "" if nodata is not None else "; give a valid one with --nodata"
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (math.isfinite(value) and float(value).is_integer() and info.min <= value <= info.max):
            raise InputError(f"raster {path}: {where} cannot be held by band {band} ({dtype}: integers "
                             f"{info.min}..{info.max}); no cell could be nodata{fix}")
        return float(value)
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            held = dtype.type(value)
        if math.isfinite(value) and not np.isfinite(held):
            raise InputError(f"raster {path}: {where} cannot be held by band {band} ({dtype}: at most "
                             f"{np.finfo(dtype).max:g} in magnitude); no cell could be nodata{fix}")
        return float(held)
    raise InputError(f"raster {path}: band {band} holds {dtype} values; restore-db loads integer or real bands")


def value_bounds(name: str, unit: str) -> tuple[float | None, float | None] | None:
    """The plausible (min, max) of layer ``name`` in ``unit`` (None: no bound on that side), or None when
    neither the layer nor the unit has bounds."""
    return LAYER_BOUNDS.get((name, unit)) or UNIT_BOUNDS.get(unit)


def _check_values(path: Path, name: str, unit: str, found_min: float, found_max: float) -> None:
    """Raise InputError when the values of a continuous layer fall outside its plausible bounds or beyond
    MAX_MAGNITUDE; the message names the layer, the range found and the bounds."""
    bounds = value_bounds(name, unit)
    lo, hi = bounds or (None, None)
    if max(abs(found_min), abs(found_max)) <= MAX_MAGNITUDE and (lo is None or found_min >= lo) \
            and (hi is None or found_max <= hi):
        return
    if bounds:
        allowed = f"{'-inf' if lo is None else f'{lo:g}'}..{'inf' if hi is None else f'{hi:g}'} {unit}"
        basis = f"the plausible bounds of {name!r} in {unit}" if (name, unit) in LAYER_BOUNDS else \
            f"the plausible bounds of a value in {unit}"
    else:
        allowed, basis = f"-{MAX_MAGNITUDE:g}..{MAX_MAGNITUDE:g}", "the magnitude of any real quantity"
    raise InputError(f"raster {path}: layer {name!r} has values {found_min:g}..{found_max:g} {unit}, outside "
                     f"{allowed} ({basis}): a corrupt file, an undeclared nodata (--nodata) or another unit?")


def load_raster(conn: psycopg.Connection, area: StudyArea, name: str, path: str | Path, kind: str,
                unit: str, nodata: float | None = None, resampling: str | None = None, band: int | None = None,
                replace: bool = False, description: str | None = None,
                allow_non_square: bool = False, overviews: bool = True, src_crs: str | None = None) -> LayerInfo:
    """Warp ``path`` onto the grid of ``area`` and store it as source layer ``name`` (caller's transaction).

    Takes the layer's kind (categorical or continuous) and unit, the nodata value when the file declares
    none (or to use another), the resampling (default by kind and resolution), the band (required when the
    file has several), whether to replace a layer of that name loaded with other content, a description,
    whether to warp non-square pixels, whether to build overviews, and the CRS of a file that declares none
    or a local one (``src_crs``, which wins over the file's).

    Follows the reload rule of :mod:`restore_db.load.common`: a layer of that name loaded from the same file
    (checksum) with the same kind, unit, band, nodata, CRS and resampling is left as it is, and the result
    says so (``unchanged``). Returns a :class:`LayerInfo`. Raises InputError naming the file for an unreadable
    or corrupt file (with GDAL's message), a missing, invalid or local CRS, a band not in the file or not
    chosen, a nodata the band's type cannot hold, values outside the plausible bounds of the layer
    (:data:`LAYER_BOUNDS`), no overlap with the area, and a layer of that name loaded with other content
    without ``replace``.
    """
    check_name(name, "layer name", LAYER_NAME_RE)
    if kind not in ("categorical", "continuous"):
        raise InputError(f"layer {name!r}: kind must be 'categorical' or 'continuous', got {kind!r}")
    if not unit:
        raise InputError(f"layer {name!r}: a unit is required (e.g. mm/yr, m, class)")
    path = existing_file(path, "raster file")
    grid = area.grid
    grid_crs = crs_of_srid(conn, grid.srid)
    dst_crs = RioCRS.from_wkt(grid_crs.to_wkt())
    try:
        src = rasterio.open(path)
    except RasterioError as exc:
        raise InputError(f"cannot read raster {path}: {gdal_message(exc)}") from exc
    with src:
        band = _band(src, path, band)
        crs = RioCRS.from_wkt(source_crs(src.crs, src_crs, path, "raster", "EPSG:32650").to_wkt())
        if not _square(src.res) and not allow_non_square:
            raise InputError(
                f"raster {path} has non-square pixels ({src.res[0]:g} x {src.res[1]:g} in {crs.to_string()}); "
                "resample it to square pixels first, or pass --allow-non-square to warp it anyway"
            )
        if src.transform.b or src.transform.d:
            raise InputError(f"raster {path} is rotated (skewed geotransform); rectify it first")
        src_nodata = _source_nodata(src, path, band, nodata)
        dtype = np.dtype(src.dtypes[band - 1])
        if kind == "categorical" and dtype.kind == "f":
            raise InputError(f"raster {path} holds floating-point values ({dtype}); a categorical layer needs integer codes")
        try:
            grid_in_src = _grid_bounds_in_source(crs, dst_crs, grid)
        except Exception as exc:
            raise InputError(f"raster {path}: cannot transform the study-area extent to its CRS: "
                             f"{_one_line(exc)}") from exc
        gx0, gy0, gx1, gy1 = grid_in_src
        left, bottom, right, top = src.bounds
        if not all(map(math.isfinite, grid_in_src)) or right <= gx0 or left >= gx1 or top <= gy0 or bottom >= gy1:
            raise InputError(
                f"raster {path} does not overlap study area {area.name!r}: file bounds "
                f"({left:.6g}, {bottom:.6g}, {right:.6g}, {top:.6g}) vs area bounds "
                f"({gx0:.6g}, {gy0:.6g}, {gx1:.6g}, {gy1:.6g}) in the file's CRS"
            )
        if _same_grid(src, crs, grid_crs, grid):
            method = Resampling.nearest
        elif resampling:
            if resampling not in RESAMPLING:
                raise InputError(f"unknown resampling {resampling!r} (choose from {', '.join(sorted(RESAMPLING))})")
            method = RESAMPLING[resampling]
        else:
            finer = _source_resolution_in_grid_units(src, grid, grid_in_src) < 0.75 * grid.pixel_size
            method = choose_resampling(kind, finer)
        if kind == "categorical":
            info = (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
            # int8/uint8/int16 codes fit 16 bits; -32768 (the nodata) is rejected below if used as a code
            pixel_type = "16BSI" if info[0] >= -32768 and info[1] <= 32767 else "32BSI"
            out_dtype = np.int16 if pixel_type == "16BSI" else np.int32
            out_nodata = CATEGORICAL_NODATA[pixel_type]
        else:
            pixel_type, out_dtype, out_nodata = "32BF", np.float32, FLOAT_NODATA

        table = table_name(area, name)
        checksum = sha256(path)
        identity = {"kind": kind, "unit": unit, "source_sha256": checksum, "source_crs": crs.to_string(),
                    "resampling": method.name, "band": band, "source_nodata": repr(src_nodata)}
        lock_name(conn, area.study_area_id, "layer", name)
        existing = _existing_layer(conn, area, name, identity)
        loaded = None if existing is None else f"loaded from {Path(existing['source_path'] or '?').name}"
        if not must_load(area.name, "a layer", name, loaded,
                         existing is not None and existing["identity"] == identity, replace):
            return _unchanged(conn, existing)
        if existing is not None:
            drop_layer_table(conn, existing["table_schema"], existing["table_name"])
            conn.execute("DELETE FROM core.layer WHERE layer_id = %s", (existing["layer_id"],))
        _create_table(conn, table)
        stats = LayerStats()
        stored_tiles = 0
        try:
            with WarpedVRT(src, src_crs=crs, crs=dst_crs, transform=grid.transform, width=grid.width,
                           height=grid.height, resampling=method, src_nodata=src_nodata, nodata=src_nodata) as vrt:
                with conn.cursor().copy(
                    sql.SQL("COPY {}.{} (tile_id, rast) FROM STDIN").format(sql.Identifier(SCHEMA), sql.Identifier(table))
                ) as copy:
                    for trow in range(grid.tiles_y):
                        tiles = grid.tile_row(trow)
                        row0, height = tiles[0].row0, tiles[0].height
                        stripe = vrt.read(band, window=Window(0, row0, grid.width, height))
                        valid = wkb.valid_mask(stripe, src_nodata)
                        if kind == "categorical" and valid.any():
                            vals = stripe[valid]
                            if vals.min() < np.iinfo(out_dtype).min + 1 or vals.max() > np.iinfo(out_dtype).max:
                                raise InputError(
                                    f"raster {path}: class codes outside the {pixel_type} range "
                                    f"{np.iinfo(out_dtype).min + 1}..{np.iinfo(out_dtype).max} "
                                    f"({out_nodata} is the stored nodata)")
                        out = stripe.astype(out_dtype)
                        if kind == "continuous":
                            valid &= np.isfinite(out)
                        out[~valid] = out_nodata
                        stats.add(out[valid])
                        for tile in tiles:
                            cut = np.s_[:, tile.col0:tile.col0 + tile.width]
                            if not valid[cut].any():
                                continue
                            data = wkb.encode(np.ascontiguousarray(out[cut]), out_nodata, grid.header(tile))
                            copy.write_row((tile.tile_id, data.hex()))
                            stored_tiles += 1
        except RasterioError as exc:
            raise InputError(f"cannot read raster {path} (corrupt or truncated file?): {gdal_message(exc)}") from exc
        if stats.valid == 0:
            raise InputError(f"raster {path} has no valid cell inside study area {area.name!r} (all nodata after warping)")
        if kind == "continuous":
            _check_values(path, name, unit, stats.min, stats.max)
        _finish_table(conn, table, overviews, kind)
        info = LayerInfo(name, f"{SCHEMA}.{table}", kind, unit, pixel_type, out_nodata, stored_tiles, stats.valid,
                         1.0 - stats.valid / grid.cells, stats.min, stats.max,
                         stats.mean, method.name)
        conn.execute(
            """INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name,
                   description, source_path, source_sha256, source_crs, resampling, valid_cells, nodata_share,
                   min_value, max_value, mean_value, load_options)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (area.study_area_id, name, kind, unit, pixel_type, out_nodata, SCHEMA, table, description,
             str(path.resolve()), checksum, crs.to_string(), method.name, info.valid_cells,
             info.nodata_share, info.min_value, info.max_value, info.mean_value,
             json.dumps({k: identity[k] for k in LOAD_OPTIONS})),
        )
        return info


# The options of a load that change what is stored and have no column of their own (core.layer.load_options).
LOAD_OPTIONS = ("band", "source_nodata")


def _existing_layer(conn: psycopg.Connection, area: StudyArea, name: str, identity: dict) -> dict | None:
    """The source layer ``name`` of ``area`` (core.layer row) with its ``identity`` (as in load_raster), or None.

    A layer loaded before its load options were recorded (``load_options`` NULL) takes them from ``identity``:
    the same file with the same kind, unit, CRS and resampling counts as the same layer."""
    cur = conn.execute("SELECT * FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id IS NULL",
                       (area.study_area_id, name))
    row = cur.fetchone()
    if row is None:
        return None
    row = dict(zip([d.name for d in cur.description], row))
    options = row["load_options"] if row["load_options"] is not None else {k: identity[k] for k in LOAD_OPTIONS}
    row["identity"] = {"kind": row["kind"], "unit": row["unit"], "source_sha256": row["source_sha256"],
                       "source_crs": row["source_crs"], "resampling": row["resampling"],
                       **{k: options.get(k) for k in LOAD_OPTIONS}}
    return row


def _unchanged(conn: psycopg.Connection, row: dict) -> LayerInfo:
    """The LayerInfo of a loaded layer left as it is."""
    (tiles,) = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(row["table_schema"]), sql.Identifier(row["table_name"]))).fetchone()
    return LayerInfo(row["name"], f"{row['table_schema']}.{row['table_name']}", row["kind"], row["unit"],
                     row["pixel_type"], row["nodata"], tiles, row["valid_cells"], row["nodata_share"],
                     row["min_value"], row["max_value"], row["mean_value"], row["resampling"], unchanged=True)


def _create_table(conn: psycopg.Connection, table: str) -> None:
    ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE TABLE {} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(ident))
    set_lz4(conn, ident)


def _finish_table(conn: psycopg.Connection, table: str, overviews: bool, kind: str) -> None:
    ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (ST_ConvexHull(rast))").format(ident))
    conn.execute("SELECT AddRasterConstraints(%s::name, %s::name, 'rast'::name)", (SCHEMA, table))
    conn.execute(sql.SQL("ANALYZE {}").format(ident))
    if not overviews:
        return
    algo = "NearestNeighbor" if kind == "categorical" else "Bilinear"
    (ntiles,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
    factor = OVERVIEW_STEP
    while factor <= OVERVIEW_MAX and ntiles / (factor * factor) >= 1:
        conn.execute("SELECT ST_CreateOverview(%s::regclass, 'rast', %s, %s)",
                     (f'{SCHEMA}."{table}"', factor, algo))
        factor *= OVERVIEW_STEP
