"""The Examples sections of the public docstrings run and print what they say."""

import doctest
import importlib
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

MODULES = [
    "sklearn_ckn._feature_extraction",
    "sklearn_ckn._classification",
    "sklearn_ckn._dask",
    "sklearn_ckn._linear_head",
    "sklearn_ckn._plotting",
    "sklearn_ckn._power_normalization",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        # the examples train for a couple of epochs on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
