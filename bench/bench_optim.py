"""Adam step on 10 arrays: NumPy reference and torch twin vs ``torch.optim.Adam(foreach=True)``.

The anchor is torch's multi-tensor Adam on the same float32 parameters and
gradients, measured in the same run. On the CPU torch runs one thread, like
NumPy: a like-for-like comparison that also stays stable on a shared machine.
The CUDA rows (1e7 and 1e8 parameters) are marked absent without a GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, interleaved_times, print_table, single_thread  # noqa: E402

from tipslib.optim import numpy_impl as npo  # noqa: E402
from tipslib.optim import torch_impl as tho  # noqa: E402

N_ARRAYS = 10
ANCHOR = "torch.optim.Adam(foreach=True)"


def _label(n):
    return f"1e{int(round(np.log10(n)))}"


def _torch_params(n, device, generator):
    size = n // N_ARRAYS
    params = []
    for _ in range(N_ARRAYS):
        p = torch.randn(size, generator=generator).to(device).requires_grad_(True)
        p.grad = torch.randn(size, generator=generator).to(device)
        params.append(p)
    return params


def _cpu_rows(n, repeat):
    rng = np.random.default_rng(0)
    size = n // N_ARRAYS
    params = [rng.standard_normal(size, dtype=np.float32) for _ in range(N_ARRAYS)]
    grads = [rng.standard_normal(size, dtype=np.float32) for _ in range(N_ARRAYS)]
    # torch shares the arrays' memory: both sides read the same gradients and
    # update the same parameters (values drift identically for timing purposes).
    tparams = []
    for p, g in zip(params, grads):
        t = torch.from_numpy(p).requires_grad_(True)
        t.grad = torch.from_numpy(g)
        tparams.append(t)
    builtin = torch.optim.Adam(tparams, lr=1e-3, foreach=True)
    twin = tho.Adam(tparams, lr=1e-3)
    ours = npo.Adam(params, lr=1e-3)
    t_anchor, t_numpy, t_twin = interleaved_times([builtin.step, lambda: ours.step(grads), twin.step], rounds=repeat)
    what = f"Adam step, {_label(n)} float32 params in {N_ARRAYS} arrays"
    anchor = f"{ANCHOR}, CPU, 1 thread"
    return [
        Row(f"{what}, NumPy reference", t_numpy, t_anchor, anchor, "<= 2.0x"),
        Row(f"{what}, torch twin, CPU", t_twin, t_anchor, anchor, "<= 1.2x"),
    ]


def _cuda_row(n, repeat):
    what = f"Adam step, {_label(n)} float32 params in {N_ARRAYS} arrays, torch twin, CUDA"
    anchor = f"{ANCHOR}, CUDA"
    if not torch.cuda.is_available():
        return Row(what, None, None, anchor, "<= 1.2x", "absent: no GPU")
    gen = torch.Generator().manual_seed(0)
    params = _torch_params(n, "cuda", gen)
    builtin = torch.optim.Adam(params, lr=1e-3, foreach=True)
    twin = tho.Adam(params, lr=1e-3)
    sync = torch.cuda.synchronize
    t_anchor, t_twin = interleaved_times([builtin.step, twin.step], rounds=repeat, sync=sync)
    del params, builtin, twin
    torch.cuda.empty_cache()
    return Row(what, t_twin, t_anchor, anchor, "<= 1.2x", torch.cuda.get_device_name())


def run(quick: bool = False) -> list:
    n = 10 ** 6 if quick else 10 ** 7
    repeat = 5 if quick else 15
    with single_thread():
        rows = _cpu_rows(n, repeat)
    sizes = [10 ** 6] if quick else [10 ** 7, 10 ** 8]
    rows += [_cuda_row(s, repeat) for s in sizes]
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
