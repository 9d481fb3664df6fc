"""Interaction time of the chapter-4 widgets: one slider change, recompute + redraw.

For the dropout explorer (``p``) and the regularization explorer (``lam``, the
penalty switch, and the first visit of each mix alpha, which solves two
41-lambda paths before it draws) the median wall time of ``update(...)`` (which recomputes
and renders the PNG the notebook shows, drawing only the moving artists over a
saved background) is compared with the anchor: ``savefig`` of the same figure
with nothing recomputed, which is what ``FigureWidget.refresh`` would spend on
drawing alone. The goal is <= 100 ms wall per change; the CPU time of this
process is in the note, because on a shared machine wall time also counts
other people's work. The first row is a
load gauge: a pure-Python loop of 1e6 additions (about 30 ms on an idle core).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table  # noqa: E402


def _gauge():
    s = 0
    for i in range(10**6):
        s += i
    return s


def _render_only(widget):
    def render():
        buf = io.BytesIO()
        widget.figure.savefig(buf, format="png", pil_kwargs={"compress_level": 1})  # as FigureWidget.refresh
    return render


def _changes(widget, values, repeat):
    wall, cpu = [], []
    for k in range(repeat):
        c0 = time.process_time()
        widget.update(**values[k % len(values)])
        cpu.append(time.process_time() - c0)
        wall.append(widget.last_update_seconds)
    return statistics.median(wall), statistics.median(cpu)


def run(quick: bool = False) -> list[Row]:
    from tipslib.widgets.dropout import DropoutExplorer
    from tipslib.widgets.regularization import RegularizationExplorer

    repeat = 5 if quick else 21
    rows = [Row("load gauge: pure-Python loop of 1e6 additions", median_time(_gauge, repeat=3), None,
                note="~0.03 s on an idle core; larger means a loaded machine")]

    t0 = time.perf_counter()
    drop = DropoutExplorer(**({"epochs": 5, "hidden": 32} if quick else {}))
    built = time.perf_counter() - t0
    drop.refresh()
    wall, cpu = _changes(drop, [{"p": p} for p in (0.1, 0.5, 0.8, 0.3, 0.0, 0.6)], repeat)
    rows.append(Row("DropoutExplorer: change p (look-up + new mask + redraw)", wall,
                    median_time(_render_only(drop), repeat=5), "savefig of the figure, no recompute", goal="<= 100 ms",
                    note=f"CPU {cpu * 1e3:.0f} ms; constructor (loads shipped curves) {built:.1f} s"))

    t0 = time.perf_counter()
    reg = RegularizationExplorer()
    built = time.perf_counter() - t0
    reg.refresh()
    render = median_time(_render_only(reg), repeat=5)
    wall, cpu = _changes(reg, [{"lam": v} for v in (0.01, 0.1, 1.0, 0.03, 3.0, 0.3)], repeat)
    rows.append(Row("RegularizationExplorer: change lambda (look-up + redraw)", wall, render,
                    "savefig of the figure, no recompute", goal="<= 100 ms",
                    note=f"CPU {cpu * 1e3:.0f} ms; constructor (L1 and L2 paths, 41 lambdas) {built:.1f} s"))
    wall, cpu = _changes(reg, [{"penalty": p} for p in ("l2", "l1", "elastic_net")], repeat)
    rows.append(Row("RegularizationExplorer: switch penalty (cached path + redraw)", wall, render,
                    "savefig of the figure, no recompute", goal="<= 100 ms", note=f"CPU {cpu * 1e3:.0f} ms"))

    # First visits: nothing cached yet, so each solves the 40-feature and the 2-D paths (41 lambdas each).
    firsts, first_cpu, switches = [], [], []
    for _ in range(1 if quick else 3):
        fresh = RegularizationExplorer()  # L1 and L2 solved here; the elastic net's 0.5 is not
        fresh.refresh()
        fresh.update(penalty="elastic_net")
        switches.append(fresh.last_update_seconds)
        for alpha in (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9):
            c0 = time.process_time()
            fresh.update(alpha=alpha)
            first_cpu.append(time.process_time() - c0)
            firsts.append(fresh.last_update_seconds)
    rows.append(Row("RegularizationExplorer: first switch to the elastic net (solve 2 paths + redraw)",
                    statistics.median(switches), render, "savefig of the figure, no recompute", goal="<= 100 ms",
                    note=f"worst {max(switches) * 1e3:.0f} ms"))
    rows.append(Row("RegularizationExplorer: first visit of a mix alpha 0.1..0.9 (solve 2 paths + redraw)",
                    statistics.median(firsts), render, "savefig of the figure, no recompute", goal="<= 100 ms",
                    note=f"worst {max(firsts) * 1e3:.0f} ms; CPU {statistics.median(first_cpu) * 1e3:.0f} ms"))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
