"""Tile engine on a real PostGIS: server (PL/Python) and client backends, focal halos, zonal sums.

The study area is 203 x 139 cells cut into 64-pixel tiles (4 x 3 tiles, the last column 11 wide and the
last row 11 high), with nodata pixels and tiles missing from some inputs. Expected values are written
here with plain numpy from the inputs (InVEST's slope by hand, pool sums, np.bincount), never with the code under
test; computed layers are read back with helpers.read_layer (the independent tile reader).
"""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import snapshot
from helpers import create_area, read_layer, slope_by_hand, write_tif
from restore_db.db import workers
from restore_db.kernels import wkb
from restore_db.grid.engine import Output, choose_backend, run_kernel, server_backend, write_array, zonal_stats
from restore_db.errors import InputError
from restore_db.load.raster import load_raster

W, H, TS, PX = 203, 139, 64, 30.0
TILES_X, TILES_Y = 4, 3
OX, OY = 399990.0, 4500000.0
TRANSFORM = Affine(PX, 0, OX, 0, -PX, OY)
CRS = "EPSG:32650"
NODATA = -9999.0

# land-use classes 1..6; class 5 = water (not vegetated), 6 = built-up
POOLS = {  # code: (above, below, soil, dead) t C/ha
    1: (10.0, 2.5, 60.0, 1.0), 2: (80.0, 20.0, 120.0, 8.5), 3: (5.0, 1.25, 45.0, 0.5),
    4: (30.0, 7.0, 90.0, 3.0), 5: (0.0, 0.0, 0.0, 0.0), 6: (1.0, 0.0, 20.0, 0.0),
}
KC = {1: 0.65, 2: 1.0, 3: 0.75, 4: 0.85, 5: 1.2, 6: 0.3}
ROOT = {1: 800.0, 2: 5000.0, 3: 1200.0, 4: 2000.0, 5: -1.0, 6: -1.0}
VEG = {1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 0}


def table(values: dict, size: int = 7) -> list:
    """Lookup list indexed by class code, None where the table has no value (the kernel convention)."""
    return [values.get(c) for c in range(size)]


def blank_tile(mask: np.ndarray, tile_id: int) -> None:
    trow, tcol = divmod(tile_id, TILES_X)
    mask[trow * TS:(trow + 1) * TS, tcol * TS:(tcol + 1) * TS] = False


def as_nan(arr: np.ndarray, nodata) -> np.ndarray:
    out = arr.astype(np.float64)
    out[arr == nodata] = np.nan
    return out


def computed(conn, layer, run_id):
    arr, nodata, _ = read_layer(conn, "eng", layer, run_id)
    return as_nan(arr, nodata)


def new_run(conn, area) -> int:
    return conn.execute("INSERT INTO core.run (study_area_id, stage, label) VALUES (%s, 'test', 'engine test')"
                        " RETURNING run_id", (area.study_area_id,)).fetchone()[0]


def stored_blobs(conn, layer, run_id) -> dict[int, bytes]:
    schema, table_ = conn.execute("SELECT table_schema, table_name FROM core.layer WHERE name = %s AND run_id = %s",
                                  (layer, run_id)).fetchone()
    return {t: bytes(b) for t, b in conn.execute(
        f'SELECT tile_id, ST_AsBinary(rast) FROM "{schema}"."{table_}" ORDER BY tile_id').fetchall()}


# Kernels whose float64 values go through pow/expm1/log1p (water yield) or arctan (slope). The server's numpy
# (PL/Python) may be another version, or another SIMD path, than the client's: those functions may then differ
# by a few float64 ulps, and the float32 cast by one float32 ulp on rare pixels. The other kernels are sums and
# products of the same float64 values in the same order on both backends: identical bytes by construction.
TRANSCENDENTAL = {"water_yield", "slope"}


def same_to_one_float32_ulp(blob_a: bytes, blob_b: bytes) -> bool:
    """Two stored tiles: same header and nodata pixels, values at most one float32 ulp apart."""
    (ha, (va,), na), (hb, (vb,), nb) = wkb.decode(blob_a), wkb.decode(blob_b)
    ok = wkb.valid_mask(va, na[0])
    if ha != hb or na != nb or not np.array_equal(ok, wkb.valid_mask(vb, nb[0])):
        return False
    x, y = va[ok].astype(np.float32), vb[ok].astype(np.float32)
    ulp = np.spacing(np.maximum(np.abs(x), np.abs(y))).astype(np.float64)
    return bool((np.abs(x.astype(np.float64) - y.astype(np.float64)) <= ulp).all())


