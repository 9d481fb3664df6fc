"""Non-linearities and softmax, torch twins of ``tipslib.layers._numpy.activations``."""

from __future__ import annotations

import torch
from torch import nn

from ..._autograd import forward_through_function, load_cache, save_cache
from ..._checks import check_float_array, validate_params
from .._shared import (BACKWARD, ELEMENTWISE_FORWARD, SOFTMAX, SOFTMAX_FORWARD, check_dim, dout_like,
                       softmax_dim_in_range)
from .checks import TENSORS

__all__ = [
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
    "ReLUFunction", "SigmoidFunction", "TanhFunction", "SoftmaxFunction",
]


def _output_shape(cache):
    # Every cache here starts with a tensor shaped like the forward's output (x or out).
    return cache[0].shape


_dout_like_output = dout_like(_output_shape)


@validate_params(ELEMENTWISE_FORWARD, TENSORS)
def relu_forward(x):
    r"""Twin of the NumPy ``relu_forward``: :math:`\mathrm{relu}(x) = \max(x, 0)`, ``cache = (x,)``."""
    return torch.clamp_min(x, 0), (x,)


@validate_params(BACKWARD, TENSORS, _dout_like_output)
def relu_backward(dout, cache):
    r"""Twin of the NumPy ``relu_backward``: :math:`dx = \mathrm{dout} \cdot [x > 0]` (slope 0 at the kink)."""
    (x,) = cache
    return dout * (x > 0)


@validate_params(ELEMENTWISE_FORWARD, TENSORS)
def sigmoid_forward(x):
    r"""Twin of the NumPy ``sigmoid_forward``: :math:`\sigma(x) = 1 / (1 + e^{-x})`, overflow-free
    for any finite ``x``; ``cache = (out,)``."""
    e = torch.exp(-x.abs())
    out = torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


@validate_params(BACKWARD, TENSORS, _dout_like_output)
def sigmoid_backward(dout, cache):
    r"""Twin of the NumPy ``sigmoid_backward``: :math:`dx = \mathrm{dout} \cdot \sigma(x)(1 - \sigma(x))`."""
    (out,) = cache
    return dout * out * (1.0 - out)


@validate_params(ELEMENTWISE_FORWARD, TENSORS)
def tanh_forward(x):
    r"""Twin of the NumPy ``tanh_forward``: :math:`\tanh(x)`, ``cache = (out,)``."""
    out = torch.tanh(x)
    return out, (out,)


@validate_params(BACKWARD, TENSORS, _dout_like_output)
def tanh_backward(dout, cache):
    r"""Twin of the NumPy ``tanh_backward``: :math:`dx = \mathrm{dout} \cdot (1 - \tanh^2 x)`."""
    (out,) = cache
    return dout * (1.0 - out * out)


@validate_params(SOFTMAX_FORWARD, TENSORS, softmax_dim_in_range)
def softmax_forward(x, dim: int = -1):
    r"""Twin of the NumPy ``softmax_forward``:
    :math:`\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`
    along ``dim``; ``cache = (out, dim)``."""
    if x.numel() == 0:  # nothing to normalise, and amax refuses an empty axis (torch.softmax: empty too)
        out = x.clone()
        return out, (out, dim)
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(shifted)
    out = e / e.sum(dim=dim, keepdim=True)
    return out, (out, dim)


@validate_params(BACKWARD, TENSORS, _dout_like_output)
def softmax_backward(dout, cache):
    r"""Twin of the NumPy ``softmax_backward``:
    :math:`dx = y \odot \big(\mathrm{dout} - \sum_j \mathrm{dout}_j\, y_j\big)`."""
    out, dim = cache
    return out * (dout - (dout * out).sum(dim=dim, keepdim=True))


def _function(name, forward_fn, backward_fn):
    """An autograd.Function running the bare math of a ``forward_fn``/``backward_fn`` pair
    (unchecked: the modules check their input at their door).

    Each backward here is differentiable torch ops on the saved input or output,
    so ``create_graph=True`` differentiates it once more (``gradgradcheck`` passes).
    """
    forward_math, backward_math = forward_fn.__wrapped__, backward_fn.__wrapped__

    def forward(ctx, x, *args):
        out, cache = forward_math(x, *args)
        save_cache(ctx, cache)
        ctx.n_args = len(args)
        return out

    def backward(ctx, dout):
        return (backward_math(dout, load_cache(ctx)),) + (None,) * ctx.n_args

    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
        "__doc__": f"Autograd node running the math of ``{forward_fn.__name__}`` / ``{backward_fn.__name__}``.",
    })


class ReLUFunction(torch.autograd.Function):
    """Autograd node running the math of ``relu_forward`` / ``relu_backward``
    (unchecked: :class:`ReLU` checks its input at its door)."""

    @staticmethod
    def forward(ctx, x):
        out = torch.clamp_min(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        # [x > 0] is the sign of out = max(x, 0) >= 0: one float kernel, where the bool
        # compare and its cast back to float take three times as long on the CPU.
        return dout * out.sign()


SigmoidFunction = _function("SigmoidFunction", sigmoid_forward, sigmoid_backward)
TanhFunction = _function("TanhFunction", tanh_forward, tanh_backward)
SoftmaxFunction = _function("SoftmaxFunction", softmax_forward, softmax_backward)


class _Elementwise(nn.Module):
    _function = None
    forward = forward_through_function

    def function_call(self, x):
        """``(the module's Function, (x,))``, ``x`` checked: what ``forward`` applies."""
        TENSORS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        return self._function, (x,)


class ReLU(_Elementwise):
    """Twin of the NumPy ``ReLU``; drop-in for ``torch.nn.ReLU``."""

    _function = ReLUFunction


class Sigmoid(_Elementwise):
    """Twin of the NumPy ``Sigmoid``; drop-in for ``torch.nn.Sigmoid``."""

    _function = SigmoidFunction


class Tanh(_Elementwise):
    """Twin of the NumPy ``Tanh``; drop-in for ``torch.nn.Tanh``."""

    _function = TanhFunction


class Softmax(nn.Module):
    """Twin of the NumPy ``Softmax``; drop-in for ``torch.nn.Softmax``."""

    @validate_params(SOFTMAX)
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    forward = forward_through_function

    def function_call(self, x):
        """``(SoftmaxFunction, (x, dim))``, ``x`` checked: what ``forward`` applies."""
        TENSORS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        check_dim(self.dim, x, type(self).__name__)
        return SoftmaxFunction, (x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
