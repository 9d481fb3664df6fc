"""Optimizers in NumPy: the reference implementations.

Each optimizer is a function that *is* the math (``sgd_step(param, grad, state..., *, lr, ...)``,
updating one array in place) and a class on top (``SGD(params, lr=...)`` with
``step(grads)``). The torch twin is :mod:`tipslib.optim.torch_impl`.
"""

from ._numpy.base import *  # noqa: F401,F403
from ._numpy.sgd import *  # noqa: F401,F403
from ._numpy.momentum import *  # noqa: F401,F403
from ._numpy.adam import *  # noqa: F401,F403
from ._numpy.rmsprop import *  # noqa: F401,F403
from ._numpy.adagrad import *  # noqa: F401,F403
from ._numpy.adadelta import *  # noqa: F401,F403
from ._numpy.lr_scheduler import *  # noqa: F401,F403
from ._numpy import adadelta, adagrad, adam, lr_scheduler, base, momentum, rmsprop, sgd

__all__ = [*base.__all__, *sgd.__all__, *momentum.__all__, *adam.__all__, *rmsprop.__all__, *adagrad.__all__, *adadelta.__all__, *lr_scheduler.__all__]
del adadelta, adagrad, adam, lr_scheduler, base, momentum, rmsprop, sgd
