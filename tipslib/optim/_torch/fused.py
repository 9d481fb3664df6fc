"""The ``fused=True`` path every torch twin optimizer shares.

What gets compiled is the optimizer's own math: the bare ``*_step`` function of the
twin (``adam_step.__wrapped__``, ``sgd_step.__wrapped__``, ...), the lines a student
reads, written so that they run on Python numbers and on 0-d tensors alike. Here it is
compiled once by ``torch.compile`` over a whole param group, so inductor turns each
tensor's lines into one kernel that reads every input once and writes every output
once. What changes from step to step (``lr``, the step number) enters as 0-d tensors,
so a new step or a scheduler's new ``lr`` does not recompile.

:class:`FusedTwinOptimizer` holds the rest, once for every such optimizer: when to
try (``compile_unavailable``, ``FUSED_MAX_TENSORS``, one device and dtype), the
compiled-function cache, and the fallback: where the compiled step cannot run,
the plain twin runs instead and ``fused_fallback[device_type]`` says why
(``None`` when the last step compiled).
"""

from __future__ import annotations

import torch

from ..._checks import BOOL, Optional
from ..._compile import compile_unavailable, room_for_graphs
from .base import TwinOptimizer

__all__ = ["FUSED", "FUSED_MAX_TENSORS", "FusedTwinOptimizer", "compile_unavailable", "compiled", "common_step"]

#: The constructor's flag, as torch spells it: ``None`` (torch's default) or a bool.
FUSED = {"fused": Optional(BOOL)}

# Compile time grows with the tensors in a group (about 1 s a tensor on a loaded
# 2-core CPU: 11 s for 10, 92 s for 100); larger groups keep the plain twin.
FUSED_MAX_TENSORS = 64
_COMPILED = {}


def _over_group(math):
    def group_step(tensor_lists, names, values, flags):
        scalars = dict(zip(names, values.unbind()))  # 0-d tensors, one per number
        # One graph for the whole group: inductor turns each tensor's lines into one kernel.
        for tensors in zip(*tensor_lists):
            math(*tensors, **scalars, **flags)
    return group_step


def compiled(math):
    """``math`` run over a whole group, compiled on first use (importing tipslib stays cheap)."""
    if math not in _COMPILED:
        # static shapes: a dynamic-shape kernel measured 4x slower on the CPU
        _COMPILED[math] = torch.compile(_over_group(math), fullgraph=True, dynamic=False)
    return _COMPILED[math]


def common_step(states):
    """The step count every state of a group shares, or ``None`` (only after a partial ``load_state_dict``)."""
    steps = {int(s["step"]) for s in states}
    return steps.pop() if len(steps) == 1 else None


class FusedTwinOptimizer(TwinOptimizer):
    """A twin optimizer with torch's ``fused`` flag: a group whose ``"fused"`` entry is
    True runs the subclass's bare ``*_step`` compiled (:meth:`_fused_update`), any
    other its plain twin. The state is the plain twin's, so ``fused`` may change
    between steps and a state dict moves freely between the two paths."""

    def __init__(self, params, defaults, fused):
        super().__init__(params, {**defaults, "fused": bool(fused)})
        #: device type -> why the last fused step there ran the plain twin (None: it compiled)
        self.fused_fallback = {}
        self._fused_blocked = {}  # device type -> a reason that holds for every later step

    def _fused_update(self, params, math, tensor_lists, scalars, flags):
        """One compiled step of ``math`` over ``params``; False when it cannot run here.

        ``tensor_lists`` holds one list per tensor argument of ``math`` (``params``
        first, ``None`` for state an option does not keep), ``scalars`` the keyword
        arguments whose numbers change from step to step (``{"lr": 0.01, "step": 7}``),
        ``flags`` the rest (a change of one of them compiles again). On False nothing has been touched and the caller
        runs its plain twin.
        """
        device = params[0].device
        if device.type not in self._fused_blocked:
            self._fused_blocked[device.type] = compile_unavailable(device)
        reason = self._fused_blocked[device.type]
        if reason is None and len(params) > FUSED_MAX_TENSORS:
            reason = f"a group of {len(params)} tensors is over FUSED_MAX_TENSORS={FUSED_MAX_TENSORS}"
        if reason is None and not self._uniform(params):
            reason = "the group's tensors and gradients differ in device or dtype"
        if reason is None:
            # What changes from step to step goes in as a tensor, so it does not recompile:
            # one copy that does not wait for the device (a tensor per number, made on
            # the device, would wait for it once each).
            values = torch.tensor(list(scalars.values()), dtype=torch.float64).to(device, non_blocking=True)
            try:
                with room_for_graphs():  # one graph per model (static shapes) and per option
                    compiled(math)(tensor_lists, tuple(scalars), values, flags)
            except Exception as exc:  # noqa: BLE001 - compiling fails before the kernels touch a tensor
                reason = f"torch.compile failed: {type(exc).__name__}: {exc}"[:300]
                self._fused_blocked[device.type] = reason
        self.fused_fallback[device.type] = reason
        return reason is None
