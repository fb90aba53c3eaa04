"""Helpers shared by the loader tests: synthetic rasters, reading layers back
from PostGIS tile by tile, and the "a failed load changes nothing" check.

Expected values are always computed from numpy / rasterio / geopandas, never
with the code under test; reading back uses only ``restore_db.kernels.wkb.decode``
(itself checked against PostGIS in test_wkb.py) and the registry rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
from affine import Affine
from psycopg import sql

from conftest import snapshot
from restore_db.grid import studyarea
from restore_db.kernels import wkb
from restore_db.errors import InputError


def write_tif(path: Path, arr: np.ndarray, crs, transform: Affine, nodata=None, **profile) -> Path:
    """A one-band (2-D ``arr``) or multi-band (3-D) GeoTIFF."""
    bands = arr if arr.ndim == 3 else arr[np.newaxis]
    meta = dict(driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                dtype=bands.dtype, transform=transform)
    if crs is not None:
        meta["crs"] = crs
    if nodata is not None:
        meta["nodata"] = nodata
    meta.update(profile)
    with rasterio.open(path, "w", **meta) as dst:
        dst.write(bands)
    return path


def layer_row(conn: psycopg.Connection, area: str, layer: str, run_id: int | None = None) -> dict:
    """Registry row of a source layer, or of a computed layer of ``run_id``."""
    cur = conn.execute(
        """SELECT l.* FROM core.layer l JOIN core.study_area a USING (study_area_id)
           WHERE a.name = %s AND l.name = %s AND l.run_id IS NOT DISTINCT FROM %s""",
        (area, layer, run_id),
    )
    row = cur.fetchone()
    assert row is not None, f"no layer {layer!r} in study area {area!r}"
    return dict(zip([d.name for d in cur.description], row))


def read_layer(conn: psycopg.Connection, area: str, layer: str,
               run_id: int | None = None) -> tuple[np.ndarray, float, dict]:
    """The whole layer as one array on the study-area grid (cells of missing tiles = nodata).

    Also checks that every tile sits where its tile_id says and has the size
    of that tile of the grid, independently of core.layer_alignment().
    """
    info = layer_row(conn, area, layer, run_id)
    ox, oy, px, width, height, ts, srid = conn.execute(
        "SELECT origin_x, origin_y, pixel_size, width, height, tile_size, srid FROM core.study_area WHERE name = %s",
        (area,),
    ).fetchone()
    tiles_x = -(-width // ts)
    rows = conn.execute(
        sql.SQL("SELECT tile_id, ST_AsBinary(rast) FROM {}.{} ORDER BY tile_id").format(
            sql.Identifier(info["table_schema"]), sql.Identifier(info["table_name"]))
    ).fetchall()
    out = None
    for tile_id, data in rows:
        header, bands, nodatas = wkb.decode(data)
        assert len(bands) == 1
        arr = bands[0]
        if out is None:
            out = np.full((height, width), info["nodata"], dtype=arr.dtype.newbyteorder("="))
        trow, tcol = divmod(tile_id, tiles_x)
        r0, c0 = trow * ts, tcol * ts
        assert header.srid == srid
        assert (header.scale_x, header.scale_y) == (px, -px)
        assert (header.ulx, header.uly) == (ox + c0 * px, oy - r0 * px), f"tile {tile_id} misplaced"
        assert (header.height, header.width) == (min(ts, height - r0), min(ts, width - c0)), f"tile {tile_id} size"
        assert nodatas[0] == info["nodata"]
        out[r0:r0 + header.height, c0:c0 + header.width] = arr
    assert out is not None, "layer has no tile"
    return out, info["nodata"], info


def alignment(conn: psycopg.Connection, area: str) -> dict:
    rows = conn.execute("SELECT layer, tiles, misplaced, aligned FROM core.layer_alignment(core.study_area_id(%s))",
                        (area,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def expect_input_error(conn: psycopg.Connection, fn, *args, match: str | list[str] = (), **kwargs) -> str:
    """Call a loader in a transaction; expect an InputError whose message contains every ``match``
    (literal text), and the database to be exactly as before. Returns the message."""
    before = snapshot(conn)
    with pytest.raises(InputError) as info:
        with conn.transaction():
            fn(*args, **kwargs)
    conn.rollback()
    message = str(info.value)
    for part in [match] if isinstance(match, str) else match:
        assert part in message, f"{part!r} not in message: {message}"
    assert snapshot(conn) == before
    return message


def create_area(conn, name: str, srid: int, origin_x: float, origin_y: float, pixel_size: float,
                width: int, height: int, tile_size: int = 256):
    """A study area whose grid is exactly the one given (bounds = cell edges)."""
    with conn.transaction():
        area = studyarea.create(conn, name, srid, pixel_size,
                                (origin_x, origin_y - height * pixel_size, origin_x + width * pixel_size, origin_y),
                                tile_size=tile_size)
    g = area.grid
    assert (g.origin_x, g.origin_y, g.width, g.height) == (origin_x, origin_y, width, height)
    return area


def slope_by_hand(dem: np.ndarray, cell: float) -> np.ndarray:
    """Slope in degrees of every cell of ``dem`` (NaN = nodata; outside the grid = nodata), pixel by pixel.

    A transcription of pygeoprocessing ``calculate_slope`` (InVEST's slope, docs/models/soil-conservation.md#slope-length-and-steepness-ls): Horn's
    stencil when the 8 neighbours are valid; next to nodata, per row (a-c, d-f, g-i) and column (a-g, b-h,
    c-i): both ends, else a one-cell difference with the middle cell, else the valid end against the centre
    times sqrt(2); divided by the sum of the factors times the cell size; 0 if none. Nodata centre -> NaN.
    """
    z = np.pad(np.asarray(dem, dtype=np.float64), 1, constant_values=np.nan)
    out = np.full(dem.shape, np.nan)
    ok = lambda v: not np.isnan(v)  # noqa: E731
    for r in range(dem.shape[0]):
        for c in range(dem.shape[1]):
            (a, b, c_), (d, e, f), (g, h, i) = z[r:r + 3, c:c + 3].tolist()
            if not ok(e):
                continue
            sx = sy = 0.0
            nx = ny = 0
            for p, m, q, weight, sums in ((a, b, c_, 1, "x"), (d, e, f, 2, "x"), (g, h, i, 1, "x"),
                                          (a, d, g, 1, "y"), (b, e, h, 2, "y"), (c_, f, i, 1, "y")):
                if ok(p) and ok(q):
                    diff, n = weight * (q - p), 2 * weight
                elif weight == 1 and ok(p) and ok(m):
                    diff, n = m - p, 1
                elif weight == 1 and ok(m) and ok(q):
                    diff, n = q - m, 1
                elif ok(p):
                    diff, n = weight * (e - p) * (2 ** 0.5 if weight == 1 else 1.0), weight
                elif ok(q):
                    diff, n = weight * (q - e) * (2 ** 0.5 if weight == 1 else 1.0), weight
                else:
                    diff, n = 0.0, 0
                if sums == "x":
                    sx, nx = sx + diff, nx + n
                else:
                    sy, ny = sy + diff, ny + n
            dzdx = sx / (nx * cell) if nx else 0.0
            dzdy = sy / (ny * cell) if ny else 0.0
            out[r, c] = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return out


# ---------------------------------------------------------------- bad input through the real CLI

# Every bad-input case of the suite goes through check_bad_input; it records each case so the suite can
# count them (tests/cli/test_bad_inputs.py reports the totals).
BAD_INPUT_CASES: list[dict] = []


def db_fingerprint(conn: psycopg.Connection) -> dict[str, str]:
    """MD5 of the contents of every table and materialized view of the restore-db schemas (and the tile tables),
    and of the list of relations: compares a database byte for byte, sequences excepted (PostgreSQL never rolls
    a sequence back, so a failed transaction may advance one)."""
    conn.rollback()
    rels = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname IN ('core', 'param', 'src', 'calc', 'result', 'bi')
           ORDER BY 1, 2""").fetchall()
    out = {"_relations": ",".join(f"{s}.{r}" for s, r in rels)}
    for schema, rel in rels:
        out[f"{schema}.{rel}"] = conn.execute(sql.SQL(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {}.{} t").format(
            sql.Identifier(schema), sql.Identifier(rel))).fetchone()[0]
    out["spatial_ref_sys"] = conn.execute(
        "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY srid), '')) FROM spatial_ref_sys t").fetchone()[0]
    out["roles"] = conn.execute("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles").fetchone()[0]
    conn.rollback()
    return out


