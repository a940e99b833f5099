"""Loading an image data set stored as .npz (Fashion-MNIST's layout)."""

import numpy as np


def load_images(path, n_train=None):
    """X_train, y_train, X_test, y_test from ``path``, images scaled to [0, 1].

    The file holds uint8 images ``X_train`` and ``X_test`` and labels
    ``y_train`` and ``y_test``; the images come back as float32, the first
    ``n_train`` training ones only when given.
    """
    data = np.load(path)
    X_train = data["X_train"][:n_train].astype(np.float32) / 255
    X_test = data["X_test"].astype(np.float32) / 255
    return X_train, data["y_train"][:n_train], X_test, data["y_test"]
