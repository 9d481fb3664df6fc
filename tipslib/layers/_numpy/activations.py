"""Element-wise non-linearities and softmax."""

from __future__ import annotations

import numpy as np

from ..._checks import check_float_array, check_int
from .._shared import check_dout
from .module import Module

__all__ = [
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
]


def relu_forward(x: np.ndarray):
    r""":math:`\mathrm{relu}(x) = \max(x, 0)`. Returns ``(out, cache)`` with ``cache = (x,)``."""
    check_float_array(x, "x", "relu_forward")
    return np.maximum(x, 0), (x,)


def relu_backward(dout: np.ndarray, cache):
    r""":math:`dx = \mathrm{dout} \cdot [x > 0]`; at the kink ``x = 0`` the slope is 0, as in torch."""
    (x,) = cache
    check_dout(dout, x.shape, "relu_backward")
    return dout * (x > 0)


def sigmoid_forward(x: np.ndarray):
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, computed without overflow for any finite ``x``.

    Returns ``(out, cache)`` with ``cache = (out,)``: the derivative needs only the output.
    """
    check_float_array(x, "x", "sigmoid_forward")
    # exp(-|x|) never overflows; the two branches are the same function.
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


def sigmoid_backward(dout: np.ndarray, cache):
    r""":math:`dx = \mathrm{dout} \cdot \sigma(x)(1 - \sigma(x))`."""
    (out,) = cache
    check_dout(dout, out.shape, "sigmoid_backward")
    return dout * out * (1.0 - out)


def tanh_forward(x: np.ndarray):
    r""":math:`\tanh(x)`. Returns ``(out, cache)`` with ``cache = (out,)``."""
    check_float_array(x, "x", "tanh_forward")
    out = np.tanh(x)
    return out, (out,)


def tanh_backward(dout: np.ndarray, cache):
    r""":math:`dx = \mathrm{dout} \cdot (1 - \tanh^2 x)`."""
    (out,) = cache
    check_dout(dout, out.shape, "tanh_backward")
    return dout * (1.0 - out * out)


def softmax_forward(x: np.ndarray, dim: int = -1):
    r"""Softmax along ``dim``.

    .. math::

        \mathrm{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j

    Subtracting the maximum changes nothing mathematically and keeps ``exp``
    from overflowing. Returns ``(out, cache)`` with ``cache = (out, dim)``.

    See Also
    --------
    torch.nn.functional.softmax : same result; torch calls the axis ``dim`` too.
    """
    check_float_array(x, "x", "softmax_forward")
    dim = check_int(dim, "dim", "softmax_forward", low=-max(x.ndim, 1), high=max(x.ndim, 1) - 1)
    shifted = x - x.max(axis=dim, keepdims=True)
    e = np.exp(shifted)
    out = e / e.sum(axis=dim, keepdims=True)
    return out, (out, dim)


def softmax_backward(dout: np.ndarray, cache):
    r"""Vector-Jacobian product of softmax.

    .. math::

        dx = y \odot \big(\mathrm{dout} - \textstyle\sum_j \mathrm{dout}_j\, y_j\big)
    """
    out, dim = cache
    check_dout(dout, out.shape, "softmax_backward")
    return out * (dout - (dout * out).sum(axis=dim, keepdims=True))


class _Elementwise(Module):
    _forward = None
    _backward = None

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def forward(self, x):
        out, self._cache = type(self)._forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward.")
        return type(self)._backward(dout, self._cache)


class ReLU(_Elementwise):
    """Layer form of :func:`relu_forward`. See Also: ``torch.nn.ReLU``."""

    _forward = staticmethod(relu_forward)
    _backward = staticmethod(relu_backward)


class Sigmoid(_Elementwise):
    """Layer form of :func:`sigmoid_forward`. See Also: ``torch.nn.Sigmoid``."""

    _forward = staticmethod(sigmoid_forward)
    _backward = staticmethod(sigmoid_backward)


class Tanh(_Elementwise):
    """Layer form of :func:`tanh_forward`. See Also: ``torch.nn.Tanh``."""

    _forward = staticmethod(tanh_forward)
    _backward = staticmethod(tanh_backward)


class Softmax(Module):
    """Layer form of :func:`softmax_forward`. See Also: ``torch.nn.Softmax``.

    For classification prefer raw logits with :func:`tipslib.losses.numpy_impl.cross_entropy`,
    which fuses softmax and the log and stays exact for huge logits.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim", "Softmax")
        self._cache = None

    def forward(self, x):
        out, self._cache = softmax_forward(x, self.dim)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("Softmax.backward was called before forward.")
        return softmax_backward(dout, self._cache)

    def extra_repr(self):
        return f"dim={self.dim}"
