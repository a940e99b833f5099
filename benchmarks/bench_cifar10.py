"""CIFAR-10: named CKN recipes, every choice made on a validation split.

Reads the training images as JPEG bytes (``jpeg``, ``offsets``, ``y`` in an
npz, the layout of ``shared/data/cifar10_train_jpeg.npz``), decodes them once
with Pillow (a benchmark-only dependency) into a cache beside this script,
and runs a recipe:

- ``unsupervised-64-256`` and ``unsupervised-256-1024``: CKNFeatureExtractor,
  2 layers, 3x3 patches, subsampling (2, 6), sigma 0.6 (the reference
  implementation's CIFAR-10 networks), then a linear head. Chosen on a
  stratified validation split of the training images, among the values
  given: the input's centring (``--centre``: ``none``, or ``image``: each
  image minus its own mean), the whitening (``--whitening``,
  ``--whitening-reg``), the patches k-means learns from (``--patch-quantile``:
  those whose norm is above that quantile of the sampled patches' norms), the
  kernel's ``--sigma`` (both layers), mirror images (``--augment``: ``none``,
  or ``flip``: the head also trains on every image mirrored left to right, and a
  prediction sums the decision functions of the image and its mirror), what
  the head reads (``--feature-map``: ``none``, the features, or
  ``signed-sqrt``, :func:`sklearn_ckn.signed_sqrt` of them) and the head's
  penalty (``--alpha``). The default grid is the feature map and the penalty,
  at the centring, whitening, quantile, sigma and mirror images that earlier
  grids chose (docs/benchmarks.md). The head is
  :class:`sklearn_ckn.LinearHeadClassifier` (``--head linear-head``), or
  scikit-learn's StandardScaler + LogisticRegression at ``C = 1 / (alpha
  n)``, the same problem (``--head logistic-regression``).
- ``supervised-32-128`` and ``supervised-64-256``: CKNClassifier on the same
  network (whitening ``images``, each image centred, log_loss at penalty
  ``--alpha``, its first value), trained end to end by ``--solver`` (``adam``,
  ``sgd`` or ``exact_head``) at step size ``--learning-rate`` for
  ``--epochs`` epochs (iterations of ``exact_head``); its validation accuracy
  is printed at its start (the unsupervised filters with the convex head: the
  same architecture's unsupervised features under the same head) and after
  every epoch, with the epoch's wall time; the epoch is chosen on validation.
  The first ``--augment`` value applies (``flip``: trained on the images and
  their mirror images, decision functions of an image and its mirror summed
  at prediction), and the first ``--patch-quantile`` and ``--sigma``.

``--random-state`` seeds the network (patch sampling, k-means, and for the
supervised recipes the training); the split is always the same (seed 0).
``--folds K`` (unsupervised recipes) scores each candidate on K stratified
folds instead of the one split (seed 0; the whitening, filters and head
learned anew on each fold's training images; ``--validation-size`` then does
not apply) and chooses on the mean: one split of 5,000 images measures an
accuracy near 0.78 to a binomial standard error of 0.6 point, ten folds (all
50,000 images) to about 0.2, at ten times the cost.

Each candidate's validation accuracy is printed with the wall time of the
features (fit and transform) and of the head. ``--test FILE`` (an npz with
the same keys) then refits the chosen recipe on all training images and
prints, as its last line, ``test accuracy 0.xxxx``. No test images are
looked at otherwise, and none are in ``shared/``.

Run (from ``benchmarks/``): ``python bench_cifar10.py --model
unsupervised-64-256 [--data FILE] [--n-train 10000] [--random-state 1]
[--folds 10] [--test FILE] [--append ../docs/benchmarks_history.md]``.
"""

import argparse
import io
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
from _report import report
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import (
    CKNClassifier,
    CKNFeatureExtractor,
    LinearHeadClassifier,
    signed_sqrt,
)

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar10_train_jpeg.npz"

