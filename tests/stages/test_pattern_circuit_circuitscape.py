"""restore_db.stages.pattern.circuit against Circuitscape's own verification suite (Circuitscape.jl, test/).

Each case runs an .ini of Circuitscape.jl's ``test/input/`` through a small harness that reads the inputs as
Circuitscape does (``src/io.jl``), builds our :class:`Circuit`, solves it with our ``pairwise`` / ``all_to_one`` (and
``Circuit.potentials`` / ``unit_potential`` for voltages and single all-to-one solves), and compares every output
Circuitscape.jl writes and checks for the case (``test/test_utils.jl``: the files of ``output_verify/`` that its run
produces) with the reference file: resistances, per-pair / per-ground, cumulative and maximum current maps, voltage
maps; in network mode node currents, branch currents and voltages. Data: tests/data/circuitscape/ (README.md there).

Tolerance (Circuitscape's own suite allows 1e-3 absolute on resistances and a sum of squared differences < 1e-6 on a
map). Both sides are float64 solves and the reference files are printed with 10 significant digits (rounding
≤ 5e-10 relative), so a difference of semantics shows far above solver round-off:

- resistances: 1e-6 relative (``RTOL``), each entry (a printed round-off zero, below 1e-9 of the largest entry, is
  compared absolutely). Measured: 1.1e-7 (sgVerify12), 8.9e-8 (sgVerify17), the others ≤ 4e-10.
- maps, currents and voltages: ``|got − expected| ≤ RTOL · (|expected| + max|expected|)``, i.e. 1e-6 of the map's
  largest value. The reference maps were solved iteratively to a relative residual of about 1e-6 (Circuitscape's
  cg+amg stops at ``rtol = 1e-6``, ``solve_linear_system``): the reference voltmap of sgVerify4, pair 5-9, has a
  relative residual of 5e-7 in our Laplacian (ours 6e-15) and differs from ours by up to 7.1e-7 of its maximum, i.e.
  up to 1.6e-4 relative in a cell a thousandth of the maximum. Circuitscape also zeroes a branch current below 1e-8
  of the largest one. A per-cell 1e-6 relative bar would test the reference's solver, not our semantics. Measured:
  ≤ 7.4e-7 (sgNetworkVerify1, branch currents of pair 50-58), with either solver.

Harness semantics (Circuitscape.jl src/io.jl, src/raster/*.jl, src/network/pairwise.jl, src/core.jl, src/out.jl):

- habitat: nodata impassable; conductances give resistance = 1/value; a cell ≤ 0 is impassable; a mask keeps cells
  where it is > 0. Where the masked conductance is 0, current / voltage maps hold -9999 when
  ``set_null_currents_to_nodata`` / ``set_null_voltages_to_nodata`` is set.
- focal points: grid cells ≠ 0 (column-major) or text lines ``id x y``; negative ids dropped; a stable sort by id. A
  focal point on an impassable cell has no node (resistance -1, our NaN). An id on several cells is a focal region.
- a short-circuit region (polygon) with a habitat cell also covers its non-habitat cells in Circuitscape's node map
  (``construct_node_map``): those cells show the region's node in the maps, and a focal point there sits on it.
  Circuitscape also joins such a cell to habitat neighbours by ``avg(0, g)``: 0 with average resistance, g/2 with
  average conductance, a branch circuit.py has no equivalent for; no covered case has one (``build`` asserts it).
- pairwise, no focal region: one circuit, all pairs (a pair is oriented source → sink in Circuitscape's order, which
  names the files and sets the voltmap's 0 V node). With focal regions: a circuit per pair, its regions the polygons
  plus the pair's two focal regions (``create_new_polymap``); the cumulative map sums the pairs.
- all-to-one: the focal points shorted together with the polygons (``create_new_polymap(..., point_map)``); for each
  focal point in turn, its node is grounded and 1 A flows in from the first cell of every other focal point of the
  component. The harness solves each with ``Circuit.potentials`` (per-ground maps, cumulative map) and, where the
  case fits ``all_to_one``'s model (one focal point per node), checks ``all_to_one``'s cumulative map and solved
  flags too. In allToOneVerify1, 2 and 11 two focal points share a node (two points in one polygon, or a focal
  region merged with a polygon holding another point); Circuitscape then injects 1 A per focal point (2 A at that
  node) and grounds the node once per point, which ``all_to_one`` (1 A per distinct node) does not model: see
  ``SHARED_FOCAL_NODES``.
- network: ``Circuit.from_edges`` on the node ids mapped to 0..n-1 (the files count from 0, as the references do).

Covered: sgNetworkVerify1-3, sgVerify1-17 (13: the mask and the include matrix applied; its variable source strengths
are read but unused by Circuitscape.jl's pairwise mode; 17: an include list; 12, 15, 17 write resistances only; 1:
its polygons are a GeoTIFF, read with rasterio; 15: gzipped grids, read as they are), allToOneVerify1-11.
Skipped: allToOneVerify12: variable source strengths (plus a mask and an include matrix) in all-to-one mode, outside
our modes.
"""