def need_server(conn) -> None:
    """Skip when the test server has no PL/Python (the in-database engine is optional)."""
    ok, why = server_backend(conn)
    if not ok:
        pytest.skip(f"no in-database engine on the test server: {why}")


@pytest.fixture
def area(conn):
    need_server(conn)
    return create_area(conn, "eng", 32650, OX, OY, PX, W, H, tile_size=TS)


@pytest.fixture
def inputs(conn, area, tmp_path):
    """Source layers (float64 arrays with NaN = nodata, as stored) loaded into study area ``eng``."""
    rng = np.random.default_rng(7)
    out = {}

    def load(name, arr, kind, unit, nodata):
        path = write_tif(tmp_path / f"{name}.tif", arr, CRS, TRANSFORM, nodata=nodata)
        with conn.transaction():
            load_raster(conn, area, name, path, kind, unit, overviews=False)

    # land use: codes 1..6, 4 % nodata, tile 6 missing entirely
    codes = rng.integers(1, 7, size=(H, W)).astype(np.uint8)
    valid = rng.random((H, W)) > 0.04
    blank_tile(valid, 6)
    load("lulc", np.where(valid, codes, 255).astype(np.uint8), "categorical", "class", 255)
    out["lulc"] = np.where(valid, codes, np.nan)

    def continuous(name, lo, hi, unit, holes=0.03, missing=(), dtype=np.float32):
        values = rng.uniform(lo, hi, size=(H, W)).astype(dtype)
        ok = rng.random((H, W)) > holes
        for t in missing:
            blank_tile(ok, t)
        load(name, np.where(ok, values, NODATA).astype(dtype), "continuous", unit, NODATA)
        out[name] = np.where(ok, values.astype(np.float64), np.nan)

    continuous("precipitation", 150.0, 900.0, "mm/yr", missing=(9,))
    continuous("eto", 500.0, 1500.0, "mm/yr")
    continuous("soil_depth", 200.0, 3000.0, "mm")
    continuous("pawc", 0.0, 0.4, "1")
    continuous("population", 0.0, 400.0, "persons", holes=0.05, missing=(2,))

    # DEM: a tilted plane with a hill and a ridge crossing tile edges, float32; some holes next to tile
    # corners and tile edges, and tile 5 (row 1, col 1) missing
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    dem = 300.0 + 0.8 * xx - 0.5 * yy + 60.0 * np.exp(-((xx - 70) ** 2 + (yy - 60) ** 2) / 400.0) \
        + 25.0 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + rng.normal(0, 0.7, size=(H, W))
    dem = dem.astype(np.float32)
    ok = np.ones((H, W), bool)
    for r, c in ((63, 63), (64, 191), (127, 40), (100, 128), (0, 5), (138, 202)):
        ok[r, c] = False
    blank_tile(ok, 5)
    load("dem", np.where(ok, dem, NODATA).astype(np.float32), "continuous", "m", NODATA)
    out["dem"] = np.where(ok, dem.astype(np.float64), np.nan)

    # zones 1..5 in bands, zone 3 only in the lower right, 2 % nodata, tile 11 missing
    zones = (np.add.outer(np.arange(H) // 35, np.arange(W) // 70) % 5 + 1).astype(np.int16)
    zones[100:, 150:] = 3
    zok = rng.random((H, W)) > 0.02
    blank_tile(zok, 11)
    load("zones", np.where(zok, zones, -1).astype(np.int16), "categorical", "id", -1)
    out["zones"] = np.where(zok, zones, np.nan)
    return out


# ---------------------------------------------------------------- kernels: server == client == by hand

POOL_NAMES = ("c_above", "c_below", "c_soil", "c_dead")
CASES = {
    "carbon_storage": dict(
        params={p: table({c: v[i] for c, v in POOLS.items()}) for i, p in enumerate(POOL_NAMES)},
        inputs={"lulc": "lulc"}, outputs=["c_storage"]),
    "water_yield": dict(
        params={"kc": table(KC), "root_depth": table(ROOT), "lulc_veg": table(VEG), "seasonality_z": 5.0},
        inputs={k: k for k in ("lulc", "eto", "precipitation", "soil_depth", "pawc")},
        outputs=["fractp", "aet", "wyield"]),
    "demand": dict(
        params={"c_food": 0.4, "e_pc_co2": 7.4, "q_dom": 150.0, "pixel_area_m2": PX * PX},
        inputs={"population": "population"},
        outputs=["food_demand", "carbon_demand", "water_demand", "recreation_demand"]),
    "slope": dict(params={"cell_size": PX}, inputs={"dem": "dem"}, outputs=["slope"], halo=True),
}


def run_both(conn, area, kernel):
    case = CASES[kernel]
    out = {}
    for backend in ("server", "client"):
        run_id = new_run(conn, area)
        stats = run_kernel(conn, area, run_id, kernel, case["params"],
                           {arg: (layer, None) for arg, layer in case["inputs"].items()},
                           [Output(o, "1", o) for o in case["outputs"]], halo=case.get("halo", False),
                           backend=backend)
        assert stats.backend == backend
        out[backend] = (run_id, stats)
    return out


def expected_values(kernel, inputs):
    """The kernel's outputs on the whole grid by hand, float64 with NaN = nodata."""
    if kernel == "carbon_storage":
        codes = inputs["lulc"]
        total = np.full(codes.shape, np.nan)
        for c, pools in POOLS.items():
            total[codes == c] = pools[0] + pools[1] + pools[2] + pools[3]
        return {"c_storage": total}
    if kernel == "demand":
        pop = inputs["population"]
        return {"food_demand": pop * 0.4, "carbon_demand": pop * 7.4 * 12 / 44,
                "water_demand": pop * 150.0 * 365 / 1000, "recreation_demand": pop / (PX * PX / 1e6)}
    if kernel == "slope":
        return {"slope": slope_by_hand(inputs["dem"], PX)}
    if kernel == "water_yield":
        # InVEST fractp_op written out: vegetated -> Fu curve with w = min(AWC/P*Z + 1.25, 5); else min(P, PET)/P
        codes, p = inputs["lulc"], inputs["precipitation"]
        kc = np.full(codes.shape, np.nan)
        root = np.full(codes.shape, np.nan)
        veg = np.full(codes.shape, np.nan)
        for c in KC:
            kc[codes == c], root[codes == c], veg[codes == c] = KC[c], ROOT[c], VEG[c]
        pet = kc * inputs["eto"]
        awc = np.minimum(root, inputs["soil_depth"]) * inputs["pawc"]
        w = np.minimum(awc / p * 5.0 + 1.25, 5.0)
        phi = pet / p
        fu = 1 + phi - (1 + phi ** w) ** (1 / w)
        fractp = np.where(veg == 1, np.minimum(phi, fu), np.minimum(p, pet) / p)
        fractp[np.isnan(kc) | np.isnan(pet) | np.isnan(p) | np.isnan(inputs["soil_depth"])
               | np.isnan(inputs["pawc"])] = np.nan
        return {"fractp": fractp, "aet": fractp * p, "wyield": (1 - fractp) * p}
    raise AssertionError(kernel)


@pytest.mark.parametrize("kernel", list(CASES))
def test_server_and_client_give_identical_tiles_and_stats(conn, area, inputs, kernel):
    runs = run_both(conn, area, kernel)
    (srv_run, srv), (cli_run, cli) = runs["server"], runs["client"]
    assert (srv.tiles, srv.cells) == (cli.tiles, cli.cells)
    for name in CASES[kernel]["outputs"]:
        a, b = stored_blobs(conn, name, srv_run), stored_blobs(conn, name, cli_run)
        assert a.keys() == b.keys() and a, f"{kernel}/{name}: tiles stored differ"
        for tile_id in a:
            same = a[tile_id] == b[tile_id] or (kernel in TRANSCENDENTAL and same_to_one_float32_ulp(a[tile_id],
                                                                                                   b[tile_id]))
            assert same, f"{kernel}/{name}: tile {tile_id} differs between backends"
        # counts identical; sum/min/max of the stored pixels (non-negative here) as close as the pixels are:
        # one float32 ulp, 2**-23 relative, where the server's numpy may differ from the client's
        s, c = srv.outputs[name], cli.outputs[name]
        assert s.valid == c.valid
        assert (s.sum, s.min, s.max) == pytest.approx((c.sum, c.min, c.max),
                                                      rel=2.0**-23 + 1e-12 if kernel in TRANSCENDENTAL else 1e-12)

        # and both hold the values computed by hand
        got = computed(conn, name, cli_run)
        want = expected_values(kernel, inputs)[name]
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{kernel}/{name}: nodata pixels differ"
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6, atol=1e-9, err_msg=f"{kernel}/{name}")
        # stats and the registry agree with the stored pixels
        st = cli.outputs[name]
        assert st.valid == ok.sum()
        assert st.sum == pytest.approx(got[ok].sum(), rel=1e-7)
        assert (st.min, st.max) == pytest.approx((got[ok].min(), got[ok].max()), rel=1e-7)
        row = conn.execute("SELECT valid_cells, min_value, max_value, mean_value FROM core.layer WHERE name = %s"
                           " AND run_id = %s", (name, srv_run)).fetchone()
        assert row[0] == ok.sum()
        assert row[1:] == pytest.approx((got[ok].min(), got[ok].max(), got[ok].mean()), rel=1e-7)
    # a tile is stored only when it has a valid pixel; the cells counted are those of the tiles in every input
    def tile_cut(t):
        return np.s_[(t // TILES_X) * TS:(t // TILES_X + 1) * TS, (t % TILES_X) * TS:(t % TILES_X + 1) * TS]

    joined = [t for t in range(TILES_X * TILES_Y)
              if all(np.any(~np.isnan(inputs[layer][tile_cut(t)])) for layer in CASES[kernel]["inputs"].values())]
    assert cli.tiles == len(joined) and cli.cells == sum(inputs["lulc"][tile_cut(t)].size for t in joined)
    if kernel != "slope":
        all_in = np.ones((H, W), bool)
        for layer in CASES[kernel]["inputs"].values():
            all_in &= ~np.isnan(inputs[layer])
        stored = {t for t in range(TILES_X * TILES_Y) if all_in[tile_cut(t)].any()}
        assert set(stored_blobs(conn, CASES[kernel]["outputs"][0], cli_run)) == stored


@pytest.mark.parametrize("kernel", ["water_yield", "demand", "slope"])
def test_layer_stats_are_those_of_the_stored_pixels(conn, area, inputs, kernel):
    """core.layer valid/min/max/mean and KernelStats describe the stored float32 layer, the same on both backends.

    (write_array does so; the tile runner keeps the statistics of the float64 values before the float32
    cast, so the registry disagrees with the stored layer and the backends disagree with each other.)
    """
    runs = run_both(conn, area, kernel)
    for name in CASES[kernel]["outputs"]:
        for backend, (run_id, stats) in runs.items():
            got = computed(conn, name, run_id)
            ok = ~np.isnan(got)
            row = conn.execute("SELECT valid_cells, min_value, max_value FROM core.layer WHERE name = %s"
                               " AND run_id = %s", (name, run_id)).fetchone()
            assert row == (ok.sum(), got[ok].min(), got[ok].max()), f"{backend}: registry of {name}"
            st = stats.outputs[name]
            assert (st.min, st.max) == (got[ok].min(), got[ok].max()), f"{backend}: KernelStats of {name}"
        srv, cli = runs["server"][1].outputs[name].as_dict(), runs["client"][1].outputs[name].as_dict()
        if kernel in TRANSCENDENTAL:  # a stored pixel may be one float32 ulp (<= 2**-23 relative) apart, and
            # all values are non-negative, so the sum is as close
            assert srv["valid"] == cli["valid"]
            assert [srv[k] for k in ("sum", "min", "max")] == pytest.approx([cli[k] for k in ("sum", "min", "max")],
                                                                             rel=2.0**-23 + 1e-12)
        else:
            assert srv == cli


def test_slope_halo_is_exact_at_tile_edges(conn, area, inputs):
    """The slope through the tile engine equals the slope of the whole DEM, also on tile edges and next to
    missing tiles (whose halo must be nodata, not a height)."""
    runs = run_both(conn, area, "slope")
    want = slope_by_hand(inputs["dem"], PX)
    # pygeoprocessing's stencil gives every valid DEM cell a slope: only the holes and missing tile 5 are
    # nodata; the outermost ring of the grid, the neighbours of a hole and the border of tile 5 are not
    assert np.array_equal(np.isnan(want), np.isnan(inputs["dem"]))
    ring = np.ones((H, W), bool)
    ring[1:-1, 1:-1] = False
    assert np.isnan(want[ring]).sum() == 2  # the holes (0, 5) and (138, 202)
    assert np.isnan(want[62:65, 62:65]).sum() == 2  # the hole (63, 63) and (64, 64) in tile 5
    # cells beside missing tile 5 (rows 63 and 128, columns 63 and 128) take their slope from a NaN halo
    beside_5 = np.zeros((H, W), bool)
    beside_5[63, 63:129] = beside_5[128, 63:129] = beside_5[63:129, 63] = beside_5[63:129, 128] = True
    beside_5 &= ~np.isnan(want)
    assert beside_5.sum() > 250
    edges = np.zeros((H, W), bool)
    for k in range(1, TILES_X):
        edges[:, k * TS - 1:k * TS + 1] = True
    for k in range(1, TILES_Y):
        edges[k * TS - 1:k * TS + 1, :] = True
    assert (~np.isnan(want) & edges).sum() > 600  # plenty of valid pixels on tile edges to check
    for backend, (run_id, stats) in runs.items():
        got = computed(conn, "slope", run_id)
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{backend}: nodata pixels differ"
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok & edges], want[ok & edges], rtol=1e-6, err_msg=f"{backend}: tile edges")
        np.testing.assert_allclose(got[beside_5], want[beside_5], rtol=1e-6, err_msg=f"{backend}: beside tile 5")
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6, err_msg=backend)
        assert stats.outputs["slope"].valid == ok.sum()
        assert 5 not in stored_blobs(conn, "slope", run_id)  # no DEM tile, no slope tile
    # a tile-by-tile slope without halo would be nodata on every tile edge: make sure the edges are not
    assert not np.isnan(got[ok & edges]).any()


