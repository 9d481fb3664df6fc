"""Mini-batches and the training loop for NumPy models.

The loop is the cheatsheet's three steps, repeated for every mini-batch of every epoch:

1. forward: ``out = model.forward(x)``, ``loss = loss_fn.forward(out, y)``;
2. backward: ``model.backward(loss_fn.backward())`` fills ``model.grads``;
3. update: ``optimizer.step(model.grads)``.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from .._checks import check_bool, check_int, check_rng
from ._common import (History, call_callbacks, check_accuracy_args, check_arrays, check_fit_args, check_fit_options,
                      warn_diverged)
from ._overfit_numpy import OverfitResult, overfit_small_batch

__all__ = ["num_batches", "minibatches", "accuracy", "fit", "History", "overfit_small_batch", "OverfitResult"]


def num_batches(n, batch_size, drop_last=False):
    """How many mini-batches one epoch of ``n`` examples has."""
    n = check_int(n, "n", "num_batches", low=0)
    batch_size = check_int(batch_size, "batch_size", "num_batches", low=1)
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def minibatches(x, y, batch_size, *, shuffle=True, rng=None, drop_last=False):
    """Yield ``(x_batch, y_batch)`` pairs that together cover one epoch.

    With ``shuffle`` the order is a fresh permutation drawn from ``rng`` each
    call, so successive epochs see the examples in different orders. The last
    batch is smaller when ``batch_size`` does not divide ``len(x)``, unless
    ``drop_last`` drops it.

    See Also
    --------
    torch.utils.data.DataLoader : ``batch_size``, ``shuffle`` and ``drop_last`` mean the same.
    """
    owner = "minibatches"
    if not hasattr(x, "shape") or not hasattr(y, "shape"):
        raise TypeError(f"The 'x' and 'y' parameters of {owner} must be arrays. Got {type(x).__name__}, {type(y).__name__}.")
    if len(x) != len(y):
        raise ValueError(f"The 'y' parameter of {owner} must have one row per row of 'x' ({len(x)}). Got {len(y)} instead.")
    batch_size = check_int(batch_size, "batch_size", owner, low=1)
    check_bool(shuffle, "shuffle", owner)
    check_bool(drop_last, "drop_last", owner)
    n = len(x)
    order = check_rng(rng, owner).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def _accuracy(output, target):
    # fit calls this once per mini-batch on arrays it has checked already
    return float(np.mean(output.argmax(axis=1) == target))


def _is_array(a):
    return isinstance(a, np.ndarray)


def accuracy(output, target):
    """Fraction of rows whose largest output is the integer label in ``target``."""
    check_arrays((("output", output), ("target", target)), "an ndarray", _is_array, "accuracy")
    check_accuracy_args(output, target, np.issubdtype(target.dtype, np.integer))
    return _accuracy(output, target)


def _evaluate(model, loss_fn, x, y, metric, batch_size):
    model.eval()
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.concatenate([model.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    # The last update of an epoch can blow the weights up: report a NaN validation loss
    # (the next training step then stops the run) instead of the loss refusing NaN input.
    loss = math.nan if not np.isfinite(out).all() else float(loss_fn.forward(out, y))
    return loss, (metric(out, y) if metric else None)


def fit(model, loss_fn, optimizer, x_train, y_train, *, epochs=10, batch_size=32,
        x_val=None, y_val=None, rng=None, shuffle=True, drop_last=False,
        transform=None, penalty=None, callbacks=(), metric="auto", progress=True):
    """Train a NumPy ``model`` by mini-batch gradient descent and return its :class:`History`.

    Parameters
    ----------
    model : tipslib NumPy layer (usually a ``Sequential``)
    loss_fn : tipslib NumPy loss object (``CrossEntropyLoss()``, ...)
    optimizer : tipslib NumPy optimizer built on ``model.params``
    x_train, y_train : arrays with one row per example
    epochs : int, default 10
        Full passes over the training set.
    batch_size : int, default 32
        Examples per weight update.
    x_val, y_val : arrays, optional
        Measured after every epoch, in eval mode.
    rng : numpy.random.Generator, optional
        Shuffles the examples each epoch.
    shuffle : bool, default True
        Draw a fresh order of the examples every epoch.
    drop_last : bool, default False
        Skip the last, smaller mini-batch when ``batch_size`` does not divide the data.
    transform : callable, optional
        Applied to every training mini-batch's inputs as it is drawn: data
        augmentation on the fly, so each epoch sees new variants.
    penalty : callable, optional
        A weight penalty: ``penalty(model.params)`` gives its value and
        ``penalty.grad(model.params)`` a dict of gradients for the arrays it
        penalises, added to ``model.grads`` before the update.
    callbacks : sequence
        Objects with any of ``on_train_begin(model)``,
        ``on_epoch_end(epoch, logs, model) -> bool`` (``True`` stops training;
        ``logs`` holds ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``)
        and ``on_train_end(model)``.
    metric : callable, 'auto' or None
        ``metric(output, target) -> float``. ``'auto'`` uses :func:`accuracy`
        when the labels are integers.
    progress : bool, default True
        Show a tqdm bar over the epochs.

    See Also
    --------
    tipslib.training.torch_impl.fit : the same loop for an ``nn.Module`` and a ``torch.optim.Optimizer``
        (torch itself has no ``fit``; this is the loop people write by hand).
    """
    callbacks = list(callbacks)
    check_arrays((("x_train", x_train), ("y_train", y_train), ("x_val", x_val), ("y_val", y_val)), "an ndarray",
                 _is_array, "fit")
    check_fit_args(len(x_train), len(y_train), epochs, batch_size, drop_last, shuffle, callbacks)
    check_fit_options(x_train, x_val, y_val, transform, penalty, metric, penalty_needs_grad=True)
    if metric == "auto":
        metric = _accuracy if np.issubdtype(np.asarray(y_train).dtype, np.integer) else None
    rng = check_rng(rng, "fit")
    history = History()
    call_callbacks(callbacks, "on_train_begin", model)
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total, seen, correct = 0.0, 0, 0.0
        for xb, yb in minibatches(x_train, y_train, batch_size, shuffle=shuffle, rng=rng, drop_last=drop_last):
            if transform is not None:
                xb = transform(xb)
            # Overflow is how divergence shows; we test for it below instead of warning per op.
            with np.errstate(over="ignore", invalid="ignore"):
                out = model.forward(xb)                  # step 1: forward and loss
                # NaN or inf outputs are divergence too, but the losses refuse them: catch them first.
                loss = math.nan if not np.isfinite(out).all() else float(loss_fn.forward(out, yb))
            if not math.isfinite(loss):
                history.step_loss.append(loss)
                history.diverged = True
                break
            model.backward(loss_fn.backward())          # step 2: backpropagate
            grads = model.grads
            if penalty is not None:
                for name, g in penalty.grad(model.params).items():
                    grads[name] = grads[name] + g
            optimizer.step(grads)                       # step 3: update the weights
            history.step_loss.append(loss)
            total += loss * len(xb)
            seen += len(xb)
            if metric:
                correct += metric(out, yb) * len(xb)
        if history.diverged:
            warn_diverged(history.step_loss[-1], epoch)
            break
        logs = {"train_loss": total / seen, "train_acc": correct / seen if metric else None,
                "val_loss": None, "val_acc": None}
        if x_val is not None:
            logs["val_loss"], logs["val_acc"] = _evaluate(model, loss_fn, x_val, y_val, metric, 1024)
        history.epoch.append(epoch)
        for k, v in logs.items():
            getattr(history, k).append(v)
        bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if v is not None})
        if call_callbacks(callbacks, "on_epoch_end", epoch, logs, model):
            history.stopped_early = True
            break
    call_callbacks(callbacks, "on_train_end", model)
    model.train()
    return history
