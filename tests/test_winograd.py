"""Winograd products against the patch matrix (im2col) they replace.

Their rounding is held to an a priori bound derived from the arithmetic
(:func:`winograd_error_bound`), not to what one BLAS kernel measured.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_ckn._backend import to_numpy as _host
from sklearn_ckn._layer import LayerSpec, layer_forward, layer_shapes
from sklearn_ckn._network import HOST_CHUNK, MIN_WINOGRAD_COLUMN_BYTES, host_chunk
from sklearn_ckn._ops import winograd as _winograd
from sklearn_ckn._ops.lintrans import lintrans
from sklearn_ckn._ops.patches import extract_patches, pad_map, padding_widths
from sklearn_ckn._ops.pooling import pooling_matrices
from sklearn_ckn._ops.winograd import (
    filter_transform,
    product_count,
    tiling,
    winograd_applies,
    winograd_products,
)

ROOT = Path(__file__).resolve().parent.parent

#: the transforms' 1-D matrices as the tests found them: the bound is taken
#: from their entries even where a test swaps in a wrong transform
MATRICES = copy.deepcopy(_winograd._MATRICES)


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _gamma(k, dtype):
    """Higham's gamma_k = k u / (1 - k u), u the unit roundoff of ``dtype``."""
    u = np.finfo(dtype).eps / 2
    assert k * u < 0.5
    return k * u / (1 - k * u)


def winograd_error_bound(padded, z, out_shape, largest, dtype, extra=0):
    """Bound on |winograd_products - exact products|, element by element.

    ``padded`` (n, H + 2, W + 2, C) and ``z`` (p, 9 C) are the exact (float64)
    map and filters; the products are computed from them rounded to ``dtype``.

    Derivation (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd
    ed., lemma 3.3 and section 3.5). With u the unit roundoff of ``dtype``, a product of
    matrices with inner dimension k, summed in any order, with or without
    FMA, satisfies |fl(X Y) - X Y| <= gamma_k |X| |Y|, gamma_k = k u / (1 - k u);
    rounding a value gives a relative error of at most u; and
    (1 + gamma_a)(1 + gamma_b) <= 1 + gamma_(a + b). A tile group computes
    Y = A^T [sum_c (G g_c G^T) o (B^T d_c B)] A, each two-sided transform as
    two products (one per tile axis, inner dimensions th and tw). Following
    every rounding through, and bounding |X Y| by |X| |Y| at each step:

        |Y_hat - Y| <= gamma_N |A^T| [sum_c (|G| |g_c| |G^T|) o (|B^T| |d_c| |B|)] |A|

    where N counts the roundings on the longest path to an output:
      1 + 1    the map and the filters rounded to ``dtype``;
      3        G's entries (fractions rounded in float64, their Kronecker
               products rounded in float64, then rounded to ``dtype``;
               the entries of A^T and B^T are small integers, exact);
      9        the filter transform, one product of kron(G, G) with the 9
               offsets of each filter;
      th + tw  the input transform B^T d B;
      C        the products summed over the C channels;
      th + tw  the output transform A^T M A;
      extra    any further rounding (a per-position factor: 1).
    The bound is evaluated here in float64 with the absolute values of the
    transforms' entries, tile group by tile group of :func:`tiling`, so it
    follows the entries (up to 8 in F(4x4)'s A^T, up to 5 in its B^T) and the
    summation lengths, and holds for any BLAS kernel and summation order. It
    is a worst case, 500 to 2,500 times the float32 errors met (every
    rounding counted at its largest, with one sign): float32 products catch a
    transform 1 % wrong, float64 products one 10^-6 wrong
    (:func:`test_a_wrong_transform_breaks_the_bound`).
    """
    n, c, p = padded.shape[0], padded.shape[-1], z.shape[0]
    groups = tiling(tuple(out_shape), largest)
    cover = (
        max(r0 + mh * nr for r0, _, mh, _, nr, _ in groups),
        max(c0 + mw * nc for _, c0, _, mw, _, nc in groups),
    )
    d = np.zeros((n, cover[0] + 2, cover[1] + 2, c))
    d[:, : padded.shape[1], : padded.shape[2]] = np.abs(padded)
    g = np.abs(z).reshape(p, 3, 3, c)
    bound = np.zeros((n, *cover, p))
    for r0, c0, mh, mw, nr, nc in groups:
        th, tw = mh + 2, mw + 2
        a_h, a_w = (np.abs(np.asarray(MATRICES[m]["A_T"], float)) for m in (mh, mw))
        b_h, b_w = (np.abs(np.asarray(MATRICES[m]["B_T"], float)) for m in (mh, mw))
        g_h, g_w = (np.abs(np.asarray(MATRICES[m]["G"], float)) for m in (mh, mw))
        tiles = np.stack(
            [
                np.stack(
                    [
                        d[
                            :,
                            r0 + a : r0 + a + mh * nr : mh,
                            c0 + b : c0 + b + mw * nc : mw,
                        ]
                        for b in range(tw)
                    ],
                    axis=3,
                )
                for a in range(th)
            ],
            axis=3,
        )  # (n, nr, nc, th, tw, C)
        v = np.einsum("ta,ub,nijabc->nijtuc", b_h, b_w, tiles)
        u = np.einsum("tk,ul,fklc->tucf", g_h, g_w, g)
        m = np.einsum("nijtuc,tucf->nijtuf", v, u)
        y = np.einsum("xt,yu,nijtuf->nixjyf", a_h, a_w, m)
        rounds = 2 + 3 + 9 + 2 * (th + tw) + c + extra
        bound[:, r0 : r0 + mh * nr, c0 : c0 + mw * nc] = _gamma(
            rounds, dtype
        ) * y.reshape(n, mh * nr, mw * nc, p)
    return bound[:, : out_shape[0], : out_shape[1]]


