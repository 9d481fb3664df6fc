"""The base of every widget view."""

from __future__ import annotations

import io
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FigureWidget", "Blitter", "png_bytes"]


def png_bytes(canvas) -> bytes:
    """The canvas's current pixels as PNG, at zlib's fastest level.

    The image crosses a local socket to the browser, so encoding time matters
    and size hardly does: this is a few times faster than ``savefig``'s PNG.
    """
    from PIL import Image

    width, height = canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="png", compress_level=1)
    return out.getvalue()


class Blitter:
    """Render a figure whose axes stay put: the static part once, the moving artists each time.

    Axes, ticks, labels and legends take most of matplotlib's drawing time and
    do not change when a slider moves, so they are drawn once into a saved
    background; each later frame restores it and draws only ``artists``
    (marked animated, so a full draw leaves them out). A widget whose static
    part has a few states (say, one per precision) keys its backgrounds with
    ``png(key)``; call :meth:`invalidate` after changing anything static.
    """

    def __init__(self, figure, artists):
        self.figure, self.artists = figure, list(artists)
        self.backgrounds: dict = {}
        for a in self.artists:
            a.set_animated(True)

    def invalidate(self) -> None:
        self.backgrounds.clear()

    def png(self, key=None) -> bytes:
        canvas = self.figure.canvas
        if key not in self.backgrounds:
            canvas.draw()
            self.backgrounds[key] = canvas.copy_from_bbox(self.figure.bbox)
        else:
            canvas.restore_region(self.backgrounds[key])
        renderer = canvas.get_renderer()
        for a in self.artists:
            a.draw(renderer)
        return png_bytes(canvas)


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
    blitter : Blitter or None
        Set by a subclass whose moving parts are few: refreshes then redraw
        only those over a cached background (see :class:`Blitter`).
    last_update_seconds : float
        Time the last recompute + redraw took, for benchmarks.
    """

    blitter: Blitter | None = None

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

    def background_key(self):
        """Which cached background the current controls need (one by default)."""
        return None

    def refresh(self) -> None:
        """Recompute (:meth:`draw`), render and publish the new image."""
        start = time.perf_counter()
        self.draw()
        if self.blitter is None:
            self.figure.canvas.draw()
            self.image.value = png_bytes(self.figure.canvas)
        else:
            self.image.value = self.blitter.png(self.background_key())
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

        # Wrap the row: five sliders on one line would shrink until they cannot be dragged.
        row = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
        return w.VBox([row, self.image])

    def _ipython_display_(self):
        from IPython.display import display

        if self.image.value == b"":
            self.refresh()
        display(self.layout())
