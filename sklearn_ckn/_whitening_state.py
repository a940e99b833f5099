"""What a CKN estimator learns and keeps of its whitening.

``whitening="images"``: the ZCA of the training images, applied to the input
before the network, kept in X's column order. ``whitening="patches"``: the
ZCA of the first layer's patches, which the network applies (its first
layer's params carry it), kept in the order of a flattened ``filters_[0]``
row and moved to the internal patch order for computing.
"""

import math

from ._backend import array_device, array_namespace, to_namespace
from ._ops.patches import filters_from_internal, filters_to_internal
from ._ops.whitening import MAX_IMAGE_VALUES, fit_zca

__all__ = ["WhiteningState", "patch_whitening"]


class WhiteningState:
    """The estimators' whitening: learned from the training images, kept as
    ``whitening_mean_``, ``whitening_matrix_`` and its kind, and handed to
    the network (a mixin of :class:`~sklearn_ckn._base.CKNBase`)."""

    def _learn_whitening(self, X):
        """(mean, matrix) of the image whitening learned from the training
        images, or None without it (patches are whitened by the network)."""
        if self.whitening != "images":
            return None
        n_values = math.prod(X.shape[1:])
        if n_values > MAX_IMAGE_VALUES:
            raise ValueError(
                f"whitening='images' learns a {n_values} x {n_values} matrix for "
                f"images of {n_values} values; it takes images of at most "
                f"{MAX_IMAGE_VALUES} values (for longer signals or larger images "
                "leave whitening=None)."
            )
        return fit_zca(X, self.whitening_reg, array_namespace(X))

    def _whitening_attributes(self, setup, patch_zca=None):
        """whitening_mean_ and whitening_matrix_: of the images (in X's column
        order), of the first layer's patches (in the order of a flattened
        filters_[0] row, channel-major), or None."""
        kind, mean, matrix = None, None, None
        if setup.whitening is not None:
            kind, (mean, matrix) = "images", setup.whitening
        elif patch_zca is not None:
            kind = "patches"
            mean, matrix = _reorder_patch_zca(
                patch_zca, setup.n_channels, setup.specs[0], setup.xp, _patch_layout
            )
        keep = self._to_input_namespace
        return {
            "whitening_mean_": None if mean is None else keep(mean, setup),
            "whitening_matrix_": None if matrix is None else keep(matrix, setup),
            "_whitening_kind": kind,
        }

    def _fitted_patch_whitening(self, xp, dev, dtype):
        """The fitted patch ZCA in internal patch order on the compute device,
        as a tuple to append to the first layer's (z, M); () without it."""
        if getattr(self, "_whitening_kind", None) != "patches":
            return ()
        fitted = (
            to_namespace(a, xp, dev, dtype)
            for a in (self.whitening_mean_, self.whitening_matrix_)
        )
        return (
            _reorder_patch_zca(
                fitted, self.n_channels_in_, self._specs[0], xp, _patch_internal
            ),
        )

    def _image_whitening(self):
        """The fitted image whitening (mean, matrix), or None (none, or the
        patches': the network carries that one)."""
        if getattr(self, "_whitening_kind", None) != "images":
            return None
        return self.whitening_mean_, self.whitening_matrix_

    def _fitted_whitening(self, X):
        """The fitted image whitening in X's namespace and device, or None."""
        whitening = self._image_whitening()
        if whitening is None:
            return None
        xp, dev = array_namespace(X), array_device(X)
        return tuple(to_namespace(a, xp, dev) for a in whitening)

    @staticmethod
    def _to_input_namespace(a, setup):
        return to_namespace(a, array_namespace(setup.maps), array_device(setup.maps))


def patch_whitening(params):
    """The (mean, matrix) of a first layer's patch whitening in network
    params, or None."""
    return params[0][2] if len(params[0]) > 2 else None


def _reorder_patch_zca(zca, n_channels, spec, xp, reorder):
    """A patch ZCA (mean, matrix) with its patch axes put in another order by
    ``reorder`` (:func:`_patch_layout` or :func:`_patch_internal`): the
    mean's entries, the matrix's rows and columns."""
    mean, matrix = zca
    shape = spec.patch_shape
    mean = reorder(mean[None, :], n_channels, shape, xp)[0, :]
    matrix = reorder(matrix, n_channels, shape, xp)  # columns
    matrix = reorder(xp.matrix_transpose(matrix), n_channels, shape, xp)  # rows
    return mean, xp.matrix_transpose(matrix)


def _patch_layout(rows, n_channels, patch_shape, xp):
    """Rows of patch values, internal order -> (C, *patch) order."""
    w = filters_from_internal(rows, n_channels, patch_shape, xp)
    return xp.reshape(w, (rows.shape[0], -1))


def _patch_internal(rows, n_channels, patch_shape, xp):
    """Rows of patch values, (C, *patch) order -> internal order."""
    return filters_to_internal(
        xp.reshape(rows, (rows.shape[0], n_channels, *patch_shape)), xp
    )
