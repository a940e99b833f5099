"""The README's quick start and the demo it points to keep working as written."""

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2  # the quick start, then Dask
    return blocks


def test_readme_quick_start_runs_and_scores(capsys):
    exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    accuracy = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert accuracy >= 0.98


def test_readme_dask_example_runs_and_prints_what_it_says(capsys):
    pytest.importorskip("distributed")
    block = _python_blocks()[1]
    exec(compile(block, "README.md", "exec"), {})
    first, second = capsys.readouterr().out.strip().splitlines()[-2:]
    # the comment on the print line states its output
    promised = re.search(r"print\(features.*# (.*)", block).group(1)
    assert first == promised
    assert second in (
        "{'ckn__n_filters': (4, 8)}",
        "{'ckn__n_filters': (8, 16)}",
    )


def test_readme_commands_name_the_demo_and_the_tests():
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/python examples/digits_demo.py" in readme
    assert "\n.venv/bin/python -m pytest\n" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == ".venv/bin/python -m pytest"


def test_digits_demo_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "digits_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    scores = dict(re.findall(r"^(RBF SVC|CKN).*?(\d\.\d{4})", out, flags=re.M))
    assert set(scores) == {"RBF SVC", "CKN"}
    assert float(scores["CKN"]) >= float(scores["RBF SVC"]) - 0.005
