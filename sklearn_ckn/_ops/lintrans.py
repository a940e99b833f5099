"""The linear map M = (K^{1/2} + eps I)^{-1}, K = kappa(Z Z^T), of a CKN layer,
and its exact derivative with respect to the filters Z.

Applying M to the vector of filter responses at a position gives the Nystroem
approximation of the kernel feature map projected on span{phi(z_f)}, with the
regularization ``eps`` of the original implementation (Mairal 2016).

M = f(K) with f(l) = 1 / (sqrt(max(l, 0)) + eps) applied to the eigenvalues of
K. Its derivative is the Daleckii-Krein formula
dM = V ((V^T dK V) o Gamma) V^T, Gamma_ij the divided difference of f at
(l_i, l_j). For two positive eigenvalues, with r = sqrt(l),
(f(l_i) - f(l_j)) / (l_i - l_j) = -1 / ((r_i + eps) (r_j + eps) (r_i + r_j)),
which has no eigenvalue gap in a denominator: it is exact and stays stable when
eigenvalues are close or equal (where it equals f'(l_i)).
"""

from .._backend import array_device, max_float_dtype
from .kernels import kernel_derivative, kernel_value

__all__ = ["filter_gram", "gram_eigh", "lintrans", "lintrans_vjp"]


def filter_gram(z, kernel, sigma, xp):
    """K = kappa(Z Z^T) for unit-norm filters ``z`` of shape (p, d)."""
    return kernel_value(z @ xp.matrix_transpose(z), kernel, sigma, xp)


def gram_eigh(z, kernel, sigma, xp):
    """Eigendecomposition of K in the most precise float dtype of the device.

    Returns ``(z_work, eigenvalues, eigenvectors)``, ``z_work`` the filters in
    that dtype. :func:`lintrans` and :func:`lintrans_vjp` accept it as
    ``eig``, so that a training step decomposes each K once.
    """
    work = xp.astype(z, max_float_dtype(xp, array_device(z)))
    gram = filter_gram(work, kernel, sigma, xp)
    gram = (gram + xp.matrix_transpose(gram)) / 2  # exact symmetry for eigh
    eigvals, eigvecs = xp.linalg.eigh(gram)
    return work, eigvals, eigvecs


def lintrans(z, kernel, sigma, eps, xp, eig=None):
    """Compute M = V diag(1 / (sqrt(max(e, 0)) + eps)) V^T where K = V diag(e) V^T.

    The p x p eigendecomposition is done in the most precise float dtype of
    the device (float64 where available) and the result cast to ``z.dtype``:
    M can amplify rounding by up to 1 / eps, and its cost is negligible.

    Parameters
    ----------
    z : array of shape (p, d)
        Unit-norm filters.
    kernel : str
        Kernel name (see :mod:`sklearn_ckn._ops.kernels`).
    sigma : float
        Bandwidth of the ``exp`` kernel.
    eps : float
        Regularization added to the square root of K.
    xp : module
        Array namespace of ``z``.
    eig : tuple or None
        :func:`gram_eigh` of the same arguments, when already computed.

    Returns
    -------
    array of shape (p, p)
        Symmetric M, same dtype and device as ``z``.
    """
    _, eigvals, eigvecs = eig if eig is not None else gram_eigh(z, kernel, sigma, xp)
    scale = 1.0 / (xp.sqrt(xp.clip(eigvals, 0.0, None)) + eps)
    m = (eigvecs * scale) @ xp.matrix_transpose(eigvecs)
    return xp.astype(m, z.dtype)


def _divided_differences(eigvals, eps, xp):
    """Gamma_ij = (f(l_i) - f(l_j)) / (l_i - l_j), f'(l_i) on ties, f clamped at 0."""
    positive = eigvals > 0
    r = xp.sqrt(xp.clip(eigvals, 0.0, None))
    ri, rj = r[:, None], r[None, :]
    pos_i, pos_j = positive[:, None], positive[None, :]
    both = pos_i & pos_j
    one = (rj + ri) + xp.astype(~both, r.dtype)  # avoids 0 / 0 off the branch
    gamma_both = -1.0 / ((ri + eps) * (rj + eps) * one)
    # exactly one eigenvalue positive: f of the other is 1 / eps, no cancellation
    diff = eigvals[:, None] - eigvals[None, :]
    safe_diff = xp.where(pos_i != pos_j, diff, xp.ones_like(diff))
    f_i = 1.0 / (ri + eps)
    f_j = 1.0 / (rj + eps)
    gamma_one = (f_i - f_j) / safe_diff
    zeros = xp.zeros_like(gamma_both)
    return xp.where(both, gamma_both, xp.where(pos_i != pos_j, gamma_one, zeros))


def lintrans_vjp(z, g_m, kernel, sigma, eps, xp, eig=None):
    """Gradient with respect to the filters of <g_m, M(z)>.

    Parameters
    ----------
    z : array of shape (p, d)
        Unit-norm filters.
    g_m : array of shape (p, p)
        Gradient of the objective with respect to M.
    kernel, sigma, eps, xp, eig :
        As in :func:`lintrans`.

    Returns
    -------
    array of shape (p, d)
        Gradient with respect to ``z`` (no projection on the sphere), dtype of ``z``.
    """
    work, eigvals, eigvecs = eig if eig is not None else gram_eigh(z, kernel, sigma, xp)
    g = xp.astype(g_m, work.dtype)
    vt = xp.matrix_transpose(eigvecs)
    inner = (vt @ g @ eigvecs) * _divided_differences(eigvals, eps, xp)
    g_k = eigvecs @ inner @ vt
    g_gram = g_k * kernel_derivative(
        work @ xp.matrix_transpose(work), kernel, sigma, xp
    )
    g_z = (g_gram + xp.matrix_transpose(g_gram)) @ work
    return xp.astype(g_z, z.dtype)
