"""Winograd F(m x m, 3x3): the products <z_f, x> of 3x3 filters with every patch.

The minimal filtering algorithm of Winograd (Lavin and Gray, "Fast algorithms
for convolutional neural networks", CVPR 2016) computes an m x m block of
outputs from a (m + 2) x (m + 2) input tile in (m + 2)^2 products instead of
9 m^2: each tile is transformed (B^T d B), each filter too (G g G^T), the
(m + 2)^2 transformed positions are multiplied as as many matrix products
over the channels, and the outputs are transformed back (A^T M A). With
m = 2 (16 products per 4 outputs) or m = 4 (36 per 16, taken where it saves
enough products for the map: :func:`output_tile`), this replaces the patch
matrix (im2col, 9 C values per position) and its product for CKN's second
and later layers, with 2.25 to 4 times fewer multiply-adds; it serves the
forward pass only (training keeps the patches, which its backward pass
needs). Each transform is one small GEMM with a Kronecker product of the
1-D matrices.

Maps are channels-last, (n, H, W, C); filters are in the internal patch order
(offset-major, channel fastest) of :mod:`sklearn_ckn._patches`.
"""

import math

from array_api_compat import device as array_device

__all__ = [
    "filter_transform",
    "output_tile",
    "winograd_applies",
    "winograd_products",
]

#: fewest input channels served (chosen, not tuned: with 1 or 3 channels, a first
#: layer, the patch matrix is small and its one product cheap; measured gain only
#: at 64 channels, docs/benchmarks.md)
MIN_CHANNELS = 16

#: the 1-D matrices B^T (tile to transformed), G (filter to transformed) and
#: A^T (transformed to outputs) of F(m, 3), by output size m; interpolation
#: points 0, 1, -1 (and 2, -2 for m = 4) and infinity
_MATRICES = {
    2: dict(
        B_T=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        G=((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0, 1)),
        A_T=((1, 1, 1, 0), (0, 1, -1, -1)),
    ),
    4: dict(
        B_T=(
            (4, 0, -5, 0, 1, 0),
            (0, -4, -4, 1, 1, 0),
            (0, 4, -4, -1, 1, 0),
            (0, -2, -1, 2, 1, 0),
            (0, 2, -1, -2, 1, 0),
            (0, 4, 0, -5, 0, 1),
        ),
        G=(
            (1 / 4, 0, 0),
            (-1 / 6, -1 / 6, -1 / 6),
            (-1 / 6, 1 / 6, -1 / 6),
            (1 / 24, 1 / 12, 1 / 6),
            (1 / 24, -1 / 12, 1 / 6),
            (0, 0, 1),
        ),
        A_T=(
            (1, 1, 1, 1, 1, 0),
            (0, 1, -1, 2, -2, 0),
            (0, 1, 1, 4, 4, 0),
            (0, 1, -1, 8, -8, 1),
        ),
    ),
}


def winograd_applies(patch_shape, n_channels):
    """Whether :func:`winograd_products` serves a layer: 2-D, 3x3, enough channels."""
    return tuple(patch_shape) == (3, 3) and n_channels >= MIN_CHANNELS


#: m = 4 is taken when it needs at most this share of m = 2's products:
#: measured on two cores (float32, docs/benchmarks.md), 16 x 16 maps (44 %
#: fewer products) ran 10-16 % faster end to end, 14 x 14 maps (27 % fewer,
#: but tiles that overhang the map by two rows and columns) no faster
F4_PRODUCT_SHARE = 0.7


def output_tile(out_shape):
    """The output block size m (2 or 4) for a map of ``out_shape`` products.

    A map of H x W outputs takes ceil(H / m) ceil(W / m) tiles of (m + 2)^2
    products each. m = 4 has about four times m = 2's float32 rounding
    (still about 1e-6 of the products, far below what M amplifies), so it is
    taken only where it saves enough (``F4_PRODUCT_SHARE``).
    """
    height, width = out_shape

    def products(m):
        return (m + 2) ** 2 * math.ceil(height / m) * math.ceil(width / m)

    return 4 if products(4) <= F4_PRODUCT_SHARE * products(2) else 2


def _kron(a, b):
    """Kronecker product of two nested tuples, as nested lists."""
    return [[x * y for x in row_a for y in row_b] for row_a in a for row_b in b]


