"""Stochastic optimizers for the supervised CKN, with filters kept on the sphere.

A filter's gradient is first projected on the tangent space of the unit
sphere at the filter (its radial part would only change the norm), the
optimizer's step is taken, and the filter is renormalized: a retraction.
"""

import math

__all__ = ["Adam", "SGD", "learning_rate_at", "renormalize", "tangent"]


def tangent(z, g, xp):
    """Project each row of ``g`` on the tangent space of the sphere at row of ``z``."""
    return g - xp.sum(g * z, axis=1, keepdims=True) * z


def renormalize(z, xp):
    """Scale each row of ``z`` to unit norm (the retraction on the sphere)."""
    return z / xp.sqrt(xp.sum(z * z, axis=1, keepdims=True))


class _Optimizer:
    """Shared logic: ``params`` is a list of arrays, ``on_sphere`` flags the filters."""

    def __init__(self, params, on_sphere, xp):
        self.on_sphere = list(on_sphere)
        self.xp = xp
        self.t = 0

    def __getstate__(self):
        # modules do not pickle; the owner sets ``xp`` again after loading
        state = self.__dict__.copy()
        state["xp"] = None
        return state

    def step(self, params, grads, lr):
        """Return the updated parameters (new arrays; the inputs are untouched)."""
        xp = self.xp
        self.t += 1
        updated = []
        for index, (p, g) in enumerate(zip(params, grads)):
            if self.on_sphere[index]:
                g = tangent(p, g, xp)
            p = p - lr * self._direction(index, g)
            updated.append(renormalize(p, xp) if self.on_sphere[index] else p)
        return updated


class SGD(_Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum."""

    def __init__(self, params, on_sphere, xp, momentum=0.9):
        super().__init__(params, on_sphere, xp)
        self.momentum = momentum
        self.velocity = [xp.zeros_like(p) for p in params]

    def _direction(self, index, g):
        self.velocity[index] = self.momentum * self.velocity[index] + g
        return self.velocity[index]


class Adam(_Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction."""

    def __init__(self, params, on_sphere, xp, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(params, on_sphere, xp)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.first = [xp.zeros_like(p) for p in params]
        self.second = [xp.zeros_like(p) for p in params]

    def _direction(self, index, g):
        b1, b2 = self.beta_1, self.beta_2
        self.first[index] = b1 * self.first[index] + (1 - b1) * g
        self.second[index] = b2 * self.second[index] + (1 - b2) * g * g
        m_hat = self.first[index] / (1 - b1**self.t)
        v_hat = self.second[index] / (1 - b2**self.t)
        return m_hat / (self.xp.sqrt(v_hat) + self.epsilon)


def learning_rate_at(schedule, lr_init, step, power_t):
    """Learning rate at optimizer step ``step`` (1-based) for a fixed schedule.

    ``constant`` and ``adaptive`` keep ``lr_init`` (the adaptive decrease is
    applied between epochs by the training loop); ``invscaling`` returns
    ``lr_init / step ** power_t``.
    """
    if schedule == "invscaling":
        return lr_init / math.pow(max(step, 1), power_t)
    return lr_init
