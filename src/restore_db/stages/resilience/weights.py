"""Indicator normalisation, weighting (entropy, CRITIC, AHP) and composite index.

Pure numpy functions used by the resilience index (``docs/models/resilience.md#ecosystem-resilience) and
the weighted CESD (docs/models/ratios.md#cesd).  Nothing here touches the database.

Conventions:

* An indicator matrix ``X`` has shape ``(m, n)``: ``m`` spatial units
  (counties) in rows, ``n`` indicators in columns.
* Weight vectors are float64 arrays of length ``n`` that are non-negative and
  sum to 1 (checked by :func:`check_weights`).
* Nodata is NaN.  Functions that cannot give a meaningful answer with missing
  values (the weighting methods) raise :class:`~restore_db.errors.InputError`
  instead of silently dropping units.
* Problems with what the user configured (a direction, a pairwise matrix, a
  set of weights, a combination method) raise
  :class:`~restore_db.errors.InputError` with a message that names the
  offending item.

Citations point to the model pages of ``docs/models/``; the worked example
of docs/models/resilience.md#reference-test-values is reproduced in ``tests/stages/test_weights.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from restore_db.errors import InputError
from restore_db.kernels import formulas

__all__ = [
    "RANDOM_INDEX",
    "normalise",
    "zscore",
    "entropy_weights",
    "critic_weights",
    "ahp_weights",
    "combine",
    "check_weights",
    "composite",
]

#: Saaty's random consistency index RI for n = 1 … 15 (index 0 is n = 1).
#: n = 1 … 10 as in docs/models/resilience.md#weights; n = 11 … 15 from Saaty's extended table
#: (Saaty T.L., 1980, *The Analytic Hierarchy Process*, McGraw-Hill; the same
#: 15 values are the ones commonly reproduced in AHP software).  The dip at
#: n = 12 (1.48 < 1.51) is in the published table and kept as is.
RANDOM_INDEX: tuple[float, ...] = (
    0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49,
    1.51, 1.48, 1.56, 1.57, 1.59,
)

_SUM_TOL = 1e-6


# ---------------------------------------------------------------------------
# private helpers
# ---------------------------------------------------------------------------


def _matrix(X, what: str = "indicator matrix") -> np.ndarray:
    """``X`` as a 2-D float64 array ``(m, n)`` without NaN/inf, else InputError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise InputError(f"{what} must be 2-D (units x indicators), got shape {X.shape}")
    m, n = X.shape
    if m < 2 or n < 1:
        raise InputError(f"{what} needs at least 2 units and 1 indicator, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"{what} contains {int(bad.sum())} missing/non-finite value(s) "
            f"(first at unit row {i}, indicator column {j}); "
            "weights cannot be computed with nodata — fill or drop those units first"
        )
    return X


def _labels(labels, n: int) -> list[str]:
    """Labels as strings (``indicator 0``, … when none are given)."""
    if labels is None:
        return [f"indicator {j}" for j in range(n)]
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise InputError(f"{len(labels)} labels given for {n} weights: {labels}")
    return labels


# ---------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------


def normalise(x: np.ndarray, direction: int) -> tuple[np.ndarray, bool]:
    """Min–max normalisation of one indicator over the units, by direction.

    Formula::

        direction = +1 (positive indicator):  x' = (x - min) / (max - min)
        direction = -1 (negative indicator):  x' = (max - x) / (max - min)

    ``min`` and ``max`` are taken over the finite values of ``x`` (all units of
    the study area).  Units: the result is dimensionless, in [0, 1].

    Nodata/edge rules:

    * NaN stays NaN and is ignored in min/max.
    * ``max == min`` (constant indicator, including a single valid unit) →
      every valid unit gets 0 and the second return value ``constant`` is
      True; the caller emits the warning (docs/models/conventions.md#normalisation).  All-NaN input → all NaN,
      ``constant`` True.
    * ``direction`` other than +1/-1 → :class:`InputError`.

    Returns ``(x_normalised, constant)``; ``x_normalised`` has the shape of
    ``x``.

    Source: docs/models/conventions.md#normalisation, docs/models/resilience.md#normalisation.
    """
    if direction not in (1, -1) or isinstance(direction, bool):
        raise InputError(f"indicator direction must be +1 or -1, got {direction!r}")
    x = np.asarray(x, dtype=np.float64)
    x = np.where(np.isinf(x), np.nan, x)
    valid = ~np.isnan(x)
    if not valid.any():
        return np.full(x.shape, np.nan), True
    lo = float(np.min(x[valid]))
    hi = float(np.max(x[valid]))
    if hi == lo:
        return np.where(valid, 0.0, np.nan), True
    out = formulas.minmax_scale(x, lo, hi, direction)   # the one definition of min-max scaling
    return np.clip(out, 0.0, 1.0), False  # clip guards rounding only; NaN passes through


