"""Overfitting a small batch: the cheatsheet's first test of a new model, for NumPy models.

A model that is wired correctly and large enough drives the training loss on
a handful of examples to almost zero. If it cannot, something is wrong before
any tuning matters: a backward with a bug, a learning rate far off, or an
architecture without the capacity to fit even these few points.

:class:`OverfitResult`, :func:`diagnose` and the argument checks are plain Python
and live in :mod:`tipslib.training._overfit_common`, shared with the torch twin.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from ._overfit_common import OverfitResult, check_overfit_args, diagnose, gradient_ratio

__all__ = ["overfit_small_batch", "OverfitResult"]


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
    (learning rate too small), flat above the threshold (too little capacity);
    the gradients of the first step tell a model too deep to train (the first
    weight matrix's gradient far smaller than the last one's: vanishing).

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
    n, max_steps, threshold, optimizer = _overfit_args(model, loss_fn, optimizer, x, y, n_examples,
                                                       max_steps, threshold, progress)
    xb, yb = x[:n], y[:n]
    classify = np.issubdtype(np.asarray(yb).dtype, np.integer)

    model.train()
    losses, steps, diverged, accuracy, ratio = [], None, False, None, None
    for t in tqdm(range(max_steps + 1), desc="overfit", disable=not progress, leave=False):
        # Overflow is how divergence shows; the curve reports it instead of a warning per op.
        with np.errstate(over="ignore", invalid="ignore"):
            out = model.forward(xb)
            # NaN or inf outputs are divergence too, but the losses refuse them: catch them first.
            loss = math.nan if not np.isfinite(out).all() else float(loss_fn.forward(out, yb))
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
        if t == 0:      # how much of the last layer's gradient reaches the first one
            ratio = gradient_ratio(np.linalg.norm(g) for k, g in model.grads.items() if model.params[k].ndim >= 2)
        optimizer.step(model.grads)
    verdict, symptom, diagnosis = diagnose(losses, threshold, steps, diverged, ratio)
    return OverfitResult(verdict=verdict, steps=steps, final_loss=losses[-1], losses=losses,
                         threshold=threshold, diagnosis=diagnosis, accuracy=accuracy, n_examples=n,
                         symptom=symptom, gradient_ratio=ratio)


def _overfit_args(model, loss_fn, optimizer, x, y, n_examples, max_steps, threshold, progress):
    """Checked at the door: ``(n, max_steps, threshold, optimizer instance)``."""
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
    return n, max_steps, threshold, _optimizer_for(model, optimizer, owner)
