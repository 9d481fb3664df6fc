"""How long the transfer-learning experiment takes: ``python bench/bench_transfer.py [--quick]``.

The NumPy experiment (every regime at every training-set size, about 150 SGD
steps each) against the same experiment run by the torch twin on the CPU, in
the same run. The chapter notebook runs the NumPy one, so its time matters.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table, single_thread  # noqa: E402


def run(quick: bool = False) -> list[Row]:
    from tipslib.data import load_digits
    from tipslib.transfer import numpy_impl as N
    from tipslib.transfer import torch_impl as T

    load_digits()  # the first call imports scikit-learn: keep it out of the timings
    repeats = 1 if quick else 3
    kw = dict(sizes=N.SIZES, repeats=repeats)
    with single_thread():
        t_np = median_time(lambda: N.transfer_experiment(rng=np.random.default_rng(0), **kw), repeat=3 if quick else 5)
        t_th = median_time(lambda: T.transfer_experiment(generator=torch.Generator().manual_seed(0), **kw),
                           repeat=3 if quick else 5)
    what = f"transfer_experiment, sizes {N.SIZES} x 4 regimes x {repeats} repeat(s), ~150 steps each"
    return [Row(f"{what}, NumPy", t_np, t_th, "torch twin, CPU, 1 thread", goal="< 1x",
                note="the notebook runs the NumPy one with repeats=3")]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
