"""Shared by both twins: tolerances, declared constraints, verdicts, the report, and the nudging.

Plain Python only: the twins hand in floats, index tuples and their own arrays
(only ``.shape``, ``.dtype``, ``.reshape`` and element reads and writes are used here).
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._checks import NONNEG, POSITIVE, IsCallable, OneOf, Optional, param_of, check_choice, check_float_array

__all__ = [
    "ParameterCheck", "GradientCheck", "GradientCheckWarning",
    "TOLERANCES", "NOISE_FACTOR", "KINK_DROP", "worst_verdict", "judge",
    "METHOD", "TOLERANCE_ARGS", "NUMERICAL_GRADIENT", "RELATIVE_ERROR", "GRADIENT_CHECK", "CHECK_MODEL_GRADIENTS",
    "CHECK_LAYER_GRADIENTS", "STEP_SIZE_ERRORS", "OPTIMAL_STEP_SIZE",
    "Arrays", "ArraysOrParams", "at_least_one_array", "grads_match", "tolerances_ordered", "match_grads",
    "named_arrays", "aligned", "unpack", "precision", "settings", "unravel", "nudge", "probe", "probe_all", "is_kink",
    "start_value", "kink_warning",
]

#: Default step and verdict thresholds per floating-point type.
#:
#: ``h`` is near the best centered step, the cube root of the machine epsilon.
#: The float64 thresholds follow CS231n's rule of thumb for the relative error
#: :math:`|a - n| / \max(|a|, |n|)`, the measure ``relative_error`` computes
#: (below 1e-7 "you should be happy", above 1e-4 too high for a smooth
#: function, above 1e-2 "probably wrong"; https://cs231n.github.io/neural-networks-3/#gradcheck).
#: float32 resolves only about 3 significant digits of a centered difference,
#: so its thresholds are looser and its best verdict is 'warn'.
TOLERANCES = {
    "float64": {"h": 1e-6, "pass_tol": 1e-7, "fail_tol": 1e-4, "eps": 2.0 ** -52},
    "float32": {"h": 1e-3, "pass_tol": 1e-3, "fail_tol": 1e-2, "eps": 2.0 ** -23},
}

#: The rounding error of a centered difference is about ``eps * |f| / h``; a
#: difference between the two gradients below ``NOISE_FACTOR`` times that (``atol``)
#: is noise the check cannot resolve, whatever its relative size.
NOISE_FACTOR = 30.0

#: A suspected kink is confirmed when the error at step ``h/10`` falls below this
#: fraction of the error at ``h``. Truncation error (``~h**2``) falls by only 100;
#: a kink that the smaller step no longer crosses leaves almost nothing.
KINK_DROP = 1e-3

_RANK = {"pass": 0, "warn": 1, "fail": 2}


class GradientCheckWarning(UserWarning):
    """A gradient check whose numbers need a caveat: float32 precision, or kinks within ``±h``."""


def worst_verdict(verdicts) -> str:
    """'fail' if any failed, else 'warn' if any warned, else 'pass' (also for none)."""
    return max(verdicts, key=_RANK.__getitem__, default="pass")


@dataclass
class ParameterCheck:
    """The check of one array (one parameter of a model).

    Attributes
    ----------
    name : str
    shape : tuple
    max_rel_error : float
        Largest relative error ``|a - n| / max(|a|, |n|, atol)`` over the
        elements not explained by a kink or by rounding noise (see ``gradient_check``).
    index : tuple
        Where that largest error is, as an index into the array.
    analytic, numerical : float
        The two gradients at ``index``.
    max_abs_error : float
        Largest ``|analytic - numerical|`` over all elements.
    kinks : int
        Elements whose disagreement is explained by a kink of ``f`` within ``±h``.
    verdict : {'pass', 'warn', 'fail'}
    reason : str
        Why, in one sentence; empty for a plain pass.
    noisy : int
        Elements whose relative error is above ``pass_tol`` although ``|a - n| <= atol``:
        gradients so small that the centered difference's rounding error dominates.
        When they are more than half of the nonzero gradients (a step ``h`` far too
        small), the verdict is 'warn': the check resolved too little to pass.
    """

    name: str
    shape: tuple
    max_rel_error: float
    index: tuple
    analytic: float
    numerical: float
    max_abs_error: float
    kinks: int
    verdict: str
    reason: str = ""
    noisy: int = 0


@dataclass
class GradientCheck:
    """All the parameters' checks, with the settings they used.

    ``result.verdict`` is the worst row's verdict; ``result["0.weight"]`` is a
    row; ``result.errors["0.weight"]`` is the full error array (same shape as
    the parameter); ``print(result)`` shows the table. ``autograd_gradcheck``
    is what ``torch.autograd.gradcheck`` said on the same function (torch twin
    only; ``None`` when it was not run, with the reason in ``autograd_note``).
    """

    rows: list
    dtype: str
    h: float
    pass_tol: float
    fail_tol: float
    atol: float
    errors: dict = field(default_factory=dict, repr=False)
    autograd_gradcheck: bool | None = None
    autograd_note: str = ""

    @property
    def verdict(self) -> str:
        return worst_verdict(r.verdict for r in self.rows)

    @property
    def passed(self) -> bool:
        """True unless some parameter failed ('warn' counts as passing, with a reason)."""
        return self.verdict != "fail"

    def failed(self) -> list:
        """Names of the parameters that failed."""
        return [r.name for r in self.rows if r.verdict == "fail"]

    def __getitem__(self, name) -> ParameterCheck:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"The 'name' parameter of GradientCheck must be one of the checked parameters "
                       f"{[r.name for r in self.rows]}. Got {name!r} instead.")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def _cells(self):
        head = ("parameter", "shape", "max rel. error", "at index", "analytic", "numerical", "verdict", "why")
        body = [
            (r.name, str(tuple(r.shape)), f"{r.max_rel_error:.2e}", str(tuple(r.index)),
             f"{r.analytic:+.6e}", f"{r.numerical:+.6e}", r.verdict, r.reason)
            for r in self.rows
        ]
        return head, body

    def _footer(self) -> str:
        text = (f"{self.verdict.upper()}: {self.dtype}, h={self.h:g}, pass <= {self.pass_tol:g}, "
                f"fail > {self.fail_tol:g}; rel. error = |a - n| / max(|a|, |n|, atol), "
                f"not judged where |a - n| <= atol={self.atol:.1e} (rounding noise)")
        if self.autograd_gradcheck is not None or self.autograd_note:
            said = {True: "passed", False: "FAILED", None: "not run"}[self.autograd_gradcheck]
            text += f"; torch.autograd.gradcheck {said}"
            if self.autograd_note:
                text += f" ({self.autograd_note})"
        return text

    def table(self) -> str:
        head, body = self._cells()
        widths = [max(len(c) for c in col) for col in zip(head, *body)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        rows = [line(head), line(["-" * w for w in widths]), *(line(b) for b in body)]
        return "\n".join(rows + [self._footer()])

    def __repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        colour = {"pass": "#2e7d32", "warn": "#b26a00", "fail": "#c62828"}
        head, body = self._cells()
        th = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in head)
        trs = []
        for cells in body:
            tds = "".join(
                f"<td style='text-align:left;color:{colour[c]};font-weight:bold'>{c}</td>" if i == 6
                else f"<td style='text-align:left'>{html.escape(c)}</td>"
                for i, c in enumerate(cells))
            trs.append(f"<tr>{tds}</tr>")
        return (f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(trs)}</tbody></table>"
                f"<p><code>{html.escape(self._footer())}</code></p>")


def judge(name, shape, dtype_name, err_max, index, analytic, numerical, abs_max, kinks, pass_tol, fail_tol,
          noisy=0, nonzero=0):
    """Turn one array's numbers into a :class:`ParameterCheck` with its verdict and reason."""
    if not math.isfinite(err_max):
        verdict, reason = "fail", "a gradient is not finite"
    elif err_max > fail_tol:
        verdict = "fail"
        reason = (f"the gradients disagree at {tuple(index)}: analytic {analytic:.6g}, "
                  f"numerical {numerical:.6g}")
    elif err_max > pass_tol:
        verdict = "warn"
        reason = f"error {err_max:.1e} is above {pass_tol:g} but within {fail_tol:g}"
        if dtype_name == "float32":
            reason += "; float32 rounding may explain it, recheck in float64"
    elif kinks:
        verdict = "warn"
        reason = f"{kinks} element(s) on a kink within +-h (one-sided slopes differ, e.g. a ReLU input near 0): not a bug"
    elif dtype_name == "float32":
        verdict = "warn"
        reason = "agrees as far as float32 can tell; only a float64 check can pass"
    elif noisy > nonzero / 2:
        verdict = "warn"
        reason = (f"rounding noise hides {noisy} of the {nonzero} nonzero gradients (|a - n| <= atol): "
                  f"too few are resolved to vouch for the backward; use a step h near eps**(1/3)")
    elif noisy:
        verdict = "pass"
        reason = (f"{noisy} element(s) with small gradients differ only by rounding noise "
                  f"(|a - n| <= atol): not judged")
    else:
        verdict, reason = "pass", ""
    return ParameterCheck(name=name, shape=tuple(shape), max_rel_error=float(err_max), index=tuple(index),
                          analytic=float(analytic), numerical=float(numerical),
                          max_abs_error=float(abs_max), kinks=int(kinks), verdict=verdict, reason=reason,
                          noisy=int(noisy))


