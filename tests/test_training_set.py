"""The training set as a weighted set: canonical_rows against np.unique.

np.unique(axis=0) sorts rows lexicographically and counts them: an
independent computation of the distinct (sample, label) pairs, their order
and their total weights.
"""

import array_api_strict
import numpy as np
import pytest

from sklearn_ckn import _training_set
from sklearn_ckn._training_set import canonical_rows


def _reference(X, labels, weights):
    """Distinct (row, label) pairs of positive weight in lexicographic order,
    and their total weights, by np.unique."""
    kept = weights > 0
    table = np.column_stack([X.reshape(len(X), -1)[kept], labels[kept]])
    pairs, inverse = np.unique(table, axis=0, return_inverse=True)
    return pairs, np.bincount(inverse.reshape(-1), weights=weights[kept])


def _data(rng, n, d, n_values):
    """Rows of few distinct values, so that many repeat (whole or in part)."""
    X = rng.integers(0, n_values, size=(n, d)).astype(float)
    X[n // 2 :] = X[rng.integers(0, n // 2, size=n - n // 2)]  # repeated rows
    labels = rng.integers(0, 3, size=n)
    weights = rng.integers(0, 4, size=n).astype(float)
    weights[0] = 1.0
    return X, labels, weights


@pytest.mark.parametrize("check_equal_rows_from", [15, 1])
@pytest.mark.parametrize("seed", range(20))
def test_distinct_pairs_order_and_weights_are_np_uniques(
    seed, check_equal_rows_from, monkeypatch
):
    # from column 1: rows set aside as equal early, and compared in steps of
    # 3 rows, exercise the path that long repeated rows take
    monkeypatch.setattr(_training_set, "_CHECK_EQUAL_ROWS_FROM", check_equal_rows_from)
    monkeypatch.setattr(_training_set, "_ROWS_PER_COMPARISON", 3)
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 80)), int(rng.integers(1, 40))
    X, labels, weights = _data(rng, n, d, n_values=int(rng.integers(1, 4)))
    rows, totals = canonical_rows(X, labels, weights)
    pairs, want = _reference(X, labels, weights)
    np.testing.assert_array_equal(np.column_stack([X[rows], labels[rows]]), pairs)
    if totals is None:
        assert np.all(want == want[0])
    else:
        np.testing.assert_array_equal(totals, want)
    # the same set in another order: the same rows' values, the same totals
    perm = rng.permutation(n)
    rows2, totals2 = canonical_rows(X[perm], labels[perm], weights[perm])
    np.testing.assert_array_equal(X[perm][rows2], X[rows])
    np.testing.assert_array_equal(totals2, totals)


def test_without_weights_the_totals_are_the_counts():
    X, labels, _ = _data(np.random.default_rng(0), 60, 20, n_values=2)
    rows, totals = canonical_rows(X, labels)
    pairs, counts = _reference(X, labels, np.ones(len(X)))
    np.testing.assert_array_equal(np.column_stack([X[rows], labels[rows]]), pairs)
    np.testing.assert_array_equal(totals, counts)
    # no repeats: every total is 1, given as None (a plain mean)
    distinct = np.random.default_rng(1).standard_normal((30, 5))
    rows, totals = canonical_rows(distinct, np.zeros(30, dtype=int))
    assert totals is None
    np.testing.assert_array_equal(rows, np.lexsort(distinct.T[::-1]))


def test_the_same_row_with_two_labels_is_two_pairs():
    X = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0], [1.0, 2.0]])
    rows, totals = canonical_rows(X, np.array([1, 0, 0, 1]))
    np.testing.assert_array_equal(rows, [2, 1, 0])
    np.testing.assert_array_equal(totals, [1.0, 1.0, 2.0])


def test_real_weights_sum_alike_in_any_order():
    """Non-integer weights of a repeated row are summed in increasing order:
    the total is bit for bit the same whatever the rows' order."""
    rng = np.random.default_rng(0)
    X = np.ones((201, 3))
    X[200] = 0.0  # another row, first in the order: two totals
    weights = rng.uniform(0, 1, size=201) * 10.0 ** rng.integers(-8, 8, size=201)
    labels = np.zeros(201, dtype=int)
    _, total = canonical_rows(X, labels, weights)
    for _ in range(5):
        perm = rng.permutation(201)
        assert canonical_rows(X[perm], labels, weights[perm])[1][1] == total[1]
    assert total[1] == pytest.approx(np.sum(np.sort(weights[:200])), rel=1e-15)


def test_the_order_survives_a_positive_scaling_and_zero_signs():
    rng = np.random.default_rng(0)
    X = rng.integers(-2, 3, size=(50, 6)).astype(float)
    labels = rng.integers(0, 2, size=50)
    rows, totals = canonical_rows(X, labels)
    scaled_rows, scaled_totals = canonical_rows(X * 2.0**100, labels)
    np.testing.assert_array_equal(scaled_rows, rows)
    np.testing.assert_array_equal(scaled_totals, totals)
    # -0.0 and 0.0 are the same value: the rows merge
    signed = np.array([[0.0, 1.0], [-0.0, 1.0]])
    rows, totals = canonical_rows(signed, np.zeros(2, dtype=int))
    np.testing.assert_array_equal(rows, [0])


def test_images_and_other_namespaces_are_read_as_rows():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 2, size=(40, 3, 3, 2)).astype(np.float32)
    labels = rng.integers(0, 2, size=40)
    rows, totals = canonical_rows(images, labels)
    want = canonical_rows(images.reshape(40, -1), labels)
    np.testing.assert_array_equal(rows, want[0])
    np.testing.assert_array_equal(totals, want[1])
    strict = canonical_rows(array_api_strict.asarray(images), labels)
    np.testing.assert_array_equal(strict[0], rows)
    np.testing.assert_array_equal(strict[1], totals)
