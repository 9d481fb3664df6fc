"""Backend-free parts of training, shared by both twins.

The argument constraints of ``minibatches``, ``fit``, ``accuracy`` and
``overfit_small_batch`` are declared here once; each twin adds only its array
type. The bookkeeping around the loop (the :class:`History`, callbacks, the
progress bar, divergence and early stopping: :class:`EpochLog`) and the reading
of an overfitting curve (:func:`diagnose`) are plain Python. Neither twin
imports the other; both import this module, which imports neither NumPy nor torch.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from .._checks import BOOL, POSITIVE, Int, IsCallable, Optional, param_of

__all__ = ["History", "EpochLog", "OverfitResult", "diagnose", "gradient_ratio", "VANISHING",
           "Instance", "Array", "Labels", "Has", "CALLBACKS", "METRIC", "NUM_BATCHES", "MINIBATCHES", "FIT",
           "OVERFIT", "one_row_each", "fit_data_rule", "accuracy_rule", "is_integer_dtype", "check_optimizer",
           "check_holds", "progress_bar"]


# --- constraints ---------------------------------------------------------------------------


def _kind(array_type) -> str:
    return f"a {array_type.__module__.split('.')[0]}.{array_type.__name__}"  # "a numpy.ndarray", "a torch.Tensor"


def is_integer_dtype(dtype) -> bool:
    """Integer class labels: NumPy's signed/unsigned kinds, torch's integer dtypes (not bool)."""
    kind = getattr(dtype, "kind", None)  # numpy.dtype
    if kind is not None:
        return kind in "iu"
    return not (dtype.is_floating_point or dtype.is_complex) and str(dtype) != "torch.bool"


def Instance(cls, what=None):
    """An instance of ``cls`` (``what`` names it in the message)."""
    what = what or _kind(cls)

    def check(value, name, owner):
        if not isinstance(value, cls):
            raise TypeError(f"{param_of(name, owner)} must be {what}. Got {type(value).__name__} instead.")
        return value

    return check


def Array(array_type, ndim=None):
    """An array of the twin's own type (``numpy.ndarray`` or ``torch.Tensor``): the other
    twin's arrays are refused by name instead of failing deep inside the loop."""
    instance = Instance(array_type)

    def check(value, name, owner):
        instance(value, name, owner)
        if ndim is not None and value.ndim != ndim:
            raise ValueError(f"{param_of(name, owner)} must be a {ndim}-D array. Got shape {tuple(value.shape)} instead.")
        return value

    return check


def Labels(array_type):
    """A 1-D array of integer class labels of the twin's type."""
    array = Array(array_type, ndim=1)

    def check(value, name, owner):
        array(value, name, owner)
        if not is_integer_dtype(value.dtype):
            raise TypeError(f"{param_of(name, owner)} must hold integer class labels. Got dtype {value.dtype} instead.")
        return value

    return check


def Has(*methods, what):
    """An object with the ``methods`` (attributes) a role needs, ``what`` naming the role."""

    def check(value, name, owner):
        if not all(hasattr(value, m) for m in methods):
            raise TypeError(f"{param_of(name, owner)} must be {what}. Got {type(value).__name__} instead.")
        return value

    return check


_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


def _callbacks(value, name, owner):
    # A list or tuple, not any iterable: a generator would be used up by this very check.
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{param_of(name, owner)} must be a list of callbacks. Got {type(value).__name__} instead.")
    for cb in value:
        if not any(hasattr(cb, hook) for hook in _HOOKS):
            raise TypeError(f"{param_of(name, owner)} must hold objects with on_train_begin, on_epoch_end "
                            f"or on_train_end methods. Got {cb!r} instead.")
    return value


def _metric(value, name, owner):
    if not (value is None or (isinstance(value, str) and value == "auto") or callable(value)):
        raise TypeError(f"{param_of(name, owner)} must be a callable, 'auto' or None. Got {value!r} instead.")
    return value


CALLBACKS = _callbacks
METRIC = _metric

NUM_BATCHES = {"n": Int(low=0), "batch_size": Int(low=1), "drop_last": BOOL}
MINIBATCHES = {"batch_size": Int(low=1), "shuffle": BOOL, "drop_last": BOOL}
#: ``fit``'s backend-free arguments; each twin adds its arrays, model, optimizer and penalty.
FIT = {"epochs": Int(low=0), "batch_size": Int(low=1), "shuffle": BOOL, "drop_last": BOOL,
       "transform": Optional(IsCallable()), "callbacks": CALLBACKS, "metric": METRIC, "progress": BOOL}
