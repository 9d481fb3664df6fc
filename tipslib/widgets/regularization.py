r"""Weight-regularization explorer: pick L1, L2 or the elastic net, slide :math:`\lambda`, see three views.

The pure compute underneath, unit-tested and usable on its own:

* :func:`penalty_mix` turns the penalty's name (and the mix) into the cheatsheet's :math:`\alpha`;
* :func:`constraint_boundary` traces the level set
  :math:`(1-\alpha)\lVert\theta\rVert_1 + \alpha\lVert\theta\rVert_2^2 = t` in 2-D
  (a diamond, a disc, a rounded diamond);
* :func:`solve_elastic_net` minimises a quadratic data loss plus the penalty by
  accelerated proximal gradient (FISTA) built on
  :func:`tipslib.regularization.numpy_impl.prox_elastic_net`;
* :func:`make_sparse_regression` draws a regression with few relevant features;
* :func:`regularization_path` solves along a grid of :math:`\lambda`, warm-started.

:class:`RegularizationExplorer` is the view. Every :math:`\lambda` the slider
can take is on the precomputed grid, so moving it only looks results up and
redraws.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int, check_real, check_rng
from .._threads import one_blas_thread
from ..regularization.numpy_impl import prox_elastic_net
from ._base import COLORS, FONT, WIDTH, Blitter, FigureWidget

__all__ = [
    "PENALTIES", "LAM_GRID", "penalty_mix", "constraint_boundary", "solve_elastic_net",
    "make_sparse_regression", "regularization_path", "RegularizationExplorer",
]

#: The penalty names the widget offers, and their label.
PENALTIES = {"l1": "L1 (LASSO)", "l2": "L2 (ridge)", "elastic_net": "elastic net"}

#: log10 of the lambdas the slider reaches: 1e-3 to 10 in steps of 10**0.1.
_LOG_MIN, _LOG_MAX, _LOG_STEP = -3.0, 1.0, 0.1
LAM_GRID = 10.0 ** np.round(np.arange(_LOG_MIN, _LOG_MAX + _LOG_STEP / 2, _LOG_STEP), 10)


def penalty_mix(penalty, alpha=0.5):
    """The cheatsheet's mix :math:`\\alpha` for a penalty name: 0 for ``'l1'``,
    1 for ``'l2'``, ``alpha`` itself for ``'elastic_net'``."""
    check_choice(penalty, "penalty", "penalty_mix", tuple(PENALTIES))
    alpha = check_real(alpha, "alpha", "penalty_mix", low=0, high=1)
    return {"l1": 0.0, "l2": 1.0}.get(penalty, alpha)


def constraint_boundary(alpha, t=1.0, n=361):
    r"""Points on the curve :math:`(1-\alpha)(|\theta_1| + |\theta_2|) + \alpha(\theta_1^2 + \theta_2^2) = t`.

    Along each direction :math:`(\cos\varphi, \sin\varphi)` the radius :math:`r`
    solves :math:`\alpha r^2 + (1-\alpha)\,s\,r - t = 0` with
    :math:`s = |\cos\varphi| + |\sin\varphi|`; its positive root is taken in
    the cancellation-free form :math:`r = 2t / (b + \sqrt{b^2 + 4\alpha t})`.

    Returns
    -------
    ndarray, shape (n, 2)
        A closed curve (first point = last point).
    """
    alpha = check_real(alpha, "alpha", "constraint_boundary", low=0, high=1)
    t = check_real(t, "t", "constraint_boundary", low=0)
    n = check_int(n, "n", "constraint_boundary", low=5)
    phi = np.linspace(0, 2 * np.pi, n)
    c, s = np.cos(phi), np.sin(phi)
    b = (1 - alpha) * (np.abs(c) + np.abs(s))
    root = np.sqrt(b * b + 4 * alpha * t)
    r = np.divide(2 * t, b + root, out=np.zeros_like(b), where=(b + root) > 0)
    return np.column_stack([r * c, r * s])


def solve_elastic_net(hessian, target, lam, alpha, *, w0=None, max_iter=5000, tol=1e-10):
    r"""Minimise :math:`w^\top H w - 2 c^\top w + \lambda[(1-\alpha)\lVert w\rVert_1 + \alpha\lVert w\rVert_2^2]`.

    With :math:`H = X^\top X / n` and :math:`c = X^\top y / n` this is the mean
    squared error :math:`\frac1n\lVert y - Xw\rVert^2` (up to a constant) plus
    the cheatsheet's elastic net. Solved by FISTA: a gradient step on the
    smooth part with step :math:`1/L`, :math:`L = 2\lambda_{\max}(H)`, then
    :func:`~tipslib.regularization.numpy_impl.prox_elastic_net`, with
    Nesterov's extrapolation; it stops when no weight moves more than ``tol``.
    The arguments are checked once here, so the loop uses the unchecked
    kernel of ``prox_elastic_net``. Ridge (``alpha=1``, ``lam > 0``) is solved
    in closed form, :math:`(H + \lambda I)\,w = c`.

    Parameters
    ----------
    hessian : ndarray, shape (d, d), symmetric positive semi-definite
    target : ndarray, shape (d,)
    lam, alpha : float
    w0 : ndarray, shape (d,), optional
        A warm start.

    Returns
    -------
    ndarray, shape (d,)
    """
    owner = "solve_elastic_net"
    h = np.asarray(hessian, dtype=np.float64)
    c = np.asarray(target, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or c.shape != (h.shape[0],):
        raise ValueError(f"The 'hessian' and 'target' parameters of {owner} must have shapes (d, d) and (d,). "
                         f"Got {h.shape} and {c.shape} instead.")
    if not (np.isfinite(h).all() and np.isfinite(c).all()):
        raise ValueError(f"The 'hessian' and 'target' parameters of {owner} must be finite. Got NaN or inf entries instead.")
    lam = check_real(lam, "lam", owner, low=0)
    alpha = check_real(alpha, "alpha", owner, low=0, high=1)
    max_iter = check_int(max_iter, "max_iter", owner, low=1)
    if alpha == 1 and lam > 0:
        # ridge has a closed form: the gradient 2(Hw - c) + 2 lam w vanishes at (H + lam I) w = c
        return np.linalg.solve(h + lam * np.eye(len(c)), c)
    w = np.zeros_like(c) if w0 is None else np.array(w0, dtype=np.float64)
    if w.shape != c.shape or not np.isfinite(w).all():
        raise ValueError(f"The 'w0' parameter of {owner} must be {len(c)} finite numbers, one per weight. "
                         f"Got shape {w.shape} instead.")
    return _fista(h, c, lam, alpha, w, _step(h), max_iter, tol)[0]


def _step(h):
    """FISTA's step 1/L: the gradient 2(Hw - c) of the smooth part is L-Lipschitz with L = 2 lambda_max(H)."""
    return 1.0 / (2 * max(np.linalg.eigvalsh(h)[-1], 1e-12))


