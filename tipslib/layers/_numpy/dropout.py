"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from ..._checks import RNG, Optional, check_float_array, validate_params
from .._shared import BACKWARD, DROPOUT, DROPOUT_FORWARD, DropoutSettings, KeepMask, check_dout, dout_like, mask_like_x
from .module import NDARRAYS, Module

__all__ = ["dropout_forward", "dropout_backward", "Dropout"]


@validate_params(DROPOUT_FORWARD, NDARRAYS, mask_like_x, mask=Optional(KeepMask(np.ndarray, "an array")), rng=RNG)
def dropout_forward(x, p=0.5, *, training=True, mask=None, rng=None):
    r"""Inverted dropout: zero each unit with probability ``p``, scale the survivors by :math:`1/(1-p)`.

    .. math::

        m_i \sim \mathrm{Bernoulli}(1 - p), \qquad
        \mathrm{out}_i = \frac{m_i\, x_i}{1 - p} \quad \text{(training)}, \qquad
        \mathrm{out} = x \quad \text{(eval)}

    Scaling during training keeps :math:`\mathbb{E}[\mathrm{out}_i] = x_i`, so
    the network needs no change at test time.

    Parameters
    ----------
    x : ndarray, any shape
    p : float in [0, 1), default 0.5
        Probability of *dropping* a unit (torch's convention). The cheatsheet's
        "keep" parameter is ``1 - p``. ``p = 1`` is refused: every unit would
        drop and the scale :math:`1/(1-p)` is infinite (``torch.nn.Dropout``
        accepts it and returns zeros).
    training : bool, default True
        ``False`` makes the layer the identity (``out`` is ``x`` itself).
    mask : ndarray of bool or 0/1, shape of ``x``, optional
        The keep-mask to use instead of a random one (1 keeps a unit), for
        teaching and testing. The scale is still :math:`1/(1-p)`.
    rng : numpy.random.Generator, optional
        Source of the random mask; a fresh unseeded one if omitted.

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : tuple
        ``(mask, p)``; ``mask`` is ``None`` when nothing was dropped (eval, or ``p = 0``).

    Notes
    -----
    NaN or infinite entries of ``x`` pass through (a dropped NaN stays NaN, as in torch),
    so the fit loop's divergence check still sees them.

    See Also
    --------
    torch.nn.functional.dropout : same ``p``, scaling and eval behaviour; it draws
        its own mask and cannot take one.
    """
    if not training:
        return x, (None, p)
    if mask is None:
        if p == 0:
            return x, (None, p)
        rng = np.random.default_rng() if rng is None else rng
        # float32 uniforms are twice as cheap as float64 and resolve p to 2**-24.
        mask = rng.random(x.shape, dtype=np.float32) >= p
    else:
        mask = mask.astype(bool, copy=False)  # 0/1 numbers become the booleans they stand for
    out = x * mask
    out *= x.dtype.type(1.0 / (1.0 - p))
    return out, (mask, p)


def _output_shape(cache):
    mask, _ = cache
    return None if mask is None else mask.shape  # no mask: the identity, any dout goes


@validate_params(BACKWARD, NDARRAYS, dout_like(_output_shape))
def dropout_backward(dout, cache):
    r"""Gradient of inverted dropout: the same mask, the same scale.

    .. math::

        dx = \frac{m \odot \mathrm{dout}}{1 - p}

    In eval mode (``mask is None``) the layer is the identity and ``dx = dout``.
    ``dout`` and ``dx`` have the shape of ``x``.

    See Also
    --------
    torch.autograd.grad : through ``torch.nn.functional.dropout`` it gives the same ``dx``
        for torch's own mask; torch has no public function for this backward alone.
    """
    mask, p = cache
    if mask is None:
        return dout
    dx = dout * mask
    dx *= dx.dtype.type(1.0 / (1.0 - p))
    return dx


class Dropout(DropoutSettings, Module):
    """Layer form of :func:`dropout_forward`: random in ``train()`` mode, the identity in ``eval()``.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of dropping a unit; the keep probability is ``1 - p``.
    rng : numpy.random.Generator, optional
        Draws every mask of this layer; a fresh unseeded one if omitted.

    Attributes
    ----------
    mask : ndarray of bool or None
        The keep-mask of the last training-mode forward, for plots.

    See Also
    --------
    dropout_forward : the formula.
    torch.nn.Dropout : same ``p`` and semantics; also accepts ``p = 1`` and ``inplace``.
    """

    @validate_params(DROPOUT, rng=RNG)
    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = float(p)
        self.rng = np.random.default_rng() if rng is None else rng

    @property
    def mask(self):
        return None if self._cache is None else self._cache[0]

    def forward(self, x):
        NDARRAYS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        out, self._cache = dropout_forward.__wrapped__(x, self.p, training=self._drops(), rng=self.rng)
        return out

    def backward(self, dout):
        cache = self._last_cache()
        NDARRAYS({"dout": dout}, type(self).__name__)
        check_dout(dout, _output_shape(cache), type(self).__name__)
        return dropout_backward.__wrapped__(dout, cache)
