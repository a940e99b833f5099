"""Fashion-MNIST: the same CKN network without and with supervision.

1. Unsupervised: filters by spherical k-means and a linear head fitted by
   L-BFGS on the standardized features (a convex problem): this is the
   CKNClassifier's starting point, obtained by one epoch at a negligible
   step size.
2. Supervised: the same model trained end to end (warm start), with the
   test accuracy printed after every epoch (for information: nothing is
   chosen on the test set; the table reports the last epoch). With
   ``--solver exact_head`` an "epoch" is one iteration of that solver (the
   head kept at its convex optimum, the filters moved by full-batch descent)
   and ``--learning-rate`` its first step size.

With ``--head-alpha A`` the classifier's ``head_alpha`` is set: after each
epoch the head used for prediction is refitted at penalty A on the trained
filters (and the start row is the same refit on the unsupervised filters),
in at most ``--head-max-iter`` L-BFGS iterations. ``--single-fit`` trains
all the epochs in one ``fit`` call instead (one refit, the test accuracy
printed once).
With ``--validation-fraction F`` a stratified fraction F of the training
images is held out: the model trains on the rest, its validation accuracy is
printed next to the test accuracy after every epoch, and the table adds the
epoch (the start included) with the best validation accuracy, its test
accuracy and an exact McNemar test of its test predictions against the
start's (the two models classify the same test images, so their
disagreements are what tells them apart). ``--save-predictions FILE`` keeps
the test predictions of the start and of every epoch (.npz).
``--early-stopping`` instead trains one ``CKNClassifier(early_stopping=True)``
as a user would: a single ``fit`` on all the training images, the
estimator holding out ``--validation-fraction`` (default 0.1) itself,
keeping the epoch with the best validation accuracy and stopping after
``n_iter_no_change`` (10) epochs without improvement or ``--epochs``; the
table gives its test accuracy and its validation curve.
With ``--flip`` every training image is also given mirrored left to right
(data augmentation, for both rows). ``--time-limit`` ends the epochs early,
the table still printed.

Reads an .npz with X_train, y_train, X_test, y_test (uint8 images), e.g. the
one built from Debian's ``dataset-fashion-mnist`` package.

Run: ``python benchmarks/bench_fashion_mnist.py --data FILE [--device cuda]
[--subsampling 2 2] [--append FILE.md]`` (``--help`` lists the training
settings).
"""

import argparse
import time
import warnings

import numpy as np
from _images_npz import load_images
from _report import report
from scipy.stats import binomtest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_ckn import CKNClassifier