OVERFIT = {"n_examples": Int(low=1), "max_steps": Int(low=1), "threshold": POSITIVE, "progress": BOOL}


def one_row_each(x, y):
    """A rule: ``y`` has one row per row of ``x``, and there is at least one."""

    def rule(args, owner):
        for name in (x, y):  # a 0-d array has no rows to count (len() would raise a bare TypeError)
            if args[name].ndim == 0:
                raise ValueError(f"{param_of(name, owner)} must have a first axis of examples. Got a 0-d array instead.")
        n, m = len(args[x]), len(args[y])
        if n != m:
            raise ValueError(f"{param_of(y, owner)} must have one row per row of '{x}' ({n}). Got {m} instead.")
        if n == 0:
            raise ValueError(f"{param_of(x, owner)} must hold at least one example. Got 0 instead.")

    return rule


def fit_data_rule(args, owner):
    """What ties ``fit``'s data together: a batch remains, and the validation set matches."""
    n, batch_size = len(args["x_train"]), args["batch_size"]
    if args["drop_last"] and batch_size > n:
        raise ValueError(f"{param_of('batch_size', owner)} must be at most the number of examples ({n}) "
                         f"when drop_last=True, or no batch would remain. Got {batch_size} instead.")
    x_val, y_val = args["x_val"], args["y_val"]
    if (x_val is None) != (y_val is None):
        raise ValueError(f"The 'x_val' and 'y_val' parameters of {owner} must be given together. "
                         f"Got only {'x_val' if y_val is None else 'y_val'}.")
    if x_val is not None:
        if len(x_val) != len(y_val):
            raise ValueError(f"{param_of('y_val', owner)} must have one label per row of 'x_val' "
                             f"({len(x_val)}). Got {len(y_val)} instead.")
        row, val_row = tuple(args["x_train"].shape[1:]), tuple(x_val.shape[1:])
        if val_row != row:
            raise ValueError(f"{param_of('x_val', owner)} must have the row shape of 'x_train' {row}. "
                             f"Got {val_row} instead.")


def accuracy_rule(args, owner):
    output, target = args["output"], args["target"]
    if len(target) != len(output):
        raise ValueError(f"{param_of('target', owner)} must have one label per row of 'output' "
                         f"({len(output)}). Got {len(target)} instead.")
    # The fraction right of no rows is 0/0; a row with no columns has no largest output (argmax raises).
    if len(output) == 0 or output.shape[1] == 0:
        raise ValueError(f"{param_of('output', owner)} must hold at least one row and one column. Got shape "
                         f"{tuple(output.shape)} instead.")


# --- the epoch bookkeeping of fit ----------------------------------------------------------


def progress_bar(numbers, progress, desc):
    """``numbers`` under a tqdm bar when ``progress``; as they are otherwise."""
    if not progress:
        return numbers
    from tqdm.auto import tqdm

    return tqdm(numbers, desc=desc, leave=False)


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch (``step_loss``: one per mini-batch).

    ``train_loss`` is the mean mini-batch loss over the epoch, measured while
    the weights were still moving; ``val_loss`` is measured on the validation
    set after the epoch, in eval mode. Losses exclude any weight penalty.
    Accuracies are ``None`` when no ``metric`` applies. ``diverged`` is set
    when the loss stopped being finite (training stops there, with a warning).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    stopped_early: bool = False
    diverged: bool = False

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items()}


