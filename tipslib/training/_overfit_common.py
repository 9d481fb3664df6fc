"""Backend-free parts of ``overfit_small_batch``, shared by both twins.

The result record, the reading of a loss curve and the argument checks are
plain Python, so the NumPy and torch twins import them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._checks import check_bool, check_int, check_real

__all__ = ["OverfitResult", "diagnose", "check_overfit_args"]


@dataclass
class OverfitResult:
    """What :func:`overfit_small_batch` saw.

    Attributes
    ----------
    verdict : {'pass', 'fail'}
        'pass' when the loss reached ``threshold``.
    steps : int or None
        Updates made before the loss first reached ``threshold`` (``None`` if it never did).
    final_loss : float
        The last loss measured.
    losses : list of float
        The loss before each update, then after the last one (``len = updates + 1``).
    threshold : float
    diagnosis : str
        One or two sentences: what the curve suggests and what to try.
    accuracy : float or None
        Fraction of the batch classified right at the last measurement
        (integer labels only).
    n_examples : int
        Size of the batch that was fitted.
    """

    verdict: str
    steps: int | None
    final_loss: float
    losses: list = field(repr=False)
    threshold: float
    diagnosis: str
    accuracy: float | None = None
    n_examples: int = 0

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.0%}"
        return (f"OverfitResult({self.verdict.upper()}: loss {self.losses[0]:.4g} -> {self.final_loss:.4g} "
                f"in {len(self.losses) - 1} steps on {self.n_examples} examples{acc})\n  {self.diagnosis}")

    def plot(self, ax=None, label=None):
        """The loss curve on a log scale with the threshold; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.gca()
        finite = [v if math.isfinite(v) else float("nan") for v in self.losses]
        ax.semilogy(range(len(finite)), finite, label=label or self.verdict)
        ax.axhline(self.threshold, color="0.5", ls="--", lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss on the batch")
        return ax


def diagnose(losses, threshold, steps, diverged):
    """Read a loss curve: ``(verdict, diagnosis)``.

    The rules, in order: the loss reached the threshold (pass); it stopped
    being finite; it ended above where it began; it bounced far above its
    best; it is still falling at close to its first pace (over 100+ steps and
    less than halved: the learning rate is too small; otherwise: more steps);
    it flattened out well above the threshold (capacity).
    """
    n_updates = len(losses) - 1
    first, last = losses[0], losses[-1]
    if steps is not None:
        return "pass", (f"The loss reached {last:.3g} <= {threshold:g} after {steps} steps: the model "
                        f"can fit these examples, so its wiring and learning rate are plausible.")
    if diverged:
        return "fail", (f"The loss became {last} at step {n_updates}: the updates blow up. The learning "
                        f"rate is far too large, or a backward has the wrong sign or scale (run a gradient check).")
    best = min(losses)
    if last > first * 1.05:
        return "fail", (f"The loss rose from {first:.3g} to {last:.3g}: the updates climb instead of "
                        f"descending. Look for a sign error in a backward (run a gradient check), or a "
                        f"learning rate so large that each step overshoots.")
    if last > 2 * best + 1e-12 and best < first:
        return "fail", (f"The loss bounces: its best was {best:.3g}, it ends at {last:.3g}. The learning "
                        f"rate is probably too large; halve it.")
    window = max(1, n_updates // 10)
    early = (losses[0] - losses[window]) / window
    late = (losses[-1 - window] - losses[-1]) / window
    drop = (first - last) / first if first > 0 else 0.0
    if early > 0 and late > 0.5 * early:
        if drop < 0.5 and n_updates >= 100:
            return "fail", (f"The loss falls steadily but far too slowly ({first:.3g} -> {last:.3g}, "
                            f"-{drop:.1%} in {n_updates} steps): the learning rate is probably far too "
                            f"small. Raise it tenfold and retry.")
        return "fail", (f"The loss was still falling when the {n_updates} steps ran out ({first:.3g} -> "
                        f"{last:.3g} > {threshold:g}): give it more steps or a larger learning rate.")
    return "fail", (f"The loss flattened out at {last:.3g}, far above {threshold:g}, although it was "
                    f"falling ({first:.3g} at first): the model lacks the capacity to fit even these "
                    f"examples (too few units or layers, or no non-linearity), or a bug caps it.")


def check_overfit_args(n_examples, max_steps, threshold, progress, n_rows, n_labels):
    """Shared by both twins: validated ``(n_examples, max_steps, threshold)``."""
    owner = "overfit_small_batch"
    n_examples = check_int(n_examples, "n_examples", owner, low=1)
    max_steps = check_int(max_steps, "max_steps", owner, low=1)
    threshold = check_real(threshold, "threshold", owner, low=0, low_open=True)
    check_bool(progress, "progress", owner)
    if n_rows != n_labels:
        raise ValueError(f"The 'y' parameter of {owner} must have one label per row of 'x' ({n_rows}). Got {n_labels} instead.")
    if n_rows == 0:
        raise ValueError(f"The 'x' parameter of {owner} must hold at least one example. Got 0 instead.")
    return min(n_examples, n_rows), max_steps, threshold
