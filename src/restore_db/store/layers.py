"""Stored layers: one home for finding, reading, writing helpers, dropping and checksumming the rasters of a
study area.

A layer is a source layer (``core.layer.run_id IS NULL``, tiles in ``src``) or a computed layer of a run (tiles in
``result``), registered in ``core.layer``. Two lookup rules, both here:

- exact (:func:`layer_table`, :func:`has_layer`): the source layer, or the layer of the run given; what stages use,
  since a run reads exactly the runs it names;
- for people (:func:`resolve_layer`): with a run, that run's layer; without, the source layer of that name, else
  the layer of the newest succeeded run that holds it (export, ``--run`` omitted).

One tile reader serves every in-memory read: a server-side cursor streams ``tile_id, ST_AsBinary(rast)`` in tile
order, ``wkb.decode`` turns each tile into an array, and every tile is checked against the place its ``tile_id``
gives on the grid (:func:`iter_tiles`, :func:`read_layer_array`, :func:`read_array`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from restore_db.errors import InputError
from restore_db.grid import studyarea
from restore_db.grid.reference import Tile
from restore_db.grid.studyarea import StudyArea
from restore_db.kernels import tiles, wkb
from restore_db.load.common import short_list

BATCH = 16
COMPACT = "compact"   # read_array's dtype: float32 when it holds the stored values exactly, else float64
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
    query = tiles.tiles_query([(ref.table_schema, ref.table_name)])     # streams: converts above the sort
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


def area_of(conn: psycopg.Connection, area: StudyArea | str | None) -> StudyArea:
    """``area`` itself, or the study area of that name (InputError when there is none)."""
    return area if isinstance(area, StudyArea) else studyarea.get(conn, area)


def read_layer_array(conn: psycopg.Connection, area: StudyArea | str | None, layer: str,
                     run_id: int | None = None) -> tuple[np.ndarray, float]:
    """A whole layer in memory on the study-area grid: (array of the stored pixel type, nodata).

    Cells of tiles missing from the table hold nodata. ``area`` is a StudyArea or its name;
    the layer is resolved as by :func:`resolve_layer`.
    """
    area = area_of(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    dtype = layer_dtype(conn, ref)
    grid = area.grid
    out = np.full((grid.height, grid.width), dtype.type(ref.nodata), dtype=dtype)
    for tile, arr in iter_tiles(conn, area, ref):
        out[tile.row0:tile.row0 + tile.height, tile.col0:tile.col0 + tile.width] = arr
    return out, ref.nodata


# ---------------------------------------------------------------- exact lookups and float reads

def layer_table(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None) -> tuple[str, str]:
    """(schema, table) of a source layer, or of a computed layer of ``run_id``."""
    row = conn.execute(
        "SELECT table_schema, table_name FROM core.layer WHERE study_area_id = %s AND name = %s"
        " AND run_id IS NOT DISTINCT FROM %s",
        (area.study_area_id, layer, run_id),
    ).fetchone()
    if row is None:
        where = f" of run {run_id}" if run_id else ""
        raise InputError(f"study area {area.name!r} has no layer {layer!r}{where}; load it first")
    return row


def has_layer(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None) -> bool:
    return conn.execute(
        "SELECT 1 FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id IS NOT DISTINCT FROM %s",
        (area.study_area_id, layer, run_id)).fetchone() is not None


def _float_dtype(conn: psycopg.Connection, ref: LayerRef, dtype) -> np.dtype:
    """The float dtype a read returns: ``dtype``, or for :data:`COMPACT` float32 when it holds the stored
    values exactly, else float64. ValueError when ``dtype`` is not a float type that holds them exactly."""
    stored = layer_dtype(conn, ref)
    if isinstance(dtype, str) and dtype == COMPACT:
        dtype = np.float32 if np.can_cast(stored, np.float32, "safe") else np.float64
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"layers are read as floats, not {dtype}")
    if not np.can_cast(stored, dtype, "safe"):
        raise ValueError(f"layer {ref.label} is stored as {stored}, which {dtype} does not hold exactly")
    return dtype


def read_array(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None,
               dtype=np.float64) -> np.ndarray:
    """A whole layer on the study grid as floats (``dtype``, float64 by default) with NaN for nodata and
    missing tiles.

    The tiles are decoded one batch at a time into the output array, so the memory is the output
    (8 bytes per cell, 4 with ``dtype=np.float32``) and one batch of tiles. ``np.float32`` holds every
    value of a layer stored as float32 or as 8/16-bit integers exactly; a stored type it cannot hold
    exactly (32-bit integers, float64) is a ValueError; ``dtype=COMPACT`` picks float32 when it is
    exact, else float64. Tile placement is checked (:func:`iter_tiles`);
    the layer is resolved as by :func:`resolve_layer`.
    """
    area = area_of(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    dtype = _float_dtype(conn, ref, dtype)
    grid = area.grid
    out = np.full((grid.height, grid.width), np.nan, dtype=dtype)
    for tile, arr in iter_tiles(conn, area, ref):
        window = out[tile.row0:tile.row0 + tile.height, tile.col0:tile.col0 + tile.width]
        window[...] = arr
        window[~wkb.valid_mask(arr, ref.nodata)] = np.nan
    return out


def valid_values(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None,
                 dtype=COMPACT) -> np.ndarray:
    """The valid pixel values of a layer (not nodata, not NaN) as a 1-D array of ``dtype``, in tile order.

    For order-free statistics (percentiles, histograms): ``dtype`` bytes per valid cell, filled tile by
    tile, and one batch of tiles. The same exactness rule as :func:`read_array`.
    """
    area = area_of(conn, area)
    ref = resolve_layer(conn, area, layer, run_id)
    dtype = _float_dtype(conn, ref, dtype)
    out = np.empty(area.grid.cells, dtype=dtype)
    n = 0
    for _, arr in iter_tiles(conn, area, ref):
        values = arr[wkb.valid_mask(arr, ref.nodata)]
        out[n:n + values.size] = values
        n += values.size
    return out[:n]


def computed_by_run(conn: psycopg.Connection, area: StudyArea, layer: str, record: dict[str, str]) -> int | None:
    """The newest succeeded run holding the computed layer ``layer`` whose run record has these values, or None.

    Args:
        record: dotted path in ``core.run`` (``params.soil.flow_accumulation``, ``inputs.layers.dem``) -> the text
            value it must hold there.
    Returns:
        The run id (its layer can be read with ``run_id``): an intermediate layer that depends on nothing else
        than what ``record`` names is reused instead of recomputed.
    """
    where, args = [], []
    for path, value in record.items():
        column, *keys = path.split(".")
        if column not in ("params", "inputs") or not keys:
            raise ValueError(f"not a run record path: {path!r}")
        where.append(sql.SQL("r.{} #>> %s = %s").format(sql.Identifier(column)))
        args += [keys, value]
    row = conn.execute(sql.SQL(
        """SELECT l.run_id FROM core.layer l JOIN core.run r USING (run_id)
           WHERE l.study_area_id = %s AND l.name = %s AND r.status = 'succeeded' AND {}
           ORDER BY l.run_id DESC LIMIT 1""").format(sql.SQL(" AND ").join(where)),
        (area.study_area_id, layer, *args)).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------- writing computed layers

RESULT_SCHEMA = "result"


def create_result_table(conn: psycopg.Connection, area: StudyArea, name: str, run_id: int,
                        ddl: psycopg.Connection | None = None) -> tuple[str, str]:
    """An empty tile table ``result.<area>__<name>__<run>`` for a computed layer (replacing the run's earlier
    table of that name); returns (schema, table).

    ``ddl``, when given, is a tile worker's connection (:mod:`restore_db.db.workers`) that creates the table
    and commits it at once, so that the other workers can fill and read it; ``conn`` (the command's
    transaction) still looks up and drops the run's earlier table.

    Raises:
        ValueError: ``ddl`` is given and the run already holds a table of that name (the replacement could
            not be seen by the workers until the command commits).
    """
    table = f"{area.name}__{name}__{run_id}"
    old = conn.execute(
        "SELECT table_schema, table_name FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id = %s",
        (area.study_area_id, name, run_id)).fetchone()
    if old:
        if ddl is not None:
            raise ValueError(f"run {run_id} already holds layer {name!r}")
        drop_layer_table(conn, *old)
        conn.execute("DELETE FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id = %s",
                     (area.study_area_id, name, run_id))
    ident = sql.SQL("{}.{}").format(sql.Identifier(RESULT_SCHEMA), sql.Identifier(table))
    with (ddl or conn).transaction():
        (ddl or conn).execute(sql.SQL("CREATE TABLE {} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(ident))
        set_lz4(ddl or conn, ident)
    return RESULT_SCHEMA, table


def finish_result_table(conn: psycopg.Connection, target: tuple[str, str], stats) -> None:
    """Index a filled result table and add its raster constraints (when it holds a tile).

    ``stats`` is the :class:`restore_db.kernels.tiles.LayerStats` of the table.
    """
    schema, table = target
    ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    with conn.transaction():
        # an explicit name: PostgreSQL's own truncates long table names, and two tables finished at once by two
        # connections could then both pick the same one
        index = f"{table[:40]}_{hashlib.md5(f'{schema}.{table}'.encode()).hexdigest()[:8]}_hull"
        conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gist (ST_ConvexHull(rast))").format(
            sql.Identifier(index), ident))
        if stats.valid:
            conn.execute("SELECT AddRasterConstraints(%s::name, %s::name, 'rast'::name)", (schema, table))


def register_computed(conn: psycopg.Connection, area: StudyArea, run_id: int, output, target: tuple[str, str],
                      stats, finished: bool = False) -> None:
    """Register a result table in ``core.layer`` as a float32 layer of ``run_id`` (indexing it and adding its
    raster constraints first unless ``finished``, see :func:`finish_result_table`); ``output`` has ``name``,
    ``unit`` and ``description``, ``stats`` is a :class:`restore_db.kernels.tiles.LayerStats`."""
    schema, table = target
    if not finished:
        finish_result_table(conn, target, stats)
    conn.execute(
        """INSERT INTO core.layer (study_area_id, run_id, name, kind, unit, pixel_type, nodata, table_schema,
               table_name, description, valid_cells, nodata_share, min_value, max_value, mean_value)
           VALUES (%s, %s, %s, 'continuous', %s, '32BF', %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (area.study_area_id, run_id, output.name, output.unit, tiles.FLOAT_NODATA, schema, table, output.description,
         stats.valid, 1 - stats.valid / area.grid.cells, stats.min, stats.max, stats.mean),
    )


