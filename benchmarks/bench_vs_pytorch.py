"""sklearn-ckn against a PyTorch yardstick on the CPU: feature extraction and a
supervised training step, side by side in one run.

For each case (28x28x1 and 32x32x3 images, subsampling (2, 2) and (2, 6),
2 layers of 3x3 patches with 64 then 256 filters, sigma 0.6), the script

1. checks that the yardstick (``_torch_ckn.py``) gives our numbers: features
   within 1e-10 and, for the training step, the objective and every gradient
   within 1e-8 relative error in float64; in float32, both within twice each
   side's own rounding (its distance to float64 arithmetic at the same
   parameters), which is about 1e-4 for features and 1e-3 for gradients;
2. times ``transform`` of a batch of 256 images, ours against the yardstick
   in its fastest sub-batch size (tried: 16 to 256 images), the two
   alternating so that they see the same machine;
3. times each stage of our forward pass (patches and filter products with
   kappa, pooling, M; per layer), for the profile;
4. times one training step (forward, backward, Adam update with the filters
   kept on the sphere) on a batch of 256;
5. reports our forward pass's floating-point rate as a fraction of this
   machine's float32 GEMM peak (numpy matmul of two 4096 x 4096 matrices).

Rates are medians over ``--repeats`` alternating runs, each after a pause
of 0.3 s so that the other contender's spinning worker threads are idle.
Nothing here runs in CI. Needs PyTorch (CPU build: ``pip install torch==2.13.0``).

Run: ``python benchmarks/bench_vs_pytorch.py [--threads 2] [--repeats 7]
[--append docs/benchmarks_history.md]``.
"""

import argparse
import copy
import math
import statistics
import time
import warnings

import numpy as np
import torch
from _report import report
from _torch_ckn import TorchCKN, TorchTrainer
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
from sklearn_ckn._backend import to_numpy
from sklearn_ckn._layer import responses
from sklearn_ckn._network import host_chunk
from sklearn_ckn._ops.pooling import pool, pooling_matrices
from sklearn_ckn._ops.winograd import filter_transform, product_count, winograd_applies

NETWORK = dict(n_filters=(64, 256), patch_size=3, sigma=0.6, channel_axis=-1)
CASES = [
    ((28, 28, 1), (2, 2)),
    ((28, 28, 1), (2, 6)),
    ((32, 32, 3), (2, 2)),
    ((32, 32, 3), (2, 6)),
]
BATCH = 256
TORCH_CHUNKS = (16, 32, 64, 128, 256)


