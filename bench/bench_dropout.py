"""Dropout forward + backward on 1e7 float32 elements: the tipslib twins against torch.nn.Dropout.

Rows: the NumPy twin (``dropout_forward`` + ``dropout_backward``) and the torch
twin (``Dropout`` module, autograd calling our backward) against
``torch.nn.Dropout`` (forward + autograd backward), p = 0.5, on the CPU; the
torch twin against the built-in on CUDA when a GPU is present (absent rows
otherwise). Both sides use one thread on the CPU, like NumPy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table, single_thread  # noqa: E402

from tipslib.layers import numpy_impl as L  # noqa: E402
from tipslib.layers import torch_impl as TL  # noqa: E402

P = 0.5


def _torch_step(module, x, dout):
    def step():
        x.grad = None
        module(x).backward(dout)
    return step


def run(quick: bool = False) -> list[Row]:
    with single_thread():
        return _run(quick)


def _run(quick):
    n = 10**6 if quick else 10**7
    repeat = 3 if quick else 7
    size = f"{n:.0e}".replace("+0", "")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    dout = rng.standard_normal(n, dtype=np.float32)

    def numpy_step():
        _, cache = L.dropout_forward(x, P, rng=rng)
        L.dropout_backward(dout, cache)

    xt = torch.from_numpy(x.copy()).requires_grad_()
    dt = torch.from_numpy(dout.copy())
    builtin = torch.nn.Dropout(P)
    ours = TL.Dropout(P, generator=torch.Generator().manual_seed(0))
    t_builtin = median_time(_torch_step(builtin, xt, dt), repeat=repeat)
    t_numpy = median_time(numpy_step, repeat=repeat)
    t_ours = median_time(_torch_step(ours, xt, dt), repeat=repeat)
    what = f"dropout p={P} forward+backward, {size} float32"
    anchor = "torch.nn.Dropout forward + autograd backward"
    rows = [
        Row(f"{what}, NumPy twin, CPU (1 thread)", t_numpy, t_builtin, f"{anchor}, CPU"),
        Row(f"{what}, torch twin, CPU (1 thread)", t_ours, t_builtin, f"{anchor}, CPU"),
    ]
    if torch.cuda.is_available():
        xg = xt.detach().cuda().requires_grad_()
        dg = dt.cuda()
        ours_g = TL.Dropout(P, generator=torch.Generator(device="cuda").manual_seed(0))
        sync = torch.cuda.synchronize
        t_b = median_time(_torch_step(builtin, xg, dg), repeat=20, warmup=3, sync=sync)
        t_o = median_time(_torch_step(ours_g, xg, dg), repeat=20, warmup=3, sync=sync)
        rows.append(Row(f"{what}, torch twin, CUDA", t_o, t_b, f"{anchor}, CUDA"))
    else:
        rows.append(Row(f"{what}, torch twin, CUDA", None, None, f"{anchor}, CUDA",
                        note="absent: no GPU"))
    return rows


if __name__ == "__main__":
    print_table(run())
