"""CKNClassifier's sample_weight and class_weight, and their routing.

The weighted loss is the weighted mean of the samples' losses: integer
weights give the objective and gradients of the data with those samples
repeated (float64, to rounding). And a fit trains on the distinct rows in an
order of their values, with their total weights: integer weights give the
model of the samples repeated, in any order, bit for bit, and a weight of 0
drops a sample, from the unsupervised start (whitening, k-means) on.
"""

import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn.datasets import load_digits
from sklearn.ensemble import AdaBoostClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.class_weight import compute_class_weight

from sklearn_ckn._epochs import accuracy
from sklearn_ckn._ops.head import encode_targets

from ._fitting import fit_quietly, small_classifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:120] / 16.0, y[:120]


@pytest.fixture(scope="module")
def weights():
    # integers 0 to 3: zeros drop samples, the others repeat them
    return np.random.default_rng(0).integers(0, 4, size=120)


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
def test_weighted_objective_and_gradients_are_those_of_repeated_samples(
    digits, weights, loss
):
    X, y = digits
    clf = fit_quietly(small_classifier(loss=loss, max_iter=1), X, y)
    trainer = clf._trainer
    maps = clf._validate_images(X, reset=False)[0]
    index = np.searchsorted(clf.classes_, y)
    targets = encode_targets(index, 10, loss, np, np.float64)
    repeated = np.repeat(np.arange(len(y)), weights)
    value, grads = trainer.objective_and_gradients(
        maps, targets, weights=weights.astype(float)
    )
    want_value, want_grads = trainer.objective_and_gradients(
        maps[repeated], targets[repeated]
    )
    assert value == pytest.approx(want_value, rel=1e-13)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    # the full gradient (over batches) and the head's convex fit too
    trainer.config = trainer.config.__class__(
        **{**vars(trainer.config), "batch_size": 37}
    )
    value, grads = trainer.full_gradient(maps, targets, weights.astype(float))
    want_value, want_grads = trainer.full_gradient(maps[repeated], targets[repeated])
    assert value == pytest.approx(want_value, rel=1e-13)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    head = trainer.solve_head(maps, targets, 1e-1, 300, weights=weights.astype(float))
    want = trainer.solve_head(maps[repeated], targets[repeated], 1e-1, 300)
    # both minimize the same objective, each to L-BFGS's tolerance
    assert head.objective == pytest.approx(want.objective, rel=1e-9)
    np.testing.assert_allclose(head.mean, want.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(head.scale, want.scale, rtol=1e-12)


def _assert_same_model(got, want, X):
    """Two fitted classifiers equal bit for bit, in every learned array."""
    for a, b in zip(got.filters_, want.filters_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.coef_, want.coef_)
    np.testing.assert_array_equal(got.intercept_, want.intercept_)
    np.testing.assert_array_equal(got.loss_curve_, want.loss_curve_)
    np.testing.assert_array_equal(got.decision_function(X), want.decision_function(X))
    for name in ("whitening_mean_", "whitening_matrix_"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam"),
        dict(solver="sgd", batch_size=16, learning_rate_init=1e-2),
        dict(solver="exact_head", max_iter=2),
        dict(solver="adam", whitening="images"),
        dict(solver="adam", whitening="patches", loss="log_loss"),
        dict(solver="adam", early_stopping=True, validation_fraction=0.2),
    ],
    ids=["adam", "sgd", "exact_head", "images", "patches", "early_stopping"],
)
def test_integer_weights_train_as_repeated_samples(digits, weights, params):
    """End to end, from the k-means start to the final head, with
    mini-batches: samples repeated (and reshuffled) train the model of the
    integer weights bit for bit, as scikit-learn's
    check_sample_weight_equivalence asks (and more exactly)."""
    X, y = digits
    params = {"max_iter": 3, **params}
    repeated = np.random.default_rng(1).permutation(
        np.repeat(np.arange(len(y)), weights)
    )
    weighted = fit_quietly(small_classifier(**params), X, y, weights)
    twin = fit_quietly(small_classifier(**params), X[repeated], y[repeated])
    _assert_same_model(weighted, twin, X)
    # float weights of the same values, too
    as_floats = fit_quietly(small_classifier(**params), X, y, weights.astype(float))
    _assert_same_model(as_floats, twin, X)
    # and the weights matter: unweighted, the model is another one
    plain = fit_quietly(small_classifier(**params), X, y)
    assert np.max(np.abs(plain.decision_function(X) - twin.decision_function(X))) > 1e-3


