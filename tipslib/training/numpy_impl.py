"""Mini-batches, the training loop and overfitting a small batch, for NumPy models.

The loop is the cheatsheet's three steps, repeated for every mini-batch of every epoch:

1. forward: ``out = model.forward(x)``, ``loss = loss_fn.forward(out, y)``;
2. backward: ``model.backward(loss_fn.backward())`` fills ``model.grads``;
3. update: ``optimizer.step(model.grads)``.

Arguments are checked once, at the door (constraints declared in
:mod:`tipslib.training._shared`); the loop itself only trains.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import RNG, Optional, validate_params
from ._shared import (FIT, MINIBATCHES, NUM_BATCHES, OVERFIT, Array, EpochLog, Has, History, Labels, OverfitResult,
                      accuracy_rule, check_holds, check_optimizer, diagnose, fit_data_rule, gradient_ratio,
                      is_integer_dtype, one_row_each, progress_bar)

__all__ = ["num_batches", "minibatches", "accuracy", "fit", "History", "overfit_small_batch", "OverfitResult"]

ARRAY = Array(np.ndarray)
MODEL = Has("forward", "backward", "params", "grads", "train", what="a tipslib NumPy layer")
LOSS = Has("forward", "backward", what="a tipslib NumPy loss object")
OPTIMIZER = Has("step", what="a tipslib NumPy optimizer")
PENALTY = Optional(Has("__call__", "grad", what="a callable with a grad method (L1, L2, ElasticNet) or None"))


@validate_params(NUM_BATCHES)
def num_batches(n, batch_size, drop_last=False):
    r"""How many mini-batches one epoch of ``n`` examples has.

    .. math::

        \lceil n / B \rceil, \quad \text{or } \lfloor n / B \rfloor \text{ with drop\_last}

    with :math:`B` = ``batch_size``; ``drop_last`` defaults to False.

    See Also
    --------
    torch.utils.data.DataLoader : ``len(loader)`` is the same count.
    """
    return n // batch_size if drop_last else math.ceil(n / batch_size)


@validate_params(MINIBATCHES, one_row_each("x", "y"), x=ARRAY, y=ARRAY, rng=RNG)
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
    n = len(x)
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    x, y = x[order], y[order]  # one gather per epoch; the batches are slices of it
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


@validate_params({"output": Array(np.ndarray, ndim=2), "target": Labels(np.ndarray)}, accuracy_rule)
def accuracy(output, target):
    r"""Fraction of rows whose largest output is the integer label in ``target``.

    .. math::

        \mathrm{acc} = \frac{1}{N} \sum_{n=1}^{N} \big[\arg\max_c \mathrm{output}_{nc} = y_n\big]

    ``output`` is (N, C) (logits or probabilities), ``target`` (N,) integers; a tie
    goes to the first largest class. Returns a float in [0, 1].

    See Also
    --------
    torch.argmax : ``(output.argmax(1) == target).float().mean()`` is the same
        (ties also go to the first); torch has no accuracy function.
    """
    return float(np.mean(output.argmax(axis=1) == target))


def _loss(loss_fn, out, y):
    """The loss of ``out`` as a float; NaN when ``out`` is not finite (the weights blew up)."""
    try:
        return float(loss_fn.forward(out, y))
    except ValueError:
        if np.isfinite(out).all():
            raise
        return math.nan  # tipslib's losses refuse NaN and inf outputs: here they mean divergence


def _evaluate(model, loss_fn, x, y, metric, batch_size=1024):
    model.eval()
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.concatenate([model.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        # The last update of an epoch can blow the weights up: a NaN validation loss
        # (the next training step then stops the run), not an error.
        loss = _loss(loss_fn, out, y)
    return loss, (metric(out, y) if metric else None)


@validate_params(FIT, one_row_each("x_train", "y_train"), fit_data_rule, model=MODEL, loss_fn=LOSS,
                 optimizer=OPTIMIZER, x_train=ARRAY, y_train=ARRAY, x_val=Optional(ARRAY), y_val=Optional(ARRAY),
                 rng=RNG, penalty=PENALTY)
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
    callbacks : list
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
    rng = np.random.default_rng(rng)
    if metric == "auto":
        metric = accuracy.__wrapped__ if is_integer_dtype(y_train.dtype) else None
    validate = None if x_val is None else (lambda: _evaluate(model, loss_fn, x_val, y_val, metric))
    log = EpochLog(model, epochs, callbacks, progress, validate, has_metric=metric is not None)
    for _ in log.epochs():  # callbacks, progress bar, validation, early stopping
        model.train()
        for xb, yb in minibatches.__wrapped__(x_train, y_train, batch_size, shuffle=shuffle, rng=rng,
                                              drop_last=drop_last):
            if transform is not None:
                xb = transform(xb)
            # Overflow is how divergence shows; log.diverged tests the loss instead of a warning per op.
            with np.errstate(over="ignore", invalid="ignore"):
                out = model.forward(xb)                 # step 1: forward and loss
                loss = _loss(loss_fn, out, yb)
            if log.diverged(loss):                      # NaN or inf: the run stops, with a warning
                break
            model.backward(loss_fn.backward())          # step 2: backpropagate
            grads = model.grads
            if penalty is not None:
                for name, g in penalty.grad(model.params).items():
                    grads[name] = grads[name] + g
            optimizer.step(grads)                       # step 3: update the weights
            log.step(loss, len(xb), metric(out, yb) if metric else None)
    model.train()
    return log.history


# --- overfitting a small batch -------------------------------------------------------------
#
# A model that is wired correctly and large enough drives the training loss on
# a handful of examples to almost zero. If it cannot, something is wrong before
# any tuning matters: a backward with a bug, a learning rate far off, or an
# architecture without the capacity to fit even these few points.


def _optimizer_for(model, optimizer):
    """An optimizer instance on ``model.params``, from an instance or a factory."""
    from ..optim.numpy_impl import Optimizer

    optimizer = check_optimizer(optimizer, lambda o: isinstance(o, Optimizer), lambda make: make(model.params),
                                "a tipslib NumPy optimizer", "model.params")
    held = {id(p) for p in optimizer.params}
    check_holds([k for k, p in model.params.items() if id(p) not in held], "model.params")
    return optimizer


@validate_params(OVERFIT, one_row_each("x", "y"), model=MODEL, loss_fn=LOSS, x=ARRAY, y=ARRAY)
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
    optimizer = _optimizer_for(model, optimizer)
    n = min(n_examples, len(x))
    xb, yb = x[:n], y[:n]
    classify = is_integer_dtype(yb.dtype)

    model.train()
    losses, steps, diverged, acc, ratio = [], None, False, None, None
    for t in progress_bar(range(max_steps + 1), progress, "overfit"):
        # Overflow is how divergence shows; the curve reports it instead of a warning per op.
        with np.errstate(over="ignore", invalid="ignore"):
            out = model.forward(xb)
            loss = _loss(loss_fn, out, yb)
        losses.append(loss)
        if classify:
            acc = accuracy.__wrapped__(out, yb)
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
                         threshold=threshold, diagnosis=diagnosis, accuracy=acc, n_examples=n,
                         symptom=symptom, gradient_ratio=ratio)
