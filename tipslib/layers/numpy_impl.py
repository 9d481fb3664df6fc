"""Layers in NumPy: the reference implementations.

Each layer comes twice: a pair of functions that *are* the math
(``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache) -> (dx, ...)``)
and a :class:`Module` built on them with ``forward``/``backward``, ``params``,
``grads``, ``train()``/``eval()``. The torch twin is :mod:`tipslib.layers.torch_impl`.
"""

from ._numpy.activations import (
    ReLU, Sigmoid, Softmax, Tanh,
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    softmax_backward, softmax_forward, tanh_backward, tanh_forward,
)
from ._numpy.batchnorm import BatchNorm1d, BatchNorm2d, batchnorm_backward, batchnorm_forward
from ._numpy.dropout import Dropout, dropout_backward, dropout_forward
from ._numpy.linear import Linear, linear_backward, linear_forward
from ._numpy.module import Module
from ._numpy.sequential import Sequential

__all__ = [
    "Module",
    "linear_forward", "linear_backward", "Linear",
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
    "Sequential",
    "batchnorm_forward", "batchnorm_backward", "BatchNorm1d", "BatchNorm2d",
    "dropout_forward", "dropout_backward", "Dropout",
]
