"""GPU check: the compute core on CuPy against NumPy, and GPU throughput.

Run on a machine with CuPy and a GPU (nothing here runs in CI)::

    python -m pytest -q tests/test_core.py tests/test_parity.py  # now on CuPy too
    python benchmarks/gpu_check.py [--append docs/benchmarks_history.md]

It checks, on random data with fixed seeds:

1. ``CKNFeatureExtractor.transform`` with ``device='cuda'`` against
   ``device='cpu'`` for the same filters, float64 and float32, from NumPy
   input and from CuPy input under ``array_api_dispatch`` (which must come
   back as CuPy);
2. the supervised objective and the gradients of every parameter of a
   two-layer network, computed on CuPy and on NumPy (float64);
3. throughput in images per second of ``transform`` and of a training step
   (forward, backward, update) on 28x28 images, GPU against this machine's
   CPU cores, float32, next to the PyTorch yardstick (``_torch_ckn.py``) on
   the same GPU with the same filters and head, when PyTorch with CUDA is
   installed (TF32 switched off, so that both sides compute in float32).
"""

import argparse
import os
import time

# scikit-learn's array API dispatch needs this before SciPy is imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
from _report import report  # noqa: E402
from sklearn import config_context  # noqa: E402

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor  # noqa: E402
from sklearn_ckn._backend import cupy_available, to_numpy  # noqa: E402

NETWORK = dict(n_filters=(64, 256), patch_size=3, subsampling=(2, 2), sigma=0.6)


def relative_error(ours, reference):
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


def check_transform(cp, rng):
    rows = []
    images = rng.random((64, 20, 20))
    reference = CKNFeatureExtractor(
        n_filters=(8, 16), subsampling=(2, 3), device="cpu", random_state=0
    ).fit(images)
    for dtype, bound in [(np.float64, 1e-10), (np.float32, 1e-4)]:
        x = images.astype(dtype)
        cpu = reference.transform(x)
        params = dict(n_filters=(8, 16), subsampling=(2, 3), filters=reference.filters_)
        from_host = CKNFeatureExtractor(**params, device="cuda").fit(x).transform(x)
        with config_context(array_api_dispatch=True):
            # under dispatch, CuPy input is computed on and returned as CuPy
            x_device = cp.asarray(x)
            on_device = CKNFeatureExtractor(**params).fit(x_device)
            from_device = on_device.transform(x_device)
        assert isinstance(from_host, np.ndarray), type(from_host)
        assert isinstance(from_device, cp.ndarray), type(from_device)
        assert to_numpy(from_device).dtype == dtype
        err = max(
            relative_error(from_host, cpu),
            relative_error(to_numpy(from_device), cpu),
        )
        rows.append(["transform, cuda vs cpu", np.dtype(dtype).name, f"{err:.1e}"])
        assert err <= bound, (dtype, err)
    return rows


def check_gradients(rng):
    images = rng.random((48, 16, 16))
    y = rng.integers(0, 3, 48)
    common = dict(n_filters=(6, 10), subsampling=(2, 3), max_iter=1, random_state=0)
    cpu = CKNClassifier(**common, device="cpu").fit(images, y)
    trainer_cpu = cpu._trainer
    gpu = CKNClassifier(**common, filters=cpu.filters_, device="cuda").fit(images, y)
    trainer_gpu = gpu._trainer
    # the same parameters on both sides, then one objective and its gradients
    trainer_gpu._set_parameters(
        [trainer_gpu.xp.asarray(p) for p in trainer_cpu.parameters()]
    )
    trainer_gpu.mean = trainer_gpu.xp.asarray(trainer_cpu.mean)
    trainer_gpu.scale = trainer_gpu.xp.asarray(trainer_cpu.scale)
    maps = cpu._validate_images(images, reset=False)[0]
    targets = cpu._targets(np.searchsorted(cpu.classes_, y), 3, trainer_cpu)
    value_cpu, grads_cpu = trainer_cpu.objective_and_gradients(maps, targets)
    value_gpu, grads_gpu = trainer_gpu.objective_and_gradients(
        trainer_gpu.xp.asarray(maps), trainer_gpu.xp.asarray(targets)
    )
    names = ["filters 1", "filters 2", "coef", "intercept"]
    rows = [["objective, cuda vs cpu", "float64", f"{abs(value_gpu - value_cpu):.1e}"]]
    assert abs(value_gpu - value_cpu) <= 1e-10 * abs(value_cpu)
    for name, g_gpu, g_cpu in zip(names, grads_gpu, grads_cpu):
        err = relative_error(to_numpy(g_gpu), g_cpu)
        rows.append([f"gradient of {name}, cuda vs cpu", "float64", f"{err:.1e}"])
        assert err <= 1e-8, (name, err)
    return rows


