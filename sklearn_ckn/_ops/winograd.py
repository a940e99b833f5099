"""Winograd F(mh x mw, 3x3): the products <z_f, x> of 3x3 filters with every patch.

The minimal filtering algorithm of Winograd (Lavin and Gray, "Fast algorithms
for convolutional neural networks", CVPR 2016) computes an mh x mw block of
outputs from an (mh + 2) x (mw + 2) input tile in (mh + 2)(mw + 2) products
instead of 9 mh mw: each tile is transformed (B^T d B), each filter too
(G g G^T), the transformed positions are multiplied as as many matrix
products over the channels, and the outputs are transformed back
(A^T M A). The map is cut into groups of equal tiles (:func:`tiling`):
blocks of 4 (36 products per 16 outputs) where they fit and of 2 at the
border (F(4x2), F(2x4), F(2x2)). This replaces the patch matrix (im2col,
9 C values per position) and its product for CKN's second and later layers,
with 2.25 to 4 times fewer multiply-adds; it serves the forward pass only
(training keeps the patches, which its backward pass needs). The tile
transforms are two small GEMMs each, one per tile axis; the filter
transform one GEMM with the Kronecker product of the 1-D matrices.

Maps are channels-last, (n, H, W, C); filters are in the internal patch order
(offset-major, channel fastest) of :mod:`sklearn_ckn._ops.patches`.
"""

import functools

from array_api_compat import device as array_device

from .._backend import byte_strides, strided_view

