"""The array namespaces the core is tested on.

NumPy and array-api-strict always; CuPy as well on a machine where it imports
and a GPU answers (run ``benchmarks/gpu_check.py`` there).
"""

import array_api_strict
from array_api_compat import numpy as compat_numpy

from sklearn_ckn._backend import cupy_available


def namespaces_under_test():
    """Mapping of an id to a namespace module, for ``pytest.mark.parametrize``."""
    namespaces = {"numpy": compat_numpy, "array_api_strict": array_api_strict}
    if cupy_available():
        from array_api_compat import cupy as compat_cupy

        namespaces["cupy"] = compat_cupy
    return namespaces
