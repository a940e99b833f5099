"""How much of a mini-batch gradient of the filters is signal, at the start.

Fits the CKNClassifier's initialization (unsupervised filters, convex head)
on the first N training images, then computes the filters' gradient on
disjoint batches and prints, per layer: the mean batch-gradient norm, the norm
of their mean (the full-data gradient), and the pairwise cosines (about
-1 / (n_batches - 1) when the batch gradients are noise that sums to zero).
The same with the path through M = (K^{1/2} + eps I)^{-1} left out, and the
smallest eigenvalues of K and the largest filter cosines, which make M
ill-conditioned. Figures of a run are in docs/benchmarks.md (Fashion-MNIST).

Run: ``python benchmarks/diagnose_gradient_noise.py --data FILE [--n-train N]``
"""

import argparse
import warnings

import numpy as np
from _images_npz import load_images

import sklearn_ckn._network as network
from sklearn_ckn import CKNClassifier
from sklearn_ckn._ops.lintrans import filter_gram
from sklearn_ckn._ops.optim import tangent


def batch_gradients(clf, maps, targets, n_batches):
    trainer = clf._trainer
    size = maps.shape[0] // n_batches
    grads = []
    for b in range(n_batches):
        rows = np.arange(b * size, (b + 1) * size)
        _, g = trainer.objective_and_gradients(maps[rows], targets[rows])
        grads.append(
            [np.ravel(tangent(z, gz, np)) for z, gz in zip(trainer.filters, g)]
        )
    return grads


def summarize(grads, label):
    for layer in range(len(grads[0])):
        a = np.stack([g[layer] for g in grads])
        unit = a / np.linalg.norm(a, axis=1, keepdims=True)
        cos = (unit @ unit.T)[~np.eye(len(a), dtype=bool)]
        print(
            f"{label}, layer {layer + 1}: batch gradient norm "
            f"{np.linalg.norm(a, axis=1).mean():.3g}, mean gradient norm "
            f"{np.linalg.norm(a.mean(0)):.3g}, pairwise cosine mean {cos.mean():.3f} "
            f"(min {cos.min():.2f}, max {cos.max():.2f})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=".npz with X_train, y_train")
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-batches", type=int, default=10)
    parser.add_argument("--subsampling", type=int, nargs=2, default=(2, 6))
    args = parser.parse_args()
    X, y, _, _ = load_images(args.data, args.n_train)
    clf = CKNClassifier(
        n_filters=(64, 256),
        patch_size=3,
        subsampling=tuple(args.subsampling),
        sigma=0.6,
        loss="log_loss",
        max_iter=1,
        learning_rate_init=1e-12,  # the initialization, left as it is
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    trainer = clf._trainer
    maps = clf._validate_images(X, reset=False)[0]
    targets = clf._targets(np.searchsorted(clf.classes_, y), len(clf.classes_), trainer)
    summarize(batch_gradients(clf, maps, targets, args.n_batches), "exact")
    exact_vjp = network.lintrans_vjp
    network.lintrans_vjp = lambda *args, **kwargs: 0.0  # drop the path through M
    try:
        summarize(batch_gradients(clf, maps, targets, args.n_batches), "without M")
    finally:
        network.lintrans_vjp = exact_vjp
    for layer, (z, spec) in enumerate(zip(trainer.filters, trainer.specs)):
        eigenvalues = np.linalg.eigvalsh(filter_gram(z, spec.kernel, spec.sigma, np))
        cosines = z @ z.T - 2 * np.eye(z.shape[0])
        print(
            f"layer {layer + 1}: smallest eigenvalues of K {eigenvalues[:3]}, "
            f"largest filter cosine {cosines.max():.4f}"
        )


if __name__ == "__main__":
    main()
