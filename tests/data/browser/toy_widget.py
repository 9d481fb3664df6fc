"""A small widget for developing and self-testing the browser machinery.

It is shaped like the course widgets (a :class:`~tipslib.widgets._base.FigureWidget`
subclass) and carries one control of each kind the course uses, plus one
control that, on purpose, changes nothing: the browser tests use it to show
that their "the figure changed" check can fail.
"""

import numpy as np

from tipslib.widgets._base import FigureWidget


class ToyWidget(FigureWidget):
    def __init__(self):
        import ipywidgets as w

        super().__init__(figsize=(5, 2.4))
        self.controls = {
            "freq": w.FloatSlider(value=1.0, min=0.5, max=4.0, step=0.25, description="freq"),
            "lr": w.FloatLogSlider(value=1e-2, base=10, min=-4, max=0, step=0.25, description="lr"),
            "n": w.IntSlider(value=20, min=5, max=60, step=5, description="n"),
            "shape": w.Dropdown(options=["sine", "square", "saw"], value="sine", description="shape"),
            "grid": w.Checkbox(value=False, description="grid"),
        }
        self.ax = self.figure.add_subplot()
        (self.line,) = self.ax.plot([], [], "o-")
        self.ax.set_xlim(0, 1)
        self.ax.set_ylim(-1.6, 1.6)
        self._observe_controls()

    def draw(self):
        v = self.values
        t = np.linspace(0, 1, v["n"])
        phase = 2 * np.pi * v["freq"] * t
        y = {"sine": np.sin(phase), "square": np.sign(np.sin(phase)),
             "saw": 2 * ((v["freq"] * t) % 1) - 1}[v["shape"]]
        self.line.set_data(t, y * (1 + np.log10(v["lr"]) / 8))
        self.ax.grid(v["grid"])

    def layout(self):
        import ipywidgets as w

        # Five sliders in one row would squeeze each track to nothing: let them wrap.
        row = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([row, self.image])


class DeadControlWidget(ToyWidget):
    """Like ToyWidget, but its ``ignored`` slider does not change the figure."""

    def __init__(self):
        import ipywidgets as w

        super().__init__()
        ignored = w.FloatSlider(value=0.5, min=0, max=1, step=0.1, description="ignored")
        ignored.observe(lambda _change: self._on_change(), names="value")
        # "freq" is observed already, by ToyWidget.__init__.
        self.controls = {"ignored": ignored, "freq": self.controls["freq"]}

    def draw(self):
        t = np.linspace(0, 1, 20)
        self.line.set_data(t, np.sin(2 * np.pi * self.controls["freq"].value * t))


class SqueezedWidget(ToyWidget):
    """ToyWidget with every control in one row that does not wrap (what FigureWidget.layout
    did before it wrapped): five sliders' worth of controls leave the tracks too narrow to drag."""

    def __init__(self):
        import ipywidgets as w

        super().__init__()
        extra = {f"k{i}": w.FloatSlider(value=0.5, min=0, max=1, description=f"k{i}") for i in range(3)}
        self.controls.update(extra)
        for c in extra.values():
            c.observe(lambda _change: self._on_change(), names="value")

    def layout(self):
        import ipywidgets as w

        return w.VBox([w.HBox(list(self.controls.values())), self.image])


class StretchedWidget(ToyWidget):
    """ToyWidget whose figure is stretched to the output's width (what every widget did before
    the base class fixed the image's size): the scale check must notice."""

    def layout(self):
        box = super().layout()
        self.image.layout.width, self.image.layout.height = "100%", "auto"
        self.image.layout.min_width = self.image.layout.min_height = None
        box.layout.width = "100%"
        return box
