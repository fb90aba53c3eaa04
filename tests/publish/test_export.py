"""Export of stored layers: GeoTIFFs that give back the stored values exactly, on the study-area grid.

Expected values come from numpy (the arrays that were loaded, a lookup computed by hand) and are read
back with rasterio only; helpers.read_layer is the independent tile reader for comparisons.
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import psycopg
import pytest
import rasterio
import rasterio.errors
from affine import Affine
from pyproj import CRS
from typer.testing import CliRunner

from conftest import snapshot
from helpers import cli_argv, create_area, expect_input_error, read_layer, write_tif
from restore_db.publish import export
from restore_db.grid import studyarea
from restore_db.kernels import wkb
from restore_db.errors import InputError
from restore_db.publish.export import export_raster
from restore_db.store.layers import read_layer_array
from restore_db.load.params import load_params
from restore_db.load.raster import FLOAT_NODATA, load_raster
from restore_db.store import layers

W, H, TS, PX = 203, 139, 64, 30.0  # 4 x 3 tiles, the last column 11 wide, the last row 11 high
OX, OY = 399990.0, 4500000.0  # multiples of the pixel size
TRANSFORM = Affine(PX, 0, OX, 0, -PX, OY)
TILES_X, TILES_Y = 4, 3
EMPTY_TILES = (1, 6, 11)  # all-nodata in the sources: not stored, exported as nodata


@pytest.fixture
def area(conn):
    return create_area(conn, "t", 32650, OX, OY, PX, W, H, tile_size=TS)


def blank_tiles(valid: np.ndarray) -> np.ndarray:
    valid = valid.copy()
    for tile_id in EMPTY_TILES:
        trow, tcol = divmod(tile_id, TILES_X)
        valid[trow * TS:(trow + 1) * TS, tcol * TS:(tcol + 1) * TS] = False
    return valid


def categorical_source(tmp_path, seed=1, name="lulc.tif"):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 8, size=(H, W)).astype(np.uint8)
    valid = blank_tiles(rng.random((H, W)) > 0.1)
    arr = np.where(valid, codes, 255).astype(np.uint8)
    path = write_tif(tmp_path / name, arr, "EPSG:32650", TRANSFORM, nodata=255)
    return path, np.where(valid, codes.astype(np.int16), np.int16(-32768))


def continuous_source(tmp_path, seed=2, name="precip.tif"):
    rng = np.random.default_rng(seed)
    values = (rng.normal(500, 300, size=(H, W)) * rng.random((H, W))).astype(np.float32)
    valid = blank_tiles(rng.random((H, W)) > 0.2)
    arr = np.where(valid, values, -9999).astype(np.float32)
    path = write_tif(tmp_path / name, arr, "EPSG:32650", TRANSFORM, nodata=-9999)
    return path, np.where(valid, values, np.float32(FLOAT_NODATA)).astype(np.float32)


def load(conn, area, name, path, kind, unit):
    with conn.transaction():
        load_raster(conn, area, name, path, kind, unit, overviews=False)


def read_tif(path):
    with rasterio.open(path) as src:
        return src.read(1), src


def stored_tile_ids(conn, area, layer, run_id=None):
    ref = layers.resolve_layer(conn, area, layer, run_id)
    return {r[0] for r in conn.execute(f'SELECT tile_id FROM {ref.table_schema}."{ref.table_name}"').fetchall()}


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind,dtype,predictor", [("categorical", "int16", "2"), ("continuous", "float32", "3")])
def test_round_trip_exact(conn, area, tmp_path, kind, dtype, predictor):
    path, expected = (categorical_source if kind == "categorical" else continuous_source)(tmp_path)
    load(conn, area, "x", path, kind, "class" if kind == "categorical" else "mm")
    assert stored_tile_ids(conn, area, "x") == set(range(TILES_X * TILES_Y)) - set(EMPTY_TILES)
    stored, nodata, _ = read_layer(conn, "t", "x")
    np.testing.assert_array_equal(stored, expected)  # the loader stored what we expect

    out = tmp_path / "out" / "x.tif"
    out.parent.mkdir()
    info = export_raster(conn, area, "x", out)
    with rasterio.open(out) as src:
        got = src.read(1)
        assert src.dtypes == (dtype,) and src.count == 1
        assert (src.width, src.height) == (W, H)
        assert src.transform == TRANSFORM
        assert src.crs.to_epsg() == 32650
        assert src.nodata == nodata and np.array(src.nodata, dtype=dtype) == np.array(nodata, dtype=dtype)
        assert src.profile["tiled"] and src.block_shapes == [(256, 256)]
        assert src.compression.name == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == predictor
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)
    for tile_id in EMPTY_TILES:  # missing tiles come out as nodata
        trow, tcol = divmod(tile_id, TILES_X)
        assert (got[trow * TS:(trow + 1) * TS, tcol * TS:(tcol + 1) * TS] == np.array(nodata, dtype=dtype)).all()
    valid = expected != np.array(nodata, dtype=dtype)
    assert (info.valid_cells, info.tiles, info.missing_tiles) == (int(valid.sum()), 9, 3)
    assert (info.path, info.bytes, info.run_id) == (out, out.stat().st_size, None)
    assert os.listdir(out.parent) == ["x.tif"]  # no temporary file left behind

    arr, nd = read_layer_array(conn, area, "x")
    assert arr.dtype == np.dtype(dtype) and nd == nodata
    np.testing.assert_array_equal(arr, expected)
    arr2, _ = read_layer_array(conn, "t", "x")  # by study-area name
    np.testing.assert_array_equal(arr2, expected)


def test_default_tile_size_and_large_block_alignment(conn, tmp_path):
    """256-pixel tiles map one-to-one onto GeoTIFF blocks; a grid of 600 x 530 has cut edge tiles."""
    a = create_area(conn, "big", 32650, OX, OY, PX, 600, 530)
    rng = np.random.default_rng(3)
    values = rng.random((530, 600)).astype(np.float32)
    path = write_tif(tmp_path / "r.tif", values, "EPSG:32650", TRANSFORM, nodata=-1)
    load(conn, a, "r", path, "continuous", "1")
    out = tmp_path / "r_out.tif"
    export_raster(conn, a, "r", out)
    got, _ = read_tif(out)
    np.testing.assert_array_equal(got, values)


def test_custom_crs_is_the_stored_one(conn, tmp_path):
    albers = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")
    with conn.transaction():
        a = studyarea.create(conn, "aea", albers.to_wkt(), 1000.0, (0.0, 4_000_000.0, 70_000.0, 4_050_000.0),
                             tile_size=32)
    assert a.grid.srid >= studyarea.CUSTOM_SRID_BASE
    g = a.grid
    codes = (np.arange(g.width * g.height) % 5 + 1).astype(np.uint8).reshape(g.height, g.width)
    path = write_tif(tmp_path / "l.tif", codes, albers.to_wkt(), g.transform, nodata=0)
    load(conn, a, "lulc", path, "categorical", "class")
    out = tmp_path / "l_out.tif"
    export_raster(conn, a, "lulc", out)
    with rasterio.open(out) as src:
        got = src.read(1)
        assert src.transform == g.transform
        assert CRS.from_wkt(src.crs.to_wkt()).equals(studyarea.crs_of_srid(conn, g.srid))
    np.testing.assert_array_equal(got, codes.astype(np.int16))


# ---------------------------------------------------------------- computed layers

POOLS_1 = {1: (80, 20, 100, 10), 2: (40, 10, 60, 5), 3: (5, 1, 30, 0), 4: (0, 0, 0, 0), 5: (12.5, 3.25, 55, 1),
           6: (1, 2, 3, 4), 7: (100, 25, 150, 12)}


def pools_csv(tmp_path, name, pools):
    path = tmp_path / f"{name}.csv"
    lines = ["lucode,lulc_name,c_above,c_below,c_soil,c_dead"]
    lines += [f"{code},class{code},{a},{b},{s},{d}" for code, (a, b, s, d) in pools.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_storage(codes: np.ndarray, pools: dict) -> np.ndarray:
    lut = np.full(codes.max() + 1 if codes.max() > 0 else 1, np.nan)
    for code, values in pools.items():
        lut[code] = sum(values)
    valid = codes != -32768
    out = np.full(codes.shape, np.float32(FLOAT_NODATA), dtype=np.float32)
    out[valid] = lut[codes[valid]].astype(np.float32)
    return out


def test_carbon_storage_of_compute_services(conn, area, tmp_path):
    """c_storage computed by the carbon service equals the sum of the four pools looked up by hand."""
    from restore_db.stages.services.stage import compute_services

    path, codes = categorical_source(tmp_path)
    load(conn, area, "lulc", path, "categorical", "class")
    pop_path, _ = continuous_source(tmp_path, name="population.tif")  # the carbon demand side needs a population
    with rasterio.open(pop_path, "r+") as dst:  # a count of persons is never negative (the loader refuses it)
        band = dst.read(1)
        dst.write(np.where(band == -9999, band, np.abs(band)), 1)
    load(conn, area, "population", pop_path, "continuous", "persons")
    with conn.transaction():
        load_params(conn, area, pools_csv(tmp_path, "pools1", POOLS_1), name="pools1")
        run_id, _ = compute_services(conn, area, ["carbon"], params="pools1")
    expected = expected_storage(codes, POOLS_1)
    out = tmp_path / "c.tif"
    info = export_raster(conn, area, "c_storage", out)  # the newest succeeded run
    assert info.run_id == run_id and info.valid_cells == int((codes != -32768).sum())
    got, src = read_tif(out)
    assert got.dtype == np.float32 and src.nodata == FLOAT_NODATA and src.transform == TRANSFORM
    np.testing.assert_array_equal(got, expected)
    arr, nd = read_layer_array(conn, area, "c_storage", run_id)
    assert nd == FLOAT_NODATA
    np.testing.assert_array_equal(arr, expected)


def computed_layer(conn, area, name, values: np.ndarray, status="succeeded") -> int:
    """A run holding a float32 layer ``values`` (nodata = lowest float32), written as the tile engine does:
    a core.run row, a result.<area>__<name>__<run> tile table without all-nodata tiles, a core.layer row."""
    (run_id,) = conn.execute("INSERT INTO core.run (study_area_id, stage, status) VALUES (%s, 'test', %s) "
                             "RETURNING run_id", (area.study_area_id, status)).fetchone()
    table = f"{area.name}__{name}__{run_id}"
    conn.execute(f'CREATE TABLE result."{table}" (tile_id integer PRIMARY KEY, rast raster NOT NULL)')
    grid = area.grid
    for tile in grid.tiles():
        block = np.ascontiguousarray(values[tile.row0:tile.row0 + tile.height, tile.col0:tile.col0 + tile.width])
        if (block == np.float32(FLOAT_NODATA)).all():
            continue
        conn.execute(f'INSERT INTO result."{table}" VALUES (%s, %s::raster)',
                     (tile.tile_id, wkb.encode(block, FLOAT_NODATA, grid.header(tile)).hex()))
    conn.execute("""INSERT INTO core.layer (study_area_id, run_id, name, kind, unit, pixel_type, nodata, table_schema,
                        table_name) VALUES (%s, %s, %s, 'continuous', '1', '32BF', %s, 'result', %s)""",
                 (area.study_area_id, run_id, name, FLOAT_NODATA, table))
    return run_id


def test_computed_layer_resolution(conn, area, tmp_path):
    rng = np.random.default_rng(9)
    values = {}
    for key in "abc":
        v = rng.random((H, W)).astype(np.float32)
        values[key] = np.where(blank_tiles(np.ones((H, W), bool)), v, np.float32(FLOAT_NODATA))
    with conn.transaction():
        run_a = computed_layer(conn, area, "z", values["a"])
        run_b = computed_layer(conn, area, "z", values["b"])
        run_c = computed_layer(conn, area, "z", values["c"], status="failed")
    assert run_a < run_b < run_c
    assert stored_tile_ids(conn, area, "z", run_a) == set(range(TILES_X * TILES_Y)) - set(EMPTY_TILES)
    out = tmp_path / "z.tif"
    info = export_raster(conn, area, "z", out)  # the newest succeeded run, not the newer failed one
    assert info.run_id == run_b and info.missing_tiles == len(EMPTY_TILES)
    got, src = read_tif(out)
    assert got.dtype == np.float32 and src.nodata == FLOAT_NODATA and src.transform == TRANSFORM
    np.testing.assert_array_equal(got, values["b"])
    for key, run_id in (("a", run_a), ("c", run_c)):  # an explicit run, whatever its status
        export_raster(conn, area, "z", out, run_id=run_id, overwrite=True)
        np.testing.assert_array_equal(read_tif(out)[0], values[key])
        np.testing.assert_array_equal(read_layer_array(conn, area, "z", run_id)[0], values[key])
    stored, _, _ = read_layer(conn, "t", "z", run_b)  # the independent reader agrees
    np.testing.assert_array_equal(read_layer_array(conn, area, "z")[0], stored)

    # a source layer of the same name wins when no run is given
    src_path, src_values = continuous_source(tmp_path)
    load(conn, area, "z", src_path, "continuous", "mm")
    assert layers.resolve_layer(conn, area, "z").run_id is None
    np.testing.assert_array_equal(read_layer_array(conn, area, "z")[0], src_values)
    np.testing.assert_array_equal(read_layer_array(conn, area, "z", run_b)[0], values["b"])

    # unknown run, run without that layer
    expect_input_error(conn, export_raster, conn, area, "z", tmp_path / "e.tif", run_id=9999,
                       match=["'t'", "no run 9999"])
    expect_input_error(conn, export_raster, conn, area, "lulc", tmp_path / "e.tif", run_id=run_a,
                       match=[f"run {run_a}", "'t'", "no layer 'lulc'", "it holds z"])
    assert not (tmp_path / "e.tif").exists()


def test_layer_only_in_unfinished_runs(conn, area, tmp_path):
    with conn.transaction():
        run_id = computed_layer(conn, area, "z", np.ones((H, W), np.float32), status="failed")
    expect_input_error(conn, export_raster, conn, area, "z", tmp_path / "z.tif",
                       match=["'z'", "did not succeed", str(run_id), "--run"])
    assert not (tmp_path / "z.tif").exists()


# ---------------------------------------------------------------- errors


def test_unknown_layer(conn, area, tmp_path):
    out = tmp_path / "x.tif"
    message = expect_input_error(conn, export_raster, conn, area, "nope", out,
                                 match=["'t'", "'nope'", "no layer loaded yet"])
    path, _ = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    message = expect_input_error(conn, export_raster, conn, area, "nope", out, match=["'nope'", "precip"])
    assert "source layers" in message
    assert not out.exists()
    with pytest.raises(InputError, match="unknown study area 'zz'"):
        read_layer_array(conn, "zz", "precip")


def test_existing_file_needs_overwrite_and_is_left_unchanged(conn, area, tmp_path):
    path, expected = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    out = tmp_path / "p.tif"
    out.write_bytes(b"precious")
    expect_input_error(conn, export_raster, conn, area, "precip", out,
                       match=[str(out), "already exists", "--overwrite", "'precip'"])
    assert out.read_bytes() == b"precious"
    export_raster(conn, area, "precip", out, overwrite=True)
    np.testing.assert_array_equal(read_tif(out)[0], expected)
    assert sorted(os.listdir(tmp_path)) == ["p.tif", "precip.tif"]


def test_unwritable_paths(conn, area, tmp_path):
    path, _ = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    missing = tmp_path / "no" / "such" / "p.tif"
    expect_input_error(conn, export_raster, conn, area, "precip", missing, match=[str(missing), "does not exist"])
    expect_input_error(conn, export_raster, conn, area, "precip", tmp_path, match=[str(tmp_path), "is a directory"])
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        expect_input_error(conn, export_raster, conn, area, "precip", locked / "p.tif", match=["not writable"])


def test_failure_midway_leaves_no_partial_file(conn, area, tmp_path, monkeypatch):
    path, _ = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "p.tif"
    out.write_bytes(b"old")
    real = layers.iter_tiles

    def failing(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 3:
                raise InputError("simulated failure")
            yield item

    monkeypatch.setattr(export, "iter_tiles", failing)
    with pytest.raises(InputError, match="simulated failure"):
        export_raster(conn, area, "precip", out, overwrite=True)
    assert os.listdir(out_dir) == ["p.tif"] and out.read_bytes() == b"old"
    with pytest.raises(InputError, match="simulated failure"):
        export_raster(conn, area, "precip", out_dir / "new.tif")
    assert os.listdir(out_dir) == ["p.tif"]


def test_misplaced_tile_is_reported(conn, area, tmp_path):
    path, _ = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    ref = layers.resolve_layer(conn, area, "precip")
    conn.execute(f'UPDATE {ref.table_schema}."{ref.table_name}" SET tile_id = 1 WHERE tile_id = 0')
    with pytest.raises(InputError, match="tile 1 is not where its tile_id says"):
        read_layer_array(conn, area, "precip")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(InputError, match="'precip' of study area 't': tile 1 is not where its tile_id says"):
        export_raster(conn, area, "precip", out_dir / "p.tif")
    assert os.listdir(out_dir) == []


# ---------------------------------------------------------------- CLI


def test_cli_export(cli_env, conn, area, tmp_path):
    from restore_db.cli import app

    path, expected = categorical_source(tmp_path)
    load(conn, area, "lulc", path, "categorical", "class")
    conn.commit()
    out = tmp_path / "lulc_out.tif"
    result = CliRunner().invoke(app, ["export", "raster", "lulc", str(out), "-a", "t"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "lulc_out.tif" in text and f"{int((expected != -32768).sum()):,} valid cells" in text and " s" in text
    np.testing.assert_array_equal(read_tif(out)[0], expected)
    # existing file: refused, unchanged
    before = out.read_bytes()
    result = CliRunner().invoke(app, ["export", "raster", "lulc", str(out)])
    assert isinstance(result.exception, InputError) and "--overwrite" in str(result.exception)
    assert out.read_bytes() == before
    result = CliRunner().invoke(app, ["export", "raster", "lulc", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output


def test_cli_error_exit_code(cli_env, conn, area, tmp_path):
    path, _ = categorical_source(tmp_path)
    load(conn, area, "lulc", path, "categorical", "class")
    conn.commit()
    before = snapshot(conn)
    env = dict(os.environ, RESTORE_DB_URL=cli_env["RESTORE_DB_URL"], COLUMNS="500")
    proc = subprocess.run(
        cli_argv("export", "raster", "lulcc", tmp_path / "o.tif"),
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "error:" in message and "no layer 'lulcc'" in message and "lulc" in message
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.tif").exists()
    assert snapshot(conn) == before


# ---------------------------------------------------------------- Cloud-Optimised GeoTIFF

COG_W, COG_H = 600, 530  # larger than one 256 block: GDAL makes overviews at 1/2 and 1/4


def assert_cog(path, dtype: str, predictor: str, overviews: list[int]) -> None:
    """A COG as GDAL lays it out: the ghost header of the COG driver first, then tiled DEFLATE blocks of 256."""
    head = path.read_bytes()[:2048]
    assert b"GDAL_STRUCTURAL_METADATA" in head and b"LAYOUT=IFDS_BEFORE_DATA" in head
    assert b"BLOCK_ORDER=ROW_MAJOR" in head
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == predictor
        assert src.compression.name == "deflate" and src.block_shapes == [(256, 256)]
        assert src.dtypes == (dtype,) and src.overviews(1) == overviews


@pytest.mark.parametrize("kind", ["categorical", "continuous"])
def test_cog_round_trip(conn, tmp_path, kind):
    a = create_area(conn, "big", 32650, OX, OY, PX, COG_W, COG_H)
    rng = np.random.default_rng(4)
    valid = rng.random((COG_H, COG_W)) > 0.15
    if kind == "categorical":
        codes = rng.integers(1, 8, size=(COG_H, COG_W)).astype(np.uint8)
        path = write_tif(tmp_path / "c.tif", np.where(valid, codes, 255).astype(np.uint8), "EPSG:32650", TRANSFORM,
                         nodata=255)
        expected = np.where(valid, codes.astype(np.int16), np.int16(-32768))
    else:
        values = rng.normal(100, 30, size=(COG_H, COG_W)).astype(np.float32)
        path = write_tif(tmp_path / "c.tif", np.where(valid, values, -9999).astype(np.float32), "EPSG:32650",
                         TRANSFORM, nodata=-9999)
        expected = np.where(valid, values, np.float32(FLOAT_NODATA)).astype(np.float32)
    load(conn, a, "x", path, kind, "class" if kind == "categorical" else "mm")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "x.tif"
    info = export_raster(conn, a, "x", out, cog=True)
    assert os.listdir(out_dir) == ["x.tif"]  # neither temporary file is left
    dtype, predictor = ("int16", "2") if kind == "categorical" else ("float32", "3")
    assert_cog(out, dtype, predictor, [2, 4])
    assert (info.cog, info.overviews, info.bytes) == (True, 2, out.stat().st_size)
    assert "Cloud-Optimised with 2 overviews" in info.summary()
    with rasterio.open(out) as src:
        got = src.read(1)
        assert (src.width, src.height, src.transform, src.crs.to_epsg()) == (COG_W, COG_H, TRANSFORM, 32650)
        assert np.array(src.nodata, dtype=dtype) == expected.dtype.type(-32768 if kind == "categorical"
                                                                        else FLOAT_NODATA)
        half = src.read(1, out_shape=(COG_H // 2 + COG_H % 2, COG_W // 2))  # read from the first overview
    np.testing.assert_array_equal(got, expected)
    nodata = expected.dtype.type(-32768 if kind == "categorical" else FLOAT_NODATA)
    level = half[half != nodata]
    assert level.size > 0.5 * half.size
    if kind == "categorical":  # nearest neighbour: only codes that exist
        assert set(np.unique(level)) <= set(np.unique(expected[expected != nodata]))
    else:  # averages of valid cells (nodata left out): within their range
        valid_values = expected[expected != nodata]
        assert valid_values.min() <= level.min() and level.max() <= valid_values.max()


def test_cog_of_the_computed_demo(computed_demo, tmp_path):
    """A small grid (71 x 92 cells at 8 km) fits in one block: a COG without overviews, same pixels as stored."""
    with psycopg.connect(computed_demo) as demo:
        info = export_raster(demo, "demo", "c_storage", tmp_path / "c.tif", cog=True)
        stored, nodata = read_layer_array(demo, "demo", "c_storage")
    assert_cog(tmp_path / "c.tif", "float32", "3", [])
    assert info.overviews == 0 and os.listdir(tmp_path) == ["c.tif"]
    with rasterio.open(tmp_path / "c.tif") as src:
        np.testing.assert_array_equal(src.read(1), stored)
        assert src.nodata == nodata


def test_cog_failure_leaves_no_file(conn, area, tmp_path, monkeypatch):
    path, _ = continuous_source(tmp_path)
    load(conn, area, "precip", path, "continuous", "mm")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "p.tif"
    out.write_bytes(b"old")

    def failing(src, dst, *args):
        dst.write_bytes(b"partial")
        raise rasterio.errors.RasterioIOError("simulated COG failure")

    monkeypatch.setattr(export, "_copy_cog", failing)
    with pytest.raises(InputError, match="simulated COG failure"):
        export_raster(conn, area, "precip", out, overwrite=True, cog=True)
    assert os.listdir(out_dir) == ["p.tif"] and out.read_bytes() == b"old"


def test_cli_export_cog(cli_env, conn, area, tmp_path):
    from restore_db.cli import app

    path, expected = categorical_source(tmp_path)
    load(conn, area, "lulc", path, "categorical", "class")
    conn.commit()
    out = tmp_path / "lulc_cog.tif"
    result = CliRunner().invoke(app, ["export", "raster", "lulc", str(out), "-a", "t", "--cog"])
    assert result.exit_code == 0, result.output
    assert "Cloud-Optimised with 0 overviews" in " ".join(result.output.split())
    assert_cog(out, "int16", "2", [])
    np.testing.assert_array_equal(read_tif(out)[0], expected)
