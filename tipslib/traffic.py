"""How many bytes a function moves through memory, run eagerly or compiled.

On large arrays an element-wise step is bounded by memory bandwidth, not by
arithmetic, so the bytes it reads and writes predict its time (chapter 3, "bytes
moved, not arithmetic"). The counts need no GPU and no clock:

- :func:`eager_traffic` runs the function and adds up, for every kernel torch
  launches, the bytes of the tensors it reads and writes (a view moves nothing);
- :func:`compiled_traffic` compiles it with ``torch.compile`` and asks inductor
  how many bytes its fused kernels read and write;
- :func:`fused_step_traffic` does that for one step of a twin optimizer built with
  ``fused=True``;
- :func:`compiled_count_unavailable` says why the compiled counts cannot run
  here (no C++ compiler, or a torch whose inductor does not count: 2.6 and 2.7 do not).

>>> import torch
>>> n = 1_000_000
>>> x, y = torch.randn(n), torch.randn(n)
>>> eager_traffic(lambda x, y: (x * y).add_(1), x, y).per_element(n)  # two kernels: read 2, write 1; read 1, write 1
20.0
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ._checks import Int, IsCallable, param_of, validate_params
from ._compile import compile_unavailable, room_for_graphs

__all__ = ["Traffic", "eager_traffic", "compiled_traffic", "fused_step_traffic", "compiled_count_unavailable"]


@dataclass(frozen=True)
class Traffic:
    """Bytes read and written by a function's kernels, and how many kernels there were."""

    bytes: int
    kernels: int

    @validate_params(n=Int(low=1))
    def per_element(self, n):
        """Bytes per element of an ``n``-element tensor: 28.0 for an Adam step that reads and writes nothing twice."""
        return self.bytes / n


def _nbytes(t):
    return t.numel() * t.element_size()


