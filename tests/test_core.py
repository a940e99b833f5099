"""The compute core's operations against independent computations.

Every test runs on NumPy and on array-api-strict: the strict namespace refuses
anything outside the array API standard, so a pass there shows the core needs
nothing CuPy lacks. Where a GPU answers, they run on CuPy as well.
"""

import numpy as np
import pytest
import scipy.linalg
from array_api_compat import numpy as compat_numpy
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_ckn._backend import byte_strides, strided_view
from sklearn_ckn._backend import to_numpy as _host
from sklearn_ckn._network import ChunkRunner
from sklearn_ckn._ops.kernels import KERNELS, kernel_derivative, kernel_value
from sklearn_ckn._ops.kmeans import TooFewDistinctPatchesError, spherical_kmeans
from sklearn_ckn._ops.lintrans import lintrans
from sklearn_ckn._ops.patches import (
    extract_patches,
    filters_from_internal,
    filters_to_internal,
    pad_map,
    patch_columns,
    patch_squared_norms,
)
from sklearn_ckn._ops.pooling import pool, pooling_matrix


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_derivative_matches_finite_differences(xp, kernel):
    u = np.linspace(-0.95, 0.95, 41)
    step = 1e-6
    value = lambda t: _host(kernel_value(xp.asarray(t), kernel, 0.6, xp))  # noqa: E731
    numeric = (value(u + step) - value(u - step)) / (2 * step)
    analytic = _host(kernel_derivative(xp.asarray(u), kernel, 0.6, xp))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_kernel_values_on_the_sphere(xp):
    u = np.array([-1.0, 0.0, 0.5, 1.0])
    k = {name: _host(kernel_value(xp.asarray(u), name, 0.6, xp)) for name in KERNELS}
    np.testing.assert_allclose(k["exp"], np.exp((u - 1) / 0.36))
    np.testing.assert_allclose(k["poly"], u**2)
    np.testing.assert_allclose(k["linear"], u)
    # arc-cosine of degree 1: 1/pi at u=0, 1 at u=1, 0 at u=-1
    np.testing.assert_allclose(
        k["arccos"][[0, 1, 3]], [0.0, 1 / np.pi, 1.0], atol=1e-15
    )
    # rounding past |u| = 1 must not give NaN
    assert np.isfinite(
        _host(kernel_value(xp.asarray([1 + 1e-15]), "arccos", 0.6, xp))
    ).all()


def _naive_patches(h, k, pad):
    """Loop-based reference: patch (i, j) of a channels-last map, (a, b, c) order."""
    n, height, width, c = h.shape
    hp = np.pad(h, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    out_h, out_w = hp.shape[1] - k[0] + 1, hp.shape[2] - k[1] + 1
    out = np.empty((n, out_h, out_w, k[0] * k[1] * c))
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j] = hp[:, i : i + k[0], j : j + k[1], :].reshape(n, -1)
    return out


@pytest.mark.parametrize("k", [(3, 3), (2, 2), (1, 4), (5, 2)])
@pytest.mark.parametrize("pad", [(0, 0), (1, 2)])
def test_patches_and_their_norms(xp, k, pad):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, 6, 7, 3))
    expected = _naive_patches(h, k, pad)
    padded = pad_map(xp.asarray(h), pad, xp)
    patches = _host(extract_patches(padded, k, xp))
    np.testing.assert_array_equal(patches, expected)
    norms = _host(patch_squared_norms(padded, k, xp))
    np.testing.assert_allclose(norms, (expected**2).sum(-1), rtol=1e-12)


@pytest.mark.parametrize("view", ["every other channel", "every other column"])
def test_patches_of_a_map_that_is_a_strided_view(xp, view):
    # NumPy reads a patch's row as k C evenly spaced values when the map's
    # layout allows it (the first view) and stacks windows otherwise (the second)
    base = np.random.default_rng(2).standard_normal((2, 6, 14, 6))
    h = base[..., ::2] if view == "every other channel" else base[:, :, ::2, :3]
    patches = _host(extract_patches(xp.asarray(h), (3, 2), xp))
    np.testing.assert_array_equal(patches, _naive_patches(h, (3, 2), (0, 0)))


