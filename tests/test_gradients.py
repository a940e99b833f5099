"""Hand-written gradients against finite differences, in float64.

Each op's adjoint is checked by the identity <A x, y> = <x, A* y> or by central
differences; the whole network (1, 2 and 3 layers, 1-D and 2-D, every kernel,
subsampling 1, 2, 3, odd and even patch sizes) is checked coordinate by
coordinate on its filters and its input. Relative error: max |analytic - FD| /
max |FD| <= 1e-6.

The filters are taken of norm 0.9 in the coordinate checks: on the sphere the
diagonal of Z Z^T is exactly 1, where the arc-cosine kernel has a kink (it is
clipped to [-1, 1]) and the Euclidean gradient is one-sided. Training only
uses the gradient's tangent part, which is checked at unit norm separately.
"""

import itertools

import array_api_strict
import numpy as np
import pytest
from array_api_compat import numpy as compat_numpy

from sklearn_ckn._layer import LayerSpec, layer_shapes
from sklearn_ckn._network import backward, device_layers, forward_with_caches
from sklearn_ckn._ops.kernels import KERNELS
from sklearn_ckn._ops.lintrans import lintrans, lintrans_vjp
from sklearn_ckn._ops.patches import (
    extract_patches,
    patch_squared_norms,
    patch_squared_norms_adjoint,
    patches_adjoint,
)
from sklearn_ckn._ops.pooling import pool, pool_adjoint, pooling_matrices

TOL = 1e-6
xp = compat_numpy


def _rel_error(analytic, numeric):
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    return np.max(np.abs(analytic - numeric)) / np.max(np.abs(numeric))