# ---------------------------------------------------------------- zonal statistics


def test_zonal_stats_server_client_and_bincount(conn, area, inputs):
    values = {"p": ("precipitation", None), "pop": ("population", None)}
    srv = zonal_stats(conn, area, ("zones", None), values, backend="server")
    cli = zonal_stats(conn, area, ("zones", None), values, backend="client")
    assert srv == cli
    zones = inputs["zones"]
    for name, layer in (("p", "precipitation"), ("pop", "population")):
        v = inputs[layer]
        ok = ~np.isnan(zones) & ~np.isnan(v)
        ids = zones[ok].astype(int)
        count = np.bincount(ids, minlength=6)
        total = np.bincount(ids, weights=v[ok], minlength=6)
        expected = {z: (int(count[z]), float(total[z])) for z in range(6) if count[z]}
        assert set(cli[name]) == set(expected) == {1, 2, 3, 4, 5}
        for z, (n, s) in expected.items():
            assert cli[name][z][0] == n, f"{name}: zone {z} count"
            assert cli[name][z][1] == pytest.approx(s, rel=1e-12), f"{name}: zone {z} sum"


def test_zonal_stats_on_computed_layers(conn, area, inputs):
    """A computed zone layer (write_array) and a computed value layer of the same run."""
    run_id = new_run(conn, area)
    zones = np.where(np.arange(W)[None, :] < 101, 1.0, 2.0) * np.ones((H, 1))
    zones[:, :3] = np.nan
    write_array(conn, area, run_id, Output("county", "id", "test zones"), zones)
    run_kernel(conn, area, run_id, "carbon_storage", CASES["carbon_storage"]["params"], {"lulc": ("lulc", None)},
               [Output("c_storage", "t C/ha", "")], backend="client")
    got = {b: zonal_stats(conn, area, ("county", run_id), {"c": ("c_storage", run_id)}, backend=b)["c"]
           for b in ("server", "client")}
    assert got["server"] == got["client"]
    want = expected_values("carbon_storage", inputs)["c_storage"]
    for z in (1, 2):
        sel = (zones == z) & ~np.isnan(want)
        assert got["client"][z][0] == sel.sum()
        assert got["client"][z][1] == pytest.approx(want[sel].sum(), rel=1e-12)


