"""The unsupervised learning of a CKN's filters: layer by layer, spherical
k-means on patches sampled from the output of the layers below (Mairal et
al., 2014), and the ZCA of the first layer's patches.

Knows nothing of scikit-learn; the estimators call it.
"""

import dataclasses
import math

import numpy as np

from ._backend import to_namespace
from ._chunks import ChunkRunner
from ._network import (
    auto_batch_size,
    device_layers,
    forward_in_chunks,
    host_chunk,
    take_rows,
)
from ._ops.kmeans import TooFewDistinctPatchesError, spherical_kmeans
from ._ops.lintrans import lintrans
from ._ops.patches import extract_patches, pad_map, padding_widths
from ._ops.whitening import apply_zca, fit_patch_zca

__all__ = ["fit_layers_unsupervised", "learn_patch_whitening"]


def _sample_patches(
    x, specs, params, shapes, layer, *, n_patches, rng, xp, dev, dtype, batch_size
):
    """Patches of layer ``layer``'s input map at random (image, position) pairs.

    Only the sampled images are run through the layers below. Returns the
    non-zero patches, shape (m, d), on the device (not normalized).
    """
    n = x.shape[0]
    shape, spec = shapes[layer], specs[layer]
    n_positions = math.prod(shape.conv)
    total = n * n_positions
    if n_patches >= total:
        flat = np.arange(total)
    else:
        flat = np.sort(rng.choice(total, size=n_patches, replace=False))
    images, local = np.unique(flat // n_positions, return_inverse=True)
    positions = flat % n_positions
    below = device_layers(specs[:layer], params[:layer], shapes[:layer], xp, dev, dtype)
    pads = padding_widths(spec.patch_shape, spec.padding)
    chunks = []
    itemsize = xp.finfo(dtype).bits // 8
    # the maps below in the chunks of transform: the same values whatever
    # the batch size and the threads
    with ChunkRunner(xp, host_chunk(shapes, specs, itemsize)) as runner:
        for start in range(0, images.shape[0], batch_size):
            stop = min(start + batch_size, images.shape[0])
            batch = to_namespace(take_rows(x, images[start:stop]), xp, dev, dtype)
            h = forward_in_chunks(runner, batch, below, xp, start) if below else batch
            patches = extract_patches(pad_map(h, pads, xp), spec.patch_shape, xp)
            patches = xp.reshape(patches, (-1, patches.shape[-1]))
            in_batch = (local >= start) & (local < stop)
            rows = (local[in_batch] - start) * n_positions + positions[in_batch]
            chunks.append(xp.take(patches, xp.asarray(rows, device=dev), axis=0))
    patches = xp.concat(chunks, axis=0) if len(chunks) > 1 else chunks[0]
    # zero patches (padding, blank regions) carry no direction
    return _nonzero(patches, xp)


def _nonzero(patches, xp):
    return patches[xp.sum(patches * patches, axis=1) > 0.0]


def _largest_norms(patches, quantile, xp):
    """The rows of ``patches`` but the ``floor(quantile * m)`` of smallest
    norm (ties broken by position), in their order."""
    n_dropped = math.floor(quantile * patches.shape[0])
    if n_dropped == 0:
        return patches
    norms = xp.sum(patches * patches, axis=1)
    kept = xp.sort(xp.argsort(norms, stable=True)[n_dropped:])
    return xp.take(patches, kept, axis=0)


def _unit_rows(patches, xp):
    return patches / xp.sqrt(xp.sum(patches * patches, axis=1, keepdims=True))


def learn_patch_whitening(
    x, specs, shapes, *, n_patches, rng, xp, dev, dtype, reg, batch_size=None
):
    """The ZCA (mean, matrix) of the first layer's non-zero patches, sampled
    as :func:`fit_layers_unsupervised` samples them (for given filters)."""
    if batch_size is None:
        batch_size = auto_batch_size(shapes, specs, xp.finfo(dtype).bits // 8)
    patches = _sample_patches(
        x,
        specs,
        [],
        shapes,
        0,
        n_patches=n_patches,
        rng=rng,
        xp=xp,
        dev=dev,
        dtype=dtype,
        batch_size=batch_size,
    )
    return fit_patch_zca(patches, reg, xp)


def fit_layers_unsupervised(
    x,
    specs,
    shapes,
    *,
    n_patches,
    rng,
    xp,
    dev,
    dtype,
    batch_size=None,
    log=None,
    patch_whitening_reg=None,
    on_too_few=None,
    patch_quantile=0.0,
):
    """Learn each layer's filters by spherical k-means on sampled patches.

    Layer ``l`` samples its patches from the output of the layers below it,
    which are fitted first. ``log``, when given, receives one line per layer.
    ``on_too_few``, when given, is called as ``on_too_few(layer, n_filters,
    n_distinct)`` when a layer asks for more filters than its sample holds
    distinct non-zero patches; that layer then learns ``n_distinct`` filters
    (the layers above see that many channels) instead of raising. With
    ``patch_quantile`` > 0, k-means sees only the sampled patches whose norm
    ranks above that fraction of them (:func:`_largest_norms`).
    With ``patch_whitening_reg``, the first layer's sampled patches also
    teach a ZCA whitening (:func:`sklearn_ckn._ops.whitening.fit_zca`), and the
    first layer learns from, and later sees, whitened patches.

    Returns
    -------
    params : list of (z, m)
        Unit-norm filters (p, d) in internal patch order and the map M, on the
        compute device; with patch whitening the first is (z, m, (mean,
        matrix)).
    specs, shapes : list
        ``specs`` and ``shapes`` as learned: new lists, with fewer filters
        where ``on_too_few`` was called.

    Raises
    ------
    TooFewDistinctPatchesError
        With an extra ``layer`` attribute, when a layer has more filters than
        distinct non-zero sampled patches (without ``on_too_few``, or with
        none at all).
    """
    if batch_size is None:
        batch_size = auto_batch_size(shapes, specs, xp.finfo(dtype).bits // 8)
    specs, shapes = list(specs), list(shapes)
    params = []
    for layer, spec in enumerate(specs):
        patches = _sample_patches(
            x,
            specs,
            params,
            shapes,
            layer,
            n_patches=n_patches,
            rng=rng,
            xp=xp,
            dev=dev,
            dtype=dtype,
            batch_size=batch_size,
        )
        whitening = ()
        try:
            if layer == 0 and patch_whitening_reg is not None:
                whitening = (fit_patch_zca(patches, patch_whitening_reg, xp),)
                patches = _nonzero(apply_zca(patches, *whitening[0], xp), xp)
            patches = _unit_rows(_largest_norms(patches, patch_quantile, xp), xp)
            z, n_iter = _kmeans_within_distinct(
                patches, spec.n_filters, rng, xp, layer, on_too_few
            )
        except TooFewDistinctPatchesError as exc:
            exc.layer = layer
            raise
        if z.shape[0] < spec.n_filters:
            spec = specs[layer] = dataclasses.replace(spec, n_filters=z.shape[0])
            if layer + 1 < len(shapes):
                shapes[layer + 1] = dataclasses.replace(
                    shapes[layer + 1], in_channels=z.shape[0]
                )
        if log is not None:
            log(
                f"[CKN] layer {layer}: spherical k-means, {spec.n_filters} filters "
                f"from {patches.shape[0]} patches, {n_iter} iterations"
            )
        params.append(
            (z, lintrans(z, spec.kernel, spec.sigma, spec.eps, xp), *whitening)
        )
    return params, specs, shapes


def _kmeans_within_distinct(patches, n_filters, rng, xp, layer, on_too_few):
    """Spherical k-means for ``n_filters`` centroids, or, with
    ``on_too_few``, for as many as the patches hold distinct points."""
    if patches.shape[0] < 1:
        raise TooFewDistinctPatchesError(n_filters, 0)
    asked = n_filters
    while True:
        try:
            z, n_iter = spherical_kmeans(patches, n_filters, rng=rng, xp=xp)
            break
        except TooFewDistinctPatchesError as exc:
            if on_too_few is None or exc.n_distinct == 0:
                raise
            n_filters = exc.n_distinct
    if n_filters < asked:
        on_too_few(layer, asked, n_filters)
    return z, n_iter
