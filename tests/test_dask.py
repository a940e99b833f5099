"""Scale-out on Dask: transform and predict over row-chunked Dask arrays, and
GridSearchCV under joblib's Dask backend on a local distributed cluster."""

import warnings

import dask.array as da
import distributed
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from sklearn_ckn import (
    CKNClassifier,
    CKNFeatureExtractor,
    dask_predict,
    dask_transform,
)

from ._fitting import fit_quietly


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16.0, y[:240]


@pytest.fixture(scope="module")
def extractor(digits):
    return CKNFeatureExtractor(
        n_filters=(4, 8), image_shape=(8, 8), random_state=0
    ).fit(digits[0])


@pytest.fixture(scope="module")
def classifier(digits):
    clf = CKNClassifier(
        n_filters=(4, 8), image_shape=(8, 8), max_iter=2, random_state=0
    )
    return fit_quietly(clf, *digits)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_over_uneven_row_chunks_equals_in_memory(digits, extractor, dtype):
    X = digits[0].astype(dtype)
    # uneven row chunks, and the columns cut in two: the helper merges them
    lazy = dask_transform(extractor, da.from_array(X, chunks=(70, 40)))
    assert lazy.shape == (len(X), np.prod(extractor.output_shape_))
    assert lazy.chunks[0] == (70, 70, 70, 30)
    assert lazy.dtype == dtype
    got = lazy.compute()
    assert got.dtype == dtype
    expected = extractor.transform(X)
    if dtype == np.float64:
        np.testing.assert_array_equal(got, expected)
    else:  # blocks of other sizes round differently (docs/reliability.md)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_transform_of_image_arrays(digits):
    X = digits[0].reshape(-1, 8, 8)
    ckn = CKNFeatureExtractor(n_filters=(4, 8), random_state=0).fit(X)
    lazy = dask_transform(ckn, da.from_array(X, chunks=(50, 8, 8)))
    np.testing.assert_array_equal(lazy.compute(), ckn.transform(X))


def test_classifier_transform_and_predict(digits, classifier):
    X = da.from_array(digits[0], chunks=64)
    np.testing.assert_array_equal(
        dask_transform(classifier, X).compute(), classifier.transform(digits[0])
    )
    labels = dask_predict(classifier, X)
    assert labels.shape == (len(digits[0]),)
    assert labels.dtype == classifier.classes_.dtype
    np.testing.assert_array_equal(labels.compute(), classifier.predict(digits[0]))


def test_predict_of_a_pipeline_with_string_labels(digits, extractor):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four"] * 2)[y]
    model = make_pipeline(extractor, LinearSVC(C=0.1)).fit(X, names)
    got = dask_predict(model, da.from_array(X, chunks=100)).compute()
    np.testing.assert_array_equal(got, model.predict(X))


def test_helpers_refuse_what_they_cannot_serve(digits, extractor):
    with pytest.raises(TypeError, match="takes a dask.array.Array"):
        dask_transform(extractor, digits[0])
    with pytest.raises(ValueError, match="got 1 axis"):
        dask_transform(extractor, da.zeros(10, chunks=5))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        dask_transform(CKNFeatureExtractor(), da.from_array(digits[0], chunks=50))


def test_grid_search_on_a_local_dask_cluster_matches_the_default_backend(digits):
    from joblib import parallel_config

    X, y = digits
    grid = dict(ckn__n_filters=[(2, 4), (4, 8)], svc__C=[0.01, 0.1])

    def search():
        model = Pipeline(
            [
                ("ckn", CKNFeatureExtractor(image_shape=(8, 8), random_state=0)),
                ("svc", LinearSVC(max_iter=5000)),
            ]
        )
        return GridSearchCV(model, grid, cv=3, n_jobs=2)

    expected = search().fit(X, y)
    with warnings.catch_warnings():
        # distributed warns about ports and the event loop on some machines
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            with distributed.get_task_stream(client) as tasks:
                with parallel_config(backend="dask"):
                    got = search().fit(X, y)
            # the search's 12 fits (and their scoring) ran on the cluster
            assert len(tasks.data) >= 12
    assert got.best_params_ == expected.best_params_
    np.testing.assert_allclose(
        got.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(got.predict(X), expected.predict(X))