@pytest.mark.parametrize("whitening", [None, "images", "patches"])
def test_zero_weights_drop_samples(digits, whitening):
    """A weight of 0 drops a sample: the fit is the dropped data's, bit for
    bit, from the unsupervised start (whitening and k-means) to the head."""
    X, y = digits
    w = np.where(np.arange(len(y)) % 4 == 0, 0.0, 1.0)
    kept = w > 0
    params = dict(whitening=whitening, batch_size=32, max_iter=2)
    weighted = fit_quietly(small_classifier(**params), X, y, w)
    dropped = fit_quietly(small_classifier(**params), X[kept], y[kept])
    _assert_same_model(weighted, dropped, X)


def test_the_order_of_the_rows_does_not_change_the_model(digits):
    """The rows sorted by value: a permutation of them (or of the weights
    with them) trains the same model bit for bit."""
    X, y = digits
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(y))
    perm = np.random.default_rng(3).permutation(len(y))
    params = dict(max_iter=2, batch_size=16, whitening="images")
    for weights in (None, w):
        first = fit_quietly(small_classifier(**params), X, y, weights)
        args = () if weights is None else (weights[perm],)
        second = fit_quietly(small_classifier(**params), X[perm], y[perm], *args)
        _assert_same_model(first, second, X)
    # partial_fit reads each call's rows the same way
    first, second = small_classifier(**params), small_classifier(**params)
    for _ in range(2):
        first.partial_fit(X, y, classes=np.arange(10))
        second.partial_fit(X[perm], y[perm], classes=np.arange(10))
    _assert_same_model(first, second, X)


def test_balanced_class_weights_count_repeats_as_weights(digits, weights):
    """class_weight='balanced' weighs each class by its total sample weight:
    repeated rows and integer weights get the same class weights."""
    X, y = digits
    repeated = np.repeat(np.arange(len(y)), weights)
    params = dict(max_iter=2, class_weight="balanced")
    weighted = fit_quietly(small_classifier(**params), X, y, weights)
    twin = fit_quietly(small_classifier(**params), X[repeated], y[repeated])
    _assert_same_model(weighted, twin, X)


def test_class_weight_is_sample_weight_per_class(digits):
    X, y = digits
    balanced = fit_quietly(small_classifier(max_iter=2, class_weight="balanced"), X, y)
    per_class = compute_class_weight("balanced", classes=np.unique(y), y=y)
    explicit = fit_quietly(small_classifier(max_iter=2), X, y, per_class[y])
    np.testing.assert_array_equal(balanced.coef_, explicit.coef_)
    as_dict = {label: 3.0 for label in range(5)}  # the other classes weigh 1
    by_dict = fit_quietly(small_classifier(max_iter=2, class_weight=as_dict), X, y)
    w = np.where(y < 5, 3.0, 1.0)
    explicit = fit_quietly(small_classifier(max_iter=2), X, y, w)
    np.testing.assert_array_equal(by_dict.coef_, explicit.coef_)
    # class weights multiply sample weights
    both = fit_quietly(small_classifier(max_iter=2, class_weight=as_dict), X, y, w)
    explicit = fit_quietly(small_classifier(max_iter=2), X, y, w * w)
    np.testing.assert_array_equal(both.coef_, explicit.coef_)
    assert not np.array_equal(balanced.coef_, by_dict.coef_)


