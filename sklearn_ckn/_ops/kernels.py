"""Dot-product kernels on the sphere, kappa(u) for u in [-1, 1], and their derivatives.

A CKN layer responds to a patch x with ``nu * kappa(<z, x> / nu)`` where ``nu`` is
the patch norm; ``kappa`` is one of the functions below (Mairal 2016, section 2).
"""

import math

__all__ = ["KERNELS", "kernel_derivative", "kernel_value"]

KERNELS = ("exp", "poly", "arccos", "linear")


def _clip_unit(u, xp):
    # arccos and sqrt(1 - u^2) are undefined past |u| = 1, which rounding can reach
    return xp.clip(u, -1.0, 1.0)


def kernel_value(u, kernel, sigma, xp):
    """Evaluate kappa(u) elementwise.

    Parameters
    ----------
    u : array
        Cosines, expected in [-1, 1].
    kernel : {"exp", "poly", "arccos", "linear"}
        ``exp``: exp((u - 1) / sigma^2), the Gaussian kernel on the sphere;
        ``poly``: u^2; ``arccos``: the degree-1 arc-cosine kernel
        (u (pi - arccos u) + sqrt(1 - u^2)) / pi; ``linear``: u.
    sigma : float
        Bandwidth of the ``exp`` kernel; ignored by the others.
    xp : module
        Array namespace of ``u``.

    Returns
    -------
    array
        kappa(u), same shape and dtype as ``u``.
    """
    if kernel == "exp":
        return xp.exp((u - 1.0) / sigma**2)
    if kernel == "poly":
        return u * u
    if kernel == "arccos":
        u = _clip_unit(u, xp)
        return (u * (math.pi - xp.acos(u)) + xp.sqrt(1.0 - u * u)) / math.pi
    if kernel == "linear":
        return u
    raise ValueError(f"Unknown kernel {kernel!r}; expected one of {KERNELS}.")


def kernel_derivative(u, kernel, sigma, xp):
    """Evaluate kappa'(u) elementwise (same conventions as :func:`kernel_value`)."""
    if kernel == "exp":
        return xp.exp((u - 1.0) / sigma**2) / sigma**2
    if kernel == "poly":
        return 2.0 * u
    if kernel == "arccos":
        return (math.pi - xp.acos(_clip_unit(u, xp))) / math.pi
    if kernel == "linear":
        return xp.ones_like(u)
    raise ValueError(f"Unknown kernel {kernel!r}; expected one of {KERNELS}.")
