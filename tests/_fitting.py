"""Helpers shared by the classifier tests: a small network and a quiet fit."""

import warnings

from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier


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
