"""Tile engine: run catalogue kernels over aligned layers, in the server or on the client.

Layers of a study area share its grid, so a kernel run joins their tile
tables on ``tile_id`` (inner join: a tile missing from any input is all
nodata there, and nodata propagates) and streams them in ``tile_id`` order
through :class:`restore_db.kernels.tiles.TileRunner`, which decodes raster
WKB, calls the kernel and encodes float32 output tiles (nodata = lowest
float32). Two backends run the very same modules:

* ``server``: ``calc.apply_kernel`` in PL/Python next to the data (the
  migrations store the kernel modules in ``calc.kernel_module``);
* ``client``: a server-side cursor feeds the runner here and a text COPY of
  hex WKB writes the tiles back.

``auto`` picks the server when PL/Python and its numpy answer. Outputs go to
``result.<area>__<layer>__<run>`` tables registered in ``core.layer`` with
their run. Everything happens in the caller's transaction.

Grid-wide steps that are not tile-local (flow accumulation, distance
transforms, county rasters) read whole layers with :func:`restore_db.store.layers.read_array` and
store their result with :func:`write_array`.

With a pool of tile workers open on the connection (:func:`restore_db.db.workers.scope`, which every
computing command opens), a kernel runs in bands of tile rows, one band per worker connection at a time,
and :func:`write_array` writes its bands the same way; the tiles and their statistics equal those of the
serial pass bit for bit. The result tables are then made and filled by the workers, committed at once, and
only registered in the caller's transaction (see :mod:`restore_db.db.workers`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from restore_db.db import workers
from restore_db.kernels import wkb
from restore_db.errors import InputError
from restore_db.kernels import catalog, formulas, tiles
from restore_db.kernels.tiles import FLOAT_NODATA, LayerStats, TileRunner
from restore_db.store import layers
from restore_db.store.layers import layer_table
from restore_db.grid.studyarea import StudyArea

BATCH = 16
BACKENDS = ("auto", "server", "client")
# Modules stored in calc.kernel_module, in load order (each imports only numpy and earlier ones).
KERNEL_MODULES = (("restore_db.kernels.wkb", wkb), ("restore_db.kernels.formulas", formulas),
                  ("restore_db.kernels.catalog", catalog), ("restore_db.kernels.tiles", tiles))


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
    backend: str = "client"
    added: int = 0          # pixels that received a value of params["_add"]
    workers: int = 1        # connections the tiles were computed on
    cpu_seconds: float = 0.0  # CPU time of this process plus that of the server's kernel functions

    @property
    def cores(self) -> float:
        """Cores used: CPU seconds per second of wall time."""
        return self.cpu_seconds / self.seconds if self.seconds else float("nan")
    outputs: dict[str, LayerStats] = field(default_factory=dict)

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds if self.seconds else float("nan")


# ---------------------------------------------------------------------------
# kernel modules in the database
# ---------------------------------------------------------------------------

def kernel_sources() -> list[tuple[str, int, str, str]]:
    """(name, load order, source, sha256) of every module the server runs."""
    out = []
    for order, (name, module) in enumerate(KERNEL_MODULES):
        source = Path(module.__file__).read_text(encoding="utf-8")
        out.append((name, order, source, hashlib.sha256(source.encode()).hexdigest()))
    return out


def sync_kernel_modules(conn) -> int:
    """Store the installed package's kernel modules in ``calc.kernel_module``; returns rows changed."""
    have = dict(conn.execute("SELECT name, sha256 FROM calc.kernel_module").fetchall())
    wanted = kernel_sources()
    changed = 0
    for name, order, source, sha in wanted:
        if have.get(name) == sha:
            continue
        conn.execute(
            """INSERT INTO calc.kernel_module (name, load_order, source, sha256) VALUES (%s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET load_order = EXCLUDED.load_order, source = EXCLUDED.source,
                   sha256 = EXCLUDED.sha256, updated_at = now()""", (name, order, source, sha))
        changed += 1
    stale = [n for n in have if n not in {w[0] for w in wanted}]
    if stale:
        conn.execute("DELETE FROM calc.kernel_module WHERE name = ANY(%s)", (stale,))
        changed += len(stale)
    return changed


def server_backend(conn: psycopg.Connection) -> tuple[bool, str]:
    """Whether ``calc.apply_kernel`` can run here, and why not (or the server numpy version)."""
    if conn.execute("SELECT to_regprocedure('calc.apply_kernel(text,jsonb,text[],text[],boolean,integer,"
                    "text[],text[],integer,integer)')").fetchone()[0] is None:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'plpython3u'").fetchone():
            return False, "PL/Python is installed but calc.apply_kernel is missing (apply sql/050_kernels.sql)"
        return False, "PL/Python (plpython3u) is not installed in this database"
    try:
        with conn.transaction():
            version = conn.execute("SELECT calc.kernel_modules()").fetchone()[0]
    except psycopg.Error as exc:
        return False, f"PL/Python cannot load the kernels: {str(exc).splitlines()[0]}"
    return True, f"numpy {version} in the server"


