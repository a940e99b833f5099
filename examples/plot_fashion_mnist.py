"""
Fashion-MNIST, when its data is present
=======================================

The 28x28 images of Fashion-MNIST (Xiao et al., 2017) with the network of
the benchmarks (64 then 256 filters): unsupervised CKN features and a linear
classifier. The data are not downloaded: point ``FASHION_MNIST_NPZ`` to an
``.npz`` with ``X_train, y_train, X_test, y_test`` (uint8 images), e.g. built
from Debian's ``dataset-fashion-mnist`` package. Without it, the example says
so and stops. Here a subset is used; ``benchmarks/bench_fashion_mnist.py``
runs the full comparison, supervised training included (figures in
``docs/benchmarks.md``).
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ckn import CKNFeatureExtractor

path = Path(os.environ.get("FASHION_MNIST_NPZ", "fashion_mnist.npz"))
quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
if not path.exists():
    print(
        f"No Fashion-MNIST data at {path}: set FASHION_MNIST_NPZ to run this example."
    )
else:
    data = np.load(path)
    n_train, n_test = (1000, 500) if quick else (5000, 2000)
    X_train = data["X_train"][:n_train].astype(np.float32) / 255
    X_test = data["X_test"][:n_test].astype(np.float32) / 255
    y_train, y_test = data["y_train"][:n_train], data["y_test"][:n_test]
    model = make_pipeline(
        CKNFeatureExtractor(
            n_filters=(64, 256), sigma=0.6, subsampling=(2, 6), random_state=0
        ),
        StandardScaler(),
        LogisticRegression(C=0.01, max_iter=3000),
    )
    model.fit(X_train, y_train)
    print(f"{n_train} training images: test accuracy {model.score(X_test, y_test):.3f}")

    # %%
    fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
    for ax, image, label in zip(axes.ravel(), X_test, model.predict(X_test)):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(str(label), fontsize=8)
        ax.set_axis_off()
    fig.suptitle("Test images and their predicted classes")
    plt.show()