NETWORK = dict(patch_size=3, subsampling=(2, 6), sigma=0.6, channel_axis=-1)
RECIPES = {
    "unsupervised-64-256": dict(n_filters=(64, 256)),
    "unsupervised-256-1024": dict(n_filters=(256, 1024)),
    "supervised-32-128": dict(n_filters=(32, 128)),
    "supervised-64-256": dict(n_filters=(64, 256)),
}
# what the head reads: the features as they are, or their signed square roots
FEATURE_MAPS = {"none": lambda f: f, "signed-sqrt": signed_sqrt}


def decode(path, cache_dir=HERE / ".cache"):
    """(images (n, 32, 32, 3) uint8, labels) of a JPEG npz, decoded once."""
    from PIL import Image

    path = Path(path)
    cache_dir.mkdir(exist_ok=True)
    cache = cache_dir / f"{path.stem}.decoded.npz"
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        data = np.load(cache)
        return data["images"], data["y"]
    data = np.load(path)
    jpeg, offsets = data["jpeg"], data["offsets"]
    images = np.stack(
        [
            np.asarray(
                Image.open(
                    io.BytesIO(jpeg[offsets[i] : offsets[i + 1]].tobytes())
                ).convert("RGB")
            )
            for i in range(len(offsets) - 1)
        ]
    )
    y = np.asarray(data["y"])
    np.savez(cache, images=images, y=y)
    return images, y


def prepare(images, centre):
    """Images scaled to [0, 1] as float32; ``centre="image"``: each minus its
    own mean (over pixels and channels)."""
    x = images.astype(np.float32) / 255
    if centre == "image":
        x -= x.mean(axis=(1, 2, 3), keepdims=True)
    return x


def mirror(x):
    """Images (n, H, W, C) mirrored left to right."""
    return x[:, :, ::-1]


def features(params, x_fit, others, augment):
    """CKN features of ``x_fit`` (which the filters and the whitening are
    learned from) and of each of ``others``, each with the features of its
    mirror images (None without ``augment="flip"``); the seconds taken."""
    start = time.perf_counter()
    ckn = CKNFeatureExtractor(**dict(NETWORK, **params)).fit(x_fit)
    out = []
    for x in [x_fit, *others]:
        out.append(
            (ckn.transform(x), ckn.transform(mirror(x)) if augment == "flip" else None)
        )
    return out, time.perf_counter() - start


def map_features(name, f_train, f_other, m_train, m_other):
    """The features of the training and the other images, then their mirror
    images' (None where ``m_train`` is None: no mirror images), as the head
    reads them under feature map ``name``."""
    g = FEATURE_MAPS[name]
    if m_train is None:
        return g(f_train), g(f_other), None, None
    return g(f_train), g(f_other), g(m_train), g(m_other)


def head_rows(f, f_mirror, y):
    """The head's training rows and labels: the features, then their mirror
    images' when given (built once, read by the head at every penalty)."""
    if f_mirror is None:
        return f, y
    return np.concatenate([f, f_mirror]), np.concatenate([y, y])


def fit_head(kind, alpha, f, y):
    """The head on training rows ``f`` (see :func:`head_rows`); returns a
    function of (features, mirror features or None) -> labels, and the
    seconds the fit took."""
    start = time.perf_counter()
    if kind == "linear-head":
        model = LinearHeadClassifier(alpha=alpha).fit(f, y)
    else:
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=1 / (alpha * len(y)), max_iter=1000, tol=1e-3),
        ).fit(f, y)
    seconds = time.perf_counter() - start

    def predict(g, g_mirror):
        scores = model.decision_function(g)
        if g_mirror is not None:
            scores = scores + model.decision_function(g_mirror)
        return model.classes_[np.argmax(scores, axis=1)]

    return predict, seconds


