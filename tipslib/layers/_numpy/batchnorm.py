"""Batch normalization (Ioffe & Szegedy, 2015) for fully connected and convolutional layers."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import validate_params
from .._shared import (BACKWARD, BATCHNORM, BATCHNORM_1D, BATCHNORM_2D, BATCHNORM_FORWARD, BatchNormSettings,
                       batchnorm_shapes, check_dout, dout_like)
from .module import DTYPE, NDARRAYS, Module

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNorm1d", "BatchNorm2d"]


def _channels(x):
    # (N, C, ...) seen as (N, C, L), a view: every axis after the channel axis in one.
    # A channel's m = N * L values are then axes (0, 2), and a (C,) vector
    # broadcasts as v[:, None]. (A (C, N * L) layout would need a copy.)
    # L is spelled out: reshape cannot infer a -1 when N = 0 (an empty batch, fine in eval).
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


_M = (0, 2)  # the axes of one channel's m values in the (N, C, L) view


@validate_params(BATCHNORM_FORWARD, NDARRAYS, batchnorm_shapes)
def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    r"""Normalise each channel of ``x`` over the batch, then scale and shift it.

    In training (or whenever there are no running statistics) the batch's own
    statistics are used; channel :math:`c` is averaged over the batch axis and
    every axis after the channel axis (:math:`m` values):

    .. math::

        \mu_B = \frac{1}{m}\sum_i x_i, \qquad
        \sigma_B^2 = \frac{1}{m}\sum_i (x_i - \mu_B)^2, \qquad
        \hat{x}_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad
        y_i = \gamma\,\hat{x}_i + \beta

    and the running statistics, when given, move towards the batch's *in place*:

    .. math::

        \hat\mu \leftarrow (1 - \text{momentum})\,\hat\mu + \text{momentum}\,\mu_B, \qquad
        \hat\sigma^2 \leftarrow (1 - \text{momentum})\,\hat\sigma^2
            + \text{momentum}\,\tfrac{m}{m-1}\,\sigma_B^2

    The batch is normalised with the biased variance :math:`\sigma_B^2` but the
    running estimate stores the unbiased one. In evaluation :math:`\hat\mu` and
    :math:`\hat\sigma^2` replace :math:`\mu_B` and :math:`\sigma_B^2`.

    Parameters
    ----------
    x : ndarray, shape (N, C) or (N, C, L) or (N, C, H, W)
        Channel axis 1.
    gamma, beta : ndarray, shape (C,), or None
        Scale and shift; ``None`` means 1 and 0 (``affine=False``).
    running_mean, running_var : ndarray, shape (C,), or None
        Updated in place in training; ``None`` for both means "do not track"
        and the batch statistics are used in evaluation too.
    training : bool, keyword-only
    momentum : float in [0, 1], default 0.1
        Weight of the new batch in the running averages.
    eps : float > 0, default 1e-5
        Added to the variance so a constant channel does not divide by zero.

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : tuple
        What :func:`batchnorm_backward` needs.

    Raises
    ------
    ValueError
        In training with one value per channel (e.g. a batch of one row): its
        variance is 0 and the output would be 0 whatever the input.

    See Also
    --------
    torch.nn.functional.batch_norm : the same computation (argument ``weight``
        for ``gamma``, ``bias`` for ``beta``); its running statistics are
        updated in place the same way.
    """
    x3 = _channels(x)
    use_batch = training or running_mean is None
    mean = x3.mean(axis=_M) if use_batch else running_mean
    # Two buffers of x's size, reused in place: xhat (kept for backward) and out.
    xhat = x3 - mean[:, None]
    out = np.empty(x3.shape, np.result_type(xhat, *(v for v in (gamma, beta) if v is not None)))
    if use_batch:
        var = np.square(xhat, out=out).mean(axis=_M)  # out is scratch until y is written
        if training and running_mean is not None:
            m = x3.shape[0] * x3.shape[2]
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    else:
        var = running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat *= inv_std[:, None]
    np.multiply(xhat, 1 if gamma is None else gamma[:, None], out=out)
    if beta is not None:
        out += beta[:, None]
    return out.reshape(x.shape), (xhat.reshape(x.shape), gamma, inv_std, use_batch)


def _output_shape(cache):
    return cache[0].shape  # xhat, shaped like x and the output


@validate_params(BACKWARD, NDARRAYS, dout_like(_output_shape))
def batchnorm_backward(dout, cache):
    r"""Gradients of batch normalization, in the compact form.

    With the batch statistics (training), every :math:`x_i` moves
    :math:`\mu_B` and :math:`\sigma_B^2` too; collecting the three paths gives

    .. math::

        dx = \frac{\gamma}{m\sqrt{\sigma_B^2 + \epsilon}}
             \Big(m\,\mathrm{dout} - \textstyle\sum_i \mathrm{dout}_i
                  - \hat{x} \sum_i \mathrm{dout}_i\,\hat{x}_i\Big), \qquad
        d\gamma = \textstyle\sum_i \mathrm{dout}_i\,\hat{x}_i, \qquad
        d\beta = \textstyle\sum_i \mathrm{dout}_i

    (sums over the :math:`m` values of each channel). With the running
    statistics (evaluation) they are constants and
    :math:`dx = \gamma\,\mathrm{dout} / \sqrt{\hat\sigma^2 + \epsilon}`.

    Returns
    -------
    dx : ndarray, shape of ``x``
    dgamma, dbeta : ndarray, shape (C,)
        What ``gamma``/``beta`` would receive; ignore them when ``affine=False``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.batch_norm`` it gives the same
        gradients (torch's backward kernel uses the same compact form); torch has no
        public function for this backward alone.
    """
    xhat, gamma, inv_std, use_batch = cache
    d3, xhat = _channels(dout), _channels(xhat)
    scale = (inv_std if gamma is None else gamma * inv_std)[:, None]
    dbeta = d3.sum(axis=_M)
    dx = d3 * xhat  # one buffer of x's size: the product for dgamma first, then dx
    dgamma = dx.sum(axis=_M)
    if not use_batch:
        np.multiply(d3, scale, out=dx)
        return dx.reshape(dout.shape), dgamma, dbeta
    m = d3.shape[0] * d3.shape[2]
    # dx = scale * (dout - dbeta / m - xhat * dgamma / m), written in place
    np.multiply(xhat, (dgamma / m)[:, None], out=dx)
    np.subtract(d3, dx, out=dx)
    dx -= (dbeta / m)[:, None]
    dx *= scale
    return dx.reshape(dout.shape), dgamma, dbeta


class _BatchNorm(BatchNormSettings, Module):
    @validate_params(BATCHNORM, dtype=DTYPE)
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 *, dtype=np.float64):
        super().__init__()
        self._configure(num_features, eps, momentum, affine, track_running_stats)
        c = self.num_features
        if self.affine:
            self.params["weight"] = np.ones(c, dtype=dtype)
            self.params["bias"] = np.zeros(c, dtype=dtype)
        if self.track_running_stats:
            self.buffers["running_mean"] = np.zeros(c, dtype=dtype)
            self.buffers["running_var"] = np.ones(c, dtype=dtype)
            self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)

    def _count_batch(self):
        self.buffers["num_batches_tracked"] += 1
        return self.buffers["num_batches_tracked"]

    def forward(self, x):
        NDARRAYS({"x": x}, type(self).__name__)
        self._check_input(x)
        out, self._cache = batchnorm_forward.__wrapped__(
            x, self.params.get("weight"), self.params.get("bias"),
            self.buffers.get("running_mean"), self.buffers.get("running_var"),
            training=self.training, momentum=self._batch_momentum(), eps=self.eps,
        )
        return out

    def backward(self, dout):
        cache = self._last_cache()
        NDARRAYS({"dout": dout}, type(self).__name__)
        check_dout(dout, _output_shape(cache), type(self).__name__)
        dx, dgamma, dbeta = batchnorm_backward.__wrapped__(dout, cache)
        if self.affine:
            self.grads["weight"] = dgamma
            self.grads["bias"] = dbeta
        return dx


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization of features: input (N, C) or (N, C, L), statistics per feature.

    Parameters ``weight`` (:math:`\gamma`, ones) and ``bias`` (:math:`\beta`, zeros)
    when ``affine``; buffers ``running_mean`` (zeros), ``running_var`` (ones) and
    ``num_batches_tracked`` when ``track_running_stats``. ``train()`` normalises
    with the batch statistics and updates the running ones (see
    :func:`batchnorm_forward`); ``eval()`` uses the running ones. ``momentum=None``
    turns the running statistics into a plain cumulative average.

    See Also
    --------
    batchnorm_forward : the formula.
    torch.nn.BatchNorm1d : same arguments, defaults, parameter and buffer names,
        so state dicts carry over key for key.
    """

    _input = BATCHNORM_1D


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization of images: input (N, C, H, W), statistics per channel over N, H, W.

    Same parameters, buffers and modes as :class:`BatchNorm1d`.

    See Also
    --------
    batchnorm_forward : the formula.
    torch.nn.BatchNorm2d : same arguments, defaults, parameter and buffer names.
    """

    _input = BATCHNORM_2D
