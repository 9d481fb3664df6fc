"""Optimizers in NumPy: the reference implementations.

Each optimizer is a function that *is* the math (``sgd_step(param, grad, state..., *, lr, ...)``,
updating one array in place) and a class on top (``SGD(params, lr=...)`` with
``step(grads)``). The torch twin is :mod:`tipslib.optim.torch_impl`.
"""

from ._numpy.base import *  # noqa: F401,F403
from ._numpy.sgd import *  # noqa: F401,F403
from ._numpy import base, sgd

__all__ = [*base.__all__, *sgd.__all__]
del base, sgd
