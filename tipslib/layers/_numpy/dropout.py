"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from ..._checks import check_bool, check_float_array, check_real, check_rng, check_same_shape
from .._shared import check_dout
from .module import Module

__all__ = ["dropout_forward", "dropout_backward", "Dropout"]


def check_p(p, owner):
    """``p`` is the probability of dropping, in ``[0, 1)``; ``p = 1`` would divide by zero."""
    return check_real(p, "p", owner, low=0, high=1, high_open=True)


def check_mask(mask, x, owner):
    """An injected keep-mask: booleans, or numbers that are all 0 or 1, shaped like ``x``."""
    if not hasattr(mask, "shape") or not hasattr(mask, "dtype"):
        raise TypeError(f"The 'mask' parameter of {owner} must be an array of 0/1 or booleans. "
                        f"Got {type(mask).__name__} instead.")
    check_same_shape(x, mask, "x", "mask", owner)
    if mask.dtype == np.bool_:
        return mask
    if not np.all((mask == 0) | (mask == 1)):  # NaN fails both tests, so it lands here too
        raise ValueError(f"The 'mask' parameter of {owner} must hold only 0 and 1 (1 keeps a unit). "
                         f"Got values such as {mask[(mask != 0) & (mask != 1)].flat[0]!r} instead.")
    return mask != 0


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
    owner = "dropout_forward"
    check_float_array(x, "x", owner)
    p = check_p(p, owner)
    training = check_bool(training, "training", owner)
    if not training:
        return x, (None, p)
    if mask is None:
        if p == 0:
            return x, (None, p)
        rng = check_rng(rng, owner)
        # float32 uniforms are twice as cheap as float64 and resolve p to 2**-24.
        mask = rng.random(x.shape, dtype=np.float32) >= p
    else:
        mask = check_mask(mask, x, owner)
    out = x * mask
    out *= x.dtype.type(1.0 / (1.0 - p))
    return out, (mask, p)


def dropout_backward(dout, cache):
    r"""Gradient of inverted dropout: the same mask, the same scale.

    .. math::

        dx = \frac{m \odot \mathrm{dout}}{1 - p}

    In eval mode (``mask is None``) the layer is the identity and ``dx = dout``.
    """
    mask, p = cache
    if mask is not None:
        check_dout(dout, mask.shape, "dropout_backward")
    if mask is None:
        return dout
    dx = dout * mask
    dx *= dx.dtype.type(1.0 / (1.0 - p))
    return dx


class Dropout(Module):
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
    torch.nn.Dropout : same ``p`` and semantics; also accepts ``p = 1`` and ``inplace``.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = check_p(p, "Dropout")
        self.rng = check_rng(rng, "Dropout")
        self._cache = None

    @property
    def mask(self):
        return None if self._cache is None else self._cache[0]

    def forward(self, x):
        out, self._cache = dropout_forward(x, self.p, training=self.training, rng=self.rng)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("Dropout.backward was called before forward.")
        return dropout_backward(dout, self._cache)

    def extra_repr(self):
        return f"p={self.p}"