from __future__ import annotations

import configparser
import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from restore_db.stages.pattern.circuit import Circuit, CircuitSettings, all_to_one, pairwise

DATA = Path(__file__).resolve().parents[1] / "data" / "circuitscape"
RTOL = 1e-6
NODATA = -9999.0

NETWORK = [f"sgNetworkVerify{i}" for i in (1, 2, 3)]
PAIRWISE = [f"sgVerify{i}" for i in range(1, 18)]
ALL_TO_ONE = [f"allToOneVerify{i}" for i in range(1, 12)]
SHARED_FOCAL_NODES = {"allToOneVerify1", "allToOneVerify2", "allToOneVerify11"}


# -- reading -----------------------------------------------------------------------------------------------------------

def ini_path(case: str) -> Path:
    if case.startswith("sgNetworkVerify"):
        return DATA / "input" / "network" / f"{case}.ini"
    if case.startswith("sgVerify"):
        return DATA / "input" / "raster" / "pairwise" / case.removeprefix("sgVerify") / f"{case}.ini"
    return DATA / "input" / "raster" / "all_to_one" / case.removeprefix("allToOneVerify") / f"{case}.ini"


def read_ini(case: str) -> dict[str, str]:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string("[top]\n" + ini_path(case).read_text())
    return {k: v.strip() for s in cp.sections() for k, v in cp[s].items()}


def flag(cfg: dict[str, str], key: str) -> bool:
    return cfg.get(key, "False").lower() == "true"


def data_file(cfg: dict[str, str], key: str) -> Path:
    """The file an .ini names, relative to Circuitscape.jl's test/ folder (= DATA)."""
    return DATA / cfg[key]


def _text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as f:
            return f.read()
    return path.read_text()


@dataclass
class Grid:
    values: np.ndarray          # float64, NaN where nodata
    nrows: int
    ncols: int
    xll: float
    yll: float
    cellsize: float


def is_grid(path: Path) -> bool:
    return path.suffix == ".tif" or _text(path).lstrip().lower().startswith("ncols")


def _asc(path: Path) -> tuple[dict[str, float], np.ndarray]:
    """(header, values) of an ESRI ASCII grid: the header lines (``ncols`` … ``NODATA_value``), then the rows."""
    lines = [line for line in _text(path).splitlines() if line.strip()]
    head, k = {}, 0
    while lines[k].split()[0][0].isalpha():
        key, val = lines[k].split()[:2]
        head[key.lower()] = float(val)
        k += 1
    values = np.array(" ".join(lines[k:]).split(), dtype=np.float64)
    return head, values.reshape(int(head["nrows"]), int(head["ncols"]))


def read_grid(path: Path) -> Grid:
    """An ASCII grid (.asc, or .asc.gz) or a GeoTIFF; nodata cells are NaN."""
    if path.suffix == ".tif":
        import rasterio

        with rasterio.open(path) as src:
            v = src.read(1).astype(np.float64)
            if src.nodata is not None:
                v[v == src.nodata] = np.nan
            t = src.transform
            return Grid(v, src.height, src.width, t.c, t.f + t.e * src.height, t.a)
    head, v = _asc(path)
    if "nodata_value" in head:
        v[v == head["nodata_value"]] = np.nan
    return Grid(v, v.shape[0], v.shape[1], head["xllcorner"], head["yllcorner"], head["cellsize"])


