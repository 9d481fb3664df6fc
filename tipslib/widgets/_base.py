"""The base of every widget view: one size, one control style and one figure style for all.

A widget is :data:`WIDTH` CSS pixels wide, controls and figure alike: that fits
the output area of a 1000-px browser window with JupyterLab's file browser
open, and stays the same (not stretched) on a wide screen. Its figure is drawn
at :data:`PIXEL_DENSITY` device pixels per CSS pixel and shown at exactly its
size in CSS pixels, so it is crisp on a high-DPI screen and never rescaled by
the page. Figures are laid out at 72 points per inch and one inch is 72 CSS
pixels, so a 10-point font is 10 CSS pixels tall whatever the density.
"""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FigureWidget", "Blitter", "png_bytes", "WIDTH", "PIXEL_DENSITY", "FONT", "COLORS", "style_figure"]

#: Width of every widget, controls and figure, in CSS pixels (the figure's width in inches is WIDTH / 72).
WIDTH = 560
#: Device pixels drawn per CSS pixel: 2 is crisp on high-DPI screens (and downsampled cleanly on others).
PIXEL_DENSITY = 2
#: Points per inch of the figures: one point is one CSS pixel.
_CSS_DPI = 72
#: Font sizes in points (= CSS pixels), by role, the same in every widget.
FONT = {"tick": 10, "label": 11, "title": 11, "legend": 10, "note": 10}
#: Colours by meaning, the same in every widget.
COLORS = {
    "train": "tab:blue",        # training loss / the run being trained
    "validation": "tab:orange",  # validation loss
    "current": "tab:red",       # what the controls select now (marker, line, path)
    "reference": "0.45",        # a reference to compare with (the best value, an exact answer)
    "faint": "0.8",             # context drawn behind
}
#: Width of the control descriptions, so every widget's sliders line up.
DESCRIPTION_WIDTH = "90px"
#: Narrowest column of controls: a slider track stays wide enough to drag.
CONTROL_MIN_WIDTH = 270


def style_figure(figure) -> None:
    """Give every axes of ``figure`` the shared font sizes (ticks, axis labels, legends, titles).

    Called once, after a widget has built its axes and before the first draw;
    text a widget places itself (titles as ``ax.text``) takes ``FONT[...]`` directly.
    """
    for ax in figure.axes:
        ax.tick_params(labelsize=FONT["tick"], length=3, pad=2)
        ax.xaxis.label.set_fontsize(FONT["label"])
        ax.yaxis.label.set_fontsize(FONT["label"])
        ax.title.set_fontsize(FONT["title"])
        legend = ax.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_fontsize(FONT["legend"])


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bytes(canvas) -> bytes:
    """The canvas's current pixels as an RGBA PNG, encoded for speed rather than size.

    The image crosses a local socket to the browser, so encoding time matters and
    size hardly does. A figure drawn at twice the pixel density has four times the
    pixels; with one fixed row filter and zlib's fastest level the encoding takes a
    few milliseconds, several times less than PIL's or ``savefig``'s.
    """
    width, height = canvas.get_width_height(physical=True)
    rgba = np.asarray(canvas.buffer_rgba()).reshape(height, 4 * width)
    rows = np.empty((height, 1 + 4 * width), dtype=np.uint8)
    # PNG's "Up" filter (each row minus the one above, modulo 256): the flat areas of a plot and
    # the repeated rows of an enlarged photo become zeros, which zlib's fastest level packs well.
    rows[:, 0] = 2
    rows[0, 0], rows[0, 1:] = 0, rgba[0]
    np.subtract(rgba[1:], rgba[:-1], out=rows[1:, 1:])
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9)
    data = z.compress(rows.tobytes()) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, not interlaced
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


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
    #: Names of the controls that span the whole width (a slider whose range needs a long track).
    wide_controls: tuple = ()

    def __init__(self, figsize=(WIDTH / _CSS_DPI, 3.2), dpi=None):
        """``figsize`` in inches at 72 per CSS pixel (``dpi`` is ignored: the density is shared)."""
        import ipywidgets as w

        self.figure = Figure(figsize=figsize, dpi=_CSS_DPI * PIXEL_DENSITY, layout="constrained")
        FigureCanvasAgg(self.figure)
        width, height = (round(v * _CSS_DPI) for v in figsize)
        self.size_px = (width, height)
        # Shown at exactly its size in CSS pixels: no stretching to the output's width, no shrinking.
        self.image = w.Image(format="png", layout=w.Layout(
            width=f"{width}px", height=f"{height}px", min_width=f"{width}px", max_width="none",
            min_height=f"{height}px", flex="0 0 auto"))
        self.image.add_class("tipslib-figure")
        self.controls: dict = {}
        self.last_update_seconds = float("nan")
        self._muted = False
        self._styled = False

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
        if not self._styled:
            style_figure(self.figure)
            self._styled = True
            if self.blitter is not None:
                self.blitter.invalidate()
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

    def set_quietly(self, name, value) -> None:
        """Set a control without triggering a redraw (for a view showing the value in effect)."""
        self._muted, before = True, self._muted
        try:
            self.controls[name].value = value
        finally:
            self._muted = before

    def extra_views(self) -> list:
        """Read-only widgets shown after the controls (labels); none by default."""
        return []

    def style_controls(self) -> None:
        """The one control style: descriptions of one width on the left, controls filling their column."""
        for c in self.controls.values():
            c.layout.width = "auto"
            if hasattr(c.style, "description_width"):
                c.style.description_width = DESCRIPTION_WIDTH

    def layout(self):
        """The ipywidgets container shown in the notebook: controls above the figure, both
        :data:`WIDTH` wide. A control in ``wide_controls`` has a row of its own (a long track);
        the others sit in a grid of columns at least :data:`CONTROL_MIN_WIDTH` wide (two in :data:`WIDTH`)."""
        import ipywidgets as w

        self.style_controls()
        width = max(WIDTH, self.size_px[0])
        wide = [c for name, c in self.controls.items() if name in self.wide_controls]
        rest = [c for name, c in self.controls.items() if name not in self.wide_controls]
        grid = w.GridBox([*rest, *self.extra_views()], layout=w.Layout(
            width=f"{width}px", grid_template_columns=f"repeat(auto-fill, minmax({CONTROL_MIN_WIDTH}px, 1fr))",
            grid_gap="0px 12px", align_items="center"))
        box = w.VBox([*wide, grid, self.image], layout=w.Layout(width=f"{width}px", overflow="visible"))
        box.add_class("tipslib-widget")
        return box

    def _ipython_display_(self):
        from IPython.display import display

        if self.image.value == b"":
            self.refresh()
        bundle = self.layout()._repr_mimebundle_()
        # A saved notebook read without a live kernel shows text/plain: a sentence, not a VBox repr.
        bundle["text/plain"] = (f"{type(self).__name__}: an interactive figure. "
                                "Run this notebook in JupyterLab to move its controls.")
        display(bundle, raw=True)
