"""End-to-end use on scikit-learn's digits: accuracy and model selection."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from sklearn_ckn import CKNFeatureExtractor


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)


def test_default_ckn_is_on_par_with_tuned_rbf_svc(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    svc = GridSearchCV(
        SVC(kernel="rbf"),
        {"C": [1, 10, 100], "gamma": [1e-4, 3e-4, 1e-3, 3e-3]},
        cv=3,
    ).fit(X_train, y_train)
    svc_accuracy = svc.score(X_test, y_test)

    ckn = make_pipeline(
        CKNFeatureExtractor(image_shape=(8, 8), random_state=0),  # default architecture
        StandardScaler(),
        LinearSVC(C=0.1),
    ).fit(X_train, y_train)
    ckn_accuracy = ckn.score(X_test, y_test)

    assert svc_accuracy > 0.98  # the baseline is really tuned
    assert ckn_accuracy >= svc_accuracy - 0.005
    assert ckn_accuracy >= 0.985


def test_grid_search_over_filters_and_sigma(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = make_pipeline(
        CKNFeatureExtractor(image_shape=(8, 8), n_patches=2000, random_state=0),
        StandardScaler(),
        LinearSVC(C=0.1, max_iter=5000),
    )
    grid = {
        "cknfeatureextractor__n_filters": [(4, 8), (16, 32)],
        "cknfeatureextractor__sigma": [0.3, 0.6],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X_train[:400], y_train[:400])
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(np.isfinite(scores))
    assert search.best_params_["cknfeatureextractor__n_filters"] in [(4, 8), (16, 32)]
    assert search.best_score_ == scores.max()
    assert search.score(X_test, y_test) > 0.9
