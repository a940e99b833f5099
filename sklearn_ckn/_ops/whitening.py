"""ZCA whitening, of whole images or of a first layer's patches.

Natural images have strongly correlated neighbouring pixels (and channels);
ZCA removes those second-order correlations while staying as close as
possible to the original image: x -> W (x - mu), W = V diag(1 / sqrt(e + r))
V^T for the covariance's eigendecomposition V diag(e) V^T, r a regularization
relative to the mean eigenvalue (which keeps the noise-dominated directions
from being amplified without bound). On CIFAR-10 it is worth about 10 points
of a CKN's accuracy (docs/benchmarks.md). A fixed linear map of the input: a
network on whitened images is the network applied to the images transformed
once, and training's gradients are unchanged. Whitened patches (Mairal et
al., 2014) are the first layer's patches, each centred on its own mean, so
transformed, learned from the patches k-means samples
(:func:`sklearn_ckn._unsupervised.fit_layers_unsupervised`); the first layer's
norms and responses are then those of the whitened patches.
"""

from .._backend import array_device, max_float_dtype
from .._chunks import ChunkRunner, rows_gram, rows_times

__all__ = ["MAX_IMAGE_VALUES", "apply_zca", "fit_patch_zca", "fit_zca"]

#: samples per chunk of the covariance's sum (fixed: the same covariance
#: whatever the threads); large, for BLAS's peak on d x d products
ROWS = 8192

#: largest number of values per image whitened whole: the covariance has this
#: many squared entries (8,192: 512 MiB in float64)
MAX_IMAGE_VALUES = 8192


def fit_zca(maps, reg, xp):
    """Mean and ZCA matrix of samples ``maps`` (n, ...), each flattened.

    Computed in the most precise float the namespace offers on the maps'
    device. ``reg`` is relative: the eigenvalues are regularized by
    ``reg`` times their mean.

    Returns
    -------
    mean : array of shape (d,)
    matrix : array of shape (d, d)
        Symmetric: whitened = (x - mean) @ matrix.
    """
    n = maps.shape[0]
    dev = array_device(maps)
    x = xp.astype(xp.reshape(maps, (n, -1)), max_float_dtype(xp, dev))
    mean = xp.mean(x, axis=0)
    centred = x - mean
    with ChunkRunner(xp, ROWS) as runner:
        covariance = rows_gram(runner, centred, centred, xp) / n
        covariance = (covariance + xp.matrix_transpose(covariance)) / 2
        eigvals, eigvecs = xp.linalg.eigh(covariance)
        eigvals = xp.maximum(eigvals, xp.zeros_like(eigvals))  # rounding below 0
        floor = reg * float(xp.mean(eigvals))
        if floor == 0.0:  # constant images: nothing to whiten, only to centre
            floor = 1.0
        scale = 1.0 / xp.sqrt(eigvals + floor)
        matrix = rows_times(runner, eigvecs * scale, xp.matrix_transpose(eigvecs), xp)
    return mean, (matrix + xp.matrix_transpose(matrix)) / 2


def apply_zca(maps, mean, matrix, xp):
    """(x - mean) @ matrix for every sample of ``maps``, in the maps' dtype
    and shape."""
    n = maps.shape[0]
    x = xp.reshape(maps, (n, -1))
    mean = xp.astype(mean, maps.dtype)
    matrix = xp.astype(matrix, maps.dtype)
    return xp.reshape((x - mean) @ matrix, maps.shape)


def fit_patch_zca(patches, reg, xp):
    """(mean, matrix) whitening patches (m, d), each centred on its own mean.

    The ZCA W of the centred patches P x, P = I - 1 1^T / d, folded into one
    map: (P x - P mean) W = (x - mean) (P W).
    """
    if patches.shape[0] < 2:
        raise ValueError(
            "whitening='patches' learns from the first layer's non-zero patches, "
            f"and X gave {patches.shape[0]}; it needs at least 2."
        )
    centred = patches - xp.mean(patches, axis=1, keepdims=True)
    _, matrix = fit_zca(centred, reg, xp)
    d = patches.shape[1]
    projection = xp.eye(d, dtype=matrix.dtype, device=array_device(matrix)) - 1.0 / d
    mean = xp.mean(xp.astype(patches, matrix.dtype), axis=0)
    return mean, projection @ matrix