@pytest.mark.parametrize("n_channels", [1, 3])
@pytest.mark.parametrize("k", [(3, 3), (2, 4)])
def test_patch_columns_are_the_transposed_patch_matrix(xp, n_channels, k):
    h = np.random.default_rng(3).standard_normal((2, 6, 7, n_channels))
    columns = _host(patch_columns(pad_map(xp.asarray(h), (1, 1), xp), k, xp))
    expected = _naive_patches(h, k, (1, 1))
    np.testing.assert_array_equal(columns, expected.reshape(-1, columns.shape[0]).T)
    # a map that is a strided view (every other column): no padding copy
    wide = np.random.default_rng(4).standard_normal((2, 6, 14, n_channels))
    view = wide[:, :, ::2]
    columns = _host(patch_columns(xp.asarray(view), k, xp))
    expected = _naive_patches(view, k, (0, 0))
    np.testing.assert_array_equal(columns, expected.reshape(-1, columns.shape[0]).T)
    # one-dimensional signals
    s = h[:, 0]
    columns = _host(patch_columns(xp.asarray(s), (3,), xp))
    windows = np.stack([s[:, a : a + 5] for a in range(3)], axis=-2)
    np.testing.assert_array_equal(columns, windows.reshape(10, -1).T)


def test_one_dimensional_patches(xp):
    h = np.arange(10.0).reshape(1, 5, 2)  # one signal, length 5, 2 channels
    patches = _host(extract_patches(pad_map(xp.asarray(h), (1,), xp), (3,), xp))
    # position 0: [pad, x0, x1] with the channel fastest
    np.testing.assert_array_equal(patches[0, 0], [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(patches[0, 4], [6, 7, 8, 9, 0, 0])


def test_filter_layout_round_trip(xp):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 2, 5))
    z = filters_to_internal(xp.asarray(w), xp)
    # internal order matches the patch order: offset-major, channel fastest
    np.testing.assert_array_equal(_host(z)[:, :3], w[:, :, 0, 0])
    np.testing.assert_array_equal(_host(filters_from_internal(z, 3, (2, 5), xp)), w)


@pytest.mark.parametrize("s", [1, 2, 3])
def test_pooling_equals_strided_gaussian_convolution(xp, s):
    rng = np.random.default_rng(2)
    h = rng.standard_normal((2, 9, 8, 3))
    pooled = _host(pool(xp.asarray(h), (s, s), xp))
    if s == 1:
        np.testing.assert_array_equal(pooled, h)
        return
    t = np.arange(-s, s + 1)
    g = np.exp(-(t**2) / s**2)
    g2 = np.outer(g, g) / g.sum() ** 2
    hp = np.pad(h, ((0, 0), (s, s), (s, s), (0, 0)))
    out_h, out_w = (9 - 1) // s + 1, (8 - 1) // s + 1
    expected = np.empty((2, out_h, out_w, 3))
    for i in range(out_h):
        for j in range(out_w):
            window = hp[:, i * s : i * s + 2 * s + 1, j * s : j * s + 2 * s + 1, :]
            expected[:, i, j] = np.einsum("nabc,ab->nc", window, g2)
    np.testing.assert_allclose(pooled, expected, rtol=1e-12, atol=1e-14)


def test_pooling_matrix_rows_sum_to_one_inside():
    mat = pooling_matrix(11, 2)
    assert mat.shape == (6, 11)
    # rows whose window is fully inside keep the mass; border rows lose the padding
    np.testing.assert_allclose(mat[1:-1].sum(1), 1.0)
    assert mat[0].sum() < 1.0


@pytest.mark.parametrize("kernel", KERNELS)
def test_lintrans_is_the_regularized_inverse_square_root(xp, kernel):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((6, 12))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    m = _host(lintrans(xp.asarray(z), kernel, 0.6, 0.01, xp))
    gram = _host(kernel_value(xp.asarray(z @ z.T), kernel, 0.6, xp))
    root = np.real(scipy.linalg.sqrtm(gram))
    if np.linalg.eigvalsh(gram).min() > 1e-8:  # sqrtm is reliable on definite K
        np.testing.assert_allclose(
            m, np.linalg.inv(root + 0.01 * np.eye(6)), rtol=1e-7, atol=1e-9
        )
    np.testing.assert_allclose(m, m.T, atol=1e-12)


def test_lintrans_float32_keeps_dtype(xp):
    z = np.eye(4, 8)
    m = lintrans(xp.asarray(z.astype(np.float32)), "exp", 0.6, 0.01, xp)
    assert m.dtype == xp.float32


def test_spherical_kmeans_recovers_separated_directions(xp):
    rng = np.random.default_rng(4)
    centers = np.linalg.qr(rng.standard_normal((8, 8)))[0][:4]  # 4 orthonormal
    points = np.repeat(centers, 50, axis=0) + 0.05 * rng.standard_normal((200, 8))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    found, n_iter = spherical_kmeans(
        xp.asarray(points), 4, rng=np.random.default_rng(0), xp=xp
    )
    found = _host(found)
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1.0, rtol=1e-12)
    # every true direction has a centroid within a few degrees
    assert (centers @ found.T).max(axis=1).min() > 0.99
    assert 1 <= n_iter <= 100


