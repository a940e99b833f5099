"""Fitted estimators applied to Dask arrays chunked by rows.

A fitted CKN estimator maps each row (image) on its own, so a Dask array cut
into blocks of rows is transformed block by block with ``map_blocks``. The
output's width differs from the input's (and image arrays lose their image
axes), which Dask must be told: these helpers give ``map_blocks`` the output
chunks explicitly (dask-ml's ``ParallelPostFit.transform`` does not, which
is why it cannot serve a transformer that changes the width).

Dask is optional: it is imported when a helper is called.
"""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["dask_predict", "dask_transform"]


def _as_row_blocks(X, name):
    """X as a Dask array whose only chunked axis is the first."""
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is in the test extra
        raise ImportError(f"{name} needs Dask: pip install 'dask[array]'.") from exc
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{name} takes a dask.array.Array chunked by rows; got "
            f"{type(X).__name__}. Call the estimator's own method on in-memory data."
        )
    if X.ndim < 2:
        raise ValueError(
            f"{name} takes X of shape (n_samples, n_features) or (n_samples, "
            f"*image_shape); got {X.ndim} axis."
        )
    # every block must hold whole rows: one chunk along every other axis
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


def _map_rows(X, method, n_columns, dtype):
    """``method`` on each block of rows; (n,) if n_columns is None, else (n, k)."""
    if n_columns is None:
        chunks, dropped = (X.chunks[0],), list(range(1, X.ndim))
    else:
        chunks, dropped = (X.chunks[0], (n_columns,)), list(range(2, X.ndim))
    return X.map_blocks(method, dtype=dtype, chunks=chunks, drop_axis=dropped)


def dask_transform(estimator, X):
    """``estimator.transform`` over a Dask array, lazily, block by block.

    Parameters
    ----------
    estimator : fitted CKNFeatureExtractor or CKNClassifier
        Its ``transform`` is applied to each block of rows.
    X : dask.array.Array of shape (n_samples, n_features) or (n_samples, \\*image_shape)
        Images laid out as at fit time, chunked along the first axis (other
        axes are merged into one chunk).

    Returns
    -------
    dask.array.Array of shape (n_samples, n_features_out)
        ``n_features_out`` is the product of ``estimator.output_shape_``.
        Chunked as ``X`` along the rows; float32 for float32 blocks,
        float64 otherwise. Call ``.compute()`` (or hand it to Dask) to run.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ckn import CKNFeatureExtractor, dask_transform
    >>> X, _ = load_digits(return_X_y=True)
    >>> ckn = CKNFeatureExtractor(n_filters=(4, 8), image_shape=(8, 8),
    ...                           random_state=0).fit(X[:100])
    >>> features = dask_transform(ckn, da.from_array(X, chunks=500))
    >>> features.shape, features.chunks[0]
    ((1797, 32), (500, 500, 500, 297))
    """
    check_is_fitted(estimator, ("filters_", "lintrans_"))
    X = _as_row_blocks(X, "dask_transform")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    n_out = math.prod(estimator.output_shape_)
    return _map_rows(X, estimator.transform, n_out, dtype)


def dask_predict(estimator, X):
    """``estimator.predict`` over a Dask array, lazily, block by block.

    Parameters
    ----------
    estimator : fitted classifier (e.g. CKNClassifier, or a Pipeline)
        Its ``predict`` is applied to each block of rows.
    X : dask.array.Array of shape (n_samples, n_features) or (n_samples, \\*image_shape)
        Chunked along the first axis.

    Returns
    -------
    dask.array.Array of shape (n_samples,)
        The predicted labels, of the dtype of ``estimator.classes_``.
    """
    check_is_fitted(estimator, "classes_")
    X = _as_row_blocks(X, "dask_predict")
    return _map_rows(X, estimator.predict, None, estimator.classes_.dtype)
