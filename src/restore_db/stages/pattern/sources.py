"""Ecological sources (docs/models/pattern.md#ecological-sources): ecosystem-service importance, its most important
share, the core of the natural foreground (MSPA Core: the JRC's MSPA when the optional extra ``restore-db[mspa]`` is
installed, else binary erosion), and source patches. Arrays in, arrays out; NaN is nodata.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from types import ModuleType

import numpy as np
from scipy import ndimage

from restore_db.errors import InputError
from restore_db.kernels import formulas

EIGHT = np.ones((3, 3), dtype=bool)     # 8-connectivity, as MSPA's default foreground connectivity

CORE_METHODS = ("auto", "erosion", "mspa")
MSPA_INSTALL = "pip install 'restore-db[mspa]'"
MSPA_CORE_CLASSES = (17, 117)           # MSPA Core, external and internal (inside a hole of another core)
_MSPA_ENGINE = "pyguidos._mspa._mspa"   # pyguidos' compiled MSPA: miallib's segmentBinaryPatterns on a uint8 array


def importance(services: Mapping[str, np.ndarray], weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Ecosystem-service importance: the weighted sum of the services, each min–max scaled over its valid cells.

    Args:
        services: name -> (H, W) supply layer (water yield, soil conservation, carbon, habitat quality ...), NaN nodata.
        weights: name -> weight (summing to 1); default equal weights.
    Returns:
        (H, W) float64 in [0, 1]; NaN where any service is nodata.
    Raises:
        ValueError: no service, weights that do not name the services or do not sum to 1, shapes that differ.
    Source: docs/models/pattern.md#ecological-sources.
    """
    if not services:
        raise ValueError("importance needs at least one service")
    names = list(services)
    w = {n: 1.0 / len(names) for n in names} if weights is None else dict(weights)
    if set(w) != set(names) or abs(sum(w.values()) - 1.0) > 1e-9:
        raise ValueError(f"weights must name the services {names} and sum to 1")
    shapes = {np.shape(a) for a in services.values()}
    if len(shapes) != 1:
        raise ValueError(f"the service layers differ in shape: {sorted(shapes)}")
    scaled = []
    for name in names:
        x = np.asarray(services[name], dtype=np.float64)
        valid = np.isfinite(x)
        lo, hi = (x[valid].min(), x[valid].max()) if valid.any() else (np.nan, np.nan)
        scaled.append(formulas.minmax_scale(x, lo, hi))
    return formulas.weighted_mean(scaled, [w[n] for n in names])


