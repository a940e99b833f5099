"""Property-based tests: random architectures and inputs.

Over 1-3 layers, 1-D and 2-D inputs, every kernel, patch sizes 1-5,
subsampling 1-4 and both paddings, ``fit`` then ``transform`` give finite
features of the documented shape and dtype, whatever the batch size. The
expected shapes are computed here from the formulas of the docstrings, not
by the package.
"""

import math
import warnings

import hypothesis
import hypothesis.strategies as st
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor

KERNELS = ["exp", "poly", "arccos", "linear"]
PROPERTY_SETTINGS = hypothesis.settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


def conv_size(n, k, padding):
    """Positions of a map of size ``n`` where a ``k``-patch is taken."""
    return n - k + 1 + (2 * (k // 2) if padding == "same" else 0)


def pooled_size(n, s):
    return (n - 1) // s + 1


def smallest_input(layers, axis):
    """The smallest input size along ``axis`` that every layer can read."""
    need = 1  # the last map needs one position
    for layer in reversed(layers):
        k, s = layer["patch_size"][axis], layer["subsampling"]
        conv = (need - 1) * s + 1
        if layer["padding"] == "valid":
            need = max(conv + k - 1, k)
        else:
            need = max(conv + k - 1 - 2 * (k // 2), 1)
    return need


@st.composite
def architectures(draw):
    ndim = draw(st.sampled_from([1, 2]))
    n_channels = draw(st.integers(1, 3))
    layers, in_channels = [], n_channels
    for _ in range(draw(st.integers(1, 3))):
        patch = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
        # a 1-value patch has only the directions +1 and -1 (and responses
        # of one filter are all positive): one filter is all k-means can find
        one_value = in_channels * math.prod(patch) == 1
        n_filters = 1 if one_value else draw(st.integers(1, 4))
        layers.append(
            dict(
                n_filters=n_filters,
                patch_size=patch,
                subsampling=draw(st.integers(1, 4)),
                kernel=draw(st.sampled_from(KERNELS)),
                padding=draw(st.sampled_from(["same", "valid"])),
                sigma=draw(st.sampled_from([0.3, 0.6, 1.0])),
            )
        )
        in_channels = n_filters
    spatial = tuple(
        smallest_input(layers, axis) + draw(st.integers(0, 6)) for axis in range(ndim)
    )
    return dict(
        layers=layers,
        spatial=spatial,
        n_channels=n_channels,
        n_samples=draw(st.integers(1, 6)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**16)),
    )


def expected_output_shape(arch):
    spatial = arch["spatial"]
    for layer in arch["layers"]:
        spatial = tuple(
            pooled_size(conv_size(n, k, layer["padding"]), layer["subsampling"])
            for n, k in zip(spatial, layer["patch_size"])
        )
    return (arch["layers"][-1]["n_filters"], *spatial)


def estimator_params(arch):
    params = {
        name: tuple(layer[name] for layer in arch["layers"])
        for name in arch["layers"][0]
    }
    params["channel_axis"] = -1 if arch["n_channels"] > 1 else None
    return params


def images(arch, n_samples):
    rng = np.random.default_rng(arch["seed"])
    shape = arch["spatial"] + ((arch["n_channels"],) if arch["n_channels"] > 1 else ())
    return rng.standard_normal((n_samples, *shape)).astype(arch["dtype"])


def fit_or_reject(estimator, *data):
    """Fit; an input too poor for the filters asked is not an example of the
    property: a layer with fewer distinct patches than filters (e.g. fed by
    one filter of one-value patches, it sees at most two directions) learns
    fewer filters with a warning, or fails with the documented error when
    it has none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = estimator.fit(*data)
        except ValueError as exc:
            if "distinct non-zero patches" not in str(exc):
                raise
            fitted = None
    too_few = [w for w in caught if "distinct non-zero patches" in str(w.message)]
    for w in caught:
        if w not in too_few:  # any other warning is the test's to see
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if fitted is None or too_few:
        hypothesis.event("too few distinct patches")
        hypothesis.reject()
    return fitted


def assert_batch_independent(transform, X, dtype):
    whole = transform(X, None)
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    for batch_size in (1, 2):
        np.testing.assert_allclose(transform(X, batch_size), whole, rtol, atol)
    return whole


@PROPERTY_SETTINGS
@hypothesis.given(architectures())
def test_features_are_finite_with_the_documented_shape_and_dtype(arch):
    # enough images that k-means sees more distinct patches than filters
    X = images(arch, 8)
    ckn = fit_or_reject(
        CKNFeatureExtractor(random_state=0, **estimator_params(arch)), X
    )
    assert ckn.output_shape_ == expected_output_shape(arch)
    probe = images(arch, arch["n_samples"])

    def transform(x, batch_size):
        return ckn.set_params(batch_size=batch_size).transform(x)

    out = assert_batch_independent(transform, probe, arch["dtype"])
    assert out.shape == (arch["n_samples"], math.prod(ckn.output_shape_))
    assert out.dtype == arch["dtype"]
    assert np.all(np.isfinite(out))
    for w, layer in zip(ckn.filters_, arch["layers"]):
        norms = np.linalg.norm(w.reshape(w.shape[0], -1), axis=1)
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        assert w.shape[2:] == layer["patch_size"]


@hypothesis.settings(PROPERTY_SETTINGS, max_examples=15)
@hypothesis.given(architectures())
def test_classifier_scores_are_finite_and_row_independent(arch):
    X = images(arch, 9)
    y = np.arange(9) % 3
    clf = CKNClassifier(
        random_state=0, max_iter=1, head_max_iter=20, **estimator_params(arch)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_or_reject(clf, X, y)
    probe = images(arch, arch["n_samples"])
    scores = clf.decision_function(probe)
    # the classifier sizes its inference batches itself: each row's scores
    # must be those it gets alone (in float32, to rounding relative to the
    # largest score: the head's weights amplify the features' rounding)
    largest = float(np.abs(scores).max())
    if arch["dtype"] == np.float32:
        rtol, atol = 1e-4, 1e-5 * largest
    else:
        rtol, atol = 1e-10, 1e-12 * largest
    for i in range(arch["n_samples"]):
        alone = clf.decision_function(probe[i : i + 1])
        np.testing.assert_allclose(alone, scores[i : i + 1], rtol, atol)
    assert scores.shape == (arch["n_samples"], 3)
    assert scores.dtype == arch["dtype"]
    assert np.all(np.isfinite(scores))
    assert set(clf.predict(probe)) <= set(clf.classes_)
