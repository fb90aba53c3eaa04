"""Raster WKB encoding against PostGIS itself: what we write is what PostGIS reads."""

import numpy as np
import pytest

from restore_db.kernels import wkb
from restore_db.grid.reference import Grid


@pytest.mark.parametrize("dtype,nodata", [(np.float32, -9999.0), (np.int16, -32768), (np.uint8, 255), (np.float64, -1.0)])
def test_postgis_reads_our_wkb(conn, dtype, nodata):
    grid = Grid(32650, 500000.0, 4400000.0, 30.0, 7, 5, tile_size=4)
    tile = grid.tile(3)  # second row, second column: 3 x 1 cells at the grid corner
    assert (tile.height, tile.width) == (1, 3)
    rng = np.random.default_rng(1)
    arr = (rng.random((tile.height, tile.width)) * 100).astype(dtype)
    arr[0, 1] = nodata
    data = wkb.encode(arr, nodata, grid.header(tile))
    row = conn.execute(
        """SELECT ST_Width(r), ST_Height(r), ST_UpperLeftX(r), ST_UpperLeftY(r), ST_ScaleX(r), ST_ScaleY(r),
                  ST_SRID(r), ST_BandPixelType(r), ST_BandNoDataValue(r),
                  ST_Value(r, 1, 1, false), ST_Value(r, 2, 1, true), ST_Value(r, 3, 1, false)
           FROM (SELECT %s::raster AS r) s""",
        (data.hex(),),
    ).fetchone()
    assert row[:7] == (3, 1, 500000.0 + 4 * 30, 4400000.0 - 4 * 30, 30.0, -30.0, 32650)
    assert row[7] == wkb.pixel_type_of(dtype)
    assert row[8] == pytest.approx(float(nodata))
    assert row[9] == pytest.approx(float(arr[0, 0]))
    assert row[10] is None  # nodata pixel excluded
    assert row[11] == pytest.approx(float(arr[0, 2]))


def test_decode_roundtrip_from_postgis(conn):
    (data,) = conn.execute(
        "SELECT ST_AsBinary(ST_SetValues(ST_AddBand(ST_MakeEmptyRaster(3, 2, 10, 20, 1, -1, 0, 0, 3857), '32BF'::text, 0::double precision, -1::double precision),"
        " 1, 1, 1, ARRAY[[1.5, 2.5, -1], [4, 5, 6]]::double precision[][]))"
    ).fetchone()
    header, bands, nodatas = wkb.decode(data)
    assert (header.width, header.height, header.ulx, header.uly, header.srid) == (3, 2, 10.0, 20.0, 3857)
    np.testing.assert_array_equal(bands[0], np.array([[1.5, 2.5, -1], [4, 5, 6]], dtype=np.float32))
    assert nodatas == [-1.0]
    assert wkb.valid_mask(bands[0], nodatas[0]).sum() == 5


def test_grid_tiles_cover_grid_once():
    grid = Grid(32650, 0.0, 0.0, 10.0, 301, 157, tile_size=64)
    assert (grid.tiles_x, grid.tiles_y) == (5, 3)
    covered = np.zeros((157, 301), dtype=int)
    for tile in grid.tiles():
        covered[tile.row0:tile.row0 + tile.height, tile.col0:tile.col0 + tile.width] += 1
        assert grid.tile_of_header(grid.header(tile)) == tile.tile_id
    assert (covered == 1).all()


def test_grid_covering_snaps_outward():
    grid = Grid.covering(32650, (1005.0, 2003.0, 3999.0, 5001.0), 1000.0)
    assert (grid.origin_x, grid.origin_y, grid.width, grid.height) == (1000.0, 6000.0, 3, 4)
