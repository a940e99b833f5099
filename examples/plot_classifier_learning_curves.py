"""
Training a CKNClassifier end to end
===================================

:class:`~sklearn_ckn.CKNClassifier` starts from the unsupervised filters and
the convex optimum of its linear head, then trains filters and head together.
``loss_curve_`` holds the training objective of each epoch and, with
``early_stopping=True``, ``validation_scores_`` the accuracy on the held-out
fraction after each epoch (the best weights are kept).
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_ckn import CKNClassifier

quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.5, stratify=y, random_state=0
)
clf = CKNClassifier(
    n_filters=(8, 32),
    image_shape=(8, 8),
    loss="log_loss",
    alpha=1e-2,
    learning_rate="invscaling",
    learning_rate_init=1e-2,
    power_t=0.25,
    batch_size=64,
    max_iter=6 if quick else 15,
    early_stopping=True,
    n_iter_no_change=20,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter on purpose
    clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")
print(f"best validation accuracy: {clf.best_validation_score_:.4f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
epochs = range(1, clf.n_iter_ + 1)
left.plot(epochs, clf.loss_curve_, marker="o")
left.set_xlabel("epoch")
left.set_ylabel("training objective")
right.plot(epochs, clf.validation_scores_, marker="o", color="#c63")
right.set_xlabel("epoch")
right.set_ylabel("validation accuracy")
fig.suptitle("CKNClassifier on digits")
fig.tight_layout()
plt.show()
