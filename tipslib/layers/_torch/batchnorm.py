"""Batch normalization, torch twin of ``tipslib.layers._numpy.batchnorm``."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..._checks import check_float_array
from .._shared import check_batchnorm_args, check_batchnorm_init, check_dout
from .function import load_cache, save_cache

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNormFunction", "BatchNorm1d", "BatchNorm2d"]


def _reduce_dims(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """Twin of the NumPy ``batchnorm_forward``: returns ``(out, cache)`` and updates the
    running statistics in place in training. Differences: none."""
    owner = "batchnorm_forward"
    momentum, eps = check_batchnorm_args(x, gamma, beta, running_mean, running_var, training, momentum, eps, owner)
    dims = _reduce_dims(x)
    use_batch = training or running_mean is None
    if use_batch:
        mean = x.mean(dim=dims)
        xc = x - _per_channel(mean, x)
        var = (xc * xc).mean(dim=dims)
        if training and running_mean is not None:
            m = x.numel() // x.shape[1]
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * (m / (m - 1)))
    else:
        mean, var = running_mean, running_var
        xc = x - _per_channel(mean, x)
    inv_std = torch.rsqrt(var + eps)
    xhat = xc * _per_channel(inv_std, x)
    if gamma is not None and beta is not None:
        out = torch.addcmul(_per_channel(beta, x), xhat, _per_channel(gamma, x))  # one pass, not two
    else:
        out = xhat if gamma is None else xhat * _per_channel(gamma, x)
        if beta is not None:
            out = out + _per_channel(beta, x)
    return out, (xhat, gamma, inv_std, use_batch)


def batchnorm_backward(dout, cache):
    """Twin of the NumPy ``batchnorm_backward``: returns ``(dx, dgamma, dbeta)``."""
    xhat, gamma, inv_std, use_batch = cache
    check_dout(dout, xhat.shape, "batchnorm_backward")
    dims = _reduce_dims(dout)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * xhat).sum(dim=dims)
    scale = inv_std if gamma is None else gamma * inv_std
    if not use_batch:
        return dout * _per_channel(scale, dout), dgamma, dbeta
    m = dout.numel() // dout.shape[1]
    # The NumPy formula, with the subtraction of xhat * dgamma / m fused into one addcmul.
    dx = torch.addcmul(dout - _per_channel(dbeta / m, dout), xhat, _per_channel(dgamma / m, dout), value=-1)
    return dx.mul_(_per_channel(scale, dout)), dgamma, dbeta


class BatchNormFunction(torch.autograd.Function):
    """Autograd node whose backward is :func:`batchnorm_backward`, not torch's own.

    ``apply(x, gamma, beta, running_mean, running_var, training, momentum, eps)``;
    ``gamma``/``beta`` and the running statistics may be ``None``.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        out, cache = batchnorm_forward(x, gamma, beta, running_mean, running_var,
                                       training=training, momentum=momentum, eps=eps)
        save_cache(ctx, cache)
        ctx.has_gamma, ctx.has_beta = gamma is not None, beta is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout.contiguous(), load_cache(ctx))
        return (dx, dgamma if ctx.has_gamma else None, dbeta if ctx.has_beta else None,
                None, None, None, None, None)


class _BatchNorm(nn.Module):
    _ndims: tuple = ()
    _shape_text = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 *, dtype=None, device=None):
        super().__init__()
        owner = type(self).__name__
        (self.num_features, self.eps, self.momentum, self.affine, self.track_running_stats) = check_batchnorm_init(
            num_features, eps, momentum, affine, track_running_stats, owner)
        kw = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        c = self.num_features
        if self.affine:
            self.weight = nn.Parameter(torch.ones(c, **kw))
            self.bias = nn.Parameter(torch.zeros(c, **kw))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(c, **kw))
            self.register_buffer("running_var", torch.ones(c, **kw))
            self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        owner = type(self).__name__
        check_float_array(x, "x", owner)
        if x.ndim not in self._ndims:
            raise ValueError(
                f"The 'x' parameter of {owner} must be a {' or '.join(f'{d}-D' for d in self._ndims)} "
                f"array {self._shape_text}. Got shape {tuple(x.shape)} instead."
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"The 'x' parameter of {owner} must have num_features={self.num_features} channels "
                f"in axis 1. Got shape {tuple(x.shape)} instead."
            )
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average: batch k gets weight 1/k
                momentum = 1.0 / float(self.num_batches_tracked)
        return BatchNormFunction.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                       self.training, 0.0 if momentum is None else momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Twin of the NumPy ``BatchNorm1d``; drop-in for ``torch.nn.BatchNorm1d`` (same
    arguments, parameters and buffers) whose backward is the hand-written one.
    Differences: ``device`` is torch-only; ``dtype`` defaults to torch's default."""

    _ndims = (2, 3)
    _shape_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Twin of the NumPy ``BatchNorm2d``; drop-in for ``torch.nn.BatchNorm2d``.
    Differences: ``device`` is torch-only; ``dtype`` defaults to torch's default."""

    _ndims = (4,)
    _shape_text = "(N, C, H, W)"