def zscore(x) -> np.ndarray:
    """Standard score over the units with the population standard deviation.

    Formula::

        z = (x - mean(x)) / sd(x),    sd with ddof = 0

    Units: dimensionless.  NaN values are ignored in the mean and sd and stay
    NaN in the result; ``sd == 0`` (constant or single valid value) → z = 0
    for every valid unit; all-NaN input → all NaN.

    Source: docs/models/conventions.md#normalisation, docs/models/ratios.md#matching-types.
    """
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    if not valid.any():
        return np.full(x.shape, np.nan)
    v = x[valid]
    mean = float(np.mean(v))
    sd = float(np.std(v, ddof=0))
    if sd == 0.0:
        return np.where(valid, 0.0, np.nan)
    return np.where(valid, (x - mean) / sd, np.nan)


# ---------------------------------------------------------------------------
# objective weights
# ---------------------------------------------------------------------------


def entropy_weights(X: np.ndarray, shift: float = 1e-4) -> tuple[np.ndarray, dict]:
    """Entropy weights of ``n`` normalised indicators over ``m`` units.

    Formula (with ``x''_ij = x'_ij + shift`` so that ``p ln p`` is defined)::

        p_ij = x''_ij / Σ_i x''_ij
        e_j  = -(1 / ln m) Σ_i p_ij ln p_ij
        d_j  = 1 - e_j
        w_j  = d_j / Σ_j d_j

    Units: ``X`` is dimensionless, normalised to [0, 1] (:func:`normalise`);
    weights are dimensionless and sum to 1.

    Edge rules:

    * ``X`` must be ``(m, n)`` with m >= 2 and no NaN/inf, and ``X + shift``
      must be >= 0 with a positive column sum → else :class:`InputError`.
      (A 1-D ``X`` is read as one indicator.)
    * A constant column has ``p_ij = 1/m``, ``e_j = 1`` and gets weight 0
      exactly (set explicitly so that rounding cannot make it ±1e-17);
      rounding-level negative ``d_j`` are clipped to 0.
    * All columns constant (Σ d = 0) → :class:`InputError` (no information).

    Returns ``(w, details)`` with ``details = {"e": e, "d": d, "shift": shift}``
    (the shift must be recorded in run metadata, docs/models/conventions.md#normalisation).

    Source: docs/models/conventions.md#normalisation, docs/models/resilience.md#weights, worked example docs/models/resilience.md#reference-test-values.
    """
    X = _matrix(X)
    shift = float(shift)
    if not np.isfinite(shift) or shift < 0:
        raise InputError(f"entropy shift must be a finite number >= 0, got {shift!r}")
    m, n = X.shape
    Xs = X + shift
    if (Xs < 0).any():
        j = int(np.argwhere((Xs < 0).any(axis=0))[0][0])
        raise InputError(
            f"entropy weights need non-negative normalised values; indicator column {j} "
            f"has a minimum of {X[:, j].min():g} (normalise the indicators first)"
        )
    colsum = Xs.sum(axis=0)
    if (colsum <= 0).any():
        j = int(np.argwhere(colsum <= 0)[0][0])
        raise InputError(
            f"entropy weights: indicator column {j} sums to 0 and shift is 0; "
            "use a positive shift (e.g. 1e-4)"
        )
    p = Xs / colsum
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = -plogp.sum(axis=0) / np.log(m)
    constant = np.ptp(X, axis=0) == 0
    e = np.where(constant, 1.0, e)
    d = np.clip(1.0 - e, 0.0, None)
    total = d.sum()
    if total <= 0:
        raise InputError(
            "entropy weights are undefined: every indicator is constant across the units"
        )
    w = d / total
    return w, {"e": e, "d": d, "shift": shift}


