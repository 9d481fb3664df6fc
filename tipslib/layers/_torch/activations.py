"""Non-linearities and softmax, torch twins of ``tipslib.layers._numpy.activations``."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..._checks import check_float_array, check_int
from .._shared import check_dout
from .function import load_cache, save_cache

__all__ = [
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
    "ReLUFunction", "SigmoidFunction", "TanhFunction", "SoftmaxFunction",
]


def relu_forward(x):
    """Twin of the NumPy ``relu_forward``."""
    check_float_array(x, "x", "relu_forward")
    return torch.clamp_min(x, 0), (x,)


def relu_backward(dout, cache):
    """Twin of the NumPy ``relu_backward`` (slope 0 at the kink)."""
    (x,) = cache
    check_dout(dout, x.shape, "relu_backward")
    return dout * (x > 0)


def sigmoid_forward(x):
    """Twin of the NumPy ``sigmoid_forward``; overflow-free for any finite ``x``."""
    check_float_array(x, "x", "sigmoid_forward")
    e = torch.exp(-x.abs())
    out = torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


def sigmoid_backward(dout, cache):
    """Twin of the NumPy ``sigmoid_backward``."""
    (out,) = cache
    check_dout(dout, out.shape, "sigmoid_backward")
    return dout * out * (1.0 - out)


def tanh_forward(x):
    """Twin of the NumPy ``tanh_forward``."""
    check_float_array(x, "x", "tanh_forward")
    out = torch.tanh(x)
    return out, (out,)


def tanh_backward(dout, cache):
    """Twin of the NumPy ``tanh_backward``."""
    (out,) = cache
    check_dout(dout, out.shape, "tanh_backward")
    return dout * (1.0 - out * out)


def softmax_forward(x, dim: int = -1):
    """Twin of the NumPy ``softmax_forward``."""
    check_float_array(x, "x", "softmax_forward")
    dim = check_int(dim, "dim", "softmax_forward", low=-max(x.ndim, 1), high=max(x.ndim, 1) - 1)
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(shifted)
    out = e / e.sum(dim=dim, keepdim=True)
    return out, (out, dim)


def softmax_backward(dout, cache):
    """Twin of the NumPy ``softmax_backward``."""
    out, dim = cache
    check_dout(dout, out.shape, "softmax_backward")
    return out * (dout - (dout * out).sum(dim=dim, keepdim=True))


def _function(name, forward_fn, backward_fn):
    """An autograd.Function running a hand-written forward/backward pair."""

    def forward(ctx, x, *args):
        out, cache = forward_fn(x, *args)
        save_cache(ctx, cache)
        ctx.n_args = len(args)
        return out

    @once_differentiable
    def backward(ctx, dout):
        return (backward_fn(dout, load_cache(ctx)),) + (None,) * ctx.n_args

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
        "__doc__": f"Autograd node running ``{forward_fn.__name__}`` / ``{backward_fn.__name__}``.",
    })


ReLUFunction = _function("ReLUFunction", relu_forward, relu_backward)
SigmoidFunction = _function("SigmoidFunction", sigmoid_forward, sigmoid_backward)
TanhFunction = _function("TanhFunction", tanh_forward, tanh_backward)
SoftmaxFunction = _function("SoftmaxFunction", softmax_forward, softmax_backward)


class ReLU(nn.Module):
    """Twin of the NumPy ``ReLU``; drop-in for ``torch.nn.ReLU``."""

    def forward(self, x):
        return ReLUFunction.apply(x)


class Sigmoid(nn.Module):
    """Twin of the NumPy ``Sigmoid``; drop-in for ``torch.nn.Sigmoid``."""

    def forward(self, x):
        return SigmoidFunction.apply(x)


class Tanh(nn.Module):
    """Twin of the NumPy ``Tanh``; drop-in for ``torch.nn.Tanh``."""

    def forward(self, x):
        return TanhFunction.apply(x)


class Softmax(nn.Module):
    """Twin of the NumPy ``Softmax``; drop-in for ``torch.nn.Softmax``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim", "Softmax")

    def forward(self, x):
        return SoftmaxFunction.apply(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
