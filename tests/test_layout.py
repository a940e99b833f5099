"""The package's layout as the README describes it: every module in its
layer, imports running one way (estimators -> network -> ops -> backend) with
no circle, and the training loop usable below the estimator."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor
from sklearn_ckn._epochs import StoppingRules, TrainingRecord, final_head, run_epochs
from sklearn_ckn._ops.head import encode_targets
from sklearn_ckn._ops.patches import filters_to_internal
from sklearn_ckn._training import CKNTrainer, TrainingConfig

from ._fitting import training_order

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sklearn_ckn"
#: the README's layers, lowest first
LAYERS = ("backend", "ops (array API)", "network", "estimators")


def _readme_layers():
    """{module path relative to the package: layer rank} from the README's
    layout table; a folder (``_ops/``) stands for every module in it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ranks = {}
    for rank, layer in enumerate(LAYERS):
        row = re.search(rf"^\| {re.escape(layer)} \| (.*?) \|", text, re.MULTILINE)
        assert row is not None, f"README's layout table has no row {layer!r}"
        for name in re.findall(r"`([^`]+)`", row.group(1)):
            name = name.removeprefix("sklearn_ckn/")
            if name.endswith("/"):
                for path in (PACKAGE / name).glob("*.py"):
                    ranks[str(path.relative_to(PACKAGE))] = rank
            else:
                ranks[name] = rank
    return ranks


def _modules():
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent != PACKAGE
    }


def _relative_imports(module):
    """The package modules ``module`` imports (relative imports only: the
    package never imports itself by name)."""
    path = PACKAGE / module
    package = list(Path(module).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            parts = base + (node.module.split(".") if node.module else [])
            target = "/".join(parts)
            if (PACKAGE / f"{target}.py").exists():
                found.add(f"{target}.py")
            elif node.module is None or (PACKAGE / target).is_dir():
                # "from . import x" / "from .pkg import x": the modules named
                for alias in node.names:
                    candidate = "/".join([*parts, alias.name]) + ".py"
                    if (PACKAGE / candidate).exists():
                        found.add(candidate)
                found.add(f"{target}/__init__.py")
    return found


def test_readme_layout_names_every_module_and_only_those():
    ranks = _readme_layers()
    named = set(ranks) - {"_ops/__init__.py"}
    assert named == _modules() - {"_ops/__init__.py"}


def test_imports_run_one_way_without_circles():
    ranks = _readme_layers()
    graph = {module: _relative_imports(module) for module in _modules()}
    upward = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if target in ranks and ranks[target] > ranks[module]
    ]
    assert upward == [], f"imports from a lower layer to a higher one: {upward}"

    # depth-first search for a back edge
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in graph.get(module, ()):
            if state.get(target) == "open":
                raise AssertionError(f"import circle: {[*path, target]}")
            if target in graph and target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


# three epochs on purpose: both runs warn that max_iter stopped them
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_training_loop_runs_without_an_estimator():
    """CKNTrainer + run_epochs + final_head, driven by hand, give the
    classifier's model bit for bit: the loop lives below the estimator."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:120] / 16, y[:120]
    filters = (
        CKNFeatureExtractor(n_filters=(4, 6), image_shape=(8, 8), random_state=0)
        .fit(X)
        .filters_
    )
    settings = dict(
        n_filters=(4, 6),
        image_shape=(8, 8),
        filters=filters,
        loss="log_loss",
        solver="adam",
        learning_rate_init=1e-2,
        batch_size=32,
        max_iter=3,
        head_alpha=1e-3,
        random_state=0,
    )
    with threadpool_limits(1):
        clf = CKNClassifier(**settings).fit(X, y)

        # the rows in the order the fit trains on them (sorted by value)
        X, y = training_order(X, y)
        classes, class_index = np.unique(y, return_inverse=True)
        config = TrainingConfig(
            loss="log_loss",
            alpha=1e-4,
            solver="adam",
            learning_rate="constant",
            learning_rate_init=1e-2,
            power_t=0.5,
            momentum=0.9,
            batch_size=32,
            shuffle=True,
            head_max_iter=300,
        )
        trainer = CKNTrainer(
            clf._specs,
            clf._shapes,
            [filters_to_internal(f, np) for f in filters],
            len(classes),
            config,
            np,
            None,
            np.float64,
        )
        maps = X.reshape(-1, 8, 8, 1)
        targets = encode_targets(class_index, len(classes), "log_loss", np, np.float64)
        trainer.init_head(maps, targets)
        record = TrainingRecord.new(early_stopping=False)
        # the estimator's generator: one draw from its random_state
        rng = np.random.default_rng(
            check_random_state(0).randint(np.iinfo(np.int32).max)
        )
        run_epochs(
            trainer,
            record,
            maps,
            targets,
            None,
            rules=StoppingRules(
                max_iter=3, tol=1e-4, n_iter_no_change=10, learning_rate="constant"
            ),
            n_epochs=3,
            rng=rng,
            incremental=False,
        )
        coef, intercept, mean, scale = final_head(trainer, maps, targets, 1e-3, 300)

    assert record.n_iter_ == clf.n_iter_ == 3
    assert_array_equal(record.loss_curve_, clf.loss_curve_)
    assert_array_equal(coef, clf.coef_)
    assert_array_equal(intercept, clf.intercept_)
    assert_array_equal(mean, clf.feature_mean_)
    assert_array_equal(scale, clf.feature_scale_)
