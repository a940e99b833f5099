"""Winograd F(2x2, 3x3): the products <z_f, x> of 3x3 filters with every patch.

The minimal filtering algorithm of Winograd (Lavin and Gray, "Fast algorithms
for convolutional neural networks", CVPR 2016) computes a 2x2 block of outputs
from a 4x4 input tile in 16 products instead of 36: each tile is transformed
(B^T d B), each filter too (G g G^T), the 16 transformed positions are
multiplied as 16 matrix products over the channels, and the outputs are
transformed back (A^T m A). For CKN's second and later layers this replaces
the patch matrix (im2col, 9 C values per position) and one product with
2.25 times fewer multiply-adds; it serves the forward pass only (training
keeps the patches, which its backward pass needs).

Maps are channels-last, (n, H, W, C); filters are in the internal patch order
(offset-major, channel fastest) of :mod:`sklearn_ckn._patches`.
"""

from array_api_compat import device as array_device

__all__ = ["filter_transform", "winograd_applies", "winograd_products"]

#: fewest input channels served (chosen, not tuned: with 1 or 3 channels, a first
#: layer, the patch matrix is small and its one product cheap; measured gain only
#: at 64 channels, docs/benchmarks.md)
MIN_CHANNELS = 16


def winograd_applies(patch_shape, n_channels):
    """Whether :func:`winograd_products` serves a layer: 2-D, 3x3, enough channels."""
    return tuple(patch_shape) == (3, 3) and n_channels >= MIN_CHANNELS


def filter_transform(z, n_channels, xp):
    """G g G^T for every filter: array (16, C, p), position a * 4 + b first.

    It depends on the filters alone: compute it once per transform and pass
    it to :func:`winograd_products`.
    """
    p = z.shape[0]
    g = xp.reshape(z, (p, 3, 3, n_channels))

    def rows(t):  # G applied along the first offset axis: 3 -> 4
        t0, t1, t2 = t[:, 0, ...], t[:, 1, ...], t[:, 2, ...]
        return [t0, (t0 + t1 + t2) / 2, (t0 - t1 + t2) / 2, t2]

    columns = []
    for r in rows(g):  # r: (p, 3, C), then G along the second offset axis
        columns.extend(rows(r))
    u = xp.stack(columns, axis=0)  # (16, p, C)
    return xp.permute_dims(u, (0, 2, 1))


#: B^T of F(2x2, 3x3): tile rows (and columns) to their transformed values
_B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
#: A^T: the 4 transformed rows (and columns) of a tile to its 2 outputs
_A_T = ((1, 1, 1, 0), (0, 1, -1, -1))


def _kron(a, b):
    """Kronecker product of two nested tuples, as nested lists."""
    return [[x * y for x in row_a for y in row_b] for row_a in a for row_b in b]


def _constant(values, like, xp):
    return xp.asarray(values, dtype=like.dtype, device=array_device(like))


def _input_transform(padded, n_tiles, xp):
    """B^T d B for every 4x4 tile at stride 2: array (16, n * th * tw, C).

    The 16 tile positions are gathered once (strided slices) and mixed by one
    (16, 16) GEMM, kron(B^T, B^T), which reads them once instead of building
    the transform from 20 intermediate sums.
    """
    th, tw = n_tiles
    n, c = padded.shape[0], padded.shape[-1]
    tiles = xp.stack(
        [
            padded[:, a : a + 2 * th - 1 : 2, b : b + 2 * tw - 1 : 2, :]
            for a in range(4)
            for b in range(4)
        ],
        axis=0,
    )  # (16, n, th, tw, C), position a * 4 + b
    mix = _constant(_kron(_B_T, _B_T), padded, xp)
    v = xp.matmul(mix, xp.reshape(tiles, (16, -1)))
    return xp.reshape(v, (16, n * th * tw, c))


def winograd_products(padded, z, out_shape, xp, transformed=None):
    """<z_f, x> for every filter and every 3x3 patch x of a padded map.

    Parameters
    ----------
    padded : array of shape (n, H + 2, W + 2, C)
        The layer's input map, already padded (the output is (H, W)).
    z : array of shape (p, 9 C)
        Filters in internal patch order.
    out_shape : tuple (H, W)
        Spatial shape of the products, as im2col would give.
    xp : module
    transformed : array of shape (16, C, p) or None, default=None
        :func:`filter_transform` of ``z``, when already computed.

    Returns
    -------
    array of shape (n, H, W, p)
        The same values as the patch matrix times z^T, up to rounding.
    """
    n, c, p = padded.shape[0], padded.shape[-1], z.shape[0]
    height, width = out_shape
    th, tw = (height + 1) // 2, (width + 1) // 2
    extra = (2 * th + 2 - padded.shape[1], 2 * tw + 2 - padded.shape[2])
    if any(extra):  # an odd output size: one more row or column of zeros
        grown = xp.zeros(
            (n, 2 * th + 2, 2 * tw + 2, c),
            dtype=padded.dtype,
            device=array_device(padded),
        )
        grown[:, : padded.shape[1], : padded.shape[2], :] = padded
        padded = grown
    if transformed is None:
        transformed = filter_transform(z, c, xp)
    m = xp.matmul(_input_transform(padded, (th, tw), xp), transformed)
    # A^T m A for every tile as one (4, 16) GEMM, kron(A^T, A^T): output
    # (x, y) of each 2x2 block, then laid out as the (2 th, 2 tw) map
    mix = _constant(_kron(_A_T, _A_T), m, xp)
    blocks = xp.matmul(mix, xp.reshape(m, (16, -1)))
    blocks = xp.reshape(blocks, (2, 2, n, th, tw, p))
    out = xp.reshape(
        xp.permute_dims(blocks, (2, 3, 0, 4, 1, 5)), (n, 2 * th, 2 * tw, p)
    )
    if (2 * th, 2 * tw) != (height, width):
        out = out[:, :height, :width, :]
    return out
