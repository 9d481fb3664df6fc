"""Weight initialisation in NumPy: the reference implementations.

Each initialiser takes a ``shape`` and returns a NEW array drawn from ``rng``.
The scale of the draw is the whole lesson: Xavier keeps the variance of
activations and gradients about constant through linear/tanh layers, Kaiming
does the same for ReLU layers. The torch twin :mod:`tipslib.init.torch_impl`
fills an existing tensor in place, like ``torch.nn.init``.

Shapes follow torch: a dense weight is ``(out_features, in_features)``, a
convolution kernel ``(out_channels, in_channels, *kernel_size)``.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import RNG, Real, validate_params
from ._shared import (GAIN, MODE, NONLINEARITY, SHAPE, at_least_2d, b_not_below_a, calculate_gain, fans_of,
                      kaiming_std, weight_shape, xavier_std)

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


def DTYPE(dtype, name, owner):
    """A floating-point NumPy dtype (or anything ``np.dtype`` turns into one)."""
    try:
        floating = np.dtype(dtype).kind == "f"
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"The '{name}' parameter of {owner} must be a floating-point dtype. Got {dtype!r} instead.")


#: What every initialiser's draw takes.
DRAW = {"shape": SHAPE, "rng": RNG, "dtype": DTYPE}
KAIMING = {**DRAW, "a": Real(), "mode": MODE, "nonlinearity": NONLINEARITY}


@validate_params(None, at_least_2d, shape=SHAPE)
def calculate_fan_in_and_fan_out(shape):
    r"""How many inputs feed one output unit (fan-in) and how many outputs one input feeds (fan-out).

    .. math::

        \text{fan\_in} = \text{shape}[1] \cdot r, \qquad
        \text{fan\_out} = \text{shape}[0] \cdot r, \qquad
        r = \textstyle\prod \text{shape}[2:]

    For a dense weight ``(out, in)`` the receptive field :math:`r` is 1; for a
    convolution ``(out, in, kh, kw)`` it is ``kh * kw``.

    Parameters
    ----------
    shape : tuple of int, at least 2 entries (an array's ``.shape`` works)

    Returns
    -------
    (int, int)

    See Also
    --------
    torch.nn.init._calculate_fan_in_and_fan_out : the same rule, on a tensor.
    """
    return fans_of(tuple(shape))


@validate_params(shape=SHAPE, dtype=DTYPE)
def zeros(shape, *, dtype=np.float64):
    r"""An array of zeros: right for biases, wrong for weights (every unit would learn the same thing).

    .. math::

        W_{ij} = 0

    ``shape`` is any tuple of int; ``dtype`` defaults to float64.

    See Also
    --------
    torch.nn.init.zeros_ : fills an existing tensor in place; this returns a new array.
    """
    return np.zeros(shape, dtype=dtype)


@validate_params(DRAW, mean=Real(), std=Real(low=0))
def normal(shape, mean=0.0, std=1.0, *, rng=None, dtype=np.float64):
    r"""Draws from :math:`\mathcal N(\text{mean}, \text{std}^2)`.

    See Also
    --------
    torch.nn.init.normal_ : fills a tensor in place.
    """
    rng = np.random.default_rng(rng)  # None: a fresh generator; a Generator: itself
    return rng.normal(mean, std, size=shape).astype(dtype, copy=False)


@validate_params(DRAW, b_not_below_a, a=Real())
def uniform(shape, a=0.0, b=1.0, *, rng=None, dtype=np.float64):
    r"""Draws from :math:`\mathcal U(a, b)`.

    See Also
    --------
    torch.nn.init.uniform_ : fills a tensor in place.
    """
    rng = np.random.default_rng(rng)
    return rng.uniform(a, b, size=shape).astype(dtype, copy=False)


@validate_params(DRAW, weight_shape, gain=GAIN)
def xavier_uniform(shape, gain=1.0, *, rng=None, dtype=np.float64):
    r"""Glorot/Xavier uniform initialisation (Glorot & Bengio, 2010).

    .. math::

        W \sim \mathcal U(-b, b), \qquad
        b = \sqrt3\,\sigma, \qquad
        \sigma = \text{gain}\,\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    A uniform on :math:`[-b, b]` has variance :math:`b^2/3`, so its standard
    deviation is :math:`\sigma`. The forward pass would keep its variance with
    :math:`\text{fan\_in}\,\sigma^2 = 1`, the backward pass with
    :math:`\text{fan\_out}\,\sigma^2 = 1`; one over the average of the two
    fans is a compromise, exact for both only when the fans are equal.

    Parameters
    ----------
    shape : tuple of int, at least 2-D, e.g. ``(out_features, in_features)``
    gain : float, default 1.0
        :func:`calculate_gain` of the layer's nonlinearity.
    rng : numpy.random.Generator, optional
    dtype : floating dtype, default float64

    Returns
    -------
    ndarray of ``shape``

    See Also
    --------
    torch.nn.init.xavier_uniform_ : the same distribution, filling a tensor in place.
    """
    bound = math.sqrt(3.0) * xavier_std(shape, gain)
    return np.random.default_rng(rng).uniform(-bound, bound, size=shape).astype(dtype, copy=False)


@validate_params(DRAW, weight_shape, gain=GAIN)
def xavier_normal(shape, gain=1.0, *, rng=None, dtype=np.float64):
    r"""Glorot/Xavier normal initialisation.

    .. math:: W \sim \mathcal N(0, \sigma^2), \qquad
              \sigma = \text{gain}\,\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    Arguments as :func:`xavier_uniform`.

    See Also
    --------
    torch.nn.init.xavier_normal_ : the same distribution, filling a tensor in place.
    """
    std = xavier_std(shape, gain)
    return np.random.default_rng(rng).normal(0.0, std, size=shape).astype(dtype, copy=False)


@validate_params(KAIMING, weight_shape)
def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None, dtype=np.float64):
    r"""He/Kaiming uniform initialisation (He et al., 2015).

    .. math::

        W \sim \mathcal U(-b, b), \qquad b = \sqrt3\,\sigma, \qquad
        \sigma = \frac{\text{gain}}{\sqrt{\text{fan}}}

    with ``gain = calculate_gain(nonlinearity, a)`` and ``fan`` the fan-in
    (keeps the forward variance) or fan-out (keeps the backward variance).

    Parameters
    ----------
    shape : tuple of int, at least 2-D
    a : float, default 0
        Negative slope of the leaky ReLU that follows (used by ``'leaky_relu'`` only;
        ``a=0`` with the default nonlinearity gives ReLU's :math:`\sqrt2`).
    mode : {'fan_in', 'fan_out'}, default 'fan_in'
    nonlinearity : str, default 'leaky_relu'
    rng : numpy.random.Generator, optional
    dtype : floating dtype, default float64

    See Also
    --------
    torch.nn.init.kaiming_uniform_ : the same distribution, filling a tensor in place.
    """
    bound = math.sqrt(3.0) * kaiming_std(shape, a, mode, nonlinearity)
    return np.random.default_rng(rng).uniform(-bound, bound, size=shape).astype(dtype, copy=False)


@validate_params(KAIMING, weight_shape)
def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None, dtype=np.float64):
    r"""He/Kaiming normal initialisation.

    .. math:: W \sim \mathcal N(0, \sigma^2), \qquad \sigma = \frac{\text{gain}}{\sqrt{\text{fan}}}

    Arguments as :func:`kaiming_uniform`.

    See Also
    --------
    torch.nn.init.kaiming_normal_ : the same distribution, filling a tensor in place.
    """
    std = kaiming_std(shape, a, mode, nonlinearity)
    return np.random.default_rng(rng).normal(0.0, std, size=shape).astype(dtype, copy=False)
