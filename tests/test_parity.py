"""Parity with the original CKN implementation on its stored outputs.

Every stage (response map, pooled map, map M, layer output, final features) of
every case is reproduced from the stored filters, in float64 and float32, by
the compute core on NumPy and on array-api-strict (and CuPy where a GPU
answers), and through the public estimator with ``filters=``.
"""

import numpy as np
import pytest

from sklearn_ckn import CKNFeatureExtractor
from sklearn_ckn._backend import to_numpy
from sklearn_ckn._layer import LayerSpec, responses
from sklearn_ckn._ops.lintrans import lintrans
from sklearn_ckn._ops.patches import filters_to_internal
from sklearn_ckn._ops.pooling import gaussian_taps, pool

from ._namespaces import namespaces_under_test
from ._oracle import CASES, channels_last, load_case, max_relative_error

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
NAMESPACES = namespaces_under_test()


def _spec(layer_meta):
    kernel = layer_meta["kernel_func"]
    return LayerSpec(
        n_filters=layer_meta["out_channels"],
        patch_shape=(layer_meta["kernel_size"],) * 2,
        subsampling=(layer_meta["subsampling"],) * 2,
        kernel=kernel,
        sigma=layer_meta["kernel_sigma"] if kernel == "exp" else 1.0,
        padding="same",
        eps=0.01,
    )


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_every_stage_matches_the_original(case, dtype, namespace):
    xp = NAMESPACES[namespace]
    arrays, meta = load_case(case)
    tol = TOLERANCE[dtype]
    assert meta["EPS_patch_norm"] == 1e-6 and meta["eps_lintrans"] == 0.01
    h = xp.asarray(channels_last(arrays["x"]).astype(dtype))
    for layer, layer_meta in enumerate(meta["layers"]):
        spec = _spec(layer_meta)
        np.testing.assert_allclose(
            np.outer(*[gaussian_taps(spec.subsampling[0])] * 2),
            arrays[f"poolfilter{layer}"],
            rtol=1e-12,
        )
        z = filters_to_internal(xp.asarray(arrays[f"W{layer}"].astype(dtype)), xp)
        conv = responses(h, spec, z, xp)
        pooled = pool(conv, spec.subsampling, xp)
        m = lintrans(z, spec.kernel, spec.sigma, spec.eps, xp)
        h = pooled @ m
        stages = {
            "conv": (conv, channels_last(arrays[f"conv{layer}"])),
            "pooled": (pooled, channels_last(arrays[f"pooled{layer}"])),
            "lintrans": (m, arrays[f"lintrans{layer}"]),
            "out": (h, channels_last(arrays[f"out{layer}"])),
        }
        for stage, (ours, expected) in stages.items():
            ours = to_numpy(ours)
            assert str(ours.dtype) == dtype
            err = max_relative_error(ours, expected)
            assert err <= tol, f"{case} layer {layer} {stage}: {err:.2e} > {tol:.0e}"
    err = max_relative_error(to_numpy(h), channels_last(arrays["final"]))
    assert err <= tol


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_extractor_with_given_filters_reproduces_final(case, dtype):
    arrays, meta = load_case(case)
    layers = meta["layers"]
    filters = [arrays[f"W{i}"].astype(dtype) for i in range(len(layers))]
    kernels = tuple(layer["kernel_func"] for layer in layers)
    sigmas = tuple(
        layer["kernel_sigma"] if k == "exp" else 1.0
        for layer, k in zip(layers, kernels)
    )
    x = arrays["x"].astype(dtype)  # (n, C, H, W): channels first
    ckn = CKNFeatureExtractor(
        filters=filters, kernel=kernels, sigma=sigmas, subsampling=2, channel_axis=0
    )
    features = ckn.fit(x).transform(x)
    assert features.dtype == np.dtype(dtype)
    expected = arrays["final"].reshape(x.shape[0], -1)  # filter-major flattening
    assert max_relative_error(features, expected) <= TOLERANCE[dtype]
    for layer, w in enumerate(filters):
        np.testing.assert_array_equal(to_numpy(ckn.filters_[layer]), w)
        assert (
            max_relative_error(ckn.lintrans_[layer], arrays[f"lintrans{layer}"])
            <= (TOLERANCE[dtype])
        )
    # the same images given as flattened rows with image_shape
    rows = x.reshape(x.shape[0], -1)
    ckn_rows = CKNFeatureExtractor(
        filters=filters,
        kernel=kernels,
        sigma=sigmas,
        subsampling=2,
        image_shape=x.shape[1:],
        channel_axis=0,
    ).fit(rows)
    np.testing.assert_array_equal(ckn_rows.transform(rows), features)
