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


def _input_transform(padded, n_tiles, xp):
    """B^T d B for every 4x4 tile at stride 2: array (16, n * th * tw, C)."""
    th, tw = n_tiles
    n, c = padded.shape[0], padded.shape[-1]

    def combine(s):  # B^T applied to the four strided slices s[0..3]
        return [s[0] - s[2], s[1] + s[2], s[2] - s[1], s[1] - s[3]]

    parts = []
    for r in combine([padded[:, k : k + 2 * th - 1 : 2, ...] for k in range(4)]):
        parts.extend(combine([r[:, :, k : k + 2 * tw - 1 : 2, :] for k in range(4)]))
    v = xp.stack(parts, axis=0)  # (16, n, th, tw, C)
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
    m = [m[k, ...] for k in range(16)]  # (n * th * tw, p) each, position a * 4 + b
    # A^T m A with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], first along a, then b
    s = [
        [m[b] + m[4 + b] + m[8 + b] for b in range(4)],
        [m[4 + b] - m[8 + b] - m[12 + b] for b in range(4)],
    ]
    out = xp.empty((n, 2 * th, 2 * tw, p), dtype=m[0].dtype, device=array_device(m[0]))
    for x in range(2):
        even = s[x][0] + s[x][1] + s[x][2]
        odd = s[x][1] - s[x][2] - s[x][3]
        out[:, x::2, 0::2, :] = xp.reshape(even, (n, th, tw, p))
        out[:, x::2, 1::2, :] = xp.reshape(odd, (n, th, tw, p))
    if (2 * th, 2 * tw) != (height, width):
        out = out[:, :height, :width, :]
    return out
