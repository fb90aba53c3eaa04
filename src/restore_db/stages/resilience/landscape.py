"""Landscape-level pattern metrics (FRAGSTATS definitions) of a land-use raster.

Pure numpy/scipy: one function for one landscape (:func:`landscape_metrics`)
and one for many landscapes cut out of the same raster by a zone raster, e.g.
one landscape per county (:func:`zone_metrics`).  The metrics feed the
resilience indicators (``docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics).

Conventions (``docs/models/landscape-metrics.md#metrics; McGarigal, Cushman & Ene, FRAGSTATS v4
metric documentation, https://www.fragstats.org):

* **Input.** ``classes`` is a 2-D array of land-use codes.  **Nodata is NaN**
  (float arrays); an integer array may name its nodata code with ``nodata=``.
  Nodata cells are *outside* the landscape: they have no area, no patch and
  no class.  Cells are square, ``pixel_size`` metres on a side (projected CRS,
  docs/models/conventions.md#grid-crs-and-alignment).
* **Patches** are 8-connected regions of one class (FRAGSTATS' default
  "8-cell rule"), labelled with :func:`scipy.ndimage.label`.
* **Cell adjacencies** are 4-neighbour (rook) joins between two valid cells,
  counted with numpy (``np.bincount`` of the pairs of shifted arrays).
  ``g_ik`` below is the *double-count* adjacency matrix (each join counted
  from both cells, like joins included, as FRAGSTATS' CONTAG uses it);
  ``g_ii`` in AI is the *single-count* number of like joins.
* **Edges.** ``E`` (ED) counts only the edges between two valid cells of
  different classes: the landscape boundary and every edge to a nodata /
  outside cell are excluded (FRAGSTATS "boundary and background not counted
  as edge").  ``E*`` (LSI) and the patch perimeters ``p*`` (COHESION) count
  every side of a class cell that faces another class, nodata or the raster
  edge (FRAGSTATS: "includes the entire landscape boundary and background
  edge segments").  Lengths are converted to metres with ``pixel_size``.
* **Proportions** ``P_i`` are class cell counts / valid cell count (as
  FRAGSTATS; *not* the adjacency-based proportions of pylandstats, see
  :func:`landscape_metrics`).
* **Undefined -> NaN**: an empty landscape gives NaN for every metric;
  SHEI and CONTAG need at least two classes; AI needs a class of at least
  two cells.  Results are Python floats.

Citations point to the model pages of ``docs/models/``; the worked values are in
docs/models/landscape-metrics.md#reference-test-values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

__all__ = ["METRICS", "landscape_metrics", "zone_metrics"]

M2_PER_HA = 10_000.0

#: name -> (unit, description) of every metric this module computes, in output order.
METRICS: dict[str, tuple[str, str]] = {
    "ta": ("ha", "total (valid) landscape area TA"),
    "np": ("count", "number of patches NP (8-connected)"),
    "pd": ("patches/100 ha", "patch density PD = N / A x 10^6"),
    "ed": ("m/ha", "edge density ED = E / A x 10^4 (boundary and nodata edges excluded)"),
    "lpi": ("%", "largest patch index LPI = max(a_ij) / A x 100"),
    "lsi": ("-", "landscape shape index LSI = E* / min E* (cell surfaces, boundary included)"),
    "mesh": ("ha", "effective mesh size MESH = sum(a_ij^2) / A / 10^4"),
    "pr": ("count", "patch richness PR = number of classes present"),
    "shdi": ("-", "Shannon diversity SHDI = -sum(P_i ln P_i), P_i from cell counts"),
    "shei": ("-", "Shannon evenness SHEI = SHDI / ln m"),
    "sidi": ("-", "Simpson diversity SIDI = 1 - sum(P_i^2)"),
    "contag": ("%", "contagion CONTAG (Li & Reynolds 1993, FRAGSTATS)"),
    "cohesion": ("%", "patch cohesion COHESION (Schumaker 1996, FRAGSTATS landscape level)"),
    "ai": ("%", "aggregation index AI = sum(P_i g_ii / max g_ii) x 100 (He et al. 2000)"),
}

_LABEL_METRICS = frozenset({"np", "pd", "lpi", "mesh", "cohesion"})
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity structuring element


# ---------------------------------------------------------------------------
# private helpers
# ---------------------------------------------------------------------------


def _wanted(metrics) -> list[str]:
    """Requested metric names in METRICS order; unknown names raise ValueError."""
    if metrics is None:
        return list(METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = [str(m).lower() for m in metrics]
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown landscape metric(s) {unknown}; known: {list(METRICS)}")
    return [m for m in METRICS if m in names]


def _check_pixel_size(pixel_size) -> float:
    ps = float(pixel_size)
    if not math.isfinite(ps) or ps <= 0:
        raise ValueError(f"pixel_size must be a positive number of metres, got {pixel_size!r}")
    return ps


def _valid_mask(arr: np.ndarray, nodata) -> np.ndarray:
    """True where ``arr`` holds data: not NaN and not equal to ``nodata``."""
    valid = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(arr.shape, dtype=bool)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid &= arr != nodata
    return valid


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, index of each value in them) of a 1-D array.

    Integer-valued input with a modest range goes through a lookup table
    (O(n)); anything else through ``np.unique`` (a sort).
    """
    if values.size == 0:
        return values[:0], np.zeros(0, dtype=np.intp)
    if values.dtype.kind in "iu" or (values.dtype.kind == "f" and _integral(values)):
        vmin, vmax = values.min(), values.max()
        if vmax - vmin < 2**22:
            # int32 offsets and indices (< 2**22), made by blocks: 4 bytes per value besides the input
            off = np.empty(values.shape, dtype=np.int32)
            for i in range(0, values.size, _BLOCK):
                off[i:i + _BLOCK] = values[i:i + _BLOCK] - vmin
            present = np.bincount(off) > 0
            lut = (np.cumsum(present) - 1).astype(np.int32)
            uniq = np.flatnonzero(present) + vmin
            np.take(lut, off, out=off)
            return uniq.astype(values.dtype), off
    return np.unique(values, return_inverse=True)