def _fista(h, c, lam, alpha, w, lr, max_iter, tol):
    """At most ``max_iter`` FISTA steps from ``w``: ``(w, converged)``; converged: no weight moved more than ``tol``."""
    z, momentum = w.copy(), 1.0
    for _ in range(max_iter):
        w_next = prox_elastic_net.__wrapped__(z - lr * 2 * (h @ z - c), lr, lam, alpha)  # checked at the door
        m_next = (1 + np.sqrt(1 + 4 * momentum * momentum)) / 2
        z = w_next + ((momentum - 1) / m_next) * (w_next - w)
        done = np.max(np.abs(w_next - w)) <= tol
        w, momentum = w_next, m_next
        if done:
            return w, True
    return w, False


def _exact_on_support(h, c, lam, alpha, active, signs):
    r"""The exact minimiser if its nonzero weights are ``active``, with ``signs``: ``(w or None, active, signs)``.

    On the nonzero weights :math:`A`, with signs :math:`s`, the optimality condition is the linear
    system :math:`(H_{AA} + \lambda\alpha I)\,w_A = c_A - \tfrac12\lambda(1-\alpha)\,s`; its solution
    is the minimiser when it keeps those signs and every other weight's gradient is within the L1
    part's reach, :math:`|2(Hw - c)_j| \le \lambda(1-\alpha)` (the problem is convex, so these
    conditions suffice). Checked in floating point with a relative slack of 1e-9. When they fail,
    the guess to try next comes back instead: the weights that changed sign leave, the others
    whose gradient is out of reach enter (the classic active-set swap; it may cycle, so callers cap it).
    """
    l1, l2 = lam * (1 - alpha), lam * alpha
    exact = np.zeros_like(c)
    if active.any():
        try:
            exact[active] = np.linalg.solve(h[np.ix_(active, active)] + l2 * np.eye(int(active.sum())),
                                            c[active] - 0.5 * l1 * signs[active])
        except np.linalg.LinAlgError:
            return None, active, signs
    grad = 2 * (h @ exact - c) + 2 * l2 * exact  # of everything but the L1 part
    slack = 1e-9 * max(l1, np.abs(grad).max(), np.abs(c).max(), 1e-300)
    flipped = active & (np.sign(exact) != signs)
    outside = ~active & (np.abs(grad) > l1 + slack)
    # a nearly singular system is solved inexactly: its residual tells
    inexact = np.abs(grad + l1 * signs)[active].max(initial=0.0) > slack
    if not (flipped.any() or outside.any() or inexact):
        return exact, active, signs
    active_next = (active & ~flipped) | outside
    signs_next = np.where(outside, -np.sign(grad), np.where(active_next, signs, 0.0))
    return None, active_next, signs_next


