"""The linear map M = (K^{1/2} + eps I)^{-1}, K = kappa(Z Z^T), of a CKN layer.

Applying M to the vector of filter responses at a position gives the Nystroem
approximation of the kernel feature map projected on span{phi(z_f)}, with the
regularization ``eps`` of the original implementation (Mairal 2016).
"""

from ._backend import array_device, max_float_dtype
from ._kernels import kernel_value

__all__ = ["filter_gram", "lintrans"]


def filter_gram(z, kernel, sigma, xp):
    """K = kappa(Z Z^T) for unit-norm filters ``z`` of shape (p, d)."""
    return kernel_value(z @ xp.matrix_transpose(z), kernel, sigma, xp)


def lintrans(z, kernel, sigma, eps, xp):
    """Compute M = V diag(1 / (sqrt(max(e, 0)) + eps)) V^T where K = V diag(e) V^T.

    The p x p eigendecomposition is done in the most precise float dtype of
    the device (float64 where available) and the result cast to ``z.dtype``:
    M can amplify rounding by up to 1 / eps, and its cost is negligible.

    Parameters
    ----------
    z : array of shape (p, d)
        Unit-norm filters.
    kernel : str
        Kernel name (see :mod:`sklearn_ckn._kernels`).
    sigma : float
        Bandwidth of the ``exp`` kernel.
    eps : float
        Regularization added to the square root of K.
    xp : module
        Array namespace of ``z``.

    Returns
    -------
    array of shape (p, p)
        Symmetric M, same dtype and device as ``z``.
    """
    work_dtype = max_float_dtype(xp, array_device(z))
    gram = filter_gram(xp.astype(z, work_dtype), kernel, sigma, xp)
    gram = (gram + xp.matrix_transpose(gram)) / 2  # exact symmetry for eigh
    eigvals, eigvecs = xp.linalg.eigh(gram)
    scale = 1.0 / (xp.sqrt(xp.clip(eigvals, 0.0, None)) + eps)
    m = (eigvecs * scale) @ xp.matrix_transpose(eigvecs)
    return xp.astype(m, z.dtype)
