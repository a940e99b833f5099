"""Patch extraction for 1-D and 2-D maps laid out channels-last: (n, *spatial, C).

A patch is flattened offset-major with the channel fastest, i.e. in the order
(a, c) in 1-D and (a, b, c) in 2-D. Filters are kept in the same internal order
(see :func:`filters_to_internal`) so that a response is one matrix product.
"""

import itertools
import math

from array_api_compat import device as array_device

__all__ = [
    "conv_output_shape",
    "extract_patches",
    "filters_from_internal",
    "filters_to_internal",
    "pad_map",
    "padding_widths",
    "patch_squared_norms",
]


def padding_widths(patch_shape, padding):
    """Zeros added before and after each spatial axis.

    ``same`` adds ``k // 2`` zeros on each side (an even ``k`` makes the map one
    larger, as in the original CKN); ``valid`` adds none.
    """
    if padding == "same":
        return tuple(k // 2 for k in patch_shape)
    return tuple(0 for _ in patch_shape)


def conv_output_shape(spatial_shape, patch_shape, padding):
    """Spatial shape of the response map, before pooling."""
    pads = padding_widths(patch_shape, padding)
    return tuple(n + 2 * p - k + 1 for n, k, p in zip(spatial_shape, patch_shape, pads))


def pad_map(h, pads, xp):
    """Zero-pad the spatial axes of ``h`` (n, *spatial, C) by ``pads`` on each side."""
    if not any(pads):
        return h
    n, *spatial, c = h.shape
    padded_shape = (n, *(s + 2 * p for s, p in zip(spatial, pads)), c)
    out = xp.zeros(padded_shape, dtype=h.dtype, device=array_device(h))
    inner = (
        slice(None),
        *(slice(p, p + s) for p, s in zip(pads, spatial)),
        slice(None),
    )
    out[inner] = h
    return out


def _window(h, offsets, out_shape):
    """The view of ``h`` starting at ``offsets`` with spatial size ``out_shape``."""
    return h[
        (
            slice(None),
            *(slice(o, o + s) for o, s in zip(offsets, out_shape)),
            slice(None),
        )
    ]


def extract_patches(h_padded, patch_shape, xp):
    """All patches of a padded map, stride 1 (im2col).

    Parameters
    ----------
    h_padded : array of shape (n, *spatial, C)
        Map already padded (see :func:`pad_map`).
    patch_shape : tuple of int
        Patch size along each spatial axis.
    xp : module
        Array namespace.

    Returns
    -------
    patches : array of shape (n, *out_spatial, prod(patch_shape) * C)
        Patch values in (offset..., channel) order.
    """
    n, *spatial, c = h_padded.shape
    out_shape = tuple(s - k + 1 for s, k in zip(spatial, patch_shape))
    windows = [
        _window(h_padded, offsets, out_shape)
        for offsets in itertools.product(*(range(k) for k in patch_shape))
    ]
    if len(windows) == 1:
        return windows[0]
    patches = xp.stack(windows, axis=-2)
    return xp.reshape(patches, (n, *out_shape, math.prod(patch_shape) * c))


def patch_squared_norms(h_padded, patch_shape, xp):
    """Squared L2 norm of every patch, by a separable box filter over sum_c h^2.

    Cheaper than reading the patches again: one pass per spatial axis, each a
    sum of ``k`` shifted slices (exact, unlike a difference of cumulative sums).

    Returns
    -------
    array of shape (n, *out_spatial)
    """
    sq = xp.sum(h_padded * h_padded, axis=-1)
    for axis, k in enumerate(patch_shape, start=1):
        length = sq.shape[axis] - k + 1
        acc = None
        for offset in range(k):
            index = [slice(None)] * sq.ndim
            index[axis] = slice(offset, offset + length)
            part = sq[tuple(index)]
            acc = part if acc is None else acc + part
        sq = acc
    return sq


def filters_to_internal(filters, xp):
    """(p, C, *patch_shape) filters -> (p, prod(patch_shape) * C) in patch order."""
    p, c, *patch_shape = filters.shape
    order = (0, *range(2, 2 + len(patch_shape)), 1)
    return xp.reshape(xp.permute_dims(filters, order), (p, math.prod(patch_shape) * c))


def filters_from_internal(z, n_channels, patch_shape, xp):
    """Inverse of :func:`filters_to_internal`."""
    p = z.shape[0]
    w = xp.reshape(z, (p, *patch_shape, n_channels))
    nd = len(patch_shape)
    order = (0, nd + 1, *range(1, nd + 1))
    return xp.permute_dims(w, order)
