r"""The step-size trade-off of a numerical derivative: slide ``h`` along the U-shaped error curve.

The pure compute underneath, unit-tested and usable on its own:

* :func:`step_size_curves` gives the error of the centered and the forward
  difference against ``h``, in float32 and float64, averaged over points
  around ``x`` (rounding errors are erratic from point to point; their
  average shows the trend);
* :func:`step_size_estimate` gives one estimate, the exact value and the error.

Both stand on :func:`tipslib.gradcheck.numpy_impl.step_size_errors`.

:class:`StepSizeExplorer` is the view: a log-scale slider for ``h`` and
pickers for the precision and the difference, over a figure with the
function, the secant the difference measures and the tangent it estimates
(left), and the four U curves with a marker at the chosen ``h`` (right).
"""

from __future__ import annotations


import numpy as np

from .._checks import check_choice, check_real
from ..gradcheck.numpy_impl import optimal_step_size, step_size_errors
from ._base import COLORS, FONT, WIDTH, Blitter, FigureWidget

__all__ = ["DTYPES", "METHODS", "DEFAULT_HS", "step_size_curves", "step_size_estimate", "StepSizeExplorer"]

#: Precisions offered, by name.
DTYPES = {"float64": np.float64, "float32": np.float32}
#: Differences offered.
METHODS = ("centered", "forward")
#: Steps from 1e-16 to 1, 10 per decade.
DEFAULT_HS = np.logspace(-16, 0, 161)
#: Errors below this are drawn at it (an exact 0 has no place on a log axis).
_FLOOR = 1e-18


def step_size_curves(f=np.sin, df=np.cos, x=1.0, hs=DEFAULT_HS, *, spread=0.5, n_points=41):
    """Mean absolute error of each difference against ``h``, for each precision.

    Parameters
    ----------
    f, df : callables on arrays, the function and its exact derivative
    x : float, the centre of the points
    hs : 1-D array of steps
    spread : float, the points are ``n_points`` evenly spaced in ``[x - spread, x + spread]``
    n_points : int

    Returns
    -------
    dict
        ``{(dtype_name, method): errors}`` with ``errors`` of shape ``(len(hs),)``.
    """
    x = check_real(x, "x", "step_size_curves")
    spread = check_real(spread, "spread", "step_size_curves", low=0)
    points = np.linspace(x - spread, x + spread, int(n_points))
    return {(name, method): step_size_errors(f, df, points, hs, method=method, dtype=dtype).mean(axis=1)
            for name, dtype in DTYPES.items() for method in METHODS}


def step_size_estimate(h, f=np.sin, df=np.cos, x=1.0, *, dtype="float64", method="centered"):
    """One finite-difference estimate of ``f'(x)`` with step ``h``: ``(estimate, exact, error)``.

    The arithmetic is done in ``dtype`` exactly as in :func:`step_size_errors`,
    so ``error`` is that function's value at this ``h``.
    """
    owner = "step_size_estimate"
    h = check_real(h, "h", owner, low=0, low_open=True)
    check_choice(dtype, "dtype", owner, tuple(DTYPES))
    check_choice(method, "method", owner, METHODS)
    t = DTYPES[dtype]
    xd, hd = t(x), t(h)
    at = lambda v: t(np.asarray(f(v)))  # noqa: E731
    with np.errstate(all="ignore"):
        if method == "centered":
            estimate = (at(xd + hd) - at(xd - hd)) / (hd + hd)
        else:
            estimate = (at(xd + hd) - at(xd)) / hd
    exact = float(np.asarray(df(np.float64(x))))
    return float(estimate), exact, abs(float(estimate) - exact)


