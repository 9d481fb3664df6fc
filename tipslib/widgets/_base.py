"""The base of every widget view."""

from __future__ import annotations

import io
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FigureWidget"]


class FigureWidget:
    """Controls plus a figure that redraws in place.

    Subclasses create ``self.controls`` (a dict of ipywidgets, name -> control),
    build their artists once in ``__init__`` on ``self.figure``, and implement
    :meth:`draw` to update those artists from the current control values.

    Attributes
    ----------
    controls : dict[str, ipywidgets.Widget]
    figure : matplotlib.figure.Figure
        Not attached to pyplot, so displaying the widget never shows it twice.
    image : ipywidgets.Image
        The rendered figure; its ``value`` (PNG bytes) changes on every redraw.
    last_update_seconds : float
        Time the last recompute + redraw took, for benchmarks.
    """

    def __init__(self, figsize=(9, 3.2), dpi=80):
        import ipywidgets as w

        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.figure)
        self.image = w.Image(format="png")
        self.image.add_class("tipslib-figure")
        self.controls: dict = {}
        self.last_update_seconds = float("nan")
        self._muted = False

    # -- to implement -------------------------------------------------------
    def draw(self) -> None:
        """Recompute from ``self.values`` and update the artists of ``self.figure``."""
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------
    @property
    def values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def _observe_controls(self) -> None:
        """Call once the controls exist: any change triggers a refresh."""
        for c in self.controls.values():
            c.observe(lambda _change: self._on_change(), names="value")

    def _on_change(self) -> None:
        if not self._muted:
            self.refresh()

    def refresh(self) -> None:
        start = time.perf_counter()
        self.draw()
        buf = io.BytesIO()
        # Fast zlib level: the PNG goes to a local browser, size barely matters, time does.
        self.figure.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
        self.image.value = buf.getvalue()
        self.last_update_seconds = time.perf_counter() - start

    def update(self, **values) -> None:
        """Set several controls at once and redraw once (headless driving, tests)."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(
                f"The keyword arguments of {type(self).__name__}.update must be among "
                f"{sorted(self.controls)}. Got {unknown} instead."
            )
        self._muted = True
        try:
            for k, v in values.items():
                self.controls[k].value = v
        finally:
            self._muted = False
        self.refresh()

    def layout(self):
        """The ipywidgets container shown in the notebook: controls above the figure."""
        import ipywidgets as w

        return w.VBox([w.HBox(list(self.controls.values())), self.image])

    def _ipython_display_(self):
        from IPython.display import display

        if self.image.value == b"":
            self.refresh()
        display(self.layout())
