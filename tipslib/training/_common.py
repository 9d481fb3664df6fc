"""Backend-free parts of the fit loop: the history record and argument checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._checks import check_bool, check_int, check_ndim

__all__ = ["History", "check_fit_args", "check_fit_options", "check_arrays", "check_accuracy_args",
           "call_callbacks", "warn_diverged"]


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


def check_fit_args(n_train, n_labels, epochs, batch_size, drop_last, shuffle, callbacks, owner="fit"):
    if n_train != n_labels:
        raise ValueError(
            f"The 'y_train' parameter of {owner} must have one label per example ({n_train}). "
            f"Got {n_labels} instead."
        )
    if n_train == 0:
        raise ValueError(f"The 'x_train' parameter of {owner} must hold at least one example. Got 0 instead.")
    check_int(epochs, "epochs", owner, low=0)
    check_int(batch_size, "batch_size", owner, low=1)
    check_bool(drop_last, "drop_last", owner)
    check_bool(shuffle, "shuffle", owner)
    if drop_last and batch_size > n_train:
        raise ValueError(
            f"The 'batch_size' parameter of {owner} must be at most the number of examples "
            f"({n_train}) when drop_last=True, or no batch would remain. Got {batch_size} instead."
        )
    for cb in callbacks:
        if not any(hasattr(cb, m) for m in ("on_train_begin", "on_epoch_end", "on_train_end")):
            raise TypeError(
                f"The 'callbacks' parameter of {owner} must hold objects with on_train_begin, "
                f"on_epoch_end or on_train_end methods. Got {cb!r} instead."
            )


def check_arrays(arrays, kind, is_kind, owner):
    """Each ``(name, value)`` in ``arrays`` must be of the twin's array type ``kind``
    (``"an ndarray"`` or ``"a torch.Tensor"``; ``is_kind`` tells); ``None`` values are skipped."""
    for name, a in arrays:
        if a is not None and not is_kind(a):
            raise TypeError(f"The '{name}' parameter of {owner} must be {kind}. Got {type(a).__name__} instead.")


def check_fit_options(x_train, x_val, y_val, transform, penalty, metric, penalty_needs_grad, owner="fit"):
    """What ``fit`` is given besides the loop counts, checked before the first epoch:
    a validation set that matches the training set, and callables where callables go."""
    if (x_val is None) != (y_val is None):
        raise ValueError(f"The 'x_val' and 'y_val' parameters of {owner} must be given together. "
                         f"Got only {'x_val' if y_val is None else 'y_val'}.")
    if x_val is not None:
        if len(x_val) != len(y_val):
            raise ValueError(f"The 'y_val' parameter of {owner} must have one label per row of 'x_val' "
                             f"({len(x_val)}). Got {len(y_val)} instead.")
        if tuple(x_val.shape[1:]) != tuple(x_train.shape[1:]):
            raise ValueError(f"The 'x_val' parameter of {owner} must have the row shape of 'x_train' "
                             f"{tuple(x_train.shape[1:])}. Got {tuple(x_val.shape[1:])} instead.")
    if transform is not None and not callable(transform):
        raise TypeError(f"The 'transform' parameter of {owner} must be callable or None. Got {transform!r} instead.")
    if penalty is not None and not (callable(penalty) and (not penalty_needs_grad or callable(getattr(penalty, "grad", None)))):
        want = "a callable with a grad method (L1, L2, ElasticNet)" if penalty_needs_grad else "callable"
        raise TypeError(f"The 'penalty' parameter of {owner} must be {want} or None. Got {penalty!r} instead.")
    if not (metric is None or metric == "auto" or callable(metric)):
        raise TypeError(f"The 'metric' parameter of {owner} must be a callable, 'auto' or None. "
                        f"Got {metric!r} instead.")


def check_accuracy_args(output, target, is_integer, owner="accuracy"):
    """Scores ``(N, C)`` and ``N`` integer labels."""
    check_ndim(output, "output", owner, 2)
    check_ndim(target, "target", owner, 1)
    if not is_integer:
        raise TypeError(f"The 'target' parameter of {owner} must hold integer class labels. "
                        f"Got dtype {target.dtype} instead.")
    if target.shape[0] != output.shape[0]:
        raise ValueError(f"The 'target' parameter of {owner} must have one label per row of 'output' "
                         f"({output.shape[0]}). Got {target.shape[0]} instead.")


def call_callbacks(callbacks, method, *args) -> bool:
    """Call ``method`` on every callback that has it; True if any asked to stop."""
    stop = False
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None and fn(*args):
            stop = True
    return stop


def warn_diverged(loss, epoch) -> None:
    import warnings

    warnings.warn(
        f"The training loss became {loss} at epoch {epoch}, so training stopped "
        f"(history.diverged is True). A smaller learning rate usually cures this.",
        RuntimeWarning,
        stacklevel=3,
    )
