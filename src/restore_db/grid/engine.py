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
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

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
                    "text[],text[])')").fetchone()[0] is None:
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


def write_array(conn: psycopg.Connection, area: StudyArea, run_id: int, output: Output, array: np.ndarray) -> LayerStats:
    """Store a whole-grid float array (NaN = nodata) as a computed layer of ``run_id``."""
    grid = area.grid
    if array.shape != (grid.height, grid.width):
        raise ValueError(f"array shape {array.shape} is not the grid's {grid.height}x{grid.width}")
    target = layers.create_result_table(conn, area, output.name, run_id)
    stats = LayerStats()
    items = []
    for t in grid.tiles():
        cut = array[t.row0:t.row0 + t.height, t.col0:t.col0 + t.width]
        valid = np.isfinite(cut)
        if not valid.any():
            continue
        tile = np.where(valid, cut, FLOAT_NODATA).astype(np.float32)
        stats.add(tile[valid])
        items.append((t.tile_id, wkb.encode(tile, FLOAT_NODATA, grid.header(t))))
        if len(items) >= BATCH:
            _copy_tiles(conn, target, items)
            items = []
    _copy_tiles(conn, target, items)
    layers.register_computed(conn, area, run_id, output, target, stats)
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

    ``backend`` is ``server`` or ``client`` (see :func:`choose_backend`); both
    give identical tiles. ``progress`` receives the number of tiles done.
    """
    if kernel not in catalog.KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}")
    json.dumps(params)  # parameters must be JSON-able for the server backend
    sources = {arg: layer_table(conn, area, layer, run) for arg, (layer, run) in inputs.items()}
    targets = {o.name: layers.create_result_table(conn, area, o.name, run_id) for o in outputs}
    args = list(sources)
    started = time.perf_counter()
    if backend == "server":
        (summary,) = conn.execute(
            "SELECT calc.apply_kernel(%s, %s::jsonb, %s, %s, %s, %s, %s, %s)",
            (kernel, json.dumps(params), [f"{s}.{t}" for s, t in sources.values()], args, halo,
             area.grid.tiles_x, [o.name for o in outputs], [f"{s}.{t}" for s, t in targets.values()]),
        ).fetchone()
        if isinstance(summary, str):
            summary = json.loads(summary)
        if progress:
            progress(summary["tiles"])
    else:
        summary = _run_client(conn, area, kernel, params, sources, args, outputs, targets, halo, progress)
    stats = KernelStats(tiles=summary["tiles"], cells=summary["cells"], seconds=time.perf_counter() - started,
                        backend=backend, added=summary.get("added", 0),
                        outputs={n: LayerStats.from_dict(d) for n, d in summary["outputs"].items()})
    for o in outputs:
        layers.register_computed(conn, area, run_id, o, targets[o.name], stats.outputs[o.name])
    return stats


def _run_client(conn, area, kernel, params, sources, args, outputs, targets, halo, progress) -> dict:
    runner = TileRunner(kernel, params, args, [o.name for o in outputs], halo=halo, tiles_x=area.grid.tiles_x)
    query = tiles.tiles_query([sources[arg] for arg in args])

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