# ---------------------------------------------------------------- backend choice


APPLY_KERNEL = "calc.apply_kernel(text, jsonb, text[], text[], boolean, integer, text[], text[], integer, integer)"


def test_backend_choice_without_apply_kernel(conn, monkeypatch):
    need_server(conn)
    monkeypatch.delenv("RESTORE_DB_ENGINE", raising=False)
    assert choose_backend(conn, "server") == "server"
    assert choose_backend(conn, "auto") == "server"
    assert choose_backend(conn) == "server"
    conn.execute(f"DROP FUNCTION {APPLY_KERNEL}")  # the database is a per-test clone
    with pytest.raises(InputError, match="in-database engine is unavailable") as info:
        choose_backend(conn, "server")
    assert "apply_kernel" in str(info.value) or "PL/Python" in str(info.value)
    assert choose_backend(conn, "auto") == "client"
    assert choose_backend(conn, "AUTO") == "client"
    assert choose_backend(conn, "client") == "client"
    monkeypatch.setenv("RESTORE_DB_ENGINE", "server")
    with pytest.raises(InputError, match="in-database engine is unavailable"):
        choose_backend(conn)
    monkeypatch.setenv("RESTORE_DB_ENGINE", "client")
    assert choose_backend(conn) == "client"
    with pytest.raises(InputError, match="unknown engine 'gpu'"):
        choose_backend(conn, "gpu")