def critic_weights(X) -> tuple[np.ndarray, dict]:
    """CRITIC weights (Diakoulaki et al. 1995) of normalised indicators.

    Formula::

        σ_j = sample standard deviation of column j (ddof = 1)
        r_jk = Pearson correlation of columns j and k
        C_j  = σ_j × Σ_k (1 - r_jk)          ("conflict" = Σ_k (1 - r_jk))
        w_j  = C_j / Σ_j C_j

    Units: ``X`` dimensionless, normalised to [0, 1]; weights sum to 1.

    Edge rules:

    * ``X`` must be ``(m, n)`` with m >= 2 and no NaN/inf → else
      :class:`InputError`.
    * A constant column has σ = 0 and therefore weight 0; its correlation with
      any other column is undefined and is taken as 0 (so it adds 1 to the
      other columns' conflict).  The diagonal r_jj is always 1.
    * Correlations are clipped to [-1, 1] against rounding.
    * A single indicator (n = 1) gets weight 1 if it varies.
    * σ and r are computed on the columns rescaled to [0, 1] (σ_j = range_j ×
      sd of the rescaled column), identical in exact arithmetic but immune to
      underflow for very small ranges.
    * Conflicts below 1e-12 (r = 1 up to rounding) are set to 0.
    * Σ C = 0 (all columns constant, or all varying columns perfectly
      positively correlated — always the case for 2 units) →
      :class:`InputError`.

    Returns ``(w, details)`` with ``details = {"sd": σ, "conflict": Σ_k(1 - r_jk)}``.

    Source: docs/models/resilience.md#weights, worked example docs/models/resilience.md#reference-test-values (Diakoulaki, Mavrotas &
    Papayannakis 1995, Computers & Operations Research 22(7)).
    """
    X = _matrix(X)
    m, n = X.shape
    # Work on columns rescaled to [0, 1] (correlation is scale-invariant and
    # sd scales with the range) so that tiny ranges cannot underflow to sd 0.
    rng_ = np.ptp(X, axis=0)
    varying = rng_ > 0
    U = np.where(varying, (X - X.min(axis=0)) / np.where(varying, rng_, 1.0), 0.0)
    sd = rng_ * U.std(axis=0, ddof=1)
    r = np.zeros((n, n))
    if varying.any():
        Uv = U[:, varying]
        Z = (Uv - Uv.mean(axis=0)) / Uv.std(axis=0, ddof=0)
        rv = (Z.T @ Z) / m
        r[np.ix_(varying, varying)] = np.clip(rv, -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    conflict = (1.0 - r).sum(axis=1)
    conflict[np.abs(conflict) < 1e-12] = 0.0  # r = 1 up to rounding: no conflict
    if n == 1:
        if not varying[0]:
            raise InputError("CRITIC weights are undefined: the only indicator is constant")
        return np.array([1.0]), {"sd": sd, "conflict": conflict}
    # C_j / Σ C is invariant to a common factor: use range_j / max range
    # instead of range_j so that the ratio survives when σ itself underflows.
    C = (rng_ / rng_.max() if rng_.max() > 0 else rng_) * U.std(axis=0, ddof=1) * conflict
    total = C.sum()
    if total <= 0:
        if not varying.any():
            raise InputError(
                "CRITIC weights are undefined: every indicator is constant across the units"
            )
        raise InputError(
            "CRITIC weights are undefined: all varying indicators are perfectly positively "
            "correlated (conflict 0), e.g. duplicated indicators or only 2 units"
        )
    return C / total, {"sd": sd, "conflict": conflict}


# ---------------------------------------------------------------------------
# subjective weights
# ---------------------------------------------------------------------------


def ahp_weights(matrix, labels: list[str], max_cr: float | None = 0.10) -> tuple[np.ndarray, dict]:
    """AHP weights from a pairwise comparison matrix (Saaty 1–9 scale).

    ``matrix[i][j]`` = how much more important ``labels[i]`` is than
    ``labels[j]``.  Formula::

        A w = λ_max w           (principal eigenvector, numpy.linalg.eig)
        w   = w / Σ w
        CI  = (λ_max - n) / (n - 1)
        CR  = CI / RI(n)

    RI(n) is :data:`RANDOM_INDEX` (n = 1 … 15: 0, 0, 0.58, 0.90, 1.12, 1.24,
    1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59).  For n <= 2 the
    matrix is always consistent: CI = CR = 0.  CI is clipped at 0 (λ_max >= n
    holds exactly for positive reciprocal matrices; a negative CI is
    rounding).  All quantities are dimensionless.

    Validation (each failure raises :class:`InputError` naming the cell by
    its labels):

    * square, ``len(labels) == n``, 1 <= n <= 15 (no RI is tabulated beyond
      15 — use a two-level hierarchy instead, docs/models/resilience.md#weights);
    * every entry finite and > 0;
    * diagonal == 1 (within 1e-6);
    * reciprocal: ``|a_ij × a_ji - 1| <= 1e-6`` (enter 1/3, not 0.33);
    * ``CR <= max_cr`` (default 0.10, Saaty's acceptance limit; a CR exactly
      equal to the limit is accepted).  ``max_cr=None`` skips this check
      (CR is still reported).

    Returns ``(w, details)`` with ``details = {"lambda_max", "ci", "ri", "cr"}``.

    Source: docs/models/resilience.md#weights (Saaty 1977, J. Math. Psychol. 15; Saaty 1980,
    *The Analytic Hierarchy Process*, for the RI table).
    """
    try:
        A = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"AHP matrix is not a numeric square matrix: {exc}") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise InputError(f"AHP matrix must be square (n x n), got shape {A.shape}")
    n = A.shape[0]
    labels = _labels(labels, n)
    if n > len(RANDOM_INDEX):
        raise InputError(
            f"AHP matrix has {n} items; the random index RI is tabulated only up to "
            f"n = {len(RANDOM_INDEX)} — group the indicators into dimensions "
            "(two-level weighting) instead"
        )
    for i in range(n):
        for j in range(n):
            a = A[i, j]
            if not np.isfinite(a) or a <= 0:
                raise InputError(
                    f"AHP matrix cell ({labels[i]}, {labels[j]}) = {float(a)!r}: "
                    "entries must be finite and positive"
                )
    for i in range(n):
        if abs(A[i, i] - 1.0) > 1e-6:
            raise InputError(
                f"AHP matrix diagonal cell ({labels[i]}, {labels[i]}) = {A[i, i]:g}, must be 1"
            )
    for i in range(n):
        for j in range(i + 1, n):
            if abs(A[i, j] * A[j, i] - 1.0) > 1e-6:
                raise InputError(
                    f"AHP matrix is not reciprocal at ({labels[i]}, {labels[j]}) = {A[i, j]:g} "
                    f"and ({labels[j]}, {labels[i]}) = {A[j, i]:g}: their product is "
                    f"{A[i, j] * A[j, i]:.6g}, must be 1 (use exact fractions, e.g. 1/3)"
                )
    if n == 1:
        return np.array([1.0]), {"lambda_max": 1.0, "ci": 0.0, "ri": 0.0, "cr": 0.0}
    vals, vecs = np.linalg.eig(A)
    k = int(np.argmax(vals.real))
    lam = float(vals[k].real)
    v = np.abs(vecs[:, k].real)  # Perron vector: one sign; abs removes the arbitrary sign
    w = v / v.sum()
    ri = RANDOM_INDEX[n - 1]
    ci = max((lam - n) / (n - 1), 0.0)
    cr = ci / ri if ri > 0 else 0.0
    if max_cr is not None and cr > max_cr:
        raise InputError(
            f"AHP matrix for {labels} is not consistent enough: CR = {cr:.3f} "
            f"exceeds the limit {max_cr:g} (lambda_max = {lam:.4f}, CI = {ci:.4f}, "
            f"RI = {ri:g}); revise the pairwise judgements"
        )
    return w, {"lambda_max": lam, "ci": ci, "ri": ri, "cr": cr}


