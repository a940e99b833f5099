"""LinearHeadClassifier: the CKN's convex head as a classifier of its own."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._blas import thread_count_independent
from ._classifier_inputs import host_sample_weight, sample_weights
from ._ops.head import (
    LOSSES,
    encode_targets,
    feature_statistics,
    log_probabilities,
    n_outputs,
    probabilities,
)
from ._ops.head_fit import fit_head
from ._training_set import canonical_rows
from ._warnings import warn_user

__all__ = ["LinearHeadClassifier"]


def _has_log_loss(estimator):
    return estimator.loss == "log_loss"


class LinearHeadClassifier(LinearClassifierMixin, BaseEstimator):
    """Linear classifier for wide, dense features, by preconditioned L-BFGS.

    The convex fit of :class:`CKNClassifier`'s head, offered on its own for
    the features of :class:`CKNFeatureExtractor` (or any dense features with
    many correlated columns). Each feature is standardized (mean 0, standard
    deviation 1, computed on the training data), then the weights ``W`` and
    intercepts ``b`` minimize

        mean loss(s W^T + b) + alpha / 2 ||W||^2

    over the standardized features ``s``, by full-batch L-BFGS in the
    variables of a low-rank preconditioner that flattens the top of the
    features' covariance spectrum (the features of neighbouring positions and
    similar filters are strongly correlated, which slows plain L-BFGS down by
    an order of magnitude). The fitted ``coef_`` and ``intercept_`` fold the
    standardization in: they apply to the raw features, so no
    ``StandardScaler`` is needed in front.

    With ``loss="log_loss"`` it solves the problem of
    ``make_pipeline(StandardScaler(), LogisticRegression(C=1 / (alpha * n)))``
    (``n`` the number of training samples) to the tolerance ``tol``; on
    45,000 CIFAR-10 images' 2,304 or 9,216 CKN features it does so several
    times faster than scikit-learn's lbfgs solver (docs/benchmarks.md).

    Parameters
    ----------
    loss : {"log_loss", "squared_hinge"}, default="log_loss"
        ``log_loss``: multinomial logistic loss (binary logistic for two
        classes), with :meth:`predict_proba`; ``squared_hinge``: one-vs-all
        ``0.5 max(0, 1 - y f)^2`` summed over the classes (the loss of the
        original CKN's SVM).
    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights (not on the intercepts), on
        the mean loss.
    max_iter : int, default=500
        Bound on the L-BFGS iterations; a fit stopped by it warns with a
        ``ConvergenceWarning``.
    tol : float, default=1e-5
        Stop when no entry of the objective's gradient (with respect to the
        weights on the standardized features and the intercepts) exceeds
        ``tol * max(1, objective)``, or when an iteration lowers the
        objective by at most ``1e-4 * tol`` of it.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label:
        weight}`` (1 for the classes not given), or ``"balanced"``: each
        class weighted inversely to its total sample weight, as
        :class:`~sklearn.linear_model.LogisticRegression`'s.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights on the raw features (one row for two classes), in the dtype
        of the training data (float32 or float64).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts on the raw features.
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        The standardization learned in ``fit`` (scale 1 for a constant
        feature).
    n_iter_ : int
        L-BFGS iterations run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in\\_,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    CKNFeatureExtractor : The features this head is made for.
    CKNClassifier : The same head trained jointly with the filters.
    sklearn.linear_model.LogisticRegression : The same model with log_loss,
        by general-purpose solvers.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ckn import LinearHeadClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LinearHeadClassifier(alpha=1e-3).fit(X, y)
    >>> clf.coef_.shape
    (10, 64)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints: dict = {
        "loss": [StrOptions(set(LOSSES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self, *, loss="log_loss", alpha=1e-4, max_iter=500, tol=1e-5, class_weight=None
    ):
        self.loss = loss
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    @thread_count_independent
    def fit(self, X, y, sample_weight=None):
        """Standardize the features and fit the weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features; float32 input is fitted in float32.
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples (None: all 1), multiplied by
            the class weights: the loss is their weighted mean, and the
            standardization the weighted mean and standard deviation. As
            :class:`CKNClassifier`, the fit reads the distinct (row, label)
            pairs of positive weight, each with its total weight, sorted by
            value: a weight of 0 drops a sample, an integer weight ``k``
            fits exactly as ``k`` repeats of it, and the order of the rows
            does not change the model.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes, class_index = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                "LinearHeadClassifier needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: {classes[0]!r}."
            )
        weights = sample_weights(
            host_sample_weight(sample_weight, X),
            self.class_weight,
            y,
            classes,
            class_index,
        )
        rows, weights = canonical_rows(X, class_index, weights)
        row_weights = (
            None if weights is None else (weights / np.sum(weights)).astype(X.dtype)
        )
        class_index = class_index[rows]
        # one copy of X (its rows in the fit's order), standardized in place:
        # at 90,000 x 9,216 float32 a second temporary would be 3.3 GB more
        standardized = X[rows]
        mean, scale = feature_statistics(standardized, np, row_weights)
        standardized -= mean
        standardized /= scale
        targets = encode_targets(class_index, classes.shape[0], self.loss, np, X.dtype)
        shape = (n_outputs(classes.shape[0]), X.shape[1])
        coef, intercept, n_iter = fit_head(
            standardized,
            targets,
            self.loss,
            self.alpha,
            np,
            coef=np.zeros(shape, dtype=X.dtype),
            intercept=np.zeros(shape[0], dtype=X.dtype),
            max_iter=self.max_iter,
            tol=self.tol,
            row_weights=row_weights,
        )
        if n_iter >= self.max_iter:
            warn_user(
                f"LinearHeadClassifier stopped at max_iter={self.max_iter} "
                "L-BFGS iterations before reaching tol; increase max_iter, or "
                "alpha.",
                ConvergenceWarning,
            )
        self.classes_ = classes
        self.feature_mean_, self.feature_scale_ = mean, scale
        # s W^T + b with s = (x - mean) / scale, as weights on x itself
        self.coef_ = coef / scale
        self.intercept_ = intercept - self.coef_ @ mean
        self.n_iter_ = n_iter
        return self

    @thread_count_independent
    def decision_function(self, X):
        """Signed scores of each class, on the raw features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``X @ coef_.T + intercept_``; one column (for ``classes_[1]``)
            when there are two classes.
        """
        check_is_fitted(self)
        # dense only, as fit; validated once (the mixin's method would
        # validate X again, a second pass over a wide feature matrix)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def _decision_columns(self, X):
        """The decision function (which checks the fit) with one column per
        output, (n, 1) when binary."""
        scores = self.decision_function(X)
        return scores.reshape(scores.shape[0], -1)

    @available_if(_has_log_loss)
    def predict_proba(self, X):
        """Class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax of the decision function (sigmoid for two classes), in
            the order of ``classes_``.
        """
        return probabilities(self._decision_columns(X), np)

    @available_if(_has_log_loss)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, finite where it underflows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return log_probabilities(self._decision_columns(X), np)
