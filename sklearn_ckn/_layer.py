"""One CKN layer: forward pass, and its vector-Jacobian product for training.

Maps are channels-last, (n, *spatial, C). A layer extracts patches x, responds
with a_f = nu kappa(<z_f, x> / nu) where nu = sqrt(max(||x||^2, floor)), pools
with a Gaussian (subsampling), and applies M = (K^{1/2} + eps I)^{-1}. The
backward pass mirrors every step with its hand-written adjoint.
"""

import math
from dataclasses import dataclass

from ._backend import exp_in_place
from ._ops.kernels import kernel_derivative, kernel_value
from ._ops.patches import (
    conv_output_shape,
    extract_patches,
    pad_map,
    padding_widths,
    patch_columns,
    patch_squared_norms,
    patch_squared_norms_adjoint,
    patches_adjoint,
    unpad_map,
)
from ._ops.pooling import pool, pool_adjoint, pooled_shape
from ._ops.winograd import winograd_applies, winograd_products

__all__ = [
    "PATCH_NORM_FLOOR",
    "LayerShape",
    "LayerSpec",
    "layer_backward",
    "layer_forward",
    "layer_shapes",
    "responses",
]

#: nu = sqrt(max(||x||^2, PATCH_NORM_FLOOR)), the original implementation's floor.
PATCH_NORM_FLOOR = 1e-6


@dataclass(frozen=True)
class LayerSpec:
    """Hyper-parameters of one CKN layer, fully resolved.

    Attributes
    ----------
    n_filters : int
    patch_shape : tuple of int
        One entry per spatial axis.
    subsampling : tuple of int
        Pooling factor per spatial axis (1 means no pooling on that axis).
    kernel : str
    sigma : float
    padding : {"same", "valid"}
    eps : float
        Regularization of M = (K^{1/2} + eps I)^{-1}.
    """

    n_filters: int
    patch_shape: tuple
    subsampling: tuple
    kernel: str
    sigma: float
    padding: str
    eps: float


@dataclass(frozen=True)
class LayerShape:
    """Spatial shapes met by one layer: input, response (before pooling), output."""

    input: tuple
    conv: tuple
    output: tuple
    in_channels: int


def layer_shapes(input_spatial, n_channels, specs):
    """Propagate the spatial shape through the layers.

    Raises
    ------
    ValueError
        If a ``valid`` layer's patch is larger than its input map.
    """
    shapes = []
    spatial, channels = tuple(input_spatial), n_channels
    for index, spec in enumerate(specs):
        conv = conv_output_shape(spatial, spec.patch_shape, spec.padding)
        if min(conv) < 1:
            raise ValueError(
                f"Layer {index} has patch_size {spec.patch_shape} with padding="
                f"'valid' but its input map is only {spatial}: the patch must fit "
                "inside the map. Use padding='same', smaller patches or larger "
                "images."
            )
        out = pooled_shape(conv, spec.subsampling)
        shapes.append(LayerShape(spatial, conv, out, channels))
        spatial, channels = out, spec.n_filters
    return shapes


def _times(a, b, xp):
    """``a @ b`` on the last axis of ``a``, as one 2-D GEMM.

    NumPy runs a stacked (n, ..., d) @ (d, p) product as many small GEMMs,
    about 3x slower than the same product on the rows of a 2-D view.
    """
    flat = xp.reshape(a, (-1, a.shape[-1])) @ b
    return xp.reshape(flat, (*a.shape[:-1], b.shape[-1]))