# ---------------------------------------------------------------------------
# combination, checks, index
# ---------------------------------------------------------------------------


def check_weights(w, labels=None, tol: float = 1e-6) -> np.ndarray:
    """Validate a weight vector: no NaN, no negative entry, sum 1 within ``tol``.

    ``labels`` (optional) names the weights in the error message and must
    have the same length as ``w``.  Returns ``w`` as a 1-D float64 array.
    Failures raise :class:`InputError` giving the offending labels and the sum.

    Source: docs/models/ratios.md#cesd (Σ w_j = 1), docs/models/resilience.md#weights.
    """
    w = np.atleast_1d(np.asarray(w, dtype=np.float64))
    if w.ndim != 1 or w.size == 0:
        raise InputError(f"weights must be a non-empty 1-D vector, got shape {w.shape}")
    labels = _labels(labels, w.size)
    bad = [labels[j] for j in np.flatnonzero(~np.isfinite(w))]
    if bad:
        raise InputError(f"weights are missing/non-finite for {bad}")
    neg = [f"{labels[j]}={w[j]:g}" for j in np.flatnonzero(w < 0)]
    if neg:
        raise InputError(f"weights must be >= 0; negative: {neg}")
    total = float(w.sum())
    if abs(total - 1.0) > tol:
        raise InputError(
            f"weights of {labels} sum to {total:.6g}, must sum to 1 (tolerance {tol:g})"
        )
    return w


