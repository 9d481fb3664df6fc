"""Mini-batches, the training loop and overfitting a small batch, for torch models:
twin of :mod:`tipslib.training.numpy_impl`.

The same three steps per mini-batch, with autograd doing step 2:
``loss = loss_fn(model(x), y)``; ``loss.backward()``; ``optimizer.step()``.
Works with any ``nn.Module`` and ``torch.optim.Optimizer``, on the device the
model lives on. Arguments are checked once, at the door.

When the model is a chain of twin layers and the loss a twin loss, ``fit``
and ``overfit_small_batch`` run steps 1 and 2 by hand, as the NumPy twin
does: each layer's autograd Function forward in order, then each backward in
reverse (:class:`tipslib._autograd.Tape`). The math and the weights are the
same bit for bit; what is skipped is autograd's graph bookkeeping, which
costs more than the math of a small network on the CPU.
"""

from __future__ import annotations

import functools
import math

import torch

from .._autograd import Tape, runs_by_hand
from .._checks import GENERATOR, IsCallable, Optional, validate_params
from ._shared import (FIT, MINIBATCHES, NUM_BATCHES, OVERFIT, Array, EpochLog, Has, History, Instance, Labels,
                      OverfitResult, accuracy_rule, check_holds, check_optimizer, diagnose, fit_data_rule,
                      gradient_ratio, is_integer_dtype, one_row_each, progress_bar)

__all__ = ["num_batches", "minibatches", "accuracy", "fit", "History", "overfit_small_batch", "OverfitResult"]

TENSOR = Array(torch.Tensor)
MODEL = Instance(torch.nn.Module, "a torch.nn.Module")
OPTIMIZER = Has("zero_grad", "step", what="a torch.optim.Optimizer")


@validate_params(NUM_BATCHES)
def num_batches(n, batch_size, drop_last=False):
    """Twin of the NumPy ``num_batches``."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


@validate_params(MINIBATCHES, one_row_each("x", "y"), x=TENSOR, y=TENSOR, generator=GENERATOR)
def minibatches(x, y, batch_size, *, shuffle=True, generator=None, drop_last=False):
    """Twin of the NumPy ``minibatches``; the permutation is drawn with ``torch.randperm``
    from ``generator`` on the CPU, then moved to the data's device."""
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(x.device)
    x, y = x[order], y[order]  # one gather per epoch; the batches are slices of it
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


@validate_params({"output": Array(torch.Tensor, ndim=2), "target": Labels(torch.Tensor)}, accuracy_rule)
def accuracy(output, target):
    """Twin of the NumPy ``accuracy``."""
    return int(torch.count_nonzero(output.argmax(dim=1) == target)) / len(target)


def _loss(loss_fn, out, y):
    """``(loss, its value as a float)``; ``(None, nan)`` when ``out`` is not finite (the weights blew up)."""
    try:
        loss = loss_fn(out, y)
    except ValueError:
        if torch.isfinite(out).all():
            raise
        return None, math.nan  # tipslib's losses refuse NaN and inf outputs: here they mean divergence
    return loss, float(loss.detach())


def _forward(model, loss_fn, chain, x, y):
    """Step 1, ``(out, loss, its value, tape)``: through autograd, or by hand along ``chain``
    (the model's twin layers, then the loss), the tape keeping what step 2 needs."""
    if chain is None:
        out = model(x)
        return (out, *_loss(loss_fn, out, y), None)
    tape, out = Tape(), x
    with torch.no_grad():
        for layer in chain[:-1]:
            out = tape.run(layer, out)
        return (out, *_loss(functools.partial(tape.run, chain[-1]), out, y), tape)


def _backward(loss, tape):
    """Step 2: autograd's ``loss.backward()``, or the same Functions' backwards by hand."""
    if tape is None:
        loss.backward()
    else:
        tape.backward(loss)


@torch.no_grad()
def _evaluate(model, loss_fn, x, y, metric, batch_size=1024):
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    # The last update of an epoch can blow the weights up: a NaN validation loss
    # (the next training step then stops the run), not an error.
    _, loss = _loss(loss_fn, out, y)
    return loss, (metric(out, y) if metric else None)


def _device_of(model, fallback):
    first = next(model.parameters(), None)
    return first.device if first is not None else fallback


@validate_params(FIT, one_row_each("x_train", "y_train"), fit_data_rule, model=MODEL, loss_fn=IsCallable(),
                 optimizer=OPTIMIZER, x_train=TENSOR, y_train=TENSOR, x_val=Optional(TENSOR),
                 y_val=Optional(TENSOR), generator=GENERATOR, penalty=Optional(IsCallable()))
