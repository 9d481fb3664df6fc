"""Layers in PyTorch: twins of :mod:`tipslib.layers.numpy_impl`.

The same forward/backward functions, written with torch ops so they run on a
GPU, wrapped in ``torch.autograd.Function``\\ s and ``nn.Module``\\ s: autograd
calls *our* backward, so any torch model can use these layers and
``torch.autograd.gradcheck`` can test them.
"""

from ._torch.activations import (
    ReLU, ReLUFunction, Sigmoid, SigmoidFunction, Softmax, SoftmaxFunction, Tanh, TanhFunction,
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    softmax_backward, softmax_forward, tanh_backward, tanh_forward,
)
from ._torch.batchnorm import BatchNorm1d, BatchNorm2d, BatchNormFunction, batchnorm_backward, batchnorm_forward
from ._torch.dropout import Dropout, DropoutFunction, dropout_backward, dropout_forward
from ._torch.linear import Linear, LinearFunction, linear_backward, linear_forward
from ._torch.sequential import Sequential

__all__ = [
    "linear_forward", "linear_backward", "LinearFunction", "Linear",
    "relu_forward", "relu_backward", "ReLU",
    "sigmoid_forward", "sigmoid_backward", "Sigmoid",
    "tanh_forward", "tanh_backward", "Tanh",
    "softmax_forward", "softmax_backward", "Softmax",
    "ReLUFunction", "SigmoidFunction", "TanhFunction", "SoftmaxFunction",
    "Sequential",
    "batchnorm_forward", "batchnorm_backward", "BatchNormFunction", "BatchNorm1d", "BatchNorm2d",
    "dropout_forward", "dropout_backward", "DropoutFunction", "Dropout",
]

#: Names only the torch twin has: the autograd glue. The NumPy ``Module`` base
#: has no torch counterpart because ``torch.nn.Module`` plays its part.
TORCH_ONLY = frozenset(n for n in __all__ if n.endswith("Function"))
NUMPY_ONLY = frozenset({"Module"})
