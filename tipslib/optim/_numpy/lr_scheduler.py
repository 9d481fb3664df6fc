"""Learning-rate schedules: change ``optimizer.lr`` between epochs, like ``torch.optim.lr_scheduler``.

Call ``scheduler.step()`` once per epoch, after the epoch's optimizer steps.
Each schedule has a closed form of the epoch number (``formula``) and moves the
rate on from its current value as torch does (``next_lr``), so that schedules
stepped together compose as torch's do; both live in ``tipslib.optim._shared``
with the constructor's constraints, shared with the torch twin. This module
only says where a NumPy optimizer keeps its learning rate.
"""

from __future__ import annotations

from .._shared import CosineAnnealingRule, ExponentialRule, LinearRule, PlateauRule, StepRule
from .base import Optimizer

__all__ = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau"]


class _OneLR:
    """A NumPy optimizer has one learning rate, the attribute ``optimizer.lr``."""

    def _check_optimizer(self, optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"The 'optimizer' parameter of {type(self).__name__} must be a tipslib NumPy optimizer "
                            f"(tipslib.optim.numpy_impl.Optimizer). Got {type(optimizer).__name__} instead.")

    def _start_lrs(self) -> list[float]:
        # the first schedule's starting lr, as torch keeps "initial_lr" in the group: later ones agree on it
        if not hasattr(self.optimizer, "_initial_lr"):
            self.optimizer._initial_lr = float(self.optimizer.lr)
        return [self.optimizer._initial_lr]

    def _lrs(self) -> list[float]:
        return [self.optimizer.lr]

    def _set_lrs(self, lrs) -> None:
        (self.optimizer.lr,) = lrs


class StepLR(_OneLR, StepRule):
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
    torch.optim.lr_scheduler.StepLR : the same values, computed the same way (the current
        lr times ``gamma`` at each multiple of ``step_size``); no ``last_epoch`` argument.
    """


class ExponentialLR(_OneLR, ExponentialRule):
    r"""Multiply the learning rate by ``gamma`` every epoch: the cheatsheet's exponential decay.

    .. math:: \eta_e = \eta_0\, \gamma^{e}

    See Also
    --------
    torch.optim.lr_scheduler.ExponentialLR : the same values, computed the same way (the
        current lr times ``gamma``); no ``last_epoch`` argument. A rate that ``gamma > 1``
        grows past the largest float raises a ``ValueError`` (torch sets ``inf``).
    """


class CosineAnnealingLR(_OneLR, CosineAnnealingRule):
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
    torch.optim.lr_scheduler.CosineAnnealingLR : the same values, computed the same
        way (recursively from the current lr); no ``last_epoch`` argument.
    """


class LinearLR(_OneLR, LinearRule):
    r"""Scale the learning rate by a factor that moves in a straight line: the usual warm-up.

    .. math:: \eta_e = \eta_0 \left(f_s + (f_e - f_s)\,\frac{\min(e, T)}{T}\right)

    With the defaults the rate starts at a third of :math:`\eta_0` and reaches
    :math:`\eta_0` after ``total_iters`` epochs (or optimizer steps, if you call
    ``step()`` after every batch, as warm-up usually does), then stays there.
    The formula is ``LinearRule.formula`` in ``tipslib.optim._shared``.

    Parameters
    ----------
    optimizer : tipslib NumPy optimizer
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5

    See Also
    --------
    torch.optim.lr_scheduler.LinearLR : the same values, computed the same way (the
        current lr times the ratio of successive factors); no ``last_epoch`` argument.
    """


class ReduceLROnPlateau(_OneLR, PlateauRule):
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
