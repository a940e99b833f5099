"""Digests of every number a fixed set of fits produces, for refactors.

Run it before and after a change that must not change any result (in two
``git worktree`` checkouts, or before and after a commit) and compare the
outputs: every line must be equal. The fits cover the extractor under each
whitening, the classifier under each solver with and without early stopping
(and a ``partial_fit``), a weighted fit with ``class_weight="balanced"``,
and ``LinearHeadClassifier``, in float64 and float32; each line is a digest
of the filters, maps, coefficients, decision functions, predictions and loss
curves. Results do not depend on the thread count, so the machine's load
does not matter. Run: ``python benchmarks/fingerprint.py > before.txt``.
"""

import hashlib
import warnings

import numpy as np
from sklearn.datasets import load_digits

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor, LinearHeadClassifier


def digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def main():
    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    network = dict(image_shape=(8, 8), random_state=0)
    for dtype in ("float64", "float32"):
        Xd = X.astype(dtype)
        for whitening in (None, "images", "patches"):
            ckn = CKNFeatureExtractor(n_filters=(8, 16), whitening=whitening, **network)
            ckn.fit(Xd)
            print(
                f"extractor {dtype} {whitening}",
                digest([*ckn.filters_, *ckn.lintrans_, ckn.transform(Xd)]),
            )
        for solver in ("adam", "sgd", "exact_head"):
            for early_stopping in (False, True):
                clf = CKNClassifier(
                    n_filters=(6, 12),
                    solver=solver,
                    max_iter=3,
                    early_stopping=early_stopping,
                    head_alpha=1e-2 if solver == "sgd" else None,
                    **network,
                ).fit(Xd, y)
                if not early_stopping:
                    clf.partial_fit(Xd, y)
                arrays = [*clf.filters_, clf.coef_, clf.intercept_]
                arrays += [clf.decision_function(Xd), clf.predict(Xd)]
                arrays.append(np.array(clf.loss_curve_))
                print(f"classifier {dtype} {solver} {early_stopping}", digest(arrays))
        weighted = CKNClassifier(
            n_filters=(6, 12), max_iter=2, class_weight="balanced", **network
        ).fit(Xd, y, sample_weight=np.arange(300) % 3)
        print(
            f"classifier {dtype} weighted",
            digest(
                [*weighted.filters_, weighted.coef_, weighted.decision_function(Xd)]
            ),
        )
        features = CKNFeatureExtractor(n_filters=(8, 16), **network).fit_transform(Xd)
        head = LinearHeadClassifier().fit(features, y)
        print(
            f"linear head {dtype}",
            digest([head.coef_, head.intercept_, head.predict_proba(features)]),
        )


if __name__ == "__main__":
    main()