# --- constraints ---------------------------------------------------------------------------

METHOD = OneOf("centered", "forward")
TOLERANCE_ARGS = {"h": Optional(POSITIVE), "pass_tol": Optional(POSITIVE), "fail_tol": Optional(POSITIVE),
                  "atol": Optional(NONNEG)}
NUMERICAL_GRADIENT = {"f": IsCallable(), "h": POSITIVE}
RELATIVE_ERROR = {"floor": Optional(NONNEG)}
GRADIENT_CHECK = {"f": IsCallable(), **TOLERANCE_ARGS}
CHECK_MODEL_GRADIENTS = dict(TOLERANCE_ARGS)
CHECK_LAYER_GRADIENTS = dict(TOLERANCE_ARGS)
STEP_SIZE_ERRORS = {"f": IsCallable(), "df": IsCallable(), "method": METHOD}
OPTIMAL_STEP_SIZE = {"method": METHOD}


def _check_nudgeable(x, name, owner, array_type, contiguous):
    """A float32/float64 array of ``array_type`` whose elements can be nudged in place."""
    check_float_array(x, name, owner)
    if not isinstance(x, array_type):
        raise TypeError(f"{param_of(name, owner)} must be a {array_type.__module__}.{array_type.__name__}. "
                        f"Got {type(x).__name__} instead.")
    if str(x.dtype).replace("torch.", "") not in TOLERANCES:
        raise TypeError(f"{param_of(name, owner)} must be float32 or float64 (lower precision cannot resolve a "
                        f"finite difference). Got dtype {x.dtype} instead.")
    if not contiguous(x):
        raise ValueError(f"{param_of(name, owner)} must be contiguous so it can be nudged in place. "
                         f"Got an array with strides that are not.")
    if not getattr(getattr(x, "flags", None), "writeable", True):  # a NumPy array can be read-only; a tensor cannot
        raise ValueError(f"{param_of(name, owner)} must be writeable so it can be nudged in place. "
                         f"Got a read-only array instead.")


