"""Momentum (the cheatsheet's form), torch twin of ``tipslib.optim._numpy.momentum``."""

from __future__ import annotations

import torch

from .._shared import check_momentum
from .base import TwinOptimizer

__all__ = ["momentum_step", "Momentum"]


def momentum_step(param, grad, velocity, *, lr, momentum=0.9, weight_decay=0.0, maximize=False):
    """Twin of the NumPy ``momentum_step``: updates ``param`` and ``velocity`` in place."""
    check_momentum(lr, momentum, weight_decay, maximize, "momentum_step")
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    velocity.mul_(momentum).add_(g, alpha=1 - momentum)
    param.add_(velocity, alpha=-lr)


class Momentum(TwinOptimizer):
    """Twin of the NumPy ``Momentum`` as a ``torch.optim.Optimizer`` (torch has no
    built-in of this form). Difference: ``step(closure=None)`` reads ``p.grad``."""

    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0, *, maximize=False):
        check_momentum(lr, momentum, weight_decay, maximize, "Momentum")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, p, state, group):
        state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        for p in params:
            momentum_step(p, p.grad, self.state[p]["velocity"], lr=group["lr"], momentum=group["momentum"],
                          weight_decay=group["weight_decay"], maximize=group["maximize"])
