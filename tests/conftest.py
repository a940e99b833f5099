"""Test configuration.

scikit-learn's ``array_api_dispatch`` needs ``SCIPY_ARRAY_API=1`` in the
environment before SciPy is first imported, so it is set here, ahead of any
test module import.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
