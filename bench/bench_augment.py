"""Augmenting a batch on the fly: the NumPy per-image loop vs the torch twin's one vectorised call.

Workload: 256 RGB 224x224 uint8 images through a full random pipeline (flip,
rotation, crop-resize, colour shift, Gaussian noise, random erasing, contrast
and brightness). The anchor is the NumPy twin looping over the images; the
torch twin draws per-image parameters and runs each transform once per batch.
Also the augmentation explorer's interaction time (recompute + redraw).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table, single_thread  # noqa: E402

from tipslib.augment import numpy_impl as A  # noqa: E402
from tipslib.augment import torch_impl as TA  # noqa: E402


def _pipeline(mod, **kw):
    return mod.Compose([mod.RandomFlip(), mod.RandomRotation(15.0), mod.RandomCrop((0.5, 1.0)),
                        mod.ColorShift(0.1), mod.GaussianNoise(0.05), mod.RandomErasing(0.5),
                        mod.ContrastBrightness(0.2, 0.1)], **kw)


def _widget_seconds(repeat):
    from tipslib.widgets.augment_explorer import AugmentExplorer

    w = AugmentExplorer()
    w.refresh()
    cpu, wall = [], []
    for k in range(repeat):
        c0 = time.process_time()
        w.update(angle=float(k % 20), crop=0.6, red=0.1, noise=0.05, erase=0.1, drop=0.05, contrast=1.2)
        cpu.append(time.process_time() - c0)
        wall.append(w.last_update_seconds)
    return float(np.median(wall)), float(np.median(cpu))


def run(quick: bool = False) -> list[Row]:
    with single_thread():
        return _run(quick)


def _run(quick):
    n, size = (32, 64) if quick else (256, 224)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    tbatch = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
    np_pipe = _pipeline(A, rng=np.random.default_rng(1))
    th_pipe = _pipeline(TA, generator=torch.Generator().manual_seed(1))
    what = f"augment {n}x3x{size}x{size} uint8, 7-step random pipeline"
    t_numpy = median_time(lambda: np_pipe(batch), repeat=1 if not quick else 3, warmup=0 if not quick else 1)
    t_cpu = median_time(lambda: th_pipe(tbatch), repeat=5)
    rows = [Row(f"{what}, torch twin CPU (1 thread)", t_cpu, t_numpy,
                "NumPy twin, loop over images", goal="< 1x")]
    if torch.cuda.is_available():
        gpu_batch = tbatch.cuda()
        gpu_pipe = _pipeline(TA, generator=torch.Generator(device="cuda").manual_seed(1))
        t_gpu = median_time(lambda: gpu_pipe(gpu_batch), repeat=10, warmup=2, sync=torch.cuda.synchronize)
        rows.append(Row(f"{what}, torch twin CUDA", t_gpu, t_cpu, "torch twin CPU"))
    else:
        rows.append(Row(f"{what}, torch twin CUDA", None, t_cpu, "torch twin CPU", note="absent: no GPU"))
    wall, cpu = _widget_seconds(5 if quick else 20)
    rows.append(Row("AugmentExplorer.update: recompute + redraw, 150x128 photo, all knobs on", wall, None,
                    goal="< 100 ms", note=f"wall (median); CPU time {cpu * 1e3:.0f} ms"))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
