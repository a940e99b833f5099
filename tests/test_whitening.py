"""Whitening learned in fit (ZCA of whole images) and applied to every input."""

import pickle
import warnings

import array_api_strict
import numpy as np
import pytest
import scipy.linalg
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
from sklearn_ckn._ops.whitening import apply_zca, fit_zca


def _correlated_images(n=60, shape=(6, 6, 3), seed=0):
    """Images whose neighbouring values are correlated, as in photos: white
    noise smoothed along every axis, plus a per-channel offset."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape))
    for axis in (1, 2, 3):
        x = x + np.roll(x, 1, axis=axis)
    return x + np.array([0.5, -0.2, 1.0])


def test_zca_matches_the_regularized_inverse_square_root():
    """The matrix is (C + r I)^{-1/2} for the images' covariance C and
    r = reg * mean eigenvalue, computed here with scipy's sqrtm; the whitened
    training images have covariance C (C + r I)^{-1}."""
    x = _correlated_images().reshape(60, -1)
    reg = 0.1
    mean, matrix = fit_zca(x, reg, np)
    centred = x - x.mean(axis=0)
    covariance = centred.T @ centred / len(x)
    r = reg * np.trace(covariance) / len(covariance)
    expected = np.linalg.inv(np.real(scipy.linalg.sqrtm(covariance + r * np.eye(108))))
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(matrix, expected, rtol=1e-7, atol=1e-9)
    white = apply_zca(x, mean, matrix, np)
    white_cov = white.T @ white / len(x)
    np.testing.assert_allclose(
        white_cov, covariance @ np.linalg.inv(covariance + r * np.eye(108)), atol=1e-8
    )


def _whitened_by_hand(rows, estimator):
    """``rows`` whitened with the estimator's learned mean and matrix, BLAS
    at one thread as inside the estimators: some OpenBLAS kernels (Nehalem's)
    split this product over threads with other rounding, 4e-15 here, which
    two Adam epochs of the classifier grow to 6e-5."""
    with threadpool_limits(1):
        return (rows - estimator.whitening_mean_) @ estimator.whitening_matrix_


@pytest.mark.parametrize("Estimator", [CKNFeatureExtractor, CKNClassifier])
@pytest.mark.parametrize("layout", ["images", "rows", "channels-first rows", "signals"])
def test_whitened_network_is_the_network_on_explicitly_whitened_input(
    Estimator, layout
):
    """whitening='images' equals the plain estimator fitted and applied on
    images whitened by hand with the learned mean and matrix (float64,
    1e-10): image arrays with channels, 2-D rows with image_shape (channels
    last and first: the mean and matrix follow X's columns), 1-D signals."""
    x = _correlated_images()
    params = dict(n_filters=(4, 6), random_state=0)
    if layout == "images":
        params.update(channel_axis=-1)
    elif layout == "rows":
        params.update(image_shape=(6, 6, 3), channel_axis=-1)
        x = x.reshape(60, -1)
    elif layout == "channels-first rows":
        params.update(image_shape=(3, 6, 6), channel_axis=0)
        x = np.moveaxis(x, -1, 1).reshape(60, -1)
    else:
        x = x.reshape(60, -1)[:, :40]
    y = np.arange(60) % 3
    if Estimator is CKNClassifier:
        params.update(max_iter=2)
    white = Estimator(whitening="images", **params)
    plain = Estimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        white.fit(x, y)
        flat = x.reshape(len(x), -1)  # X's own columns
        np.testing.assert_allclose(white.whitening_mean_, flat.mean(axis=0))
        by_hand = _whitened_by_hand(flat, white)
        plain.fit(by_hand.reshape(x.shape), y)
    assert white.whitening_matrix_.shape == (flat.shape[1],) * 2
    for a, b in zip(white.filters_, plain.filters_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    probe = _correlated_images(seed=1)
    if layout == "channels-first rows":
        probe = np.moveaxis(probe, -1, 1)
    probe = probe if layout == "images" else probe.reshape(60, -1)[:, : x.shape[1]]
    by_hand = _whitened_by_hand(probe.reshape(60, -1), white)
    np.testing.assert_allclose(
        white.transform(probe),
        plain.transform(by_hand.reshape(probe.shape)),
        rtol=1e-10,
        atol=1e-12,
    )


def test_no_whitening_leaves_the_model_as_it_was():
    x = _correlated_images()
    est = CKNFeatureExtractor(n_filters=(4, 6), channel_axis=-1, random_state=0)
    features = est.fit(x).transform(x)
    assert est.whitening_mean_ is None and est.whitening_matrix_ is None
    again = clone(est).set_params(whitening=None).fit(x).transform(x)
    np.testing.assert_array_equal(features, again)


def test_whitening_is_learned_on_each_training_fold_only():
    """Inside a Pipeline under cross-validation, each fold's whitening is the
    statistic of that fold's training rows: fitting it on all rows (leaking
    the test fold) would give the same mean in every fold."""
    x = _correlated_images(n=90).reshape(90, -1)
    y = np.arange(90) % 3
    pipe = make_pipeline(
        CKNFeatureExtractor(
            n_filters=(4, 6),
            image_shape=(6, 6, 3),
            channel_axis=-1,
            whitening="images",
            random_state=0,
        ),
        LogisticRegression(max_iter=200),
    )
    folds = list(KFold(3).split(x))
    result = cross_validate(pipe, x, y, cv=folds, return_estimator=True)
    means = []
    for (train, _), fitted in zip(folds, result["estimator"]):
        mean = fitted[0].whitening_mean_
        np.testing.assert_allclose(mean, x[train].mean(axis=0), rtol=1e-12)
        means.append(mean)
    assert not np.allclose(means[0], means[1])


def test_whitening_is_pickled_with_the_model():
    x = _correlated_images()
    est = CKNFeatureExtractor(
        n_filters=(4, 6), channel_axis=-1, whitening="images", random_state=0
    ).fit(x)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(x), est.transform(x))
    np.testing.assert_array_equal(loaded.whitening_matrix_, est.whitening_matrix_)


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_whitened_features_do_not_depend_on_the_batch_size(batch_size):
    x = _correlated_images()
    est = CKNFeatureExtractor(
        n_filters=(4, 6), channel_axis=-1, whitening="images", random_state=0
    )
    reference = est.fit(x).transform(x)
    got = est.set_params(batch_size=batch_size).transform(x)
    np.testing.assert_array_equal(got, reference)


def test_whitening_with_given_filters_and_float32():
    x = _correlated_images()
    fitted = CKNFeatureExtractor(
        n_filters=(4, 6), channel_axis=-1, whitening="images", random_state=0
    ).fit(x)
    given = CKNFeatureExtractor(
        filters=fitted.filters_, channel_axis=-1, whitening="images"
    ).fit(x)
    np.testing.assert_array_equal(given.transform(x), fitted.transform(x))
    x32 = x.astype(np.float32)
    f32 = clone(fitted).fit(x32).transform(x32)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, fitted.transform(x), rtol=0, atol=2e-4)


def test_array_api_strict_run_matches_numpy():
    x = _correlated_images()
    est = CKNFeatureExtractor(
        n_filters=(4, 6), channel_axis=-1, whitening="images", random_state=0
    )
    expected = est.fit_transform(x)
    x_strict = array_api_strict.asarray(x)
    with config_context(array_api_dispatch=True):
        strict = clone(est).fit(x_strict)
        out = strict.transform(x_strict)
    assert isinstance(strict.whitening_matrix_, type(x_strict))
    np.testing.assert_allclose(np.from_dlpack(out), expected, rtol=1e-9, atol=1e-11)


def test_images_too_large_to_whiten_whole_are_refused():
    x = np.random.default_rng(0).random((3, 9000))
    with pytest.raises(ValueError, match="takes images of at most 8192 values"):
        CKNFeatureExtractor(n_filters=2, whitening="images").fit(x)


def test_invalid_whitening_parameters_get_scikit_learns_message():
    x = _correlated_images().reshape(60, -1)
    with pytest.raises(ValueError, match="The 'whitening' parameter"):
        CKNFeatureExtractor(whitening="zca").fit(x)
    with pytest.raises(ValueError, match="The 'whitening_reg' parameter"):
        CKNFeatureExtractor(whitening="images", whitening_reg=0.0).fit(x)


# ---------------------------------------------------- whitened patches


def _explicit_patch_map(x, est, k=3):
    """The first layer's k x k patches of ``x`` ((n, H, W, C) images, 'same'
    padding), whitened by hand with ``est``'s fitted mean and matrix, as a
    map with one channel per patch value (in filters_[0]'s row order)."""
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
    patches = windows.reshape(*windows.shape[:3], -1)  # (n, H, W, C k k)
    return (patches - est.whitening_mean_) @ est.whitening_matrix_


def _as_one_by_one(filters):
    """filters_[0] of a patch-whitened model as a 1x1 layer on the patch map."""
    first = filters[0].reshape(len(filters[0]), -1, 1, 1)
    return [first, *filters[1:]]


NETWORK = dict(n_filters=(5, 6), subsampling=(2, 2), channel_axis=-1, random_state=0)


def test_whitened_patch_network_is_the_network_on_explicitly_whitened_patches():
    """whitening='patches' equals the plain network whose first layer is 1x1
    on the map of explicitly whitened patches (float64, 1e-10): the same
    features, and the same filters learned (k-means samples the same
    positions of both)."""
    x = _correlated_images()
    white = CKNFeatureExtractor(whitening="patches", **NETWORK).fit(x)
    d = 3 * 3 * 3
    assert white.whitening_mean_.shape == (d,)
    assert white.whitening_matrix_.shape == (d, d)
    patch_map = _explicit_patch_map(x, white)
    plain = CKNFeatureExtractor(
        filters=_as_one_by_one(white.filters_), channel_axis=-1, subsampling=(2, 2)
    ).fit(patch_map)
    np.testing.assert_allclose(
        white.transform(x), plain.transform(patch_map), rtol=1e-10, atol=1e-12
    )
    probe = _correlated_images(seed=1)
    np.testing.assert_allclose(
        white.transform(probe),
        plain.transform(_explicit_patch_map(probe, white)),
        rtol=1e-10,
        atol=1e-12,
    )
    learned = CKNFeatureExtractor(patch_size=(1, 3), **NETWORK).fit(patch_map)
    for a, b in zip(learned.filters_, _as_one_by_one(white.filters_)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_training_through_whitened_patches_is_training_on_the_patch_map():
    """The classifier's objective and gradients (filters of both layers,
    head) with whitened patches equal those of the plain network on the
    explicitly whitened patch map, at the same parameters (float64, 1e-10).
    Compared before any step: a fitted head stops at L-BFGS's tolerance, and
    Adam turns rounding-sized gradients into full steps, so whole fits agree
    only to about 1e-4."""
    from sklearn_ckn._ops.head import encode_targets
    from sklearn_ckn._ops.patches import filters_from_internal

    x = _correlated_images()
    y = np.arange(60) % 3
    start = CKNFeatureExtractor(whitening="patches", **NETWORK).fit(x)
    params = dict(channel_axis=-1, subsampling=(2, 2), random_state=0)
    white = CKNClassifier(filters=start.filters_, whitening="patches", **params)
    setup = white._fit_setup(x)
    white_trainer = white._new_trainer(setup, 3, 60)[0]
    layout = white._whitening_attributes(setup, white_trainer.whitening)
    white.whitening_mean_ = layout["whitening_mean_"]
    white.whitening_matrix_ = layout["whitening_matrix_"]
    patch_map = _explicit_patch_map(x, white)
    plain = CKNClassifier(filters=_as_one_by_one(start.filters_), **params)
    plain_trainer = plain._new_trainer(plain._fit_setup(patch_map), 3, 60)[0]
    for trainer in (white_trainer, plain_trainer):  # one head for both
        coef = np.linspace(-1, 1, trainer.coef.size).reshape(trainer.coef.shape)
        trainer.coef, trainer.intercept = coef, np.array([0.1, -0.2, 0.3])
    targets = encode_targets(np.asarray(y), 3, "squared_hinge", np, np.float64)
    value, grads = white_trainer.objective_and_gradients(x, targets)
    plain_value, plain_grads = plain_trainer.objective_and_gradients(patch_map, targets)
    np.testing.assert_allclose(value, plain_value, rtol=1e-10)
    # the first layer's filters: internal patch order there, channel order here
    first = filters_from_internal(grads[0], 3, (3, 3), np).reshape(len(grads[0]), -1)
    for a, b in zip([first, *grads[1:]], plain_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())


def test_whitened_patches_pickle_and_do_not_depend_on_the_batch_size():
    x = _correlated_images()
    est = CKNFeatureExtractor(whitening="patches", **NETWORK).fit(x)
    reference = est.transform(x)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(est)).transform(x), reference
    )
    np.testing.assert_array_equal(est.set_params(batch_size=7).transform(x), reference)
    # a refit without whitening drops it
    est.set_params(whitening=None).fit(x)
    assert est.whitening_mean_ is None and est.whitening_matrix_ is None