def make_sparse_regression(n_train=50, n_val=500, n_features=40, n_informative=5, noise=1.0, *, rng=None):
    """A linear regression where only ``n_informative`` of the features matter.

    Features are standard normal; the relevant weights are :math:`\\pm` 1 to 3,
    the others exactly 0; targets get Gaussian noise of std ``noise``. With
    about as many features as training examples, unregularised least squares
    fits the noise.

    Returns
    -------
    (x_train, y_train), (x_val, y_val), w_true
    """
    owner = "make_sparse_regression"
    n_train = check_int(n_train, "n_train", owner, low=1)
    n_val = check_int(n_val, "n_val", owner, low=1)
    d = check_int(n_features, "n_features", owner, low=1)
    k = check_int(n_informative, "n_informative", owner, low=0, high=d)
    noise = check_real(noise, "noise", owner, low=0)
    rng = check_rng(rng, owner)
    w = np.zeros(d)
    w[:k] = rng.choice([-1.0, 1.0], k) * rng.uniform(1, 3, k)
    x = rng.standard_normal((n_train + n_val, d))
    y = x @ w + noise * rng.standard_normal(n_train + n_val)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), w


def regularization_path(x_train, y_train, lams, alpha, *, x_val=None, y_val=None, tol=1e-7):
    r"""Elastic-net least squares for every :math:`\lambda` in ``lams``.

    Solved from the largest :math:`\lambda` down, each solution starting the
    next (a warm start). At each :math:`\lambda` the guess is which weights are
    zero and what signs the others have: the previous solution's to begin with.
    Given that guess the optimality conditions are a linear system, whose
    solution is kept if it passes them (it keeps the signs, and no zero
    weight's gradient is out of the L1 part's reach); if not,
    the weights that changed sign leave the guess and those whose gradient
    is out of the L1 part's reach enter it, a few times. Neighbouring
    :math:`\lambda` differ by a weight or two, so this is exact and fast;
    should the swaps go round in circles, FISTA (as in
    :func:`solve_elastic_net`) runs in bursts of a few steps from the warm
    start until a guess passes, or to ``tol``.

    Returns
    -------
    weights : ndarray, shape (len(lams), d), in the order of ``lams``
    train_mse, val_mse : ndarray, shape (len(lams),)
        Mean squared errors (``val_mse`` is None without a validation set).
    """
    owner = "regularization_path"
    x = np.asarray(x_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    n = len(x)
    h, c = x.T @ x / n, x.T @ y / n
    lams = np.asarray(lams, dtype=np.float64)
    alpha = check_real(alpha, "alpha", owner, low=0, high=1)
    for lam in lams:
        check_real(float(lam), "lams", owner, low=0)
    weights = np.zeros((len(lams), x.shape[1]))
    w = np.zeros(x.shape[1])
    with one_blas_thread():  # small products: one thread is fastest, and fair to a busy machine
        lr = _step(h)
        for i in np.argsort(lams)[::-1]:
            lam = float(lams[i])
            if alpha == 1 and lam > 0:
                w = solve_elastic_net(h, c, lam, alpha)  # ridge: closed form
            else:
                w = _path_point(h, c, lam, alpha, w, lr, tol)
            weights[i] = w
        train_mse = np.mean((x @ weights.T - y[:, None]) ** 2, axis=0)
        val_mse = None
        if x_val is not None:
            val_mse = np.mean((np.asarray(x_val) @ weights.T - np.asarray(y_val)[:, None]) ** 2, axis=0)
    return weights, train_mse, val_mse


#: Along a path: active-set swaps tried per lambda, FISTA steps between two tries, most FISTA steps per lambda.
_SWAPS, _BURST, _MAX_ITER = 4, 10, 5000


def _path_point(h, c, lam, alpha, w, lr, tol):
    """One lambda of :func:`regularization_path`, warm-started at ``w``: exact when an active set passes."""
    spent, done = 0, False
    while True:
        active, signs = w != 0, np.sign(w)
        for _ in range(_SWAPS):
            exact, active_next, signs_next = _exact_on_support(h, c, lam, alpha, active, signs)
            if exact is not None:
                return exact
            if np.array_equal(active_next, active) and np.array_equal(signs_next, signs):
                break  # no better guess: let FISTA find the zeros
            active, signs = active_next, signs_next
        if done or spent >= _MAX_ITER:
            return w  # FISTA's own answer, to ``tol``
        w, done = _fista(h, c, lam, alpha, w, lr, _BURST, tol)
        spent += _BURST


# --- the view ----------------------------------------------------------------------------------

#: The 2-D toy: mean squared error (w - w_ols)^T H (w - w_ols) + const, correlated features.
_H2 = np.array([[1.0, 0.5], [0.5, 0.6]])
_W2 = np.array([1.6, 0.45])


#: Two rows whose least-squares problem has exactly that H (X^T X / n = H) and solution w_ols.
_X2 = np.linalg.cholesky(_H2).T * np.sqrt(2)


def _ellipse(level, n=200):
    """Points where the 2-D toy's loss excess (w - w_ols)^T H (w - w_ols) equals ``level``."""
    vals, vecs = np.linalg.eigh(_H2)
    phi = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(phi), np.sin(phi)])
    return (_W2[:, None] + vecs @ (np.sqrt(max(level, 0.0) / vals)[:, None] * circle)).T


