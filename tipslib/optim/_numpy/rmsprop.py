"""RMSprop, exactly torch's algorithm (eps outside the square root, optional centering and momentum)."""

from __future__ import annotations

import numpy as np

from ..._checks import validate_params
from .._shared import RMSPROP_HYPER, centered_needs_grad_avg, momentum_needs_momentum_buffer, eps_survives_dtype
from .base import NDARRAYS, Optimizer

__all__ = ["rmsprop_step", "RMSprop"]


@validate_params(RMSPROP_HYPER, NDARRAYS, centered_needs_grad_avg, momentum_needs_momentum_buffer,
                 eps_survives_dtype)
def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    r"""One RMSprop update of ``param`` and its state arrays, in place.

    .. math::

        g &= \pm\nabla_\theta L + \lambda\,\theta \\
        s &\leftarrow \alpha\, s + (1 - \alpha)\, g^2 \\
        \bar g &\leftarrow \alpha\, \bar g + (1 - \alpha)\, g,
            \quad \tilde s = s - \bar g^2 \quad (\text{centered; else } \tilde s = s) \\
        u &= g / (\sqrt{\tilde s} + \epsilon) \\
        b &\leftarrow \mu\, b + u, \quad \theta \leftarrow \theta - \eta\, b
            \quad (\text{momentum } \mu > 0; \text{ else } \theta \leftarrow \theta - \eta\, u)

    The cheatsheet's :math:`w \leftarrow w - \alpha\, dw / \sqrt{s_{dw}}` with
    torch's names: :math:`\alpha` here is the smoothing constant (``alpha``),
    :math:`\eta` the learning rate (``lr``). ``eps`` is added *outside* the
    square root, as torch does (TensorFlow adds it inside).

    Parameters
    ----------
    param, grad, square_avg : ndarray of one shape
        ``square_avg`` (:math:`s`) starts as zeros.
    grad_avg : ndarray or None
        :math:`\bar g`, zeros at the start; needed only when ``centered``.
    momentum_buffer : ndarray or None
        :math:`b`, zeros at the start; needed only when ``momentum > 0``.
    lr : float
    alpha : float in [0, 1), default 0.99
    eps : float, default 1e-8
    weight_decay, momentum : float, default 0
    centered : bool, default False
        Divide by an estimate of the gradient's variance instead of its raw second moment.
    maximize : bool, default False

    See Also
    --------
    torch.optim.RMSprop : the same algorithm and defaults (torch also accepts
        ``eps=0`` and ``alpha >= 1``, which divide by zero or never update ``s``).
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if centered:
        grad_avg += (1 - alpha) * (g - grad_avg)    # the same average as s, as torch writes it (lerp)
        avg = np.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = np.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * (g / avg)


class RMSprop(Optimizer):
    """RMSprop: divide each gradient by a running root-mean-square of its past values.

    See :func:`rmsprop_step`. ``state[i]`` holds ``step``, ``square_avg`` and,
    when used, ``momentum_buffer`` and ``grad_avg`` (torch's keys).

    See Also
    --------
    rmsprop_step : the formula.
    torch.optim.RMSprop : same hyperparameters and defaults.
    """

    @validate_params(RMSPROP_HYPER, eps_survives_dtype)
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.centered = bool(centered)
        self.maximize = bool(maximize)

    def _init_state(self, p, state):
        state["step"] = 0
        state["square_avg"] = np.zeros_like(p)
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if self.centered:
            state["grad_avg"] = np.zeros_like(p)

    def _update(self, p, g, state):
        rmsprop_step.__wrapped__(p, g, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                                 lr=self.lr, alpha=self.alpha, eps=self.eps, weight_decay=self.weight_decay,
                                 momentum=self.momentum, centered=self.centered, maximize=self.maximize)
