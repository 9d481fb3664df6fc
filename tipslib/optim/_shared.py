"""Backend-free parts of the optimizers, shared by both twins.

The hyperparameter constraints of every optimizer are declared here once, and
the plateau scheduler's rules act on plain Python floats; neither twin imports
the other, both import this module.
"""

from __future__ import annotations

import numbers

from .._checks import check_bool, check_choice, check_int, check_lr, check_real

__all__ = ["check_lr", "check_betas", "check_step", "check_sgd", "check_momentum", "check_adam",
           "check_adam_step", "check_rmsprop", "check_rmsprop_step", "check_adagrad", "check_adadelta",
           "check_plateau", "read_metric", "is_better", "GROUP_CHECKS"]


def _nonneg(value, name, owner):
    return check_real(value, name, owner, low=0)


def _positive(value, name, owner):
    return check_real(value, name, owner, low=0, low_open=True)


def _unit(value, name, owner, closed_high=False):
    return check_real(value, name, owner, low=0, high=1, high_open=not closed_high)


def check_betas(betas, owner):
    """A pair ``(beta1, beta2)`` of floats in [0, 1)."""
    want = f"The 'betas' parameter of {owner} must be a pair of floats in the range [0, 1)"
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"{want}. Got {betas!r} instead.")
    for b in betas:
        if isinstance(b, bool) or not isinstance(b, numbers.Real):
            raise TypeError(f"{want}. Got {tuple(betas)!r} instead.")
        if not 0 <= b < 1:  # NaN fails this too
            raise ValueError(f"{want}. Got {tuple(betas)!r} instead.")
    return float(betas[0]), float(betas[1])


def check_step(step, owner):
    """The 1-based number of the update a ``*_step`` function performs."""
    return check_int(step, "step", owner, low=1)


def _needs_state(value, name, owner, kind, when):
    if value is None:
        raise ValueError(f"The '{name}' parameter of {owner} must be {kind} when {when}. Got None instead.")


def check_sgd(lr, momentum, dampening, weight_decay, nesterov, maximize, owner):
    check_lr(lr, owner)
    _nonneg(momentum, "momentum", owner)
    # dampening scales the new gradient by (1 - dampening): above 1 it would climb the loss.
    _unit(dampening, "dampening", owner, closed_high=True)
    _nonneg(weight_decay, "weight_decay", owner)
    check_bool(nesterov, "nesterov", owner)
    check_bool(maximize, "maximize", owner)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"The 'nesterov' parameter of {owner} needs momentum > 0 and dampening = 0. "
                         f"Got momentum={momentum!r}, dampening={dampening!r} instead.")


def check_momentum(lr, momentum, weight_decay, maximize, owner):
    check_lr(lr, owner)
    _unit(momentum, "momentum", owner)
    _nonneg(weight_decay, "weight_decay", owner)
    check_bool(maximize, "maximize", owner)


def check_adam(lr, betas, eps, weight_decay, amsgrad, maximize, owner):
    check_lr(lr, owner)
    beta1, beta2 = check_betas(betas, owner)
    _positive(eps, "eps", owner)
    _nonneg(weight_decay, "weight_decay", owner)
    check_bool(amsgrad, "amsgrad", owner)
    check_bool(maximize, "maximize", owner)
    return beta1, beta2


def check_adam_step(lr, betas, eps, weight_decay, amsgrad, maximize, max_exp_avg_sq, step, owner, kind):
    """:func:`check_adam` plus the step number and the state ``amsgrad`` needs; ``kind`` is
    "an array" or "a tensor", what the twin's state arrays are."""
    beta1, beta2 = check_adam(lr, betas, eps, weight_decay, amsgrad, maximize, owner)
    step = check_step(step, owner)
    if amsgrad:
        _needs_state(max_exp_avg_sq, "max_exp_avg_sq", owner, kind, "amsgrad=True")
    return beta1, beta2, step


