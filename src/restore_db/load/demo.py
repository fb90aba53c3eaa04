"""A deterministic synthetic demo region, loaded with the public loaders.

The region imitates the layout of Beijing-Tianjin-Hebei: mountains in the
north-west (a Taihang/Yanshan-like arc) rising to a plateau in the north, a
plain sloping to a coast in the south-east, rivers from the mountains to the
sea, and cities with dense population. It has 200 counties in 3 provinces
(two municipalities of 16 counties and one province of 168 counties in 11
cities), and every layer the models need: land use (7 classes), DEM,
precipitation, reference ET, temperature, soil depth, PAWC, soil texture and
organic carbon, NDVI and population, plus county statistics and parameter
tables.

Every field is a smooth function of map coordinates (seeded random Fourier
terms), so the region is the same at every pixel size; only the sampling
changes. Climate layers are written on a coarse geographic grid (like
WorldClim) so loading them exercises reprojection and resampling.

Files go to a work folder, then the same loader functions the CLI calls put
them into the database: boundaries, rasters, parameter tables, statistics.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.windows
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin

from restore_db import db
from restore_db.grid import studyarea
from restore_db.grid.reference import Grid
from restore_db.load.boundaries import load_boundaries
from restore_db.load.params import load_params
from restore_db.load.raster import load_raster
from restore_db.load.stats import load_stats
from restore_db.resources import package_data

SRID = 32650
EXTENT = (300_000.0, 3_950_000.0, 860_000.0, 4_680_000.0)  # xmin, ymin, xmax, ymax (m, UTM 50N)
LULC = {"cropland": 1, "forest": 2, "shrub": 3, "grassland": 4, "water": 5, "built_up": 6, "bare": 7}
LULC_NODATA = 255
FLOAT_NODATA = -9999.0
PROVINCES = [  # code, name, (u, v) centre, counties
    ("110000", "Jingshan Municipality", (0.47, 0.66), 16),
    ("120000", "Haijin Municipality", (0.66, 0.50), 16),
    ("130000", "Yanzhao Province", None, 168),
]
CITIES_IN_PROVINCE = 11


@dataclass
class Region:
    land: shapely.Geometry
    counties: gpd.GeoDataFrame  # code, name, city_code, province_code, geometry
    cities: gpd.GeoDataFrame
    provinces: gpd.GeoDataFrame
    centres: np.ndarray  # (n, 3): x, y, weight of urban centres


class Field:
    """A smooth random field on the plane: a sum of seeded Fourier terms."""

    def __init__(self, rng: np.random.Generator, wavelengths: list[float], terms: int = 6):
        self.parts = []
        for wl in wavelengths:
            for _ in range(terms):
                angle = rng.uniform(0, math.pi)
                k = 2 * math.pi / (wl * rng.uniform(0.7, 1.3))
                self.parts.append((k * math.cos(angle), k * math.sin(angle), rng.uniform(0, 2 * math.pi),
                                   wl ** 0.5))
        self.norm = math.sqrt(sum(a * a for *_, a in self.parts) / 2)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values at points (x, y); a 1-row x and a 1-column y give the whole grid."""
        if x.ndim == 2 and y.ndim == 2 and x.shape[0] == 1 and y.shape[1] == 1:
            # separable on a grid: cos(a + b) = cos a cos b - sin a sin b, two outer products per term
            out = np.zeros((y.shape[0], x.shape[1]), dtype=np.float64)
            for kx, ky, phase, amp in self.parts:
                a, b = kx * x, ky * y + phase
                out += amp * (np.cos(b) * np.cos(a) - np.sin(b) * np.sin(a))
            return out / self.norm
        out = np.zeros(np.broadcast(x, y).shape, dtype=np.float64)
        for kx, ky, phase, amp in self.parts:
            out += amp * np.cos(kx * x + ky * y + phase)
        return out / self.norm  # ~ unit variance


def _uv(x, y):
    xmin, ymin, xmax, ymax = EXTENT
    return (x - xmin) / (xmax - xmin), (y - ymin) / (ymax - ymin)


