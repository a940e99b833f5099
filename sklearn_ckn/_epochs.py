"""The epoch loop of supervised training, with its stopping rules.

Runs a :class:`~sklearn_ckn._training.CKNTrainer` for a number of epochs as
``MLPClassifier`` does: stopping when the training loss (or the validation
accuracy, with a validation set) stops improving, keeping the best
validation weights, falling back when an epoch diverges, and keeping a
usable model when interrupted; then the head predict reads, refitted at a
penalty of its own if asked. What the epochs record goes to a
:class:`TrainingRecord`. Usable without an estimator, as the trainer is.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score

from ._backend import to_numpy
from ._progress import Progress
from ._warnings import warn_user

__all__ = [
    "DIVERGENCE_FACTOR",
    "StoppingRules",
    "TrainingRecord",
    "accuracy",
    "final_head",
    "run_epochs",
]

#: an epoch whose mean training loss exceeds this many times the lowest one
#: so far has diverged
DIVERGENCE_FACTOR = 10.0


@dataclass(frozen=True)
class StoppingRules:
    """When the epoch loop stops (the estimator's parameters of that name).

    ``learning_rate`` is the schedule: with ``"adaptive"`` an epoch without
    improvement divides the trainer's step by 5 instead of counting towards
    the stop, while the step is above 1e-6.
    """

    max_iter: int
    tol: float
    n_iter_no_change: int
    learning_rate: str
    verbose: int = 0


@dataclass
class TrainingRecord:
    """What a fit's epochs record, published with the rest at its end."""

    loss_curve_: list
    n_iter_: int
    best_loss_: object
    validation_scores_: object
    best_validation_score_: object

    @classmethod
    def new(cls, early_stopping):
        return cls(
            [],
            0,
            None if early_stopping else np.inf,
            [] if early_stopping else None,
            None,
        )

    @classmethod
    def of(cls, estimator):
        """A copy of a fitted estimator's record, to resume from: the curves
        go on, the epoch count starts again (it counts this call's)."""
        scores = estimator.validation_scores_
        return cls(
            list(estimator.loss_curve_),
            0,
            estimator.best_loss_,
            None if scores is None else list(scores),
            estimator.best_validation_score_,
        )


def run_epochs(
    trainer,
    record,
    x_train,
    targets,
    validation,
    *,
    rules,
    n_epochs,
    rng,
    incremental,
    weights=None,
):
    """The epoch loop: stopping rules, best-weight tracking, interruption
    and divergence; the curves and scores go to ``record``.

    Parameters
    ----------
    trainer : CKNTrainer
    record : TrainingRecord
    x_train, targets : arrays
        Training maps and their encoded targets.
    validation : tuple (maps, class indices, weights or None) or None
        The held-out set of early stopping.
    rules : StoppingRules
    n_epochs : int
        Epochs at most (1 for ``partial_fit``, which applies no stopping rule).
    rng : numpy.random.Generator
        Shuffles the mini-batches.
    incremental : bool
        One epoch of ``partial_fit``: no stopping rule, no max_iter warning.
    weights : ndarray or None
        The training samples' weights (host), or None.
    """
    best_params = None
    no_improvement = 0
    # the parameters each epoch started from, kept for the epoch with the
    # lowest training loss: what a diverging run falls back to
    lowest_loss, lowest_start = np.inf, None
    # a warm start may switch early stopping on or off
    if validation is not None and record.validation_scores_ is None:
        record.validation_scores_ = []
    if validation is None and record.best_loss_ is None:
        record.best_loss_ = np.inf
    progress = Progress(rules.verbose, n_epochs, "training", "epochs")
    try:
        for _ in range(n_epochs):
            start = trainer.snapshot()
            try:
                value = trainer.train_epoch(x_train, targets, rng, weights)
            except FloatingPointError:
                value = np.inf
            record.n_iter_ += 1
            record.loss_curve_.append(value)
            if _diverged(value, lowest_loss):
                _fall_back(trainer, record, value, lowest_loss, lowest_start, start)
                break
            if value < lowest_loss:
                lowest_loss, lowest_start = value, start
            message = f"Iteration {record.n_iter_}, loss = {value:.8f}"
            if validation is not None:
                score = accuracy(trainer, *validation)
                record.validation_scores_.append(score)
                message += f", validation score = {score:.6f}"
                best = record.best_validation_score_
                improved = best is None or score > best + rules.tol
                if best is None or score > best:
                    record.best_validation_score_ = score
                    best_params = trainer.snapshot()
            else:
                improved = value < record.best_loss_ - rules.tol
                record.best_loss_ = min(record.best_loss_, value)
            progress.step(message=message)
            if incremental:
                continue
            no_improvement = 0 if improved else no_improvement + 1
            if no_improvement > rules.n_iter_no_change:
                if rules.learning_rate == "adaptive" and trainer.learning_rate > 1e-6:
                    trainer.learning_rate /= 5
                    no_improvement = 0
                    continue
                break
        else:
            if not incremental:
                warn_user(
                    f"Stochastic optimizer: maximum iterations ({rules.max_iter}) "
                    "reached and the optimization hasn't converged yet.",
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        warn_user(
            "Training interrupted by the user: the model keeps the parameters "
            "of its last complete step.",
            UserWarning,
        )
    finally:
        progress.close()
    if best_params is not None:
        trainer.restore(best_params)


def _diverged(value, lowest_loss):
    return not np.isfinite(value) or value > DIVERGENCE_FACTOR * lowest_loss


def _fall_back(trainer, record, value, lowest_loss, lowest_start, start):
    """After a diverged epoch: restore good parameters and say so."""
    if lowest_start is None:
        kept, restored = "from before this iteration", start
    else:
        kept, restored = (
            f"that began the iteration with the lowest loss ({lowest_loss:.6g})",
            lowest_start,
        )
    trainer.restore(restored)
    # the optimizer's moments come from the diverged steps: start afresh
    trainer.optimizer = None
    what = (
        "is not finite"
        if not np.isfinite(value)
        else f"rose to {value:.6g}, over {DIVERGENCE_FACTOR:g} times its lowest"
    )
    warn_user(
        f"Training diverged at iteration {record.n_iter_}: the training loss "
        f"{what}. Training stopped; the model keeps the parameters {kept}. "
        "Lower learning_rate_init.",
        ConvergenceWarning,
    )


def accuracy(trainer, x, class_index, weights=None):
    """Accuracy on ``x``, weighted by ``weights`` when given (and not all
    0), as scikit-learn's ``accuracy_score``."""
    scores = to_numpy(trainer.decision_function(x))
    if scores.shape[1] == 1:
        predicted = (scores[:, 0] > 0).astype(int)
    else:
        predicted = scores.argmax(axis=1)
    if weights is not None and not np.any(weights > 0):
        weights = None  # a validation split of zero weight: count every sample
    return float(accuracy_score(class_index, predicted, sample_weight=weights))


def final_head(
    trainer, x_train, targets, head_alpha, head_max_iter, *, verbose=0, weights=None
):
    """The head predict reads: the trained one, or its refit at ``head_alpha``
    (None: no refit) in at most ``head_max_iter`` L-BFGS iterations.

    Returns
    -------
    tuple
        coef, intercept, mean, scale.
    """
    trained = (trainer.coef, trainer.intercept, trainer.mean, trainer.scale)
    if head_alpha is None:
        return trained
    try:
        solution = trainer.solve_head(
            x_train, targets, float(head_alpha), head_max_iter, weights=weights
        )
    except KeyboardInterrupt:
        warn_user(
            "Head refit interrupted by the user: the model keeps the head "
            "trained with the filters.",
            UserWarning,
        )
        return trained
    if verbose:
        print(f"Head refitted at alpha = {head_alpha}: {solution.n_iter} iterations")
    if solution.n_iter >= head_max_iter:
        warn_user(
            f"The head refit at head_alpha={head_alpha} stopped at "
            f"head_max_iter={head_max_iter} iterations and may "
            "not have converged; increase head_max_iter.",
            ConvergenceWarning,
        )
    return solution.head