class StepSizeExplorer(FigureWidget):
    """Slide ``h`` and watch the estimate of a derivative get better, then worse.

    Parameters
    ----------
    h : float
        Starting step (the slider spans 1e-16 to 1).
    dtype : {'float64', 'float32'}
    method : {'centered', 'forward'}
    f, df : callables on arrays, default ``np.sin`` and ``np.cos``
    x : float, default 1.0
        Where the derivative is estimated.

    Attributes
    ----------
    controls : dict
        ``h`` (an ``ipywidgets.FloatLogSlider``), ``dtype`` and ``method``
        (toggle buttons); drive them headlessly with ``update(h=1e-8, dtype="float32")``.
    curves : dict
        :func:`step_size_curves`, computed once: the mean error over 41 points in
        ``[x - 0.5, x + 0.5]`` (the curves drawn; the dot on them is the error at ``x`` alone).
    estimate, exact, error : float
        What the last redraw computed.
    """

    wide_controls = ("h",)

    def __init__(self, h=1e-3, dtype="float64", method="centered", f=np.sin, df=np.cos, x=1.0):
        import ipywidgets as w

        owner = "StepSizeExplorer"
        h = check_real(h, "h", owner, low=1e-16, high=1.0)
        check_choice(dtype, "dtype", owner, tuple(DTYPES))
        check_choice(method, "method", owner, METHODS)
        self.f, self.df = f, df
        self.x = check_real(x, "x", owner)
        super().__init__(figsize=(WIDTH / 72, 4.6))
        self.controls = {
            # Four steps a decade over a full-width track (about 6 px a step); the readout takes a typed value.
            "h": w.FloatLogSlider(value=h, base=10, min=-16, max=0, step=0.25, description="step h",
                                  readout_format=".2e", continuous_update=True),
            "dtype": w.Dropdown(options=list(DTYPES), value=dtype, description="precision"),
            "method": w.Dropdown(options=list(METHODS), value=method, description="difference"),
        }
        self.spread = 0.5
        self.curves = step_size_curves(f, df, self.x, spread=self.spread)
        self._build()
        self._observe_controls()

    def _build(self):
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

        fig = self.figure
        fig.set_layout_engine("none")  # fixed axes: no layout pass on every redraw
        self.ax_f = fig.add_axes((0.07, 0.12, 0.37, 0.70))
        self.ax_err = fig.add_axes((0.57, 0.12, 0.395, 0.70))

        grid = np.linspace(self.x - 1.6, self.x + 1.6, 200)
        fx, slope = float(self.f(self.x)), float(self.df(self.x))
        self.ax_f.plot(grid, self.f(grid), color="black", lw=1.5, label="f")
        self.ax_f.plot(grid, fx + slope * (grid - self.x), color=COLORS["reference"], lw=1, ls="--",
                       label="tangent (exact)")
        (self._secant,) = self.ax_f.plot([], [], color=COLORS["current"], lw=1.2, label="secant (estimate)")
        (self._probes,) = self.ax_f.plot([], [], "o", color=COLORS["current"], ms=5)
        self.ax_f.plot([self.x], [fx], "o", color="black", ms=4)
        self.ax_f.set_xlim(grid[0], grid[-1])
        lo, hi = float(np.min(self.f(grid))), float(np.max(self.f(grid)))
        self.ax_f.set_ylim(lo - 0.3 * (hi - lo), hi + 0.3 * (hi - lo))
        self.ax_f.legend(loc="lower center", frameon=False)
        self.ax_f.set_xlabel("x")

        # Not blue/orange: in every widget those mean training/validation.
        colours = {"float64": "tab:purple", "float32": "tab:cyan"}
        styles = {"centered": "-", "forward": ":"}
        self._lines = {}
        for (name, method), err in self.curves.items():
            (line,) = self.ax_err.loglog(DEFAULT_HS, np.clip(err, _FLOOR, None), styles[method],
                                         color=colours[name], label=f"{name}, {method}")
            self._lines[name, method] = line
        # The curves average over points around x; the dot is the error at x itself (rounding is erratic
        # from point to point, so near the left of the U the dot scatters around its curve). Not clipped:
        # at either end of the slider half of it would be cut off.
        (self._marker,) = self.ax_err.loglog([], [], "o", color=COLORS["current"], mec="black", ms=8, zorder=5,
                                             clip_on=False, label=f"at x = {self.x:g} only")
        self._h_line = self.ax_err.axvline(1e-3, color=COLORS["current"], lw=0.8, alpha=0.6)
        self._best_line = self.ax_err.axvline(1e-5, color="0.4", lw=0.8, ls="--")
        self.ax_err.set_xlim(DEFAULT_HS[0], DEFAULT_HS[-1])
        self.ax_err.set_ylim(_FLOOR * 10, 10)
        self.ax_err.set_xlabel("step h   (← rounding wins | truncation wins →)")
        lo, hi = self.x - self.spread, self.x + self.spread
        self.ax_err.set_ylabel(f"mean |estimate - f'(x)|\nover x in [{lo:g}, {hi:g}]")
        # float64's two curves and the dot in the first column, float32's in the second
        handles = [self._lines["float64", "centered"], self._lines["float64", "forward"], self._marker,
                   self._lines["float32", "centered"], self._lines["float32", "forward"]]
        self.ax_err.legend(handles=handles, loc="lower left", ncol=2, frameon=False, columnspacing=0.6,
                           handlelength=1.2, handletextpad=0.4, borderaxespad=0.2)
        # Few plain-text ticks: mathtext tick labels dominate the cost of a redraw.
        fmt = FuncFormatter(lambda v, _pos: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e"))
        for axis in (self.ax_err.xaxis, self.ax_err.yaxis):
            axis.set_major_locator(LogLocator(base=10, numticks=6))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(fmt)
        self.ax_err.grid(True, alpha=0.3)
        self._title_f = self.ax_f.text(0.5, 1.02, "", transform=self.ax_f.transAxes, ha="center", va="bottom",
                                       fontsize=FONT["title"])
        self._title_err = self.ax_err.text(0.5, 1.03, "", transform=self.ax_err.transAxes, ha="center",
                                           va="bottom", fontsize=FONT["title"])
        # What moves with h; everything else is a background rendered once per (dtype, method).
        self.blitter = Blitter(self.figure, [self._secant, self._probes, self._h_line, self._best_line,
                                             self._marker, self._title_f, self._title_err])

    def background_key(self):
        # The curves drawn in full depend on these two; one cached background each.
        return (self.values["dtype"], self.values["method"])

    def draw(self):
        v = self.values
        h, name, method = float(v["h"]), v["dtype"], v["method"]
        self.estimate, self.exact, self.error = step_size_estimate(h, self.f, self.df, self.x, dtype=name, method=method)
        for key, line in self._lines.items():
            chosen = key == (name, method)
            line.set_linewidth(2.4 if chosen else 1.0)
            line.set_alpha(1.0 if chosen else 0.35)
        # kept inside the axes (it is not clipped): an error of 0 sits on the bottom edge
        self._marker.set_data([h], [float(np.clip(self.error, *self.ax_err.get_ylim()))])
        self._h_line.set_xdata([h, h])
        best = optimal_step_size(DTYPES[name], method)
        self._best_line.set_xdata([best, best])

        left = self.x - h if method == "centered" else self.x
        right = self.x + h
        fl, fr = float(self.f(left)), float(self.f(right))
        span = np.array([self.x - 1.6, self.x + 1.6])
        mid = (fl + fr) / 2 if method == "centered" else fl
        base = self.x if method == "centered" else left
        shown = np.isfinite(self.estimate)
        self._secant.set_data(span, mid + (self.estimate if shown else 0.0) * (span - base))
        self._probes.set_data([left, right], [fl, fr])
        self._title_f.set_text(f"{method} difference, h = {h:.1e}\nestimate {self.estimate:.10f}\n"
                               f"exact f'(x) = {self.exact:.10f}")
        self._title_err.set_text(f"{name}, {method}, at x = {self.x:g}: error {self.error:.1e}\n"
                                 f"dashed: the best h, about {best:.0e}")
