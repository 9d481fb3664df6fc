"""Glue between the twins' hand-written pairs and autograd, shared by the torch twins.

Every torch twin module runs one ``torch.autograd.Function`` built on a
hand-written ``(out, cache)`` / ``backward(dout, cache)`` pair. The module
says which, after checking its inputs: ``function_call(*inputs)`` returns
``(Function, args)`` (or ``None`` when the module is the identity, as dropout
in eval mode), and its ``forward`` is :func:`forward_through_function`.

Because each module is exactly one Function, a chain of them can also be run
*by hand*: call each Function's ``forward`` in order, then each ``backward``
in reverse, adding the parameters' gradients into ``.grad`` as autograd's
``AccumulateGrad`` does. That is backpropagation as the NumPy twins do it, on
the very same Function code, without autograd's graph bookkeeping, which
costs more than the math for a small network on the CPU. :class:`Tape` does
it; ``tipslib.training``'s ``fit`` uses it when every part is a twin, and its
tests check that both ways give the same weights bit for bit.
"""

from __future__ import annotations

import torch

__all__ = ["save_cache", "load_cache", "forward_through_function", "runs_by_hand", "Tape"]

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


def forward_through_function(self, *inputs):
    """The ``forward`` of every twin module: check the inputs and apply the module's one Function."""
    call = self.function_call(*inputs)
    if call is None:
        return inputs[0]
    function, args = call
    return function.apply(*args)


def _leaves(module):
    """The modules a ``torch.nn.Sequential`` (however nested) chains, in order."""
    if type(module).forward is torch.nn.Sequential.forward:  # a container, not a subclass with its own forward
        for child in module:
            yield from _leaves(child)
    else:
        yield module


def runs_by_hand(*modules) -> list | None:
    """The chain of twin modules that ``modules`` (a model, then its loss) make, or ``None`` when
    some part is not a twin whose forward is :func:`forward_through_function`, or when a hook is
    set that only autograd and ``nn.Module.__call__`` would run (on a module, on a parameter, or
    for every module)."""
    if not all(isinstance(module, torch.nn.Module) for module in modules):
        return None  # a loss given as a plain function
    if _global_hooks() or any(_has_hooks(m) for module in modules for m in module.modules()):
        return None
    chain = [leaf for module in modules for leaf in _leaves(module)]
    if any(type(module).forward is not forward_through_function for module in chain):
        return None
    return chain


def _global_hooks():
    from torch.nn.modules import module
    return any(getattr(module, name, None) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))


def _has_hooks(module):
    if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks or \
            getattr(module, "_backward_pre_hooks", None):
        return True
    return any(getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks", None)
               for p in module.parameters(recurse=False))


class _HandContext:
    """What a Function's ``forward`` and ``backward`` use of autograd's ``ctx``."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class Tape:
    """Runs twin modules' Functions by hand: :meth:`run` each module forward, then
    :meth:`backward` from the last output, a scalar loss.

    A Function is taped only when a gradient flows through it (a parameter that
    requires grad, in it or before it), and its ``ctx.needs_input_grad`` is what
    autograd would pass, so a frozen first layer costs no backward at all.
    """

    def __init__(self):
        self._steps = []
        self._carried = None  # the last output that a gradient will flow back into

    def run(self, module, *inputs):
        """``module(*inputs)`` by hand; call it under ``torch.no_grad()``, as autograd runs a
        Function's forward (once around a whole forward pass, not once per module)."""
        if torch.is_grad_enabled():
            raise RuntimeError("Tape.run must be called under torch.no_grad().")
        call = module.function_call(*inputs)
        if call is None:
            return inputs[0]
        function, args = call
        needs = tuple(isinstance(a, torch.Tensor) and (a.requires_grad or a is self._carried) for a in args)
        ctx = _HandContext(needs)
        out = function.forward(ctx, *args)
        if any(needs):
            self._steps.append((function, ctx, args))
            self._carried = out
        return out

    @torch.no_grad()
    def backward(self, loss):
        """``loss.backward()`` by hand: each Function's backward, last first, from ``dloss = 1``."""
        if loss is not self._carried:
            return  # no parameter before the loss requires grad
        dout = torch.ones_like(loss)
        for function, ctx, args in reversed(self._steps):
            grads = function.backward(ctx, dout)
            if isinstance(grads, torch.Tensor):
                grads = (grads,)  # a Function of one input may return its gradient bare
            for arg, grad, needed in zip(args, grads, ctx.needs_input_grad):
                if not needed:
                    continue
                if grad.dtype != arg.dtype:
                    grad = grad.to(arg.dtype)  # as autograd does: a float64 loss on float32 outputs
                if not arg.requires_grad:
                    dout = grad  # the input that the Function before produced
                elif arg.grad is None:
                    arg.grad = grad
                else:
                    arg.grad.add_(grad)
