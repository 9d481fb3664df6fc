"""Backend-free parts of the losses, shared by both twins.

What every loss's arguments must be is declared here once: the public functions
check it at the door (``validate_params``), the classes check the arrays of each
call with the same rules and then run the bare math. Arrays are duck-typed
(NumPy arrays and torch tensors alike), so this module imports neither.

Whether the values are finite is checked after the math, on the loss itself:
NaN and inf spoil any sum they enter, so one scalar read tells whether the
inputs need a closer look, where checking them first would cost a full pass
over every input on every call. Only then are the inputs searched, and the
error names the one at fault.
"""

from __future__ import annotations

import functools
import math
import numbers

from .._checks import OneOf, OwnArrays, check_float_array, check_real, check_same_shape, validate_params

__all__ = ["REDUCTION", "LOSS", "pair", "probability_target", "class_targets", "dout_of", "ELEMENTWISE_DOUT",
           "ROW_DOUT", "own_arrays", "finite_loss", "check_finite_loss", "PAIR_RULES", "BCE_RULES", "CROSS_ENTROPY_RULES",
           "LossBase"]

REDUCTION = OneOf("mean", "sum", "none")
#: The one hyperparameter every loss has.
LOSS = {"reduction": REDUCTION}


def _not_empty(input, owner):
    # The mean of nothing is NaN; say so instead of returning it.
    if math.prod(input.shape) == 0:
        raise ValueError(f"The 'input' parameter of {owner} must not be empty. Got shape {tuple(input.shape)} instead.")


def pair(args, owner):
    """``input`` and ``target``: floating-point arrays of one shape, not empty."""
    input, target = args["input"], args["target"]
    check_float_array(input, "input", owner)
    check_float_array(target, "target", owner)
    check_same_shape(input, target, "input", "target", owner)
    _not_empty(input, owner)


def _check_probabilities(a, name, owner):
    a = _detached(a)
    lo, hi = float(a.min()), float(a.max())  # two scalars; NaN passes here and is caught on the loss
    if lo < 0 or hi > 1:
        raise ValueError(f"The '{name}' parameter of {owner} must hold probabilities in the range [0, 1]. "
                         f"Got values in [{lo:g}, {hi:g}] instead.")


def probability_target(args, owner):
    """``target`` holds probabilities (the input's range shows on the loss: log of a negative is NaN)."""
    _check_probabilities(args["target"], "target", owner)


def _is_integer(dtype) -> bool:
    kind = getattr(dtype, "kind", None)  # numpy.dtype
    if kind is not None:
        return kind in "iu"
    return not (dtype.is_floating_point or dtype.is_complex) and str(dtype) != "torch.bool"  # torch.dtype


def class_targets(args, owner):
    """Logits ``input`` (N, C) and integer labels ``target`` (N,) in ``[0, C)``."""
    input, target = args["input"], args["target"]
    check_float_array(input, "input", owner, ndim=2)
    dtype = getattr(target, "dtype", None)
    if dtype is None or not hasattr(target, "shape") or not _is_integer(dtype):
        got = f"dtype {dtype}" if dtype is not None else type(target).__name__
        raise TypeError(f"The 'target' parameter of {owner} must hold integer class labels. Got {got} instead.")
    if target.ndim != 1 or target.shape[0] != input.shape[0]:
        raise ValueError(f"The 'target' parameter of {owner} must have shape ({input.shape[0]},) to match "
                         f"'input' {tuple(input.shape)}. Got {tuple(target.shape)} instead.")
    _not_empty(input, owner)
    n_classes = input.shape[1]
    # Two scalars, not a mask: an index outside [0, C) wraps around silently in NumPy and stops a GPU.
    lo, hi = int(target.min()), int(target.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"The 'target' parameter of {owner} must hold labels in the range [0, {n_classes - 1}]. "
                         f"Got values in [{lo}, {hi}] instead.")


def own_arrays(kind, is_own):
    """A rule: ``input`` and ``target`` are the twin's own arrays (:func:`tipslib._checks.OwnArrays`)."""
    return OwnArrays(kind, is_own, ("input", "target"))


PAIR_RULES = (pair,)
BCE_RULES = (pair, probability_target)
CROSS_ENTROPY_RULES = (class_targets,)