def combine(
    weights: Mapping[str, np.ndarray], method: str = "additive", alpha: float = 0.5
) -> np.ndarray:
    """Combine subjective (AHP) and objective (entropy/CRITIC) weights.

    Formulas::

        additive:        w_j = α w_subjective,j + (1 - α) w_objective,j
        multiplicative:  w_j = Π_s w_s,j / Σ_k Π_s w_s,k

    ``weights`` maps a name to a weight vector.  ``"additive"`` needs exactly
    the two keys ``"subjective"`` (α applies to it, e.g. AHP) and
    ``"objective"`` (1 − α, e.g. entropy); ``alpha`` must lie in [0, 1].
    ``"multiplicative"`` accepts two or more vectors under any keys (α is not
    used).  Every input is validated by :func:`check_weights` (sum 1 within
    1e-6, non-negative) and all must have the same length.  An all-zero
    product (no indicator has positive weight in every input) →
    :class:`InputError`.  Weights are dimensionless; the result sums to 1.

    Source: docs/models/resilience.md#weights ("Combination").
    """
    if not isinstance(weights, Mapping) or not weights:
        raise InputError("combine() needs a non-empty mapping name -> weight vector")
    arrays = {}
    for name, w in weights.items():
        w = np.atleast_1d(np.asarray(w, dtype=np.float64))
        try:
            arrays[name] = check_weights(w, [f"{name}[{j}]" for j in range(w.size)])
        except InputError as exc:
            raise InputError(f"{name!r} weights are invalid: {exc}") from None
    sizes = {name: a.size for name, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise InputError(f"weight vectors to combine have different lengths: {sizes}")
    if method == "additive":
        if set(arrays) != {"subjective", "objective"}:
            raise InputError(
                "additive combination needs exactly the keys 'subjective' and 'objective', "
                f"got {sorted(map(str, arrays))}"
            )
        alpha = float(alpha)
        if not (0.0 <= alpha <= 1.0):
            raise InputError(f"combination alpha must be in [0, 1], got {alpha}")
        w = alpha * arrays["subjective"] + (1.0 - alpha) * arrays["objective"]
        return w / w.sum()  # removes the input rounding (each input sums to 1 ± 1e-6)
    if method == "multiplicative":
        if len(arrays) < 2:
            raise InputError("multiplicative combination needs at least two weight vectors")
        prod = np.prod(np.vstack(list(arrays.values())), axis=0)
        total = prod.sum()
        if total <= 0:
            raise InputError(
                "multiplicative combination is undefined: no indicator has a positive "
                "weight in every input"
            )
        return prod / total
    raise InputError(
        f"unknown weight combination method {method!r}; use 'additive' or 'multiplicative'"
    )


def composite(Xnorm, w) -> np.ndarray:
    """Weighted composite index per unit (e.g. resilience ER, weighted CESD).

    Formula::

        ER_u = Σ_j w_j x'_j,u

    ``Xnorm`` is ``(m, n)`` (a 1-D array is one unit's ``n`` values), ``w``
    has length ``n``.  Units: those of ``x'`` (dimensionless, in [0, 1] for
    min–max normalised input and weights summing to 1).  A unit with NaN in
    any indicator gets NaN (no re-weighting of the remaining indicators).
    A shape mismatch raises :class:`InputError`.

    Source: docs/models/resilience.md#index-and-classes (and docs/models/ratios.md#cesd for the weighted CESD).
    """
    X = np.asarray(Xnorm, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64).ravel()
    one_unit = X.ndim == 1
    X2 = X[None, :] if one_unit else X
    if X2.ndim != 2 or X2.shape[1] != w.size:
        raise InputError(
            f"composite: {w.size} weights do not match an indicator matrix of shape {X.shape}"
        )
    nan_row = np.isnan(X2).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.where(nan_row[:, None], 0.0, X2) @ w
    out = np.where(nan_row, np.nan, out)
    return out[0] if one_unit else out