def _numeric_gradient(fun, x, step=1e-6):
    """Central differences of scalar ``fun`` at every coordinate of ``x``."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (fun(plus) - fun(minus)) / (2 * step)
    return grad


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _generic_rows(a):
    """Rows of norm 0.9: a point where every kernel is smooth."""
    return 0.9 * _unit_rows(a)


@pytest.mark.parametrize("patch_shape", [(3,), (2,), (3, 3), (2, 4), (1, 3)])
def test_patch_extraction_adjoint(patch_shape):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, *(7,) * len(patch_shape), 3))
    patches = extract_patches(h, patch_shape, xp)
    g = rng.standard_normal(patches.shape)
    lhs = np.sum(patches * g)
    rhs = np.sum(h * patches_adjoint(g, h.shape, patch_shape, xp))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize("subsampling", [(1, 1), (2, 2), (3, 3), (2, 3), (3,)])
def test_pooling_adjoint(subsampling):
    rng = np.random.default_rng(1)
    h = rng.standard_normal((2, *(8,) * len(subsampling), 3))
    mats = pooling_matrices(h.shape[1:-1], subsampling, xp, xp.float64, "cpu")
    pooled = pool(h, subsampling, xp, mats)
    g = rng.standard_normal(pooled.shape)
    lhs = np.sum(pooled * g)
    rhs = np.sum(h * pool_adjoint(g, mats, xp))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize("patch_shape", [(3,), (3, 3), (2, 4)])
def test_patch_norm_gradient(patch_shape):
    rng = np.random.default_rng(2)
    h = rng.standard_normal((1, *(5,) * len(patch_shape), 2))
    g = rng.standard_normal(patch_squared_norms(h, patch_shape, xp).shape)
    analytic = patch_squared_norms_adjoint(g, h, patch_shape, xp)
    numeric = _numeric_gradient(
        lambda t: np.sum(patch_squared_norms(t, patch_shape, xp) * g), h
    )
    assert _rel_error(analytic, numeric) <= TOL


@pytest.mark.parametrize("kernel", KERNELS)
def test_lintrans_gradient(kernel):
    rng = np.random.default_rng(3)
    z = _generic_rows(rng.standard_normal((5, 8)))
    g_m = rng.standard_normal((5, 5))
    analytic = lintrans_vjp(z, g_m, kernel, 0.6, 0.01, xp)
    numeric = _numeric_gradient(
        lambda t: np.sum(lintrans(t, kernel, 0.6, 0.01, xp) * g_m), z
    )
    assert _rel_error(analytic, numeric) <= TOL


def test_lintrans_gradient_with_equal_eigenvalues():
    # orthonormal filters and the linear kernel: K = I, every eigenvalue equal
    rng = np.random.default_rng(4)
    z = np.linalg.qr(rng.standard_normal((8, 4)))[0].T
    g_m = rng.standard_normal((4, 4))
    analytic = lintrans_vjp(z, g_m, "linear", 0.6, 0.01, xp)
    numeric = _numeric_gradient(
        lambda t: np.sum(lintrans(t, "linear", 0.6, 0.01, xp) * g_m), z
    )
    assert np.all(np.isfinite(analytic))
    assert _rel_error(analytic, numeric) <= TOL


def _network_case(n_spatial, n_layers, kernel, seed):
    """A small random network whose layers cycle through s = 1, 2, 3 and
    patch sizes 3, 2, 4, with both paddings."""
    rng = np.random.default_rng(seed)
    patch_sizes = [3, 2, 4]
    subsamplings = [2, 3, 1] if n_spatial == 1 else [2, 1, 3]
    paddings = ["same", "valid", "same"]
    specs = [
        LayerSpec(
            n_filters=3 + layer,
            patch_shape=(patch_sizes[layer],) * n_spatial,
            subsampling=(subsamplings[layer],) * n_spatial,
            kernel=kernel,
            sigma=0.7,
            padding=paddings[layer],
            eps=0.01,
        )
        for layer in range(n_layers)
    ]
    spatial = (14,) if n_spatial == 1 else (9, 8)
    shapes = layer_shapes(spatial, 2, specs)
    zs = [
        _generic_rows(
            rng.standard_normal(
                (spec.n_filters, int(np.prod(spec.patch_shape)) * shape.in_channels)
            )
        )
        for spec, shape in zip(specs, shapes)
    ]
    x = rng.standard_normal((2, *spatial, 2))
    return specs, shapes, zs, x


def _objective(specs, shapes, zs, x, weights, xp=xp):
    params = [(z, lintrans(z, s.kernel, s.sigma, s.eps, xp)) for z, s in zip(zs, specs)]
    layers = device_layers(specs, params, shapes, xp, "cpu", xp.float64)
    out, caches = forward_with_caches(x, layers, xp)
    return float(np.sum(out * weights)), layers, caches


CASES = list(itertools.product([1, 2], [1, 2, 3], KERNELS))


@pytest.mark.parametrize("n_spatial, n_layers, kernel", CASES)
def test_whole_network_gradient(n_spatial, n_layers, kernel):
    specs, shapes, zs, x = _network_case(n_spatial, n_layers, kernel, seed=n_layers)
    rng = np.random.default_rng(5)
    out_shape = (x.shape[0], *shapes[-1].output, specs[-1].n_filters)
    weights = rng.standard_normal(out_shape)
    _, layers, caches = _objective(specs, shapes, zs, x, weights)
    g_filters, g_x = backward(weights, layers, caches, xp, input_grad=True)
    for index in range(n_layers):

        def loss_of_filter(z, index=index):
            changed = list(zs)
            changed[index] = z
            return _objective(specs, shapes, changed, x, weights)[0]

        numeric = _numeric_gradient(loss_of_filter, zs[index])
        err = _rel_error(g_filters[index], numeric)
        assert err <= TOL, f"layer {index}: {err:.2e}"
    numeric_x = _numeric_gradient(
        lambda t: _objective(specs, shapes, zs, t, weights)[0], x
    )
    assert _rel_error(g_x, numeric_x) <= TOL


@pytest.mark.parametrize("kernel", KERNELS)
def test_tangent_gradient_on_the_sphere(kernel):
    """At unit-norm filters, <g, v> matches the directional derivative along
    every tangent direction v (v_f orthogonal to z_f): what training uses."""
    specs, shapes, zs, x = _network_case(2, 2, kernel, seed=11)
    zs = [_unit_rows(z) for z in zs]
    rng = np.random.default_rng(12)
    weights = rng.standard_normal((x.shape[0], *shapes[-1].output, specs[-1].n_filters))
    _, layers, caches = _objective(specs, shapes, zs, x, weights)
    g_filters, _ = backward(weights, layers, caches, xp)
    step = 1e-6
    for index, z in enumerate(zs):
        for _ in range(5):
            v = rng.standard_normal(z.shape)
            v -= np.sum(v * z, axis=1, keepdims=True) * z  # tangent at each row
            moved = [list(zs), list(zs)]
            moved[0][index] = z + step * v
            moved[1][index] = z - step * v
            numeric = (
                _objective(specs, shapes, moved[0], x, weights)[0]
                - _objective(specs, shapes, moved[1], x, weights)[0]
            ) / (2 * step)
            analytic = np.sum(g_filters[index] * v)
            assert abs(analytic - numeric) <= TOL * max(abs(numeric), 1e-3)


def test_backward_runs_on_array_api_strict():
    specs, shapes, zs, x = _network_case(2, 2, "exp", seed=7)
    weights = np.random.default_rng(6).standard_normal(
        (x.shape[0], *shapes[-1].output, specs[-1].n_filters)
    )
    _, layers, caches = _objective(specs, shapes, zs, x, weights)
    expected, expected_x = backward(weights, layers, caches, xp, input_grad=True)

    sx = array_api_strict
    zs_s = [sx.asarray(z) for z in zs]
    params = [
        (z, lintrans(z, s.kernel, s.sigma, s.eps, sx)) for z, s in zip(zs_s, specs)
    ]
    layers_s = device_layers(
        specs, params, shapes, sx, sx.Device("CPU_DEVICE"), sx.float64
    )
    _, caches_s = forward_with_caches(sx.asarray(x), layers_s, sx)
    got, got_x = backward(sx.asarray(weights), layers_s, caches_s, sx, input_grad=True)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.from_dlpack(g), e, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        np.from_dlpack(got_x), expected_x, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "loss, n_classes, n_samples",
    [
        ("squared_hinge", 2, 6),
        ("squared_hinge", 3, 6),
        ("log_loss", 2, 6),
        ("log_loss", 3, 6),
        # more than one chunk of HOST_CHUNK samples, the last one shorter
        ("log_loss", 3, 37),
    ],
)
def test_training_objective_gradient(loss, n_classes, n_samples):
    """Filters, head weights and biases through the loss and the standardization."""
    from sklearn_ckn._ops.head import encode_targets
    from sklearn_ckn._training import CKNTrainer, TrainingConfig

    specs, shapes, zs, x = _network_case(2, 2, "exp", seed=13)
    rng = np.random.default_rng(14)
    x = rng.standard_normal((n_samples, *x.shape[1:]))
    config = TrainingConfig(
        loss, 0.1, "adam", "constant", 1e-3, 0.5, 0.9, n_samples, True, 300
    )
    trainer = CKNTrainer(specs, shapes, zs, n_classes, config, xp, "cpu", xp.float64)
    trainer.coef = rng.standard_normal(trainer.coef.shape)
    trainer.intercept = rng.standard_normal(trainer.intercept.shape)
    trainer.mean = rng.standard_normal(trainer.mean.shape)
    trainer.scale = rng.uniform(0.5, 2.0, trainer.scale.shape)
    labels = np.arange(n_samples) % n_classes
    targets = encode_targets(labels, n_classes, loss, xp, xp.float64)
    _, grads = trainer.objective_and_gradients(x, targets)
    params = trainer.parameters()
    for index, param in enumerate(params):

        def objective(value, index=index):
            changed = list(params)
            changed[index] = value
            trainer._set_parameters(changed)
            result = trainer.objective_and_gradients(x, targets)[0]
            trainer._set_parameters(params)
            return result

        numeric = _numeric_gradient(objective, param)
        assert _rel_error(grads[index], numeric) <= TOL, f"parameter {index}"


def test_full_gradient_over_uneven_batches():
    """The exact_head solver's gradient: all rows, in batches of 5, weighted."""
    from sklearn_ckn._ops.head import encode_targets
    from sklearn_ckn._ops.optim import tangent
    from sklearn_ckn._training import CKNTrainer, TrainingConfig

    specs, shapes, zs, x = _network_case(2, 2, "exp", seed=15)
    zs = [_unit_rows(z) for z in zs]  # on the sphere, where the solver moves
    rng = np.random.default_rng(16)
    n_samples = 13  # batches of 5, 5 and 3 rows
    x = rng.standard_normal((n_samples, *x.shape[1:]))
    config = TrainingConfig(
        "log_loss", 0.1, "exact_head", "constant", 1e-3, 0.5, 0.9, 5, True, 300
    )
    trainer = CKNTrainer(specs, shapes, zs, 3, config, xp, "cpu", xp.float64)
    trainer.coef = rng.standard_normal(trainer.coef.shape)
    trainer.intercept = rng.standard_normal(trainer.intercept.shape)
    trainer.mean = rng.standard_normal(trainer.mean.shape)
    trainer.scale = rng.uniform(0.5, 2.0, trainer.scale.shape)
    targets = encode_targets(np.arange(n_samples) % 3, 3, "log_loss", xp, xp.float64)
    value, grads = trainer.full_gradient(x, targets)
    filters = list(trainer.filters)
    assert value == pytest.approx(trainer.objective(x, targets), rel=1e-12)
    for index, z in enumerate(filters):
        # the tangent gradient, against the change of the objective along
        # tangent directions (the radial part has no effect on the step)
        direction = tangent(z, rng.standard_normal(z.shape), xp)

        def along(t, index=index, direction=direction):
            trainer.filters = [
                f + t * direction if i == index else f for i, f in enumerate(filters)
            ]
            result = trainer.objective(x, targets)
            trainer.filters = filters
            return result

        step = 1e-6
        numeric = (along(step) - along(-step)) / (2 * step)
        analytic = float(np.sum(grads[index] * direction))
        assert abs(analytic - numeric) <= TOL * abs(numeric), f"layer {index}"
