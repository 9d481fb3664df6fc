"""Stochastic gradient descent with momentum, torch's form."""

from __future__ import annotations

import numpy as np

from ..._checks import validate_params
from .._shared import SGD_HYPER, nesterov_needs_momentum
from .base import NDARRAYS, Optimizer

__all__ = ["sgd_step", "SGD"]


@validate_params(SGD_HYPER, NDARRAYS, nesterov_needs_momentum)
def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False):
    r"""One SGD update of ``param`` in place; returns the new momentum buffer.

    .. math::

        g &\leftarrow \pm\nabla_\theta L + \lambda\,\theta \\
        b &\leftarrow \begin{cases} g & \text{first step} \\
                      \mu\, b + (1 - \tau)\, g & \text{after} \end{cases} \\
        g &\leftarrow g + \mu\, b \ \text{(Nesterov)} \quad\text{or}\quad g \leftarrow b \\
        \theta &\leftarrow \theta - \eta\, g

    with learning rate :math:`\eta` (``lr``), momentum :math:`\mu`, dampening
    :math:`\tau` and weight decay :math:`\lambda`. With ``momentum=0`` this is
    the cheatsheet's plain rule :math:`w \leftarrow w - \alpha\, \partial L/\partial w`.

    Parameters
    ----------
    param, grad : ndarray of one shape
    momentum_buffer : ndarray or None
        ``None`` before the first step.

    Returns
    -------
    ndarray or None
        The momentum buffer to pass next time (``None`` when ``momentum=0``).

    See Also
    --------
    torch.optim.SGD : the same algorithm, option for option.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = np.array(g, copy=True)
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * g
    return momentum_buffer


class SGD(Optimizer):
    """Mini-batch stochastic gradient descent; see :func:`sgd_step` for the math.

    Examples
    --------
    >>> opt = SGD(model.params, lr=0.1, momentum=0.9)
    >>> model.backward(loss.backward())
    >>> opt.step(model.grads)

    See Also
    --------
    sgd_step : the formula.
    torch.optim.SGD : same hyperparameters and defaults.
    """

    @validate_params(SGD_HYPER, nesterov_needs_momentum)
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)
        self.maximize = bool(maximize)

    def _update(self, p, g, state):
        buf = sgd_step.__wrapped__(p, g, state.get("momentum_buffer"), lr=self.lr, momentum=self.momentum,
                                   dampening=self.dampening, weight_decay=self.weight_decay,
                                   nesterov=self.nesterov, maximize=self.maximize)
        if buf is not None:  # plain SGD keeps no state, as in torch
            state["momentum_buffer"] = buf
