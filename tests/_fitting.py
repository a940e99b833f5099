"""Helpers shared by the classifier tests: a small network, a quiet fit, and
the rows in the order a fit trains on them."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier
from sklearn_ckn._training_set import canonical_rows


def small_classifier(**params):
    """A CKNClassifier of 6 then 12 filters on 8x8 digits, seed 0."""
    settings = dict(n_filters=(6, 12), image_shape=(8, 8), random_state=0)
    settings.update(params)
    return CKNClassifier(**settings)


def fit_quietly(estimator, *data):
    """``estimator.fit(*data)``, with the max_iter ConvergenceWarning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*data)


def training_order(X, y):
    """``X`` and ``y`` reduced to the rows a CKNClassifier fit trains on, in
    its order (distinct rows, sorted by value): what its unsupervised start
    and its epochs see (without whitening, which sorts them again)."""
    rows, _ = canonical_rows(np.asarray(X), np.unique(y, return_inverse=True)[1])
    return X[rows], y[rows]