def choose_backend(conn: psycopg.Connection, requested: str | None = None) -> str:
    """``server`` or ``client`` for ``requested`` (default: $RESTORE_DB_ENGINE, else auto)."""
    requested = (requested or os.environ.get("RESTORE_DB_ENGINE") or "auto").lower()
    if requested not in BACKENDS:
        raise InputError(f"unknown engine {requested!r}; choose from {', '.join(BACKENDS)}")
    if requested == "client":
        return "client"
    ok, why = server_backend(conn)
    if ok:
        return "server"
    if requested == "server":
        raise InputError(f"the in-database engine is unavailable: {why}")
    return "client"


def _copy_tiles(conn, target: tuple[str, str], items: list[tuple[int, bytes]]) -> None:
    if not items:
        return
    schema, table = target
    with conn.cursor().copy(sql.SQL("COPY {}.{} (tile_id, rast) FROM STDIN").format(
            sql.Identifier(schema), sql.Identifier(table))) as copy:
        for tile_id, blob in items:
            copy.write_row((tile_id, blob.hex()))


def _write_band(conn, target, area: StudyArea, array: np.ndarray, band) -> LayerStats:
    """Write the tiles of ``array`` in tile rows ``band`` (every row when None) that hold a valid pixel, one tile
    row at a time (the encoded tiles of a row are all that is held); their statistics."""
    grid = area.grid
    stats = LayerStats()
    for row in range(grid.tiles_y) if band is None else range(*band):
        items = []
        for tile_id in range(row * grid.tiles_x, (row + 1) * grid.tiles_x):
            t = grid.tile(tile_id)
            cut = array[t.row0:t.row0 + t.height, t.col0:t.col0 + t.width]
            valid = np.isfinite(cut)
            if not valid.any():
                continue
            tile = np.where(valid, cut, FLOAT_NODATA).astype(np.float32)
            stats.add(tile[valid])
            items.append((tile_id, wkb.encode(tile, FLOAT_NODATA, grid.header(t))))
        for k in range(0, len(items), BATCH):
            _copy_tiles(conn, target, items[k:k + BATCH])
    return stats


def write_array(conn: psycopg.Connection, area: StudyArea, run_id: int, output: Output, array: np.ndarray) -> LayerStats:
    """Store a whole-grid float array (NaN = nodata) as a computed layer of ``run_id``.

    Args:
        conn: the command's connection (the layer is registered in its transaction).
        area: the study area; ``array`` has its grid's shape ``(height, width)``, any float dtype.
        run_id: the run the layer belongs to.
        output: name, unit and description of the layer.
        array: the values, NaN where there is none; stored as float32 tiles (nodata = lowest float32).
    Returns:
        The statistics of the stored (float32) values.
    Raises:
        ValueError: the array does not have the grid's shape.
    """
    grid = area.grid
    if array.shape != (grid.height, grid.width):
        raise ValueError(f"array shape {array.shape} is not the grid's {grid.height}x{grid.width}")
    pool = workers.current(conn)
    if pool is not None and layers.has_layer(conn, area, output.name, run_id):
        pool = None     # serial: the replaced table is dropped in this transaction, as run_kernel does
    if pool is None:
        target = layers.create_result_table(conn, area, output.name, run_id)
        stats = _write_band(conn, target, area, array, None)
        layers.register_computed(conn, area, run_id, output, target, stats)
        return stats
    with pool.connection() as side:
        target = layers.create_result_table(conn, area, output.name, run_id, ddl=side)
    pool.track(*target)

    def job(band):
        def write(side):
            with side.transaction():
                return _write_band(side, target, area, array, band)
        return write

    stats = LayerStats()
    for part in pool.run([job(b) for b in tiles.row_bands(grid.tiles_y, pool.size)]):
        stats.merge(part)
    with pool.connection() as side:
        layers.finish_result_table(side, target, stats)
    layers.register_computed(conn, area, run_id, output, target, stats, finished=True)
    return stats


