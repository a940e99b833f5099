"""Each estimator's scikit-learn tags say what it does: every tag a test
of ours can observe is compared with the estimator's behaviour.

Also ``_n_features_out`` and the ``device`` parameter's ``"cuda:N"``.
"""

import warnings

import array_api_strict
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor, LinearHeadClassifier
from sklearn_ckn._backend import cupy_available, parse_device

ESTIMATORS = [
    CKNFeatureExtractor(n_filters=(4, 6), image_shape=(8, 8), random_state=0),
    CKNClassifier(n_filters=(4, 6), image_shape=(8, 8), max_iter=2, random_state=0),
    LinearHeadClassifier(),
]
IDS = ["extractor", "classifier", "linear-head"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(n_class=3, return_X_y=True)
    return X[:90] / 16.0, y[:90]


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clone(estimator).fit(X, y)


def _output(estimator, X):
    method = "transform" if hasattr(estimator, "transform") else "decision_function"
    return getattr(estimator, method)(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_tags_match_behaviour(estimator, digits):
    X, y = digits
    tags = get_tags(estimator)
    # estimator_type
    assert is_classifier(estimator) == (tags.estimator_type == "classifier")
    # requires_fit
    assert tags.requires_fit
    with pytest.raises(NotFittedError):
        _output(clone(estimator), X)
    # target_tags.required: a classifier refuses y=None; the extractor needs no y
    if tags.target_tags.required:
        with pytest.raises(ValueError, match="y"):
            clone(estimator).fit(X, None)
    else:
        assert _output(clone(estimator).fit(X), X).shape[0] == len(X)
    # classifier_tags.multi_class: three classes are learned
    if tags.classifier_tags is not None:
        assert tags.classifier_tags.multi_class
        assert list(_fit(estimator, X, y).classes_) == [0, 1, 2]
    # input_tags: 2-D arrays; no NaN; no sparse matrices
    assert tags.input_tags.two_d_array
    fitted = _fit(estimator, X, y)
    assert not tags.input_tags.allow_nan
    with_nan = X.copy()
    with_nan[0, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _output(fitted, with_nan)
    assert not tags.input_tags.sparse
    with pytest.raises(TypeError, match="[Ss]parse"):
        _output(fitted, sp.csr_matrix(X))
    # non_deterministic: the same random_state, the same model
    assert not tags.non_deterministic
    np.testing.assert_array_equal(_output(_fit(estimator, X, y), X), _output(fitted, X))
    # transformer_tags.preserves_dtype: the output's dtype is the input's for
    # each listed dtype (float64 for the others)
    if tags.transformer_tags is not None:
        for dtype in ("float64", "float32"):
            Xd = X.astype(dtype)
            out = fitted.transform(Xd)
            preserved = dtype in tags.transformer_tags.preserves_dtype
            assert out.dtype == (np.dtype(dtype) if preserved else np.float64)
    # array_api_support: array-api-strict input gives array-api-strict output
    if tags.array_api_support:
        Xs = array_api_strict.asarray(X)
        with config_context(array_api_dispatch=True):
            out = _output(_fit(estimator, Xs, y), Xs)
        assert type(out).__module__.startswith("array_api_strict")
        assert out.shape == _output(fitted, X).shape
        if not is_classifier(estimator):  # trained models part at rounding level
            np.testing.assert_allclose(np.asarray(out), _output(fitted, X), atol=1e-10)


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=IDS[:2])
def test_n_features_out_is_the_width_of_transform(estimator, digits):
    X, y = digits
    fitted = _fit(estimator, X, y)
    width = fitted.transform(X).shape[1]
    assert fitted._n_features_out == width == len(fitted.get_feature_names_out())


def test_device_takes_a_gpu_index():
    assert parse_device("cuda:0") == ("cuda", 0)
    assert parse_device("cuda:12") == ("cuda", 12)
    assert parse_device("cuda") == ("cuda", None)
    assert parse_device("auto") == ("auto", None)
    for bad in ("cuda:", "cuda:-1", "cuda:x", "gpu", "CUDA"):
        with pytest.raises(ValueError, match="'cuda' or 'cuda:N'"):
            parse_device(bad)


@pytest.mark.skipif(cupy_available(), reason="tests the machine without a GPU")
@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=IDS[:2])
def test_a_gpu_index_without_cupy_is_a_clear_error(estimator, digits):
    X, y = digits
    with pytest.raises(RuntimeError, match=r"device='cuda:1' requires CuPy and a"):
        _fit(estimator.set_params(device="cuda:1"), X, y)
    with pytest.raises(
        InvalidParameterError,
        match=r"'device' parameter of CKN\w+ must be .* or 'cuda:N' with N the",
    ):
        _fit(estimator.set_params(device="gpu"), X, y)