class EpochLog:
    """Everything ``fit`` does around its three steps, the same for both twins.

    Iterating :meth:`epochs` calls the callbacks' ``on_train_begin``, yields the
    epoch numbers (under a tqdm bar when ``progress``) and, after each epoch,
    closes it: a warning and the end if the loss diverged, otherwise the
    epoch's means and the validation measured by ``validate()`` go into the
    :attr:`history` and to ``on_epoch_end``, which may stop the run. The loop
    reports each mini-batch with :meth:`diverged` and :meth:`step`.
    """

    def __init__(self, model, epochs, callbacks, progress, validate=None, has_metric=False):
        self.model, self.n_epochs, self.callbacks, self.progress = model, epochs, callbacks, progress
        self.validate, self.has_metric = validate, has_metric
        self.history = History()

    def epochs(self):
        history = self.history
        self._call("on_train_begin", self.model)
        numbers = bar = progress_bar(range(1, self.n_epochs + 1), self.progress, "epochs")
        for epoch in numbers:
            self.total, self.seen, self.correct = 0.0, 0, 0.0
            yield epoch
            if history.diverged:
                _warn_diverged(history.step_loss[-1], epoch)
                break
            logs = {"train_loss": self.total / self.seen,
                    "train_acc": self.correct / self.seen if self.has_metric else None,
                    "val_loss": None, "val_acc": None}
            if self.validate is not None:
                logs["val_loss"], logs["val_acc"] = self.validate()
            history.epoch.append(epoch)
            for k, v in logs.items():
                getattr(history, k).append(v)
            if self.progress:
                bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if v is not None})
            if self._call("on_epoch_end", epoch, logs, self.model):
                history.stopped_early = True
                break
        self._call("on_train_end", self.model)

    def diverged(self, loss: float) -> bool:
        """True, and the run ends after this epoch, when the mini-batch ``loss`` is not finite."""
        if math.isfinite(loss):
            return False
        self.history.step_loss.append(loss)
        self.history.diverged = True
        return True

    def step(self, loss: float, n: int, score=None) -> None:
        """One mini-batch of ``n`` examples done: its loss and metric ``score``."""
        self.history.step_loss.append(loss)
        self.total += loss * n
        self.seen += n
        if score is not None:
            self.correct += score * n

    def _call(self, hook, *args) -> bool:
        """Call ``hook`` on every callback that has it; True if any asked to stop."""
        stop = False
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None and fn(*args):
                stop = True
        return stop


def _warn_diverged(loss, epoch) -> None:
    warnings.warn(
        f"The training loss became {loss} at epoch {epoch}, so training stopped "
        f"(history.diverged is True). A smaller learning rate usually cures this.",
        RuntimeWarning,
        stacklevel=5,  # _warn_diverged < EpochLog.epochs < fit < validate_params' wrapper < the caller
    )


# --- overfitting a small batch -------------------------------------------------------------

#: A first layer whose weight gradient is this many times smaller than the last layer's
#: barely moves: below it, a stalled loss is read as vanishing gradients.
VANISHING = 1e-3