NETWORK = dict(n_filters=(64, 256), patch_size=3, sigma=0.6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=".npz with the split")
    parser.add_argument("--append", help="Markdown file to append the table to")
    parser.add_argument(
        "--n-train", type=int, default=None, help="first N training images"
    )
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--solver", default="adam")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--power-t", type=float, default=0.25)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--head-alpha", type=float, default=None)
    parser.add_argument("--head-max-iter", type=int, default=300)
    parser.add_argument("--single-fit", action="store_true")
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--loss", default="log_loss")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subsampling", type=int, nargs=2, default=(2, 6))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--validation-fraction", type=float, default=None)
    parser.add_argument("--save-predictions", help=".npz for the test predictions")
    parser.add_argument("--early-stopping", action="store_true")
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_images(args.data, args.n_train)
    if args.early_stopping:
        return _early_stopping_run(args, X_train, y_train, X_test, y_test)
    if args.validation_fraction is not None:
        X_train, X_val, y_train, y_val = train_test_split(
            X_train,
            y_train,
            test_size=args.validation_fraction,
            stratify=y_train,
            random_state=args.seed,
        )
    if args.flip:
        X_train = np.concatenate([X_train, X_train[:, :, ::-1]])
        y_train = np.concatenate([y_train, y_train])

    network = dict(NETWORK, subsampling=tuple(args.subsampling))
    clf = _classifier(
        args, head_alpha=args.head_alpha, max_iter=1, learning_rate_init=1e-12
    )
    start = time.perf_counter()
    _fit_quietly(clf, X_train, y_train)
    predictions = [clf.predict(X_test)]
    start_score = float(np.mean(predictions[0] == y_test))
    val_scores = []

    def validation_note():
        if args.validation_fraction is None:
            return ""
        val_scores.append(clf.score(X_val, y_val))
        return f", validation accuracy {val_scores[-1]:.4f}"

    print(f"start: test accuracy {start_score:.4f}{validation_note()}", flush=True)
    rows = [
        [
            "unsupervised filters + linear head (L-BFGS, standardized features, "
            f"alpha {args.alpha if args.head_alpha is None else args.head_alpha})",
            f"{start_score:.4f}",
            "-",
            f"{time.perf_counter() - start:.0f}",
        ]
    ]
    # the first supervised epoch is a warm start (fresh optimizer, new
    # settings); the next ones are partial_fit calls, which keep the optimizer
    # state, so that the test accuracy can be printed after every epoch
    clf.set_params(
        warm_start=True,
        max_iter=1,
        solver=args.solver,
        learning_rate=args.schedule,
        learning_rate_init=args.learning_rate,
        power_t=args.power_t,
        n_iter_no_change=100,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # max_iter is reached on purpose; a head refit's warning stays visible
        warnings.filterwarnings(
            "ignore", "Stochastic optimizer", category=ConvergenceWarning
        )
        if args.single_fit:
            clf.set_params(max_iter=args.epochs)
            plan = [(args.epochs, clf.fit)]
        else:
            plan = [
                (epoch, clf.fit if epoch == 1 else clf.partial_fit)
                for epoch in range(1, args.epochs + 1)
            ]
        for epoch, train in plan:
            train(X_train, y_train)
            predictions.append(clf.predict(X_test))
            score = float(np.mean(predictions[-1] == y_test))
            elapsed = time.perf_counter() - start
            print(
                f"epoch {epoch}: objective {clf.loss_curve_[-1]:.4f}, test "
                f"accuracy {score:.4f}{validation_note()} [{elapsed:.0f} s]",
                flush=True,
            )
            if args.save_predictions:
                np.savez(
                    args.save_predictions,
                    *predictions,
                    y_test=y_test,
                    validation=np.asarray(val_scores),
                )
            if args.time_limit is not None and elapsed > args.time_limit:
                break
    if args.solver == "exact_head":
        training = (
            "the same, filters trained with the head at its convex optimum "
            f"(exact_head, first step {args.learning_rate})"
        )
    else:
        training = (
            f"the same, trained end to end ({args.solver}, {args.schedule} lr "
            f"{args.learning_rate}, batch {args.batch_size})"
        )
    rows.append(
        [
            training,
            f"{score:.4f}",
            epoch,
            f"{time.perf_counter() - start:.0f} (with a test pass per epoch)",
        ]
    )
    notes = []
    if args.validation_fraction is not None:
        # the first best: ties keep the earlier (less trained) model
        best = int(np.argmax(val_scores))
        chosen = predictions[best]
        rows.append(
            [
                f"the epoch chosen on the validation images: {best} (0: the start)",
                f"{np.mean(chosen == y_test):.4f}",
                best,
                "-",
            ]
        )
        notes.append(_mcnemar_note(predictions[0], chosen, y_test))
        notes.append(
            f"Validation accuracy, start then epochs: "
            f"{', '.join(f'{v:.4f}' for v in val_scores)}; "
            f"{len(X_val)} held-out training images "
            f"({args.validation_fraction:g}, stratified, seed {args.seed})."
        )
    report(
        "Fashion-MNIST: the same CKN without and with supervision",
        ["model", "test accuracy", "epochs", "wall time (s)"],
        rows,
        notes=[
            f"Network: {network}; loss {args.loss}, alpha {args.alpha}, "
            f"head_alpha {args.head_alpha} (head_max_iter {args.head_max_iter}); "
            f"{len(X_train)} training images "
            f"{'(half of them mirrored) ' if args.flip else ''}"
            "scaled to [0, 1], float32; seed "
            f"{args.seed}. Published (Xiao et al. 2017): RBF SVC 0.897; "
            "HOG + SVM 0.926.",
            *notes,
        ],
        append_to=args.append,
    )


def _classifier(args, **settings):
    """The benchmark's network with the settings every run shares."""
    return CKNClassifier(
        **NETWORK,
        subsampling=tuple(args.subsampling),
        device=args.device,
        loss=args.loss,
        alpha=args.alpha,
        head_max_iter=args.head_max_iter,
        batch_size=args.batch_size,
        random_state=args.seed,
        verbose=1,
        **settings,
    )


def _fit_quietly(clf, X, y):
    with warnings.catch_warnings():
        # max_iter is reached on purpose; a head refit's warning stays visible
        warnings.filterwarnings(
            "ignore", "Stochastic optimizer", category=ConvergenceWarning
        )
        clf.fit(X, y)


def _early_stopping_run(args, X_train, y_train, X_test, y_test):
    network = dict(NETWORK, subsampling=tuple(args.subsampling))
    clf = _classifier(
        args,
        solver=args.solver,
        learning_rate_init=args.learning_rate,
        max_iter=args.epochs,
        early_stopping=True,
        validation_fraction=args.validation_fraction or 0.1,
    )
    start = time.perf_counter()
    _fit_quietly(clf, X_train, y_train)
    elapsed = time.perf_counter() - start
    score = clf.score(X_test, y_test)
    best = int(np.argmax(clf.validation_scores_)) + 1
    print(f"test accuracy {score:.4f} (epoch {best} of {clf.n_iter_} kept)")
    report(
        "Fashion-MNIST: CKNClassifier with early stopping",
        ["model", "test accuracy", "epochs (kept / run)", "wall time (s)"],
        [
            [
                f"CKNClassifier(solver={args.solver!r}, early_stopping=True)",
                f"{score:.4f}",
                f"{best} / {clf.n_iter_}",
                f"{elapsed:.0f}",
            ]
        ],
        notes=[
            f"Network: {network}; loss {args.loss}, alpha {args.alpha}, "
            f"learning_rate_init {args.learning_rate}, head_max_iter "
            f"{args.head_max_iter}; {len(X_train)} training images (of which "
            f"{clf.validation_fraction:g} held out by the estimator) scaled to "
            f"[0, 1], float32; seed {args.seed}.",
            "Validation accuracy per epoch: "
            + ", ".join(f"{v:.4f}" for v in clf.validation_scores_)
            + "; training objective per epoch: "
            + ", ".join(f"{v:.4f}" for v in clf.loss_curve_)
            + ".",
        ],
        append_to=args.append,
    )


def _mcnemar_note(start, chosen, y_test):
    """Exact McNemar test: of the test images exactly one model gets right,
    how likely is a split at least this uneven if both were equally good?"""
    only_chosen = int(np.sum((chosen == y_test) & (start != y_test)))
    only_start = int(np.sum((start == y_test) & (chosen != y_test)))
    n = only_chosen + only_start
    p = binomtest(only_chosen, n, 0.5).pvalue if n else 1.0
    return (
        f"Against the start, on the test images: {only_chosen} right only after "
        f"training, {only_start} right only at the start (exact McNemar p = {p:.3g})."
    )


if __name__ == "__main__":
    main()
