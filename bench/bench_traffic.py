"""Bytes each twin's step moves per element, compiled and eager, against the least it could.

A step made of element-wise lines over large arrays is bounded by memory
bandwidth, so its bytes moved predict its time on a GPU (issue 18; chapter 3,
"bytes moved, not arithmetic"). These counts need no GPU and no clock: they are
the same on every machine, so they say on a CPU what bounds the GPU rows of
``bench_gpu_twins.py``.

- **tipslib**: what the twin's fast path moves, as inductor counts its kernels
  (``tipslib.traffic``): the ``fused=True`` optimizers' compiled step, and the
  compiled math the Dropout and BatchNorm twins run on a GPU.
- **anchor**: the least any implementation moves, from the arrays the formula
  must read and write (listed in ``MINIMUM``); torch's fused optimizers and its
  CUDA dropout and batch-norm kernels are built to move just this.
- **note**: the eager twin's count (one kernel per line, what runs on a CPU),
  and the kernels each launches. The flat layout's row (``fused=True`` over a
  group of many tensors) adds its eager copies to its one kernel instead.

Float32, one tensor of ``N`` elements (per-element counts do not depend on the
size beyond the few per-channel or 0-d numbers), on the CPU; ``--device cuda``
counts what inductor generates for a GPU (Triton) instead, which
``bench/gpu_check.sh`` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, print_row, print_table  # noqa: E402

from tipslib.layers._torch import batchnorm as B  # noqa: E402
from tipslib.layers._torch import dropout as D  # noqa: E402
from tipslib.optim import torch_impl as TO  # noqa: E402
from tipslib.optim._torch.adam import STATE_KEYS  # noqa: E402
from tipslib.traffic import Traffic, compiled_traffic, eager_traffic, fused_step_traffic  # noqa: E402

N = 1 << 16
F32 = 4
#: The arrays a step must read and write at least once (bytes per element).
MINIMUM = {
    "Adam": ("read param, grad, m, v; write param, m, v", 7 * F32),
    "AdamW": ("read param, grad, m, v; write param, m, v", 7 * F32),
    "SGD": ("read param, grad; write param", 3 * F32),
    "SGD + momentum": ("read param, grad, buffer; write param, buffer", 5 * F32),
    "RMSprop": ("read param, grad, square_avg; write param, square_avg", 5 * F32),
    "Adagrad": ("read param, grad, sum; write param, sum", 5 * F32),
    "Dropout p=0.5 fwd+bwd": ("read x, write out and a 1-byte mask; read dout and mask, write dx", 2 * (2 * F32 + 1)),
    "BatchNorm fwd+bwd": ("statistics: read x; out: read x, write out; sums: read dout, x; dx: read dout, x, "
                          "write dx", 8 * F32),
}
OPTIMIZERS = {
    "Adam": (TO.Adam, {}),
    "AdamW": (TO.AdamW, {}),
    "SGD": (TO.SGD, dict(lr=0.01)),
    "SGD + momentum": (TO.SGD, dict(lr=0.01, momentum=0.9)),
    "RMSprop": (TO.RMSprop, {}),
    "Adagrad": (TO.Adagrad, {}),
}


def _randn(*shape, seed=0, device="cpu"):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)


def _optimizer(cls, kw, fused, device):
    param = torch.zeros(N, device=device, requires_grad=True)
    param.grad = _randn(N, device=device)
    opt = cls([param], fused=fused, **kw)
    opt.step()  # creates the state (and SGD's momentum buffer, on the plain path)
    return opt


def optimizer_row(name, device="cpu"):
    cls, kw = OPTIMIZERS[name]
    compiled = fused_step_traffic(_optimizer(cls, kw, fused=True, device=device))
    opt = _optimizer(cls, kw, fused=False, device=device)
    eager = eager_traffic(opt.step)
    return _row(f"{name} step", compiled, eager, name, "foreach")


FLAT_TENSORS = 256


def flat_adam_row(device="cpu"):
    """Adam over a group too large for a kernel a tensor (``fused.FlatGroup``): its one kernel, and
    the copies of the parameters and gradients into the flat buffers and of the parameters back."""
    params = [torch.zeros(N // FLAT_TENSORS, device=device, requires_grad=True) for _ in range(FLAT_TENSORS)]
    for i, param in enumerate(params):
        param.grad = _randn(N // FLAT_TENSORS, seed=i, device=device)
    opt = TO.Adam(params, fused=True)
    opt.step()  # lays the state out flat
    kernel = fused_step_traffic(opt)
    (flat,) = opt._flat_groups.values()
    states = [opt.state[param] for param in params]
    with torch.no_grad():
        copies = eager_traffic(lambda: flat.step(lambda *args: None, params, states, STATE_KEYS))
    row = _row(f"Adam step, flat layout ({FLAT_TENSORS} tensors)", _sum([kernel, copies]), copies, "Adam",
               "of which the copies")
    row.note = f"{_kernels(kernel)} and {copies.kernels} copies; the copies: {copies.per_element(N):.1f} B/el"
    return row


def dropout_row(p=0.5, device="cpu"):
    x, dout = _randn(N, device=device), _randn(N, seed=1, device=device)
    with torch.no_grad():
        # what Dropout runs on a GPU: the draw and the drop in one pass, then the backward
        compiled = [compiled_traffic(D._draw_and_drop, x, p)]
        _, mask = D._draw_and_drop(x, p)
        compiled.append(compiled_traffic(D.dropout_backward.__wrapped__, dout, (mask, p)))

        def eager_step():
            _, cache = D.dropout_forward.__wrapped__(x, p, training=True)
            D.dropout_backward.__wrapped__(dout, cache)
        eager = eager_traffic(eager_step)
    return _row("Dropout p=0.5 fwd+bwd", _sum(compiled), eager, "Dropout p=0.5 fwd+bwd", "eager twin")


def batchnorm_row(shape, device="cpu"):
    c = shape[1]
    x, dout = _randn(*shape, device=device), _randn(*shape, seed=1, device=device)
    gamma, beta = torch.ones(c, device=device), torch.zeros(c, device=device)

    def stats():
        return torch.zeros(c, device=device), torch.ones(c, device=device)

    with torch.no_grad():
        counted = {}
        for name, forward, backward in [("fast path", B._fused_forward, B._fused_backward),
                                        ("plain twin", B.batchnorm_forward.__wrapped__,
                                         B.batchnorm_backward.__wrapped__)]:
            _, cache = forward(x, gamma, beta, *stats(), training=True)
            counted[name] = _sum([compiled_traffic(forward, x, gamma, beta, *stats(), training=True),
                                  compiled_traffic(backward, dout, cache)])

        def eager_step():
            _, cache = B.batchnorm_forward.__wrapped__(x, gamma, beta, *stats(), training=True)
            B.batchnorm_backward.__wrapped__(dout, cache)
        eager = eager_traffic(eager_step)
    kind = "BatchNorm1d" if len(shape) == 2 else "BatchNorm2d"
    plain = counted["plain twin"]
    row = _row(f"{kind} fwd+bwd train, {'x'.join(map(str, shape))}", counted["fast path"], eager,
               "BatchNorm fwd+bwd", "eager twin", x.numel())
    row.note += f"; the plain twin compiled: {plain.bytes / x.numel():.1f} B/el (it writes xhat out)"
    return row


def _sum(traffics):
    return Traffic(sum(t.bytes for t in traffics), sum(t.kernels for t in traffics))


def _row(what, compiled, eager, minimum, eager_name, n=N):
    arrays, least = MINIMUM[minimum]
    return Row(f"{what}: bytes moved per element, compiled twin", compiled.per_element(n), least,
               f"the least: {arrays}", "", f"{_kernels(compiled)}; {eager_name}: "
               f"{eager.per_element(n):.1f} B/el in {_kernels(eager)}", unit="B/el")


def _kernels(traffic):
    return f"{traffic.kernels} kernel{'' if traffic.kernels == 1 else 's'}"


BATCHNORM_SHAPES = [(1024, 64), (16, 64, 8, 8)]


def _counted(name, count, device):
    """``count()``'s row; on a GPU, a row that fails says why instead of ending the run (one GPU
    call is all a session gets), while on the CPU the failure is raised, for CI to see."""
    if device == "cpu":
        return count()
    try:
        return count()
    except Exception as exc:  # noqa: BLE001
        return Row(f"{name}: bytes moved per element, compiled twin", None, None, "", "",
                   f"failed: {type(exc).__name__}: {exc}"[:300], unit="B/el")


def run(quick: bool = False, device: str = "cpu", emit=None) -> list[Row]:
    """Every row; ``emit(row)``, if given, is called as each row is counted."""
    names = ["Adam", "SGD + momentum"] if quick else list(OPTIMIZERS)
    counts = [(f"{name} step", lambda name=name: optimizer_row(name, device)) for name in names]
    counts += [(f"Adam step, flat layout ({FLAT_TENSORS} tensors)", lambda: flat_adam_row(device)),
               ("Dropout p=0.5 fwd+bwd", lambda: dropout_row(device=device))]
    counts += [(f"BatchNorm fwd+bwd train, {'x'.join(map(str, shape))}",
                lambda shape=shape: batchnorm_row(shape, device)) for shape in BATCHNORM_SHAPES]
    rows = []
    for name, count in counts:
        rows.append(_counted(name, count, device))
        rows[-1].measurement += f", {device.upper()}"
        if emit is not None:
            emit(rows[-1])
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="whose kernels inductor generates (cuda: bench/gpu_check.sh)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a GPU that torch can see")
    # On a GPU (bench/gpu_check.sh) each row is printed as it is counted, then the whole table.
    emit = (lambda row: print_row(row, flush=True)) if args.device == "cuda" else None
    print_table(run(quick=args.quick, device=args.device, emit=emit))
