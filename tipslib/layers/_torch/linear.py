"""Dense layer, torch twin of ``tipslib.layers._numpy.linear``."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._autograd import forward_through_function, load_cache, save_cache
from ..._checks import GENERATOR, validate_params
from .._shared import BACKWARD, LINEAR, LINEAR_FORWARD, check_features, dout_like, linear_shapes
from .checks import DTYPE, TENSORS

__all__ = ["linear_forward", "linear_backward", "LinearFunction", "Linear"]


@validate_params(LINEAR_FORWARD, TENSORS, linear_shapes)
def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    r"""Twin of the NumPy ``linear_forward``: :math:`\mathrm{out} = x W^\top + b`, returns ``(out, cache)``."""
    out = x @ weight.T
    if bias is not None:
        out = out + bias
    return out, (x, weight)


def _output_shape(cache):
    x, weight = cache
    return (*x.shape[:-1], weight.shape[0])


@validate_params(BACKWARD, TENSORS, dout_like(_output_shape))
def linear_backward(dout: torch.Tensor, cache):
    r"""Twin of the NumPy ``linear_backward``: returns ``(dx, dweight, dbias)``.

    .. math::

        dx = \mathrm{dout}\, W, \qquad dW = \mathrm{dout}^\top x, \qquad
        db = \textstyle\sum_{\text{rows}} \mathrm{dout}
    """
    x, weight = cache
    dx = dout @ weight
    dout2 = dout.reshape(-1, weight.shape[0])
    dweight = dout2.T @ x.reshape(-1, weight.shape[1])
    dbias = dout2.sum(dim=0)
    return dx, dweight, dbias


class LinearFunction(torch.autograd.Function):
    """Autograd node running the math of :func:`linear_forward` / :func:`linear_backward`.

    Unchecked: :class:`Linear` checks its input at its door. The backward
    computes only the gradients autograd asks for (``ctx.needs_input_grad``):
    a first layer's ``dx`` is never used. It is made of differentiable torch ops
    on the saved inputs, so ``create_graph=True`` differentiates it once more
    (``gradgradcheck`` passes) and it needs no ``once_differentiable`` guard.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        save_cache(ctx, (x, weight))
        ctx.has_bias = bias is not None
        if bias is not None and x.ndim == 2:
            return torch.addmm(bias, x, weight.T)  # b + x W^T in one kernel
        return linear_forward.__wrapped__(x, weight, bias)[0]

    @staticmethod
    def backward(ctx, dout):
        x, weight = load_cache(ctx)
        need_x, need_weight, need_bias = ctx.needs_input_grad
        dout2 = dout.reshape(-1, weight.shape[0])
        dx = dout @ weight if need_x else None
        dweight = dout2.T @ x.reshape(-1, weight.shape[1]) if need_weight else None
        dbias = dout2.sum(dim=0) if need_bias else None
        return dx, dweight, dbias


class Linear(nn.Module):
    """Dense layer whose gradient comes from the hand-written backward.

    Twin of the NumPy ``Linear``; drop-in for ``torch.nn.Linear`` (same
    ``weight``/``bias`` names, shapes and initial distribution). Differences:
    ``generator`` instead of ``rng``; ``device`` is torch-only.
    """

    @validate_params(LINEAR, generator=GENERATOR, dtype=DTYPE)
    def __init__(self, in_features, out_features, bias=True, *, generator=None, dtype=None, device=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        kw = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features, **kw))
        self.bias = nn.Parameter(torch.empty(self.out_features, **kw)) if bias else None
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=generator)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound, generator=generator)

    forward = forward_through_function

    def function_call(self, x):
        """``(LinearFunction, its arguments)`` for ``x``, checked: what ``forward`` applies."""
        TENSORS({"x": x}, type(self).__name__)
        check_features(x, self.in_features, type(self).__name__)
        return LinearFunction, (x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