def Arrays(array_type, contiguous):
    """The ``*arrays`` of ``numerical_gradient``: nudgeable float arrays, named ``arrays[k]``."""
    def constraint(value, name, owner):
        for k, x in enumerate(value):
            _check_nudgeable(x, f"{name}[{k}]", owner, array_type, contiguous)
    return constraint


def ArraysOrParams(array_type, contiguous):
    """A dict of named arrays or a list of arrays, at least one, each nudgeable."""
    def constraint(value, name, owner):
        if not isinstance(value, (Mapping, list, tuple)):
            raise TypeError(f"{param_of(name, owner)} must be a dict of named arrays or a list of arrays. "
                            f"Got {type(value).__name__} instead.")
        if not value:
            raise ValueError(f"{param_of(name, owner)} must hold at least one array. Got none.")
        for array_name, x in zip(*named_arrays(value)):
            _check_nudgeable(x, array_name, owner, array_type, contiguous)
    return constraint


def at_least_one_array(arguments, owner):
    """A rule: ``*arrays`` is not empty."""
    if not arguments["arrays"]:
        raise ValueError(f"{param_of('arrays', owner)} must name at least one array. Got none.")


def grads_match(*, autograd=False):
    """A rule: ``analytic_grads`` gives each array a float gradient of its shape
    (or, with ``autograd``, is the string ``'autograd'``)."""
    def rule(arguments, owner):
        grads = arguments["analytic_grads"]
        if autograd and isinstance(grads, str):
            check_choice(grads, "analytic_grads", owner, ("autograd",))
            return
        names, arrays = named_arrays(arguments["arrays_or_params"])
        match_grads(names, arrays, grads, owner)
    return rule


