"""Load any GDAL-readable raster onto the study-area grid.

The file is warped (GDAL WarpedVRT) to the grid CRS, origin and pixel size,
one row of tiles at a time, so memory stays bounded by a tile row. Resampling
defaults follow domain.md 0.1: categorical layers use nearest neighbour, or
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
"""

from __future__ import annotations

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

from .. import wkb
from ..errors import InputError
from ..kernels.tiles import FLOAT_NODATA, LayerStats
from ..studyarea import LAYER_NAME_RE, StudyArea, check_name, crs_of_srid
from .common import existing_file, sha256

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


def table_name(area: StudyArea, layer: str) -> str:
    return f"{area.name}__{layer}"


def _square(res: tuple[float, float]) -> bool:
    return abs(abs(res[0]) - abs(res[1])) <= 1e-6 * max(abs(res[0]), abs(res[1]))


def _grid_bounds_in_source(src, dst_crs, grid) -> tuple[float, float, float, float]:
    """The study-area extent in the source CRS. (The other way round is not well defined: the
    extent of a global or far-away lon/lat raster has no meaningful bounds in a UTM zone.)"""
    return transform_bounds(dst_crs, src.crs, *grid.bounds, densify_pts=21)


def _source_resolution_in_grid_units(src, grid, grid_in_src) -> float:
    """Approximate source pixel size over the study area, in grid units (for choosing resampling)."""
    left, bottom, right, top = grid_in_src
    src_cells = abs((right - left) / src.res[0]) * abs((top - bottom) / src.res[1])
    gx0, gy0, gx1, gy1 = grid.bounds
    return math.sqrt((gx1 - gx0) * (gy1 - gy0) / src_cells)


def _same_grid(src, dst_crs, grid) -> bool:
    if src.crs is None or not PyprojCRS.from_user_input(src.crs.to_wkt()).equals(dst_crs):
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


def load_raster(conn: psycopg.Connection, area: StudyArea, name: str, path: str | Path, kind: str,
                unit: str, nodata: float | None = None, resampling: str | None = None, band: int = 1,
                replace: bool = False, description: str | None = None,
                allow_non_square: bool = False, overviews: bool = True) -> LayerInfo:
    """Warp ``path`` onto the grid of ``area`` and store it as layer ``name`` (caller's transaction)."""
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
        raise InputError(f"cannot read raster {path}: {exc}") from exc
    with src:
        if not 1 <= band <= src.count:
            raise InputError(f"raster {path} has {src.count} band(s), band {band} requested")
        if src.crs is None:
            raise InputError(f"raster {path} declares no CRS; assign one (e.g. gdal_edit.py -a_srs) before loading")
        if not _square(src.res) and not allow_non_square:
            raise InputError(
                f"raster {path} has non-square pixels ({src.res[0]:g} x {src.res[1]:g} in {src.crs.to_string()}); "
                "resample it to square pixels first, or pass --allow-non-square to warp it anyway"
            )
        if src.transform.b or src.transform.d:
            raise InputError(f"raster {path} is rotated (skewed geotransform); rectify it first")
        src_nodata = nodata if nodata is not None else src.nodatavals[band - 1]
        if src_nodata is None:
            raise InputError(
                f"raster {path} declares no nodata value for band {band}; give one with --nodata "
                "(cells outside the file and invalid cells must be distinguishable from data)"
            )
        dtype = np.dtype(src.dtypes[band - 1])
        if kind == "categorical" and dtype.kind == "f":
            raise InputError(f"raster {path} holds floating-point values ({dtype}); a categorical layer needs integer codes")
        try:
            grid_in_src = _grid_bounds_in_source(src, dst_crs, grid)
        except Exception as exc:
            raise InputError(f"raster {path}: cannot transform the study-area extent to its CRS: {exc}") from exc
        gx0, gy0, gx1, gy1 = grid_in_src
        left, bottom, right, top = src.bounds
        if not all(map(math.isfinite, grid_in_src)) or right <= gx0 or left >= gx1 or top <= gy0 or bottom >= gy1:
            raise InputError(
                f"raster {path} does not overlap study area {area.name!r}: file bounds "
                f"({left:.6g}, {bottom:.6g}, {right:.6g}, {top:.6g}) vs area bounds "
                f"({gx0:.6g}, {gy0:.6g}, {gx1:.6g}, {gy1:.6g}) in the file's CRS"
            )
        if _same_grid(src, grid_crs, grid):
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
        _drop_existing(conn, area, name, replace)
        _create_table(conn, table)
        stats = LayerStats()
        stored_tiles = 0
        try:
            with WarpedVRT(src, crs=dst_crs, transform=grid.transform, width=grid.width, height=grid.height,
                           resampling=method, src_nodata=src_nodata, nodata=src_nodata) as vrt:
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
            raise InputError(f"cannot read raster {path} (corrupt or truncated file?): {exc}") from exc
        if stats.valid == 0:
            raise InputError(f"raster {path} has no valid cell inside study area {area.name!r} (all nodata after warping)")
        _finish_table(conn, table, overviews, kind)
        info = LayerInfo(name, f"{SCHEMA}.{table}", kind, unit, pixel_type, out_nodata, stored_tiles, stats.valid,
                         1.0 - stats.valid / grid.cells, stats.min, stats.max,
                         stats.mean, method.name)
        conn.execute(
            """INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name,
                   description, source_path, source_sha256, source_crs, resampling, valid_cells, nodata_share,
                   min_value, max_value, mean_value)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (area.study_area_id, name, kind, unit, pixel_type, out_nodata, SCHEMA, table, description,
             str(path.resolve()), sha256(path), src.crs.to_string(), method.name, info.valid_cells,
             info.nodata_share, info.min_value, info.max_value, info.mean_value),
        )
        return info


def _drop_existing(conn: psycopg.Connection, area: StudyArea, name: str, replace: bool) -> None:
    row = conn.execute(
        "SELECT table_schema, table_name FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id IS NULL",
        (area.study_area_id, name),
    ).fetchone()
    if row is None:
        return
    if not replace:
        raise InputError(f"study area {area.name!r} already has a layer {name!r}; use --replace to load it again")
    drop_layer_table(conn, *row)
    conn.execute("DELETE FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id IS NULL",
                 (area.study_area_id, name))


def drop_layer_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Drop a raster tile table and its overview tables."""
    overviews = conn.execute(
        "SELECT o_table_schema, o_table_name FROM raster_overviews WHERE r_table_schema = %s AND r_table_name = %s",
        (schema, table),
    ).fetchall()
    for o_schema, o_table in overviews:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(o_schema), sql.Identifier(o_table)))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))


def _create_table(conn: psycopg.Connection, table: str) -> None:
    ident = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE TABLE {} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(ident))
    set_lz4(conn, ident)


def set_lz4(conn: psycopg.Connection, ident: sql.Composable) -> None:
    """Use lz4 TOAST compression for the tiles when the server has it (pglz costs ~60 MB/s)."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN rast SET COMPRESSION lz4").format(ident))
    except psycopg.errors.FeatureNotSupported:
        pass


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