def read_reference_map(path: Path) -> np.ndarray:
    """A reference map with its -9999 cells kept as values (they are compared as such)."""
    return _asc(path)[1]


def read_table(path: Path) -> np.ndarray:
    return np.array([line.split() for line in _text(path).splitlines() if line.strip()], dtype=np.float64)


@dataclass
class Points:
    row: list[int]               # 0-based
    col: list[int]
    id: list[int]

    def cells(self, pid: int) -> list[tuple[int, int]]:
        return [(r, c) for r, c, i in zip(self.row, self.col, self.id) if i == pid]

    def first(self, pid: int) -> tuple[int, int]:
        return self.cells(pid)[0]

    def unique(self) -> list[int]:
        return list(dict.fromkeys(self.id))


def read_points(path: Path, hab: Grid) -> Points:
    """Circuitscape's read_point_map: grid cells ≠ 0 in column-major order, or text lines ``id x y`` at row
    ceil(nrows − (y − yll)/cellsize), column ceil((x − xll)/cellsize) (1-based); negative ids dropped (one deleteat!
    per negative at its original index, as Circuitscape does); a stable sort by id."""
    if is_grid(path):
        g = np.nan_to_num(read_grid(path).values, nan=0.0)
        cc, rr = np.nonzero(g.T)                      # column-major, as Julia's findall
        row, col, pid = [int(v) for v in rr], [int(v) for v in cc], [int(g[r, c]) for r, c in zip(rr, cc)]
    else:
        t = read_table(path)
        pid = [int(v) for v in t[:, 0]]
        row = [math.ceil(hab.nrows - (y - hab.yll) / hab.cellsize) - 1 for y in t[:, 2]]
        col = [math.ceil((x - hab.xll) / hab.cellsize) - 1 for x in t[:, 1]]
    for index in [i for i, v in enumerate(pid) if v < 0]:
        del row[index], col[index], pid[index]
    order = sorted(range(len(pid)), key=lambda i: pid[i])
    return Points([row[i] for i in order], [col[i] for i in order], [pid[i] for i in order])


def read_polymap(path: Path) -> np.ndarray:
    """Region labels as int64, nodata → 0 (Circuitscape's read_polymap)."""
    return np.nan_to_num(read_grid(path).values, nan=0.0).astype(np.int64)


def read_included_pairs(path: Path) -> tuple[str, list[int], np.ndarray]:
    """(mode, point ids, 0/1 matrix) of an include matrix (``min``/``max`` lines: entries in [min, max] included) or
    of a pair list (a ``mode include|exclude`` line), as Circuitscape's read_included_pairs."""
    lines = [line.split() for line in _text(path).splitlines() if line.strip()]
    if lines[0][0] == "min":
        lo, hi = float(lines[0][1]), float(lines[1][1])
        ids = [int(float(v)) for v in lines[2][1:]]
        m = np.array([[float(v) for v in row[1:]] for row in lines[3:]])
        m[m > hi] = 0
        return "include", ids, (m >= lo).astype(int)
    pairs = [(int(float(a)), int(float(b))) for a, b in lines[1:]]
    ids = sorted({p for pair in pairs for p in pair} - {0})
    m = np.zeros((len(ids), len(ids)), dtype=int)
    for a, b in pairs:
        if a in ids and b in ids:
            m[ids.index(a), ids.index(b)] = m[ids.index(b), ids.index(a)] = 1
    return lines[0][1], ids, m


# -- raster circuits -----------------------------------------------------------------------------------------------

@dataclass
class Raster:
    resistance: np.ndarray       # NaN where impassable
    gmap: np.ndarray             # Circuitscape's cellmap: conductance, 0 where nodata or masked
    polymap: np.ndarray | None
    points: Points
    settings: CircuitSettings
    excluded: set = field(default_factory=set)   # excluded (id, id) pairs, both orders


