"""Backend-free parts of the optimizers and schedules, shared by both twins.

- The hyperparameter constraints of every optimizer, declared once: one dict
  per optimizer plus the rules that tie several arguments together. Both twins'
  ``*_step`` functions and constructors use them through ``validate_params``;
  the torch twins also check every param group with :func:`check_group`.
- The learning-rate schedules: constructor constraints, the learning rate of
  each epoch and ReduceLROnPlateau's rule, all on plain floats. A twin's
  scheduler only says how to find its optimizer's learning rates
  (``_check_optimizer``, ``_start_lrs``, ``_lrs``, ``_set_lrs``).

Neither twin imports the other; both import this module, which imports
neither NumPy nor torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from .._checks import (BOOL, LR, NONNEG, POSITIVE, UNIT, Int, OneOf, Real, check_float_array, check_int,
                       check_real, check_same_shape, validate_params)

__all__ = [
    "BETAS", "STEP", "SGD_HYPER", "MOMENTUM_HYPER", "ADAM_HYPER", "RMSPROP_HYPER", "ADAGRAD_HYPER",
    "ADAGRAD_INIT", "ADADELTA_HYPER", "eps_survives_dtype", "nesterov_needs_momentum", "amsgrad_needs_max_exp_avg_sq",
    "centered_needs_grad_avg", "momentum_needs_momentum_buffer", "arrays_like_param", "check_group",
    "Schedule", "StepRule", "ExponentialRule", "CosineAnnealingRule", "LinearRule", "PlateauRule",
]


# --- hyperparameter constraints ------------------------------------------------------------


def _betas(value, name, owner):
    want = f"The '{name}' parameter of {owner} must be a pair of floats in the range [0, 1) (a tuple or list)"
    # a sequence: a set has no order, so {0.9, 0.999} could give beta1 = 0.999
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{want}. Got {value!r} instead.")
    for b in value:
        if isinstance(b, bool) or not isinstance(b, numbers.Real):
            raise TypeError(f"{want}. Got {tuple(value)!r} instead.")
        if not 0 <= b < 1:  # NaN fails this too
            raise ValueError(f"{want}. Got {tuple(value)!r} instead.")
    return value


#: Adam's ``(beta1, beta2)``: a pair of floats in [0, 1) (a general pair check would fit in ``_checks``).
BETAS = _betas
#: The 1-based number of the update a ``*_step`` function performs.
STEP = Int(low=1)
# dampening scales the new gradient by (1 - dampening): above 1 it would climb the loss.
# rho = 1 freezes Adadelta's averages, which is still well defined (torch allows it too).
_UNIT_CLOSED = Real(low=0, high=1)

SGD_HYPER = {"lr": LR, "momentum": NONNEG, "dampening": _UNIT_CLOSED, "weight_decay": NONNEG,
             "nesterov": BOOL, "maximize": BOOL}
MOMENTUM_HYPER = {"lr": LR, "momentum": UNIT, "weight_decay": NONNEG, "maximize": BOOL}
ADAM_HYPER = {"lr": LR, "betas": BETAS, "eps": POSITIVE, "weight_decay": NONNEG, "amsgrad": BOOL,
              "maximize": BOOL}
RMSPROP_HYPER = {"lr": LR, "alpha": UNIT, "eps": POSITIVE, "weight_decay": NONNEG, "momentum": NONNEG,
                 "centered": BOOL, "maximize": BOOL}
ADAGRAD_HYPER = {"lr": LR, "lr_decay": NONNEG, "weight_decay": NONNEG, "eps": POSITIVE, "maximize": BOOL}
#: The constructor's too: the value the sum of squared gradients starts from.
ADAGRAD_INIT = {**ADAGRAD_HYPER, "initial_accumulator_value": NONNEG}
ADADELTA_HYPER = {"lr": LR, "rho": _UNIT_CLOSED, "eps": POSITIVE, "weight_decay": NONNEG, "maximize": BOOL}


#: The smallest positive number of each floating dtype (a subnormal); a positive number no larger
#: than half of it rounds to 0 in that dtype.
_TINIEST = {"float16": 2.0 ** -24, "bfloat16": 2.0 ** -133, "float32": 2.0 ** -149}


def eps_survives_dtype(args, owner):
    """``eps`` is still positive in the parameters' dtype. In float16 the default 1e-8 rounds to 0, and
    a weight whose gradients have all been 0 then takes 0 / 0 = NaN at its next step. (torch.optim
    gives that NaN.) ``args`` holds ``param`` (a step function's), or ``params`` (a constructor's
    arrays, a dict of them, or a torch param group's list)."""
    arrays = args["param"] if "param" in args else args.get("params")
    arrays = arrays.values() if isinstance(arrays, Mapping) else arrays if isinstance(arrays, (list, tuple)) else [arrays]
    for a in arrays:
        dtype = str(getattr(a, "dtype", "")).rsplit(".", 1)[-1]     # numpy's "float16", torch's "torch.float16"
        tiniest = _TINIEST.get(dtype)
        if tiniest is not None and args["eps"] <= tiniest / 2:
            raise ValueError(f"The 'eps' parameter of {owner} must be above {tiniest / 2:.3g} for {dtype} "
                             f"parameters, where a smaller one rounds to 0 and a weight with no gradient yet "
                             f"gets 0 / 0 = NaN. Got {args['eps']!r} instead.")


def nesterov_needs_momentum(args, owner):
    """Nesterov's look-ahead is defined for a momentum buffer that is not damped."""
    if args["nesterov"] and (args["momentum"] <= 0 or args["dampening"] != 0):
        raise ValueError(f"The 'nesterov' parameter of {owner} needs momentum > 0 and dampening = 0. "
                         f"Got momentum={args['momentum']!r}, dampening={args['dampening']!r} instead.")


def _state_needed(name, when, applies):
    def rule(args, owner):
        if args[name] is None and applies(args):
            raise ValueError(f"The '{name}' parameter of {owner} must be a state array (zeros at the start) "
                             f"when {when}. Got None instead.")

    rule.__name__ = rule.__qualname__ = f"{name}_needed"
    return rule


amsgrad_needs_max_exp_avg_sq = _state_needed("max_exp_avg_sq", "amsgrad=True", lambda a: a["amsgrad"])
centered_needs_grad_avg = _state_needed("grad_avg", "centered=True", lambda a: a["centered"])
momentum_needs_momentum_buffer = _state_needed("momentum_buffer", "momentum > 0", lambda a: a["momentum"] > 0)


#: The array arguments of the ``*_step`` functions; all but ``param`` and ``grad`` are state.
_ARRAY_ARGS = ("param", "grad", "momentum_buffer", "velocity", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
               "square_avg", "grad_avg", "state_sum", "acc_delta")
#: The state that some settings do not use, ``None`` then (the ``*_needed`` rules above say when it is needed;
#: SGD's momentum buffer is ``None`` before the first step).
_OPTIONAL_STATE = ("momentum_buffer", "max_exp_avg_sq", "grad_avg")


def arrays_like_param(array_type):
    """A rule for a twin's ``*_step`` functions: every array argument is a floating-point
    ``array_type`` (``numpy.ndarray`` or ``torch.Tensor``) of ``param``'s shape."""
    kind = array_type.__name__

    def rule(args, owner):
        for name in _ARRAY_ARGS:
            value = args.get(name)
            if name not in args or (value is None and name in _OPTIONAL_STATE):
                continue
            if not isinstance(value, array_type):  # None included: this state is needed whatever the settings
                raise TypeError(f"The '{name}' parameter of {owner} must be a floating-point {kind}. "
                                f"Got {'None' if value is None else type(value).__name__} instead.")
            check_float_array(value, name, owner)
            if name != "param":
                check_same_shape(args["param"], value, "param", name, owner)
            # everything but the gradient is updated in place; only a NumPy array can be read-only
            if name != "grad" and not getattr(getattr(value, "flags", None), "writeable", True):
                raise ValueError(f"The '{name}' parameter of {owner} must be writeable: it is updated in place. "
                                 f"Got a read-only array instead.")

    rule.__name__ = rule.__qualname__ = f"{kind}s_like_param"
    return rule


def check_group(group, constraints, rules, owner):
    """Check one param group's hyperparameters (a dict with every key, defaults filled in)."""
    for name, constraint in constraints.items():
        constraint(group[name], name, owner)
    for rule in rules:
        rule(group, owner)


# --- learning-rate schedules ---------------------------------------------------------------


class _Scheduler:
    """What every schedule has: the last rates set, and a state dict of its plain attributes.

    A twin's subclass supplies ``_check_optimizer(optimizer)``, ``_start_lrs()``
    (the base rates), ``_lrs()`` and ``_set_lrs(lrs)``.
    """

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step`` set, one per param group (one in the NumPy twin)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict) -> None:
        """Restore what :meth:`state_dict` returned, checked as the constructor checks its arguments.

        As in torch, the optimizer's learning rates are not touched: a schedule goes on from
        the rates the optimizer has, so restore the optimizer's state dict too.
        """
        owner, name = f"{type(self).__name__}.load_state_dict", type(self).__name__
        keys = sorted(self.state_dict())
        if not isinstance(state_dict, Mapping) or sorted(state_dict) != keys:  # another schedule's, or not one
            got = f"keys {sorted(state_dict)}" if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(f"The 'state_dict' parameter of {owner} must be a state dict of {name} with keys {keys}. "
                             f"Got {got} instead.")
        for key, constraint in getattr(type(self).__init__, "constraints", {}).items():
            if key in state_dict:
                constraint(state_dict[key], key, name)
        check_int(state_dict["last_epoch"], "last_epoch", name, low=0)
        for key in ("base_lrs", "min_lrs", "_last_lr"):
            for rate in state_dict.get(key, ()):
                check_real(rate, key, name, low=0)
        vars(self).update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.state_dict().items())})"


