"""The README's quick start and the demo it points to keep working as written."""

import re
import runpy
from pathlib import Path

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


def _setup_commands():
    """The two commands of the README's set-up, comments left out."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set-up: two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_setup_commands_verbatim():
    install_and_demo, tests = _setup_commands()
    assert '.venv/bin/pip install -e ".[test]"' in install_and_demo
    assert install_and_demo.endswith(".venv/bin/python examples/digits_demo.py")
    assert tests == ".venv/bin/python -m pytest"
    # CI does what the README says, nothing before it that could hide a
    # missing dependency: a fresh venv, the install and demo, the tests last
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert ci[-2:] == [install_and_demo, tests]
    assert ci[:-2] == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "rm -rf .venv"]


def test_digits_demo_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "digits_demo.py"), run_name="__main__")
    out = capsys.readouterr().out
    scores = dict(re.findall(r"^(RBF SVC|CKN).*?(\d\.\d{4})", out, flags=re.M))
    assert set(scores) == {"RBF SVC", "CKN"}
    assert float(scores["CKN"]) >= float(scores["RBF SVC"]) - 0.005
