"""Classification helpers: class breaks, deficit/surplus ranks, H/L splits, matching types.

Pure numpy (+ ``mapclassify`` for Fisher–Jenks natural breaks, quantiles and
equal intervals; Jenks is not re-implemented here).  Used for the CESD
deficit/surplus classes (``docs/models/ratios.md#deficit-and-surplus-classes), the supply–demand matching
types (docs/models/ratios.md#matching-types) and the resilience High/Low split and five-level scale (docs/models/resilience.md#index-and-classes).

Conventions:

* Class breaks are returned as **upper bounds**, ascending, the last being
  the maximum of the data (mapclassify's convention); a value ``v`` falls in
  the first class whose bound is ``>= v`` (:func:`assign`).
* Nodata is NaN (non-finite values are treated as nodata) and is ignored when
  computing breaks.  Each function documents the code it returns for nodata.
* Everything is deterministic for a given array: Fisher–Jenks is exact, and
  the sample used for large arrays is drawn from the sorted values with a
  seeded generator.
* Problems with what the user configured (method, k, thresholds, eps) raise
  :class:`~restore_db.errors.InputError` naming the offending item.
* mapclassify compiles its Fisher–Jenks function with numba when it is imported
  (about 4 s, in every process that classifies); :func:`import_mapclassify` has
  numba keep the compiled code in :func:`numba_cache_dir`, so only the first
  process on a machine (and the first after mapclassify or numba change)
  compiles it. The compiled code is the same, cached or not.

Citations point to the model pages of ``docs/models/``;
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from restore_db.stages.resilience.weights import zscore
from restore_db.errors import InputError

__all__ = [
    "BREAK_METHODS",
    "NODATA_RANK",
    "BALANCE_LABELS",
    "LEVEL_NAMES",
    "breaks",
    "assign",
    "balance_classes",
    "balance_label",
    "two_level",
    "five_levels",
    "matching_types",
]

#: Methods accepted by :func:`breaks`.
BREAK_METHODS = ("natural_breaks", "quantiles", "equal_interval", "fixed")

#: int8 code of :func:`balance_classes` for nodata units (caller maps it to NULL).
NODATA_RANK = -128

#: Labels of the signed deficit/surplus ranks for the default k = 4 (docs/models/ratios.md#deficit-and-surplus-classes).
BALANCE_LABELS: dict[int, str] = {
    -4: "high deficit",
    -3: "medium-high deficit",
    -2: "medium deficit",
    -1: "low deficit",
    0: "balance",
    1: "low surplus",
    2: "medium surplus",
    3: "medium-high surplus",
    4: "high surplus",
}

#: Names of the five reporting levels 1..5 of :func:`five_levels` (docs/models/resilience.md#index-and-classes).
LEVEL_NAMES = ("low", "relatively low", "medium", "relatively high", "high")


# ---------------------------------------------------------------------------
# mapclassify, its numba code compiled once per machine
# ---------------------------------------------------------------------------


def numba_cache_dir() -> Path:
    """Where numba keeps the compiled code of mapclassify: ``$XDG_CACHE_HOME/restore-db/numba`` (by default
    ``~/.cache/restore-db/numba``), unless ``NUMBA_CACHE_DIR`` names another folder. Deleting it is harmless: the
    next classification compiles again."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "restore-db" / "numba"


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def import_mapclassify() -> ModuleType:
    """``import mapclassify``, with its numba functions compiled once and then read from :func:`numba_cache_dir`.

    mapclassify declares its Fisher–Jenks function with an explicit signature and no ``cache=True``, so numba
    compiles it while mapclassify is imported, in every process. While mapclassify is imported here, ``numba.njit``
    adds ``cache=True`` and numba's cache folder is :func:`numba_cache_dir`; both are restored afterwards, so the
    numba functions of other libraries (pyflwdir, pyguidos ...) keep their own settings. numba checks that a cached function matches the
    source file (its time stamp and size) and the machine before it uses it, and compiles again otherwise. Without
    numba, or when the folder cannot be written, mapclassify is imported as it is.
    """
    if "mapclassify" in sys.modules:
        return sys.modules["mapclassify"]
    try:
        import numba
        from numba.core import config as numba_config
    except ImportError:        # mapclassify then runs its pure-Python Fisher–Jenks
        numba = None
    folder = numba_cache_dir()
    if numba is None or not _writable_folder(folder):
        import mapclassify

        return mapclassify
    njit, cache_dir = numba.njit, numba_config.CACHE_DIR

    def cached_njit(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return njit(*args, **kwargs)

    numba.njit, numba_config.CACHE_DIR = cached_njit, str(folder)
    try:
        import mapclassify
    finally:
        numba.njit, numba_config.CACHE_DIR = njit, cache_dir
    return mapclassify


# ---------------------------------------------------------------------------
# breaks and assignment
# ---------------------------------------------------------------------------


def _finite(values) -> np.ndarray:
    """Flattened finite float64 values (NaN/±inf dropped)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"number of classes k must be an integer >= 1, got {k!r}")
    return int(k)


def _fixed_bounds(v: np.ndarray, thresholds, what: str = "thresholds") -> np.ndarray:
    """Bounds for user thresholds: the cut points plus a last bound >= the data max."""
    if thresholds is None:
        raise InputError(f"method 'fixed' needs {what} (a list of increasing cut points)")
    try:
        t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a list of numbers, got {thresholds!r}") from None
    if t.ndim != 1 or t.size == 0:
        raise InputError(f"{what} must be a non-empty list of numbers, got {thresholds!r}")
    if not np.isfinite(t).all():
        raise InputError(f"{what} must be finite numbers, got {t.tolist()}")
    if t.size > 1 and not (np.diff(t) > 0).all():
        raise InputError(f"{what} must be strictly increasing, got {t.tolist()}")
    top = float(t[-1]) if v.size == 0 else max(float(v.max()), float(t[-1]))
    return np.append(t, top)


def breaks(
    values: np.ndarray,
    k: int,
    method: str = "natural_breaks",
    thresholds=None,
    sample: int = 20000,
    seed: int = 0,
) -> np.ndarray:
    """Upper bounds of ``k`` classes of ``values`` (ascending; last = max).

    Methods:

    * ``"natural_breaks"`` — Fisher–Jenks optimal partition (minimum total
      within-class sum of squared deviations; ``mapclassify.FisherJenks``).
      When there are more than ``sample`` finite values, the breaks are
      computed on a deterministic sample: the values are sorted, and
      ``sample - 2`` of the interior ones are drawn without replacement with
      ``np.random.default_rng(seed)``; the minimum and maximum are always
      included (so the last bound is still the data max).  The result
      depends only on the multiset of values, not on their order.
      (``mapclassify.FisherJenksSampled`` is not used: it draws from the
      global, unseeded RNG.)
    * ``"quantiles"`` — ``mapclassify.Quantiles`` (linear-interpolated
      percentiles at 100·i/k).
    * ``"equal_interval"`` — ``mapclassify.EqualInterval`` (k classes of width
      (max − min)/k).
    * ``"fixed"`` — user ``thresholds``: the **cut points** between classes,
      strictly increasing and finite; ``k`` is ignored and inferred as
      ``len(thresholds) + 1``.  Bounds = thresholds + [max(data max, last
      threshold)], i.e. the top class is open-ended (``> last threshold``).
      When no value exceeds the last threshold the top class is empty and
      its bound repeats the last threshold (bounds then non-decreasing).

    Edge rules: non-finite values are ignored; no finite value → empty
    array (for ``"fixed"``: the thresholds plus the last one repeated); a
    single distinct value → one class ``[value]``.  Fewer classes than ``k``
    can result, so callers must use ``len(result)`` as the number of
    classes:

    * natural breaks with ``u <= k`` distinct values → ``u`` classes whose
      bounds are the distinct values (the optimal partition);
    * quantiles: coinciding percentiles (ties) are merged;
    * equal intervals depend only on min and max, so with few distinct
      values some of the ``k`` classes are simply empty (no merging).

    Units: those of ``values``.

    Source: docs/models/ratios.md#deficit-and-surplus-classes ("Jenks: Fisher–Jenks optimal partition
    (mapclassify FisherJenks) … deterministic for a given array"), docs/models/resilience.md#index-and-classes;
    Fisher (1958) J. Am. Stat. Assoc. 53; Jenks (1967).
    """
    if method not in BREAK_METHODS:
        raise InputError(f"unknown classification method {method!r}; use one of {BREAK_METHODS}")
    v = _finite(values)
    if method == "fixed":
        return _fixed_bounds(v, thresholds)
    if thresholds is not None:
        raise InputError(f"thresholds are only used with method 'fixed', not {method!r}")
    k = _check_k(k)
    if v.size == 0:
        return np.empty(0, dtype=np.float64)
    uniq = np.unique(v)
    if uniq.size == 1 or (method == "natural_breaks" and uniq.size <= k):
        return uniq.astype(np.float64)
    mapclassify = import_mapclassify()  # deferred: pulls in scipy, scikit-learn and matplotlib, slow to import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if method == "natural_breaks":
            if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < max(k, 2):
                raise InputError(f"natural-breaks sample size must be an integer >= max(k, 2), got {sample!r}")
            if v.size > sample:
                s = np.sort(v)
                rng = np.random.default_rng(seed)
                inner = rng.choice(s.size - 2, size=int(sample) - 2, replace=False) + 1
                v = np.concatenate([s[:1], s[np.sort(inner)], s[-1:]])
                if np.unique(v).size <= k:
                    return np.unique(v).astype(np.float64)
            bins = mapclassify.FisherJenks(v, k=k).bins
        elif method == "quantiles":
            bins = mapclassify.Quantiles(v, k=k).bins
        else:
            bins = mapclassify.EqualInterval(v, k=k).bins
    bins = np.unique(np.asarray(bins, dtype=np.float64))
    bins[-1] = float(v.max())  # exact max (guards interpolation rounding)
    return bins


def assign(values, upper_bounds) -> np.ndarray:
    """Class index 0..k-1 of each value for ascending upper bounds.

    Rule (mapclassify convention): class ``i`` holds ``bounds[i-1] < v <=
    bounds[i]`` (class 0: ``v <= bounds[0]``).  Values above the last bound
    (e.g. classifying another year with this year's bounds) go to the last
    class; ``-inf`` goes to class 0.  NaN → ``-1``.  Returns an int64 array of
    the shape of ``values``.  Empty ``upper_bounds`` with any non-NaN value →
    :class:`InputError`.

    Source: docs/models/ratios.md#deficit-and-surplus-classes, docs/models/resilience.md#index-and-classes (mapclassify ``find_bin`` semantics).
    """
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(upper_bounds, dtype=np.float64).ravel()
    nan = np.isnan(v)
    if b.size == 0:
        if (~nan).any():
            raise InputError("cannot assign classes: no class bounds (no valid data to classify)")
        return np.full(v.shape, -1, dtype=np.int64)
    if (np.diff(b) < 0).any():
        raise InputError(f"class bounds must be ascending, got {b.tolist()}")
    idx = np.searchsorted(b, np.where(nan, 0.0, v), side="left")
    idx = np.minimum(idx, b.size - 1)
    return np.where(nan, -1, idx).astype(np.int64)


# ---------------------------------------------------------------------------
# deficit / surplus classes (docs/models/ratios.md#deficit-and-surplus-classes)
# ---------------------------------------------------------------------------


def balance_classes(
    values: np.ndarray,
    eps: float = 0.0,
    k: int = 4,
    method: str = "natural_breaks",
    thresholds=None,
    sample: int = 20000,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Signed deficit/surplus ranks of a supply–demand index (CESD or ESDR).

    Rule::

        |v| <= eps          → 0                       (balance)
        v < -eps            → -1 … -k by the class of |v| among the deficit
                              magnitudes (-1 = low deficit, -k = high deficit)
        v >  eps            → +1 … +k by the class of v among the surplus
                              values (+1 = low surplus, +k = high surplus)
        NaN                 → NODATA_RANK (-128; the caller stores NULL)

    The two sides are classified **separately** with :func:`breaks` (same
    ``k``/``method``/``sample``/``seed``): on the magnitudes ``|v|`` of the
    deficit values and on the surplus values, so neither side's bounds
    depend on the other.  For ``method="fixed"``, ``thresholds`` is
    ``{"deficit": [...], "surplus": [...]}``, each a list of exactly
    ``k - 1`` increasing cut points in magnitude (positive) units (checked,
    so that the ``k`` labels of :func:`balance_label` fit); the top class of
    each side is open-ended.  A side with fewer distinct values than
    ``k`` gets fewer classes (ranks ±1 … ±u; see :func:`breaks`), so the
    number of classes actually used is ``len(details["deficit_bounds"])``.

    ``eps >= 0`` is the balance tolerance (default 0: only exact zeros are
    balance; docs/models/ratios.md#deficit-and-surplus-classes advises e.g. 0.01 for float data).  ``k`` must be <= 127
    (int8).  Units: ``values`` dimensionless (CESD ∈ (−2, 2)); bounds in the
    same units.

    Returns ``(ranks, details)``: ``ranks`` int8 of the shape of ``values``;
    ``details = {"deficit_bounds": [...], "surplus_bounds": [...], "eps",
    "method", "k"}`` with deficit bounds as ascending **magnitudes** (upper
    bounds of ranks -1, -2, …) and surplus bounds as ascending values.

    Source: docs/models/ratios.md#deficit-and-surplus-classes (project decision).
    """
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"balance tolerance eps must be a finite number >= 0, got {eps!r}")
    if method not in BREAK_METHODS:
        raise InputError(f"unknown classification method {method!r}; use one of {BREAK_METHODS}")
    if method == "fixed":
        if not isinstance(thresholds, Mapping) or set(thresholds) != {"deficit", "surplus"}:
            raise InputError(
                "method 'fixed' needs thresholds = {'deficit': [...], 'surplus': [...]} "
                f"(cut points in magnitude units), got {thresholds!r}"
            )
        t_def, t_sur = thresholds["deficit"], thresholds["surplus"]
        k = _check_k(k)
        for side, t in (("deficit", t_def), ("surplus", t_sur)):
            n_cut = np.size(t) if t is not None else 0
            if n_cut != k - 1:
                raise InputError(
                    f"fixed {side} thresholds must be k - 1 = {k - 1} increasing cut points "
                    f"for k = {k} classes, got {n_cut}: {t!r}"
                )
    else:
        if thresholds is not None:
            raise InputError(f"thresholds are only used with method 'fixed', not {method!r}")
        k = _check_k(k)
        if k > 127:
            raise InputError(f"at most 127 classes per side are supported, got k = {k}")
        t_def = t_sur = None
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isinf(v), np.nan, v)
    nan = np.isnan(v)
    with np.errstate(invalid="ignore"):
        deficit = ~nan & (v < -eps)
        surplus = ~nan & (v > eps)
    try:
        b_def = breaks(-v[deficit], k, method, t_def, sample, seed)
    except InputError as exc:
        raise InputError(f"deficit classes: {exc}") from None
    try:
        b_sur = breaks(v[surplus], k, method, t_sur, sample, seed)
    except InputError as exc:
        raise InputError(f"surplus classes: {exc}") from None
    if max(b_def.size, b_sur.size) > 127:
        raise InputError("at most 127 classes per side are supported")
    ranks = np.zeros(v.shape, dtype=np.int8)
    ranks[nan] = NODATA_RANK
    if deficit.any():
        ranks[deficit] = -(assign(-v[deficit], b_def) + 1)
    if surplus.any():
        ranks[surplus] = assign(v[surplus], b_sur) + 1
    details = {
        "deficit_bounds": b_def.tolist(),
        "surplus_bounds": b_sur.tolist(),
        "eps": eps,
        "method": method,
        "k": k,
    }
    return ranks, details


