"""Backend-free parts of the layers, shared by both twins: the argument checks.

Only plain Python values and duck-typed arrays (``.shape``, ``.ndim``,
``.dtype``) are inspected, so this module imports neither NumPy nor torch.
"""

from __future__ import annotations

from .._checks import check_bool, check_float_array, check_int, check_real

__all__ = ["check_dout", "check_linear_init", "check_batchnorm_args", "check_batchnorm_init"]


def check_dout(dout, shape, owner):
    """A backward's upstream gradient must have the shape of what its forward returned."""
    got = getattr(dout, "shape", None)
    if got is None:
        raise TypeError(f"The 'dout' parameter of {owner} must be an array. Got {type(dout).__name__} instead.")
    if tuple(got) != tuple(shape):
        raise ValueError(f"The 'dout' parameter of {owner} must have the shape of the forward output "
                         f"{tuple(shape)}. Got {tuple(got)} instead.")


def check_linear_init(in_features, out_features, bias, owner):
    """The Linear constructors' arguments, checked and returned in order."""
    return (check_int(in_features, "in_features", owner, low=1),
            check_int(out_features, "out_features", owner, low=1),
            check_bool(bias, "bias", owner))


def check_batchnorm_init(num_features, eps, momentum, affine, track_running_stats, owner):
    """The BatchNorm constructors' arguments, checked and returned in order."""
    return (check_int(num_features, "num_features", owner, low=1),
            check_real(eps, "eps", owner, low=0, low_open=True),
            None if momentum is None else check_real(momentum, "momentum", owner, low=0, high=1),
            check_bool(affine, "affine", owner),
            check_bool(track_running_stats, "track_running_stats", owner))


def _check_vector(v, name, owner, num_features):
    if v is None:
        return
    check_float_array(v, name, owner, ndim=1)
    if v.shape[0] != num_features:
        raise ValueError(
            f"The '{name}' parameter of {owner} must have shape ({num_features},), one entry per "
            f"channel of 'x'. Got shape {tuple(v.shape)} instead."
        )


def check_batchnorm_args(x, gamma, beta, running_mean, running_var, training, momentum, eps, owner):
    """``batchnorm_forward``'s arguments (either twin): validate and return ``(momentum, eps)``."""
    check_float_array(x, "x", owner)
    if x.ndim < 2:
        raise ValueError(
            f"The 'x' parameter of {owner} must have at least 2 dimensions (N, C, ...). "
            f"Got shape {tuple(x.shape)} instead."
        )
    c = x.shape[1]
    for name, v in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        _check_vector(v, name, owner, c)
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            f"The 'running_mean' and 'running_var' parameters of {owner} must be given together. "
            f"Got only one of them."
        )
    check_bool(training, "training", owner)
    momentum = check_real(momentum, "momentum", owner, low=0, high=1)
    eps = check_real(eps, "eps", owner, low=0, low_open=True)
    values_per_channel = 1
    for i, n in enumerate(x.shape):
        if i != 1:
            values_per_channel *= n
    if (training or running_mean is None) and values_per_channel < 2:
        raise ValueError(
            f"The 'x' parameter of {owner} must hold more than 1 value per channel when the batch "
            f"statistics are used (training): the variance of one value is 0. "
            f"Got shape {tuple(x.shape)} instead."
        )
    return momentum, eps
