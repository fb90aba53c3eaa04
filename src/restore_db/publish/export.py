"""Export stored layers: read a layer back onto the study-area grid, write it as a GeoTIFF.

A layer is a source layer (``core.layer.run_id IS NULL``, tiles in ``src``)
or a computed layer of a run (tiles in ``result``). :func:`resolve_layer`
picks it: the source layer of that name when no run is given and one exists,
otherwise the layer of the given run, or of the newest succeeded run that
holds the name.

One tile reader serves both the in-memory read (:func:`read_layer_array`) and
the export: a server-side cursor streams ``tile_id, ST_AsBinary(rast)`` in
tile order, ``wkb.decode`` turns each tile into an array, and every tile is
checked against the place its ``tile_id`` gives on the grid.

:func:`export_raster` writes the full grid extent (transform and CRS of the
study area, the CRS stored in ``spatial_ref_sys`` for custom SRIDs) with the
stored pixel type and nodata, one tile at a time through rasterio windows, so
memory stays bounded by a tile. Tiles missing from the table (no valid pixel)
are written as nodata. The file is a tiled (256 x 256) DEFLATE GeoTIFF with
the predictor for its type (2 for integers, 3 for floating point),
BIGTIFF=IF_SAFER and compression on all CPUs. It is written to a temporary file in the target folder and
renamed at the end, so a failure leaves no partial file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import rasterio
from psycopg import sql
from rasterio.crs import CRS as RioCRS
from rasterio.errors import RasterioError
from rasterio.windows import Window

from restore_db.grid import studyarea
from restore_db.kernels import wkb
from restore_db.errors import InputError
from restore_db.grid.reference import Tile
from restore_db.load.common import short_list
from restore_db.grid.studyarea import StudyArea, crs_of_srid

BATCH = 16
BLOCK_SIZE = 256
_cursor_ids = itertools.count()


@dataclass(frozen=True)
class LayerRef:
    """A stored layer: its registry row (name, run, table, pixel type, nodata)."""

    name: str
    run_id: int | None
    table_schema: str
    table_name: str
    kind: str
    unit: str
    pixel_type: str
    nodata: float

    @property
    def label(self) -> str:
        return f"{self.name!r}" + (f" of run {self.run_id}" if self.run_id is not None else "")


@dataclass
class ExportInfo:
    path: Path
    layer: str
    run_id: int | None
    dtype: str
    nodata: float
    width: int
    height: int
    tiles: int
    missing_tiles: int
    valid_cells: int
    bytes: int
    seconds: float

    def summary(self) -> str:
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        return (f"{self.path}: layer {self.layer}{run}, {self.width} x {self.height} {self.dtype}, "
                f"{_size(self.bytes)}, {self.valid_cells:,} valid cells, {self.seconds:.2f} s")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


_LAYER_COLUMNS = "l.name, l.run_id, l.table_schema, l.table_name, l.kind, l.unit, l.pixel_type, l.nodata"


def resolve_layer(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None) -> LayerRef:
    """The stored layer ``layer`` of ``area``.

    No ``run_id``: the source layer of that name when it exists, otherwise the computed
    layer of the newest succeeded run that holds it. With ``run_id``: the computed layer of that run.
    """
    if run_id is not None:
        run = conn.execute("SELECT status FROM core.run WHERE run_id = %s AND study_area_id = %s",
                           (run_id, area.study_area_id)).fetchone()
        if run is None:
            raise InputError(f"study area {area.name!r} has no run {run_id}")
        row = conn.execute(
            f"SELECT {_LAYER_COLUMNS} FROM core.layer l WHERE l.study_area_id = %s AND l.name = %s AND l.run_id = %s",
            (area.study_area_id, layer, run_id)).fetchone()
        if row is None:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM core.layer WHERE study_area_id = %s AND run_id = %s ORDER BY name",
                (area.study_area_id, run_id)).fetchall()]
            held = f"it holds {short_list(names)}" if names else "it holds no layer"
            raise InputError(f"run {run_id} of study area {area.name!r} has no layer {layer!r} ({held})")
        return LayerRef(*row)
    row = conn.execute(
        f"SELECT {_LAYER_COLUMNS} FROM core.layer l WHERE l.study_area_id = %s AND l.name = %s AND l.run_id IS NULL",
        (area.study_area_id, layer)).fetchone()
    if row is None:
        row = conn.execute(
            f"""SELECT {_LAYER_COLUMNS} FROM core.layer l JOIN core.run r USING (run_id)
                WHERE l.study_area_id = %s AND l.name = %s AND r.status = 'succeeded'
                ORDER BY r.run_id DESC LIMIT 1""",
            (area.study_area_id, layer)).fetchone()
    if row is None:
        raise InputError(_unknown_layer_message(conn, area, layer))
    return LayerRef(*row)


def _unknown_layer_message(conn: psycopg.Connection, area: StudyArea, layer: str) -> str:
    rows = conn.execute(
        """SELECT l.name, l.run_id, r.status FROM core.layer l LEFT JOIN core.run r USING (run_id)
           WHERE l.study_area_id = %s ORDER BY l.run_id NULLS FIRST, l.name""",
        (area.study_area_id,)).fetchall()
    unfinished = sorted({r[1] for r in rows if r[0] == layer and r[2] != "succeeded"})
    if unfinished:
        return (f"study area {area.name!r} has layer {layer!r} only in run(s) that did not succeed "
                f"({', '.join(map(str, unfinished))}); choose one with --run")
    sources = [r[0] for r in rows if r[1] is None]
    computed = sorted({r[0] for r in rows if r[1] is not None})
    known = []
    if sources:
        known.append(f"source layers: {short_list(sources)}")
    if computed:
        known.append(f"computed layers: {short_list(computed)}")
    return f"study area {area.name!r} has no layer {layer!r} ({'; '.join(known) or 'no layer loaded yet'})"


def _dtype(pixel_type: str) -> np.dtype:
    if pixel_type not in wkb.PIXEL_TYPES:
        raise InputError(f"pixel type {pixel_type!r} is not supported for export")
    return np.dtype(wkb.PIXEL_TYPES[pixel_type][1])


def layer_dtype(conn: psycopg.Connection, ref: LayerRef) -> np.dtype:
    """The pixel type the tiles are stored with (the registry's when the table has no tile)."""
    row = conn.execute(sql.SQL("SELECT ST_BandPixelType(rast, 1) FROM {}.{} LIMIT 1").format(
        sql.Identifier(ref.table_schema), sql.Identifier(ref.table_name))).fetchone()
    return _dtype(row[0] if row else ref.pixel_type)


def iter_tiles(conn: psycopg.Connection, area: StudyArea, ref: LayerRef,
               batch: int = BATCH) -> Iterator[tuple[Tile, np.ndarray]]:
    """Stored tiles of a layer in ``tile_id`` order, each as (grid tile, band array with the layer's nodata).

    Streams through a server-side cursor (``batch`` tiles per fetch). Raises an InputError
    when a tile is not where its ``tile_id`` says or the table holds more than one band.
    """
    grid = area.grid
    ntiles = grid.tiles_x * grid.tiles_y
    query = sql.SQL("SELECT tile_id, ST_AsBinary(rast) FROM {}.{} ORDER BY tile_id").format(
        sql.Identifier(ref.table_schema), sql.Identifier(ref.table_name))
    # a server-side cursor needs a transaction: open one when the connection is in autocommit mode
    outer = conn.transaction() if conn.autocommit else contextlib.nullcontext()
    with outer, conn.cursor(name=f"export_tiles_{os.getpid()}_{next(_cursor_ids)}", binary=True) as cur:
        cur.itersize = batch
        cur.execute(query)
        while rows := cur.fetchmany(batch):
            for tile_id, blob in rows:
                if not 0 <= tile_id < ntiles:
                    raise InputError(f"layer {ref.label} of study area {area.name!r}: tile_id {tile_id} "
                                     f"is outside the grid (0..{ntiles - 1})")
                tile = grid.tile(tile_id)
                header, bands, nodatas = wkb.decode(blob)
                if len(bands) != 1:
                    raise InputError(f"layer {ref.label} of study area {area.name!r}: tile {tile_id} has "
                                     f"{len(bands)} bands, export handles one")
                expected = grid.header(tile)
                tol = 1e-6 * grid.pixel_size
                if ((header.width, header.height) != (expected.width, expected.height)
                        or abs(header.ulx - expected.ulx) > tol or abs(header.uly - expected.uly) > tol):
                    raise InputError(f"layer {ref.label} of study area {area.name!r}: tile {tile_id} is not where "
                                     "its tile_id says (check core.layer_alignment())")
                arr = bands[0]
                arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
                if nodatas[0] is not None and nodatas[0] != ref.nodata and not (
                        np.isnan(nodatas[0]) and np.isnan(ref.nodata)):
                    arr = np.where(wkb.valid_mask(arr, nodatas[0]), arr, arr.dtype.type(ref.nodata))
                yield tile, arr


def _area(conn: psycopg.Connection, area: StudyArea | str | None) -> StudyArea:
    return area if isinstance(area, StudyArea) else studyarea.get(conn, area)


def read_layer_array(conn: psycopg.Connection, area: StudyArea | str | None, layer: str,
                     run_id: int | None = None) -> tuple[np.ndarray, float]:
    """A whole layer in memory on the study-area grid: (array of the stored pixel type, nodata).

    Cells of tiles missing from the table hold nodata. ``area`` is a StudyArea or its name;
    the layer is resolved as by :func:`resolve_layer`.
    """
    area = _area(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    dtype = layer_dtype(conn, ref)
    grid = area.grid
    out = np.full((grid.height, grid.width), dtype.type(ref.nodata), dtype=dtype)
    for tile, arr in iter_tiles(conn, area, ref):
        out[tile.row0:tile.row0 + tile.height, tile.col0:tile.col0 + tile.width] = arr
    return out, ref.nodata


def _check_target(path: Path, overwrite: bool, what: str) -> Path:
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise InputError(f"{what}: output {path} is a directory; give a file name such as {path / 'layer.tif'}")
    if path.exists() and not overwrite:
        raise InputError(f"{what}: output {path} already exists; use --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{what}: cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what}: cannot write {path}: folder {parent} is not writable")
    return path


def _profile(area: StudyArea, crs: RioCRS, dtype: np.dtype, nodata: float) -> dict:
    grid = area.grid
    return dict(
        driver="GTiff", width=grid.width, height=grid.height, count=1, dtype=dtype.name, crs=crs,
        transform=grid.transform, nodata=nodata, tiled=True, blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE,
        compress="deflate", predictor=3 if dtype.kind == "f" else 2, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
    )


def _rio_crs(conn: psycopg.Connection, srid: int) -> RioCRS:
    crs = crs_of_srid(conn, srid)
    epsg = crs.to_epsg() if srid < studyarea.CUSTOM_SRID_BASE else None
    return RioCRS.from_epsg(epsg) if epsg == srid else RioCRS.from_wkt(crs.to_wkt())


def export_raster(conn: psycopg.Connection, area: StudyArea | str | None, layer: str, path: str | Path,
                  run_id: int | None = None, overwrite: bool = False) -> ExportInfo:
    """Write ``layer`` of ``area`` (source, or computed by ``run_id`` / the newest succeeded run) to a GeoTIFF."""
    started = time.perf_counter()
    area = _area(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    what = f"layer {ref.label} of study area {area.name!r}"
    target = _check_target(Path(path), overwrite, what)
    dtype = layer_dtype(conn, ref)
    nodata = dtype.type(ref.nodata)
    grid = area.grid
    profile = _profile(area, _rio_crs(conn, grid.srid), dtype, ref.nodata)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    tiles = valid = 0
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            next_id = 0
            blank = None

            def fill_missing(upto: int) -> None:
                nonlocal next_id, blank
                for tile_id in range(next_id, upto):
                    tile = grid.tile(tile_id)
                    if blank is None or blank.shape != (tile.height, tile.width):
                        blank = np.full((tile.height, tile.width), nodata, dtype=dtype)
                    dst.write(blank, 1, window=Window(tile.col0, tile.row0, tile.width, tile.height))
                next_id = max(next_id, upto)

            for tile, arr in iter_tiles(conn, area, ref):
                fill_missing(tile.tile_id)
                if arr.dtype != dtype:
                    raise InputError(f"{what}: tile {tile.tile_id} is {arr.dtype}, other tiles are {dtype}")
                dst.write(arr, 1, window=Window(tile.col0, tile.row0, tile.width, tile.height))
                tiles += 1
                valid += int(np.count_nonzero(wkb.valid_mask(arr, ref.nodata)))
                next_id = tile.tile_id + 1
            fill_missing(grid.tiles_x * grid.tiles_y)
        os.replace(tmp, target)
    except (OSError, RasterioError) as exc:
        raise InputError(f"{what}: cannot write {target}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            tmp.with_name(tmp.name + ".aux.xml").unlink()
    ntiles = grid.tiles_x * grid.tiles_y
    return ExportInfo(target, ref.name, ref.run_id, dtype.name, ref.nodata, grid.width, grid.height, tiles,
                      ntiles - tiles, valid, target.stat().st_size, time.perf_counter() - started)
