"""Argument checks shared by the NumPy and torch twins.

Every public function of tipslib validates its arguments early and fails with
a message that names the parameter, the allowed values and what it received,
in the style of scikit-learn::

    The 'p' parameter of Dropout must be a float in the range [0, 1). Got 1.5 instead.

Only plain Python values and duck-typed arrays (``.shape``, ``.ndim``) are
inspected here, so this module imports neither NumPy nor torch.

Constraints are declared once per topic, in its ``_shared.py``, and checked at
the door by :func:`validate_params` (in the spirit of scikit-learn's
``_parameter_constraints``)::

    ADAM = {"lr": LR, "betas": BETAS, "eps": POSITIVE, "weight_decay": NONNEG, ...}

    @validate_params(ADAM, step=Int(low=1))
    def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, ...):
        ...  # only the math

The function's body stays the formula. Code that has already validated the
hyperparameters once (an optimizer's constructor) calls the bare function,
``adam_step.__wrapped__``, in its hot loop.
"""

from __future__ import annotations

import math
import numbers
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "param_of",
    "check_real",
    "check_lr",
    "check_int",
    "check_bool",
    "check_choice",
    "check_ndim",
    "check_float_array",
    "check_same_shape",
    "check_callable",
    "check_rng",
    "check_generator",
    "validate_params",
    "Real",
    "Int",
    "Bool",
    "OneOf",
    "Optional",
    "FloatArray",
    "IsCallable",
    "OwnArrays",
    "LR",
    "NONNEG",
    "POSITIVE",
    "UNIT",
    "BOOL",
    "RNG",
    "GENERATOR",
]


def param_of(name: str, owner: str | None) -> str:
    """The start of every message: "The 'lr' parameter of Adam" (or of nothing named)."""
    return f"The '{name}' parameter of {owner}" if owner else f"The '{name}' parameter"


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    left = "(" if low is None or low_open else "["
    right = ")" if high is None or high_open else "]"
    lo = "-inf" if low is None else _fmt(low)
    hi = "inf" if high is None else _fmt(high)
    return f"{left}{lo}, {hi}{right}"


def _fmt(v) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _in_range(v, low, high, low_open, high_open) -> bool:
    if low is not None and (v < low or (low_open and v == low)):
        return False
    if high is not None and (v > high or (high_open and v == high)):
        return False
    return True


def check_real(
    value: Any,
    name: str,
    owner: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real in range.

    ``low_open``/``high_open`` make the interval open on that side. NaN and
    infinity are always rejected: either silently poisons every later step.
    """
    where = param_of(name, owner)
    rng = _interval(low, high, low_open, high_open)
    # bool is an int subclass, but lr=True is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be a float in the range {rng}. Got {value!r} instead.")
    v = float(value)
    if not math.isfinite(v) or not _in_range(v, low, high, low_open, high_open):
        raise ValueError(f"{where} must be a float in the range {rng}. Got {value!r} instead.")
    return v


def check_lr(lr: Any, owner: str | None = None) -> float:
    """The learning rate: a finite float >= 0 (one definition for every topic)."""
    return check_real(lr, "lr", owner, low=0)


def check_int(
    value: Any,
    name: str,
    owner: str | None = None,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """Return ``value`` as an int after checking it is an integer in ``[low, high]``."""
    where = param_of(name, owner)
    rng = _interval(low, high, False, False)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where} must be an int in the range {rng}. Got {value!r} instead.")
    v = int(value)
    if not _in_range(v, low, high, False, False):
        raise ValueError(f"{where} must be an int in the range {rng}. Got {value!r} instead.")
    return v


def check_bool(value: Any, name: str, owner: str | None = None) -> bool:
    """Return ``value`` after checking it is a bool (NumPy bools included)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{param_of(name, owner)} must be a bool. Got {value!r} instead.")


def check_choice(value: Any, name: str, owner: str | None, choices: Iterable) -> Any:
    """Return ``value`` after checking it is one of ``choices``."""
    choices = tuple(choices)
    if not any(type(value) is type(c) and value == c for c in choices):  # type first: an array == c is an array
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{param_of(name, owner)} must be one of {{{options}}}. Got {value!r} instead.")
    return value


def check_ndim(x: Any, name: str, owner: str | None, ndim: int | Iterable[int]) -> None:
    """Check that the array ``x`` has ``ndim`` dimensions (or one of several)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    got = getattr(x, "ndim", None)
    if got is None:
        raise TypeError(f"{param_of(name, owner)} must be an array. Got {type(x).__name__} instead.")
    if got not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(
            f"{param_of(name, owner)} must be a {want} array. Got shape {tuple(x.shape)} instead."
        )


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str, owner: str | None = None) -> None:
    """Check that two arrays have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{param_of(name_b, owner)} must have the same shape as '{name_a}' "
            f"{tuple(a.shape)}. Got {tuple(b.shape)} instead."
        )


def check_callable(value: Any, name: str, owner: str | None = None) -> Any:
    """Check that ``value`` can be called."""
    if not callable(value):
        raise TypeError(f"{param_of(name, owner)} must be callable. Got {value!r} instead.")
    return value


