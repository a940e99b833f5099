"""Limited-memory BFGS for the smooth convex problems of the head, on any
array API namespace (so the head's initial fit runs where the features are).

Two-loop recursion (Nocedal and Wright, Numerical Optimization, alg. 7.4) with
a backtracking line search on the Armijo condition; a pair (s, y) is kept only
when its curvature s.y is positive, which keeps the inverse Hessian estimate
positive definite.
"""

__all__ = ["minimize_lbfgs"]


def _dot(a, b, xp):
    return float(xp.sum(a * b))


def minimize_lbfgs(
    fun, x0, xp, *, max_iter=500, memory=10, gtol=1e-5, ftol=1e-9, gradient_size=None
):
    """Minimize ``fun`` from ``x0``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (value, gradient)`` with ``value`` a float.
    x0 : array of shape (n,)
    xp : module
    max_iter : int, default=500
        Bound on the iterations (each costs one or a few evaluations).
    memory : int, default=10
        Number of (s, y) pairs kept.
    gtol : float, default=1e-5
        Stop when max |gradient| <= gtol * max(1, |value|).
    ftol : float, default=1e-9
        Stop when an iteration lowers the value by less than ftol * max(1, |value|).
    gradient_size : callable or None, default=None
        ``gradient_size(gradient) -> float``, the size compared with ``gtol``;
        None: max |gradient|. Under a change of variables, it lets the test
        read the gradient of the original problem.

    Returns
    -------
    x : array of shape (n,)
    n_iter : int
    """
    if gradient_size is None:

        def gradient_size(g):
            return float(xp.max(xp.abs(g)))

    x = x0
    value, grad = fun(x)
    pairs = []
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        if gradient_size(grad) <= gtol * max(1.0, abs(value)):
            break
        direction = _two_loop(grad, pairs, xp)
        slope = _dot(grad, direction, xp)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            pairs.clear()
            direction, slope = -grad, -_dot(grad, grad, xp)
        step = 1.0 if pairs else 1.0 / max(1.0, float(xp.max(xp.abs(grad))))
        while True:
            x_new = x + step * direction
            value_new, grad_new = fun(x_new)
            if value_new <= value + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        s, y = x_new - x, grad_new - grad
        if _dot(s, y, xp) > 1e-12 * _dot(y, y, xp):
            pairs.append((s, y))
            if len(pairs) > memory:
                pairs.pop(0)
        decrease = value - value_new
        x, value, grad = x_new, value_new, grad_new
        if decrease <= ftol * max(1.0, abs(value)):
            break
    return x, n_iter


def _two_loop(grad, pairs, xp):
    """-H grad for the L-BFGS inverse Hessian estimate H."""
    q = grad
    alphas = []
    for s, y in reversed(pairs):
        rho = 1.0 / _dot(y, s, xp)
        a = rho * _dot(s, q, xp)
        alphas.append((rho, a))
        q = q - a * y
    if pairs:
        s, y = pairs[-1]
        q = q * (_dot(s, y, xp) / _dot(y, y, xp))
    for (s, y), (rho, a) in zip(pairs, reversed(alphas)):
        b = rho * _dot(y, q, xp)
        q = q + (a - b) * s
    return -q