def reference_products(padded, z):
    """The products by the patch matrix in float64, and a bound on their own
    rounding (gamma_(9 C) |patches| |z|^T, same reasoning as above)."""
    patches = extract_patches(padded, (3, 3), np)
    error = _gamma(patches.shape[-1], np.float64) * (np.abs(patches) @ np.abs(z).T)
    return patches @ z.T, error


def _bound_ratio(got, exact, bound):
    """Largest |got - exact| / bound: at most 1 where the bound holds (an
    error where the bound is 0, an exact zero product, counts as infinite)."""
    error = np.abs(got - exact)
    ratio = np.divide(error, bound, out=np.zeros_like(error), where=bound > 0)
    ratio[(bound == 0) & (error > 0)] = np.inf
    return float(ratio.max())


CASES = [
    (spatial, padding)
    for spatial in [(8, 8), (7, 9), (1, 1), (2, 3), (5, 4), (14, 14), (6, 11)]
    for padding in ["same", "valid"]
    if padding == "same" or min(spatial) >= 3  # a valid 3x3 patch must fit
]


@pytest.mark.parametrize("spatial, padding", CASES)
@pytest.mark.parametrize("n_channels", [3, 16])
@pytest.mark.parametrize("largest", [2, 4])
def test_products_match_the_patch_matrix(xp, spatial, padding, n_channels, largest):
    """float64 products within :func:`winograd_error_bound` of the patch
    matrix's, plain and with a per-position factor (one rounding more)."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, *spatial, n_channels))
    z = _unit_rows(rng.standard_normal((5, 9 * n_channels)))
    padded = pad_map(h, padding_widths((3, 3), padding), np)
    expected, reference_error = reference_products(padded, z)
    out_shape = expected.shape[1:3]
    transformed = filter_transform(xp.asarray(z), n_channels, xp, out_shape, largest)
    for (mh, mw), u in transformed.items():
        assert max(mh, mw) <= largest
        assert u.shape == ((mh + 2) * (mw + 2), n_channels, 5)
    got = _host(
        winograd_products(
            xp.asarray(padded), xp.asarray(z), out_shape, xp, transformed=transformed
        )
    )
    assert got.shape == expected.shape
    bound = winograd_error_bound(padded, z, out_shape, largest, np.float64)
    assert _bound_ratio(got, expected, bound + reference_error) <= 1
    # a factor per position, applied while the products are laid out
    scale = rng.random((2, *out_shape, 1)) + 0.5
    scaled = _host(
        winograd_products(
            xp.asarray(padded),
            xp.asarray(z),
            out_shape,
            xp,
            transformed,
            xp.asarray(scale),
        )
    )
    bound = winograd_error_bound(padded, z, out_shape, largest, np.float64, extra=1)
    exact = expected * scale
    bound = (bound + reference_error) * scale + _gamma(1, np.float64) * np.abs(exact)
    assert _bound_ratio(scaled, exact, bound) <= 1


def _float32_case(spatial, seed=1):
    """A second-layer-like map (positive, 64 channels) and 32 unit filters."""
    rng = np.random.default_rng(seed)
    h = rng.random((3, *spatial, 64))
    z = _unit_rows(rng.standard_normal((32, 9 * 64)))
    return pad_map(h, (1, 1), np), z


def _float32_bound_ratio(xp, padded, z, out_shape, largest):
    """Measured float32 error over its bound, and over the plain float32
    product's error (for the record)."""
    z32 = xp.asarray(z, dtype=xp.float32)
    transformed = filter_transform(z32, z.shape[1] // 9, xp, out_shape, largest)
    got = _host(
        winograd_products(
            xp.asarray(padded, dtype=xp.float32), z32, out_shape, xp, transformed
        )
    )
    assert got.dtype == np.float32
    exact, reference_error = reference_products(padded, z)
    bound = winograd_error_bound(padded, z, out_shape, largest, np.float32)
    return _bound_ratio(got.astype(np.float64), exact, bound + reference_error)


@pytest.mark.parametrize("spatial", [(14, 14), (16, 16), (7, 9)])
@pytest.mark.parametrize("largest", [2, 4])
def test_products_in_float32(xp, spatial, largest):
    """float32 products within :func:`winograd_error_bound` of the exact ones:
    14 x 14 maps tile in blocks of 4 and 2, 16 x 16 in blocks of 4 alone,
    7 x 9 overhang. The bound holds on every BLAS kernel (the subprocess test
    below forces OpenBLAS's); the errors measured are 0.0004-0.002 of it."""
    padded, z = _float32_case(spatial)
    assert _float32_bound_ratio(xp, padded, z, spatial, largest) <= 1


def _wrong(name, m, row, col, change):
    """_MATRICES with entry (row, col) of F(m, 3)'s matrix ``name`` changed
    by the relative amount ``change`` (a zero entry becomes ``change``)."""
    matrices = copy.deepcopy(MATRICES)
    rows = [list(r) for r in matrices[m][name]]
    rows[row][col] = rows[row][col] * (1 + change) if rows[row][col] else change
    matrices[m][name] = tuple(tuple(r) for r in rows)
    return matrices


@pytest.mark.parametrize(
    "name, m, row, col",
    [
        ("G", 2, 1, 0),  # 1/2
        ("G", 4, 3, 1),  # 1/12
        ("B_T", 4, 0, 2),  # -5
        ("B_T", 2, 1, 3),  # a zero
        ("A_T", 4, 3, 3),  # 8
        ("A_T", 2, 1, 0),  # a zero
    ],
)
def test_a_wrong_transform_breaks_the_bound(monkeypatch, name, m, row, col):
    """The test of the test: one entry of one transform changed, the bound
    (from the correct entries) no longer holds. The worst-case bound is loose
    (measured errors are 0.0004-0.002 of it in float32), so float32 catches a
    change of 1 % and float64, 10^-6 (its ratio then is over 10^4)."""
    out_shape = (16, 16) if m == 4 else (14, 14)  # F(m x m) tiles throughout
    padded, z = _float32_case(out_shape)
    exact, reference_error = reference_products(padded, z)
    bound = winograd_error_bound(padded, z, out_shape, m, np.float64)
    for change, check in [(1e-2, "float32"), (1e-6, "float64")]:
        monkeypatch.setattr(_winograd, "_MATRICES", _wrong(name, m, row, col, change))
        monkeypatch.setattr(_winograd, "_MATRIX_CACHE", {})
        if check == "float32":
            assert _float32_bound_ratio(np, padded, z, out_shape, m) > 1
        else:
            transformed = filter_transform(z, 64, np, out_shape, m)
            got = winograd_products(padded, z, out_shape, np, transformed)
            assert _bound_ratio(got, exact, bound + reference_error) > 1e4


#: OpenBLAS kernels the float32 bound is checked on, with OPENBLAS_CORETYPE
CORETYPES = ["Haswell", "SkylakeX"]

_UNDER_CORETYPE = """
import sys
import numpy, pytest
from threadpoolctl import threadpool_info
arch = {
    i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"
}
print("architecture", sorted(arch, key=str))
if arch != {sys.argv[1]}:
    sys.exit(77)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[2], "-k", sys.argv[3]]))
"""


@pytest.mark.parametrize("coretype", CORETYPES)
def test_the_bound_holds_on_each_openblas_kernel(coretype):
    """The Winograd rounding tests, float32 and float64, in a subprocess whose
    OpenBLAS is forced to one kernel; skipped where NumPy's BLAS is not an
    OpenBLAS that honours OPENBLAS_CORETYPE (or the CPU lacks the kernel's
    instructions, where OpenBLAS falls back to another)."""
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _UNDER_CORETYPE,
            coretype,
            str(Path(__file__)),
            "test_products_in_float32 or test_products_match_the_patch_matrix",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == 77:
        pytest.skip(
            f"OpenBLAS did not take OPENBLAS_CORETYPE={coretype}: {result.stdout}"
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.parametrize("length", range(1, 41))
def test_tiling_covers_every_output_once_with_fewest_products(length):
    for out_shape in [(length, length), (length, 14), (3, length)]:
        groups = tiling(out_shape)
        covered = np.zeros((out_shape[0] + 3, out_shape[1] + 3), dtype=int)
        for r0, c0, mh, mw, nr, nc in groups:
            assert (mh, mw) in {(2, 2), (2, 4), (4, 2), (4, 4)}
            covered[r0 : r0 + mh * nr, c0 : c0 + mw * nc] += 1
        # each output in exactly one tile; a tile overhangs by at most one
        assert (covered[: out_shape[0], : out_shape[1]] == 1).all()
        assert covered[out_shape[0] + 1 :].sum() == 0
        assert covered[:, out_shape[1] + 1 :].sum() == 0
        # never more products than F(2x2) alone
        assert product_count(out_shape) <= product_count(out_shape, largest=2)


def test_product_counts_of_the_benchmarked_maps():
    # 14 x 14: 9 F(4x4) tiles (324), 6 F(4x2) or F(2x4) tiles (144), one
    # F(2x2) tile (16); F(2x2) alone takes 49 tiles of 16; 16 x 16: 16 F(4x4)
    assert product_count((14, 14)) == 484
    assert product_count((14, 14), largest=2) == 784
    assert product_count((16, 16)) == 576
    assert product_count((1, 1)) == 16


@pytest.mark.parametrize("n_channels", [3, 16])
@pytest.mark.parametrize(
    "kernel, sigma", [("exp", 0.6), ("exp", 0.15), ("arccos", 0.6), ("poly", 0.6)]
)
def test_transform_path_equals_the_training_path(xp, n_channels, kernel, sigma):
    """layer_forward without a cache (patch columns, or Winograd from 16
    channels; exp in place, with exp(-c) folded into nu up to c = 30 and not
    above: sigma 0.6, c = 2.8; sigma 0.15, c = 44) and with one (im2col,
    kernel_value) agree."""
    spec = LayerSpec(24, (3, 3), (2, 2), kernel, sigma, "same", 1e-2)
    assert winograd_applies(spec.patch_shape, n_channels) == (n_channels == 16)
    shape = layer_shapes((9, 10), n_channels, [spec])[0]
    rng = np.random.default_rng(2)
    h = xp.asarray(rng.random((3, 9, 10, n_channels)))
    z = xp.asarray(_unit_rows(rng.standard_normal((24, 9 * n_channels))))
    m = lintrans(z, spec.kernel, spec.sigma, spec.eps, xp)
    pools = pooling_matrices(shape.conv, spec.subsampling, xp, xp.float64, None)
    fast = _host(layer_forward(h, spec, z, m, xp, pools))
    reference = _host(layer_forward(h, spec, z, m, xp, pools, cache={}))
    np.testing.assert_allclose(fast, reference, rtol=1e-11, atol=1e-13)


def test_applies_only_to_3x3_maps_with_enough_channels():
    assert winograd_applies((3, 3), 16)
    assert not winograd_applies((3, 3), 15)
    assert not winograd_applies((5, 5), 64)
    assert not winograd_applies((3,), 64)


def test_precomputed_filter_transform_gives_the_same_products(xp):
    rng = np.random.default_rng(3)
    h = xp.asarray(rng.standard_normal((2, 6, 5, 16)))
    z = xp.asarray(_unit_rows(rng.standard_normal((4, 9 * 16))))
    padded = pad_map(h, padding_widths((3, 3), "same"), xp)
    fresh = _host(winograd_products(padded, z, (6, 5), xp))
    transformed = filter_transform(z, 16, xp, (6, 5))
    reused = _host(winograd_products(padded, z, (6, 5), xp, transformed=transformed))
    np.testing.assert_array_equal(reused, fresh)


@pytest.mark.parametrize("itemsize", [4, 8])
def test_host_chunks_give_every_tile_group_full_gemm_columns(itemsize):
    specs = [
        LayerSpec(64, (3, 3), (2, 2), "exp", 0.6, "same", 1e-3),
        LayerSpec(256, (3, 3), (2, 2), "exp", 0.6, "same", 1e-3),
    ]
    for image, channels, expected in [((28, 28), 1, 16), ((32, 32), 3, 6)]:
        shapes = layer_shapes(image, channels, specs)
        chunk = host_chunk(shapes, specs, itemsize)
        assert chunk <= HOST_CHUNK
        # layer 2's smallest group (one tile per image on 14x14 maps, 16 on
        # 16x16 maps) gets at least a cache line of rows per column
        fewest = min(nr * nc for *_, nr, nc in tiling(shapes[1].conv))
        assert chunk * fewest * itemsize >= MIN_WINOGRAD_COLUMN_BYTES
        if itemsize == 4:
            assert chunk == expected
