"""Gradient descent with momentum in the cheatsheet's form (an exponential average of gradients)."""

from __future__ import annotations

import numpy as np

from ..._checks import validate_params
from .._shared import MOMENTUM_HYPER
from .base import NDARRAYS, Optimizer

__all__ = ["momentum_step", "Momentum"]


@validate_params(MOMENTUM_HYPER, NDARRAYS)
def momentum_step(param, grad, velocity, *, lr, momentum=0.9, weight_decay=0.0, maximize=False):
    r"""One momentum update of ``param`` and ``velocity``, both in place.

    .. math::

        g &= \pm\nabla_\theta L + \lambda\,\theta \\
        v &\leftarrow \beta\, v + (1 - \beta)\, g \\
        \theta &\leftarrow \theta - \eta\, v

    with learning rate :math:`\eta` (``lr``), :math:`\beta` (``momentum``, the
    cheatsheet's beta; torch's name for it) and weight decay :math:`\lambda`.
    :math:`v` starts at zero, so it is an exponentially weighted average of past
    gradients (biased towards zero over the first :math:`\sim 1/(1-\beta)` steps).

    Parameters
    ----------
    param, grad, velocity : ndarray of one shape
        ``velocity`` starts as zeros.
    lr : float
    momentum : float in [0, 1), default 0.9
    weight_decay : float, default 0
    maximize : bool, default False

    See Also
    --------
    torch.optim.SGD : has no such class; ``SGD(lr=lr * (1 - momentum), momentum=momentum)``
        follows the same path, because torch's buffer (first value ``g``, then
        :math:`\beta b + g`) is exactly :math:`v / (1 - \beta)`.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    velocity *= momentum
    velocity += (1 - momentum) * g
    param -= lr * velocity


class Momentum(Optimizer):
    """Gradient descent with momentum, the cheatsheet's form; see :func:`momentum_step`.

    ``state[i]["velocity"]`` is :math:`v` for array ``i``.

    See Also
    --------
    SGD : torch's form of momentum (no :math:`1-\\beta` on the gradient).
    torch.optim.SGD : ``SGD(lr=lr * (1 - momentum), momentum=momentum)`` is the same optimizer.
    """

    @validate_params(MOMENTUM_HYPER)
    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.maximize = bool(maximize)

    def _init_state(self, p, state):
        state["velocity"] = np.zeros_like(p)

    def _update(self, p, g, state):
        momentum_step.__wrapped__(p, g, state["velocity"], lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay, maximize=self.maximize)
