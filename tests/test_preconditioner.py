"""The head's low-rank preconditioner: an exact change of variables for L-BFGS."""

import numpy as np
import pytest

from sklearn_ckn._backend import to_numpy as _host
from sklearn_ckn._ops.head import decision, encode_targets, loss_and_gradient
from sklearn_ckn._ops.lbfgs import minimize_lbfgs
from sklearn_ckn._ops.preconditioner import LowRankPreconditioner


def _correlated_features(n, d, rng):
    """Standardized features with a steep covariance spectrum, like CKN maps."""
    mixing = rng.standard_normal((d, d)) * np.logspace(0, -3, d)[:, None]
    raw = rng.standard_normal((n, d)) @ mixing
    return (raw - raw.mean(axis=0)) / raw.std(axis=0)


@pytest.mark.parametrize("rank", [1, 8, 40, 200])
def test_change_of_variables_is_invertible_and_symmetric(xp, rank):
    rng = np.random.default_rng(0)
    s = _correlated_features(150, 40, rng)
    precond = LowRankPreconditioner.from_features(
        xp.asarray(s), 1e-3, "log_loss", xp, rank=rank
    )
    w = rng.standard_normal((3, 40))
    back = _host(precond.apply(precond.apply_inverse(xp.asarray(w))))
    np.testing.assert_allclose(back, w, atol=1e-12 * np.abs(w).max())
    # T is symmetric: <u T, v> = <u, v T>, which the chain rule relies on
    u, v = rng.standard_normal((2, 3, 40))
    left = np.sum(_host(precond.apply(xp.asarray(u))) * v)
    right = np.sum(u * _host(precond.apply(xp.asarray(v))))
    np.testing.assert_allclose(left, right, rtol=1e-12)
    # it shrinks the leading directions and leaves the others alone
    basis, scales = _host(precond.basis), _host(precond.scales)
    np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-12)
    assert np.all(scales > 0) and np.all(scales <= 1 + 1e-12)
    assert scales.min() < 0.5 or rank == 1
    outside = w - (w @ basis) @ basis.T
    np.testing.assert_allclose(
        _host(precond.apply(xp.asarray(outside))), outside, atol=1e-12
    )


def test_full_rank_matches_the_eigendecomposition_of_the_covariance():
    rng = np.random.default_rng(1)
    s = _correlated_features(200, 30, rng)
    alpha, curvature = 1e-3, 0.25
    precond = LowRankPreconditioner.from_features(s, alpha, "log_loss", np, rank=30)
    eigvals, eigvecs = np.linalg.eigh(s.T @ s / len(s))
    eigvals = np.clip(eigvals, 0, None)
    floor = alpha + 1e-6 * curvature * eigvals.max() + 1e-12
    t = np.sqrt((curvature * eigvals.min() + floor) / (curvature * eigvals + floor))
    expected = (eigvecs * t) @ eigvecs.T
    np.testing.assert_allclose(precond.apply(np.eye(30)), expected, atol=1e-10)


def test_same_optimum_in_fewer_iterations():
    rng = np.random.default_rng(0)
    n, d, k, alpha = 400, 60, 3, 1e-4
    s = _correlated_features(n, d, rng)
    targets = encode_targets(rng.integers(0, k, n), k, "log_loss", np, np.float64)

    def head_objective(coef, intercept):
        value, g_f = loss_and_gradient(
            decision(s, coef, intercept, np), targets, "log_loss", np
        )
        value += 0.5 * alpha * np.sum(coef * coef)
        return value, g_f.T @ s + alpha * coef, g_f.sum(axis=0)

    def solve(precond):
        def objective(flat):
            coef = flat[: k * d].reshape(k, d)
            if precond is not None:
                coef = precond.apply(coef)
            value, g_coef, g_intercept = head_objective(coef, flat[k * d :])
            if precond is not None:
                g_coef = precond.apply(g_coef)
            return value, np.concatenate([g_coef.ravel(), g_intercept])

        flat, n_iter = minimize_lbfgs(
            objective, np.zeros(k * d + k), np, max_iter=20_000, gtol=1e-10, ftol=0
        )
        coef = flat[: k * d].reshape(k, d)
        coef = coef if precond is None else precond.apply(coef)
        return head_objective(coef, flat[k * d :])[0], n_iter

    plain_value, plain_iter = solve(None)
    precond = LowRankPreconditioner.from_features(s, alpha, "log_loss", np, rank=30)
    value, n_iter = solve(precond)
    np.testing.assert_allclose(value, plain_value, rtol=1e-9)
    assert n_iter < plain_iter / 2, (n_iter, plain_iter)


@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge"])
def test_fit_head_reaches_the_same_head_with_and_without_preconditioning(xp, loss):
    from sklearn_ckn._ops.head_fit import fit_head

    rng = np.random.default_rng(2)
    n, d, k, alpha = 300, 50, 4, 1e-2
    s = xp.asarray(_correlated_features(n, d, rng))
    targets = encode_targets(xp.asarray(rng.integers(0, k, n)), k, loss, xp, xp.float64)
    start = dict(coef=xp.zeros((k, d), dtype=xp.float64), intercept=xp.zeros(k))
    heads = [
        fit_head(s, targets, loss, alpha, xp, **start, max_iter=5000, precondition=p)
        for p in (False, True)
    ]
    for _, _, n_iter in heads:
        assert n_iter < 5000  # stopped by its tolerance, not by the bound
    # both stop at max |gradient| <= 1e-5 (or a stalled decrease); strong
    # convexity in the weights (alpha = 1e-2) puts each within 1e-3 of the optimum
    (coef_a, _, iter_a), (coef_b, _, iter_b) = heads
    np.testing.assert_allclose(_host(coef_a), _host(coef_b), atol=2e-3)
    assert iter_b < iter_a
