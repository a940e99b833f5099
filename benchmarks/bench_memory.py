"""Peak resident memory of ``transform`` on 60,000 28x28 images.

Each case runs in a fresh process, so that its peak (``ru_maxrss``) is its
own: the extractor is fitted on 1,000 other images, the resident size is
read, the 60,000 float32 images are made and transformed with
``batch_size`` left at its default, and the peak is read again. The extra
memory is peak - (resident size before the images) - input - output; the
target (issue 4) is at most 1 GiB.

Run: ``python benchmarks/bench_memory.py [--n-images 60000]
[--append docs/benchmarks_history.md]``.
"""

import argparse
import multiprocessing
import resource

import numpy as np
from _report import report

NETWORK = dict(n_filters=(64, 256), patch_size=3, sigma=0.6)
GIB = 2**30


def resident_bytes():
    """Current resident set size of this process (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def measure(subsampling, n_images):
    """Run in a child process: (resident before, input, output, peak) in bytes."""
    from sklearn_ckn import CKNFeatureExtractor

    rng = np.random.default_rng(0)
    extractor = CKNFeatureExtractor(
        **NETWORK, subsampling=subsampling, random_state=0
    ).fit(rng.random((1000, 28, 28), dtype=np.float32))
    before = resident_bytes()
    images = rng.random((n_images, 28, 28), dtype=np.float32)
    features = extractor.transform(images)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return before, images.nbytes, features.nbytes, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=60000)
    parser.add_argument("--append", help="Markdown file to append the table to")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    for subsampling in [(2, 2), (2, 6)]:
        with context.Pool(1) as pool:
            before, n_in, n_out, peak = pool.apply(
                measure, (subsampling, args.n_images)
            )
        extra = peak - before - n_in - n_out
        rows.append(
            [
                str(subsampling),
                f"{n_in / GIB:.2f}",
                f"{n_out / GIB:.2f}",
                f"{before / GIB:.2f}",
                f"{peak / GIB:.2f}",
                f"{extra / GIB:.2f}",
                "yes" if extra <= GIB else "no",
            ]
        )
    report(
        "Peak memory of transform, 60,000 28x28 images (float32)",
        [
            "subsampling",
            "input (GiB)",
            "output (GiB)",
            "resident before (GiB)",
            "peak (GiB)",
            "extra (GiB)",
            "extra <= 1 GiB",
        ],
        rows,
        notes=[
            f"{args.n_images} random images; network {NETWORK}; batch_size left "
            "at its default (None); one fresh process per "
            "row. Extra = peak - resident before the images - input - output."
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
