"""Precompute the frames of the course's widgets, so they play in a page with no Python behind it.

A widget view (:class:`~tipslib.widgets.FigureWidget`) draws its figure in two
layers (see :class:`~tipslib.widgets._base.Blitter`): a static background (axes,
ticks, contours) and a few moving artists redrawn on every change. The site
keeps that split:

* each distinct background is saved once, as the exact pixels the widget caches;
* each frame (one setting of the controls) is the list of moving artists the
  widget's own ``draw`` produced for that setting, exported in pixel
  coordinates (lines, segments, dots, polygons, text), which ``player.js``
  paints on a canvas over the background.

So a frame is computed by the live widget's code itself, never by a second
implementation, and a few thousand frames take a few megabytes instead of the
hundreds that as many PNGs would.
"""

from __future__ import annotations

import hashlib
import io
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import product

import numpy as np

__all__ = ["WidgetSpec", "SPECS", "control_grid", "export_layer", "set_values", "widget_frames"]


@dataclass
class WidgetSpec:
    """How the site plays one widget.

    Parameters
    ----------
    name : str
        Key of the widget on the site (file names, element ids).
    title : str
    make : callable(variant) -> FigureWidget
        A fresh view; ``variant`` numbers the alternatives a "new draw" button
        cycles through (the dropout widget's random masks), 0 otherwise.
    vary : list of str
        The controls whose whole grid is precomputed; every other control
        stays at its default.
    variants : int
        How many variants each setting has.
    fresh_per_frame : bool
        Build a new view for every frame (a view with random state, whose
        picture depends on what was drawn before) instead of reusing one.
    ignore : dict
        ``control -> (other, value)``: the control matters only while
        ``other`` equals ``value`` (the widget disables it otherwise); the
        frames for other settings are computed once, at its default.
    intro, live : str
        HTML: what the widget shows, and what the live notebook adds.
    """

    name: str
    title: str
    make: object
    vary: list
    variants: int = 1
    fresh_per_frame: bool = False
    ignore: dict = field(default_factory=dict)
    intro: str = ""
    live: str = ""
    chapter: str = ""
    memo: tuple = ()  # (module, function name) pairs whose results may be cached while building


def _lr(variant):
    from ..widgets.learning_rate import LearningRateExplorer

    return LearningRateExplorer()


def _dropout(variant):
    from ..widgets.dropout import DropoutExplorer

    return DropoutExplorer(seed=variant)


def _regularization(variant):
    from ..widgets.regularization import RegularizationExplorer

    return RegularizationExplorer()


SPECS = [
    WidgetSpec(
        "learning_rate", "Learning rate: crawl, converge, oscillate or blow up", _lr,
        vary=["lr", "optimizer", "surface"], chapter="03_parameter_tuning",
        intro=("Slide the learning rate and pick an optimizer and a loss surface. One panel shows the "
               "optimizer's path over the surface's contours (start: black square, minimum: star), one the "
               "gap to the best loss at each iteration on a log scale, and one the training and held-out losses "
               "of a small network (64-32-10) on 500 digits with the same optimizer and learning rate."),
        live=("In the notebook the same widget runs any learning rate in between (the slider here stops "
              "at its 101 grid points), adds a learning-rate schedule (the site shows a constant rate), and "
              "<code>optimize_path</code> and <code>train_digits_run</code> take other step counts, "
              "optimizer options (momentum, betas) and start points."),
        memo=(("tipslib.widgets.learning_rate", "train_digits_run"),),
    ),
    WidgetSpec(
        "dropout", "Dropout p: a thinned network and what it does to overfitting", _dropout,
        vary=["p"], variants=4, fresh_per_frame=True, chapter="04_regularization",
        intro=("Slide the drop probability p. One panel shows one random mask over a small drawn network "
               "(dropped units white); press <em>new mask</em> for another. The others show the training "
               "and validation loss of a digits network trained with this p, and the final losses against "
               "p: the gap (overfitting) closes as p grows, and both rise when p is too large."),
        live=("In the notebook every move draws a fresh mask (here: 4 per p), and "
              "<code>dropout_curves</code> retrains for any grid, network width, epochs or learning rate you give it."),
    ),
    WidgetSpec(
        "regularization", "L1, L2 and the elastic net: strength and mix", _regularization,
        vary=["penalty", "alpha", "lam"], ignore={"alpha": ("penalty", "elastic_net")},
        chapter="04_regularization",
        intro=("Pick the penalty, its mix α (elastic net only) and the strength λ. One panel shows a 2-D "
               "least-squares problem: the shaded region is every weight vector whose penalty is at most the "
               "solution's, so the solution sits where a loss contour touches it. Another shows the weights "
               "of a linear model on 40 features of which 5 matter: L1 sets the others to exactly 0, L2 only "
               "shrinks them. The last shows training and validation error against λ."),
        live=("In the notebook the widget solves any mix you type on its first visit, and "
              "<code>regularization_path</code> and <code>solve_elastic_net</code> run on your own data."),
    ),
]


