"""The learning-rate widget's response time: ``python bench/bench_widget_learning_rate.py [--quick]``.

One learning-rate change of :class:`tipslib.widgets.learning_rate.LearningRateExplorer`
is a recompute (a 150-step optimizer path on the 2-D surface and 30 full-batch
steps of a 64-32-10 network on 500 digits) plus a redraw (three curves blitted
over the cached axes and contours, then a PNG). The goal is 100 ms. Also
shown, to say where the time goes: the compute alone, and what a full
``savefig`` redraw of the same figure costs (the anchor the blitting beats).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table  # noqa: E402


def _lr_changes(widget, repeat):
    """Median wall time and CPU time of ``repeat`` learning-rate changes across the slider."""
    wall, cpu = [], []
    for lr in np.geomspace(1e-4, 10, repeat):
        c0 = time.process_time()
        widget.update(lr=float(lr))
        cpu.append(time.process_time() - c0)
        wall.append(widget.last_update_seconds)
    return float(np.median(wall)), float(np.median(cpu))


def run(quick: bool = False) -> list[Row]:
    from tipslib.widgets import learning_rate as LR

    repeat = 7 if quick else 25
    rows = []
    for optimizer in ("SGD", "Adam"):
        w = LR.LearningRateExplorer(optimizer=optimizer)
        w.refresh()
        wall, cpu = _lr_changes(w, repeat)
        rows.append(Row(f"LearningRateExplorer: one lr change, {optimizer}, bowl (compute + redraw)", wall, None,
                        goal="<= 100 ms", note=f"wall (median of {repeat}); CPU {cpu * 1e3:.0f} ms"))

    def compute():
        LR.optimize_path("bowl", "Adam", 0.05, 150)
        LR.train_digits_curve("Adam", 0.05, 30)

    t_compute = median_time(compute, repeat=repeat // 2 + 1)
    w = LR.LearningRateExplorer()
    w.update(lr=0.05)
    t_blit = median_time(w.refresh, repeat=repeat // 2 + 1)

    def full_redraw():
        w.draw()
        buf = io.BytesIO()
        w.figure.savefig(buf, format="png")

    for a in w.blitter.artists:  # a full draw must draw the moving artists too
        a.set_animated(False)
    t_full = median_time(full_redraw, repeat=repeat // 2 + 1)
    rows.append(Row("  of which the compute alone (path + digits run, Adam)", t_compute, None, note="no redraw"))

    # A surface switch: a new path on the new surface over that surface's cached background (the first
    # refresh renders all three) and the digits run kept (it does not depend on the surface).
    w = LR.LearningRateExplorer()
    w.refresh()
    switch = []
    for surface in ["rosenbrock", "saddle", "bowl"] * (2 if quick else 6):
        w.update(surface=surface)
        switch.append(w.last_update_seconds)
    rows.append(Row("LearningRateExplorer: switch surface (path + redraw)", float(np.median(switch)), None,
                    goal="<= 100 ms", note=f"wall (median of {len(switch)}); worst {max(switch) * 1e3:.0f} ms"))
    rows.append(Row("LearningRateExplorer.refresh, blitted", t_blit, t_full,
                    "same update with a full savefig redraw", goal="< 1x"))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
