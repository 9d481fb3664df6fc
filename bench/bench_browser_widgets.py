"""Each widget in JupyterLab in Chromium: input to redrawn figure, as a person feels it.

For every widget class in ``tipslib.widgets``, its first slider is nudged with
the arrow keys (10 moves, 5 with ``--quick``), and the time from the key press to
the moment the ``img.tipslib-figure`` has loaded its new picture is read from the
page's own clock. That covers the browser event, the comm message to the kernel,
the recompute, the matplotlib redraw, the PNG encode and the trip back.

The anchor is a minimal FigureWidget (one line, one slider) on the same server in
the same run: the floor that the ipywidgets round trip costs on this machine, so
the ratio says how much each widget's own work adds. Goal: <= 300 ms.
Needs Chromium (``apt-get install -y chromium``) and playwright; absent otherwise.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# The browser harness lives beside the tests (the package does not ship it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import Row, print_table  # noqa: E402

GOAL = "<= 300 ms"
ANCHOR = "minimal FigureWidget (1 line, 1 slider)"

ANCHOR_MODULE = '''"""The benchmark's anchor: the least a FigureWidget can do."""
import numpy as np
import ipywidgets as w
from tipslib.widgets._base import FigureWidget


class MinimalWidget(FigureWidget):
    def __init__(self):
        super().__init__(figsize=(4, 2.5))
        self.controls = {"a": w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="a")}
        self.ax = self.figure.add_subplot()
        self.x = np.linspace(0, 1, 50)
        (self.line,) = self.ax.plot(self.x, self.x)
        self.ax.set_ylim(0, 2)
        self._observe_controls()

    def draw(self):
        self.line.set_ydata(self.controls["a"].value * self.x)
'''


def _time_widget(page, lab, module, cls, moves):
    """Median seconds over ``moves`` arrow-key moves of the widget's first slider, its label, and the max."""
    import browser_harness as B

    _, image, problems = B.show_widget(page, lab, module, cls)
    if problems:
        raise RuntimeError("; ".join(problems))
    controls = [c for c in B.widget_controls(B.widget_output(image)) if not B.is_disabled(c)]
    sliders = [c for c in controls if c.kind == "slider"] or controls
    if not sliders:
        raise RuntimeError(f"{cls} shows no control that is enabled")
    control = sliders[0]
    times = []
    for step in range(1, moves + 2):
        B.settle(image, quiet=0.3)
        seconds = B.time_control_move(page, image, control, step)
        if seconds is None:
            raise RuntimeError(f"moving '{control.label}' did not redraw {cls}")
        times.append(seconds)
    times = times[1:]  # the first move warms caches on both sides
    return statistics.median(times), control, max(times)


def run(quick: bool = False) -> list[Row]:
    import browser_harness as B

    moves = 5 if quick else 10
    widgets = B.discover_widgets()
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return [Row(f"{cls}: input -> redrawn figure in Chromium", None, None, ANCHOR, GOAL, "absent: no Chromium")
                for _, cls in widgets]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tipslib-bench-") as tmp:
        root = Path(tmp)
        (root / "anchor").mkdir()
        (root / "anchor" / "bench_anchor_widget.py").write_text(ANCHOR_MODULE)
        with B.browser_session(root, env={"PYTHONPATH": str(root / "anchor")}) as (lab, browser):
            # A high-DPI screen: the figures are drawn at twice the pixel density for it.
            context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
            page = context.new_page()
            page.set_default_timeout(30_000)

            def anchor():
                seconds, _, _ = _time_widget(page, lab, "bench_anchor_widget", "MinimalWidget", moves)
                lab.shutdown_kernels()
                return seconds

            try:
                # Measured before and after the widgets; the smaller is the floor (the first
                # notebook of a session also warms the browser and the server).
                anchor_before = anchor()
                pending = []
                for module, cls in widgets:
                    print(f"[bench] browser: {cls}", file=sys.stderr, flush=True)
                    name = f"{cls}: input -> redrawn figure in Chromium"
                    try:
                        median, control, worst = _time_widget(page, lab, module, cls, moves)
                        pending.append((f"{name} ('{control.label}' {control.kind}, median of {moves})", median,
                                        f"slowest {worst * 1e3:.0f} ms"))
                    except Exception as exc:  # noqa: BLE001 - one widget's failure is a row, not the end
                        pending.append((f"{name}: FAILED", None, f"error: {type(exc).__name__}: {str(exc)[:150]}"))
                    finally:
                        lab.shutdown_kernels()
                anchor_s = min(anchor_before, anchor())
                rows = [Row(m, t, anchor_s, ANCHOR, GOAL, note) for m, t, note in pending]
            finally:
                context.close()
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