def _xy(u, v):
    xmin, ymin, xmax, ymax = EXTENT
    return xmin + u * (xmax - xmin), ymin + v * (ymax - ymin)


def build_region(seed: int) -> Region:
    """Land polygon, 200 counties, 13 cities and 3 provinces (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * math.pi, 361)[:-1]
    p1, p2 = rng.uniform(0, 2 * math.pi, 2)
    radius = 0.46 * (1 + 0.08 * np.sin(3 * theta + p1) + 0.05 * np.sin(7 * theta + p2))
    blob = shapely.Polygon(np.column_stack(_xy(0.5 + radius * np.cos(theta), 0.5 + radius * np.sin(theta))))
    # coast: the sea covers the south-east beyond a wavy line
    t = np.linspace(0, 1, 60)
    cu = 0.62 + 0.40 * t + 0.02 * np.sin(9 * t)
    cv = 0.05 + 0.58 * (1 - t) - 0.03 * np.sin(7 * t + 1)
    sea = shapely.Polygon(np.column_stack(_xy(np.r_[cu, 1.2, 1.2], np.r_[cv, -0.2, cv[0]])))
    land = shapely.make_valid(blob.difference(sea))
    if land.geom_type != "Polygon":
        land = max(shapely.get_parts(land), key=lambda g: g.area)

    def sample(n, inside, min_dist):
        pts = []
        minx, miny, maxx, maxy = inside.bounds
        prepared = shapely.prepared.prep(inside)
        while len(pts) < n:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if not prepared.contains(shapely.Point(x, y)):
                continue
            if all((x - a) ** 2 + (y - b) ** 2 > min_dist ** 2 for a, b in pts):
                pts.append((x, y))
        return pts

    discs, seeds, prov_of_seed = [], [], []
    for code, _, centre, n in PROVINCES[:2]:
        cx, cy = _xy(*centre)
        disc = shapely.Point(cx, cy).buffer(math.sqrt(n) * 15_000).intersection(land)
        discs.append(disc)
        pts = sample(n, disc, 9_000)
        seeds += pts
        prov_of_seed += [code] * n
    rest = land.difference(shapely.union_all(discs).buffer(8_000))
    pts = sample(PROVINCES[2][3], rest, 22_000)
    seeds += pts
    prov_of_seed += [PROVINCES[2][0]] * len(pts)
    seeds_arr = np.array(seeds)

    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=land.buffer(100_000))
    cells = list(shapely.get_parts(cells))
    pieces = []
    for sx, sy in seeds:  # match Voronoi cells to their seed
        point = shapely.Point(sx, sy)
        cell = next(c for c in cells if c.contains(point))
        pieces.append(shapely.make_valid(cell.intersection(land)))
    # cities of the province: k-means on its seeds (a few fixed iterations, deterministic)
    prov_idx = np.array([p == PROVINCES[2][0] for p in prov_of_seed])
    pts_p = seeds_arr[prov_idx]
    centres = pts_p[rng.choice(len(pts_p), CITIES_IN_PROVINCE, replace=False)]
    for _ in range(25):
        label = np.argmin(((pts_p[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.array([pts_p[label == k].mean(0) if (label == k).any() else centres[k]
                            for k in range(CITIES_IN_PROVINCE)])
    order = np.lexsort((centres[:, 0], -centres[:, 1]))  # number cities north to south
    rank = np.empty(CITIES_IN_PROVINCE, dtype=int)
    rank[order] = np.arange(CITIES_IN_PROVINCE)
    rows, counters = [], {}
    p_iter = iter(label)
    for i, (prov, geom) in enumerate(zip(prov_of_seed, pieces)):
        if prov == PROVINCES[2][0]:
            city = f"13{rank[next(p_iter)] + 1:02d}00"
        else:
            city = prov[:2] + "0100"
        counters[city] = counters.get(city, 0) + 1
        code = city[:4] + f"{counters[city]:02d}"
        rows.append(dict(code=code, name=f"County {code}", city_code=city, province_code=prov, geometry=geom))
    counties = gpd.GeoDataFrame(rows, crs=SRID)
    counties["geometry"] = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon(
        [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]) for g in counties.geometry]
    cities = counties.dissolve("city_code", as_index=False)[["city_code", "province_code", "geometry"]]
    cities = cities.rename(columns={"city_code": "code"})
    cities["name"] = [f"City {c}" for c in cities["code"]]
    provinces = counties.dissolve("province_code", as_index=False)[["province_code", "geometry"]]
    provinces = provinces.rename(columns={"province_code": "code"})
    provinces["name"] = [next(p[1] for p in PROVINCES if p[0] == c) for c in provinces["code"]]
    # urban centres: the two municipalities (large) and the province's cities
    urban = [(*_xy(*PROVINCES[0][2]), 1.0), (*_xy(*PROVINCES[1][2]), 0.7)]
    weights = rng.uniform(0.15, 0.45, CITIES_IN_PROVINCE)
    urban += [(cx, cy, w) for (cx, cy), w in zip(centres, weights)]
    return Region(land, counties, cities, provinces, np.array(urban))


def rivers(seed: int) -> list[shapely.LineString]:
    """Rivers from the north-western mountains to the south-eastern coast."""
    rng = np.random.default_rng(seed + 1)
    lines = []
    for start, end in [((0.15, 0.80), (0.80, 0.32)), ((0.30, 0.92), (0.86, 0.45)), ((0.10, 0.55), (0.72, 0.18)),
                       ((0.40, 0.88), (0.70, 0.40)), ((0.20, 0.35), (0.62, 0.10))]:
        t = np.linspace(0, 1, 80)
        u = start[0] + (end[0] - start[0]) * t
        v = start[1] + (end[1] - start[1]) * t
        amp, freq, phase = rng.uniform(0.01, 0.03), rng.uniform(3, 6), rng.uniform(0, 6)
        u += amp * np.sin(freq * math.pi * t + phase) * math.sqrt(0.5)
        v += amp * np.sin(freq * math.pi * t + phase) * math.sqrt(0.5)
        lines.append(shapely.LineString(np.column_stack(_xy(u, v))))
    return lines


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _fields(seed: int) -> dict[str, Field]:
    rng = np.random.default_rng(seed + 2)
    return {name: Field(rng, wl) for name, wl in [
        ("relief", [60_000, 25_000, 9_000]), ("moist", [150_000, 60_000]), ("veg", [30_000, 8_000]),
        ("soil", [80_000, 20_000]), ("urban", [6_000, 2_500]), ("lake", [20_000])]}


def terrain_and_climate(X: np.ndarray, Y: np.ndarray, fields: dict[str, Field]) -> dict[str, np.ndarray]:
    """Elevation and climate at map coordinates X, Y (defined everywhere, also over the sea)."""
    U, V = _uv(X, Y)
    # a mountain arc in the north-west, a plateau in the north, a plain sloping to the south-east
    nw = (V - U) + 0.045 * fields["relief"](X, Y)
    mountain = _sigmoid((nw - 0.22) * 10)
    plateau = _sigmoid((V - 0.86) * 40) * _sigmoid((0.55 - U) * 12)
    relief = np.abs(fields["relief"](X, Y))
    dem = 5 + 60 * (1 - U) * (1 - V) + mountain * (300 + 1300 * np.tanh(0.8 * relief)) + plateau * 900
    dem = np.maximum(dem + 8 * fields["veg"](X, Y), 0.5)
    precip = 330 + 380 * (0.6 * U + 0.4 * (1 - V)) + 110 * mountain * _sigmoid((0.25 - np.abs(nw - 0.15)) * 6)
    precip += 35 * fields["moist"](X, Y)
    temp = 14.5 - 0.0062 * dem - 6.0 * (V - 0.5) + 0.5 * fields["moist"](X, Y)
    eto = np.maximum(764 + 140 * (U - 0.5) - 0.09 * dem + 18 * temp + 25 * fields["moist"](X, Y), 350)
    return dict(dem=dem, mountain=mountain, plateau=plateau, precipitation=precip, temperature=temp, eto=eto)


BLOCK_ROWS = 256   # rows generated and written at a time: the GeoTIFF block height


def make_layers(region: Region, grid: Grid, seed: int) -> dict[str, np.ndarray]:
    """All gridded layers of the region on ``grid`` (NaN or LULC_NODATA outside the land), whole.

    For tests and small grids; :func:`write_files` generates the same values by blocks of rows
    (:func:`layer_blocks`)."""
    parts: dict[str, list[np.ndarray]] = {}
    for _, block in layer_blocks(region, grid, seed):
        for key, arr in block.items():
            parts.setdefault(key, []).append(arr)
    return {key: np.concatenate(arrs) for key, arrs in parts.items()}


def _masks(region: Region, grid: Grid, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Land and river masks of the whole grid (uint8 0/1, one byte per cell)."""
    land = rasterize([(region.land, 1)], out_shape=(grid.height, grid.width), transform=grid.transform,
                     fill=0, dtype="uint8")
    river = rasterize([(r.buffer(max(700.0, 0.8 * grid.pixel_size)), 1) for r in rivers(seed)],
                      out_shape=(grid.height, grid.width), transform=grid.transform, fill=0, dtype="uint8")
    return land, river


