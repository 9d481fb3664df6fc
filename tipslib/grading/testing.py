"""What exercise test cells call: ``expect(name, actual, expected, ...)``.

In a student's own kernel (``tipslib check``, nbgrader, a plain run) ``expect``
compares and raises ``AssertionError`` with a message that helps. Under the
grader the same call only *records* ``actual`` as plain data; the judge
compares it, in its own process, with what the instructor's solution produced
for the same call. So nothing a submission does to ``expect``, NumPy or the
expected values can change its grade.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expect"]

#: Replaced by the grader's recorder inside a sandboxed run; ``None`` means "compare here".
_RECORDER = None


def _as_plain(value):
    """Turn a value into nested lists/floats/arrays that compare the same everywhere."""
    if isinstance(value, dict):
        return {str(k): _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float) if not isinstance(value, (str, bool, type(None))) else value


def matches(actual, expected, rtol=1e-7, atol=1e-9) -> bool:
    """True when ``actual`` equals ``expected`` (nested, numeric, within tolerance)."""
    a, e = _as_plain(actual), _as_plain(expected)
    if isinstance(e, dict):
        return isinstance(a, dict) and a.keys() == e.keys() and all(matches(a[k], e[k], rtol, atol) for k in e)
    if isinstance(e, list):
        return isinstance(a, list) and len(a) == len(e) and all(matches(x, y, rtol, atol) for x, y in zip(a, e))
    if isinstance(e, np.ndarray):
        return isinstance(a, np.ndarray) and a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=False))
    return a == e


def expect(name, actual, expected=None, *, rtol=1e-7, atol=1e-9, hints=None):
    """Check one result of a student's function.

    Parameters
    ----------
    name : str
        Shown in feedback: what was checked ("bce on a batch of 4").
    actual : the student's result (number, array, tensor, tuple or dict of those)
    expected : the right result, compared locally; ignored under the grader,
        which uses the instructor solution's ``actual`` instead.
    hints : dict[str, value], optional
        Known-wrong results and the mistake each one reveals, e.g.
        ``{"eps is inside the square root": adam_eps_inside(...)}``.
    """
    if _RECORDER is not None:
        _RECORDER(name, actual, rtol=rtol, atol=atol, hints=hints)
        return
    if matches(actual, expected, rtol, atol):
        return
    for mistake, wrong in (hints or {}).items():
        if matches(actual, wrong, rtol, atol):
            raise AssertionError(f"{name}: wrong result. Hint: {mistake}.")
    a, e = _as_plain(actual), _as_plain(expected)
    if isinstance(e, np.ndarray) and isinstance(a, np.ndarray) and a.shape != e.shape:
        raise AssertionError(f"{name}: expected shape {e.shape}, got shape {a.shape}.")
    raise AssertionError(f"{name}: expected {e!r}, got {a!r}.")
