"""Backend-free parts of ``overfit_small_batch``, shared by both twins.

The result record, the reading of a loss curve and the argument checks are
plain Python, so the NumPy and torch twins import them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._checks import check_bool, check_int, check_real

__all__ = ["OverfitResult", "diagnose", "check_overfit_args", "gradient_ratio", "VANISHING"]

#: A first layer whose weight gradient is this many times smaller than the last layer's
#: barely moves: below it, a stalled loss is read as vanishing gradients.
VANISHING = 1e-3


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
    symptom : str
        The diagnosis in one word, for code: 'fitted', 'diverged', 'rising', 'bouncing',
        'vanishing', 'slow', 'unfinished' or 'flat' (see :func:`diagnose`).
    gradient_ratio : float or None
        At the first step, the norm of the first weight matrix's gradient divided by the
        last one's (``None`` with fewer than three weight matrices): far below 1, the
        gradients vanish on their way back to the input.
    """

    verdict: str
    steps: int | None
    final_loss: float
    losses: list = field(repr=False)
    threshold: float
    diagnosis: str
    accuracy: float | None = None
    n_examples: int = 0
    symptom: str = ""
    gradient_ratio: float | None = None

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


def diagnose(losses, threshold, steps, diverged, gradient_ratio=None):
    """Read a loss curve: ``(verdict, symptom, diagnosis)``.

    The rules, in order: the loss reached the threshold (pass, 'fitted'); it
    stopped being finite ('diverged'); it ended above where it began
    ('rising'); it bounced far above its best ('bouncing'); the first weight
    matrix's gradient was under ``VANISHING`` times the last one's
    (``gradient_ratio``, 'vanishing': too deep or badly scaled to train); it is
    still falling at close to its first pace (over 100+ steps and less than
    halved: 'slow', the learning rate is too small; otherwise 'unfinished':
    more steps); it flattened out well above the threshold ('flat': capacity).
    """
    n_updates = len(losses) - 1
    first, last = losses[0], losses[-1]
    if steps is not None:
        return "pass", "fitted", (f"The loss reached {last:.3g} <= {threshold:g} after {steps} steps: the model "
                                  f"can fit these examples, so its wiring and learning rate are plausible.")
    if diverged:
        return "fail", "diverged", (
            f"The loss became {last} at step {n_updates}: the updates blow up. The learning rate is far "
            f"too large, a backward has the wrong sign or scale (run a gradient check), or a deep "
            f"network starts with weights so large that its activations explode.")
    best = min(losses)
    if last > first * 1.05:
        return "fail", "rising", (
            f"The loss rose from {first:.3g} to {last:.3g}: the updates climb instead of descending. "
            f"Look for a sign error in a backward (run a gradient check), a learning rate so large "
            f"that each step overshoots, or, in a deep network, initial weights far too large.")
    if last > 2 * best + 1e-12 and best < first:
        return "fail", "bouncing", (f"The loss bounces: its best was {best:.3g}, it ends at {last:.3g}. "
                                    f"The learning rate is probably too large; halve it.")
    if gradient_ratio is not None and gradient_ratio < VANISHING:
        return "fail", "vanishing", (
            f"The loss stalled at {last:.3g} ({first:.3g} at first) and the first layer's weight gradient "
            f"was {gradient_ratio:.1e} times the last layer's: the gradients vanish on their way back, so "
            f"the early layers never learn. The model is too deep, or badly scaled (weights too small, "
            f"saturating sigmoid/tanh), to train: use fewer layers, ReLU with He initialization, batch "
            f"norm or skip connections.")
    window = max(1, n_updates // 10)
    early = (losses[0] - losses[window]) / window
    late = (losses[-1 - window] - losses[-1]) / window
    drop = (first - last) / first if first > 0 else 0.0
    if early > 0 and late > 0.5 * early:
        if drop < 0.5 and n_updates >= 100:
            return "fail", "slow", (f"The loss falls steadily but far too slowly ({first:.3g} -> {last:.3g}, "
                                    f"-{drop:.1%} in {n_updates} steps): the learning rate is probably far too "
                                    f"small. Raise it tenfold and retry.")
        return "fail", "unfinished", (f"The loss was still falling when the {n_updates} steps ran out ({first:.3g} -> "
                                      f"{last:.3g} > {threshold:g}): give it more steps or a larger learning rate.")
    return "fail", "flat", (f"The loss flattened out at {last:.3g}, far above {threshold:g}, although it was "
                            f"falling ({first:.3g} at first): the model lacks the capacity to fit even these "
                            f"examples (too few units or layers, or no non-linearity), or a bug caps it.")


def gradient_ratio(norms):
    """First over last of the weight matrices' gradient norms (input to output), or ``None``
    with fewer than three of them (gradients vanish through depth; in a one-hidden-layer net
    a small ratio only means a saturated unit) or a last one of zero."""
    norms = [float(v) for v in norms]
    if len(norms) < 3 or not norms[-1] > 0 or not all(math.isfinite(v) for v in norms):
        return None
    return norms[0] / norms[-1]


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