def fit(model, loss_fn, optimizer, x_train, y_train, *, epochs=10, batch_size=32,
        x_val=None, y_val=None, generator=None, shuffle=True, drop_last=False,
        transform=None, penalty=None, callbacks=(), metric="auto", progress=True):
    """Twin of the NumPy ``fit``. Differences: ``generator`` instead of ``rng``;
    tensors are moved to the model's device; ``penalty(dict(model.named_parameters()))``
    returns a tensor that is added to the loss before ``backward`` (autograd
    differentiates it, so no ``grad`` method is needed)."""
    device = _device_of(model, x_train.device)
    x_train, y_train = x_train.to(device), y_train.to(device)
    if metric == "auto":
        metric = accuracy.__wrapped__ if is_integer_dtype(y_train.dtype) else None
    validate = None
    if x_val is not None:
        x_val, y_val = x_val.to(device), y_val.to(device)
        validate = lambda: _evaluate(model, loss_fn, x_val, y_val, metric)  # noqa: E731
    chain = runs_by_hand(model, loss_fn) if penalty is None else None  # a penalty needs autograd
    log = EpochLog(model, epochs, callbacks, progress, validate, has_metric=metric is not None)
    for _ in log.epochs():  # callbacks, progress bar, validation, early stopping
        model.train()
        for xb, yb in minibatches.__wrapped__(x_train, y_train, batch_size, shuffle=shuffle, generator=generator,
                                              drop_last=drop_last):
            if transform is not None:
                xb = transform(xb)
            out, loss, value, tape = _forward(model, loss_fn, chain, xb, yb)  # step 1: forward and loss
            if log.diverged(value):                       # NaN or inf: the run stops, with a warning
                break
            if penalty is not None:
                loss = loss + penalty(dict(model.named_parameters()))
            optimizer.zero_grad()
            _backward(loss, tape)                         # step 2: backpropagate
            optimizer.step()                              # step 3: update the weights
            log.step(value, len(xb), metric(out.detach(), yb) if metric else None)
    model.train()
    return log.history


def _optimizer_for(model, optimizer):
    """A ``torch.optim.Optimizer`` on ``model.parameters()``, from an instance or a factory."""
    optimizer = check_optimizer(optimizer, lambda o: isinstance(o, torch.optim.Optimizer),
                                lambda make: make(model.parameters()), "a torch.optim.Optimizer",
                                "model.parameters()")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    check_holds([k for k, p in model.named_parameters() if p.requires_grad and id(p) not in held],
                "model.parameters()")
    return optimizer


@validate_params(OVERFIT, one_row_each("x", "y"), model=MODEL, loss_fn=IsCallable(), x=TENSOR, y=TENSOR)
def overfit_small_batch(model, loss_fn, optimizer, x, y, *, n_examples=16, max_steps=500,
                        threshold=0.01, progress=True):
    """Twin of the NumPy ``overfit_small_batch`` for an ``nn.Module`` and a
    ``torch.optim.Optimizer`` (or a factory called on ``model.parameters()``).
    The batch is moved to the model's device."""
    optimizer = _optimizer_for(model, optimizer)
    n = min(n_examples, len(x))
    device = _device_of(model, x.device)
    xb, yb = x[:n].to(device), y[:n].to(device)
    classify = is_integer_dtype(yb.dtype)
    chain = runs_by_hand(model, loss_fn)

    model.train()
    losses, steps, diverged, acc, ratio = [], None, False, None, None
    for t in progress_bar(range(max_steps + 1), progress, "overfit"):
        out, loss, value, tape = _forward(model, loss_fn, chain, xb, yb)
        losses.append(value)
        if classify:
            acc = accuracy.__wrapped__(out.detach(), yb)
        if not math.isfinite(value):
            diverged = True
            break
        if value <= threshold:
            steps = t
            break
        if t == max_steps:
            break
        optimizer.zero_grad()
        _backward(loss, tape)
        if t == 0:      # how much of the last layer's gradient reaches the first one
            ratio = gradient_ratio(float(p.grad.norm()) if p.grad is not None else 0.0
                                   for p in model.parameters() if p.requires_grad and p.ndim >= 2)
        optimizer.step()
    verdict, symptom, diagnosis = diagnose(losses, threshold, steps, diverged, ratio)
    return OverfitResult(verdict=verdict, steps=steps, final_loss=losses[-1], losses=losses,
                         threshold=threshold, diagnosis=diagnosis, accuracy=acc, n_examples=n,
                         symptom=symptom, gradient_ratio=ratio)
