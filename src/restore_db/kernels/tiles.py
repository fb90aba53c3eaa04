"""The tile loop shared by the client-side and the in-database kernel runners.

A kernel run streams the tiles of its input layers in ``tile_id`` order (all
inputs share the study-area grid, so they join on ``tile_id``). For each tile
:class:`TileRunner` decodes the raster WKB to float64 arrays with NaN for
nodata, calls the catalogue kernel, and encodes every output as a float32
tile whose nodata is the lowest float32 (tiles without a valid pixel are not
written). It also keeps the count, sum, min and max of every output.

Focal kernels (``halo=True``, one input) see their tile with a one-pixel
border taken from the eight neighbouring tiles, so a 3x3 operator such as
Horn's slope is exact at tile edges; the runner keeps three tile rows in
memory to do that. Pixels outside the grid or in missing tiles are NaN.

Like ``formulas`` and ``wkb``, this module imports numpy and the standard
library only: the migrations store it in the database, where PL/Python runs it
(``calc.apply_kernel``), and the client runner imports it from the package.
"""

from __future__ import annotations

import math

import numpy as np

from restore_db.kernels import wkb
from restore_db.kernels import catalog

FLOAT_NODATA = float(np.finfo(np.float32).min)
# Pixel-wise kernels run on blocks of this many rows: their temporaries then stay
# in the CPU cache (2-2.5x faster than whole 256x256 tiles on a 2 MB L2).
CHUNK_ROWS = 32


class LayerStats:
    """Count, sum, min and max of the valid pixels of a layer, tile by tile.

    The sum is exact and does not depend on the order of the tiles: each
    tile's float64 sum is added to Shewchuk's non-overlapping partials (the
    algorithm of Python's ``math.fsum``) and :attr:`sum` rounds them once. So
    the statistics of a layer computed in tile-row bands on several
    connections and merged (:meth:`merge`) equal those of one serial pass bit
    for bit.
    """

    def __init__(self):
        self.valid = 0
        self._partials: list[float] = []
        self.min = None
        self.max = None

    def _add_exact(self, x: float) -> None:
        partials = self._partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def add(self, values: np.ndarray) -> None:
        """Add the valid values (a 1-D array, already masked)."""
        if values.size == 0:
            return
        self.valid += int(values.size)
        self._add_exact(float(values.sum(dtype=np.float64)))
        lo, hi = float(values.min()), float(values.max())
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def merge(self, other: LayerStats) -> None:
        """Add the statistics of other tiles (e.g. another band of the same layer)."""
        self.valid += other.valid
        for x in other._partials:
            self._add_exact(x)
        for attr, pick in (("min", min), ("max", max)):
            theirs = getattr(other, attr)
            if theirs is not None:
                mine = getattr(self, attr)
                setattr(self, attr, theirs if mine is None else pick(mine, theirs))

    @property
    def sum(self) -> float:
        return math.fsum(self._partials)

    @property
    def mean(self):
        return self.sum / self.valid if self.valid else None

    def as_dict(self) -> dict:
        return {"valid": self.valid, "sum": self.sum, "min": self.min, "max": self.max,
                "partials": list(self._partials)}

    @classmethod
    def from_dict(cls, d: dict) -> LayerStats:
        out = cls()
        out.valid, out.min, out.max = d["valid"], d["min"], d["max"]
        out._partials = list(d["partials"]) if "partials" in d else ([d["sum"]] if d["sum"] else [])
        return out


def as_float(arr: np.ndarray, nodata) -> np.ndarray:
    """float64 copy of a band with NaN where it holds nodata."""
    out = arr.astype(np.float64)
    out[~wkb.valid_mask(arr, nodata)] = np.nan
    return out


def quote_ident(name: str) -> str:
    """An SQL identifier, always double-quoted (as PostgreSQL's quote_ident does when it must)."""
    return '"' + name.replace('"', '""') + '"'


def tiles_query(tables, join: str = "JOIN", id_range: tuple[int, int] | None = None) -> str:
    """SQL: ``tile_id`` and the WKB tile of every ``(schema, table)`` as ``b0, b1, …``, the first table
    joined to the others on ``tile_id`` (``JOIN`` or ``LEFT JOIN``), in tile order; with ``id_range``
    ``(first, end)`` only the tiles ``first <= tile_id < end``.

    The one tile query of both engines: the client runs it with psycopg, the
    server's ``calc.apply_kernel`` and ``calc.zonal_stats`` with plpy. It
    streams: the inner query joins and sorts the tile ids with the rasters'
    TOAST pointers only (a few dozen bytes per tile), and ``ST_AsBinary``
    runs above the sort, one tile at a time as the cursor fetches. The
    server's memory for it therefore does not grow with the tiles' size,
    and it writes no temporary files.
    """
    if join not in ("JOIN", "LEFT JOIN"):
        raise ValueError(f"join must be JOIN or LEFT JOIN, not {join!r}")
    names = [quote_ident(s) + "." + quote_ident(t) for s, t in tables]
    inner = ", ".join("t%d.rast AS r%d" % (i, i) for i in range(len(names)))
    cols = ", ".join("ST_AsBinary(r%d) AS b%d" % (i, i) for i in range(len(names)))
    joins = " ".join("%s %s t%d USING (tile_id)" % (join, n, i) for i, n in enumerate(names) if i > 0)
    where = ""
    if id_range is not None:
        first, end = (int(v) for v in id_range)
        where = " WHERE tile_id >= %d AND tile_id < %d" % (first, end)
    # OFFSET 0 keeps the planner from pulling the subquery up (the conversion would then run below the sort)
    return "SELECT tile_id, %s FROM (SELECT tile_id, %s FROM %s t0 %s%s ORDER BY tile_id OFFSET 0) s ORDER BY tile_id" % (
        cols, inner, names[0], joins, where)