@dataclass
class OverfitResult:
    """What :func:`overfit_small_batch` saw.

    Attributes
    ----------
    verdict : {'pass', 'fail'}
        'pass' when the loss reached ``threshold``.
    steps : int or None
        Updates made before the loss first reached ``threshold`` (``None`` if it never did).
    final_loss : float
        The last loss measured.
    losses : list of float
        The loss before each update, then after the last one (``len = updates + 1``).
    threshold : float
    diagnosis : str
        One or two sentences: what the curve suggests and what to try.
    accuracy : float or None
        Fraction of the batch classified right at the last measurement
        (integer labels only).
    n_examples : int
        Size of the batch that was fitted.
    symptom : str
        The diagnosis in one word, for code: 'fitted', 'diverged', 'rising', 'bouncing',
        'vanishing', 'slow', 'unfinished' or 'flat' (see :func:`diagnose`).
    gradient_ratio : float or None
        At the first step, the norm of the first weight matrix's gradient divided by the
        last one's (``None`` with fewer than three weight matrices): far below 1, the
        gradients vanish on their way back to the input.
    """

    verdict: str
    steps: int | None
    final_loss: float
    losses: list = field(repr=False)
    threshold: float
    diagnosis: str
    accuracy: float | None = None
    n_examples: int = 0
    symptom: str = ""
    gradient_ratio: float | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.0%}"
        return (f"OverfitResult({self.verdict.upper()}: loss {self.losses[0]:.4g} -> {self.final_loss:.4g} "
                f"in {len(self.losses) - 1} steps on {self.n_examples} examples{acc})\n  {self.diagnosis}")

    def plot(self, ax=None, label=None):
        """The loss curve on a log scale with the threshold; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.gca()
        finite = [v if math.isfinite(v) else float("nan") for v in self.losses]
        ax.semilogy(range(len(finite)), finite, label=label or self.verdict)
        ax.axhline(self.threshold, color="0.5", ls="--", lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss on the batch")
        return ax


def diagnose(losses, threshold, steps, diverged, gradient_ratio=None):
    """Read a loss curve: ``(verdict, symptom, diagnosis)``.

    The rules, in order: the loss reached the threshold (pass, 'fitted'); it
    stopped being finite ('diverged'); it ended above where it began
    ('rising'); it bounced far above its best ('bouncing'); the first weight
    matrix's gradient was under ``VANISHING`` times the last one's
    (``gradient_ratio``, 'vanishing': too deep or badly scaled to train); it is
    still falling at close to its first pace (over 100+ steps and less than
    halved: 'slow', the learning rate is too small; otherwise 'unfinished':
    more steps); it flattened out well above the threshold ('flat': capacity).
    """
    n_updates = len(losses) - 1
    first, last = losses[0], losses[-1]
    if steps is not None:
        return "pass", "fitted", (f"The loss reached {last:.3g} <= {threshold:g} after {steps} steps: the model "
                                  f"can fit these examples, so its wiring and learning rate are plausible.")
    if diverged:
        return "fail", "diverged", (
            f"The loss became {last} at step {n_updates}: the updates blow up. The learning rate is far "
            f"too large, a backward has the wrong sign or scale (run a gradient check), or a deep "
            f"network starts with weights so large that its activations explode.")
    best = min(losses)
    if last > first * 1.05:
        return "fail", "rising", (
            f"The loss rose from {first:.3g} to {last:.3g}: the updates climb instead of descending. "
            f"Look for a sign error in a backward (run a gradient check), a learning rate so large "
            f"that each step overshoots, or, in a deep network, initial weights far too large.")
    if last > 2 * best + 1e-12 and best < first:
        return "fail", "bouncing", (f"The loss bounces: its best was {best:.3g}, it ends at {last:.3g}. "
                                    f"The learning rate is probably too large; halve it.")
    if gradient_ratio is not None and gradient_ratio < VANISHING:
        return "fail", "vanishing", (
            f"The loss stalled at {last:.3g} ({first:.3g} at first) and the first layer's weight gradient "
            f"was {gradient_ratio:.1e} times the last layer's: the gradients vanish on their way back, so "
            f"the early layers never learn. The model is too deep, or badly scaled (weights too small, "
            f"saturating sigmoid/tanh), to train: use fewer layers, ReLU with He initialization, batch "
            f"norm or skip connections.")
    window = max(1, n_updates // 10)
    early = (losses[0] - losses[window]) / window
    late = (losses[-1 - window] - losses[-1]) / window
    drop = (first - last) / first if first > 0 else 0.0
    if early > 0 and late > 0.5 * early:
        if drop < 0.5 and n_updates >= 100:
            return "fail", "slow", (f"The loss falls steadily but far too slowly ({first:.3g} -> {last:.3g}, "
                                    f"-{drop:.1%} in {n_updates} steps): the learning rate is probably far too "
                                    f"small. Raise it tenfold and retry.")
        return "fail", "unfinished", (f"The loss was still falling when the {n_updates} steps ran out ({first:.3g} -> "
                                      f"{last:.3g} > {threshold:g}): give it more steps or a larger learning rate.")
    return "fail", "flat", (f"The loss flattened out at {last:.3g}, far above {threshold:g}, although it was "
                            f"falling ({first:.3g} at first): the model lacks the capacity to fit even these "
                            f"examples (too few units or layers, or no non-linearity), or a bug caps it.")


def gradient_ratio(norms):
    """First over last of the weight matrices' gradient norms (input to output), or ``None``
    with fewer than three of them (gradients vanish through depth; in a one-hidden-layer net
    a small ratio only means a saturated unit) or a last one of zero."""
    norms = [float(v) for v in norms]
    if len(norms) < 3 or not norms[-1] > 0 or not all(math.isfinite(v) for v in norms):
        return None
    return norms[0] / norms[-1]


def check_optimizer(optimizer, is_optimizer, make, what, params_name, owner="overfit_small_batch"):
    """``overfit_small_batch``'s optimizer: an instance, or a factory ``make`` calls on the
    model's parameters; ``what`` names the twin's optimizer type."""
    if not is_optimizer(optimizer):
        if not callable(optimizer):
            raise TypeError(f"{param_of('optimizer', owner)} must be {what} or a factory such as "
                            f"lambda params: SGD(params, lr=0.1). Got {optimizer!r} instead.")
        optimizer = make(optimizer)
        if not is_optimizer(optimizer):
            raise TypeError(f"{param_of('optimizer', owner)} must return {what} when called on "
                            f"{params_name}. Got {type(optimizer).__name__} instead.")
    return optimizer


def check_holds(loose, params_name, owner="overfit_small_batch"):
    """The optimizer must update every trainable parameter: ``loose`` names those it does not hold."""
    if loose:
        raise ValueError(f"{param_of('optimizer', owner)} must update the model's parameters. It does "
                         f"not hold {loose}; build it on {params_name}.")
