"""CKNClassifier's training set as a weighted set.

A fit depends on its rows only through the distinct (sample, label) pairs
and their total weights: rows of weight 0 are dropped, rows equal in value
and label are merged into one whose weight is the sum of theirs, and the
pairs are put in an order fixed by their values. So the order of the rows
does not change the model, and a sample given ``k`` times trains exactly as
the sample given once with weight ``k``: everything downstream (the patch
sampling, the k-means, the whitening, the mini-batches, the early-stopping
split, the heads) sees the same rows in the same order, bit for bit.
"""

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length

from ._backend import to_numpy
from ._classifier_inputs import labels, resolve_classes, sample_weights

__all__ = ["TrainingSet", "canonical_rows"]

#: the most columns one refinement step of the sort compares
_MAX_COLUMNS_PER_STEP = 64
#: rows compared at once when looking for equal rows
_ROWS_PER_COMPARISON = 1024
#: rows still tied after this many columns are checked for equal rows (which
#: would otherwise be compared column after column to the end)
_CHECK_EQUAL_ROWS_FROM = 15


def _block_ids(tied, starts):
    """Each tied position's block, named by the block's first position."""
    first = np.where(starts, np.arange(tied.shape[0]), 0)
    return tied[np.maximum.accumulate(first)]


def _refine(order, tied, block, keys):
    """Sort each block of tied positions of ``order`` by ``keys`` (columns,
    the first most significant, of the rows at those positions), stably;
    return the positions still tied to a neighbour and their new blocks."""
    rows = order[tied]
    columns = [keys[:, c] for c in range(keys.shape[1] - 1, -1, -1)]
    # a block is a run of positions: sorting by it first keeps it in place
    sort = np.lexsort((*columns, block))
    order[tied] = rows[sort]
    keys, block = keys[sort], block[sort]
    same = (block[1:] == block[:-1]) & np.all(keys[1:] == keys[:-1], axis=1)
    still = np.zeros(tied.shape[0], dtype=bool)
    still[1:] |= same
    still[:-1] |= same
    block = _block_ids(tied, np.concatenate(([True], ~same)))
    return tied[still], block[still]


def _split_equal_blocks(rows, block, rest):
    """Of the tied blocks (``rows`` of ``rest``, the columns not compared
    yet), the positions of those whose rows are equal (on ``rest``, hence on
    every column) and of the others, as boolean masks."""
    equal_before = np.empty(rows.shape[0] - 1, dtype=bool)
    # in steps of rows: the temporaries stay small
    for i in range(0, equal_before.shape[0], _ROWS_PER_COMPARISON):
        r = rows[i : i + _ROWS_PER_COMPARISON + 1]
        equal_before[i : i + r.shape[0] - 1] = np.all(
            rest[r[1:]] == rest[r[:-1]], axis=1
        )
    equal_before |= block[1:] != block[:-1]
    unequal = np.isin(block, block[np.flatnonzero(~equal_before) + 1])
    return ~unequal, unequal


def _lexicographic_order(values, labels):
    """The stable order of the rows by (values, label), lexicographically,
    and which positions of it hold the same (values, label) as the position
    before.

    Only tied rows are compared column after column, in steps of growing
    width (a few columns part most rows); from the 15th column on, blocks of
    rows equal on every column are set aside after each step, so that
    repeated rows cost a few comparisons, not one per column."""
    n, d = values.shape
    order = np.arange(n)
    tied, block = order.copy(), np.zeros(n, dtype=np.intp)
    equal_rows = []
    start, width = 0, 1
    while tied.size and start < d:
        stop = min(start + width, d)
        tied, block = _refine(order, tied, block, values[order[tied], start:stop])
        start, width = stop, min(2 * width, _MAX_COLUMNS_PER_STEP)
        if tied.size and _CHECK_EQUAL_ROWS_FROM <= start < d:
            done, rest = _split_equal_blocks(order[tied], block, values[:, start:])
            equal_rows.append((tied[done], block[done]))
            tied, block = tied[rest], block[rest]
    tied = np.concatenate([tied, *(t for t, _ in equal_rows)])
    block = np.concatenate([block, *(b for _, b in equal_rows)])
    by_position = np.argsort(tied)
    tied, block = tied[by_position], block[by_position]
    if tied.size:
        tied, block = _refine(order, tied, block, labels[order[tied], None])
    repeats = np.zeros(n, dtype=bool)
    repeats[tied[1:][block[1:] == block[:-1]]] = True
    return order, repeats


