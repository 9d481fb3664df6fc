"""Input checks shared by both loss twins (duck-typed: NumPy arrays and torch tensors)."""

from __future__ import annotations

import math

from .._checks import check_choice, check_float_array, check_same_shape

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, owner):
    return check_choice(reduction, "reduction", owner, REDUCTIONS)


def check_pair(input, target, owner):
    """Float ``input`` and ``target`` of one shape, both free of NaN."""
    check_float_array(input, "input", owner)
    check_float_array(target, "target", owner)
    check_same_shape(input, target, "input", "target", owner)
    check_not_empty(input, owner)
    for name, a in (("input", input), ("target", target)):
        check_finite(a, name, owner)


def check_finite(a, name, owner):
    # NaN and +-inf alike: a logit of +inf turns the log-sum-exp into inf - inf = NaN.
    if math.isfinite(float(a.sum())):  # one reduction in the usual case; NaN and inf both spoil a sum
        return
    bad = (a != a) | (a == math.inf) | (a == -math.inf)
    if bool(bad.any()):
        first = a[bad].reshape(-1)[0]
        raise ValueError(f"The '{name}' parameter of {owner} must hold finite values (no NaN or inf). "
                         f"Got {float(first)} instead.")


def check_not_empty(input, owner):
    # The mean of nothing is NaN; say so instead of returning it.
    if input.numel() == 0 if hasattr(input, "numel") else input.size == 0:
        raise ValueError(
            f"The 'input' parameter of {owner} must not be empty. Got shape {tuple(input.shape)} instead."
        )


def check_probabilities(a, name, owner):
    if bool(((a < 0) | (a > 1)).any()):
        lo, hi = float(a.min()), float(a.max())
        raise ValueError(
            f"The '{name}' parameter of {owner} must hold probabilities in the range [0, 1]. "
            f"Got values in [{lo:g}, {hi:g}] instead."
        )


def check_class_targets(input, target, owner, is_integer):
    """Logits ``(N, C)`` and integer labels ``(N,)`` in ``[0, C)``."""
    check_float_array(input, "input", owner, ndim=2)
    check_finite(input, "input", owner)
    if not is_integer:
        raise TypeError(
            f"The 'target' parameter of {owner} must hold integer class labels. "
            f"Got dtype {target.dtype} instead."
        )
    if target.ndim != 1 or target.shape[0] != input.shape[0]:
        raise ValueError(
            f"The 'target' parameter of {owner} must have shape ({input.shape[0]},) to match "
            f"'input' {tuple(input.shape)}. Got {tuple(target.shape)} instead."
        )
    check_not_empty(input, owner)
    n_classes = input.shape[1]
    if target.shape[0] and bool(((target < 0) | (target >= n_classes)).any()):
        raise ValueError(
            f"The 'target' parameter of {owner} must hold labels in the range [0, {n_classes - 1}]. "
            f"Got values in [{int(target.min())}, {int(target.max())}] instead."
        )


def check_dout(dout, loss_shape, reduction, owner):
    """``dout`` must be a scalar for 'mean'/'sum' and match the loss for 'none'."""
    shape = tuple(getattr(dout, "shape", ()))
    want = tuple(loss_shape) if reduction == "none" else ()
    if shape != want:
        raise ValueError(
            f"The 'dout' parameter of {owner} must have shape {want} for reduction={reduction!r}. "
            f"Got {shape} instead."
        )
