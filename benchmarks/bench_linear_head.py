"""The linear head on CIFAR-10 CKN features: LinearHeadClassifier against
scikit-learn's LogisticRegression, side by side, on the same problem.

Both minimize the multinomial logistic loss on standardized features plus an
L2 penalty: ``LinearHeadClassifier(alpha=a)`` the mean loss plus ``a/2
||W||^2``, ``make_pipeline(StandardScaler(), LogisticRegression(C=1 / (a
n)))`` the same objective times ``C n``. Each solver runs at its default
tolerance and at a tighter one (``--tol``, ``--sklearn-tol``); printed: wall
time, iterations, the objective reached (mean loss plus penalty, computed
the same way for both) and the validation accuracy. The features are those
of ``bench_cifar10.py``'s recipe (each image centred, ``whitening="images"``,
no mirror images), on its stratified 45,000 / 5,000 split, computed once and
cached in ``.cache/``.

Run (from ``benchmarks/``): ``python bench_linear_head.py --model
unsupervised-64-256 [--alpha 1e-4] [--append ../docs/benchmarks_history.md]``.
"""

import argparse
import time
import warnings

import numpy as np
from _report import report
from bench_cifar10 import DEFAULT_DATA, HERE, NETWORK, RECIPES, decode, prepare
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import CKNFeatureExtractor, LinearHeadClassifier


def cached_features(model, data):
    """Training and validation features and labels of ``model``'s network."""
    cache = HERE / ".cache" / f"features-{model}.npz"
    if cache.exists():
        stored = np.load(cache)
        return [stored[k] for k in ("f_train", "f_val", "y_train", "y_val")]
    images, y = decode(data)
    x = prepare(images, "image")
    train, val = train_test_split(
        np.arange(len(y)), test_size=5000, stratify=y, random_state=0
    )
    ckn = CKNFeatureExtractor(
        **NETWORK, **RECIPES[model], whitening="images", random_state=0
    ).fit(x[train])
    out = [ckn.transform(x[train]), ckn.transform(x[val]), y[train], y[val]]
    np.savez(cache, **dict(zip(("f_train", "f_val", "y_train", "y_val"), out)))
    return out


def objective(coef, intercept, standardized, y, alpha):
    """Mean multinomial log loss plus alpha / 2 ||W||^2, in float64, for
    weights ``coef`` on the standardized features."""
    f = standardized.astype(np.float64) @ coef.T.astype(np.float64) + intercept
    loss = np.mean(logsumexp(f, axis=1) - f[np.arange(len(y)), y])
    return loss + 0.5 * alpha * float(np.sum(coef.astype(np.float64) ** 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument(
        "--model", default="unsupervised-64-256", choices=sorted(RECIPES)
    )
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--tol", type=float, nargs="+", default=[1e-5, 1e-6])
    parser.add_argument("--sklearn-tol", type=float, nargs="+", default=[1e-3, 1e-4])
    parser.add_argument("--append", default=None)
    args = parser.parse_args()

    f_train, f_val, y_train, y_val = cached_features(args.model, args.data)
    n = len(y_train)
    scaler = StandardScaler().fit(f_train)
    standardized = scaler.transform(f_train)
    solvers = [
        (
            f"LinearHeadClassifier(alpha={args.alpha:g}, tol={tol:g})",
            LinearHeadClassifier(alpha=args.alpha, tol=tol),
        )
        for tol in args.tol
    ] + [
        (
            f"StandardScaler + LogisticRegression(C={1 / (args.alpha * n):.3g}, "
            f"lbfgs, tol={tol:g})",
            make_pipeline(
                StandardScaler(),
                LogisticRegression(C=1 / (args.alpha * n), tol=tol, max_iter=1000),
            ),
        )
        for tol in args.sklearn_tol
    ]
    rows = []
    for name, model in solvers:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(f_train, y_train)
        seconds = time.perf_counter() - start
        if isinstance(model, LinearHeadClassifier):
            # back to weights on the standardized features
            coef = model.coef_ * model.feature_scale_
            intercept = model.intercept_ + model.coef_ @ model.feature_mean_
            n_iter = model.n_iter_
        else:
            head = model[-1]
            coef, intercept, n_iter = head.coef_, head.intercept_, int(head.n_iter_[0])
        value = objective(coef, intercept, standardized, y_train, args.alpha)
        accuracy = float(np.mean(model.predict(f_val) == y_val))
        converged = "no (ConvergenceWarning)" if caught else "yes"
        rows.append(
            [
                name,
                f"{seconds:.0f}",
                n_iter,
                f"{value:.6f}",
                f"{accuracy:.4f}",
                converged,
            ]
        )
        print(*rows[-1], flush=True)
    report(
        f"Linear head on CIFAR-10 CKN features ({args.model}, "
        f"{f_train.shape[0]} x {f_train.shape[1]})",
        [
            "solver",
            "wall time (s)",
            "iterations",
            "objective",
            "validation accuracy",
            "converged",
        ],
        rows,
        notes=[
            "Same objective for every row (mean multinomial log loss on the "
            f"standardized features + alpha/2 ||W||^2, alpha={args.alpha:g}, float64); "
            "features float32, each image centred, whitening='images', stratified "
            "45,000 / 5,000 split (seed 0)."
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
