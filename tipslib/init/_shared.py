r"""Backend-free parts of weight initialisation, shared by both twins.

The gain table, the fans of a weight's shape and the standard deviations of
Xavier and Kaiming are plain arithmetic on a shape, so they are written once
here; the twins only draw (NumPy: a new array from ``rng``; torch: into a
tensor, in place). The argument constraints are declared here too. Shapes are
tuples of ints (a tensor's ``.shape`` is one), so this module imports neither
NumPy nor torch.
"""

from __future__ import annotations

import math
import numbers

from .._checks import OneOf, Optional, Real, check_real, validate_params

__all__ = ["NONLINEARITIES", "NONLINEARITY", "MODE", "GAIN", "SHAPE", "b_not_below_a", "at_least_2d", "weight_shape",
           "fans_of", "calculate_gain", "xavier_std", "kaiming_std"]

#: Nonlinearities whose recommended gain is 1 (they do not change the variance to first order).
_UNIT_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
NONLINEARITIES = _UNIT_GAIN + ("tanh", "relu", "leaky_relu", "selu")

NONLINEARITY = OneOf(*NONLINEARITIES)
MODE = OneOf("fan_in", "fan_out")
GAIN = Real(low=0)


def SHAPE(shape, name, owner):
    """A shape: an int or a sequence of ints >= 0 (what ``np.zeros`` takes)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"The '{name}' parameter of {owner} must be a tuple of ints. Got {shape!r} instead.")
    shape = tuple(shape)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"The '{name}' parameter of {owner} must be a tuple of ints >= 0. Got {shape!r} instead.")
    return shape


def b_not_below_a(args, owner):
    """``uniform``'s interval is ``[a, b]``."""
    check_real(args["b"], "b", owner, low=args["a"])


def _shape_of(args):
    # the NumPy twin takes a 'shape', the torch twin a 'tensor' to fill
    if "shape" in args:
        shape = args["shape"]
        return "shape", (shape,) if isinstance(shape, numbers.Integral) else tuple(shape), "{}"
    return "tensor", tuple(args["tensor"].shape), "shape {}"


def at_least_2d(args, owner):
    """Fans are defined for weights ``(out, in, ...)``."""
    name, shape, shown = _shape_of(args)
    if len(shape) < 2:
        raise ValueError(f"The '{name}' parameter of {owner} must have at least 2 dimensions "
                         f"(fans are defined for weights (out, in, ...)). Got {shown.format(shape)} instead.")


def weight_shape(args, owner):
    """At least 2-D, with non-zero fans where they divide (both for Xavier, ``mode``'s for Kaiming)."""
    at_least_2d(args, owner)
    name, shape, shown = _shape_of(args)
    fan_in, fan_out = fans_of(shape)
    used = {"fan_in": fan_in, "fan_out": fan_out}
    if "mode" in args:
        used = {args["mode"]: used[args["mode"]]}
    if 0 in used.values():
        raise ValueError(f"The '{name}' parameter of {owner} must give non-zero fans. Got {shown.format(shape)} "
                         f"(fan_in={fan_in}, fan_out={fan_out}) instead.")


def fans_of(shape):
    r"""Fan-in and fan-out of a weight of ``shape`` ``(out, in, *kernel)``:

    .. math::

        \text{fan\_in} = \text{shape}[1] \cdot r, \qquad
        \text{fan\_out} = \text{shape}[0] \cdot r, \qquad
        r = \textstyle\prod \text{shape}[2:]
    """
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


@validate_params(nonlinearity=NONLINEARITY, param=Optional(Real()))
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
    (He et al., 2015). The others are torch's choices. Both twins use this one function.

    See Also
    --------
    torch.nn.init.calculate_gain : the same table.
    """
    if nonlinearity in _UNIT_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else param
    return math.sqrt(2.0 / (1 + slope ** 2))


def xavier_std(shape, gain):
    r"""Xavier's :math:`\sigma = \text{gain}\,\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`."""
    fan_in, fan_out = fans_of(shape)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def kaiming_std(shape, a, mode, nonlinearity):
    r"""Kaiming's :math:`\sigma = \text{gain} / \sqrt{\text{fan}}`, ``fan`` the fan-in or the fan-out (``mode``)."""
    fan_in, fan_out = fans_of(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain.__wrapped__(nonlinearity, a) / math.sqrt(fan)
