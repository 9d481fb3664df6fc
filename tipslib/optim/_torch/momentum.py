"""Momentum (the cheatsheet's form), torch twin of the NumPy ``momentum_step`` and ``Momentum``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import MOMENTUM_HYPER
from .base import TENSORS, TwinOptimizer

__all__ = ["momentum_step", "Momentum"]


@validate_params(MOMENTUM_HYPER, TENSORS)
def momentum_step(param, grad, velocity, *, lr, momentum=0.9, weight_decay=0.0, maximize=False):
    r"""Twin of the NumPy ``momentum_step``: updates ``param`` and ``velocity`` in place.

    .. math::

        g = \pm\nabla_\theta L + \lambda\,\theta, \quad
        v \leftarrow \beta\, v + (1 - \beta)\, g, \quad
        \theta \leftarrow \theta - \eta\, v
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    velocity.mul_(momentum).add_(g, alpha=1 - momentum)
    param.add_(velocity, alpha=-lr)


def _momentum_foreach(params, grads, velocities, *, lr, momentum, weight_decay, maximize):
    """:func:`momentum_step` on a list of tensors at once with ``torch._foreach_*`` kernels."""
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(velocities, momentum)
    torch._foreach_add_(velocities, grads, alpha=1 - momentum)
    torch._foreach_add_(params, velocities, alpha=-lr)


class Momentum(TwinOptimizer):
    """Twin of the NumPy ``Momentum`` as a ``torch.optim.Optimizer`` (torch has no
    built-in of this form). Difference: ``step(closure=None)`` reads ``p.grad``.
    A group's ``"foreach"`` entry works as in :class:`SGD`."""

    _constraints = MOMENTUM_HYPER

    @validate_params(MOMENTUM_HYPER)
    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, maximize=maximize,
                                      foreach=True))

    def _init_state(self, p, state, group):
        state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        hyper = dict(lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"],
                     maximize=group["maximize"])
        velocities = [self.state[p]["velocity"] for p in params]
        if group.get("foreach") is not False and self._uniform(params):
            _momentum_foreach(params, [p.grad for p in params], velocities, **hyper)
        else:
            for p, v in zip(params, velocities):
                momentum_step.__wrapped__(p, p.grad, v, **hyper)
