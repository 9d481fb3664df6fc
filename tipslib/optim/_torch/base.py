"""What the torch twins share: the ``step(closure)`` loop over param groups."""

from __future__ import annotations

import torch

__all__ = ["TwinOptimizer"]


class TwinOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose subclasses only say how to start the
    per-parameter state (``_init_state``) and how to update one group
    (``_update_group``); param groups, ``zero_grad`` and ``state_dict`` are torch's."""

    def _init_state(self, p, state, group) -> None:
        raise NotImplementedError

    def _update_group(self, group, params) -> None:
        raise NotImplementedError

    @staticmethod
    def _uniform(params) -> bool:
        """True when every tensor shares one device and dtype (what ``_foreach_*`` kernels need)."""
        first = params[0]
        return all(p.device == first.device and p.dtype == first.dtype
                   and p.grad.device == first.device and p.grad.dtype == first.dtype for p in params)

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a ``.grad``; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        name = type(self).__name__
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if p.grad.is_sparse:
                    raise TypeError(f"{name} does not support sparse gradients. Got a sparse .grad "
                                    f"for a parameter of shape {tuple(p.shape)}.")
                state = self.state[p]
                if not state:
                    self._init_state(p, state, group)
            if params:
                self._update_group(group, params)
        return loss
