"""Overfitting a small batch for torch models: twin of :mod:`tipslib.training._overfit_numpy`.

The result record and the reading of the loss curve are shared with the NumPy twin
through :mod:`tipslib.training._overfit_common` (plain Python).
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from ._overfit_common import OverfitResult, check_overfit_args, diagnose, gradient_ratio

__all__ = ["overfit_small_batch", "OverfitResult"]


def _optimizer_for(model, optimizer, owner):
    if not isinstance(optimizer, torch.optim.Optimizer):
        if not callable(optimizer):
            raise TypeError(
                f"The 'optimizer' parameter of {owner} must be a torch.optim.Optimizer or a factory "
                f"such as lambda params: torch.optim.SGD(params, lr=0.1). Got {optimizer!r} instead.")
        optimizer = optimizer(model.parameters())
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"The 'optimizer' parameter of {owner} must return a torch.optim.Optimizer when "
                f"called on model.parameters(). Got {type(optimizer).__name__} instead.")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    loose = [k for k, p in model.named_parameters() if p.requires_grad and id(p) not in held]
    if loose:
        raise ValueError(
            f"The 'optimizer' parameter of {owner} must update the model's parameters. It does "
            f"not hold {loose}; build it on model.parameters().")
    return optimizer


def overfit_small_batch(model, loss_fn, optimizer, x, y, *, n_examples=16, max_steps=500,
                        threshold=0.01, progress=True):
    """Twin of the NumPy ``overfit_small_batch`` for an ``nn.Module`` and a
    ``torch.optim.Optimizer`` (or a factory called on ``model.parameters()``).
    The batch is moved to the model's device."""
    owner = "overfit_small_batch"
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"The 'model' parameter of {owner} must be a torch.nn.Module. Got {type(model).__name__} instead.")
    if not callable(loss_fn):
        raise TypeError(f"The 'loss_fn' parameter of {owner} must be callable. Got {loss_fn!r} instead.")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"The 'x' and 'y' parameters of {owner} must be tensors. Got {type(x).__name__}, {type(y).__name__}.")
    n, max_steps, threshold = check_overfit_args(n_examples, max_steps, threshold, progress, len(x), len(y))
    optimizer = _optimizer_for(model, optimizer, owner)
    first = next(model.parameters(), None)
    device = first.device if first is not None else x.device
    xb, yb = x[:n].to(device), y[:n].to(device)
    classify = not (yb.dtype.is_floating_point or yb.dtype.is_complex)

    model.train()
    losses, steps, diverged, accuracy, ratio = [], None, False, None, None
    for t in tqdm(range(max_steps + 1), desc="overfit", disable=not progress, leave=False):
        out = model(xb)
        # NaN or inf outputs are divergence too, but the losses refuse them: catch them first.
        if not torch.isfinite(out).all():
            value = math.nan
        else:
            loss = loss_fn(out, yb)
            value = float(loss.detach())
        losses.append(value)
        if classify:
            accuracy = float((out.detach().argmax(dim=1) == yb).double().mean())
        if not math.isfinite(value):
            diverged = True
            break
        if value <= threshold:
            steps = t
            break
        if t == max_steps:
            break
        optimizer.zero_grad()
        loss.backward()
        if t == 0:      # how much of the last layer's gradient reaches the first one
            ratio = gradient_ratio(float(p.grad.norm()) if p.grad is not None else 0.0
                                   for p in model.parameters() if p.requires_grad and p.ndim >= 2)
        optimizer.step()
    verdict, symptom, diagnosis = diagnose(losses, threshold, steps, diverged, ratio)
    return OverfitResult(verdict=verdict, steps=steps, final_loss=losses[-1], losses=losses,
                         threshold=threshold, diagnosis=diagnosis, accuracy=accuracy, n_examples=n,
                         symptom=symptom, gradient_ratio=ratio)