def test_whitened_patches_on_array_api_strict_match_numpy():
    x = _correlated_images()
    est = CKNFeatureExtractor(whitening="patches", **NETWORK)
    expected = est.fit_transform(x)
    x_strict = array_api_strict.asarray(x)
    with config_context(array_api_dispatch=True):
        strict = clone(est).fit(x_strict)
        out = strict.transform(x_strict)
    np.testing.assert_allclose(np.from_dlpack(out), expected, rtol=1e-9, atol=1e-11)


def test_patches_are_centred_on_their_own_mean_before_the_zca():
    """The patch whitening removes each patch's mean: a constant offset added
    to a patch leaves it whitened the same (the matrix is P W, and P's rows
    sum to 0)."""
    x = _correlated_images()
    est = CKNFeatureExtractor(whitening="patches", n_patches=100000, **NETWORK).fit(x)
    mean, matrix = est.whitening_mean_, est.whitening_matrix_
    patch = np.random.default_rng(0).random(27)
    np.testing.assert_allclose(
        (patch + 0.7 - mean) @ matrix, (patch - mean) @ matrix, atol=1e-12
    )
    np.testing.assert_allclose(matrix.sum(axis=0), 0.0, atol=1e-9)  # P 1 = 0


@pytest.mark.parametrize("given_filters", [False, True])
def test_patch_whitening_of_blank_images_is_refused_clearly(given_filters):
    """All-zero images have no non-zero patch to learn a whitening from."""
    params = dict(channel_axis=-1, whitening="patches")
    if given_filters:
        w = np.zeros((2, 3, 3, 3))
        w[0, 0, 0, 0] = w[1, 1, 1, 1] = 1.0
        params.update(filters=[w])
    with pytest.raises(ValueError, match="non-zero patches, and X gave 0"):
        CKNFeatureExtractor(n_filters=2, **params).fit(np.zeros((4, 6, 6, 3)))