def frobenius_relative_error(ours, reference):
    """||ours - reference|| / ||reference|| (Frobenius norms)."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


def nchw(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: pause before each timed run: OpenBLAS and OpenMP worker threads keep
#: spinning for a while after a call, which would slow the next contender
SETTLE_SECONDS = 0.3


def alternate(functions, repeats):
    """Median seconds of each function, the functions run in turn ``repeats`` times."""
    for fn in functions:
        fn()  # warm-up: allocations, thread pools
    times = [[] for _ in functions]
    for _ in range(repeats):
        for fn, record in zip(functions, times):
            time.sleep(SETTLE_SECONDS)
            record.append(seconds(fn))
    return [statistics.median(t) for t in times]


def gemm_peak(repeats):
    """float32 GEMM rate of this machine (flop/s): numpy matmul, 4096 x 4096."""
    a = np.random.default_rng(0).random((4096, 4096), dtype=np.float32)
    (median,) = alternate([lambda: a @ a], repeats)
    return 2 * 4096**3 / median


def forward_flops(extractor, subsampling, n_images):
    """Multiply-adds x 2 that the matrix products of our forward pass perform.

    The filter products of a layer served by Winograd take
    (mh + 2)(mw + 2) multiply-adds per mh x mw output tile, input channel and
    filter (not 9 mh mw; ``product_count`` sums them over the map's tiles);
    the others 9 C per position and filter; then M at the kept positions.
    """
    flops = 0
    spatial = extractor.image_shape_[:2]
    for w, s in zip(extractor.filters_, subsampling):
        p, c, *patch = w.shape
        pooled = [(n - 1) // s + 1 for n in spatial]
        if winograd_applies(patch, c):
            flops += 2 * product_count(spatial) * c * p
        else:
            flops += 2 * math.prod(spatial) * p * c * math.prod(patch)
        flops += 2 * math.prod(pooled) * p * p
        spatial = pooled
    return n_images * flops


def fit_case(image_shape, subsampling, dtype, rng):
    images = rng.random((BATCH, *image_shape)).astype(dtype)
    extractor = CKNFeatureExtractor(
        **NETWORK, subsampling=subsampling, random_state=0
    ).fit(images)
    return images, extractor


def yardstick(extractor, subsampling, dtype):
    return TorchCKN(
        [np.asarray(w) for w in extractor.filters_],
        [NETWORK["sigma"]] * 2,
        list(subsampling),
        extractor.eps,
        dtype,
    )


def fastest_chunk(net, x):
    """The yardstick's fastest sub-batch size for ``x`` (best of two runs each)."""
    times = {
        c: min(seconds(lambda c=c: net.transform(x, c)) for _ in range(2))
        for c in TORCH_CHUNKS
    }
    return min(times, key=times.get)


def transform_row(image_shape, subsampling, dtype, rng, repeats, peak):
    images, extractor = fit_case(image_shape, subsampling, dtype, rng)
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    net = yardstick(extractor, subsampling, torch_dtype)
    x = nchw(images)
    ours, theirs = extractor.transform(images), net.transform(x, BATCH)
    err = frobenius_relative_error(ours, theirs)
    if dtype == np.float64:
        assert err <= 1e-10, f"yardstick differs from ours: {err:.1e}"
    else:
        # float32 rounding, amplified by M (up to 1 / eps), moves both away
        # from the exact features: the two must agree to that level
        exact_images = images.astype(np.float64)
        exact = yardstick(extractor, subsampling, torch.float64).transform(
            nchw(exact_images), BATCH
        )
        rounding = max(
            frobenius_relative_error(ours, exact),
            frobenius_relative_error(theirs, exact),
        )
        assert err <= 2 * rounding, f"yardstick differs: {err:.1e}, {rounding:.1e}"
        err = f"{err:.1e} (rounding {rounding:.1e})"
    chunk = fastest_chunk(net, x)
    t_ours, t_torch = alternate(
        [lambda: extractor.transform(images), lambda: net.transform(x, chunk)],
        repeats,
    )
    row = [
        f"{image_shape[0]}x{image_shape[1]}x{image_shape[2]}",
        str(subsampling),
        np.dtype(dtype).name,
        f"{BATCH / t_ours:.0f}",
        f"{BATCH / t_torch:.0f} (chunks of {chunk})",
        f"{t_torch / t_ours:.2f}",
        err if isinstance(err, str) else f"{err:.1e}",
    ]
    if dtype == np.float32:
        rate = forward_flops(extractor, subsampling, BATCH) / t_ours
        row.append(f"{rate / peak:.0%}")
    else:
        row.append("-")
    return row


#: calls of a stage timed back to back: inside transform each stage runs
#: chunk after chunk, with warm caches and a warm allocator, which one call
#: after a pause does not see
STAGE_CALLS = 8


def back_to_back(fn):
    """``fn`` called ``STAGE_CALLS`` times in a row."""

    def calls():
        for _ in range(STAGE_CALLS):
            fn()

    return calls


def forward_breakdown(image_shape, subsampling, rng, repeats, n_threads):
    """Median time of each stage of our forward pass, float32, as transform runs it.

    transform runs chunks of ``host_chunk`` images on ``n_threads`` threads
    with single-threaded BLAS; each stage is timed on one chunk, on one
    thread, then scaled to the batch and divided by the threads.
    """
    images, extractor = fit_case(image_shape, subsampling, np.float32, rng)
    maps, xp, dev, dtype = extractor._inference_setup(images, "transform")
    params = extractor._network_params(xp, dev, dtype)
    chunk = host_chunk(extractor._shapes, extractor._specs, 4)
    scale = BATCH / chunk / n_threads
    stages, h = [], maps[:chunk]
    with threadpool_limits(1, user_api="blas"):
        for index, (spec, shape, (z, m)) in enumerate(
            zip(extractor._specs, extractor._shapes, params), start=1
        ):
            mats = pooling_matrices(shape.conv, spec.subsampling, xp, dtype, dev)
            # computed once per transform, as transform does
            wino = None
            if winograd_applies(spec.patch_shape, shape.in_channels):
                wino = filter_transform(z, shape.in_channels, xp, shape.conv)
            a = responses(h, spec, z, xp, winograd_filters=wino)
            pooled = pool(a, spec.subsampling, xp, mats)
            flat = xp.reshape(pooled, (-1, pooled.shape[-1]))
            times = alternate(
                [
                    back_to_back(
                        lambda h=h, spec=spec, z=z, wino=wino: responses(
                            h, spec, z, xp, winograd_filters=wino
                        )
                    ),
                    back_to_back(
                        lambda a=a, spec=spec, mats=mats: pool(
                            a, spec.subsampling, xp, mats
                        )
                    ),
                    back_to_back(lambda flat=flat, m=m: flat @ m),
                ],
                repeats,
            )
            times = [t / STAGE_CALLS for t in times]
            names = [
                "patches or Winograd transforms, products with the filters, kappa",
                "pooling",
                "M",
            ]
            stages += [
                (f"layer {index}: {name}", t * scale) for name, t in zip(names, times)
            ]
            h = xp.reshape(flat @ m, pooled.shape)
    (total,) = alternate([lambda: extractor.transform(images)], repeats)
    label = f"{image_shape[0]}x{image_shape[1]}x{image_shape[2]}, {subsampling}"
    rows = [[label, name, f"{t * 1e3:.1f}", f"{t / total:.0%}"] for name, t in stages]
    rows.append([label, "transform (all of it)", f"{total * 1e3:.1f}", "100%"])
    return rows


def supervised_pair(images, y, subsampling, filters, torch_dtype):
    """Our trainer and the yardstick's at the same parameters, after the
    classifier's initialization (and one step) on ``images``."""
    clf = CKNClassifier(
        **NETWORK,
        subsampling=subsampling,
        filters=filters,
        loss="log_loss",
        batch_size=BATCH,
        max_iter=1,
        shuffle=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(images, y)
    trainer = clf._trainer
    maps = clf._validate_images(images, reset=False)[0]
    targets = clf._targets(np.searchsorted(clf.classes_, y), 10, trainer)
    torch_trainer = TorchTrainer(
        yardstick(clf, subsampling, torch_dtype),
        *(to_numpy(a) for a in (trainer.coef, trainer.intercept)),
        *(to_numpy(a) for a in (trainer.mean, trainer.scale)),
        clf.alpha,
        clf.learning_rate_init,
    )
    return trainer, maps, targets, torch_trainer


def torch_step_values(torch_trainer, x, labels):
    """The yardstick's objective and gradients, as NumPy arrays in our layout."""
    value, grads = torch_trainer.gradients(x, labels)
    arrays = []
    for g in grads:
        if g.ndim == 4:  # (p, C, k, k) -> internal (p, k * k * C) order
            g = g.permute(0, 2, 3, 1).reshape(g.shape[0], -1)
        arrays.append(g.detach().numpy())
    return value.item(), arrays


def exact_step_values(trainer, maps, targets):
    """Our objective and gradients in float64 at a float32 trainer's parameters.

    The reference for float32 rounding: the filters, head and standardization
    are the float32 ones, only the arithmetic is exact(er).
    """

    def widen(a):
        return None if a is None else np.asarray(to_numpy(a), dtype=np.float64)

    exact = copy.deepcopy(trainer)
    exact.dtype = np.float64
    exact.filters = [widen(z) for z in trainer.filters]
    exact.coef, exact.intercept, exact.mean, exact.scale = (
        widen(a) for a in (trainer.coef, trainer.intercept, trainer.mean, trainer.scale)
    )
    exact.pool_mats = [[widen(m) for m in mats] for mats in trainer.pool_mats]
    return exact.objective_and_gradients(widen(maps), widen(targets))


def largest_difference(values, reference):
    """Largest relative difference of the objective and of every gradient."""
    (value, grads), (ref_value, ref_grads) = values, reference
    errors = [abs(value - ref_value) / abs(ref_value)]
    for g, ref in zip(grads, ref_grads):
        errors.append(frobenius_relative_error(to_numpy(g), to_numpy(ref)))
    return max(errors)


def training_row(image_shape, subsampling, rng, repeats):
    images, extractor = fit_case(image_shape, subsampling, np.float32, rng)
    y = rng.integers(0, 10, BATCH)
    labels = torch.from_numpy(y)
    # the same mathematics: objective and gradients agree in float64
    exact_images = images.astype(np.float64)
    trainer, maps, targets, torch_trainer = supervised_pair(
        exact_images, y, subsampling, extractor.filters_, torch.float64
    )
    err = largest_difference(
        trainer.objective_and_gradients(maps, targets),
        torch_step_values(torch_trainer, nchw(exact_images), labels),
    )
    assert err <= 1e-8, f"training step differs from ours: {err:.1e}"
    # timed in float32
    trainer, maps, targets, torch_trainer = supervised_pair(
        images, y, subsampling, extractor.filters_, torch.float32
    )
    x = nchw(images)
    ours = trainer.objective_and_gradients(maps, targets)
    theirs = torch_step_values(torch_trainer, x, labels)
    exact = exact_step_values(trainer, maps, targets)
    err32 = largest_difference(ours, theirs)
    rounding = (largest_difference(ours, exact), largest_difference(theirs, exact))
    # float32 cannot do better than its own rounding: the two sides must not
    # differ by more than twice the larger one's distance to exact arithmetic
    assert err32 <= 2 * max(rounding), f"float32 step: {err32:.1e} vs {rounding}"
    step_rng = np.random.default_rng(0)
    t_ours, t_torch = alternate(
        [
            lambda: trainer.train_epoch(maps, targets, step_rng),
            lambda: torch_trainer.step(x, labels),
        ],
        repeats,
    )
    return [
        f"{image_shape[0]}x{image_shape[1]}x{image_shape[2]}",
        str(subsampling),
        f"{t_ours * 1e3:.0f}",
        f"{t_torch * 1e3:.0f}",
        f"{t_ours / t_torch:.2f}",
        f"{err:.1e}",
        f"{err32:.1e} (rounding {rounding[0]:.1e}, {rounding[1]:.1e})",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--append", help="Markdown file to append the tables to")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with threadpool_limits(args.threads):
        peak = gemm_peak(args.repeats)
        transform_rows, training_rows = [], []
        for dtype in (np.float32, np.float64):
            for shape, sub in CASES:
                row = transform_row(shape, sub, dtype, rng, args.repeats, peak)
                print(" | ".join(row), flush=True)
                transform_rows.append(row)
        breakdown_rows = [
            row
            for shape, sub in CASES
            if sub == (2, 2)
            for row in forward_breakdown(shape, sub, rng, args.repeats, args.threads)
        ]
        for shape, sub in CASES:
            row = training_row(shape, sub, rng, args.repeats)
            print(" | ".join(row), flush=True)
            training_rows.append(row)
    common = (
        f"{args.threads} threads (BLAS and torch), PyTorch {torch.__version__}; "
        f"batch {BATCH}; medians of {args.repeats} alternating runs, 0.3 s "
        "apart; random images in [0, 1]; network (64, 256) filters, 3x3, sigma 0.6."
    )
    report(
        "Feature extraction: sklearn-ckn against the PyTorch yardstick",
        [
            "images",
            "subsampling",
            "dtype",
            "ours (img/s)",
            "PyTorch (img/s)",
            "ratio",
            "difference",
            "GEMM peak fraction",
        ],
        transform_rows,
        notes=[
            common,
            "Difference: ||ours - PyTorch|| / ||PyTorch|| (Frobenius) for the "
            "batch's features, checked <= 1e-10 in float64; in float32 both "
            "implementations sit about 1e-4 from the exact (float64) features "
            "of the same float32 filters, because M amplifies rounding by up to "
            "1 / eps, and their difference is checked to be at most twice that "
            "rounding error (in brackets).",
            f"Ratio = our rate / PyTorch's. GEMM peak: {peak / 1e9:.0f} GFLOP/s "
            "(float32 numpy matmul 4096 x 4096); the fraction counts the "
            "multiply-adds that the filter and M products of our forward pass "
            "perform (Winograd on layer 2: 36 per 4x4 block of outputs, "
            "channel and filter instead of 144, and 24 or 16 per 4x2 or 2x2 "
            "block at the border of a 14x14 map: 484 per channel and filter "
            "on 14x14 maps instead of 1764, 576 on 16x16 instead of 2304).",
        ],
        append_to=args.append,
    )
    report(
        "Our forward pass, stage by stage (float32)",
        ["images, subsampling", "stage", "ms per batch", "share of transform"],
        breakdown_rows,
        notes=[
            common,
            "Each stage timed alone on its real input, one chunk of images "
            "(6 of 32x32x3, 16 of 28x28x1: host_chunk) on one thread (BLAS "
            "single-threaded, as transform runs it), with the filters' Winograd "
            f"transform computed beforehand as transform does, {STAGE_CALLS} "
            "calls back to back (warm caches, as chunk after chunk in transform), "
            f"scaled to the batch and divided by the {args.threads} threads; "
            "transform also validates, converts and copies, and its threads "
            "share memory bandwidth, so the shares need not add up to 100 %.",
        ],
        append_to=args.append,
    )
    report(
        "Training step: sklearn-ckn against the PyTorch yardstick (float32)",
        [
            "images",
            "subsampling",
            "ours (ms)",
            "PyTorch (ms)",
            "ours / PyTorch",
            "difference, float64",
            "difference, float32",
        ],
        training_rows,
        notes=[
            common,
            "A step: forward, backward (ours by hand, PyTorch by autograd), "
            "Adam update, filters projected on the sphere's tangent space and "
            "renormalized. The difference columns give the largest relative "
            "difference (Frobenius) of the objective and of each gradient, ours "
            "against PyTorch's autograd, at the same parameters (checked <= 1e-8 "
            "in float64). In float32, in brackets: each side's own rounding, its "
            "largest relative difference to our float64 objective and gradients "
            "at the same float32 parameters (ours, then PyTorch's); the float32 "
            "difference is checked to be at most twice the larger.",
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
