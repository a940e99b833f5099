"""A low-rank preconditioner for the convex fit of the linear head.

The head's problem on fixed standardized features ``S`` (n x d) has the
Hessian ``(1/n) S^T D S + alpha I`` per output, with ``D`` the loss's
curvature at each sample. CKN features are strongly correlated (neighbouring
positions, similar filters), so ``C = S^T S / n`` has a few large eigenvalues
and a long small tail: L-BFGS on the raw weights needs thousands of
iterations when ``alpha`` is small. Writing ``W = V T`` with

    T = I + U diag(t - 1) U^T,   t_i = sqrt((c lambda_r + a) / (c lambda_i + a)),

where ``lambda_1 >= ... >= lambda_r`` and ``U`` are the leading eigenpairs of
``C``, ``c`` the loss's typical curvature and ``a = alpha`` (floored), flattens
the top of the spectrum down to its r-th eigenvalue. The problem in ``V`` has
the same minimum; only the path to it is shorter. The eigenpairs come from a
randomized range finder on ``C`` (Halko, Martinsson and Tropp, 2011, alg.
4.1: the range of ``C Omega`` for a Gaussian ``Omega``) and the r x r
eigenproblem of ``C`` in that range, at the cost of three products
``S @ (d x r)``.
"""

import numpy as np

from .._backend import array_device, max_float_dtype
from .._chunks import ChunkRunner, rows_gram, rows_times

__all__ = ["LowRankPreconditioner"]

#: directions of the feature covariance that are rescaled
RANK = 512
#: samples per chunk of the products over the features (when not given a
#: runner): fixed, so that the result does not depend on the threads
ROWS = 2048

#: typical second derivative of each loss in the decision value (softmax and
#: sigmoid curvature is at most 1/4; the squared hinge's is 1 where active)
LOSS_CURVATURE = {"log_loss": 0.25, "squared_hinge": 1.0}


class LowRankPreconditioner:
    """The change of variables ``W = V T`` for head weights ``W`` of shape (k, d).

    Parameters
    ----------
    basis : array of shape (d, r)
        Orthonormal leading eigenvectors ``U`` of the feature covariance.
    scales : array of shape (r,)
        The factors ``t`` of ``T`` along those directions (1 elsewhere).
    xp : module
    """

    def __init__(self, basis, scales, xp):
        self.basis, self.scales, self.xp = basis, scales, xp

    @classmethod
    def from_features(
        cls, standardized, alpha, loss, xp, rank=RANK, runner=None, row_weights=None
    ):
        """Fit ``T`` to standardized features ``S`` (n, d) for penalty ``alpha``.

        The products over the samples run in the chunks of ``runner`` (a
        :class:`~sklearn_ckn._chunks.ChunkRunner`, one made here when None).
        With ``row_weights`` (summing to 1) the covariance is the weighted
        one, ``S^T diag(w) S``: the loss is then the weighted mean, and data
        with rows repeated get the same preconditioner.
        """
        if runner is None:
            with ChunkRunner(xp, ROWS) as runner:
                return cls.from_features(
                    standardized,
                    alpha,
                    loss,
                    xp,
                    rank=rank,
                    runner=runner,
                    row_weights=row_weights,
                )
        n, d = standardized.shape
        rank = max(1, min(rank, d, n))
        dtype, dev = standardized.dtype, array_device(standardized)
        # a fixed seed: the preconditioner changes the path, not the model
        omega = np.random.default_rng(0).standard_normal((d, rank))
        omega = xp.asarray(omega, dtype=dtype, device=dev)
        column = None if row_weights is None else xp.reshape(row_weights, (-1, 1))

        def weighted(rows):  # diag(w) rows, or rows / n
            return rows / n if column is None else column * rows

        sketch = rows_gram(
            runner,
            standardized,
            weighted(rows_times(runner, standardized, omega, xp)),
            xp,
        )
        basis, _ = xp.linalg.qr(sketch)
        projected = rows_times(runner, standardized, basis, xp)
        small = rows_gram(runner, projected, weighted(projected), xp)
        # the r x r eigenproblem in the most precise dtype: cheap, and its
        # small eigenvalues must not come out negative
        eigvals, eigvecs = xp.linalg.eigh(xp.astype(small, max_float_dtype(xp, dev)))
        eigvals = xp.clip(eigvals, 0.0, None)
        curvature = LOSS_CURVATURE[loss] * eigvals
        # a floor for alpha = 0, so that T stays invertible
        floor = alpha + 1e-6 * float(xp.max(curvature)) + 1e-12
        scales = xp.sqrt((float(xp.min(curvature)) + floor) / (curvature + floor))
        basis = basis @ xp.astype(eigvecs, dtype)
        return cls(basis, xp.astype(scales, dtype), xp)

    def _scale(self, w, factors):
        xp = self.xp
        along = (w @ self.basis) * (factors - 1.0)
        return w + along @ xp.matrix_transpose(self.basis)

    def apply(self, v):
        """``V T`` (also the chain rule back: ``dL/dV = dL/dW T``, T symmetric)."""
        return self._scale(v, self.scales)

    def apply_inverse(self, w):
        """``W T^{-1}``: the preconditioned variables of weights ``w``."""
        return self._scale(w, 1.0 / self.scales)
