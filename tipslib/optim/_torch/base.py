"""What the torch twins share: checking param groups at the door and the ``step(closure)`` loop."""

from __future__ import annotations

import torch

from ..._checks import BOOL, Optional
from .._shared import arrays_like_param, check_group

__all__ = ["TwinOptimizer", "TENSORS"]

#: The rule of every torch ``*_step`` function's arrays: floating-point tensors of ``param``'s shape.
TENSORS = arrays_like_param(torch.Tensor)
#: A group's ``"foreach"`` flag, as torch types it (``None``: torch's "default"); "yes" would pass for True.
FOREACH = Optional(BOOL)


def _check_group_params(params, owner):
    if not params:
        raise ValueError(f"The 'params' parameter of {owner} must not be empty. Got a param group with no tensors instead.")
    for i, p in enumerate(params):
        if not p.is_floating_point():
            raise TypeError(f"The 'params' parameter of {owner} must hold floating-point tensors. "
                            f"Got a tensor of dtype {p.dtype} at position {i} instead.")


class TwinOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose subclasses only say how to start the
    per-parameter state (``_init_state``) and how to update one group
    (``_update_group``); param groups, ``zero_grad`` and ``state_dict`` are torch's.

    Every param group is checked when it arrives (the constructor's and any added
    later with ``add_param_group``): floating-point tensors, and hyperparameters
    that meet the subclass's declared ``_constraints`` and ``_rules`` (the ones its
    constructor is decorated with), and a ``"foreach"`` flag that is a bool or None.
    Keys the optimizer does not use are kept, as torch keeps them (schedulers and
    users store their own there). ``step`` then trusts the groups and does no
    checking of its own, but for sparse gradients."""

    _constraints: dict = {}
    _rules: tuple = ()

    def __init__(self, params, defaults):
        owner = type(self).__name__
        if isinstance(params, torch.Tensor):
            raise TypeError(f"The 'params' parameter of {owner} must be an iterable of tensors or dicts. "
                            f"Got a single Tensor instead; wrap it in a list.")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"The 'params' parameter of {owner} must be an iterable of tensors or dicts. "
                            f"Got {type(params).__name__} instead.") from None
        if not params:
            raise ValueError(f"The 'params' parameter of {owner} must not be empty. Got an empty parameter list instead.")
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        """torch's ``add_param_group``, then the checks the constructor's groups get too."""
        super().add_param_group(param_group)
        group, owner = self.param_groups[-1], type(self).__name__
        try:
            _check_group_params(group["params"], owner)
            check_group(group, self._constraints, self._rules, owner)
            FOREACH(group.get("foreach"), "foreach", owner)
        except (TypeError, ValueError):
            self.param_groups.pop()  # a refused group must leave the optimizer as it was
            raise

    def _init_state(self, p, state, group) -> None:
        raise NotImplementedError

    def _update_group(self, group, params) -> None:
        raise NotImplementedError

    @staticmethod
    def _uniform(params) -> bool:
        """True when every tensor shares one device and dtype (what ``_foreach_*`` kernels need)."""
        dtype, device = params[0].dtype, params[0].device
        grads = [p.grad for p in params]
        # Each dtype is one object, so `is` will do; devices go into one set, since each
        # comparison of two builds objects (1.5x faster than the plain loop at 1,000 tensors).
        return (all(t.dtype is dtype for t in params) and all(g.dtype is dtype for g in grads)
                and {t.device for t in params}.union(g.device for g in grads) == {device})

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a ``.grad``; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = [(group, [p for p in group["params"] if p.grad is not None]) for group in self.param_groups]
        for _, params in groups:  # every group is checked before any is updated
            for p in params:
                if p.grad.is_sparse:
                    raise TypeError(f"The gradients of {type(self).__name__} must be dense. Got a sparse .grad "
                                    f"for a parameter of shape {tuple(p.shape)} instead.")
        for group, params in groups:
            for p in params:
                state = self.state[p]
                if not state:
                    self._init_state(p, state, group)
            if params:
                self._update_group(group, params)
        return loss
