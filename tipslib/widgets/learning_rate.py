r"""Learning-rate explorer: slide the learning rate and watch optimizers crawl, converge, wobble or blow up.

The pure compute underneath, unit-tested and usable on its own:

* :func:`optimize_path` runs any tipslib NumPy optimizer on a 2-D loss
  surface (:data:`SURFACES`: an ill-conditioned bowl, Rosenbrock's valley, a
  saddle) and returns the path and the loss gap :math:`f(\theta) - \min f`;
* :func:`train_digits_run` trains a small network (64 pixels -> 32 ReLU
  units -> 10 classes) on 500 digits, full batch, and returns its training
  loss and its loss on 500 held-out digits (:func:`train_digits_curve`: the
  training loss alone);
* :func:`classify_run` names what a loss curve did.

Both runs take a ``schedule`` (:data:`SCHEDULES`): the learning rate can stay
fixed or follow a step, exponential or cosine decay, a warm-up, or drop when
the loss stalls (:func:`make_schedule`, built on :mod:`tipslib.optim`'s schedulers).

Both runs stop at the first step whose loss is no longer finite or has
grown past :data:`DIVERGED`, so what they return is always finite and
plots never see NaN or inf: a diverging run is simply a short one.

:class:`LearningRateExplorer` is the view: a log-scale learning-rate slider,
an optimizer picker (every optimizer :mod:`tipslib.optim.numpy_impl` has) and
a surface picker, over one figure with the path on the contours, the loss on
the surface and the digits network's training and held-out losses, all redrawn in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._checks import LR, Int, OneOf, Optional, check_choice, check_int, check_real, validate_params
from .._threads import one_blas_thread
from ._base import COLORS, FONT, WIDTH, Blitter, FigureWidget

__all__ = [
    "Surface", "SURFACES", "DIVERGED", "BLOWUP", "VERDICTS", "DIGITS_USED", "SCHEDULES", "optimizer_names",
    "make_optimizer", "make_schedule", "optimize_path", "train_digits_run", "train_digits_curve", "classify_run",
    "LearningRateExplorer",
]

#: A loss gap above this counts as diverged: the run stops there.
DIVERGED = 1e8
#: A run whose loss rises past this many times its starting value at some step has blown up
#: (:func:`classify_run` calls it "unstable" even if the loss comes back down).
BLOWUP = 10.0
#: What :func:`classify_run` can say about a run, from the calmest to the worst.
VERDICTS = ("crawling", "converging", "oscillating", "unstable", "diverged")


@dataclass(frozen=True)
class Surface:
    """A 2-D loss :math:`f(x, y)` with its gradient, a start, its minimum and a view box."""

    name: str
    title: str
    f: object          # f(x, y) -> value, element-wise on arrays
    grad: object       # grad(x, y) -> (df/dx, df/dy)
    start: tuple
    minimum: tuple     # a point where f is smallest
    xlim: tuple
    ylim: tuple
    levels: tuple      # contour levels of f - min f

    @property
    def f_min(self) -> float:
        return float(self.f(*self.minimum))


def _bowl(x, y):
    return 0.5 * (x * x + 10.0 * y * y)


def _bowl_grad(x, y):
    return x, 10.0 * y


def _rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_grad(x, y):
    return -2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)


def _saddle(x, y):
    return 0.5 * x * x + 0.25 * y ** 4 - 0.5 * y * y


def _saddle_grad(x, y):
    return x, y ** 3 - y


#: The surfaces the widget offers, by name.
SURFACES = {
    "bowl": Surface(
        "bowl", r"bowl $\frac{1}{2}(x^2 + 10y^2)$: 10x steeper across than along",
        _bowl, _bowl_grad, start=(-4.0, 1.5), minimum=(0.0, 0.0),
        xlim=(-5.0, 5.0), ylim=(-2.5, 2.5), levels=tuple(np.geomspace(0.05, 60, 10)),
    ),
    "rosenbrock": Surface(
        "rosenbrock", r"Rosenbrock $(1-x)^2 + 100(y-x^2)^2$: a curved valley",
        _rosenbrock, _rosenbrock_grad, start=(-1.5, 2.0), minimum=(1.0, 1.0),
        xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), levels=tuple(np.geomspace(0.1, 2000, 12)),
    ),
    "saddle": Surface(
        "saddle", r"saddle $\frac{1}{2}x^2 + \frac{1}{4}y^4 - \frac{1}{2}y^2$: flat at the origin",
        _saddle, _saddle_grad, start=(2.0, 1e-3), minimum=(0.0, 1.0),
        xlim=(-2.5, 2.5), ylim=(-1.8, 1.8), levels=tuple(np.geomspace(0.02, 3, 9)),
    ),
}


# --- optimizers ------------------------------------------------------------------------------


def optimizer_names() -> list[str]:
    """Every optimizer class :mod:`tipslib.optim.numpy_impl` exports, SGD first.

    Looked up each call, so optimizers added to tipslib appear in the widget.
    """
    from ..optim import numpy_impl as O

    names = [n for n in O.__all__
             if isinstance(getattr(O, n), type) and issubclass(getattr(O, n), O.Optimizer) and n != "Optimizer"]
    return sorted(names, key=lambda n: (n != "SGD", n))


def make_optimizer(name, params, lr, options=None):
    """``tipslib.optim.numpy_impl.<name>(params, lr=lr, **options)``, with a clear error for unknown names."""
    from ..optim import numpy_impl as O

    check_choice(name, "optimizer_name", "make_optimizer", optimizer_names())
    return getattr(O, name)(params, lr=lr, **(options or {}))


#: Learning-rate schedules the runs offer, each scaled to the length of the run (see :func:`make_schedule`).
SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup", "plateau")


def make_schedule(name, optimizer, steps):
    """A tipslib scheduler for ``optimizer`` over a run of ``steps`` updates, stepped once per update.

    ``"constant"`` (or None): no scheduler. ``"step"``: ``StepLR``, the rate times 0.3 after
    each third of the run. ``"exponential"``: ``ExponentialLR``, down to 1% of the rate at
    the end. ``"cosine"``: ``CosineAnnealingLR`` to 0 over the run. ``"warmup"``:
    ``LinearLR``, from 5% of the rate up to all of it over the first fifth. ``"plateau"``:
    ``ReduceLROnPlateau`` (factor 0.3, patience 5% of the run), fed the loss.
    """
    from ..optim import numpy_impl as O

    name = "constant" if name is None else check_choice(name, "schedule", "make_schedule", SCHEDULES)
    steps = max(check_int(steps, "steps", "make_schedule", low=0), 1)
    if name == "step":
        return O.StepLR(optimizer, step_size=max(steps // 3, 1), gamma=0.3)
    if name == "exponential":
        return O.ExponentialLR(optimizer, gamma=0.01 ** (1 / steps))
    if name == "cosine":
        return O.CosineAnnealingLR(optimizer, T_max=steps)
    if name == "warmup":
        return O.LinearLR(optimizer, start_factor=0.05, total_iters=max(steps // 5, 1))
    if name == "plateau":
        return O.ReduceLROnPlateau(optimizer, factor=0.3, patience=max(steps // 20, 1))
    return None


def _advance(schedule, loss):
    # ReduceLROnPlateau watches the loss; the others only count steps.
    if schedule is None:
        return
    if hasattr(schedule, "formula"):
        schedule.step()
    else:
        schedule.step(loss)


def _optimizer_name(value, name, owner):
    return check_choice(value, name, owner, optimizer_names())


def _options(value, name, owner):
    if not isinstance(value, dict):
        raise TypeError(f"The '{name}' parameter of {owner} must be a dict of optimizer arguments. "
                        f"Got {value!r} instead.")
    return value


def _surface(value, name, owner):
    if isinstance(value, Surface):
        return value
    if isinstance(value, str):
        return check_choice(value, name, owner, SURFACES)
    raise TypeError(f"The '{name}' parameter of {owner} must be one of {sorted(SURFACES)} or a Surface. "
                    f"Got {value!r} instead.")


def _point(value, name, owner):
    point = np.asarray(value, dtype=np.float64) if np.ndim(value) == 1 else None
    if point is None or point.shape != (2,) or not np.isfinite(point).all():
        raise ValueError(f"The '{name}' parameter of {owner} must be 2 finite numbers. Got {value!r} instead.")
    return value


#: What every run of an optimizer takes, declared once for the runs below.
RUN = {"optimizer_name": _optimizer_name, "lr": LR, "steps": Int(low=0, high=100_000),
       "options": Optional(_options), "schedule": Optional(OneOf(*SCHEDULES))}


# --- the pure compute ------------------------------------------------------------------------


@validate_params(RUN, surface=_surface, start=Optional(_point))
def optimize_path(surface, optimizer_name, lr, steps=200, *, options=None, start=None, schedule=None):
    r"""Run an optimizer on a 2-D surface from its start point.

    Parameters
    ----------
    surface : str or Surface
        A key of :data:`SURFACES` or a :class:`Surface`.
    optimizer_name : str
        A class of :mod:`tipslib.optim.numpy_impl` (see :func:`optimizer_names`).
    lr : float >= 0
    steps : int
        Updates to make at most.
    options : dict, optional
        More keyword arguments for the optimizer (``momentum``, ``betas``, ...).
    start : (float, float), optional
        Instead of the surface's start point.
    schedule : str, optional
        One of :data:`SCHEDULES` (default: constant); ``lr`` is its starting or peak rate.

    Returns
    -------
    path : ndarray, shape (k + 1, 2)
        The start and the point after each of the ``k`` steps made;
        ``k < steps`` means the run diverged and stopped.
    losses : ndarray, shape (k + 1,)
        :math:`f(\theta_t) - \min f \ge 0` along the path: the gap to the
        best value, so a log scale shows every digit of progress.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    theta = np.array(surface.start if start is None else start, dtype=np.float64)
    opt = make_optimizer(optimizer_name, [theta], lr, options)
    sched = make_schedule(schedule, opt, steps)
    f_min = surface.f_min
    path, losses = [theta.copy()], [max(float(surface.f(*theta)) - f_min, 0.0)]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            opt.step([np.array(surface.grad(*theta), dtype=np.float64)])
            gap = float(surface.f(*theta)) - f_min
            if not (np.isfinite(theta).all() and math.isfinite(gap)):
                break
            path.append(theta.copy())
            losses.append(max(gap, 0.0))
            if gap > DIVERGED:
                break
            _advance(sched, gap)
    return np.array(path), np.array(losses)


