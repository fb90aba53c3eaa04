"""Raster loader: synthetic GeoTIFFs onto an odd grid (several tiles, cut edge tiles),
read back tile by tile and compared with numpy; bad inputs change nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess

import numpy as np
import pytest
import rasterio
from affine import Affine
from psycopg import sql
from pyproj import Transformer
from typer.testing import CliRunner

from conftest import shared_data, snapshot
from helpers import alignment, cli_argv, create_area, expect_input_error, layer_row, read_layer, write_tif
from restore_db.grid import studyarea
from restore_db.cli import app
from restore_db.errors import InputError
from restore_db.load import raster as raster_loader
from restore_db.load.params import class_counts, lulc_codes_in_layer
from restore_db.load.raster import build_overviews, load_raster

SRID = 32650
OX, OY, PX = 400000.0, 4500000.0, 100.0
W, H, TS = 203, 139, 64  # 4 x 3 tiles; last column 11 wide, last row 11 high
TILES_X, TILES_Y = 4, 3
F32_LOWEST = float(np.finfo(np.float32).min)
GRID_TRANSFORM = Affine(PX, 0, OX, 0, -PX, OY)


@pytest.fixture
def area(conn):
    return create_area(conn, "t", SRID, OX, OY, PX, W, H, tile_size=TS)


@pytest.fixture
def area16(conn):
    """The same grid in 16-pixel tiles (13 x 9 = 117 tiles): big enough for overviews."""
    return create_area(conn, "t", SRID, OX, OY, PX, W, H, tile_size=16)


def overview_rows(conn, table: str) -> list[tuple]:
    return conn.execute(
        """SELECT o_table_schema, o_table_name, overview_factor FROM raster_overviews
           WHERE r_table_schema = 'src' AND r_table_name = %s ORDER BY overview_factor""", (table,)).fetchall()


def tile_of(r: int, c: int) -> int:
    return (r // TS) * TILES_X + c // TS


def tiles_with_data(valid: np.ndarray) -> set[int]:
    return {tile_of(r, c) for r, c in zip(*np.nonzero(valid))}


def table_ident(info: dict) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(info["table_schema"]), sql.Identifier(info["table_name"]))


def st_value(conn, info: dict, r: int, c: int):
    """ST_Value at the centre of grid cell (r, c), asked of the tile the grid says holds it."""
    x, y = OX + (c + 0.5) * PX, OY - (r + 0.5) * PX
    row = conn.execute(
        sql.SQL("SELECT ST_Value(rast, 1, ST_SetSRID(ST_MakePoint(%s, %s), %s)) FROM {} WHERE tile_id = %s").format(
            table_ident(info)),
        (x, y, SRID, tile_of(r, c)),
    ).fetchone()
    return None if row is None else row[0]


def continuous_source(rng) -> tuple[np.ndarray, np.ndarray]:
    """float32 values on the grid with nodata (-9999) scattered, NaNs, and one whole tile of nodata."""
    arr = (rng.random((H, W)) * 1000 - 200).astype(np.float32)
    arr[rng.random((H, W)) < 0.05] = -9999
    arr[64:128, 64:128] = -9999  # tile 5 has no valid cell: not stored
    arr[3, 7] = np.nan
    arr[138, 202] = np.nan  # last cell of the cut corner tile
    valid = (arr != -9999) & ~np.isnan(arr)
    return arr, valid


# ---------------------------------------------------------------- (a) source on the grid


def test_continuous_on_grid_copied_cell_for_cell(conn, area, tmp_path):
    rng = np.random.default_rng(42)
    arr, valid = continuous_source(rng)
    path = write_tif(tmp_path / "precip.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999)
    with conn.transaction():
        result = load_raster(conn, area, "precip", path, "continuous", "mm/yr", description="synthetic")

    stored, nodata, info = read_layer(conn, "t", "precip")
    assert stored.dtype == np.float32 and nodata == F32_LOWEST
    expected = np.where(valid, arr, np.float32(F32_LOWEST)).astype(np.float32)
    np.testing.assert_array_equal(stored, expected)

    # registry row
    vals = arr[valid].astype(np.float64)
    assert (info["kind"], info["unit"], info["pixel_type"], info["nodata"]) == ("continuous", "mm/yr", "32BF", F32_LOWEST)
    assert info["valid_cells"] == valid.sum()
    assert info["nodata_share"] == pytest.approx(1 - valid.sum() / (W * H), abs=1e-12)
    assert info["min_value"] == vals.min() and info["max_value"] == vals.max()
    assert info["mean_value"] == pytest.approx(vals.mean(), rel=1e-9)
    assert info["resampling"] == "nearest"
    assert info["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["source_path"] == str(path.resolve())
    assert info["description"] == "synthetic"
    assert "32650" in info["source_crs"]
    assert (info["table_schema"], info["table_name"]) == ("src", "t__precip")
    assert result.tiles == len(tiles_with_data(valid)) == TILES_X * TILES_Y - 1

    # tiles without any valid cell are not stored
    stored_ids = {r[0] for r in conn.execute(sql.SQL("SELECT tile_id FROM {}").format(table_ident(info))).fetchall()}
    assert stored_ids == tiles_with_data(valid)
    assert 5 not in stored_ids

    # spot checks through PostGIS itself (ST_Value skips nodata -> NULL)
    cells = [(0, 0), (3, 7), (63, 63), (64, 0), (100, 200), (138, 202), (138, 0), (0, 202), (130, 192)]
    cells += [tuple(rc) for rc in rng.integers(0, [H, W], size=(25, 2))]
    for r, c in cells:
        got = st_value(conn, info, r, c)
        if valid[r, c]:
            assert got == float(arr[r, c]), (r, c)
        else:
            assert got is None, (r, c)

    assert alignment(conn, "t") == {"precip": (len(stored_ids), 0, True)}


def test_categorical_on_grid_and_postgis_metadata(conn, area, tmp_path):
    rng = np.random.default_rng(7)
    arr = rng.integers(1, 10, size=(H, W)).astype(np.uint8)
    arr[rng.random((H, W)) < 0.1] = 255
    arr[:, :64] = 255  # first tile column is empty
    valid = arr != 255
    path = write_tif(tmp_path / "lulc.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=255)
    with conn.transaction():
        load_raster(conn, area, "lulc", path, "categorical", "class")

    stored, nodata, info = read_layer(conn, "t", "lulc")
    assert stored.dtype == np.int16 and nodata == -32768
    np.testing.assert_array_equal(stored, np.where(valid, arr.astype(np.int16), np.int16(-32768)))
    assert (info["kind"], info["pixel_type"], info["resampling"]) == ("categorical", "16BSI", "nearest")
    assert info["nodata_share"] == pytest.approx((~valid).sum() / (W * H), abs=1e-12)
    assert (info["min_value"], info["max_value"]) == (float(arr[valid].min()), float(arr[valid].max()))
    assert info["mean_value"] == pytest.approx(arr[valid].astype(float).mean())
    for r, c in [(0, 64), (138, 202), (70, 100)] + [tuple(rc) for rc in rng.integers(0, [H, W], size=(20, 2))]:
        assert st_value(conn, info, r, c) == (float(arr[r, c]) if valid[r, c] else None), (r, c)

    # raster constraints: raster_columns answers with the grid's SRID, scale and pixel type
    srid, sx, sy, ptypes, nodatas, same_alignment = conn.execute(
        """SELECT srid, scale_x, scale_y, pixel_types, nodata_values, same_alignment FROM raster_columns
           WHERE r_table_schema = 'src' AND r_table_name = 't__lulc' AND r_raster_column = 'rast'"""
    ).fetchone()
    assert (srid, sx, sy, list(ptypes), list(nodatas)) == (SRID, PX, -PX, ["16BSI"], [-32768.0])
    assert same_alignment is True
    assert alignment(conn, "t")["lulc"][1:] == (0, True)


@pytest.mark.parametrize("dtype,codes,pixel_type", [
    (np.int16, [-5, 0, 17, 32767], "16BSI"),
    (np.int8, [-128, 3, 127], "16BSI"),
    (np.uint16, [1, 40000, 65534], "32BSI"),
    (np.int32, [-70000, 5, 2**31 - 1], "32BSI"),
])
def test_categorical_pixel_type_fits_codes(conn, area, tmp_path, dtype, codes, pixel_type):
    nodata = int(np.iinfo(dtype).max) if dtype == np.uint16 else -1
    arr = np.resize(np.array(codes, dtype=dtype), (H, W))
    arr[0, :5] = nodata
    path = write_tif(tmp_path / "c.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=nodata)
    with conn.transaction():
        load_raster(conn, area, "c", path, "categorical", "class")
    stored, nd, info = read_layer(conn, "t", "c")
    assert info["pixel_type"] == pixel_type and nd == (-32768 if pixel_type == "16BSI" else -2**31)
    expected = arr.astype(np.int64)
    expected[0, :5] = nd
    np.testing.assert_array_equal(stored.astype(np.int64), expected)


@pytest.mark.parametrize("dtype,code", [(np.int16, -32768), (np.uint32, 2**31), (np.int32, -2**31)])
def test_categorical_code_colliding_with_nodata_rejected(conn, area, tmp_path, dtype, code):
    arr = np.ones((H, W), dtype=dtype)
    arr[100, 150] = code
    path = write_tif(tmp_path / "c.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=0)
    expect_input_error(conn, load_raster, conn, area, "c", path, "categorical", "class",
                       match=[str(path), "class codes outside"])


def test_custom_crs_grid_on_grid_source(conn, tmp_path):
    albers = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m"
    with conn.transaction():
        area = studyarea.create(conn, "alb", albers, 1000.0, (1_000_000, 4_000_000, 1_050_000, 4_030_000), tile_size=16)
    assert area.grid.srid >= 900000
    arr = np.random.default_rng(0).random((30, 50)).astype(np.float32)
    arr[0, 0] = -1
    path = write_tif(tmp_path / "a.tif", arr, albers, Affine(1000, 0, 1_000_000, 0, -1000, 4_030_000), nodata=-1)
    with conn.transaction():
        load_raster(conn, area, "a", path, "continuous", "1")
    stored, nd, info = read_layer(conn, "alb", "a")
    assert info["resampling"] == "nearest"
    np.testing.assert_array_equal(stored, np.where(arr == -1, np.float32(nd), arr))
    assert alignment(conn, "alb") == {"a": (8, 0, True)}  # 50 x 30 cells: 4 x 2 tiles of 16

    # a lon/lat source warped onto the custom grid: a linear field comes back at the cell centres
    xs = 1_000_000 + (np.arange(50) + 0.5) * 1000
    ys = 4_030_000 - (np.arange(30) + 0.5) * 1000
    lon, lat = Transformer.from_crs(albers, 4326, always_xy=True).transform(*np.meshgrid(xs, ys))
    step = 0.01  # ~0.9 x 1.1 km: about the grid's 1 km -> bilinear
    west, north = np.floor(lon.min() * 10) / 10 - 0.1, np.ceil(lat.max() * 10) / 10 + 0.1
    ncols, nrows = int((lon.max() + 0.1 - west) / step) + 1, int((north - lat.min() + 0.1) / step) + 1
    rows, cols = np.mgrid[0:nrows, 0:ncols]
    field = linear_field(west + (cols + 0.5) * step, north - (rows + 0.5) * step).astype(np.float32)
    fpath = write_tif(tmp_path / "ll.tif", field, "EPSG:4326", Affine(step, 0, west, 0, -step, north), nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "ll", fpath, "continuous", "1")
    stored, nd, info = read_layer(conn, "alb", "ll")
    assert info["resampling"] == "bilinear" and info["nodata_share"] == 0
    # tolerance: GDAL's approximate transformer (<= 0.125 source pixel) on a field rising ~10 per pixel;
    # a half-pixel georeferencing slip would be ~5
    err = np.abs(stored.astype(np.float64) - linear_field(lon, lat))
    assert np.median(err) < 0.6 and err.max() < 1.5


def test_overviews_registered(conn, area16, tmp_path):
    rng = np.random.default_rng(8)
    arr = rng.integers(1, 6, size=(H, W)).astype(np.uint8)
    path = write_tif(tmp_path / "lulc.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=255)
    with conn.transaction():
        info = load_raster(conn, area16, "lulc", path, "categorical", "class", overviews=True)
    overviews = overview_rows(conn, "t__lulc")
    assert info.overviews == [r[2] for r in overviews] == [4]   # 117 tiles: 1/16 would span less than a tile
    assert overviews, "no overview registered in raster_overviews"
    for schema, table, factor in overviews:
        assert schema == "src" and factor > 1
        ident = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        n, scale_x, scale_y, srid = conn.execute(
            sql.SQL("SELECT count(*), min(ST_ScaleX(rast)), max(ST_ScaleY(rast)), min(ST_SRID(rast)) FROM {}").format(
                ident)).fetchone()
        values = [r[0] for r in conn.execute(
            sql.SQL("SELECT DISTINCT (ST_ValueCount(rast, 1, true)).value FROM {}").format(ident)).fetchall()]
        assert n > 0 and (scale_x, scale_y, srid) == (factor * PX, -factor * PX, SRID)
        assert set(values) <= set(np.unique(arr).tolist())  # nearest neighbour: no invented classes
    assert layer_row(conn, "t", "lulc")["pixel_type"] == "16BSI"


def test_overviews_only_on_request(conn, area16, tmp_path):
    """A load builds no overview (nothing restore-db computes or publishes reads them); loading the same file again
    with overviews, or build_overviews, adds them to the stored layer without writing its tiles again."""
    arr = np.random.default_rng(9).random((H, W)).astype(np.float32)
    path = write_tif(tmp_path / "p.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    with conn.transaction():
        info = load_raster(conn, area16, "p", path, "continuous", "mm/yr")
    assert info.overviews == [] and overview_rows(conn, "t__p") == []
    xmin = conn.execute("SELECT xmin::text FROM src.t__p WHERE tile_id = 0").fetchone()
    with conn.transaction():
        again = load_raster(conn, area16, "p", path, "continuous", "mm/yr", overviews=True)
    assert again.unchanged and again.overviews == [4] and [r[2] for r in overview_rows(conn, "t__p")] == [4]
    assert conn.execute("SELECT xmin::text FROM src.t__p WHERE tile_id = 0").fetchone() == xmin  # tiles not rewritten
    (o_table,) = conn.execute("SELECT o_table_name FROM raster_overviews WHERE r_table_name = 't__p'").fetchone()
    o_cells = conn.execute(sql.SQL("SELECT count(*), min(ST_ScaleX(rast)) FROM src.{}").format(
        sql.Identifier(o_table))).fetchone()
    assert o_cells[0] > 0 and o_cells[1] == 4 * PX
    with conn.transaction():   # asked again: kept as they are
        assert build_overviews(conn, area16, "p") == [4]
        assert load_raster(conn, area16, "p", path, "continuous", "mm/yr", overviews=True).overviews == [4]
    assert len(overview_rows(conn, "t__p")) == 1

    other = write_tif(tmp_path / "q.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area16, "q", other, "continuous", "mm/yr")
        assert build_overviews(conn, area16, "q") == [4]
    assert [r[2] for r in overview_rows(conn, "t__q")] == [4]
    expect_input_error(conn, build_overviews, conn, area16, "nope", match=["'nope'", "no source layer"])


def test_layer_alignment_detects_a_misplaced_tile(conn, area, tmp_path):
    arr = np.ones((H, W), dtype=np.float32)
    path = write_tif(tmp_path / "ones.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "ones", path, "continuous", "1", overviews=False)
    assert alignment(conn, "t") == {"ones": (12, 0, True)}
    conn.execute("ALTER TABLE src.t__ones DROP CONSTRAINT IF EXISTS enforce_max_extent_rast")
    conn.execute("ALTER TABLE src.t__ones DROP CONSTRAINT IF EXISTS enforce_same_alignment_rast")
    conn.execute("UPDATE src.t__ones SET rast = ST_SetUpperLeft(rast, ST_UpperLeftX(rast) + 100, ST_UpperLeftY(rast)) "
                 "WHERE tile_id = 4")
    assert alignment(conn, "t") == {"ones": (12, 1, False)}
    conn.execute("UPDATE src.t__ones SET tile_id = 99 WHERE tile_id = 4")
    assert alignment(conn, "t") == {"ones": (12, 1, False)}
    conn.rollback()


def test_on_grid_source_with_other_extent(conn, area, tmp_path):
    """A source on the same lattice but larger (shifted by whole pixels) and one covering part of the grid."""
    rng = np.random.default_rng(3)
    big = rng.normal(500, 100, size=(H + 12, W + 20)).astype(np.float32)
    path = write_tif(tmp_path / "big.tif", big, "EPSG:32650", Affine(PX, 0, OX - 7 * PX, 0, -PX, OY + 5 * PX),
                     nodata=-1.0)
    part = (rng.random((50, 90)) * 10).astype(np.float32)
    ppath = write_tif(tmp_path / "part.tif", part, "EPSG:32650",
                      Affine(PX, 0, OX + 150 * PX, 0, -PX, OY - 100 * PX), nodata=-1.0)  # runs past the grid edge
    with conn.transaction():
        load_raster(conn, area, "big", path, "continuous", "m")
        load_raster(conn, area, "part", ppath, "continuous", "m")
    stored, _, info = read_layer(conn, "t", "big")
    np.testing.assert_array_equal(stored, big[5:5 + H, 7:7 + W])
    assert info["nodata_share"] == 0 and info["resampling"] == "nearest"

    stored, nodata, info = read_layer(conn, "t", "part")
    expected = np.full((H, W), np.float32(nodata))
    expected[100:139, 150:203] = part[:39, :53]
    np.testing.assert_array_equal(stored, expected)
    assert info["valid_cells"] == 39 * 53
    ids = [r[0] for r in conn.execute("SELECT tile_id FROM src.t__part ORDER BY 1").fetchall()]
    assert ids == [6, 7, 10, 11]  # rows 100-138 and columns 150-202 of the grid
    assert all(a[2] for a in alignment(conn, "t").values())


def tile_bytes(conn, table: str) -> dict[int, bytes]:
    return dict(conn.execute(sql.SQL("SELECT tile_id, ST_AsBinary(rast) FROM src.{}").format(
        sql.Identifier(table))).fetchall())


LOAD_FIGURES = ("pixel_type", "nodata", "valid_cells", "nodata_share", "min_value", "max_value", "mean_value",
                "resampling")


@pytest.mark.parametrize("kind", ["categorical", "continuous"])
@pytest.mark.parametrize("shape,offset", [((H, W), (0, 0)), ((H + 12, W + 20), (5, 7)), ((50, 90), (-100, -150)),
                                          ((60, 70), (-30, -40))], ids=["same", "larger", "past-edge", "inside"])
def test_on_grid_source_read_directly_equals_the_warp(conn, area, tmp_path, monkeypatch, kind, shape, offset):
    """A source on the grid's lattice is read window by window, without GDAL's warper; its tiles equal, byte for
    byte, those the warp by nearest neighbour writes (the way such a source was loaded before), whatever part of
    the grid the file covers. ``offset``: the source cell (row, col) on grid cell (0, 0)."""
    rng = np.random.default_rng(sum(shape))
    if kind == "categorical":
        arr = rng.integers(-3, 40, size=shape).astype(np.int16)
        nodata, unit = -3, "class"
    else:
        arr = rng.normal(300, 100, size=shape).astype(np.float32)
        arr[rng.random(shape) < 0.05] = -9999.0
        arr[1, 1] = np.nan
        nodata, unit = -9999.0, "m"
    transform = Affine(PX, 0, OX - offset[1] * PX, 0, -PX, OY + offset[0] * PX)
    path = write_tif(tmp_path / "src.tif", arr, "EPSG:32650", transform, nodata=nodata)

    def no_warp(*args, **kwargs):
        raise AssertionError("an on-grid source went through the warper")

    with monkeypatch.context() as m, conn.transaction():
        m.setattr(raster_loader, "WarpedVRT", no_warp)
        direct = load_raster(conn, area, "direct", path, kind, unit)
    with monkeypatch.context() as m, conn.transaction():
        m.setattr(raster_loader, "_same_grid", lambda *args: False)
        warped = load_raster(conn, area, "warped", path, kind, unit, resampling="nearest")
    direct_tiles, warped_tiles = tile_bytes(conn, "t__direct"), tile_bytes(conn, "t__warped")
    assert direct_tiles and direct_tiles == warped_tiles
    rows = [layer_row(conn, "t", name) for name in ("direct", "warped")]
    assert [{k: r[k] for k in LOAD_FIGURES} for r in rows][0] == [{k: r[k] for k in LOAD_FIGURES} for r in rows][1]
    assert direct.class_counts == warped.class_counts
    r0, c0 = max(0, -offset[0]), max(0, -offset[1])
    r1, c1 = min(H, shape[0] - offset[0]), min(W, shape[1] - offset[1])
    stored, stored_nodata, _ = read_layer(conn, "t", "direct")
    inside = arr[r0 + offset[0]:r1 + offset[0], c0 + offset[1]:c1 + offset[1]]
    valid = (inside != nodata) & ~np.isnan(inside.astype(np.float64))
    np.testing.assert_array_equal(stored[r0:r1, c0:c1], np.where(valid, inside, stored_nodata).astype(stored.dtype))
    assert direct.valid_cells == valid.sum()


@pytest.mark.parametrize("kind", ["categorical", "continuous"])
def test_finer_source_on_a_sub_lattice_gives_the_same_tiles(conn, area, tmp_path, kind):
    """The same data at half the pixel size (each cell a 2 x 2 block), loaded by mode or average, gives the tiles
    of the on-grid file, byte for byte: the warped path and the direct read agree where they must."""
    rng = np.random.default_rng(21)
    if kind == "categorical":
        arr = rng.integers(1, 9, size=(H, W)).astype(np.uint8)
        arr[rng.random((H, W)) < 0.05] = 255
        nodata, unit = 255, "class"
    else:
        arr = rng.normal(300, 100, size=(H, W)).astype(np.float32)
        arr[rng.random((H, W)) < 0.05] = -9999.0
        nodata, unit = -9999.0, "m"
    path = write_tif(tmp_path / "grid.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=nodata)
    fine = write_tif(tmp_path / "fine.tif", np.repeat(np.repeat(arr, 2, axis=0), 2, axis=1), "EPSG:32650",
                     Affine(PX / 2, 0, OX, 0, -PX / 2, OY), nodata=nodata)
    with conn.transaction():
        on_grid = load_raster(conn, area, "grid", path, kind, unit)
        finer = load_raster(conn, area, "fine", fine, kind, unit)
    assert (on_grid.resampling, finer.resampling) == ("nearest", "mode" if kind == "categorical" else "average")
    assert tile_bytes(conn, "t__grid") == tile_bytes(conn, "t__fine")
    assert on_grid.class_counts == finer.class_counts


def stored_counts(conn, layer: str) -> dict[int, int]:
    return dict(conn.execute(
        """SELECT c.code, c.cells FROM core.layer_class_count c JOIN core.layer l USING (layer_id)
           JOIN core.study_area a USING (study_area_id)
           WHERE a.name = 't' AND l.name = %s AND l.run_id IS NULL ORDER BY 1""", (layer,)).fetchall())


def value_counts(conn, table: str) -> dict[int, int]:
    """ST_ValueCount of every tile of a layer, summed: what the class checks scanned before the counts were
    stored."""
    return dict(conn.execute(sql.SQL(
        "SELECT value::integer, sum(count)::bigint FROM src.{}, ST_ValueCount(rast, 1, true) GROUP BY 1 ORDER BY 1"
    ).format(sql.Identifier(table))).fetchall())


@pytest.mark.parametrize("dtype,codes", [(np.uint8, [0, 1, 7, 200]), (np.int16, [-500, 0, 12, 32767]),
                                         (np.int32, [-70000, 1, 5_000_000])])
def test_class_counts_stored_at_load_equal_st_valuecount(conn, area, tmp_path, dtype, codes):
    rng = np.random.default_rng(len(codes))
    arr = rng.choice(np.array(codes, dtype=dtype), size=(H, W))
    nodata = 254 if dtype == np.uint8 else -1
    arr[rng.random((H, W)) < 0.1] = nodata
    arr[64:128, 64:128] = nodata   # a tile without any class: not stored
    path = write_tif(tmp_path / "lulc.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=nodata)
    with conn.transaction():
        info = load_raster(conn, area, "lulc", path, "categorical", "class")
    expected = {int(c): int((arr == c).sum()) for c in codes if (arr == c).any()}
    assert info.class_counts == stored_counts(conn, "lulc") == value_counts(conn, "t__lulc") == expected
    assert sum(expected.values()) == info.valid_cells
    assert lulc_codes_in_layer(conn, area, "lulc") == sorted(expected)


def test_class_counts_of_a_warped_source_and_none_for_a_continuous_layer(conn, area, tmp_path):
    west, north, ncols, nrows, _, _ = lonlat_source(0.002)
    rng = np.random.default_rng(4)
    codes = rng.integers(1, 12, size=(nrows, ncols)).astype(np.uint8)
    codes[:, :5] = 0
    path = write_tif(tmp_path / "ll.tif", codes, "EPSG:4326", Affine(0.002, 0, west, 0, -0.002, north), nodata=0)
    cont = write_tif(tmp_path / "c.tif", np.ones((H, W), np.float32), "EPSG:32650", GRID_TRANSFORM, nodata=-1.0)
    with conn.transaction():
        info = load_raster(conn, area, "lulc", path, "categorical", "class")
        flat = load_raster(conn, area, "c", cont, "continuous", "1")
    assert info.class_counts == stored_counts(conn, "lulc") == value_counts(conn, "t__lulc")
    assert sum(info.class_counts.values()) == info.valid_cells
    assert flat.class_counts is None and stored_counts(conn, "c") == {}
    expect_input_error(conn, lulc_codes_in_layer, conn, area, "c", match=["'c'", "not categorical"])
    assert lulc_codes_in_layer(conn, area, "absent") is None


def test_class_counts_follow_a_replace_and_are_read_not_scanned(conn, area, tmp_path):
    """The class checks read the counts stored with the layer: a replace stores the new ones (the old go with the
    old layer), a change of the tiles behind the loader's back is not seen, and a layer without stored counts is
    counted once with ST_ValueCount and its counts stored."""
    base = np.resize(np.array([1, 2, 3], np.uint8), (H, W))
    first = write_tif(tmp_path / "a.tif", base, "EPSG:32650", GRID_TRANSFORM, nodata=255)
    second = write_tif(tmp_path / "b.tif", np.where(base == 3, 4, base).astype(np.uint8), "EPSG:32650",
                       GRID_TRANSFORM, nodata=255)
    with conn.transaction():
        load_raster(conn, area, "lulc", first, "categorical", "class")
    old_id = layer_row(conn, "t", "lulc")["layer_id"]
    assert lulc_codes_in_layer(conn, area, "lulc") == [1, 2, 3]
    with conn.transaction():
        info = load_raster(conn, area, "lulc", second, "categorical", "class", replace=True)
    assert lulc_codes_in_layer(conn, area, "lulc") == [1, 2, 4]
    assert info.class_counts == stored_counts(conn, "lulc") == value_counts(conn, "t__lulc")
    assert conn.execute("SELECT count(*) FROM core.layer_class_count WHERE layer_id = %s", (old_id,)).fetchone() == (0,)
    with conn.transaction():
        again = load_raster(conn, area, "lulc", second, "categorical", "class")
    assert again.unchanged and again.class_counts == info.class_counts

    # read, not scanned: a tile changed by hand (class 9 in cell 0, 0) is not seen ...
    conn.execute("UPDATE src.t__lulc SET rast = ST_SetValue(rast, 1, 1, 1, 9) WHERE tile_id = 0")
    assert lulc_codes_in_layer(conn, area, "lulc") == [1, 2, 4]
    # ... until the counts are gone: then the layer is counted once, and the counts stored
    conn.execute("DELETE FROM core.layer_class_count")
    counted = class_counts(conn, area, "lulc")
    assert 9 in counted and counted == value_counts(conn, "t__lulc") == stored_counts(conn, "lulc")
    conn.rollback()


# ---------------------------------------------------------------- (b) reprojection


def lonlat_source(step: float, margin: float = 0.02):
    """Bounds (lon/lat) of a source covering the grid with a margin, and cell-centre lon/lat of every grid cell."""
    to_ll = Transformer.from_crs(SRID, 4326, always_xy=True)
    xs = OX + (np.arange(W) + 0.5) * PX
    ys = OY - (np.arange(H) + 0.5) * PX
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = to_ll.transform(gx, gy)
    west = np.floor((lon.min() - margin) / step) * step
    north = np.ceil((lat.max() + margin) / step) * step
    ncols = int(np.ceil((lon.max() + margin - west) / step))
    nrows = int(np.ceil((north - (lat.min() - margin)) / step))
    return west, north, ncols, nrows, lon, lat


def linear_field(lon, lat):
    return 1000.0 * (lon - 116.0) + 500.0 * (lat - 40.0) + 300.0


def test_lonlat_source_reprojected(conn, area, tmp_path):
    step = 0.002  # ~170 x 220 m: coarser than the 100 m grid -> nearest / bilinear
    west, north, ncols, nrows, lon, lat = lonlat_source(step)
    rows, cols = np.mgrid[0:nrows, 0:ncols]
    classes = (1 + ((cols // 7) + 3 * (rows // 5)) % 11).astype(np.uint8)
    src_lon = west + (cols + 0.5) * step
    src_lat = north - (rows + 0.5) * step
    field = linear_field(src_lon, src_lat).astype(np.float32)
    transform = Affine(step, 0, west, 0, -step, north)
    cpath = write_tif(tmp_path / "classes.tif", classes, "EPSG:4326", transform, nodata=0)
    fpath = write_tif(tmp_path / "field.tif", field, "EPSG:4326", transform, nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "lulc", cpath, "categorical", "class")
        load_raster(conn, area, "field", fpath, "continuous", "mm")

    lulc, lnd, linfo = read_layer(conn, "t", "lulc")
    assert linfo["resampling"] == "nearest" and linfo["nodata_share"] == 0
    # nearest: the source cell that contains the grid-cell centre (GDAL's approximate transformer may
    # pick a neighbour exactly at class edges, hence 99 %)
    expected = classes[np.floor((north - lat) / step).astype(int), np.floor((lon - west) / step).astype(int)]
    assert set(np.unique(lulc)) <= set(np.unique(classes))
    assert (lulc == expected).mean() > 0.99

    vals, vnd, finfo = read_layer(conn, "t", "field")
    assert finfo["resampling"] == "bilinear" and finfo["nodata_share"] == 0
    # bilinear interpolation of a linear field reproduces it at the cell centre
    err = np.abs(vals.astype(np.float64) - linear_field(lon, lat))
    assert np.median(err) < 0.05 and err.max() < 0.5
    assert field.min() <= finfo["min_value"] and finfo["max_value"] <= field.max()

    al = alignment(conn, "t")
    assert al["lulc"] == (TILES_X * TILES_Y, 0, True) and al["field"] == (TILES_X * TILES_Y, 0, True)
    # same tile_id -> same place in both layers, and the place the grid gives
    rows = conn.execute(
        """SELECT a.tile_id, ST_UpperLeftX(a.rast), ST_UpperLeftY(a.rast), ST_UpperLeftX(b.rast), ST_UpperLeftY(b.rast),
                  ST_Width(a.rast), ST_Width(b.rast), ST_Height(a.rast), ST_Height(b.rast)
           FROM src.t__lulc a JOIN src.t__field b USING (tile_id) ORDER BY 1"""
    ).fetchall()
    assert [r[0] for r in rows] == list(range(TILES_X * TILES_Y))
    for tid, ax, ay, bx, by, aw, bw, ah, bh in rows:
        trow, tcol = divmod(tid, TILES_X)
        assert (ax, ay) == (bx, by) == (OX + tcol * TS * PX, OY - trow * TS * PX)
        assert aw == bw == min(TS, W - tcol * TS) and ah == bh == min(TS, H - trow * TS)


def test_finer_source_uses_mode_and_average(conn, area, tmp_path):
    step = 0.0005  # ~42 x 56 m: finer than the grid
    west, north, ncols, nrows, lon, lat = lonlat_source(step)
    rows, cols = np.mgrid[0:nrows, 0:ncols]
    classes = (1 + (cols // 40 + rows // 40) % 3).astype(np.int16)
    field = linear_field(west + (cols + 0.5) * step, north - (rows + 0.5) * step).astype(np.float32)
    transform = Affine(step, 0, west, 0, -step, north)
    cpath = write_tif(tmp_path / "fine_classes.tif", classes, "EPSG:4326", transform, nodata=-1)
    fpath = write_tif(tmp_path / "fine_field.tif", field, "EPSG:4326", transform, nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "lulc", cpath, "categorical", "class")
        load_raster(conn, area, "field", fpath, "continuous", "mm")
    lulc, _, linfo = read_layer(conn, "t", "lulc")
    assert linfo["resampling"] == "mode"
    assert set(np.unique(lulc)) == {1, 2, 3}
    vals, _, finfo = read_layer(conn, "t", "field")
    assert finfo["resampling"] == "average"
    # the average of a linear field over a cell is its value at the cell centre (to ~ half a source pixel)
    err = np.abs(vals.astype(np.float64) - linear_field(lon, lat))
    assert np.median(err) < 0.3 and err.max() < 1.0


def test_global_lonlat_source(conn, area, tmp_path):
    """A global 1-degree raster overlaps any study area (its bounds make no sense in UTM 50N)."""
    rows, cols = np.mgrid[0:180, 0:360]
    codes = (rows * 1000 + cols).astype(np.int32)
    path = write_tif(tmp_path / "world.tif", codes, "EPSG:4326", Affine(1, 0, -180, 0, -1, 90), nodata=-1)
    with conn.transaction():
        load_raster(conn, area, "world", path, "categorical", "class")
    stored, nd, info = read_layer(conn, "t", "world")
    _, _, _, _, lon, lat = lonlat_source(0.01)
    expected = np.floor(90 - lat).astype(int) * 1000 + np.floor(lon + 180).astype(int)
    assert info["resampling"] == "nearest" and info["nodata_share"] == 0
    assert (stored == expected).mean() > 0.99
    assert set(np.unique(stored)) <= set(np.unique(expected))


def test_explicit_resampling_and_unknown_resampling(conn, area, tmp_path):
    step = 0.002
    west, north, ncols, nrows, lon, lat = lonlat_source(step)
    field = np.arange(nrows * ncols, dtype=np.float32).reshape(nrows, ncols)
    path = write_tif(tmp_path / "f.tif", field, "EPSG:4326", Affine(step, 0, west, 0, -step, north), nodata=-1.0)
    expect_input_error(conn, load_raster, conn, area, "f", path, "continuous", "1", resampling="splines",
                       match="unknown resampling 'splines'")
    with conn.transaction():
        load_raster(conn, area, "f", path, "continuous", "1", resampling="nearest")
    vals, _, info = read_layer(conn, "t", "f")
    assert info["resampling"] == "nearest"
    assert set(np.unique(vals)) <= set(field.ravel())  # nearest never invents values


# ---------------------------------------------------------------- (c) bad inputs


def small_source(tmp_path, name="x.tif", dtype=np.float32, nodata=-9999.0, crs="EPSG:32650", transform=None):
    arr = (np.arange(40 * 30).reshape(30, 40) % 17).astype(dtype)
    return write_tif(tmp_path / name, arr, crs, transform or Affine(PX, 0, OX + 10 * PX, 0, -PX, OY - 10 * PX),
                     nodata=nodata)


def test_missing_file(conn, area, tmp_path):
    path = tmp_path / "nowhere.tif"
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", match=[str(path), "does not exist"])


def test_random_bytes(conn, area, tmp_path):
    path = tmp_path / "noise.tif"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", match=[str(path), "cannot read"])


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_geotiff(conn, area, tmp_path, fraction):
    rng = np.random.default_rng(1)
    good = write_tif(tmp_path / "good.tif", rng.random((H, W)).astype(np.float32), "EPSG:32650", GRID_TRANSFORM,
                     nodata=-9999.0)
    data = good.read_bytes()
    path = tmp_path / "truncated.tif"
    path.write_bytes(data[: int(len(data) * fraction)])
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", match=[str(path), "cannot read"])


@pytest.mark.realdata
@pytest.mark.parametrize("fraction", [0.05, 0.6])
def test_truncated_real_geotiff(conn, area, tmp_path, fraction):
    data = shared_data("rasters", "bth_dem_30arcsec_meteva.tif").read_bytes()
    path = tmp_path / "dem_truncated.tif"
    path.write_bytes(data[: int(len(data) * fraction)])
    expect_input_error(conn, load_raster, conn, area, "dem", path, "continuous", "m", match=[str(path), "cannot read"])


def test_no_crs(conn, area, tmp_path):
    path = small_source(tmp_path, crs=None)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", match=[str(path), "no CRS"])


def test_no_nodata_needs_nodata_option(conn, area, tmp_path):
    path = small_source(tmp_path, nodata=None)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m",
                       match=[str(path), "no nodata", "--nodata"])
    with conn.transaction():
        load_raster(conn, area, "x", path, "continuous", "m", nodata=0)
    stored, nd, info = read_layer(conn, "t", "x")
    src = (np.arange(40 * 30).reshape(30, 40) % 17).astype(np.float32)
    block = stored[10:40, 10:50]
    np.testing.assert_array_equal(block, np.where(src == 0, np.float32(nd), src))  # 0 is now nodata
    assert info["valid_cells"] == (src != 0).sum()


def test_non_square_pixels(conn, area, tmp_path):
    arr = np.repeat(np.arange(30, dtype=np.float32)[:, None] * 10 + np.arange(40, dtype=np.float32), 2, axis=0)
    path = write_tif(tmp_path / "rect.tif", arr, "EPSG:32650", Affine(PX, 0, OX, 0, -PX / 2, OY), nodata=-1.0)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m",
                       match=[str(path), "non-square", "--allow-non-square"])
    with conn.transaction():
        load_raster(conn, area, "x", path, "continuous", "m", allow_non_square=True)
    stored, nd, info = read_layer(conn, "t", "x")
    # each 100 m cell covers two 50 m source rows holding the same value
    np.testing.assert_allclose(stored[:30, :40], arr[::2], rtol=0, atol=1e-3)
    assert (stored[30:, :] == nd).all() and (stored[:, 40:] == nd).all()
    assert alignment(conn, "t")["x"][1:] == (0, True)


def test_no_overlap(conn, area, tmp_path):
    path = small_source(tmp_path, transform=Affine(PX, 0, OX + 50_000, 0, -PX, OY))
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m",
                       match=[str(path), "does not overlap", "'t'"])
    far = small_source(tmp_path, "far.tif", crs="EPSG:4326", transform=Affine(0.01, 0, -60.0, 0, -0.01, -10.0))
    expect_input_error(conn, load_raster, conn, area, "x", far, "continuous", "m", match=str(far))


def test_categorical_from_float(conn, area, tmp_path):
    path = small_source(tmp_path)
    expect_input_error(conn, load_raster, conn, area, "x", path, "categorical", "class",
                       match=[str(path), "floating-point"])


def test_band_out_of_range(conn, area, tmp_path):
    path = small_source(tmp_path)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", band=2,
                       match=[str(path), "band 2"])


@pytest.mark.parametrize("name,kind,unit,match", [
    ("Bad Name", "continuous", "m", "invalid layer name"),
    ("1x", "continuous", "m", "invalid layer name"),
    ("x" * 33, "continuous", "m", "invalid layer name"),
    ("x", "ordinal", "m", "kind must be"),
    ("x", "continuous", "", "unit is required"),
])
def test_bad_arguments(conn, area, tmp_path, name, kind, unit, match):
    path = small_source(tmp_path)
    expect_input_error(conn, load_raster, conn, area, name, path, kind, unit, match=match)


def test_existing_layer_needs_replace(conn, area16, tmp_path):
    area = area16
    first = write_tif(tmp_path / "first.tif", np.ones((H, W), dtype=np.float32), "EPSG:32650", GRID_TRANSFORM,
                      nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "x", first, "continuous", "m", overviews=True)
    ov = conn.execute("SELECT o_table_name FROM raster_overviews WHERE r_table_name = 't__x'").fetchall()
    assert ov, "the first load made overview tables"
    second_arr = np.full((H, W), 7.5, dtype=np.float32)
    second = write_tif(tmp_path / "second.tif", second_arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    expect_input_error(conn, load_raster, conn, area, "x", second, "continuous", "m",
                       match=["'x'", "already has a layer", "--replace"])
    with conn.transaction():
        load_raster(conn, area, "x", second, "continuous", "m", replace=True, overviews=False)
    stored, _, info = read_layer(conn, "t", "x")
    np.testing.assert_array_equal(stored, second_arr)
    assert info["source_path"] == str(second.resolve())
    assert conn.execute("SELECT count(*) FROM core.layer").fetchone()[0] == 1
    for (o_table,) in ov:  # old overview tables are gone, not just unregistered
        assert conn.execute("SELECT to_regclass(%s)", (f'src."{o_table}"',)).fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM raster_overviews WHERE r_table_name = 't__x'").fetchone()[0] == 0
    # and a second replace with overviews works (no left-over table in the way)
    with conn.transaction():
        load_raster(conn, area, "x", first, "continuous", "m", replace=True, overviews=True)
    assert conn.execute("SELECT count(*) FROM raster_overviews WHERE r_table_name = 't__x'").fetchone()[0] >= 1


def test_failed_replace_keeps_the_old_layer(conn, area, tmp_path):
    arr = np.arange(H * W, dtype=np.int32).reshape(H, W) % 7
    good = write_tif(tmp_path / "good.tif", arr.astype(np.uint8), "EPSG:32650", GRID_TRANSFORM, nodata=255)
    with conn.transaction():
        load_raster(conn, area, "lulc", good, "categorical", "class")
    before, _, _ = read_layer(conn, "t", "lulc")
    bad_arr = arr.copy()
    bad_arr[130, 200] = -2**31  # found in the last tile row, after the old table was dropped
    bad = write_tif(tmp_path / "bad.tif", bad_arr, "EPSG:32650", GRID_TRANSFORM, nodata=-1)
    expect_input_error(conn, load_raster, conn, area, "lulc", bad, "categorical", "class", replace=True,
                       match=[str(bad), "class codes outside"])
    after, _, info = read_layer(conn, "t", "lulc")
    np.testing.assert_array_equal(after, before)
    assert info["source_path"] == str(good.resolve())


def test_band_selection(conn, area, tmp_path):
    bands = np.stack([np.full((H, W), 1.0, np.float32), np.arange(H * W, dtype=np.float32).reshape(H, W)])
    path = write_tif(tmp_path / "two.tif", bands, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "second", path, "continuous", "1", band=2)
    stored, _, _ = read_layer(conn, "t", "second")
    np.testing.assert_array_equal(stored, bands[1])


def test_source_layer_independent_of_computed_layers_of_the_same_name(conn, area, tmp_path):
    """Computed layers (core.layer.run_id set) may share a name with a source layer: loading,
    replacing and the checksum look-up concern the source layer only."""
    (run_id,) = conn.execute("INSERT INTO core.run (study_area_id, stage) VALUES (%s, 'services') RETURNING run_id",
                             (area.study_area_id,)).fetchone()
    conn.execute("CREATE TABLE calc.t__x__run (tile_id integer PRIMARY KEY, rast raster NOT NULL)")
    conn.execute("""INSERT INTO core.layer (study_area_id, run_id, name, kind, unit, pixel_type, nodata, table_schema,
                        table_name) VALUES (%s, %s, 'x', 'continuous', 'mm', '32BF', 0, 'calc', 't__x__run')""",
                 (area.study_area_id, run_id))
    conn.commit()
    first = write_tif(tmp_path / "first.tif", np.ones((H, W), dtype=np.float32), "EPSG:32650", GRID_TRANSFORM,
                      nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "x", first, "continuous", "m")  # no source layer 'x' yet: no --replace needed
    second = write_tif(tmp_path / "second.tif", np.full((H, W), 2, dtype=np.float32), "EPSG:32650", GRID_TRANSFORM,
                       nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "x", second, "continuous", "m", replace=True)
    stored, _, _ = read_layer(conn, "t", "x")
    assert (stored == 2).all()
    assert conn.execute("SELECT count(*) FROM core.layer WHERE name = 'x' AND run_id = %s", (run_id,)).fetchone() == (1,)
    assert conn.execute("SELECT to_regclass('calc.t__x__run') IS NOT NULL").fetchone() == (True,)


def test_all_nodata_inside_area(conn, area, tmp_path):
    arr = np.full((30, 40), -9999.0, dtype=np.float32)
    path = write_tif(tmp_path / "empty.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", match=[str(path), "no valid cell"])


# ---------------------------------------------------------------- CLI


def test_cli_load_raster(cli_env, conn, area, tmp_path):
    rng = np.random.default_rng(5)
    arr, valid = continuous_source(rng)
    path = write_tif(tmp_path / "p.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999)
    result = CliRunner().invoke(app, ["load", "raster", "precip", str(path), "--kind", "continuous", "--unit", "mm",
                                      "--no-overviews"])
    assert result.exit_code == 0, result.output
    stored, nd, info = read_layer(conn, "t", "precip")
    assert info["unit"] == "mm"
    np.testing.assert_array_equal(stored, np.where(valid, arr, np.float32(nd)))
    assert conn.execute("SELECT count(*) FROM raster_overviews").fetchone()[0] == 0


def test_cli_load_raster_overviews_on_request(cli_env, conn, area16, tmp_path):
    """No overviews by default; --overviews adds them, to a layer already loaded without writing it again."""
    rng = np.random.default_rng(6)
    arr = rng.uniform(0.0, 100.0, size=(H, W)).astype(np.float32)
    path = write_tif(tmp_path / "p.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-9999)
    args = ["load", "raster", "p", str(path), "--kind", "continuous", "--unit", "mm", "-a", "t"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert overview_rows(conn, "t__p") == []
    result = CliRunner().invoke(app, [*args, "--overviews"])
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output and "overviews 1/4" in result.output
    assert [r[2] for r in overview_rows(conn, "t__p")] == [4]


def test_cli_error_exit_code_and_message(cli_env, conn, area, tmp_path):
    path = small_source(tmp_path)
    before = snapshot(conn)
    env = dict(os.environ, RESTORE_DB_URL=cli_env["RESTORE_DB_URL"], COLUMNS="500")
    proc = subprocess.run(
        cli_argv("load", "raster", "lulc", path, "--kind", "categorical", "--unit", "class"),
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "error:" in message and "floating-point" in message
    assert str(path) in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr
    assert snapshot(conn) == before
    # with CliRunner the InputError comes back as the exception
    result = CliRunner().invoke(app, ["load", "raster", "lulc", str(tmp_path / "missing.tif"), "--kind",
                                      "categorical", "--unit", "class"])
    assert isinstance(result.exception, InputError) and "missing.tif" in str(result.exception)


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_rasters_on_one_grid(conn):
    counties = shared_data("boundaries", "bth_counties_2020_garybikini.gpkg")
    dem = shared_data("rasters", "bth_dem_30arcsec_meteva.tif")
    lulc = shared_data("rasters", "bth_modis_mcd12c1_igbp_2019_0p05deg.tif")
    prec = shared_data("rasters", "bth_worldclim14_bio12_10arcmin.tif")
    from pyproj import CRS

    bounds = studyarea.bounds_of_vector(counties, "county_wgs84_from_gcj02", CRS.from_epsg(SRID))
    with conn.transaction():
        area = studyarea.create(conn, "bth", SRID, 1000.0, bounds)
        load_raster(conn, area, "dem", dem, "continuous", "m")
        load_raster(conn, area, "lulc", lulc, "categorical", "class")
        load_raster(conn, area, "precipitation", prec, "continuous", "mm/yr")
    al = alignment(conn, "bth")
    assert set(al) == {"dem", "lulc", "precipitation"}
    assert all(misplaced == 0 and ok for _, misplaced, ok in al.values())

    with rasterio.open(prec) as src:
        p = src.read(1)
        p_valid = p[p != src.nodata]
    with rasterio.open(dem) as src:
        d = src.read(1)
        d_max = d[d != src.nodata].max()
    assert (p_valid.min(), p_valid.max(), d_max) == (207, 782, 2969)  # as documented in PROVENANCE.md

    for name in ("dem", "lulc", "precipitation"):
        stored, nd, info = read_layer(conn, "bth", name)
        valid = stored != nd
        assert info["nodata_share"] == pytest.approx(1 - valid.mean())
        assert info["nodata_share"] < 0.15, name
        assert (info["min_value"], info["max_value"]) == (stored[valid].min(), stored[valid].max())
    lulc_arr, nd, info = read_layer(conn, "bth", "lulc")
    assert info["resampling"] == "nearest"
    classes = set(np.unique(lulc_arr[lulc_arr != nd]).tolist())
    assert classes <= set(range(17)) and {10, 12, 13} <= classes  # grassland, cropland, urban present
    info = layer_row(conn, "bth", "precipitation")
    assert info["resampling"] == "bilinear"
    assert p_valid.min() <= info["min_value"] and info["max_value"] <= p_valid.max()
    info = layer_row(conn, "bth", "dem")
    assert info["max_value"] <= d_max and info["min_value"] > -500


# ---------------------------------------------------------------- reload rule, bad inputs through the CLI


def test_identical_reload_is_a_no_op_other_content_needs_replace(conn, area, tmp_path):
    arr = (np.arange(H * W).reshape(H, W) % 100).astype(np.int16)
    path = write_tif(tmp_path / "p.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-1)
    with conn.transaction():
        first = load_raster(conn, area, "precipitation", path, "continuous", "mm/yr")
    assert not first.unchanged
    before = layer_row(conn, "t", "precipitation")
    for replace in (False, True):  # the same file and options: nothing written, with or without --replace
        snap = snapshot(conn)
        with conn.transaction():
            again = load_raster(conn, area, "precipitation", path, "continuous", "mm/yr", replace=replace)
        assert again.unchanged and (again.tiles, again.valid_cells) == (first.tiles, first.valid_cells)
        assert layer_row(conn, "t", "precipitation") == before and snapshot(conn) == snap
    # the same file with an option that changes what is stored is other content; so is another file
    same_values = write_tif(tmp_path / "copy.tif", arr, "EPSG:32650", GRID_TRANSFORM, nodata=-1, compress="deflate")
    for file, kind, unit, options in ((path, "continuous", "mm/yr", {"nodata": 0}),
                                      (path, "continuous", "mm", {}),
                                      (path, "categorical", "class", {}),
                                      (same_values, "continuous", "mm/yr", {})):
        expect_input_error(conn, load_raster, conn, area, "precipitation", file, kind, unit, **options,
                           match=["'t'", "already has a layer 'precipitation'", "(loaded from p.tif)",
                                  "other content", "--replace"])
    with conn.transaction():
        again = load_raster(conn, area, "precipitation", path, "continuous", "mm/yr", nodata=0, replace=True)
    assert not again.unchanged and again.valid_cells == first.valid_cells - (arr == 0).sum()


def test_band_choice_is_part_of_the_layer(conn, area, tmp_path):
    bands = np.stack([np.full((H, W), 1.0, np.float32), np.full((H, W), 2.0, np.float32)])
    path = write_tif(tmp_path / "two.tif", bands, "EPSG:32650", GRID_TRANSFORM, nodata=-9999.0)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "1",
                       match=[str(path), "has 2 bands", "--band"])
    with conn.transaction():
        load_raster(conn, area, "x", path, "continuous", "1", band=1)
    with conn.transaction():
        assert load_raster(conn, area, "x", path, "continuous", "1", band=1).unchanged
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "1", band=2,
                       match=["'x'", "other content", "--replace"])
    assert layer_row(conn, "t", "x")["load_options"] == {"band": 1, "source_nodata": "-9999.0"}


def test_a_layer_loaded_before_its_options_were_recorded_reloads_as_unchanged(conn, area, tmp_path):
    """A database upgraded from a version that did not record the load options: the same file again is still
    the same layer (its band and nodata are taken to be the file's)."""
    path = write_tif(tmp_path / "d.tif", np.full((H, W), 50.0, np.float32), "EPSG:32650", GRID_TRANSFORM,
                     nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "dem", path, "continuous", "m")
    with conn.transaction():
        conn.execute("UPDATE core.layer SET load_options = NULL WHERE name = 'dem'")
    with conn.transaction():
        assert load_raster(conn, area, "dem", path, "continuous", "m").unchanged


@pytest.mark.parametrize("dtype,nodata", [(np.uint8, 255.5), (np.int16, 40000.0), (np.float32, -1e39)])
def test_nodata_the_band_cannot_hold(conn, area, tmp_path, dtype, nodata):
    path = small_source(tmp_path, dtype=dtype, nodata=None)
    expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m", nodata=nodata,
                       match=[str(path), f"--nodata {nodata:g}", f"cannot be held by band 1 ({np.dtype(dtype)}"])