class Schedule(_Scheduler):
    """A schedule of the epoch: ``step`` moves every learning rate one epoch on, epoch 0 on construction.

    Each rate moves on from its current value (``next_lr``), the recursive form of
    torch's ``get_lr``, not from the base rate: so two schedules stepped together
    compose (a warm-up times a decay), a param group added later is scheduled too,
    and a rate that grows (``gamma > 1``) needs no power that overflows. ``formula``
    is the closed form the recursion follows when the schedule is the only one.

    The rule classes below supply ``__init__`` (with its constraints), ``formula`` and ``next_lr``.
    """

    def _attach(self, optimizer) -> None:
        self._check_optimizer(optimizer)
        self.optimizer = optimizer
        self.base_lrs = self._start_lrs()
        self.last_epoch = -1
        self.step()  # epoch 0: only LinearLR changes the rate, to start_factor times it

    def formula(self, base_lr: float, epoch: int) -> float:
        """The learning rate of ``epoch`` from the base rate (the closed form)."""
        raise NotImplementedError

    def next_lr(self, lr: float, base_lr: float | None, epoch: int) -> float:
        """The learning rate of ``epoch`` from ``lr``, the rate of the epoch before (torch's recursion)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set the optimizer's learning rate(s) for it."""
        self.last_epoch += 1
        lrs = self._lrs()
        # a param group added after the schedule began has no base rate (nor has it in torch)
        base_lrs = self.base_lrs + [None] * (len(lrs) - len(self.base_lrs))
        lrs = [self.next_lr(lr, base_lr, self.last_epoch) for lr, base_lr in zip(lrs, base_lrs)]
        for lr in lrs:  # an infinite rate would turn every weight into inf or NaN at the next update
            if not math.isfinite(lr):
                raise ValueError(f"{type(self).__name__} must keep the learning rate finite. Got {lr!r} at epoch "
                                 f"{self.last_epoch} instead; a gamma above 1 grows the rate without bound.")
        self._set_lrs(lrs)
        self._last_lr = self._lrs()