def load_raster(cfg: dict[str, str], solver: str) -> Raster:
    hab = read_grid(data_file(cfg, "habitat_file"))
    v = hab.values
    is_res = flag(cfg, "habitat_map_is_resistances")
    assert not (is_res and (v == 0).any()), "Circuitscape refuses a resistance of 0"
    with np.errstate(divide="ignore"):
        gmap = np.where(np.isnan(v), 0.0, 1.0 / v if is_res else v)
        if flag(cfg, "use_mask"):
            gmap = gmap * (np.nan_to_num(read_grid(data_file(cfg, "mask_file")).values, nan=0.0) > 0)
        # the resistance as given (not 1/(1/r)), or 1/conductance; NaN off the habitat
        resistance = np.where(gmap > 0, v if is_res else 1.0 / gmap, np.nan)
    r = Raster(resistance, gmap,
               read_polymap(data_file(cfg, "polygon_file")) if flag(cfg, "use_polygons") else None,
               read_points(data_file(cfg, "point_file"), hab),
               CircuitSettings(connect="average_resistance" if flag(cfg, "connect_using_avg_resistances")
                               else "average_conductance",
                               neighbours=4 if flag(cfg, "connect_four_neighbors_only") else 8, solver=solver))
    if flag(cfg, "use_included_pairs"):
        mode, ids, m = read_included_pairs(data_file(cfg, "included_pairs_file"))
        p = r.points
        if mode == "include":                    # prune_points!: only the points the file names
            keep = [k for k, pid in enumerate(p.id) if pid in ids]
            r.points = Points([p.row[k] for k in keep], [p.col[k] for k in keep], [p.id[k] for k in keep])
        for i, a in enumerate(ids):
            for j, b in enumerate(ids):
                if (m[i, j] == m[j, i] == 0) if mode == "include" else (m[i, j] == m[j, i] == 1):
                    r.excluded |= {(a, b), (b, a)}
    return r


def build(r: Raster, labels: np.ndarray | None) -> tuple[Circuit, np.ndarray]:
    """(our circuit with Circuitscape's regions ``labels`` — any label ≠ 0, renumbered 1..k —, Circuitscape's node
    map: ours plus the non-habitat cells of a region that has a habitat cell, as construct_node_map)."""
    regions = None
    if labels is not None:
        _, inv = np.unique(labels, return_inverse=True)
        regions = np.where(labels != 0, inv.reshape(labels.shape) + 1, 0)
    circuit = Circuit(r.resistance, regions, r.settings)
    nodemap = circuit.nodemap.copy()
    if regions is None:
        return circuit, nodemap
    passable = circuit.nodemap >= 0
    h, w = nodemap.shape
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)] + ([(1, 1), (1, -1), (-1, 1), (-1, -1)]
                                                  if r.settings.neighbours == 8 else [])
    for lab in np.unique(regions[regions > 0]):
        cells = regions == lab
        nodes = circuit.nodemap[cells & passable]
        covered = cells & ~passable
        if nodes.size == 0 or not covered.any():
            continue
        nodemap[covered] = nodes[0]
        if r.settings.connect == "average_conductance":        # Circuitscape's avg(0, g) = g/2 branches
            for y, x in zip(*np.nonzero(covered)):
                for dy, dx in steps:
                    yy, xx = y + dy, x + dx
                    assert not (0 <= yy < h and 0 <= xx < w and passable[yy, xx] and not cells[yy, xx]), \
                        f"region cell {(y, x)} has a branch of conductance g/2 that circuit.py does not model"
    return circuit, nodemap


def to_map(circuit: Circuit, nodemap: np.ndarray, values: np.ndarray, members: np.ndarray | None = None):
    """Node values as a grid: ``circuit.cell_map``, plus the region-covered cells of Circuitscape's node map; 0 off
    the nodes and off ``members`` (a boolean per node) when given."""
    values = np.asarray(values, dtype=np.float64)
    if members is not None:
        values = np.where(members, values, 0.0)
    m = circuit.cell_map(values)
    extra = (nodemap >= 0) & (circuit.nodemap < 0)
    m[extra] = values[nodemap[extra]]
    return m