def test_nodata_is_compared_as_the_band_holds_it(conn, area, tmp_path):
    """--nodata 0.1 on float32 means float32(0.1): those cells are nodata, as GDAL reads them."""
    arr = np.full((30, 40), 5.0, np.float32)
    arr[:10] = np.float32(0.1)
    path = write_tif(tmp_path / "f.tif", arr, "EPSG:32650", Affine(PX, 0, OX, 0, -PX, OY))
    with conn.transaction():
        info = load_raster(conn, area, "x", path, "continuous", "m", nodata=0.1)
    assert info.valid_cells == 20 * 40 and info.min_value == info.max_value == 5.0


@pytest.mark.parametrize("name,unit,values,match", [
    ("precipitation", "mm/yr", (10.0, 25000.0), ["'precipitation'", "10..25000 mm/yr", "0..20000 mm/yr"]),
    ("eto", "mm/yr", (-5.0, 800.0), ["'eto'", "-5..800", "0..5000"]),
    ("dem", "m", (-600.0, 100.0), ["'dem'", "-600..100 m", "-500..9000 m"]),
    ("pawc", "fraction", (0.1, 1.5), ["'pawc'", "0.1..1.5", "0..1 fraction"]),
    ("ndvi", "1", (-1.2, 0.5), ["'ndvi'", "-1.2..0.5", "-1..1"]),
    ("sand", "%", (0.0, 120.0), ["'sand'", "0..120 %", "0..100 %"]),
    ("anything", "m", (0.0, 1e35), ["'anything'", "0..1e+35 m", "-1e+30..1e+30"]),
])
def test_values_outside_plausible_bounds(conn, area, tmp_path, name, unit, values, match):
    arr = np.full((30, 40), values[0], np.float32)
    arr[5, 5] = values[1]
    path = write_tif(tmp_path / "v.tif", arr, "EPSG:32650", Affine(PX, 0, OX, 0, -PX, OY), nodata=-9999.0)
    expect_input_error(conn, load_raster, conn, area, name, path, "continuous", unit, match=[str(path), *match])