def responses(h, spec, z, xp, cache=None, winograd_filters=None, whitening=None):
    """nu * kappa(<z, x> / nu) at every position, shape (n, *conv_spatial, p).

    When ``cache`` is a dict, the intermediates the backward pass needs are
    stored in it. ``winograd_filters``: the filters' Winograd transform
    (:func:`sklearn_ckn._ops.winograd.filter_transform`), when already computed.
    ``whitening``: (mean, matrix) in internal patch order, for a first layer
    that sees its patches whitened, x -> (x - mean) @ matrix (the patch
    norms are then those of the whitened patches).
    """
    padded = pad_map(h, padding_widths(spec.patch_shape, spec.padding), xp)
    if whitening is not None:
        return _whitened_responses(padded, spec, z, xp, cache, whitening)
    sq_norms = patch_squared_norms(padded, spec.patch_shape, xp)
    # maximum, not array_api_compat's clip: its Python holds the GIL
    nu = xp.sqrt(xp.maximum(sq_norms, PATCH_NORM_FLOOR))[..., None]
    exp_forward = cache is None and spec.kernel == "exp"
    # the exp responses' factor c / nu, applied where it costs no pass over
    # the responses: on the Winograd products' layout copy, or on the patch
    # columns (prod(patch_shape) C values a position, against p responses)
    scale = 1.0 / (spec.sigma**2 * nu) if exp_forward else None
    if cache is None and winograd_applies(spec.patch_shape, h.shape[-1]):
        # forward only: no patch matrix, 2.25 to 4 times fewer multiply-adds
        dots = winograd_products(
            padded, z, sq_norms.shape[1:], xp, winograd_filters, scale
        )
    elif cache is None:
        columns = patch_columns(padded, spec.patch_shape, xp)
        if exp_forward:
            columns = columns * xp.reshape(scale, (1, -1))
        dots = xp.matrix_transpose(columns) @ xp.matrix_transpose(z)
        dots = xp.reshape(dots, (*sq_norms.shape, z.shape[0]))
    else:
        patches = extract_patches(padded, spec.patch_shape, xp)
        dots = _times(patches, xp.matrix_transpose(z), xp)
    if exp_forward:
        return _exp_responses_in_place(dots, nu, spec.sigma, xp)
    cosines = dots / nu
    kappa = kernel_value(cosines, spec.kernel, spec.sigma, xp)
    if cache is not None:
        cache.update(
            padded=padded,
            patches=patches,
            sq_norms=sq_norms,
            nu=nu,
            cosines=cosines,
            kappa=kappa,
        )
    return nu * kappa


def _whitened_responses(padded, spec, z, xp, cache, whitening):
    """:func:`responses` on whitened patches: the patch matrix is formed (a
    first layer's patches are short), whitened, and multiplied by the filters."""
    mean, matrix = whitening
    patches = _times(extract_patches(padded, spec.patch_shape, xp) - mean, matrix, xp)
    sq_norms = xp.sum(patches * patches, axis=-1)
    nu = xp.sqrt(xp.maximum(sq_norms, PATCH_NORM_FLOOR))[..., None]
    cosines = _times(patches, xp.matrix_transpose(z), xp) / nu
    kappa = kernel_value(cosines, spec.kernel, spec.sigma, xp)
    if cache is not None:
        # no padded map: the input's gradient is not available through the
        # whitening (a first layer's is never needed)
        cache.update(
            patches=patches, sq_norms=sq_norms, nu=nu, cosines=cosines, kappa=kappa
        )
    return nu * kappa


#: largest c = 1 / sigma^2 for which the responses take exp(c cos) times
#: nu exp(-c): exp(c) and exp(-c) stay far inside float32's normal range
#: (1e13 and 1e-13 at c = 30, sigma = 0.18); above it, exp(c (cos - 1))
FOLDED_EXP_MAX_C = 30.0


def _exp_responses_in_place(u, nu, sigma, xp):
    """nu * exp(u - c), c = 1 / sigma^2, overwriting ``u`` = c <z, x> / nu.

    The forward pass's largest arrays are these responses: the factor c / nu
    is applied before (:func:`responses`), so in place they take two passes
    and no new array: exp, then times nu exp(-c), a factor per position,
    small (the exp(-c) folded into nu saves the pass subtracting c). Both
    factors scale exactly with a power-of-two scaling of the input, so the
    responses stay exactly proportional to it.
    """
    c = 1.0 / sigma**2
    if c > FOLDED_EXP_MAX_C:
        u -= c
        u = exp_in_place(u, xp)
        u *= nu
        return u
    u = exp_in_place(u, xp)
    u *= nu * math.exp(-c)
    return u


