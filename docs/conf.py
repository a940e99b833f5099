"""Sphinx configuration of sklearn-ckn's documentation.

Build (warnings are errors): ``python -m sphinx -W -b html docs docs/_build/html``.
``SKLEARN_CKN_DOCS_QUICK=1`` runs the gallery's examples in their quick mode.
"""

import os

import sklearn_ckn

project = "sklearn-ckn"
author = "the sklearn-ckn developers"
copyright = "2026, the sklearn-ckn developers (BSD-3-Clause)"
release = version = sklearn_ckn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # a copy of MathJax in _static: the formulas render with no network
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "index.md"]
root_doc = "index"

autosummary_generate = True
# the metadata-routing setters scikit-learn generates (set_*_request) and the
# mixins' methods keep their own documentation in scikit-learn's
autodoc_default_options = {
    "members": True,
    "exclude-members": (
        "set_fit_request,set_partial_fit_request,set_score_request,score"
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# every public name must document every parameter and what it returns
numpydoc_validation_checks = {"PR01", "PR02", "RT01", "GL08"}
numpydoc_validation_exclude = {r"\.__init__$", r"\.set_.*_request$", r"\.set_output$"}
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "sklearn-ckn"
html_static_path = []
templates_path = ["_templates"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"digits_demo\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # the timing page would be rewritten into the source tree by every build
    # (and by the test suite's), leaving a clone modified; the times change
    # from machine to machine and mean nothing to a reader
    "write_computation_times": False,
}
os.environ.setdefault("MPLBACKEND", "Agg")
