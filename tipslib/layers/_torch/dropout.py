"""Inverted dropout, torch twin of ``tipslib.layers._numpy.dropout``."""

from __future__ import annotations

import torch
from torch import nn

from ..._autograd import forward_through_function, load_cache, save_cache
from ..._checks import GENERATOR, Optional, check_float_array, validate_params
from ..._compile import FastPath
from .._shared import BACKWARD, DROPOUT, DROPOUT_FORWARD, DropoutSettings, KeepMask, dout_like, mask_like_x
from .checks import TENSORS

__all__ = ["dropout_forward", "dropout_backward", "DropoutFunction", "Dropout"]


def _random_mask(x, p, generator):
    if generator is None:
        # No generator= at all: with it, even None, torch.compile cannot draw for a new batch size.
        u = torch.rand(x.shape, device=x.device, dtype=torch.float32)
    else:
        # A CPU generator cannot draw on the GPU: draw where the generator lives, then move.
        u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return (u >= p).to(x.device)


@validate_params(DROPOUT_FORWARD, TENSORS, mask_like_x, mask=Optional(KeepMask(torch.Tensor, "a tensor")),
                 generator=GENERATOR)
def dropout_forward(x, p=0.5, *, training=True, mask=None, generator=None):
    r"""Twin of the NumPy ``dropout_forward``: returns ``(out, cache)`` with ``cache = (mask, p)``.

    .. math::

        m_i \sim \mathrm{Bernoulli}(1 - p), \qquad
        \mathrm{out}_i = \frac{m_i\, x_i}{1 - p} \quad \text{(training)}, \qquad
        \mathrm{out} = x \quad \text{(eval)}

    Differences: ``generator`` (a ``torch.Generator``) instead of ``rng``; the
    mask is drawn on the generator's device and moved to ``x``'s.
    """
    if not training:
        return x, (None, p)
    if mask is None:
        if p == 0:
            return x, (None, p)
        mask = _random_mask(x, p, generator)
    else:
        mask = mask.to(device=x.device, dtype=torch.bool)  # 0/1 numbers become the booleans they stand for
    out = x * mask
    out.mul_(1.0 / (1.0 - p))
    return out, (mask, p)


def _output_shape(cache):
    mask, _ = cache
    return None if mask is None else mask.shape  # no mask: the identity, any dout goes


@validate_params(BACKWARD, TENSORS, dout_like(_output_shape))
def dropout_backward(dout, cache):
    r"""Twin of the NumPy ``dropout_backward``: :math:`dx = m \odot \mathrm{dout} / (1 - p)`."""
    mask, p = cache
    if mask is None:
        return dout
    dx = dout * mask
    return dx.mul_(1.0 / (1.0 - p))


def _draw_and_drop(x, p):
    """Draw the mask and drop by it: ``(out, mask)``, what the fast path's forward computes in one pass."""
    mask = _random_mask(x, p, None)
    out, _ = dropout_forward.__wrapped__(x, p, training=True, mask=mask)
    return out, mask


# The math Dropout runs: compiled on a GPU (see tipslib._compile). Without a generator the draw
# and the drop are one kernel: the uniform numbers never reach memory, and the mask reaches it
# once, as one byte an element, written beside the output. A torch.Generator cannot enter a
# compiled graph, so a draw with one stays eager.
fast_draw_and_drop = FastPath(_draw_and_drop)
fast_forward = FastPath(dropout_forward.__wrapped__)
fast_backward = FastPath(dropout_backward.__wrapped__)


class DropoutFunction(torch.autograd.Function):
    """Autograd node whose backward is :func:`dropout_backward`, with the forward's mask.

    ``apply(x, p, mask, generator, out=None)``, unchecked: :class:`Dropout`
    checks its input at its door and draws the mask. ``out``, when given, is
    ``x`` already dropped by ``mask`` (the fast path draws and drops in one
    pass) and is what the forward returns. The backward is linear in ``dout``,
    so ``create_graph=True`` differentiates it once more.

    On a GPU both run compiled (:class:`tipslib._compile.FastPath`) when the
    mask is given: ``x * mask / (1 - p)`` in one kernel, not two.
    """

    @staticmethod
    def forward(ctx, x, p, mask, generator, out=None):
        if out is not None:
            cache = (mask, p)
        elif mask is None:  # drawn inside, from the generator, which a compiled graph cannot take
            out, cache = dropout_forward.__wrapped__(x, p, training=True, generator=generator)
        else:
            out, cache = fast_forward(x, p, training=True, mask=mask)
        save_cache(ctx, cache)
        return out

    @staticmethod
    def backward(ctx, dout):
        return fast_backward(dout, load_cache(ctx)), None, None, None, None


class Dropout(DropoutSettings, nn.Module):
    """Twin of the NumPy ``Dropout``; drop-in for ``torch.nn.Dropout`` on any device.

    Differences from the twin: ``generator`` instead of ``rng`` (a CUDA
    generator draws on the GPU directly). From ``torch.nn.Dropout``: ``p = 1``
    and ``inplace`` are not accepted. ``mask`` holds the last training-mode
    keep-mask, for plots.
    """

    @validate_params(DROPOUT, generator=GENERATOR)
    def __init__(self, p=0.5, *, generator=None):
        super().__init__()
        self.p = float(p)
        self.generator = generator
        self.mask = None

    forward = forward_through_function

    def function_call(self, x):
        """``(DropoutFunction, its arguments)`` with a fresh mask, or ``None`` (the identity)
        in eval mode or for ``p = 0``: what ``forward`` applies."""
        TENSORS({"x": x}, type(self).__name__)
        check_float_array(x, "x", type(self).__name__)
        if not self._drops():
            return None
        if self.generator is None and fast_draw_and_drop.fuses_on(x.device):
            out, self.mask = fast_draw_and_drop(x.detach(), self.p)
            return DropoutFunction, (x, self.p, self.mask, None, out)
        self.mask = _random_mask(x, self.p, self.generator)
        return DropoutFunction, (x, self.p, self.mask, self.generator)
