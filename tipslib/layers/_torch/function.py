"""Glue between the hand-written ``(out, cache)`` / ``backward(dout, cache)`` pairs and autograd."""

from __future__ import annotations

import torch

__all__ = ["save_cache", "load_cache"]

_TENSOR = object()  # marks a slot of the cache that went through save_for_backward


def save_cache(ctx, cache: tuple) -> None:
    """Keep a forward's cache on ``ctx``: tensors via ``save_for_backward``
    (so autograd can detect in-place edits), everything else as is."""
    tensors = [c for c in cache if isinstance(c, torch.Tensor)]
    ctx.save_for_backward(*tensors)
    # A cache of tensors only (Linear's, ReLU's) needs no layout: the saved tensors are the cache.
    ctx.cache_layout = None if len(tensors) == len(cache) else tuple(
        _TENSOR if isinstance(c, torch.Tensor) else c for c in cache)


def load_cache(ctx) -> tuple:
    """Rebuild the cache that :func:`save_cache` stored."""
    if ctx.cache_layout is None:
        return ctx.saved_tensors
    tensors = iter(ctx.saved_tensors)
    return tuple(next(tensors) if c is _TENSOR else c for c in ctx.cache_layout)