def heads_on_split(args, params, x, y, train, val):
    """The network ``params`` learned on ``x[train]``, then every (feature map,
    augment, alpha) of the grid: {(feature map, augment, alpha): (validation
    accuracy, head seconds)} in the grid's order, and the features' seconds."""
    augment = "flip" if "flip" in args.augment else "none"
    [(f_tr, m_tr), (f_va, m_va)], seconds = features(
        params, x[train], [x[val]], augment
    )
    scores = {}
    for fmap in args.feature_map:
        # mapped once, read by every (augment, alpha) below
        g_tr, g_va, n_tr, n_va = map_features(fmap, f_tr, f_va, m_tr, m_va)
        for aug in args.augment:
            flip = aug == "flip"
            train_rows = head_rows(g_tr, n_tr if flip else None, y[train])
            for alpha in args.alpha:
                predict, head_seconds = fit_head(args.head, alpha, *train_rows)
                accuracy = float(
                    np.mean(predict(g_va, n_va if flip else None) == y[val])
                )
                scores[fmap, aug, alpha] = (accuracy, head_seconds)
    return scores, seconds


def run_unsupervised(args, images, y, splits):
    """Every candidate's validation accuracy, its mean over ``splits`` (pairs
    of training and validation indices; the filters, the whitening and the
    head are learned on each pair's training images only); the best (mean
    accuracy, choice)."""
    rows, best = [], None
    folds = len(splits) > 1
    for centre in args.centre:
        x = prepare(images, centre)
        for whitening in args.whitening:
            regs = args.whitening_reg if whitening != "none" else [None]
            for reg, quantile, sigma in itertools.product(
                regs, args.patch_quantile, args.sigma
            ):
                params = dict(
                    RECIPES[args.model],
                    sigma=sigma,
                    n_patches=args.n_patches,
                    patch_quantile=quantile,
                    whitening=None if whitening == "none" else whitening,
                    random_state=args.random_state,
                )
                if reg is not None:
                    params["whitening_reg"] = reg
                # (feature map, augment, alpha) -> [(accuracy, head seconds)]
                # over the splits
                scores, feature_seconds = {}, []
                for k, (train, val) in enumerate(splits):
                    split_scores, seconds = heads_on_split(
                        args, params, x, y, train, val
                    )
                    feature_seconds.append(seconds)
                    for key, (accuracy, head_seconds) in split_scores.items():
                        scores.setdefault(key, []).append((accuracy, head_seconds))
                        if folds:
                            print(
                                f"fold {k + 1}/{len(splits)}:",
                                *key,
                                f"{accuracy:.4f}",
                                f"{seconds:.0f}",
                                f"{head_seconds:.0f}",
                                flush=True,
                            )
                for (fmap, aug, alpha), results in scores.items():
                    accuracies, head_seconds = zip(*results)
                    accuracy = float(np.mean(accuracies))
                    rows.append(
                        [
                            centre,
                            whitening,
                            "-" if reg is None else reg,
                            quantile,
                            sigma,
                            fmap,
                            aug,
                            alpha,
                            f"{accuracy:.4f}",
                            f"{np.mean(feature_seconds):.0f}",
                            f"{np.mean(head_seconds):.0f}",
                        ]
                    )
                    if folds:
                        each = " / ".join(f"{a:.4f}" for a in accuracies)
                        rows[-1].insert(9, each)
                    print(*rows[-1], flush=True)
                    if best is None or accuracy > best[0]:
                        choice = dict(
                            centre=centre,
                            params=params,
                            feature_map=fmap,
                            augment=aug,
                            alpha=alpha,
                        )
                        best = (accuracy, choice)
    header = [
        "centre",
        "whitening",
        "whitening_reg",
        "patch_quantile",
        "sigma",
        "feature map",
        "augment",
        "alpha",
        "validation accuracy",
        "features (s)",
        "head (s)",
    ]
    if folds:
        header[8] = f"validation accuracy (mean of {len(splits)} folds)"
        header.insert(9, "each fold")
    return rows, header, best


