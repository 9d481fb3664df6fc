"""Loss functions in NumPy: the reference implementations.

Every loss has the pair ``*_forward(input, target, reduction) -> (loss, cache)`` /
``*_backward(dout, cache) -> dinput``, a plain function returning the loss
(named like ``torch.nn.functional``), and a class (named like ``torch.nn``)
with ``forward(input, target)`` and ``backward(dout=1.0)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_class_targets, check_dout, check_pair, check_probabilities, check_reduction

__all__ = [
    "binary_cross_entropy_forward", "binary_cross_entropy_backward", "binary_cross_entropy", "BCELoss",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits", "BCEWithLogitsLoss",
    "cross_entropy_forward", "cross_entropy_backward", "cross_entropy", "CrossEntropyLoss",
    "mse_loss_forward", "mse_loss_backward", "mse_loss", "MSELoss",
]

#: torch clamps log(p) at -100 so that p = 0 gives a large, finite loss.
LOG_CLAMP = -100.0
#: torch's floor for p(1 - p) in the BCE gradient, so p = 0 or 1 gives a finite slope.
#: torch stores it as a C++ float, so its value is 1e-12 rounded to float32.
GRAD_EPS = float(np.float32(1e-12))


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _spread(dout, shape, reduction, count, dtype):
    """Send the reduced gradient back to every element (in the input's dtype)."""
    dout = np.asarray(dout, dtype=dtype)
    if reduction == "mean":
        return np.broadcast_to(dout / count, shape)
    if reduction == "sum":
        return np.broadcast_to(dout, shape)
    return dout


# --- binary cross-entropy on probabilities -------------------------------------------------


def binary_cross_entropy_forward(input, target, reduction="mean"):
    r"""The cheatsheet's cross-entropy on a predicted probability :math:`z` and a label :math:`y`.

    .. math::

        L(z, y) = -\big[\, y \log z + (1 - y) \log(1 - z) \,\big]

    with each log clamped at :math:`-100`, as torch does, so :math:`z = 0` or
    :math:`z = 1` gives a finite loss instead of ``inf``.

    Parameters
    ----------
    input : ndarray of probabilities in [0, 1]
    target : ndarray of the same shape, values in [0, 1]
    reduction : {'mean', 'sum', 'none'}

    See Also
    --------
    torch.nn.functional.binary_cross_entropy : the same values and clamp.
    binary_cross_entropy_with_logits : preferred in practice; exact for any logit.
    """
    owner = "binary_cross_entropy"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    check_probabilities(input, "input", owner)
    check_probabilities(target, "target", owner)
    with np.errstate(divide="ignore"):
        log_z = np.maximum(np.log(input), LOG_CLAMP)
        log_1mz = np.maximum(np.log1p(-input), LOG_CLAMP)
    loss = -(target * log_z + (1.0 - target) * log_1mz)
    return _reduce(loss, reduction), (input, target, reduction)


def binary_cross_entropy_backward(dout, cache):
    r"""Gradient of :func:`binary_cross_entropy_forward` with respect to ``input``.

    .. math::

        \frac{\partial L}{\partial z} = \frac{z - y}{\max\big(z(1 - z),\ 10^{-12}\big)}

    The floor is torch's; it keeps the slope finite at exactly 0 and 1.
    """
    input, target, reduction = cache
    check_dout(np.asarray(dout), input.shape, reduction, "binary_cross_entropy_backward")
    local = (input - target) / np.maximum(input * (1.0 - input), GRAD_EPS)
    return _spread(dout, input.shape, reduction, input.size, input.dtype) * local


def binary_cross_entropy(input, target, reduction="mean"):
    """The loss of :func:`binary_cross_entropy_forward`, without the cache."""
    return binary_cross_entropy_forward(input, target, reduction)[0]


# --- binary cross-entropy on logits --------------------------------------------------------


def binary_cross_entropy_with_logits_forward(input, target, reduction="mean"):
    r"""Binary cross-entropy of :math:`z = \sigma(x)`, computed from the logit :math:`x`.

    Expanding the logs of the sigmoid gives a form with no overflow and no
    clamp, exact for any finite logit (:math:`\pm 10^4` included):

    .. math::

        L(x, y) = \max(x, 0) - x y + \log\big(1 + e^{-|x|}\big)

    See Also
    --------
    torch.nn.functional.binary_cross_entropy_with_logits : same values (no
    ``pos_weight`` or ``weight`` here).
    """
    owner = "binary_cross_entropy_with_logits"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    check_probabilities(target, "target", owner)
    loss = np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-np.abs(input)))
    return _reduce(loss, reduction), (input, target, reduction)


