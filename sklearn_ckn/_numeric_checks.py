"""Checks that keep non-finite numbers out: inputs whose squares would
overflow, results that overflowed anyway, responses that all underflowed.

The input is validated finite and bounded, so a non-finite result means an
overflow inside a deep network: it is refused with a message naming X's
range, and nothing non-finite is ever returned.
"""

import math

import numpy as np

from ._backend import array_namespace, float_name
from ._warnings import warn_user

__all__ = [
    "check_finite_result",
    "check_magnitude",
    "warn_if_responses_underflowed",
]


def _squares_limit(dtype_name):
    """Largest |value| accepted in X of this float dtype.

    The network squares patch values and sums them (patch norms, K), and its
    later layers amplify their input by up to 1 / eps; a margin of 1e-6 below
    sqrt(max) keeps two layers of 3x3 patches and 256 filters finite.
    """
    return math.sqrt(np.finfo(dtype_name).max) * 1e-6


def check_magnitude(X, xp):
    """Refuse values so large that the network's squares overflow X's dtype."""
    if 0 in X.shape:
        return
    dtype_name = float_name(X.dtype)
    # max and min instead of abs: no temporary the size of X
    largest = max(float(xp.max(X)), -float(xp.min(X)))
    if largest > _squares_limit(dtype_name):
        raise ValueError(
            f"X holds values up to {largest:.3g}, too large for {dtype_name}: the "
            "network squares patch values, which would overflow to inf. Rescale X "
            f"(e.g. to [0, 1]); {dtype_name} allows |X| <= "
            f"{_squares_limit(dtype_name):.3g}"
            + (", float64 more." if dtype_name == "float32" else ".")
        )


def warn_if_responses_underflowed(extremes, maps, specs):
    """Warn, naming the exp layers' sigmas, when every feature of non-zero
    input is 0 (the features' ``extremes`` are both 0): the kernel's
    responses underflowed everywhere."""
    if extremes != (0.0, 0.0) or not any(spec.kernel == "exp" for spec in specs):
        return
    xp_maps = array_namespace(maps)
    if float(xp_maps.max(xp_maps.abs(maps))) == 0.0:
        return
    sigmas = ", ".join(
        f"sigma={spec.sigma:g} for layer {layer}"
        for layer, spec in enumerate(specs)
        if spec.kernel == "exp"
    )
    warn_user(
        f"Every feature of X is 0: the exp kernel's responses underflowed "
        f"({sigmas}); exp((u - 1) / sigma^2) is 0 unless a patch is nearly a "
        "filter. Use a larger sigma (typical values are 0.1 to 1).",
        UserWarning,
    )


def check_finite_result(a, maps, what):
    """Raise a ValueError naming X's range when ``a`` is not all finite.

    The input is validated finite and bounded, so a non-finite result means
    an overflow inside a deep network; nothing non-finite is ever returned.

    Returns
    -------
    tuple of float or None
        ``a``'s (smallest, largest) values, None when it is empty.
    """
    if 0 in a.shape:
        return None
    xp = array_namespace(a)
    # NaN propagates through max and min, and inf is one of them: all finite
    # iff both are, without a temporary the size of ``a``
    extremes = float(xp.min(a)), float(xp.max(a))
    if all(math.isfinite(v) for v in extremes):
        return extremes
    xp_maps = array_namespace(maps)
    largest = float(xp_maps.max(xp_maps.abs(maps))) if maps.shape[0] else 0.0
    raise ValueError(
        f"The computation of {what} overflowed {maps.dtype} (the largest |X| is "
        f"{largest:.3g}): rescale X, e.g. to [0, 1], or pass it as float64."
    )
