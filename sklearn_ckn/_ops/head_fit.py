"""The convex fit of the linear head on fixed standardized features.

Mean loss plus ``alpha / 2 ||W||^2``, minimized by full-batch L-BFGS,
by default in the variables of the low-rank preconditioner of
:mod:`sklearn_ckn._ops.preconditioner` (the same minimum, reached in several
times fewer iterations). The stopping test reads the gradient of the
weights themselves, whichever variables L-BFGS works in.
"""

from .._chunks import ChunkRunner, rows_gram, rows_times
from .head import loss_and_gradient
from .lbfgs import minimize_lbfgs
from .preconditioner import LowRankPreconditioner

__all__ = ["fit_head"]

#: samples per chunk of the products over the features: the same chunks
#: whatever the threads (results independent of them), each a GEMM large
#: enough for BLAS's peak
HEAD_ROWS = 2048


def fit_head(
    standardized,
    targets,
    loss,
    alpha,
    xp,
    *,
    coef,
    intercept,
    max_iter,
    precondition=True,
    tol=1e-5,
    row_weights=None,
):
    """Minimize the head's objective from ``(coef, intercept)``.

    Parameters
    ----------
    standardized : array of shape (n, d)
        Standardized features.
    targets : array of shape (n, k)
        Encoded targets (:func:`sklearn_ckn._ops.head.encode_targets`).
    loss : {"squared_hinge", "log_loss"}
    alpha : float
        Penalty on the weights (not on the intercept).
    xp : module
    coef, intercept : arrays of shape (k, d) and (k,)
        Starting point.
    max_iter : int
        Bound on the L-BFGS iterations.
    precondition : bool, default=True
        Work in the preconditioned variables; False: on the weights directly.
    tol : float, default=1e-5
        Stop when the largest entry of the gradient of the weights and
        intercepts is at most ``tol`` times max(1, objective), or when an
        iteration lowers the objective by at most ``1e-4 * tol`` of it.
    row_weights : array of shape (n,) or None, default=None
        The rows' weights, summing to 1: the weighted mean loss; None: the
        mean.

    Returns
    -------
    coef, intercept : arrays
    n_iter : int
        L-BFGS iterations run; ``max_iter`` when stopped by that bound.
    """
    # one runner for the whole fit: its threads serve every product
    with ChunkRunner(xp, HEAD_ROWS) as runner:
        shape = coef.shape
        size = shape[0] * shape[1]
        precond = (
            LowRankPreconditioner.from_features(
                standardized, alpha, loss, xp, runner=runner, row_weights=row_weights
            )
            if precondition
            else None
        )

        def weights(v):  # W = V T; also the chain rule back, T being symmetric
            return v if precond is None else precond.apply(v)

        def objective(flat):
            w = weights(xp.reshape(flat[:size], shape))
            scores = rows_times(runner, standardized, xp.matrix_transpose(w), xp)
            value, g_f = loss_and_gradient(
                scores + flat[size:], targets, loss, xp, row_weights
            )
            value += 0.5 * alpha * float(xp.sum(w * w))
            g_w = rows_gram(runner, g_f, standardized, xp) + alpha * w
            g_w = xp.reshape(weights(g_w), (-1,))
            return value, xp.concat([g_w, xp.sum(g_f, axis=0)])

        def gradient_size(grad):
            g_w = xp.reshape(grad[:size], shape)
            if precond is not None:
                g_w = precond.apply_inverse(g_w)
            return max(float(xp.max(xp.abs(g_w))), float(xp.max(xp.abs(grad[size:]))))

        start = coef if precond is None else precond.apply_inverse(coef)
        start = xp.concat([xp.reshape(start, (-1,)), intercept])
        flat, n_iter = minimize_lbfgs(
            objective,
            start,
            xp,
            max_iter=max_iter,
            gtol=tol,
            ftol=1e-4 * tol,
            gradient_size=gradient_size,
        )
        return weights(xp.reshape(flat[:size], shape)), flat[size:], n_iter
