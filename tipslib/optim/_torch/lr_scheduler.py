"""Learning-rate schedules on ``param_groups``, torch twins of the NumPy ones.

The rules (constraints, closed forms, torch's recursions, the plateau rule) are the NumPy twin's,
from ``tipslib.optim._shared``; this module only says where a
``torch.optim.Optimizer`` keeps its learning rates, so the schedules drive any
of them (ours or torch's).
"""

from __future__ import annotations

import torch

from .._shared import CosineAnnealingRule, ExponentialRule, LinearRule, PlateauRule, StepRule

__all__ = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau"]


class _GroupLRs:
    """One learning rate per param group, ``group['lr']``."""

    def _check_optimizer(self, optimizer) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"The 'optimizer' parameter of {type(self).__name__} must be a torch.optim.Optimizer. "
                            f"Got {type(optimizer).__name__} instead.")

    def _start_lrs(self) -> list[float]:
        # torch keeps the starting lr in the group, so schedulers built later agree on it
        return [group.setdefault("initial_lr", group["lr"]) for group in self.optimizer.param_groups]

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _set_lrs(self, lrs) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr


class StepLR(_GroupLRs, StepRule):
    """Twin of the NumPy ``StepLR``. Difference from torch's: no ``last_epoch``."""


class ExponentialLR(_GroupLRs, ExponentialRule):
    """Twin of the NumPy ``ExponentialLR``. Differences from torch's: no ``last_epoch``; a rate grown past
    the largest float raises ``ValueError`` (torch sets ``inf``)."""


class CosineAnnealingLR(_GroupLRs, CosineAnnealingRule):
    """Twin of the NumPy ``CosineAnnealingLR``. Difference from torch's: no ``last_epoch``."""


class LinearLR(_GroupLRs, LinearRule):
    """Twin of the NumPy ``LinearLR``. Difference from torch's: no ``last_epoch``."""


class ReduceLROnPlateau(_GroupLRs, PlateauRule):
    """Twin of the NumPy ``ReduceLROnPlateau`` over every param group.
    Difference: ``min_lr`` may also be a list with one value per group, as in torch."""
