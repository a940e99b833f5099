"""Persistence: pickle and joblib round trips give identical models, and a
trained classifier's state is stored on the host (so a model trained on a GPU
loads on a machine without one) and moves back to its device to train on."""

import io
import pickle
import warnings

import array_api_strict
import joblib
import numpy as np
import pytest
from sklearn import config_context
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor

from ._fitting import fit_quietly, small_classifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:200] / 16.0, y[:200]


def _pickle(estimator):
    return pickle.loads(pickle.dumps(estimator))


def _joblib(estimator):
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


ROUND_TRIPS = {"pickle": _pickle, "joblib": _joblib}


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_extractor_round_trip_gives_identical_features(digits, round_trip):
    X = digits[0]
    ckn = CKNFeatureExtractor(n_filters=(4, 8), image_shape=(8, 8), random_state=0)
    ckn.fit(X)
    loaded = ROUND_TRIPS[round_trip](ckn)
    np.testing.assert_array_equal(loaded.transform(X), ckn.transform(X))
    for a, b in zip(loaded.filters_, ckn.filters_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
def test_classifier_round_trip_gives_identical_outputs(digits, round_trip, loss):
    X, y = digits
    clf = fit_quietly(small_classifier(max_iter=2, loss=loss), X, y)
    loaded = ROUND_TRIPS[round_trip](clf)
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), clf.transform(X))
    if loss == "log_loss":
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # and training resumes from the loaded state as from the original
    clf.partial_fit(X, y)
    loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.coef_, clf.coef_)
    assert loaded.loss_curve_ == clf.loss_curve_


def _arrays_in(value):
    """Every array held by ``value``: in lists, tuples, dicts, attributes."""
    if isinstance(value, type):
        return
    if hasattr(value, "__array_namespace__"):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _arrays_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays_in(v)
    elif hasattr(value, "__dict__") and not isinstance(value, type(np)):
        yield from _arrays_in(vars(value))


def test_classifier_trained_on_another_device_pickles_to_the_host(digits):
    # array-api-strict stands in for a GPU namespace: under array API
    # dispatch the trainer's arrays live there
    X, y = digits
    Xs = array_api_strict.asarray(X)
    ys = array_api_strict.asarray(y)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = small_classifier(max_iter=2).fit(Xs, ys)
        assert not isinstance(clf._trainer.coef, np.ndarray)
        payload = pickle.dumps(clf)
        expected = np.asarray(clf.decision_function(Xs))
    # the stored trainer holds NumPy arrays only (what any machine can load)
    arrays = list(_arrays_in(pickle.loads(payload)._trainer))
    assert len(arrays) > 10
    assert all(type(a) is np.ndarray for a in arrays)
    # and, loaded under dispatch again, it scores and trains where its input is
    with config_context(array_api_dispatch=True):
        loaded = pickle.loads(payload)
        np.testing.assert_array_equal(
            np.asarray(loaded.decision_function(Xs)), expected
        )
        loaded.partial_fit(Xs, ys)
        assert not isinstance(loaded._trainer.coef, np.ndarray)
        assert loaded.n_iter_ == 1 and len(loaded.loss_curve_) == 3


def test_classifier_fitted_attributes_are_host_arrays(digits):
    X, y = digits
    clf = fit_quietly(small_classifier(max_iter=1, device="cpu"), X, y)
    for name in ("coef_", "intercept_", "feature_mean_", "feature_scale_"):
        assert type(getattr(clf, name)) is np.ndarray, name
    assert all(type(w) is np.ndarray for w in [*clf.filters_, *clf.lintrans_])
    assert isinstance(clf, CKNClassifier)
