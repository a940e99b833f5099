"""Gaussian pooling with subsampling, separable and evaluated only at kept positions.

For a factor ``s`` the 1-D taps are g_t proportional to exp(-t^2 / s^2),
t = -s..s, summed to one (sigma = s / sqrt(2)); the map is zero-padded by ``s``
and sampled with stride ``s``, so output ``i`` is centred on input ``i * s`` and
the output length is ``(n - 1) // s + 1``. Borders are not renormalized. Along
each axis the operation is an (n_out, n_in) matrix applied to that axis: a
small dense one where it is small (one batched GEMM), otherwise
:class:`BandedPooling`, its 2 r + 1 taps applied as strided slices, in memory
and time linear in the map (a dense matrix for a signal of 40,000 samples
would hold 800 million entries).
"""

import math
from dataclasses import dataclass, replace

import numpy as np
from array_api_compat import device as array_device

__all__ = [
    "BandedPooling",
    "gaussian_taps",
    "pool",
    "pool_adjoint",
    "pooled_length",
    "pooled_shape",
    "pooling_matrices",
    "pooling_matrix",
]


#: factors up to this sum their 2 s + 1 taps directly (bit for bit as the
#: reference implementation normalizes); above, in closed form
DIRECT_SUM_MAX_FACTOR = 2**16

#: dense pooling matrices up to this many entries; banded taps above
DENSE_MAX_ENTRIES = 2**13


def _taps_sum(s):
    """sum of exp(-t^2 / s^2) over t = -s..s.

    Above ``DIRECT_SUM_MAX_FACTOR`` by the Euler-Maclaurin formula, which
    needs no array of 2 s + 1 taps: s sqrt(pi) erf(1) + 1/e - 1/(3 s e) +
    1/(90 s^3 e), the next term O(s^-5) (below 1e-24 of the sum there).
    """
    if s <= DIRECT_SUM_MAX_FACTOR:
        t = np.arange(-s, s + 1, dtype=np.float64)
        return np.exp(-(t**2) / s**2).sum()
    e = math.e
    return (
        s * math.sqrt(math.pi) * math.erf(1.0)
        + 1 / e
        - 1 / (3 * s * e)
        + (1 / (90 * s**3 * e))
    )


def gaussian_taps(s, reach=None):
    """The normalized 1-D Gaussian taps for subsampling factor ``s``.

    All 2 s + 1 (t = -s..s), or with ``reach`` only those with |t| <= reach:
    a map of n positions never meets a tap beyond n - 1.
    """
    r = s if reach is None else min(s, reach)
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(t**2) / s**2)
    return g / _taps_sum(s)


def pooled_length(n, s):
    """Output length of pooling ``n`` positions with factor ``s``."""
    return (n - 1) // s + 1


def pooling_matrix(n, s):
    """(n_out, n) float64 matrix P with P[i, j] = g[j - i s] for |j - i s| <= s."""
    r = min(s, n - 1)
    taps = gaussian_taps(s, reach=r)
    n_out = pooled_length(n, s)
    mat = np.zeros((n_out, n), dtype=np.float64)
    for i in range(n_out):
        lo, hi = max(0, i * s - r), min(n, i * s + r + 1)
        mat[i, lo:hi] = taps[lo - i * s + r : hi - i * s + r]
    return mat


@dataclass(frozen=True)
class BandedPooling:
    """:func:`pooling_matrix` ``(n, s)`` kept as its taps, never formed.

    Applied along an axis as 2 r + 1 strided slices of the map zero-padded by
    r = min(s, n - 1) (forward), or added into such slices (the adjoint,
    ``transposed``): memory and time linear in n.
    """

    taps: tuple
    stride: int
    n_in: int
    transposed: bool = False

    @classmethod
    def of(cls, n, s):
        """The operator of :func:`pooling_matrix` ``(n, s)``; the taps as
        Python floats, which multiply arrays of any namespace and dtype."""
        return cls(tuple(float(t) for t in gaussian_taps(s, reach=n - 1)), s, n)

    @property
    def n_out(self):
        return pooled_length(self.n_in, self.stride)

    @property
    def shape(self):
        shape = (self.n_out, self.n_in)
        return shape[::-1] if self.transposed else shape

    @property
    def mT(self):
        return replace(self, transposed=not self.transposed)

    def apply(self, h3, xp):
        """P (or P^T) times axis 1 of ``h3`` (before, n, after)."""
        r, s = len(self.taps) // 2, self.stride
        before, after = h3.shape[0], h3.shape[2]
        dev = array_device(h3)
        span = s * (self.n_out - 1) + 1  # the strided slice of each tap
        if not self.transposed:
            padded = xp.zeros(
                (before, self.n_in + 2 * r, after), dtype=h3.dtype, device=dev
            )
            padded[:, r : r + self.n_in, :] = h3
            out = None
            for k, tap in enumerate(self.taps):
                part = tap * padded[:, k : k + span : s, :]
                out = part if out is None else out + part
            return out
        acc = xp.zeros((before, self.n_in + 2 * r, after), dtype=h3.dtype, device=dev)
        for k, tap in enumerate(self.taps):
            acc[:, k : k + span : s, :] = acc[:, k : k + span : s, :] + tap * h3
        return acc[:, r : r + self.n_in, :]


def _apply_along_axis(mat, h, axis, xp):
    """Contract ``mat`` (m, n) with axis ``axis`` of ``h``, keeping axis order.

    ``h`` is seen as (before, n, after) and multiplied by ``mat`` in one
    batched product: the result is contiguous in ``h``'s own axis order, so
    no transposed copy is made here or by the next product.
    """
    shape = h.shape
    before, after = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    h3 = xp.reshape(h, (before, shape[axis], after))
    if isinstance(mat, BandedPooling):
        out = mat.apply(h3, xp)
    else:
        out = xp.matmul(mat, h3)
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
            transposed = (
                mat.mT if isinstance(mat, BandedPooling) else xp.matrix_transpose(mat)
            )
            g = _apply_along_axis(transposed, g, axis, xp)
    return g


def pooling_matrices(spatial_shape, subsampling, xp, dtype, dev):
    """Per-axis pooling operators: None for a factor of 1, a dense matrix on
    ``xp``/``dev`` up to ``DENSE_MAX_ENTRIES`` entries, else
    :class:`BandedPooling`."""
    return [
        _pooling_operator(n, s, xp, dtype, dev)
        for n, s in zip(spatial_shape, subsampling)
    ]


def _pooling_operator(n, s, xp, dtype, dev):
    if s == 1:
        return None
    if pooled_length(n, s) * n <= DENSE_MAX_ENTRIES:
        return xp.asarray(pooling_matrix(n, s), dtype=dtype, device=dev)
    return BandedPooling.of(n, s)


def pooled_shape(spatial_shape, subsampling):
    """Spatial shape after pooling."""
    return tuple(pooled_length(n, s) for n, s in zip(spatial_shape, subsampling))
