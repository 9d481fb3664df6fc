"""Issue 18's table: each torch twin against torch's best built-in, in the same run.

Every row of the table in issue 18 (Adam at 1e8 in 10 tensors and at 1e7 in
1,000 tensors, SGD with momentum, Dropout, BatchNorm1d, BatchNorm2d forward +
backward, one MLP epoch, once more with the twin model under ``torch.compile``, and on a
GPU a third time with CUDA graphs), and
the twins' ``fused=True`` optimizers (Adam, SGD with momentum, RMSprop, Adagrad at
both sizes), is measured twice:

* on CUDA at the issue's sizes, against the fused built-in where torch has one
  (``fused=True`` optimizers) and the native module otherwise, the Dropout and
  BatchNorm rows once more with the layers' fast path off (the plain twin: what
  the fast path gains); without a GPU these rows are printed as "absent (no CUDA)";
* on the CPU at sizes scaled down for a small shared machine, one thread each,
  against the same built-ins (torch's fused CPU optimizers where this torch has
  them, else ``foreach``; the anchor column says which).

Contenders are called in turn within each round (``interleaved_times``), so a
burst of other load hits all of them alike. The MLP epoch uses
``F.cross_entropy`` on both sides: the rows compare layers and optimizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, interleaved_times, print_row, print_table, single_thread  # noqa: E402

import tipslib._compile as _compile  # noqa: E402
from tipslib.layers import torch_impl as TL  # noqa: E402
from tipslib.layers._torch import batchnorm as _batchnorm  # noqa: E402
from tipslib.layers._torch import dropout as _dropout  # noqa: E402
from tipslib.optim import torch_impl as TO  # noqa: E402

# (name, CUDA size, CPU size, quick CPU size); sizes as the workloads below read them.
TEN, THOUSAND = ((10 ** 8, 10), (10 ** 6, 10), (10 ** 5, 10)), ((10 ** 7, 1000), (10 ** 6, 1000), (10 ** 5, 100))
OPTIM_ROWS = [
    ("Adam step", *TEN),
    ("Adam step", *THOUSAND),
    # The twins' fused=True path (torch.compile of their own lines): one kernel a
    # tensor for 10 tensors, one flat buffer for 1,000 (fused.FUSED_PER_TENSOR_MAX).
    ("Adam step, twin fused=True", *TEN),
    ("Adam step, twin fused=True", *THOUSAND),
    ("SGD + momentum step", *TEN),
    ("SGD + momentum step, twin fused=True", *TEN),
    ("SGD + momentum step, twin fused=True", *THOUSAND),
    ("RMSprop step, twin fused=True", *TEN),
    ("RMSprop step, twin fused=True", *THOUSAND),
    ("Adagrad step, twin fused=True", *TEN),
    ("Adagrad step, twin fused=True", *THOUSAND),
]
#: The workload's first words -> (torch's optimizer, the twin, the hyperparameters both get).
OPTIMIZERS = {
    "Adam step": (torch.optim.Adam, TO.Adam, {}),
    "SGD + momentum step": (torch.optim.SGD, TO.SGD, dict(momentum=0.9)),
    "RMSprop step": (torch.optim.RMSprop, TO.RMSprop, {}),
    "Adagrad step": (torch.optim.Adagrad, TO.Adagrad, {}),
}
GOAL = "<= 1.2x"


def _label(n):
    return f"1e{len(str(n)) - 1}"


def _what(kind, size):
    """The row's name for workload ``kind`` at ``size`` (the same with or without a GPU)."""
    if kind.startswith(tuple(OPTIMIZERS)):
        return f"{kind}, {_label(size[0])} float32 params in {size[1]} tensors"
    if kind == "Dropout":
        return f"Dropout p=0.5 fwd+bwd, {_label(size[0])} float32"
    if kind == "MLP epoch":
        n, widths, batch = size
        return f"MLP epoch, {n} x {widths[0]}, {'-'.join(map(str, widths))} with BN, dropout, Adam, batch {batch}"
    return f"{kind} fwd+bwd train, {'x'.join(map(str, size))} float32"


