"""Claims are code: a sentence that states what an experiment shows is checked when it runs.

A chapter states a result ("augmentation improves validation accuracy on turned digits") and,
right under the experiment, calls :func:`claim` with the measured numbers. The call prints one
line a reader can check by eye and raises :class:`ClaimFailed` when the result does not hold,
so nbval fails the moment a change makes the text untrue::

    acc = {"plain": [0.81, 0.83, 0.80], "augmented": [0.88, 0.87, 0.90]}
    claim(clearly_greater(acc["augmented"], acc["plain"]),
          "augmentation improves accuracy on turned digits", **acc)
    # ✓ augmentation improves accuracy on turned digits — plain 0.813 ± 0.015, augmented 0.883 ± 0.015

Effects that depend on randomness are measured over several seeds from :func:`seeds`. The
environment variable ``TIPSLIB_SEED_SET`` shifts every seed a notebook asks for to another,
disjoint set, so a test can re-run the chapters and catch a claim that held by luck.
"""

from __future__ import annotations

import os
from numbers import Real

import numpy as np

__all__ = ["ClaimFailed", "claim", "clearly_greater", "mean_spread", "seed_set", "seeds"]

SEED_SET_ENV = "TIPSLIB_SEED_SET"
_SEEDS_PER_SET = 1000


class ClaimFailed(AssertionError):
    """A sentence of the course is not what its experiment measured."""


def seed_set() -> int:
    """The seed set in force: 0 unless the environment variable ``TIPSLIB_SEED_SET`` says otherwise."""
    raw = os.environ.get(SEED_SET_ENV, "0")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"The environment variable {SEED_SET_ENV} must be a non-negative integer. "
                         f"Got {raw!r} instead.") from None
    if value < 0:
        raise ValueError(f"The environment variable {SEED_SET_ENV} must be a non-negative integer. "
                         f"Got {value} instead.")
    return value


def seeds(n: int, start: int = 0) -> list[int]:
    """``n`` seeds for repeating an experiment, disjoint between seed sets.

    Seed set 0 (the default) gives ``start, start+1, ..., start+n-1``; seed set ``k`` adds
    ``1000 * k``, so re-running a notebook with ``TIPSLIB_SEED_SET=1`` repeats every experiment
    on seeds it has never used.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"The 'n' parameter of seeds must be an int >= 1. Got {n!r} instead.")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < _SEEDS_PER_SET - n + 1:
        raise ValueError(f"The 'start' parameter of seeds must be an int in the range "
                         f"[0, {_SEEDS_PER_SET - n}] for n={n}. Got {start!r} instead.")
    offset = _SEEDS_PER_SET * seed_set()
    return [offset + start + i for i in range(n)]


def mean_spread(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of repeated measurements."""
    a = np.asarray(values, dtype=float).ravel()
    if a.size == 0:
        raise ValueError("The 'values' parameter of mean_spread must hold at least one number. Got none.")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def clearly_greater(a, b, margin: float = 0.0) -> bool:
    """True when mean(a) beats mean(b) by more than ``margin`` plus both spreads.

    ``a`` and ``b`` are repeated measurements (one per seed). A difference smaller than the
    seed-to-seed spread is not evidence, so it does not count.
    """
    (ma, sa), (mb, sb) = mean_spread(a), mean_spread(b)
    return ma - mb > margin + sa + sb


def _show(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (Real, np.number)):
        return f"{float(value):.3g}"
    if isinstance(value, str):
        return value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return repr(value)
    if arr.ndim == 0:
        return f"{float(arr):.3g}"
    m, s = mean_spread(arr)
    return f"{m:.3g} ± {s:.2g}" if arr.size > 1 else f"{m:.3g}"


def claim(holds, statement: str, **measured) -> None:
    """Print ``statement`` with the numbers behind it; raise :class:`ClaimFailed` if it is false.

    Parameters
    ----------
    holds : bool
        The result of the comparison that makes the statement true.
    statement : str
        The sentence of the text, in a few words.
    **measured
        The numbers a reader needs to judge it. Arrays (one value per seed) print as mean ± spread.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError(f"The 'statement' parameter of claim must be a non-empty str. Got {statement!r} instead.")
    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"The 'holds' parameter of claim must be a bool (the result of a comparison). "
                        f"Got {type(holds).__name__} instead.")
    numbers = ", ".join(f"{name.replace('_', ' ')} {_show(v)}" for name, v in measured.items())
    line = f"{'✓' if holds else '✗'} {statement}" + (f" — {numbers}" if numbers else "")
    print(line)
    if not holds:
        raise ClaimFailed(f"The text says '{statement}', but the experiment measured: {numbers or 'otherwise'}.")
