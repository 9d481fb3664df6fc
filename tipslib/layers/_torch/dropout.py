"""Inverted dropout, torch twin of ``tipslib.layers._numpy.dropout``."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..._checks import check_bool, check_float_array, check_real, check_same_shape
from .._shared import check_dout
from .function import load_cache, save_cache

__all__ = ["dropout_forward", "dropout_backward", "DropoutFunction", "Dropout"]


def _check_p(p, owner):
    return check_real(p, "p", owner, low=0, high=1, high_open=True)


def _check_generator(generator, owner):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"The 'generator' parameter of {owner} must be a torch.Generator. Got {generator!r} instead.")


def _check_mask(mask, x, owner):
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"The 'mask' parameter of {owner} must be a tensor of 0/1 or booleans. "
                        f"Got {type(mask).__name__} instead.")
    check_same_shape(x, mask, "x", "mask", owner)
    if mask.dtype != torch.bool:
        bad = (mask != 0) & (mask != 1)  # NaN is caught here too
        if bool(bad.any()):
            raise ValueError(f"The 'mask' parameter of {owner} must hold only 0 and 1 (1 keeps a unit). "
                             f"Got values such as {mask[bad].flatten()[0].item()!r} instead.")
        mask = mask != 0
    return mask.to(x.device)


def _random_mask(x, p, generator):
    # A CPU generator cannot draw on the GPU: draw where the generator lives, then move.
    device = x.device if generator is None else generator.device
    u = torch.rand(x.shape, generator=generator, device=device, dtype=torch.float32)
    return (u >= p).to(x.device)


def dropout_forward(x, p=0.5, *, training=True, mask=None, generator=None):
    """Twin of the NumPy ``dropout_forward``: returns ``(out, cache)`` with ``cache = (mask, p)``.

    Differences: ``generator`` (a ``torch.Generator``) instead of ``rng``; the
    mask is drawn on the generator's device and moved to ``x``'s.
    """
    owner = "dropout_forward"
    check_float_array(x, "x", owner)
    p = _check_p(p, owner)
    training = check_bool(training, "training", owner)
    _check_generator(generator, owner)
    if not training:
        return x, (None, p)
    if mask is None:
        if p == 0:
            return x, (None, p)
        mask = _random_mask(x, p, generator)
    else:
        mask = _check_mask(mask, x, owner)
    out = x * mask
    out.mul_(1.0 / (1.0 - p))
    return out, (mask, p)


def dropout_backward(dout, cache):
    """Twin of the NumPy ``dropout_backward``: ``dx = mask * dout / (1 - p)``."""
    mask, p = cache
    if mask is not None:
        check_dout(dout, mask.shape, "dropout_backward")
    if mask is None:
        return dout
    dx = dout * mask
    return dx.mul_(1.0 / (1.0 - p))


class DropoutFunction(torch.autograd.Function):
    """Autograd node whose backward is :func:`dropout_backward`, with the forward's mask."""

    @staticmethod
    def forward(ctx, x, p, mask, generator):
        out, cache = dropout_forward(x, p, training=True, mask=mask, generator=generator)
        save_cache(ctx, cache)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        return dropout_backward(dout, load_cache(ctx)), None, None, None


class Dropout(nn.Module):
    """Twin of the NumPy ``Dropout``; drop-in for ``torch.nn.Dropout`` on any device.

    Differences from the twin: ``generator`` instead of ``rng`` (a CUDA
    generator draws on the GPU directly). From ``torch.nn.Dropout``: ``p = 1``
    and ``inplace`` are not accepted. ``mask`` holds the last training-mode
    keep-mask, for plots.
    """

    def __init__(self, p=0.5, *, generator=None):
        super().__init__()
        self.p = _check_p(p, "Dropout")
        _check_generator(generator, "Dropout")
        self.generator = generator
        self.mask = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        check_float_array(x, "x", "Dropout")
        self.mask = _random_mask(x, self.p, self.generator)
        return DropoutFunction.apply(x, self.p, self.mask, self.generator)

    def extra_repr(self):
        return f"p={self.p}"
