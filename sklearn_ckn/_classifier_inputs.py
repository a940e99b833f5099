"""What CKNClassifier's fits read besides X: labels, classes, sample and
class weights, and whether a continued fit still has its network.

The rules are MLPClassifier's (``partial_fit``'s ``classes``, ``warm_start``
on the same classes) and LogisticRegression's (``sample_weight`` times
``class_weight``).
"""

import copy

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    assert_all_finite,
    column_or_1d,
)

from ._backend import is_array_api_obj, to_numpy

__all__ = [
    "NETWORK_PARAMS",
    "check_same_network",
    "host_sample_weight",
    "labels",
    "network_settings",
    "resolve_classes",
    "sample_weights",
]

#: the settings that define the network: a continued fit must find them as
#: they were fitted (filters, n_patches, patch_quantile and random_state only
#: start a model)
NETWORK_PARAMS = (
    "n_filters",
    "patch_size",
    "subsampling",
    "kernel",
    "sigma",
    "padding",
    "eps",
    "image_shape",
    "channel_axis",
    "whitening",
    "whitening_reg",
)


def labels(y):
    """Labels as a 1-D host NumPy array (from any namespace or array-like)."""
    # is_array_api_obj also recognizes arrays, such as PyTorch's tensors, that
    # reach the array API only through array-api-compat
    if is_array_api_obj(y) and not isinstance(y, np.ndarray):
        y = to_numpy(y)
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name="y")
    return y


def resolve_classes(estimator, y, classes, incremental, resume):
    """The classes of a fit: the fitted ones for a continued fit (checked
    against ``y`` and ``classes``), ``classes`` for a first ``partial_fit``,
    else ``y``'s."""
    if resume:
        fitted = estimator.classes_
        present = np.unique(y)
        if incremental and classes is not None:
            if not np.array_equal(np.unique(labels(classes)), fitted):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {fitted!r}"
                )
        elif not incremental and not np.array_equal(present, fitted):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Previously got "
                f"{fitted.tolist()}, `y` has {present.tolist()}."
            )
        unseen = np.setdiff1d(present, fitted)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes_ "
                f"{fitted.tolist()} fixed by the first fit."
            )
        return fitted
    if incremental:
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        classes_ = np.unique(labels(classes))
        unseen = np.setdiff1d(np.unique(y), classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes="
                f"{classes_.tolist()}."
            )
    else:
        classes_ = np.unique(y)
    if classes_.size < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes; got "
            f"one class: {classes_.tolist()}."
        )
    return classes_


def host_sample_weight(sample_weight, X):
    """``sample_weight`` validated (one non-negative, finite weight per
    sample of ``X``) as a float64 host array, or None."""
    if sample_weight is None:
        return None
    if is_array_api_obj(sample_weight) and not isinstance(sample_weight, np.ndarray):
        sample_weight = to_numpy(sample_weight)
    return _check_sample_weight(
        sample_weight,
        np.empty((_num_samples(X), 0)),
        dtype=np.float64,
        ensure_non_negative=True,
    )


def sample_weights(sample_weight, class_weight, y, classes_, class_index):
    """Each sample's weight: ``sample_weight`` times its class's weight;
    None when every sample weighs the same (the plain means, exactly)."""
    weights = sample_weight
    if class_weight is not None:
        counted = slice(None) if sample_weight is None else sample_weight > 0
        present = np.isin(classes_, y[counted])
        per_class = np.ones(classes_.shape[0])
        # "balanced" weighs the classes present in y by their total sample
        # weight, as repeated samples would count (a partial_fit may announce
        # more classes); a dict gives its classes, 1 to the others
        per_class[present] = compute_class_weight(
            class_weight,
            classes=classes_[present],
            y=y[counted],
            sample_weight=None if sample_weight is None else sample_weight[counted],
        )
        per_class = per_class[class_index]
        weights = per_class if weights is None else weights * per_class
    if weights is None:
        return None
    if not np.sum(weights) > 0:
        raise ValueError(
            "The samples' weights (sample_weight times the class weights) sum "
            "to 0: at least one sample must have a positive weight."
        )
    if np.all(weights == weights[0]):
        return None
    return weights


def network_settings(estimator):
    """The estimator's settings that define its network, copied."""
    params = estimator.get_params(deep=False)
    return {name: copy.deepcopy(params[name]) for name in NETWORK_PARAMS}


def check_same_network(estimator, incremental):
    """Refuse to continue a model whose network settings were changed since
    it was fitted (``set_params``), instead of silently keeping the old
    network."""
    fitted = getattr(estimator, "_network_settings", None)
    if fitted is None:  # a model pickled before the settings were kept
        return
    now = estimator.get_params(deep=False)
    changed = [
        name for name in NETWORK_PARAMS if not _same_setting(now[name], fitted[name])
    ]
    if changed:
        what = ", ".join(
            f"{name}={now[name]!r} (fitted with {fitted[name]!r})" for name in changed
        )
        how = "partial_fit" if incremental else "warm_start=True"
        raise ValueError(
            f"{how} continues the fitted network, but {what} changed since it "
            "was fitted. Set the settings back, or fit a new model (with "
            "warm_start=False)."
        )


def _same_setting(a, b):
    """Equality of two parameter values: numbers, strings, None, and
    sequences of them (a tuple equals the list with the same entries)."""
    sequences = (list, tuple, np.ndarray)
    if isinstance(a, sequences) or isinstance(b, sequences):
        if not (isinstance(a, sequences) and isinstance(b, sequences)):
            return False
        return len(a) == len(b) and all(_same_setting(x, y) for x, y in zip(a, b))
    return bool(a == b)