# --- the grid of a control -------------------------------------------------------------------


def control_grid(control):
    """``(labels, values)``: every value a control can take, as the site offers them.

    Sliders give their grid from ``min`` to ``max`` by ``step`` (a log slider's
    exponent grid), dropdowns their options, a checkbox False and True.
    """
    kind = type(control).__name__
    fmt = getattr(control, "readout_format", None)
    if kind in ("Dropdown", "Select", "ToggleButtons", "RadioButtons"):
        pairs = [o if isinstance(o, tuple) and len(o) == 2 else (str(o), o) for o in control.options]
        return [str(a) for a, _ in pairs], [b for _, b in pairs]
    if kind == "Checkbox":
        return ["off", "on"], [False, True]
    if kind in ("FloatSlider", "IntSlider", "FloatLogSlider"):
        n = int(round((control.max - control.min) / control.step))
        steps = [round(control.min + k * control.step, 10) for k in range(n + 1)]
        if kind == "FloatLogSlider":
            values = [float(control.base ** e) for e in steps]
        elif kind == "IntSlider":
            values = [int(v) for v in steps]
        else:
            values = [float(v) for v in steps]
        labels = [format(v, fmt) if fmt else str(v) for v in values]
        return labels, values
    raise TypeError(f"The site cannot precompute a control of type {kind}.")