def balance_label(rank: int, k: int = 4) -> str | None:
    """Label of a signed rank of :func:`balance_classes`.

    ``k = 4`` uses :data:`BALANCE_LABELS` ("low/medium/medium-high/high
    deficit|surplus", 0 = "balance").  Other ``k`` give generic labels
    ``"deficit class i of k"`` / ``"surplus class i of k"`` (i = 1 lowest
    magnitude).  :data:`NODATA_RANK` → None.  ``|rank| > k`` →
    :class:`InputError`.

    Source: docs/models/ratios.md#deficit-and-surplus-classes.
    """
    k = _check_k(k)
    rank = int(rank)
    if rank == NODATA_RANK:
        return None
    if rank == 0:
        return "balance"
    if abs(rank) > k:
        raise InputError(f"balance rank {rank} is outside -{k}..{k}")
    if k == 4:
        return BALANCE_LABELS[rank]
    side = "deficit" if rank < 0 else "surplus"
    return f"{side} class {abs(rank)} of {k}"


# ---------------------------------------------------------------------------
# resilience splits (docs/models/resilience.md#index-and-classes)
# ---------------------------------------------------------------------------


def two_level(values, method: str = "mean") -> np.ndarray:
    """High/Low split: ``"H"`` if value >= threshold else ``"L"``; NaN → None.

    Thresholds over the finite values: ``"mean"`` (default, docs/models/resilience.md#index-and-classes),
    ``"median"``, or ``"natural_breaks"`` (Fisher–Jenks k = 2: H = the upper
    class, i.e. value > first upper bound).  Constant input (a single
    distinct value) → every valid unit is ``"H"`` for all methods (value >=
    threshold), independently of rounding in the mean.  Returns an object
    array of the shape of ``values``.

    Source: docs/models/resilience.md#index-and-classes ("High if ER_u ≥ mean(ER) else Low; alternatives:
    median, Jenks k = 2").
    """
    if method not in ("mean", "median", "natural_breaks"):
        raise InputError(
            f"unknown two-level method {method!r}; use 'mean', 'median' or 'natural_breaks'"
        )
    x = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(x)
    out = np.full(x.shape, None, dtype=object)
    if not valid.any():
        return out
    v = x[valid]
    if v.min() == v.max():
        high = np.ones(v.shape, dtype=bool)
    elif method == "mean":
        high = v >= np.mean(v)
    elif method == "median":
        high = v >= np.median(v)
    else:
        b = breaks(v, 2, "natural_breaks")
        high = v > b[0]
    out[valid] = np.where(high, "H", "L")
    return out


