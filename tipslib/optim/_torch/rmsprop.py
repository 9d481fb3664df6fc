"""RMSprop, torch twin of ``tipslib.optim._numpy.rmsprop``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import RMSPROP_HYPER, centered_needs_grad_avg, momentum_needs_momentum_buffer, eps_survives_dtype
from .base import TENSORS
from .fused import FUSED, FusedTwinOptimizer

__all__ = ["rmsprop_step", "RMSprop"]


@validate_params(RMSPROP_HYPER, TENSORS, centered_needs_grad_avg, momentum_needs_momentum_buffer,
                 eps_survives_dtype)
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
        param.sub_(lr * momentum_buffer)  # lr may be a 0-d tensor (the fused path): no alpha=
    else:
        param.sub_(lr * g / avg)


def _rmsprop_foreach(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha, eps, weight_decay,
                     momentum, centered, maximize):
    """:func:`rmsprop_step` on a list of tensors at once with ``torch._foreach_*`` kernels.

    The same lines as :func:`rmsprop_step`, one kernel launch per line for the
    whole list instead of one per tensor.
    """
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, 1 - alpha)
    if centered:
        torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
        avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, -1)
        torch._foreach_sqrt_(avg)
    else:
        avg = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(avg, eps)
    if momentum > 0:
        torch._foreach_mul_(momentum_buffers, momentum)
        torch._foreach_addcdiv_(momentum_buffers, grads, avg)
        torch._foreach_add_(params, momentum_buffers, alpha=-lr)
    else:
        torch._foreach_addcdiv_(params, grads, avg, -lr)


class RMSprop(FusedTwinOptimizer):
    """Twin of the NumPy ``RMSprop`` as a ``torch.optim.Optimizer``.
    Difference: ``step(closure=None)`` reads ``p.grad``; ``state["step"]`` is an int.
    A group's ``"foreach"`` entry (default True) works as in ``SGD``.

    ``fused=True`` runs :func:`rmsprop_step` itself, compiled by
    ``torch.compile`` for the whole group, as in ``Adam`` (same fallbacks, same
    ``fused_fallback``). torch's own ``RMSprop`` has no ``fused`` flag (its
    fastest path is ``foreach``); the twin takes it, keyword-only, like every
    fused twin.
    """

    _constraints, _rules = {**RMSPROP_HYPER, **FUSED}, (eps_survives_dtype,)

    @validate_params(RMSPROP_HYPER, **FUSED)
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False, fused=None):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize, foreach=True), fused)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        hyper = dict(alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                     momentum=group["momentum"], centered=group["centered"], maximize=group["maximize"])
        states = [self.state[p] for p in params]
        for s in states:
            s["step"] = int(s["step"]) + 1  # int() also takes the tensor torch.optim saves
        if group.get("fused") and self._fused_update(params, states, rmsprop_step.__wrapped__,
                                                     ("square_avg", "grad_avg", "momentum_buffer"),
                                                     {"lr": group["lr"]}, hyper):
            return
        tensors = [params, [p.grad for p in params], [s["square_avg"] for s in states],
                   [s.get("grad_avg") for s in states], [s.get("momentum_buffer") for s in states]]
        if group.get("foreach") is not False and self._uniform(params):  # None (torch's "default") too
            _rmsprop_foreach(*tensors, lr=group["lr"], **hyper)
            return
        for p, s in zip(params, states):
            rmsprop_step.__wrapped__(p, p.grad, s["square_avg"], s.get("grad_avg"), s.get("momentum_buffer"),
                                     lr=group["lr"], **hyper)
