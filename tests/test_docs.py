"""The documentation builds with no warning, its examples run and write
their figures (the gallery in its quick mode)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: examples that draw only when the environment variable names their data
NEEDS_DATA = {"plot_fashion_mnist": "FASHION_MNIST_NPZ"}


def _tree_status():
    """``git status`` of the checkout (untracked files listed one by one), or
    None outside a git checkout."""
    if not (ROOT / ".git").exists():
        return None
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


#: a script or stylesheet fetched from another host
REMOTE = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.IGNORECASE
)


def _assert_nothing_remote(out):
    """Every page reads its scripts and styles (MathJax included) from the
    build itself: the docs, formulas too, work with no network."""
    pages = list(out.rglob("*.html"))
    assert pages
    for page in pages:
        match = REMOTE.search(page.read_text(encoding="utf-8"))
        assert match is None, (page, match and match.group(0))
    formulas = (out / "user_guide.html").read_text(encoding="utf-8")
    assert '_static/mathjax/tex-chtml.js"' in formulas
    assert (out / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_docs_build_without_warnings(tmp_path):
    before = _tree_status()
    out = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            "docs",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "SKLEARN_CKN_DOCS_QUICK": "1", "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # what the build writes into docs/ (the gallery, the API pages) is ignored
    # by git: a clone stays as it was
    assert _tree_status() == before
    # every example ran and has its page; those that need no outside data
    # wrote their figures (Fashion-MNIST draws only where its data is)
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 6
    images = {p.name for p in (out / "_images").glob("sphx_glr_*.png")}
    for name in examples:
        assert (out / "auto_examples" / f"{name}.html").exists(), name
        if name in NEEDS_DATA and not os.environ.get(NEEDS_DATA[name]):
            continue
        assert any(image.startswith(f"sphx_glr_{name}_0") for image in images), name
    _assert_nothing_remote(out)
    # the API reference has a page for every public name
    import sklearn_ckn

    for name in sklearn_ckn.__all__:
        assert (out / "generated" / f"sklearn_ckn.{name}.html").exists(), name