def five_levels(values, method: str = "natural_breaks") -> np.ndarray:
    """Five-level reporting scale 1..5 (:data:`LEVEL_NAMES`: low … high).

    Breaks by :func:`breaks` with k = 5 and ``method`` in
    ``"natural_breaks"`` (default, docs/models/resilience.md#index-and-classes), ``"quantiles"``,
    ``"equal_interval"``; level = class index + 1.  With natural breaks and
    ``u < 5`` distinct values only levels 1..u are used (and with merged
    quantile ties, fewer levels too; see :func:`breaks`); equal intervals
    always span levels 1..5 (some may be empty).  NaN → 0.  Returns int64
    of the shape of ``values``.

    Source: docs/models/resilience.md#index-and-classes ("Five-level reporting scale (optional): Jenks
    k = 5").
    """
    if method not in ("natural_breaks", "quantiles", "equal_interval"):
        raise InputError(
            f"unknown five-level method {method!r}; "
            "use 'natural_breaks', 'quantiles' or 'equal_interval'"
        )
    x = np.asarray(values, dtype=np.float64)
    x = np.where(np.isinf(x), np.nan, x)
    b = breaks(x, 5, method)
    if b.size == 0:
        return np.zeros(x.shape, dtype=np.int64)
    return assign(x, b) + 1  # NaN: -1 + 1 = 0


