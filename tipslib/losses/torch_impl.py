"""Loss functions in PyTorch: twins of :mod:`tipslib.losses.numpy_impl`.

The same ``*_forward``/``*_backward`` pairs on tensors; the plain functions
(``cross_entropy`` ...) run them inside a ``torch.autograd.Function`` so that
``loss.backward()`` uses our gradient. The classes are ``nn.Module``\\ s.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ._checks import check_class_targets, check_dout, check_pair, check_probabilities, check_reduction

__all__ = [
    "binary_cross_entropy_forward", "binary_cross_entropy_backward", "binary_cross_entropy", "BCELoss",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits", "BCEWithLogitsLoss",
    "cross_entropy_forward", "cross_entropy_backward", "cross_entropy", "CrossEntropyLoss",
    "mse_loss_forward", "mse_loss_backward", "mse_loss", "MSELoss",
]

LOG_CLAMP = -100.0
GRAD_EPS = 9.999999960041972e-13  # 1e-12 rounded to float32, as torch stores it


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _spread(dout, shape, reduction, count, like):
    dout = torch.as_tensor(dout, dtype=like.dtype, device=like.device)
    if reduction == "mean":
        return (dout / count).expand(shape)
    if reduction == "sum":
        return dout.expand(shape)
    return dout


def binary_cross_entropy_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_forward`` (log clamped at -100)."""
    owner = "binary_cross_entropy"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    check_probabilities(input, "input", owner)
    check_probabilities(target, "target", owner)
    log_z = torch.clamp_min(torch.log(input), LOG_CLAMP)
    log_1mz = torch.clamp_min(torch.log1p(-input), LOG_CLAMP)
    loss = -(target * log_z + (1.0 - target) * log_1mz)
    return _reduce(loss, reduction), (input, target, reduction)


def binary_cross_entropy_backward(dout, cache):
    """Twin of the NumPy ``binary_cross_entropy_backward``."""
    input, target, reduction = cache
    check_dout(torch.as_tensor(dout), input.shape, reduction, "binary_cross_entropy_backward")
    local = (input - target) / torch.clamp_min(input * (1.0 - input), GRAD_EPS)
    return _spread(dout, input.shape, reduction, input.numel(), input) * local


def binary_cross_entropy_with_logits_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_with_logits_forward``."""
    owner = "binary_cross_entropy_with_logits"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    check_probabilities(target, "target", owner)
    loss = torch.clamp_min(input, 0.0) - input * target + torch.log1p(torch.exp(-input.abs()))
    return _reduce(loss, reduction), (input, target, reduction)


def binary_cross_entropy_with_logits_backward(dout, cache):
    """Twin of the NumPy ``binary_cross_entropy_with_logits_backward``."""
    input, target, reduction = cache
    check_dout(torch.as_tensor(dout), input.shape, reduction, "binary_cross_entropy_with_logits_backward")
    e = torch.exp(-input.abs())
    sigmoid = torch.where(input >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _spread(dout, input.shape, reduction, input.numel(), input) * (sigmoid - target)


def cross_entropy_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``cross_entropy_forward``."""
    owner = "cross_entropy"
    check_reduction(reduction, owner)
    is_integer = isinstance(target, torch.Tensor) and not target.dtype.is_floating_point \
        and not target.dtype.is_complex and target.dtype != torch.bool
    check_class_targets(input, target, owner, is_integer)
    shifted = input - input.amax(dim=1, keepdim=True)
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    loss = -log_probs.gather(1, target.long().unsqueeze(1)).squeeze(1)
    return _reduce(loss, reduction), (log_probs, target, reduction)


def cross_entropy_backward(dout, cache):
    """Twin of the NumPy ``cross_entropy_backward``."""
    log_probs, target, reduction = cache
    n = log_probs.shape[0]
    check_dout(torch.as_tensor(dout), (n,), reduction, "cross_entropy_backward")
    dlogits = torch.exp(log_probs)
    dlogits[torch.arange(n, device=target.device), target.long()] -= 1.0
    return _spread(dout, (n,), reduction, n, log_probs)[:, None] * dlogits


def mse_loss_forward(input, target, reduction="mean"):
    """Twin of the NumPy ``mse_loss_forward``."""
    owner = "mse_loss"
    check_reduction(reduction, owner)
    check_pair(input, target, owner)
    diff = input - target
    return _reduce(diff * diff, reduction), (diff, reduction)


def mse_loss_backward(dout, cache):
    """Twin of the NumPy ``mse_loss_backward``."""
    diff, reduction = cache
    check_dout(torch.as_tensor(dout), diff.shape, reduction, "mse_loss_backward")
    return _spread(dout, diff.shape, reduction, diff.numel(), diff) * 2.0 * diff


class _LossFunction(torch.autograd.Function):
    """Runs a forward/backward pair; only ``input`` receives a gradient."""

    @staticmethod
    def forward(ctx, pair, input, target, reduction):
        forward_fn, ctx.backward_fn = pair
        # The cache is plain detached tensors: autograd tracks this node, not its inside.
        loss, ctx.cache = forward_fn(input, target, reduction)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        return None, ctx.backward_fn(dout, ctx.cache), None, None


def binary_cross_entropy(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy``; differentiable through our backward."""
    pair = (binary_cross_entropy_forward, binary_cross_entropy_backward)
    return _LossFunction.apply(pair, input, target, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Twin of the NumPy ``binary_cross_entropy_with_logits``; differentiable through our backward."""
    pair = (binary_cross_entropy_with_logits_forward, binary_cross_entropy_with_logits_backward)
    return _LossFunction.apply(pair, input, target, reduction)


def cross_entropy(input, target, reduction="mean"):
    """Twin of the NumPy ``cross_entropy``; differentiable through our backward."""
    return _LossFunction.apply((cross_entropy_forward, cross_entropy_backward), input, target, reduction)


def mse_loss(input, target, reduction="mean"):
    """Twin of the NumPy ``mse_loss``; differentiable through our backward."""
    return _LossFunction.apply((mse_loss_forward, mse_loss_backward), input, target, reduction)


class _Loss(nn.Module):
    _fn = None

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = check_reduction(reduction, type(self).__name__)

    def forward(self, input, target):
        return type(self)._fn(input, target, self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCELoss(_Loss):
    """Twin of the NumPy ``BCELoss``; drop-in for ``torch.nn.BCELoss``."""

    _fn = staticmethod(binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """Twin of the NumPy ``BCEWithLogitsLoss``; drop-in for ``torch.nn.BCEWithLogitsLoss``."""

    _fn = staticmethod(binary_cross_entropy_with_logits)


class CrossEntropyLoss(_Loss):
    """Twin of the NumPy ``CrossEntropyLoss``; drop-in for ``torch.nn.CrossEntropyLoss``."""

    _fn = staticmethod(cross_entropy)


class MSELoss(_Loss):
    """Twin of the NumPy ``MSELoss``; drop-in for ``torch.nn.MSELoss``."""

    _fn = staticmethod(mse_loss)