def throughput(device, images, y):
    """Images per second of transform and of a training step; and the models."""
    n_images = len(images)
    extractor = CKNFeatureExtractor(**NETWORK, device=device, random_state=0)
    extractor.fit(images[:512])
    extractor.transform(images[:256])  # warm-up (kernels, plans)
    start = time.perf_counter()
    extractor.transform(images)
    transform_rate = n_images / (time.perf_counter() - start)
    clf = CKNClassifier(
        **NETWORK,
        filters=extractor.filters_,
        device=device,
        batch_size=256,
        max_iter=1,
        random_state=0,
    ).fit(images[:512], y[:512])
    trainer = clf._trainer
    maps = clf._validate_images(images, reset=False)[0]
    targets = clf._targets(np.searchsorted(clf.classes_, y), 10, trainer)
    batch_rng = np.random.default_rng(0)
    trainer.train_epoch(maps[:512], targets[:512], batch_rng)  # warm-up
    start = time.perf_counter()
    trainer.train_epoch(maps, targets, batch_rng)
    _synchronize(trainer.xp)
    step_rate = n_images / (time.perf_counter() - start)
    return (transform_rate, step_rate), (extractor, trainer)


def torch_throughput(extractor, trainer, images, y):
    """The yardstick on CUDA: its fastest transform sub-batch and its training step.

    Returns the two rates and the largest relative difference between its
    features and ours on 256 images.
    """
    import torch
    from _torch_ckn import TorchCKN, TorchTrainer

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    net = TorchCKN(
        [np.asarray(w) for w in extractor.filters_],
        [NETWORK["sigma"]] * 2,
        list(NETWORK["subsampling"]),
        extractor.eps,
        torch.float32,
        "cuda",
    )
    x = torch.tensor(images[:, None], device="cuda")
    agreement = relative_error(
        net.transform(x[:256], 256).cpu().numpy(), extractor.transform(images[:256])
    )

    def timed(fn):
        fn()  # warm-up (cuDNN plans)
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    transform_rate = max(
        len(images) / timed(lambda c=c: net.transform(x, c)) for c in (256, 1024, 4096)
    )
    torch_trainer = TorchTrainer(
        net,
        *(to_numpy(a) for a in (trainer.coef, trainer.intercept)),
        *(to_numpy(a) for a in (trainer.mean, trainer.scale)),
        trainer.config.alpha,
        trainer.config.learning_rate_init,
    )
    labels = torch.tensor(y, device="cuda")

    def epoch():
        for i in range(0, len(images), 256):
            torch_trainer.step(x[i : i + 256], labels[i : i + 256])

    step_rate = len(images) / timed(epoch)
    return (transform_rate, step_rate), agreement


def _synchronize(xp):
    if "cupy" in xp.__name__:
        import cupy

        cupy.cuda.Device().synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", help="Markdown file to append the tables to")
    parser.add_argument("--n-images", type=int, default=4096)
    args = parser.parse_args()
    if not cupy_available():
        raise SystemExit("CuPy with a GPU is required for this check.")
    import cupy as cp

    rng = np.random.default_rng(0)
    device_name = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows = check_transform(cp, rng) + check_gradients(rng)
    report(
        f"GPU check: CuPy ({device_name}) against NumPy",
        ["quantity", "dtype", "max relative error"],
        rows,
        notes=[
            "Every row passed its bound (1e-10 float64, 1e-4 float32, 1e-8 gradients)."
        ],
        append_to=args.append,
    )
    images = rng.random((args.n_images, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, args.n_images)
    rates = {}
    rates["sklearn-ckn, cuda"], (extractor, trainer) = throughput("cuda", images, y)
    notes = []
    try:
        import torch

        has_torch_cuda = torch.cuda.is_available()
    except ImportError:
        has_torch_cuda = False
    if has_torch_cuda:
        rates["PyTorch yardstick, cuda"], agreement = torch_throughput(
            extractor, trainer, images, y
        )
        notes.append(
            "PyTorch: fastest transform sub-batch of 256, 1024, 4096; its features "
            f"differ from ours by {agreement:.1e} (max relative); TF32 off."
        )
    rates["sklearn-ckn, cpu"], _ = throughput("cpu", images, y)
    report(
        "GPU throughput, 28x28x1, float32",
        ["implementation, device", "transform (img/s)", "training step (img/s)"],
        [[name, f"{t:.0f}", f"{s:.0f}"] for name, (t, s) in rates.items()],
        notes=[
            f"Network {NETWORK}; {args.n_images} images; training step = "
            "forward + backward + Adam update, batch 256. cuda: "
            f"{device_name}; cpu: the same machine's cores.",
            *notes,
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
