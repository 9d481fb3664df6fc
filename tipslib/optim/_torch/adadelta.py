"""Adadelta, torch twin of ``tipslib.optim._numpy.adadelta``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import ADADELTA_HYPER, eps_survives_dtype
from .base import TENSORS, TwinOptimizer

__all__ = ["adadelta_step", "Adadelta"]


@validate_params(ADADELTA_HYPER, TENSORS, eps_survives_dtype)
def adadelta_step(param, grad, square_avg, acc_delta, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                  maximize=False):
    r"""Twin of the NumPy ``adadelta_step``: updates ``param`` and both averages in place.

    .. math::

        g = \pm\nabla_\theta L + \lambda\,\theta, \quad
        v \leftarrow \rho\, v + (1 - \rho)\, g^2, \quad
        \Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}}\, g, \quad
        u \leftarrow \rho\, u + (1 - \rho)\, \Delta^2, \quad
        \theta \leftarrow \theta - \eta\, \Delta
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    square_avg.mul_(rho).addcmul_(g, g, value=1 - rho)
    delta = acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(g)
    acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
    param.add_(delta, alpha=-lr)


class Adadelta(TwinOptimizer):
    """Twin of the NumPy ``Adadelta`` as a ``torch.optim.Optimizer``.
    Difference: ``step(closure=None)`` reads ``p.grad``; ``state["step"]`` is an int."""

    _constraints, _rules = ADADELTA_HYPER, (eps_survives_dtype,)

    @validate_params(ADADELTA_HYPER)
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        for p in params:
            state = self.state[p]
            state["step"] = int(state["step"]) + 1  # int() also takes the tensor torch.optim saves
            adadelta_step.__wrapped__(p, p.grad, state["square_avg"], state["acc_delta"], lr=group["lr"],
                                      rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                                      maximize=group["maximize"])
