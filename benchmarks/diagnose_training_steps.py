"""Which parameters make supervised training leave the classifier's start?

From the classifier's initialization (unsupervised filters, convex L-BFGS
head) on a subset of Fashion-MNIST, train with Adam (or SGD with momentum
0.9) while scaling the step of each parameter group (layer-1 filters,
layer-2 filters, head) by a factor, 0 freezing it, and print the training
objective (mean over the epoch) and the test accuracy after every epoch. A
well-behaved step should lower the objective from its starting value; the
test set only informs.

Run: ``python benchmarks/diagnose_training_steps.py --data fashion_mnist.npz
[--n-train 10000] [--epochs 4] [--solver adam] [--learning-rate 1e-4]
[--scales 1 1 1]`` (scales of layer 1, layer 2 and the head).
"""

import argparse
import time
import warnings

from _images_npz import load_images
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier
from sklearn_ckn._ops.optim import SGD, Adam


def scaled(optimizer_class):
    """``optimizer_class`` with parameter ``i``'s step multiplied by ``scales[i]``."""

    class Scaled(optimizer_class):
        def __init__(self, params, on_sphere, xp, scales):
            super().__init__(params, on_sphere, xp)
            self.scales = scales

        def _direction(self, index, g):
            return self.scales[index] * super()._direction(index, g)

    return Scaled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--solver", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--scales", type=float, nargs=3, default=(1.0, 1.0, 1.0))
    parser.add_argument("--subsampling", type=int, nargs=2, default=(2, 6))
    parser.add_argument("--sigma", type=float, nargs=2, default=(0.6, 0.6))
    parser.add_argument("--eps", type=float, default=1e-2)
    args = parser.parse_args()
    X, y, X_test, y_test = load_images(args.data, args.n_train)

    clf = CKNClassifier(
        n_filters=(64, 256),
        patch_size=3,
        subsampling=tuple(args.subsampling),
        sigma=tuple(args.sigma),
        eps=args.eps,
        loss="log_loss",
        solver=args.solver,
        alpha=1e-4,
        batch_size=128,
        max_iter=1,
        learning_rate_init=1e-12,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        print(
            f"start: objective {clf.loss_curve_[-1]:.4f}, train accuracy "
            f"{clf.score(X, y):.4f}, test accuracy {clf.score(X_test, y_test):.4f}",
            flush=True,
        )
        clf.set_params(warm_start=True, learning_rate_init=args.learning_rate)
        # layer 1, layer 2, coef, intercept (the intercept follows the head)
        scales = [*args.scales, args.scales[2]]
        optimizer_class = scaled(Adam if args.solver == "adam" else SGD)
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            if epoch == 1:
                clf._trainer._make_optimizer = lambda t=clf._trainer: optimizer_class(
                    t.parameters(), [True, True, False, False], t.xp, scales
                )
                clf.fit(X, y)  # warm start: the optimizer made above
            else:
                clf.partial_fit(X, y)
            seconds = time.perf_counter() - start
            print(
                f"epoch {epoch}: objective {clf.loss_curve_[-1]:.4f}, test accuracy "
                f"{clf.score(X_test, y_test):.4f} [{seconds:.0f} s]",
                flush=True,
            )


if __name__ == "__main__":
    main()