def nodata_where_null(m: np.ndarray, r: Raster, on: bool) -> np.ndarray:
    return np.where(r.gmap == 0, NODATA, m) if on else m


def polymap_for_pair(r: Raster, pt1: int, pt2: int) -> np.ndarray:
    """Circuitscape's create_new_polymap(gmap, polymap, points_rc, pt1, pt2)."""
    p = r.points
    if r.polymap is None:
        new = np.zeros(r.gmap.shape, dtype=np.int64)
        for pt in (pt1, pt2):
            for cell in p.cells(pt):
                new[cell] = pt
        return new
    new, k = r.polymap.copy(), int(r.polymap.max())
    for pt in (pt1, pt2):
        cells = p.cells(pt)
        if len(cells) == 1:
            continue
        vals = [r.polymap[c] for c in cells if r.polymap[c] != 0]
        if not vals:
            for c in cells:
                new[c] = k + 1
        else:          # the polygons the region touches become one (its cells outside them stay as they are)
            assert len(vals) > 1, "Circuitscape fails here (`overlap` undefined)"
            new[np.isin(r.polymap, vals)] = k + 1
        k += 1
    return new


def polymap_all(r: Raster, point_map: np.ndarray) -> np.ndarray:
    """Circuitscape's create_new_polymap(..., point_map): every focal point shorted, with the polygons."""
    if r.polymap is None:
        return point_map.copy()
    new = r.polymap.copy()
    if len(r.points.id) == len(set(r.points.id)):
        cells = (point_map != 0) & (r.polymap == 0)
        new[cells] = point_map[cells] + int(r.polymap.max())
        return new
    k = max(int(r.polymap.max()), int(point_map.max()))
    cc, rr = np.nonzero(point_map.T)                 # column-major
    for y, x in zip(rr, cc):
        v1, v2 = point_map[y, x], new[y, x]
        if v2 == 0:
            new[y, x] = k + v1
        elif v1 != v2:
            new[new == v2] = v1
    return new


# -- solving -------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    ids: list[int]
    resistances: np.ndarray | None = None          # Circuitscape's matrix (all-to-one: vector), -1 unsolved
    maps: dict[str, np.ndarray] = field(default_factory=dict)      # output name ("curmap_1_2") → grid
    tables: dict[str, dict] = field(default_factory=dict)          # network output name → {key: value}
    also: dict[str, np.ndarray] = field(default_factory=dict)      # "cum_curmap (all_to_one)" → grid


def solve_pairs(circuit: Circuit, focal: list[int], pairs: list[tuple[int, int]] | None = None):
    """``pairwise`` keeping each connected pair's node currents: (resistances {(i, j): R}, cumulative node currents,
    {(i, j): node currents})."""
    pairs = [(i, j) for i in range(len(focal)) for j in range(i + 1, len(focal))] if pairs is None else pairs
    each: dict[tuple[int, int], np.ndarray] = {}
    got, total = pairwise(circuit, focal, pairs, on_pair=lambda t, current: each.__setitem__(pairs[t], current))
    return got, total, each


def voltages(circuit: Circuit, source: int, sink: int) -> np.ndarray:
    """Circuitscape's voltages of a pair: 1 A from ``sink`` to ``source``, ``source`` at 0 V (so the sink is at R)."""
    v = circuit.unit_potential(sink) - circuit.unit_potential(source)
    return v - v[source]