def local_cs_source(tmp_path):
    from rasterio.crs import CRS

    local = CRS.from_wkt('LOCAL_CS["Site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
    return write_tif(tmp_path / "local.tif", np.ones((30, 40), np.float32), local, Affine(PX, 0, OX, 0, -PX, OY),
                     nodata=-9999.0)


def test_local_crs_needs_src_crs(conn, area, tmp_path):
    path = local_cs_source(tmp_path)
    message = expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m",
                                 match=[str(path), "local (engineering) CRS 'Site grid'", "--src-crs", "reproject"])
    assert "\n" not in message and "{" not in message
    with conn.transaction():
        info = load_raster(conn, area, "x", path, "continuous", "m", src_crs="EPSG:32650")
    assert info.valid_cells == 30 * 40 and info.resampling == "nearest"
    assert "32650" in layer_row(conn, "t", "x")["source_crs"]


def test_corrupt_tiff_names_gdal_error(conn, area, tmp_path):
    rng = np.random.default_rng(1)
    good = write_tif(tmp_path / "good.tif", rng.random((H, W)).astype(np.float32), "EPSG:32650", GRID_TRANSFORM,
                     nodata=-9999.0, compress="deflate", tiled=True, blockxsize=64, blockysize=64)
    data = bytearray(good.read_bytes())
    data[2000:-200] = rng.bytes(len(data) - 2200)  # header intact, compressed tiles garbage
    path = tmp_path / "corrupt.tif"
    path.write_bytes(bytes(data))
    message = expect_input_error(conn, load_raster, conn, area, "x", path, "continuous", "m",
                                 match=[str(path), "cannot read raster"])
    assert "previous exception" not in message and "Decod" in message and "\n" not in message


