"""Load any GDAL-readable raster onto the study-area grid.

The file is warped (GDAL WarpedVRT) to the grid CRS, origin and pixel size,
one row of tiles at a time, so memory stays bounded by a tile row. Resampling
defaults follow docs/models/conventions.md#grid-crs-and-alignment: categorical layers use nearest neighbour, or
mode when the source is finer than the grid; continuous layers use bilinear,
or average when the source is finer. A source already on the grid (same CRS,
pixel size and lattice) is not warped: its windows are read directly, cell for
cell, which gives the values the warp by nearest neighbour gives.

Storage: categorical -> 16-bit signed integers (32-bit when codes need it),
nodata -32768; continuous -> float32, nodata = float32 lowest (as InVEST).
Tiles are written with a text COPY of hex WKB; tiles without any valid pixel
are not stored. The cells of each class of a categorical layer are counted as
the tiles are written and stored in ``core.layer_class_count`` (what
``ST_ValueCount`` of the whole layer gives), so the checks that every class
has a coefficient never scan the tiles. Then a GiST index on the tile hulls
and the PostGIS raster constraints (so ``raster_columns`` answers at once).
Overviews (4, 16, 64 while an overview still spans a full tile), which only a
person viewing the source layer in QGIS needs, are built on request
(``overviews=True``, or :func:`build_overviews` later): no computation,
``bi`` view or stored QGIS project reads them.

Checks: the file's band (``--band``, required when it has several), CRS
(``--src-crs`` for a file without one or with a local engineering CRS) and
nodata (one its band type can hold) are settled before anything is written;
the values of a continuous layer must lie within the plausible bounds of the
layer and unit (:data:`LAYER_BOUNDS`). A name already loaded follows the
reload rule of :mod:`restore_db.load.common`.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
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
    class_counts: dict[int, int] | None = None  # categorical: cells of each class code (core.layer_class_count)
    overviews: list[int] = field(default_factory=list)  # the overview factors the layer has


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
    """Whether the source is on the lattice of the grid: the same CRS and pixel size, an origin a whole number
    of pixels away (any extent)."""
    if not PyprojCRS.from_user_input(src_crs.to_wkt()).equals(dst_crs):
        return False
    t = src.transform
    if t.b or t.d or not math.isclose(t.a, grid.pixel_size) or not math.isclose(-t.e, grid.pixel_size):
        return False
    dx = (t.c - grid.origin_x) / grid.pixel_size
    dy = (grid.origin_y - t.f) / grid.pixel_size
    return abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6


def _offset(src, grid) -> tuple[int, int]:
    """(row, column) of the source cell that lies on grid cell (0, 0), for a source on the grid's lattice."""
    t = src.transform
    return round((t.f - grid.origin_y) / grid.pixel_size), round((grid.origin_x - t.c) / grid.pixel_size)


@contextlib.contextmanager
def _stripes(src, band: int, src_crs, dst_crs, grid, method: Resampling, src_nodata: float, on_grid: bool):
    """A reader ``read(row0, height) -> array`` of the grid rows row0 .. row0 + height - 1 over the grid's width,
    in the source's type, ``src_nodata`` where the source has no cell.

    A source on the grid's lattice (``on_grid``) is read directly, one window of the file per stripe: the cells
    the warp by nearest neighbour would copy, without the warper. Any other source goes through a WarpedVRT.
    """
    if on_grid:
        dtype = np.dtype(src.dtypes[band - 1])
        row_off, col_off = _offset(src, grid)
        c0, c1 = max(col_off, 0), min(col_off + grid.width, src.width)

        def read(row0: int, height: int) -> np.ndarray:
            out = np.full((height, grid.width), src_nodata, dtype=dtype)
            r0, r1 = max(row0 + row_off, 0), min(row0 + height + row_off, src.height)
            if r1 > r0 and c1 > c0:
                out[r0 - row_off - row0:r1 - row_off - row0, c0 - col_off:c1 - col_off] = src.read(
                    band, window=Window(c0, r0, c1 - c0, r1 - r0))
            return out

        yield read
        return
    with WarpedVRT(src, src_crs=src_crs, crs=dst_crs, transform=grid.transform, width=grid.width,
                   height=grid.height, resampling=method, src_nodata=src_nodata, nodata=src_nodata) as vrt:
        yield lambda row0, height: vrt.read(band, window=Window(0, row0, grid.width, height))