def _nearest(values, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = np.asarray(values, dtype=float)
        if (x > 0).all() and value > 0:
            return int(np.argmin(np.abs(np.log(x) - math.log(value))))
        return int(np.argmin(np.abs(x - value)))
    return values.index(value)


# --- exporting the moving layer ----------------------------------------------------------------


def _rgba(c, alpha=None):
    from matplotlib.colors import to_rgba

    r, g, b, a = to_rgba(c, alpha)
    return f"rgba({round(r * 255)},{round(g * 255)},{round(b * 255)},{round(a, 3)})"


def _points(xy, height):
    """Display coordinates -> flat canvas pixels (y down), 0.1 px, None where not finite."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = []
    for x, y in xy:
        if math.isfinite(x) and math.isfinite(y):
            out += [round(float(x), 1), round(float(height - y), 1)]
        else:
            out += [None, None]
    return out


def _clip(artist, height):
    if not artist.get_clip_on() or artist.get_clip_box() is None:
        return None
    x0, y0, x1, y1 = artist.get_clip_box().extents
    return [round(x0, 1), round(height - y1, 1), round(x1 - x0, 1), round(y1 - y0, 1)]


def export_layer(widget) -> list:
    """The widget's moving artists, as drawn now, in canvas pixels (what ``player.js`` paints).

    Supports what the course's widgets animate: ``Line2D`` (styles ``-``,
    ``--``, ``:``, ``-.`` and markers ``o s * _ | + x .``), ``LineCollection``,
    ``PathCollection`` (scatter dots), patches (filled polygons) and ``Text``.
    """
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    if widget.blitter is None:
        raise TypeError(f"{type(widget).__name__} has no Blitter: the site needs its moving artists.")
    fig = widget.figure
    canvas = fig.canvas
    renderer = canvas.get_renderer()
    height = canvas.get_width_height(physical=True)[1]
    px = fig.dpi / 72.0
    items = []
    for a in widget.blitter.artists:
        if not a.get_visible():
            continue
        clip = _clip(a, height)
        if isinstance(a, Line2D):
            xy = a.get_transform().transform(a.get_xydata()) if len(a.get_xydata()) else np.zeros((0, 2))
            ls = a.get_linestyle()
            items.append(dict(
                t="l", xy=_points(xy, height), c=_rgba(a.get_color(), a.get_alpha()),
                lw=round(a.get_linewidth() * px, 2), ls="" if ls in ("None", " ", "") else ls,
                m="" if a.get_marker() in (None, "None", " ", "") else str(a.get_marker()),
                ms=round(a.get_markersize() * px, 2), mfc=_rgba(a.get_markerfacecolor()),
                mec=_rgba(a.get_markeredgecolor()), mew=round(a.get_markeredgewidth() * px, 2), clip=clip))
        elif isinstance(a, LineCollection):
            segs = [_points(a.get_transform().transform(p.vertices), height) for p in a.get_paths()]
            items.append(dict(t="s", segs=segs, c=[_rgba(c) for c in a.get_colors()],
                              lw=[round(w * px, 2) for w in a.get_linewidths()], clip=clip))
        elif isinstance(a, PathCollection):
            offsets = a.get_offset_transform().transform(a.get_offsets())
            items.append(dict(t="p", xy=_points(offsets, height),
                              r=[round(math.sqrt(s) / 2 * px, 2) for s in a.get_sizes()],
                              fc=[_rgba(c) for c in a.get_facecolors()], ec=[_rgba(c) for c in a.get_edgecolors()],
                              lw=[round(w * px, 2) for w in a.get_linewidths()], clip=clip))
        elif isinstance(a, Patch):
            xy = a.get_transform().transform(a.get_path().vertices)
            items.append(dict(t="g", xy=_points(xy, height), fc=_rgba(a.get_facecolor()),
                              ec=_rgba(a.get_edgecolor()), lw=round(a.get_linewidth() * px, 2), clip=clip))
        elif isinstance(a, Text):
            if not a.get_text():
                continue
            box = a.get_window_extent(renderer)
            ha = a.get_horizontalalignment()
            x = {"left": box.x0, "center": (box.x0 + box.x1) / 2, "right": box.x1}[ha]
            items.append(dict(t="x", s=a.get_text(), x=round(x, 1), y=round(height - (box.y0 + box.y1) / 2, 1),
                              h=round(box.y1 - box.y0, 1),
                              ha=ha, size=round(a.get_fontsize() * px, 2), c=_rgba(a.get_color())))
        else:
            raise TypeError(f"The site cannot export a moving {type(a).__name__} of {type(widget).__name__}.")
    return items


def set_values(widget, values) -> None:
    """Set the controls and redraw through the widget's own ``update``, exactly as the live view does.

    (``update`` also encodes the PNG the notebook would show; skipping it by
    calling ``draw`` directly would save a little time but would bypass
    whatever else the view does on a refresh, such as styling its figure on
    the first one.)
    """
    widget.update(**values)


def _background_pixels(widget) -> np.ndarray:
    """The background the widget's Blitter caches now (RGBA, the figure's full size)."""
    return np.asarray(widget.blitter.backgrounds[widget.background_key()])


def _png(pixels) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(out, format="png", optimize=True)
    return out.getvalue()


def background_png(widget) -> bytes:
    """The exact pixels of the background the widget's Blitter caches now, as PNG."""
    return _png(_background_pixels(widget))


