"""Adagrad, exactly torch's algorithm (learning-rate decay, eps outside the square root)."""

from __future__ import annotations

import numpy as np

from ..._checks import validate_params
from .._shared import ADAGRAD_HYPER, ADAGRAD_INIT, STEP, eps_survives_dtype
from .base import NDARRAYS, Optimizer

__all__ = ["adagrad_step", "Adagrad"]


@validate_params(ADAGRAD_HYPER, NDARRAYS, eps_survives_dtype, step=STEP)
def adagrad_step(param, grad, state_sum, step, *, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 maximize=False):
    r"""One Adagrad update of ``param`` and ``state_sum``, in place.

    .. math::

        g_t &= \pm\nabla_\theta L + \lambda\,\theta \\
        \tilde\eta_t &= \eta / (1 + (t - 1)\,\delta) \\
        S_t &= S_{t-1} + g_t^2 \\
        \theta_t &= \theta_{t-1} - \tilde\eta_t\, g_t / (\sqrt{S_t} + \epsilon)

    with learning rate :math:`\eta` (``lr``), decay :math:`\delta` (``lr_decay``)
    and weight decay :math:`\lambda`. Every weight's step shrinks as its squared
    gradients pile up (Duchi et al., 2011), so rarely-updated weights keep larger steps.

    Parameters
    ----------
    param, grad, state_sum : ndarray of one shape
        ``state_sum`` (:math:`S`) starts at ``initial_accumulator_value``.
    step : int
        The number :math:`t \ge 1` of this update.
    lr : float
    lr_decay, weight_decay : float, default 0
    eps : float, default 1e-10
    maximize : bool, default False

    See Also
    --------
    torch.optim.Adagrad : the same algorithm and defaults (no sparse gradients here).
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    param -= clr * (g / (np.sqrt(state_sum) + eps))


class Adagrad(Optimizer):
    """Adagrad: per-weight step sizes from the sum of all past squared gradients.

    See :func:`adagrad_step`. ``state[i]`` holds ``step`` and ``sum`` (torch's keys).

    See Also
    --------
    adagrad_step : the formula.
    torch.optim.Adagrad : same hyperparameters and defaults.
    """

    @validate_params(ADAGRAD_INIT, eps_survives_dtype)
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.lr_decay = float(lr_decay)
        self.weight_decay = float(weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.eps = float(eps)
        self.maximize = bool(maximize)

    def _init_state(self, p, state):
        state["step"] = 0
        state["sum"] = np.full_like(p, self.initial_accumulator_value)

    def _update(self, p, g, state):
        adagrad_step.__wrapped__(p, g, state["sum"], state["step"], lr=self.lr, lr_decay=self.lr_decay,
                                 weight_decay=self.weight_decay, eps=self.eps, maximize=self.maximize)
