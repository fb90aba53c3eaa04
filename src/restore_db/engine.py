"""Tile engine: run a numpy kernel over aligned layers, tile by tile.

Input layers of a study area share its grid, so the engine joins their tile
tables on ``tile_id`` (inner join: a tile missing from any input is all
nodata there, and nodata propagates), streams the tiles through a server-side
cursor in batches, decodes them to float64 arrays with NaN for nodata, calls
the kernel, and writes each output as float32 tiles (nodata = lowest float32)
with a text COPY of raster WKB into a result table registered in
``core.layer`` with its run. Everything happens in the caller's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql

from . import wkb
from .errors import InputError
from .load.raster import FLOAT_NODATA, drop_layer_table, set_lz4
from .studyarea import StudyArea

BATCH = 16
RESULT_SCHEMA = "result"

Kernel = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Output:
    name: str
    unit: str
    description: str


@dataclass
class KernelStats:
    tiles: int = 0
    cells: int = 0
    seconds: float = 0.0
    outputs: dict[str, dict] = field(default_factory=dict)

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds else float("nan")


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


def as_float(arr: np.ndarray, nodata) -> np.ndarray:
    """float64 copy of a band with NaN where it holds nodata."""
    out = arr.astype(np.float64)
    out[~wkb.valid_mask(arr, nodata)] = np.nan
    return out


def run_kernel(conn: psycopg.Connection, area: StudyArea, run_id: int, inputs: dict[str, tuple[str, int | None]],
               kernel: Kernel, outputs: list[Output], progress: Callable[[int], None] | None = None) -> KernelStats:
    """Apply ``kernel`` to every tile where all ``inputs`` (arg -> (layer, run)) have data.

    The kernel receives {arg: float64 array with NaN} and returns {output name: array}.
    """
    grid = area.grid
    tables = {arg: layer_table(conn, area, layer, run) for arg, (layer, run) in inputs.items()}
    args = list(tables)
    select = sql.SQL(", ").join(
        sql.SQL("ST_AsBinary(t{}.rast)").format(sql.Literal(i)) for i in range(len(args)))
    joins = sql.SQL(" ").join(
        sql.SQL("JOIN {}.{} t{} USING (tile_id)").format(sql.Identifier(s), sql.Identifier(t), sql.Literal(i))
        for i, (s, t) in enumerate(tables.values()) if i > 0)
    first_schema, first_table = tables[args[0]]
    query = sql.SQL("SELECT tile_id, {} FROM {}.{} t0 {} ORDER BY tile_id").format(
        select, sql.Identifier(first_schema), sql.Identifier(first_table), joins)

    targets = {o.name: _create_result_table(conn, area, o, run_id) for o in outputs}
    stats = KernelStats(outputs={o.name: dict(valid=0, sum=0.0, min=None, max=None) for o in outputs})
    started = time.perf_counter()
    with conn.cursor(name=f"tiles_{run_id}_{outputs[0].name}") as cur:
        cur.itersize = BATCH
        cur.execute(query)
        while True:
            rows = cur.fetchmany(BATCH)
            if not rows:
                break
            written: dict[str, list] = {o.name: [] for o in outputs}
            for row in rows:
                tile_id, blobs = row[0], row[1:]
                arrays = {}
                for arg, blob in zip(args, blobs):
                    _, bands, nodatas = wkb.decode(blob)
                    arrays[arg] = as_float(bands[0], nodatas[0])
                result = kernel(arrays)
                header = grid.header(grid.tile(tile_id))
                for o in outputs:
                    out = np.asarray(result[o.name], dtype=np.float64)
                    valid = np.isfinite(out)
                    if not valid.any():
                        continue
                    acc = stats.outputs[o.name]
                    vals = out[valid]
                    acc["valid"] += int(vals.size)
                    acc["sum"] += float(vals.sum())
                    lo, hi = float(vals.min()), float(vals.max())
                    acc["min"] = lo if acc["min"] is None else min(acc["min"], lo)
                    acc["max"] = hi if acc["max"] is None else max(acc["max"], hi)
                    tile = np.where(valid, out, FLOAT_NODATA).astype(np.float32)
                    written[o.name].append((tile_id, wkb.encode(tile, FLOAT_NODATA, header).hex()))
                stats.tiles += 1
                stats.cells += header.width * header.height
            for name, tiles in written.items():
                if not tiles:
                    continue
                schema, table = targets[name]
                with conn.cursor().copy(sql.SQL("COPY {}.{} (tile_id, rast) FROM STDIN").format(
                        sql.Identifier(schema), sql.Identifier(table))) as copy:
                    for item in tiles:
                        copy.write_row(item)
            if progress:
                progress(len(rows))
    stats.seconds = time.perf_counter() - started
    for o in outputs:
        _finish_result_table(conn, area, o, run_id, targets[o.name], stats.outputs[o.name])
    return stats


def _create_result_table(conn, area: StudyArea, output: Output, run_id: int) -> tuple[str, str]:
    table = f"{area.name}__{output.name}__{run_id}"
    old = conn.execute(
        "SELECT table_schema, table_name FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id = %s",
        (area.study_area_id, output.name, run_id)).fetchone()
    if old:
        drop_layer_table(conn, *old)
        conn.execute("DELETE FROM core.layer WHERE study_area_id = %s AND name = %s AND run_id = %s",
                     (area.study_area_id, output.name, run_id))
    ident = sql.SQL("{}.{}").format(sql.Identifier(RESULT_SCHEMA), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE TABLE {} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(ident))
    set_lz4(conn, ident)
    return RESULT_SCHEMA, table


def _finish_result_table(conn, area: StudyArea, output: Output, run_id: int, target: tuple[str, str],
                         acc: dict) -> None:
    schema, table = target
    ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (ST_ConvexHull(rast))").format(ident))
    if acc["valid"]:
        conn.execute("SELECT AddRasterConstraints(%s::name, %s::name, 'rast'::name)", (schema, table))
    cells = area.grid.cells
    conn.execute(
        """INSERT INTO core.layer (study_area_id, run_id, name, kind, unit, pixel_type, nodata, table_schema,
               table_name, description, valid_cells, nodata_share, min_value, max_value, mean_value)
           VALUES (%s, %s, %s, 'continuous', %s, '32BF', %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (area.study_area_id, run_id, output.name, output.unit, FLOAT_NODATA, schema, table, output.description,
         acc["valid"], 1 - acc["valid"] / cells, acc["min"], acc["max"],
         acc["sum"] / acc["valid"] if acc["valid"] else None),
    )
