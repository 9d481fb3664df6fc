"""Optimizers in PyTorch: twins of :mod:`tipslib.optim.numpy_impl`.

The same ``*_step`` functions on tensors, and ``torch.optim.Optimizer``
subclasses that use them, usable in any torch training loop on CPU or GPU.
"""

from ._torch.sgd import *  # noqa: F401,F403
from ._torch.momentum import *  # noqa: F401,F403
from ._torch.adam import *  # noqa: F401,F403
from ._torch.rmsprop import *  # noqa: F401,F403
from ._torch.adagrad import *  # noqa: F401,F403
from ._torch.adadelta import *  # noqa: F401,F403
from ._torch.lr_scheduler import *  # noqa: F401,F403
from ._torch import adadelta, adagrad, adam, lr_scheduler, momentum, rmsprop, sgd

__all__ = [*sgd.__all__, *momentum.__all__, *adam.__all__, *rmsprop.__all__, *adagrad.__all__, *adadelta.__all__, *lr_scheduler.__all__]

TORCH_ONLY: frozenset[str] = frozenset()
#: ``torch.optim.Optimizer`` plays the part of the NumPy base class.
NUMPY_ONLY = frozenset({"Optimizer"})
del adadelta, adagrad, adam, lr_scheduler, momentum, rmsprop, sgd
