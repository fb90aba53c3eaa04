"""Tests of restore_db.stages.resilience.weights (pure numpy, no database).

Expected numbers come from outside the code under test:

* the worked values of docs/models/resilience.md#reference-test-values (weighting) and docs/models/ratios.md#reference-test-values
  (z-scores), typed in below;
* hand computations written out in the test (consistent AHP matrices, the
  closed-form λ_max of a 3×3 reciprocal matrix, combinations).

Hypothesis property tests check the invariants (non-negative weights summing
to 1, composite within [0, 1]).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from restore_db.stages.resilience import weights as W
from restore_db.errors import InputError

# --- docs/models/resilience.md#reference-test-values -----------------------------------------------------------------

X_1611 = np.array([[0.2, 30, 5], [0.5, 10, 3], [0.9, 20, 9], [0.4, 40, 1]], dtype=float)
DIRS_1611 = (+1, -1, +1)
NORM_1611 = np.array([[0, 0.3333, 0.5], [0.4286, 1, 0.25], [1, 0.6667, 1], [0.2857, 0, 0]])
E_1611 = np.array([0.6927, 0.7300, 0.6898])
W_ENTROPY_1611 = np.array([0.3463, 0.3043, 0.3495])
COMPOSITE_1611 = np.array([0.2762, 0.5400, 0.8986, 0.0989])
W_CRITIC_1611 = np.array([0.2914, 0.3928, 0.3158])


def _norm_1611():
    cols = [W.normalise(X_1611[:, j], d)[0] for j, d in enumerate(DIRS_1611)]
    return np.column_stack(cols)


def test_normalise_1611():
    N = _norm_1611()
    np.testing.assert_allclose(N, NORM_1611, atol=5e-5)
    for j, d in enumerate(DIRS_1611):
        assert W.normalise(X_1611[:, j], d)[1] is False


def test_normalise_nan_and_constant():
    out, const = W.normalise(np.array([1.0, np.nan, 3.0, 2.0]), +1)
    np.testing.assert_allclose(out, [0.0, np.nan, 1.0, 0.5])
    assert const is False
    out, const = W.normalise(np.array([1.0, np.nan, 3.0, 2.0]), -1)
    np.testing.assert_allclose(out, [1.0, np.nan, 0.0, 0.5])
    out, const = W.normalise(np.array([7.0, 7.0, np.nan]), +1)
    np.testing.assert_array_equal(out, [0.0, 0.0, np.nan])
    assert const is True
    out, const = W.normalise(np.array([np.nan, np.nan]), -1)
    assert np.isnan(out).all() and const is True


@pytest.mark.parametrize("bad", [0, 2, True, "+"])
def test_normalise_bad_direction(bad):
    with pytest.raises(InputError, match="direction"):
        W.normalise(np.array([1.0, 2.0]), bad)


def test_entropy_1611():
    w, det = W.entropy_weights(_norm_1611())
    np.testing.assert_allclose(det["e"], E_1611, atol=5e-5)
    np.testing.assert_allclose(w, W_ENTROPY_1611, atol=5e-5)
    np.testing.assert_allclose(det["d"], 1 - det["e"])
    assert det["shift"] == 1e-4
    assert w.sum() == pytest.approx(1.0)


def test_composite_1611():
    w, _ = W.entropy_weights(_norm_1611())
    np.testing.assert_allclose(W.composite(_norm_1611(), w), COMPOSITE_1611, atol=5e-4)
    # with the typed (rounded) weights and normalised values as well
    np.testing.assert_allclose(W.composite(NORM_1611, W_ENTROPY_1611), COMPOSITE_1611, atol=1e-3)


def test_critic_1611():
    w, det = W.critic_weights(_norm_1611())
    np.testing.assert_allclose(w, W_CRITIC_1611, atol=5e-4)
    N = _norm_1611()
    np.testing.assert_allclose(det["sd"], N.std(axis=0, ddof=1))
    r = np.corrcoef(N, rowvar=False)
    np.testing.assert_allclose(det["conflict"], (1 - r).sum(axis=1))


def test_entropy_constant_column_weight_zero():
    N = np.column_stack([_norm_1611(), np.zeros(4)])
    w, det = W.entropy_weights(N)
    assert w[3] == 0.0
    assert det["e"][3] == 1.0
    # the other weights are those of docs/models/resilience.md#reference-test-values (d_j of a constant column is 0)
    np.testing.assert_allclose(w[:3], W_ENTROPY_1611, atol=5e-5)


def test_critic_constant_column_weight_zero():
    N = np.column_stack([_norm_1611(), np.full(4, 0.5)])
    w, det = W.critic_weights(N)
    assert w[3] == 0.0
    assert det["sd"][3] == 0.0
    # r with the constant column counts as 0 -> each other column's conflict grows by 1
    _, det3 = W.critic_weights(_norm_1611())
    np.testing.assert_allclose(det["conflict"][:3], det3["conflict"] + 1.0)
    assert w.sum() == pytest.approx(1.0)


def test_critic_perfectly_correlated():
    with pytest.raises(InputError, match="perfectly positively correlated"):
        W.critic_weights(np.array([[0.0, 0.1], [0.5, 0.3], [1.0, 0.5]]))


def test_critic_single_indicator():
    w, _ = W.critic_weights(np.array([[0.0], [1.0], [0.5]]))
    np.testing.assert_array_equal(w, [1.0])


@pytest.mark.parametrize("fn", [W.entropy_weights, W.critic_weights])
def test_objective_weights_reject_nan(fn):
    N = _norm_1611()
    N[2, 1] = np.nan
    with pytest.raises(InputError, match="unit row 2, indicator column 1"):
        fn(N)


@pytest.mark.parametrize("fn", [W.entropy_weights, W.critic_weights])
def test_objective_weights_all_constant(fn):
    with pytest.raises(InputError, match="constant"):
        fn(np.ones((5, 3)))


def test_entropy_rejects_negative_and_single_unit():
    with pytest.raises(InputError, match="column 0"):
        W.entropy_weights(np.array([[-1.0, 0.5], [1.0, 0.2]]))
    with pytest.raises(InputError, match="at least 2 units"):
        W.entropy_weights(np.array([[0.1, 0.5]]))


# --- z-scores (docs/models/ratios.md#reference-test-values) ------------------------------------------------------

S_1610 = np.array([[120, 30], [80, 10], [20, 50], [5, 5]], dtype=float)
D_1610 = np.array([[60, 40], [100, 5], [10, 20], [50, 30]], dtype=float)
ZS_1610 = np.array([[1.377, 0.351], [0.513, -0.772], [-0.783, 1.474], [-1.107, -1.053]])
ZD_1610 = np.array([[0.156, 1.257], [1.406, -1.450], [-1.406, -0.290], [-0.156, 0.483]])


@pytest.mark.parametrize("j", [0, 1])
def test_zscore_1610(j):
    np.testing.assert_allclose(W.zscore(S_1610[:, j]), ZS_1610[:, j], atol=5e-4)
    np.testing.assert_allclose(W.zscore(D_1610[:, j]), ZD_1610[:, j], atol=5e-4)


def test_zscore_nan_and_constant():
    z = W.zscore(np.array([1.0, np.nan, 3.0]))
    np.testing.assert_allclose(z, [-1.0, np.nan, 1.0])  # mean 2, population sd 1
    np.testing.assert_array_equal(W.zscore(np.array([4.0, 4.0, np.nan])), [0.0, 0.0, np.nan])
    assert np.isnan(W.zscore(np.array([np.nan, np.nan]))).all()


# --- AHP --------------------------------------------------------------------

LABELS3 = ["ndvi", "npp", "hq"]


def test_ahp_consistent_3x3():
    A = [[1, 2, 4], [1 / 2, 1, 2], [1 / 4, 1 / 2, 1]]
    w, det = W.ahp_weights(A, LABELS3)
    np.testing.assert_allclose(w, [4 / 7, 2 / 7, 1 / 7], atol=1e-12)
    assert det["lambda_max"] == pytest.approx(3.0, abs=1e-12)
    assert det["ci"] == pytest.approx(0.0, abs=1e-12)
    assert det["ri"] == 0.58
    assert det["cr"] == pytest.approx(0.0, abs=1e-12)


def _lambda3(a, b, c):
    """Closed form for A = [[1,a,b],[1/a,1,c],[1/b,1/c,1]]: λ_max = 1 + t^(1/3) + t^(-1/3), t = ac/b.

    det(A - λI) = (1-λ)^3 - 3(1-λ) + t + 1/t; with μ = λ - 1 = s + 1/s this
    gives s^3 + s^-3 = t + 1/t, i.e. s = t^(1/3).
    """
    t = a * c / b
    return 1 + t ** (1 / 3) + t ** (-1 / 3)


def test_ahp_inconsistent_3x3_closed_form():
    a, b, c = 2.0, 4.0, 3.0
    A = [[1, a, b], [1 / a, 1, c], [1 / b, 1 / c, 1]]
    w, det = W.ahp_weights(A, LABELS3)
    lam = _lambda3(a, b, c)  # 3.018294...
    assert det["lambda_max"] == pytest.approx(lam, rel=1e-12)
    assert det["ci"] == pytest.approx((lam - 3) / 2, rel=1e-9)
    assert det["cr"] == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-9)
    assert det["cr"] == pytest.approx(0.01577, abs=5e-5)
    # for n = 3 the principal eigenvector equals the normalised row geometric means
    g = np.array([(a * b) ** (1 / 3), (c / a) ** (1 / 3), (1 / (b * c)) ** (1 / 3)])
    np.testing.assert_allclose(w, g / g.sum(), rtol=1e-10)


def test_ahp_cr_too_high():
    A = [[1, 2, 1], [1 / 2, 1, 2], [1, 1 / 2, 1]]  # t = 4: λ = 1 + 4^(1/3) + 4^(-1/3)
    cr = (_lambda3(2, 1, 2) - 3) / 2 / 0.58
    assert cr == pytest.approx(0.187, abs=1e-3)
    with pytest.raises(InputError, match=r"CR = 0\.187 exceeds the limit 0\.1"):
        W.ahp_weights(A, LABELS3)
    # a looser limit accepts it; None only reports
    _, det = W.ahp_weights(A, LABELS3, max_cr=0.2)
    assert det["cr"] == pytest.approx(cr, rel=1e-9)
    _, det = W.ahp_weights(A, LABELS3, max_cr=None)
    assert det["cr"] == pytest.approx(cr, rel=1e-9)


def test_ahp_not_reciprocal_names_cell():
    A = [[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 0.4, 1]]
    with pytest.raises(InputError, match=r"\(npp, hq\) = 2 and \(hq, npp\) = 0\.4"):
        W.ahp_weights(A, LABELS3)
    # 1/3 typed as 0.33 is not reciprocal within 1e-6
    with pytest.raises(InputError, match=r"ndvi, npp"):
        W.ahp_weights([[1, 3, 5], [0.33, 1, 2], [1 / 5, 1 / 2, 1]], LABELS3)


@pytest.mark.parametrize(
    ("A", "match"),
    [
        ([[1, 2], [0.5, 1], [1, 1]], "square"),
        ([[1, 0], [0, 1]], r"cell \(a, b\) = 0"),
        ([[1, -2], [-0.5, 1]], "positive"),
        ([[1, np.nan], [1, 1]], "positive"),
        ([[2, 2], [0.5, 1]], r"diagonal cell \(a, a\)"),
    ],
)
def test_ahp_invalid_matrix(A, match):
    with pytest.raises(InputError, match=match):
        W.ahp_weights(A, ["a", "b"])


def test_ahp_labels_length():
    with pytest.raises(InputError, match="labels"):
        W.ahp_weights([[1, 2], [0.5, 1]], ["a", "b", "c"])


def test_ahp_small_n():
    w, det = W.ahp_weights([[1.0]], ["only"])
    np.testing.assert_array_equal(w, [1.0])
    assert det["cr"] == 0.0
    w, det = W.ahp_weights([[1, 3], [1 / 3, 1]], ["a", "b"])
    np.testing.assert_allclose(w, [0.75, 0.25])
    assert det["ri"] == 0.0 and det["cr"] == 0.0


def test_ahp_15x15_recovers_weights():
    rng = np.random.default_rng(42)
    w_true = rng.uniform(0.2, 5.0, 15)
    w_true /= w_true.sum()
    A = w_true[:, None] / w_true[None, :]
    labels = [f"i{j}" for j in range(15)]
    w, det = W.ahp_weights(A, labels)
    np.testing.assert_allclose(w, w_true, rtol=1e-9)
    assert det["lambda_max"] == pytest.approx(15.0, abs=1e-9)
    assert det["ri"] == 1.59
    assert det["cr"] == pytest.approx(0.0, abs=1e-9)


def test_ahp_random_index_table():
    assert W.RANDOM_INDEX[:10] == (0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)
    assert W.RANDOM_INDEX[10:] == (1.51, 1.48, 1.56, 1.57, 1.59)


def test_ahp_16_items_rejected():
    A = np.ones((16, 16))
    with pytest.raises(InputError, match="16 items"):
        W.ahp_weights(A, [f"i{j}" for j in range(16)])


# --- check_weights / combine / composite ------------------------------------


def test_check_weights():
    out = W.check_weights([0.2, 0.3, 0.5], ["a", "b", "c"])
    np.testing.assert_array_equal(out, [0.2, 0.3, 0.5])
    with pytest.raises(InputError, match=r"\['a', 'b', 'c'\] sum to 0\.9,"):
        W.check_weights([0.2, 0.3, 0.4], ["a", "b", "c"])
    with pytest.raises(InputError, match=r"negative: \['b=-0\.1'\]"):
        W.check_weights([0.6, -0.1, 0.5], ["a", "b", "c"])
    with pytest.raises(InputError, match=r"\['c'\]"):
        W.check_weights([0.5, 0.5, np.nan], ["a", "b", "c"])
    with pytest.raises(InputError, match="labels"):
        W.check_weights([0.5, 0.5], ["a"])
    W.check_weights([0.5, 0.5 + 5e-7], ["a", "b"])  # within tolerance


def test_combine_additive_by_hand():
    subj = np.array([0.5, 0.3, 0.2])
    obj = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(
        W.combine({"subjective": subj, "objective": obj}), [0.35, 0.30, 0.35]
    )
    # 0.7*0.5 + 0.3*0.2 = 0.41; 0.3; 0.7*0.2 + 0.3*0.5 = 0.29
    np.testing.assert_allclose(
        W.combine({"subjective": subj, "objective": obj}, alpha=0.7), [0.41, 0.30, 0.29]
    )
    np.testing.assert_allclose(W.combine({"subjective": subj, "objective": obj}, alpha=1), subj)


def test_combine_multiplicative_by_hand():
    subj = np.array([0.5, 0.3, 0.2])
    obj = np.array([0.2, 0.3, 0.5])
    # products 0.10, 0.09, 0.10; sum 0.29
    np.testing.assert_allclose(
        W.combine({"subjective": subj, "objective": obj}, method="multiplicative"),
        [0.10 / 0.29, 0.09 / 0.29, 0.10 / 0.29],
    )


def test_combine_errors():
    good = np.array([0.5, 0.5])
    with pytest.raises(InputError, match=r"'objective' weights are invalid: .*sum to 0\.9"):
        W.combine({"subjective": good, "objective": [0.5, 0.4]})
    with pytest.raises(InputError, match="exactly the keys"):
        W.combine({"ahp": good, "entropy": good})
    with pytest.raises(InputError, match="alpha"):
        W.combine({"subjective": good, "objective": good}, alpha=1.5)
    with pytest.raises(InputError, match="different lengths"):
        W.combine({"subjective": good, "objective": [0.2, 0.3, 0.5]})
    with pytest.raises(InputError, match="unknown weight combination"):
        W.combine({"subjective": good, "objective": good}, method="geometric")
    with pytest.raises(InputError, match="no indicator"):
        W.combine({"a": [1.0, 0.0], "b": [0.0, 1.0]}, method="multiplicative")


def test_composite_nan_and_shape():
    X = np.array([[0.0, 1.0], [np.nan, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(W.composite(X, [0.25, 0.75]), [0.75, np.nan, 1.0])
    assert W.composite(np.array([0.2, 0.4]), [0.5, 0.5]) == pytest.approx(0.3)
    with pytest.raises(InputError, match="3 weights"):
        W.composite(X, [0.2, 0.3, 0.5])


# --- properties ---------------------------------------------------------------

unit_matrices = st.tuples(st.integers(2, 12), st.integers(1, 6)).flatmap(
    lambda mn: hnp.arrays(
        np.float64, mn, elements=st.floats(0, 1, allow_nan=False, allow_infinity=False)
    )
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit_matrices)
def test_entropy_weights_property(X):
    # variation far below the 1e-4 shift is (correctly) no information: e = 1 for all
    assume(np.ptp(X, axis=0).max() > 1e-3)
    w, det = W.entropy_weights(X)
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(det["e"] <= 1 + 1e-12) and np.all(det["e"] >= -1e-12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit_matrices)
def test_critic_weights_property(X):
    assume(np.ptp(X, axis=0).max() > 0)
    try:
        w, _ = W.critic_weights(X)
    except InputError as exc:
        # only legitimate failure: every varying column perfectly correlated with every other
        assert "perfectly positively correlated" in str(exc)
        V = X[:, np.ptp(X, axis=0) > 0]
        assert V.shape[1] >= 2
        V = (V - V.min(axis=0)) / np.ptp(V, axis=0)  # rescale: np.corrcoef underflows on subnormals
        np.testing.assert_allclose(np.corrcoef(V, rowvar=False), 1.0, atol=1e-6)
        return
    assert np.isfinite(w).all()
    assert (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(unit_matrices, st.data())
def test_composite_within_unit_interval(X, data):
    raw = data.draw(
        hnp.arrays(np.float64, X.shape[1], elements=st.floats(0, 10, allow_nan=False))
    )
    assume(raw.sum() > 0)
    w = raw / raw.sum()
    c = W.composite(X, w)
    assert c.shape == (X.shape[0],)
    assert (c >= -1e-12).all() and (c <= 1 + 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(2, 30),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    st.sampled_from([1, -1]),
)
def test_normalise_property(x, d):
    out, const = W.normalise(x, d)
    assert (out >= 0).all() and (out <= 1).all()
    if const:
        assert (out == 0).all()
    else:
        assert math.isclose(out.max(), 1.0) and math.isclose(out.min(), 0.0, abs_tol=1e-15)