#: The digits run trains on this many examples (the first rows of the data set), full batch,
#: and measures the loss on as many held-out rows (the next ones).
DIGITS_USED = 500


@lru_cache(maxsize=1)
def _digits():
    from ..data import load_digits

    x, y = load_digits()
    x_train, x_held = x[:DIGITS_USED], x[DIGITS_USED:2 * DIGITS_USED]
    # Standardised pixels (as chapter 1 recommends), with the training rows' statistics;
    # constant pixels stay 0.
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    out = ((x_train - mean) / std, y[:DIGITS_USED], (x_held - mean) / std, y[DIGITS_USED:2 * DIGITS_USED])
    for a in out:
        a.setflags(write=False)
    return out


@validate_params(RUN, seed=Int(low=0))
def train_digits_run(optimizer_name, lr, steps=30, *, options=None, seed=0, schedule=None):
    r"""Train a small network on 500 digits, full batch; return its training and held-out losses.

    The network is ``Linear(64, 32) -> ReLU -> Linear(32, 10)`` with
    cross-entropy, its weights drawn from ``np.random.default_rng(seed)``, so
    runs with one seed and different optimizers or learning rates start from
    the same weights. The held-out loss is measured on the next 500 digits,
    which training never sees.

    Parameters
    ----------
    optimizer_name, lr, steps, options
        As in :func:`optimize_path`.
    seed : int >= 0, default 0
    schedule : str, optional
        One of :data:`SCHEDULES`; ``"plateau"`` watches the held-out loss.

    Returns
    -------
    train_losses, held_out_losses : ndarray, shape (k + 1,)
        Before the first update and after each of the ``k`` updates made;
        ``k < steps`` means a loss overflowed or passed :data:`DIVERGED` and
        training stopped.
    """
    from ..layers.numpy_impl import Linear, ReLU, Sequential
    from ..losses.numpy_impl import CrossEntropyLoss

    x, y, x_held, y_held = _digits()
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(64, 32, rng=rng), ReLU(), Linear(32, 10, rng=rng))
    loss_fn, held_fn = CrossEntropyLoss(), CrossEntropyLoss()
    opt = make_optimizer(optimizer_name, model.params, lr, options)
    sched = make_schedule(schedule, opt, steps)
    losses, held = [], []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), one_blas_thread():
        for t in range(steps + 1):
            out_held, out = model.forward(x_held), model.forward(x)
            # the losses refuse inf/NaN logits: a blown-up model ends the run here instead
            if not (np.isfinite(out_held).all() and np.isfinite(out).all()):
                break
            h_loss = float(held_fn.forward(out_held, y_held))
            loss = float(loss_fn.forward(out, y))
            if not (math.isfinite(loss) and math.isfinite(h_loss)):
                break
            losses.append(loss)
            held.append(h_loss)
            if loss > DIVERGED or t == steps:
                break
            model.backward(loss_fn.backward())
            opt.step(model.grads)
            _advance(sched, h_loss)
    return np.array(losses), np.array(held)


