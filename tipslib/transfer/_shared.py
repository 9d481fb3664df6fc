"""Backend-free parts of transfer learning, shared by both twins.

The regimes and the experiment's settings, the parameter constraints of every
public function (declared once), and the experiment's bookkeeping: the loop
over sizes, repeats and regimes, and the results table.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .._checks import BOOL, Int, OneOf, Optional, Real, param_of, check_choice, check_int, check_real

__all__ = [
    "REGIMES", "NUM_CLASSES", "SIZES", "HIDDEN_LAYERS", "DEFAULT_LR", "frozen_layers",
    "REGIME", "Sizes", "LayerSizes", "Regimes", "LearningRates", "ExistingFile",
    "MAKE_MLP", "LOAD_PRETRAINED", "TRANSFER_MODEL", "TARGET_TASK", "STRATIFIED_SUBSET", "TRANSFER_EXPERIMENT",
    "n_at_most_rows", "one_label_per_row", "check_sizes_fit_pool", "lr_for_every_regime",
    "as_regimes", "lr_table", "run_experiment",
    "layer_items", "not_a_layer_spec", "index_out_of_range", "not_in_model", "unknown_name",
    "TransferResults",
]

#: How much of the pretrained network each regime trains, in the cheatsheet's order
#: (small, medium, large target set), then the baseline that starts from random weights.
REGIMES = ("softmax", "last_layers", "fine_tune", "scratch")

#: Both tasks classify the ten digits.
NUM_CLASSES = 10

#: Target training-set sizes of the experiment: small, medium, large.
SIZES = (30, 100, 500)

#: Layer sizes of the network: 64 pixels -> 64 -> 32 -> 10 classes, ReLU between.
HIDDEN_LAYERS = (64, 64, 32, NUM_CLASSES)

#: Learning rates of the experiment. Fine-tuning starts from weights that already
#: work, so it takes smaller steps (common practice; with 0.05 it sometimes wrecks
#: the pretrained features before the new head has learnt anything).
DEFAULT_LR = {"softmax": 0.05, "last_layers": 0.05, "fine_tune": 0.02, "scratch": 0.05}

_DESCRIPTION = {
    "softmax": "train the new softmax layer only",
    "last_layers": "train the last two layers",
    "fine_tune": "train every layer from the pretrained weights",
    "scratch": "train every layer from random weights",
}


def frozen_layers(regime: str, n_linear: int) -> tuple[int, ...]:
    """Which linear layers (counted 0, 1, ... among the linear layers) a regime freezes.

    ``softmax`` freezes all but the last; ``last_layers`` freezes all but the
    last two; ``fine_tune`` and ``scratch`` freeze none.
    """
    keep = {"softmax": 1, "last_layers": 2}.get(regime, n_linear)
    return tuple(range(max(n_linear - keep, 0)))


# --- constraints --------------------------------------------------------------------------------

REGIME = OneOf(*REGIMES)


def _positive_ints(sizes, name, owner, at_least, what):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"{param_of(name, owner)} must be a sequence of ints. Got {sizes!r} instead.")
    sizes = tuple(sizes)
    if len(sizes) < at_least:
        raise ValueError(f"{param_of(name, owner)} must hold at least {what}. Got {sizes!r} instead.")
    return tuple(check_int(s, name, owner, low=1) for s in sizes)


def Sizes():
    """Training-set sizes of the experiment: one or more positive ints."""
    return lambda value, name, owner: _positive_ints(value, name, owner, 1, "one size")


def LayerSizes():
    """Layer widths of an MLP, input first: two or more positive ints."""
    return lambda value, name, owner: _positive_ints(value, name, owner, 2, "2 layer sizes")


def Regimes():
    """One regime, or a sequence of them."""
    def constraint(value, name, owner):
        for regime in as_regimes(value):
            check_choice(regime, name, owner, REGIMES)
    return constraint


def LearningRates():
    """A positive learning rate for every regime, or ``{regime: learning rate}``."""
    def constraint(value, name, owner):
        for lr in (value.values() if isinstance(value, dict) else (value,)):
            check_real(lr, name, owner, low=0, low_open=True)
    return constraint


def ExistingFile():
    """The path of an existing file."""
    def constraint(value, name, owner):
        if not isinstance(value, (str, Path)) or not Path(value).is_file():
            raise ValueError(f"{param_of(name, owner)} must name an existing .npz file. Got {str(value)!r} instead.")
    return constraint


def n_at_most_rows(arguments, owner):
    """A rule: a subset of ``n`` rows of ``y`` needs ``1 <= n <= len(y)``."""
    check_int(arguments["n"], "n", owner, low=1, high=len(arguments["y"]))


def one_label_per_row(arguments, owner):
    """A rule: ``y`` has one label per row of ``x``, and there is at least one (the fraction right of none is 0/0)."""
    x, y = arguments["x"], arguments["y"]
    if len(y) != len(x):
        raise ValueError(f"{param_of('y', owner)} must have one label per row of 'x' ({len(x)}). Got {len(y)} instead.")
    if len(x) == 0:
        raise ValueError(f"{param_of('x', owner)} must hold at least one row. Got shape {tuple(x.shape)} instead.")


def check_sizes_fit_pool(sizes, pool, owner):
    """Every training-set size fits in the target pool (known once the task is split)."""
    if max(sizes) > pool:
        raise ValueError(f"{param_of('sizes', owner)} must be at most {pool}, the target training pool. "
                         f"Got {max(sizes)} instead.")


def lr_for_every_regime(arguments, owner):
    """A rule: a dict of learning rates covers every regime of the experiment."""
    lr = arguments["lr"]
    if isinstance(lr, dict):
        missing = sorted(set(as_regimes(arguments["regimes"])) - set(lr))
        if missing:
            raise ValueError(f"{param_of('lr', owner)} must give a learning rate for every regime; {missing} "
                             f"missing. Got {lr!r} instead.")


# What ``freeze``/``unfreeze`` accept as ``layers``, and the errors both twins raise for it.


def layer_items(layers, owner, layer_type) -> list:
    """``layers`` as a list: one layer index, parameter name or layer, or a sequence of them."""
    if isinstance(layers, (int, str, layer_type)) and not isinstance(layers, bool):
        return [layers]
    try:
        return list(layers)
    except TypeError:
        raise TypeError(f"{param_of('layers', owner)} must be a layer index, a parameter name, a layer, "
                        f"or a list of them. Got {layers!r} instead.") from None


def not_a_layer_spec(item, owner):
    return TypeError(f"{param_of('layers', owner)} must hold layer indices, parameter names or layers. "
                     f"Got {type(item).__name__} instead.")


def index_out_of_range(item, n, owner):
    return ValueError(f"{param_of('layers', owner)} must hold layer indices in the range [{-n}, {n - 1}]. "
                      f"Got {item} instead.")


def not_in_model(item, owner):
    return ValueError(f"{param_of('layers', owner)} must hold layers of this model. Got {item!r}, which is not in it.")


def unknown_name(item, names, owner):
    return ValueError(f"{param_of('layers', owner)} must hold names among {names} or layer indices. Got {item!r} instead.")


MAKE_MLP = {"sizes": LayerSizes()}
LOAD_PRETRAINED = {"num_classes": Optional(Int(low=1)), "path": Optional(ExistingFile())}
TRANSFER_MODEL = {"regime": REGIME, "num_classes": Int(low=1), "path": Optional(ExistingFile())}
TARGET_TASK = {"test_size": Real(0, 1, low_open=True, high_open=True)}
STRATIFIED_SUBSET = {"n": Int(low=1)}
TRANSFER_EXPERIMENT = {"sizes": Sizes(), "regimes": Regimes(), "steps": Int(low=1), "batch_size": Int(low=1),
                       "lr": Optional(LearningRates()), "momentum": Real(0, 1, high_open=True),
                       "repeats": Int(low=1), "progress": BOOL}


# --- the experiment's bookkeeping ----------------------------------------------------------------


def as_regimes(regimes) -> tuple:
    """``regimes`` as a tuple: one name, or a sequence of names."""
    return (regimes,) if isinstance(regimes, str) else tuple(regimes)


def lr_table(lr, regimes) -> dict:
    """``{regime: learning rate}``: the defaults for ``None``, one float for every regime, or the dict."""
    lr = DEFAULT_LR if lr is None else lr
    return {r: float(lr[r] if isinstance(lr, dict) else lr) for r in regimes}


def run_experiment(sizes, regimes, repeats, steps, batch_size, draw_subset, train_and_score, progress):
    """The experiment's loop, the same in both twins.

    For every size and repeat one stratified subset ``draw_subset(size)``; on it
    every regime is trained for about ``steps`` updates, whatever the size
    (``epochs`` = ``steps`` / batches per epoch), by ``train_and_score(regime, x, y,
    epochs)``, which returns the test accuracy and the number of weights trained.
    Returns the :class:`TransferResults` (mean and population std over repeats).
    """
    sizes, regimes = tuple(sizes), tuple(regimes)
    acc = {r: [[0.0] * repeats for _ in sizes] for r in regimes}
    trainable = {}
    bar = tqdm(total=len(sizes) * repeats * len(regimes), desc="transfer runs", disable=not progress, leave=False)
    for j, size in enumerate(sizes):
        for k in range(repeats):
            x, y = draw_subset(size)
            epochs = max(1, round(steps / math.ceil(size / batch_size)))
            for r in regimes:
                acc[r][j][k], trainable[r] = train_and_score(r, x, y, epochs)
                bar.update()
    bar.close()
    return TransferResults(
        regimes=regimes, sizes=sizes, repeats=repeats,
        accuracy={r: [statistics.fmean(runs) for runs in acc[r]] for r in regimes},
        accuracy_std={r: [statistics.pstdev(runs) for runs in acc[r]] for r in regimes},
        trainable=trainable,
    )


@dataclass
class TransferResults:
    """Test accuracy on the target task for every regime and training-set size.

    ``accuracy[regime][i]`` is the mean over ``repeats`` runs for ``sizes[i]``
    target training examples, ``accuracy_std`` its standard deviation, and
    ``trainable[regime]`` the number of weights the regime trains.
    """

    regimes: tuple
    sizes: tuple
    repeats: int
    accuracy: dict = field(default_factory=dict)
    accuracy_std: dict = field(default_factory=dict)
    trainable: dict = field(default_factory=dict)

    def best(self, size: int) -> str:
        """The regime with the highest mean accuracy for ``size`` examples."""
        if size not in self.sizes:
            raise ValueError(f"The 'size' parameter of TransferResults.best must be one of {self.sizes}. Got {size!r} instead.")
        i = self.sizes.index(size)
        return max(self.regimes, key=lambda r: self.accuracy[r][i])

    def rows(self) -> list[list[str]]:
        head = ["regime", "trains", "weights trained", *[f"n = {s}" for s in self.sizes]]
        body = [
            [r, _DESCRIPTION[r], str(self.trainable[r]),
             *[f"{m:.3f} ± {s:.3f}" for m, s in zip(self.accuracy[r], self.accuracy_std[r])]]
            for r in self.regimes
        ]
        return [head, *body]

    def __str__(self) -> str:
        rows = self.rows()
        widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = self.rows()
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        out.append(f"\nTest accuracy on the negative digits, mean ± std over {self.repeats} runs.")
        return "\n".join(out)
