"""Adagrad, torch twin of ``tipslib.optim._numpy.adagrad``."""

from __future__ import annotations

import torch

from .._shared import check_adagrad, check_initial_accumulator, check_step
from .base import TwinOptimizer

__all__ = ["adagrad_step", "Adagrad"]


def adagrad_step(param, grad, state_sum, step, *, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 maximize=False):
    """Twin of the NumPy ``adagrad_step``: updates ``param`` and ``state_sum`` in place."""
    owner = "adagrad_step"
    check_adagrad(lr, lr_decay, weight_decay, eps, maximize, owner)
    step = check_step(step, owner)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum.addcmul_(g, g, value=1)
    param.addcdiv_(g, state_sum.sqrt().add_(eps), value=-clr)


class Adagrad(TwinOptimizer):
    """Twin of the NumPy ``Adagrad`` as a ``torch.optim.Optimizer``.
    Differences: ``step(closure=None)`` reads ``p.grad``; ``state["step"]`` is an
    int; sparse gradients are refused."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False):
        check_adagrad(lr, lr_decay, weight_decay, eps, maximize, "Adagrad")
        check_initial_accumulator(initial_accumulator_value, "Adagrad")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        for p in params:
            state = self.state[p]
            state["step"] = int(state["step"]) + 1  # int() also takes the tensor torch.optim saves
            adagrad_step(p, p.grad, state["sum"], state["step"], lr=group["lr"], lr_decay=group["lr_decay"],
                         weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])
