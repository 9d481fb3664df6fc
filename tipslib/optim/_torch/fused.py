"""The ``fused=True`` path every torch twin optimizer shares.

What gets compiled is the optimizer's own math: the bare ``*_step`` function of the
twin (``adam_step.__wrapped__``, ``sgd_step.__wrapped__``, ...), the lines a student
reads, written so that they run on Python numbers and on 0-d tensors alike. What
changes from step to step (``lr``, the step number) enters as 0-d tensors, so a new
step or a scheduler's new ``lr`` does not recompile. A group runs it in one of two
layouts:

* **one kernel a tensor** (up to :data:`FUSED_PER_TENSOR_MAX` tensors): the math is
  compiled once over the whole group, so inductor turns each tensor's lines into one
  kernel that reads every input once and writes every output once, the least bytes
  the formula allows (Adam: 28 an element in float32, as torch's fused kernel);
* **one flat buffer** (larger groups, :class:`FlatGroup`): the state lives in one
  buffer per kind (``exp_avg``, ...), each parameter's state a view of it; every step
  copies the parameters and gradients into two more flat buffers, runs the math once
  on the whole buffer and copies the parameters back. Three multi-tensor copies more
  (24 bytes an element in float32), but one compiled call and one graph however many
  tensors the group has: a group of many small tensors is bound by host time, not
  bytes, and the per-tensor layout would compile a kernel for each (about 1 s apiece).

:class:`FusedTwinOptimizer` holds the rest, once for every such optimizer: when to
try (``compile_unavailable``, one device and dtype), the compiled-function cache,
and the fallback: where the compiled step cannot run, the plain twin runs instead
and ``fused_fallback[device_type]`` says why (``None`` when the last step compiled).
Under an outer ``torch.compile`` (``torch.compile(optimizer.step)``, a compiled training
step) the plain twin's lines are traced into that graph instead, which fuses them itself.
"""

from __future__ import annotations

import torch

from ..._checks import BOOL, Optional
from ..._compile import compile_unavailable, room_for_graphs
from .base import TwinOptimizer

__all__ = ["FUSED", "FUSED_PER_TENSOR_MAX", "FlatGroup", "FusedTwinOptimizer", "by_step", "compile_unavailable",
           "compiled"]

#: The constructor's flag, as torch spells it: ``None`` (torch's default) or a bool.
FUSED = {"fused": Optional(BOOL)}

#: The most tensors a group compiles one kernel each for. Compile time grows with them
#: (about 1 s a tensor on a loaded 2-core CPU: 11 s for 10, 92 s for 100); a larger
#: group takes the flat layout, one graph whatever its size.
FUSED_PER_TENSOR_MAX = 64
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


def by_step(params, states):
    """``params`` and their ``states`` split by step count: ``{step: (params, states)}``.

    One entry, unless a parameter missed a step (it had no gradient then, or came
    from a partial ``load_state_dict``): its step number, which the compiled math
    takes as one number for all, differs from then on.
    """
    steps = [s["step"] for s in states]
    if steps.count(steps[0]) == len(steps):  # the usual case, without a loop in Python
        return {steps[0]: (params, states)}
    split = {}
    for p, s in zip(params, states):
        ps, ss = split.setdefault(s["step"], ([], []))
        ps.append(p)
        ss.append(s)
    return split


def _views(buffer, like):
    """``buffer`` cut, in order, into views shaped like the tensors of ``like``."""
    return [chunk.view(t.shape) for chunk, t in zip(buffer.split([t.numel() for t in like]), like)]