def layer_forward(
    h,
    spec,
    z,
    m,
    xp,
    pool_mats=None,
    cache=None,
    winograd_filters=None,
    whitening=None,
):
    """One CKN layer: responses, Gaussian pooling, then the map M.

    Pooling and M are linear and commute; M is applied after pooling, on the
    kept positions only.

    Parameters
    ----------
    h : array of shape (n, *spatial, C)
    spec : LayerSpec
    z : array of shape (p, prod(patch_shape) * C)
        Unit-norm filters in internal patch order.
    m : array of shape (p, p)
        The layer's map M.
    xp : module
    pool_mats : list or None
        Pre-built pooling matrices (see
        :func:`sklearn_ckn._ops.pooling.pooling_matrices`).
    cache : dict or None
        Filled with what :func:`layer_backward` needs when given.
    winograd_filters : dict or None
        The filters' Winograd transforms, by tile shape, computed once per
        transform (see :func:`responses`).
    whitening : tuple or None
        (mean, matrix) of a first layer's patch whitening (see
        :func:`responses`).

    Returns
    -------
    array of shape (n, *pooled_spatial, p)
    """
    a = responses(h, spec, z, xp, cache, winograd_filters, whitening)
    pooled = pool(a, spec.subsampling, xp, pool_mats)
    if cache is not None:
        cache["pooled"] = pooled
    return _times(pooled, m, xp)


def layer_backward(g_out, cache, spec, z, m, xp, pool_mats, input_grad=True):
    """Vector-Jacobian product of :func:`layer_forward`.

    Parameters
    ----------
    g_out : array of shape (n, *pooled_spatial, p)
        Gradient with respect to the layer's output.
    cache : dict
        Filled by :func:`layer_forward`.
    spec, z, m, xp, pool_mats :
        As given to :func:`layer_forward` (``pool_mats`` must not be None).
    input_grad : bool, default=True
        Whether to compute the gradient with respect to the input map (the
        first layer does not need it).

    Returns
    -------
    g_in : array of shape (n, *spatial, C) or None
    g_z : array of shape (p, d)
        Gradient with respect to the filters through the responses (the path
        through M is added by the caller from ``g_m``).
    g_m : array of shape (p, p)
        Gradient with respect to M.
    """
    p = z.shape[0]
    pooled = cache["pooled"]
    g_m = xp.matrix_transpose(xp.reshape(pooled, (-1, p))) @ xp.reshape(g_out, (-1, p))
    g_pooled = _times(g_out, xp.matrix_transpose(m), xp)
    g_a = pool_adjoint(g_pooled, pool_mats, xp)
    cosines, kappa, nu = cache["cosines"], cache["kappa"], cache["nu"]
    d_kappa = kernel_derivative(cosines, spec.kernel, spec.sigma, xp)
    # a = nu kappa(dot / nu): da/d(dot) = kappa'(u), da/d(nu) = kappa(u) - u kappa'(u)
    g_dot = g_a * d_kappa
    patches = cache["patches"]
    d = patches.shape[-1]
    g_z = xp.matrix_transpose(xp.reshape(g_dot, (-1, p))) @ xp.reshape(patches, (-1, d))
    if not input_grad:
        return None, g_z, g_m
    if "padded" not in cache:
        raise ValueError("no input gradient through a layer with whitened patches")
    g_nu = xp.sum(g_a * (kappa - cosines * d_kappa), axis=-1)
    sq_norms = cache["sq_norms"]
    # the floor makes nu constant below it: no gradient flows there
    g_sq = xp.where(
        sq_norms > PATCH_NORM_FLOOR, g_nu / (2.0 * nu[..., 0]), xp.zeros_like(g_nu)
    )
    padded = cache["padded"]
    g_padded = patches_adjoint(_times(g_dot, z, xp), padded.shape, spec.patch_shape, xp)
    g_padded = g_padded + patch_squared_norms_adjoint(
        g_sq, padded, spec.patch_shape, xp
    )
    g_in = unpad_map(g_padded, padding_widths(spec.patch_shape, spec.padding))
    return g_in, g_z, g_m
