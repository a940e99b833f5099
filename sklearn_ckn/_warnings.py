"""Warnings reported at the user's line.

A fixed ``stacklevel`` breaks whenever a call path gains a frame (a
decorator, a helper, scikit-learn's ``_fit_context`` wrapper, a Pipeline):
this walks out of sklearn-ckn and scikit-learn instead.
"""

import os
import sys
import warnings

import sklearn

__all__ = ["warn_user"]

#: frames in these folders are library frames, not the user's
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sys.modules[__package__], sklearn)
)


def warn_user(message, category=UserWarning):
    """:func:`warnings.warn` with the stack level of the first frame outside
    sklearn-ckn and scikit-learn: the call the user wrote."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and os.path.abspath(
        frame.f_code.co_filename
    ).startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
