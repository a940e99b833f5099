"""CKNFeatureExtractor: input layouts, consistency, determinism and the array API."""

import array_api_strict
import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits

from sklearn_ckn import CKNFeatureExtractor


def _images(n=12, shape=(9, 9), seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def _unit(w):
    flat = w.reshape(len(w), -1)
    return (flat / np.linalg.norm(flat, axis=1, keepdims=True)).reshape(w.shape)


def test_transform_shape_dtype_and_documented_order():
    x = _images(10, (9, 9))
    ckn = CKNFeatureExtractor(n_filters=(5, 7), random_state=0).fit(x)
    assert ckn.image_shape_ == (9, 9)
    assert ckn.n_features_in_ == 81 and ckn.n_channels_in_ == 1
    assert ckn.output_shape_ == (7, 3, 3)
    assert [w.shape for w in ckn.filters_] == [(5, 1, 3, 3), (7, 5, 3, 3)]
    for w in ckn.filters_:
        np.testing.assert_allclose(np.linalg.norm(w.reshape(len(w), -1), axis=1), 1.0)
    out = ckn.transform(x)
    assert out.shape == (10, 63) and out.dtype == np.float64
    out32 = ckn.transform(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-3, atol=1e-4)
    # filter-major order: feature f * 9 + position is filter f at that position
    names = ckn.get_feature_names_out()
    assert names[0] == "cknfeatureextractor_f0_y0_x0"
    assert names[10] == "cknfeatureextractor_f1_y0_x1"
    # the first layer alone: its output map equals the features, reshaped
    one = CKNFeatureExtractor(filters=ckn.filters_[:1]).fit(x)
    assert one.transform(x).reshape(10, 5, 5, 5).shape == (10, *one.output_shape_)


def test_two_d_rows_with_image_shape_equal_image_arrays():
    x = _images(8, (7, 6, 2))
    kwargs = dict(n_filters=(4, 5), channel_axis=-1, random_state=0)
    from_arrays = CKNFeatureExtractor(**kwargs).fit(x)
    from_rows = CKNFeatureExtractor(image_shape=(7, 6, 2), **kwargs).fit(
        x.reshape(8, -1)
    )
    for a, b in zip(from_arrays.filters_, from_rows.filters_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        from_arrays.transform(x), from_rows.transform(x.reshape(8, -1))
    )
    # channels first is the same data, laid out differently
    x_first = np.moveaxis(x, -1, 1)
    first = CKNFeatureExtractor(filters=from_arrays.filters_, channel_axis=0).fit(
        x_first
    )
    np.testing.assert_allclose(
        first.transform(x_first), from_arrays.transform(x), rtol=1e-12
    )


def test_one_d_signal_equals_one_by_l_image():
    rng = np.random.default_rng(0)
    signals = rng.standard_normal((6, 20, 2))  # (n, L, C)
    w1 = _unit(rng.standard_normal((5, 2, 3)))
    w2 = _unit(rng.standard_normal((4, 5, 4)))  # even patch size too
    params = dict(kernel=("exp", "arccos"), sigma=0.5)
    as_signal = CKNFeatureExtractor(
        filters=[w1, w2], subsampling=(2, 3), channel_axis=-1, **params
    ).fit(signals)
    images = signals[:, None, :, :]  # (n, 1, L, C)
    as_image = CKNFeatureExtractor(
        filters=[w1[:, :, None, :], w2[:, :, None, :]],
        subsampling=((1, 2), (1, 3)),
        channel_axis=-1,
        **params,
    ).fit(images)
    assert as_image.output_shape_ == (4, 1, *as_signal.output_shape_[1:])
    np.testing.assert_allclose(
        as_image.transform(images), as_signal.transform(signals), rtol=1e-12, atol=1e-14
    )


def test_two_d_x_without_image_shape_is_a_one_channel_signal():
    x = _images(10, (30,))
    ckn = CKNFeatureExtractor(n_filters=(4,), subsampling=3, random_state=0).fit(x)
    assert ckn.image_shape_ == (30,) and ckn.filters_[0].shape == (4, 1, 3)
    assert ckn.transform(x).shape == (10, 4 * 10)


@pytest.mark.parametrize("batch_size", [1, 3, 7, None])
def test_transform_in_chunks_equals_transform_at_once(batch_size):
    x = _images(17, (8, 8))
    ckn = CKNFeatureExtractor(n_filters=(6, 8), random_state=0).fit(x)
    whole = ckn.transform(x)
    chunked = clone(ckn).set_params(batch_size=batch_size).fit(x)
    for a, b in zip(ckn.filters_, chunked.filters_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(chunked.transform(x), whole, rtol=1e-12, atol=1e-13)
    split = np.concatenate(
        [ckn.transform(x[:5]), ckn.transform(x[5:6]), ckn.transform(x[6:])]
    )
    np.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-13)


def test_same_random_state_gives_identical_filters():
    x = _images(20, (8, 8))
    a = CKNFeatureExtractor(n_filters=(6, 8), n_patches=300, random_state=3).fit(x)
    b = CKNFeatureExtractor(n_filters=(6, 8), n_patches=300, random_state=3).fit(x)
    c = CKNFeatureExtractor(n_filters=(6, 8), n_patches=300, random_state=4).fit(x)
    for wa, wb in zip(a.filters_, b.filters_):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.filters_[0], c.filters_[0])


