"""
Choosing an architecture with GridSearchCV
==========================================

A :class:`~sklearn_ckn.CKNFeatureExtractor` is an ordinary transformer, so
:class:`~sklearn.model_selection.GridSearchCV` can choose its number of
filters and its kernel bandwidth like any other parameter of a
:class:`~sklearn.pipeline.Pipeline`. The cross-validated accuracy of each
pair is shown as a heat map.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_ckn import CKNFeatureExtractor

quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
X, y = load_digits(return_X_y=True)
X, y = (X[:400], y[:400]) if quick else (X[:1000], y[:1000])
model = Pipeline(
    [
        ("ckn", CKNFeatureExtractor(image_shape=(8, 8), random_state=0)),
        ("scale", StandardScaler()),
        ("svc", LinearSVC(C=0.1)),
    ]
)
n_filters = [(4, 8), (8, 16), (16, 64)]
sigmas = [0.4, 0.6, 1.0]
search = GridSearchCV(
    model, {"ckn__n_filters": n_filters, "ckn__sigma": sigmas}, cv=3
).fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.4f}")

# %%
scores = search.cv_results_["mean_test_score"].reshape(len(n_filters), len(sigmas))
fig, ax = plt.subplots(figsize=(5, 3.2))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(sigmas)), [str(s) for s in sigmas])
ax.set_yticks(range(len(n_filters)), [str(f) for f in n_filters])
ax.set_xlabel("sigma")
ax.set_ylabel("n_filters")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w")
fig.colorbar(image, label="3-fold CV accuracy")
fig.tight_layout()
plt.show()
