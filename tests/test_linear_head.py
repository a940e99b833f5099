"""LinearHeadClassifier against independent solutions of the same problems."""

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import LinearHeadClassifier


def _standardize(X):
    scale = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def _scaled_classification(n_classes):
    """300 samples of 30 features, in columns of other scales and means."""
    X, y = make_classification(
        n_samples=300,
        n_features=30,
        n_informative=10,
        n_classes=n_classes,
        random_state=0,
    )
    return X * np.linspace(0.1, 10, 30) + 3.0, y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_log_loss_is_standardized_logistic_regression(n_classes):
    X, y = _scaled_classification(n_classes)
    alpha = 1e-2
    ours = LinearHeadClassifier(alpha=alpha, tol=1e-10, max_iter=2000).fit(X, y)
    theirs = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1 / (alpha * len(y)), tol=1e-12, max_iter=10000),
    ).fit(X, y)
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-6
    )
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # coef_ and intercept_ act on the raw features
    np.testing.assert_allclose(
        ours.decision_function(X),
        X @ ours.coef_.T.squeeze() + ours.intercept_.squeeze(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_squared_hinge_minimizes_its_objective():
    X, y = make_classification(
        n_samples=200, n_features=12, n_informative=6, n_classes=3, random_state=1
    )
    alpha = 1e-2
    ours = LinearHeadClassifier(
        loss="squared_hinge", alpha=alpha, tol=1e-10, max_iter=2000
    ).fit(X, y)
    s = _standardize(X)
    targets = 2.0 * (y[:, None] == np.arange(3)) - 1.0

    def objective(flat):  # written out here, not taken from the package
        w, b = flat[:36].reshape(3, 12), flat[36:]
        margin = np.maximum(0.0, 1.0 - targets * (s @ w.T + b))
        value = 0.5 * np.sum(margin**2) / len(y) + 0.5 * alpha * np.sum(w * w)
        g_f = -targets * margin / len(y)
        return value, np.concatenate([(g_f.T @ s + alpha * w).ravel(), g_f.sum(0)])

    theirs = minimize(
        objective,
        np.zeros(39),
        jac=True,
        method="L-BFGS-B",
        options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000),
    )
    w, b = theirs.x[:36].reshape(3, 12), theirs.x[36:]
    # the weights on the standardized features, from those on the raw ones
    w_ours = ours.coef_ * ours.feature_scale_
    b_ours = ours.intercept_ + ours.coef_ @ ours.feature_mean_
    value, _ = objective(np.concatenate([w_ours.ravel(), b_ours]))
    assert value <= theirs.fun + 1e-12
    np.testing.assert_allclose(
        ours.decision_function(X), s @ w.T + b, rtol=0, atol=1e-5
    )
    assert not hasattr(ours, "predict_proba")


def test_float32_is_fitted_in_float32():
    X, y = load_digits(return_X_y=True)
    clf32 = LinearHeadClassifier(alpha=1e-3).fit(X.astype(np.float32), y)
    clf64 = LinearHeadClassifier(alpha=1e-3).fit(X, y)
    assert clf32.coef_.dtype == np.float32 and clf32.intercept_.dtype == np.float32
    assert clf64.coef_.dtype == np.float64
    agreement = np.mean(clf32.predict(X) == clf64.predict(X))
    assert agreement > 0.99


def test_stopped_by_max_iter_warns():
    X, y = load_digits(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="max_iter=2") as record:
        LinearHeadClassifier(alpha=1e-6, max_iter=2).fit(X, y)
    # reported at the caller's line, not inside scikit-learn's fit wrapper
    assert record[0].filename == __file__


def test_one_class_is_refused_by_name():
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="at least 2 classes.*'a'"):
        LinearHeadClassifier().fit(X, ["a"] * 10)


def test_string_labels_and_log_probabilities():
    X, y = load_digits(n_class=3, return_X_y=True)
    labels = np.array(["zero", "one", "two"])[y]
    clf = LinearHeadClassifier(alpha=1e-3).fit(X, labels)
    assert set(clf.predict(X)) <= set(labels)
    np.testing.assert_allclose(
        np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), rtol=1e-12
    )


