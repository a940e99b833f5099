"""Faults: interrupted and failed fits leave consistent estimators.

- a KeyboardInterrupt during training keeps a usable model (with a warning)
  that ``warm_start`` and ``partial_fit`` resume;
- a KeyboardInterrupt before training (during the unsupervised start)
  propagates and leaves an earlier fit as it was;
- a fit that fails mid-way (bad input found in a deeper layer) leaves an
  earlier fit as it was.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor, _training, _unsupervised
from sklearn_ckn._ops.kmeans import TooFewDistinctPatchesError

from ._fitting import fit_quietly

# every attribute a fit sets
CLASSIFIER_STATE = (
    "classes_",
    "filters_",
    "lintrans_",
    "coef_",
    "intercept_",
    "feature_mean_",
    "feature_scale_",
    "loss_curve_",
    "n_iter_",
    "best_loss_",
    "image_shape_",
    "output_shape_",
    "n_features_in_",
)
EXTRACTOR_STATE = (
    "filters_",
    "lintrans_",
    "image_shape_",
    "output_shape_",
    "n_features_in_",
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:150] / 16.0, y[:150]


def _dots(n=12):
    """Images of one dot at the same place (few distinct patches)."""
    X = np.zeros((n, 64))
    X[:, 27] = 1.0
    return X


#: the error of a fit whose layer 1 finds no patch (see _fail_in_layer_1)
LAYER_1_FAILS = "layer 1 has no patch to learn from"


def _fail_in_layer_1(monkeypatch):
    """Make every later fit fail in layer 1's k-means, after layer 0 has
    learned: as if layer 0's responses had all underflowed to 0. Returns a
    function that undoes it."""
    original = _unsupervised._kmeans_within_distinct

    def failing(patches, n_filters, rng, xp, layer, on_too_few):
        if layer == 1:
            raise TooFewDistinctPatchesError(n_filters, 0)
        return original(patches, n_filters, rng, xp, layer, on_too_few)

    monkeypatch.setattr(_unsupervised, "_kmeans_within_distinct", failing)
    return lambda: monkeypatch.setattr(
        _unsupervised, "_kmeans_within_distinct", original
    )


def _classifier(**kwargs):
    params = dict(n_filters=(4, 20), image_shape=(8, 8), max_iter=3, random_state=0)
    params.update(kwargs)
    return CKNClassifier(**params)


_fit_quietly = fit_quietly


def _state(estimator, names):
    """Copies of the fitted attributes (lists of arrays included)."""
    state = {}
    for name in names:
        value = getattr(estimator, name)
        if isinstance(value, list):
            value = [np.array(v, copy=True) for v in value]
        elif isinstance(value, np.ndarray):
            value = value.copy()
        state[name] = value
    return state


def _assert_same_state(estimator, state):
    for name, before in state.items():
        after = getattr(estimator, name)
        if isinstance(before, list):
            assert len(after) == len(before), name
            for a, b in zip(after, before):
                np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_array_equal(after, before, err_msg=name)


def _interrupt(monkeypatch, owner, name, on_call):
    """Make ``owner.name`` raise KeyboardInterrupt on its ``on_call``-th call."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == on_call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)
    return original