def test_equal_weights_are_no_weights(digits):
    """Weights all equal (ones, or any constant) give the unweighted model
    bit for bit."""
    X, y = digits
    plain = fit_quietly(small_classifier(max_iter=2), X, y)
    for w in (np.ones(len(y)), np.full(len(y), 2.5)):
        weighted = fit_quietly(small_classifier(max_iter=2), X, y, w)
        np.testing.assert_array_equal(weighted.coef_, plain.coef_)


def test_partial_fit_takes_weights_but_not_balanced(digits, weights):
    X, y = digits
    clf = small_classifier()
    clf.partial_fit(X, y, classes=np.arange(10), sample_weight=weights)
    clf.partial_fit(X, y, sample_weight=weights)
    assert len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="class_weight='balanced' is not supported"):
        small_classifier(class_weight="balanced").partial_fit(
            X, y, classes=np.arange(10)
        )


@pytest.mark.parametrize(
    "bad, message",
    [
        (-np.ones(120), "Negative values in data passed to `sample_weight`"),
        (np.ones(119), r"sample_weight.shape == \(119,\), expected \(120,\)"),
        (np.zeros(120), "Sample weights must contain at least one non-zero"),
        (np.full(120, np.nan), "Input sample_weight contains NaN"),
    ],
)
def test_bad_weights_are_refused_by_name(digits, bad, message):
    X, y = digits
    clf = small_classifier(max_iter=1)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y, sample_weight=bad)
    assert not hasattr(clf, "coef_")


def test_class_weights_of_zero_everywhere_are_refused(digits):
    X, y = digits
    clf = small_classifier(class_weight=dict.fromkeys(range(10), 0.0))
    with pytest.raises(ValueError, match="sum to 0: at least one sample must"):
        clf.fit(X, y)


def test_early_stopping_scores_are_weighted(digits, weights):
    """The validation accuracy is scikit-learn's weighted accuracy_score."""

    class Scores:  # a trainer whose decision function is given
        def __init__(self, scores):
            self.scores = scores

        def decision_function(self, x):
            return self.scores

    rng = np.random.default_rng(1)
    scores, truth = rng.standard_normal((50, 4)), rng.integers(0, 4, 50)
    w = rng.integers(0, 3, 50).astype(float)
    got = accuracy(Scores(scores), None, truth, w)
    assert got == pytest.approx(
        accuracy_score(truth, scores.argmax(axis=1), sample_weight=w), rel=1e-15
    )
    assert got != pytest.approx(accuracy_score(truth, scores.argmax(axis=1)))
    X, y = digits
    clf = fit_quietly(
        small_classifier(max_iter=2, early_stopping=True, validation_fraction=0.3),
        X,
        y,
        weights.astype(float) + 1.0,
    )
    assert len(clf.validation_scores_) == 2


def test_adaboost_boosts_the_classifier(digits):
    X, y = digits
    boosted = AdaBoostClassifier(
        small_classifier(max_iter=2, n_filters=(4, 8)), n_estimators=3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        boosted.fit(X, y)
    # it fits its members with sample_weight (it refused the classifier
    # before it took them) and stops early when one fits the data
    assert len(boosted.estimators_) >= 1 and boosted.estimator_weights_[0] > 0
    assert boosted.score(X, y) > 0.5


def test_a_pipeline_routes_sample_weight(digits, weights):
    X, y = digits
    with config_context(enable_metadata_routing=True):
        clf = small_classifier(max_iter=2).set_fit_request(sample_weight=True)
        pipe = make_pipeline(FunctionTransformer(), clf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X, y, sample_weight=weights)
        # a request not made: the pipeline refuses to drop the weights
        unrequested = make_pipeline(FunctionTransformer(), small_classifier())
        with pytest.raises(Exception, match="sample_weight"):
            unrequested.fit(X, y, sample_weight=weights)
    direct = fit_quietly(small_classifier(max_iter=2), X, y, weights)
    np.testing.assert_array_equal(pipe[-1].coef_, direct.coef_)
