"""Dense layer, torch twin of ``tipslib.layers._numpy.linear``."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..._checks import check_float_array, check_generator
from .._shared import check_dout, check_linear_init
from .function import load_cache, save_cache

__all__ = ["linear_forward", "linear_backward", "LinearFunction", "Linear"]


def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """Twin of the NumPy ``linear_forward``: ``out = x W^T + b``, returns ``(out, cache)``."""
    check_float_array(x, "x", "linear_forward")
    check_float_array(weight, "weight", "linear_forward", ndim=2)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"The 'x' parameter of linear_forward must have {weight.shape[1]} features in its "
            f"last axis (weight is {tuple(weight.shape)}). Got shape {tuple(x.shape)} instead."
        )
    out = x @ weight.T
    if bias is not None:
        out = out + bias
    return out, (x, weight)


def linear_backward(dout: torch.Tensor, cache):
    """Twin of the NumPy ``linear_backward``: returns ``(dx, dweight, dbias)``."""
    x, weight = cache
    check_dout(dout, (*x.shape[:-1], weight.shape[0]), "linear_backward")
    dx = dout @ weight
    dout2 = dout.reshape(-1, weight.shape[0])
    dweight = dout2.T @ x.reshape(-1, weight.shape[1])
    dbias = dout2.sum(dim=0)
    return dx, dweight, dbias


class LinearFunction(torch.autograd.Function):
    """Autograd node whose backward is :func:`linear_backward`, not torch's own."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        out, cache = linear_forward(x, weight, bias)
        save_cache(ctx, cache)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        dx, dweight, dbias = linear_backward(dout, load_cache(ctx))
        return dx, dweight, dbias if ctx.has_bias else None


class Linear(nn.Module):
    """Dense layer whose gradient comes from the hand-written backward.

    Twin of the NumPy ``Linear``; drop-in for ``torch.nn.Linear`` (same
    ``weight``/``bias`` names, shapes and initial distribution). Differences:
    ``generator`` instead of ``rng``; ``device`` is torch-only.
    """

    def __init__(self, in_features, out_features, bias=True, *, generator=None, dtype=None, device=None):
        super().__init__()
        self.in_features, self.out_features, bias = check_linear_init(in_features, out_features, bias, "Linear")
        check_generator(generator, "Linear")
        kw = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features, **kw))
        self.bias = nn.Parameter(torch.empty(self.out_features, **kw)) if bias else None
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=generator)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x):
        return LinearFunction.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
