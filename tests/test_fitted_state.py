"""transform and predict read what fit learned, never today's parameters,
and a fitted model shares no memory with what the caller passed in."""

import numpy as np
import pytest

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor

from ._fitting import fit_quietly


def _color_images(n=40, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, 3))


@pytest.mark.parametrize("changed", [0, None, 1])
@pytest.mark.parametrize("Estimator", [CKNFeatureExtractor, CKNClassifier])
def test_changing_channel_axis_after_fit_changes_nothing(Estimator, changed):
    X = _color_images()
    y = np.arange(len(X)) % 2
    est = Estimator(n_filters=(4, 6), channel_axis=-1, random_state=0)
    if Estimator is CKNClassifier:
        fit_quietly(est.set_params(max_iter=2), X, y)
        before = est.decision_function(X)
    else:
        before = est.fit(X).transform(X)
    est.set_params(channel_axis=changed)
    after = est.decision_function(X) if Estimator is CKNClassifier else est.transform(X)
    np.testing.assert_array_equal(after, before)
    if Estimator is CKNClassifier:
        np.testing.assert_array_equal(est.predict(X), (before > 0).astype(int))


def test_changing_image_shape_after_fit_changes_nothing():
    X = _color_images().reshape(40, -1)
    est = CKNFeatureExtractor(
        n_filters=(4, 6), image_shape=(8, 8, 3), channel_axis=-1, random_state=0
    )
    before = est.fit(X).transform(X)
    est.set_params(image_shape=(3, 8, 8), channel_axis=0)
    np.testing.assert_array_equal(est.transform(X), before)


def test_given_filters_are_copied():
    """Changing the caller's filter arrays after fit changes neither the
    fitted filters nor the features (their M would be stale)."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 1, 3, 3))
    w1 /= np.linalg.norm(w1.reshape(4, -1), axis=1).reshape(4, 1, 1, 1)
    w2 = rng.standard_normal((6, 4, 3, 3))
    w2 /= np.linalg.norm(w2.reshape(6, -1), axis=1).reshape(6, 1, 1, 1)
    X = rng.random((10, 64))
    est = CKNFeatureExtractor(filters=[w1, w2], image_shape=(8, 8)).fit(X)
    before = est.transform(X)
    assert not np.shares_memory(est.filters_[0], w1)
    w1[:] = w1[::-1]
    w2 *= -1
    np.testing.assert_array_equal(est.transform(X), before)
