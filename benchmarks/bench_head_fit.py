"""The head's convex fit: L-BFGS with and without the low-rank preconditioner.

On the standardized CKN features of Fashion-MNIST images (unsupervised
filters), the multinomial logistic head at penalty ``alpha`` is solved twice
from zero, side by side, with the same L-BFGS and the same stopping rules
(max |gradient of the weights| <= 1e-5 max(1, value), or a stalled decrease,
or ``--max-iter``): once on the weights themselves, once in the variables of
``sklearn_ckn._ops.preconditioner.LowRankPreconditioner`` (what
``CKNClassifier`` does), both by ``sklearn_ckn._ops.head_fit.fit_head``.
Printed: iterations, seconds (the preconditioner's set-up included), the
final objective and the test accuracy.

Run: ``python benchmarks/bench_head_fit.py --data FILE [--n-train 10000]
[--alpha 3e-5] [--append FILE.md]``.
"""

import argparse
import time

import numpy as np
from _images_npz import load_images
from _report import report

from sklearn_ckn import CKNFeatureExtractor
from sklearn_ckn._ops.head import (
    decision,
    encode_targets,
    feature_statistics,
    loss_and_gradient,
)
from sklearn_ckn._ops.head_fit import fit_head
from sklearn_ckn._ops.preconditioner import RANK

NETWORK = dict(n_filters=(64, 256), patch_size=3, sigma=0.6, subsampling=(2, 2))


def solve(standardized, targets, alpha, max_iter, preconditioned):
    """(coef, intercept, n_iter, seconds) of the head from zero."""
    start = time.perf_counter()
    n_classes, d = targets.shape[1], standardized.shape[1]
    coef, intercept, n_iter = fit_head(
        standardized,
        targets,
        "log_loss",
        alpha,
        np,
        coef=np.zeros((n_classes, d), dtype=standardized.dtype),
        intercept=np.zeros(n_classes, dtype=standardized.dtype),
        max_iter=max_iter,
        precondition=preconditioned,
    )
    return coef, intercept, n_iter, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=".npz with the split")
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--alpha", type=float, default=3e-5)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--append", help="Markdown file to append the table to")
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_images(args.data, args.n_train)
    extractor = CKNFeatureExtractor(**NETWORK, random_state=0).fit(X_train)
    phi = extractor.transform(X_train)
    mean, scale = feature_statistics(phi, np)
    standardized = (phi - mean) / scale
    test = (extractor.transform(X_test) - mean) / scale
    targets = encode_targets(y_train, 10, "log_loss", np, standardized.dtype)
    rows = []
    for preconditioned in (False, True):
        coef, intercept, n_iter, seconds = solve(
            standardized, targets, args.alpha, args.max_iter, preconditioned
        )
        f = decision(standardized, coef, intercept, np)
        value = loss_and_gradient(f, targets, "log_loss", np)[0]
        value += 0.5 * args.alpha * float(np.sum(coef * coef))
        accuracy = np.mean(np.argmax(decision(test, coef, intercept, np), 1) == y_test)
        label = f"preconditioned (rank {RANK})" if preconditioned else "plain"
        rows.append(
            [label, n_iter, f"{seconds:.0f}", f"{value:.6f}", f"{accuracy:.4f}"]
        )
        print(rows[-1], flush=True)
    report(
        "The head's convex fit: L-BFGS with and without the preconditioner",
        ["L-BFGS", "iterations", "seconds", "objective", "test accuracy"],
        rows,
        notes=[
            f"{len(X_train)} Fashion-MNIST training images, network {NETWORK}, "
            f"{standardized.shape[1]} standardized float32 features, multinomial "
            f"log loss, alpha {args.alpha}, at most {args.max_iter} iterations; "
            "all 10,000 test images."
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