def two_band_source(tmp_path):
    return write_tif(tmp_path / "rgb.tif", np.ones((3, 30, 40), np.uint8), "EPSG:32650", Affine(PX, 0, OX, 0, -PX, OY),
                     nodata=0)


def test_cli_bad_rasters_one_line_database_unchanged(cli_env, conn, area, tmp_path):
    from helpers import check_bad_input

    ok = write_tif(tmp_path / "ok.tif", np.full((30, 40), 500.0, np.float32), "EPSG:32650",
                   Affine(PX, 0, OX, 0, -PX, OY), nodata=-9999.0)
    with conn.transaction():
        load_raster(conn, area, "precipitation", ok, "continuous", "mm/yr")
    u8 = small_source(tmp_path, "u8.tif", dtype=np.uint8, nodata=None)
    f32 = small_source(tmp_path, "f32.tif", nodata=None)
    noise = tmp_path / "noise.tif"
    values = np.frombuffer(np.random.default_rng(2).bytes(30 * 40 * 4), dtype=np.float32).reshape(30, 40)
    write_tif(noise, values, "EPSG:32650", Affine(PX, 0, OX, 0, -PX, OY), nodata=-9999.0)
    rgb = two_band_source(tmp_path)
    local = local_cs_source(tmp_path)
    rng = np.random.default_rng(1)
    good = write_tif(tmp_path / "good.tif", rng.random((H, W)).astype(np.float32), "EPSG:32650", GRID_TRANSFORM,
                     nodata=-9999.0, compress="deflate", tiled=True, blockxsize=64, blockysize=64)
    data = bytearray(good.read_bytes())
    data[2000:-200] = rng.bytes(len(data) - 2200)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(bytes(data))
    other = write_tif(tmp_path / "other.tif", np.full((30, 40), 600.0, np.float32), "EPSG:32650",
                      Affine(PX, 0, OX, 0, -PX, OY), nodata=-9999.0)
    cases = [
        (["x", u8, "--unit", "m", "--nodata", "-9999"], ["u8.tif", "--nodata -9999", "uint8"]),
        (["x", f32, "--unit", "m", "--nodata", "1e40"], ["f32.tif", "--nodata 1e+40", "float32"]),
        (["precip2", noise, "--unit", "mm/yr"], ["noise.tif", "'precip2'", "e+38"]),
        (["precipitation", noise, "--unit", "mm/yr", "--replace"], ["noise.tif", "'precipitation'", "0..20000"]),
        (["x", rgb, "--unit", "m"], ["rgb.tif", "3 bands", "--band"]),
        (["x", local, "--unit", "m"], ["local.tif", "local (engineering) CRS", "--src-crs"]),
        (["x", ok, "--unit", "m", "--src-crs", "EPSG:bogus"], ["--src-crs: cannot read CRS 'EPSG:bogus'"]),
        (["x", corrupt, "--unit", "m"], ["corrupt.tif", "Decod"]),
        (["precipitation", other, "--unit", "mm/yr"], ["'precipitation'", "ok.tif", "other content", "--replace"]),
    ]
    for args, match in cases:
        check_bad_input(conn, cli_env, "load", "raster", *args, "--kind", "continuous", match=match)
    # an identical reload through the CLI says so and writes nothing
    from helpers import db_fingerprint, run_cli

    before = db_fingerprint(conn)
    proc = run_cli(cli_env, "load", "raster", "precipitation", ok, "--kind", "continuous", "--unit", "mm/yr")
    assert proc.returncode == 0 and "unchanged" in proc.stderr and "nothing written" in proc.stderr, proc.stderr
    assert db_fingerprint(conn) == before


