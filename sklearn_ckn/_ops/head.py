"""The linear head of the supervised CKN: targets, losses and their gradients.

The head sees standardized CKN features s = (phi - mean) / scale, with the mean
and scale of the initial features kept fixed, and outputs f = s W^T + b: one
column for two classes, one per class otherwise. Losses are averaged over the
samples; ``alpha / 2 ||W||^2`` is added by the caller.
"""

from array_api_compat import device as array_device

__all__ = [
    "LOSSES",
    "decision",
    "encode_targets",
    "feature_statistics",
    "log_probabilities",
    "loss_and_gradient",
    "n_outputs",
    "probabilities",
]

LOSSES = ("squared_hinge", "log_loss")


def n_outputs(n_classes):
    """Columns of the decision function: 1 for a binary problem."""
    return 1 if n_classes == 2 else n_classes


def encode_targets(class_index, n_classes, loss, xp, dtype):
    """Targets for the loss from class indices in [0, n_classes).

    ``squared_hinge``: +1 for the class, -1 for the others (one-vs-all);
    ``log_loss``: one-hot (the positive-class indicator when binary).
    """
    columns = n_outputs(n_classes)
    if columns == 1:
        onehot = xp.reshape(xp.astype(class_index == 1, dtype), (-1, 1))
    else:
        classes = xp.reshape(
            xp.arange(n_classes, device=array_device(class_index)), (1, -1)
        )
        onehot = xp.astype(xp.reshape(class_index, (-1, 1)) == classes, dtype)
    return 2.0 * onehot - 1.0 if loss == "squared_hinge" else onehot


def feature_statistics(phi, xp, weights=None):
    """Mean and scale (standard deviation, 1 where it vanishes) of each feature.

    ``weights``, when given, are the rows' weights summing to 1: the weighted
    mean and standard deviation (those of the data with each row repeated in
    proportion to its weight).
    """
    if weights is None:
        mean = xp.mean(phi, axis=0)
        scale = xp.std(phi, axis=0)
    else:
        column = xp.reshape(weights, (-1, 1))
        mean = xp.sum(column * phi, axis=0)
        centred = phi - mean
        scale = xp.sqrt(xp.sum(column * (centred * centred), axis=0))
    scale = xp.where(scale > 0, scale, xp.ones_like(scale))
    return mean, scale


def decision(standardized, coef, intercept, xp):
    """f = s W^T + b, shape (n, n_outputs)."""
    return standardized @ xp.matrix_transpose(coef) + intercept


def _log_sigmoid(f, xp):
    # log(sigmoid(f)) = -softplus(-f), computed without overflow
    return -(xp.log1p(xp.exp(-xp.abs(f))) + xp.clip(-f, 0.0, None))


def _log_sigmoids(f, xp):
    """log sigmoid(-f) and log sigmoid(f): the two classes' log-probabilities
    for a one-column head."""
    return xp.concat([_log_sigmoid(-f, xp), _log_sigmoid(f, xp)], axis=1)


def loss_and_gradient(f, targets, loss, xp, weights=None):
    """Mean loss over the rows of ``f`` and its gradient with respect to ``f``.

    ``squared_hinge``: 0.5 sum_k max(0, 1 - t_k f_k)^2 per sample.
    ``log_loss``: binary logistic loss for one column, multinomial otherwise.
    ``weights``, when given, are the rows' weights summing to 1: the weighted
    mean, sum_i w_i loss_i, instead of the mean.
    """
    if loss == "squared_hinge":
        margin = xp.clip(1.0 - targets * f, 0.0, None)
        losses, g_f = 0.5 * (margin * margin), -(targets * margin)
    elif f.shape[1] == 1:
        # -t log s(f) - (1 - t) log s(-f)
        losses = -(targets * _log_sigmoid(f, xp) + (1 - targets) * _log_sigmoid(-f, xp))
        g_f = xp.exp(_log_sigmoid(f, xp)) - targets
    else:
        log_proba = _log_softmax(f, xp)
        losses, g_f = -(targets * log_proba), xp.exp(log_proba) - targets
    if weights is None:
        n = f.shape[0]
        return float(xp.sum(losses)) / n, g_f / n
    column = xp.reshape(weights, (-1, 1))
    return float(xp.sum(column * losses)), column * g_f


def _log_softmax(f, xp):
    # shifted by the row maximum: every exp is at most 1, and the largest 1
    shifted = f - xp.max(f, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def probabilities(f, xp):
    """Class probabilities of the ``log_loss`` head: sigmoid or softmax."""
    if f.shape[1] == 1:
        # sigmoid(-f) rather than 1 - sigmoid(f), which loses the digits of
        # a small probability to cancellation
        return xp.exp(_log_sigmoids(f, xp))
    shifted = f - xp.max(f, axis=1, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=1, keepdims=True)


def log_probabilities(f, xp):
    """log of :func:`probabilities`, finite where a probability underflows to
    0 (a confident prediction's other classes).

    A log-softmax (log-sigmoid for one column), except where the probability
    is at least 1/2: there the log of :func:`probabilities`' own value, which
    is as accurate (d log p = dp / p, at most 2 dp) and agrees with it to the
    last digit (in float32 a probability of 1 - 4e-9 is 1, its log 0).
    """
    if f.shape[1] == 1:
        log_proba = _log_sigmoids(f, xp)
        proba = xp.exp(log_proba)
    else:
        log_proba, proba = _log_softmax(f, xp), probabilities(f, xp)
    large = proba >= 0.5
    return xp.where(large, xp.log(xp.where(large, proba, 1.0)), log_proba)
