"""The trainer's convex head: its fit on fixed filters' standardized
features (the initial head, ``exact_head``'s head, the refit at
``head_alpha``), the objective, and the head's share of the gradients.

A mixin of :class:`~sklearn_ckn._training.CKNTrainer`, which holds the
filters, the head (``coef``, ``intercept``), the standardization (``mean``,
``scale``), ``config``, and the namespace and device.
"""

from typing import Any, NamedTuple

import numpy as np

from ._ops.head import decision, feature_statistics, loss_and_gradient
from ._ops.head_fit import fit_head

__all__ = ["HeadSolution", "HeadSolver"]


class HeadSolution(NamedTuple):
    """A convex head fit on fixed filters (:meth:`CKNTrainer.solve_head`)."""

    coef: Any
    intercept: Any
    mean: Any
    scale: Any
    n_iter: int
    objective: float

    @property
    def head(self):
        """The arrays the decision function reads: coef, intercept, mean, scale."""
        return self.coef, self.intercept, self.mean, self.scale


class HeadSolver:
    """How a trainer fits, evaluates and differentiates its linear head."""

    def objective(self, x, targets, weights=None):
        """The training objective over all of ``x``: mean loss (weighted by
        the host array ``weights``, if given) plus the penalty."""
        xp = self.xp
        value, _ = loss_and_gradient(
            self.decision_function(x),
            targets,
            self.config.loss,
            xp,
            self._row_weights(weights),
        )
        return value + 0.5 * self.config.alpha * float(xp.sum(self.coef * self.coef))

    # -------------------------------------------------------- initial head

    def init_head(self, x, targets, weights=None):
        """Standardize the initial features and fit the head on them.

        The standardization is then kept fixed for training; the fit is
        :meth:`solve_head` at the training penalty ``config.alpha``.
        """
        solution = self.solve_head(
            x, targets, self.config.alpha, self.config.head_max_iter, weights=weights
        )
        self.coef, self.intercept, self.mean, self.scale = solution.head
        self.head_init_iter = solution.n_iter

    def solve_head(self, x, targets, alpha, max_iter, filters=None, weights=None):
        """The convex head on fixed filters' features, at penalty ``alpha``.

        On fixed features the head's problem is smooth and convex; it is
        solved by :func:`sklearn_ckn._ops.head_fit.fit_head` (preconditioned
        L-BFGS) on the precomputed standardized features, started from the
        current head, with at most ``max_iter`` iterations. The trainer's own
        parameters are left unchanged.

        Parameters
        ----------
        x, targets : arrays
            Training images and their encoded targets.
        alpha : float
            Penalty on the head's weights.
        max_iter : int
            Bound on the L-BFGS iterations.
        filters : list of arrays or None, default=None
            The filters whose features the head reads; None: the current ones.
        weights : ndarray of shape (n,) or None, default=None
            The samples' weights (host NumPy): the standardization and the
            loss are weighted means; None: plain means.

        Returns
        -------
        HeadSolution
            The head, the standardization of the features it reads, the
            L-BFGS iterations run (``max_iter`` when stopped by that bound)
            and the objective (mean loss plus ``alpha / 2 ||W||^2``) it
            reaches.
        """
        xp = self.xp
        row_weights = self._row_weights(weights)
        standardized = self.features(x, filters)
        mean, scale = feature_statistics(standardized, xp, row_weights)
        # in place: at 60,000 x 12,544 a second copy would be 3 GB more
        standardized -= mean
        standardized /= scale
        coef, intercept, n_iter = fit_head(
            standardized,
            targets,
            self.config.loss,
            alpha,
            xp,
            coef=self.coef,
            intercept=self.intercept,
            max_iter=max_iter,
            row_weights=row_weights,
        )
        value, _ = loss_and_gradient(
            decision(standardized, coef, intercept, xp),
            targets,
            self.config.loss,
            xp,
            row_weights,
        )
        value += 0.5 * alpha * float(xp.sum(coef * coef))
        return HeadSolution(coef, intercept, mean, scale, n_iter, value)

    def _head_terms(self, standardized, targets, coef, intercept, weight):
        """``weight`` times the mean loss over these rows, and its gradients.

        With ``weight`` the rows' share of a batch, the terms of the chunks of
        a batch add up to the batch's mean loss and its gradients. ``weight``
        may also be an array: each row's weight (the rows of a batch summing
        to 1), for the weighted mean.
        """
        xp = self.xp
        f = decision(standardized, coef, intercept, xp)
        if isinstance(weight, float):
            value, g_f = loss_and_gradient(f, targets, self.config.loss, xp)
            value, g_f = weight * value, weight * g_f
        else:
            value, g_f = loss_and_gradient(f, targets, self.config.loss, xp, weight)
        g_coef = xp.matrix_transpose(g_f) @ standardized
        return value, g_coef, xp.sum(g_f, axis=0), g_f

    def _row_weights(self, weights, total=None):
        """Host ``weights`` divided by ``total`` (their sum when None), on
        the device; None for None."""
        if weights is None:
            return None
        total = float(np.sum(weights)) if total is None else total
        return self.xp.asarray(weights / total, dtype=self.dtype, device=self.dev)
