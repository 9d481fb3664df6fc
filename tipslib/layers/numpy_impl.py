"""Layers in NumPy: the reference implementations.

Each layer comes twice: a pair of functions that *are* the math
(``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache) -> (dx, ...)``)
and a :class:`Module` built on them with ``forward``/``backward``, ``params``,
``grads``, ``train()``/``eval()``. The torch twin is :mod:`tipslib.layers.torch_impl`.
"""

from ._numpy.module import *  # noqa: F401,F403
from ._numpy.linear import *  # noqa: F401,F403
from ._numpy.activations import *  # noqa: F401,F403
from ._numpy.sequential import *  # noqa: F401,F403
from ._numpy.batchnorm import *  # noqa: F401,F403
from ._numpy.dropout import *  # noqa: F401,F403
from ._numpy import module, linear, activations, sequential, batchnorm, dropout

__all__ = [
    *module.__all__, *linear.__all__, *activations.__all__,
    *sequential.__all__, *batchnorm.__all__, *dropout.__all__,
]
del module, linear, activations, sequential, batchnorm, dropout