def layer_blocks(region: Region, grid: Grid, seed: int, rows: int = BLOCK_ROWS):
    """The layers of :func:`make_layers` by blocks of ``rows`` grid rows: yields (first row, {layer: block}).

    Every value is a function of its pixel's coordinates alone (the fields are evaluated per pixel), so
    the blocks hold exactly the values of the whole-grid evaluation. Memory: the land and river masks of
    the whole grid (2 bytes per cell) and the temporaries of one block (about 240 bytes per cell of it)."""
    fields = _fields(seed)
    x = grid.origin_x + (np.arange(grid.width) + 0.5) * grid.pixel_size
    y = grid.origin_y - (np.arange(grid.height) + 0.5) * grid.pixel_size
    land, river = _masks(region, grid, seed)
    for r0 in range(0, grid.height, rows):
        r1 = min(r0 + rows, grid.height)
        yield r0, _block(region, grid, fields, x[None, :], y[r0:r1, None], land[r0:r1].astype(bool),
                         river[r0:r1].astype(bool))


def _block(region: Region, grid: Grid, fields: dict[str, Field], X: np.ndarray, Y: np.ndarray,
           land: np.ndarray, river_mask: np.ndarray) -> dict[str, np.ndarray]:
    """The layers on the pixels of a 1-row ``X`` by 1-column ``Y`` (broadcast; fields evaluate separably)."""
    tc = terrain_and_climate(X, Y, fields)
    dem, mountain, plateau = tc["dem"], tc["mountain"], tc["plateau"]
    precip = tc["precipitation"]
    # rivers and lakes
    lake = (fields["lake"](X, Y) > 2.3) & (dem < 900)
    # urban intensity: gaussian cores around the centres
    urban = np.zeros_like(dem)
    for cx, cy, w in region.centres:
        urban += w * np.exp(-(((X - cx) ** 2 + (Y - cy) ** 2) / (2 * (9_000 + 22_000 * w) ** 2)))
    urban_noise = fields["urban"](X, Y)
    # land use
    lulc = np.full(dem.shape, LULC["cropland"], dtype=np.int16)
    veg = fields["veg"](X, Y)
    hilly = dem > 250
    lulc[hilly & (veg > -0.3)] = LULC["forest"]
    lulc[hilly & (veg <= -0.3)] = LULC["shrub"]
    lulc[hilly & (dem > 900) & (veg < 0.2)] = LULC["grassland"]
    lulc[(plateau > 0.5) & (veg < 0.6)] = LULC["grassland"]
    lulc[(plateau > 0.5) & (veg < -1.1)] = LULC["bare"]
    lulc[~hilly & (veg > 1.6)] = LULC["forest"]
    lulc[(dem < 15) & (veg < -1.4)] = LULC["bare"]  # saline coastal flats
    built = (urban + 0.08 * urban_noise) > 0.22
    built |= (~hilly) & (urban_noise > 2.6)  # villages
    lulc[built] = LULC["built_up"]
    lulc[river_mask | lake] = LULC["water"]
    # soils and vegetation
    soil_depth = np.where(dem < 200, 1500.0, np.where(dem < 1000, 800.0, 400.0))
    soil_noise = fields["soil"](X, Y)
    pawc = np.clip(0.14 + 0.03 * soil_noise - 0.03 * mountain, 0.05, 0.3)
    sand = np.clip(35 + 15 * mountain + 8 * soil_noise, 5, 90)
    clay = np.clip(22 - 8 * mountain - 4 * soil_noise, 3, 60)
    silt = 100 - sand - clay
    oc = np.clip(0.8 + 1.2 * mountain + 0.3 * soil_noise, 0.1, 6)
    ndvi_by_class = np.array([0, 0.62, 0.78, 0.66, 0.48, 0.05, 0.15, 0.10])
    ndvi = ndvi_by_class[lulc] + 0.05 * veg + 0.08 * (precip - 500) / 300
    ndvi = np.clip(ndvi, -0.1, 0.95)
    # population: rural density by class + urban cores (persons per pixel)
    rural = np.array([0, 180, 12, 20, 10, 0, 400, 2], dtype=float)[lulc]
    density = rural + 9_000 * urban ** 1.5 * (lulc == LULC["built_up"]) + 150 * urban
    population = density * grid.pixel_area_m2 / 1e6
    out = dict(dem=dem, soil_depth=soil_depth, pawc=pawc,
               soil_sand=sand, soil_silt=silt, soil_clay=clay, soil_oc=oc, ndvi=ndvi, population=population)
    for key in out:
        out[key] = np.where(land, out[key], np.nan)
    out["lulc"] = np.where(land, lulc, LULC_NODATA).astype(np.uint8)
    return out


