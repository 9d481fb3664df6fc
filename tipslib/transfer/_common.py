"""Backend-free parts of transfer learning: the regimes, argument checks, the results table."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._checks import check_choice, check_int, check_real

__all__ = [
    "REGIMES", "NUM_CLASSES", "SIZES", "HIDDEN_LAYERS",
    "DEFAULT_LR", "frozen_layers", "check_regime", "check_sizes", "check_layer_sizes", "check_lr_table", "TransferResults",
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
    check_regime(regime, "frozen_layers")
    keep = {"softmax": 1, "last_layers": 2}.get(regime, n_linear)
    return tuple(range(max(n_linear - keep, 0)))


def check_regime(regime, owner):
    return check_choice(regime, "regime", owner, REGIMES)


def _positive_ints(sizes, owner, at_least, what):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"The 'sizes' parameter of {owner} must be a sequence of ints. Got {sizes!r} instead.")
    sizes = tuple(sizes)
    if len(sizes) < at_least:
        raise ValueError(f"The 'sizes' parameter of {owner} must hold at least {what}. Got {sizes!r} instead.")
    return tuple(check_int(s, "sizes", owner, low=1) for s in sizes)


def check_sizes(sizes, owner):
    """Training-set sizes of the experiment: one or more positive ints."""
    return _positive_ints(sizes, owner, 1, "one size")


def check_layer_sizes(sizes, owner):
    """Layer widths of an MLP, input first: two or more positive ints."""
    return _positive_ints(sizes, owner, 2, "2 layer sizes")


def check_lr_table(lr, regimes, owner) -> dict:
    """``lr`` as ``{regime: learning rate}``: a float applies to every regime."""
    if lr is None:
        lr = DEFAULT_LR
    if isinstance(lr, dict):
        missing = sorted(set(regimes) - set(lr))
        if missing:
            raise ValueError(f"The 'lr' parameter of {owner} must give a learning rate for every regime. Missing {missing}.")
        return {r: check_real(lr[r], "lr", owner, low=0, low_open=True) for r in regimes}
    value = check_real(lr, "lr", owner, low=0, low_open=True)
    return {r: value for r in regimes}


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