def tolerances_ordered(arguments, owner):
    """A rule: ``pass_tol <= fail_tol``, the defaults of the arrays' precision filling in."""
    tol = TOLERANCES[precision(named_arrays(arguments["arrays_or_params"])[1])]
    pass_tol = tol["pass_tol"] if arguments["pass_tol"] is None else arguments["pass_tol"]
    fail_tol = tol["fail_tol"] if arguments["fail_tol"] is None else arguments["fail_tol"]
    if pass_tol > fail_tol:
        raise ValueError(f"{param_of('fail_tol', owner)} must be at least 'pass_tol' ({pass_tol:g}). "
                         f"Got {fail_tol:g} instead.")


def match_grads(names, arrays, analytic_grads, owner):
    """``analytic_grads`` as a list aligned with ``arrays``, each of the same shape."""
    if isinstance(analytic_grads, Mapping):
        if set(map(str, analytic_grads)) != set(names):
            raise ValueError(
                f"The 'analytic_grads' parameter of {owner} must have the keys {names}. "
                f"Got {list(analytic_grads)} instead.")
        grads = aligned(names, analytic_grads)
    elif isinstance(analytic_grads, (list, tuple)):
        grads = aligned(names, analytic_grads)
        if len(grads) != len(arrays):
            raise ValueError(
                f"The 'analytic_grads' parameter of {owner} must hold one gradient per array "
                f"({len(arrays)}). Got {len(grads)} instead.")
    else:
        raise TypeError(
            f"The 'analytic_grads' parameter of {owner} must be a dict or a list of arrays like "
            f"'arrays_or_params'. Got {type(analytic_grads).__name__} instead.")
    for name, x, g in zip(names, arrays, grads):
        check_float_array(g, f"analytic_grads[{name!r}]", owner)
        if tuple(g.shape) != tuple(x.shape):
            raise ValueError(
                f"The 'analytic_grads' parameter of {owner} must give '{name}' a gradient of its "
                f"shape {tuple(x.shape)}. Got {tuple(g.shape)} instead.")
    return grads


# --- what both twins do with plain numbers ---------------------------------------------------


def named_arrays(arrays_or_params):
    """``(names, arrays)``: the dict's keys, or ``arrays[k]`` for a list."""
    if isinstance(arrays_or_params, Mapping):
        return [str(k) for k in arrays_or_params.keys()], list(arrays_or_params.values())
    arrays = list(arrays_or_params)
    return [f"arrays[{k}]" for k in range(len(arrays))], arrays


def aligned(names, analytic_grads):
    """The gradients as a list in the order of ``names`` (a dict's keys may come in any order)."""
    if isinstance(analytic_grads, Mapping):
        by_name = {str(k): g for k, g in analytic_grads.items()}
        return [by_name[n] for n in names]
    return list(analytic_grads)


def unpack(f, arrays_or_params):
    """Names, arrays and a zero-argument call of ``f`` for either calling convention:
    a dict's ``f`` closes over its arrays, a list's takes them as arguments."""
    names, arrays = named_arrays(arrays_or_params)
    call = f if isinstance(arrays_or_params, Mapping) else (lambda: f(*arrays))
    return names, arrays, call


def precision(arrays):
    """'float32' if any array is float32, else 'float64'."""
    return "float32" if any(str(x.dtype).replace("torch.", "") == "float32" for x in arrays) else "float64"


def settings(precision, h, pass_tol, fail_tol, owner):
    """The step and thresholds: the caller's, or the defaults for ``precision``.
    Warns when the check runs in float32."""
    tol = TOLERANCES[precision]
    h = tol["h"] if h is None else float(h)
    pass_tol = tol["pass_tol"] if pass_tol is None else float(pass_tol)
    fail_tol = tol["fail_tol"] if fail_tol is None else float(fail_tol)
    if precision == "float32":
        warnings.warn(
            f"{owner} runs in float32: rounding limits a centered difference to about 3 significant "
            f"digits, so the thresholds are loosened (pass <= {pass_tol:g}, fail > {fail_tol:g}) and "
            f"the best verdict is 'warn'. Cast the model and data to float64 for a strict check.",
            GradientCheckWarning, stacklevel=4)
    return h, pass_tol, fail_tol


