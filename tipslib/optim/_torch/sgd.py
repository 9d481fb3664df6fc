"""SGD, torch twin of ``tipslib.optim._numpy.sgd``."""

from __future__ import annotations

import torch

from .._shared import check_sgd
from .base import TwinOptimizer

__all__ = ["sgd_step", "SGD"]


def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False):
    """Twin of the NumPy ``sgd_step``: updates ``param`` in place, returns the buffer."""
    check_sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, "sgd_step")
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = torch.clone(g).detach()
        else:
            momentum_buffer.mul_(momentum).add_(g, alpha=1 - dampening)
        g = g.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.add_(g, alpha=-lr)
    return momentum_buffer


class SGD(TwinOptimizer):
    """Twin of the NumPy ``SGD`` as a ``torch.optim.Optimizer``: param groups,
    ``state_dict``/``load_state_dict`` and ``zero_grad`` come from torch.
    Difference: ``step(closure=None)`` reads ``p.grad`` instead of taking grads."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        check_sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, "SGD")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buf = sgd_step(
                    p, p.grad, state.get("momentum_buffer"), lr=group["lr"], momentum=group["momentum"],
                    dampening=group["dampening"], weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"], maximize=group["maximize"],
                )
                if buf is not None:  # plain SGD keeps no state, as in torch
                    state["momentum_buffer"] = buf
        return loss
