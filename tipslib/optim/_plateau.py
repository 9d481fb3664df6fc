"""Backend-free parts of ``ReduceLROnPlateau``, shared by both twins.

The argument checks, the reading of the monitored metric and the rule for
"better" act on plain Python floats, so they live here rather than in either
twin (the torch twin must not import NumPy reference code).
"""

from __future__ import annotations

from .._checks import check_choice, check_int, check_real


def _check_plateau(mode, factor, patience, threshold, threshold_mode, cooldown, eps, owner):
    check_choice(mode, "mode", owner, ("min", "max"))
    check_real(factor, "factor", owner, low=0, high=1, high_open=True)
    check_int(patience, "patience", owner, low=0)
    check_real(threshold, "threshold", owner, low=0)
    check_choice(threshold_mode, "threshold_mode", owner, ("rel", "abs"))
    check_int(cooldown, "cooldown", owner, low=0)
    check_real(eps, "eps", owner, low=0)


def _metric(metrics, owner):
    try:
        return float(metrics)
    except (TypeError, ValueError):
        raise TypeError(f"The 'metrics' parameter of {owner}.step must be a real number. "
                        f"Got {metrics!r} instead.") from None


def _is_better(a, best, mode, threshold, threshold_mode):
    """``a`` beats ``best`` by more than ``threshold`` (relative or absolute)."""
    if mode == "min":
        return a < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
    return a > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
