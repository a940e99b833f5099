"""Pictures of a fitted CKN: its filters. matplotlib is optional."""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_filters"]


def plot_filters(estimator, layer=0, *, channel=0, n_cols=8, fig=None):
    """Show one layer's filters as small images (signals: as curves).

    Parameters
    ----------
    estimator : fitted CKNFeatureExtractor or CKNClassifier
        The network whose ``filters_`` are shown.
    layer : int, default=0
        Which layer.
    channel : int, default=0
        Which input channel of the filters to show (each filter spans all
        the layer's input channels).
    n_cols : int, default=8
        Filters per row of the grid.
    fig : matplotlib Figure or None, default=None
        Where to draw; None makes a new one.

    Returns
    -------
    fig : matplotlib Figure
        One panel per filter, a shared diverging colour scale (white at 0).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ckn import CKNFeatureExtractor, plot_filters
    >>> X, _ = load_digits(return_X_y=True)
    >>> ckn = CKNFeatureExtractor(n_filters=(8,), image_shape=(8, 8),
    ...                           random_state=0).fit(X[:200])
    >>> len(plot_filters(ckn).axes)
    8
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the extras
        raise ImportError(
            "plot_filters needs matplotlib: pip install matplotlib."
        ) from exc
    check_is_fitted(estimator, "filters_")
    n_layers = len(estimator.filters_)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer={layer} is out of range: the network has {n_layers}.")
    filters = np.asarray(estimator.filters_[layer])  # (p, C, *patch)
    if not 0 <= channel < filters.shape[1]:
        raise ValueError(
            f"channel={channel} is out of range: layer {layer}'s filters have "
            f"{filters.shape[1]} input channels."
        )
    weights = filters[:, channel]
    n_rows = math.ceil(len(weights) / n_cols)
    if fig is None:
        fig = plt.figure(figsize=(n_cols, 1.1 * n_rows + 0.4))
    axes = fig.subplots(n_rows, min(n_cols, len(weights)), squeeze=False)
    scale = float(np.abs(weights).max()) or 1.0
    for index, ax in enumerate(axes.ravel()):
        if index >= len(weights):
            ax.remove()
            continue
        if weights.ndim == 3:
            ax.imshow(weights[index], cmap="RdBu_r", vmin=-scale, vmax=scale)
        else:
            ax.plot(weights[index])
            ax.set_ylim(-scale, scale)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Layer {layer} filters (input channel {channel})")
    return fig
