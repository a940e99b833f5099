"""What the CKN estimators share: parameters, input validation, image-shape
resolution, per-layer parameter broadcasting and the unsupervised filter fit."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import (
    array_device,
    array_namespace,
    compute_namespace,
    to_namespace,
)
from ._kernels import KERNELS
from ._kmeans import TooFewDistinctPatchesError
from ._lintrans import lintrans
from ._network import LayerSpec, fit_layers_unsupervised, layer_shapes
from ._patches import filters_from_internal, filters_to_internal

__all__ = ["CKNBase"]

_PADDINGS = ("same", "valid")
#: how far from 1 a user-given filter's norm may be (rounding of stored filters)
_FILTER_NORM_TOL = 1e-4


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_sequence(value):
    return isinstance(value, (list, tuple, np.ndarray))


def _dispatch_on():
    return get_config()["array_api_dispatch"]


class CKNBase(BaseEstimator):
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
        "padding": [StrOptions(set(_PADDINGS)), "array-like"],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "image_shape": [None, "array-like"],
        "channel_axis": [None, Integral],
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "filters": [None, list, tuple],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
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
        filters=None,
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
        self.filters = filters
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input

    def _validate_images(self, X, *, reset):
        """Validate ``X`` and return it as channels-last maps (n, *spatial, C).

        With ``reset`` the per-sample shape is read from ``X`` and the
        parameters; otherwise ``X`` is checked against ``image_shape_``.

        Returns
        -------
        maps : array of shape (n, *spatial, C)
        shape : tuple of int
            Per-sample shape as laid out by the user.
        spatial : tuple of int
        n_channels : int
        """
        xp_in = _input_namespace(X)
        X = validate_data(
            self,
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
        if reset:
            shape = self._image_shape_of(X)
        else:
            self._check_against_fit(X)
            shape = self.image_shape_
        spatial, channels, axis = _split_channels(shape, self.channel_axis)
        xp = array_namespace(X)
        maps = xp.reshape(X, (X.shape[0], *shape))
        if axis is None:
            maps = maps[..., None]
        else:
            order = [0, *(i + 1 for i in range(len(shape)) if i != axis), axis + 1]
            maps = xp.permute_dims(maps, tuple(order))
        return maps, shape, spatial, channels

    def _image_shape_of(self, X):
        """The per-sample shape of ``X`` at fit time, checked against image_shape."""
        given = (
            None
            if self.image_shape is None
            else tuple(int(v) for v in self.image_shape)
        )
        if X.ndim == 2:
            if given is None:
                if self.channel_axis is not None:
                    raise ValueError(
                        "channel_axis is set but image_shape is None: with 2-D X, give "
                        "image_shape, e.g. (L, C) or (H, W, C), to say how each row "
                        "is laid out."
                    )
                return (X.shape[1],)
            if math.prod(given) != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features per row, but image_shape={given} "
                    f"holds {math.prod(given)} values; they must match."
                )
            return given
        shape = tuple(X.shape[1:])
        if given is not None and given != shape:
            raise ValueError(
                f"X holds images of shape {shape}, but image_shape={given}; they "
                "must match (or leave image_shape=None for image arrays)."
            )
        return shape

    def _check_against_fit(self, X):
        name = type(self).__name__
        if X.ndim == 2:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {name} is expecting "
                    f"{self.n_features_in_} features as input (one image of shape "
                    f"{self.image_shape_} per row)."
                )
            return
        shape = tuple(X.shape[1:])
        if shape == self.image_shape_:
            return
        fitted = _split_channels(self.image_shape_, self.channel_axis)
        if len(shape) == len(self.image_shape_) and fitted[2] is not None:
            got = _split_channels(shape, self.channel_axis)
            if got[0] == fitted[0]:
                raise ValueError(
                    f"X has {got[1]} channels, but {name} was fitted on images with "
                    f"{fitted[1]} channels (image shape {self.image_shape_})."
                )
        raise ValueError(
            f"X holds images of shape {shape}, but {name} was fitted on images of "
            f"shape {self.image_shape_}."
        )

    # ----------------------------------------------------------- architecture

    def _n_layers(self):
        if self.filters is not None:
            if len(self.filters) == 0:
                raise ValueError("filters must hold one array per layer; got none.")
            return len(self.filters)
        if _is_sequence(self.n_filters):
            if len(self.n_filters) == 0:
                raise ValueError("n_filters must name at least one layer; got ().")
            return len(self.n_filters)
        return 1

    def _per_layer(self, name, n_layers, is_entry):
        """Broadcast a scalar parameter, or check a per-layer sequence.

        A top-level list or tuple always holds one entry per layer, as in
        ``MLPClassifier(hidden_layer_sizes=...)``; per-axis values go nested.
        """
        value = getattr(self, name)
        if _is_sequence(value):
            values = list(value)
            if len(values) != n_layers:
                raise ValueError(
                    f"{name}={value!r} has {len(values)} entries but the network has "
                    f"{n_layers} layer(s); give one entry per layer or one value for "
                    "all layers (per-axis values go nested, e.g. ((1, 3),) for one "
                    "layer)."
                )
        else:
            values = [value] * n_layers
        for layer, entry in enumerate(values):
            if not is_entry(entry):
                raise ValueError(
                    f"{name} entry {entry!r} for layer {layer} is not valid."
                )
        return values

    def _layer_specs(self, n_spatial, n_channels):
        """Resolve every per-layer parameter into a list of :class:`LayerSpec`."""
        n_layers = self._n_layers()

        def per_axis(value, name, layer):
            if _is_int(value):
                return (int(value),) * n_spatial
            value = tuple(int(v) for v in value)
            if len(value) != n_spatial:
                raise ValueError(
                    f"{name} for layer {layer} is {value}, but the input has "
                    f"{n_spatial} spatial axis/axes; give one value per axis."
                )
            return value

        kernels = self._per_layer("kernel", n_layers, lambda v: v in KERNELS)
        sigmas = self._per_layer(
            "sigma", n_layers, lambda v: isinstance(v, Real) and v > 0
        )
        paddings = self._per_layer("padding", n_layers, lambda v: v in _PADDINGS)
        subsamplings = self._per_layer(
            "subsampling", n_layers, _is_positive_int_or_tuple
        )
        if self.filters is None:
            n_filters = self._per_layer(
                "n_filters", n_layers, lambda v: _is_int(v) and v >= 1
            )
            patches = self._per_layer("patch_size", n_layers, _is_positive_int_or_tuple)
            patch_shapes = [per_axis(p, "patch_size", i) for i, p in enumerate(patches)]
        else:
            n_filters, patch_shapes = self._shapes_of_given_filters(
                n_spatial, n_channels
            )
        return [
            LayerSpec(
                n_filters=int(n_filters[i]),
                patch_shape=patch_shapes[i],
                subsampling=per_axis(subsamplings[i], "subsampling", i),
                kernel=kernels[i],
                sigma=float(sigmas[i]),
                padding=paddings[i],
                eps=float(self.eps),
            )
            for i in range(n_layers)
        ]

    def _shapes_of_given_filters(self, n_spatial, n_channels):
        n_filters, patch_shapes = [], []
        in_channels = n_channels
        for layer, w in enumerate(self.filters):
            shape = tuple(w.shape) if hasattr(w, "shape") else np.shape(w)
            if len(shape) != 2 + n_spatial:
                raise ValueError(
                    f"filters[{layer}] has shape {shape}; for {n_spatial}-D inputs the "
                    f"layout is (n_filters, in_channels{', patch' * n_spatial})."
                )
            if shape[1] != in_channels:
                raise ValueError(
                    f"filters[{layer}] has {shape[1]} input channels, but layer "
                    f"{layer} receives {in_channels} channels."
                )
            n_filters.append(shape[0])
            patch_shapes.append(tuple(shape[2:]))
            in_channels = shape[0]
        return n_filters, patch_shapes

    # -------------------------------------------------------------- fitting

    def _fit_network(self, X):
        """Validate X, resolve the architecture, learn (or take) the filters.

        Fitted attributes are set only once everything has succeeded, so a
        failed fit leaves an earlier fit in place.

        Returns
        -------
        maps : array of shape (n, *spatial, C)
            The validated input, channels-last, for the caller's next step.
        """
        maps, shape, spatial, n_channels = self._validate_images(X, reset=True)
        specs = self._layer_specs(len(spatial), n_channels)
        shapes = layer_shapes(spatial, n_channels, specs)
        xp, dev = compute_namespace(maps, self.device, follow_input=_dispatch_on())
        dtype = _float_dtype(xp, maps.dtype)
        if self.filters is None:
            params = self._learn_filters(maps, specs, shapes, xp, dev, dtype)
        else:
            params = []
            for w, spec in zip(self.filters, specs):
                w = to_namespace(
                    np.asarray(w) if isinstance(w, list) else w, xp, dev, dtype
                )
                z = _unit_filters(filters_to_internal(w, xp), xp)
                params.append((z, lintrans(z, spec.kernel, spec.sigma, spec.eps, xp)))
        # fitted arrays live where the input came from: NumPy unless array API
        # dispatch handed us another namespace, so a GPU fit pickles to a CPU machine
        in_xp, in_dev = array_namespace(maps), array_device(maps)
        self.filters_ = [
            to_namespace(
                filters_from_internal(z, shape_.in_channels, spec.patch_shape, xp),
                in_xp,
                in_dev,
            )
            for (z, _), shape_, spec in zip(params, shapes, specs)
        ]
        self.lintrans_ = [to_namespace(m, in_xp, in_dev) for _, m in params]
        self.image_shape_ = shape
        self.n_features_in_ = math.prod(shape)
        self.n_channels_in_ = n_channels
        self.output_shape_ = (specs[-1].n_filters, *shapes[-1].output)
        self._specs, self._shapes = specs, shapes
        return maps

    def _learn_filters(self, maps, specs, shapes, xp, dev, dtype):
        """Unsupervised filters: spherical k-means on sampled patches, layerwise."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        log = print if self.verbose else None
        try:
            return fit_layers_unsupervised(
                maps,
                specs,
                shapes,
                n_patches=self.n_patches,
                rng=np.random.default_rng(seed),
                xp=xp,
                dev=dev,
                dtype=dtype,
                batch_size=self.batch_size,
                log=log,
            )
        except TooFewDistinctPatchesError as exc:
            raise ValueError(
                f"Layer {exc.layer} asks for n_filters={exc.n_clusters}, but only "
                f"{exc.n_distinct} distinct non-zero patches were sampled from X "
                f"(n_samples={maps.shape[0]}, n_features={math.prod(maps.shape[1:])}). "
                "Use fewer filters, more or larger images, or a larger n_patches."
            ) from None

    def _network_params(self, xp, dev, dtype):
        """The fitted (z, m) pairs in internal layout on the compute device."""
        return [
            (
                filters_to_internal(to_namespace(w, xp, dev, dtype), xp),
                to_namespace(m, xp, dev, dtype),
            )
            for w, m in zip(self.filters_, self.lintrans_)
        ]

    def _check_same_namespace(self, X, method):
        """Under array API dispatch, refuse X from another namespace or device."""
        if not _dispatch_on():
            return
        fitted = self.filters_[0]
        x_xp, f_xp = _input_namespace(X), array_namespace(fitted)
        same_ns = x_xp.__name__ == f_xp.__name__
        if same_ns and (
            not hasattr(X, "__array_namespace__")
            or array_device(X) == array_device(fitted)
        ):
            return
        raise ValueError(
            f"Inputs passed to {type(self).__name__}.{method}() must use the same "
            f"namespace and the same device as those passed to fit(). Fitted on "
            f"{f_xp.__name__} ({array_device(fitted)}), got {x_xp.__name__}."
        )

    def _check_fitted(self):
        check_is_fitted(self, ("filters_", "lintrans_"))