def train_digits_curve(optimizer_name, lr, steps=30, *, options=None, seed=0, schedule=None):
    r"""The training loss of :func:`train_digits_run` alone (same arguments)."""
    return train_digits_run(optimizer_name, lr, steps, options=options, seed=seed, schedule=schedule)[0]


def classify_run(losses, steps, path=None, *, held_out=None):
    """Name what a loss curve from :func:`optimize_path` / :func:`train_digits_run` did.

    One of :data:`VERDICTS`, the first that applies:

    ``"diverged"``: the run stopped early or ended above where it began;
    ``"unstable"``: it blew up on the way: at some step the loss rose past
    :data:`BLOWUP` (10) times its starting value (or, when ``held_out`` is
    given, the held-out loss did), even though it came back down by the end
    (a network can even memorise its training set after such a jolt, while
    its held-out loss stays far above where it began);
    ``"oscillating"``: the loss went up on more than a quarter of the steps, or
    (when the ``path`` is given) the steps along some coordinate reversed
    direction more often than not, a zig-zag across a valley that the loss of a
    quadratic bowl hides (it still falls at every step);
    ``"crawling"``: it went down but kept more than half of its starting value;
    ``"converging"`` otherwise.

    Parameters
    ----------
    losses : 1-D array
        The loss before the first step and after each step made.
    steps : int
        The steps the run was asked for (fewer losses than ``steps + 1``: it stopped early).
    path : array of shape (len(losses), d), optional
        The points the losses were measured at.
    held_out : 1-D array, optional
        The same run's loss on data it does not train on, one per training loss
        (the second output of :func:`train_digits_run`): a blow-up there counts too.
    """
    owner = "classify_run"
    losses = np.asarray(losses, dtype=np.float64)
    steps = check_int(steps, "steps", owner, low=0)
    if losses.ndim != 1 or len(losses) == 0:
        raise ValueError(f"The 'losses' parameter of {owner} must be a non-empty 1-D array. Got shape {losses.shape} instead.")
    zigzag = False
    if path is not None:
        path = np.asarray(path, dtype=np.float64)
        if path.ndim != 2 or len(path) != len(losses):
            raise ValueError(f"The 'path' parameter of {owner} must have shape ({len(losses)}, d), one point per "
                             f"loss. Got shape {path.shape} instead.")
        moves = np.diff(path, axis=0)
        if len(moves) > 1:
            zigzag = bool(((moves[1:] * moves[:-1]) < 0).mean(axis=0).max() > 0.5)
    curves = [losses]
    if held_out is not None:
        held_out = np.asarray(held_out, dtype=np.float64)
        if held_out.shape != losses.shape:
            raise ValueError(f"The 'held_out' parameter of {owner} must have shape {losses.shape}, one loss per "
                             f"training loss. Got shape {held_out.shape} instead.")
        curves.append(held_out)
    if len(losses) < steps + 1 or losses[-1] > losses[0]:
        return "diverged"
    if any(c.max() > BLOWUP * c[0] for c in curves):
        return "unstable"
    rises = np.diff(losses) > 1e-12 * np.maximum(losses[:-1], 1e-300)
    if zigzag or (len(rises) and rises.mean() > 0.25):
        return "oscillating"
    if losses[-1] > 0.5 * losses[0]:
        return "crawling"
    return "converging"


