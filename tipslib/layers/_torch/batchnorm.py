"""Batch normalization, torch twin of ``tipslib.layers._numpy.batchnorm``."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..._autograd import forward_through_function, load_cache, save_cache
from ..._checks import validate_params
from ..._compile import FastPath
from .._shared import (BACKWARD, BATCHNORM, BATCHNORM_1D, BATCHNORM_2D, BATCHNORM_FORWARD, BatchNormSettings,
                       batchnorm_shapes, dout_like)
from .checks import DTYPE, TENSORS

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNormFunction", "BatchNorm1d", "BatchNorm2d"]


def _reduce_dims(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


@validate_params(BATCHNORM_FORWARD, TENSORS, batchnorm_shapes)
@torch.no_grad()  # the buffers below are written in place, which autograd cannot record
def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    r"""Twin of the NumPy ``batchnorm_forward``: returns ``(out, cache)`` and updates the
    running statistics in place in training.

    .. math::

        \hat{x}_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y_i = \gamma\,\hat{x}_i + \beta, \qquad
        \hat\mu \leftarrow (1 - \text{momentum})\,\hat\mu + \text{momentum}\,\mu_B, \qquad
        \hat\sigma^2 \leftarrow (1 - \text{momentum})\,\hat\sigma^2 + \text{momentum}\,\tfrac{m}{m-1}\,\sigma_B^2

    Differences: none. Like the NumPy reference it writes into two buffers of
    ``x``'s size, which autograd cannot follow, so it runs without autograd (its
    output has no ``grad_fn``): for gradients use :class:`BatchNormFunction` (or
    the modules), whose backward is :func:`batchnorm_backward`.
    """
    dims = _reduce_dims(x)
    use_batch = training or running_mean is None
    mean = x.mean(dim=dims) if use_batch else running_mean
    # Two buffers of x's size, reused in place: xhat (kept for backward) and out.
    xhat = x - _per_channel(mean, x)
    out = torch.empty_like(xhat, dtype=_result_dtype(xhat, gamma, beta))
    if use_batch:
        var = torch.square(xhat, out=out).mean(dim=dims)  # out is scratch until y is written
        if training and running_mean is not None:
            m = x.numel() // x.shape[1]
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * (m / (m - 1)) * var)
    else:
        var = running_var
    inv_std = torch.rsqrt(var + eps)
    xhat.mul_(_per_channel(inv_std, x))
    if gamma is not None and beta is not None:
        torch.addcmul(_per_channel(beta, x), xhat, _per_channel(gamma, x), out=out)  # one pass, not two
    else:
        torch.mul(xhat, 1.0 if gamma is None else _per_channel(gamma, x), out=out)
        if beta is not None:
            out.add_(_per_channel(beta, x))
    return out, (xhat, gamma, inv_std, use_batch)


def _result_dtype(*tensors):
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _output_shape(cache):
    return cache[0].shape  # xhat, shaped like x and the output


@validate_params(BACKWARD, TENSORS, dout_like(_output_shape))
def batchnorm_backward(dout, cache):
    r"""Twin of the NumPy ``batchnorm_backward``: returns ``(dx, dgamma, dbeta)``.

    .. math::

        dx = \frac{\gamma}{m\sqrt{\sigma_B^2 + \epsilon}}
             \Big(m\,\mathrm{dout} - \textstyle\sum_i \mathrm{dout}_i
                  - \hat{x} \sum_i \mathrm{dout}_i\,\hat{x}_i\Big), \qquad
        d\gamma = \textstyle\sum_i \mathrm{dout}_i\,\hat{x}_i, \qquad
        d\beta = \textstyle\sum_i \mathrm{dout}_i
    """
    xhat, gamma, inv_std, use_batch = cache
    dims = _reduce_dims(dout)
    scale = inv_std if gamma is None else gamma * inv_std
    dbeta = dout.sum(dim=dims)
    dx = dout * xhat  # one buffer of x's size: the product for dgamma first, then dx
    dgamma = dx.sum(dim=dims)
    if not use_batch:
        return torch.mul(dout, _per_channel(scale, dout), out=dx), dgamma, dbeta
    m = dout.numel() // dout.shape[1]
    # dx = scale * (dout - dbeta / m - xhat * dgamma / m), expanded so that two fused passes write it in place
    torch.addcmul(_per_channel(-scale * dbeta / m, dout), xhat, _per_channel(-scale * dgamma / m, dout), out=dx)
    return dx.addcmul_(dout, _per_channel(scale, dout)), dgamma, dbeta


def _fused_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """:func:`batchnorm_forward`'s formula, written for the compiler (the GPU's fast path).

    It keeps ``x`` (in memory anyway) and the statistics for the backward, not
    ``xhat``: the backward reads ``x`` where it would have read ``xhat`` and
    recomputes ``xhat`` inside its own kernel, so the forward never writes ``xhat``
    out. That leaves the compiled pair at torch's 32 bytes an element (float32,
    forward and backward) instead of 36 (``tipslib.traffic.compiled_traffic``
    counts them; a test holds it there).
    """
    dims = _reduce_dims(x)
    use_batch = training or running_mean is None
    if use_batch:
        var, mean = torch.var_mean(x, dim=dims, correction=0)  # one pass over x for both
        if training and running_mean is not None:
            m = x.numel() // x.shape[1]
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * (m / (m - 1)) * var)
    else:
        mean, var = running_mean, running_var
    inv_std = torch.rsqrt(var + eps)
    out = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    if gamma is not None:
        out = out * _per_channel(gamma, x)
    if beta is not None:
        out = out + _per_channel(beta, x)
    return out, (x, mean, gamma, inv_std, use_batch)


def _fused_backward(dout, cache):
    """:func:`batchnorm_backward`'s formula with ``xhat`` recomputed from ``x`` (see :func:`_fused_forward`)."""
    x, mean, gamma, inv_std, use_batch = cache
    dims = _reduce_dims(dout)
    xhat = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    scale = _per_channel(inv_std if gamma is None else gamma * inv_std, x)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * xhat).sum(dim=dims)
    if not use_batch:
        return dout * scale, dgamma, dbeta
    m = dout.numel() // dout.shape[1]
    return scale * (dout - (_per_channel(dbeta, x) + xhat * _per_channel(dgamma, x)) / m), dgamma, dbeta


