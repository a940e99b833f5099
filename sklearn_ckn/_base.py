"""What the CKN estimators share: parameters, input validation and the
unsupervised fit of the filters."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from ._architecture import (
    PADDINGS,
    check_sigmas,
    resolve_layer_specs,
)
from ._backend import (
    array_device,
    array_namespace,
    compute_namespace,
    float_name,
    is_array_api_obj,
    to_namespace,
)
from ._compute_context import (
    DeviceOptions,
    compute_method,
    dispatch_on,
    input_namespace,
)
from ._fit_setup import FitSetup
from ._images import (
    check_image_shape,
    fit_image_shape,
    split_channels,
    to_channels_last,
)
from ._layer import layer_shapes
from ._network import (
    take_rows,
    transform_in_batches,
)
from ._numeric_checks import (
    check_finite_result,
    check_magnitude,
    warn_if_responses_underflowed,
)
from ._ops.kernels import KERNELS
from ._ops.patches import filters_from_internal, filters_to_internal
from ._ops.whitening import apply_zca
from ._progress import Progress
from ._unsupervised_start import UnsupervisedStart
from ._whitening_state import WhiteningState, patch_whitening

__all__ = ["CKNBase"]


#: what scikit-learn's validate_data(reset=True) sets on the estimator
_INPUT_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


class CKNBase(UnsupervisedStart, WhiteningState, BaseEstimator):
    """Parameters, validation and unsupervised filter learning of a CKN.

    Not an estimator in itself: :class:`~sklearn_ckn.CKNFeatureExtractor` and
    the classifier derive from it.
    """

    _parameter_constraints: dict = {
        "n_filters": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "patch_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "subsampling": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "kernel": [StrOptions(set(KERNELS)), "array-like"],
        "sigma": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "padding": [StrOptions(set(PADDINGS)), "array-like"],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "image_shape": [None, "array-like"],
        "channel_axis": [None, Integral],
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "patch_quantile": [Interval(Real, 0, 1, closed="left")],
        "filters": [None, list, tuple],
        "whitening": [None, StrOptions({"images", "patches"})],
        "whitening_reg": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "device": [DeviceOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
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
        batch_size=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_filters = n_filters
        self.patch_size = patch_size
        self.subsampling = subsampling
        self.kernel = kernel
        self.sigma = sigma
        self.padding = padding
        self.eps = eps
        self.image_shape = image_shape
        self.channel_axis = channel_axis
        self.n_patches = n_patches
        self.patch_quantile = patch_quantile
        self.filters = filters
        self.whitening = whitening
        self.whitening_reg = whitening_reg
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input

    def _validate_images(self, X, *, reset, select_rows=None):
        """Validate ``X`` and return it as the network's input: channels-last
        maps (n, *spatial, C), whitened when the model whitens.

        ``select_rows`` (a callable or None): given the validated ``X``, it
        returns the host indices of the rows to keep, in their order; ``X`` is
        reduced to them before anything else, and put in order again once
        whitened (given the whitened rows). With ``reset`` the per-sample
        shape is read from ``X`` and the parameters, and the whitening learned
        from ``X``; otherwise ``X`` is
        checked against ``image_shape_``, whitened as in the fit and laid out
        with the channel axis of the fit (the parameters may have been
        changed since: what inference reads is fitted state).

        Returns
        -------
        maps : array of shape (n, *spatial, C)
        shape : tuple of int
            Per-sample shape as laid out by the user.
        feature_names : ndarray of str or None
            With ``reset``, X's column names (None without): the fit publishes
            them as ``feature_names_in_``.
        whitening : tuple (mean, matrix) or None
            With ``reset``, the whitening learned (None without whitening or
            without ``reset``).
        """
        xp_in = input_namespace(X)
        X, feature_names = self._validate_data_unpublished(
            X,
            reset=reset,
            dtype=[xp_in.float64, xp_in.float32],
            ensure_2d=False,
            allow_nd=True,
        )
        if X.ndim < 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead. Reshape your data "
                "either using array.reshape(-1, 1) if your data has a single "
                "feature or array.reshape(1, -1) if it contains a single sample; "
                "images go in as (n_samples, n_features) with image_shape, or as "
                "(n_samples, H, W) / (n_samples, H, W, C) arrays."
            )
        xp = array_namespace(X)
        check_magnitude(X, xp)
        if select_rows is not None:
            X = take_rows(X, select_rows(X))
        if reset:
            channel_axis = self.channel_axis
            shape = fit_image_shape(X.shape, self.image_shape, channel_axis)
            whitening = learned = self._learn_whitening(X)
        else:
            channel_axis, shape = self._channel_axis, self.image_shape_
            check_image_shape(X.shape, shape, channel_axis, type(self).__name__)
            whitening, learned = self._fitted_whitening(X), None
        if whitening is not None:
            # in the user's layout: whitening_mean_ lines up with X's columns
            X = apply_zca(X, *whitening, xp)
            if select_rows is not None:
                X = take_rows(X, select_rows(X))
        maps = to_channels_last(X, shape, channel_axis, xp)
        return maps, shape, feature_names, learned

    def _validate_data_unpublished(self, X, *, reset, **params):
        """scikit-learn's ``validate_data``, whose ``reset`` would set
        ``n_features_in_`` and ``feature_names_in_`` before the fit succeeds:
        here the estimator is left as it was, and X's feature names returned
        for :meth:`_publish` (None without a reset, or without names)."""
        if not reset:
            return validate_data(self, X, reset=False, **params), None
        state = vars(self)
        before = {k: state.pop(k) for k in _INPUT_ATTRIBUTES if k in state}
        try:
            X = validate_data(self, X, reset=True, **params)
            feature_names = state.get("feature_names_in_")
        finally:
            for key in _INPUT_ATTRIBUTES:
                state.pop(key, None)
            state.update(before)
        return X, feature_names

    # -------------------------------------------------------------- fitting

    @compute_method
    def _fit_network(self, X):
        """Validate X, resolve the architecture, learn (or take) the filters.

        Fitted attributes are set only once everything has succeeded, so a
        failed fit leaves an earlier fit in place.
        """
        params, setup = self._initial_params(self._fit_setup(X))
        self._publish(
            self._network_attributes(
                setup,
                [p[0] for p in params],
                [p[1] for p in params],
                patch_whitening(params),
            )
        )

    def _publish(self, attributes):
        """Set every fitted attribute of a fit in one step.

        One ``dict.update``, which no exception or interrupt (KeyboardInterrupt
        arrives between bytecodes) can split: a fit that fails before it
        leaves the previous fit whole, never new filters with an old M or new
        classes with an old head.
        """
        state = vars(self)
        state.update(attributes)
        if (
            "feature_names_in_" in attributes
            and attributes["feature_names_in_"] is None
        ):
            del state["feature_names_in_"]  # fitted on an array without names

    def _fit_setup(self, X, select_rows=None):
        """Validated (and whitened) maps, resolved layers and the compute
        namespace of a fit. ``select_rows``: see :meth:`_validate_images`."""
        maps, shape, feature_names, whitening = self._validate_images(
            X, reset=True, select_rows=select_rows
        )
        channel_axis = self.channel_axis
        spatial, n_channels, _ = split_channels(shape, channel_axis)
        specs = resolve_layer_specs(
            self.get_params(deep=False), len(spatial), n_channels
        )
        shapes = layer_shapes(spatial, n_channels, specs)
        xp, dev = compute_namespace(maps, self.device, follow_input=dispatch_on())
        check_sigmas(specs, float_name(maps.dtype))
        return FitSetup(
            maps,
            shape,
            feature_names,
            whitening,
            channel_axis,
            n_channels,
            specs,
            shapes,
            xp,
            dev,
            _float_dtype(xp, maps.dtype),
        )

    def _network_attributes(self, setup, filters, lintrans_maps, patch_zca=None):
        """The fitted network's attributes, where the input came from, for
        :meth:`_publish`.

        NumPy unless array API dispatch handed us another namespace, so that a
        model fitted on a GPU pickles and loads on a CPU-only machine.
        """
        xp = setup.xp
        return {
            "filters_": [
                self._to_input_namespace(
                    filters_from_internal(z, shape.in_channels, spec.patch_shape, xp),
                    setup,
                )
                for z, shape, spec in zip(filters, setup.shapes, setup.specs)
            ],
            "lintrans_": [self._to_input_namespace(m, setup) for m in lintrans_maps],
            "image_shape_": setup.shape,
            "n_features_in_": math.prod(setup.shape),
            "feature_names_in_": setup.feature_names,
            **self._whitening_attributes(setup, patch_zca),
            "n_channels_in_": setup.n_channels,
            "output_shape_": (setup.specs[-1].n_filters, *setup.shapes[-1].output),
            "_channel_axis": setup.channel_axis,
            "_specs": setup.specs,
            "_shapes": setup.shapes,
        }

    def _inference_batch_size(self):
        """Samples per batch outside training (None: from a memory budget)."""
        return self.batch_size

    def _inference_setup(self, X, method):
        """Checks shared by every method after fit; the maps and where to compute."""
        self._check_fitted()
        self._check_same_namespace(X, method)
        maps = self._validate_images(X, reset=False)[0]
        xp, dev = compute_namespace(maps, self.device, follow_input=dispatch_on())
        # fitted in float64, sigma may be out of float32's range
        check_sigmas(self._specs, float_name(maps.dtype))
        return maps, xp, dev, _float_dtype(xp, maps.dtype)

    def _features(
        self,
        maps,
        params,
        xp,
        dev,
        dtype,
        *,
        out_xp,
        out_dev,
        batch_size=None,
        progress=None,
    ):
        """Flattened CKN features of validated ``maps`` with the fitted network."""
        return transform_in_batches(
            maps,
            self._specs,
            params,
            self._shapes,
            xp=xp,
            dev=dev,
            dtype=dtype,
            batch_size=batch_size,
            out_xp=out_xp,
            out_dev=out_dev,
            progress=progress,
        )

    @compute_method
    def _transform(self, X):
        """The fitted network's features of X, in X's namespace and device."""
        maps, xp, dev, dtype = self._inference_setup(X, "transform")
        with Progress(self.verbose, maps.shape[0], "transform", "samples") as bar:
            features = self._features(
                maps,
                self._network_params(xp, dev, dtype),
                xp,
                dev,
                dtype,
                out_xp=array_namespace(maps),
                out_dev=array_device(maps),
                batch_size=self._inference_batch_size(),
                progress=bar.step,
            )
        # one pass over the features for both checks
        extremes = check_finite_result(features, maps, "the features of X")
        warn_if_responses_underflowed(extremes, maps, self._specs)
        return features

    def _network_params(self, xp, dev, dtype):
        """The fitted (z, m) pairs in internal layout on the compute device
        (the first with its patch whitening, if any)."""
        params = [
            (
                filters_to_internal(to_namespace(w, xp, dev, dtype), xp),
                to_namespace(m, xp, dev, dtype),
            )
            for w, m in zip(self.filters_, self.lintrans_)
        ]
        params[0] = (*params[0], *self._fitted_patch_whitening(xp, dev, dtype))
        return params

    def _check_same_namespace(self, X, method):
        """Under array API dispatch, refuse X from another namespace or device."""
        if not dispatch_on():
            return
        fitted = self.filters_[0]
        x_xp, f_xp = input_namespace(X), array_namespace(fitted)
        same_ns = x_xp.__name__ == f_xp.__name__
        if same_ns and (
            not is_array_api_obj(X) or array_device(X) == array_device(fitted)
        ):
            return
        raise ValueError(
            f"Inputs passed to {type(self).__name__}.{method}() must use the same "
            f"namespace and the same device as those passed to fit(). Fitted on "
            f"{f_xp.__name__} ({array_device(fitted)}), got {x_xp.__name__}."
        )

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``{classname}_f{filter}_{position}``, lowercase.

        The position reads ``t{i}`` for signals and ``y{i}_x{j}`` for images.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against ``feature_names_in_``; the output names do not
            depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        self._check_fitted()
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        n_filters, *spatial = self.output_shape_
        axes = ("t",) if len(spatial) == 1 else ("y", "x")
        positions = [
            "_".join(f"{a}{i}" for a, i in zip(axes, index))
            for index in np.ndindex(*spatial)
        ]
        names = [f"{prefix}_f{f}_{pos}" for f in range(n_filters) for pos in positions]
        return np.asarray(names, dtype=object)

    @property
    def _n_features_out(self):
        """Columns of ``transform``'s output (scikit-learn reads it, as for
        its own transformers)."""
        return math.prod(self.output_shape_)

    def _check_fitted(self):
        check_is_fitted(self, ("filters_", "lintrans_"))


def _float_dtype(xp, dtype):
    return getattr(xp, float_name(dtype))
