"""CKNClassifier's predictions: the decision function of its linear head on
the standardized features of its network, the labels and, with
``loss="log_loss"``, the probabilities."""

from sklearn.utils.metaestimators import available_if

from ._backend import (
    array_device,
    array_namespace,
    is_numpy_namespace,
    to_namespace,
    to_numpy,
)
from ._compute_context import compute_method
from ._network import head_scores
from ._numeric_checks import check_finite_result
from ._ops.head import log_probabilities, probabilities

__all__ = ["HeadPredictions"]


class HeadPredictions:
    """The prediction methods of :class:`~sklearn_ckn.CKNClassifier` (a
    mixin: the classifier holds the fitted network and head)."""

    def decision_function(self, X):
        """Head outputs: signed distances of the samples to the class boundaries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column (for ``classes_[1]``) when there are two classes.
        """
        scores = self._decision(X, "decision_function")
        xp = array_namespace(scores)
        return xp.reshape(scores, (-1,)) if scores.shape[1] == 1 else scores

    @compute_method
    def _decision(self, X, method):
        maps, xp, dev, dtype = self._inference_setup(X, method)
        params = self._network_params(xp, dev, dtype)
        coef, intercept, mean, scale = (
            to_namespace(a, xp, dev, dtype)
            for a in (
                self.coef_,
                self.intercept_,
                self.feature_mean_,
                self.feature_scale_,
            )
        )
        scores = head_scores(
            maps,
            self._specs,
            params,
            self._shapes,
            coef,
            intercept,
            mean,
            scale,
            xp=xp,
            dev=dev,
            dtype=dtype,
        )
        check_finite_result(scores, maps, "the decision function of X")
        return to_namespace(scores, array_namespace(maps), array_device(maps))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        scores = self._decision(X, "predict")
        xp = array_namespace(scores)
        if scores.shape[1] == 1:
            index = xp.astype(scores[:, 0] > 0, xp.int64)
        else:
            index = xp.argmax(scores, axis=1)
        labels = self.classes_[to_numpy(index)]
        if labels.dtype.kind in "biuf" and not is_numpy_namespace(xp):
            return xp.asarray(labels, device=array_device(scores))
        return labels

    def _has_probabilities(self):
        if self.loss != "log_loss":
            raise AttributeError(
                "predict_proba is only available with loss='log_loss'; "
                f"this model was set with loss={self.loss!r}."
            )
        return True

    @available_if(_has_probabilities)
    def predict_proba(self, X):
        """Class probabilities (``loss='log_loss'`` only): sigmoid or softmax of f.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        scores = self._decision(X, "predict_proba")
        return probabilities(scores, array_namespace(scores))

    @available_if(_has_probabilities)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self._decision(X, "predict_log_proba")
        return log_probabilities(scores, array_namespace(scores))