# layer -> (kind, unit, description)
LAYERS = {
    "lulc": ("categorical", "class", "land use: 1 cropland, 2 forest, 3 shrub, 4 grassland, 5 water, 6 built-up, 7 bare"),
    "dem": ("continuous", "m", "elevation"),
    "precipitation": ("continuous", "mm/yr", "mean annual precipitation"),
    "eto": ("continuous", "mm/yr", "annual reference evapotranspiration"),
    "temperature": ("continuous", "degC", "mean annual temperature"),
    "soil_depth": ("continuous", "mm", "depth to root-restricting layer"),
    "pawc": ("continuous", "fraction", "plant available water content"),
    "soil_sand": ("continuous", "%", "topsoil sand content"),
    "soil_silt": ("continuous", "%", "topsoil silt content"),
    "soil_clay": ("continuous", "%", "topsoil clay content"),
    "soil_oc": ("continuous", "%", "topsoil organic carbon"),
    "ndvi": ("continuous", "1", "annual maximum NDVI"),
    "population": ("continuous", "persons", "population per pixel"),
}
CLIMATE = ("precipitation", "eto", "temperature")


def write_files(region: Region, grid: Grid, seed: int, workdir: Path) -> dict[str, Path]:
    """GeoTIFFs, a 3-layer GeoPackage of boundaries, statistics CSV; returns their paths.

    The gridded layers are generated and written by blocks of :data:`BLOCK_ROWS` rows
    (:func:`layer_blocks`), the county statistics summed block by block: the peak memory is the
    whole-grid masks and county raster (6 bytes per cell) plus one block's temporaries."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {name: workdir / f"{name}.tif" for name in LAYERS if name not in CLIMATE}
    stats = _CountyStats(region, grid)
    with contextlib.ExitStack() as stack:
        files = {name: stack.enter_context(_open_tif(path, grid.width, grid.height,
                                                     "uint8" if name == "lulc" else "float32",
                                                     grid.transform, SRID,
                                                     LULC_NODATA if name == "lulc" else FLOAT_NODATA))
                 for name, path in paths.items()}
        for r0, block in layer_blocks(region, grid, seed):
            window = rasterio.windows.Window(0, r0, grid.width, block["lulc"].shape[0])
            for name, arr in block.items():
                if name != "lulc":
                    arr = np.where(np.isnan(arr), FLOAT_NODATA, arr).astype(np.float32)
                files[name].write(arr, 1, window=window)
            stats.add(r0, block)
            del block
    # climate layers: 0.1-degree geographic grids, as WorldClim-like products come
    for name in CLIMATE:
        paths[name] = _write_geographic(workdir / f"{name}_wgs84.tif", seed, name)
    gpkg = workdir / "boundaries.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    region.provinces.to_file(gpkg, layer="province", engine="pyogrio")
    region.cities.to_file(gpkg, layer="city", engine="pyogrio")
    region.counties.to_file(gpkg, layer="county", engine="pyogrio")
    paths["boundaries"] = gpkg
    paths["stats"] = _write_stats(workdir / "county_stats_2020.csv", region, grid, stats, seed)
    return paths


def _open_tif(path: Path, width: int, height: int, dtype, transform, crs, nodata):
    return rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs,
                         transform=transform, nodata=nodata, tiled=True, blockxsize=256, blockysize=256)


def _write_tif(path: Path, arr: np.ndarray, transform, crs, nodata) -> None:
    with _open_tif(path, arr.shape[1], arr.shape[0], arr.dtype, transform, crs, nodata) as dst:
        dst.write(arr, 1)


def _write_geographic(path: Path, seed: int, name: str) -> Path:
    """The layer sampled on a 0.1-degree lon/lat grid covering the region (with a margin)."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(SRID, 4326, always_xy=True)
    lon0, lat0, lon1, lat1 = to_ll.transform_bounds(*EXTENT, densify_pts=21)
    step = 0.1
    lon0, lat1 = math.floor(lon0 / step) * step - step, math.ceil(lat1 / step) * step + step
    nx, ny = math.ceil((lon1 - lon0) / step) + 2, math.ceil((lat1 - lat0) / step) + 2
    lons = lon0 + (np.arange(nx) + 0.5) * step
    lats = lat1 - (np.arange(ny) + 0.5) * step
    LON, LAT = np.meshgrid(lons, lats)
    X, Y = Transformer.from_crs(4326, SRID, always_xy=True).transform(LON, LAT)
    values = terrain_and_climate(X, Y, _fields(seed))[name].astype(np.float32)
    _write_tif(path, values, from_origin(lon0, lat1, step, step), 4326, FLOAT_NODATA)
    return path


