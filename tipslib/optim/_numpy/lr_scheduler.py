"""Learning-rate schedules: change ``optimizer.lr`` between epochs, like ``torch.optim.lr_scheduler``.

Call ``scheduler.step()`` once per epoch, after the epoch's optimizer steps.
Each schedule here is a closed form of the epoch number (``formula``); torch
computes the same values recursively from the current ``lr``.
"""

from __future__ import annotations

import math

from ..._checks import check_int, check_real
from .._shared import check_plateau, is_better, read_metric
from .base import Optimizer

__all__ = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer, owner):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"The 'optimizer' parameter of {owner} must be a tipslib NumPy optimizer "
                        f"(tipslib.optim.numpy_impl.Optimizer). Got {type(optimizer).__name__} instead.")


class _Schedule:
    """A schedule ``lr = formula(base_lr, epoch)``; epoch 0 is set on construction."""

    def __init__(self, optimizer):
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        optimizer.lr = self.formula(self.base_lr, 0)

    def formula(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set ``optimizer.lr`` for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.formula(self.base_lr, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rate now set, as a one-element list (torch gives one per param group)."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict) -> None:
        vars(self).update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.state_dict().items())})"


class StepLR(_Schedule):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    .. math:: \eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor}

    Parameters
    ----------
    optimizer : tipslib NumPy optimizer
        Its ``lr`` on construction is :math:`\eta_0`.
    step_size : int >= 1
    gamma : float > 0, default 0.1

    See Also
    --------
    torch.optim.lr_scheduler.StepLR : the same values (torch multiplies the current
        lr by ``gamma`` at each multiple of ``step_size``); no ``last_epoch`` argument.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = check_int(step_size, "step_size", "StepLR", low=1)
        self.gamma = check_real(gamma, "gamma", "StepLR", low=0, low_open=True)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Schedule):
    r"""Multiply the learning rate by ``gamma`` every epoch: the cheatsheet's exponential decay.

    .. math:: \eta_e = \eta_0\, \gamma^{e}

    See Also
    --------
    torch.optim.lr_scheduler.ExponentialLR : the same values; no ``last_epoch`` argument.
    """

    def __init__(self, optimizer, gamma):
        self.gamma = check_real(gamma, "gamma", "ExponentialLR", low=0, low_open=True)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(_Schedule):
    r"""Follow half a cosine from the initial learning rate down to ``eta_min`` over ``T_max`` epochs.

    .. math:: \eta_e = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})\,(1 + \cos(\pi e / T_{\max}))

    Past ``T_max`` the cosine goes on, so the rate climbs back (no restart; see
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` for SGDR's restarts).

    Parameters
    ----------
    optimizer : tipslib NumPy optimizer
    T_max : int >= 1
    eta_min : float >= 0, default 0

    See Also
    --------
    torch.optim.lr_scheduler.CosineAnnealingLR : the same values, computed
        recursively from the current lr; no ``last_epoch`` argument.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = check_int(T_max, "T_max", "CosineAnnealingLR", low=1)
        self.eta_min = check_real(eta_min, "eta_min", "CosineAnnealingLR", low=0)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(_Schedule):
    r"""Scale the learning rate by a factor that moves in a straight line: the usual warm-up.

    .. math:: \eta_e = \eta_0 \left(f_s + (f_e - f_s)\,\frac{\min(e, T)}{T}\right)

    With the defaults the rate starts at a third of :math:`\eta_0` and reaches
    :math:`\eta_0` after ``total_iters`` epochs (or optimizer steps, if you call
    ``step()`` after every batch, as warm-up usually does), then stays there.

    Parameters
    ----------
    optimizer : tipslib NumPy optimizer
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5

    See Also
    --------
    torch.optim.lr_scheduler.LinearLR : the same values (torch multiplies the
        current lr by the ratio of successive factors); no ``last_epoch`` argument.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        owner = "LinearLR"
        self.start_factor = check_real(start_factor, "start_factor", owner, low=0, high=1, low_open=True)
        self.end_factor = check_real(end_factor, "end_factor", owner, low=0, high=1)
        self.total_iters = check_int(total_iters, "total_iters", owner, low=1)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class ReduceLROnPlateau:
    r"""Divide the learning rate when a monitored metric stops improving.

    After each epoch call ``step(metric)``. The metric improves when it beats the
    best so far by more than ``threshold`` (``'rel'``: :math:`m < b(1 - \tau)` in
    ``'min'`` mode; ``'abs'``: :math:`m < b - \tau`). After more than ``patience``
    epochs without improvement the rate becomes :math:`\max(\eta\,f, \eta_{\min})`
    (skipped when that changes it by less than ``eps``) and the next ``cooldown``
    epochs are ignored. A NaN metric never improves, so it counts as a bad epoch.

    Parameters
    ----------
    optimizer : tipslib NumPy optimizer
    mode : {'min', 'max'}, default 'min'
    factor : float in [0, 1), default 0.1
    patience : int >= 0, default 10
    threshold : float >= 0, default 1e-4
    threshold_mode : {'rel', 'abs'}, default 'rel'
    cooldown : int >= 0, default 0
    min_lr : float >= 0, default 0
    eps : float >= 0, default 1e-8

    See Also
    --------
    torch.optim.lr_scheduler.ReduceLROnPlateau : the same rule; torch's ``min_lr``
        may be a list (one per param group), here there is one ``lr``.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        owner = "ReduceLROnPlateau"
        _check_optimizer(optimizer, owner)
        check_plateau(mode, factor, patience, threshold, threshold_mode, cooldown, eps, owner)
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.min_lr = check_real(min_lr, "min_lr", owner, low=0)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics) -> None:
        """Record this epoch's metric and lower ``optimizer.lr`` if it has stalled."""
        current = read_metric(metrics, "ReduceLROnPlateau")
        self.last_epoch += 1
        if is_better(current, self.best, self.mode, self.threshold, self.threshold_mode):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0      # epochs right after a cut do not count against the new rate
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict) -> None:
        vars(self).update(state_dict)