# --- the view ----------------------------------------------------------------------------------

#: Fixed log-scale ranges, so runs at different learning rates compare at a glance
#: (and the axes, ticks and contours are drawn once, not on every change). A value beyond
#: either end is drawn on it, and the end's tick label says so ("≤1e-10", "≥1e8").
LOSS_RANGE = (1e-10, 1e10)
DIGITS_RANGE = (1e-4, 1e8)


def _log_tick_label(v, low, high):
    """A log-axis tick as plain text ("1e-6"), the ends as bounds: values past them are drawn there."""
    text = f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if v <= low * (1 + 1e-9):
        return "≤" + text
    if v >= high * (1 - 1e-9):
        return "≥" + text
    return text


class LearningRateExplorer(FigureWidget):
    """Pick an optimizer and a surface, slide the learning rate, see three views update together.

    Left: the optimizer's path over the surface's contours. Top right: the loss
    gap on that surface against the iteration, log scale. Bottom right: a
    small network trained on the digits with the same optimizer and learning
    rate, its training loss and its loss on held-out digits. Titles say
    whether each run crawled, converged, oscillated, blew up on the way
    (unstable) or diverged (:func:`classify_run`; the digits verdict also
    counts a blow-up of the held-out loss), and where the held-out loss
    started and ended.

    Parameters
    ----------
    lr : float
        Starting learning rate (the slider spans 1e-4 to 10).
    optimizer : str
    surface : str
    schedule : str
        One of :data:`SCHEDULES`; the slider then sets the starting (or peak) rate.
    steps : int
        Steps on the surface; the digits run makes ``digit_steps``.
    digit_steps : int

    Attributes
    ----------
    controls : dict
        ``lr`` (an ``ipywidgets.FloatLogSlider``), ``optimizer``, ``surface``,
        ``schedule`` (dropdowns); drive them headlessly with ``update(lr=0.3, optimizer="Adam")``.
    path, losses, digit_losses, digit_held_out : ndarray
        What the last redraw computed (``digit_losses``: the training loss).
    verdicts : dict
        ``{"surface": ..., "digits": ...}``, what the titles say.

    Notes
    -----
    Axes, ticks and contours are rendered once per surface and kept as a
    bitmap; a change restores that bitmap and draws only the curves and the
    titles on it (matplotlib's "blitting"), then encodes the PNG quickly.
    The digits run does not depend on the surface, so it is kept per
    optimizer, rate and schedule: switching surfaces reruns the path only.
    """

    wide_controls = ("lr",)
    #: Digits runs kept (optimizer, rate, schedule): a few hundred small arrays.
    _DIGIT_RUNS_KEPT = 512

    def __init__(self, lr=0.05, optimizer="SGD", surface="bowl", steps=150, digit_steps=30, schedule="constant"):
        import ipywidgets as w

        owner = "LearningRateExplorer"
        names = optimizer_names()
        check_choice(optimizer, "optimizer", owner, names)
        check_choice(surface, "surface", owner, SURFACES)
        check_choice(schedule, "schedule", owner, SCHEDULES)
        lr = check_real(lr, "lr", owner, low=1e-4, high=10)
        self.steps = check_int(steps, "steps", owner, low=1, high=5000)
        self.digit_steps = check_int(digit_steps, "digit_steps", owner, low=1, high=500)
        super().__init__(figsize=(WIDTH / 72, 5.0))
        self.controls = {
            # 100 steps of 12% over a full-width track (about 4 px a step); the readout takes a typed value.
            "lr": w.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.05, description="learning rate",
                                   readout_format=".2g", continuous_update=True),
            "optimizer": w.Dropdown(options=names, value=optimizer, description="optimizer"),
            "surface": w.Dropdown(options=list(SURFACES), value=surface, description="surface"),
            "schedule": w.Dropdown(options=list(SCHEDULES), value=schedule, description="schedule"),
        }
        self._digit_runs = {}
        self._build()
        self._observe_controls()

    def _build(self):
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        fig = self.figure
        fig.set_layout_engine("none")  # fixed axes: no layout pass on every redraw
        # The path on the left; the two loss panels stacked on the right (the lower one's title has two lines).
        self.ax_path = fig.add_axes((0.06, 0.10, 0.42, 0.80))
        self.ax_loss = fig.add_axes((0.62, 0.59, 0.345, 0.29))
        self.ax_digits = fig.add_axes((0.62, 0.10, 0.345, 0.28))
        self._contours = {}
        for name, s in SURFACES.items():
            gx, gy = np.meshgrid(np.linspace(*s.xlim, 120), np.linspace(*s.ylim, 120))
            cs = self.ax_path.contour(gx, gy, s.f(gx, gy) - s.f_min, levels=list(s.levels),
                                      cmap="viridis", linewidths=0.8)
            cs.set_visible(False)
            self._contours[name] = cs
        (self._start,) = self.ax_path.plot([], [], "s", color="black", ms=5)
        (self._best,) = self.ax_path.plot([], [], "*", color="gold", mec="black", ms=11)
        (self._line,) = self.ax_path.plot([], [], "-o", color=COLORS["current"], ms=2, lw=1.2)
        (self._loss_line,) = self.ax_loss.semilogy([], [], color=COLORS["current"])
        # held-out dashed and under the training loss: where the two coincide, both stay visible
        (self._held_line,) = self.ax_digits.semilogy([], [], "--", color=COLORS["validation"], label="held-out")
        (self._digit_line,) = self.ax_digits.semilogy([], [], color=COLORS["train"], label="training")
        self.ax_loss.set(xlabel="iteration", ylabel="loss - best loss", xlim=(0, self.steps), ylim=LOSS_RANGE)
        self.ax_digits.set(xlabel="full-batch step", ylabel="cross-entropy", xlim=(0, self.digit_steps),
                           ylim=DIGITS_RANGE)
        self.ax_digits.legend(handles=[self._digit_line, self._held_line], loc="upper right", frameon=False, ncol=2,
                              handlelength=1.6, columnspacing=0.8, borderaxespad=0.2, handletextpad=0.4)
        for ax, (low, high) in ((self.ax_loss, LOSS_RANGE), (self.ax_digits, DIGITS_RANGE)):
            ax.grid(True, which="major", alpha=0.3)
            # a tick at each end, whose label says that values past it are drawn there
            ax.yaxis.set_major_locator(FixedLocator(np.geomspace(low, high, 6 if ax is self.ax_loss else 5)))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, lo=low, hi=high: _log_tick_label(v, lo, hi)))
        # Plain text at a fixed place: set_title would re-measure tick labels on every draw.
        self._title = {ax: ax.text(0.5, 1.02, "", transform=ax.transAxes, ha="center", va="bottom",
                                   fontsize=FONT["title"]) for ax in (self.ax_path, self.ax_loss, self.ax_digits)}
        # The artists that change with every control; the rest is the cached background (one per surface).
        self.blitter = Blitter(self.figure, [self._line, self._loss_line, self._held_line, self._digit_line,
                                             *self._title.values()])
        self._shown = None

    def background_key(self):
        # The contours, the start and the minimum belong to the surface: one cached background each.
        return self.values["surface"]

    def _digits_run(self, optimizer, lr, schedule):
        key = (optimizer, float(lr), schedule)
        run = self._digit_runs.get(key)
        if run is None:
            if len(self._digit_runs) >= self._DIGIT_RUNS_KEPT:
                self._digit_runs.pop(next(iter(self._digit_runs)))  # the oldest
            run = self._digit_runs[key] = train_digits_run(optimizer, lr, self.digit_steps, schedule=schedule)
        return run

    def _show_surface(self, name):
        """Set what belongs to the background of surface ``name``: its contours, view box, start and minimum."""
        s = SURFACES[name]
        for other, cs in self._contours.items():
            cs.set_visible(other == name)
        self.ax_path.set_xlim(*s.xlim)
        self.ax_path.set_ylim(*s.ylim)
        self._start.set_data([s.start[0]], [s.start[1]])
        self._best.set_data([s.minimum[0]], [s.minimum[1]])
        self._shown = name

    def refresh(self):
        """As :meth:`FigureWidget.refresh`; the first one also renders the other surfaces' backgrounds,
        so that no later surface switch pays for a full render (about as long as the whole budget)."""
        super().refresh()
        missing = [name for name in SURFACES if name not in self.blitter.backgrounds]
        if missing and self._shown in self.blitter.backgrounds:
            canvas, shown = self.figure.canvas, self._shown
            for name in missing:
                self._show_surface(name)
                canvas.draw()  # the moving artists are animated: left out, as in Blitter.png
                self.blitter.backgrounds[name] = canvas.copy_from_bbox(self.figure.bbox)
            self._show_surface(shown)

    def draw(self):
        v = self.values
        s = SURFACES[v["surface"]]
        if self._shown != s.name:
            self._show_surface(s.name)
        schedule = v.get("schedule", "constant")
        self.path, self.losses = optimize_path(s, v["optimizer"], v["lr"], self.steps, schedule=schedule)
        self.digit_losses, self.digit_held_out = self._digits_run(v["optimizer"], v["lr"], schedule)
        self._line.set_data(self.path[:, 0], self.path[:, 1])
        self._loss_line.set_data(np.arange(len(self.losses)), np.clip(self.losses, *LOSS_RANGE))
        steps = np.arange(len(self.digit_losses))
        self._digit_line.set_data(steps, np.clip(self.digit_losses, *DIGITS_RANGE))
        self._held_line.set_data(steps, np.clip(self.digit_held_out, *DIGITS_RANGE))
        self.verdicts = {
            "surface": classify_run(self.losses, self.steps, self.path),
            "digits": classify_run(self.digit_losses, self.digit_steps, held_out=self.digit_held_out),
        }
        held = self.digit_held_out
        self._title[self.ax_path].set_text(f"{v['optimizer']}, lr = {v['lr']:.2g} on the {s.name}")
        self._title[self.ax_loss].set_text(f"{s.name}: {self.verdicts['surface']}\nfinal gap {self.losses[-1]:.2g}")
        self._title[self.ax_digits].set_text(f"digits 64-32-10: {self.verdicts['digits']}\n"
                                             f"held-out loss {held[0]:.2g} → {held[-1]:.2g}")