#: kron(X, X) arrays by (matrix, m, namespace, dtype, device): built once, not
#: from Python lists again in every chunk
_MIXING_CACHE = {}


def _mixing(name, m, like, xp):
    """kron(X, X) for the 1-D matrix ``name`` of F(m, 3), as ``like``'s arrays."""
    dev = array_device(like)
    key = (name, m, xp.__name__, str(like.dtype), str(dev))
    if key not in _MIXING_CACHE:
        x = _MATRICES[m][name]
        _MIXING_CACHE[key] = xp.asarray(_kron(x, x), dtype=like.dtype, device=dev)
    return _MIXING_CACHE[key]


def filter_transform(z, n_channels, xp, m=2):
    """G g G^T for every filter: array ((m + 2)^2, C, p), position a (m + 2) + b.

    It depends on the filters (and m) alone: compute it once per transform
    and pass it to :func:`winograd_products`, which reads m from its size.
    """
    p = z.shape[0]
    t2 = (m + 2) ** 2
    # (p, 9, C) -> (9, p * C): offsets first, as kron(G, G) mixes them
    g = xp.reshape(
        xp.permute_dims(xp.reshape(z, (p, 9, n_channels)), (1, 0, 2)), (9, -1)
    )
    mix = _mixing("G", m, z, xp)
    # nine broadcast products, not a GEMM: a multi-threaded BLAS call here
    # leaves OpenBLAS workers spinning while transform's chunk threads start,
    # which measured as slow as one thread
    u = mix[:, 0:1] * g[0:1, :]
    for offset in range(1, 9):
        u += mix[:, offset : offset + 1] * g[offset : offset + 1, :]
    # (C, p) views of (p, C) blocks: the layout the products were tuned with
    return xp.permute_dims(xp.reshape(u, (t2, p, n_channels)), (0, 2, 1))


def _input_transform(padded, n_tiles, m, xp):
    """B^T d B for every tile at stride m: array ((m + 2)^2, n * th * tw, C).

    The tile positions are gathered once (strided slices) and mixed by one
    GEMM with kron(B^T, B^T).
    """
    th, tw = n_tiles
    t = m + 2
    n, c = padded.shape[0], padded.shape[-1]
    tiles = xp.stack(
        [
            padded[:, a : a + m * (th - 1) + 1 : m, b : b + m * (tw - 1) + 1 : m, :]
            for a in range(t)
            for b in range(t)
        ],
        axis=0,
    )  # (t^2, n, th, tw, C), position a * t + b
    v = xp.matmul(_mixing("B_T", m, padded, xp), xp.reshape(tiles, (t * t, -1)))
    return xp.reshape(v, (t * t, n * th * tw, c))


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
    transformed : array of shape ((m + 2)^2, C, p) or None, default=None
        :func:`filter_transform` of ``z``, when already computed; its size
        sets m. None: computed here, with m from :func:`output_tile`.

    Returns
    -------
    array of shape (n, H, W, p)
        The same values as the patch matrix times z^T, up to rounding.
    """
    n, c, p = padded.shape[0], padded.shape[-1], z.shape[0]
    height, width = out_shape
    if transformed is None:
        transformed = filter_transform(z, c, xp, output_tile(out_shape))
    m = math.isqrt(transformed.shape[0]) - 2
    th, tw = -(-height // m), -(-width // m)
    extra = (m * th + 2 - padded.shape[1], m * tw + 2 - padded.shape[2])
    if any(extra):  # the tiles overhang the map: zeros there
        grown = xp.zeros(
            (n, m * th + 2, m * tw + 2, c),
            dtype=padded.dtype,
            device=array_device(padded),
        )
        grown[:, : padded.shape[1], : padded.shape[2], :] = padded
        padded = grown
    products = xp.matmul(_input_transform(padded, (th, tw), m, xp), transformed)
    # A^T M A for every tile as one GEMM with kron(A^T, A^T): output (x, y)
    # of each m x m block, then laid out as the (m th, m tw) map
    blocks = xp.matmul(
        _mixing("A_T", m, products, xp), xp.reshape(products, ((m + 2) ** 2, -1))
    )
    blocks = xp.reshape(blocks, (m, m, n, th, tw, p))
    out = xp.reshape(
        xp.permute_dims(blocks, (2, 3, 0, 4, 1, 5)), (n, m * th, m * tw, p)
    )
    if (m * th, m * tw) != (height, width):
        out = out[:, :height, :width, :]
    return out
