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


@pytest.mark.parametrize("n_classes", [2, 4])
def test_log_loss_is_standardized_logistic_regression(n_classes):
    X, y = make_classification(
        n_samples=300,
        n_features=30,
        n_informative=10,
        n_classes=n_classes,
        random_state=0,
    )
    X = X * np.linspace(0.1, 10, 30) + 3.0  # columns of other scales and means
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
