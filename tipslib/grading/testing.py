"""What exercise test cells call: ``expect``, ``hidden_seed`` and ``depends_on``.

In a student's own kernel (``tipslib check``, nbgrader, a plain run) ``expect``
compares and raises ``AssertionError`` with a message that helps.

Under the grader nothing that decides a score is in the student's process:
the judge strips the ``expected`` argument and the ``hints`` of every
``expect`` call (and whatever test code only computed them) from the test
cells before they are sent into the student's sandbox, so there ``expect``
can only *record* the student's own ``actual`` as plain data. The expected
values and the hints come from a separate run of the instructor's solution,
and the judge compares, in its own process. Patching ``expect``, the recorder,
NumPy or builtins can therefore only make the student's own results wrong.

Hidden tests draw their random inputs from :func:`hidden_seed`, which the
grader changes on every grading run (the same seed for the reference run and
every student), so knowing the hidden test code does not give its inputs.

Writing a test cell for the grader:

- pass expected values and hints only through ``expect`` (directly, or through
  a helper's parameter that only feeds them): that is what gets stripped;
- a line that only computes an expected value must not draw from a random
  generator the student's inputs also come from (the grader checks that the
  stripped and the full tests record the same values, and refuses to grade
  otherwise);
- in the hidden block, seed with ``hidden_seed(k)`` (a different ``k`` per
  generator), and make every check hold for any seed: the instructor's
  solution must meet the test's own expected values on every grading run;
- ``depends_on("numerical_gradient")`` in a test that calls an earlier part's
  function makes its feedback point at that part when both fail.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["expect", "hidden_seed", "depends_on"]

#: Replaced by the grader's recorder inside a sandboxed run; ``None`` means "compare here".
_RECORDER = None
#: The grader's seed for this grading run; ``None`` outside the grader.
_SEED = None


def hidden_seed(k: int = 0) -> int:
    """Seed for the random inputs of a hidden test: ``k`` locally, a per-run value under the grader.

    Parameters
    ----------
    k : int
        Tells the seeds of one notebook apart (and is the seed in a plain run).
    """
    if type(k) is not int or k < 0:
        raise ValueError(f"The 'k' parameter of hidden_seed must be a non-negative int. Got {k!r} instead.")
    if _SEED is None:
        return k
    return int.from_bytes(hashlib.sha256(f"{_SEED}:{k}".encode()).digest()[:4], "little")


def depends_on(*parts: str) -> None:
    """Declare that the test cell calls the answers of earlier parts (e.g. ``"numerical_gradient"``).

    Does nothing when run; the judge reads it so the feedback of a failing test
    can point at the earlier part it builds on.
    """


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
    if isinstance(e, bool) and isinstance(a, np.ndarray) and a.shape == () and a in (0.0, 1.0):
        return bool(a) == e  # a torch bool scalar
    return a == e


def expect(name, actual, expected=None, *, rtol=1e-7, atol=1e-9, hints=None):
    """Check one result of a student's function.

    Parameters
    ----------
    name : str
        Shown in feedback: what was checked ("bce on a batch of 4").
    actual : the student's result (number, array, tensor, tuple or dict of those)
    expected : the right result, compared locally. The grader removes it from
        the test code it runs with a submission and uses what the instructor's
        solution gave for the same call instead.
    hints : dict[str, value], optional
        Known-wrong results and the mistake each one reveals, e.g.
        ``{"eps is inside the square root": adam_eps_inside(...)}``.
    """
    if _RECORDER is not None:
        _RECORDER(name, actual, expected, rtol=rtol, atol=atol, hints=hints)
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