def refit_and_test_unsupervised(args, choice, images, y, test_images, y_test):
    """Accuracy of the chosen recipe refitted on every training image."""
    x, x_test = (
        prepare(images, choice["centre"]),
        prepare(test_images, choice["centre"]),
    )
    [(f, m), (f_test, m_test)], _ = features(
        choice["params"], x, [x_test], choice["augment"]
    )
    f, f_test, m, m_test = map_features(choice["feature_map"], f, f_test, m, m_test)
    predict, _ = fit_head(args.head, choice["alpha"], *head_rows(f, m, y))
    return float(np.mean(predict(f_test, m_test) == y_test))


def classifier(args):
    return CKNClassifier(
        **dict(NETWORK, sigma=args.sigma[0]),
        **RECIPES[args.model],
        n_patches=args.n_patches,
        patch_quantile=args.patch_quantile[0],
        whitening="images",
        loss="log_loss",
        alpha=args.alpha[0],
        solver=args.solver,
        head_alpha=args.head_alpha,
        learning_rate_init=args.learning_rate,
        batch_size=args.batch_size,
        max_iter=1,
        random_state=args.random_state,
    )


def supervised_data(x, y, flip):
    """Training data of a supervised recipe: the images, and their mirror
    images too with ``flip``."""
    if not flip:
        return x, y
    return np.concatenate([x, mirror(x)]), np.concatenate([y, y])


def supervised_accuracy(clf, x, y, flip):
    """Accuracy of the classifier; with ``flip``, of the decision functions
    of each image and its mirror image summed."""
    if not flip:
        return float(clf.score(x, y))
    scores = clf.decision_function(x) + clf.decision_function(mirror(x))
    return float(np.mean(clf.classes_[np.argmax(scores, axis=1)] == y))


def run_supervised(args, images, y, splits):
    """Validation accuracy at the start and after each epoch, on the one
    (training, validation) pair of ``splits``; the best epoch.

    The first ``--augment`` value applies: ``flip`` trains on the images and
    their mirror images and sums the decision functions of an image and its
    mirror at prediction."""
    [(train, val)] = splits
    x = prepare(images, "image")
    flip = args.augment[0] == "flip"
    x_train, y_train = supervised_data(x[train], y[train], flip)
    clf = classifier(args)
    rows, best = [], None
    for epoch in range(args.epochs + 1):
        start = time.perf_counter()
        if epoch == 0:
            # the start: unsupervised filters and the convex head, no step
            clf.set_params(learning_rate_init=1e-12).fit(x_train, y_train)
        elif epoch == 1:
            # a warm-started fit: the step size set, a fresh optimizer
            clf.set_params(learning_rate_init=args.learning_rate, warm_start=True)
            clf.fit(x_train, y_train)
        else:
            # one more epoch, the optimizer's state (and step size) kept
            clf.partial_fit(x_train, y_train)
        seconds = time.perf_counter() - start
        accuracy = supervised_accuracy(clf, x[val], y[val], flip)
        rows.append(
            [
                epoch,
                f"{clf.loss_curve_[-1]:.4f}",
                f"{accuracy:.4f}",
                f"{seconds:.0f}",
            ]
        )
        print(*rows[-1], flush=True)
        if best is None or accuracy > best[0]:
            best = (accuracy, dict(epochs=epoch))
    header = ["epoch", "training objective", "validation accuracy", "wall time (s)"]
    return rows, header, best


