"""Export stored layers as GeoTIFF.

The layer is found by the rule for people of :func:`restore_db.store.layers.resolve_layer` (the source layer of
that name when no run is given and one exists, otherwise the layer of the given run, or of the newest succeeded run
that holds the name) and read with the one tile reader of :mod:`restore_db.store.layers`.

:func:`export_raster` writes the full grid extent (transform and CRS of the
study area, the CRS stored in ``spatial_ref_sys`` for custom SRIDs) with the
stored pixel type and nodata, one tile at a time through rasterio windows, so
memory stays bounded by a tile. Tiles missing from the table (no valid pixel)
are written as nodata. The file is a tiled (256 x 256) DEFLATE GeoTIFF with
the predictor for its type (2 for integers, 3 for floating point),
BIGTIFF=IF_SAFER and compression on all CPUs. It is written to a temporary file in the target folder and
renamed at the end, so a failure leaves no partial file.

With ``cog=True`` the tiled temporary GeoTIFF is then copied by GDAL's COG driver into a Cloud-Optimised GeoTIFF
(``rasterio.shutil.copy(..., driver="COG")``): the same 256 x 256 blocks, DEFLATE and predictor, overviews halving
the size until it fits in one block (``OVERVIEWS=AUTO``; a grid of at most 256 x 256 cells has none), computed
with nearest-neighbour resampling for categorical layers and averaging for continuous ones (nodata left out), and
the header and overviews before the full-resolution tiles, so that a client reads any window or zoom level with
few HTTP range requests.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import rasterio
import rasterio.shutil
from rasterio.crs import CRS as RioCRS
from rasterio.errors import RasterioError
from rasterio.windows import Window

from restore_db.grid import studyarea
from restore_db.kernels import wkb
from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea, crs_of_srid
from restore_db.publish.files import check_target, size_text, temporary_beside
from restore_db.store.layers import area_of, iter_tiles, layer_dtype, resolve_layer

BLOCK_SIZE = 256

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
    cog: bool = False
    overviews: int = 0
    cog_seconds: float = 0.0

    def summary(self) -> str:
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        cog = (f", Cloud-Optimised with {self.overviews} overview{'s' * (self.overviews != 1)} "
               f"({self.cog_seconds:.2f} s)") if self.cog else ""
        return (f"{self.path}: layer {self.layer}{run}, {self.width} x {self.height} {self.dtype}, "
                f"{size_text(self.bytes)}, {self.valid_cells:,} valid cells{cog}, {self.seconds:.2f} s")


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


def _copy_cog(src: Path, dst: Path, dtype: np.dtype, categorical: bool) -> int:
    """Copy the tiled GeoTIFF ``src`` to the Cloud-Optimised GeoTIFF ``dst`` (GDAL's COG driver); returns its
    number of overviews."""
    rasterio.shutil.copy(
        src, dst, driver="COG", BLOCKSIZE=BLOCK_SIZE, COMPRESS="DEFLATE",
        PREDICTOR="FLOATING_POINT" if dtype.kind == "f" else "STANDARD", OVERVIEWS="AUTO",
        RESAMPLING="NEAREST" if categorical else "AVERAGE", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
    )
    with rasterio.open(dst) as cog:
        return len(cog.overviews(1))


def export_raster(conn: psycopg.Connection, area: StudyArea | str | None, layer: str, path: str | Path,
                  run_id: int | None = None, overwrite: bool = False, cog: bool = False) -> ExportInfo:
    """Write ``layer`` of ``area`` (source, or computed by ``run_id`` / the newest succeeded run) to a GeoTIFF,
    a Cloud-Optimised one with ``cog`` (see the module docstring).

    Returns an :class:`ExportInfo` (size in bytes, seconds in all and for the COG copy).

    Raises:
        InputError: unknown layer or run, a target that is a folder, exists without ``overwrite`` or lies in a
        missing or read-only folder, a tile of another pixel type, or GDAL cannot write the file. No file is left
        then.
    """
    started = time.perf_counter()
    area = area_of(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    what = f"layer {ref.label} of study area {area.name!r}"
    target = check_target(Path(path), overwrite, what, example="layer.tif")
    dtype = layer_dtype(conn, ref)
    nodata = dtype.type(ref.nodata)
    grid = area.grid
    profile = _profile(area, _rio_crs(conn, grid.srid), dtype, ref.nodata)
    tmp = temporary_beside(target)
    tmp_cog = tmp.with_name(tmp.name + ".cog")
    tiles = valid = overviews = 0
    cog_seconds = 0.0
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
        if cog:
            cog_started = time.perf_counter()
            overviews = _copy_cog(tmp, tmp_cog, dtype, ref.kind == "categorical")
            cog_seconds = time.perf_counter() - cog_started
            os.replace(tmp_cog, target)
        else:
            os.replace(tmp, target)
    except (OSError, RasterioError) as exc:
        raise InputError(f"{what}: cannot write {target}: {exc}") from exc
    finally:
        for leftover in (tmp, tmp_cog):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
            with contextlib.suppress(FileNotFoundError):
                leftover.with_name(leftover.name + ".aux.xml").unlink()
    ntiles = grid.tiles_x * grid.tiles_y
    return ExportInfo(target, ref.name, ref.run_id, dtype.name, ref.nodata, grid.width, grid.height, tiles,
                      ntiles - tiles, valid, target.stat().st_size, time.perf_counter() - started, cog, overviews,
                      cog_seconds)