class StepRule(Schedule):
    r""":math:`\eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor}`: the rate times :math:`\gamma` every :math:`s` epochs."""

    @validate_params(step_size=Int(low=1), gamma=POSITIVE)
    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size, self.gamma = int(step_size), float(gamma)
        self._attach(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def next_lr(self, lr, base_lr, epoch):
        return lr * self.gamma if epoch > 0 and epoch % self.step_size == 0 else lr


class ExponentialRule(Schedule):
    r""":math:`\eta_e = \eta_0\, \gamma^{e}`: the rate times :math:`\gamma` every epoch."""

    @validate_params(gamma=POSITIVE)
    def __init__(self, optimizer, gamma):
        self.gamma = float(gamma)
        self._attach(optimizer)

    def formula(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch

    def next_lr(self, lr, base_lr, epoch):
        return lr * self.gamma if epoch > 0 else lr


class CosineAnnealingRule(Schedule):
    r""":math:`\eta_e = \eta_{\min} + \tfrac12 (\eta_0 - \eta_{\min})\,(1 + \cos(\pi e / T_{\max}))`.

    Step by step (torch's recursion) the distance to :math:`\eta_{\min}` is scaled by
    the ratio of successive :math:`1 + \cos` terms; where the one before is 0 (the
    bottom, :math:`e - 1 = T_{\max}, 3T_{\max}, \dots`) the ratio is 0/0, and the rate
    instead climbs by the first step of the cosine, which needs the base rate.
    """

    @validate_params(T_max=Int(low=1), eta_min=NONNEG)
    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        self._attach(optimizer)

    def formula(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2

    def next_lr(self, lr, base_lr, epoch):
        if epoch == 0:
            return lr
        if (epoch - 1 - self.T_max) % (2 * self.T_max) == 0:  # leaving the bottom
            if base_lr is None:
                raise RuntimeError(f"{type(self).__name__} cannot climb back from eta_min at epoch {epoch} for a "
                                   f"param group added after it was created: that group has no base rate.")
            return lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
        return ((1 + math.cos(math.pi * epoch / self.T_max)) / (1 + math.cos(math.pi * (epoch - 1) / self.T_max))
                * (lr - self.eta_min) + self.eta_min)


class LinearRule(Schedule):
    r""":math:`\eta_e = \eta_0 \left(f_s + (f_e - f_s)\,\min(e, T)/T\right)`.

    Step by step (torch's recursion) the rate is multiplied by the ratio of
    successive factors, :math:`1 + (f_e - f_s) / (T f_s + (e - 1)(f_e - f_s))`.
    """

    @validate_params(start_factor=Real(low=0, high=1, low_open=True), end_factor=Real(low=0, high=1),
                     total_iters=Int(low=1))
    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = int(total_iters)
        self._attach(optimizer)

    def formula(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)

    def next_lr(self, lr, base_lr, epoch):
        if epoch == 0:
            return lr * self.start_factor
        if epoch > self.total_iters:
            return lr
        slope = self.end_factor - self.start_factor
        return lr * (1.0 + slope / (self.total_iters * self.start_factor + (epoch - 1) * slope))


PLATEAU = {"mode": OneOf("min", "max"), "factor": UNIT, "patience": Int(low=0), "threshold": NONNEG,
           "threshold_mode": OneOf("rel", "abs"), "cooldown": Int(low=0), "eps": NONNEG}


class PlateauRule(_Scheduler):
    r"""ReduceLROnPlateau's rule on plain floats (no ``formula``: it follows a metric, not the epoch).

    The metric improves when it beats the best so far by more than ``threshold``
    (``'rel'``: :math:`m < b(1 - \tau)` in ``'min'`` mode; ``'abs'``: :math:`m < b - \tau`).
    After more than ``patience`` epochs without improvement each rate becomes
    :math:`\max(\eta f, \eta_{\min})` (skipped when that changes it by less than
    ``eps``) and the next ``cooldown`` epochs are ignored. A NaN metric never improves.
    """

    @validate_params(PLATEAU)
    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        owner = type(self).__name__
        self._check_optimizer(optimizer)
        self.optimizer = optimizer
        n = len(self._lrs())
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"The 'min_lr' parameter of {owner} must have one value per param group ({n}). "
                                 f"Got {len(min_lr)} instead.")
            self.default_min_lr = None
            self.min_lrs = [check_real(m, "min_lr", owner, low=0) for m in min_lr]
        else:
            self.default_min_lr = check_real(min_lr, "min_lr", owner, low=0)  # also for groups added later
            self.min_lrs = [self.default_min_lr] * n
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self._lrs()

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, metric: float) -> bool:
        """``metric`` beats the best so far by more than ``threshold`` (relative or absolute)."""
        best, tau = self.best, self.threshold
        if self.mode == "min":
            return metric < (best * (1 - tau) if self.threshold_mode == "rel" else best - tau)
        return metric > (best * (1 + tau) if self.threshold_mode == "rel" else best + tau)

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number, or a 0-d array or tensor) and lower the rates if it has stalled."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"The 'metrics' parameter of {type(self).__name__}.step must be a real number. "
                            f"Got {metrics!r} instead.") from None
        self.last_epoch += 1
        if self.is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0      # epochs right after a cut do not count against the new rate
        if self.num_bad_epochs > self.patience:
            self._match_groups()
            lrs = []
            for old, min_lr in zip(self._lrs(), self.min_lrs):
                new = max(old * self.factor, min_lr)
                lrs.append(new if old - new > self.eps else old)
            self._set_lrs(lrs)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _match_groups(self) -> None:
        """One ``min_lr`` per param group, groups added since the constructor included (as torch does)."""
        n = len(self._lrs())
        if n == len(self.min_lrs):
            return
        if self.default_min_lr is None:
            raise RuntimeError(f"{type(self).__name__} was given one min_lr per param group ({len(self.min_lrs)}), "
                               f"but the optimizer now has {n} groups: set its 'min_lrs' to {n} values.")
        self.min_lrs = [self.default_min_lr] * n
