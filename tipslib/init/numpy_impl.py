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
import numbers

import numpy as np

from .._checks import check_choice, check_real, check_rng

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

#: Nonlinearities whose recommended gain is 1 (they do not change the variance to first order).
_UNIT_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
NONLINEARITIES = _UNIT_GAIN + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity, param=None):
    r"""The factor by which to scale the standard deviation for a given nonlinearity.

    ========================= =======================================
    nonlinearity              gain
    ========================= =======================================
    linear, conv*, sigmoid    :math:`1`
    tanh                      :math:`5/3`
    relu                      :math:`\sqrt{2}`
    leaky_relu                :math:`\sqrt{2 / (1 + a^2)}`, slope ``param`` (default 0.01)
    selu                      :math:`3/4`
    ========================= =======================================

    ReLU zeroes half of its inputs, halving the variance; :math:`\sqrt2` puts it back
    (He et al., 2015). The others are torch's choices.

    See Also
    --------
    torch.nn.init.calculate_gain : the same table.
    """
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


def _check_shape(shape, owner):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"The 'shape' parameter of {owner} must be a tuple of ints. Got {shape!r} instead.")
    shape = tuple(shape)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"The 'shape' parameter of {owner} must be a tuple of ints >= 0. Got {shape!r} instead.")
    return tuple(int(s) for s in shape)



def _check_dtype(dtype, owner):
    try:
        floating = np.dtype(dtype).kind == "f"
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"The 'dtype' parameter of {owner} must be a floating-point dtype. Got {dtype!r} instead.")
    return np.dtype(dtype)


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
    shape = _check_shape(shape, "calculate_fan_in_and_fan_out")
    if len(shape) < 2:
        raise ValueError("The 'shape' parameter of calculate_fan_in_and_fan_out must have at least 2 dimensions "
                         f"(fans are defined for weights (out, in, ...)). Got {shape!r} instead.")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fans_nonzero(shape, owner, which=("fan_in", "fan_out")):
    fans = dict(zip(("fan_in", "fan_out"), calculate_fan_in_and_fan_out(shape)))
    if any(fans[w] == 0 for w in which):
        raise ValueError(f"The 'shape' parameter of {owner} must give non-zero fans. Got {shape!r} "
                         f"(fan_in={fans['fan_in']}, fan_out={fans['fan_out']}) instead.")
    return fans


def zeros(shape, *, dtype=np.float64):
    """An array of zeros: right for biases, wrong for weights (every unit would learn the same thing).

    See Also
    --------
    torch.nn.init.zeros_ : fills a tensor in place.
    """
    return np.zeros(_check_shape(shape, "zeros"), dtype=_check_dtype(dtype, "zeros"))


def normal(shape, mean=0.0, std=1.0, *, rng=None, dtype=np.float64):
    r"""Draws from :math:`\mathcal N(\text{mean}, \text{std}^2)`.

    See Also
    --------
    torch.nn.init.normal_ : fills a tensor in place.
    """
    owner = "normal"
    shape = _check_shape(shape, owner)
    mean = check_real(mean, "mean", owner)
    std = check_real(std, "std", owner, low=0)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    return rng.normal(mean, std, size=shape).astype(dtype, copy=False)


def uniform(shape, a=0.0, b=1.0, *, rng=None, dtype=np.float64):
    r"""Draws from :math:`\mathcal U(a, b)`.

    See Also
    --------
    torch.nn.init.uniform_ : fills a tensor in place.
    """
    owner = "uniform"
    shape = _check_shape(shape, owner)
    a = check_real(a, "a", owner)
    b = check_real(b, "b", owner, low=a)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    return rng.uniform(a, b, size=shape).astype(dtype, copy=False)


def _xavier_std(shape, gain, owner):
    shape = _check_shape(shape, owner)
    gain = check_real(gain, "gain", owner, low=0)
    fans = _fans_nonzero(shape, owner)
    return shape, gain * math.sqrt(2.0 / (fans["fan_in"] + fans["fan_out"]))


def xavier_uniform(shape, gain=1.0, *, rng=None, dtype=np.float64):
    r"""Glorot/Xavier uniform initialisation (Glorot & Bengio, 2010).

    .. math::

        W \sim \mathcal U(-b, b), \qquad
        b = \sqrt3\,\sigma, \qquad
        \sigma = \text{gain}\,\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    A uniform on :math:`[-b, b]` has variance :math:`b^2/3`, so its standard
    deviation is :math:`\sigma`: the forward pass (fan-in) and the backward pass
    (fan-out) both keep their variance, compromising between the two.

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
    owner = "xavier_uniform"
    shape, std = _xavier_std(shape, gain, owner)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def xavier_normal(shape, gain=1.0, *, rng=None, dtype=np.float64):
    r"""Glorot/Xavier normal initialisation.

    .. math:: W \sim \mathcal N(0, \sigma^2), \qquad
              \sigma = \text{gain}\,\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    Arguments as :func:`xavier_uniform`.

    See Also
    --------
    torch.nn.init.xavier_normal_ : the same distribution, filling a tensor in place.
    """
    owner = "xavier_normal"
    shape, std = _xavier_std(shape, gain, owner)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    return rng.normal(0.0, std, size=shape).astype(dtype, copy=False)


def _kaiming_std(shape, a, mode, nonlinearity, owner):
    shape = _check_shape(shape, owner)
    a = check_real(a, "a", owner)
    check_choice(mode, "mode", owner, ("fan_in", "fan_out"))
    check_choice(nonlinearity, "nonlinearity", owner, NONLINEARITIES)
    fan = _fans_nonzero(shape, owner, (mode,))[mode]
    return shape, calculate_gain(nonlinearity, a) / math.sqrt(fan)


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
    owner = "kaiming_uniform"
    shape, std = _kaiming_std(shape, a, mode, nonlinearity, owner)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    bound = math.sqrt(3.0) * std
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None, dtype=np.float64):
    r"""He/Kaiming normal initialisation.

    .. math:: W \sim \mathcal N(0, \sigma^2), \qquad \sigma = \frac{\text{gain}}{\sqrt{\text{fan}}}

    Arguments as :func:`kaiming_uniform`.

    See Also
    --------
    torch.nn.init.kaiming_normal_ : the same distribution, filling a tensor in place.
    """
    owner = "kaiming_normal"
    shape, std = _kaiming_std(shape, a, mode, nonlinearity, owner)
    rng = check_rng(rng, owner)
    dtype = _check_dtype(dtype, owner)
    return rng.normal(0.0, std, size=shape).astype(dtype, copy=False)
