"""Optimizers in PyTorch: twins of :mod:`tipslib.optim.numpy_impl`.

The same ``*_step`` functions on tensors, and ``torch.optim.Optimizer``
subclasses that use them, usable in any torch training loop on CPU or GPU.
"""

from ._torch.adadelta import Adadelta, adadelta_step
from ._torch.adagrad import Adagrad, adagrad_step
from ._torch.adam import Adam, AdamW, adam_step, adamw_step
from ._torch.lr_scheduler import CosineAnnealingLR, ExponentialLR, LinearLR, ReduceLROnPlateau, StepLR
from ._torch.momentum import Momentum, momentum_step
from ._torch.rmsprop import RMSprop, rmsprop_step
from ._torch.sgd import SGD, sgd_step

__all__ = [
    "sgd_step", "SGD",
    "momentum_step", "Momentum",
    "adam_step", "adamw_step", "Adam", "AdamW",
    "rmsprop_step", "RMSprop",
    "adagrad_step", "Adagrad",
    "adadelta_step", "Adadelta",
    "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau",
]

TORCH_ONLY: frozenset[str] = frozenset()
#: ``torch.optim.Optimizer`` plays the part of the NumPy base class.
NUMPY_ONLY = frozenset({"Optimizer"})
