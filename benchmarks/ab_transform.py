"""Paired A/B timing of ``transform`` for two checkouts of the package.

Each side runs in its own process (``PYTHONPATH`` set to its checkout), fits
the same network on the same random images, and answers timing requests; the
driver asks A, then B, ``--pairs`` times, each answer the fastest of three
transforms of the same batch, 0.2 s apart. The ratio new / base is taken pair
by pair, so that the machine's drifting speed (10-20 % over minutes on a
shared two-core machine) cancels; the median ratio is the figure to quote.
The two sides' features are compared too (their filters can differ by
rounding when the change alters the forward pass that fitting uses).

Run: ``python benchmarks/ab_transform.py BASE_DIR NEW_DIR [--shape 28x28x1]
[--subsampling 2,2] [--dtype float32] [--pairs 9] [--threads 2]``, where
each directory holds a ``sklearn_ckn`` package (``git worktree add`` or a
copy of the folder). It appends nothing: the figures go into the commit
message or the benchmark notes by hand.
"""

import argparse
import os
import statistics
import subprocess
import sys

WORKER = r"""
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
import sklearn_ckn
from sklearn_ckn import CKNFeatureExtractor

shape, subsampling, dtype, threads = sys.argv[1:5]
shape = tuple(int(v) for v in shape.split("x"))
rng = np.random.default_rng(0)
images = rng.random((256, *shape)).astype(dtype)
extractor = CKNFeatureExtractor(
    n_filters=(64, 256), patch_size=3, sigma=0.6, channel_axis=-1,
    subsampling=tuple(int(v) for v in subsampling.split(",")), random_state=0,
).fit(images[:200])
with threadpool_limits(int(threads)):
    extractor.transform(images)
    print("ready", sklearn_ckn.__file__, flush=True)
    for line in sys.stdin:
        if line.strip() == "features":
            features = extractor.transform(images).astype(np.float64)
            print(float(np.linalg.norm(features)), flush=True)
            continue
        times = []
        for _ in range(3):
            time.sleep(0.2)
            start = time.perf_counter()
            extractor.transform(images)
            times.append(time.perf_counter() - start)
        print(min(times), flush=True)
"""


def start(checkout, args):
    """A worker process on ``checkout``, once it has fitted and warmed up."""
    checkout = os.path.abspath(checkout)
    env = dict(os.environ, PYTHONPATH=checkout)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            args.shape,
            args.subsampling,
            args.dtype,
            str(args.threads),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=checkout,  # python -c puts the working directory first on the path
    )
    status, _, package = worker.stdout.readline().strip().partition(" ")
    if status != "ready":
        raise RuntimeError(f"the worker on {checkout} did not start")
    if not os.path.abspath(package).startswith(checkout + os.sep):
        raise RuntimeError(f"the worker on {checkout} imported {package}")
    return worker


def ask(worker, request="time"):
    worker.stdin.write(request + "\n")
    worker.stdin.flush()
    return float(worker.stdout.readline())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--shape", default="28x28x1")
    parser.add_argument("--subsampling", default="2,2")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    base, new = start(args.base, args), start(args.new, args)
    norms = ask(base, "features"), ask(new, "features")
    base_times, new_times = [], []
    for _ in range(args.pairs):
        base_times.append(ask(base))
        new_times.append(ask(new))
    for worker in (base, new):
        worker.stdin.close()
        worker.wait()
    ratios = [b / a for a, b in zip(base_times, new_times)]
    print(
        f"{args.shape} {args.subsampling} {args.dtype}, {args.threads} threads, "
        f"batch 256: base {statistics.median(base_times) * 1e3:.1f} ms, "
        f"new {statistics.median(new_times) * 1e3:.1f} ms; new / base, pair by "
        f"pair: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); features' norms "
        f"differ by {abs(norms[1] - norms[0]) / norms[0]:.1e} (relative)"
    )


if __name__ == "__main__":
    main()