# ---------------------------------------------------------------------------
# supply–demand matching types (docs/models/ratios.md#matching-types)
# ---------------------------------------------------------------------------


def matching_types(supply, demand, method: str = "zscore") -> np.ndarray:
    """Supply–demand quadrant per unit: ``'HH'``, ``'LH'``, ``'LL'`` or ``'HL'``.

    First letter = supply, second = demand.  Methods:

    * ``"zscore"`` (alias ``"zscore_mean"``, the domain's name; default):
      High if ``z > 0`` with z = :func:`zscore` (population sd); ties at
      exactly 0 — including every unit of a constant variable — are Low.
      Equivalent to ``value > mean``.
    * ``"median"``: High if ``value > median`` (ties at the median are Low).

    Each variable is standardised/thresholded over its own valid units.
    A unit with NaN in either input → None.  ``supply`` and ``demand`` must
    have the same shape; the result is an object array of that shape.

    Source: docs/models/ratios.md#matching-types, worked example docs/models/ratios.md#reference-test-values.
    """
    s = np.asarray(supply, dtype=np.float64)
    d = np.asarray(demand, dtype=np.float64)
    if s.shape != d.shape:
        raise InputError(f"supply shape {s.shape} differs from demand shape {d.shape}")
    s = np.where(np.isinf(s), np.nan, s)
    d = np.where(np.isinf(d), np.nan, d)
    if method in ("zscore", "zscore_mean"):
        hs = zscore(s) > 0
        hd = zscore(d) > 0
    elif method == "median":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
            hs = s > np.nanmedian(s) if (~np.isnan(s)).any() else np.zeros(s.shape, bool)
            hd = d > np.nanmedian(d) if (~np.isnan(d)).any() else np.zeros(d.shape, bool)
    else:
        raise InputError(f"unknown matching method {method!r}; use 'zscore' or 'median'")
    out = np.full(s.shape, None, dtype=object)
    valid = ~np.isnan(s) & ~np.isnan(d)
    labels = np.char.add(np.where(hs, "H", "L"), np.where(hd, "H", "L"))
    out[valid] = labels[valid]
    return out
