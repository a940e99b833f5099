"""CKNClassifier: a convolutional kernel network trained end to end."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import CKNBase
from ._classifier_inputs import host_sample_weight
from ._classifier_training import TrainerSetup
from ._compute_context import compute_method
from ._epochs import (
    StoppingRules,
    TrainingRecord,
    final_head,
    run_epochs,
)
from ._head_predictions import HeadPredictions
from ._ops.head import LOSSES
from ._training_set import TrainingSet

__all__ = ["CKNClassifier"]


class CKNClassifier(
    HeadPredictions, TrainerSetup, ClassifierMixin, TransformerMixin, CKNBase
):
    """Supervised convolutional kernel network: filters and linear head trained jointly.

    The network is the one of :class:`CKNFeatureExtractor`; on top of its
    features a linear head is trained with them, minimizing a classification
    loss plus ``alpha / 2 ||W||^2`` by mini-batch stochastic optimization
    (Mairal, 2016), or by full-batch descent on the filters with the head kept
    at its convex optimum (``solver="exact_head"``). Every gradient, the one
    through each layer's map M = (K^{1/2} + eps I)^{-1} included, is computed
    by a hand-written backward pass; filters stay on the unit sphere (tangent
    projection of the gradient, then renormalization).

    Training starts from the unsupervised filters of :class:`CKNFeatureExtractor`
    (spherical k-means, layer by layer, on the distinct training samples
    sorted by value: the model does not depend on the order of the rows) and
    a head fitted on the standardized initial features (a convex problem,
    solved by preconditioned L-BFGS in at most ``head_max_iter`` iterations).
    That standardization is then kept fixed during training;
    ``feature_mean_`` and ``feature_scale_`` are the one the head used for
    prediction reads (recomputed by a ``head_alpha`` refit).

    Parameters
    ----------
    n_filters, patch_size, subsampling, kernel, sigma, padding, eps, \
image_shape, channel_axis, n_patches, patch_quantile, filters, whitening, \
whitening_reg :
        The network, as in :class:`CKNFeatureExtractor`; ``filters`` gives the
        initial filters instead of learning them without labels. The
        whitening is learned once, at the start of a (not warm-started) fit,
        and is a fixed map during training.
    loss : {"squared_hinge", "log_loss"}, default="squared_hinge"
        ``squared_hinge``: one-vs-all 0.5 max(0, 1 - y f)^2 summed over classes
        (the original CKN's loss); ``log_loss``: multinomial logistic loss
        (binary logistic for two classes). Only ``log_loss`` has
        ``predict_proba``.
    alpha : float, default=1e-4
        Strength of the L2 penalty ``alpha / 2 ||W||^2`` on the head during
        training.
    head_alpha : float or None, default=None
        If a float, the head used for prediction is solved again at the end of
        each ``fit`` and ``partial_fit`` call, with the filters fixed, at
        penalty ``head_alpha`` by the convex solver of the initial head; the
        jointly trained head is kept for further training (see
        :ref:`the user guide <classifier_training>`). None: the jointly
        trained head predicts.
    head_max_iter : int, default=300
        Bound on the L-BFGS iterations of each convex fit of the head: the
        initial head (a starting point, no warning) and the refit at
        ``head_alpha`` (a ``ConvergenceWarning`` if the bound stops it).
    solver : {"adam", "sgd", "exact_head"}, default="adam"
        ``adam`` and ``sgd`` (stochastic gradient descent with momentum)
        train the filters and the head together on mini-batches.
        ``exact_head`` keeps the head at its convex optimum for the current
        filters and moves only the filters, by full-batch gradient descent
        whose steps are kept only if the objective decreases (it never
        increases); each iteration costs two passes over the data and a convex
        fit, ``batch_size`` only bounds memory, and the mini-batch settings
        are not used (see :ref:`the user guide <classifier_training>`).
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Schedule: ``invscaling`` divides ``learning_rate_init`` by
        ``t ** power_t`` at step t; ``adaptive`` divides it by 5 whenever
        ``n_iter_no_change`` epochs pass without improvement.
    learning_rate_init : float, default=1e-3
        Initial step size, for the filters and the head alike (for
        ``exact_head``, the first step size along the filters' gradient,
        adapted after each iteration).
    power_t : float, default=0.5
        Exponent of the ``invscaling`` schedule.
    momentum : float, default=0.9
        Momentum of ``sgd``.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``auto`` is ``min(200, n_samples)``.
    max_iter : int, default=50
        Maximum number of epochs (passes over the training data; iterations of
        ``exact_head``).
    tol : float, default=1e-4
        Improvement of the training loss (or of the validation accuracy with
        ``early_stopping``) below which an epoch counts as no improvement.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping (or, with ``adaptive``,
        before the step size is divided by 5).
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the data, stop when
        its accuracy stops improving, and keep the best weights.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label:
        weight}`` (missing labels weigh 1), ``"balanced"`` for
        ``n_samples / (n_classes * np.bincount(y))`` (with
        :func:`~sklearn.utils.class_weight.compute_class_weight`; not in
        ``partial_fit``, which does not see the whole data), or None.
    warm_start : bool, default=False
        Continue from the previous fit instead of starting again, as
        :class:`~sklearn.neural_network.MLPClassifier` does: ``y`` must hold
        its classes and the network's settings and ``loss`` must be unchanged,
        otherwise ``fit`` raises a ValueError; the training settings are read
        anew, with a fresh optimizer. ``partial_fit`` checks the same (see
        :ref:`the user guide <classifier_training>`).
    shuffle : bool, default=True
        Shuffle the samples at each epoch; without, the batches follow the
        fit's order of the samples (sorted by value, see ``fit``).
    device : {"auto", "cpu", "cuda"} or "cuda:N", default="auto"
        Where to compute (see :class:`CKNFeatureExtractor`).
    random_state : int, RandomState instance or None, default=None
        Controls patch sampling, k-means seeding, the validation split and
        shuffling.
    verbose : int, default=0
        0: silent. Positive: report the k-means of each layer, the loss (and
        validation score) after each epoch and the batches of ``transform``,
        as progress bars (on stderr) when tqdm is installed, as log lines (on
        stdout, ``Iteration k, loss = ...`` for epochs) otherwise.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    filters_ : list of ndarray
        Trained filters, shape (n_filters, in_channels, \\*patch_shape), unit norm.
    lintrans_ : list of ndarray
        The map M of each layer for the trained filters.
    coef_ : ndarray of shape (n_outputs, n_features_out)
        Head weights on the standardized features; ``n_outputs`` is 1 for two
        classes and ``n_classes`` otherwise.
    intercept_ : ndarray of shape (n_outputs,)
        Head biases.
    feature_mean_, feature_scale_ : ndarray of shape (n_features_out,)
        Standardization of the features seen by the head.
    image_shape_, n_channels_in_, output_shape_, n_features_in_, \
