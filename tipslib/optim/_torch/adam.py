"""Adam and AdamW, torch twins of ``tipslib.optim._numpy.adam``."""

from __future__ import annotations

import math

import torch

from ..._checks import validate_params
from .._shared import ADAM_HYPER, STEP, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype
from .fused import FUSED, FusedTwinOptimizer
from .base import TENSORS

__all__ = ["adam_step", "adamw_step", "Adam", "AdamW"]

#: The per-parameter state tensors, in the order ``adam_step`` takes them.
STATE_KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@validate_params(ADAM_HYPER, TENSORS, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype, step=STEP)
def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, betas=(0.9, 0.999),
              eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    r"""Twin of the NumPy ``adam_step``: updates ``param``, ``exp_avg``, ``exp_avg_sq`` in place.

    .. math::

        g_t = \pm\nabla_\theta L + \lambda\,\theta, \quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \ (\text{amsgrad: } \max(\hat v_{t-1}, v_t)), \\
        \theta_t = \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                   \frac{m_t}{\sqrt{v_t}/\sqrt{1 - \beta_2^t} + \epsilon}

    ``lerp_`` writes :math:`m + (1 - \beta_1)(g - m)`, torch's form of the same :math:`m_t`.
    """
    beta1, beta2 = betas
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    if amsgrad:
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    v = max_exp_avg_sq if amsgrad else exp_avg_sq
    denom = (v.sqrt() / (1 - beta2 ** step) ** 0.5).add_(eps)
    param.sub_(exp_avg / denom * (lr / (1 - beta1 ** step)))  # lr, step may be 0-d tensors (the fused path)


@validate_params(ADAM_HYPER, TENSORS, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype, step=STEP)
def adamw_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, betas=(0.9, 0.999),
               eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
    r"""Twin of the NumPy ``adamw_step``: decoupled weight decay, then Adam's update.

    .. math:: \theta \leftarrow \theta\,(1 - \eta\,\lambda)

    then :func:`adam_step` with ``weight_decay=0``.
    """
    param.mul_(1 - lr * weight_decay)
    adam_step.__wrapped__(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr=lr, betas=betas, eps=eps,
                          weight_decay=0.0, amsgrad=amsgrad, maximize=maximize)


def _adam_foreach(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, betas, eps,
                  weight_decay, amsgrad, maximize, decoupled):
    """:func:`adam_step` on a list of tensors at once with ``torch._foreach_*`` kernels.

    The same lines as :func:`adam_step`; one kernel launch per line for the whole
    list instead of one per tensor, which is what makes many small tensors fast
    on a GPU. Tests check it against the per-tensor path.
    """
    beta1, beta2 = betas
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)  # m + (1-b1)(g - m): one pass instead of two
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    v = exp_avg_sqs
    if amsgrad:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        v = max_exp_avg_sqs
    denom = torch._foreach_sqrt(v)
    torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** t) for t in steps])
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, [-lr / (1 - beta1 ** t) for t in steps])


class Adam(FusedTwinOptimizer):
    """Twin of the NumPy ``Adam`` as a ``torch.optim.Optimizer``.

    Differences: ``step(closure=None)`` reads ``p.grad``; per-parameter state
    (``step`` as an int, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) lives in
    ``self.state[p]``. Each param group also has a ``"foreach"`` entry (default
    True): when its tensors share a device and dtype the whole group is updated
    with ``torch._foreach_*`` kernels, else tensor by tensor with :func:`adam_step`.

    ``fused=True`` (torch's flag) runs :func:`adam_step` itself (``adamw_step``
    for AdamW), compiled by ``torch.compile`` for the whole group at once: one
    kernel a tensor, moving the 28 bytes an element (float32) the formula needs,
    as torch's fused kernel does (``bench/bench_traffic.py`` counts them,
    ``bench/bench_gpu_twins.py`` times the two). A group of more than
    ``fused.FUSED_PER_TENSOR_MAX`` tensors (compile time grows with them) is
    updated as one flat buffer instead: one compiled call whatever the count,
    with the state kept as views of that buffer (``fused.FlatGroup``). A group
    where ``torch.compile`` cannot build kernels (no C++ compiler for the CPU, no
    Triton for CUDA) keeps the plain twin; ``fused_fallback[device_type]`` then
    says why (``None`` when compiled). The state is the plain twin's: ``fused``
    may change between steps.
    """

    _decoupled = False
    _constraints, _rules = {**ADAM_HYPER, **FUSED}, (eps_survives_dtype,)

    @validate_params(ADAM_HYPER, **FUSED)
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, fused=None):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=True)
        super().__init__(params, defaults, fused)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update_group(self, group, params):
        hyper = dict(lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"],
                     amsgrad=group["amsgrad"], maximize=group["maximize"])
        states = [self.state[p] for p in params]
        for s in states:
            s["step"] = int(s["step"]) + 1  # int() also takes the tensor torch.optim saves
        if group.get("fused"):
            flags = {k: v for k, v in hyper.items() if k != "lr"}
            params, states = self._fused_by_step(params, states, self._step_fn(), STATE_KEYS,
                                                 {"lr": group["lr"]}, flags)
            if not params:  # else what the fused path could not update: the plain twin does it
                return
        if group.get("foreach") is not False and self._uniform(params):  # None (torch's "default") too
            _adam_foreach(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                          [s["exp_avg_sq"] for s in states],
                          [s["max_exp_avg_sq"] for s in states] if group["amsgrad"] else None,
                          [s["step"] for s in states], decoupled=self._decoupled, **hyper)
            return
        step_fn = self._step_fn()
        for p, s in zip(params, states):
            step_fn(p, p.grad, s["exp_avg"], s["exp_avg_sq"], s.get("max_exp_avg_sq"), s["step"], **hyper)

    def _step_fn(self):
        """The bare step of one tensor: what the plain path loops over and the fused path compiles."""
        return (adamw_step if self._decoupled else adam_step).__wrapped__


class AdamW(Adam):
    """Twin of the NumPy ``AdamW``; differences as :class:`Adam`."""

    _decoupled = True

    @validate_params(ADAM_HYPER, **FUSED)
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, fused=fused)