class _CountKernels(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.bytes = 0
        self.kernels = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.is_view or func._schema.name in _NOT_KERNELS:
            return out
        read, written = {}, {}  # id -> bytes: a tensor passed twice (x * x) is read once
        named = zip(func._schema.arguments, list(args) + [kwargs.get(a.name) for a in
                                                            func._schema.arguments[len(args):]])
        for schema_arg, value in named:
            tensors = [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]
            mutated = schema_arg.alias_info is not None and schema_arg.alias_info.is_write
            overwritten = schema_arg.is_out or (mutated and func._schema.name in _OVERWRITE)
            for t in tensors:
                if not overwritten:  # an out= buffer, or what a copy lands in, is only written
                    read[id(t)] = _nbytes(t)
                if mutated:  # in place (x.mul_(2), torch._foreach_mul_): read and written
                    written[id(t)] = _nbytes(t)
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                written[id(t)] = _nbytes(t)
        self.bytes += sum(read.values()) + sum(written.values())
        self.kernels += 1
        return out


# In-place ops that overwrite their tensor without reading it.
_OVERWRITE = frozenset({"aten::copy_", "aten::_foreach_copy_", "aten::fill_", "aten::zero_", "aten::_foreach_zero_"})
# Ops that only make metadata or an empty buffer: no kernel reads or writes memory for them.
_NOT_KERNELS = frozenset({"aten::empty", "aten::empty_like", "aten::empty_strided", "aten::lift_fresh",
                          "aten::_local_scalar_dense"})


@validate_params(fn=IsCallable())
def eager_traffic(fn, *args, **kwargs):
    """:class:`Traffic` of ``fn(*args, **kwargs)`` run eagerly: each aten kernel's tensors, read and written.

    An in-place kernel reads and writes its tensor; a tensor overwritten in
    place (by ``copy_``, ``fill_``, ``zero_``, ``_foreach_copy_``) and an
    ``out=`` buffer are only written; a tensor passed twice to one kernel is
    read once. A kernel that passes over its input twice inside (a CPU batch
    norm: statistics, then the output) counts it once, so this is the least
    such kernels move. ``fn`` really runs: in-place updates happen.
    """
    counter = _CountKernels()
    with counter:
        fn(*args, **kwargs)
    return Traffic(counter.bytes, counter.kernels)


def _metrics_log():
    from torch._inductor import compile_fx
    return getattr(compile_fx, "inductor_metrics_log", None)  # what turns the count on; older inductors lack it


def compiled_count_unavailable():
    """Why :func:`compiled_traffic` cannot count CPU tensors here, or ``None`` when it can."""
    if _metrics_log() is None:
        return f"torch {torch.__version__}'s inductor does not count the bytes its kernels move"
    return compile_unavailable(torch.device("cpu"))


@contextlib.contextmanager
def _inductor_counts_bytes():
    # Inductor counts its kernels' bytes only when this logger is on; on, quietly
    # (no handler, no propagation: INFO is below logging's last-resort level).
    log = _metrics_log()
    if log is None:
        raise RuntimeError(compiled_count_unavailable())
    saved = log.level, log.propagate, log.disabled
    log.setLevel(logging.INFO)
    log.propagate, log.disabled = False, False
    try:
        yield
    finally:
        log.setLevel(saved[0])
        log.propagate, log.disabled = saved[1], saved[2]


def _no_autograd_cache(aot_config):
    if not hasattr(aot_config, "enable_autograd_cache"):  # torch < 2.5 has none
        return contextlib.nullcontext()
    return aot_config.patch(enable_autograd_cache=False)


@validate_params(fn=IsCallable())
def compiled_traffic(fn, *args, **kwargs):
    """:class:`Traffic` of ``fn(*args, **kwargs)`` compiled by ``torch.compile`` (inductor, static shapes), as
    inductor counts it: the bytes each generated kernel reads and writes.

    Compiles afresh every call (a cached kernel would skip the count) and
    runs the compiled ``fn`` once, without autograd: in-place updates happen.
    Inductor counts a buffer the function writes in place as read and written,
    even where its kernel only writes it.
    The kernels are those inductor generates for the arguments' device (C++ on a
    CPU, Triton on a GPU); both come out of the same fusion pass, so a count on a
    CPU says what a GPU's kernels move, up to where the two backends differ
    (``bench/bench_traffic.py --device cuda`` counts on a GPU). Raises
    ``RuntimeError`` when nothing was compiled.
    """
    from torch._functorch import config as aot_config
    from torch._inductor import config, metrics
    from torch._inductor.compile_fx import compile_fx

    graphs = []

    def inductor(gm, example_inputs):
        graphs.append(gm)
        return compile_fx(gm, example_inputs)

    metrics.reset()
    # A new backend each call: dynamo compiles again instead of reusing an earlier graph,
    # and keeps it beside the others (room for many).
    with _inductor_counts_bytes(), config.patch(fx_graph_cache=False, fx_graph_remote_cache=False), \
            _no_autograd_cache(aot_config), room_for_graphs(), torch.no_grad():
        torch.compile(fn, backend=inductor, fullgraph=True, dynamic=False)(*args, **kwargs)
        counted = Traffic(metrics.num_bytes_accessed, metrics.generated_kernel_count)
    if not graphs:
        raise RuntimeError(f"torch.compile did not compile {getattr(fn, '__name__', fn)!r}: nothing was counted")
    return counted


def _fused_twin_optimizer(value, name, owner):
    from .optim._torch.fused import FusedTwinOptimizer
    if not isinstance(value, FusedTwinOptimizer):
        raise TypeError(f"{param_of(name, owner)} must be a tipslib twin optimizer with a fused flag "
                        f"(tipslib.optim.torch_impl: SGD, RMSprop, Adagrad, Adam, AdamW). "
                        f"Got {type(value).__name__} instead.")


@validate_params(optimizer=_fused_twin_optimizer)
def fused_step_traffic(optimizer):
    """:class:`Traffic` of one ``optimizer.step()`` of a tipslib twin optimizer with ``fused=True``: what
    inductor counts for the compiled step of each group, added up.

    The step really happens, compiled afresh (the optimizer's own compiled copy
    is not used, so it is not counted twice). For a group in the flat layout
    (``fused.FlatGroup``) that is the one kernel over the flat buffers; the
    three copies into and out of them are eager (:func:`eager_traffic` counts
    them). Raises ``RuntimeError`` when no group ran compiled (SGD's first
    momentum step, for one, creates its buffers on the plain path; see
    ``optimizer.fused_fallback`` for why).
    """
    from .optim._torch import fused
    counted = []

    def counting(math):
        def step(*args):
            counted.append(compiled_traffic(fused._over_group(math), *args))
        return step

    with mock.patch.object(fused, "compiled", counting):
        optimizer.step()
    if not counted:
        raise RuntimeError(f"no group of this {type(optimizer).__name__} ran compiled: "
                           f"fused_fallback={optimizer.fused_fallback}")
    return Traffic(sum(c.bytes for c in counted), sum(c.kernels for c in counted))
