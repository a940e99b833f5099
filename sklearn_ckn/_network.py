"""The CKN layer stack: forward pass in memory-bounded batches and backward
pass (the unsupervised learning of the filters is in
:mod:`sklearn_ckn._unsupervised`).

Maps are channels-last, (n, *spatial, C), with one or two spatial axes. Filters
are held in the internal patch order of :mod:`sklearn_ckn._ops.patches`. This module
knows nothing of scikit-learn; the estimators call it.
"""

import math
from dataclasses import dataclass

from ._backend import (
    array_device,
    array_namespace,
    float_name,
    same_place,
    to_namespace,
)
from ._chunks import HOST_CHUNK, ChunkRunner
from ._layer import LayerSpec, layer_backward, layer_forward
from ._ops.head import decision
from ._ops.lintrans import lintrans_vjp
from ._ops.pooling import pooling_matrices
from ._ops.winograd import filter_transform, tiling, winograd_applies

#: memory allowed for one batch's intermediate arrays when batch_size is automatic
DEFAULT_BATCH_BYTES = 256 * 2**20

#: chunks per thread in a batch of transform on the host, batch_size automatic
HOST_BATCH_ROUNDS = 32
#: intermediates allowed per thread chunk of the forward pass (host_chunk)
CHUNK_BYTES = 14 * 2**20
#: fewest bytes wanted in a column of a Winograd tile group's GEMM rows
#: (host_chunk): 16 float32 or 8 float64 rows, one cache line and the row
#: block of an AVX2 GEMM kernel
MIN_WINOGRAD_COLUMN_BYTES = 64

__all__ = [
    "ChunkRunner",
    "DeviceLayer",
    "auto_batch_size",
    "backward",
    "backward_parts",
    "device_layers",
    "filter_gradients",
    "forward",
    "forward_with_caches",
    "head_scores",
    "take_rows",
    "transform_in_batches",
]


@dataclass
class DeviceLayer:
    """A layer's parameters on the compute device, with its pooling matrices.

    ``eig``, when set, is the eigendecomposition of K that M was computed
    from (:func:`sklearn_ckn._ops.lintrans.gram_eigh`), reused by the backward pass;
    ``winograd_filters``, when set, the filters' Winograd transform, reused by
    every batch of a forward pass; ``whitening``, when set, the (mean,
    matrix) that whiten a first layer's patches.
    """

    spec: LayerSpec
    z: object
    m: object
    pool_mats: list
    eig: tuple = None
    winograd_filters: object = None
    whitening: tuple = None


def device_layers(specs, params, shapes, xp, dev, dtype):
    """Move each layer's (z, M) to the compute device and build its pooling.

    A first layer whose patches are whitened has (z, M, (mean, matrix)).
    """
    layers = []
    for spec, (z, m, *whitening), shape in zip(specs, params, shapes):
        z = to_namespace(z, xp, dev, dtype)
        whitening = (
            tuple(to_namespace(a, xp, dev, dtype) for a in whitening[0])
            if whitening
            else None
        )
        winograd = None
        if whitening is None and winograd_applies(spec.patch_shape, shape.in_channels):
            winograd = filter_transform(z, shape.in_channels, xp, shape.conv)
        layers.append(
            DeviceLayer(
                spec,
                z,
                to_namespace(m, xp, dev, dtype),
                pooling_matrices(shape.conv, spec.subsampling, xp, dtype, dev),
                winograd_filters=winograd,
                whitening=whitening,
            )
        )
    return layers


def forward(h, layers, xp, caches=None):
    """Run ``h`` through prepared device layers; returns the last map.

    With a list ``caches``, each layer's intermediates for :func:`backward`
    are appended to it (the forward pass then keeps the patch matrices).
    """
    for layer in layers:
        cache = None if caches is None else {}
        h = layer_forward(
            h,
            layer.spec,
            layer.z,
            layer.m,
            xp,
            layer.pool_mats,
            cache,
            winograd_filters=layer.winograd_filters,
            whitening=layer.whitening,
        )
        if caches is not None:
            caches.append(cache)
    return h


def forward_chunk(runner, inputs, layers, xp, first=0):
    """:func:`forward` of one chunk's ``inputs``, zero-padded on the host to
    a full chunk of ``runner``, sample ``first`` (of the whole data) at place
    ``first % runner.chunk``.

    BLAS picks its kernel by the product's size (OpenBLAS computes small
    products with kernels that round differently), and some of OpenBLAS's
    kernels (Haswell's) round a row differently by its place in the product:
    a sample's features would depend on which samples share its chunk, hence
    on the batch size. Padded, every chunk's products have the same shapes,
    and a sample's rows are always the same rows of them.
    """
    n_rows = inputs.shape[0]
    if not runner.threaded or n_rows >= runner.chunk:
        return forward(inputs, layers, xp)
    lead = first % runner.chunk
    padded = xp.zeros(
        (runner.chunk, *inputs.shape[1:]),
        dtype=inputs.dtype,
        device=array_device(inputs),
    )
    padded[lead : lead + n_rows, ...] = inputs
    return forward(padded, layers, xp)[lead : lead + n_rows, ...]


