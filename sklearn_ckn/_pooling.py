"""Gaussian pooling with subsampling, separable and evaluated only at kept positions.

For a factor ``s`` the 1-D taps are g_t proportional to exp(-t^2 / s^2),
t = -s..s, summed to one (sigma = s / sqrt(2)); the map is zero-padded by ``s``
and sampled with stride ``s``, so output ``i`` is centred on input ``i * s`` and
the output length is ``(n - 1) // s + 1``. Borders are not renormalized. Along
each axis the operation is a small (n_out, n_in) matrix applied to that axis.
"""

import math

import numpy as np
from array_api_compat import device as array_device

__all__ = [
    "gaussian_taps",
    "pool",
    "pool_adjoint",
    "pooled_length",
    "pooled_shape",
    "pooling_matrices",
    "pooling_matrix",
]


def gaussian_taps(s):
    """The 2 s + 1 normalized 1-D Gaussian taps for subsampling factor ``s``."""
    t = np.arange(-s, s + 1, dtype=np.float64)
    g = np.exp(-(t**2) / s**2)
    return g / g.sum()


def pooled_length(n, s):
    """Output length of pooling ``n`` positions with factor ``s``."""
    return (n - 1) // s + 1


def pooling_matrix(n, s):
    """(n_out, n) float64 matrix P with P[i, j] = g[j - i s] for |j - i s| <= s."""
    taps = gaussian_taps(s)
    n_out = pooled_length(n, s)
    mat = np.zeros((n_out, n), dtype=np.float64)
    for i in range(n_out):
        lo, hi = max(0, i * s - s), min(n, i * s + s + 1)
        mat[i, lo:hi] = taps[lo - i * s + s : hi - i * s + s]
    return mat


def _apply_along_axis(mat, h, axis, xp):
    """Contract ``mat`` (m, n) with axis ``axis`` of ``h``, keeping axis order.

    ``h`` is seen as (before, n, after) and multiplied by ``mat`` in one
    batched product: the result is contiguous in ``h``'s own axis order, so
    no transposed copy is made here or by the next product.
    """
    shape = h.shape
    before, after = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    out = xp.matmul(mat, xp.reshape(h, (before, shape[axis], after)))
    return xp.reshape(out, (*shape[:axis], mat.shape[0], *shape[axis + 1 :]))


def pool(h, subsampling, xp, matrices=None):
    """Gaussian pooling of ``h`` (n, *spatial, C) with one factor per spatial axis.

    Parameters
    ----------
    h : array of shape (n, *spatial, C)
    subsampling : tuple of int
        Factor per spatial axis; an axis with factor 1 is left untouched.
    xp : module
        Array namespace.
    matrices : list of arrays or None, default=None
        Pooling matrices already on ``xp``'s device (one per axis, None where
        the factor is 1), to avoid rebuilding them batch after batch.

    Returns
    -------
    array of shape (n, *pooled_spatial, C)
    """
    if matrices is None:
        matrices = pooling_matrices(
            h.shape[1:-1], subsampling, xp, h.dtype, array_device(h)
        )
    for axis, mat in enumerate(matrices, start=1):
        if mat is not None:
            h = _apply_along_axis(mat, h, axis, xp)
    return h


def pool_adjoint(g, matrices, xp):
    """Adjoint of :func:`pool` (a transposed strided convolution).

    Parameters
    ----------
    g : array of shape (n, *pooled_spatial, C)
        Gradient with respect to the pooled map.
    matrices : list
        The pooling matrices used by the forward pass (None where no pooling).
    xp : module

    Returns
    -------
    array of shape (n, *spatial, C)
    """
    for axis, mat in enumerate(matrices, start=1):
        if mat is not None:
            g = _apply_along_axis(xp.matrix_transpose(mat), g, axis, xp)
    return g


def pooling_matrices(spatial_shape, subsampling, xp, dtype, dev):
    """Per-axis pooling matrices on ``xp``/``dev`` (None for a factor of 1)."""
    return [
        None if s == 1 else xp.asarray(pooling_matrix(n, s), dtype=dtype, device=dev)
        for n, s in zip(spatial_shape, subsampling)
    ]


def pooled_shape(spatial_shape, subsampling):
    """Spatial shape after pooling."""
    return tuple(pooled_length(n, s) for n, s in zip(spatial_shape, subsampling))
