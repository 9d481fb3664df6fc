"""The static site (``tipslib site``): cost of a precomputed frame, and the whole build's time and size.

Rows:

* one learning-rate frame as the site precomputes it (the widget's own ``draw``
  plus exporting its moving artists) against the live widget's ``update``
  (the same ``draw`` plus rendering and encoding the PNG it shows), over the
  same learning rates, on one surface;
* the whole site without running the chapters (``--skip-execute``): seconds,
  with its size and frame count in the note (no anchor);
* with ``quick=False``, the whole site with every chapter executed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, print_table  # noqa: E402

from tipslib.site import build_site  # noqa: E402
from tipslib.site import frames as F  # noqa: E402


def _frame_rows():
    spec = next(s for s in F.SPECS if s.name == "learning_rate")
    lrs = [float(v) for v in 10.0 ** np.linspace(-4, 1, 21)]
    site_widget, live_widget = spec.make(0), spec.make(0)
    F.set_values(site_widget, {"lr": lrs[0]})
    live_widget.update(lr=lrs[0])

    def site():
        for lr in lrs:
            F.set_values(site_widget, {"lr": lr})
            F.export_layer(site_widget)

    def live():
        for lr in lrs:
            live_widget.update(lr=lr)

    times = {"site": [], "live": []}
    for _ in range(3):  # interleaved, so a busy moment hits both
        for name, fn in (("site", site), ("live", live)):
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / len(lrs))
    return [Row("site frame: learning-rate draw + export of the moving artists",
                float(np.median(times["site"])), float(np.median(times["live"])),
                anchor="the live widget's update() (draw + render + PNG)", goal="<= 1.5x")]


def _build_row(execute):
    with tempfile.TemporaryDirectory() as out:
        stats = build_site(out, execute=execute)
        frames = sum(Path(out, "widgets", f"{s.name}.js").read_text().count('"bg":') for s in F.SPECS)
    what = "every chapter executed" if execute else "--skip-execute"
    return Row(f"whole site build, {what}", stats["seconds"], None, goal="< 180 s, < 50 MB",
               note=f"{stats['bytes'] / 1e6:.1f} MB, {stats['files']} files, {frames} frames")


def run(quick: bool = False) -> list[Row]:
    rows = _frame_rows()
    if not quick:
        rows.append(_build_row(execute=False))
        rows.append(_build_row(execute=True))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
