"""signed_sqrt: the power normalization of features for a linear head."""

import pickle

import array_api_strict
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_ckn import CKNFeatureExtractor, LinearHeadClassifier, signed_sqrt


def test_signed_sqrt_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 7)) * 10.0 ** rng.integers(-30, 30, size=(50, 7))
    x[0, :3] = [0.0, -0.0, np.inf]
    out = signed_sqrt(x)
    # independently: the root of the magnitude, the sign put back by hand
    expected = np.sqrt(np.abs(x))
    expected[x < 0] *= -1
    np.testing.assert_array_equal(out, expected)
    assert not np.any(np.signbit(out[x >= 0]))
    # squaring back gives the input to a rounding
    np.testing.assert_allclose(out * np.abs(out), x, rtol=4e-16)


def test_signed_sqrt_dtypes_and_array_likes():
    assert signed_sqrt(np.ones((2, 3), dtype=np.float32)).dtype == np.float32
    ints = signed_sqrt([[4, -9], [0, 1]])
    assert isinstance(ints, np.ndarray) and ints.dtype == np.float64
    np.testing.assert_array_equal(ints, [[2.0, -3.0], [0.0, 1.0]])


def test_signed_sqrt_keeps_the_array_namespace():
    x = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
    strict = signed_sqrt(array_api_strict.asarray(x))
    assert type(strict) is type(array_api_strict.asarray(x))
    np.testing.assert_array_equal(np.asarray(strict), signed_sqrt(x))
    as_float32 = array_api_strict.asarray(x, dtype=array_api_strict.float32)
    assert signed_sqrt(as_float32).dtype == array_api_strict.float32


def test_signed_sqrt_in_a_pipeline_fits_predicts_and_pickles():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    pipe = make_pipeline(
        CKNFeatureExtractor(n_filters=(6, 12), image_shape=(8, 8), random_state=0),
        FunctionTransformer(signed_sqrt, feature_names_out="one-to-one"),
        LinearHeadClassifier(alpha=1e-2),
    ).fit(X, y)
    features = pipe[0].transform(X)
    # the head reads the signed square roots of the network's features
    np.testing.assert_array_equal(pipe[:2].transform(X), signed_sqrt(features))
    assert pipe.score(X, y) > 0.8
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
    names = pipe[:2].get_feature_names_out()
    assert len(names) == features.shape[1]


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_signed_sqrt_passes_nan_and_infinities_through(value):
    # no error and no silent finite value: what is not a number stays so
    out = signed_sqrt(np.array([value]))
    assert np.isnan(out[0]) or out[0] == -np.inf
    assert np.isnan(out[0]) == np.isnan(value)