def _best_optimizer(cls, params, **kw):
    """torch's fastest implementation of ``cls`` here: fused if it runs on this device, else foreach."""
    for flag in ("fused", "foreach"):
        try:
            opt = cls(params, **kw, **{flag: True})
            opt.step()  # fused support is checked per device at the first step
            return opt, f"torch.optim.{cls.__name__}({flag}=True)"
        except (RuntimeError, ValueError, TypeError):
            continue
    return cls(params, **kw), f"torch.optim.{cls.__name__}"


def _params(n, count, device):
    gen = torch.Generator(device).manual_seed(0)
    ps = []
    for _ in range(count):
        p = torch.randn(n // count, device=device, generator=gen).requires_grad_(True)
        p.grad = torch.randn(n // count, device=device, generator=gen)
        ps.append(p)
    return ps


def _optim(name, size, device):
    n, count = size
    builtin_cls, twin_cls, kw = OPTIMIZERS[name.split(",")[0]]
    builtin, anchor = _best_optimizer(builtin_cls, _params(n, count, device), lr=1e-3, **kw)
    twin = twin_cls(_params(n, count, device), lr=1e-3, fused="fused" in name, **kw)
    twin.step()  # as _best_optimizer's step: SGD's first step makes the buffers, so the warm-up compiles

    def fallback():
        reasons = [r for r in getattr(twin, "fused_fallback", {}).values() if r]
        return f"; the twin ran its plain path: {reasons[0]}" if reasons else ""

    return _what(name, size), twin.step, builtin.step, anchor, fallback


def _fwd_bwd(module, x, dout):
    def step():
        x.grad = None
        module(x).backward(dout)
        for p in module.parameters():
            p.grad = None
    return step


def _layer(kind, shape, device):
    gen = torch.Generator(device).manual_seed(0)
    x = torch.randn(shape, device=device, generator=gen).requires_grad_(True)
    dout = torch.randn(shape, device=device, generator=gen)
    if kind == "Dropout":
        twin, builtin, anchor = TL.Dropout(0.5), torch.nn.Dropout(0.5), "torch.nn.Dropout"
        paths = (_dropout.fast_draw_and_drop, _dropout.fast_backward)
    else:
        cls = TL.BatchNorm1d if kind == "BatchNorm1d" else TL.BatchNorm2d
        twin = cls(shape[1], device=device)
        builtin = getattr(torch.nn, kind)(shape[1], device=device)
        anchor = f"torch.nn.{kind}"
        paths = (_batchnorm.fast_forward, _batchnorm.fast_backward)

    def fallback():  # the fast path (on a GPU): why a part of it ran the bare math, if it did
        reasons = [r for path in paths if (r := path.fallback.get(torch.device(device).type))]
        return f"; the twin ran its bare math: {reasons[0]}" if reasons else ""

    return _what(kind, shape), _fwd_bwd(twin, x, dout), _fwd_bwd(builtin, x, dout), anchor, fallback


LAYER_ROWS = [
    ("Dropout", (10 ** 8,), (10 ** 6,), (10 ** 5,)),
    ("BatchNorm1d", (8192, 4096), (1024, 512), (256, 128)),
    ("BatchNorm2d", (256, 64, 56, 56), (16, 64, 28, 28), (4, 16, 14, 14)),
]


def _mlp(layers, widths, device):
    mods = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        mods.append(layers.Linear(a, b, device=device))
        if i < len(widths) - 2:
            mods += [layers.BatchNorm1d(b, device=device), layers.ReLU(), layers.Dropout(0.5)]
    return layers.Sequential(*mods)


#: The suffix of an MLP row whose twin model runs under ``torch.compile``, by its ``mode``.
COMPILED_MODEL = ", twin model under torch.compile"
CUDA_GRAPHS = ', twin model under torch.compile(mode="reduce-overhead"), CUDA graphs'
SUFFIX = {None: "", "default": COMPILED_MODEL, "reduce-overhead": CUDA_GRAPHS}


def _epoch(size, device, mode=None):
    """One epoch of the MLP, twin against torch; ``mode``: the twin model under ``torch.compile``
    with that mode (its forward and backward each one graph, and no Python call per layer;
    ``"reduce-overhead"`` replays each as one CUDA graph, one launch instead of one per kernel).
    Torch's side stays eager, as the issue measured it."""
    n, widths, batch = size
    gen = torch.Generator(device).manual_seed(0)
    x = torch.randn(n, widths[0], device=device, generator=gen)
    y = torch.randint(0, widths[-1], (n,), device=device, generator=gen)
    twin = _mlp(TL, widths, device)
    builtin = _mlp(torch.nn, widths, device)
    # The twin's best on a GPU, as the anchor is torch's best.
    twin_opt = TO.Adam(twin.parameters(), lr=1e-3, fused=torch.device(device).type == "cuda")
    builtin_opt, anchor = _best_optimizer(torch.optim.Adam, list(builtin.parameters()), lr=1e-3)

    def epoch(model, opt):
        def run():
            order = torch.randperm(n, device=device, generator=gen)
            for i in range(0, n, batch):
                if mode == "reduce-overhead" and model is not builtin:
                    # a new step: the last step's graph outputs (its loss) may be overwritten
                    torch.compiler.cudagraph_mark_step_begin()
                idx = order[i:i + batch]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        return run

    twin_model = twin if mode is None else torch.compile(twin, mode=mode)
    skips = _cudagraph_skips()

    def fallback():  # CUDA graphs are skipped (with a warning) where inductor cannot record one
        skipped = _cudagraph_skips() - skips
        return f"; CUDA graphs skipped {skipped} time(s)" if mode == "reduce-overhead" and skipped else ""

    return (_what("MLP epoch", size) + SUFFIX[mode], epoch(twin_model, twin_opt), epoch(builtin, builtin_opt),
            f"torch.nn layers + {anchor}", fallback)


def _cudagraph_skips():
    """How many times inductor has run a graph without recording a CUDA graph for it, in this process."""
    from torch._dynamo.utils import counters
    return counters["inductor"]["cudagraph_skips"]


MLP_ROW = ((60000, (784, 1024, 1024, 10), 256), (6000, (784, 256, 256, 10), 256), (1024, (784, 64, 64, 10), 256))


def _without_fast_path(make):
    """``make`` with its twin run as the plain twin: the layers' fast path off during its calls."""
    def made():
        what, twin, builtin, anchor, fallback = make()

        def plain_twin():
            saved, _compile.FAST_PATH_DEVICES = _compile.FAST_PATH_DEVICES, frozenset()
            try:
                twin()
            finally:
                _compile.FAST_PATH_DEVICES = saved
        return f"{what}, fast path off", plain_twin, builtin, anchor, lambda: ""
    return made


def _workloads(device, which):
    """``(name, make)`` for every row; ``make()`` builds it: ``(name, twin, builtin, anchor)``."""
    pick = ("gpu", "cpu", "quick").index(which)
    for name, *sizes in OPTIM_ROWS:
        size = sizes[pick]
        yield _what(name, size), lambda size=size, name=name: _optim(name, size, device)
    for kind, *sizes in LAYER_ROWS:
        size = sizes[pick]
        yield _what(kind, size), lambda size=size, kind=kind: _layer(kind, size, device)
        if which == "gpu":  # what the fast path gains: the same row with the plain twin
            yield (f"{_what(kind, size)}, fast path off",
                   _without_fast_path(lambda size=size, kind=kind: _layer(kind, size, device)))
    size = MLP_ROW[pick]
    for mode in (None, "default") + (("reduce-overhead",) if which == "gpu" else ()):
        yield _what("MLP epoch", size) + SUFFIX[mode], lambda mode=mode: _epoch(size, device, mode)


def _measure(make, rounds, sync=None):
    """Time one row; ``note`` says when a fused=True twin fell back to its plain path."""
    what, twin, builtin, anchor, *fallback = make()
    t_builtin, t_twin = interleaved_times([builtin, twin], rounds=rounds, sync=sync)
    return what, t_twin, t_builtin, anchor, fallback[0]() if fallback else ""


def _is_reference(what):
    """A row the issue sets no goal for: the plain twin (no ``fused=True``, the fast path off),
    which shows what the fast path gains."""
    plain_optimizer = what.startswith(tuple(OPTIMIZERS)) and "fused=True" not in what
    return plain_optimizer or what.endswith("fast path off")


def _goal(what):
    return "" if _is_reference(what) else GOAL


def _untimed_cuda_row(what, note):
    return Row(f"{what}, torch twin, CUDA", None, None, "torch's best (fused where it exists), CUDA", _goal(what), note)


#: Rounds for an MLP epoch on a GPU: each is already the mean of 235 steps, and seconds long.
MLP_ROUNDS = 5


def cuda_rows(rounds, emit=None):
    """The CUDA rows; ``emit(row)``, if given, is called as each row is done (a call cut short by
    its time limit keeps the rows it finished)."""
    # the rows with a goal first: a call cut short by its limit loses reference rows, if any
    workloads = sorted(_workloads("cuda", "gpu"), key=lambda workload: _is_reference(workload[0]))
    if not torch.cuda.is_available():
        # The same names as with a GPU, so the rows line up across machines.
        return [_untimed_cuda_row(what, "absent (no CUDA)") for what, _ in workloads]
    rows = []
    name = torch.cuda.get_device_name()
    for what, make in workloads:
        row_rounds = min(rounds, MLP_ROUNDS) if what.startswith("MLP epoch") else rounds
        try:
            what, t_twin, t_builtin, anchor, note = _measure(make, row_rounds, sync=torch.cuda.synchronize)
        except Exception as exc:  # noqa: BLE001 - one GPU call is all a session gets: keep the other rows
            rows.append(_untimed_cuda_row(what, f"{name}; failed: {type(exc).__name__}: {exc}"[:300]))
        else:
            rows.append(Row(f"{what}, torch twin, CUDA", t_twin, t_builtin, f"{anchor}, CUDA", _goal(what),
                            name + note))
        if emit is not None:
            emit(rows[-1])
        torch.cuda.empty_cache()
    return rows


# The MLP epoch is host-bound on an H200: about 1.6 ms a step for torch, where its
# matmuls and Adam move some 60 MB (tens of microseconds). What bounds the twin's ratio there is
# the host's time per step, which a network too small to compute anything shows on any machine.
TINY_MLP = (800, (8, 16, 16, 4), 8)
# Likewise Adam at 1e7 in 1,000 tensors: some 280 MB a step, 60 us at 4.8 TB/s, against torch's
# 5.3 ms. What is left is host time per tensor, which 1,000 tensors of 10 floats show here.
HOST_ADAM = (10 ** 4, 1000)


def cpu_rows(rounds, quick):
    rows = []
    with single_thread():
        for _, make in _workloads("cpu", "quick" if quick else "cpu"):
            what, t_twin, t_builtin, anchor, note = _measure(make, rounds)
            rows.append(Row(f"{what}, torch twin, CPU (1 thread)", t_twin, t_builtin, f"{anchor}, CPU",
                            "", "CPU stand-in, sizes scaled down" + note))
        for mode in (None, "default"):
            what, t_twin, t_builtin, anchor, note = _measure(lambda mode=mode: _epoch(TINY_MLP, "cpu", mode), rounds)
            rows.append(Row(f"{what}, torch twin, CPU (1 thread)", t_twin, t_builtin, f"{anchor}, CPU", "",
                            f"host time: {TINY_MLP[0] // TINY_MLP[2]} steps of a net too small to compute, "
                            "what bounds the MLP row on a GPU"))
        what, t_twin, t_builtin, anchor, note = _measure(
            lambda: _optim("Adam step, twin fused=True", HOST_ADAM, "cpu"), rounds)
        rows.append(Row(f"{what}, torch twin, CPU (1 thread)", t_twin, t_builtin, f"{anchor}, CPU", "",
                        "host time: tensors too small to compute, what bounds the 1,000-tensor rows on a GPU"
                        + note))
    return rows


def run(quick: bool = False, cuda_only: bool = False, emit=None) -> list[Row]:
    """Every row; ``emit`` as in :func:`cuda_rows`."""
    rounds = 3 if quick else 7
    return ([] if cuda_only else cpu_rows(rounds, quick)) + cuda_rows(rounds if quick else 15, emit)


if __name__ == "__main__":
    # --cuda-only: the GPU rows alone, for a short call on a GPU machine (bench/gpu_check.sh),
    # each printed as it is done, then the whole table.
    cuda_only = "--cuda-only" in sys.argv
    print_table(run(quick="--quick" in sys.argv, cuda_only=cuda_only,
                    emit=(lambda row: print_row(row, flush=True)) if cuda_only else None))