def test_per_layer_parameters_broadcast_and_nest():
    x = _images(10, (12, 10))
    ckn = CKNFeatureExtractor(
        n_filters=(4, 6),
        patch_size=((3, 5), 2),
        subsampling=(1, (2, 3)),
        kernel=("poly", "exp"),
        padding=("valid", "same"),
        random_state=0,
    ).fit(x)
    assert ckn.filters_[0].shape == (4, 1, 3, 5)
    assert ckn.filters_[1].shape == (6, 4, 2, 2)
    # valid 3x5 on 12x10 -> 10x6, no pooling; same 2x2 -> 11x7, pooled (2, 3) -> 6x3
    assert ckn.output_shape_ == (6, 6, 3)


def test_set_output_pandas_and_feature_names():
    x = _images(8, (6, 6)).reshape(8, -1)
    df = pd.DataFrame(x, columns=[f"px{i}" for i in range(36)])
    ckn = CKNFeatureExtractor(n_filters=(3, 4), image_shape=(6, 6), random_state=0)
    out = ckn.set_output(transform="pandas").fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(ckn.get_feature_names_out())
    np.testing.assert_array_equal(
        out.to_numpy(), ckn.set_output(transform="default").transform(df)
    )


def test_array_api_strict_run_matches_numpy():
    x = _images(9, (8, 8))
    ckn = CKNFeatureExtractor(n_filters=(5, 6), random_state=0)
    expected = ckn.fit_transform(x)
    x_strict = array_api_strict.asarray(x)
    with config_context(array_api_dispatch=True):
        strict = clone(ckn).fit(x_strict)
        out = strict.transform(x_strict)
    strict_array = type(x_strict)
    assert isinstance(out, strict_array)
    assert all(isinstance(w, strict_array) for w in strict.filters_)
    np.testing.assert_allclose(np.from_dlpack(out), expected, rtol=1e-10, atol=1e-12)
    for w, w_np in zip(strict.filters_, ckn.filters_):
        np.testing.assert_allclose(np.from_dlpack(w), w_np, rtol=1e-10, atol=1e-12)
    assert CKNFeatureExtractor().__sklearn_tags__().array_api_support


def test_device_cuda_without_gpu_fails_clearly():
    from sklearn_ckn._backend import cupy_available

    if cupy_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="device='cuda' requires CuPy"):
        CKNFeatureExtractor(n_filters=(2,), device="cuda").fit(_images(4, (5, 5)))


def test_failed_refit_leaves_the_previous_fit_in_place():
    x = _images(10, (8, 8))
    ckn = CKNFeatureExtractor(n_filters=(3, 4), random_state=0).fit(x)
    filters, expected = [w.copy() for w in ckn.filters_], ckn.transform(x)
    with pytest.raises(ValueError, match="channel_axis"):
        ckn.fit(_images(5, (8, 8, 3)))  # three axes without channel_axis
    assert ckn.image_shape_ == (8, 8)
    for w, w_before in zip(ckn.filters_, filters):
        np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(ckn.transform(x), expected)


def test_verbose_reports_each_layer(capsys, monkeypatch):
    from sklearn_ckn import _progress

    monkeypatch.setattr(_progress, "_tqdm", lambda: None)  # log lines, not a bar
    x = _images(10, (8, 8))
    CKNFeatureExtractor(n_filters=(3, 4), random_state=0, verbose=0).fit(x)
    assert capsys.readouterr().out == ""
    CKNFeatureExtractor(n_filters=(3, 4), random_state=0, verbose=1).fit(x)
    out = capsys.readouterr().out
    assert "layer 0: spherical k-means, 3 filters" in out
    assert "layer 1: spherical k-means, 4 filters" in out


def test_pickle_round_trip_gives_identical_features():
    import pickle

    x = _images(6, (8, 8))
    ckn = CKNFeatureExtractor(n_filters=(3, 4), random_state=0).fit(x)
    loaded = pickle.loads(pickle.dumps(ckn))
    np.testing.assert_array_equal(loaded.transform(x), ckn.transform(x))
    assert all(type(w) is np.ndarray for w in loaded.filters_)


@pytest.mark.parametrize("whitening", [None, "patches"])
def test_patch_quantile_keeps_the_largest_patches_for_kmeans(monkeypatch, whitening):
    """k-means sees the same sample without its smallest-norm patches: the
    floor(q * m) of smallest norm go, the others keep their order."""
    from sklearn_ckn import _unsupervised

    X = load_digits().data[:60] / 16.0
    seen = []
    original = _unsupervised._unit_rows

    def record(patches, xp):
        seen.append(np.asarray(patches).copy())
        return original(patches, xp)

    monkeypatch.setattr(_unsupervised, "_unit_rows", record)
    params = dict(n_filters=(4, 6), image_shape=(8, 8), whitening=whitening)
    plain = CKNFeatureExtractor(**params, random_state=0).fit(X)
    half = CKNFeatureExtractor(**params, patch_quantile=0.5, random_state=0).fit(X)
    all_0, all_1, kept_0, kept_1 = seen
    norms = np.sum(all_0 * all_0, axis=1)
    dropped = len(all_0) // 2
    want = np.sort(np.argsort(norms, kind="stable")[dropped:])
    np.testing.assert_array_equal(kept_0, all_0[want])
    assert len(kept_1) == len(all_1) - len(all_1) // 2
    # layer 1 samples from layer 0's new filters: another sample, same size
    assert not np.array_equal(half.filters_[0], plain.filters_[0])
    assert np.max(np.sum(kept_0 * kept_0, axis=1)) == np.max(norms)
    assert np.min(np.sum(kept_0 * kept_0, axis=1)) >= np.median(norms)