class _ClassCounts:
    """Cells of each class code of a categorical layer, stripe by stripe (what ``ST_ValueCount`` of the stored
    tiles gives, nodata excluded)."""

    def __init__(self):
        self.counts: dict[int, int] = {}

    def add(self, codes: np.ndarray) -> None:
        if not codes.size:
            return
        lo, hi = int(codes.min()), int(codes.max())
        if hi - lo < 1 << 20:
            cells = np.bincount((codes.astype(np.int64) - lo).ravel(), minlength=hi - lo + 1)
            found = np.flatnonzero(cells)
            pairs = zip((found + lo).tolist(), cells[found].tolist())
        else:
            values, cells = np.unique(codes, return_counts=True)
            pairs = zip(values.tolist(), cells.tolist())
        for code, n in pairs:
            self.counts[code] = self.counts.get(code, 0) + n


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
    unique = list(dict.fromkeys(messages))                       # the same text chained twice is said once
    kept = [m for m in unique if not any(m != other and m in other for other in unique)]
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
                allow_non_square: bool = False, overviews: bool = False, src_crs: str | None = None) -> LayerInfo:
    """Warp ``path`` onto the grid of ``area`` and store it as source layer ``name`` (caller's transaction).

    Takes the layer's kind (categorical or continuous) and unit, the nodata value when the file declares
    none (or to use another), the resampling (default by kind and resolution), the band (required when the
    file has several), whether to replace a layer of that name loaded with other content, a description,
    whether to warp non-square pixels, whether to build overviews (for viewing the layer in QGIS; nothing
    restore-db computes or publishes reads them), and the CRS of a file that declares none or a local one
    (``src_crs``, which wins over the file's).

    Follows the reload rule of :mod:`restore_db.load.common`: a layer of that name loaded from the same file
    (checksum) with the same kind, unit, band, nodata, CRS and resampling is left as it is, and the result
    says so (``unchanged``); with ``overviews`` it gets the overviews it lacks. A categorical layer's class
    counts are stored in ``core.layer_class_count``. Returns a :class:`LayerInfo`. Raises InputError naming
    the file for an unreadable or corrupt file (with GDAL's message), a missing, invalid or local CRS, a band
    not in the file or not chosen, a nodata the band's type cannot hold, values outside the plausible bounds
    of the layer (:data:`LAYER_BOUNDS`), no overlap with the area, and a layer of that name loaded with other
    content without ``replace``.
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
        on_grid = _same_grid(src, crs, grid_crs, grid)
        if on_grid:
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
            if overviews:   # asked for now: the layer gets them without being written again
                _build_overviews(conn, existing["table_schema"], existing["table_name"], kind)
            return _unchanged(conn, existing)
        if existing is not None:
            drop_layer_table(conn, existing["table_schema"], existing["table_name"])
            conn.execute("DELETE FROM core.layer WHERE layer_id = %s", (existing["layer_id"],))
        _create_table(conn, table)
        stats = LayerStats()
        classes = _ClassCounts() if kind == "categorical" else None
        stored_tiles = 0
        try:
            with _stripes(src, band, crs, dst_crs, grid, method, src_nodata, on_grid) as read_stripe:
                with conn.cursor().copy(
                    sql.SQL("COPY {}.{} (tile_id, rast) FROM STDIN").format(sql.Identifier(SCHEMA), sql.Identifier(table))
                ) as copy:
                    for trow in range(grid.tiles_y):
                        tiles = grid.tile_row(trow)
                        row0, height = tiles[0].row0, tiles[0].height
                        stripe = read_stripe(row0, height)
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
                        values = out[valid]
                        stats.add(values)
                        if classes is not None:
                            classes.add(values)
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
        _finish_table(conn, table)
        info = LayerInfo(name, f"{SCHEMA}.{table}", kind, unit, pixel_type, out_nodata, stored_tiles, stats.valid,
                         1.0 - stats.valid / grid.cells, stats.min, stats.max,
                         stats.mean, method.name,
                         class_counts=dict(sorted(classes.counts.items())) if classes is not None else None)
        (layer_id,) = conn.execute(
            """INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name,
                   description, source_path, source_sha256, source_crs, resampling, valid_cells, nodata_share,
                   min_value, max_value, mean_value, load_options)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING layer_id""",
            (area.study_area_id, name, kind, unit, pixel_type, out_nodata, SCHEMA, table, description,
             str(path.resolve()), checksum, crs.to_string(), method.name, info.valid_cells,
             info.nodata_share, info.min_value, info.max_value, info.mean_value,
             json.dumps({k: identity[k] for k in LOAD_OPTIONS})),
        ).fetchone()
        if info.class_counts is not None:
            store_class_counts(conn, layer_id, info.class_counts)
        if overviews:
            info.overviews = _build_overviews(conn, SCHEMA, table, kind)
        return info


def store_class_counts(conn: psycopg.Connection, layer_id: int, counts: dict[int, int]) -> None:
    """Record the cells of each class of categorical layer ``layer_id`` in ``core.layer_class_count`` (one
    statement; counts already stored for the layer are kept, as a concurrent first count stored the same)."""
    conn.execute(
        """INSERT INTO core.layer_class_count (layer_id, code, cells)
           SELECT %s, code, cells FROM unnest(%s::integer[], %s::bigint[]) AS c (code, cells)
           ON CONFLICT DO NOTHING""",
        (layer_id, list(counts), list(counts.values())))


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
    counts = None
    if row["kind"] == "categorical":
        counts = dict(conn.execute("SELECT code, cells FROM core.layer_class_count WHERE layer_id = %s ORDER BY code",
                                   (row["layer_id"],)).fetchall()) or None
    return LayerInfo(row["name"], f"{row['table_schema']}.{row['table_name']}", row["kind"], row["unit"],
                     row["pixel_type"], row["nodata"], tiles, row["valid_cells"], row["nodata_share"],
                     row["min_value"], row["max_value"], row["mean_value"], row["resampling"], unchanged=True,
                     class_counts=counts, overviews=_overview_factors(conn, row["table_schema"], row["table_name"]))


def _create_table(conn: psycopg.Connection, table: str) -> None:
    ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE TABLE {} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(ident))
    set_lz4(conn, ident)


def _finish_table(conn: psycopg.Connection, table: str) -> None:
    ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (ST_ConvexHull(rast))").format(ident))
    conn.execute("SELECT AddRasterConstraints(%s::name, %s::name, 'rast'::name)", (SCHEMA, table))
    conn.execute(sql.SQL("ANALYZE {}").format(ident))


def _overview_factors(conn: psycopg.Connection, schema: str, table: str) -> list[int]:
    return [r[0] for r in conn.execute(
        """SELECT overview_factor FROM raster_overviews WHERE r_table_schema = %s AND r_table_name = %s
           ORDER BY overview_factor""", (schema, table)).fetchall()]


def _build_overviews(conn: psycopg.Connection, schema: str, table: str, kind: str) -> list[int]:
    """Overviews of a tile table at 1/4, 1/16, 1/64 while an overview still spans a full tile (nearest neighbour for
    a categorical layer, bilinear otherwise), registered in ``raster_overviews``; a table that has overviews keeps
    them. Returns the overview factors of the table."""
    have = _overview_factors(conn, schema, table)
    if have:
        return have
    algo = "NearestNeighbor" if kind == "categorical" else "Bilinear"
    (ntiles,) = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(table))).fetchone()
    factor = OVERVIEW_STEP
    while factor <= OVERVIEW_MAX and ntiles / (factor * factor) >= 1:
        conn.execute("SELECT ST_CreateOverview(%s::regclass, 'rast', %s, %s)",
                     (sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table)).as_string(conn),
                      factor, algo))
        have.append(factor)
        factor *= OVERVIEW_STEP
    return have


def build_overviews(conn: psycopg.Connection, area: StudyArea, name: str) -> list[int]:
    """Give the source layer ``name`` of ``area`` its overviews (for viewing it in QGIS), in the caller's
    transaction; a layer that has them is left as it is. Returns the overview factors (none for a layer of fewer
    than 16 tiles). Raises InputError when the area has no source layer ``name``."""
    lock_name(conn, area.study_area_id, "layer", name)
    row = conn.execute("SELECT table_schema, table_name, kind FROM core.layer WHERE study_area_id = %s AND name = %s"
                       " AND run_id IS NULL", (area.study_area_id, name)).fetchone()
    if row is None:
        raise InputError(f"study area {area.name!r} has no source layer {name!r}")
    return _build_overviews(conn, *row)
