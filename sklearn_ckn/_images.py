"""Image layouts: how a row of X, or an image array, maps to a channels-last map.

A per-sample shape is ``(L,)`` or ``(H, W)`` without channels, or ``(L, C)`` /
``(H, W, C)`` (in any axis order) with ``channel_axis`` naming the channel
axis, as in scikit-image. Nothing is ever reshaped into a layout the user did
not state: every mismatch is a ValueError naming both shapes.
"""

import math
import numbers

from sklearn.utils._param_validation import InvalidParameterError

__all__ = [
    "check_image_shape",
    "fit_image_shape",
    "split_channels",
    "to_channels_last",
]


def split_channels(shape, channel_axis):
    """Split a per-sample shape into (spatial shape, n_channels, channel axis or None).

    Raises
    ------
    ValueError
        If the shape has no valid reading with this ``channel_axis``.
    """
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


def _checked_image_shape(image_shape):
    """``image_shape`` as a tuple of ints, refused unless every entry is a
    positive integer (a float, even 8.0, or a bool is refused, not truncated)."""
    try:
        entries = tuple(image_shape)
    except TypeError:
        entries = None
    if (
        not entries
        or len(entries) > 3
        or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
            for v in entries
        )
    ):
        raise InvalidParameterError(
            "The 'image_shape' parameter must be None or a tuple of 1 to 3 "
            "positive ints, (L,), (L, C), (H, W) or (H, W, C) with channel_axis "
            f"(not truncated: 8.0 is refused); got {image_shape!r}."
        )
    return tuple(int(v) for v in entries)


def fit_image_shape(x_shape, image_shape, channel_axis):
    """The per-sample shape of an input of shape ``x_shape`` at fit time.

    2-D input: ``image_shape`` (its size must equal the row length), or
    ``(n_features,)`` when it is None. Image arrays: their own shape, which a
    given ``image_shape`` must equal.
    """
    given = None if image_shape is None else _checked_image_shape(image_shape)
    if len(x_shape) == 2:
        if given is None:
            if channel_axis is not None:
                raise ValueError(
                    "channel_axis is set but image_shape is None: with 2-D X, give "
                    "image_shape, e.g. (L, C) or (H, W, C), to say how each row "
                    "is laid out."
                )
            return (x_shape[1],)
        if math.prod(given) != x_shape[1]:
            raise ValueError(
                f"X has {x_shape[1]} features per row, but image_shape={given} "
                f"holds {math.prod(given)} values; they must match."
            )
        return given
    shape = tuple(x_shape[1:])
    if given is not None and given != shape:
        raise ValueError(
            f"X holds images of shape {shape}, but image_shape={given}; they "
            "must match (or leave image_shape=None for image arrays)."
        )
    return shape


def check_image_shape(x_shape, fitted_shape, channel_axis, estimator_name):
    """Check an input of shape ``x_shape`` against the per-sample shape seen in fit.

    2-D input must have ``prod(fitted_shape)`` features; image arrays must
    have ``fitted_shape`` exactly. A channel count that differs is named as such.
    """
    if len(x_shape) == 2:
        n_features = math.prod(fitted_shape)
        if x_shape[1] != n_features:
            raise ValueError(
                f"X has {x_shape[1]} features, but {estimator_name} is expecting "
                f"{n_features} features as input (one image of shape "
                f"{fitted_shape} per row)."
            )
        return
    shape = tuple(x_shape[1:])
    if shape == fitted_shape:
        return
    fitted_spatial, fitted_channels, axis = split_channels(fitted_shape, channel_axis)
    if len(shape) == len(fitted_shape) and axis is not None:
        spatial, channels, _ = split_channels(shape, channel_axis)
        if spatial == fitted_spatial:
            raise ValueError(
                f"X has {channels} channels, but {estimator_name} was fitted on "
                f"images with {fitted_channels} channels (image shape {fitted_shape})."
            )
    raise ValueError(
        f"X holds images of shape {shape}, but {estimator_name} was fitted on images "
        f"of shape {fitted_shape}."
    )


def to_channels_last(x, shape, channel_axis, xp):
    """Reshape validated ``x`` to maps (n, *spatial, C), channels moved last."""
    _, _, axis = split_channels(shape, channel_axis)
    maps = xp.reshape(x, (x.shape[0], *shape))
    if axis is None:
        return maps[..., None]
    order = (0, *(i + 1 for i in range(len(shape)) if i != axis), axis + 1)
    return xp.permute_dims(maps, order)
