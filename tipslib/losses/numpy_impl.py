"""Loss functions in NumPy: the reference implementations.

Every loss has the pair ``*_forward(input, target, reduction) -> (loss, cache)`` /
``*_backward(dout, cache) -> dinput``, a plain function returning the loss
(named like ``torch.nn.functional``), and a class (named like ``torch.nn``)
with ``forward(input, target)`` and ``backward(dout=1.0)``.
"""

from __future__ import annotations

import numpy as np

from .._checks import validate_params
from ._shared import (BCE_RULES, CROSS_ENTROPY_RULES, ELEMENTWISE_DOUT, LOSS, PAIR_RULES, ROW_DOUT,
                      LossBase, finite_loss, own_arrays)

__all__ = [
    "binary_cross_entropy_forward", "binary_cross_entropy_backward", "binary_cross_entropy", "BCELoss",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits", "BCEWithLogitsLoss",
    "cross_entropy_forward", "cross_entropy_backward", "cross_entropy", "CrossEntropyLoss",
    "mse_loss_forward", "mse_loss_backward", "mse_loss", "MSELoss",
]

# Each loss's rules (declared in _shared), after the check that the arrays are this twin's.
_OWN = own_arrays("a numpy.ndarray", lambda a: isinstance(a, (np.ndarray, np.generic)))
BCE = (_OWN, *BCE_RULES)
CROSS_ENTROPY = (_OWN, *CROSS_ENTROPY_RULES)
PAIR = (_OWN, *PAIR_RULES)

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


@validate_params(LOSS, *BCE)
@finite_loss("binary_cross_entropy", probabilities=True)
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
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) is clamped; log of a non-probability raises
        log_z = np.maximum(np.log(input), LOG_CLAMP)
        log_1mz = np.maximum(np.log1p(-input), LOG_CLAMP)
    loss = -(target * log_z + (1.0 - target) * log_1mz)
    return _reduce(loss, reduction), (input, target, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def binary_cross_entropy_backward(dout, cache):
    r"""Gradient of :func:`binary_cross_entropy_forward` with respect to ``input``.

    .. math::

        \frac{\partial L}{\partial z} = \frac{z - y}{\max\big(z(1 - z),\ 10^{-12}\big)}

    The floor is torch's; it keeps the slope finite at exactly 0 and 1. With respect to
    ``target`` (which the torch twin passes to autograd) the slope is
    :math:`\partial L / \partial y = \log(1 - z) - \log z`, with the forward's clamped logs.
    ``dout`` is a number for 'mean'/'sum' (each element receives ``dout / N`` or ``dout``)
    and an array of the loss's shape for 'none'. Returns ``dinput``, shaped like ``input``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.binary_cross_entropy`` it gives the
        same gradient (torch's backward has the same floor); torch has no public function for
        this backward alone.
    """
    input, target, reduction = cache
    local = (input - target) / np.maximum(input * (1.0 - input), GRAD_EPS)
    return _spread(dout, input.shape, reduction, input.size, input.dtype) * local


@validate_params(LOSS, *BCE)
def binary_cross_entropy(input, target, reduction="mean"):
    r"""Binary cross-entropy of probabilities ``input`` against ``target``, reduced.

    .. math::

        \ell = \operatorname{reduce}_i\; -\big[\, y_i \log z_i + (1 - y_i) \log(1 - z_i) \,\big]

    with the logs clamped at :math:`-100` and ``reduce`` the mean (default), the sum or
    none (``reduction``). The loss of :func:`binary_cross_entropy_forward`, without the cache.

    See Also
    --------
    torch.nn.functional.binary_cross_entropy : the same values and clamp; no ``weight`` here.
    """
    return binary_cross_entropy_forward.__wrapped__(input, target, reduction)[0]


# --- binary cross-entropy on logits --------------------------------------------------------


@validate_params(LOSS, *BCE)
@finite_loss("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits_forward(input, target, reduction="mean"):
    r"""Binary cross-entropy of :math:`z = \sigma(x)`, computed from the logit :math:`x`.

    Expanding the logs of the sigmoid gives a form with no overflow and no
    clamp: finite for any finite logit (:math:`\pm 10^4` included) and as
    accurate as the dtype's rounding allows:

    .. math::

        L(x, y) = \max(x, 0) - x y + \log\big(1 + e^{-|x|}\big)

    See Also
    --------
    torch.nn.functional.binary_cross_entropy_with_logits : same values (no
    ``pos_weight`` or ``weight`` here).
    """
    with np.errstate(invalid="ignore"):  # an infinite logit gives inf - inf; the check on the loss names it
        loss = np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-np.abs(input)))
    return _reduce(loss, reduction), (input, target, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def binary_cross_entropy_with_logits_backward(dout, cache):
    r"""Gradient of :func:`binary_cross_entropy_with_logits_forward` with respect to the logit.

    .. math::

        \frac{\partial L}{\partial x} = \sigma(x) - y

    With respect to ``target`` (which the torch twin passes to autograd): :math:`\partial L / \partial y = -x`.
    ``dout`` is a number for 'mean'/'sum' (each element receives ``dout / N`` or ``dout``)
    and an array of the loss's shape for 'none'. Returns ``dinput``, shaped like ``input``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.binary_cross_entropy_with_logits`` it
        gives the same gradient; torch has no public function for this backward alone.
    """
    input, target, reduction = cache
    e = np.exp(-np.abs(input))
    sigmoid = np.where(input >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _spread(dout, input.shape, reduction, input.size, input.dtype) * (sigmoid - target)


@validate_params(LOSS, *BCE)
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    r"""Binary cross-entropy of logits ``input`` against ``target``, reduced; exact for any finite logit.

    .. math::

        \ell = \operatorname{reduce}_i\; \max(x_i, 0) - x_i y_i + \log\big(1 + e^{-|x_i|}\big)

    with ``reduce`` the mean (default), the sum or none (``reduction``). The loss of
    :func:`binary_cross_entropy_with_logits_forward`, without the cache.

    See Also
    --------
    torch.nn.functional.binary_cross_entropy_with_logits : the same values; no ``weight`` or
        ``pos_weight`` here.
    """
    return binary_cross_entropy_with_logits_forward.__wrapped__(input, target, reduction)[0]


# --- multi-class cross-entropy -------------------------------------------------------------


@validate_params(LOSS, *CROSS_ENTROPY)
@finite_loss("cross_entropy", labels=True)
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
    with np.errstate(invalid="ignore"):  # a logit of +inf gives inf - inf; the check on the loss names it
        shifted = input - input.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum
    loss = -log_probs[np.arange(input.shape[0]), target]
    return _reduce(loss, reduction), (log_probs, target, reduction)


@validate_params(None, ROW_DOUT)
def cross_entropy_backward(dout, cache):
    r"""Gradient of :func:`cross_entropy_forward` with respect to the logits, row by row.

    .. math::

        \frac{\partial L_n}{\partial x_n} = \mathrm{softmax}(x_n) - \mathrm{onehot}(y_n)

    ``dout`` is a number for 'mean'/'sum' (each row receives ``dout / N`` or ``dout``)
    and an (N,) array for 'none'. Returns ``dinput``, shape (N, C).

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.cross_entropy`` it gives the same
        gradient; torch has no public function for this backward alone.
    """
    log_probs, target, reduction = cache
    n = log_probs.shape[0]
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), target] -= 1.0
    return _spread(dout, (n,), reduction, n, dlogits.dtype)[:, None] * dlogits