def solve_pairwise_raster(cfg: dict[str, str], solver: str) -> Result:
    r = load_raster(cfg, solver)
    p = r.points
    null_c, null_v = flag(cfg, "set_null_currents_to_nodata"), flag(cfg, "set_null_voltages_to_nodata")
    ids = p.unique()
    res = -np.ones((len(ids), len(ids)))
    out = Result(ids)
    pair_maps: dict[str, np.ndarray] = {}
    cum = np.zeros(r.gmap.shape)

    def record(circuit, nodemap, source, sink, name, current):
        pair_maps[name] = nodata_where_null(to_map(circuit, nodemap, current), r, null_c)
        if flag(cfg, "write_volt_maps"):
            members = circuit.component == circuit.component[source]
            volt = to_map(circuit, nodemap, voltages(circuit, source, sink), members)
            out.maps[f"voltmap_{name}"] = nodata_where_null(volt, r, null_v)

    if len(p.id) == len(ids):
        # no focal region: one circuit, all pairs (_pt_file_no_polygons_path)
        circuit, nodemap = build(r, r.polymap)
        nodes = [int(nodemap[c]) for c in zip(p.row, p.col)]
        valid = [i for i in range(len(ids)) if nodes[i] >= 0]
        focal = [nodes[i] for i in valid]
        rank = {node: k for k, node in enumerate(dict.fromkeys(focal))}   # Circuitscape's csub: source first
        pairs = [(x, y) if rank[focal[x]] <= rank[focal[y]] else (y, x)
                 for x in range(len(valid)) for y in range(x + 1, len(valid))
                 if (ids[valid[x]], ids[valid[y]]) not in r.excluded or focal[x] == focal[y]]
        got, total, each = solve_pairs(circuit, focal, pairs)
        for (x, y), value in got.items():
            res[valid[x], valid[y]] = res[valid[y], valid[x]] = -1.0 if math.isnan(value) else value
            if (x, y) in each:
                record(circuit, nodemap, focal[x], focal[y], f"{ids[valid[x]]}_{ids[valid[y]]}", each[(x, y)])
        cum = to_map(circuit, nodemap, total)
    else:
        # focal regions: a circuit per pair (_pt_file_polygons_path)
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                if (ids[a], ids[b]) in r.excluded:
                    continue
                circuit, nodemap = build(r, polymap_for_pair(r, ids[a], ids[b]))
                na, nb = int(nodemap[p.first(ids[a])]), int(nodemap[p.first(ids[b])])
                if na < 0 or nb < 0:
                    continue
                got, total, each = solve_pairs(circuit, [na, nb])
                res[a, b] = res[b, a] = -1.0 if math.isnan(got[(0, 1)]) else got[(0, 1)]
                if (0, 1) in each:
                    record(circuit, nodemap, na, nb, f"{ids[a]}_{ids[b]}", each[(0, 1)])
                cum += to_map(circuit, nodemap, total)
    np.fill_diagonal(res, 0.0)
    out.resistances = res
    if flag(cfg, "write_cur_maps") and not flag(cfg, "write_cum_cur_map_only"):
        out.maps.update({f"curmap_{name}": m for name, m in pair_maps.items()})
    if flag(cfg, "write_cur_maps") or flag(cfg, "write_cum_cur_map_only"):
        out.maps["cum_curmap"] = nodata_where_null(cum, r, null_c and bool(pair_maps))
    if flag(cfg, "write_max_cur_maps"):
        out.maps["max_curmap"] = np.maximum.reduce([np.full(r.gmap.shape, NODATA), *pair_maps.values()])
    return out