@pytest.mark.parametrize("n_classes", [2, 4])
def test_weighted_log_loss_is_weighted_logistic_regression(n_classes):
    """sample_weight and class_weight: the problem of a StandardScaler and a
    LogisticRegression both fitted with the weights, at C = 1 / (alpha sum w)."""
    X, y = _scaled_classification(n_classes)
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    class_weight = {0: 2.0, 1: 0.5}
    total = np.sum(w * np.where(y == 0, 2.0, np.where(y == 1, 0.5, 1.0)))
    alpha = 1e-2
    ours = LinearHeadClassifier(
        alpha=alpha, tol=1e-10, max_iter=2000, class_weight=class_weight
    ).fit(X, y, sample_weight=w)
    scaler = StandardScaler().fit(
        X, sample_weight=w * np.where(y == 0, 2.0, np.where(y == 1, 0.5, 1.0))
    )
    theirs = LogisticRegression(
        C=1 / (alpha * total), tol=1e-12, max_iter=10000, class_weight=class_weight
    ).fit(scaler.transform(X), y, sample_weight=w)
    np.testing.assert_allclose(
        ours.predict_proba(X),
        theirs.predict_proba(scaler.transform(X)),
        rtol=0,
        atol=1e-6,
    )
    unweighted = LinearHeadClassifier(alpha=alpha, tol=1e-10, max_iter=2000).fit(X, y)
    assert np.max(np.abs(unweighted.predict_proba(X) - ours.predict_proba(X))) > 1e-2


def _assert_same_head(got, want, X):
    np.testing.assert_array_equal(got.coef_, want.coef_)
    np.testing.assert_array_equal(got.intercept_, want.intercept_)
    np.testing.assert_array_equal(got.feature_mean_, want.feature_mean_)
    np.testing.assert_array_equal(got.decision_function(X), want.decision_function(X))


# 50 iterations are enough to compare two fits, not to converge
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge"])
def test_integer_weights_repeat_rows_and_order_does_not_matter(loss):
    """The fit reads the distinct rows sorted by value with their total
    weights: repeats (reshuffled) equal integer weights, zeros equal dropped
    rows, and a permutation of the rows changes nothing, bit for bit."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    rng = np.random.default_rng(0)
    w = rng.integers(0, 4, size=len(y))
    params = dict(loss=loss, alpha=1e-2, max_iter=50)
    weighted = LinearHeadClassifier(**params).fit(X, y, sample_weight=w)
    repeated = rng.permutation(np.repeat(np.arange(len(y)), w))
    twin = LinearHeadClassifier(**params).fit(X[repeated], y[repeated])
    _assert_same_head(weighted, twin, X)
    kept = w > 0
    zeros = LinearHeadClassifier(**params).fit(X, y, sample_weight=kept * 1.0)
    dropped = LinearHeadClassifier(**params).fit(X[kept], y[kept])
    _assert_same_head(zeros, dropped, X)
    perm = rng.permutation(len(y))
    shuffled = LinearHeadClassifier(**params).fit(X[perm], y[perm], w[perm])
    _assert_same_head(shuffled, weighted, X)


def test_balanced_class_weight_is_per_class_sample_weight():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    keep = (y < 3) | (np.arange(len(y)) % 3 == 0)  # unbalanced classes
    X, y = X[keep], y[keep]
    balanced = LinearHeadClassifier(alpha=1e-2, class_weight="balanced").fit(X, y)
    per_class = len(y) / (10 * np.bincount(y))
    explicit = LinearHeadClassifier(alpha=1e-2).fit(X, y, sample_weight=per_class[y])
    _assert_same_head(balanced, explicit, X)
    plain = LinearHeadClassifier(alpha=1e-2).fit(X, y)
    assert not np.array_equal(plain.coef_, balanced.coef_)


def test_bad_sample_weights_are_refused_by_name():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        LinearHeadClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sum to 0"):
        LinearHeadClassifier(class_weight=dict.fromkeys(range(10), 0.0)).fit(X, y)