def refit_and_test_supervised(args, choice, images, y, test_images, y_test):
    flip = args.augment[0] == "flip"
    x, y = supervised_data(prepare(images, "image"), y, flip)
    clf = classifier(args).set_params(
        max_iter=max(1, choice["epochs"]), warm_start=False
    )
    if choice["epochs"] == 0:
        clf.set_params(learning_rate_init=1e-12)
    clf.fit(x, y)
    return supervised_accuracy(clf, prepare(test_images, "image"), y_test, flip)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", choices=sorted(RECIPES), required=True)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument(
        "--centre", nargs="+", default=["image"], choices=["none", "image"]
    )
    parser.add_argument(
        "--whitening",
        nargs="+",
        default=["images"],
        choices=["none", "images", "patches"],
    )
    parser.add_argument("--whitening-reg", type=float, nargs="+", default=[0.1])
    parser.add_argument(
        "--augment", nargs="+", default=["flip"], choices=["none", "flip"]
    )
    parser.add_argument("--n-patches", type=int, default=10000)
    parser.add_argument("--patch-quantile", type=float, nargs="+", default=[0.5])
    parser.add_argument("--sigma", type=float, nargs="+", default=[NETWORK["sigma"]])
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--feature-map",
        nargs="+",
        default=["none", "signed-sqrt"],
        choices=sorted(FEATURE_MAPS),
    )
    parser.add_argument("--alpha", type=float, nargs="+", default=[3e-5, 1e-4, 3e-4])
    parser.add_argument(
        "--head", default="linear-head", choices=["linear-head", "logistic-regression"]
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--solver", default="adam", choices=["adam", "sgd", "exact_head"]
    )
    parser.add_argument("--head-alpha", type=float, default=None)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--test", default=None)
    parser.add_argument("--append", default=None)
    args = parser.parse_args()
    supervised = args.model.startswith("supervised")
    if args.folds is not None and (args.folds < 2 or supervised):
        parser.error("--folds takes an integer >= 2, and an unsupervised --model")
    # the classifier runs one epoch per fit call on purpose
    warnings.filterwarnings(
        "ignore",
        category=ConvergenceWarning,
        message="Stochastic optimizer: maximum iterations",
    )

    begin = time.perf_counter()
    images, y = decode(args.data)
    if args.n_train is not None:
        images, _, y, _ = train_test_split(
            images, y, train_size=args.n_train, stratify=y, random_state=0
        )
    if args.folds is None:
        splits = [
            train_test_split(
                np.arange(len(y)),
                test_size=args.validation_size,
                stratify=y,
                random_state=0,
            )
        ]
    else:
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
        splits = list(folds.split(np.zeros((len(y), 1)), y))
    run = run_supervised if supervised else run_unsupervised
    rows, header, (accuracy, choice) = run(args, images, y, splits)
    if supervised:
        notes = [
            f"CKNClassifier, {RECIPES[args.model]['n_filters']} filters, whitening "
            f"images, patch_quantile {args.patch_quantile[0]}, sigma "
            f"{args.sigma[0]}, each image centred, "
            f"log_loss, alpha {args.alpha[0]}, solver {args.solver}, lr "
            f"{args.learning_rate}, batch {args.batch_size}, augment "
            f"{args.augment[0]} (flip: trained on the images and their mirror "
            "images, decision functions of image and mirror summed); epoch 0 is its "
            "start (unsupervised filters, convex head); wall time of each fit call "
            f"(epoch 0: k-means, whitening and the head). Chosen: epoch "
            f"{choice['epochs']} ({accuracy:.4f})."
        ]
    else:
        notes = [
            f"Chosen: {choice} ({accuracy:.4f}). Head: {args.head}. Features: fit on "
            "the training split and transform of both splits (and of their mirror "
            "images when augmenting), float32."
        ]
    train, val = splits[0]
    split = (
        f"{len(train)} training / {len(val)} validation images (stratified, seed 0)"
        if len(splits) == 1
        else f"{len(splits)} stratified folds (seed 0) of {len(y)} images, "
        f"{len(train)} training / {len(val)} validation images in the first; the "
        "accuracy a mean over the folds, the times means per fold"
    )
    notes[0] = (
        f"{split}, n_patches={args.n_patches}, random_state={args.random_state}. "
        + notes[0]
    )
    report(
        f"CIFAR-10, {args.model}: validation accuracy",
        header,
        rows,
        notes=notes,
        append_to=args.append,
    )
    if args.test is not None:
        test_images, y_test = decode(args.test)
        score = (
            refit_and_test_supervised if supervised else refit_and_test_unsupervised
        )(args, choice, images, y, test_images, y_test)
        print(f"whole run: {time.perf_counter() - begin:.0f} s")
        print(f"test accuracy {score:.4f}")


if __name__ == "__main__":
    main()
