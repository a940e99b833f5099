"""CKNClassifier: training behaviour and the MLPClassifier-like contract."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ckn import CKNFeatureExtractor

from ._fitting import fit_quietly, small_classifier, training_order


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def _small(**kwargs):
    return small_classifier(**{"max_iter": 8, **kwargs})


_quiet_fit = fit_quietly


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
def test_training_decreases_the_loss_and_keeps_filters_on_the_sphere(digits, loss):
    X, y = digits
    # Adam at 3e-4 for 20 epochs: at the default 1e-3 for 10, the objective
    # on the whole set ends above 0.95 of the start for some seeds
    clf = _quiet_fit(_small(loss=loss, max_iter=20, learning_rate_init=3e-4), X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ == 20
    # the same start, barely moved: the objective at initialization
    start = _quiet_fit(_small(loss=loss, max_iter=1, learning_rate_init=1e-12), X, y)
    targets = clf._targets(np.searchsorted(clf.classes_, y), 10, clf._trainer)
    maps = X.reshape(-1, 8, 8, 1)
    initial = start._trainer.objective(maps, targets)
    trained = clf._trainer.objective(maps, targets)
    assert trained < 0.95 * initial
    for w in clf.filters_:
        norms = np.linalg.norm(w.reshape(len(w), -1), axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    # the filters moved away from their unsupervised initialization
    init = CKNFeatureExtractor(n_filters=(6, 12), image_shape=(8, 8), random_state=0)
    assert not np.allclose(init.fit(X).filters_[0], clf.filters_[0])
    assert clf.score(X, y) > 0.9


def test_same_random_state_gives_the_same_model(digits):
    X, y = digits
    a = _quiet_fit(_small(max_iter=3), X, y)
    b = _quiet_fit(_small(max_iter=3), X, y)
    for wa, wb in zip(a.filters_, b.filters_):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    c = _quiet_fit(_small(max_iter=3, random_state=1), X, y)
    assert not np.array_equal(a.coef_, c.coef_)


def test_binary_problem_with_string_labels(digits):
    X, y = digits
    mask = (y == 3) | (y == 8)
    labels = np.where(y[mask] == 3, "three", "eight")
    clf = _quiet_fit(_small(loss="log_loss"), X[mask], labels)
    assert list(clf.classes_) == ["eight", "three"]
    scores = clf.decision_function(X[mask])
    assert scores.shape == (mask.sum(),)
    np.testing.assert_array_equal(
        clf.predict(X[mask]), clf.classes_[(scores > 0).astype(int)]
    )
    proba = clf.predict_proba(X[mask])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # predict_log_proba works in the log domain; its exp is predict_proba
    np.testing.assert_allclose(
        np.exp(clf.predict_log_proba(X[mask])), proba, rtol=1e-12
    )
    assert clf.coef_.shape == (1, np.prod(clf.output_shape_))
    assert clf.score(X[mask], labels) > 0.9


def test_multiclass_outputs(digits):
    X, y = digits
    clf = _quiet_fit(_small(loss="log_loss"), X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X), 10)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba.argmax(axis=1), scores.argmax(axis=1))
    features = clf.transform(X)
    assert features.shape == (len(X), np.prod(clf.output_shape_))


def test_predict_proba_only_with_log_loss(digits):
    X, y = digits
    clf = _quiet_fit(_small(max_iter=1), X, y)
    assert not hasattr(clf, "predict_proba")
    with pytest.raises(
        AttributeError, match="has no attribute 'predict_proba'"
    ) as info:
        clf.predict_proba(X)
    assert "only available with loss='log_loss'" in str(info.value.__cause__)


def test_convergence_warning_at_max_iter(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="maximum iterations \\(2\\)"):
        _small(max_iter=2).fit(X, y)


def test_stops_when_the_loss_stops_improving(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = _small(max_iter=50, tol=10.0, n_iter_no_change=2).fit(X, y)
    # the first epoch improves on an infinite best loss, the next 3 (> 2) do not
    assert clf.n_iter_ == 4


@pytest.mark.parametrize("solver", ["adam", "exact_head"])
def test_early_stopping_keeps_the_best_weights(digits, solver):
    X, y = digits
    clf = _quiet_fit(
        _small(solver=solver, early_stopping=True, validation_fraction=0.2, max_iter=6),
        X,
        y,
    )
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    # the held-out rows, drawn as fit draws them from the rows in its order:
    # the kept model scores the best
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    X, y = training_order(X, y)
    seed = check_random_state(0).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    _, val = train_test_split(
        np.arange(len(y)),
        test_size=0.2,
        stratify=y,
        random_state=int(rng.integers(np.iinfo(np.int32).max)),
    )
    assert clf.score(X[val], y[val]) == pytest.approx(clf.best_validation_score_)


def test_partial_fit_and_warm_start_resume(digits):
    X, y = digits
    clf = _small()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:150], y[:150], classes=np.arange(10))
    clf.partial_fit(X[150:], y[150:])
    # as MLPClassifier: n_iter_ counts this call's epochs, the curve them all
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:5], np.full(5, 42))

    warm = _quiet_fit(_small(max_iter=2, warm_start=True), X, y)
    first = [w.copy() for w in warm.filters_]
    _quiet_fit(warm, X, y)
    assert warm.n_iter_ == 2 and len(warm.loss_curve_) == 4
    assert not np.array_equal(first[0], warm.filters_[0])


def test_head_alpha_refits_the_head_on_the_trained_filters(digits):
    from sklearn.linear_model import LogisticRegression

    X, y = digits
    common = dict(loss="log_loss", alpha=1.0, max_iter=3)
    refitted = _quiet_fit(_small(**common, head_alpha=1e-2), X, y)
    plain = _quiet_fit(_small(**common), X, y)
    # training itself is untouched by the refit
    for a, b in zip(refitted.filters_, plain.filters_):
        np.testing.assert_array_equal(a, b)
    # the head is the convex optimum at head_alpha on the trained features,
    # computed here independently by scikit-learn's multinomial logistic
    # regression (C = 1 / (n alpha) for a mean loss plus alpha / 2 ||W||^2)
    features = refitted.transform(X)
    np.testing.assert_allclose(refitted.feature_mean_, features.mean(axis=0))
    np.testing.assert_allclose(refitted.feature_scale_, features.std(axis=0))
    standardized = (features - refitted.feature_mean_) / refitted.feature_scale_
    reference = LogisticRegression(C=1 / (len(X) * 1e-2), tol=1e-12, max_iter=10_000)
    reference.fit(standardized, y)
    onehot = np.eye(10)[y]

    def objective(coef, intercept):
        f = standardized @ coef.T + intercept
        f -= f.max(axis=1, keepdims=True)
        log_p = f - np.log(np.exp(f).sum(axis=1, keepdims=True))
        return -np.mean(np.sum(onehot * log_p, axis=1)) + 0.5e-2 * np.sum(coef**2)

    ours = objective(refitted.coef_, refitted.intercept_)
    optimum = objective(reference.coef_, reference.intercept_)
    # the solver stops at max |gradient| <= 1e-5 (or a stalled decrease);
    # strong convexity (alpha = 1e-2) bounds the gap in value by
    # ||g||^2 / (2 alpha), about 1e-6 here, and the distance to the optimum
    # by max |g| / alpha = 1e-3 per coordinate
    assert 0 <= ours - optimum <= 1e-6 * optimum
    np.testing.assert_allclose(refitted.coef_, reference.coef_, atol=1e-3)
    np.testing.assert_allclose(
        refitted.predict_proba(X), reference.predict_proba(standardized), atol=1e-3
    )
    assert np.max(np.abs(plain.coef_ - refitted.coef_)) > 0.1
    # the trainer keeps the head trained with the filters, so resuming
    # trains exactly as without the refit
    refitted.partial_fit(X, y)
    plain.partial_fit(X, y)
    np.testing.assert_array_equal(refitted.filters_[1], plain.filters_[1])
    assert refitted.n_iter_ == 1 and len(refitted.loss_curve_) == 4


def _head_gradient(clf, X, y):
    """Gradient of the head's objective at the fitted head, computed here."""
    standardized = (clf.transform(X) - clf.feature_mean_) / clf.feature_scale_
    f = standardized @ clf.coef_.T + clf.intercept_
    onehot = np.eye(len(clf.classes_))[np.searchsorted(clf.classes_, y)]
    if clf.loss == "log_loss":
        p = np.exp(f - f.max(axis=1, keepdims=True))
        g_f = (p / p.sum(axis=1, keepdims=True) - onehot) / len(X)
    else:
        t = 2 * onehot - 1
        g_f = -t * np.clip(1 - t * f, 0, None) / len(X)
    return g_f.T @ standardized + clf.alpha * clf.coef_, g_f.sum(axis=0)


