"""Winograd products against the patch matrix (im2col) they replace."""

import numpy as np
import pytest

from sklearn_ckn._backend import to_numpy as _host
from sklearn_ckn._layer import LayerSpec, layer_forward, layer_shapes
from sklearn_ckn._lintrans import lintrans
from sklearn_ckn._network import HOST_CHUNK, MIN_WINOGRAD_COLUMN_BYTES, host_chunk
from sklearn_ckn._patches import extract_patches, pad_map, padding_widths
from sklearn_ckn._pooling import pooling_matrices
from sklearn_ckn._winograd import (
    filter_transform,
    product_count,
    tiling,
    winograd_applies,
    winograd_products,
)


def _unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


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
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, *spatial, n_channels))
    z = _unit_rows(rng.standard_normal((5, 9 * n_channels)))
    padded = pad_map(xp.asarray(h), padding_widths((3, 3), padding), xp)
    patches = _host(extract_patches(padded, (3, 3), xp))
    expected = patches @ z.T
    out_shape = expected.shape[1:3]
    transformed = filter_transform(xp.asarray(z), n_channels, xp, out_shape, largest)
    for (mh, mw), u in transformed.items():
        assert max(mh, mw) <= largest
        assert u.shape == ((mh + 2) * (mw + 2), n_channels, 5)
    got = _host(
        winograd_products(padded, xp.asarray(z), out_shape, xp, transformed=transformed)
    )
    assert got.shape == expected.shape
    np.testing.assert_allclose(
        got, expected, rtol=0, atol=1e-12 * np.abs(expected).max()
    )
    # a factor per position, applied while the products are laid out
    scale = rng.random((2, *out_shape, 1)) + 0.5
    scaled = _host(
        winograd_products(
            padded, xp.asarray(z), out_shape, xp, transformed, xp.asarray(scale)
        )
    )
    np.testing.assert_allclose(
        scaled, expected * scale, rtol=0, atol=2e-12 * np.abs(expected).max()
    )


@pytest.mark.parametrize("largest", [2, 4])
def test_products_in_float32(xp, largest):
    rng = np.random.default_rng(1)
    h = rng.random((3, 14, 14, 64))
    z = _unit_rows(rng.standard_normal((32, 9 * 64)))
    padded = pad_map(xp.asarray(h, dtype=xp.float32), (1, 1), xp)
    z32 = xp.asarray(z, dtype=xp.float32)
    transformed = filter_transform(z32, 64, xp, (14, 14), largest)
    got = _host(winograd_products(padded, z32, (14, 14), xp, transformed=transformed))
    assert got.dtype == np.float32
    patches = extract_patches(pad_map(h, (1, 1), np), (3, 3), np)
    exact = patches @ z.T
    direct = patches.astype(np.float32) @ z.T.astype(np.float32)

    def rel(products):
        return np.linalg.norm(products - exact) / np.linalg.norm(exact)

    # measured against the plain float32 product (about 3e-7 off): F(2x2)'s
    # rounding is 0.7 times it; with blocks of 4, whose transforms hold
    # entries up to 8, 3.0-3.3 times (OpenBLAS and cuBLAS, 16x16 maps of
    # F(4x4) alone; 14x14 maps with their border in blocks of 2: 2.9-3.2
    # times on OpenBLAS over three draws)
    assert rel(got) <= {2: 1.5, 4: 5.0}[largest] * rel(direct), (
        rel(got),
        rel(direct),
    )


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
