"""The fully connected (dense) layer."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import RNG, validate_params
from .._shared import BACKWARD, LINEAR, LINEAR_FORWARD, check_dout, check_features, dout_like, linear_shapes
from .module import DTYPE, NDARRAYS, Module

__all__ = ["linear_forward", "linear_backward", "Linear"]


@validate_params(LINEAR_FORWARD, NDARRAYS, linear_shapes)
def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None):
    r"""Affine map of the last axis.

    .. math::

        \mathrm{out} = x W^\top + b

    Parameters
    ----------
    x : ndarray, shape (..., in_features)
    weight : ndarray, shape (out_features, in_features)
        Stored like ``torch.nn.Linear.weight``, so state dicts carry over.
    bias : ndarray, shape (out_features,), or None

    Returns
    -------
    out : ndarray, shape (..., out_features)
    cache : tuple
        ``(x, weight)``, all that :func:`linear_backward` needs.

    See Also
    --------
    torch.nn.functional.linear : the same map; autograd provides its backward.
    """
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out, (x, weight)


def _output_shape(cache):
    x, weight = cache
    return (*x.shape[:-1], weight.shape[0])


@validate_params(BACKWARD, NDARRAYS, dout_like(_output_shape))
def linear_backward(dout: np.ndarray, cache):
    r"""Gradients of the affine map, by the chain rule.

    .. math::

        dx = \mathrm{dout}\, W, \qquad dW = \mathrm{dout}^\top x, \qquad
        db = \textstyle\sum_{\text{rows}} \mathrm{dout}

    ``dout`` has the output's shape (..., out_features).

    Returns
    -------
    dx : ndarray, shape of ``x``
    dweight : ndarray, shape (out_features, in_features)
    dbias : ndarray, shape (out_features,)
        What a bias would receive; ignore it for a layer without bias.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.linear`` it gives the same three
        gradients; torch has no public function for this backward alone.
    """
    x, weight = cache
    dx = dout @ weight
    dout2 = dout.reshape(-1, weight.shape[0])
    dweight = dout2.T @ x.reshape(-1, weight.shape[1])
    dbias = dout2.sum(axis=0)
    return dx, dweight, dbias


class Linear(Module):
    r"""Dense layer ``out = x W^T + b`` with torch's default initialisation.

    Weights and bias start uniform in :math:`[-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}}]`,
    the distribution ``torch.nn.Linear`` uses, drawn from ``rng``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    rng : numpy.random.Generator, optional
        Source of the initial weights; a fresh unseeded one if omitted.
    dtype : numpy dtype, default float64

    See Also
    --------
    torch.nn.Linear : same shapes and initial distribution.
    """

    @validate_params(LINEAR, rng=RNG, dtype=DTYPE)
    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.params["weight"] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, size=self.out_features).astype(dtype)

    def forward(self, x):
        NDARRAYS({"x": x}, type(self).__name__)
        check_features(x, self.in_features, type(self).__name__)
        out, self._cache = linear_forward.__wrapped__(x, self.params["weight"], self.params.get("bias"))
        return out

    def backward(self, dout):
        cache = self._last_cache()
        NDARRAYS({"dout": dout}, type(self).__name__)
        check_dout(dout, _output_shape(cache), type(self).__name__)
        dx, dweight, dbias = linear_backward.__wrapped__(dout, cache)
        self.grads["weight"] = dweight
        if "bias" in self.params:
            self.grads["bias"] = dbias
        return dx

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={'bias' in self.params}"
