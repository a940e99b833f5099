"""Numerical stress: ill-conditioned K, extreme sigma, long float32 training,
and training that diverges (it stops, warns and keeps good weights)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNFeatureExtractor, _training

from ._fitting import fit_quietly, small_classifier, training_order


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:200] / 16.0, y[:200]


def _small(**kwargs):
    return small_classifier(**{"max_iter": 3, **kwargs})


_fit_quietly = fit_quietly


def _assert_finite_model(clf, X):
    for w in clf.filters_:
        assert np.all(np.isfinite(w))
        norms = np.linalg.norm(w.reshape(len(w), -1), axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    for a in (clf.coef_, clf.intercept_, clf.transform(X), clf.decision_function(X)):
        assert np.all(np.isfinite(a))
    assert all(np.isfinite(clf.loss_curve_))


def _nearly_collinear_filters(n_filters, spread, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((1, 1, 3, 3))
    w = base + spread * rng.standard_normal((n_filters, 1, 3, 3))
    return w / np.linalg.norm(w.reshape(n_filters, -1), axis=1)[:, None, None, None]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearly_collinear_filters_give_finite_features_and_training(digits, dtype):
    X, y = digits
    X = X.astype(dtype)
    filters = [_nearly_collinear_filters(6, 1e-9)]
    ckn = CKNFeatureExtractor(filters=filters, image_shape=(8, 8)).fit(X)
    # K = kappa(Z Z^T) is numerically rank one; eps keeps M bounded by 1 / eps
    m_eigenvalues = np.linalg.eigvalsh(ckn.lintrans_[0])
    assert np.all(np.isfinite(m_eigenvalues))
    assert m_eigenvalues.max() <= 1.0 / ckn.eps * (1 + 1e-5)
    assert m_eigenvalues.max() > 0.9 / ckn.eps  # K's null directions reach it
    assert np.all(np.isfinite(ckn.transform(X)))
    clf = _fit_quietly(_small(n_filters=(6,), filters=filters), X, y)
    _assert_finite_model(clf, X)


@pytest.mark.parametrize("sigma", [0.01, 50.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_sigma_gives_finite_features_and_training(digits, sigma, dtype):
    # 0.01: kappa underflows to 0 away from the filters (K close to I), here
    # everywhere in the second layer (whatever the patches drawn), which the
    # warning says;
    # 50: kappa is close to 1 everywhere (K close to all ones, ill-conditioned)
    X, y = digits
    X = X.astype(dtype)
    extractor = CKNFeatureExtractor(
        n_filters=(6, 12), image_shape=(8, 8), sigma=sigma, random_state=0
    )
    if sigma < 1:
        with pytest.warns(UserWarning, match=r"underflowed \(sigma=0.01 for layer 0"):
            features = extractor.fit_transform(X)
        assert not features.any()
    else:
        features = extractor.fit_transform(X)
    assert features.dtype == dtype
    assert np.all(np.isfinite(features))
    clf = _fit_quietly(_small(sigma=sigma, learning_rate_init=1e-4), X, y)
    if sigma < 1:
        with pytest.warns(UserWarning, match="underflowed"):
            _assert_finite_model(clf, X)
    else:
        _assert_finite_model(clf, X)


def test_float32_training_for_many_epochs_stays_finite(digits):
    X, y = digits
    X = X.astype(np.float32)
    clf = _fit_quietly(_small(max_iter=40, n_iter_no_change=40, batch_size=32), X, y)
    assert clf.n_iter_ == 40
    _assert_finite_model(clf, X)
    assert clf.coef_.dtype == np.float32
    # it trained: the loss went down, it did not just stay finite
    assert min(clf.loss_curve_[-5:]) < 0.5 * clf.loss_curve_[0]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_diverging_training_stops_and_keeps_the_start(digits, solver):
    X, y = digits
    lr = 100.0 if solver == "sgd" else 10.0
    clf = _small(solver=solver, learning_rate_init=lr, max_iter=10)
    with pytest.warns(ConvergenceWarning, match="Training diverged at iteration 2"):
        clf.fit(X, y)
    assert clf.n_iter_ == 2
    assert clf.loss_curve_[1] > 10 * clf.loss_curve_[0]
    # epoch 1 had the lowest loss: the model is the one epoch 1 started from,
    # the unsupervised filters with their convex head
    init = CKNFeatureExtractor(n_filters=(6, 12), image_shape=(8, 8), random_state=0)
    for got, want in zip(clf.filters_, init.fit(training_order(X, y)[0]).filters_):
        np.testing.assert_array_equal(got, want)
    assert clf.score(X, y) > 0.9


def test_non_finite_loss_mid_training_keeps_the_best_epochs_start(digits, monkeypatch):
    X, y = digits
    reference = _fit_quietly(_small(max_iter=2), X, y)
    original = _training.CKNTrainer.train_epoch
    calls = {"n": 0}

    def overflowing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            # what an overflow leaves behind: parameters broken mid-epoch
            self.coef = self.coef * np.nan
            raise FloatingPointError("the training objective is not finite")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", overflowing)
    with pytest.warns(ConvergenceWarning, match="iteration 3: the training loss is"):
        clf = _small(max_iter=5).fit(X, y)
    assert clf.n_iter_ == 3
    np.testing.assert_array_equal(clf.loss_curve_[:2], reference.loss_curve_)
    assert clf.loss_curve_[2] == np.inf
    # the lowest of the two finite epochs began from the start (epoch 1) or
    # from the end of epoch 1 (epoch 2)
    if reference.loss_curve_[1] < reference.loss_curve_[0]:
        expected = _fit_quietly(_small(max_iter=1), X, y)
        np.testing.assert_array_equal(clf.coef_, expected.coef_)
    else:
        init = CKNFeatureExtractor(
            n_filters=(6, 12), image_shape=(8, 8), random_state=0
        ).fit(training_order(X, y)[0])
        np.testing.assert_array_equal(clf.filters_[1], init.filters_[1])
    assert np.all(np.isfinite(clf.coef_))
    # training can resume from the kept parameters
    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", original)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 4
    assert np.isfinite(clf.loss_curve_[-1])
