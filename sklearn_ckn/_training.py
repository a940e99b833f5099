"""Supervised training of a CKN: filters and linear head, end to end.

The objective is the mean classification loss of the head on the standardized
CKN features plus ``alpha / 2 ||W||^2``. Gradients come from the hand-written
backward pass of :mod:`sklearn_ckn._network`; filters stay on the unit sphere
(:mod:`sklearn_ckn._ops.optim`). This module knows nothing of scikit-learn.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._backend import (
    array_namespace,
    float_name,
    to_namespace,
)
from ._device_moves import shallow_copy, to_host
from ._device_moves import to_device as arrays_to_device
from ._network import (
    ChunkRunner,
    DeviceLayer,
    backward_parts,
    filter_gradients,
    forward_with_caches,
    head_scores,
    take_rows,
    transform_in_batches,
)
from ._ops.head import (
    n_outputs,
)
from ._ops.lintrans import gram_eigh, lintrans
from ._ops.optim import SGD, Adam, learning_rate_at, renormalize, tangent
from ._ops.pooling import pooling_matrices
from ._trainer_head import HeadSolution, HeadSolver

__all__ = ["CKNTrainer", "HeadSolution", "TrainingConfig", "head_scores"]

#: step-size reductions tried by one ``exact_head`` step before it gives up
MAX_BACKTRACKS = 10


@dataclass(frozen=True)
class TrainingConfig:
    """Optimization settings (the estimator's parameters, resolved)."""

    loss: str
    alpha: float
    solver: str
    learning_rate: str
    learning_rate_init: float
    power_t: float
    momentum: float
    batch_size: int
    shuffle: bool
    head_max_iter: int


class CKNTrainer(HeadSolver):
    """Parameters of a supervised CKN on the compute device, and how to train them.

    Parameters
    ----------
    specs, shapes : lists
        Layer specs and shapes (:func:`sklearn_ckn._layer.layer_shapes`).
    filters : list of arrays (p, d)
        Initial unit-norm filters in internal patch order, on the device.
    n_classes : int
    config : TrainingConfig
    xp, dev, dtype :
        Compute namespace, device and float dtype.
    """

    def __init__(
        self,
        specs,
        shapes,
        filters,
        n_classes,
        config,
        xp,
        dev,
        dtype,
        whitening=None,
    ):
        self.specs, self.shapes = specs, shapes
        self.filters = list(filters)
        # the first layer's patch whitening (mean, matrix), a fixed map
        self.whitening = whitening
        self.n_classes = n_classes
        self.config = config
        self.xp, self.dev, self.dtype = xp, dev, dtype
        self.pool_mats = [
            pooling_matrices(shape.conv, spec.subsampling, xp, dtype, dev)
            for spec, shape in zip(specs, shapes)
        ]
        n_features = specs[-1].n_filters * math.prod(shapes[-1].output)
        self.coef = xp.zeros(
            (n_outputs(n_classes), n_features), dtype=dtype, device=dev
        )
        self.intercept = xp.zeros((n_outputs(n_classes),), dtype=dtype, device=dev)
        self.mean = xp.zeros((n_features,), dtype=dtype, device=dev)
        self.scale = xp.ones((n_features,), dtype=dtype, device=dev)
        self.optimizer = None
        self.learning_rate = config.learning_rate_init

    def reconfigure(self, config):
        """New optimization settings: a fresh optimizer and step size."""
        self.config = config
        self.optimizer = None
        self.learning_rate = config.learning_rate_init

    # ----------------------------------------------------------- evaluation

    def lintrans(self, filters=None):
        """The map M of every layer for ``filters`` (None: the current ones)."""
        filters = self.filters if filters is None else filters
        return [
            lintrans(z, spec.kernel, spec.sigma, spec.eps, self.xp)
            for z, spec in zip(filters, self.specs)
        ]

    def _params(self, filters):
        """The network's (z, M) per layer, the first with its whitening."""
        params = list(zip(filters, self.lintrans(filters)))
        if self.whitening is not None:
            params[0] = (*params[0], self.whitening)
        return params

    def features(self, x, filters=None):
        """CKN features of ``x`` (any namespace) on the device, filter-major.

        ``filters``: those of every layer; None: the current ones.
        """
        xp = self.xp
        filters = self.filters if filters is None else filters
        return transform_in_batches(
            x,
            self.specs,
            self._params(filters),
            self.shapes,
            xp=xp,
            dev=self.dev,
            dtype=self.dtype,
            batch_size=None,
            out_xp=xp,
            out_dev=self.dev,
        )

    def decision_function(self, x):
        """Head outputs for ``x`` with the current parameters."""
        return head_scores(
            x,
            self.specs,
            self._params(self.filters),
            self.shapes,
            self.coef,
            self.intercept,
            self.mean,
            self.scale,
            xp=self.xp,
            dev=self.dev,
            dtype=self.dtype,
        )

    # ------------------------------------------------------------- training

    def objective_and_gradients(self, x_batch, targets, runner=None, weights=None):
        """Objective on one batch and its gradient for every parameter.

        The batch is processed in chunks by ``runner`` (a
        :class:`~sklearn_ckn._chunks.ChunkRunner`, made for this call when
        None): each chunk's forward and backward passes give its share of the
        loss and of every gradient, summed in chunk order; the path through
        each layer's M is then taken once for the whole batch.

        ``weights`` (host NumPy, one per row, or None) make the loss their
        weighted mean.

        Returns
        -------
        value : float
            Mean loss plus ``alpha / 2 ||W||^2``.
        grads : list
            Euclidean gradients of the filters (one per layer), of ``coef``
            and of ``intercept``.
        """
        xp = self.xp
        layers = self._device_layers()
        total = x_batch.shape[0] if weights is None else float(np.sum(weights))
        value, sums = self._summed_terms(
            x_batch, targets, layers, total, runner, weights
        )
        n_layers = len(layers)
        g_filters = filter_gradients(
            layers, sums[:n_layers], sums[n_layers : 2 * n_layers], xp
        )
        g_coef, g_intercept = sums[2 * n_layers :]
        alpha = self.config.alpha
        value += 0.5 * alpha * float(xp.sum(self.coef * self.coef))
        return value, [*g_filters, g_coef + alpha * self.coef, g_intercept]

    def _device_layers(self):
        """The layers with their M, for the current filters."""
        xp = self.xp
        layers = []
        for spec, z, pool in zip(self.specs, self.filters, self.pool_mats):
            # one eigendecomposition of K per layer serves M and its gradient
            eig = gram_eigh(z, spec.kernel, spec.sigma, xp)
            m = lintrans(z, spec.kernel, spec.sigma, spec.eps, xp, eig=eig)
            whitening = self.whitening if not layers else None
            layers.append(DeviceLayer(spec, z, m, pool, eig, whitening=whitening))
        return layers

    def _summed_terms(self, x_batch, targets, layers, n, runner, weights=None):
        """Loss and gradient terms of these rows, each row weighted ``1 / n``
        (with host ``weights``: ``weights[i] / n``, ``n`` then their total).

        Returns the weighted loss (no penalty) and the summed terms
        ``[*g_z, *g_m, g_coef, g_intercept]``: the filters' gradients through
        the responses and the gradients of each M, before the path through M
        is taken (:func:`sklearn_ckn._network.filter_gradients`, linear in
        them, so it may be applied once to sums over several calls).
        """
        xp = self.xp
        row_weights = self._row_weights(weights, n)

        def chunk_terms(rows):
            x = x_batch[rows, ...]
            out, caches = forward_with_caches(x, layers, xp)
            m, nd = out.shape[0], out.ndim - 2
            channel_first = (0, nd + 1, *range(1, nd + 1))
            phi = xp.reshape(xp.permute_dims(out, channel_first), (m, -1))
            standardized = (phi - self.mean) / self.scale
            value, g_coef, g_intercept, g_f = self._head_terms(
                standardized,
                targets[rows, ...],
                self.coef,
                self.intercept,
                m / n if row_weights is None else row_weights[rows],
            )
            g_phi = (g_f @ self.coef) / self.scale
            g_out = xp.reshape(g_phi, (m, out.shape[-1], *out.shape[1:-1]))
            g_out = xp.permute_dims(g_out, (0, *range(2, nd + 2), 1))
            g_z, g_m, _ = backward_parts(g_out, layers, caches, xp)
            return value, [*g_z, *g_m, g_coef, g_intercept]

        if runner is None:
            with ChunkRunner(xp) as runner:
                parts = runner.map(chunk_terms, x_batch.shape[0])
        else:
            parts = runner.map(chunk_terms, x_batch.shape[0])
        value = math.fsum(part[0] for part in parts)
        sums = list(parts[0][1])
        for _, terms in parts[1:]:
            sums = [total + term for total, term in zip(sums, terms)]
        return value, sums

    def parameters(self):
        return [*self.filters, self.coef, self.intercept]

    def _set_parameters(self, params):
        n_layers = len(self.filters)
        self.filters = list(params[:n_layers])
        self.coef, self.intercept = params[n_layers], params[n_layers + 1]

    def _make_optimizer(self):
        on_sphere = [True] * len(self.filters) + [False, False]
        if self.config.solver == "adam":
            return Adam(self.parameters(), on_sphere, self.xp)
        return SGD(self.parameters(), on_sphere, self.xp, momentum=self.config.momentum)

    def train_epoch(self, x, targets, rng, weights=None):
        """One pass over ``x`` in mini-batches; returns the mean objective.

        ``x`` may live on the host: each batch is moved to the device alone.
        Parameters are replaced only after a complete step, so an interruption
        leaves them consistent. With ``weights`` (host NumPy, one per sample),
        each batch's loss is its weighted mean, a batch of zero weight takes
        no step, and the mean objective is weighted.
        """
        xp, config = self.xp, self.config
        if config.solver == "exact_head":
            return self.exact_head_step(x, targets, weights)
        if self.optimizer is None:
            self.optimizer = self._make_optimizer()
        n = x.shape[0]
        order = rng.permutation(n) if config.shuffle else np.arange(n)
        total = 0.0
        with ChunkRunner(xp) as runner:
            for start in range(0, n, config.batch_size):
                rows = order[start : start + config.batch_size]
                batch = to_namespace(take_rows(x, rows), xp, self.dev, self.dtype)
                t_batch = xp.take(targets, xp.asarray(rows, device=self.dev), axis=0)
                w_batch = None if weights is None else weights[rows]
                share = rows.shape[0] if weights is None else float(np.sum(w_batch))
                if share == 0.0:
                    continue  # every sample of the batch weighs 0: no step
                value, grads = self.objective_and_gradients(
                    batch, t_batch, runner, w_batch
                )
                if not math.isfinite(value):
                    raise FloatingPointError("the training objective is not finite")
                lr = learning_rate_at(
                    config.learning_rate,
                    self.learning_rate,
                    self.optimizer.t + 1,
                    config.power_t,
                )
                self._set_parameters(self.optimizer.step(self.parameters(), grads, lr))
                total += value * share
        return total / (n if weights is None else float(np.sum(weights)))

    def full_gradient(self, x, targets, weights=None):
        """Objective over all of ``x`` and its tangent gradient for the filters.

        ``x`` is taken ``config.batch_size`` rows at a time (which bounds the
        memory, not the result): each batch's gradient, weighted by its share
        of the rows, adds up to the gradient of the mean (weighted by the host
        ``weights``, if given).
        """
        xp = self.xp
        n = x.shape[0] if weights is None else float(np.sum(weights))
        # the filters are fixed over the pass: their M, eigendecompositions
        # and the path through M are computed once, not once per batch
        layers = self._device_layers()
        value, total = 0.0, None
        with ChunkRunner(xp) as runner:
            for start in range(0, x.shape[0], self.config.batch_size):
                rows = np.arange(start, min(start + self.config.batch_size, x.shape[0]))
                batch = to_namespace(take_rows(x, rows), xp, self.dev, self.dtype)
                t_batch = xp.take(targets, xp.asarray(rows, device=self.dev), axis=0)
                batch_value, sums = self._summed_terms(
                    batch,
                    t_batch,
                    layers,
                    n,
                    runner,
                    None if weights is None else weights[rows],
                )
                value += batch_value
                if total is not None:
                    sums = [a + b for a, b in zip(total, sums)]
                total = sums
        n_layers = len(layers)
        grads = filter_gradients(
            layers, total[:n_layers], total[n_layers : 2 * n_layers], xp
        )
        value += 0.5 * self.config.alpha * float(xp.sum(self.coef * self.coef))
        return value, [tangent(z, g, xp) for z, g in zip(self.filters, grads)]

    def exact_head_step(self, x, targets, weights=None):
        """One step of the ``exact_head`` solver; returns the objective after it.

        The head is eliminated: F(Z) = min over the head of the objective, a
        function of the filters alone. Its gradient is the filters' gradient
        at the optimal head (the head's own gradient vanishes there), taken
        over all of ``x`` with the standardization held fixed. The filters
        move along it on the sphere by the step size ``learning_rate``; the
        head (and the standardization) are solved again for the moved filters
        and the step is kept only if the objective decreased: then the next
        step size doubles, otherwise the step is retried four times shorter,
        at most ``MAX_BACKTRACKS`` times (the parameters then stay as they
        were). Each try costs a pass over ``x`` and a convex head fit, on top
        of the gradient's pass.
        """
        xp = self.xp
        value, grads = self.full_gradient(x, targets, weights)
        if not math.isfinite(value):
            raise FloatingPointError("the training objective is not finite")
        step = self.learning_rate
        for _ in range(MAX_BACKTRACKS):
            moved = [renormalize(z - step * g, xp) for z, g in zip(self.filters, grads)]
            solution = self.solve_head(
                x,
                targets,
                self.config.alpha,
                self.config.head_max_iter,
                moved,
                weights=weights,
            )
            if solution.objective < value:
                self.filters = moved
                self.coef, self.intercept, self.mean, self.scale = solution.head
                self.learning_rate = 2 * step
                return solution.objective
            step /= 4
        self.learning_rate = step
        return value

    def __getstate__(self):
        # pickled on the host: a model trained on a GPU loads on a machine
        # without one (a namespace, a module, does not pickle: found again
        # from the arrays, and moved by to_device when training resumes)
        state = {key: to_host(value) for key, value in self.__dict__.items()}
        state.update(xp=None, dev="cpu", dtype=getattr(np, float_name(self.dtype)))
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.xp = array_namespace(self.coef)
        if self.optimizer is not None:
            self.optimizer.xp = self.xp

    def to_device(self, xp, dev):
        """Move every array (parameters, pooling, optimizer state) to ``xp``/``dev``."""
        for key, value in self.__dict__.items():
            if key not in ("xp", "dev"):
                # the optimizer comes back as a copy with its state moved
                self.__dict__[key] = arrays_to_device(value, xp, dev)
        if self.optimizer is not None:
            self.optimizer.xp = xp
        self.xp, self.dev = xp, dev
        self.dtype = getattr(xp, float_name(self.dtype))

    def copy(self):
        """A trainer that trains on without changing this one.

        Updates replace arrays instead of writing into them (the optimizers'
        steps, the head fits), so the arrays are shared; the lists that
        updates write into (the filters, the optimizer's moments) are copied.
        """
        twin = shallow_copy(self)
        twin.filters = list(self.filters)
        if self.optimizer is not None:
            twin.optimizer = shallow_copy(self.optimizer)
            for key, value in vars(self.optimizer).items():
                if isinstance(value, list):
                    setattr(twin.optimizer, key, list(value))
        return twin

    def snapshot(self):
        """A copy of the parameters and of the head's standardization (which
        ``exact_head`` changes at every step), to restore them later."""
        kept = [*self.parameters(), self.mean, self.scale]
        return [self.xp.asarray(p, copy=True) for p in kept]

    def restore(self, snapshot):
        *params, self.mean, self.scale = snapshot
        self._set_parameters(params)
