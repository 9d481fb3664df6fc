"""Mini-batches and the training loop for torch models: twin of :mod:`tipslib.training.numpy_impl`.

The same three steps per mini-batch, with autograd doing step 2:
``loss = loss_fn(model(x), y)``; ``loss.backward()``; ``optimizer.step()``.
Works with any ``nn.Module`` and ``torch.optim.Optimizer``, on the device the
model lives on.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from .._checks import check_bool, check_generator, check_int
from ._common import (History, call_callbacks, check_accuracy_args, check_arrays, check_fit_args, check_fit_options,
                      warn_diverged)
from ._overfit_torch import OverfitResult, overfit_small_batch

__all__ = ["num_batches", "minibatches", "accuracy", "fit", "History", "overfit_small_batch", "OverfitResult"]


def num_batches(n, batch_size, drop_last=False):
    """Twin of the NumPy ``num_batches``."""
    n = check_int(n, "n", "num_batches", low=0)
    batch_size = check_int(batch_size, "batch_size", "num_batches", low=1)
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def minibatches(x, y, batch_size, *, shuffle=True, generator=None, drop_last=False):
    """Twin of the NumPy ``minibatches``; the permutation is drawn with ``torch.randperm``
    from ``generator`` on the CPU, then moved to the data's device."""
    owner = "minibatches"
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"The 'x' and 'y' parameters of {owner} must be tensors. Got {type(x).__name__}, {type(y).__name__}.")
    if len(x) != len(y):
        raise ValueError(f"The 'y' parameter of {owner} must have one row per row of 'x' ({len(x)}). Got {len(y)} instead.")
    batch_size = check_int(batch_size, "batch_size", owner, low=1)
    check_bool(shuffle, "shuffle", owner)
    check_bool(drop_last, "drop_last", owner)
    check_generator(generator, owner)
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(x.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def _accuracy(output, target):
    # fit calls this once per mini-batch on arrays it has checked already
    return float((output.argmax(dim=1) == target).double().mean())


def _is_tensor(a):
    return isinstance(a, torch.Tensor)


def accuracy(output, target):
    """Twin of the NumPy ``accuracy``."""
    check_arrays((("output", output), ("target", target)), "a torch.Tensor", _is_tensor, "accuracy")
    check_accuracy_args(output, target, not target.dtype.is_floating_point and target.dtype != torch.bool)
    return _accuracy(output, target)


@torch.no_grad()
def _evaluate(model, loss_fn, x, y, metric, batch_size):
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    # The last update of an epoch can blow the weights up: report a NaN validation loss
    # (the next training step then stops the run) instead of the loss refusing NaN input.
    loss = math.nan if not torch.isfinite(out).all() else float(loss_fn(out, y))
    return loss, (metric(out, y) if metric else None)


def fit(model, loss_fn, optimizer, x_train, y_train, *, epochs=10, batch_size=32,
        x_val=None, y_val=None, generator=None, shuffle=True, drop_last=False,
        transform=None, penalty=None, callbacks=(), metric="auto", progress=True):
    """Twin of the NumPy ``fit``. Differences: ``generator`` instead of ``rng``;
    tensors are moved to the model's device; ``penalty(dict(model.named_parameters()))``
    returns a tensor that is added to the loss before ``backward`` (autograd
    differentiates it, so no ``grad`` method is needed)."""
    callbacks = list(callbacks)
    check_arrays((("x_train", x_train), ("y_train", y_train), ("x_val", x_val), ("y_val", y_val)), "a torch.Tensor",
                 _is_tensor, "fit")
    check_fit_args(len(x_train), len(y_train), epochs, batch_size, drop_last, shuffle, callbacks)
    check_fit_options(x_train, x_val, y_val, transform, penalty, metric, penalty_needs_grad=False)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    x_train, y_train = x_train.to(device), y_train.to(device)
    if x_val is not None:
        x_val, y_val = x_val.to(device), y_val.to(device)
    if metric == "auto":
        metric = _accuracy if not y_train.dtype.is_floating_point else None
    history = History()
    call_callbacks(callbacks, "on_train_begin", model)
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total, seen, correct = 0.0, 0, 0.0
        for xb, yb in minibatches(x_train, y_train, batch_size, shuffle=shuffle,
                                  generator=generator, drop_last=drop_last):
            if transform is not None:
                xb = transform(xb)
            out = model(xb)                               # step 1: forward and loss
            # NaN or inf outputs are divergence too, but the losses refuse them: catch them first.
            if not torch.isfinite(out).all():
                value = math.nan
            else:
                loss = loss_fn(out, yb)
                value = float(loss.detach())
            if not math.isfinite(value):
                history.step_loss.append(value)
                history.diverged = True
                break
            if penalty is not None:
                loss = loss + penalty(dict(model.named_parameters()))
            optimizer.zero_grad()
            loss.backward()                               # step 2: backpropagate
            optimizer.step()                              # step 3: update the weights
            history.step_loss.append(value)
            total += value * len(xb)
            seen += len(xb)
            if metric:
                correct += metric(out.detach(), yb) * len(xb)
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
