"""Backend-free parts of regularization, shared by both twins: the declared constraints,
which parameters a penalty touches, the penalty classes' bookkeeping, scikit-learn's
parametrisation, and early stopping's bookkeeping.

The twins import this module and never each other; each adds its math (the
penalties, their gradient and proximal step on its own arrays) and how it
copies weights. Arrays are duck-typed, so this module imports neither NumPy
nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .._checks import BOOL, LR, NONNEG, Int, OneOf, Real, check_float_array, validate_params

__all__ = ["LAM", "ALPHA", "PENALTY", "check_finite_array", "array_of", "Selection", "ElasticNetBase", "FixedMix",
           "to_sklearn", "from_sklearn", "EarlyStoppingBase", "MONITORS"]

MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")

#: The strength :math:`\lambda` and the mix :math:`\alpha` of the elastic-net family.
LAM = NONNEG
ALPHA = Real(0, 1)
PENALTY = {"lam": LAM, "alpha": ALPHA}


def _detached(a):
    # torch: read values without asking autograd to follow (NumPy arrays have no detach).
    return a.detach() if hasattr(a, "detach") else a


def check_finite_array(x, name, owner):
    """A floating-point array of finite values.

    One sum and one scalar read in the usual case (NaN and inf spoil any sum);
    only a sum that is not finite leads to a look at the entries, and a sum that
    merely overflowed passes.
    """
    check_float_array(x, name, owner)
    values = _detached(x)
    if math.isfinite(float(values.sum())):
        return x
    bad = (values != values) | (values == math.inf) | (values == -math.inf)
    if bool(bad.any()):
        raise ValueError(f"The '{name}' parameter of {owner} must hold finite values (no NaN or inf). "
                         f"Got {float(values[bad].reshape(-1)[0])} instead.")
    return x


def array_of(kind, is_own, *, finite):
    """The constraint on an array a penalty acts on: the twin's own kind of array (``kind`` names it,
    ``is_own(a)`` recognises it), floating-point, and with ``finite`` free of NaN and inf (a NaN
    weight would make every later step NaN)."""

    def theta(x, name, owner):
        if not is_own(x):
            raise TypeError(f"The '{name}' parameter of {owner} must be {kind}. Got {type(x).__name__} instead.")
        return check_finite_array(x, name, owner) if finite else check_float_array(x, name, owner)

    return theta


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


class ElasticNetBase:
    """What both twins' ``ElasticNet`` share: the checked ``lam``/``alpha``, the selection of the
    arrays, and the loops over them. A twin supplies its bare math as ``_penalty``, ``_grad`` and
    ``_prox`` (``fn.__wrapped__``: the hyperparameters were checked here, once) and ``_assign``,
    how it writes an array's new values in place."""

    _penalty = _grad = _prox = _assign = None
    #: The twin's ``array_of`` constraints: any float array of its kind, and a finite one.
    _array = _theta = None

    @validate_params(PENALTY)
    def __init__(self, lam, alpha=0.5, *, include=None):
        self.lam = float(lam)
        self.alpha = float(alpha)
        self.selected = Selection(include, type(self).__name__)

    def _arrays(self, params, finite):
        names = self.selected(params)
        owner = type(self).__name__
        check = type(self)._theta if finite else type(self)._array
        for n in names:
            check(params[n], f"params['{n}']", owner)
        return names

    def __call__(self, params):
        names = self._arrays(params, finite=False)
        total = sum(self._penalty(params[n], self.lam, self.alpha) for n in names)
        # One scalar read for all the arrays; only a total of NaN or inf sends us looking for the culprit.
        if not math.isfinite(float(_detached(total))):
            self._arrays(params, finite=True)
        return total

    def grad(self, params):
        """The (sub)gradient of the penalty for each selected name."""
        return {n: self._grad(_detached(params[n]), self.lam, self.alpha) for n in self._arrays(params, finite=True)}

    @validate_params(lr=LR)
    def prox(self, params, lr):
        """Replace each selected array's values by their proximal step, in place."""
        for n in self._arrays(params, finite=True):
            self._assign(params[n], self._prox(_detached(params[n]), lr, self.lam, self.alpha))

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam}, alpha={self.alpha})"


class FixedMix:
    """An ``ElasticNet`` whose mix is fixed by the class (``alpha``: 0 for L1, 1 for L2), so it
    takes ``lam`` alone; a twin's ``L1`` is ``class L1(FixedMix, ElasticNet): alpha = 0.0``."""

    alpha = None

    @validate_params(lam=LAM)
    def __init__(self, lam, *, include=None):
        super().__init__(lam, type(self).alpha, include=include)

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam})"


@validate_params(PENALTY)
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

    See Also
    --------
    sklearn.linear_model.ElasticNet : the solver these arguments are for; torch has none.
    """
    return lam * (1 + alpha) / 2, (1 - alpha) / (1 + alpha)


@validate_params(alpha=NONNEG, l1_ratio=Real(0, 1))
def from_sklearn(alpha, l1_ratio):
    r"""scikit-learn's ``ElasticNet(alpha, l1_ratio)`` as our ``(lam, alpha)``; inverse of :func:`to_sklearn`.

    .. math::

        \lambda = a(1 + r), \qquad \alpha = \frac{1 - r}{1 + r}

    Note that ``alpha`` here is scikit-learn's overall strength, not our mix.

    See Also
    --------
    sklearn.linear_model.ElasticNet : where ``(alpha, l1_ratio)`` come from; torch has none.
    """
    return alpha * (1 + l1_ratio), (1 - l1_ratio) / (1 + l1_ratio)


def _accuracy_needs_max(args, owner):
    # every monitor is a loss or an accuracy; 'min' on an accuracy would keep the worst epoch
    if args["monitor"].endswith("_acc") and args["mode"] == "min":
        raise ValueError(f"The 'mode' parameter of {owner} must be 'max' when monitor is "
                         f"{args['monitor']!r} (an accuracy rises as the model improves). Got 'min' instead.")


EARLY_STOPPING = {"monitor": OneOf(*MONITORS), "patience": Int(low=0), "min_delta": NONNEG,
                  "mode": OneOf("min", "max"), "restore_best_weights": BOOL}


class EarlyStoppingBase:
    """Bookkeeping shared by both twins; they add how to copy and restore weights."""

    @validate_params(EARLY_STOPPING, _accuracy_needs_max)
    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="min", restore_best_weights=True):
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)
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

    def _monitored(self, epoch, logs) -> float:
        if self.monitor not in logs or logs[self.monitor] is None:
            hint = " Pass x_val and y_val to fit." if self.monitor.startswith("val") else ""
            raise ValueError(f"The 'monitor' parameter of EarlyStopping is {self.monitor!r}, but the logs "
                             f"of epoch {epoch} have no value for it.{hint}")
        return float(logs[self.monitor])

    def on_epoch_end(self, epoch, logs, model) -> bool:
        value = self._monitored(epoch, logs)
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
