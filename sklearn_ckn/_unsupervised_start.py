"""The start of a CKN fit: each layer's filters, learned without labels
(spherical k-means on sampled patches, layer by layer) or taken from
``filters``, with their maps M and the patch whitening.

A layer that asks for more filters than its sample holds distinct patches
learns one per distinct patch, with a warning, as
:class:`~sklearn.kernel_approximation.Nystroem` does with more components
than samples.
"""

import dataclasses
import math

import numpy as np
from sklearn.utils import check_random_state

from ._architecture import check_unit_filters
from ._backend import to_namespace
from ._numeric_checks import check_finite_result
from ._ops.kmeans import TooFewDistinctPatchesError
from ._ops.lintrans import lintrans
from ._ops.patches import filters_to_internal
from ._progress import Progress
from ._unsupervised import fit_layers_unsupervised, learn_patch_whitening
from ._warnings import warn_user

__all__ = ["UnsupervisedStart"]


class UnsupervisedStart:
    """How a CKN estimator gets its initial filters (a mixin of
    :class:`~sklearn_ckn._base.CKNBase`, which sets ``random_state``,
    ``n_patches``, ``patch_quantile``, ``whitening``, ``filters``...)."""

    def _initial_params(self, setup):
        """(z, M) per layer: learned without labels, or from ``filters``; the
        first is (z, M, (mean, matrix)) with whitening='patches'.

        Returns the params and ``setup``, whose specs and shapes have fewer
        filters where a layer found fewer distinct patches than it asked for.
        """
        xp, dev, dtype = setup.xp, setup.dev, setup.dtype
        if self.filters is None:
            params, specs, shapes = self._learn_filters(
                setup.maps, setup.specs, setup.shapes, xp, dev, dtype
            )
            return params, dataclasses.replace(setup, specs=specs, shapes=shapes)
        whitening = ()
        if self.whitening == "patches":
            whitening = (self._learn_patch_whitening_only(setup),)
        params = []
        for w, spec in zip(self.filters, setup.specs):
            w = np.asarray(w) if isinstance(w, list) else w
            given_dtype = _numpy_dtype(w)
            # a copy: the fitted filters must not follow later changes to the
            # caller's arrays (their M would then be stale)
            w = xp.asarray(to_namespace(w, xp, dev), dtype=dtype, copy=True)
            z = check_unit_filters(filters_to_internal(w, xp), xp, given_dtype)
            params.append((z, lintrans(z, spec.kernel, spec.sigma, spec.eps, xp)))
        params[0] = (*params[0], *whitening)
        return params, setup

    def _learn_patch_whitening_only(self, setup):
        """The first layer's patch ZCA, for given filters (nothing else is
        learned)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return learn_patch_whitening(
            setup.maps,
            setup.specs,
            setup.shapes,
            n_patches=self.n_patches,
            rng=np.random.default_rng(seed),
            xp=setup.xp,
            dev=setup.dev,
            dtype=setup.dtype,
            reg=self.whitening_reg,
            batch_size=self._inference_batch_size(),
        )

    def _learn_filters(self, maps, specs, shapes, xp, dev, dtype):
        """Unsupervised filters: spherical k-means on sampled patches, layerwise.

        A layer that asks for more filters than its sample holds distinct
        non-zero patches learns one filter per distinct patch, with a warning
        (as :class:`~sklearn.kernel_approximation.Nystroem` does with more
        components than samples). Returns the params and the specs and shapes
        as learned.
        """
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        progress = Progress(self.verbose, len(specs), "k-means", "layers")

        def too_few(layer, n_filters, n_distinct):
            warn_user(
                _too_few_patches_message(layer, n_filters, n_distinct, maps)
                + f" Layer {layer} learns {n_distinct} filters instead.",
                UserWarning,
            )

        try:
            params, specs, shapes = fit_layers_unsupervised(
                maps,
                specs,
                shapes,
                n_patches=self.n_patches,
                patch_quantile=float(self.patch_quantile),
                rng=np.random.default_rng(seed),
                xp=xp,
                dev=dev,
                dtype=dtype,
                batch_size=self._inference_batch_size(),
                log=lambda message: progress.step(message=message),
                patch_whitening_reg=(
                    self.whitening_reg if self.whitening == "patches" else None
                ),
                on_too_few=too_few,
            )
        except TooFewDistinctPatchesError as exc:
            below = specs[exc.layer - 1] if exc.layer > 0 else None
            if exc.n_distinct == 0 and below is not None and below.kernel == "exp":
                raise ValueError(
                    f"Layer {exc.layer - 1}'s responses are all 0, so layer "
                    f"{exc.layer} has no patch to learn from: with sigma="
                    f"{below.sigma:g}, exp((u - 1) / sigma^2) underflows unless a "
                    "patch is nearly a filter. Use a larger sigma (typical values "
                    "are 0.1 to 1)."
                ) from None
            raise ValueError(
                _too_few_patches_message(
                    exc.layer, exc.n_clusters, exc.n_distinct, maps
                )
            ) from None
        finally:
            progress.close()
        for z, m, *_ in params:
            check_finite_result(z, maps, "the filters learned from X")
            check_finite_result(m, maps, "the filters learned from X")
        return params, specs, shapes


def _too_few_patches_message(layer, n_filters, n_distinct, maps):
    return (
        f"Layer {layer} asks for n_filters={n_filters}, but only {n_distinct} "
        f"distinct non-zero patches were sampled from X (n_samples={maps.shape[0]}, "
        f"n_features={math.prod(maps.shape[1:])}). Use fewer filters, more or "
        "larger images, or a larger n_patches."
    )


def _numpy_dtype(a):
    """``a``'s dtype as a NumPy dtype (NumPy and CuPy arrays), else None."""
    try:
        return np.dtype(a.dtype)
    except TypeError:
        return None
