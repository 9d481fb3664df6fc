"""Layers in PyTorch: twins of :mod:`tipslib.layers.numpy_impl`.

The same forward/backward functions, written with torch ops so they run on a
GPU, wrapped in ``torch.autograd.Function``\\ s and ``nn.Module``\\ s: autograd
calls *our* backward, so any torch model can use these layers and
``torch.autograd.gradcheck`` can test them.
"""

from ._torch.linear import *  # noqa: F401,F403
from ._torch.activations import *  # noqa: F401,F403
from ._torch.sequential import *  # noqa: F401,F403
from ._torch.batchnorm import *  # noqa: F401,F403
from ._torch.dropout import *  # noqa: F401,F403
from ._torch import linear, activations, sequential, batchnorm, dropout

__all__ = [
    *linear.__all__, *activations.__all__, *sequential.__all__,
    *batchnorm.__all__, *dropout.__all__,
]

#: Names only the torch twin has: the autograd glue. The NumPy ``Module`` base
#: has no torch counterpart because ``torch.nn.Module`` plays its part.
TORCH_ONLY = frozenset(n for n in __all__ if n.endswith("Function"))
NUMPY_ONLY = frozenset({"Module"})
del linear, activations, sequential, batchnorm, dropout