def test_concurrent_loads_of_one_layer_name(db_url, conn, area, tmp_path):
    """Two sessions load the same layer name at once: the second waits for the first, then follows the
    reload rule (identical file: nothing written; other file: the one-line error naming --replace)."""
    import threading
    import time

    import psycopg

    first = write_tif(tmp_path / "first.tif", np.full((H, W), 100.0, np.float32), "EPSG:32650", GRID_TRANSFORM,
                      nodata=-9999.0)
    second = write_tif(tmp_path / "second.tif", np.full((H, W), 200.0, np.float32), "EPSG:32650", GRID_TRANSFORM,
                       nodata=-9999.0)
    for name, other in (("a", second), ("b", first)):
        results: dict = {}
        started = threading.Event()

        def slow_first():
            with psycopg.connect(db_url) as c, c.transaction():
                a = studyarea.get(c, "t")
                load_raster(c, a, name, first, "continuous", "mm/yr", overviews=False)
                started.set()
                time.sleep(1.5)  # the layer is written but not committed while the other load starts
            results["first"] = "loaded"

        def racing():
            started.wait(30)
            try:
                with psycopg.connect(db_url) as c, c.transaction():
                    a = studyarea.get(c, "t")
                    info = load_raster(c, a, name, other, "continuous", "mm/yr", overviews=False)
                results["second"] = "unchanged" if info.unchanged else "loaded"
            except Exception as exc:  # noqa: BLE001 - the test reports what the racing load raised
                results["second"] = exc

        threads = [threading.Thread(target=slow_first), threading.Thread(target=racing)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results["first"] == "loaded"
        if other == first:
            assert results["second"] == "unchanged", results
        else:
            assert isinstance(results["second"], InputError), results
            assert f"already has a layer {name!r}" in str(results["second"]) and "--replace" in str(results["second"])
        stored, _, info = read_layer(conn, "t", name)
        assert (stored == 100.0).all() and info["source_path"] == str(first.resolve())
        conn.rollback()