def test_spherical_kmeans_refuses_too_few_distinct_points(xp):
    points = np.repeat(np.eye(3), 10, axis=0)  # 3 distinct points
    with pytest.raises(TooFewDistinctPatchesError) as info:
        spherical_kmeans(xp.asarray(points), 4, rng=np.random.default_rng(0), xp=xp)
    assert info.value.n_distinct == 3


def test_spherical_kmeans_is_deterministic():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((300, 6))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    runs = [
        spherical_kmeans(points, 7, rng=np.random.default_rng(11), xp=compat_numpy)[0]
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_kmeans_cluster_whose_members_cancel_keeps_a_unit_centroid():
    # one cluster over the directions +1 and -1, four of each: the sum of the
    # members is zero, the centroid must still be a unit vector
    x = np.array([[1.0], [-1.0]] * 4)
    centroids, _ = spherical_kmeans(x, 1, rng=np.random.default_rng(0), xp=np)
    np.testing.assert_allclose(np.abs(centroids), [[1.0]])
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    centroids, _ = spherical_kmeans(x, 2, rng=np.random.default_rng(3), xp=np)
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0)


@pytest.mark.parametrize("limit", [1, 2])
def test_chunk_runner_follows_the_users_blas_limit_and_restores_it(limit):
    # the BLAS controller is cached across calls: its thread counts must
    # still be read live, and the runner's own single-thread limit undone
    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limit, user_api="blas"):
        runner = ChunkRunner(compat_numpy)
        assert runner.n_threads == limit
        with runner:
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {limit}


def _numpy_blas_threads():
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.mark.parametrize("order", ["first out first", "last in first out"])
def test_overlapping_chunk_runners_restore_the_blas_threads(order):
    """Two runners that overlap (concurrent transforms) in either order: both
    see the user's 2 threads, BLAS is at 1 while either runs, and back at 2
    after the last, not left at the 1 the second runner found."""
    with threadpool_limits(2, user_api="blas"):
        first = ChunkRunner(compat_numpy)
        first.__enter__()
        second = ChunkRunner(compat_numpy)  # made while the first holds BLAS
        second.__enter__()
        assert first.n_threads == second.n_threads == 2
        assert _numpy_blas_threads() == {1}
        ends = [first, second] if order == "first out first" else [second, first]
        ends[0].__exit__(None, None, None)
        assert _numpy_blas_threads() == {1}  # the other still runs
        ends[1].__exit__(None, None, None)
        assert _numpy_blas_threads() == {2}


def test_concurrent_transforms_leave_the_blas_threads_as_they_were():
    """Eight threads transforming with one estimator at once: every result
    equals the serial one, and BLAS has its threads back afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn_ckn import CKNFeatureExtractor

    X = np.random.default_rng(0).random((96, 64))
    est = CKNFeatureExtractor(n_filters=(8, 16), image_shape=(8, 8), random_state=0)
    expected = est.fit(X).transform(X)
    with threadpool_limits(2, user_api="blas"):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: est.transform(X), range(24)))
        assert _numpy_blas_threads() == {2}
    for features in results:
        np.testing.assert_array_equal(features, expected)


@pytest.mark.parametrize("contiguous", [True, False])
def test_strided_view_starts_where_asked(contiguous):
    base = np.arange(2 * 5 * 6 * 3, dtype=float).reshape(2, 5, 6, 3)
    x = base if contiguous else np.asfortranarray(base)
    sn, sh, sw, sc = byte_strides(x, compat_numpy)
    # 2 x 2 windows of one channel, from row 1 and column 2 on
    view = strided_view(x, (2, 3, 2, 2), (sn, sw, sh, sw), compat_numpy, (0, 1, 2, 1))
    for n in range(2):
        for j in range(3):
            np.testing.assert_array_equal(view[n, j], base[n, 1:3, 2 + j : 4 + j, 1])
    assert np.shares_memory(view, x)


def test_chunk_runner_keeps_chunk_order_and_raises_what_a_chunk_raised():
    seen = []

    def rows_or_fail(rows):
        seen.append(rows.start)
        if rows.start == 48:
            raise ValueError("chunk at 48")
        return rows.start

    with threadpool_limits(2, user_api="blas"), ChunkRunner(compat_numpy, 16) as runner:
        assert runner.map(lambda rows: rows.start, 100) == list(range(0, 100, 16))
        with pytest.raises(ValueError, match="chunk at 48"):
            runner.map(rows_or_fail, 1000)
    # the chunks after the failure are not all run
    assert len(seen) < 1000 // 16
