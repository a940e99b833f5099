"""CIFAR-10: named CKN recipes, every choice made on a validation split.

Reads the training images as JPEG bytes (``jpeg``, ``offsets``, ``y`` in an
npz, the layout of ``shared/data/cifar10_train_jpeg.npz``), decodes them once
with Pillow (a benchmark-only dependency) into a cache beside this script,
and runs a recipe:

- ``unsupervised-64-256`` and ``unsupervised-256-1024``: CKNFeatureExtractor,
  2 layers, 3x3 patches, subsampling (2, 6), sigma 0.6 (the reference
  implementation's CIFAR-10 networks), then StandardScaler and a multinomial
  logistic regression. Chosen on a stratified validation split of the
  training images: the whitening (``--whitening``, default both None and
  ``images``) and the penalty C (``--C``).

Each candidate's validation accuracy is printed with the wall time of the
features (fit and transform) and of the head. ``--test FILE`` (an npz with
the same keys) then refits the chosen recipe on all training images and
prints, as its last line, ``test accuracy 0.xxxx``. No test images are
looked at otherwise, and none are in ``shared/``.

Run: ``python bench_cifar10.py --data ../../shared/data/cifar10_train_jpeg.npz
--model unsupervised-64-256 [--n-train 10000] [--append ../docs/benchmarks.md]``.
"""

import argparse
import io
import time
from pathlib import Path

import numpy as np
from _report import report
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import CKNFeatureExtractor

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar10_train_jpeg.npz"

RECIPES = {
    "unsupervised-64-256": dict(n_filters=(64, 256)),
    "unsupervised-256-1024": dict(n_filters=(256, 1024)),
}
NETWORK = dict(patch_size=3, subsampling=(2, 6), sigma=0.6, channel_axis=-1)


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


def features(params, x_fit, *others):
    """CKN features of ``x_fit`` (which the filters and the whitening are
    learned from) and of ``others``; the seconds they took."""
    start = time.perf_counter()
    ckn = CKNFeatureExtractor(**NETWORK, **params, random_state=0)
    out = [ckn.fit(x_fit).transform(x_fit)]
    out += [ckn.transform(x) for x in others]
    return out, time.perf_counter() - start


def head(f_train, y_train, C):
    """StandardScaler then multinomial logistic regression; the seconds."""
    start = time.perf_counter()
    scaler = StandardScaler().fit(f_train)
    model = LogisticRegression(C=C, max_iter=1000, tol=1e-3)
    model.fit(scaler.transform(f_train), y_train)
    return (lambda f: model.predict(scaler.transform(f))), time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", choices=sorted(RECIPES), required=True)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--whitening", nargs="+", default=["none", "images", "patches"])
    parser.add_argument("--whitening-reg", type=float, nargs="+", default=[0.1])
    parser.add_argument("--n-patches", type=int, default=10000)
    parser.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--test", default=None)
    parser.add_argument("--append", default=None)
    args = parser.parse_args()

    images, y = decode(args.data)
    if args.n_train is not None:
        images, _, y, _ = train_test_split(
            images, y, train_size=args.n_train, stratify=y, random_state=0
        )
    x = images.astype(np.float32) / 255
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=args.validation_size, stratify=y, random_state=0
    )
    rows, best = [], None
    candidates = [
        (w, r)
        for w in args.whitening
        for r in (args.whitening_reg if w != "none" else [None])
    ]
    for whitening, reg in candidates:
        params = dict(
            RECIPES[args.model],
            n_patches=args.n_patches,
            whitening=None if whitening == "none" else whitening,
        )
        if reg is not None:
            params["whitening_reg"] = reg
        (f_train, f_val), seconds = features(params, x_train, x_val)
        for C in args.C:
            predict, head_seconds = head(f_train, y_train, C)
            accuracy = float(np.mean(predict(f_val) == y_val))
            rows.append(
                [
                    whitening,
                    "-" if reg is None else reg,
                    C,
                    f"{accuracy:.4f}",
                    f"{seconds:.0f}",
                    f"{head_seconds:.0f}",
                ]
            )
            print(*rows[-1], flush=True)
            if best is None or accuracy > best[0]:
                best = (accuracy, params, C)
    accuracy, params, C = best
    report(
        f"CIFAR-10, {args.model}: validation accuracy",
        [
            "whitening",
            "whitening_reg",
            "C",
            "validation accuracy",
            "features (s)",
            "head (s)",
        ],
        rows,
        notes=[
            f"{len(x_train)} training / {len(x_val)} validation images (stratified, "
            f"seed 0), n_patches={args.n_patches}, chosen: "
            f"whitening={params['whitening']}, "
            f"whitening_reg={params.get('whitening_reg', '-')}, C={C} "
            f"({accuracy:.4f}). Features: fit on the training split and transform "
            "of both splits, float32; head: StandardScaler + LogisticRegression "
            "(lbfgs, tol 1e-3)."
        ],
        append_to=args.append,
    )
    if args.test is not None:
        x_test, y_test = decode(args.test)
        x_test = x_test.astype(np.float32) / 255
        (f_all, f_test), _ = features(params, x, x_test)
        predict, _ = head(f_all, y, C)
        print(f"test accuracy {np.mean(predict(f_test) == y_test):.4f}")


if __name__ == "__main__":
    main()
