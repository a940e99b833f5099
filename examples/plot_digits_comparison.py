"""
CKN features against pixels and Nystroem
========================================

The same linear classifier (:class:`~sklearn.svm.LinearSVC`) on three
representations of the digits: the raw pixels, scikit-learn's
:class:`~sklearn.kernel_approximation.Nystroem` approximation of an RBF
kernel on whole images, and CKN features, which approximate a kernel built
from patches, with some invariance to small shifts. Each in a
:class:`~sklearn.pipeline.Pipeline`, scored on the same held-out half.
"""

import os
import time

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_ckn import CKNFeatureExtractor

quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
X, y = load_digits(return_X_y=True)
if quick:
    X, y = X[:600], y[:600]
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.5, stratify=y, random_state=0
)
models = {
    "pixels": make_pipeline(StandardScaler(), LinearSVC(C=0.01)),
    "Nystroem (RBF)": make_pipeline(
        Nystroem(gamma=0.02, n_components=500, random_state=0),
        StandardScaler(),
        LinearSVC(C=0.01),
    ),
    "CKN": make_pipeline(
        CKNFeatureExtractor(n_filters=(32, 128), image_shape=(8, 8), random_state=0),
        StandardScaler(),
        LinearSVC(C=0.1),
    ),
}
scores, seconds = {}, {}
for name, model in models.items():
    start = time.perf_counter()
    scores[name] = model.fit(X_train, y_train).score(X_test, y_test)
    seconds[name] = time.perf_counter() - start
    print(f"{name:>15}: accuracy {scores[name]:.4f} ({seconds[name]:.1f} s)")

# %%
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.barh(list(scores), list(scores.values()), color=["#999", "#69c", "#c63"])
ax.set_xlim(min(scores.values()) - 0.02, 1.0)
ax.set_xlabel("test accuracy")
ax.set_title("LinearSVC on three representations of the digits")
fig.tight_layout()
plt.show()
