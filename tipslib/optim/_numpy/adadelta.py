"""Adadelta, exactly torch's algorithm (eps inside both square roots, an ``lr`` on top)."""

from __future__ import annotations

import numpy as np

from ..._checks import validate_params
from .._shared import ADADELTA_HYPER, eps_survives_dtype
from .base import NDARRAYS, Optimizer

__all__ = ["adadelta_step", "Adadelta"]


@validate_params(ADADELTA_HYPER, NDARRAYS, eps_survives_dtype)
def adadelta_step(param, grad, square_avg, acc_delta, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                  maximize=False):
    r"""One Adadelta update of ``param``, ``square_avg`` and ``acc_delta``, in place.

    .. math::

        g &= \pm\nabla_\theta L + \lambda\,\theta \\
        v &\leftarrow \rho\, v + (1 - \rho)\, g^2 \\
        \Delta &= \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}}\, g \\
        u &\leftarrow \rho\, u + (1 - \rho)\, \Delta^2 \\
        \theta &\leftarrow \theta - \eta\, \Delta

    :math:`v` (``square_avg``) averages squared gradients, :math:`u` (``acc_delta``)
    squared updates, so the step has the units of :math:`\theta` (Zeiler, 2012);
    torch adds a learning rate :math:`\eta` on top (``lr=1`` is the paper).

    Parameters
    ----------
    param, grad, square_avg, acc_delta : ndarray of one shape
        The two averages start as zeros.
    lr : float, default 1.0
    rho : float in [0, 1], default 0.9
    eps : float, default 1e-6
    weight_decay : float, default 0
    maximize : bool, default False

    See Also
    --------
    torch.optim.Adadelta : the same algorithm and defaults.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * g * g
    delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    param -= lr * delta


class Adadelta(Optimizer):
    """Adadelta: step sizes from running averages of squared gradients and squared updates.

    See :func:`adadelta_step`. ``state[i]`` holds ``step``, ``square_avg`` and
    ``acc_delta`` (torch's keys).

    See Also
    --------
    adadelta_step : the formula.
    torch.optim.Adadelta : same hyperparameters and defaults.
    """

    @validate_params(ADADELTA_HYPER, eps_survives_dtype)
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.rho = float(rho)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.maximize = bool(maximize)

    def _init_state(self, p, state):
        state["step"] = 0
        state["square_avg"] = np.zeros_like(p)
        state["acc_delta"] = np.zeros_like(p)

    def _update(self, p, g, state):
        adadelta_step.__wrapped__(p, g, state["square_avg"], state["acc_delta"], lr=self.lr, rho=self.rho,
                                  eps=self.eps, weight_decay=self.weight_decay, maximize=self.maximize)
