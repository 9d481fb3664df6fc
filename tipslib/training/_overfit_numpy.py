"""Overfitting a small batch: the cheatsheet's first test of a new model, for NumPy models.

A model that is wired correctly and large enough drives the training loss on
a handful of examples to almost zero. If it cannot, something is wrong before
any tuning matters: a backward with a bug, a learning rate far off, or an
architecture without the capacity to fit even these few points.

:class:`OverfitResult` and :func:`diagnose` are plain Python and shared with
the torch twin (:mod:`tipslib.training._overfit_torch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .._checks import check_bool, check_int, check_real

__all__ = ["overfit_small_batch", "OverfitResult"]


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


def _optimizer_for(model, optimizer, owner):
    """An optimizer instance on ``model.params``, from an instance or a factory."""
    from ..optim.numpy_impl import Optimizer

    if not isinstance(optimizer, Optimizer):
        if not callable(optimizer):
            raise TypeError(
                f"The 'optimizer' parameter of {owner} must be a tipslib NumPy optimizer or a "
                f"factory such as lambda params: SGD(params, lr=0.1). Got {optimizer!r} instead.")
        optimizer = optimizer(model.params)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"The 'optimizer' parameter of {owner} must return a tipslib NumPy optimizer when "
                f"called on model.params. Got {type(optimizer).__name__} instead.")
    held = {id(p) for p in optimizer.params}
    loose = [k for k, p in model.params.items() if id(p) not in held]
    if loose:
        raise ValueError(
            f"The 'optimizer' parameter of {owner} must update the model's parameters. It does "
            f"not hold {loose}; build it on model.params.")
    return optimizer


def overfit_small_batch(model, loss_fn, optimizer, x, y, *, n_examples=16, max_steps=500,
                        threshold=0.01, progress=True):
    r"""Train ``model`` on its first few examples until the loss is (almost) zero, or give up.

    Full-batch gradient descent on ``x[:n_examples]``: the same batch every
    step, so the curve is smooth and the only question is whether the model
    can fit it.

    .. math::

        \text{pass} \iff \min_{t \le T} L(\theta_t;\ x_{1:n}, y_{1:n}) \le \text{threshold}

    A fail comes with a diagnosis read from the curve (see :func:`diagnose`):
    diverged or rising (sign error, learning rate too large), steady but slow
    (learning rate too small), flat above the threshold (too little capacity).

    Parameters
    ----------
    model : tipslib NumPy layer
        Trained in place, in training mode: turn off dropout and weight
        penalties for this test, they fight the very overfitting it looks for.
    loss_fn : tipslib NumPy loss object
    optimizer : tipslib NumPy optimizer on ``model.params``, or a factory
        ``lambda params: Adam(params, lr=1e-2)`` called on ``model.params``.
    x, y : arrays with one row per example
    n_examples : int, default 16
        Rows taken from the start of ``x`` and ``y``.
    max_steps : int, default 500
        Updates before giving up.
    threshold : float, default 0.01
        Loss that counts as fitted.
    progress : bool, default True
        Show a tqdm bar over the steps.

    Returns
    -------
    OverfitResult

    See Also
    --------
    tipslib.training.torch_impl.overfit_small_batch : the twin for ``nn.Module``\ s.
    """
    owner = "overfit_small_batch"
    for attr in ("forward", "backward", "params", "grads"):
        if not hasattr(model, attr):
            raise TypeError(f"The 'model' parameter of {owner} must be a tipslib NumPy layer. Got {type(model).__name__} instead.")
    for attr in ("forward", "backward"):
        if not hasattr(loss_fn, attr):
            raise TypeError(f"The 'loss_fn' parameter of {owner} must be a tipslib NumPy loss object. Got {type(loss_fn).__name__} instead.")
    if not hasattr(x, "shape") or not hasattr(y, "shape"):
        raise TypeError(f"The 'x' and 'y' parameters of {owner} must be arrays. Got {type(x).__name__}, {type(y).__name__}.")
    n, max_steps, threshold = check_overfit_args(n_examples, max_steps, threshold, progress, len(x), len(y))
    optimizer = _optimizer_for(model, optimizer, owner)
    xb, yb = x[:n], y[:n]
    classify = np.issubdtype(np.asarray(yb).dtype, np.integer)

    model.train()
    losses, steps, diverged, accuracy = [], None, False, None
    for t in tqdm(range(max_steps + 1), desc="overfit", disable=not progress, leave=False):
        out = model.forward(xb)
        loss = float(loss_fn.forward(out, yb))
        losses.append(loss)
        if classify:
            accuracy = float(np.mean(out.argmax(axis=1) == yb))
        if not math.isfinite(loss):
            diverged = True
            break
        if loss <= threshold:
            steps = t
            break
        if t == max_steps:
            break
        model.backward(loss_fn.backward())
        optimizer.step(model.grads)
    verdict, diagnosis = diagnose(losses, threshold, steps, diverged)
    return OverfitResult(verdict=verdict, steps=steps, final_loss=losses[-1], losses=losses,
                         threshold=threshold, diagnosis=diagnosis, accuracy=accuracy, n_examples=n)
