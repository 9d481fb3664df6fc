"""Element-wise non-linearities and softmax."""

from __future__ import annotations

import numpy as np

from ..._checks import check_float_array, validate_params
from .._shared import (BACKWARD, ELEMENTWISE_FORWARD, SOFTMAX, SOFTMAX_FORWARD, check_dim, check_dout, dout_like,
                       softmax_dim_in_range)
from .module import NDARRAYS, Module

__all__ = [
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
]


def _output_shape(cache):
    # Every cache here starts with an array shaped like the forward's output (x or out).
    return cache[0].shape


_dout_like_output = dout_like(_output_shape)


@validate_params(ELEMENTWISE_FORWARD, NDARRAYS)
def relu_forward(x: np.ndarray):
    r"""Rectified linear unit, element by element.

    .. math::

        \mathrm{relu}(x) = \max(x, 0)

    ``x`` has any shape. Returns ``(out, cache)``: ``out`` shaped like ``x``, ``cache = (x,)``.

    See Also
    --------
    torch.nn.functional.relu : the same values; autograd provides its backward.
    """
    return np.maximum(x, 0), (x,)


@validate_params(BACKWARD, NDARRAYS, _dout_like_output)
def relu_backward(dout: np.ndarray, cache):
    r"""Gradient of :func:`relu_forward`: ``dout`` where the input was positive, 0 elsewhere.

    .. math::

        dx = \mathrm{dout} \odot [x > 0]

    At the kink :math:`x = 0` the slope is 0, as in torch. ``dout`` and ``dx`` have the shape of ``x``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.relu`` it gives the same ``dx``;
        torch has no public function for this backward alone.
    """
    (x,) = cache
    return dout * (x > 0)


@validate_params(ELEMENTWISE_FORWARD, NDARRAYS)
def sigmoid_forward(x: np.ndarray):
    r"""Logistic sigmoid, element by element, computed without overflow for any finite ``x``.

    .. math::

        \sigma(x) = \frac{1}{1 + e^{-x}}

    ``x`` has any shape. Returns ``(out, cache)``: ``out`` shaped like ``x``,
    ``cache = (out,)`` (the derivative needs only the output).

    See Also
    --------
    torch.sigmoid : the same values; autograd provides its backward.
    """
    # exp(-|x|) never overflows; the two branches are the same function.
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, (out,)


@validate_params(BACKWARD, NDARRAYS, _dout_like_output)
def sigmoid_backward(dout: np.ndarray, cache):
    r"""Gradient of :func:`sigmoid_forward`, from its output alone.

    .. math::

        dx = \mathrm{dout} \odot \sigma(x) \odot \big(1 - \sigma(x)\big)

    ``dout`` and ``dx`` have the shape of ``x``.

    See Also
    --------
    torch.autograd.grad : through ``torch.sigmoid`` it gives the same ``dx`` (the same
        formula); torch has no public function for this backward alone.
    """
    (out,) = cache
    return dout * out * (1.0 - out)


@validate_params(ELEMENTWISE_FORWARD, NDARRAYS)
def tanh_forward(x: np.ndarray):
    r"""Hyperbolic tangent, element by element.

    .. math::

        \tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}

    ``x`` has any shape. Returns ``(out, cache)``: ``out`` shaped like ``x``, ``cache = (out,)``.

    See Also
    --------
    torch.tanh : the same values; autograd provides its backward.
    """
    out = np.tanh(x)
    return out, (out,)


@validate_params(BACKWARD, NDARRAYS, _dout_like_output)
def tanh_backward(dout: np.ndarray, cache):
    r"""Gradient of :func:`tanh_forward`, from its output alone.

    .. math::

        dx = \mathrm{dout} \odot (1 - \tanh^2 x)

    ``dout`` and ``dx`` have the shape of ``x``.

    See Also
    --------
    torch.autograd.grad : through ``torch.tanh`` it gives the same ``dx``; torch has no
        public function for this backward alone.
    """
    (out,) = cache
    return dout * (1.0 - out * out)


@validate_params(SOFTMAX_FORWARD, NDARRAYS, softmax_dim_in_range)
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
    if x.size == 0:  # nothing to normalise, and no maximum of an empty axis to shift by (torch: empty too)
        out = x.copy()
        return out, (out, dim)
    shifted = x - x.max(axis=dim, keepdims=True)
    e = np.exp(shifted)
    out = e / e.sum(axis=dim, keepdims=True)
    return out, (out, dim)


@validate_params(BACKWARD, NDARRAYS, _dout_like_output)
def softmax_backward(dout: np.ndarray, cache):
    r"""Vector-Jacobian product of softmax.

    .. math::

        dx = y \odot \big(\mathrm{dout} - \textstyle\sum_j \mathrm{dout}_j\, y_j\big)

    where :math:`y = \mathrm{softmax}(x)` and the sum runs along ``dim``. ``dout`` and
    ``dx`` have the shape of ``x``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.softmax`` it gives the same ``dx``;
        torch has no public function for this backward alone.
    """
    out, dim = cache
    return out * (dout - (dout * out).sum(axis=dim, keepdims=True))


class _Elementwise(Module):
    """A layer running a bare ``(forward, backward)`` pair, its input checked here, once."""

    _forward = None
    _backward = None

    def forward(self, x):
        NDARRAYS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        out, self._cache = type(self)._forward(x)
        return out

    def backward(self, dout):
        cache = self._last_cache()
        NDARRAYS({"dout": dout}, type(self).__name__)
        check_dout(dout, _output_shape(cache), type(self).__name__)
        return type(self)._backward(dout, cache)


class ReLU(_Elementwise):
    """Layer form of :func:`relu_forward` and :func:`relu_backward`; no parameters.

    See Also
    --------
    relu_forward : the formula.
    torch.nn.ReLU : the same layer (no ``inplace`` option here).
    """

    _forward = staticmethod(relu_forward.__wrapped__)
    _backward = staticmethod(relu_backward.__wrapped__)


class Sigmoid(_Elementwise):
    """Layer form of :func:`sigmoid_forward` and :func:`sigmoid_backward`; no parameters.

    See Also
    --------
    sigmoid_forward : the formula.
    torch.nn.Sigmoid : the same layer.
    """

    _forward = staticmethod(sigmoid_forward.__wrapped__)
    _backward = staticmethod(sigmoid_backward.__wrapped__)


class Tanh(_Elementwise):
    """Layer form of :func:`tanh_forward` and :func:`tanh_backward`; no parameters.

    See Also
    --------
    tanh_forward : the formula.
    torch.nn.Tanh : the same layer.
    """

    _forward = staticmethod(tanh_forward.__wrapped__)
    _backward = staticmethod(tanh_backward.__wrapped__)


class Softmax(_Elementwise):
    """Layer form of :func:`softmax_forward` and :func:`softmax_backward`, along ``dim`` (default -1).

    For classification prefer raw logits with :func:`tipslib.losses.numpy_impl.cross_entropy`,
    which fuses softmax and the log and stays exact for huge logits.

    See Also
    --------
    softmax_forward : the formula.
    torch.nn.Softmax : the same layer; its ``dim`` defaults to None (an implicit,
        deprecated choice of axis), ours to -1.
    """

    _backward = staticmethod(softmax_backward.__wrapped__)

    @validate_params(SOFTMAX)
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x):
        NDARRAYS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        check_dim(self.dim, x, type(self).__name__)
        out, self._cache = softmax_forward.__wrapped__(x, self.dim)
        return out

    def extra_repr(self):
        return f"dim={self.dim}"
