"""Learning-rate schedules on ``param_groups``, torch twins of ``tipslib.optim._numpy.lr_scheduler``.

Hand-written closed forms; they drive any ``torch.optim.Optimizer`` (ours or torch's).
"""

from __future__ import annotations

import math

import torch

from ..._checks import check_int, check_real
from .._shared import check_plateau, is_better, read_metric

__all__ = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer, owner):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"The 'optimizer' parameter of {owner} must be a torch.optim.Optimizer. "
                        f"Got {type(optimizer).__name__} instead.")


class _Schedule:
    """Twin of the NumPy base: ``group['lr'] = formula(group['initial_lr'], epoch)`` for every group."""

    def __init__(self, optimizer):
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        # torch keeps the starting lr in the group, so schedulers built later agree on it
        self.base_lrs = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def formula(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def _apply(self):
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.formula(base_lr, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Move to the next epoch and set every group's ``lr`` for it."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict) -> None:
        vars(self).update(state_dict)


class StepLR(_Schedule):
    """Twin of the NumPy ``StepLR``. Differences from torch's: closed form, no ``last_epoch``."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = check_int(step_size, "step_size", "StepLR", low=1)
        self.gamma = check_real(gamma, "gamma", "StepLR", low=0, low_open=True)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Schedule):
    """Twin of the NumPy ``ExponentialLR``. Differences from torch's: closed form, no ``last_epoch``."""

    def __init__(self, optimizer, gamma):
        self.gamma = check_real(gamma, "gamma", "ExponentialLR", low=0, low_open=True)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(_Schedule):
    """Twin of the NumPy ``CosineAnnealingLR``. Differences from torch's: closed form, no ``last_epoch``."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = check_int(T_max, "T_max", "CosineAnnealingLR", low=1)
        self.eta_min = check_real(eta_min, "eta_min", "CosineAnnealingLR", low=0)
        super().__init__(optimizer)

    def formula(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(_Schedule):
    """Twin of the NumPy ``LinearLR``. Differences from torch's: closed form, no ``last_epoch``."""

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
    """Twin of the NumPy ``ReduceLROnPlateau`` over every param group.
    Difference: ``min_lr`` may also be a list with one value per group, as in torch."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        owner = "ReduceLROnPlateau"
        _check_optimizer(optimizer, owner)
        check_plateau(mode, factor, patience, threshold, threshold_mode, cooldown, eps, owner)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"The 'min_lr' parameter of {owner} must have one value per param group ({n}). "
                                 f"Got {len(min_lr)} instead.")
            self.min_lrs = [check_real(m, "min_lr", owner, low=0) for m in min_lr]
        else:
            self.min_lrs = [check_real(min_lr, "min_lr", owner, low=0)] * n
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number or a 0-d tensor) and lower the rates if it has stalled."""
        current = read_metric(metrics, "ReduceLROnPlateau")
        self.last_epoch += 1
        if is_better(current, self.best, self.mode, self.threshold, self.threshold_mode):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict) -> None:
        vars(self).update(state_dict)