class _CountyStats:
    """Population, cropland and built-up cells and cells per county, summed block by block.

    The population sum adds the pixels in row-major order into one float64 accumulator per county
    (``np.add.at``), the very additions and order of ``np.bincount`` over the whole grid, so the
    totals are bit-identical to a whole-grid pass; the counts are exact integers."""

    def __init__(self, region: Region, grid: Grid):
        self.index = rasterize([(g, i + 1) for i, g in enumerate(region.counties.geometry)],
                               out_shape=(grid.height, grid.width), transform=grid.transform, fill=0, dtype="int32")
        n = len(region.counties) + 1
        self.pop = np.zeros(n)
        self.crop = np.zeros(n, dtype=np.int64)
        self.built = np.zeros(n, dtype=np.int64)
        self.cells = np.zeros(n, dtype=np.int64)

    def add(self, r0: int, block: dict[str, np.ndarray]) -> None:
        lulc = block["lulc"]
        index = self.index[r0:r0 + lulc.shape[0]].ravel()
        n = self.pop.size
        np.add.at(self.pop, index, np.nan_to_num(block["population"]).ravel())
        self.crop += np.bincount(index, weights=(lulc == LULC["cropland"]).ravel(), minlength=n).astype(np.int64)
        self.built += np.bincount(index, weights=(lulc == LULC["built_up"]).ravel(), minlength=n).astype(np.int64)
        self.cells += np.bincount(index, minlength=n)