def solve_all_to_one(cfg: dict[str, str], solver: str, case: str) -> Result:
    r = load_raster(cfg, solver)
    assert not flag(cfg, "use_included_pairs") and not flag(cfg, "use_variable_source_strengths")
    p = r.points
    point_map = np.zeros(r.gmap.shape, dtype=np.int64)
    for y, x, pid in zip(p.row, p.col, p.id):
        point_map[y, x] = pid
    circuit, nodemap = build(r, polymap_all(r, point_map))
    ids = p.unique()
    first = {pid: int(nodemap[p.first(pid)]) for pid in ids}
    out = Result(ids, resistances=np.zeros(len(ids)))
    maps = {}
    one_per_node = True
    for i, n in enumerate(ids):
        if point_map.sum() == n:                     # Circuitscape's test for a lone focal point: no solve
            out.resistances[i] = -1
            continue
        # ground: the nodes of n's cells; sources: 1 A at the first cell of every other focal point (none on the
        # ground); only in the component of the i-th point entry (Circuitscape's check_node)
        grounds = {int(nodemap[c]) for c in zip(*np.nonzero(point_map == n)) if nodemap[c] >= 0}
        check = int(nodemap[p.row[i], p.col[i]])
        comp = circuit.component[check] if check >= 0 else -1
        sources = [first[k] for k in ids if point_map[p.first(k)] != n and first[k] >= 0]
        sources = [s for s in sources if s not in grounds and circuit.component[s] == comp]
        grounds = {g for g in grounds if circuit.component[g] == comp}
        if not sources or not grounds:
            out.resistances[i] = -1
            maps[n] = np.zeros(r.gmap.shape)
            continue
        assert grounds == {first[n]}, f"focal point {n}: grounds {grounds}, a case outside these semantics"
        one_per_node &= len(set(sources)) == len(sources)
        b = np.zeros(circuit.n)
        np.add.at(b, sources, 1.0)
        b[first[n]] = -len(sources)
        maps[n] = to_map(circuit, nodemap, circuit.node_currents(circuit.potentials(b)))
    if flag(cfg, "write_cur_maps"):
        out.maps.update({f"curmap_{n}": m for n, m in maps.items()})
        out.maps["cum_curmap"] = np.sum([np.zeros(r.gmap.shape), *maps.values()], axis=0)
    focal = [first[n] for n in ids if first[n] >= 0]
    one_per_node &= len(set(focal)) == len(focal)
    assert one_per_node == (case not in SHARED_FOCAL_NODES)
    if one_per_node:
        total, solved, _ = all_to_one(circuit, focal)
        flags = dict(zip(focal, solved))
        assert [0.0 if flags.get(first[n], False) else -1.0 for n in ids] == list(out.resistances)
        out.also["cum_curmap"] = to_map(circuit, nodemap, total)
    return out


def solve_network(cfg: dict[str, str], solver: str) -> Result:
    edges = read_table(data_file(cfg, "habitat_file"))
    fp = [int(v) for v in read_table(data_file(cfg, "point_file")).ravel()]
    i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    g = 1.0 / edges[:, 2] if flag(cfg, "habitat_map_is_resistances") else edges[:, 2]
    labels, index = np.unique(np.concatenate([i, j, fp]), return_inverse=True)
    k, l, focal = index[:len(i)], index[len(i):2 * len(i)], [int(v) for v in index[2 * len(i):]]
    circuit = Circuit.from_edges(len(labels), k, l, g, CircuitSettings(solver=solver))
    got, total, each = solve_pairs(circuit, focal)
    out = Result(fp, resistances=-np.ones((len(fp), len(fp))))
    branches = {(int(a), int(b)): e for e, (a, b) in enumerate(circuit.edges)}
    cum_branch = np.zeros(len(circuit.edges))
    for (a, b), value in got.items():
        out.resistances[a, b] = out.resistances[b, a] = -1.0 if math.isnan(value) else value
        if (a, b) not in each:
            continue
        name = f"{fp[a]}_{fp[b]}"
        members = np.flatnonzero(circuit.component == circuit.component[focal[a]])
        v = voltages(circuit, focal[a], focal[b])
        current = np.abs(circuit.branch_currents(v))
        cum_branch += current
        out.tables[f"node_currents_{name}"] = {int(labels[m]): each[(a, b)][m] for m in members}
        out.tables[f"voltages_{name}"] = {int(labels[m]): v[m] for m in members}
        out.tables[f"branch_currents_{name}"] = {
            (int(labels[x]), int(labels[y])): current[e] for (x, y), e in branches.items()
            if circuit.component[x] == circuit.component[focal[a]]}
    np.fill_diagonal(out.resistances, 0.0)
    out.tables["node_currents_cum"] = {int(labels[m]): total[m] for m in range(circuit.n)}
    out.tables["branch_currents_cum"] = {(int(labels[x]), int(labels[y])): cum_branch[branches[(min(x, y), max(x, y))]]
                                         for x, y in zip(k, l)}
    return out


