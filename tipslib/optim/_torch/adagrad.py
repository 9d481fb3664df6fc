"""Adagrad, torch twin of ``tipslib.optim._numpy.adagrad``."""

from __future__ import annotations

import torch

from ..._checks import validate_params
from .._shared import ADAGRAD_HYPER, ADAGRAD_INIT, STEP, eps_survives_dtype
from .base import TENSORS
from .fused import FUSED, FusedTwinOptimizer

__all__ = ["adagrad_step", "Adagrad"]


@validate_params(ADAGRAD_HYPER, TENSORS, eps_survives_dtype, step=STEP)
def adagrad_step(param, grad, state_sum, step, *, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 maximize=False):
    r"""Twin of the NumPy ``adagrad_step``: updates ``param`` and ``state_sum`` in place.

    .. math::

        g_t = \pm\nabla_\theta L + \lambda\,\theta, \quad
        \tilde\eta_t = \eta / (1 + (t - 1)\,\delta), \quad
        S_t = S_{t-1} + g_t^2, \quad
        \theta_t = \theta_{t-1} - \tilde\eta_t\, g_t / (\sqrt{S_t} + \epsilon)
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum.addcmul_(g, g, value=1)
    param.sub_(clr * g / state_sum.sqrt().add_(eps))  # clr may be a 0-d tensor (the fused path)


def _adagrad_foreach(params, grads, state_sums, steps, *, lr, lr_decay, weight_decay, eps, maximize):
    """:func:`adagrad_step` on a list of tensors at once with ``torch._foreach_*`` kernels.

    The same lines as :func:`adagrad_step`, one kernel launch per line for the
    whole list instead of one per tensor.
    """
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_addcmul_(state_sums, grads, grads, 1)
    std = torch._foreach_sqrt(state_sums)
    torch._foreach_add_(std, eps)
    torch._foreach_addcdiv_(params, grads, std, [-lr / (1 + (t - 1) * lr_decay) for t in steps])


class Adagrad(FusedTwinOptimizer):
    """Twin of the NumPy ``Adagrad`` as a ``torch.optim.Optimizer``.
    Differences: ``step(closure=None)`` reads ``p.grad``; ``state["step"]`` is an
    int; sparse gradients are refused. A group's ``"foreach"`` entry (default
    True) works as in ``SGD``.

    ``fused=True`` (torch's flag) runs :func:`adagrad_step` itself, compiled by
    ``torch.compile`` for the whole group, as in ``Adam``
    (same fallbacks, same ``fused_fallback``).
    """

    _constraints, _rules = {**ADAGRAD_INIT, **FUSED}, (eps_survives_dtype,)

    @validate_params(ADAGRAD_INIT, **FUSED)
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize, foreach=True), fused)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        hyper = dict(weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])
        lr, lr_decay = group["lr"], group["lr_decay"]
        states = [self.state[p] for p in params]
        for s in states:
            s["step"] = int(s["step"]) + 1  # int() also takes the tensor torch.optim saves
        if group.get("fused"):
            params, states = self._fused_by_step(params, states, adagrad_step.__wrapped__, ("sum",), {"lr": lr},
                                                 {"lr_decay": lr_decay, **hyper})
            if not params:  # else what the fused path could not update: the plain twin does it
                return
        grads, sums = [p.grad for p in params], [s["sum"] for s in states]
        if group.get("foreach") is not False and self._uniform(params):  # None (torch's "default") too
            _adagrad_foreach(params, grads, sums, [s["step"] for s in states], lr=lr, lr_decay=lr_decay, **hyper)
            return
        for p, g, state_sum, s in zip(params, grads, sums, states):
            adagrad_step.__wrapped__(p, g, state_sum, s["step"], lr=lr, lr_decay=lr_decay, **hyper)
