"""Hyperparameter checks shared by both optimizer twins, worded like torch's own."""

from __future__ import annotations

import math
import numbers


def _bad(value) -> bool:
    # NaN or inf would poison every later step without an error.
    return isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)


def check_lr(lr, owner):
    """``lr`` must be a real number >= 0 (torch: "Invalid learning rate")."""
    if _bad(lr) or lr < 0:
        err = TypeError if isinstance(lr, bool) or not isinstance(lr, numbers.Real) else ValueError
        raise err(f"Invalid learning rate: {lr!r}. The 'lr' parameter of {owner} must be a float in the range [0, inf).")
    return float(lr)


def check_nonneg(value, name, owner, label):
    """A hyperparameter that must be a real number >= 0 (momentum, weight_decay, ...)."""
    if _bad(value) or value < 0:
        err = TypeError if isinstance(value, bool) or not isinstance(value, numbers.Real) else ValueError
        raise err(f"Invalid {label} value: {value!r}. The '{name}' parameter of {owner} must be a float in the range [0, inf).")
    return float(value)


def check_unit(value, name, owner, label, *, closed_high=False):
    """A real number in [0, 1) (or [0, 1] with ``closed_high``): betas, rho, alpha."""
    hi = "]" if closed_high else ")"
    ok = not _bad(value) and 0 <= value and (value <= 1 if closed_high else value < 1)
    if not ok:
        err = TypeError if isinstance(value, bool) or not isinstance(value, numbers.Real) else ValueError
        raise err(f"Invalid {label}: {value!r}. The '{name}' parameter of {owner} must be a float in the range [0, 1{hi}.")
    return float(value)


def check_positive(value, name, owner, label):
    """A real number > 0 (eps)."""
    if _bad(value) or value <= 0:
        err = TypeError if isinstance(value, bool) or not isinstance(value, numbers.Real) else ValueError
        raise err(f"Invalid {label} value: {value!r}. The '{name}' parameter of {owner} must be a float in the range (0, inf).")
    return float(value)


def check_betas(betas, owner):
    """A pair ``(beta1, beta2)`` of reals in [0, 1) (torch: "Invalid beta parameter at index i")."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"The 'betas' parameter of {owner} must be a pair of floats in the range [0, 1). Got {betas!r} instead.")
    for i, b in enumerate(betas):
        if _bad(b) or not 0 <= b < 1:
            err = TypeError if isinstance(b, bool) or not isinstance(b, numbers.Real) else ValueError
            raise err(f"Invalid beta parameter at index {i}: {b!r}. The 'betas' parameter of {owner} "
                      f"must be a pair of floats in the range [0, 1). Got {tuple(betas)!r} instead.")
    return float(betas[0]), float(betas[1])


def check_flag(value, name, owner):
    """A bool option (amsgrad, centered, maximize); NumPy bools pass, 0/1 and strings do not."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"The '{name}' parameter of {owner} must be a bool. Got {value!r} instead.")


def check_step(step, owner):
    """The 1-based number of the update a ``*_step`` function performs."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
        err = TypeError if isinstance(step, bool) or not isinstance(step, numbers.Integral) else ValueError
        raise err(f"The 'step' parameter of {owner} must be an int in the range [1, inf). Got {step!r} instead.")
    return int(step)
