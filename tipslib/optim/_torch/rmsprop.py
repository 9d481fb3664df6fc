"""RMSprop, torch twin of ``tipslib.optim._numpy.rmsprop``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import RMSPROP_HYPER, centered_needs_grad_avg, momentum_needs_momentum_buffer
from .base import TENSORS, TwinOptimizer

__all__ = ["rmsprop_step", "RMSprop"]


@validate_params(RMSPROP_HYPER, TENSORS, centered_needs_grad_avg, momentum_needs_momentum_buffer)
def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    r"""Twin of the NumPy ``rmsprop_step``: updates ``param`` and the state tensors in place.

    .. math::

        g = \pm\nabla_\theta L + \lambda\,\theta, \quad
        s \leftarrow \alpha\, s + (1 - \alpha)\, g^2, \quad
        \bar g \leftarrow \alpha\, \bar g + (1 - \alpha)\, g \ \text{(centered)}, \\
        u = g / (\sqrt{s - \bar g^2} + \epsilon), \quad
        b \leftarrow \mu\, b + u, \quad \theta \leftarrow \theta - \eta\, b
        \ (\text{or } \theta - \eta\, u \text{ without momentum})
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)
    if centered:
        grad_avg.lerp_(g, 1 - alpha)
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    else:
        avg = square_avg.sqrt()
    avg.add_(eps)
    if momentum > 0:
        momentum_buffer.mul_(momentum).addcdiv_(g, avg)
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(g, avg, value=-lr)


class RMSprop(TwinOptimizer):
    """Twin of the NumPy ``RMSprop`` as a ``torch.optim.Optimizer``.
    Difference: ``step(closure=None)`` reads ``p.grad``; ``state["step"]`` is an int."""

    _constraints = RMSPROP_HYPER

    @validate_params(RMSPROP_HYPER)
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        for p in params:
            state = self.state[p]
            state["step"] = int(state["step"]) + 1  # int() also takes the tensor torch.optim saves
            rmsprop_step.__wrapped__(p, p.grad, state["square_avg"], state.get("grad_avg"),
                                     state.get("momentum_buffer"), lr=group["lr"], alpha=group["alpha"],
                                     eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                                     centered=group["centered"], maximize=group["maximize"])