def cli_argv(*args) -> list[str]:
    """The command line of ``restore-db ARGS`` as a user runs it: the real entry point in a new interpreter."""
    import sys

    return [sys.executable, "-c", "from restore_db.cli import main; main()", *map(str, args)]


def run_cli(env: dict, *args, cwd: Path | None = None, input: str | None = None, timeout: float = 300):
    """Run ``restore-db ARGS`` as a user does: a separate process with the real entry point, stdin closed
    unless ``input``; returns the CompletedProcess (text)."""
    import os
    import subprocess

    return subprocess.run(cli_argv(*args), env={**os.environ, **env}, cwd=cwd, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def run_on_terminal(env: dict, answer: str, *args, timeout: float = 120) -> tuple[int, str]:
    """Run ``restore-db ARGS`` with a terminal (a pseudo-terminal) on stdin, where ``answer`` is typed and then
    end of input; returns (exit status, stdout and stderr together). A command still running after ``timeout``
    is killed and the test fails."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    proc = None
    try:
        proc = subprocess.Popen(cli_argv(*args), env={**os.environ, **env}, stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        os.write(master, answer.encode() + b"\x04")
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(slave)
        os.close(master)


def check_bad_input(conn: psycopg.Connection, env: dict, *args, exit_code: int = 1, match: str | list[str] = (),
                    cwd: Path | None = None, unchanged: bool = True) -> str:
    """A bad input through the CLI: stderr must be exactly one line (no traceback, no empty line) that contains
    every ``match``, exit with ``exit_code``, and leave the database byte for byte as it was. Returns the line."""
    before = db_fingerprint(conn) if unchanged else None
    proc = run_cli(env, *args, cwd=cwd)
    lines = proc.stderr.splitlines()
    case = {"args": [str(a) for a in args], "exit": proc.returncode, "lines": len(lines),
            "traceback": "Traceback" in proc.stderr}
    after = db_fingerprint(conn) if unchanged else None
    case["unchanged"] = before == after if unchanged else None
    BAD_INPUT_CASES.append(case)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    assert proc.returncode == exit_code, (proc.returncode, proc.stderr)
    for part in [match] if isinstance(match, str) else match:
        assert part in lines[0], f"{part!r} not in: {lines[0]}"
    if unchanged:
        changed = [k for k in before if before[k] != after.get(k)] + [k for k in after if k not in before]
        assert not changed, f"the database changed: {changed}"
    return lines[0]
