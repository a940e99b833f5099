"""From the estimators' per-layer parameters to fully resolved layer specs.

Per-layer parameters take a scalar, broadcast to every layer, or a list/tuple
with one entry per layer, as ``MLPClassifier(hidden_layer_sizes=...)``; the
number of layers is the length of ``n_filters`` (or of ``filters``). Patch
size and subsampling entries are an int, the same along every spatial axis,
or a nested tuple with one value per axis.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

from ._layer import LayerSpec
from ._ops.kernels import KERNELS

__all__ = [
    "PADDINGS",
    "check_sigmas",
    "check_unit_filters",
    "resolve_layer_specs",
    "sigma_range",
]

PADDINGS = ("same", "valid")

#: how far from 1 a user-given filter's norm may be (rounding of stored filters)
FILTER_NORM_TOL = 1e-4


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_sequence(value):
    return isinstance(value, (list, tuple, np.ndarray))


def _is_size(value):
    """A positive int, or a non-empty sequence of positive ints (one per axis)."""
    if _is_int(value):
        return value >= 1
    return (
        _is_sequence(value)
        and len(value) > 0
        and all(_is_int(v) and v >= 1 for v in value)
    )


#: what one layer's entry of each per-layer parameter may be, for messages
_SIZE = "an int >= 1, or a tuple of ints >= 1 with one per spatial axis"
VALID_ENTRIES = {
    "n_filters": "an int >= 1",
    "patch_size": _SIZE,
    "subsampling": _SIZE,
    "kernel": "one of " + ", ".join(repr(k) for k in sorted(KERNELS)),
    "sigma": "a real number > 0",
    "padding": "one of " + ", ".join(repr(p) for p in PADDINGS),
}


def _invalid(name, problem):
    """The InvalidParameterError of a per-layer parameter (a ValueError, as
    scikit-learn's parameter validation raises), naming what is valid."""
    return InvalidParameterError(
        f"The {name!r} parameter {problem}; each layer's entry must be "
        f"{VALID_ENTRIES[name]}. Give one value for every layer or a list with "
        "one entry per layer."
    )


def _n_layers(n_filters, filters):
    if filters is not None:
        if len(filters) == 0:
            raise InvalidParameterError(
                "The 'filters' parameter must hold one array per layer; got none."
            )
        return len(filters)
    if _is_sequence(n_filters):
        if len(n_filters) == 0:
            raise _invalid("n_filters", "names no layer (got ())")
        return len(n_filters)
    return 1


def _per_layer(name, value, n_layers, is_entry):
    """Broadcast a scalar, or check that a sequence has one valid entry per layer."""
    if _is_sequence(value):
        values = list(value)
        if len(values) != n_layers:
            raise _invalid(
                name,
                f"is {value!r}: {len(values)} entries, but the network has "
                f"{n_layers} layer(s) (per-axis values go nested, e.g. ((1, 3),) "
                "for one layer)",
            )
    else:
        values = [value] * n_layers
    for layer, entry in enumerate(values):
        if not is_entry(entry):
            raise _invalid(name, f"has {entry!r} for layer {layer}")
    return values


def _per_axis(name, value, layer, n_spatial):
    if _is_int(value):
        return (int(value),) * n_spatial
    value = tuple(int(v) for v in value)
    if len(value) != n_spatial:
        raise _invalid(
            name,
            f"has {value} for layer {layer}, but the input has {n_spatial} "
            "spatial axis/axes: one value per axis",
        )
    return value


def _shapes_of_given_filters(filters, n_spatial, n_channels):
    """(n_filters, patch shapes) read off user-given filter arrays, checked."""
    n_filters, patch_shapes = [], []
    in_channels = n_channels
    for layer, w in enumerate(filters):
        shape = tuple(np.shape(w))
        if len(shape) != 2 + n_spatial:
            raise ValueError(
                f"filters[{layer}] has shape {shape}; for {n_spatial}-D inputs the "
                f"layout is (n_filters, in_channels{', patch' * n_spatial})."
            )
        if 0 in shape:
            raise ValueError(
                f"filters[{layer}] has shape {shape}: every axis (n_filters, "
                "in_channels and the patch sizes) must be at least 1."
            )
        if shape[1] != in_channels:
            raise ValueError(
                f"filters[{layer}] has {shape[1]} input channels, but layer "
                f"{layer} receives {in_channels} channels."
            )
        n_filters.append(shape[0])
        patch_shapes.append(tuple(shape[2:]))
        in_channels = shape[0]
    return n_filters, patch_shapes


def resolve_layer_specs(params, n_spatial, n_channels):
    """Resolve every per-layer parameter into a list of :class:`LayerSpec`.

    Parameters
    ----------
    params : dict
        The estimator's parameters (``get_params(deep=False)``).
    n_spatial : int
        Number of spatial axes of the input (1 or 2).
    n_channels : int
        Number of input channels.

    Returns
    -------
    list of LayerSpec
    """
    filters = params["filters"]
    n_layers = _n_layers(params["n_filters"], filters)

    def per_layer(name, is_entry):
        return _per_layer(name, params[name], n_layers, is_entry)

    kernels = per_layer("kernel", lambda v: v in KERNELS)
    sigmas = per_layer("sigma", lambda v: isinstance(v, Real) and v > 0)
    paddings = per_layer("padding", lambda v: v in PADDINGS)
    subsamplings = per_layer("subsampling", _is_size)
    if filters is None:
        n_filters = per_layer("n_filters", lambda v: _is_int(v) and v >= 1)
        patch_shapes = [
            _per_axis("patch_size", p, layer, n_spatial)
            for layer, p in enumerate(per_layer("patch_size", _is_size))
        ]
    else:
        n_filters, patch_shapes = _shapes_of_given_filters(
            filters, n_spatial, n_channels
        )
    return [
        LayerSpec(
            n_filters=int(n_filters[i]),
            patch_shape=patch_shapes[i],
            subsampling=_per_axis("subsampling", subsamplings[i], i, n_spatial),
            kernel=kernels[i],
            sigma=float(sigmas[i]),
            padding=paddings[i],
            eps=float(params["eps"]),
        )
        for i in range(n_layers)
    ]


def sigma_range(dtype_name):
    """The sigmas the ``exp`` kernel computes with in a float dtype.

    The kernel is exp((u - 1) / sigma^2) for u in [-1, 1]; the forward pass
    scales patches by 1 / sigma^2 and training multiplies by it again.
    1 / sigma^2 must stay at least the smallest normal number (below,
    (u - 1) / sigma^2 is 0 and every response 1) and at most 1 / (64 eps),
    eps the dtype's machine epsilon: a cosine computed an ulp or a few off
    (above 1 too, for a patch along a filter) then moves (u - 1) / sigma^2
    by 1/64 per ulp, so exp cannot overflow and the kernel does not measure
    rounding (that also keeps the products finite). Sigma in [2.8e-3,
    9.2e18] in float32, [1.2e-7, 6.7e153] in float64.
    """
    info = np.finfo(dtype_name)
    return 8.0 * float(info.eps) ** 0.5, float(info.tiny) ** -0.5


def check_sigmas(specs, dtype_name):
    """Refuse an ``exp`` layer's sigma outside :func:`sigma_range`, naming it."""
    low, high = sigma_range(dtype_name)
    for layer, spec in enumerate(specs):
        if spec.kernel == "exp" and not low <= spec.sigma <= high:
            raise ValueError(
                f"sigma={spec.sigma:g} for layer {layer} is outside the range the "
                f"exp kernel can compute with in {dtype_name}: 1/sigma^2 must lie "
                f"between the smallest normal {dtype_name} and 1/(64 eps), eps its "
                "machine epsilon (below, exp overflows on a cosine rounded above "
                f"1), so sigma in [{low:.2g}, {high:.2g}] (typical values are 0.1 "
                "to 1)."
            )


def check_unit_filters(z, xp, given_dtype=None):
    """Check that user-given filters (p, d) have rows of unit L2 norm; return them.

    The tolerance is ``FILTER_NORM_TOL``, or the machine epsilon of the dtype
    the filters were given in where that is larger (float16 filters normalized
    before rounding are off by up to its unit roundoff, 4.9e-4).
    """
    tol = FILTER_NORM_TOL
    if given_dtype is not None and np.issubdtype(given_dtype, np.floating):
        tol = max(tol, float(np.finfo(given_dtype).eps))
    norms = xp.sqrt(xp.sum(z * z, axis=1))
    worst = float(xp.max(xp.abs(norms - 1.0)))
    if not worst <= tol:  # also catches NaN
        raise ValueError(
            "Each filter must have unit L2 norm over its (in_channels, *patch) "
            f"values; the largest deviation from 1 is {worst:.3g}. Normalize each "
            "filter by the norm of w.reshape(len(w), -1) along axis 1."
        )
    return z