@pytest.mark.parametrize("loss", ["squared_hinge", "log_loss"])
def test_exact_head_solver_descends_with_the_head_at_its_optimum(digits, loss):
    X, y = digits
    common = dict(loss=loss, alpha=1e-2, head_max_iter=2000, solver="exact_head")
    clf = _quiet_fit(_small(**common, max_iter=4, learning_rate_init=0.1), X, y)
    start = _quiet_fit(_small(**common, max_iter=1, learning_rate_init=1e-12), X, y)
    targets = clf._targets(np.searchsorted(clf.classes_, y), 10, clf._trainer)
    maps = X.reshape(-1, 8, 8, 1)
    initial = start._trainer.objective(maps, targets)
    curve = np.asarray(clf.loss_curve_)
    assert len(curve) == 4
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] < 0.99 * initial
    # each recorded value is the objective of the parameters it left
    np.testing.assert_allclose(
        curve[-1], clf._trainer.objective(maps, targets), rtol=1e-10
    )
    # the head is the convex optimum for the moved filters
    g_coef, g_intercept = _head_gradient(clf, X, y)
    assert np.max(np.abs(g_coef)) < 1e-4
    assert np.max(np.abs(g_intercept)) < 1e-4
    for w_start, w in zip(start.filters_, clf.filters_):
        norms = np.linalg.norm(w.reshape(len(w), -1), axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)
        assert not np.allclose(w_start, w)


