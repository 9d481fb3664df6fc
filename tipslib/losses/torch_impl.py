"""Loss functions in PyTorch: twins of :mod:`tipslib.losses.numpy_impl`.

The same ``*_forward``/``*_backward`` pairs on tensors; the plain functions
(``cross_entropy`` ...) run them inside a ``torch.autograd.Function`` so that
``loss.backward()`` uses our gradient. The classes are ``nn.Module``\\ s.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .._autograd import forward_through_function
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
_OWN = own_arrays("a torch.Tensor", lambda a: isinstance(a, torch.Tensor))
BCE = (_OWN, *BCE_RULES)
CROSS_ENTROPY = (_OWN, *CROSS_ENTROPY_RULES)
PAIR = (_OWN, *PAIR_RULES)

LOG_CLAMP = -100.0
GRAD_EPS = 9.999999960041972e-13  # 1e-12 rounded to float32, as torch stores it


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _spread(dout, reduction, count):
    """The reduced gradient, ready to multiply every element's local gradient (a float or a tensor)."""
    return dout / count if reduction == "mean" else dout


@validate_params(LOSS, *BCE)
@finite_loss("binary_cross_entropy", probabilities=True)
def binary_cross_entropy_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_forward`` (log clamped at -100)."""
    log_z = torch.clamp_min(torch.log(input), LOG_CLAMP)
    log_1mz = torch.clamp_min(torch.log1p(-input), LOG_CLAMP)
    loss = -(target * log_z + (1.0 - target) * log_1mz)
    return _reduce(loss, reduction), (input, target, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def binary_cross_entropy_backward(dout, cache):
    """Twin of the NumPy ``binary_cross_entropy_backward``."""
    input, target, reduction = cache
    local = (input - target) / torch.clamp_min(input * (1.0 - input), GRAD_EPS)
    return _spread(dout, reduction, input.numel()) * local


def _binary_cross_entropy_target_backward(dout, cache):
    r"""Gradient with respect to ``target``: :math:`\partial L / \partial y = \log(1 - z) - \log z`.

    The logs are the forward's, clamped at -100, so the slope is finite at z = 0 and 1,
    where torch's :math:`-\operatorname{logit}(z)` is infinite; elsewhere the two agree.
    """
    input, target, reduction = cache
    local = torch.clamp_min(torch.log1p(-input), LOG_CLAMP) - torch.clamp_min(torch.log(input), LOG_CLAMP)
    return _spread(dout, reduction, input.numel()) * local


@validate_params(LOSS, *BCE)
@finite_loss("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_with_logits_forward``."""
    loss = torch.clamp_min(input, 0.0) - input * target + torch.log1p(torch.exp(-input.abs()))
    return _reduce(loss, reduction), (input, target, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def binary_cross_entropy_with_logits_backward(dout, cache):
    """Twin of the NumPy ``binary_cross_entropy_with_logits_backward``."""
    input, target, reduction = cache
    e = torch.exp(-input.abs())
    sigmoid = torch.where(input >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _spread(dout, reduction, input.numel()) * (sigmoid - target)


def _binary_cross_entropy_with_logits_target_backward(dout, cache):
    r"""Gradient with respect to ``target``: :math:`\partial L / \partial y = -x` (y is only in the term -xy)."""
    input, target, reduction = cache
    return _spread(dout, reduction, input.numel()) * -input


@validate_params(LOSS, *CROSS_ENTROPY)
@finite_loss("cross_entropy", labels=True)
def cross_entropy_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``cross_entropy_forward``.

    ``torch.log_softmax`` is the NumPy twin's ``shifted - log(sum(exp(shifted)))``
    (shifted by each row's maximum) in one kernel: this runs in every training step.
    """
    log_probs = torch.log_softmax(input, dim=1)
    labels = target.long().unsqueeze(1)  # gather's index is a column of int64
    loss = -log_probs.gather(1, labels).squeeze(1)
    return _reduce(loss, reduction), (log_probs, labels, reduction)


@validate_params(None, ROW_DOUT)
def cross_entropy_backward(dout, cache):
    """Twin of the NumPy ``cross_entropy_backward``."""
    log_probs, labels, reduction = cache
    onehot = torch.zeros_like(log_probs).scatter_(1, labels, 1.0)
    dlogits = torch.exp(log_probs) - onehot
    if reduction == "none":
        dout = dout.unsqueeze(1)  # one value per row
    return _spread(dout, reduction, log_probs.shape[0]) * dlogits


@validate_params(LOSS, *PAIR)
@finite_loss("mse_loss")
def mse_loss_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``mse_loss_forward``."""
    diff = input - target
    return _reduce(diff * diff, reduction), (diff, reduction)


@validate_params(None, ELEMENTWISE_DOUT)
def mse_loss_backward(dout, cache):
    """Twin of the NumPy ``mse_loss_backward``."""
    diff, reduction = cache
    return _spread(dout, reduction, diff.numel()) * 2.0 * diff


def _mse_loss_target_backward(dout, cache):
    r"""Gradient with respect to ``target``: :math:`\partial L / \partial y = -2 (x - y)`, minus the input's."""
    return -mse_loss_backward.__wrapped__(dout, cache)


class _LossFunction(torch.autograd.Function):
    """Runs a loss's forward and backward; ``input`` and, where it holds probabilities,
    ``target`` receive a gradient, as with torch's losses (class labels have none)."""

    @staticmethod
    def forward(ctx, pair, input, target, reduction):
        forward_fn, ctx.backward_fn, ctx.target_backward_fn = pair
        # The cache is plain detached tensors: autograd tracks this node, not its inside.
        loss, ctx.cache = forward_fn(input, target, reduction)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        _, need_input, need_target, _ = ctx.needs_input_grad
        dinput = ctx.backward_fn(dout, ctx.cache) if need_input else None
        dtarget = ctx.target_backward_fn(dout, ctx.cache) if need_target else None
        return None, dinput, dtarget, None


# The autograd Function runs the bare functions: the public functions and the modules check first.
_PAIRS = {name: (fwd.__wrapped__, bwd.__wrapped__, target_bwd) for name, fwd, bwd, target_bwd in (
    ("bce", binary_cross_entropy_forward, binary_cross_entropy_backward, _binary_cross_entropy_target_backward),
    ("bce_logits", binary_cross_entropy_with_logits_forward, binary_cross_entropy_with_logits_backward,
     _binary_cross_entropy_with_logits_target_backward),
    ("cross_entropy", cross_entropy_forward, cross_entropy_backward, None),  # integer labels: never need_target
    ("mse", mse_loss_forward, mse_loss_backward, _mse_loss_target_backward))}


@validate_params(LOSS, *BCE)
def binary_cross_entropy(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy``; differentiable through our backward."""
    return _LossFunction.apply(_PAIRS["bce"], input, target, reduction)


@validate_params(LOSS, *BCE)
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_with_logits``; differentiable through our backward."""
    return _LossFunction.apply(_PAIRS["bce_logits"], input, target, reduction)


@validate_params(LOSS, *CROSS_ENTROPY)
def cross_entropy(input, target, reduction="mean"):
    """Twin of the NumPy ``cross_entropy``; differentiable through our backward."""
    return _LossFunction.apply(_PAIRS["cross_entropy"], input, target, reduction)


@validate_params(LOSS, *PAIR)
def mse_loss(input, target, reduction="mean"):
    """Twin of the NumPy ``mse_loss``; differentiable through our backward."""
    return _LossFunction.apply(_PAIRS["mse"], input, target, reduction)


class _Loss(LossBase, nn.Module):
    _pair = None
    forward = forward_through_function

    def function_call(self, input, target):
        """``(_LossFunction, its arguments)``, the arrays checked: what ``forward`` applies."""
        self.check_arrays(input, target)
        return _LossFunction, (type(self)._pair, input, target, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCELoss(_Loss):
    """Twin of the NumPy ``BCELoss``; drop-in for ``torch.nn.BCELoss``."""

    rules = BCE
    _pair = _PAIRS["bce"]


class BCEWithLogitsLoss(_Loss):
    """Twin of the NumPy ``BCEWithLogitsLoss``; drop-in for ``torch.nn.BCEWithLogitsLoss``."""

    rules = BCE
    _pair = _PAIRS["bce_logits"]


class CrossEntropyLoss(_Loss):
    """Twin of the NumPy ``CrossEntropyLoss``; drop-in for ``torch.nn.CrossEntropyLoss``."""

    rules = CROSS_ENTROPY
    _pair = _PAIRS["cross_entropy"]


class MSELoss(_Loss):
    """Twin of the NumPy ``MSELoss``; drop-in for ``torch.nn.MSELoss``."""

    rules = PAIR
    _pair = _PAIRS["mse"]
