"""The bad-input matrix: one test per kind of input, over both estimators and
every method that takes X (``fit``, ``partial_fit``, ``transform``,
``predict``). Each input gets a correct result or a ValueError / TypeError
whose message names the problem; nothing returns NaN."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
from sklearn_ckn._architecture import sigma_range

CALLS = [
    "extractor.fit",
    "extractor.transform",
    "classifier.fit",
    "classifier.partial_fit",
    "classifier.predict",
    "classifier.transform",
]
FIT_CALLS = [c for c in CALLS if c.endswith("fit")]
FITTED_CALLS = [c for c in CALLS if not c.endswith("fit")]
CLASSES = np.arange(3)


def _clean(n=12, seed=0):
    """n rows of 8x8 images with values in [0, 1)."""
    return np.random.default_rng(seed).random((n, 64))


def _labels(n):
    return np.arange(n) % 3


def _new(kind, **params):
    settings = dict(n_filters=(3, 4), image_shape=(8, 8), random_state=0)
    settings.update(params)
    if kind == "extractor":
        return CKNFeatureExtractor(**settings)
    return CKNClassifier(**{"max_iter": 2, **settings})


def _fitted(kind, **params):
    estimator = _new(kind, **params)
    if kind == "extractor":
        return estimator.fit(_clean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(_clean(), _labels(12))


def _call(call, X, **params):
    """Run ``call`` ("estimator.method") on X; what it returns (self for fits)."""
    kind, method = call.split(".")
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if method == "fit":
            estimator = _new(kind, **params)
            if kind == "extractor":
                return estimator.fit(X)
            return estimator.fit(X, _labels(n))
        if method == "partial_fit":
            return _new(kind, **params).partial_fit(X, _labels(n), classes=CLASSES)
        return getattr(_fitted(kind, **params), method)(X)


def _outputs(call, X, probe_scale=1.0, **params):
    """Something that depends on every value the call computed from X.

    For fits: the learned filters and the features or scores of clean
    images (times ``probe_scale``); otherwise the method's own output.
    """
    result = _call(call, X, **params)
    if not call.endswith("fit"):
        return [np.asarray(result)]
    filters = [np.asarray(w) for w in result.filters_]
    probe = _clean(4, seed=1) * probe_scale
    if isinstance(result, CKNClassifier):
        return [*filters, result.decision_function(probe)]
    return [*filters, result.transform(probe)]


def _assert_same_outputs(call, X, reference, **params):
    got, want = _outputs(call, X, **params), _outputs(call, reference, **params)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def _with(X, value):
    X = X.copy()
    X[2, 5] = value
    return X


# ------------------------------------------------------- refused outright


@pytest.mark.parametrize("call", CALLS)
def test_nan_is_refused(call):
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _call(call, _with(_clean(), np.nan))


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_is_refused(call, value):
    with pytest.raises(ValueError, match="Input X contains infinity"):
        _call(call, _with(_clean(), value))


@pytest.mark.parametrize("call", CALLS)
def test_empty_input_is_refused(call):
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        _call(call, np.empty((0, 64)))


def _row_length_message(call, n_features):
    """The error a row of ``n_features`` values gets: against image_shape
    at fit, against the fitted width afterwards."""
    if call.endswith("fit"):
        return (
            rf"X has {n_features} features per row, but image_shape=\(8, 8\) holds 64"
        )
    return f"X has {n_features} features, but CKN.* is expecting 64 features"


@pytest.mark.parametrize("call", CALLS)
def test_one_feature_rows_are_refused_against_the_image_shape(call):
    with pytest.raises(ValueError, match=_row_length_message(call, 1)):
        _call(call, _clean()[:, :1])


@pytest.mark.parametrize("call", ["extractor.fit", "classifier.fit"])
def test_one_feature_signals_have_too_few_patches(call):
    # without image_shape a one-feature row is a signal of length 1: its
    # 3-patches (zero padded) hold one value, so there is one direction only
    with pytest.warns(UserWarning, match="only 1 distinct non-zero patches"):
        fitted = _call(call, _clean()[:, :1], image_shape=None, n_filters=(2,))
    assert fitted.filters_[0].shape[0] == fitted.output_shape_[0] == 1


@pytest.mark.parametrize("kind", ["extractor", "classifier"])
def test_a_deeper_layer_with_too_few_patches_learns_fewer_filters(kind):
    X = np.zeros((12, 64))
    X[:, 27] = 1.0
    with pytest.warns(UserWarning, match="Layer 1 asks for n_filters=200") as info:
        fitted = _call(f"{kind}.fit", X, n_filters=(4, 200))
    n_distinct = int(re.search(r"only (\d+) distinct", str(info[0].message))[1])
    assert 0 < n_distinct < 200
    assert fitted.filters_[1].shape == (n_distinct, 4, 3, 3)
    assert fitted.output_shape_[0] == n_distinct
    features = fitted.transform(_clean())
    assert features.shape == (12, n_distinct * 4)
    # the smaller network is an ordinary one: the same features from the
    # same filters given to a fresh extractor
    given = CKNFeatureExtractor(
        filters=fitted.filters_, image_shape=(8, 8), subsampling=2
    ).fit(X)
    np.testing.assert_array_equal(given.transform(_clean()), features)


@pytest.mark.parametrize("how", ["extractor", "classifier", "pipeline"])
def test_warnings_point_at_the_users_line(how):
    """Reported at the caller's line, not inside the package or scikit-learn
    (whatever decorators and wrappers lie between)."""
    X, y = np.zeros((12, 64)), _labels(12)
    X[:, 27] = 1.0
    estimator = _new("extractor" if how == "extractor" else "classifier")
    estimator.set_params(n_filters=(20,))
    if how == "pipeline":
        estimator = make_pipeline(FunctionTransformer(), estimator)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        estimator.fit(X, y)
    messages = [w for w in record if "distinct non-zero patches" in str(w.message)]
    assert messages and all(w.filename == __file__ for w in messages)
    if how != "extractor":  # the classifier's ConvergenceWarning (max_iter=2)
        stopped = [w for w in record if issubclass(w.category, ConvergenceWarning)]
        assert stopped and all(w.filename == __file__ for w in stopped)


@pytest.mark.parametrize("call", CALLS)
def test_sparse_input_is_refused(call):
    with pytest.raises(TypeError, match="Sparse data was passed"):
        _call(call, sp.csr_matrix(_clean()))


@pytest.mark.parametrize("call", CALLS)
def test_complex_input_is_refused(call):
    with pytest.raises(ValueError, match="Complex data not supported"):
        _call(call, _clean() + 1j)


@pytest.mark.parametrize("call", CALLS)
def test_object_array_with_a_non_number_is_refused(call):
    X = _clean().astype(object)
    X[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="argument must be a string or a real number"):
        _call(call, X)


@pytest.mark.parametrize("call", CALLS)
def test_strings_that_are_not_numbers_are_refused(call):
    X = _clean().astype(str)
    X[3, 7] = "bright"
    with pytest.raises(ValueError, match="could not convert string to float"):
        _call(call, X)


@pytest.mark.parametrize("call", CALLS)
def test_row_length_must_match_the_image_shape(call):
    with pytest.raises(ValueError, match=_row_length_message(call, 63)):
        _call(call, _clean()[:, :63])


@pytest.mark.parametrize("call", FITTED_CALLS)
def test_wrong_channel_count_after_fit(call):
    rng = np.random.default_rng(0)
    kind, method = call.split(".")
    estimator = _new(kind, image_shape=None, channel_axis=-1)
    images = rng.random((12, 8, 8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(images, *(() if kind == "extractor" else (_labels(12),)))
    with pytest.raises(
        ValueError, match="X has 4 channels.*fitted on images with 3 channels"
    ):
        getattr(estimator, method)(rng.random((2, 8, 8, 4)))


def test_wrong_channel_count_in_a_later_partial_fit():
    rng = np.random.default_rng(0)
    clf = _new("classifier", image_shape=None, channel_axis=-1)
    clf.partial_fit(rng.random((12, 8, 8, 3)), _labels(12), classes=CLASSES)
    filters = [w.copy() for w in clf.filters_]
    with pytest.raises(
        ValueError, match="X has 4 channels.*fitted on images with 3 channels"
    ):
        clf.partial_fit(rng.random((12, 8, 8, 4)), _labels(12))
    for before, after in zip(filters, clf.filters_):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("call", FIT_CALLS)
def test_image_smaller_than_the_receptive_field(call):
    with pytest.raises(
        ValueError, match=r"patch_size \(5, 5\) with padding='valid'.*only \(4, 4\)"
    ):
        _call(
            call,
            _clean()[:, :16],
            image_shape=(4, 4),
            n_filters=(3,),
            patch_size=5,
            padding="valid",
        )


@pytest.mark.parametrize("call", FIT_CALLS)
def test_more_filters_than_distinct_patches(call):
    X = np.zeros((12, 64))
    X[:, 27] = 1.0  # one dot, the same in every image: 9 distinct patches
    with pytest.warns(
        UserWarning,
        match=r"Layer 0 asks for n_filters=20, but only 9 distinct.*"
        r"Layer 0 learns 9 filters instead",
    ):
        fitted = _call(call, X, n_filters=(20,))
    assert fitted.filters_[0].shape[0] == fitted.output_shape_[0] == 9
    assert np.all(np.isfinite(fitted.transform(X)))


@pytest.mark.parametrize("call", CALLS)
def test_float32_values_whose_squares_overflow_are_refused(call):
    X = (_clean() * 1e30).astype(np.float32)
    with pytest.raises(ValueError, match=r"values up to 1e\+30, too large for float32"):
        _call(call, X)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_result_is_never_returned(value):
    # the last guard, for overflows inside deep networks that the range
    # check lets through: any NaN or inf in a result raises
    from sklearn_ckn._base import check_finite_result

    maps = np.full((2, 4, 4, 1), 3.0)
    result = np.ones((3, 5))
    check_finite_result(result, maps, "the features of X")
    result[1, 2] = value
    with pytest.raises(
        ValueError,
        match=r"features of X overflowed float64 \(the largest \|X\| is 3\)",
    ):
        check_finite_result(result, maps, "the features of X")


# ------------------------------------------------ accepted and converted


@pytest.mark.parametrize("call", CALLS)
def test_lists_of_lists_equal_arrays(call):
    _assert_same_outputs(call, _clean().tolist(), _clean())


@pytest.mark.parametrize("call", CALLS)
def test_object_arrays_of_numbers_equal_float_arrays(call):
    _assert_same_outputs(call, _clean().astype(object), _clean())


@pytest.mark.parametrize("call", CALLS)
def test_numeric_strings_are_converted(call):
    X = np.round(_clean(), 6)
    _assert_same_outputs(call, X.astype(str), X)


@pytest.mark.parametrize("call", CALLS)
def test_float16_images_are_converted_to_float64(call):
    X = _clean().astype(np.float16)
    _assert_same_outputs(call, X, X.astype(np.float64))
    if call.endswith("transform"):
        assert _call(call, X).dtype == np.float64


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_integer_images_are_converted_to_float64(call, dtype):
    X = (_clean() * 255).astype(dtype)
    _assert_same_outputs(call, X, X.astype(np.float64))
    if call.endswith("transform"):
        assert _call(call, X).dtype == np.float64


# --------------------------------------------------- edge-case values


@pytest.mark.parametrize("call", CALLS)
def test_one_sample(call):
    X = _clean(1)
    if call == "classifier.fit":
        with pytest.raises(ValueError, match="at least 2 classes; got one class"):
            _call(call, X)
        return
    for a in _outputs(call, X):
        assert np.all(np.isfinite(a))
    if not call.endswith("fit"):
        # one row gives what that row gives within a larger batch
        batch = _outputs(call, np.vstack([X, _clean(5, seed=3)]))[0][:1]
        np.testing.assert_allclose(_outputs(call, X)[0], batch, rtol=1e-12)


@pytest.mark.parametrize("call", FITTED_CALLS)
def test_all_zero_images_get_finite_outputs(call):
    out = _outputs(call, np.zeros((3, 64)))[0]
    assert np.all(np.isfinite(out))
    if call.endswith("transform"):
        # every patch is zero: every position of a map holds the same vector,
        # away from the borders too
        assert np.ptp(out, axis=0).max() == 0.0
        assert np.abs(out).max() > 0.0


@pytest.mark.parametrize("call", FIT_CALLS)
def test_all_zero_images_cannot_teach_filters(call):
    with pytest.raises(ValueError, match="only 0 distinct non-zero patches"):
        _call(call, np.zeros((12, 64)))


@pytest.mark.parametrize("call", CALLS)
def test_constant_images_get_finite_outputs(call):
    X = np.full((12, 64), 3.0)
    X[6:] = 0.5  # two constant levels, so patches differ (borders: padding)
    for a in _outputs(call, X):
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("call", CALLS)
def test_huge_values_scale_the_features(call):
    # every patch norm is far above its floor, so the network is positively
    # homogeneous: the features scale with X, the filters and scores do not
    # change. 2**100 (1.3e30) scales exactly, so the fits must agree exactly
    # (with 1e30 they differ by rounding, which the head's L-BFGS stopping
    # rule and the training steps amplify to about 1e-3)
    scale = 2.0**100
    if call == "classifier.predict":
        # a model fitted on [0, 1] images scores huge images far outside its
        # training range: finite scores, nothing more to expect
        scores = _fitted("classifier").decision_function(_clean() * scale)
        assert np.all(np.isfinite(scores))
        return
    got = _outputs(call, _clean() * scale, probe_scale=scale)
    want = _outputs(call, _clean())
    if call.endswith("transform"):
        np.testing.assert_allclose(got[0], scale * want[0], rtol=1e-12)
    elif call == "extractor.fit":
        for a, b in zip(got[:-1], want[:-1]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(got[-1], scale * want[-1], rtol=1e-12)
    else:
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call", ["extractor.transform", "classifier.transform"])
def test_1e30_values_give_finite_features(call):
    got, want = _outputs(call, _clean() * 1e30)[0], _outputs(call, _clean())[0]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, 1e30 * want, rtol=1e-9)


@pytest.mark.parametrize("call", FITTED_CALLS)
def test_tiny_values_are_below_the_patch_norm_floor(call):
    # ||x||^2 << 1e-6 for every patch: the responses are those of zero images
    got = _outputs(call, _clean(3) * 1e-30)[0]
    want = _outputs(call, np.zeros((3, 64)))[0]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("call", FIT_CALLS)
def test_tiny_values_still_teach_filters(call):
    # k-means sees the sampled patches normalized by their own norm, which
    # has no floor: the first layer's filters are those learned at scale 1
    # (2**-100, about 8e-31, scales exactly); the deeper layers see the
    # floored responses of the first
    got, want = _outputs(call, _clean() * 2.0**-100), _outputs(call, _clean())
    if call == "extractor.fit":
        np.testing.assert_array_equal(got[0], want[0])
    for a in got:
        assert np.all(np.isfinite(a))


# ----------------------------------------------------- invalid parameters


INVALID_PARAMETERS = [
    ("extractor", dict(n_filters=0)),
    ("extractor", dict(kernel="rbf")),
    ("extractor", dict(sigma=-1.0)),
    ("extractor", dict(padding="full")),
    ("extractor", dict(eps=0.0)),
    ("extractor", dict(n_patches=0)),
    ("extractor", dict(device="gpu")),
    ("extractor", dict(batch_size=0)),
    ("extractor", dict(subsampling=0)),
    ("classifier", dict(patch_size=0)),
    ("classifier", dict(loss="hinge")),
    ("classifier", dict(solver="lbfgs")),
    ("classifier", dict(alpha=-1.0)),
    ("classifier", dict(head_alpha=-1.0)),
    ("classifier", dict(head_max_iter=0)),
    ("classifier", dict(learning_rate="optimal")),
    ("classifier", dict(learning_rate_init=0.0)),
    ("classifier", dict(momentum=1.5)),
    ("classifier", dict(batch_size=0)),
    ("classifier", dict(max_iter=0)),
    ("classifier", dict(tol=-1.0)),
    ("classifier", dict(n_iter_no_change=0)),
    ("classifier", dict(early_stopping="yes")),
    ("classifier", dict(validation_fraction=1.0)),
]


@pytest.mark.parametrize(
    "call, params",
    [
        (f"{kind}.{method}", params)
        for kind, params in INVALID_PARAMETERS
        for method in (("fit",) if kind == "extractor" else ("fit", "partial_fit"))
    ],
)
def test_invalid_parameters_get_scikit_learns_message(call, params):
    (name,) = params
    cls = "CKNFeatureExtractor" if call.startswith("extractor") else "CKNClassifier"
    with pytest.raises(ValueError, match=f"The '{name}' parameter of {cls} must be"):
        _call(call, _clean(), **params)


# ------------------------------------- values the arithmetic cannot carry


def _unit_filters(shape, dtype=np.float64, seed=0):
    w = np.random.default_rng(seed).standard_normal(shape)
    w /= np.linalg.norm(w.reshape(shape[0], -1), axis=1).reshape(-1, 1, 1, 1)
    return w.astype(dtype)


@pytest.mark.parametrize("call", FIT_CALLS)
@pytest.mark.parametrize("sigma", [1e-200, 1e-150, 1e-12, 1e-3, 1e20, 1e200])
@pytest.mark.parametrize("given_filters", [False, True])
def test_a_sigma_out_of_the_kernels_range_is_named(call, sigma, given_filters):
    """exp((u - 1) / sigma^2) needs 1/sigma^2 between the dtype's smallest
    normal number and 1 / (64 eps): outside, a ValueError names sigma and the
    range (not a ZeroDivisionError, an OverflowError or a message that blames
    X). float32 X: [2.8e-3, 9.2e18]."""
    params = dict(sigma=sigma)
    if given_filters:
        params.update(filters=[_unit_filters((3, 1, 3, 3))], n_filters=3)
    X = _clean().astype(np.float32)
    named = re.escape(f"sigma={sigma:g} for layer 0 is outside") + ".* float32"
    with pytest.raises(ValueError, match=named):
        _call(call, X, **params)


def test_a_sigma_fitted_in_float64_is_checked_again_for_float32_input():
    # fine in float64 (every response underflows, but that is another matter)
    estimator = _new("extractor", n_filters=3, sigma=1e-4).fit(_clean())
    with pytest.raises(ValueError, match=r"sigma=0.0001 for layer 0 .* float32"):
        estimator.transform(_clean().astype(np.float32))
    with pytest.warns(UserWarning, match="underflowed"):
        estimator.transform(_clean())


def _filters_whose_squared_norm_rounds_above_1(n_filters, d):
    rng = np.random.default_rng(0)
    found = []
    while len(found) < n_filters:
        w = rng.standard_normal(d)
        w /= np.linalg.norm(w)
        if w @ w > 1.0:
            found.append(w)
    return np.stack(found)


def test_the_smallest_sigma_takes_filters_whose_norm_rounds_above_1():
    """A unit filter's squared norm may round an ulp above 1, and a cosine
    with it too: with sigma at the bottom of its range, exp((u - 1) /
    sigma^2) stays finite (far below, in the old range, it overflowed)."""
    low = sigma_range("float64")[0]
    z = _filters_whose_squared_norm_rounds_above_1(3, 9)
    estimator = _new(
        "extractor", n_filters=3, sigma=low, filters=[z.reshape(3, 1, 3, 3)]
    ).fit(_clean())
    assert np.all(np.isfinite(estimator.lintrans_[0]))
    with pytest.raises(FloatingPointError), np.errstate(over="raise"):
        np.exp((z[0] @ z[0] - 1.0) / 1e-20**2)


def test_responses_that_all_underflow_are_named():
    """sigma=1e-3: exp((u - 1) * 1e6) is 0 unless a patch is nearly a filter.
    One layer: the features are all 0, with a warning that names sigma; two
    layers: the second has nothing to learn from, and the error says why."""
    estimator = _new("extractor", n_filters=4, sigma=1e-3).fit(_clean())
    with pytest.warns(UserWarning, match=r"underflowed \(sigma=0.001 for layer 0\)"):
        features = estimator.transform(_clean())
    assert not features.any()
    with pytest.raises(ValueError, match="Layer 0's responses are all 0.*sigma=0.001"):
        _new("extractor", n_filters=(4, 8), sigma=1e-3).fit(_clean())
    # a usual sigma: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert _new("extractor", n_filters=4).fit(_clean()).transform(_clean()).any()


@pytest.mark.parametrize("call", FIT_CALLS)
@pytest.mark.parametrize(
    "image_shape",
    [(-8, -8), (8, -8), (float("nan"), 8), (8, 8.5), (8, 8.0), (True, 64), ()],
)
def test_image_shape_must_hold_positive_ints(call, image_shape):
    with pytest.raises(ValueError, match="'image_shape' parameter must be None or a"):
        _call(call, _clean(), image_shape=image_shape)


@pytest.mark.parametrize("call", FIT_CALLS)
@pytest.mark.parametrize("shape", [(0, 1, 3, 3), (3, 1, 0, 3), (3, 0, 3, 3)])
def test_given_filters_with_an_empty_axis_are_named(call, shape):
    with pytest.raises(ValueError, match=r"filters\[0\] has shape .* at least 1"):
        _call(call, _clean(), filters=[np.zeros(shape)], n_filters=3)


@pytest.mark.parametrize("call", FIT_CALLS)
def test_unit_norm_float16_filters_are_accepted(call):
    """float16 filters normalized before rounding are off from unit norm by up
    to float16's unit roundoff (4.9e-4, above the 1e-4 of float32 and float64
    filters) and are accepted; the features are those of the exact filters
    to float16's precision."""
    w = _unit_filters((8, 1, 3, 3))
    w16 = w.astype(np.float16)
    deviation = np.abs(np.linalg.norm(w16.astype(float).reshape(8, -1), axis=1) - 1)
    assert deviation.max() > 1e-4  # the old tolerance refused them
    got = _outputs(call, _clean(), filters=[w16], n_filters=8)
    want = _outputs(call, _clean(), filters=[w], n_filters=8)
    for a, b in zip(got, want):
        # twice float16's unit roundoff (3e-4 measured)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * np.abs(b).max())
    with pytest.raises(ValueError, match="unit L2 norm"):  # still checked
        _call(call, _clean(), filters=[(w * 1.01).astype(np.float16)], n_filters=8)