def test_exact_head_solver_keeps_the_parameters_when_no_step_decreases(
    digits, monkeypatch
):
    from sklearn_ckn import _training

    X, y = digits
    original = _training.CKNTrainer.solve_head

    def no_decrease(self, *args, **kwargs):
        solution = original(self, *args, **kwargs)
        if len(args) > 4 or "filters" in kwargs:  # a trial step, not the start
            return solution._replace(objective=np.inf)
        return solution

    monkeypatch.setattr(_training.CKNTrainer, "solve_head", no_decrease)
    clf = _quiet_fit(_small(solver="exact_head", max_iter=2), X, y)
    init = CKNFeatureExtractor(n_filters=(6, 12), image_shape=(8, 8), random_state=0)
    for a, b in zip(init.fit(training_order(X, y)[0]).filters_, clf.filters_):
        np.testing.assert_array_equal(a, b)
    assert clf.loss_curve_[0] == clf.loss_curve_[1]
    # ten step sizes tried per iteration, each four times shorter
    tries = _training.MAX_BACKTRACKS
    assert clf._trainer.learning_rate == pytest.approx(1e-3 / 4 ** (2 * tries))


@pytest.mark.parametrize("solver", ["adam", "exact_head"])
def test_early_stopping_restores_the_best_epochs_whole_model(
    digits, solver, monkeypatch
):
    # exact_head solves the head's standardization again at every step: the
    # best epoch's model is its filters, head and standardization together
    from sklearn_ckn import _epochs

    def validation_scores(n_epochs):
        """Epoch 2 the best of the first ``n_epochs``, later ones worse."""
        scores = iter([0.5, 0.9, 0.2, 0.1][:n_epochs])
        return lambda *args, **kwargs: next(scores)

    X, y = digits
    common = dict(solver=solver, early_stopping=True, n_iter_no_change=10)
    if solver == "exact_head":
        common["learning_rate_init"] = 0.1
    monkeypatch.setattr(_epochs, "accuracy", validation_scores(4))
    best_then_worse = _quiet_fit(_small(**common, max_iter=4), X, y)
    monkeypatch.setattr(_epochs, "accuracy", validation_scores(2))
    stopped_at_best = _quiet_fit(_small(**common, max_iter=2), X, y)
    assert best_then_worse.n_iter_ == 4 and stopped_at_best.n_iter_ == 2
    assert best_then_worse.best_validation_score_ == 0.9
    np.testing.assert_array_equal(
        best_then_worse.decision_function(X), stopped_at_best.decision_function(X)
    )
    for kept, best in zip(best_then_worse.filters_, stopped_at_best.filters_):
        np.testing.assert_array_equal(kept, best)


def test_head_refit_stopped_by_head_max_iter_warns(digits):
    X, y = digits
    params = dict(max_iter=1, head_alpha=1e-2)
    clf = _small(**params, head_max_iter=2)
    with pytest.warns(ConvergenceWarning, match="increase head_max_iter"):
        with warnings.catch_warnings():
            # one epoch on purpose: only the head's warning is under test
            warnings.filterwarnings(
                "ignore", "Stochastic optimizer", category=ConvergenceWarning
            )
            clf.fit(X, y)
    # the bound holds the refit short of the optimum that more iterations reach
    converged = _quiet_fit(_small(**params, head_max_iter=1000), X, y)
    assert not np.allclose(clf.coef_, converged.coef_, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        converged.partial_fit(X, y)  # the refit converges: no warning


def _interrupt_second_call(monkeypatch, method):
    """Make the second call of ``CKNTrainer.<method>`` raise KeyboardInterrupt."""
    from sklearn_ckn import _training

    original = getattr(_training.CKNTrainer, method)
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_training.CKNTrainer, method, interrupted)
    return original


def test_interrupted_head_refit_keeps_the_trained_head(digits, monkeypatch):
    X, y = digits
    # the first call is the initial head; the second, the refit
    _interrupt_second_call(monkeypatch, "solve_head")
    with pytest.warns(UserWarning, match="refit interrupted"):
        clf = _quiet_fit(_small(max_iter=2, head_alpha=1e-3), X, y)
    np.testing.assert_array_equal(clf.coef_, clf._trainer.coef)
    assert clf.score(X, y) > 0.5


