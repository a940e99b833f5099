"""PyTorch yardstick: the CKN forward pass and training step, written the way a
PyTorch user would write them (NCHW tensors, ``conv2d``, autograd).

Benchmarks only: the package never imports this module, and PyTorch is not
one of its dependencies. It implements the same mathematics as the package
(DESIGN.md 2 and 3) for odd, 2-D patches with ``same`` padding and the ``exp``
kernel, which is what the benchmarks measure:

- responses ``nu * exp((<z, x> / nu - 1) / sigma^2)`` with
  ``nu = sqrt(max(||x||^2, 1e-6))``, ``<z, x>`` by ``conv2d`` and ``||x||^2``
  by ``conv2d`` of the squared input with a box filter;
- Gaussian pooling at the kept positions only: two depthwise strided
  ``conv2d`` (the separable taps ``exp(-t^2 / s^2)``, ``t = -s..s``, summed to
  one, zero padding ``s``);
- the map ``M = (K^{1/2} + eps I)^{-1}``, ``K = exp((Z Z^T - 1) / sigma^2)``,
  from ``torch.linalg.eigh`` in float64, applied after pooling.
"""

import torch
import torch.nn.functional as F

PATCH_NORM_FLOOR = 1e-6


def gaussian_taps(s, dtype, device="cpu"):
    """The 2 s + 1 pooling taps exp(-t^2 / s^2), t = -s..s, summed to one."""
    t = torch.arange(-s, s + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / s**2)
    return (g / g.sum()).to(dtype=dtype, device=device)


def lintrans(w, sigma, eps):
    """M for filters ``w`` of shape (p, C, k, k), differentiable through eigh."""
    z = w.reshape(w.shape[0], -1).to(torch.float64)
    gram = torch.exp((z @ z.T - 1.0) / sigma**2)
    eigvals, eigvecs = torch.linalg.eigh(gram)
    scale = 1.0 / (eigvals.clamp_min(0.0).sqrt() + eps)
    return ((eigvecs * scale) @ eigvecs.T).to(w.dtype)


def layer(x, w, m, sigma, s, taps):
    """One CKN layer on an NCHW batch; ``m`` is the layer's M, ``taps`` its pooling."""
    p, c, k, _ = w.shape
    pad = k // 2
    dot = F.conv2d(x, w, padding=pad)
    box = torch.ones((1, c, k, k), dtype=x.dtype, device=x.device)
    nu = F.conv2d(x * x, box, padding=pad).clamp_min(PATCH_NORM_FLOOR).sqrt()
    a = nu * torch.exp((dot / nu - 1.0) / sigma**2)
    if s > 1:
        n_taps = taps.shape[0]
        a = F.conv2d(
            a,
            taps.view(1, 1, n_taps, 1).expand(p, 1, n_taps, 1),
            stride=(s, 1),
            padding=(s, 0),
            groups=p,
        )
        a = F.conv2d(
            a,
            taps.view(1, 1, 1, n_taps).expand(p, 1, 1, n_taps),
            stride=(1, s),
            padding=(0, s),
            groups=p,
        )
    n, _, h, wd = a.shape
    # M is symmetric: M a over the channel axis, one batched GEMM
    return (m @ a.reshape(n, p, h * wd)).reshape(n, p, h, wd)


class TorchCKN:
    """A CKN in PyTorch with the filters of a fitted sklearn-ckn estimator.

    Parameters
    ----------
    filters : list of arrays of shape (p, C, k, k)
        ``filters_`` of a fitted estimator.
    sigmas, subsamplings : list of float, list of int
        Per layer (square subsampling only).
    eps : float
    dtype : torch.dtype
    device : str, default="cpu"
        Where the tensors live (e.g. ``"cuda"``).
    """

    def __init__(self, filters, sigmas, subsamplings, eps, dtype, device="cpu"):
        self.filters = [torch.tensor(w, dtype=dtype, device=device) for w in filters]
        self.sigmas, self.subsamplings, self.eps = sigmas, subsamplings, eps
        self.taps = [gaussian_taps(s, dtype, device) for s in subsamplings]
        self.dtype, self.device = dtype, device

    def lintrans(self):
        """M of every layer for the current filters."""
        return [lintrans(w, sg, self.eps) for w, sg in zip(self.filters, self.sigmas)]

    def features(self, x, maps=None):
        """Flattened features (n, p * h * w), channel-major like the package."""
        if maps is None:
            maps = self.lintrans()
        for w, m, sg, s, taps in zip(
            self.filters, maps, self.sigmas, self.subsamplings, self.taps
        ):
            x = layer(x, w, m, sg, s, taps)
        return x.flatten(1)

    @torch.no_grad()
    def transform(self, x, chunk):
        """Features of ``x`` (NCHW) in sub-batches of ``chunk`` images."""
        maps = self.lintrans()
        return torch.cat(
            [self.features(x[i : i + chunk], maps) for i in range(0, x.shape[0], chunk)]
        )


class TorchTrainer:
    """The supervised training step: log loss of a linear head on standardized
    features plus ``alpha / 2 ||W||^2``, autograd, Adam, filters kept on the
    unit sphere (tangent projection, then renormalization)."""

    def __init__(self, net, coef, intercept, mean, scale, alpha, lr):
        self.net = net
        for w in net.filters:
            w.requires_grad_(True)
        as_tensor = lambda a: torch.tensor(  # noqa: E731
            a, dtype=net.dtype, device=net.device
        )
        self.coef = as_tensor(coef).requires_grad_(True)
        self.intercept = as_tensor(intercept).requires_grad_(True)
        self.mean, self.scale = as_tensor(mean), as_tensor(scale)
        self.alpha = alpha
        self.optimizer = torch.optim.Adam(
            [*net.filters, self.coef, self.intercept], lr=lr
        )

    def objective(self, x, y):
        phi = (self.net.features(x) - self.mean) / self.scale
        f = phi @ self.coef.T + self.intercept
        penalty = 0.5 * self.alpha * (self.coef * self.coef).sum()
        return F.cross_entropy(f, y) + penalty

    def gradients(self, x, y):
        """Objective and Euclidean gradients (filters, coef, intercept)."""
        self.optimizer.zero_grad()
        value = self.objective(x, y)
        value.backward()
        return value, [p.grad for p in self.optimizer.param_groups[0]["params"]]

    def step(self, x, y):
        value, _ = self.gradients(x, y)
        with torch.no_grad():
            for w in self.net.filters:
                # tangent projection: remove the radial part of each filter's gradient
                radial = (w.grad * w).sum(dim=(1, 2, 3), keepdim=True)
                w.grad -= radial * w
        self.optimizer.step()
        with torch.no_grad():
            for w in self.net.filters:
                w /= w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return value