def test_failed_classifier_refit_leaves_the_previous_fit(digits, monkeypatch):
    X, y = digits
    clf = _fit_quietly(_classifier(), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    scores = clf.decision_function(X)
    _fail_in_layer_1(monkeypatch)
    with pytest.raises(ValueError, match=LAYER_1_FAILS):
        clf.fit(_dots(), np.arange(12) % 3)
    _assert_same_state(clf, state)
    np.testing.assert_array_equal(clf.decision_function(X), scores)
    # and it still trains on from there
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 1
    assert len(clf.loss_curve_) == len(state["loss_curve_"]) + 1


def test_failed_extractor_refit_leaves_the_previous_fit(digits, monkeypatch):
    X = digits[0]
    ckn = CKNFeatureExtractor(n_filters=(4, 20), image_shape=(8, 8), random_state=0)
    ckn.fit(X)
    state = _state(ckn, EXTRACTOR_STATE)
    features = ckn.transform(X)
    _fail_in_layer_1(monkeypatch)
    with pytest.raises(ValueError, match=LAYER_1_FAILS):
        ckn.fit(_dots())
    _assert_same_state(ckn, state)
    np.testing.assert_array_equal(ckn.transform(X), features)


def test_failed_warm_start_leaves_the_previous_fit(digits):
    X, y = digits
    clf = _fit_quietly(_classifier(warm_start=True), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        clf.fit(X, np.where(y == 0, 10, y))
    with pytest.raises(ValueError, match="X has 63 features"):
        clf.fit(X[:, :63], y)
    _assert_same_state(clf, state)


def test_interrupt_during_the_unsupervised_start_keeps_the_previous_fit(
    digits, monkeypatch
):
    X, y = digits
    clf = _fit_quietly(_classifier(), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    # the second layer's k-means of the refit is interrupted
    _interrupt(monkeypatch, _unsupervised, "spherical_kmeans", on_call=2)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X[::-1], y[::-1])
    _assert_same_state(clf, state)
    assert clf.score(X, y) > 0.8


def test_interrupt_during_the_initial_head_keeps_the_previous_fit(digits, monkeypatch):
    X, y = digits
    clf = _fit_quietly(_classifier(), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    _interrupt(monkeypatch, _training.CKNTrainer, "init_head", on_call=1)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X[::-1], y[::-1])
    _assert_same_state(clf, state)


@pytest.mark.parametrize("resume", ["warm_start", "partial_fit"])
def test_interrupted_training_is_usable_and_resumes(digits, monkeypatch, resume):
    X, y = digits
    original = _interrupt(monkeypatch, _training.CKNTrainer, "train_epoch", 3)
    with pytest.warns(UserWarning, match="interrupted by the user"):
        clf = _classifier(max_iter=5).fit(X, y)
    # two complete epochs; the model is that of their end
    assert clf.n_iter_ == len(clf.loss_curve_) == 2
    reference = _fit_quietly(_classifier(max_iter=2), X, y)
    np.testing.assert_array_equal(clf.coef_, reference.coef_)
    for a, b in zip(clf.filters_, reference.filters_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.predict(X), reference.predict(X))
    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", original)
    if resume == "warm_start":
        _fit_quietly(clf.set_params(warm_start=True, max_iter=2), X, y)
        assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 4
    else:
        clf.partial_fit(X, y)
        assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 3
    # it trained on from the interrupted model, not from a new start
    assert not np.array_equal(clf.coef_, reference.coef_)
    assert clf.loss_curve_[:2] == reference.loss_curve_


def test_a_refit_whose_final_head_fails_leaves_the_previous_fit(digits, monkeypatch):
    """Fitted on 10 classes, refitted on 3 with a head refit that raises (its
    ConvergenceWarning made an error, or a MemoryError): classes_, coef_ and
    the filters all stay those of the 10-class fit."""
    X, y = digits
    clf = _fit_quietly(_classifier(head_alpha=1e-2), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    predictions = clf.predict(X)
    three = y < 3
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stochastic optimizer", ConvergenceWarning)
        warnings.filterwarnings("error", "The head refit", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="increase head_max_iter"):
            clf.set_params(head_max_iter=1).fit(X[three], y[three])
    _assert_same_state(clf, state)
    np.testing.assert_array_equal(clf.predict(X), predictions)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(_training.CKNTrainer, "solve_head", out_of_memory)
    with pytest.raises(MemoryError):
        _fit_quietly(clf.set_params(head_max_iter=100), X[three], y[three])
    _assert_same_state(clf, state)
    assert clf.coef_.shape[0] == len(clf.classes_) == 10


@pytest.mark.parametrize("how", ["fit", "warm_start", "partial_fit"])
def test_a_fit_publishes_every_attribute_at_once(digits, monkeypatch, how):
    """Interrupted just before its one publication, a fit has set nothing:
    no attribute is assigned on the way (filters_ apart from lintrans_,
    classes_ apart from coef_)."""
    X, y = digits
    clf = _fit_quietly(_classifier(warm_start=how == "warm_start"), X, y)
    state = _state(clf, CLASSIFIER_STATE)
    trainer_state = _state(clf._trainer, ("filters", "coef", "intercept"))

    def interrupted(self, attributes):
        raise KeyboardInterrupt

    monkeypatch.setattr(CKNClassifier, "_publish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        if how == "partial_fit":
            clf.partial_fit(X[::-1], y[::-1])
        else:
            _fit_quietly(clf, X[::-1], y[::-1])
    _assert_same_state(clf, state)
    # a resumed fit trains a copy: the model it resumes from is untouched
    _assert_same_state(clf._trainer, trainer_state)


def test_an_extractor_fit_publishes_every_attribute_at_once(digits, monkeypatch):
    X = digits[0]
    ckn = CKNFeatureExtractor(n_filters=(4, 8), image_shape=(8, 8), random_state=0)
    ckn.fit(X)
    state = _state(ckn, EXTRACTOR_STATE)

    def interrupted(self, attributes):
        raise KeyboardInterrupt

    monkeypatch.setattr(CKNFeatureExtractor, "_publish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ckn.set_params(n_filters=(3, 5)).fit(X[::-1])
    _assert_same_state(ckn, state)


def test_a_failed_partial_fit_resumes_as_if_it_never_ran(digits, monkeypatch):
    """An epoch that fails after some steps (MemoryError) changes neither the
    model nor what the next partial_fit trains from."""
    X, y = digits
    clf = _fit_quietly(_classifier(), X, y)
    twin = pickle.loads(pickle.dumps(clf))
    original = _training.CKNTrainer.train_epoch

    def fails_after_training(self, *args):
        original(self, *args)  # the steps are taken, then memory runs out
        raise MemoryError

    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", fails_after_training)
    with pytest.raises(MemoryError):
        clf.partial_fit(X, y)
    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", original)
    clf.partial_fit(X, y)
    twin.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, twin.coef_)
    for a, b in zip(clf.filters_, twin.filters_):
        np.testing.assert_array_equal(a, b)
    assert clf.n_iter_ == twin.n_iter_ == 1
    assert len(clf.loss_curve_) == 4
    assert clf.loss_curve_ == twin.loss_curve_


def test_a_refit_on_other_column_names_that_fails_keeps_the_old_names(
    digits, monkeypatch
):
    """validate_data would set feature_names_in_ and n_features_in_ before the
    fit succeeds: a failed refit keeps those of the previous fit."""
    X = digits[0]
    names = [f"px{i}" for i in range(64)]
    ckn = CKNFeatureExtractor(n_filters=(4, 20), image_shape=(8, 8), random_state=0)
    ckn.fit(pd.DataFrame(X, columns=names))
    heal = _fail_in_layer_1(monkeypatch)
    with pytest.raises(ValueError, match=LAYER_1_FAILS):
        ckn.fit(_dots())  # no names, would drop feature_names_in_
    assert list(ckn.feature_names_in_) == names
    with pytest.raises(ValueError, match=LAYER_1_FAILS):
        ckn.fit(pd.DataFrame(_dots(), columns=[f"c{i}" for i in range(64)]))
    assert list(ckn.feature_names_in_) == names
    heal()
    ckn.fit(X)  # a successful fit on an array: no names
    assert not hasattr(ckn, "feature_names_in_")
