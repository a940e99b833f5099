"""Where and how the estimators compute: the ``device`` parameter's
constraint, array API dispatch, the input's namespace, and the decorator of
the methods that compute (one BLAS thread, the GPU asked for)."""

import functools

import numpy as np
from sklearn import get_config
from sklearn.utils._param_validation import StrOptions

from ._backend import array_namespace, gpu_context, parse_device
from ._blas import thread_count_independent

__all__ = ["DeviceOptions", "compute_method", "dispatch_on", "input_namespace"]


def dispatch_on():
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    return get_config()["array_api_dispatch"]


class DeviceOptions(StrOptions):
    """scikit-learn's constraint of the ``device`` strings, "cuda:N" (a GPU
    index, CuPy's and PyTorch's spelling) included."""

    def is_satisfied_by(self, val):
        try:
            parse_device(val)
        except ValueError:
            return False
        return isinstance(val, str)

    def __str__(self):
        return f"{super().__str__()} or 'cuda:N' with N the index of a GPU"


def compute_method(method):
    """Decorate an estimator's method that computes: BLAS held at one thread
    (:func:`~sklearn_ckn._blas.thread_count_independent`) and, for
    ``device="cuda:N"``, GPU N made CuPy's current device."""
    held = thread_count_independent(method)

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with gpu_context(self.device):
            return held(self, *args, **kwargs)

    return run


def input_namespace(X):
    """The namespace of X under array API dispatch; NumPy otherwise."""
    if dispatch_on():
        try:
            return array_namespace(X)
        except TypeError:  # lists, DataFrames and other array-likes
            pass
    return array_namespace(np.empty(0))