def entropy_weights(services: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Entropy weights of the services over the cells where all are valid, each min–max scaled first
    (:func:`restore_db.stages.resilience.weights.entropy_weights`, the one entropy method of restore-db).

    Args:
        services: name -> (H, W) layer, NaN nodata.
    Returns:
        name -> weight (summing to 1).
    Raises:
        InputError: fewer than two valid cells, or no service varies.
    Source: docs/models/pattern.md#ecological-sources; docs/models/resilience.md (entropy weights).
    """
    from restore_db.stages.resilience.weights import entropy_weights as entropy

    names = list(services)
    stack = np.stack([np.asarray(services[n], dtype=np.float64).ravel() for n in names], axis=1)
    valid = np.isfinite(stack).all(axis=1)
    x = stack[valid]
    w, _ = entropy(np.asarray(formulas.minmax_scale(x, x.min(axis=0), x.max(axis=0))))
    return dict(zip(names, (float(v) for v in w)))


def top_classes(values: np.ndarray, classes: int = 5, top: int = 1) -> np.ndarray:
    """The most important cells by natural breaks: the ``top`` highest of ``classes`` Fisher–Jenks classes of the
    valid values (:func:`restore_db.stages.classify.breaks`; "extremely important" is the top class, "highly
    important" the next).

    Args:
        values: (H, W) float, NaN nodata.
        classes: number of classes (>= 2).
        top: number of top classes taken (1 .. classes - 1).
    Returns:
        (H, W) bool.
    Raises:
        ValueError: ``top`` outside 1 .. classes - 1.
    Source: docs/models/pattern.md#ecological-sources.
    """
    from restore_db.stages.classify import breaks

    if not 1 <= top < classes:
        raise ValueError(f"top must be between 1 and {classes - 1}, not {top!r}")
    v = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(v)
    out = np.zeros(v.shape, dtype=bool)
    if valid.sum() < classes:
        return out
    bounds = breaks(v[valid], classes, "natural_breaks")
    out[valid] = v[valid] > bounds[classes - top - 1]
    return out


def top_share(values: np.ndarray, share: float) -> np.ndarray:
    """The most important cells: those that, taken from the highest value down, hold the first ``share`` of the
    total value (the "top x % of cumulative value" rule).

    Args:
        values: (H, W) float >= 0, NaN nodata.
        share: in (0, 1].
    Returns:
        (H, W) bool.
    Raises:
        ValueError: a share outside (0, 1].
    Source: docs/models/pattern.md#ecological-sources.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share!r}")
    v = np.asarray(values, dtype=np.float64)
    flat = np.where(np.isfinite(v), v, 0.0).ravel()
    order = np.argsort(-flat, kind="stable")
    cum = np.cumsum(flat[order])
    total = cum[-1] if len(cum) else 0.0
    out = np.zeros(flat.shape, dtype=bool)
    if total > 0:
        # a cell is taken when the value before it has not yet reached the share
        before = cum - flat[order]
        out[order[(before < share * total) & (flat[order] > 0)]] = True
    return out.reshape(v.shape)


class MspaNotInstalled(InputError, ImportError):
    """MSPA asked for (``method="mspa"``) but pyguidos, the optional extra ``restore-db[mspa]``, is not installed."""


def mspa_available() -> bool:
    """Whether the JRC's MSPA can run: pyguidos (``pip install 'restore-db[mspa]'``) is installed and its compiled
    engine loads.

    Returns:
        True or False; never raises.
    Source: docs/models/pattern.md#ecological-sources.
    """
    return _mspa_engine() is not None


@functools.cache
def _mspa_engine() -> ModuleType | None:
    """pyguidos' compiled MSPA engine (``pyguidos._mspa._mspa``), or None when pyguidos is absent or broken.

    The extension module (it needs only numpy) is loaded from pyguidos' folder without running ``pyguidos/__init__``:
    that import takes 4–5 s (about 30 s the first time, when it compiles its numba kernels), imports matplotlib and
    geopandas, and sets ``NUMBA_THREADING_LAYER`` for the whole process, none of which the engine needs. Nothing is
    imported until MSPA is asked for or :func:`mspa_available` is called.
    """
    module = sys.modules.get(_MSPA_ENGINE)
    if module is None:
        try:
            spec = importlib.util.find_spec("pyguidos")      # locates the package, does not import it
            folders = list(spec.submodule_search_locations or []) if spec is not None else []
            path = next((p for folder in folders for suffix in importlib.machinery.EXTENSION_SUFFIXES
                         if os.path.isfile(p := os.path.join(folder, "_mspa", "_mspa" + suffix))), None)
            if path is None:
                return None
            loader = importlib.machinery.ExtensionFileLoader(_MSPA_ENGINE, path)
            engine_spec = importlib.util.spec_from_file_location(_MSPA_ENGINE, path, loader=loader)
            module = importlib.util.module_from_spec(engine_spec)
            loader.exec_module(module)
        except (ImportError, OSError, ValueError):
            return None
    return module if callable(getattr(module, "mspa", None)) else None


@contextlib.contextmanager
def _c_stdout_silenced() -> Iterator[None]:
    """Send what C code prints to file descriptor 1 to /dev/null while the block runs.

    miallib prints its warnings with C ``printf`` (e.g. "WARNING in generic_arith(...): N over- and underflow(s)",
    the expected saturation of its uint8 arithmetic), and stdout is where restore-db writes data.
    """
    try:
        libc = ctypes.CDLL(None)
        if sys.stdout is not None:
            sys.stdout.flush()
        libc.fflush(None)
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError, TypeError):    # no libc to flush (Windows), no descriptor 1
        saved = None
    if saved is None:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def core(foreground: np.ndarray, edge_width: int, method: str = "auto") -> np.ndarray:
    """MSPA Core of the foreground: the foreground cells farther than the edge width from the background.

    Methods:
        ``"mspa"``: the JRC's MSPA (GuidosToolbox; Soille & Vogt 2009) through pyguidos, the optional extra
            ``pip install 'restore-db[mspa]'`` (GPL-3.0): foreground connectivity 8, the given edge width,
            transition on, intext off; Core is the classes 17 and 117. A cell is Core when its Euclidean distance to
            the nearest background cell exceeds ``edge_width + 0.98`` cells.
        ``"erosion"``: the foreground eroded ``edge_width`` times by the 3 × 3 square (8-connectivity): Core when no
            background cell lies in the (2 × edge_width + 1)² square around the cell.
        ``"auto"``: ``"mspa"`` when :func:`mspa_available`, else ``"erosion"``.

    The two are equal, cell for cell, for edge widths 1 and 2 (the Euclidean disk of radius ``edge_width + 0.98`` is
    then the square); from 3 on, MSPA's Core is a superset: a cell whose nearest background lies towards a corner of
    the square, e.g. 3 cells across and 3 down at edge width 3 (distance 4.24 > 3.98), is MSPA Core but eroded.

    Grid border and nodata, the same in both: cells beyond the grid count as foreground (the study area is cut from a
    larger landscape), and nodata cells inside it count as background (the caller passes them as False). Erosion
    does this with ``border_value=1``. MSPA extends the grid by repeating its border cells outwards, which for Core is
    the same (a repeated background cell is never nearer than the border cell it repeats), and every cell not
    foreground goes to MSPA as background (1), never as MSPA's "missing" (0), which MSPA would treat as foreground.

    Args:
        foreground: (H, W) bool, natural land (forest, grassland, water and wetland by default).
        edge_width: edge width in cells (>= 1).
        method: ``"auto"``, ``"erosion"`` or ``"mspa"``.
    Returns:
        (H, W) bool.
    Raises:
        ValueError: an edge width below 1 or not whole, an unknown method.
        MspaNotInstalled: ``method="mspa"`` without pyguidos (an :class:`~restore_db.errors.InputError` and an
            ``ImportError``; its message names ``pip install 'restore-db[mspa]'``).
    Source: docs/models/pattern.md#ecological-sources (Soille & Vogt 2009, MSPA).
    """
    if int(edge_width) != edge_width or edge_width < 1:
        raise ValueError(f"edge width must be a whole number of cells >= 1, not {edge_width!r}")
    if method not in CORE_METHODS:
        raise ValueError(f"the core method must be one of {', '.join(CORE_METHODS)}, not {method!r}")
    fg = np.asarray(foreground, dtype=bool)
    engine = _mspa_engine() if method in ("auto", "mspa") else None
    if method == "mspa" and engine is None:
        raise MspaNotInstalled(f"the MSPA core method needs pyguidos, the optional extra of restore-db: {MSPA_INSTALL} "
                               "(or choose the erosion method)")
    if method == "mspa" and fg.ndim != 2:
        raise ValueError(f"MSPA needs a 2-D grid, not shape {fg.shape}")
    if engine is None or fg.ndim != 2 or fg.size == 0:
        return ndimage.binary_erosion(fg, structure=EIGHT, iterations=int(edge_width), border_value=1)
    coded = np.where(fg, np.uint8(2), np.uint8(1))          # 2 foreground, 1 background, never 0 (missing)
    with _c_stdout_silenced():
        classes, _ = engine.mspa(coded, float(edge_width), 8, 1, 0)
    return np.isin(classes, MSPA_CORE_CLASSES)


def patches(mask: np.ndarray, cell_area_m2: float, min_area_m2: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """Source patches: the 8-connected components of ``mask`` of at least ``min_area_m2``, numbered 1..n by
    decreasing area (ties by position).

    Args:
        mask: (H, W) bool.
        cell_area_m2: area of one cell (m²).
        min_area_m2: smallest patch kept (m²).
    Returns:
        (labels, areas): (H, W) int32 with 0 outside the patches, and the area (m²) of patch k at index k - 1.
    Source: docs/models/pattern.md#ecological-sources.
    """
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=EIGHT)
    if n == 0:
        return np.zeros(labels.shape, dtype=np.int32), []
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    first = ndimage.minimum(np.arange(labels.size).reshape(labels.shape), labels, index=np.arange(1, n + 1))
    keep = [k for k in range(n) if counts[k] * cell_area_m2 >= min_area_m2]
    keep.sort(key=lambda k: (-counts[k], first[k]))
    remap = np.zeros(n + 1, dtype=np.int32)
    for new, k in enumerate(keep, start=1):
        remap[k + 1] = new
    return remap[labels], [float(counts[k] * cell_area_m2) for k in keep]
