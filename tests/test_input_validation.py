"""Every bad input gets a ValueError or TypeError whose message names the problem."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor


def _images(n=10, shape=(8, 8), seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def _fitted(**kwargs):
    params = dict(n_filters=(3, 4), random_state=0)
    params.update(kwargs)
    return CKNFeatureExtractor(**params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(bad):
    x = _images().reshape(10, -1)
    x[2, 5] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fitted(image_shape=(8, 8)).fit(x)
    ckn = _fitted(image_shape=(8, 8)).fit(_images().reshape(10, -1))
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        ckn.transform(x)


def test_sparse_input_is_refused():
    x = sp.random(10, 64, density=0.3, format="csr", random_state=0)
    with pytest.raises(TypeError, match="[Ss]parse"):
        _fitted(image_shape=(8, 8)).fit(x)


def test_complex_input_is_refused():
    x = _images().reshape(10, -1) + 1j
    with pytest.raises(ValueError, match="[Cc]omplex"):
        _fitted(image_shape=(8, 8)).fit(x)


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="0 sample"):
        _fitted(image_shape=(8, 8)).fit(np.empty((0, 64)))
    with pytest.raises(ValueError, match="0 feature"):
        _fitted().fit(np.empty((5, 0)))


def test_one_dimensional_x_is_refused():
    with pytest.raises(ValueError, match="Expected 2D array"):
        _fitted().fit(np.arange(10.0))


def test_row_length_must_match_image_shape():
    with pytest.raises(ValueError, match=r"63 features per row.*\(8, 8\) holds 64"):
        _fitted(image_shape=(8, 8)).fit(np.ones((5, 63)))
    ckn = _fitted(image_shape=(8, 8)).fit(_images().reshape(10, -1))
    with pytest.raises(
        ValueError,
        match="X has 65 features, but CKNFeatureExtractor is expecting 64 features",
    ):
        ckn.transform(np.ones((3, 65)))


def test_image_array_must_match_image_shape():
    with pytest.raises(ValueError, match=r"shape \(8, 8\), but image_shape=\(8, 9\)"):
        _fitted(image_shape=(8, 9)).fit(_images())
    ckn = _fitted().fit(_images())
    with pytest.raises(
        ValueError, match=r"shape \(8, 9\).*fitted on images of shape \(8, 8\)"
    ):
        ckn.transform(_images(3, (8, 9)))


def test_channel_count_must_match_fit():
    ckn = _fitted(channel_axis=-1).fit(_images(10, (8, 8, 3)))
    with pytest.raises(
        ValueError, match="X has 4 channels.*fitted on images with 3 channels"
    ):
        ckn.transform(_images(2, (8, 8, 4)))


def test_three_axis_images_need_channel_axis():
    with pytest.raises(ValueError, match="channel_axis=-1 for.*\\(H, W, C\\)"):
        _fitted().fit(_images(5, (8, 8, 3)))
    with pytest.raises(ValueError, match="channel_axis is set but image_shape is None"):
        _fitted(channel_axis=-1).fit(np.ones((5, 12)))


def test_more_filters_than_distinct_patches():
    x = np.zeros((6, 8, 8))
    x[:, 3, 3] = 1.0  # every image the same single dot: few distinct patches
    with pytest.warns(
        UserWarning,
        match=r"Layer 0 asks for n_filters=20, but only \d+ "
        r"distinct non-zero patches.*n_samples=6",
    ):
        CKNFeatureExtractor(n_filters=(20,), random_state=0).fit(x)


def test_patch_larger_than_valid_input():
    with pytest.raises(
        ValueError,
        match=r"patch_size \(5, 5\) with padding='valid'.*"
        r"only \(4, 4\)",
    ):
        _fitted(n_filters=(3,), patch_size=5, padding="valid").fit(_images(5, (4, 4)))


def test_per_layer_parameter_lengths_must_match():
    with pytest.raises(
        InvalidParameterError,
        match=r"'sigma' parameter is \(0.5, 0.6, 0.7\): 3 entries, but the "
        r"network has 2 layer.*must be a real number > 0",
    ):
        _fitted(sigma=(0.5, 0.6, 0.7)).fit(_images())
    with pytest.raises(
        InvalidParameterError,
        match=r"'patch_size' parameter has \(3, 3\) for layer 0, but the "
        r"input has 1 spatial axis",
    ):
        _fitted(n_filters=(3,), patch_size=((3, 3),)).fit(np.ones((5, 12)))


@pytest.mark.parametrize(
    "name, value, valid",
    [
        ("n_filters", (4, 0), r"an int >= 1"),
        ("n_filters", (4, 2.0), r"an int >= 1"),
        ("patch_size", (3, 0), r"an int >= 1, or a tuple of ints >= 1"),
        ("subsampling", (2, 2.5), r"an int >= 1, or a tuple of ints >= 1"),
        ("kernel", ("exp", "rbf"), r"one of 'arccos', 'exp', 'linear', 'poly'"),
        ("sigma", (0.6, -1.0), r"a real number > 0"),
        ("padding", ("same", "full"), r"one of 'same', 'valid'"),
    ],
)
@pytest.mark.parametrize("estimator", [CKNFeatureExtractor, CKNClassifier])
def test_per_layer_errors_name_the_parameter_the_layer_and_what_is_valid(
    estimator, name, value, valid
):
    params = {"n_filters": (4, 6), name: value}
    with pytest.raises(InvalidParameterError) as info:
        estimator(**params).fit(_images(10, (8, 8)), np.arange(10) % 2)
    message = str(info.value)
    assert f"'{name}' parameter has {value[1]!r} for layer 1" in message
    assert re.search(f"each layer's entry must be {valid}", message)


@pytest.mark.parametrize("image_shape", [(2.5, 25.6), (8, 8.0), (8, -8), (0, 64)])
def test_image_shape_entries_must_be_positive_ints(image_shape):
    with pytest.raises(InvalidParameterError, match=r"'image_shape' parameter must"):
        _fitted(image_shape=image_shape).fit(np.ones((5, 64)))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_filters=0), "n_filters"),
        (dict(kernel="rbf"), "kernel"),
        (dict(sigma=-1.0), "sigma"),
        (dict(padding="full"), "padding"),
        (dict(device="gpu"), "device"),
        (dict(eps=0.0), "eps"),
        (dict(n_patches=0), "n_patches"),
    ],
)
def test_invalid_parameters_get_scikit_learns_message(params, match):
    with pytest.raises(
        ValueError, match=f"The '{match}' parameter of CKNFeatureExtractor"
    ):
        CKNFeatureExtractor(**params).fit(_images())


def test_given_filters_are_checked():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 1, 3, 3))
    with pytest.raises(ValueError, match="unit L2 norm"):
        CKNFeatureExtractor(filters=[w]).fit(_images())
    w /= np.linalg.norm(w.reshape(4, -1), axis=1)[:, None, None, None]
    with pytest.raises(
        ValueError,
        match=r"filters\[0\] has 1 input channels, but layer 0 "
        r"receives 3",
    ):
        CKNFeatureExtractor(filters=[w], channel_axis=-1).fit(_images(5, (8, 8, 3)))
    with pytest.raises(ValueError, match=r"filters\[0\] has shape \(4, 1, 3, 3\)"):
        CKNFeatureExtractor(filters=[w]).fit(np.ones((5, 20)))


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CKNFeatureExtractor().transform(_images())