def test_backend_choice_when_the_stored_kernels_do_not_load(conn):
    """A broken module in calc.kernel_module: 'server' fails clearly, 'auto' falls back, the transaction survives."""
    need_server(conn)
    conn.execute("UPDATE calc.kernel_module SET source = 'raise ImportError(\"broken on purpose\")', sha256 = 'x'"
                 " WHERE name = 'restore_db.kernels.tiles'")
    with pytest.raises(InputError, match="PL/Python cannot load the kernels") as info:
        choose_backend(conn, "server")
    assert "broken on purpose" in str(info.value)
    assert choose_backend(conn, "auto") == "client"
    assert conn.execute("SELECT sha256 FROM calc.kernel_module WHERE name = 'restore_db.kernels.tiles'"
                        ).fetchone()[0] == "x"  # still in the same, usable transaction


def test_kernel_modules_stored_match_the_package(conn):
    names = ["restore_db.kernels.wkb", "restore_db.kernels.formulas", "restore_db.kernels.catalog",
             "restore_db.kernels.tiles"]
    rows = conn.execute("SELECT name, load_order, source, sha256 FROM calc.kernel_module ORDER BY load_order"
                        ).fetchall()
    assert [r[0] for r in rows] == names
    assert [r[1] for r in rows] == [0, 1, 2, 3]
    for name, _, source, sha in rows:
        data = Path(importlib.import_module(name).__file__).read_bytes()
        assert source.encode() == data, f"{name}: stored source differs from the installed file"
        assert sha == hashlib.sha256(data).hexdigest()
    # with PL/Python, the server imports them
    ok, why = server_backend(conn)
    if ok:
        assert why.startswith("numpy ") and why.endswith(" in the server")


