"""Backend-free parts of the layers, shared by both twins.

- The argument constraints, declared once: one dict per constructor (``LINEAR``,
  ``BATCHNORM``, ``DROPOUT``, ``SOFTMAX``) and per family of public functions
  (``*_FORWARD``, ``BACKWARD``), plus the rules that tie several arguments
  together (``x`` against ``weight``, ``dout`` against the forward's cache).
  Both twins' public functions and constructors use them through
  ``validate_params``.
- The checks a module makes at its door on every call, on what can change
  between calls (the arrays passed in); the module then runs the bare
  function (``fn.__wrapped__``), so nothing is checked twice.
- The bookkeeping of the BatchNorm and Dropout modules that does not touch an
  array: their settings, the running-statistics momentum (``momentum=None`` is
  a cumulative average), the train/eval decision, their ``repr``.

Only plain Python values and duck-typed arrays (``.shape``, ``.ndim``,
``.dtype``) are inspected, so this module imports neither NumPy nor torch.
"""

from __future__ import annotations

from .._checks import BOOL, POSITIVE, UNIT, FloatArray, Int, Optional, OwnArrays, Real, check_float_array, check_int

__all__ = [
    "LINEAR", "BATCHNORM", "DROPOUT", "SOFTMAX",
    "ELEMENTWISE_FORWARD", "LINEAR_FORWARD", "SOFTMAX_FORWARD", "BATCHNORM_FORWARD", "DROPOUT_FORWARD", "BACKWARD",
    "BATCHNORM_1D", "BATCHNORM_2D",
    "FloatDtype", "KeepMask", "own_arrays",
    "linear_shapes", "softmax_dim_in_range", "batchnorm_shapes", "mask_like_x", "dout_like",
    "check_dout", "check_features", "check_dim", "check_layers",
    "BatchNormSettings", "DropoutSettings",
]


# --- constraints of the constructors ---------------------------------------------------------

LINEAR = {"in_features": Int(low=1), "out_features": Int(low=1), "bias": BOOL}
BATCHNORM = {"num_features": Int(low=1), "eps": POSITIVE, "momentum": Optional(Real(low=0, high=1)),
             "affine": BOOL, "track_running_stats": BOOL}
#: ``p`` is the probability of dropping, in [0, 1): ``p = 1`` would divide by zero.
DROPOUT = {"p": UNIT}
SOFTMAX = {"dim": Int()}

# --- constraints of the public functions -----------------------------------------------------

_VECTOR = Optional(FloatArray(ndim=1))

ELEMENTWISE_FORWARD = {"x": FloatArray()}
LINEAR_FORWARD = {"x": FloatArray(), "weight": FloatArray(ndim=2), "bias": _VECTOR}
SOFTMAX_FORWARD = {"x": FloatArray(), "dim": Int()}
BATCHNORM_FORWARD = {"x": FloatArray(), "gamma": _VECTOR, "beta": _VECTOR, "running_mean": _VECTOR,
                     "running_var": _VECTOR, "training": BOOL, "momentum": Real(low=0, high=1), "eps": POSITIVE}
#: The twins add their source of randomness (``rng`` or ``generator``) and their kind of mask.
DROPOUT_FORWARD = {"x": FloatArray(), "p": UNIT, "training": BOOL}
BACKWARD = {"dout": FloatArray()}

#: What BatchNorm1d and BatchNorm2d take: the allowed numbers of dimensions and how they read.
BATCHNORM_1D = ((2, 3), "(N, C) or (N, C, L)")
BATCHNORM_2D = ((4,), "(N, C, H, W)")


def FloatDtype(is_floating, allowed: str):
    """A constructor's ``dtype``: one that the twin's ``is_floating(dtype)`` accepts (``allowed`` names
    them in the error). An integer dtype would round the initial weights to 0 and have no gradient."""

    def constraint(dtype, name, owner):
        if not is_floating(dtype):
            raise TypeError(f"The '{name}' parameter of {owner} must be {allowed}. Got {dtype!r} instead.")
        return dtype

    return constraint