def check_float_array(x: Any, name: str, owner: str | None = None, ndim=None) -> None:
    """Check that ``x`` is a floating-point array (NumPy or torch), optionally of ``ndim``.

    Integer arrays are refused rather than cast: gradients of integers are
    meaningless and a silent cast hides a bug in the caller's data pipeline.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise TypeError(
            f"{param_of(name, owner)} must be a floating-point array. Got {type(x).__name__} instead."
        )
    floating = getattr(dtype, "is_floating_point", None)  # torch.dtype
    if floating is None:
        floating = getattr(dtype, "kind", "") == "f"  # numpy.dtype
    if not floating:
        raise TypeError(
            f"{param_of(name, owner)} must be a floating-point array. Got dtype {dtype} instead."
        )
    if ndim is not None:
        check_ndim(x, name, owner, ndim)


def check_rng(rng: Any, owner: str | None = None, name: str = "rng"):
    """Return ``rng`` if it is a ``numpy.random.Generator``; a fresh, unseeded one for ``None``.

    Randomness always enters through this argument: the library never seeds
    or draws from NumPy's global state.
    """
    import numpy as np  # only the NumPy twins have an rng

    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{param_of(name, owner)} must be a numpy.random.Generator. Got {rng!r} instead.")
    return rng


def check_generator(generator: Any, owner: str | None = None, name: str = "generator"):
    """Return ``generator`` if it is ``None`` or a ``torch.Generator``; the torch twins'
    counterpart of :func:`check_rng` (``None`` means torch's default generator)."""
    import torch  # only the torch twins have a generator

    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{param_of(name, owner)} must be a torch.Generator. Got {generator!r} instead.")
    return generator


# --- declared constraints ------------------------------------------------------------------
#
# A constraint is a callable ``(value, name, owner) -> value`` that raises the
# message above when ``value`` is not allowed. The factories below build them
# from the checks of this module, so a declaration reads like its rule.


def Real(low=None, high=None, *, low_open=False, high_open=False) -> Callable:
    """A finite real in the interval (closed unless ``low_open``/``high_open``)."""
    return functools.partial(_real, low=low, high=high, low_open=low_open, high_open=high_open)


def _real(value, name, owner, **interval):
    return check_real(value, name, owner, **interval)


def Int(low=None, high=None) -> Callable:
    """An integer in ``[low, high]`` (bools refused)."""
    return functools.partial(_int, low=low, high=high)


def _int(value, name, owner, **bounds):
    return check_int(value, name, owner, **bounds)


def Bool() -> Callable:
    """A bool (NumPy's included)."""
    return check_bool


def OneOf(*choices) -> Callable:
    """One of ``choices``, of the same type (``1`` is not ``True``)."""
    return lambda value, name, owner: check_choice(value, name, owner, choices)


def Optional(constraint: Callable) -> Callable:
    """``None``, or a value ``constraint`` allows."""
    return lambda value, name, owner: None if value is None else constraint(value, name, owner)


def FloatArray(ndim=None) -> Callable:
    """A floating-point NumPy array or torch tensor, of ``ndim`` dimensions when given."""
    return lambda value, name, owner: check_float_array(value, name, owner, ndim=ndim)


def IsCallable() -> Callable:
    """Anything that can be called."""
    return check_callable


def OwnArrays(kind: str, is_own: Callable, names: Iterable[str], *, none_passes: bool = False) -> Callable:
    """A rule: the array arguments ``names`` are the twin's own (``kind`` names them in the error,
    ``is_own(a)`` recognises them). The other twin's array passes the floating-point checks, then
    fails deep inside the math, or (NumPy's operators taking a tensor) comes back as the other
    twin's type. With ``none_passes``, ``None`` (an optional array left out) passes too."""
    names = tuple(names)

    def rule(args, owner):
        for name in names:
            value = args.get(name)
            if not (value is None and none_passes) and not is_own(value):
                raise TypeError(f"The '{name}' parameter of {owner} must be {kind}. "
                                f"Got {type(value).__name__} instead.")

    return rule


LR = Real(low=0)
NONNEG = Real(low=0)
POSITIVE = Real(low=0, low_open=True)
UNIT = Real(low=0, high=1, high_open=True)
BOOL = Bool()
RNG = lambda value, name, owner: check_rng(value, owner, name)  # noqa: E731
GENERATOR = lambda value, name, owner: check_generator(value, owner, name)  # noqa: E731


def validate_params(constraints: Mapping[str, Callable] | None = None, *rules: Callable, **more: Callable):
    """Decorate a function so that its arguments meet ``constraints`` before its body runs.

    ``constraints`` maps a parameter name to a constraint (further dicts among
    ``rules`` and the keywords ``more`` add to it, so topic-wide declarations
    combine and extend per function). Only the
    arguments the caller passed are checked: the defaults are known to be good.
    Each ``rule(arguments, owner)`` then sees all arguments, defaults filled in,
    for what ties several together ("nesterov needs momentum > 0").

    The error names the function, or the class for a method (``Adam``, not
    ``Adam.__init__``, and the subclass a user built). The undecorated function
    stays reachable as ``__wrapped__`` for code that validated once already.
    """
    table = {**(constraints or {})}
    checks = []
    for rule in rules:  # more declarations may come before the rules: they are merged in order
        if isinstance(rule, Mapping):
            table.update(rule)
        elif callable(rule):
            checks.append(rule)
        else:
            raise TypeError(f"validate_params: a rule must be callable or a dict of constraints. Got {rule!r} instead.")
    table.update(more)
    rules = tuple(checks)

    def decorate(fn):
        signature = inspect.signature(fn)
        unknown = set(table) - set(signature.parameters)
        if unknown:  # a typo in a declaration would otherwise check nothing, silently
            raise TypeError(f"validate_params: {fn.__qualname__} has no parameter(s) {sorted(unknown)}")
        is_method = next(iter(signature.parameters), None) == "self"
        name = fn.__name__

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            owner = type(args[0]).__name__ if is_method and args else name
            for param, value in bound.arguments.items():
                constraint = table.get(param)
                if constraint is not None:
                    constraint(value, param, owner)
            if rules:
                bound.apply_defaults()
                for rule in rules:
                    rule(bound.arguments, owner)
            return fn(*args, **kwargs)

        checked.constraints = table
        return checked

    return decorate