class RegularizationExplorer(FigureWidget):
    """Choose a penalty, its mix and :math:`\\lambda`; three panels follow.

    Left: a 2-D least-squares problem, its loss contours and the penalised
    solution; the shaded region is the set of weights whose penalty is at
    most the solution's, so the solution sits where a loss contour touches it
    (a diamond's corner puts a weight at exactly 0). Middle: the weights of a
    linear model fitted on 40 features of which 5 matter: L1 sets the others
    to exactly 0, L2 only shrinks them. Right: training and validation error
    against :math:`\\lambda`, with the current value marked.

    The solutions for every grid :math:`\\lambda` are computed per mix
    :math:`\\alpha` (L1 and L2 in the constructor, each other mix on its
    first visit, then cached), so moving :math:`\\lambda` never solves anything.

    Parameters
    ----------
    penalty : {'l1', 'l2', 'elastic_net'}, default 'l1'
    alpha : float in [0, 1], default 0.5
        The mix, used by the elastic net (L1 is 0, L2 is 1); rounded to the
        slider's grid of 0.1, here and in :meth:`update`.
    lam : float, default 0.1
        Snapped to the slider's grid :data:`LAM_GRID` (1e-3 to 10).
    seed : int, default 0
        The regression data set.

    Attributes
    ----------
    controls : dict
        ``penalty`` (dropdown), ``alpha`` (slider, step 0.1), ``lam`` (log slider).
    weights, solution_2d : ndarray
        What the last redraw showed.
    alpha : float
        The mix the last redraw solved and showed.
    """

    wide_controls = ("lam",)

    def __init__(self, penalty="l1", alpha=0.5, lam=0.1, *, seed=0):
        import ipywidgets as w

        owner = "RegularizationExplorer"
        check_choice(penalty, "penalty", owner, tuple(PENALTIES))
        alpha = check_real(alpha, "alpha", owner, low=0, high=1)
        lam = check_real(lam, "lam", owner, low=LAM_GRID[0], high=LAM_GRID[-1])
        seed = check_int(seed, "seed", owner, low=0)
        super().__init__(figsize=(WIDTH / 72, 5.2))
        (self.x_train, self.y_train), (self.x_val, self.y_val), self.w_true = make_sparse_regression(
            rng=np.random.default_rng(seed))
        alpha = self._snap_alpha(alpha)
        self._paths = {}
        for a in {0.0, 1.0, penalty_mix(penalty, alpha)}:
            self._path(a)  # other mixes are solved on their first visit, then cached
        self.controls = {
            "penalty": w.Dropdown(options=[(v, k) for k, v in PENALTIES.items()], value=penalty, description="penalty"),
            # Greyed unless the penalty is the elastic net; it then shows the mix in effect (0 for L1, 1 for L2).
            "alpha": w.FloatSlider(value=penalty_mix(penalty, alpha), min=0, max=1, step=0.1,
                                   description="mix α", readout_format=".1f", continuous_update=True,
                                   disabled=penalty != "elastic_net"),
            # 40 steps over a full-width track; the readout takes a typed value (snapped to the grid).
            "lam": w.FloatLogSlider(value=self._snap(lam), base=10, min=_LOG_MIN, max=_LOG_MAX, step=_LOG_STEP,
                                    description="λ", readout_format=".3g", continuous_update=True),
        }
        self._en_alpha = alpha  # the elastic net's mix, kept while another penalty is shown
        self._asked_alpha = None  # a mix given to ``update`` along with the penalty
        # Registered before the redraw observers, so the slider is set before the figure is drawn.
        self.controls["penalty"].observe(self._on_penalty, names="value")
        self.controls["alpha"].observe(self._on_alpha, names="value")
        self._build()
        self._observe_controls()

    def update(self, **values):
        """As :meth:`FigureWidget.update`; a mix ``alpha`` given here is the elastic net's, whatever else
        changes: ``update(penalty="elastic_net", alpha=0.0)`` shows the elastic net at 0, and
        ``update(penalty="l1", alpha=0.3)`` shows L1 (mix 0) and keeps 0.3 for the elastic net."""
        try:
            self._asked_alpha = self._snap_alpha(values["alpha"]) if "alpha" in values else None
        except (TypeError, ValueError):
            self._asked_alpha = None  # not a number: the slider refuses it below
        try:
            super().update(**values)
        finally:
            self._asked_alpha = None

    @staticmethod
    def _snap_alpha(alpha):
        """The slider's grid of mixes, 0.0, 0.1, ..., 1.0: what is solved is what the slider and the title show."""
        return round(float(alpha), 1)

    def _on_penalty(self, change):
        """Grey the mix slider for L1 and L2 and show the mix they use; give the elastic net its own back."""
        alpha = self.controls["alpha"]
        if change["old"] == "elastic_net":
            self._en_alpha = self._snap_alpha(alpha.value)
        if change["new"] == "elastic_net":
            self.set_quietly("alpha", self._en_alpha if self._asked_alpha is None else self._asked_alpha)
        else:
            self.set_quietly("alpha", penalty_mix(change["new"]))
        alpha.disabled = change["new"] != "elastic_net"

    def _on_alpha(self, change):
        """Keep the slider on its grid; under L1 or L2 a mix set from code is the elastic net's, for later."""
        if self.controls["penalty"].value != "elastic_net":
            forced = penalty_mix(self.controls["penalty"].value)
            if change["new"] != forced:
                self._en_alpha = self._snap_alpha(change["new"])
                self.set_quietly("alpha", forced)
        elif change["new"] != self._snap_alpha(change["new"]):
            self.set_quietly("alpha", self._snap_alpha(change["new"]))

    @staticmethod
    def _snap(lam):
        return float(LAM_GRID[np.argmin(np.abs(np.log10(LAM_GRID) - np.log10(lam)))])

    def _path(self, alpha):
        """The solutions for every grid lambda at mix ``alpha`` (cached: computed once per mix)."""
        key = round(float(alpha), 6)
        if key not in self._paths:
            weights, train_mse, val_mse = regularization_path(
                self.x_train, self.y_train, LAM_GRID, key, x_val=self.x_val, y_val=self.y_val)
            toy = regularization_path(_X2, _X2 @ _W2, LAM_GRID, key)[0]
            self._paths[key] = dict(weights=weights, train=train_mse, val=val_mse, toy=toy)
        return self._paths[key]

    def _build(self):
        fig = self.figure
        fig.set_layout_engine("none")
        # The 2-D picture on the left; the weights and the errors stacked on the right.
        self.ax_geo = fig.add_axes((0.075, 0.10, 0.40, 0.74))
        self.ax_w = fig.add_axes((0.59, 0.575, 0.37, 0.29))
        self.ax_val = fig.add_axes((0.59, 0.10, 0.37, 0.29))
        ax = self.ax_geo
        g = np.linspace(-2.2, 2.2, 121)
        gx, gy = np.meshgrid(g, g)
        d = np.stack([gx - _W2[0], gy - _W2[1]])
        excess = np.einsum("i...,ij,j...->...", d, _H2, d)
        ax.contour(gx, gy, excess, levels=[0.05, 0.2, 0.5, 1.0, 1.8, 2.8, 4.0], colors="0.6", linewidths=0.7)
        ax.axhline(0, color="0.85", lw=0.8, zorder=0)
        ax.axvline(0, color="0.85", lw=0.8, zorder=0)
        (self._region,) = ax.fill([0], [0], color="tab:green", alpha=0.25, lw=1.2, ec="tab:green")
        (self._touch,) = ax.plot([], [], color="0.3", lw=1.4)
        (self._toy_path,) = ax.plot([], [], ":", color="k", lw=1)
        ax.plot(*_W2, "k+", ms=9)
        # to the left of the +: on its right the label would run past the plot's edge
        ax.annotate("least squares", _W2, xytext=(-4, 5), textcoords="offset points", ha="right",
                    fontsize=FONT["note"])
        (self._sol,) = ax.plot([], [], "o", color=COLORS["current"], ms=6)
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(r"$\theta_1$")
        ax.set_ylabel(r"$\theta_2$", labelpad=0)

        ax = self.ax_w
        idx = np.arange(len(self.w_true))
        # one LineCollection, not 40 bar artists: a fraction of the drawing time
        self._bars = ax.vlines(idx, 0, np.zeros_like(self.w_true), color=COLORS["current"], lw=3)
        (self._true_marks,) = ax.plot(idx, self.w_true, "_", color="k", ms=7, mew=1.5, label="true weight")
        ax.axhline(0, color="k", lw=0.6)
        lim = np.abs(self.path_weights_bound()).max() * 1.1
        ax.set_ylim(-lim, lim)
        ax.set_xlim(-1, len(idx))
        ax.set_xlabel("feature (only the first 5 matter)")
        ax.legend(loc="upper right", frameon=False)

        ax = self.ax_val
        (self._train_line,) = ax.semilogx(LAM_GRID, np.ones_like(LAM_GRID), color=COLORS["train"], label="train")
        (self._val_line,) = ax.semilogx(LAM_GRID, np.ones_like(LAM_GRID), color=COLORS["validation"],
                                        label="validation")
        self._lam_line = ax.axvline(1.0, color=COLORS["current"], lw=1)
        # not clipped: at either end of the slider half the dot would be cut off
        (self._lam_dot,) = ax.plot([], [], "o", color=COLORS["current"], ms=5, clip_on=False, zorder=5)
        ax.minorticks_off()  # dozens of minor ticks would double the drawing time
        ax.set_xlabel(r"$\lambda$")
        ax.set_ylabel("MSE")
        ax.set_xlim(LAM_GRID[0], LAM_GRID[-1])
        # one fixed scale for every penalty, so switching never redraws the axes: at large
        # lambda every penalty drives the weights to 0, where the error is the mean of y^2
        top = max(np.mean(self.y_val ** 2), np.mean(self.y_train ** 2),
                  *(max(p["val"].max(), p["train"].max()) for p in self._paths.values()))
        ax.set_ylim(0, 1.05 * top)
        ax.legend(loc="upper left", frameon=False)
        ax.grid(True, alpha=0.3)
        self._titles = {a: a.set_title("", fontsize=FONT["title"], pad=4) for a in (self.ax_geo, self.ax_w, self.ax_val)}
        # drawn in this order on each frame: the true-weight marks stay on top of the bars
        self.blitter = Blitter(fig, [self._region, self._touch, self._toy_path, self._sol, self._bars, self._true_marks,
                                     self._train_line, self._val_line, self._lam_line, self._lam_dot,
                                     *self._titles.values()])

    def path_weights_bound(self):
        """Largest |weight| the panels may show: the least-squares fit's, or the true ones."""
        return np.concatenate([self._path(1.0)["weights"][0], self.w_true])

    def draw(self):
        v = self.values
        self.controls["alpha"].disabled = v["penalty"] != "elastic_net"
        alpha = penalty_mix(v["penalty"], self._snap_alpha(v["alpha"]))  # what the title shows is what is solved
        self.alpha = alpha
        path = self._path(alpha)
        i = int(np.argmin(np.abs(np.log10(LAM_GRID) - np.log10(v["lam"]))))
        lam = LAM_GRID[i]

        w2 = path["toy"][i]
        level = (1 - alpha) * np.abs(w2).sum() + alpha * np.square(w2).sum()
        self._region.set_xy(constraint_boundary(alpha, level))
        d = w2 - _W2
        self._touch.set_data(*_ellipse(float(d @ _H2 @ d)).T)
        self._toy_path.set_data(path["toy"][:, 0], path["toy"][:, 1])
        self._sol.set_data([w2[0]], [w2[1]])
        self.solution_2d = w2
        self._titles[self.ax_geo].set_text(f"{PENALTIES[v['penalty']]}, α = {alpha:.1f}, λ = {lam:.3g}\n"
                                           f"2-D: θ = ({w2[0]:.2f}, {w2[1]:.2f})")

        self.weights = path["weights"][i]
        self._bars.set_segments([[(k, 0.0), (k, h)] for k, h in enumerate(self.weights)])
        zeros = int(np.sum(self.weights == 0))
        irrelevant = self.w_true == 0
        self._titles[self.ax_w].set_text(
            f"{zeros} of {len(self.weights)} weights exactly 0\n"
            f"irrelevant |w| ≤ {np.abs(self.weights[irrelevant]).max():.2g}")

        self._train_line.set_ydata(path["train"])
        self._val_line.set_ydata(path["val"])
        hi = max(path["val"].max(), path["train"].max())
        if hi > self.ax_val.get_ylim()[1]:  # rare: new limits need a new background
            self.ax_val.set_ylim(0, hi * 1.05)
            self.blitter.invalidate()
        self._lam_line.set_xdata([lam, lam])
        self._lam_dot.set_data([lam], [path["val"][i]])
        best = LAM_GRID[int(np.argmin(path["val"]))]
        self._titles[self.ax_val].set_text(f"validation MSE {path['val'][i]:.2f}; best λ ≈ {best:.2g}")