def pixel_values(conn: psycopg.Connection, area: StudyArea, layer: tuple[str, int | None],
                 pixels: list[tuple[int, int]]) -> np.ndarray:
    """Values of ``layer`` (name, run) at grid pixels (row, col), float64 with NaN for nodata.

    One query with ``ST_Value`` on the tiles holding the pixels; a pixel of a
    tile that is not stored (no valid pixel) is NaN.
    """
    out = np.full(len(pixels), np.nan)
    if not pixels:
        return out
    schema, table = layer_table(conn, area, *layer)
    places = [area.grid.place(r, c) for r, c in pixels]
    tile_ids, ys, xs = ([p[i] for p in places] for i in range(3))
    rows = conn.execute(sql.SQL(
        """SELECT p.i, ST_Value(t.rast, 1, p.x, p.y) FROM unnest(%s::int[], %s::int[], %s::int[], %s::int[])
               AS p (i, tile_id, x, y)
           JOIN {}.{} t USING (tile_id)""").format(sql.Identifier(schema), sql.Identifier(table)),
        (list(range(len(pixels))), tile_ids, [x + 1 for x in xs], [y + 1 for y in ys])).fetchall()
    for i, v in rows:
        if v is not None:
            out[i] = v
    return out


# ---------------------------------------------------------------------------
# kernel runs
# ---------------------------------------------------------------------------

def run_kernel(conn: psycopg.Connection, area: StudyArea, run_id: int, kernel: str, params: dict,
               inputs: dict[str, tuple[str, int | None]], outputs: list[Output], halo: bool = False,
               backend: str = "client", progress: Callable[[int], None] | None = None) -> KernelStats:
    """Apply catalogue kernel ``kernel`` to every tile where all ``inputs`` (arg -> (layer, run)) have data.

    Args:
        conn: the command's connection; the output layers are registered in its transaction.
        area: the study area (every input is on its grid).
        run_id: the run the outputs belong to.
        kernel: a name of :data:`restore_db.kernels.catalog.KERNELS`; ``params`` its JSON-able parameters.
        inputs: kernel argument -> (layer, run or None for a source layer).
        outputs: the layers the kernel writes (float32 tiles, nodata = lowest float32).
        halo: a focal kernel (one input; each tile sees a one-pixel border from its neighbours).
        backend: ``server`` or ``client`` (see :func:`choose_backend`); both give identical tiles.
        progress: receives the number of tiles done.
    Returns:
        The run's :class:`KernelStats` (``workers``: the connections it used).
    Raises:
        ValueError: an unknown kernel or parameters that are not JSON-able.
    """
    if kernel not in catalog.KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}")
    json.dumps(params)  # parameters must be JSON-able for the server backend
    sources = {arg: layer_table(conn, area, layer, run) for arg, (layer, run) in inputs.items()}
    args = list(sources)
    started, cpu = time.perf_counter(), time.process_time()
    pool = workers.current(conn)
    if pool is not None and (any(layers.has_layer(conn, area, o.name, run_id) for o in outputs)
                             or not _workers_see(conn, pool, list(sources.values()))):
        pool = None     # serial: the workers could not see what this transaction did
    if pool is None:
        targets = {o.name: layers.create_result_table(conn, area, o.name, run_id) for o in outputs}
        summaries = [_run_band(conn, area, kernel, params, sources, args, outputs, targets, halo, backend, None,
                               progress)]
    else:
        targets = {}
        with pool.connection() as side:
            for o in outputs:
                targets[o.name] = layers.create_result_table(conn, area, o.name, run_id, ddl=side)
                pool.track(*targets[o.name])
        # two bands per worker: a band that ends early does not leave its worker idle
        bands = tiles.row_bands(area.grid.tiles_y, 2 * pool.size)
        lock = threading.Lock()

        def tick(n):
            if progress:
                with lock:
                    progress(n)

        def job(band):
            def work(side):
                with side.transaction():        # one commit per band (the client's cursor needs a transaction)
                    return _run_band(side, area, kernel, params, sources, args, outputs, targets, halo, backend,
                                     band, tick)
            return work

        summaries = pool.run([job(b) for b in bands])
    merged = {o.name: LayerStats() for o in outputs}
    for summary in summaries:
        for name, d in summary["outputs"].items():
            merged[name].merge(LayerStats.from_dict(d))
    stats = KernelStats(tiles=sum(s["tiles"] for s in summaries), cells=sum(s["cells"] for s in summaries),
                        seconds=0.0, backend=backend, added=sum(s.get("added", 0) for s in summaries),
                        outputs=merged, workers=1 if pool is None else min(pool.size, len(summaries)))
    if pool is not None:
        def finish(name):
            return lambda side: layers.finish_result_table(side, targets[name], merged[name])
        pool.run([finish(o.name) for o in outputs])
    for o in outputs:
        layers.register_computed(conn, area, run_id, o, targets[o.name], merged[o.name], finished=pool is not None)
    stats.seconds = time.perf_counter() - started
    stats.cpu_seconds = time.process_time() - cpu + sum(s.get("cpu_seconds", 0.0) for s in summaries)
    return stats


