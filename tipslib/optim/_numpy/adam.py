"""Adam and AdamW, exactly torch's algorithms (bias correction and eps placement included)."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import validate_params
from .._shared import ADAM_HYPER, STEP, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype
from .base import NDARRAYS, Optimizer

__all__ = ["adam_step", "adamw_step", "Adam", "AdamW"]


@validate_params(ADAM_HYPER, NDARRAYS, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype, step=STEP)
def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, betas=(0.9, 0.999),
              eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    r"""One Adam update of ``param``, in place (``exp_avg``, ``exp_avg_sq`` too).

    .. math::

        g_t &= \pm\nabla_\theta L(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat v_t &= v_t \qquad (\text{amsgrad: } \hat v_t = \max(\hat v_{t-1}, v_t)) \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                   \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1 - \beta_2^t} + \epsilon}

    with learning rate :math:`\eta` (``lr``), ``betas`` :math:`(\beta_1, \beta_2)`
    and weight decay :math:`\lambda` (an L2 penalty: it goes through the moments).
    This is Algorithm 1 of Kingma & Ba (2015); the cheatsheet writes
    :math:`w \leftarrow w - \alpha\, v / (\sqrt{s} + \epsilon)` and leaves out the bias
    correction. Note that :math:`\epsilon` is added *after* the bias correction of :math:`v`.

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray of one shape
        Moment estimates start as zeros.
    max_exp_avg_sq : ndarray or None
        Running maximum of ``exp_avg_sq`` (starts as zeros); needed only with ``amsgrad``.
    step : int
        The number :math:`t \ge 1` of this update (1 on the first call).
    lr : float
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    amsgrad : bool, default False
        Use the running maximum of :math:`v` (Reddi et al., 2018).
    maximize : bool, default False
        Climb the objective instead (:math:`g_t = -\nabla L`).

    See Also
    --------
    torch.optim.Adam : the same algorithm; torch keeps ``step`` in a tensor and
        updates ``m`` with ``lerp_``, equal up to rounding.
    adamw_step : decoupled weight decay.
    """
    beta1, beta2 = betas
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    v = max_exp_avg_sq if amsgrad else exp_avg_sq
    # denom and then the update live in one array, changed in place: on a big model a
    # second temporary costs NumPy a fresh (page-faulting) allocation for every array.
    denom = np.sqrt(v)
    denom /= math.sqrt(bias_correction2)
    denom += eps
    update = np.divide(exp_avg, denom, out=denom)
    update *= lr / bias_correction1
    param -= update


@validate_params(ADAM_HYPER, NDARRAYS, amsgrad_needs_max_exp_avg_sq, eps_survives_dtype, step=STEP)
def adamw_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, betas=(0.9, 0.999),
               eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False):
    r"""One AdamW update: :func:`adam_step` with the weight decay taken out of the gradient.

    .. math::

        \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \eta\,\lambda) \\
        g_t &= \pm\nabla_\theta L(\theta_{t-1}) \quad\text{then Adam's moments and update}

    Decoupling (Loshchilov & Hutter, 2019) makes the decay shrink every weight by
    the same factor, instead of being rescaled by :math:`1/\sqrt{v}` like an L2 term.
    The paper's Algorithm 2 multiplies :math:`\lambda` by the schedule multiplier
    :math:`\eta_t` only, not by the learning rate; like torch, we multiply by ``lr``,
    so changing ``lr`` also changes the decay per step.
    Arguments are :func:`adam_step`'s; ``weight_decay`` defaults to 1e-2.

    See Also
    --------
    torch.optim.AdamW : the same algorithm and defaults.
    """
    param *= 1 - lr * weight_decay
    adam_step.__wrapped__(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr=lr, betas=betas, eps=eps,
                          weight_decay=0.0, amsgrad=amsgrad, maximize=maximize)


class Adam(Optimizer):
    """Adam: momentum plus a per-weight step size from the running mean of squared gradients.

    See :func:`adam_step` for the math. ``state[i]`` holds ``step`` (int),
    ``exp_avg``, ``exp_avg_sq`` and, with ``amsgrad``, ``max_exp_avg_sq``.

    Examples
    --------
    >>> opt = Adam(model.params, lr=1e-3)
    >>> opt.step(model.grads)

    See Also
    --------
    adam_step : the formula.
    torch.optim.Adam : same hyperparameters and defaults (torch's ``foreach``,
        ``fused``, ``capturable``, ``differentiable`` have no NumPy meaning).
    """

    _step_fn = staticmethod(adam_step.__wrapped__)

    @validate_params(ADAM_HYPER, eps_survives_dtype)
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params)
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.amsgrad = bool(amsgrad)
        self.maximize = bool(maximize)

    def _init_state(self, p, state):
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(p)
        state["exp_avg_sq"] = np.zeros_like(p)
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(p)

    def _update(self, p, g, state):
        self._step_fn(p, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), state["step"],
                      lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay,
                      amsgrad=self.amsgrad, maximize=self.maximize)


class AdamW(Adam):
    """Adam with decoupled weight decay; see :func:`adamw_step`.

    See Also
    --------
    adamw_step : the formula.
    torch.optim.AdamW : same hyperparameters and defaults (``weight_decay=1e-2``).
    """

    _step_fn = staticmethod(adamw_step.__wrapped__)

    @validate_params(ADAM_HYPER, eps_survives_dtype)
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