def KeepMask(array_type, kind: str):
    """A dropout keep-mask of the twin's ``array_type``: booleans, or numbers that are all 0 or 1.

    Its shape is checked against ``x`` by :func:`mask_like_x`.
    """

    def constraint(mask, name, owner):
        if not isinstance(mask, array_type):
            raise TypeError(f"The '{name}' parameter of {owner} must be {kind} of 0/1 or booleans. "
                            f"Got {type(mask).__name__} instead.")
        bad = (mask != 0) & (mask != 1)  # NaN is neither, so it lands here too
        if bad.any():
            raise ValueError(f"The '{name}' parameter of {owner} must hold only 0 and 1 (1 keeps a unit). "
                             f"Got values such as {mask[bad].flatten()[0].item()!r} instead.")
        return mask

    return constraint


# --- rules: constraints that tie arguments together ------------------------------------------

#: The array arguments of the public functions, and what a module takes at its door.
_ARRAYS = ("x", "dout", "weight", "bias", "gamma", "beta", "running_mean", "running_var")


def own_arrays(kind, is_own):
    """A rule: every array argument is the twin's own (:func:`tipslib._checks.OwnArrays`); ``None``
    (no bias, no running statistics) passes."""
    return OwnArrays(kind, is_own, _ARRAYS, none_passes=True)


def linear_shapes(args, owner):
    """``x``'s last axis holds ``weight``'s in_features; ``bias`` has one entry per output."""
    x, weight, bias = args["x"], args["weight"], args["bias"]
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"The 'x' parameter of {owner} must have {weight.shape[1]} features in its last axis "
                         f"(weight is {tuple(weight.shape)}). Got shape {tuple(x.shape)} instead.")
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise ValueError(f"The 'bias' parameter of {owner} must have shape ({weight.shape[0]},), one entry per "
                         f"output of 'weight' {tuple(weight.shape)}. Got shape {tuple(bias.shape)} instead.")


def softmax_dim_in_range(args, owner):
    """``dim`` names an axis of ``x``."""
    check_dim(args["dim"], args["x"], owner)


def _values_per_channel(shape) -> int:
    n = 1
    for i, size in enumerate(shape):
        if i != 1:
            n *= size
    return n


def _check_batch_statistics(x, owner):
    if _values_per_channel(x.shape) < 2:
        raise ValueError(
            f"The 'x' parameter of {owner} must hold more than 1 value per channel when the batch "
            f"statistics are used (training): the variance of one value is 0. "
            f"Got shape {tuple(x.shape)} instead."
        )


def batchnorm_shapes(args, owner):
    """``x`` is (N, C, ...); every vector has C entries; the running statistics come in a pair;
    the batch statistics need more than one value per channel."""
    x = args["x"]
    if x.ndim < 2:
        raise ValueError(f"The 'x' parameter of {owner} must have at least 2 dimensions (N, C, ...). "
                         f"Got shape {tuple(x.shape)} instead.")
    c = x.shape[1]
    for name in ("gamma", "beta", "running_mean", "running_var"):
        v = args[name]
        if v is not None and v.shape[0] != c:
            raise ValueError(f"The '{name}' parameter of {owner} must have shape ({c},), one entry per "
                             f"channel of 'x'. Got shape {tuple(v.shape)} instead.")
    if (args["running_mean"] is None) != (args["running_var"] is None):
        raise ValueError(f"The 'running_mean' and 'running_var' parameters of {owner} must be given together. "
                         f"Got only one of them.")
    if args["training"] or args["running_mean"] is None:
        _check_batch_statistics(x, owner)


def mask_like_x(args, owner):
    """An injected keep-mask has the shape of ``x``."""
    mask, x = args["mask"], args["x"]
    if mask is not None and tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"The 'mask' parameter of {owner} must have the same shape as 'x' {tuple(x.shape)}. "
                         f"Got {tuple(mask.shape)} instead.")


