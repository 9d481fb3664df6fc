"""Weight initialisation in PyTorch: twins of :mod:`tipslib.init.numpy_impl`.

Differences from the NumPy twin: the first argument is the ``tensor`` to fill
IN PLACE (and return), like ``torch.nn.init.*_``, instead of a ``shape`` for a
new array; randomness comes from ``generator``; the dtype is the tensor's.
"""

from __future__ import annotations

import math

import torch

from .._checks import GENERATOR, Real, validate_params
from ._shared import (GAIN, MODE, NONLINEARITY, at_least_2d, b_not_below_a, calculate_gain, fans_of, kaiming_std,
                      weight_shape, xavier_std)

__all__ = [
    "calculate_gain",
    "calculate_fan_in_and_fan_out",
    "zeros",
    "normal",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
]

TORCH_ONLY: frozenset[str] = frozenset()
NUMPY_ONLY: frozenset[str] = frozenset()
#: The NumPy twin takes a ``shape`` and returns a new array; this one fills a ``tensor``.
ARG_RENAMES = {"shape": "tensor"}
#: A filled tensor keeps its own dtype, so only the NumPy twin has ``dtype``.
NUMPY_ONLY_ARGS = frozenset({"dtype"})


def _tensor(tensor, name, owner):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.Tensor. Got {type(tensor).__name__} instead.")


def FLOAT_TENSOR(tensor, name, owner):
    """The tensor an initialiser fills: a floating-point ``torch.Tensor``."""
    _tensor(tensor, name, owner)
    if not tensor.is_floating_point():
        raise TypeError(f"The '{name}' parameter of {owner} must be a floating-point tensor. Got dtype {tensor.dtype} instead.")


#: What every initialiser's draw takes.
DRAW = {"tensor": FLOAT_TENSOR, "generator": GENERATOR}
KAIMING = {**DRAW, "a": Real(), "mode": MODE, "nonlinearity": NONLINEARITY}


@validate_params(None, at_least_2d, tensor=_tensor)
def calculate_fan_in_and_fan_out(tensor):
    """Twin of the NumPy ``calculate_fan_in_and_fan_out``, reading ``tensor.shape``."""
    return fans_of(tuple(tensor.shape))


@validate_params(tensor=FLOAT_TENSOR)
@torch.no_grad()
def zeros(tensor):
    """Twin of the NumPy ``zeros``: fills ``tensor`` with zeros (``torch.nn.init.zeros_``)."""
    return tensor.zero_()


@validate_params(DRAW, mean=Real(), std=Real(low=0))
@torch.no_grad()
def normal(tensor, mean=0.0, std=1.0, *, generator=None):
    """Twin of the NumPy ``normal``: fills ``tensor`` in place."""
    return tensor.normal_(mean, std, generator=generator)


@validate_params(DRAW, b_not_below_a, a=Real())
@torch.no_grad()
def uniform(tensor, a=0.0, b=1.0, *, generator=None):
    """Twin of the NumPy ``uniform``: fills ``tensor`` in place."""
    return tensor.uniform_(a, b, generator=generator)


@validate_params(DRAW, weight_shape, gain=GAIN)
@torch.no_grad()
def xavier_uniform(tensor, gain=1.0, *, generator=None):
    """Twin of the NumPy ``xavier_uniform``: fills ``tensor`` in place (``torch.nn.init.xavier_uniform_``)."""
    bound = math.sqrt(3.0) * xavier_std(tensor.shape, gain)
    return tensor.uniform_(-bound, bound, generator=generator)


@validate_params(DRAW, weight_shape, gain=GAIN)
@torch.no_grad()
def xavier_normal(tensor, gain=1.0, *, generator=None):
    """Twin of the NumPy ``xavier_normal``: fills ``tensor`` in place (``torch.nn.init.xavier_normal_``)."""
    return tensor.normal_(0.0, xavier_std(tensor.shape, gain), generator=generator)


@validate_params(KAIMING, weight_shape)
@torch.no_grad()
def kaiming_uniform(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, generator=None):
    """Twin of the NumPy ``kaiming_uniform``: fills ``tensor`` in place (``torch.nn.init.kaiming_uniform_``)."""
    bound = math.sqrt(3.0) * kaiming_std(tensor.shape, a, mode, nonlinearity)
    return tensor.uniform_(-bound, bound, generator=generator)


@validate_params(KAIMING, weight_shape)
@torch.no_grad()
def kaiming_normal(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, generator=None):
    """Twin of the NumPy ``kaiming_normal``: fills ``tensor`` in place (``torch.nn.init.kaiming_normal_``)."""
    return tensor.normal_(0.0, kaiming_std(tensor.shape, a, mode, nonlinearity), generator=generator)
