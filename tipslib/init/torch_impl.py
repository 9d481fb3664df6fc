"""Weight initialisation in PyTorch: twins of :mod:`tipslib.init.numpy_impl`.

Differences from the NumPy twin: the first argument is the ``tensor`` to fill
IN PLACE (and return), like ``torch.nn.init.*_``, instead of a ``shape`` for a
new array; randomness comes from ``generator``; the dtype is the tensor's.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_real

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

_UNIT_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
NONLINEARITIES = _UNIT_GAIN + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity, param=None):
    """Twin of the NumPy ``calculate_gain`` (same table as ``torch.nn.init.calculate_gain``)."""
    check_choice(nonlinearity, "nonlinearity", "calculate_gain", NONLINEARITIES)
    if nonlinearity in _UNIT_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else check_real(param, "param", "calculate_gain")
    return math.sqrt(2.0 / (1 + slope ** 2))


def _check_tensor(tensor, owner):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"The 'tensor' parameter of {owner} must be a torch.Tensor. Got {type(tensor).__name__} instead.")
    if not tensor.is_floating_point():
        raise TypeError(f"The 'tensor' parameter of {owner} must be a floating-point tensor. Got dtype {tensor.dtype} instead.")


def _check_generator(generator, owner):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"The 'generator' parameter of {owner} must be a torch.Generator. Got {generator!r} instead.")


def calculate_fan_in_and_fan_out(tensor):
    """Twin of the NumPy ``calculate_fan_in_and_fan_out``, reading ``tensor.shape``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("The 'tensor' parameter of calculate_fan_in_and_fan_out must be a torch.Tensor. "
                        f"Got {type(tensor).__name__} instead.")
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("The 'tensor' parameter of calculate_fan_in_and_fan_out must have at least 2 dimensions "
                         f"(fans are defined for weights (out, in, ...)). Got shape {shape!r} instead.")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fans_nonzero(tensor, owner, which=("fan_in", "fan_out")):
    fans = dict(zip(("fan_in", "fan_out"), calculate_fan_in_and_fan_out(tensor)))
    if any(fans[w] == 0 for w in which):
        raise ValueError(f"The 'tensor' parameter of {owner} must give non-zero fans. Got shape {tuple(tensor.shape)} "
                         f"(fan_in={fans['fan_in']}, fan_out={fans['fan_out']}) instead.")
    return fans


@torch.no_grad()
def zeros(tensor):
    """Twin of the NumPy ``zeros``: fills ``tensor`` with zeros (``torch.nn.init.zeros_``)."""
    _check_tensor(tensor, "zeros")
    return tensor.zero_()


@torch.no_grad()
def normal(tensor, mean=0.0, std=1.0, *, generator=None):
    """Twin of the NumPy ``normal``: fills ``tensor`` in place."""
    owner = "normal"
    _check_tensor(tensor, owner)
    mean = check_real(mean, "mean", owner)
    std = check_real(std, "std", owner, low=0)
    _check_generator(generator, owner)
    return tensor.normal_(mean, std, generator=generator)


@torch.no_grad()
def uniform(tensor, a=0.0, b=1.0, *, generator=None):
    """Twin of the NumPy ``uniform``: fills ``tensor`` in place."""
    owner = "uniform"
    _check_tensor(tensor, owner)
    a = check_real(a, "a", owner)
    b = check_real(b, "b", owner, low=a)
    _check_generator(generator, owner)
    return tensor.uniform_(a, b, generator=generator)


def _xavier_std(tensor, gain, owner):
    _check_tensor(tensor, owner)
    gain = check_real(gain, "gain", owner, low=0)
    fans = _fans_nonzero(tensor, owner)
    return gain * math.sqrt(2.0 / (fans["fan_in"] + fans["fan_out"]))


@torch.no_grad()
def xavier_uniform(tensor, gain=1.0, *, generator=None):
    """Twin of the NumPy ``xavier_uniform``: fills ``tensor`` in place (``torch.nn.init.xavier_uniform_``)."""
    owner = "xavier_uniform"
    bound = math.sqrt(3.0) * _xavier_std(tensor, gain, owner)
    _check_generator(generator, owner)
    return tensor.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def xavier_normal(tensor, gain=1.0, *, generator=None):
    """Twin of the NumPy ``xavier_normal``: fills ``tensor`` in place (``torch.nn.init.xavier_normal_``)."""
    owner = "xavier_normal"
    std = _xavier_std(tensor, gain, owner)
    _check_generator(generator, owner)
    return tensor.normal_(0.0, std, generator=generator)


def _kaiming_std(tensor, a, mode, nonlinearity, owner):
    _check_tensor(tensor, owner)
    a = check_real(a, "a", owner)
    check_choice(mode, "mode", owner, ("fan_in", "fan_out"))
    check_choice(nonlinearity, "nonlinearity", owner, NONLINEARITIES)
    fan = _fans_nonzero(tensor, owner, (mode,))[mode]
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@torch.no_grad()
def kaiming_uniform(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, generator=None):
    """Twin of the NumPy ``kaiming_uniform``: fills ``tensor`` in place (``torch.nn.init.kaiming_uniform_``)."""
    owner = "kaiming_uniform"
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, owner)
    _check_generator(generator, owner)
    return tensor.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def kaiming_normal(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, generator=None):
    """Twin of the NumPy ``kaiming_normal``: fills ``tensor`` in place (``torch.nn.init.kaiming_normal_``)."""
    owner = "kaiming_normal"
    std = _kaiming_std(tensor, a, mode, nonlinearity, owner)
    _check_generator(generator, owner)
    return tensor.normal_(0.0, std, generator=generator)