_BLOCK = 1 << 20   # values per block of the element-wise passes of _dense


def _integral(values: np.ndarray) -> bool:
    """True when every value is a whole number (by blocks: no full-size temporary)."""
    return all(bool(np.all(np.mod(values[i:i + _BLOCK], 1) == 0)) for i in range(0, values.size, _BLOCK))


def _encode(classes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense class codes 0..K-1 for valid cells and K for nodata; returns (codes, K)."""
    uniq, inv = _dense(classes[valid])
    k = int(uniq.size)
    dtype = np.uint8 if k < 255 else (np.uint16 if k < 65535 else np.int32)
    codes = np.full(classes.shape, k, dtype=dtype)
    codes[valid] = inv
    return codes, k


def _pair_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Single-count ordered 4-neighbour join counts G[a, b] between valid codes (K x K).

    G[a, b] = number of (left, right) and (upper, lower) cell pairs with codes
    (a, b); joins with nodata (code K) are dropped.  G + G.T is FRAGSTATS'
    double-count adjacency matrix; diag(G) is the single-count like joins.
    """
    n = k + 1
    idx_dtype = np.uint16 if n * n < 65536 else np.intp
    a = codes.astype(idx_dtype, copy=False)
    total = np.zeros(n * n, dtype=np.int64)
    for first, second in ((a[:, :-1], a[:, 1:]), (a[:-1, :], a[1:, :])):
        if first.size:
            total += np.bincount((first * n + second).ravel(), minlength=n * n)
    return total.reshape(n, n)[:k, :k]


def _patches(codes: np.ndarray, present: np.ndarray, need_perimeter: bool):
    """Patch areas (cells) and, if asked, patch perimeters (cell sides) of all classes.

    Patches are the 8-connected components of each class (scipy.ndimage.label),
    each labelled inside the bounding box of its class.  The perimeter of a
    patch is 4 a - 2 l, with a its cells and l its like 4-neighbour joins (every
    like join of a class lies inside one patch), so it counts the sides facing
    other classes, nodata and the raster edge.
    """
    areas, perims = [], []
    boxes = ndimage.find_objects(codes.astype(np.int32) + 1, max_label=present.size)
    for c in np.flatnonzero(present):
        sl = boxes[c]
        mask = codes[sl] == c
        lab, n = ndimage.label(mask, structure=_EIGHT)
        area = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        areas.append(area)
        if need_perimeter:
            like = np.zeros(n + 1, dtype=np.int64)
            h = mask[:, :-1] & mask[:, 1:]
            v = mask[:-1, :] & mask[1:, :]
            like += np.bincount(lab[:, :-1][h], minlength=n + 1)
            like += np.bincount(lab[:-1, :][v], minlength=n + 1)
            perims.append(4 * area - 2 * like[1:])
    area = np.concatenate(areas).astype(np.float64)
    perim = np.concatenate(perims).astype(np.float64) if need_perimeter else None
    return area, perim


def _min_edge(cells: int) -> int:
    """Minimum perimeter (cell sides) of ``cells`` cells clumped maximally (Milne 1991).

    n = floor(sqrt(A)), m = A - n^2: 4n if m = 0; 4n + 2 if n^2 < A <= n(n+1);
    4n + 4 otherwise.  Source: FRAGSTATS L-LSI / C-LSI (Bogaert et al. 2000).
    """
    n = math.isqrt(cells)
    if n * n == cells:
        return 4 * n
    return 4 * n + 2 if cells <= n * (n + 1) else 4 * n + 4


def _max_like_joins(cells: np.ndarray) -> np.ndarray:
    """Maximum single-count like joins max-g_ii of a class of ``cells`` cells (He et al. 2000).

    n = floor(sqrt(A_i)), m = A_i - n^2: 2n(n-1) if m = 0; 2n(n-1) + 2m - 1 if
    m <= n; 2n(n-1) + 2m - 2 if m > n.  Source: FRAGSTATS C-AI / L-AI.
    """
    cells = np.asarray(cells, dtype=np.int64)
    n = np.floor(np.sqrt(cells)).astype(np.int64)
    n = np.where((n + 1) ** 2 <= cells, n + 1, n)  # guard the float sqrt
    n = np.where(n * n > cells, n - 1, n)
    m = cells - n * n
    base = 2 * n * (n - 1)
    return np.where(m == 0, base, np.where(m <= n, base + 2 * m - 1, base + 2 * m - 2))


def _metrics_from_codes(codes: np.ndarray, k: int, ps: float, wanted: list[str]) -> dict[str, float]:
    """All requested metrics of one landscape given dense codes (K = nodata)."""
    out = dict.fromkeys(wanted, math.nan)
    counts = np.bincount(codes.ravel(), minlength=k + 1)[:k].astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return out
    present = counts > 0
    n_i = counts[present]
    p_i = n_i / total
    m = int(present.sum())
    a_m2 = total * ps * ps
    want = set(wanted)

    # composition (cell counts)
    if "ta" in want:
        out["ta"] = a_m2 / M2_PER_HA
    if "pr" in want:
        out["pr"] = float(m)
    shdi = float(-np.sum(p_i * np.log(p_i)))
    if "shdi" in want:
        out["shdi"] = shdi
    if "shei" in want and m >= 2:
        out["shei"] = shdi / math.log(m)
    if "sidi" in want:
        out["sidi"] = float(1.0 - np.sum(p_i * p_i))

    # adjacency-based metrics
    if want & {"ed", "lsi", "contag", "ai"}:
        g = _pair_counts(codes, k)[np.ix_(present, present)]
        like = np.diag(g).astype(np.int64)  # single-count like joins g_ii
        sym = g + g.T  # double-count adjacency matrix g_ik
        unlike = int((sym.sum() - np.trace(sym)) // 2)  # E, cell sides between two valid classes
        if "ed" in want:
            out["ed"] = unlike * ps / a_m2 * M2_PER_HA
        if "lsi" in want:
            e_star = int(np.sum(4 * n_i - 2 * like)) - unlike  # each class-class side once
            out["lsi"] = e_star / _min_edge(total)
        if "contag" in want and m >= 2:
            rows = sym.sum(axis=1).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                q = p_i[:, None] * sym / rows[:, None]
                terms = np.where(q > 0, q * np.log(q), 0.0)
            terms[rows == 0, :] = 0.0  # a class without any join carries no adjacency information
            out["contag"] = float((1.0 + terms.sum() / (2.0 * math.log(m))) * 100.0)
        if "ai" in want:
            max_g = _max_like_joins(n_i)
            ok = max_g > 0
            if ok.any():
                out["ai"] = float(np.sum(p_i[ok] * like[ok] / max_g[ok]) * 100.0)

    # patch-based metrics
    if want & _LABEL_METRICS:
        area, perim = _patches(codes, present, "cohesion" in want)
        n_patches = area.size
        if "np" in want:
            out["np"] = float(n_patches)
        if "pd" in want:
            out["pd"] = n_patches / a_m2 * M2_PER_HA * 100.0
        if "lpi" in want:
            out["lpi"] = float(area.max() / total * 100.0)
        if "mesh" in want:
            out["mesh"] = float(np.sum(area * area) * ps * ps / total / M2_PER_HA)
        if "cohesion" in want:
            if total == 1:
                out["cohesion"] = 0.0  # FRAGSTATS: "given as 0 if ... a single nonbackground cell"
            else:
                ratio = perim.sum() / np.sum(perim * np.sqrt(area))
                out["cohesion"] = float((1.0 - ratio) / (1.0 - 1.0 / math.sqrt(total)) * 100.0)
    return out


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def landscape_metrics(
    classes: np.ndarray,
    pixel_size: float,
    metrics: Iterable[str] | None = None,
    *,
    nodata=None,
) -> dict[str, float]:
    """Landscape-level pattern metrics of one landscape (FRAGSTATS definitions).

    Computes, over the valid cells of ``classes`` (A = valid cells x
    pixel_size^2 in m^2, N = patches, a_ij = patch area, P_i = class cell
    count / valid cells, m = classes present)::

        TA   = A / 10^4                                        ha
        NP   = N                                               count
        PD   = N / A x 10^4 x 100                              patches per 100 ha
        ED   = E / A x 10^4, E = edge between valid classes    m/ha
        LPI  = max(a_ij) / A x 100                             %
        LSI  = E* / min E*   (cell sides, boundary included)   -
        MESH = sum(a_ij^2) / A / 10^4                          ha
        PR   = m                                               count
        SHDI = -sum_i P_i ln P_i                               -
        SHEI = SHDI / ln m                                     -
        SIDI = 1 - sum_i P_i^2                                 -
        CONTAG = [1 + sum_i sum_k q_ik ln q_ik / (2 ln m)] x 100,
                 q_ik = P_i g_ik / sum_k g_ik                  %
        COHESION = [1 - sum p*_ij / sum p*_ij sqrt(a*_ij)]
                   x [1 - 1/sqrt(Z)]^-1 x 100                  %
        AI   = sum_i P_i g_ii / max-g_ii x 100                 %

    Edges and adjacencies: ``E`` counts the cell sides shared by two valid
    cells of different classes (landscape boundary and edges to nodata are
    *not* edge).  ``E*`` and the patch perimeters ``p*`` count every side of a
    class cell facing another class, nodata or the raster border (cell-side
    units).  ``min E*`` is the perimeter of the valid cells clumped into one
    near-square (4n, 4n+2 or 4n+4 with n = floor(sqrt(cells))), so LSI =
    0.25 E*/sqrt(A) whenever A is a square number of cells (docs/models/landscape-metrics.md#reference-test-values: 1.625).
    ``g_ik``: double-count 4-neighbour joins between valid cells (like joins
    included, joins to nodata ignored); ``g_ii`` (AI): single-count like
    joins; ``max-g_ii`` = 2n(n-1) [+ 2m - 1 if 0 < m <= n, + 2m - 2 if m > n],
    n = floor(sqrt(A_i)), m = A_i - n^2.  ``a*`` in cells, Z = valid cells.

    Args:
        classes: 2-D array of land-use codes; NaN (float arrays) or the
            ``nodata`` code marks cells outside the landscape.
        pixel_size: side of the square cells, metres.
        metrics: names from :data:`METRICS` to compute (default: all).
            Patch labelling is done only if NP, PD, LPI, MESH or COHESION is
            asked for.
        nodata: optional nodata code (for integer arrays).

    Returns:
        ``{metric: value}`` (Python floats) in :data:`METRICS` order.

    Nodata/undefined: nodata cells are outside the landscape (no area, no
    edge).  Empty landscape -> every metric NaN.  SHEI and CONTAG with fewer
    than two classes -> NaN (FRAGSTATS reports SHEI = 0 there).  AI -> NaN if
    every class is a single cell (classes of one cell, max-g_ii = 0, add 0
    to the sum, as landscapemetrics does).  CONTAG rows of a class without
    any join (isolated single cells between nodata) add 0.  COHESION of a
    one-cell landscape -> 0 (FRAGSTATS).

    Differences to pylandstats 3.1.0 (by convention): pylandstats computes
    SHDI and CONTAG with P_i taken from the adjacency table (row sums of
    g_ik) instead of cell counts — on the docs/models/landscape-metrics.md#reference-test-values example SHDI 1.089208 vs the
    FRAGSTATS 1.082196 returned here.  PD, ED, LPI, LSI, MESH agree with it.

    Source: docs/models/landscape-metrics.md#metrics, docs/models/landscape-metrics.md#reference-test-values; McGarigal, Cushman & Ene, FRAGSTATS v4
    metric documentation (L-level PD, ED, LPI, LSI, MESH, SHDI, SHEI, SIDI,
    CONTAG, COHESION, AI); Li & Reynolds (1993) contagion; Schumaker (1996)
    cohesion; He, DeZonia & Mladenoff (2000) aggregation index.
    """
    arr = np.asarray(classes)
    if arr.ndim != 2:
        raise ValueError(f"classes must be a 2-D array, got shape {arr.shape}")
    ps = _check_pixel_size(pixel_size)
    wanted = _wanted(metrics)
    codes, k = _encode(arr, _valid_mask(arr, nodata))
    return _metrics_from_codes(codes, k, ps, wanted)


def zone_metrics(
    classes: np.ndarray,
    zones: np.ndarray,
    pixel_size: float,
    metrics: Iterable[str] | None = None,
    *,
    nodata=None,
    zone_nodata=None,
) -> dict[int, dict[str, float]]:
    """Landscape-level metrics of every zone (e.g. county), each zone its own landscape.

    For each zone id z the landscape is the set of cells with ``zones == z``
    and a valid class: cells of other zones, of no zone (NaN) and nodata
    classes are treated as *outside* (nodata) — the zone is masked, not just
    clipped to its bounding box (docs/models/landscape-metrics.md#metrics).  So patches are cut at the zone
    border, sides facing other zones are boundary (in LSI/COHESION, not in
    ED), and nothing of a neighbouring zone leaks in.  Work is done on each
    zone's bounding-box slice (``scipy.ndimage.find_objects``).  The values
    equal :func:`landscape_metrics` of ``classes`` with NaN outside the zone.

    Args:
        classes: 2-D array of land-use codes (NaN / ``nodata`` = no data).
        zones: array of the same shape with integer zone ids; NaN (float
            arrays) or ``zone_nodata`` = no zone.
        pixel_size: side of the square cells, metres.
        metrics: names from :data:`METRICS` (default: all).
        nodata: optional nodata code of ``classes`` (integer arrays).
        zone_nodata: optional "no zone" code of ``zones`` (integer arrays).

    Returns:
        ``{zone_id: {metric: value}}`` sorted by zone id.  A zone without any
        valid class cell is not returned.

    Units, formulas and undefined cases: as :func:`landscape_metrics`.

    Source: docs/models/aggregation.md#which-county-a-pixel-counts-for (per-county aggregation), docs/models/landscape-metrics.md#metrics; FRAGSTATS v4
    metric documentation (see :func:`landscape_metrics`).
    """
    arr = np.asarray(classes)
    zarr = np.asarray(zones)
    if arr.ndim != 2:
        raise ValueError(f"classes must be a 2-D array, got shape {arr.shape}")
    if zarr.shape != arr.shape:
        raise ValueError(f"zones shape {zarr.shape} differs from classes shape {arr.shape}")
    ps = _check_pixel_size(pixel_size)
    wanted = _wanted(metrics)

    codes, k = _encode(arr, _valid_mask(arr, nodata))
    zvalid = _valid_mask(zarr, zone_nodata)
    zvals = zarr[zvalid]
    if zvals.dtype.kind == "f" and not np.all(np.mod(zvals, 1) == 0):
        raise ValueError("zone ids must be integers (NaN = no zone)")
    zids, zinv = _dense(zvals)
    zlab = np.zeros(zarr.shape, dtype=np.int32)
    zlab[zvalid] = zinv + 1

    result: dict[int, dict[str, float]] = {}
    for j, sl in enumerate(ndimage.find_objects(zlab), start=1):
        if sl is None:
            continue
        sub = np.where(zlab[sl] == j, codes[sl], codes.dtype.type(k))
        if not np.any(sub != k):
            continue
        result[int(zids[j - 1])] = _metrics_from_codes(sub, k, ps, wanted)
    return result