__all__ = [
    "filter_transform",
    "product_count",
    "tiling",
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


def _axis_tiling(length, largest):
    """Runs (start, m, count) of m-output blocks covering ``length`` outputs.

    With ``largest`` = 4: as many blocks of 4 as fit (6 products per 4
    outputs along the axis) and a rest of 1 or 2 in one block of 2 (4
    products); a rest of 3 takes one more block of 4 (6 products against 8
    for two blocks of 2). With ``largest`` = 2: blocks of 2 only. A block
    past the end overhangs the map: zeros in, its extra outputs dropped.
    """
    if largest == 2:
        return ((0, 2, -(-length // 2)),)
    full, rest = divmod(length, 4)
    if rest == 3:
        return ((0, 4, full + 1),)
    runs = ((0, 4, full),) if full else ()
    return runs + (((4 * full, 2, 1),) if rest else ())


@functools.lru_cache
def tiling(out_shape, largest=4):
    """The groups of equal tiles that cover an (H, W) map of products.

    Each axis is cut by :func:`_axis_tiling`; a group pairs one run of each
    axis: (row, col, mh, mw, n_row_tiles, n_col_tiles), its tiles computing
    mh x mw output blocks by F(mh x mw, 3x3) from (mh + 2) x (mw + 2) inputs.
    A 14 x 14 map takes 3 x 3 tiles of F(4x4), two strips of F(4x2) and
    F(2x4) and one F(2x2) tile: 484 products per channel and filter, against
    784 with F(2x2) alone and 576 with F(4x4) tiles overhanging the map.
    """
    rows, cols = (_axis_tiling(length, largest) for length in out_shape)
    return tuple((r0, c0, mh, mw, nr, nc) for r0, mh, nr in rows for c0, mw, nc in cols)


def product_count(out_shape, largest=4):
    """Products per channel and filter that :func:`winograd_products` performs."""
    return sum(
        (mh + 2) * (mw + 2) * nr * nc
        for _, _, mh, mw, nr, nc in tiling(tuple(out_shape), largest)
    )


def _kron(a, b):
    """Kronecker product of two nested tuples, as nested lists."""
    return [[x * y for x in row_a for y in row_b] for row_a in a for row_b in b]


#: the transforms' matrices as arrays, by (matrix, sizes, namespace, dtype,
#: device): built once, not from Python lists again in every chunk
_MATRIX_CACHE = {}


def _matrix(name, sizes, like, xp):
    """kron of the 1-D matrices ``name`` of F(m, 3) for m in ``sizes``, as
    ``like``'s arrays (one size: the 1-D matrix itself)."""
    dev = array_device(like)
    # the dtype and device themselves: their str() held the GIL in every chunk
    key = (name, sizes, xp.__name__, like.dtype, dev)
    try:
        hash(key)
    except TypeError:  # a namespace whose devices do not hash
        key = (name, sizes, xp.__name__, str(like.dtype), str(dev))
    if key not in _MATRIX_CACHE:
        matrix = _MATRICES[sizes[0]][name]
        for m in sizes[1:]:
            matrix = _kron(matrix, _MATRICES[m][name])
        _MATRIX_CACHE[key] = xp.asarray(matrix, dtype=like.dtype, device=dev)
    return _MATRIX_CACHE[key]


def _mix_separably(name, block, x, xp):
    """kron(X_mh, X_mw) @ x for the 1-D matrices ``name`` of F(mh x mw, 3x3).

    ``x`` is (th tw, N), row a tw + b; the result (rows of X_mh times rows of
    X_mw, N). Two products, one per tile axis: 2.4 to 6 times fewer
    multiply-adds than one with the Kronecker matrix, and 15-28 % faster
    (F(4x4) tiles of 16 images, one thread).
    """
    first, second = (_matrix(name, (m,), x, xp) for m in block)
    th, tw = first.shape[1], second.shape[1]
    n = x.shape[-1]
    y = first @ xp.reshape(x, (th, tw * n))
    y = xp.matmul(second, xp.reshape(y, (first.shape[0], tw, n)))
    return xp.reshape(y, (first.shape[0] * second.shape[0], n))


def filter_transform(z, n_channels, xp, out_shape, largest=4):
    """G g G^T for every filter and every tile shape of :func:`tiling`.

    It depends on the filters and the map's shape alone: compute it once per
    transform and pass it to :func:`winograd_products`.

    Returns
    -------
    dict
        (mh, mw) -> array ((mh + 2) (mw + 2), C, p), position a (mw + 2) + b.
    """
    p = z.shape[0]
    # (p, 9, C) -> (9, p * C): offsets first, as kron(G_mh, G_mw) mixes them
    g = xp.reshape(
        xp.permute_dims(xp.reshape(z, (p, 9, n_channels)), (1, 0, 2)), (9, -1)
    )
    blocks = {(mh, mw) for _, _, mh, mw, _, _ in tiling(tuple(out_shape), largest)}
    transformed = {}
    for block in sorted(blocks):
        mix = _matrix("G", block, z, xp)
        # one GEMM: transform computes this inside its chunk runner, where
        # BLAS runs single-threaded (a multi-threaded call just before the
        # chunk threads start leaves OpenBLAS workers spinning, which measured
        # as slow as one thread)
        u = mix @ g
        # (C, p) views of (p, C) blocks: the layout the products were tuned with
        transformed[block] = xp.permute_dims(
            xp.reshape(u, (mix.shape[0], p, n_channels)), (0, 2, 1)
        )
    return transformed


def _tiles(padded, group, xp):
    """Every tile of a group, array (th tw, n nr nc C), position a tw + b.

    On NumPy and CuPy one strided view read by one copy, which releases
    Python's GIL (stacking the th tw strided slices holds it while copying,
    which serialized transform's threads); elsewhere the slices are stacked.
    """
    r0, c0, mh, mw, nr, nc = group
    th, tw = mh + 2, mw + 2
    n, c = padded.shape[0], padded.shape[-1]
    strides = byte_strides(padded, xp)
    if strides is not None:
        sn, sh, sw, sc = strides
        view = strided_view(
            padded,
            (th, tw, n, nr, nc, c),
            (sh, sw, sn, mh * sh, mw * sw, sc),
            xp,
            start=(0, r0, c0, 0),
        )
        if view is not None:
            return xp.reshape(view, (th * tw, -1))
    tiles = xp.stack(
        [
            padded[
                :,
                r0 + a : r0 + a + mh * (nr - 1) + 1 : mh,
                c0 + b : c0 + b + mw * (nc - 1) + 1 : mw,
                :,
            ]
            for a in range(th)
            for b in range(tw)
        ],
        axis=0,
    )
    return xp.reshape(tiles, (th * tw, -1))


def _input_transform(padded, group, xp):
    """B^T d B for every tile of a group: array (th tw, n * nr * nc, C).

    The tiles are gathered once (:func:`_tiles`) and mixed by B^T_mh and
    B^T_mw, one tile axis after the other.
    """
    _, _, mh, mw, _, _ = group
    v = _mix_separably("B_T", (mh, mw), _tiles(padded, group, xp), xp)
    return xp.reshape(v, (v.shape[0], -1, padded.shape[-1]))


def _group_products(padded, group, transformed, xp, scale=None):
    """The group's products as its part of the map, (n, mh nr, mw nc, p).

    ``scale``, the group's part of a per-position factor (n, mh nr, mw nc,
    1), multiplies the products while they are laid out as the map: the
    layout copy is made anyway, so the factor costs no pass of its own.
    """
    _, _, mh, mw, nr, nc = group
    n, p = padded.shape[0], transformed.shape[-1]
    products = xp.matmul(_input_transform(padded, group, xp), transformed)
    # A^T M A for every tile, one tile axis after the other: output (x, y)
    # of each mh x mw block, then laid out as the group's part of the map
    blocks = _mix_separably(
        "A_T", (mh, mw), xp.reshape(products, (products.shape[0], -1)), xp
    )
    blocks = xp.permute_dims(
        xp.reshape(blocks, (mh, mw, n, nr, nc, p)), (2, 3, 0, 4, 1, 5)
    )
    if scale is not None:
        blocks = blocks * xp.reshape(scale, (n, nr, mh, nc, mw, 1))
    return xp.reshape(blocks, (n, mh * nr, mw * nc, p))


def winograd_products(padded, z, out_shape, xp, transformed=None, scale=None):
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
    transformed : dict or None, default=None
        :func:`filter_transform` of ``z`` for this ``out_shape``, when already
        computed; its largest block sets the tiling (F(2x2) alone when it
        holds only (2, 2)). None: computed here, with the default tiling.
    scale : array of shape (n, H, W, 1) or None, default=None
        A factor per position that the products are multiplied by, at no
        extra pass (the forward pass's c / nu).

    Returns
    -------
    array of shape (n, H, W, p)
        The same values as the patch matrix times z^T (times ``scale``), up
        to rounding.
    """
    n, c, p = padded.shape[0], padded.shape[-1], z.shape[0]
    out_shape = tuple(out_shape)
    if transformed is None:
        transformed = filter_transform(z, c, xp, out_shape)
    groups = tiling(out_shape, max(max(block) for block in transformed))
    cover = (
        max(r0 + mh * nr for r0, _, mh, _, nr, _ in groups),
        max(c0 + mw * nc for _, c0, _, mw, _, nc in groups),
    )
    dev = array_device(padded)
    if cover != out_shape:
        # tiles overhang the map: zeros there, in the input and the scale
        grown = xp.zeros(
            (n, cover[0] + 2, cover[1] + 2, c), dtype=padded.dtype, device=dev
        )
        grown[:, : padded.shape[1], : padded.shape[2], :] = padded
        padded = grown
        if scale is not None:
            grown = xp.zeros((n, *cover, 1), dtype=scale.dtype, device=dev)
            grown[:, : out_shape[0], : out_shape[1], :] = scale
            scale = grown

    def part(group):
        r0, c0, mh, mw, nr, nc = group
        region = None
        if scale is not None:
            region = scale[:, r0 : r0 + mh * nr, c0 : c0 + mw * nc, :]
        return _group_products(padded, group, transformed[(mh, mw)], xp, region)

    if len(groups) == 1:
        out = part(groups[0])
    else:
        out = xp.empty((n, *cover, p), dtype=padded.dtype, device=dev)
        for group in groups:
            r0, c0, mh, mw, nr, nc = group
            out[:, r0 : r0 + mh * nr, c0 : c0 + mw * nc, :] = part(group)
    if cover != out_shape:
        out = out[:, : out_shape[0], : out_shape[1], :]
    return out