# ---------------------------------------------------------------- a property through the engine


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(totals=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=3, max_size=3),
       seed=st.integers(0, 2**32 - 1), zero_zone=st.sampled_from([None, 1, 2, 3]))
def test_allocation_conserves_county_totals(conn, area, totals, seed, zero_zone):
    """allocate: every zone's pixels sum to its total (weights >= 0, some 0 or nodata); both backends agree."""
    rng = np.random.default_rng(seed)
    run_id = new_run(conn, area)
    zones = np.select([np.arange(W)[None, :] < 50, np.arange(W)[None, :] < 120], [1.0, 2.0], 3.0) * np.ones((H, 1))
    zones[rng.random((H, W)) < 0.02] = np.nan
    weight = rng.exponential(1.0, size=(H, W)) * (rng.random((H, W)) < 0.7)
    weight[rng.random((H, W)) < 0.03] = np.nan
    if zero_zone:
        weight[zones == zero_zone] = 0.0
    write_array(conn, area, run_id, Output("county", "id", ""), zones)
    write_array(conn, area, run_id, Output("weight", "1", ""), weight)
    w32 = computed(conn, "weight", run_id)  # the stored (float32) weights
    sums = {z: np.nansum(w32[zones == z]) for z in (1, 2, 3)}
    factor = [None] + [totals[z - 1] / sums[z] if sums[z] > 0 else 0.0 for z in (1, 2, 3)]
    blobs = {}
    for backend in ("server", "client"):
        out = f"alloc_{backend}"
        run_kernel(conn, area, run_id, "allocate", {"output": out, "factor": factor},
                   {"county": ("county", run_id), "weight": ("weight", run_id)}, [Output(out, "t", "")],
                   backend=backend)
        got = computed(conn, out, run_id)
        for z in (1, 2, 3):
            expected = totals[z - 1] if sums[z] > 0 else 0.0
            assert np.nansum(got[zones == z]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert np.isnan(got[np.isnan(zones) | np.isnan(w32)]).all()
        blobs[backend] = set(stored_blobs(conn, out, run_id).values())
    assert blobs["server"] == blobs["client"]


# ---------------------------------------------------------------- tile workers: bands on several connections

def figures(stats) -> tuple:
    """Count, sum, min and max of a LayerStats (its partials are one of several exact representations)."""
    return stats.valid, stats.sum, stats.min, stats.max


def result_tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'result'").fetchall()}


@pytest.mark.parametrize("backend", ["server", "client"])
@pytest.mark.parametrize("kernel", list(CASES))
def test_bands_on_several_connections_equal_the_serial_run_bit_for_bit(conn, area, inputs, kernel, backend):
    """A kernel run in tile-row bands on 2 or 3 worker connections stores the very tiles and statistics of one
    serial pass (the focal slope reads the rows around its band for the halo)."""
    conn.commit()                    # the workers read what is committed
    case = CASES[kernel]
    args = dict(inputs={arg: (layer, None) for arg, layer in case["inputs"].items()},
                outputs=[Output(o, "1", o) for o in case["outputs"]], halo=case.get("halo", False), backend=backend)
    serial_run = new_run(conn, area)
    serial = run_kernel(conn, area, serial_run, kernel, case["params"], **args)
    assert serial.workers == 1
    for size in (2, 3):
        parallel_run = new_run(conn, area)
        with workers.scope(conn, size):
            parallel = run_kernel(conn, area, parallel_run, kernel, case["params"], **args)
        assert parallel.workers == size
        assert (parallel.tiles, parallel.cells) == (serial.tiles, serial.cells)
        for name in case["outputs"]:
            assert stored_blobs(conn, name, parallel_run) == stored_blobs(conn, name, serial_run), name
            assert figures(parallel.outputs[name]) == figures(serial.outputs[name]), name
            registry = "SELECT valid_cells, min_value, max_value, mean_value FROM core.layer WHERE name = %s AND run_id = %s"
            assert (conn.execute(registry, (name, parallel_run)).fetchone()
                    == conn.execute(registry, (name, serial_run)).fetchone())
            # the workers indexed and constrained the table as the serial pass does
            schema, table_ = conn.execute("SELECT table_schema, table_name FROM core.layer WHERE name = %s"
                                          " AND run_id = %s", (name, parallel_run)).fetchone()
            assert conn.execute("SELECT count(*) FROM raster_columns WHERE r_table_schema = %s AND r_table_name = %s"
                                " AND srid = 32650 AND scale_x = %s", (schema, table_, PX)).fetchone()[0] == 1


def test_write_array_in_bands_equals_the_serial_write(conn, area):
    rng = np.random.default_rng(3)
    arr = rng.normal(100.0, 30.0, size=(H, W))
    arr[rng.random((H, W)) < 0.1] = np.nan
    arr[:TS, :TS] = np.nan                       # tile 0 holds no value: not stored
    out = Output("noise", "1", "noise")
    conn.commit()
    serial_run, parallel_run = new_run(conn, area), new_run(conn, area)
    serial = write_array(conn, area, serial_run, out, arr)
    with workers.scope(conn, 2):
        parallel = write_array(conn, area, parallel_run, out, arr)
    assert figures(parallel) == figures(serial)
    assert stored_blobs(conn, "noise", parallel_run) == stored_blobs(conn, "noise", serial_run)
    assert 0 not in stored_blobs(conn, "noise", parallel_run)
    got = computed(conn, "noise", parallel_run)
    np.testing.assert_array_equal(got, np.where(np.isnan(arr), np.nan, arr.astype(np.float32)))


@pytest.mark.parametrize("backend", ["server", "client"])
def test_a_failed_parallel_run_leaves_no_table(db_url, conn, area, inputs, backend):
    """The workers commit their tables at once; when the command fails, its transaction rolls back and the
    tables the workers made are dropped: the database is as it was."""
    conn.commit()
    before_tables, before = result_tables(conn), snapshot(conn)
    case = CASES["water_yield"]
    with pytest.raises(Exception) as failure:
        with workers.scope(conn, 2), conn.transaction():
            run_id = new_run(conn, area)
            run_kernel(conn, area, run_id, "carbon_storage", CASES["carbon_storage"]["params"], {"lulc": ("lulc", None)},
                       [Output("c_storage", "t C", "carbon")], backend=backend)
            assert len(result_tables(conn) - before_tables) == 1      # committed by a worker, visible to all
            run_kernel(conn, area, run_id, "water_yield",      # no Kc table: fails in every band
                       {k: v for k, v in case["params"].items() if k != "kc"},
                       {k: (k, None) for k in case["inputs"]}, [Output(o, "1", o) for o in case["outputs"]],
                       backend=backend)
    assert not isinstance(failure.value, AssertionError)
    assert result_tables(conn) == before_tables
    assert snapshot(conn) == before


def test_a_failure_keeps_the_tables_an_earlier_transaction_registered(conn, area, inputs):
    """One pool over two transactions: the second fails, and only its tables are dropped; the first one's,
    committed and registered, stay."""
    before = result_tables(conn)
    conn.commit()                      # each transaction block below commits on its own
    with pytest.raises(RuntimeError):
        with workers.scope(conn, 2):
            with conn.transaction():
                kept = new_run(conn, area)
                first = run_kernel(conn, area, kept, "carbon_storage", CASES["carbon_storage"]["params"],
                                   {"lulc": ("lulc", None)}, [Output("c_storage", "t C", "carbon")],
                                   backend="client")
                assert first.workers == 2          # its table was made by the workers
            with conn.transaction():
                lost = new_run(conn, area)
                run_kernel(conn, area, lost, "carbon_storage", CASES["carbon_storage"]["params"],
                           {"lulc": ("lulc", None)}, [Output("c_storage", "t C", "carbon")], backend="client")
                raise RuntimeError("the second transaction fails")
    added = result_tables(conn) - before
    assert added == {f"{area.name}__c_storage__{kept}"}
    assert stored_blobs(conn, "c_storage", kept)


def test_a_transaction_that_wrote_its_inputs_runs_serially(conn, area, inputs):
    """Workers cannot see what the caller's transaction has not committed: a kernel reading a layer this
    transaction wrote runs serially, and still right."""
    conn.commit()
    run_id = new_run(conn, area)
    with workers.scope(conn, 2):
        write_array(conn, area, run_id, Output("lulc_copy", "class", "copy"), inputs["lulc"])   # by the workers
        conn.execute("UPDATE src.eng__dem SET rast = rast WHERE tile_id = 0")                  # not committed
        seen = run_kernel(conn, area, run_id, "slope", {"cell_size": PX}, {"dem": ("dem", None)},
                          [Output("slope", "1", "slope")], halo=True, backend="client")
        fine = run_kernel(conn, area, run_id, "carbon_storage", CASES["carbon_storage"]["params"],
                          {"lulc": ("lulc_copy", run_id)}, [Output("c_storage", "t C", "carbon")], backend="client")
    assert seen.workers == 1 and fine.workers == 2
    np.testing.assert_allclose(computed(conn, "slope", run_id)[~np.isnan(inputs["dem"])],
                               slope_by_hand(inputs["dem"], PX)[~np.isnan(inputs["dem"])], rtol=1e-6)


def test_a_transaction_that_truncated_its_input_runs_serially(conn, area, inputs):
    """TRUNCATE changes no row count of pg_stat_xact_all_tables but holds an ACCESS EXCLUSIVE lock: workers
    reading the table would wait on it while this transaction waits on them. The kernel runs serially and
    sees the table empty, as this transaction does."""
    conn.commit()
    run_id = new_run(conn, area)
    with workers.scope(conn, 2):
        conn.execute("TRUNCATE src.eng__lulc")
        seen = run_kernel(conn, area, run_id, "carbon_storage", CASES["carbon_storage"]["params"],
                          {"lulc": ("lulc", None)}, [Output("c_storage", "t C", "carbon")], backend="client")
    assert seen.workers == 1 and seen.tiles == 0
    conn.rollback()


def test_tile_query_converts_tiles_above_the_sort(conn, area, inputs):
    """The tile query sorts tile ids with TOAST pointers and converts each tile to WKB as it is fetched: the
    sort holds no tile, so the server's memory does not grow with the tiles and no temporary file is written."""
    from restore_db.kernels import tiles

    query = tiles.tiles_query([("src", "eng__lulc"), ("src", "eng__dem"), ("src", "eng__eto")])
    plan = conn.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + query).fetchone()[0][0]["Plan"]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    def converts(node):            # ST_AsBinary(raster) is inlined as st_aswkb
        return any(re.search(r"st_as(binary|wkb)\(", o.lower()) for o in node.get("Output", []))

    sorts = [n for n in nodes(plan) if n["Node Type"] == "Sort"]
    assert len(sorts) == 1, "the tile order comes from one sort of the joined ids"
    assert not converts(sorts[0]), sorts[0]["Output"]
    assert converts(plan) and plan["Node Type"] != "Sort"
    got = [r[0] for r in conn.execute(query).fetchall()]
    assert got == sorted(got)
    band = tiles.tiles_query([("src", "eng__lulc")], id_range=(TILES_X, 2 * TILES_X))
    assert [r[0] for r in conn.execute(band).fetchall()] == [4, 5, 7]     # land-use tile 6 is missing