def row_bands(tile_rows: int, parts: int) -> list[tuple[int, int]]:
    """Split tile rows ``0 .. tile_rows - 1`` into at most ``parts`` contiguous ``(first, end)`` bands of
    near-equal size (empty bands are left out)."""
    parts = max(1, min(int(parts), int(tile_rows)))
    edges = [tile_rows * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def batches(fetch, size: int = 16):
    """Rows of a cursor in lists of ``size`` (``fetch(size)`` returns [] at the end)."""
    while True:
        rows = fetch(size)
        if not rows:
            return
        yield rows


def decode_float(blob) -> tuple[wkb.TileHeader, np.ndarray]:
    header, bands, nodatas = wkb.decode(blob)
    return header, as_float(bands[0], nodatas[0])


class TileRunner:
    """Run catalogue kernel ``kernel`` with ``params`` over streamed tiles.

    ``args`` names the kernel arguments in the order of the blobs fed to
    :meth:`feed`; ``outputs`` the outputs to encode. ``feed`` and ``finish``
    return ``(output, tile_id, wkb bytes)`` triples ready to be written.

    ``params["_add"]``, when given, holds values added to single pixels of an
    output after the kernel: ``{output: {str(tile_id): [[row, col, value], ...]}}``
    with row and col inside the tile; a nodata pixel counts as 0 there. The
    counties smaller than a pixel place their allocated statistics this way
    (restore_db.grid.counties). ``summary()["added"]`` counts the pixels added to.

    ``rows`` ``(first, end)``, when given, restricts the output to the tiles of
    tile rows ``first <= row < end`` (one band of a parallel run). Feed it the
    tiles of :meth:`id_range`: a focal kernel also reads the row above and the
    row below its band for the halo.
    """

    def __init__(self, kernel: str, params: dict, args: list, outputs: list, halo: bool = False,
                 tiles_x: int = 0, rows: tuple[int, int] | None = None):
        if kernel not in catalog.KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}")
        self.fn = catalog.KERNELS[kernel]
        self.params = params
        self.args = list(args)
        self.outputs = list(outputs)
        self.halo = halo
        if halo and len(self.args) != 1:
            raise ValueError("focal kernels take exactly one input layer")
        self.tiles_x = tiles_x
        self.stats = {o: LayerStats() for o in self.outputs}
        self.tiles = 0
        self.cells = 0
        self.additions = params.get("_add") or {}
        self.added = 0
        self.band = None if rows is None else (int(rows[0]), int(rows[1]))
        if self.band is not None and tiles_x <= 0:
            raise ValueError("a band of tile rows needs tiles_x")
        self._rows: dict = {}     # halo mode: tile row -> {tile col: (tile_id, header, array)}
        self._next_row = 0 if self.band is None else max(0, self.band[0] - 1)   # halo mode: first row not processed

    def id_range(self) -> tuple[int, int] | None:
        """``(first, end)`` tile ids to feed for this runner's band (None: every tile)."""
        if self.band is None:
            return None
        first, end = self.band
        if self.halo:
            first, end = max(0, first - 1), end + 1
        return first * self.tiles_x, end * self.tiles_x

    def _in_band(self, row: int) -> bool:
        return self.band is None or self.band[0] <= row < self.band[1]

    def feed(self, tile_id: int, blobs) -> list:
        if not self.halo:
            if self.band is not None and not self._in_band(tile_id // self.tiles_x):
                return []
            header = None
            arrays = {}
            for arg, blob in zip(self.args, blobs):
                header, arrays[arg] = decode_float(blob)
            return self._compute(tile_id, header, arrays)
        header, arr = decode_float(blobs[0])
        trow, tcol = divmod(tile_id, self.tiles_x)
        self._rows.setdefault(trow, {})[tcol] = (tile_id, header, arr)
        out = []
        while self._next_row <= trow - 2:   # rows up to trow - 1 are complete
            out.extend(self._focal_row(self._next_row))
        return out

    def finish(self) -> list:
        out = []
        if self.halo:
            last = max(self._rows) if self._rows else -1
            while self._next_row <= last:
                out.extend(self._focal_row(self._next_row))
        return out

    def _focal_row(self, k: int) -> list:
        out = []
        if self._in_band(k):
            for col, (tile_id, header, _) in sorted(self._rows.get(k, {}).items()):
                out.extend(self._compute(tile_id, header, {self.args[0]: self._with_halo(k, col)}))
        self._rows.pop(k - 1, None)
        self._next_row = k + 1
        return out

    def _with_halo(self, k: int, col: int) -> np.ndarray:
        rows = self._rows

        def get(r, c):
            item = rows.get(r, {}).get(c)
            return None if item is None else item[2]

        c = get(k, col)
        h, w = c.shape
        out = np.full((h + 2, w + 2), np.nan)
        out[1:-1, 1:-1] = c
        for dr, dc, dst, src in (
                (-1, 0, np.s_[0, 1:-1], np.s_[-1, :]), (1, 0, np.s_[-1, 1:-1], np.s_[0, :]),
                (0, -1, np.s_[1:-1, 0], np.s_[:, -1]), (0, 1, np.s_[1:-1, -1], np.s_[:, 0]),
                (-1, -1, np.s_[0, 0], np.s_[-1, -1]), (-1, 1, np.s_[0, -1], np.s_[-1, 0]),
                (1, -1, np.s_[-1, 0], np.s_[0, -1]), (1, 1, np.s_[-1, -1], np.s_[0, 0])):
            n = get(k + dr, col + dc) if col + dc >= 0 else None
            if n is not None:
                out[dst] = n[src]
        return out

    def _compute(self, tile_id: int, header, arrays: dict) -> list:
        if self.halo or header.height <= CHUNK_ROWS:
            result = self.fn(arrays, self.params)
        else:
            parts = [self.fn({k: v[r:r + CHUNK_ROWS] for k, v in arrays.items()}, self.params)
                     for r in range(0, header.height, CHUNK_ROWS)]
            result = {name: np.concatenate([np.broadcast_to(part[name], (min(CHUNK_ROWS, header.height - r),
                                                                          header.width))
                                            for r, part in zip(range(0, header.height, CHUNK_ROWS), parts)])
                      for name in self.outputs}
        self.tiles += 1
        self.cells += header.width * header.height
        written = []
        for name in self.outputs:
            arr = np.asarray(result[name], dtype=np.float64)
            if arr.shape != (header.height, header.width):
                raise ValueError(f"kernel output {name!r} has shape {arr.shape}, "
                                 f"tile {tile_id} is {header.height}x{header.width}")
            extra = self.additions.get(name, {}).get(str(tile_id))
            if extra:
                arr = arr.copy()
                for row, col, value in extra:
                    arr[row, col] = (arr[row, col] if np.isfinite(arr[row, col]) else 0.0) + value
                self.added += len(extra)
            valid = np.isfinite(arr)
            if not valid.any():
                continue
            tile = np.where(valid, arr, FLOAT_NODATA).astype(np.float32)
            self.stats[name].add(tile[valid])     # statistics of the stored (float32) values
            written.append((name, tile_id, wkb.encode(tile, FLOAT_NODATA, header)))
        return written

    def summary(self) -> dict:
        return {"tiles": self.tiles, "cells": self.cells, "added": self.added,
                "outputs": {name: s.as_dict() for name, s in self.stats.items()}}


class ZonalStats:
    """Valid-pixel count and sum of several layers per integer zone (e.g. the county raster)."""

    def __init__(self, names):
        self.names = list(names)
        self.count = {n: np.zeros(0) for n in self.names}
        self.sum = {n: np.zeros(0) for n in self.names}

    def add(self, zones: np.ndarray, values: dict) -> None:
        """Add one tile: ``zones`` float ids (NaN = none), ``values`` name -> float array (NaN = nodata)."""
        has_zone = ~np.isnan(zones)
        for name in self.names:
            ok = has_zone & ~np.isnan(values[name])
            if not ok.any():
                continue
            ids = zones[ok].astype(np.int64)
            n = int(ids.max()) + 1
            if n > self.count[name].size:
                grow = n - self.count[name].size
                self.count[name] = np.pad(self.count[name], (0, grow))
                self.sum[name] = np.pad(self.sum[name], (0, grow))
            self.count[name][:n] += np.bincount(ids, minlength=n)
            self.sum[name][:n] += np.bincount(ids, weights=values[name][ok], minlength=n)

    def result(self) -> dict:
        """{name: {zone id (str): [count, sum]}} for zones with at least one valid pixel."""
        return {name: {str(int(z)): [int(self.count[name][z]), float(self.sum[name][z])]
                       for z in np.flatnonzero(self.count[name])} for name in self.names}