def canonical_rows(X, class_index, weights=None):
    """The rows a fit trains on, in their canonical order, and their weights.

    Parameters
    ----------
    X : array of shape (n_samples, ...)
        Validated, finite samples (any namespace: the order is computed on a
        host copy).
    class_index : ndarray of shape (n_samples,)
        Each sample's class index.
    weights : ndarray of shape (n_samples,) or None
        Non-negative weights, not all 0 (None: all 1).

    Returns
    -------
    rows : ndarray of int of shape (n_distinct,)
        One row of ``X`` for each distinct (sample, label) pair of positive
        weight, in the lexicographic order of the samples' values (then of
        the labels).
    weights : ndarray of shape (n_distinct,) or None
        The total weight of each pair's rows; None when they are all equal
        (a plain mean then, as without weights).

    Notes
    -----
    The order of the values is kept by a positive scaling of ``X``; values
    are compared as numbers (0.0 and -0.0 are equal), and the row kept for a
    pair is its first in ``X``. Integer weights sum exactly; other weights
    are summed in increasing order, so their sum does not depend on the
    order of the rows either.
    """
    host = to_numpy(X)
    values = host.reshape(host.shape[0], -1)
    if weights is None:
        kept = np.arange(values.shape[0])
    else:
        kept = np.flatnonzero(weights > 0)
        values = values[kept]
    order, repeats = _lexicographic_order(values, class_index[kept])
    starts = np.flatnonzero(~repeats)
    rows = kept[order[starts]]
    if weights is None:
        totals = np.diff(np.append(starts, order.shape[0])).astype(np.float64)
    else:
        # the weights of a pair in increasing order: a sum the rows' order
        # cannot change
        pair = np.cumsum(~repeats) - 1
        kept_weights = weights[kept][order]
        by_pair = np.lexsort((kept_weights, pair))
        totals = np.add.reduceat(kept_weights[by_pair], starts)
    if np.all(totals == totals[0]):
        return rows, None
    return rows, totals


class TrainingSet:
    """The labels, classes and weights of one ``fit``/``partial_fit`` call,
    and the rows it trains on.

    :meth:`select_rows` is handed to the input validation: it reads the
    validated ``X`` (before any whitening, which is then learned from the
    rows it selects), checks ``y`` against it and resolves the rest.
    """

    def __init__(self, estimator, y, classes, sample_weight, *, incremental, resume):
        self._estimator = estimator
        self._y = y
        self._classes = classes
        self._sample_weight = sample_weight
        self._incremental = incremental
        self._resumed = resume
        # resolved by the first select_rows call
        self.classes_ = self.class_index = self.weights = None

    def select_rows(self, X):
        """The rows of ``X`` the fit trains on (see :func:`canonical_rows`);
        sets ``classes_``, and ``class_index`` and ``weights`` of those rows.

        A second call, with those rows transformed (whitened), puts them in
        the order of the new values: the order of what the network sees.
        """
        if self.class_index is None:
            y = labels(self._y)
            check_consistent_length(X, y)
            check_classification_targets(y)
            estimator = self._estimator
            self.classes_ = resolve_classes(
                estimator, y, self._classes, self._incremental, self._resumed
            )
            self.class_index = np.searchsorted(self.classes_, y)
            self.weights = sample_weights(
                self._sample_weight,
                estimator.class_weight,
                y,
                self.classes_,
                self.class_index,
            )
        rows, self.weights = canonical_rows(X, self.class_index, self.weights)
        self.class_index = self.class_index[rows]
        return rows
