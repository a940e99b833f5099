"""
Learned filters and feature maps
================================

The first layer of a :class:`~sklearn_ckn.CKNFeatureExtractor` fitted on
digits: its 3x3 filters (the spherical k-means centroids of normalized
patches), then one digit passed through the network stage by stage, each
map shown as images (a few channels of each).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_ckn import CKNFeatureExtractor, plot_filters

X, y = load_digits(return_X_y=True)
ckn = CKNFeatureExtractor(n_filters=(16, 32), image_shape=(8, 8), random_state=0)
ckn.fit(X)

# %%
# The first layer's filters, each a unit-norm 3x3 patch, drawn by
# :func:`~sklearn_ckn.plot_filters` (red positive, blue negative).
plot_filters(ckn, layer=0)

# %%
# One digit through the network. A one-layer extractor with the same first
# layer gives the map after layer 1; the full one gives the features.
first = CKNFeatureExtractor(filters=ckn.filters_[:1], image_shape=(8, 8)).fit(X[:1])
image = X[:1]
layer1 = first.transform(image).reshape(first.output_shape_)  # (16, 4, 4)
layer2 = ckn.transform(image).reshape(ckn.output_shape_)  # (32, 2, 2)

fig, axes = plt.subplots(3, 6, figsize=(8, 4.4))
axes[0, 0].imshow(image.reshape(8, 8), cmap="gray_r")
axes[0, 0].set_title("input 8x8")
for j in range(6):
    axes[1, j].imshow(layer1[j], cmap="viridis")
    axes[2, j].imshow(layer2[j], cmap="viridis")
axes[1, 0].set_title("layer 1 maps, 4x4", loc="left")
axes[2, 0].set_title("layer 2 maps, 2x2", loc="left")
for ax in axes.ravel():
    ax.set_axis_off()
fig.tight_layout()
print(f"features per image: {np.prod(ckn.output_shape_)} = {ckn.output_shape_}")
plt.show()