def _write_stats(path: Path, region: Region, grid: Grid, stats: _CountyStats, seed: int) -> Path:
    rng = np.random.default_rng(seed + 3)
    pop = stats.pop[1:]
    crop, built, cells = (a[1:].astype(float) for a in (stats.crop, stats.built, stats.cells))
    ha = grid.pixel_area_m2 / 1e4
    urban_share = np.where(cells > 0, built / np.maximum(cells, 1), 0)
    gdp_pc = 3.5 + 9.0 * urban_share + rng.normal(0, 0.4, len(pop)).clip(-1, 1)  # 1e4 CNY per person
    frame = pd.DataFrame({
        "code": region.counties["code"],
        "name": region.counties["name"],
        "year": 2020,
        "population": np.round(pop * rng.uniform(0.95, 1.05, len(pop))),
        "gdp": np.round(pop * gdp_pc, 1),
        "grain_output": np.round(crop * ha * 6.0 * rng.uniform(0.8, 1.2, len(pop))),
        "land_area": np.round(region.counties.geometry.area / 1e6, 2),
    })
    frame.to_csv(path, index=False)
    return path


def run(name: str = "demo", pixel_size: float = 1000.0, seed: int = 20230010, workdir: Path | None = None,
        replace: bool = False, log: Callable[[str], None] = print, url: str | None = None,
        tile_size: int = 256) -> str:
    """Generate the region and load it into study area ``name`` (tiles of ``tile_size`` pixels); returns a
    one-line summary.

    Everything happens in one transaction: with ``replace``, the old study area is deleted and the new one
    loaded in it, so an error or a killed process leaves the old area exactly as it was. Raises InputError
    when the area exists and ``replace`` is not given.
    """
    import time

    if workdir is None:   # beside the embedded database; never a new .restore-db in the current folder
        from restore_db.db.cluster import DEMO_DATA
        from restore_db.config import home

        workdir = home() / DEMO_DATA
    workdir = Path(workdir) / f"{name}-{pixel_size:g}m-{seed}"
    url = url or db.database_url()
    db.prepare(url)
    t0 = time.perf_counter()
    region = build_region(seed)
    with db.connect(url) as conn, conn.transaction():
        exists = conn.execute("SELECT 1 FROM core.study_area WHERE name = %s", (name,)).fetchone()
        if exists:
            if not replace:
                from restore_db.errors import InputError

                raise InputError(f"study area {name!r} exists; use --replace to regenerate it")
            studyarea.delete(conn, studyarea.get(conn, name))
        area = studyarea.create(conn, name, SRID, pixel_size, EXTENT, title="restore-db synthetic demo region",
                                tile_size=tile_size)
        grid = area.grid
        log(f"region: {len(region.counties)} counties, {len(region.cities)} cities, {len(region.provinces)} provinces; "
            f"grid {grid.width} x {grid.height} = {grid.cells:,} cells ({time.perf_counter() - t0:.1f} s)")
        t1 = time.perf_counter()
        paths = write_files(region, grid, seed, workdir)
        log(f"generated files in {workdir} ({time.perf_counter() - t1:.1f} s)")
        t2 = time.perf_counter()
        for level, parent in (("province", None), ("city", "province_code"), ("county", "city_code")):
            load_boundaries(conn, area, paths["boundaries"], level, layer=level, code_field="code",
                            name_field="name", parent_field=parent,
                            province_field=None if level == "province" else "province_code")
        for layer, (kind, unit, description) in LAYERS.items():
            load_raster(conn, area, layer, paths[layer], kind, unit, description=description)
        params = package_data("params")
        load_params(conn, area, params / "demo_lulc.csv", name="lulc_coefficients",
                    citation="restore-db defaults for the demo land-use scheme")
        load_params(conn, area, params / "demo_scalars.csv", name="model_scalars",
                    citation="restore-db default scalars")
        load_stats(conn, area, paths["stats"], source="restore-db synthetic demo statistics")
        log(f"loaded boundaries, {len(LAYERS)} rasters, parameters and statistics ({time.perf_counter() - t2:.1f} s)")
    return f"{len(region.counties)} counties, {len(LAYERS)} layers on a {grid.width} x {grid.height} grid"