@pytest.mark.parametrize("whitening", ["images", "patches"])
@pytest.mark.parametrize("resume", ["partial_fit", "warm_start"])
def test_resumed_fits_keep_the_whitening_of_the_first_fit(whitening, resume):
    """partial_fit and a warm-started fit train on from the first fit with
    its whitening, of the same kind: the model keeps the learned mean and
    matrix and still transforms."""
    x = _correlated_images()
    y = np.arange(60) % 3
    clf = CKNClassifier(
        n_filters=(4, 6),
        channel_axis=-1,
        whitening=whitening,
        max_iter=1,
        warm_start=resume == "warm_start",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
        mean, matrix = clf.whitening_mean_.copy(), clf.whitening_matrix_.copy()
        clf.partial_fit(x, y) if resume == "partial_fit" else clf.fit(x, y)
    assert len(clf.loss_curve_) == 2  # trained on, not started again
    np.testing.assert_array_equal(clf.whitening_mean_, mean)
    np.testing.assert_array_equal(clf.whitening_matrix_, matrix)
    assert clf._whitening_kind == whitening
    assert clf.transform(x).shape == (60, int(np.prod(clf.output_shape_)))


def test_patch_zca_reorders_as_a_permutation_of_rows_and_columns():
    """The patch ZCA moves between internal patch order (offset-major,
    channel fastest) and filters_[0]'s row order as P M P^T, not its
    transpose: checked on a non-symmetric matrix against the permutation
    read off filters_to_internal."""
    from sklearn_ckn._layer import LayerSpec
    from sklearn_ckn._whitening_state import (
        _patch_internal,
        _patch_layout,
        _reorder_patch_zca,
    )

    spec = LayerSpec(4, (3, 3), (1, 1), "exp", 0.6, "same", 1e-2)
    d = 27
    rng = np.random.default_rng(0)
    mean, matrix = rng.standard_normal(d), rng.standard_normal((d, d))
    order = _patch_internal(np.arange(d, dtype=float)[None, :], 3, (3, 3), np)[0]
    order = order.astype(int)  # internal position i holds layout entry order[i]
    internal = _reorder_patch_zca((mean, matrix), 3, spec, np, _patch_internal)
    np.testing.assert_array_equal(internal[0], mean[order])
    np.testing.assert_array_equal(internal[1], matrix[np.ix_(order, order)])
    back = _reorder_patch_zca(internal, 3, spec, np, _patch_layout)
    np.testing.assert_array_equal(back[0], mean)
    np.testing.assert_array_equal(back[1], matrix)
