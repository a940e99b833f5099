"""Test configuration.

scikit-learn's ``array_api_dispatch`` needs ``SCIPY_ARRAY_API=1`` in the
environment before SciPy is first imported, so it is set here, ahead of any
test module import. The ``xp`` fixture runs a test once per array namespace
under test (``_namespaces.py``).
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402

from ._namespaces import namespaces_under_test  # noqa: E402

_NAMESPACES = namespaces_under_test()


@pytest.fixture(params=list(_NAMESPACES.values()), ids=list(_NAMESPACES))
def xp(request):
    """An array namespace: NumPy, array-api-strict, and CuPy where a GPU answers."""
    return request.param