def test_keyboard_interrupt_leaves_a_usable_model(digits, monkeypatch):
    from sklearn_ckn import _training

    X, y = digits
    original = _interrupt_second_call(monkeypatch, "train_epoch")
    with pytest.warns(UserWarning, match="interrupted"):
        clf = _small(max_iter=5).fit(X, y)
    assert clf.n_iter_ == 1
    assert clf.predict(X).shape == (len(X),)
    monkeypatch.setattr(_training.CKNTrainer, "train_epoch", original)
    clf.partial_fit(X, y)  # resumes
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2


def test_y_is_required_and_must_be_classes(digits):
    X, y = digits
    with pytest.raises(ValueError, match="requires y to be passed"):
        _small().fit(X, None)
    with pytest.raises(ValueError, match="Unknown label type"):
        _small().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        _small().fit(X, np.zeros(len(X)))


def test_warm_start_may_switch_early_stopping_and_settings(digits):
    X, y = digits
    clf = _quiet_fit(_small(max_iter=1, warm_start=True), X, y)
    clf.set_params(early_stopping=True, max_iter=2, learning_rate_init=1e-4)
    _quiet_fit(clf, X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 2
    assert len(clf.loss_curve_) == 3
    assert clf._trainer.learning_rate == 1e-4
    clf.set_params(loss="log_loss")
    with pytest.raises(ValueError, match="differs from the loss the model was trained"):
        clf.fit(X, y)


def test_non_finite_labels_are_refused(digits):
    X, y = digits
    labels = y.astype(float)
    labels[3] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        _small().fit(X, labels)


@pytest.mark.parametrize("binary", [True, False])
def test_log_probabilities_of_confident_predictions_are_finite(digits, binary):
    """predict_log_proba is a log-softmax (log-sigmoid for two classes), not the
    log of probabilities that underflowed to 0: with the head scaled up until
    the other classes' probabilities underflow, the log-probabilities stay
    finite and equal scores minus their log-sum-exp, computed here in
    float64 by another route (scipy's logsumexp)."""
    from scipy.special import logsumexp

    X, y = digits
    mask = y < (2 if binary else 10)
    clf = _quiet_fit(_small(loss="log_loss", max_iter=2), X[mask], y[mask])
    clf.coef_ = clf.coef_ * 1e4
    clf.intercept_ = clf.intercept_ * 1e4
    scores = clf.decision_function(X[mask]).astype(np.float64)
    if binary:
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    assert (clf.predict_proba(X[mask]) == 0).any()  # underflowed
    log_proba = clf.predict_log_proba(X[mask])
    assert np.isfinite(log_proba).all()
    expected = scores - logsumexp(scores, axis=1, keepdims=True)
    np.testing.assert_allclose(log_proba, expected, rtol=1e-12, atol=1e-9)


def test_partial_fit_refuses_other_classes_and_early_stopping(digits):
    """As MLPClassifier: ``classes`` must stay what the first call said, and
    partial_fit has no validation split to stop early on."""
    X, y = digits
    clf = _small().partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match=r"`classes=.*` is not the same as on last"):
        clf.partial_fit(X, y, classes=np.arange(12))
    clf.partial_fit(X, y, classes=np.arange(10))  # the same classes: fine
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        _small(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        clf.set_params(early_stopping=True).partial_fit(X, y)


def test_warm_start_needs_the_same_classes(digits):
    X, y = digits
    clf = _quiet_fit(_small(max_iter=1, warm_start=True), X, y)
    keep = y < 8
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has"):
        clf.fit(X[keep], y[keep])
    assert list(clf.classes_) == list(range(10))


@pytest.mark.parametrize(
    "change",
    [
        {"n_filters": (4, 8)},
        {"kernel": "poly"},
        {"sigma": 0.5},
        {"subsampling": 3},
        {"whitening": "images"},
    ],
    ids=lambda change: next(iter(change)),
)
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_a_changed_network_is_not_continued_silently(digits, change, how):
    X, y = digits
    clf = _quiet_fit(_small(max_iter=1, warm_start=how == "warm_start"), X, y)
    filters = [w.copy() for w in clf.filters_]
    clf.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=f"{name}=.*changed since it was fitted"):
        if how == "warm_start":
            clf.fit(X, y)
        else:
            clf.partial_fit(X, y)
    for a, b in zip(clf.filters_, filters):  # the fitted model is untouched
        np.testing.assert_array_equal(a, b)
    # a new model (warm_start off) takes the new settings
    clf.set_params(warm_start=False)
    _quiet_fit(clf, X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
    # the same settings in another spelling (a list for a tuple) continue
    clf.set_params(warm_start=True, n_filters=list(clf.n_filters))
    _quiet_fit(clf, X, y)
    assert len(clf.loss_curve_) == 2