def check_rmsprop(lr, alpha, eps, weight_decay, momentum, centered, maximize, owner):
    check_lr(lr, owner)
    _unit(alpha, "alpha", owner)
    _positive(eps, "eps", owner)
    _nonneg(weight_decay, "weight_decay", owner)
    _nonneg(momentum, "momentum", owner)
    check_bool(centered, "centered", owner)
    check_bool(maximize, "maximize", owner)


def check_rmsprop_step(lr, alpha, eps, weight_decay, momentum, centered, maximize, grad_avg, momentum_buffer,
                       kind):
    owner = "rmsprop_step"
    check_rmsprop(lr, alpha, eps, weight_decay, momentum, centered, maximize, owner)
    if centered:
        _needs_state(grad_avg, "grad_avg", owner, kind, "centered=True")
    if momentum > 0:
        _needs_state(momentum_buffer, "momentum_buffer", owner, kind, "momentum > 0")


def check_adagrad(lr, lr_decay, weight_decay, eps, maximize, owner):
    check_lr(lr, owner)
    _nonneg(lr_decay, "lr_decay", owner)
    _nonneg(weight_decay, "weight_decay", owner)
    _positive(eps, "eps", owner)
    check_bool(maximize, "maximize", owner)


def check_initial_accumulator(value, owner):
    return _nonneg(value, "initial_accumulator_value", owner)


def check_adadelta(lr, rho, eps, weight_decay, maximize, owner):
    check_lr(lr, owner)
    _unit(rho, "rho", owner, closed_high=True)
    _positive(eps, "eps", owner)
    _nonneg(weight_decay, "weight_decay", owner)
    check_bool(maximize, "maximize", owner)


# Which check guards the hyperparameters of one param group, by optimizer; the torch
# twins run it on every group they are given (constructor and add_param_group alike).
GROUP_CHECKS = {
    "SGD": lambda g, o: check_sgd(g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"],
                                  g["maximize"], o),
    "Momentum": lambda g, o: check_momentum(g["lr"], g["momentum"], g["weight_decay"], g["maximize"], o),
    "Adam": lambda g, o: check_adam(g["lr"], g["betas"], g["eps"], g["weight_decay"], g["amsgrad"],
                                    g["maximize"], o),
    "RMSprop": lambda g, o: check_rmsprop(g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"],
                                          g["centered"], g["maximize"], o),
    "Adagrad": lambda g, o: (check_adagrad(g["lr"], g["lr_decay"], g["weight_decay"], g["eps"], g["maximize"], o),
                             check_initial_accumulator(g["initial_accumulator_value"], o)),
    "Adadelta": lambda g, o: check_adadelta(g["lr"], g["rho"], g["eps"], g["weight_decay"], g["maximize"], o),
}
GROUP_CHECKS["AdamW"] = GROUP_CHECKS["Adam"]


def check_plateau(mode, factor, patience, threshold, threshold_mode, cooldown, eps, owner):
    check_choice(mode, "mode", owner, ("min", "max"))
    check_real(factor, "factor", owner, low=0, high=1, high_open=True)
    check_int(patience, "patience", owner, low=0)
    check_real(threshold, "threshold", owner, low=0)
    check_choice(threshold_mode, "threshold_mode", owner, ("rel", "abs"))
    check_int(cooldown, "cooldown", owner, low=0)
    check_real(eps, "eps", owner, low=0)


def read_metric(metrics, owner):
    """The monitored value as a float (a 0-d array or tensor is fine)."""
    try:
        return float(metrics)
    except (TypeError, ValueError):
        raise TypeError(f"The 'metrics' parameter of {owner}.step must be a real number. "
                        f"Got {metrics!r} instead.") from None


def is_better(a, best, mode, threshold, threshold_mode):
    """``a`` beats ``best`` by more than ``threshold`` (relative or absolute)."""
    if mode == "min":
        return a < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
    return a > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