@validate_params(LOSS, *CROSS_ENTROPY)
def cross_entropy(input, target, reduction="mean"):
    r"""Softmax cross-entropy of logits ``input`` (N, C) against integer labels ``target`` (N,), reduced.

    .. math::

        \ell = \operatorname{reduce}_n\; \Big(\log \textstyle\sum_c e^{x_{nc}} - x_{n y_n}\Big)

    with ``reduce`` the mean over rows (default), the sum or none (``reduction``). The
    loss of :func:`cross_entropy_forward`, without the cache.

    See Also
    --------
    torch.nn.functional.cross_entropy : the same values for class-index targets (no
        ``weight``, ``ignore_index``, ``label_smoothing``, probability targets or extra
        spatial axes here).
    """
    return cross_entropy_forward.__wrapped__(input, target, reduction)[0]


# --- mean squared error --------------------------------------------------------------------


@validate_params(LOSS, *PAIR)
@finite_loss("mse_loss")
def mse_loss_forward(input, target, reduction="mean"):
    r"""Squared error :math:`L = (x - y)^2`, averaged or summed.

    See Also
    --------
    torch.nn.functional.mse_loss : same values.
    """
    with np.errstate(invalid="ignore"):  # inf - inf; the check on the loss names the input
        diff = input - target
    squared = diff * diff
    return _reduce(squared, reduction), (diff, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def mse_loss_backward(dout, cache):
    r"""Gradient of :func:`mse_loss_forward` with respect to ``input``.

    .. math::

        \frac{\partial L}{\partial x} = 2 (x - y)

    With respect to ``target`` (which the torch twin passes to autograd) it is the opposite, :math:`-2 (x - y)`.
    ``dout`` is a number for 'mean'/'sum' (each element receives ``dout / N`` or ``dout``)
    and an array of the loss's shape for 'none'. Returns ``dinput``, shaped like ``input``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.mse_loss`` it gives the same gradient;
        torch has no public function for this backward alone.
    """
    diff, reduction = cache
    return _spread(dout, diff.shape, reduction, diff.size, diff.dtype) * 2.0 * diff


@validate_params(LOSS, *PAIR)
def mse_loss(input, target, reduction="mean"):
    r"""Squared error of ``input`` against ``target`` (one shape), reduced.

    .. math::

        \ell = \operatorname{reduce}_i\; (x_i - y_i)^2

    with ``reduce`` the mean (default), the sum or none (``reduction``). The loss of
    :func:`mse_loss_forward`, without the cache.

    See Also
    --------
    torch.nn.functional.mse_loss : the same values.
    """
    return mse_loss_forward.__wrapped__(input, target, reduction)[0]


# --- objects -------------------------------------------------------------------------------


class _Loss(LossBase):
    # The bare math (``fn.__wrapped__``): the arrays are checked here, on each call, by the loss's rules.
    _forward = None
    _backward = None
    _dout = None

    def __init__(self, reduction="mean"):
        super().__init__(reduction)
        self._cache = None

    def forward(self, input, target):
        self.check_arrays(input, target)
        loss, self._cache = type(self)._forward(input, target, self.reduction)
        return loss

    __call__ = forward

    def backward(self, dout=1.0):
        """Gradient of the last ``forward``'s loss with respect to its ``input``.

        ``dout`` is the gradient with respect to the loss: a real number (or 0-d array) for
        'mean'/'sum', where ``None`` means 1.0 as in torch's ``loss.backward()``; an array of
        the loss's shape for 'none'.
        """
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward.")
        if dout is None and self.reduction != "none":
            dout = 1.0
        type(self)._dout({"dout": dout, "cache": self._cache}, type(self).__name__)
        return type(self)._backward(dout, self._cache)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class BCELoss(_Loss):
    """Object form of :func:`binary_cross_entropy`: ``forward(input, target)`` then ``backward(dout=1.0)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    See Also
    --------
    binary_cross_entropy : the formula.
    torch.nn.BCELoss : the same loss and ``reduction``; there autograd gives the gradient,
        here ``backward`` returns it.
    """

    rules = BCE
    _forward = staticmethod(binary_cross_entropy_forward.__wrapped__)
    _backward = staticmethod(binary_cross_entropy_backward.__wrapped__)
    _dout = staticmethod(ELEMENTWISE_DOUT)


class BCEWithLogitsLoss(_Loss):
    """Object form of :func:`binary_cross_entropy_with_logits`: ``forward(input, target)`` then ``backward(dout=1.0)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    See Also
    --------
    binary_cross_entropy_with_logits : the formula.
    torch.nn.BCEWithLogitsLoss : the same loss and ``reduction``; there autograd gives the gradient,
        here ``backward`` returns it.
    """

    rules = BCE
    _forward = staticmethod(binary_cross_entropy_with_logits_forward.__wrapped__)
    _backward = staticmethod(binary_cross_entropy_with_logits_backward.__wrapped__)
    _dout = staticmethod(ELEMENTWISE_DOUT)


class CrossEntropyLoss(_Loss):
    """Object form of :func:`cross_entropy`: ``forward(input, target)`` then ``backward(dout=1.0)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    See Also
    --------
    cross_entropy : the formula.
    torch.nn.CrossEntropyLoss : the same loss and ``reduction``; there autograd gives the gradient,
        here ``backward`` returns it.
    """

    rules = CROSS_ENTROPY
    _forward = staticmethod(cross_entropy_forward.__wrapped__)
    _backward = staticmethod(cross_entropy_backward.__wrapped__)
    _dout = staticmethod(ROW_DOUT)


class MSELoss(_Loss):
    """Object form of :func:`mse_loss`: ``forward(input, target)`` then ``backward(dout=1.0)``.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    See Also
    --------
    mse_loss : the formula.
    torch.nn.MSELoss : the same loss and ``reduction``; there autograd gives the gradient,
        here ``backward`` returns it.
    """

    rules = PAIR
    _forward = staticmethod(mse_loss_forward.__wrapped__)
    _backward = staticmethod(mse_loss_backward.__wrapped__)
    _dout = staticmethod(ELEMENTWISE_DOUT)