class FlatGroup:
    """A group's tensors as flat buffers: the flat layout of ``fused=True``.

    ``params`` and ``grads`` are two buffers a step copies the group's parameters and
    gradients into, and the parameters back out of (the tensors are the user's, so
    they cannot live in a buffer of ours). The state can: every ``state[key]`` of the
    group is made a view of one buffer per key (:meth:`state_buffer`), so the math
    updates it in place and ``optimizer.state`` shows it as ever. The price in memory:
    two buffers the size of the group's parameters.
    """

    def __init__(self, params):
        self.owners = list(params)  # held, so that no other tensor can take their ids
        self.params = torch.empty(sum(p.numel() for p in params), dtype=params[0].dtype, device=params[0].device)
        self.grads = torch.empty_like(self.params)
        self.param_views, self.grad_views = _views(self.params, params), _views(self.grads, params)
        self.shapes = [p.shape for p in params]
        self._state = {}  # key -> (buffer, its views: the state tensors themselves)

    def holds(self, params):
        """Whether ``params`` (the tensors this was made for, of one dtype and device) still have the
        shapes, dtype and device it was made with."""
        first = params[0]
        return (first.dtype == self.params.dtype and first.device == self.params.device
                and [p.shape for p in params] == self.shapes)

    def state_buffer(self, key, states):
        """The buffer every ``state[key]`` of ``states`` is a view of, or ``None`` where no state keeps ``key``.

        The first time, and whenever a state tensor is no longer one of its views
        (``load_state_dict`` puts new tensors in), the buffer is made afresh from the
        state as it stands and each ``state[key]`` is replaced by its view.
        """
        tensors = [s.get(key) for s in states]
        if all(t is None for t in tensors):
            return None
        held = self._state.get(key)
        if held is None or not all(t is v for t, v in zip(tensors, held[1])):
            buffer = torch.cat([t.reshape(-1) for t in tensors])
            views = _views(buffer, tensors)
            for s, view in zip(states, views):
                s[key] = view
            held = self._state[key] = (buffer, views)
        return held[0]

    def step(self, step_fn, params, states, state_keys, *args):
        """``step_fn`` (a compiled group step) once over the whole group: copy in, update, copy the parameters back."""
        torch._foreach_copy_(self.param_views, params)
        torch._foreach_copy_(self.grad_views, [p.grad for p in params])
        buffers = [self.state_buffer(key, states) for key in state_keys]
        step_fn([[self.params], [self.grads], *([b] for b in buffers)], *args)
        torch._foreach_copy_(params, self.param_views)


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
        self._flat_groups = {}  # ids of a group's params -> its FlatGroup

    def _fused_update(self, params, states, math, state_keys, scalars, flags):
        """One compiled step of ``math`` over ``params``; False when it cannot run here.

        ``math`` takes ``(param, grad, *state)``, the state tensors being
        ``states[i][key]`` (``self.state[params[i]]``) for the keys in
        ``state_keys`` (``None`` for a key an option does not keep); ``scalars``
        holds the keyword arguments whose numbers change from step to step
        (``{"lr": 0.01, "step": 7}``), ``flags`` the rest (a change of one of them
        compiles again). Up to :data:`FUSED_PER_TENSOR_MAX` tensors get one kernel
        each, more the flat layout (:class:`FlatGroup`). On False no parameter has
        been touched and the caller runs its plain twin.

        While an outer ``torch.compile`` traces the step (``torch.compile(optimizer.step)``,
        a compiled training step) it is False, and ``fused_fallback`` is left as it was:
        the outer graph fuses the plain twin's lines into kernels itself, and takes
        its step number as a number that may change (one graph serves every step), where
        this path's bookkeeping would be traced into one graph per step number.
        """
        if torch.compiler.is_compiling():
            return False
        device = params[0].device
        if device.type not in self._fused_blocked:
            self._fused_blocked[device.type] = compile_unavailable(device)
        reason = self._fused_blocked[device.type]
        if reason is None and not self._uniform(params):
            reason = "the group's tensors and gradients differ in device or dtype"
        if reason is None:
            # What changes from step to step goes in as a tensor, so it does not recompile:
            # one copy that does not wait for the device (a tensor per number, made on
            # the device, would wait for it once each).
            values = torch.tensor(list(scalars.values()), dtype=torch.float64).to(device, non_blocking=True)
            try:
                with room_for_graphs():  # one graph per model (static shapes) and per option
                    if len(params) <= FUSED_PER_TENSOR_MAX:
                        state_lists = ([s.get(key) for s in states] for key in state_keys)
                        tensor_lists = [params, [p.grad for p in params], *state_lists]
                        compiled(math)(tensor_lists, tuple(scalars), values, flags)
                    else:
                        self._flat_group(params).step(compiled(math), params, states, state_keys,
                                                      tuple(scalars), values, flags)
            except Exception as exc:  # noqa: BLE001 - compiling fails before the kernels touch a parameter
                reason = f"torch.compile failed: {type(exc).__name__}: {exc}"[:300]
                self._fused_blocked[device.type] = reason
        self.fused_fallback[device.type] = reason
        return reason is None

    def _fused_by_step(self, params, states, math, state_keys, scalars, flags):
        """:meth:`_fused_update` for each step count of the group (:func:`by_step`), the
        count going in as ``scalars["step"]``: the params and states it could not
        update, for the caller's plain twin (all of them while an outer ``torch.compile``
        traces: see :meth:`_fused_update`)."""
        if torch.compiler.is_compiling():  # before by_step, whose split would guard on the step number
            return params, states
        left_params, left_states = [], []
        for t, (ps, ss) in by_step(params, states).items():
            if not self._fused_update(ps, ss, math, state_keys, {**scalars, "step": t}, flags):
                left_params += ps
                left_states += ss
        return left_params, left_states

    def _flat_group(self, params):
        """The :class:`FlatGroup` of ``params``, made on first use and again when a shape changed."""
        ids = tuple(map(id, params))
        flat = self._flat_groups.get(ids)
        if flat is None or not flat.holds(params):
            # a tensor belongs to one layout at a time: older ones holding it are stale
            self._flat_groups = {k: f for k, f in self._flat_groups.items() if set(k).isdisjoint(ids)}
            flat = self._flat_groups[ids] = FlatGroup(params)
        return flat
