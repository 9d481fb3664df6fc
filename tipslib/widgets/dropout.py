r"""Dropout explorer: slide the drop probability ``p``, see a thinned network and what it does to overfitting.

The pure compute underneath, unit-tested and usable on its own:

* :func:`network_masks` draws one keep-mask per layer of a small drawn network
  (hidden units dropped with probability ``p``; inputs and outputs kept, as in
  the trained network);
* :func:`network_layout` places the units and the connections of that drawing;
* :func:`small_noisy_digits` is the over-fitting setting: 100 training digits, a
  fifth of them with a wrong label, and a validation set with correct labels;
* :func:`dropout_curves` trains the same wide multilayer perceptron on that
  set once per ``p`` of a grid and per seed, with the NumPy twins
  (:class:`~tipslib.layers.numpy_impl.Dropout` after each hidden layer,
  :func:`~tipslib.training.numpy_impl.fit`), and returns the training and
  validation curves, their mean and spread over the seeds. Results are cached
  per configuration.

:class:`DropoutExplorer` is the view: the slider only moves along the grid, so
a change looks curves up and redraws; the network drawing gets a fresh mask.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._checks import check_int, check_real
from ._base import COLORS, FONT, WIDTH, Blitter, FigureWidget

__all__ = ["P_GRID", "LOSS_CAP", "network_masks", "network_layout", "small_noisy_digits", "dropout_curves",
           "final_metrics", "DropoutExplorer"]

#: The drop probabilities the explorer trains with (and its slider reaches).
P_GRID = tuple(round(0.1 * k, 1) for k in range(9))  # 0.0 ... 0.8

#: A cross-entropy past this means training blew up (a sane 10-class network stays below 10): the
#: explorer's loss axes stop here, and its titles say which runs passed it or stopped (NaN).
LOSS_CAP = 100.0

#: The drawn network: 5 inputs, two hidden layers of 7, 3 outputs.
DRAWN_SIZES = (5, 7, 7, 3)

#: Curves for the default configuration, computed by ``python -m tipslib.widgets.dropout``
#: with :func:`dropout_curves` itself (a test recomputes and compares them).
SHIPPED_CURVES = Path(__file__).with_name("dropout_curves.npz")
_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")
#: The seeds of the shipped curves (the notebook asks for ``tipslib.seeds(3)``, which are these by default).
DEFAULT_SEEDS = (0, 1, 2)


def network_masks(layer_sizes, p, rng):
    """One keep-mask per layer: ``True`` keeps a unit.

    Hidden layers (all but the first and last) drop each unit independently
    with probability ``p``; the input and output layers keep every unit.
    """
    sizes = [check_int(s, "layer_sizes", "network_masks", low=1) for s in layer_sizes]
    if len(sizes) < 2:
        raise ValueError(f"The 'layer_sizes' parameter of network_masks must list at least 2 layers. Got {sizes} instead.")
    p = check_real(p, "p", "network_masks", low=0, high=1, high_open=True)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"The 'rng' parameter of network_masks must be a numpy.random.Generator. Got {rng!r} instead.")
    last = len(sizes) - 1
    return [np.ones(s, dtype=bool) if i in (0, last) else rng.random(s) >= p for i, s in enumerate(sizes)]


def network_layout(layer_sizes):
    """Coordinates of the drawing: units in columns, every unit joined to the next layer's.

    Returns
    -------
    nodes : ndarray, shape (n_units, 2)
        Layer by layer, each column centred on ``y = 0``.
    edges : ndarray of int, shape (n_edges, 2)
        Index pairs into ``nodes`` for each connection between consecutive layers.
    """
    sizes = [check_int(s, "layer_sizes", "network_layout", low=1) for s in layer_sizes]
    nodes, starts, start = [], [], 0
    for i, s in enumerate(sizes):
        nodes += [(float(i), (s - 1) / 2 - j) for j in range(s)]
        starts.append(start)
        start += s
    edges = [(starts[i] + a, starts[i + 1] + b)
             for i in range(len(sizes) - 1) for a in range(sizes[i]) for b in range(sizes[i + 1])]
    return np.array(nodes), np.array(edges, dtype=int).reshape(-1, 2)


class _Recorder:
    """A fit callback: the training set's loss and accuracy in eval mode after each epoch.

    ``fit``'s own ``train_loss`` is measured with dropout on, which mixes the
    noise of the masks into the number; the gap to validation is clearer clean.
    """

    def __init__(self, x, y):
        from ..losses.numpy_impl import cross_entropy

        self.x, self.y, self.loss = x, y, cross_entropy
        self.train_loss, self.train_acc = [], []

    def on_epoch_end(self, epoch, logs, model):
        model.eval()
        out = model.forward(self.x)
        model.train()
        self.train_loss.append(float(self.loss(out, self.y)))
        self.train_acc.append(float(np.mean(out.argmax(axis=1) == self.y)))
        return False


def small_noisy_digits(seed, *, n_train=100, n_val=500, label_noise=0.2):
    """A training set small and noisy enough to memorise, and a clean validation set.

    ``n_train`` digits drawn at random; the first ``label_noise`` fraction of
    them get a wrong label (another digit, uniformly), as real data sets have
    some. A network that memorises its training set learns those mistakes too,
    so overfitting shows in the validation metrics. ``n_val`` other digits,
    correctly labelled, form the validation set.

    Returns
    -------
    x_train, y_train, x_val, y_val : ndarray
    wrong : ndarray of bool, shape (n_train,)
        Which training labels were changed.
    """
    from ..data import load_digits

    owner = "small_noisy_digits"
    seed = check_int(seed, "seed", owner, low=0)
    n_train = check_int(n_train, "n_train", owner, low=10, high=1000)
    n_val = check_int(n_val, "n_val", owner, low=10, high=797)
    label_noise = check_real(label_noise, "label_noise", owner, low=0, high=1)
    x, y = load_digits()
    rng = np.random.default_rng((seed, 0))
    order = rng.permutation(len(x))
    x_tr, y_tr = x[order[:n_train]], y[order[:n_train]].copy()
    x_va, y_va = x[order[n_train:n_train + n_val]], y[order[n_train:n_train + n_val]]
    wrong = np.arange(n_train) < round(label_noise * n_train)
    y_tr[wrong] = (y_tr[wrong] + rng.integers(1, 10, wrong.sum())) % 10  # never the true digit
    return x_tr, y_tr, x_va, y_va, wrong


def dropout_curves(p_grid=P_GRID, *, seeds=DEFAULT_SEEDS, n_train=100, n_val=500, label_noise=0.2, hidden=256,
                   epochs=60, lr=0.05, momentum=0.9, batch_size=25, recompute=False):
    r"""Train ``64 -> hidden -> hidden -> 10`` with dropout ``p`` after each hidden ReLU, for each ``p`` and seed.

    For each seed, :func:`small_noisy_digits` draws the data (a small training
    set with some wrong labels, so that without dropout the network memorises
    it, mistakes included) and every ``p`` starts from the same weights and
    sees the same batches. Training is mini-batch SGD with momentum (torch's
    form), through :func:`tipslib.training.numpy_impl.fit`.

    Returns
    -------
    dict with
        ``p`` (P,), ``epoch`` (E,), ``seeds`` (S,);
        ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` of shape (P, E):
        cross-entropy and accuracy after each epoch, both measured in eval
        mode (training metrics on the labels it was given), mean over the seeds;
        the same names with ``_std`` (P, E): the sample standard deviation over
        the seeds (0 for one seed); with ``_runs`` (S, P, E): every seed's curves.

    Results are cached per argument set, so a second call is free. The
    default configuration also ships precomputed (:data:`SHIPPED_CURVES`):
    training 27 networks takes seconds, too long for opening a widget.
    ``recompute=True`` trains anyway.
    """
    owner = "dropout_curves"
    grid = tuple(check_real(p, "p_grid", owner, low=0, high=1, high_open=True) for p in p_grid)
    if not grid:
        raise ValueError(f"The 'p_grid' parameter of {owner} must hold at least one p. Got an empty grid.")
    seed_list = tuple(check_int(s, "seeds", owner, low=0) for s in seeds)
    if not seed_list:
        raise ValueError(f"The 'seeds' parameter of {owner} must hold at least one seed. Got none.")
    args = dict(
        seeds=seed_list,
        n_train=check_int(n_train, "n_train", owner, low=10, high=1000),
        n_val=check_int(n_val, "n_val", owner, low=10, high=797),
        label_noise=check_real(label_noise, "label_noise", owner, low=0, high=1),
        hidden=check_int(hidden, "hidden", owner, low=1),
        epochs=check_int(epochs, "epochs", owner, low=1),
        lr=check_real(lr, "lr", owner, low=0),
        momentum=check_real(momentum, "momentum", owner, low=0, high=1, high_open=True),
        batch_size=check_int(batch_size, "batch_size", owner, low=1),
    )
    if not recompute:
        shipped = _load_shipped(grid, args)
        if shipped is not None:
            return shipped
    curves = _dropout_curves(grid, **args)
    return _summarise({k: v.copy() for k, v in curves.items()})


def final_metrics(curves, last=5):
    """Each seed's metrics at the end of training: the mean over the ``last`` epochs (one epoch is noisy).

    Returns
    -------
    dict
        ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, each of shape (S, P):
        one row per seed, one column per ``p``.
    """
    last = check_int(last, "last", "final_metrics", low=1)
    return {k: np.nanmean(curves[f"{k}_runs"][:, :, -last:], axis=2) for k in _KEYS}


def _summarise(curves):
    """Add the mean and spread over the seeds to per-seed ``_runs`` arrays of shape (S, P, E)."""
    for k in _KEYS:
        runs = curves[f"{k}_runs"]
        curves[k] = runs.mean(axis=0)
        curves[f"{k}_std"] = runs.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros_like(curves[k])
    return curves


def _config(grid, args):
    return json.dumps({"p_grid": list(grid), **{k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}},
                      sort_keys=True)


def _load_shipped(grid, args):
    if not SHIPPED_CURVES.is_file():
        return None
    with np.load(SHIPPED_CURVES) as f:
        if str(f["config"]) != _config(grid, args):
            return None
        # float32 on disk keeps the file small; 7 digits are more than the plots show
        curves = {k: f[k].astype(np.float64) for k in (*(f"{k}_runs" for k in _KEYS), "p", "epoch")}
        curves["seeds"] = f["seeds"].copy()
        curves["epoch"] = curves["epoch"].astype(int)
    return _summarise(curves)


def _ship():
    """Recompute the default curves and write :data:`SHIPPED_CURVES`."""
    curves = dropout_curves(recompute=True)
    args = {k: v.default for k, v in _signature_defaults().items()}
    runs = {f"{k}_runs": curves[f"{k}_runs"].astype(np.float32) for k in _KEYS}
    np.savez_compressed(SHIPPED_CURVES, config=np.array(_config(P_GRID, args)), p=curves["p"],
                        epoch=curves["epoch"], seeds=curves["seeds"], **runs)


def _signature_defaults():
    import inspect

    params = inspect.signature(dropout_curves).parameters
    return {k: v for k, v in params.items() if v.kind is v.KEYWORD_ONLY and k != "recompute"}


@lru_cache(maxsize=8)
def _dropout_curves(grid, *, seeds, n_train, n_val, label_noise, hidden, epochs, lr, momentum, batch_size):
    from .._threads import one_blas_thread
    from ..layers.numpy_impl import Dropout, Linear, ReLU, Sequential
    from ..losses.numpy_impl import CrossEntropyLoss
    from ..optim.numpy_impl import SGD
    from ..training.numpy_impl import fit

    out = {f"{k}_runs": np.full((len(seeds), len(grid), epochs), np.nan) for k in _KEYS}
    for s, seed in enumerate(seeds):
        x_tr, y_tr, x_va, y_va, _ = small_noisy_digits(seed, n_train=n_train, n_val=n_val, label_noise=label_noise)
        for i, p in enumerate(grid):
            # One stream each for the weights, the batches and the masks: every p starts from the
            # same weights and sees the same batches, so within a seed the runs differ only by p.
            init, batches, masks = (np.random.default_rng((seed, k)) for k in (1, 2, 3))
            model = Sequential(Linear(64, hidden, rng=init), ReLU(), Dropout(p, rng=masks),
                               Linear(hidden, hidden, rng=init), ReLU(), Dropout(p, rng=masks),
                               Linear(hidden, 10, rng=init))
            rec = _Recorder(x_tr, y_tr)
            with one_blas_thread():  # small products: one thread is fastest, and fair to a busy machine
                history = fit(model, CrossEntropyLoss(), SGD(model.params, lr=lr, momentum=momentum), x_tr, y_tr,
                              epochs=epochs, batch_size=batch_size, x_val=x_va, y_val=y_va, rng=batches,
                              callbacks=[rec], progress=False)
            n = len(history.epoch)  # shorter only if training diverged; the rest stays NaN
            out["train_loss_runs"][s, i, :n], out["train_acc_runs"][s, i, :n] = rec.train_loss, rec.train_acc
            out["val_loss_runs"][s, i, :n], out["val_acc_runs"][s, i, :n] = history.val_loss, history.val_acc
    out["p"] = np.array(grid)
    out["epoch"] = np.arange(1, epochs + 1)
    out["seeds"] = np.array(seeds)
    for v in out.values():
        v.setflags(write=False)
    return out


class DropoutExplorer(FigureWidget):
    """Slide ``p``; see one random thinned network and the training it leads to.

    Left: a small network with the units one random mask drops greyed out
    (a new mask on every change: each mini-batch trains a different thinned
    network). Middle: training and validation loss per epoch of the digits
    network trained with this ``p`` (mean over the seeds), the ``p = 0`` run in
    faint lines for comparison. Right: the final losses against ``p``, validation
    with its spread over the seeds: without dropout the network memorises its
    noisy training set and the validation loss is high; a moderate ``p`` lowers
    it; at large ``p`` too few units survive and both losses rise (underfitting).

    Parameters
    ----------
    p : float, default 0.3
        Snapped to :data:`P_GRID`.
    seed : int, default 0
        Seeds the drawn masks (the training runs take theirs from ``seeds``).
    **curve_options
        Passed to :func:`dropout_curves` (``seeds``, ``epochs``, ``hidden``, ...).

    Attributes
    ----------
    controls : dict
        ``p``, a slider over the grid; drive it with ``update(p=0.5)``.
    keep_label : ipywidgets.Label
        Reads out the keep probability ``1 - p`` (the cheatsheet's parameter).
    curves : dict
        The output of :func:`dropout_curves`.
    masks : list of ndarray
        The masks of the drawing shown now.
    """

    def __init__(self, p=0.3, *, seed=0, **curve_options):
        import ipywidgets as w

        owner = "DropoutExplorer"
        p = check_real(p, "p", owner, low=0, high=P_GRID[-1])
        seed = check_int(seed, "seed", owner, low=0)
        self.curves = dropout_curves(P_GRID, **curve_options)
        self._rng = np.random.default_rng(seed)
        super().__init__(figsize=(WIDTH / 72, 5.3))
        self.controls = {
            "p": w.FloatSlider(value=self._snap(p), min=P_GRID[0], max=P_GRID[-1], step=0.1,
                               description="drop p", readout_format=".1f", continuous_update=True),
        }
        self.keep_label = w.Label()
        self._build()
        self._observe_controls()

    @staticmethod
    def _snap(p):
        return float(P_GRID[int(np.argmin(np.abs(np.array(P_GRID) - p)))])

    def extra_views(self):
        return [self.keep_label]

    @staticmethod
    def final_losses(curves, last=5):
        """Train and validation loss per ``p``, averaged over the last epochs (one epoch is noisy).

        NaN for a ``p`` whose runs all stopped before those epochs (training diverged).
        """
        k = min(last, curves["train_loss"].shape[1])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": a run that stopped
            return np.nanmean(curves["train_loss"][:, -k:], axis=1), np.nanmean(curves["val_loss"][:, -k:], axis=1)

    @staticmethod
    def blew_up(curves):
        """Per ``p``: did some seed's training or validation loss pass :data:`LOSS_CAP` or stop (NaN)?"""
        runs = np.concatenate([curves["train_loss_runs"], curves["val_loss_runs"]], axis=0)  # (2S, P, E)
        with np.errstate(invalid="ignore"):
            return (np.isnan(runs) | (runs > LOSS_CAP)).any(axis=(0, 2))

    def _build(self):
        from matplotlib.collections import LineCollection

        fig = self.figure
        fig.set_layout_engine("none")
        # The thinned network on the left; the loss curves and the losses against p stacked on the right.
        self.ax_net = fig.add_axes((0.0, 0.03, 0.28, 0.82))
        self.ax_curve = fig.add_axes((0.405, 0.585, 0.55, 0.29))
        self.ax_p = fig.add_axes((0.405, 0.10, 0.55, 0.29))

        self._nodes, self._edges = network_layout(DRAWN_SIZES)
        segments = self._nodes[self._edges]
        self._edge_art = LineCollection(segments, colors="0.3", linewidths=0.8)
        self.ax_net.add_collection(self._edge_art)
        self._node_art = self.ax_net.scatter(*self._nodes.T, s=130, c="tab:blue", edgecolors="k", zorder=3)
        self.ax_net.set_xlim(-0.4, len(DRAWN_SIZES) - 0.6)
        half = max(DRAWN_SIZES) / 2
        self.ax_net.set_ylim(-half, half)
        self.ax_net.axis("off")
        for i, name in enumerate(["input", "hidden", "hidden", "output"]):
            self.ax_net.text(i, -half + 0.05, name, ha="center", va="bottom", fontsize=FONT["note"])

        c, ep = self.curves, self.curves["epoch"]
        self.diverged = self.blew_up(c)
        # Limits from the losses a sane run has, so they stay finite; a loss past LOSS_CAP is drawn at the
        # top (the title says so), one that stopped (NaN) leaves the rest of its curve out.
        sane = np.concatenate([c["train_loss"].ravel(), c["val_loss"].ravel()])
        sane = sane[np.isfinite(sane) & (sane > 0) & (sane <= LOSS_CAP)]
        self._top = min(sane.max() * 1.5, LOSS_CAP) if len(sane) else LOSS_CAP
        low = min(max(sane.min() / 1.5, 1e-4), self._top / 10) if len(sane) else self._top / 100
        self.ax_curve.plot(ep, self._capped(c["train_loss"][0]), color=COLORS["train"], alpha=0.25, lw=1)
        self.ax_curve.plot(ep, self._capped(c["val_loss"][0]), color=COLORS["validation"], alpha=0.25, lw=1)
        (self._train,) = self.ax_curve.plot(ep, self._capped(c["train_loss"][0]), color=COLORS["train"],
                                            label="train (eval mode)")
        (self._val,) = self.ax_curve.plot(ep, self._capped(c["val_loss"][0]), color=COLORS["validation"],
                                          label="validation")
        self.ax_curve.set_xlabel("epoch")
        self.ax_curve.set_ylabel("cross-entropy")
        self.ax_curve.set_yscale("log")
        self.ax_curve.minorticks_off()  # dozens of minor ticks would double the drawing time
        self.ax_curve.set_ylim(low, self._top)
        self.ax_curve.set_xlim(ep[0], ep[-1])
        self.ax_curve.legend(loc="lower left", frameon=False)
        self.ax_curve.grid(True, alpha=0.3)

        ps = c["p"]
        self.final_train, self.final_val = self.final_losses(c)
        # a p whose training blew up has no final loss worth drawing: left out (its title says why)
        self.ax_p.plot(ps, np.where(self.diverged, np.nan, self.final_train), "o-", color=COLORS["train"], ms=3,
                       label="train")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a run that stopped has no final epochs
            runs = final_metrics(c)
        n_seeds = len(runs["val_loss"])
        self.final_val_std = runs["val_loss"].std(axis=0, ddof=1) if n_seeds > 1 else 0 * ps
        self.final_val_acc = runs["val_acc"].mean(axis=0)
        self.ax_p.errorbar(ps, np.where(self.diverged, np.nan, self.final_val),
                           yerr=np.where(self.diverged, 0.0, self.final_val_std), fmt="o-",
                           color=COLORS["validation"], ms=3, capsize=2,
                           label=f"validation (± spread, {n_seeds} seed{'s' if n_seeds != 1 else ''})")
        self._p_line = self.ax_p.axvline(0.0, color=COLORS["current"], lw=1)
        self.ax_p.set_xlim(ps.min() - 0.05, ps.max() + 0.05)  # every p, also those left out
        if self.diverged.all():
            self.ax_p.text(0.5, 0.5, "training blew up at every p", transform=self.ax_p.transAxes,
                           ha="center", va="center", fontsize=FONT["note"])
        self.ax_p.set_xlabel("drop probability p")
        self.ax_p.set_ylabel("final loss (last 5 ep.)")
        self.ax_p.legend(loc="upper left", frameon=False)
        self.ax_p.grid(True, alpha=0.3)
        self._titles = {a: a.set_title("", fontsize=FONT["title"], pad=4) for a in (self.ax_net, self.ax_curve, self.ax_p)}
        self.blitter = Blitter(fig, [self._edge_art, self._node_art, self._train, self._val, self._p_line,
                                     *self._titles.values()])

    def draw(self):
        p = self._snap(self.values["p"])
        i = P_GRID.index(p)
        self.keep_label.value = f"keep probability 1 - p = {1 - p:.1f}"

        self.masks = network_masks(DRAWN_SIZES, p, self._rng)
        keep = np.concatenate(self.masks)
        self._node_art.set_facecolors(np.where(keep[:, None], [[0.12, 0.47, 0.71, 1.0]], [[1.0, 1.0, 1.0, 1.0]]))
        live = keep[self._edges].all(axis=1)
        self._edge_art.set_colors(np.where(live[:, None], [[0.3, 0.3, 0.3, 0.9]], [[0.8, 0.8, 0.8, 0.25]]))
        hidden = np.concatenate(self.masks[1:-1])
        self._titles[self.ax_net].set_text(f"one random mask drops\n{np.sum(~hidden)} of {hidden.size} hidden units")

        c = self.curves
        self._train.set_ydata(self._capped(c["train_loss"][i]))
        self._val.set_ydata(self._capped(c["val_loss"][i]))
        self._p_line.set_xdata([p, p])
        if self.diverged[i]:
            self._titles[self.ax_curve].set_text(f"p = {p:.1f}: training blew up (loss past {LOSS_CAP:g}\n"
                                                 "or not a number): try a smaller lr")
            self._titles[self.ax_p].set_text(f"p = {p:.1f}: no trustworthy final loss, training blew up")
            return
        self._titles[self.ax_curve].set_text(
            f"p = {p:.1f}: training accuracy {c['train_acc'][i, -1]:.0%} on its noisy labels")
        self._titles[self.ax_p].set_text(f"p = {p:.1f}: validation loss {self.final_val[i]:.2f} ± "
                                         f"{self.final_val_std[i]:.2f}, accuracy {self.final_val_acc[i]:.0%}")

    def _capped(self, losses):
        """Losses past the top of the curve axes drawn at the top (NaN, a run that stopped, stays out)."""
        with np.errstate(invalid="ignore"):
            return np.minimum(losses, self._top)


if __name__ == "__main__":
    _ship()
    print(f"wrote {SHIPPED_CURVES}")
