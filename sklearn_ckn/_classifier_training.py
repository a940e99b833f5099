"""How CKNClassifier's settings become a trainer: the checks of a fit call,
the model a continued fit resumes, the training configuration, the initial
trainer, the encoded targets, the early-stopping split and the fitted
attributes a fit publishes.

A mixin of :class:`~sklearn_ckn.CKNClassifier` (which holds the parameters
and the fitted state it reads).
"""

import copy

import numpy as np
from sklearn.model_selection import train_test_split

from ._backend import compute_namespace, same_place
from ._classifier_inputs import check_same_network, network_settings
from ._compute_context import dispatch_on
from ._fit_setup import FitSetup
from ._network import take_rows
from ._ops.head import encode_targets
from ._training import CKNTrainer, TrainingConfig
from ._whitening_state import patch_whitening

__all__ = ["TrainerSetup"]


class TrainerSetup:
    """The classifier's side of a trainer: made, resumed, configured."""

    def _check_fit_call(self, y, incremental):
        """Refuse what a fit call cannot do, before any work."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit, which "
                "does not see the whole data: pass a dict of class weights (e.g. "
                "from sklearn.utils.class_weight.compute_class_weight on all the "
                "labels)."
            )
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True (it trains one "
                "epoch on the data given, with no validation split); set "
                "early_stopping=False."
            )

    def _resume(self, X, incremental, select_rows):
        """The trainer, generator and setup a continued fit starts from:
        copies, on the device the estimator and X say (X reduced to the rows
        ``select_rows`` gives: see :meth:`_validate_images`)."""
        # copies: the fit publishes its results at the end (_publish), and
        # one that fails leaves the model it started from untouched
        trainer, rng = self._trainer.copy(), copy.deepcopy(self._rng)
        if self.loss != trainer.config.loss:
            raise ValueError(
                f"loss={self.loss!r} differs from the loss the model was trained "
                f"with ({trainer.config.loss!r}); fit a new model to change it."
            )
        check_same_network(self, incremental)
        maps = self._validate_images(X, reset=False, select_rows=select_rows)[0]
        # a loaded model's trainer is on the host (it pickles there): it
        # trains on where the estimator's device and input say
        xp, dev = compute_namespace(maps, self.device, follow_input=dispatch_on())
        if not same_place(xp, dev, trainer.xp, trainer.dev):
            trainer.to_device(xp, dev)
        setup = FitSetup(
            maps,
            self.image_shape_,
            getattr(self, "feature_names_in_", None),
            self._image_whitening(),
            self._channel_axis,
            self.n_channels_in_,
            self._specs,
            self._shapes,
            trainer.xp,
            trainer.dev,
            trainer.dtype,
        )
        return trainer, rng, setup

    def _split(self, maps, class_index, weights, incremental, rng):
        """The training maps, class indices and weights, and the early-stopping
        validation (maps, class indices, weights) or None without it."""
        if not self.early_stopping or incremental:
            return maps, class_index, weights, None
        train, val = (
            np.sort(rows)
            for rows in train_test_split(
                np.arange(class_index.shape[0]),
                test_size=self.validation_fraction,
                stratify=class_index,
                random_state=int(rng.integers(np.iinfo(np.int32).max)),
            )
        )
        w_train, w_val = (
            (None, None) if weights is None else (weights[train], weights[val])
        )
        return (
            take_rows(maps, train),
            class_index[train],
            w_train,
            (take_rows(maps, val), class_index[val], w_val),
        )

    def _training_config(self, n_samples):
        batch = min(200, n_samples) if self.batch_size == "auto" else self.batch_size
        return TrainingConfig(
            loss=self.loss,
            alpha=float(self.alpha),
            solver=self.solver,
            learning_rate=self.learning_rate,
            learning_rate_init=float(self.learning_rate_init),
            power_t=float(self.power_t),
            momentum=float(self.momentum),
            batch_size=int(batch),
            shuffle=bool(self.shuffle),
            head_max_iter=int(self.head_max_iter),
        )

    def _new_trainer(self, setup, n_classes, n_samples):
        """A trainer from the initial filters, and ``setup`` as they shaped
        it (fewer filters where a layer found fewer distinct patches)."""
        config = self._training_config(n_samples)
        params, setup = self._initial_params(setup)
        trainer = CKNTrainer(
            setup.specs,
            setup.shapes,
            [p[0] for p in params],
            n_classes,
            config,
            setup.xp,
            setup.dev,
            setup.dtype,
            whitening=patch_whitening(params),
        )
        return trainer, setup

    def _targets(self, class_index, n_classes, trainer):
        xp = trainer.xp
        index = xp.asarray(class_index, device=trainer.dev)
        return encode_targets(index, n_classes, self.loss, xp, trainer.dtype)

    def _fitted_state(self, setup, trainer, head, record, classes_, resume, rng):
        """Every attribute a fit publishes: the network, the head (``coef_``,
        ``intercept_``, ``feature_mean_``, ``feature_scale_``) in the input's
        namespace, the training record, the classes and the trainer."""
        keep = self._to_input_namespace
        names = ("coef_", "intercept_", "feature_mean_", "feature_scale_")
        return {
            **self._network_attributes(
                setup, trainer.filters, trainer.lintrans(), trainer.whitening
            ),
            **{name: keep(array, setup) for name, array in zip(names, head)},
            **vars(record),
            "classes_": classes_,
            # a continued fit keeps the settings the network was built with
            "_network_settings": (
                getattr(self, "_network_settings", None)
                if resume
                else network_settings(self)
            ),
            "_trainer": trainer,
            "_rng": rng,
        }
