"""SGD, torch twin of the NumPy ``sgd_step`` and ``SGD``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import SGD_HYPER, nesterov_needs_momentum
from .base import TENSORS
from .fused import FUSED, FusedTwinOptimizer

__all__ = ["sgd_step", "SGD"]


@validate_params(SGD_HYPER, TENSORS, nesterov_needs_momentum)
def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False):
    r"""Twin of the NumPy ``sgd_step``: updates ``param`` in place, returns the momentum buffer.

    .. math::

        g \leftarrow \pm\nabla_\theta L + \lambda\,\theta, \quad
        b \leftarrow \mu\, b + (1 - \tau)\, g \ (b = g \text{ first}), \quad
        g \leftarrow g + \mu\, b \ \text{(Nesterov) or } b, \quad
        \theta \leftarrow \theta - \eta\, g
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = torch.clone(g).detach()
        else:
            momentum_buffer.mul_(momentum).add_(g, alpha=1 - dampening)
        g = g.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.sub_(lr * g)  # lr may be a 0-d tensor (the fused path): no alpha=
    return momentum_buffer


def _sgd_foreach(params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """:func:`sgd_step` on a list of tensors at once with ``torch._foreach_*`` kernels; returns the buffers.

    The same lines as :func:`sgd_step`, one kernel launch (or one C++ loop) per
    line for the whole list instead of one Python call per tensor.
    """
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum != 0:
        old = [b for b in momentum_buffers if b is not None]
        if old:
            torch._foreach_mul_(old, momentum)
            torch._foreach_add_(old, [g for g, b in zip(grads, momentum_buffers) if b is not None],
                                alpha=1 - dampening)
        momentum_buffers = [torch.clone(g).detach() if b is None else b for g, b in zip(grads, momentum_buffers)]
        grads = torch._foreach_add(grads, momentum_buffers, alpha=momentum) if nesterov else momentum_buffers
    torch._foreach_add_(params, grads, alpha=-lr)
    return momentum_buffers


class SGD(FusedTwinOptimizer):
    """Twin of the NumPy ``SGD`` as a ``torch.optim.Optimizer``: param groups,
    ``state_dict``/``load_state_dict`` and ``zero_grad`` come from torch.
    Difference: ``step(closure=None)`` reads ``p.grad`` instead of taking grads.

    Each param group also has a ``"foreach"`` entry (default True): when its
    tensors share a device and dtype the whole group is updated with
    ``torch._foreach_*`` kernels, else tensor by tensor with :func:`sgd_step`.

    ``fused=True`` (torch's flag) runs :func:`sgd_step` itself, compiled by
    ``torch.compile`` for the whole group, as in :class:`Adam`
    (same fallbacks, same ``fused_fallback``). The step that creates the
    momentum buffers (the first) runs the plain twin: a buffer starts as the
    gradient itself, which the compiled lines need not know about.
    """

    _constraints, _rules = {**SGD_HYPER, **FUSED}, (nesterov_needs_momentum,)

    @validate_params(SGD_HYPER, nesterov_needs_momentum, **FUSED)
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=True)
        super().__init__(params, defaults, fused)

    def _init_state(self, p, state, group):
        pass  # the momentum buffer is the first (decayed) gradient, made by the first step

    def _update_group(self, group, params):
        hyper = dict(lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                     weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
        states = [self.state[p] for p in params]
        buffers = [s.get("momentum_buffer") for s in states]
        if group.get("fused") and (group["momentum"] == 0 or all(b is not None for b in buffers)):
            flags = {k: v for k, v in hyper.items() if k != "lr"}
            if self._fused_update(params, states, sgd_step.__wrapped__, ("momentum_buffer",),
                                  {"lr": group["lr"]}, flags):
                return
        if group.get("foreach") is not False and self._uniform(params):  # None (torch's "default") too
            buffers = _sgd_foreach(params, [p.grad for p in params], buffers, **hyper)
        else:
            buffers = [sgd_step.__wrapped__(p, p.grad, b, **hyper) for p, b in zip(params, buffers)]
        if group["momentum"] != 0:  # plain SGD keeps no state, as in torch
            for s, b in zip(states, buffers):
                s["momentum_buffer"] = b