def _workers_see(conn, pool: workers.Pool, tables: list[tuple[str, str]]) -> bool:
    """Whether worker connections read ``tables`` as the caller's transaction does: each exists for them (the
    same relation, by oid), and the transaction has not written to any. A transaction that inserted, updated
    or deleted rows of a table holds a ROW EXCLUSIVE lock on it until it ends, DDL and TRUNCATE a stronger one
    (on which the workers would wait); ``pg_locks`` shows them. (``pg_stat_xact_all_tables`` cannot tell: its
    counts include earlier transactions of the session whose statistics were not flushed yet.) Otherwise
    (e.g. a library caller that loads and computes in one transaction) the kernel runs serially."""
    names = [f"{sql.Identifier(s).as_string(conn)}.{sql.Identifier(t).as_string(conn)}" for s, t in tables]
    oids = [r[0] for r in conn.execute("SELECT unnest(%s::regclass[])::oid", (names,)).fetchall()]
    written = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'
                          AND relation = ANY(%s::oid[]) AND mode NOT IN ('AccessShareLock', 'RowShareLock'))""",
        (oids,)).fetchone()[0]
    if written:
        return False
    with pool.connection() as side:     # the very tables (by oid: not one of the same name this transaction made)
        seen = side.execute("SELECT count(*) FROM pg_class WHERE oid = ANY(%s::oid[])", (oids,)).fetchone()[0]
    return seen == len(set(oids))


def _run_band(conn, area, kernel, params, sources, args, outputs, targets, halo, backend, band, progress) -> dict:
    """The summary of ``kernel`` over tile rows ``band`` (every tile when None) on ``conn``."""
    if backend == "server":
        first, end = band if band is not None else (None, None)
        (summary,) = conn.execute(
            "SELECT calc.apply_kernel(%s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)",
            (kernel, json.dumps(params), [f"{s}.{t}" for s, t in sources.values()], args, halo,
             area.grid.tiles_x, [o.name for o in outputs], [f"{s}.{t}" for s, t in targets.values()], first, end),
        ).fetchone()
        if isinstance(summary, str):
            summary = json.loads(summary)
        if progress:
            progress(summary["tiles"])
        return summary
    return _run_client(conn, area, kernel, params, sources, args, outputs, targets, halo, progress, band)


def _run_client(conn, area, kernel, params, sources, args, outputs, targets, halo, progress, band=None) -> dict:
    runner = TileRunner(kernel, params, args, [o.name for o in outputs], halo=halo, tiles_x=area.grid.tiles_x,
                        rows=band)
    query = tiles.tiles_query([sources[arg] for arg in args], id_range=runner.id_range())

    def write(items):
        by_output: dict[str, list] = {}
        for name, tile_id, blob in items:
            by_output.setdefault(name, []).append((tile_id, blob))
        for name, rows in by_output.items():
            _copy_tiles(conn, targets[name], rows)

    with conn.cursor(name=f"tiles_{kernel}") as cur:
        cur.itersize = BATCH
        cur.execute(query)
        while True:
            rows = cur.fetchmany(BATCH)
            if not rows:
                break
            pending = []
            for row in rows:
                pending.extend(runner.feed(row[0], row[1:]))
            write(pending)
            if progress:
                progress(len(rows))
    write(runner.finish())
    return runner.summary()


def zonal_stats(conn: psycopg.Connection, area: StudyArea, zones: tuple[str, int | None],
                values: dict[str, tuple[str, int | None]], backend: str = "client") -> dict[str, dict[int, tuple[int, float]]]:
    """{name: {zone id: (valid cells, sum)}} of value layers over an integer zone layer, pixel by pixel.

    Every pixel counts once, in the zone the zone layer gives it (the county
    raster uses the pixel-centre rule, as ST_Clip does).
    """
    names = list(values)
    zone_table = layer_table(conn, area, *zones)
    tables = [layer_table(conn, area, *values[n]) for n in names]
    if backend == "server":
        (raw,) = conn.execute("SELECT calc.zonal_stats(%s, %s, %s)",
                              (f"{zone_table[0]}.{zone_table[1]}", names, [f"{s}.{t}" for s, t in tables])).fetchone()
        if isinstance(raw, str):
            raw = json.loads(raw)
    else:
        acc = tiles.ZonalStats(names)
        with conn.cursor(name="zonal_stats") as cur:
            cur.itersize = BATCH
            cur.execute(tiles.tiles_query([zone_table, *tables], join="LEFT JOIN"))
            for row in cur:
                _, zarr = tiles.decode_float(row[1])
                acc.add(zarr, {n: tiles.decode_float(b)[1] if b is not None else np.full(zarr.shape, np.nan)
                               for n, b in zip(names, row[2:])})
        raw = acc.result()
    return {n: {int(z): (int(c), float(s)) for z, (c, s) in raw[n].items()} for n in names}
