"""Linear models on CKN features with and without StandardScaler (digits).

The features' columns differ in scale (filters, border positions) and are
small; this measures what standardizing them is worth to scikit-learn's
linear models at their default settings, by 5-fold cross-validation of the
whole pipeline. Run from ``benchmarks/``: ``python bench_standardization.py
[--append ../docs/benchmarks_history.md]``.
"""

import argparse
import time
import warnings

import numpy as np
from _report import report
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_ckn import CKNFeatureExtractor

HEADS = {
    "LinearSVC(random_state=0)": lambda: LinearSVC(random_state=0),
    "LogisticRegression(max_iter=2000)": lambda: LogisticRegression(max_iter=2000),
}


def extractor():
    return CKNFeatureExtractor(image_shape=(8, 8), random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", help="Markdown file to append the table to")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    scales = extractor().fit(X).transform(X).std(axis=0)
    spread = np.percentile(scales, 90) / np.percentile(scales, 10)
    rows = []
    for name, head in HEADS.items():
        row = [f"`{name}`"]
        for standardize in (False, True):
            steps = [extractor(), *([StandardScaler()] if standardize else []), head()]
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                scores = cross_val_score(make_pipeline(*steps), X, y, cv=5)
            row.append(f"{scores.mean():.3f} +- {scores.std():.3f}")
            row.append(f"{time.perf_counter() - start:.0f}")
        rows.append(row)
    report(
        "Linear models on CKN features, with and without StandardScaler (digits)",
        ["head", "raw features", "time (s)", "standardized", "time (s)"],
        rows,
        notes=[
            "5-fold cross-validated accuracy of "
            "`make_pipeline(CKNFeatureExtractor(image_shape=(8, 8), random_state=0), "
            "[StandardScaler()], head)` on the 1,797 digits scaled to [0, 1] "
            "(default network, (32, 128) filters, 512 features). The columns' "
            f"standard deviations run from {scales.min():.2g} to {scales.max():.2g}; "
            f"the 90th percentile is {spread:.1f} "
            "times the 10th."
        ],
        append_to=args.append,
    )


if __name__ == "__main__":
    main()