def stats_of(conn: psycopg.Connection, area: StudyArea, layer: str, run_id: int | None = None
             ) -> tuple[float | None, float | None] | None:
    """(min, max) of a layer as registered, or None when the run (or the sources) hold no such layer."""
    return conn.execute("SELECT min_value, max_value FROM core.layer WHERE study_area_id = %s AND name = %s"
                        " AND run_id IS NOT DISTINCT FROM %s", (area.study_area_id, layer, run_id)).fetchone()


def source_layer(conn: psycopg.Connection, area: StudyArea, layer: str) -> tuple[str, str, str] | None:
    """(schema, table, kind) of the source layer ``layer``, or None."""
    return conn.execute("SELECT table_schema, table_name, kind FROM core.layer WHERE study_area_id = %s"
                        " AND name = %s AND run_id IS NULL", (area.study_area_id, layer)).fetchone()


def source_names(conn: psycopg.Connection, area: StudyArea, kind: str | None = None) -> list[str]:
    """The names of the source layers (of ``kind`` categorical or continuous, when given), sorted."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM core.layer WHERE study_area_id = %s AND run_id IS NULL AND (%s::text IS NULL OR kind = %s)"
        " ORDER BY name", (area.study_area_id, kind, kind)).fetchall()]


# ---------------------------------------------------------------- tables


def drop_area_tables(conn: psycopg.Connection, area: StudyArea) -> None:
    """Drop the tile tables of every layer of ``area`` (their registry rows go with the study area)."""
    for schema, table in conn.execute("SELECT table_schema, table_name FROM core.layer WHERE study_area_id = %s",
                                      (area.study_area_id,)).fetchall():
        drop_layer_table(conn, schema, table)



def drop_layer_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Drop a raster tile table and its overview tables."""
    overviews = conn.execute(
        "SELECT o_table_schema, o_table_name FROM raster_overviews WHERE r_table_schema = %s AND r_table_name = %s",
        (schema, table),
    ).fetchall()
    for o_schema, o_table in overviews:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(o_schema), sql.Identifier(o_table)))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))


def set_lz4(conn: psycopg.Connection, ident: sql.Composable) -> None:
    """Use lz4 TOAST compression for the tiles when the server has it (pglz costs ~60 MB/s)."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN rast SET COMPRESSION lz4").format(ident))
    except psycopg.errors.FeatureNotSupported:
        pass


# ---------------------------------------------------------------- checksums (run identities)

def input_checksums(conn: psycopg.Connection, area: StudyArea, layers: list[str], param_sets: list[str]) -> dict:
    """Checksums of the source layers and parameter sets a computation reads."""
    out = {"layers": {}, "param_sets": {}}
    for name, sha, loaded in conn.execute(
        "SELECT name, source_sha256, loaded_at FROM core.layer WHERE study_area_id = %s AND run_id IS NULL"
        " AND name = ANY(%s) ORDER BY name", (area.study_area_id, layers)).fetchall():
        out["layers"][name] = sha or loaded.isoformat()
    for name, sha, loaded in conn.execute(
        "SELECT name, source_sha256, loaded_at FROM param.param_set WHERE study_area_id = %s AND name = ANY(%s)"
        " ORDER BY name", (area.study_area_id, param_sets)).fetchall():
        out["param_sets"][name] = sha or loaded.isoformat()
    return out