def unravel(i, shape):
    """The index into an array of ``shape`` of its flat (C-order) element ``i``."""
    index = []
    for n in reversed(tuple(shape)):
        index.append(i % n)
        i //= n
    return tuple(reversed(index))


def nudge(call, flat, i, h, scalar, owner, read):
    r"""``f`` with the flat element ``i`` moved to :math:`x_i + h`, then :math:`x_i - h`; restored after.

    Returns ``(f_plus, f_minus, up, down)``: the two values of ``f`` and the steps
    actually taken. In low precision ``x + h`` rounds, so dividing by the stored
    step ``up + down`` instead of ``2h`` removes that part of the rounding error.
    ``read(flat, i)`` gives the element as a value (not a view) and ``scalar``
    turns ``f``'s result into a float.
    """
    old = read(flat, i)
    try:
        flat[i] = old + h
        up = float(flat[i]) - float(old)
        f_plus = scalar(call(), owner)
        flat[i] = old - h
        down = float(old) - float(flat[i])
        f_minus = scalar(call(), owner)
    finally:
        flat[i] = old
    return f_plus, f_minus, up, down


def probe(call, x, flat, i, h, name, scalar, owner, read):
    """:func:`nudge`, refusing a step too small to move the element at all."""
    f_plus, f_minus, up, down = nudge(call, flat, i, h, scalar, owner, read)
    if up + down == 0:
        raise ValueError(
            f"The 'h' parameter of {owner} must be large enough to change '{name}' in {x.dtype}: x + h and "
            f"x - h round to x = {float(read(flat, i))!r} at index {unravel(i, x.shape)}. Got {h!r} instead.")
    return f_plus, f_minus, up, down


def probe_all(call, arrays, names, h, scalar, owner, read):
    """:func:`probe` every element of every array: per array, four lists
    ``(f_plus, f_minus, up, down)`` of plain floats."""
    out = []
    for name, x in zip(names, arrays):
        flat = x.reshape(-1)
        values = [probe(call, x, flat, i, h, name, scalar, owner, read) for i in range(flat.shape[0])]
        out.append(tuple([v[k] for v in values] for k in range(4)))
    return out


def is_kink(call, flat, i, h, f0, analytic, numeric, jump, scalar, owner, read):
    """Whether the disagreement at element ``i`` comes from a kink of ``f`` within ``±h``.

    Near a kink the slopes on the two sides differ by a ``jump`` that does not
    shrink with ``h``; the analytic gradient is one of them and the centered
    difference their mean. A suspect is confirmed by probing again with ``h/10``:
    either the jump stays (the kink is still inside the step) or the error
    vanishes (the smaller step no longer crosses it: a drop by more than
    ``1 / KINK_DROP``, where the truncation error of a large ``h`` at a smooth
    point falls by only 100). A wrong backward at a smooth point does neither.
    """
    fp, fm, up, down = nudge(call, flat, i, h / 10, scalar, owner, read)
    if up == 0 or down == 0:
        return False
    jump2 = abs((fp - f0) / up - (f0 - fm) / down)
    scale = max(abs(analytic), abs(numeric), 1e-300)
    err2 = abs(analytic - (fp - fm) / (up + down)) / scale
    raw = abs(analytic - numeric) / scale
    return jump2 >= 0.5 * jump or err2 <= KINK_DROP * raw


def start_value(call, scalar, owner):
    """``f`` at the unperturbed point, called twice to make sure it is a function."""
    f0, again = scalar(call(), owner), scalar(call(), owner)
    if not math.isfinite(f0):
        raise ValueError(f"The 'f' parameter of {owner} must return a finite value at the given point. Got {f0!r} instead.")
    if f0 != again:
        raise ValueError(
            f"The 'f' parameter of {owner} must be deterministic (put Dropout and other random layers in "
            f"eval mode, or fix their mask, before checking gradients). Got {f0!r}, then {again!r} at the "
            f"same point instead.")
    return f0


def kink_warning(owner, name, count, first, h):
    warnings.warn(
        f"{owner}: {count} element(s) of '{name}' (first at {first}) sit on a kink of f within "
        f"+-h={h:g}: the one-sided slopes differ, as at a ReLU input near 0, so the centered "
        f"difference averages them. They are left out of the verdict.",
        GradientCheckWarning, stacklevel=4)