def dout_like(output_shape):
    """The rule of a ``*_backward(dout, cache)``: ``dout`` has the shape of the forward's output,
    which ``output_shape(cache)`` reads from the cache (``None``: anything goes)."""

    def rule(args, owner):
        shape = output_shape(args["cache"])
        if shape is not None:
            _check_dout_shape(args["dout"], shape, owner)

    return rule


def _check_dout_shape(dout, shape, owner):
    if tuple(dout.shape) != tuple(shape):
        raise ValueError(f"The 'dout' parameter of {owner} must have the shape of the forward output "
                         f"{tuple(shape)}. Got {tuple(dout.shape)} instead.")


# --- checks at a module's door (what can change per call) ------------------------------------


def check_dout(dout, shape, owner):
    """A backward's upstream gradient: a floating-point array shaped like what the forward
    returned (``shape``; ``None`` when any shape goes)."""
    check_float_array(dout, "dout", owner)
    if shape is not None:
        _check_dout_shape(dout, shape, owner)


def check_features(x, in_features, owner):
    """A floating-point input whose last axis holds ``in_features`` values (a Linear's input)."""
    check_float_array(x, "x", owner)
    if x.ndim == 0 or x.shape[-1] != in_features:
        raise ValueError(f"The 'x' parameter of {owner} must have in_features={in_features} values in its "
                         f"last axis. Got shape {tuple(x.shape)} instead.")


def check_dim(dim, x, owner):
    """``dim`` names an axis of ``x`` (negative counts from the end)."""
    n = max(x.ndim, 1)
    check_int(dim, "dim", owner, low=-n, high=n - 1)


def check_layers(layers, layer_type, kind, owner):
    """Every entry of a container is a layer of the twin (``layer_type``)."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, layer_type):
            raise TypeError(f"The 'layers' parameter of {owner} must hold {kind}. "
                            f"Got {type(layer).__name__} at position {i} instead.")


# --- module bookkeeping that does not touch an array -----------------------------------------


class BatchNormSettings:
    """The part of ``BatchNorm1d``/``BatchNorm2d`` that is the same in both twins.

    A twin's class sets ``_input = BATCHNORM_1D`` (or ``_2D``), calls
    :meth:`_configure` from its validated constructor and provides
    ``_count_batch()``: add one to ``num_batches_tracked`` and return it.
    """

    _input: tuple = ((), "")

    def _configure(self, num_features, eps, momentum, affine, track_running_stats) -> None:
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)

    def _check_input(self, x) -> None:
        """The array checks of every forward, before anything (the batch count) changes."""
        owner = type(self).__name__
        ndims, text = self._input
        check_float_array(x, "x", owner)
        if x.ndim not in ndims:
            raise ValueError(f"The 'x' parameter of {owner} must be a {' or '.join(f'{d}-D' for d in ndims)} "
                             f"array {text}. Got shape {tuple(x.shape)} instead.")
        if x.shape[1] != self.num_features:
            raise ValueError(f"The 'x' parameter of {owner} must have num_features={self.num_features} channels "
                             f"in axis 1. Got shape {tuple(x.shape)} instead.")
        if self.training or not self.track_running_stats:
            _check_batch_statistics(x, owner)

    def _batch_momentum(self) -> float:
        """The weight of this forward's batch in the running statistics.

        A training forward that tracks them counts the batch first; with
        ``momentum=None`` the k-th batch then weighs 1/k, a cumulative average.
        """
        if not (self.training and self.track_running_stats):
            return 0.0 if self.momentum is None else self.momentum  # nothing is updated
        batches = self._count_batch()
        return 1.0 / float(batches) if self.momentum is None else self.momentum

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class DropoutSettings:
    """The part of ``Dropout`` that is the same in both twins: ``p`` and when units drop."""

    def _drops(self) -> bool:
        """Units drop in training mode only, and never with ``p = 0``."""
        return self.training and self.p > 0

    def extra_repr(self) -> str:
        return f"p={self.p}"