def _is_positive_int_or_tuple(value):
    if _is_int(value):
        return value >= 1
    return (
        _is_sequence(value)
        and len(value) > 0
        and all(_is_int(v) and v >= 1 for v in value)
    )


def _split_channels(shape, channel_axis):
    """(spatial shape, n_channels, channel axis or None) of a per-sample shape."""
    if channel_axis is None:
        if len(shape) in (1, 2):
            return tuple(shape), 1, None
        raise ValueError(
            f"Images of shape {shape} have {len(shape)} axes, but channel_axis=None "
            "allows only (L,) signals and (H, W) images. Set channel_axis=-1 for "
            "(H, W, C) or (L, C), or channel_axis=0 for (C, H, W) or (C, L)."
        )
    if len(shape) not in (2, 3):
        raise ValueError(
            f"Images of shape {shape} cannot hold a channel axis ({channel_axis}) "
            "and one or two spatial axes; expected (L, C) or (H, W, C) layouts."
        )
    if not -len(shape) <= channel_axis < len(shape):
        raise ValueError(
            f"channel_axis={channel_axis} is out of range for images of shape {shape}."
        )
    axis = channel_axis % len(shape)
    spatial = tuple(s for i, s in enumerate(shape) if i != axis)
    return spatial, shape[axis], axis


def _input_namespace(X):
    """The namespace of X under array API dispatch; NumPy otherwise."""
    if _dispatch_on():
        try:
            return array_namespace(X)
        except TypeError:  # lists, DataFrames and other array-likes
            pass
    return array_namespace(np.empty(0))


def _float_dtype(xp, dtype):
    return xp.float32 if "float32" in str(dtype) else xp.float64


def _unit_filters(z, xp):
    """Check that user-given filters (p, d) have rows of unit L2 norm."""
    norms = xp.sqrt(xp.sum(z * z, axis=1))
    worst = float(xp.max(xp.abs(norms - 1.0)))
    if not math.isfinite(worst) or worst > _FILTER_NORM_TOL:
        raise ValueError(
            "Each filter must have unit L2 norm over its (in_channels, *patch) "
            f"values; the largest deviation from 1 is {worst:.3g}. Normalize each "
            "filter by the norm of w.reshape(len(w), -1) along axis 1."
        )
    return z
