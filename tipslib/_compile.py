"""``torch.compile`` for the torch twins' fast paths: where it can run, and one compiled copy per function.

The optimizers' ``fused=True`` and the layers' fast path share it. Either way what
gets compiled is the twin's own bare math, the lines a student reads; inductor
turns a chain of element-wise lines into one kernel that reads each input once
and writes each output once, which is where an eager twin loses to torch's
hand-fused kernels on a GPU (bytes moved, not arithmetic: chapter 3).

The layers choose their path as torch does, with no flag: the compiled copy on a
device type in :data:`FAST_PATH_DEVICES` (CUDA: on a CPU the compile costs seconds
and the eager twin is already near torch), the bare function everywhere else.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["FAST_PATH_DEVICES", "GRAPHS_PER_FUNCTION", "FastPath", "compile_unavailable", "room_for_graphs"]

#: The device types whose layers run their compiled fast path.
FAST_PATH_DEVICES = frozenset({"cuda"})

#: Graphs one compiled function may hold while tipslib calls it: dynamo's own ceiling for
#: one function (its ``accumulated_recompile_limit``). The fused optimizers compile static
#: shapes, so each model's shapes and each option set is a graph of the one shared group
#: step; at dynamo's default of 8 the ninth model of a process would fail to compile and
#: keep the plain twin (``fused_fallback`` says why). The layers' fast path compiles with
#: automatic dynamic shapes and numbers: a new batch size or dropout rate adds no graph.
GRAPHS_PER_FUNCTION = 256


@contextlib.contextmanager
def room_for_graphs(limit=None):
    """Let a compiled function called inside hold up to ``limit`` graphs (default
    :data:`GRAPHS_PER_FUNCTION`; entering and leaving costs about 4 us)."""
    limit = GRAPHS_PER_FUNCTION if limit is None else limit
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"  # torch < 2.6
    saved = getattr(config, name)
    setattr(config, name, max(saved, limit))
    try:
        yield
    finally:
        setattr(config, name, saved)


def compile_unavailable(device):
    """Why ``torch.compile`` cannot build a kernel for ``device`` here, or ``None`` when it can."""
    try:
        if device.type == "cuda":
            from torch.utils._triton import has_triton
            return None if has_triton() else "Triton is not installed"
        if device.type == "cpu":
            from torch._inductor.cpp_builder import get_cpp_compiler
            get_cpp_compiler()
            return None
    except Exception as exc:  # noqa: BLE001 - a missing toolchain shows up as many kinds of error
        return f"no C++ compiler for torch.compile: {type(exc).__name__}: {exc}"
    return f"torch.compile's default backend does not target {device.type}"


def _recorded(args):
    """Whether autograd records ops on ``args`` (tensors, or tuples of them as a cache is)."""
    if not torch.is_grad_enabled():
        return False
    return any(isinstance(t, torch.Tensor) and t.requires_grad
               for a in args for t in (a if isinstance(a, tuple) else (a,)))


class FastPath:
    """A bare math function, called compiled where that pays and works, else as it is.

    ``FastPath(math)(*args, **kwargs)`` returns what ``math`` returns. It runs the
    compiled copy (built on first use) when the first argument's device type is in
    :data:`FAST_PATH_DEVICES` and ``torch.compile`` works there, and the bare
    function when it does not, while an outer ``torch.compile`` traces (which
    fuses the bare lines anyway) and while autograd records the call (``create_graph=True``
    differentiates a backward's own ops). ``fallback[device_type]`` says why
    the last call on a fast-path device ran the bare function (``None``: it did not).
    """

    def __init__(self, math):
        self.math = math
        self.fallback = {}
        self._blocked = {}  # device type -> a reason that holds for every later call
        self._compiled = None

    def fuses_on(self, device):
        """Whether work on ``device`` gets fused: a fast-path device where ``torch.compile`` can build
        (or is tracing right now, which fuses the bare lines into the outer graph)."""
        if device.type not in FAST_PATH_DEVICES:
            return False
        return torch.compiler.is_compiling() or self._why_not(device) is None

    def _why_not(self, device):
        if device.type not in self._blocked:
            self._blocked[device.type] = compile_unavailable(device)
        return self._blocked[device.type]

    def __call__(self, *args, **kwargs):
        device = args[0].device
        if device.type not in FAST_PATH_DEVICES or torch.compiler.is_compiling():
            return self.math(*args, **kwargs)
        reason = self._why_not(device)
        if reason is None and _recorded(args):
            reason = "autograd records this call (create_graph=True): the bare ops keep it differentiable"
        if reason is None:
            if self._compiled is None:
                self._compiled = torch.compile(self.math, fullgraph=True)
            try:
                result = self._compiled(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - compiling fails before a kernel writes anything
                reason = f"torch.compile failed: {type(exc).__name__}: {exc}"[:300]
                self._blocked[device.type] = reason
            else:
                self.fallback[device.type] = None
                return result
        self.fallback[device.type] = reason
        return self.math(*args, **kwargs)
