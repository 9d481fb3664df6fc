"""Optimizers in NumPy: the reference implementations.

Each optimizer is a function that *is* the math (``sgd_step(param, grad, state..., *, lr, ...)``,
updating one array in place) and a class on top (``SGD(params, lr=...)`` with
``step(grads)``). The torch twin is :mod:`tipslib.optim.torch_impl`.
"""

from ._numpy.adadelta import Adadelta, adadelta_step
from ._numpy.adagrad import Adagrad, adagrad_step
from ._numpy.adam import Adam, AdamW, adam_step, adamw_step
from ._numpy.base import Optimizer
from ._numpy.lr_scheduler import CosineAnnealingLR, ExponentialLR, LinearLR, ReduceLROnPlateau, StepLR
from ._numpy.momentum import Momentum, momentum_step
from ._numpy.rmsprop import RMSprop, rmsprop_step
from ._numpy.sgd import SGD, sgd_step

__all__ = [
    "Optimizer",
    "sgd_step", "SGD",
    "momentum_step", "Momentum",
    "adam_step", "adamw_step", "Adam", "AdamW",
    "rmsprop_step", "RMSprop",
    "adagrad_step", "Adagrad",
    "adadelta_step", "Adadelta",
    "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau",
]