# The GPU's fast path (see tipslib._compile): the pair above, compiled.
fast_forward = FastPath(_fused_forward)
fast_backward = FastPath(_fused_backward)


class BatchNormFunction(torch.autograd.Function):
    """Autograd node whose backward is :func:`batchnorm_backward`, not torch's own.

    ``apply(x, gamma, beta, running_mean, running_var, training, momentum, eps)``;
    ``gamma``/``beta`` and the running statistics may be ``None``. Unchecked:
    the BatchNorm modules check their input at their door. Its backward reads
    ``xhat`` (on the fast path: the batch mean) and ``1/sigma``, made inside the
    forward where autograd does not see them, so it is guarded by
    ``once_differentiable``: a second derivative would miss their dependence on ``x``.

    On a GPU it runs the fast path instead (:class:`tipslib._compile.FastPath`):
    the same formula compiled, each chain of element-wise lines fused into one
    kernel, with ``xhat`` recomputed in the backward (:func:`_fused_forward`).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        ctx.fused = fast_forward.fuses_on(x.device)
        math = fast_forward if ctx.fused else batchnorm_forward.__wrapped__
        out, cache = math(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum, eps=eps)
        save_cache(ctx, cache)
        ctx.has_gamma, ctx.has_beta = gamma is not None, beta is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        math = fast_backward if ctx.fused else batchnorm_backward.__wrapped__  # the forward's cache, its backward
        dx, dgamma, dbeta = math(dout.contiguous(), load_cache(ctx))
        return (dx, dgamma if ctx.has_gamma else None, dbeta if ctx.has_beta else None,
                None, None, None, None, None)


class _BatchNorm(BatchNormSettings, nn.Module):
    @validate_params(BATCHNORM, dtype=DTYPE)
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 *, dtype=None, device=None):
        super().__init__()
        self._configure(num_features, eps, momentum, affine, track_running_stats)
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

    def _count_batch(self):
        return self.num_batches_tracked.add_(1)

    forward = forward_through_function

    def function_call(self, x):
        """``(BatchNormFunction, its arguments)`` for ``x``, checked: what ``forward`` applies.
        In training mode it counts the batch (``num_batches_tracked``), as ``forward`` does."""
        TENSORS({"x": x}, type(self).__name__)
        self._check_input(x)
        return BatchNormFunction, (x, self.weight, self.bias, self.running_mean, self.running_var,
                                   self.training, self._batch_momentum(), self.eps)


class BatchNorm1d(_BatchNorm):
    """Twin of the NumPy ``BatchNorm1d``; drop-in for ``torch.nn.BatchNorm1d`` (same
    arguments, parameters and buffers) whose backward is the hand-written one.
    Differences: ``device`` is torch-only; ``dtype`` defaults to torch's default."""

    _input = BATCHNORM_1D


class BatchNorm2d(_BatchNorm):
    """Twin of the NumPy ``BatchNorm2d``; drop-in for ``torch.nn.BatchNorm2d``.
    Differences: ``device`` is torch-only; ``dtype`` defaults to torch's default."""

    _input = BATCHNORM_2D
