"""BatchNorm2d forward + backward in training mode: NumPy reference and torch twin vs nn.BatchNorm2d.

The anchor is ``torch.nn.BatchNorm2d`` (a fused native kernel) on the same
float32 data, measured in the same run on the same CPU threads, the contenders
called in turn within each round (issue 18's goal for the NumPy reference: <= 1.0x).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, interleaved_times, print_table, single_thread  # noqa: E402

from tipslib.layers import numpy_impl as L  # noqa: E402
from tipslib.layers import torch_impl as TL  # noqa: E402


def _torch_step(module, x, dout):
    def step():
        xt = x.detach().requires_grad_(True)
        out = module(xt)
        out.backward(dout)
        module.weight.grad = module.bias.grad = None
    return step


def run(quick: bool = False) -> list[Row]:
    with single_thread():
        return _run(quick)


def _run(quick):
    shape = (16, 16, 28, 28) if quick else (64, 64, 56, 56)
    repeat = 3 if quick else 9
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    dout = rng.standard_normal(shape, dtype=np.float32)
    c = shape[1]

    ours = L.BatchNorm2d(c, dtype=np.float32)

    def numpy_step():
        ours.forward(x)
        ours.backward(dout)

    xt, dt = torch.from_numpy(x), torch.from_numpy(dout)
    builtin, t_numpy, t_twin = interleaved_times(
        [_torch_step(torch.nn.BatchNorm2d(c), xt, dt), numpy_step, _torch_step(TL.BatchNorm2d(c), xt, dt)],
        rounds=repeat)
    size = "x".join(map(str, shape))
    anchor = "torch.nn.BatchNorm2d, CPU, 1 thread"
    return [
        Row(f"BatchNorm2d fwd+bwd train, {size} float32, NumPy reference", t_numpy, builtin, anchor, "<= 1.0x"),
        Row(f"BatchNorm2d fwd+bwd train, {size} float32, torch twin (our backward), CPU", t_twin, builtin, anchor),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