whitening_mean_, whitening_matrix_ :
        As in :class:`CKNFeatureExtractor`.
    loss_curve_ : list of float
        Mean training objective of each epoch, since the model was created
        (warm-started fits and ``partial_fit`` append to it).
    best_loss_ : float or None
        Lowest training objective (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``.
    n_iter_ : int
        Number of epochs run by the last call to ``fit`` (1 after
        ``partial_fit``), as in :class:`~sklearn.neural_network.MLPClassifier`.

    Notes
    -----
    A diverging epoch ends training with a ``ConvergenceWarning`` and the
    parameters of the best epoch's start; an interrupted ``fit`` keeps those
    of the last complete step (see :ref:`the user guide <classifier_training>`).

    See Also
    --------
    CKNFeatureExtractor : The same network learned without labels.
    sklearn.neural_network.MLPClassifier : Whose training vocabulary this follows.

    References
    ----------
    .. [1] J. Mairal. "End-to-End Kernel Learning with Supervised Convolutional
       Kernel Networks". Advances in Neural Information Processing Systems, 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ckn import CKNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CKNClassifier(n_filters=(8, 16), image_shape=(8, 8), max_iter=2,
    ...                     random_state=0).fit(X[:200], y[:200])
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **CKNBase._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "head_alpha": [Interval(Real, 0, None, closed="left"), None],
        "head_max_iter": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd", "exact_head"})],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "warm_start": ["boolean"],
        "shuffle": ["boolean"],
    }

    def __init__(
        self,
        n_filters=(32, 128),
        *,
        patch_size=3,
        subsampling=2,
        kernel="exp",
        sigma=0.6,
        padding="same",
        eps=1e-2,
        image_shape=None,
        channel_axis=None,
        n_patches=10000,
        patch_quantile=0.0,
        filters=None,
        whitening=None,
        whitening_reg=0.1,
        loss="squared_hinge",
        alpha=1e-4,
        head_alpha=None,
        head_max_iter=300,
        solver="adam",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        momentum=0.9,
        batch_size="auto",
        max_iter=50,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        class_weight=None,
        warm_start=False,
        shuffle=True,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            n_filters,
            patch_size=patch_size,
            subsampling=subsampling,
            kernel=kernel,
            sigma=sigma,
            padding=padding,
            eps=eps,
            image_shape=image_shape,
            channel_axis=channel_axis,
            n_patches=n_patches,
            patch_quantile=patch_quantile,
            filters=filters,
            whitening=whitening,
            whitening_reg=whitening_reg,
            batch_size=batch_size,
            device=device,
            random_state=random_state,
            verbose=verbose,
        )
        self.loss = loss
        self.alpha = alpha
        self.head_alpha = head_alpha
        self.head_max_iter = head_max_iter
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.shuffle = shuffle

    # ----------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the filters and the head on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Training images or signals (see ``image_shape``).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples (None: all 1). The fit
            trains on the distinct (sample, label) pairs of positive weight,
            each with the total weight of its rows, sorted by value (see
            :ref:`the user guide <classifier_training>`): a weight of 0 drops
            a sample, an integer weight ``k`` trains exactly as ``k`` repeats
            of the sample, and the order of the rows does not matter. The
            loss of the initial head, of training and of the final head is
            the weighted mean, the standardization of the features the
            weighted mean and standard deviation, and the early-stopping
            accuracy is weighted. The unsupervised start (the whitening and
            the k-means on sampled patches) learns from the distinct samples
            of positive weight, each counted once.

        Returns
        -------
        self : object
            Fitted classifier.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``(X, y)``; the first call also initializes the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Training images or signals.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, as in :meth:`fit`.

        Returns
        -------
        self : object
            Updated classifier.
        """
        return self._fit(
            X, y, incremental=True, classes=classes, sample_weight=sample_weight
        )

    @compute_method
    def _fit(self, X, y, *, incremental, classes=None, sample_weight=None):
        fitted = hasattr(self, "_trainer")
        resume = fitted and (incremental or self.warm_start)
        self._check_fit_call(y, incremental)
        training_set = TrainingSet(
            self,
            y,
            classes,
            host_sample_weight(sample_weight, X),
            incremental=incremental,
            resume=resume,
        )
        if resume:
            trainer, rng, setup = self._resume(X, incremental, training_set.select_rows)
        else:
            setup = self._fit_setup(X, training_set.select_rows)
            rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
        maps = setup.maps
        classes_ = training_set.classes_
        class_index, weights = training_set.class_index, training_set.weights
        x_train, train_index, w_train, validation = self._split(
            maps, class_index, weights, incremental, rng
        )
        if resume and not incremental:
            # a warm-started fit takes the current settings and a fresh
            # optimizer, as MLPClassifier does; partial_fit keeps both
            trainer.reconfigure(self._training_config(x_train.shape[0]))
        if not resume:
            trainer, setup = self._new_trainer(setup, len(classes_), x_train.shape[0])
        targets = self._targets(train_index, len(classes_), trainer)
        if resume:
            record = TrainingRecord.of(self)
        else:
            trainer.init_head(x_train, targets, w_train)
            record = TrainingRecord.new(self.early_stopping)
        run_epochs(
            trainer,
            record,
            x_train,
            targets,
            validation,
            rules=StoppingRules(
                max_iter=self.max_iter,
                tol=float(self.tol),
                n_iter_no_change=self.n_iter_no_change,
                learning_rate=self.learning_rate,
                verbose=self.verbose,
            ),
            n_epochs=1 if incremental else self.max_iter,
            rng=rng,
            incremental=incremental,
            weights=w_train,
        )
        head = final_head(
            trainer,
            x_train,
            targets,
            self.head_alpha,
            self.head_max_iter,
            verbose=self.verbose,
            weights=w_train,
        )
        self._publish(
            self._fitted_state(setup, trainer, head, record, classes_, resume, rng)
        )
        return self

    def _inference_batch_size(self):
        # batch_size is the training mini-batch; inference sizes its own batches
        return None

    # ------------------------------------------------------------- predict

    def transform(self, X):
        """The trained CKN features of ``X``, e.g. to feed another classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
            The last map flattened filter-major, before standardization;
            ``n_features_out`` is the product of ``output_shape_``.
        """
        return self._transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        # transform computes in the input's float dtype, as the extractor
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
