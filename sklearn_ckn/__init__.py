"""Convolutional Kernel Networks (Mairal et al. 2014; Mairal 2016) for scikit-learn."""

from ._classification import CKNClassifier
from ._dask import dask_predict, dask_transform
from ._feature_extraction import CKNFeatureExtractor
from ._linear_head import LinearHeadClassifier
from ._plotting import plot_filters
from ._power_normalization import signed_sqrt

__all__ = [
    "CKNClassifier",
    "CKNFeatureExtractor",
    "dask_predict",
    "dask_transform",
    "LinearHeadClassifier",
    "plot_filters",
    "signed_sqrt",
]
__version__ = "0.1.0.dev0"