def solve(case: str, solver: str = "direct") -> Result:
    cfg = read_ini(case)
    if cfg.get("data_type", "raster") == "network":
        return solve_network(cfg, solver)
    if cfg["scenario"] == "pairwise":
        return solve_pairwise_raster(cfg, solver)
    return solve_all_to_one(cfg, solver, case)


# -- comparing -----------------------------------------------------------------------------------------------------

def reference(case: str, name: str) -> Path:
    ext = "out" if name == "resistances" else ("txt" if case.startswith("sgNetwork") else "asc")
    path = DATA / "output_verify" / f"{case}_{name}.{ext}"
    assert path.exists(), f"{case}: Circuitscape writes {name}, and {path} is missing"
    return path


def map_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got − expected| / (|expected| + max|expected|): ≤ RTOL passes (see the module docstring)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = np.abs(expected) + np.abs(expected).max(initial=0.0)
    err = np.abs(got - expected)
    return float(np.max(np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err), initial=0.0))


def table_error(got: dict, expected: dict, name: str) -> float:
    if name.startswith("branch_currents"):
        # Circuitscape writes |current| of branches above 1e-6 only: compare on the union, absent = 0
        norm = lambda d: {tuple(sorted(key)): v for key, v in d.items()}      # noqa: E731
        got, expected = norm(got), norm(expected)
        keys = sorted(set(got) | set(expected))
    else:
        keys = sorted(expected)
        assert sorted(got) == keys, f"{name}: the nodes differ"
    return map_error([got.get(key, 0.0) for key in keys], [expected.get(key, 0.0) for key in keys])


def compare(case: str, out: Result) -> dict[str, float]:
    """Every output against its reference: {name: error} (resistances: largest relative error; others:
    ``map_error``). Fails when one is above RTOL."""
    x = read_table(reference(case, "resistances"))
    if case.startswith("allToOne"):
        ids, expected = [int(v) for v in x[:, 0]], x[:, 1]
    else:
        assert [int(v) for v in x[0, 1:]] == [int(v) for v in x[1:, 0]]
        ids, expected = [int(v) for v in x[1:, 0]], x[1:, 1:]
    assert ids == out.ids, (ids, out.ids)
    got = out.resistances
    assert ((expected == -1) == (got == -1)).all(), f"{case}: unsolved pairs differ:\n{expected}\n{got}"
    # relative error; a 0 of exact arithmetic is printed as round-off (1.1e-16 in sgVerify12): below 1e-9 of the
    # largest resistance an entry is compared absolutely
    ok = expected != -1
    scale = np.maximum(np.abs(expected[ok]), 1e-9 * np.abs(expected[ok]).max(initial=0.0))
    err = np.abs(got[ok] - expected[ok])
    errors = {"resistances": float(np.max(np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err),
                                          initial=0.0))}
    for name, m in out.maps.items():
        errors[name] = map_error(m, read_reference_map(reference(case, name)))
    for name, m in out.also.items():
        errors[f"{name} (all_to_one)"] = map_error(m, read_reference_map(reference(case, name)))
    for name, table in out.tables.items():
        rows = read_table(reference(case, name))
        if name.startswith("branch"):
            expected_table = {(int(a), int(b)): v for a, b, v in rows}
        else:
            expected_table = {int(a): v for a, v in rows}
        errors[name] = table_error(table, expected_table, name)
    bad = {name: e for name, e in errors.items() if not e <= RTOL}
    assert not bad, f"{case}: beyond {RTOL}: {bad}"
    return errors


@pytest.mark.parametrize("solver", ["direct", "cg+amg"])
@pytest.mark.parametrize("case", NETWORK + PAIRWISE + ALL_TO_ONE)
def test_circuitscape_verification_case(case, solver):
    errors = compare(case, solve(case, solver))
    assert len(errors) > 1 or case in {"sgVerify12", "sgVerify15", "sgVerify17"}   # maps, except the three