def dout_of(loss_shape):
    """A rule for a ``*_backward(dout, cache)``: ``dout`` is a finite real number or a 0-d floating-point
    array for 'mean'/'sum', and a floating-point array of the unreduced loss's shape for 'none'
    (``loss_shape(cache)``; the reduction is ``cache[-1]``). A list or a bool would broadcast silently."""

    def dout_matches(args, owner):
        dout, cache = args["dout"], args["cache"]
        reduction = cache[-1]
        want = tuple(loss_shape(cache)) if reduction == "none" else ()
        if not hasattr(dout, "shape"):  # a plain number, which only a reduced loss's gradient can be
            if reduction == "none" or isinstance(dout, bool) or not isinstance(dout, numbers.Real):
                what = f"an array of shape {want}" if reduction == "none" else "a real number or a 0-d array"
                raise TypeError(f"The 'dout' parameter of {owner} must be {what} for reduction={reduction!r}. "
                                f"Got {dout!r} instead.")
            check_real(dout, "dout", owner)
            return
        check_float_array(dout, "dout", owner)
        if tuple(dout.shape) != want:
            raise ValueError(f"The 'dout' parameter of {owner} must have shape {want} for reduction={reduction!r}. "
                             f"Got {tuple(dout.shape)} instead.")

    return dout_matches


#: The loss has one entry per element of ``input`` (BCE, MSE) / per row of it (cross-entropy).
ELEMENTWISE_DOUT = dout_of(lambda cache: cache[0].shape)
ROW_DOUT = dout_of(lambda cache: cache[0].shape[:1])


def _first_bad(a):
    values = _detached(a).reshape(-1)
    bad = (values != values) | (values == math.inf) | (values == -math.inf)
    return float(values[bad][0]) if bool(bad.any()) else None


def _detached(a):
    # torch: read the values without asking autograd to follow (NumPy arrays have no detach).
    return a.detach() if hasattr(a, "detach") else a


def check_finite_loss(loss, reduction, owner, arrays, probabilities=False):
    """Raise the error that explains a loss of NaN or inf, naming the array of ``arrays``
    (``{name: array}``, the float inputs of the loss) at fault.

    A finite loss costs one scalar read. A loss that is not finite while every
    input is (a float32 sum that overflows) is returned as it is: the inputs
    are valid, the result is what the arithmetic gives.
    """
    loss = _detached(loss)
    # Unreduced, read the largest entry: NaN wins a max, and every loss here is >= 0, so it is
    # NaN or inf exactly when some entry is. A sum could overflow while every entry is finite.
    if math.isfinite(float(loss.max() if reduction == "none" else loss)):
        return
    if probabilities:
        _check_probabilities(arrays["input"], "input", owner)  # the log of a value outside [0, 1] is NaN
    for name, a in arrays.items():
        first = _first_bad(a)
        if first is not None:
            raise ValueError(f"The '{name}' parameter of {owner} must hold finite values (no NaN or inf). "
                             f"Got {first} instead.")


def finite_loss(name, *, labels=False, probabilities=False):
    """Decorate a ``*_forward(input, target, reduction)`` so that a loss of NaN or inf raises the error
    of :func:`check_finite_loss`, naming the loss ``name``, instead of being returned. With ``labels``
    the target holds class labels, which cannot be NaN, so only ``input`` is searched."""

    def decorate(forward):
        @functools.wraps(forward)
        def checked(input, target, reduction="mean"):
            loss, cache = forward(input, target, reduction)
            arrays = {"input": input} if labels else {"input": input, "target": target}
            check_finite_loss(loss, reduction, name, arrays, probabilities)
            return loss, cache

        return checked

    return decorate


class LossBase:
    """What the loss classes of both twins share: ``reduction``, checked once, and the check of
    each call's arrays by the loss's ``rules`` (its function's rules, naming the class)."""

    rules = ()

    @validate_params(LOSS)
    def __init__(self, reduction="mean"):
        super().__init__()  # nn.Module's, in the torch twin
        self.reduction = reduction

    def check_arrays(self, input, target):
        arrays = {"input": input, "target": target}
        for rule in self.rules:
            rule(arrays, type(self).__name__)