def binary_cross_entropy_with_logits_backward(dout, cache):
    r"""Gradient with respect to the logit: :math:`\partial L / \partial x = \sigma(x) - y`."""
    input, target, reduction = cache
    check_dout(np.asarray(dout), input.shape, reduction, "binary_cross_entropy_with_logits_backward")
    e = np.exp(-np.abs(input))
    sigmoid = np.where(input >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _spread(dout, input.shape, reduction, input.size, input.dtype) * (sigmoid - target)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """The loss of :func:`binary_cross_entropy_with_logits_forward`, without the cache."""
    return binary_cross_entropy_with_logits_forward(input, target, reduction)[0]


# --- multi-class cross-entropy -------------------------------------------------------------


def cross_entropy_forward(input, target, reduction="mean"):
    r"""Softmax cross-entropy of logits ``input`` (N, C) against integer labels ``target`` (N,).

    .. math::

        L_n = -\log \mathrm{softmax}(x_n)_{y_n}
            = \log \textstyle\sum_c e^{x_{nc}} - x_{n y_n}

    The log-sum-exp is taken after subtracting each row's maximum, so logits
    of any finite size give an exact, finite loss.

    See Also
    --------
    torch.nn.functional.cross_entropy : same values for class-index targets
    (no ``weight``, ``ignore_index`` or ``label_smoothing`` here).
    """
    owner = "cross_entropy"
    check_reduction(reduction, owner)
    target = np.asarray(target)
    check_class_targets(input, target, owner, np.issubdtype(target.dtype, np.integer))
    shifted = input - input.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum
    loss = -log_probs[np.arange(input.shape[0]), target]
    return _reduce(loss, reduction), (log_probs, target, reduction)


def cross_entropy_backward(dout, cache):
    r"""Gradient with respect to the logits: :math:`\mathrm{softmax}(x) - \mathrm{onehot}(y)`."""
    log_probs, target, reduction = cache
    n = log_probs.shape[0]
    check_dout(np.asarray(dout), (n,), reduction, "cross_entropy_backward")
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), target] -= 1.0
    return _spread(dout, (n,), reduction, n, dlogits.dtype)[:, None] * dlogits


def cross_entropy(input, target, reduction="mean"):
    """The loss of :func:`cross_entropy_forward`, without the cache."""
    return cross_entropy_forward(input, target, reduction)[0]


# --- mean squared error --------------------------------------------------------------------


def mse_loss_forward(input, target, reduction="mean"):
    r"""Squared error :math:`L = (x - y)^2`, averaged or summed.

    See Also
    --------
    torch.nn.functional.mse_loss : same values.
    """
    owner = "mse_loss"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    diff = input - target
    return _reduce(diff * diff, reduction), (diff, reduction)


def mse_loss_backward(dout, cache):
    r""":math:`\partial L / \partial x = 2 (x - y)`, scaled by the reduction."""
    diff, reduction = cache
    check_dout(np.asarray(dout), diff.shape, reduction, "mse_loss_backward")
    return _spread(dout, diff.shape, reduction, diff.size, diff.dtype) * 2.0 * diff


def mse_loss(input, target, reduction="mean"):
    """The loss of :func:`mse_loss_forward`, without the cache."""
    return mse_loss_forward(input, target, reduction)[0]


# --- objects -------------------------------------------------------------------------------


class _Loss:
    _forward = None
    _backward = None

    def __init__(self, reduction="mean"):
        self.reduction = check_reduction(reduction, type(self).__name__)
        self._cache = None

    def forward(self, input, target):
        loss, self._cache = type(self)._forward(input, target, self.reduction)
        return loss

    __call__ = forward

    def backward(self, dout=1.0):
        """Gradient of the last ``forward``'s loss with respect to its ``input``."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward.")
        return type(self)._backward(dout, self._cache)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class BCELoss(_Loss):
    """Object form of :func:`binary_cross_entropy`. See Also: ``torch.nn.BCELoss``."""

    _forward = staticmethod(binary_cross_entropy_forward)
    _backward = staticmethod(binary_cross_entropy_backward)


class BCEWithLogitsLoss(_Loss):
    """Object form of :func:`binary_cross_entropy_with_logits`. See Also: ``torch.nn.BCEWithLogitsLoss``."""

    _forward = staticmethod(binary_cross_entropy_with_logits_forward)
    _backward = staticmethod(binary_cross_entropy_with_logits_backward)


class CrossEntropyLoss(_Loss):
    """Object form of :func:`cross_entropy`. See Also: ``torch.nn.CrossEntropyLoss``."""

    _forward = staticmethod(cross_entropy_forward)
    _backward = staticmethod(cross_entropy_backward)


class MSELoss(_Loss):
    """Object form of :func:`mse_loss`. See Also: ``torch.nn.MSELoss``."""

    _forward = staticmethod(mse_loss_forward)
    _backward = staticmethod(mse_loss_backward)
