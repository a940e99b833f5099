"""Pooling along long axes: banded taps instead of a dense matrix, the same
values, memory linear in the map."""

import subprocess
import sys

import numpy as np
import pytest

from sklearn_ckn._backend import to_numpy as _host
from sklearn_ckn._ops.pooling import (
    DENSE_MAX_ENTRIES,
    DIRECT_SUM_MAX_FACTOR,
    BandedPooling,
    _taps_sum,
    gaussian_taps,
    pool,
    pool_adjoint,
    pooling_matrices,
    pooling_matrix,
)


@pytest.mark.parametrize("n, s", [(1, 2), (2, 2), (7, 2), (11, 3), (9, 4), (5, 9)])
def test_banded_taps_are_the_dense_matrix(xp, n, s):
    """Forward and adjoint of the banded operator against the dense matrix
    (the reference) on the same map, float64, along a middle axis."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, n, 3, 4))
    dense = pooling_matrix(n, s)
    expected = np.einsum("in,bncd->bicd", dense, h)
    band = BandedPooling.of(n, s)
    assert band.shape == dense.shape and band.mT.shape == dense.shape[::-1]
    got = _host(pool(xp.asarray(h), (s, 1), xp, [band, None]))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    g = rng.standard_normal(expected.shape)
    back = _host(pool_adjoint(xp.asarray(g), [band, None], xp))
    np.testing.assert_allclose(
        back, np.einsum("in,bicd->bncd", dense, g), rtol=1e-13, atol=1e-15
    )


def test_long_axes_get_banded_taps_short_ones_dense_matrices():
    """The dense matrices stay for the maps they were tuned on (images of
    tens of positions); a 40,000-sample signal gets taps."""
    short, long = pooling_matrices((28, 40000), (2, 2), np, np.float64, "cpu")
    assert isinstance(short, np.ndarray) and short.shape == (14, 28)
    assert isinstance(long, BandedPooling) and long.shape == (20000, 40000)
    assert 14 * 28 <= DENSE_MAX_ENTRIES < 20000 * 40000


def test_tap_normalization_in_closed_form_matches_the_sum():
    """Above DIRECT_SUM_MAX_FACTOR the taps' sum comes from Euler-Maclaurin;
    at the switch both agree to rounding, and below it the sum is direct
    (as the reference implementation normalizes)."""
    s = DIRECT_SUM_MAX_FACTOR + 1
    t = np.arange(-s, s + 1, dtype=np.float64)
    direct = np.exp(-(t**2) / s**2).sum()
    np.testing.assert_allclose(_taps_sum(s), direct, rtol=1e-14)
    np.testing.assert_allclose(gaussian_taps(3).sum(), 1.0, rtol=1e-15)
    # a factor beyond the map: only the taps it meets, normalized by all
    # 2 s + 1 (each about 1 / (s sqrt(pi) erf(1)) at |t| <= 7 for s = 10^7)
    taps = gaussian_taps(10**7, reach=7)
    assert taps.shape == (15,)
    np.testing.assert_allclose(taps, 1 / _taps_sum(10**7), rtol=1e-12)
    np.testing.assert_allclose(
        _taps_sum(10**7), 10**7 * np.sqrt(np.pi) * 0.8427007929497149, rtol=1e-7
    )


_PEAK = """
import tracemalloc
import numpy as np
from sklearn_ckn import CKNFeatureExtractor

tracemalloc.start()
X = np.random.default_rng(0).random((2, 40000))
CKNFeatureExtractor(n_filters=(4, 8), random_state=0).fit(X).transform(X)
long_signal = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
X = np.random.default_rng(0).random((30, 64))
CKNFeatureExtractor(
    n_filters=4, subsampling=10**7, image_shape=(8, 8), random_state=0
).fit(X).transform(X)
print(long_signal, tracemalloc.get_traced_memory()[1])
"""


def test_memory_is_linear_in_the_map():
    """The issue's cases, NumPy's allocations traced in a fresh process: a
    40,000-sample signal through (4, 8) filters peaked at 5.96 GiB with dense
    pooling matrices (its input is 0.6 MiB); subsampling=10**7 on 8x8
    images at 600 MB for a 1x1 output."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    long_signal, huge_factor = map(int, result.stdout.split())
    assert long_signal < 64 * 2**20  # measured 11 MiB
    assert huge_factor < 16 * 2**20  # measured 2 MiB


def test_a_network_on_long_signals_is_the_same_with_either_operator(monkeypatch):
    """On 1-D signals of 600 samples, whose pooling takes banded taps: the
    features, and the training objective and gradients, against the same with
    dense matrices (float64: equal to rounding)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
    from sklearn_ckn._ops import pooling as _pooling

    rng = np.random.default_rng(0)
    X, y = rng.random((12, 600)), np.arange(12) % 2
    ckn = CKNFeatureExtractor(n_filters=(4, 6), subsampling=(3, 2), random_state=0)
    banded = ckn.fit(X).transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer = (
            CKNClassifier(n_filters=(4, 6), max_iter=1, random_state=0)
            .fit(X, y)
            ._trainer
        )
    assert any(isinstance(m, BandedPooling) for mats in trainer.pool_mats for m in mats)
    maps = X.reshape(12, 600, 1)
    targets = np.where(np.arange(12)[:, None] % 2 == 1, 1.0, -1.0)
    value, grads = trainer.objective_and_gradients(maps, targets)

    monkeypatch.setattr(_pooling, "DENSE_MAX_ENTRIES", 10**9)
    np.testing.assert_allclose(ckn.fit(X).transform(X), banded, rtol=1e-12, atol=1e-14)
    trainer.pool_mats = [
        pooling_matrices(shape.conv, spec.subsampling, np, np.float64, "cpu")
        for spec, shape in zip(trainer.specs, trainer.shapes)
    ]
    assert not any(
        isinstance(m, BandedPooling) for mats in trainer.pool_mats for m in mats
    )
    dense_value, dense_grads = trainer.objective_and_gradients(maps, targets)
    np.testing.assert_allclose(value, dense_value, rtol=1e-12)
    for a, b in zip(grads, dense_grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())
