"""Backend-free parts of regularization: argument checks, which parameters a
penalty touches, scikit-learn's parametrisation, and early stopping's bookkeeping."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .._checks import check_bool, check_choice, check_int, check_lr, check_real

__all__ = ["check_lam", "check_alpha", "check_lr", "Selection", "to_sklearn", "from_sklearn",
           "EarlyStoppingBase", "MONITORS"]

MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")


def check_lam(lam, owner):
    return check_real(lam, "lam", owner, low=0)


def check_alpha(alpha, owner):
    return check_real(alpha, "alpha", owner, low=0, high=1)


def _default_include(name: str) -> bool:
    return name.endswith("weight")


class Selection:
    """Which entries of a ``{name: array}`` dict a penalty applies to.

    ``include`` is ``None`` (names ending in ``"weight"``: weights are
    penalised, biases are not), a callable ``name -> bool``, or a collection
    of names.
    """

    def __init__(self, include, owner):
        self.owner = owner
        if include is None:
            self.rule, self.names = _default_include, None
        elif isinstance(include, str):
            raise TypeError(f"The 'include' parameter of {owner} must be a callable or a collection of "
                            f"parameter names. Got the string {include!r} instead; wrap it in a list.")
        elif callable(include):
            self.rule, self.names = include, None
        elif isinstance(include, Iterable):
            self.names = frozenset(include)
            bad = [n for n in self.names if not isinstance(n, str)]
            if bad:
                raise TypeError(f"The 'include' parameter of {owner} must hold parameter names (str). "
                                f"Got {bad[0]!r} instead.")
            self.rule = self.names.__contains__
        else:
            raise TypeError(f"The 'include' parameter of {owner} must be None, a callable or a collection "
                            f"of parameter names. Got {include!r} instead.")

    def __call__(self, params) -> list[str]:
        if not isinstance(params, Mapping):
            raise TypeError(f"The 'params' parameter of {self.owner} must be a dict of name -> array "
                            f"(a model's params, or dict(model.named_parameters())). Got {type(params).__name__} instead.")
        if self.names is not None:
            unknown = sorted(self.names - set(params))
            if unknown:
                raise ValueError(f"The 'include' parameter of {self.owner} names parameters the model "
                                 f"does not have: {unknown}. The model has {sorted(params)}.")
        chosen = [n for n in params if self.rule(n)]
        if not chosen:
            raise ValueError(f"The 'include' parameter of {self.owner} selects none of the parameters "
                             f"{sorted(params)}, so the penalty would do nothing. Name them explicitly.")
        return chosen


def to_sklearn(lam, alpha):
    r"""Our ``(lam, alpha)`` as scikit-learn's ``ElasticNet(alpha=..., l1_ratio=...)``.

    With the data term the mean squared error :math:`\frac1n\lVert y - Xw\rVert^2`
    (``MSELoss()``), our objective is twice scikit-learn's

    .. math::

        \frac{1}{2n}\lVert y - Xw\rVert^2 + a\,r\,\lVert w\rVert_1 + \frac{a(1-r)}{2}\lVert w\rVert_2^2

    when :math:`a = \lambda(1+\alpha)/2` and :math:`r = (1-\alpha)/(1+\alpha)`,
    so both have the same minimiser. ``alpha=0`` (lasso) gives ``l1_ratio=1``,
    ``alpha=1`` (ridge) gives ``l1_ratio=0``.

    Returns
    -------
    (sklearn_alpha, l1_ratio) : tuple of float
    """
    lam = check_lam(lam, "to_sklearn")
    alpha = check_alpha(alpha, "to_sklearn")
    return lam * (1 + alpha) / 2, (1 - alpha) / (1 + alpha)


def from_sklearn(alpha, l1_ratio):
    r"""scikit-learn's ``ElasticNet(alpha, l1_ratio)`` as our ``(lam, alpha)``; inverse of :func:`to_sklearn`.

    .. math::

        \lambda = a(1 + r), \qquad \alpha = \frac{1 - r}{1 + r}

    Note that ``alpha`` here is scikit-learn's overall strength, not our mix.
    """
    a = check_real(alpha, "alpha", "from_sklearn", low=0)
    r = check_real(l1_ratio, "l1_ratio", "from_sklearn", low=0, high=1)
    return a * (1 + r), (1 - r) / (1 + r)


class EarlyStoppingBase:
    """Bookkeeping shared by both twins; they add how to copy and restore weights."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="min", restore_best_weights=True):
        owner = "EarlyStopping"
        self.monitor = check_choice(monitor, "monitor", owner, MONITORS)
        self.patience = check_int(patience, "patience", owner, low=0)
        self.min_delta = check_real(min_delta, "min_delta", owner, low=0)
        self.mode = check_choice(mode, "mode", owner, ("min", "max"))
        if self.monitor.endswith("_acc") and self.mode == "min":
            # every monitor is a loss or an accuracy; 'min' on an accuracy would keep the worst epoch
            raise ValueError(f"The 'mode' parameter of EarlyStopping must be 'max' when monitor is "
                             f"{self.monitor!r} (an accuracy rises as the model improves). Got 'min' instead.")
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights", owner)
        self._reset()

    # backends fill these in
    def _snapshot(self, model):
        raise NotImplementedError

    def _restore(self, model, state) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        self.best_value = None
        self.best_epoch = None
        self.stopped_epoch = None
        self.wait = 0
        self.values = []
        self._best_state = None

    def improved(self, value) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``.

        NaN and infinite values never count as an improvement: a diverged
        validation loss must not become the "best" weights.
        """
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_train_begin(self, model) -> None:
        self._reset()

    def on_epoch_end(self, epoch, logs, model) -> bool:
        if self.monitor not in logs or logs[self.monitor] is None:
            hint = " Pass x_val and y_val to fit." if self.monitor.startswith("val") else ""
            raise ValueError(f"The 'monitor' parameter of EarlyStopping is {self.monitor!r}, but the logs "
                             f"of epoch {epoch} have no value for it.{hint}")
        value = float(logs[self.monitor])
        self.values.append(value)
        if self.improved(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_state = self._snapshot(model)
            return False
        self.wait += 1
        if self.wait >= self.patience:  # Keras's rule: patience=0 and 1 both stop at the first miss
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model) -> None:
        if self.restore_best_weights and self._best_state is not None:
            self._restore(model, self._best_state)

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, min_delta={self.min_delta}, "
                f"mode={self.mode!r}, restore_best_weights={self.restore_best_weights})")
