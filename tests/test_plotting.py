"""plot_filters draws one panel per filter of the layer asked for."""

import matplotlib
import numpy as np
import pytest

from sklearn_ckn import CKNFeatureExtractor, plot_filters

matplotlib.use("Agg")


def test_one_panel_per_filter_showing_its_values():
    rng = np.random.default_rng(0)
    ckn = CKNFeatureExtractor(n_filters=(5, 3), random_state=0)
    ckn.fit(rng.random((12, 8, 8)))
    fig = plot_filters(ckn, layer=0, n_cols=4)
    images = [ax.images[0] for ax in fig.axes]
    assert len(images) == 5  # the grid's sixth to eighth cells are removed
    for image, w in zip(images, ckn.filters_[0][:, 0]):
        np.testing.assert_array_equal(image.get_array(), w)
    second = plot_filters(ckn, layer=1, channel=4)
    assert len(second.axes) == 3
    np.testing.assert_array_equal(
        second.axes[2].images[0].get_array(), ckn.filters_[1][2, 4]
    )


def test_signals_are_drawn_as_curves():
    rng = np.random.default_rng(0)
    ckn = CKNFeatureExtractor(n_filters=(4,), patch_size=5, random_state=0)
    ckn.fit(rng.random((10, 30)))
    fig = plot_filters(ckn)
    np.testing.assert_array_equal(
        fig.axes[1].lines[0].get_ydata(), ckn.filters_[0][1, 0]
    )


def test_bad_layer_or_channel_is_named():
    rng = np.random.default_rng(0)
    ckn = CKNFeatureExtractor(n_filters=(3,), random_state=0).fit(rng.random((8, 6, 6)))
    with pytest.raises(ValueError, match="layer=1 is out of range: the network has 1"):
        plot_filters(ckn, layer=1)
    with pytest.raises(ValueError, match="channel=2 is out of range"):
        plot_filters(ckn, channel=2)