def forward_in_chunks(runner, batch, layers, xp, first=0):
    """:func:`forward` of a whole batch whose first sample is sample
    ``first`` of the data, chunk by chunk (each padded as in
    :func:`forward_chunk`), concatenated."""
    parts = runner.map(
        lambda rows: forward_chunk(
            runner, batch[rows, ...], layers, xp, first + rows.start
        ),
        batch.shape[0],
        first,
    )
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def _bytes_per_sample(shapes, specs, itemsize):
    """A sample's largest intermediates in any layer, as the training path
    holds them: its padded input, the patch matrix (stacked, then reshaped),
    the responses and their pooled copies (the forward pass holds less)."""
    per_sample = 0
    for shape, spec in zip(shapes, specs):
        positions = math.prod(shape.conv)
        patch_len = math.prod(spec.patch_shape) * shape.in_channels
        per_sample = max(
            per_sample, positions * (2 * patch_len + 4 * spec.n_filters) * itemsize
        )
    return max(per_sample, 1)


def auto_batch_size(shapes, specs, itemsize, budget_bytes=DEFAULT_BATCH_BYTES):
    """Samples per batch so that one batch's largest intermediates fit the budget."""
    return max(1, budget_bytes // _bytes_per_sample(shapes, specs, itemsize))


def host_chunk(shapes, specs, itemsize):
    """Samples per thread chunk of the forward pass on the host.

    Chunks whose intermediates stay near the caches run faster in two
    threads (on two cores, float32, 32x32x3 images ran fastest in chunks of
    6, and 10 % slower in chunks of 16: docs/benchmarks.md), which the
    ``CHUNK_BYTES`` budget gives; but a Winograd layer's smallest tile group
    (one F(2x2) tile per image at the corner of a 14x14 map) makes one GEMM
    per transformed position with as many rows as the chunk has tiles in
    that group, and GEMMs whose columns hold fewer than
    ``MIN_WINOGRAD_COLUMN_BYTES`` run far from BLAS's peak (28x28x1 images:
    chunks of 16 were 5-6 % faster than the budget's 8 in float32, chunks
    of 8 7 % faster than 16 and 4 in float64). Never more than ``HOST_CHUNK``.
    """
    fit = CHUNK_BYTES // _bytes_per_sample(shapes, specs, itemsize)
    min_rows = MIN_WINOGRAD_COLUMN_BYTES // itemsize
    for shape, spec in zip(shapes, specs):
        if winograd_applies(spec.patch_shape, shape.in_channels):
            fewest = min(nr * nc for *_, nr, nc in tiling(tuple(shape.conv)))
            fit = max(fit, -(-min_rows // fewest))
    return int(min(max(fit, 1), HOST_CHUNK))


def take_rows(x, indices):
    """Rows ``indices`` (host integers) of ``x``, in ``x``'s own namespace."""
    xp = array_namespace(x)
    return xp.take(x, xp.asarray(indices, device=array_device(x)), axis=0)


def transform_in_batches(
    x,
    specs,
    params,
    shapes,
    *,
    xp,
    dev,
    dtype,
    batch_size,
    out_xp,
    out_dev,
    progress=None,
):
    """Flattened features of every sample, computed ``batch_size`` samples at a time.

    Parameters
    ----------
    x : array of shape (n, *spatial, C)
        Input maps in any supported namespace; each batch is moved to the
        compute device on its own, so device memory stays bounded.
    specs, params, shapes : lists
        Layer specs, (z, m) pairs and the shapes from :func:`layer_shapes`.
    xp, dev, dtype : compute namespace, device and float dtype.
    batch_size : int or None
        None picks it from a memory budget (:func:`auto_batch_size`), or on
        the host, where the threads' chunks bound the intermediates,
        ``HOST_BATCH_ROUNDS`` chunks per thread.
    out_xp, out_dev : namespace and device of the returned array.
    progress : callable or None, default=None
        Called with the number of samples of each batch once it is done.

    Returns
    -------
    array of shape (n, p_L * prod(spatial_L))
        Features in (filter, *position) order: the last map, channel-first,
        flattened in C order.
    """
    n = x.shape[0]
    n_out = specs[-1].n_filters * math.prod(shapes[-1].output)
    itemsize = xp.finfo(dtype).bits // 8
    out_dtype = getattr(out_xp, float_name(dtype))
    out = out_xp.empty((n, n_out), dtype=out_dtype, device=out_dev)
    nd = len(shapes[0].input)
    channel_first = (0, nd + 1, *range(1, nd + 1))
    # when the output lives where the features are computed, each chunk
    # writes its rows itself (in its thread): no concatenation, no extra copy
    direct = same_place(xp, dev, out_xp, out_dev)

    def features(layers, batch, start, rows):
        feats = forward_chunk(runner, batch[rows, ...], layers, xp, start + rows.start)
        flat = xp.reshape(
            xp.permute_dims(feats, channel_first), (feats.shape[0], n_out)
        )
        if not direct:
            return flat
        first = start + rows.start
        out[first : first + flat.shape[0], :] = flat
        return None

    with ChunkRunner(xp, host_chunk(shapes, specs, itemsize)) as runner:
        if batch_size is None and runner.threaded:
            # the chunks bound the intermediates: a batch only converts its
            # input and reports progress, and whole rounds of chunks give the
            # threads equal shares (the budget's 150 + 106 for 256 28x28
            # images made two maps, each ending on one thread)
            batch_size = runner.n_threads * runner.chunk * HOST_BATCH_ROUNDS
        elif batch_size is None:
            batch_size = auto_batch_size(shapes, specs, itemsize)
        # inside the runner: BLAS is single-threaded on the host here, for the
        # filters' Winograd transforms as for the chunks
        layers = device_layers(specs, params, shapes, xp, dev, dtype)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            batch = to_namespace(x[start:stop, ...], xp, dev, dtype)
            parts = runner.map(
                lambda rows: features(layers, batch, start, rows),  # noqa: B023
                stop - start,
                start,
            )
            if not direct:
                feats = xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]
                out[start:stop, :] = to_namespace(feats, out_xp, out_dev)
            if progress is not None:
                progress(stop - start)
    return out


def forward_with_caches(h, layers, xp):
    """Forward pass that keeps each layer's intermediates for :func:`backward`.

    Returns
    -------
    out : array
        The last map.
    caches : list of dict
        One per layer.
    """
    caches = []
    return forward(h, layers, xp, caches), caches


def backward_parts(g_out, layers, caches, xp, input_grad=False):
    """Gradients of every layer's filters through its responses, and of its M.

    Both are sums over the samples, so the parts of several chunks of a batch
    add up to those of the whole batch; :func:`filter_gradients` then carries
    each M's gradient back to its filters once.

    Returns
    -------
    g_z : list of arrays of shape (p, d)
        Gradient with respect to the filters through the responses only.
    g_m : list of arrays of shape (p, p)
        Gradient with respect to each layer's M.
    g_in : array or None
        Gradient with respect to the input maps when ``input_grad``.
    """
    g_z, g_m = [None] * len(layers), [None] * len(layers)
    g = g_out
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        g, g_z[index], g_m[index] = layer_backward(
            g,
            caches[index],
            layer.spec,
            layer.z,
            layer.m,
            xp,
            layer.pool_mats,
            input_grad=input_grad or index > 0,
        )
    return g_z, g_m, g


def filter_gradients(layers, g_z, g_m, xp):
    """Euclidean filter gradients: the response path plus the path through M.

    Each layer's M depends on its filters; the gradient reaching M is carried
    back to them by :func:`sklearn_ckn._ops.lintrans.lintrans_vjp`.
    """
    return [
        gz
        + lintrans_vjp(
            layer.z,
            gm,
            layer.spec.kernel,
            layer.spec.sigma,
            layer.spec.eps,
            xp,
            eig=layer.eig,
        )
        for layer, gz, gm in zip(layers, g_z, g_m)
    ]


def backward(g_out, layers, caches, xp, input_grad=False):
    """Gradients of the filters of every layer, given the gradient of the last map.

    Returns
    -------
    g_filters : list of arrays of shape (p, d)
        Euclidean gradients, one per layer (no projection on the sphere).
    g_in : array or None
        Gradient with respect to the input maps when ``input_grad``.
    """
    g_z, g_m, g_in = backward_parts(g_out, layers, caches, xp, input_grad)
    return filter_gradients(layers, g_z, g_m, xp), g_in


def head_scores(
    x,
    specs,
    params,
    shapes,
    coef,
    intercept,
    mean,
    scale,
    *,
    xp,
    dev,
    dtype,
    chunk=1024,
):
    """Head outputs f = ((phi - mean) / scale) W^T + b for every sample of ``x``.

    The features phi are computed ``chunk`` samples at a time so that the
    full feature matrix is never held; ``params`` are the (z, M) pairs of the
    layers, computed once by the caller.

    Returns
    -------
    array of shape (n_samples, n_outputs)
        In the compute namespace ``xp``, on ``dev``.
    """
    parts = []
    for start in range(0, x.shape[0], chunk):
        phi = transform_in_batches(
            x[start : min(start + chunk, x.shape[0]), ...],
            specs,
            params,
            shapes,
            xp=xp,
            dev=dev,
            dtype=dtype,
            batch_size=None,
            out_xp=xp,
            out_dev=dev,
        )
        parts.append(decision((phi - mean) / scale, coef, intercept, xp))
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]