@contextmanager
def _memoized(pairs):
    """Cache deterministic compute functions by their arguments while building (the figure code is unchanged)."""
    import importlib

    saved = []
    for module_name, name in pairs:
        module = importlib.import_module(module_name)
        original, cache = getattr(module, name), {}

        def cached(*args, _f=original, _cache=cache, **kwargs):
            key = repr((args, sorted(kwargs.items())))
            if key not in _cache:
                _cache[key] = _f(*args, **kwargs)
            return _cache[key]

        saved.append((module, name, original))
        setattr(module, name, cached)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def frame_key(indices) -> str:
    return ",".join(str(i) for i in indices)


def widget_frames(spec: WidgetSpec, progress=None, only=None):
    """Every frame of one widget.

    ``only`` (``control -> list of values``) keeps part of a control's grid
    (tests build a small site this way).

    Returns
    -------
    meta : dict
        Width, height, controls (labels, values, initial index), ignore rules,
        variants and ``frames``: ``"i,j,k[/v]" -> {"bg": n, "a": [artists]}``.
    backgrounds : list of bytes
        The distinct background PNGs, indexed by each frame's ``bg``.
    """
    base = spec.make(0)
    grids, controls = [], []
    for name in spec.vary:
        c = base.controls[name]
        labels, values = control_grid(c)
        if only and name in only:
            keep = [i for i, v in enumerate(values) if v in only[name]]
            if not keep:
                raise ValueError(f"The 'only' values for {name} of {spec.name} must be among {values}. "
                                 f"Got {only[name]} instead.")
            labels, values = [labels[i] for i in keep], [values[i] for i in keep]
        grids.append(values)
        controls.append(dict(name=name, label=c.description or name, kind="select" if type(c).__name__ in (
            "Dropdown", "Select", "ToggleButtons", "RadioButtons") else "range",
            labels=labels, values=values,
            initial=_nearest(values, c.value if c.value in values or not isinstance(c.value, str) else values[0])))
    ignore = {}
    for name, (other, value) in spec.ignore.items():
        i, j = spec.vary.index(name), spec.vary.index(other)
        ignore[name] = dict(control=i, when=j, value=grids[j].index(value), default=controls[i]["initial"])
    width, height = base.figure.canvas.get_width_height(physical=True)

    settings = []
    # The first control varies fastest (the learning rate, lambda), the last slowest (the surface),
    # so a view redraws its background only when a control that changes it moves.
    for rev in product(*[range(len(g)) for g in reversed(grids)]):
        idx = rev[::-1]
        skip = any(idx[r["control"]] != r["default"] and idx[r["when"]] != r["value"] for r in ignore.values())
        if not skip:
            settings.append(idx)

    frames, bg_index, backgrounds = {}, {}, []
    total = len(settings) * spec.variants
    done = 0
    with _memoized(spec.memo):
        for variant in range(spec.variants):
            widget = None if spec.fresh_per_frame else (base if variant == 0 else spec.make(variant))
            for idx in settings:
                w = spec.make(variant) if spec.fresh_per_frame else widget
                set_values(w, {name: grids[k][i] for k, (name, i) in enumerate(zip(spec.vary, idx))})
                pixels = _background_pixels(w)
                # Hash the raw pixels: encoding a PNG per frame would take most of the build.
                digest = hashlib.sha1(np.ascontiguousarray(pixels).tobytes()).hexdigest()
                if digest not in bg_index:
                    bg_index[digest] = len(backgrounds)
                    backgrounds.append(_png(pixels))
                key = frame_key(idx) + (f"/{variant}" if spec.variants > 1 else "")
                frames[key] = {"bg": bg_index[digest], "a": export_layer(w)}
                done += 1
                if progress is not None:
                    progress(done, total)
    meta = dict(name=spec.name, title=spec.title, width=width, height=height,
                density=base.figure.dpi / 72.0, controls=controls,
                ignore=list(ignore.values()), variants=spec.variants, frames=frames)
    return meta, backgrounds


def frame_for(spec: WidgetSpec, values: dict, variant: int = 0):
    """One frame computed on a fresh widget, the way the live notebook would show it (for tests)."""
    w = spec.make(variant)
    set_values(w, values)
    return {"a": export_layer(w)}, background_png(w)
