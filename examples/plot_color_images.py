"""
Natural color images: whitening and first-layer color filters
=============================================================

Photographs have strongly correlated neighbouring pixels and channels: on
raw pixels, a first layer's spherical k-means spends most of its filters on
smooth, low-frequency color patches. ``whitening="images"`` learns a ZCA
transform of whole images in ``fit`` (and applies it in ``transform``) that
removes those correlations, leaving edges and color contrasts, which the
filters then pick up. On CIFAR-10 this is worth about 7 points of a linear
classifier's accuracy on the CKN features (``docs/benchmarks.md``).

The data: CIFAR-10's training images when ``CIFAR10_JPEG_NPZ`` points to an
``.npz`` of JPEG bytes (``jpeg``, ``offsets``, ``y``: the layout of
``benchmarks/bench_cifar10.py``, which runs the full benchmark); otherwise
32x32 crops of scikit-learn's two sample photographs (no labels: the example
then shows the whitening and the filters only).
"""

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.model_selection import train_test_split

from sklearn_ckn import CKNFeatureExtractor, LinearHeadClassifier

quick = os.environ.get("SKLEARN_CKN_DOCS_QUICK") == "1"
path = Path(os.environ.get("CIFAR10_JPEG_NPZ", "cifar10_train_jpeg.npz"))
rng = np.random.default_rng(0)

if path.exists():
    from PIL import Image

    data = np.load(path)
    n = 3000 if quick else 12000
    # the file is ordered by class: draw the images at random
    index = np.sort(rng.choice(len(data["y"]), size=n, replace=False))
    jpeg, offsets = data["jpeg"], data["offsets"]
    images = np.stack(
        [
            np.asarray(
                Image.open(
                    io.BytesIO(jpeg[offsets[i] : offsets[i + 1]].tobytes())
                ).convert("RGB")
            )
            for i in index
        ]
    )
    labels = data["y"][index]
    print(f"{n} CIFAR-10 images from {path}")
else:
    photos = load_sample_images().images  # two 427 x 640 color photographs
    n = 1000 if quick else 4000
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - 32)
        left = rng.integers(photo.shape[1] - 32)
        crops.append(photo[top : top + 32, left : left + 32])
    images, labels = np.stack(crops), None
    print(f"No CIFAR-10 data at {path}: {n} 32x32 crops of the sample photographs")

# each image centred on its own mean, as in the benchmark
X = images.astype(np.float32) / 255
X -= X.mean(axis=(1, 2, 3), keepdims=True)

# the figures need the first layer only; the classification, both layers
network = dict(patch_size=3, subsampling=(2, 6), sigma=0.6, channel_axis=-1)
first_layer = dict(network, n_filters=64, subsampling=2, random_state=0)
plain = CKNFeatureExtractor(**first_layer).fit(X)
white = CKNFeatureExtractor(**first_layer, whitening="images").fit(X)


def show(ax, picture, scale=None):
    """A color array on the axis, grey at 0, +-``scale`` (default: its
    largest magnitude) at the ends of the range."""
    scale = scale or float(np.abs(picture).max()) or 1.0
    ax.imshow(np.clip(0.5 + 0.5 * picture / scale, 0, 1))
    ax.set_axis_off()


# %%
# Images before and after the learned whitening. ``whitening_mean_`` and
# ``whitening_matrix_`` line up with the flattened images: the whitened image
# is ``(x - mean) @ matrix``. What is left are edges and color contrasts
# (shown on one scale for all images: flat images stay grey).
whitened = (X.reshape(len(X), -1) - white.whitening_mean_) @ white.whitening_matrix_
whitened = whitened.reshape(X.shape)
scale = float(np.quantile(np.abs(whitened), 0.99))
fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
for j, i in enumerate(rng.choice(len(X), size=8, replace=False)):
    axes[0, j].imshow(images[i])
    axes[0, j].set_axis_off()
    show(axes[1, j], whitened[i], scale)
axes[0, 0].set_title("images", loc="left", fontsize=9)
axes[1, 0].set_title("whitened", loc="left", fontsize=9)
fig.tight_layout()

# %%
# What the first layer's k-means sees: 3x3 color patches of the whitened
# images, each divided by its norm (shown enlarged, grey at 0).
fig, axes = plt.subplots(3, 12, figsize=(8, 2.2))
for ax in axes.ravel():
    i, top, left = rng.integers(len(X)), rng.integers(30), rng.integers(30)
    patch = whitened[i, top : top + 3, left : left + 3]
    show(ax, patch / (np.linalg.norm(patch) or 1.0))
fig.suptitle("Normalized 3x3 patches of whitened images")

# %%
# The 64 first-layer filters learned without and with whitening, as color
# patches (each stored as (channels, 3, 3) in ``filters_[0]``), on one
# scale. On raw pixels a large share are flat patches of one color (a patch's
# mean dominates its norm); on whitened images more of them are oriented
# edges, bars and color-opponent patterns.
fig, grids = plt.subplots(1, 2, figsize=(8, 4.4))
for grid, model, title in zip(grids, [plain, white], ["no whitening", "whitening"]):
    filters = model.filters_[0].transpose(0, 2, 3, 1)  # (64, 3, 3, RGB)
    mosaic = np.zeros((8 * 4 - 1, 8 * 4 - 1, 3))
    for k, f in enumerate(filters):
        r, c = divmod(k, 8)
        mosaic[4 * r : 4 * r + 3, 4 * c : 4 * c + 3] = f
    show(grid, mosaic)
    grid.set_title(title)
fig.suptitle("First-layer filters")
fig.tight_layout()

# %%
# With labels (CIFAR-10), the two feature sets under the same linear head,
# :class:`~sklearn_ckn.LinearHeadClassifier` (standardized features,
# preconditioned L-BFGS), on a held-out quarter of the images.
if labels is not None:
    train, test = train_test_split(
        np.arange(len(X)), test_size=0.25, stratify=labels, random_state=0
    )
    for name, whitening in [("no whitening", None), ("whitening", "images")]:
        ckn = CKNFeatureExtractor(
            **network, n_filters=(64, 256), whitening=whitening, random_state=0
        ).fit(X[train])
        head = LinearHeadClassifier(alpha=1e-3).fit(
            ckn.transform(X[train]), labels[train]
        )
        accuracy = head.score(ckn.transform(X[test]), labels[test])
        print(f"{name}: held-out accuracy {accuracy:.3f}")
plt.show()
