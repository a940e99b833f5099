"""
One-dimensional signals: MNIST-1D
=================================

CKNs work on signals as on images: a 2-D ``X`` without ``image_shape`` is
read as one-channel signals. MNIST-1D (Greydanus, 2020) turns the ten digits
into 40-sample signals, shifted, scaled, sheared and noised; its generator
(``pip install mnist1d``) makes the standard 4,000/1,000 split offline. The
unsupervised 1-D CKN features with a linear classifier are compared with the
same classifier on the raw signals. (Greydanus reports 32 % for logistic
regression on the signals, 94 % for a CNN; :class:`~sklearn_ckn.CKNClassifier`
trained end to end reaches about 95 %, see ``docs/benchmarks.md``.)
"""

import os

import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import CKNFeatureExtractor

try:
    from mnist1d.data import get_dataset_args, make_dataset
except ImportError:  # the gallery needs it; say so plainly elsewhere
    raise SystemExit("This example needs mnist1d: pip install mnist1d") from None

quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
data = make_dataset(get_dataset_args())
n = 1000 if quick else len(data["x"])
X_train, y_train = data["x"][:n], data["y"][:n]
X_test, y_test = data["x_test"], data["y_test"]

pixels = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
ckn = make_pipeline(
    CKNFeatureExtractor(
        n_filters=(16, 64), patch_size=(5, 3), subsampling=(2, 2), random_state=0
    ),
    StandardScaler(),
    LogisticRegression(C=0.1, max_iter=2000),
)
for name, model in {"raw signals": pixels, "1-D CKN features": ckn}.items():
    print(
        f"{name:>17}: accuracy {model.fit(X_train, y_train).score(X_test, y_test):.3f}"
    )

# %%
fig, axes = plt.subplots(2, 5, figsize=(9, 3), sharex=True, sharey=True)
for digit, ax in enumerate(axes.ravel()):
    ax.plot(X_train[y_train == digit][0])
    ax.set_title(str(digit))
fig.suptitle("One training signal of each class")
fig.tight_layout()
plt.show()
