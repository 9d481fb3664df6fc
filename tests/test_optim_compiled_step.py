"""The twin optimizers' ``step`` under an outer ``torch.compile``, as torch's "compiling the
optimizer" recipe does with its own: no graph break, the step number not baked in, the
eager twin's numbers.

A PyTorch user compiles a whole training step (forward, backward and ``optimizer.step()``)
and expects a twin to trace like a built-in: a graph break would split the step, a graph
per step number would hit dynamo's recompile limit after 8 steps and run eagerly from then
on, and a value baked in without a guard (a scheduler's new ``lr``) would silently train
wrong. ``fused=True`` groups take the plain twin's lines there (the outer graph fuses them).
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from tipslib.optim import torch_impl as TO
from tipslib.optim._torch import fused as fused_mod

#: (twin, options, whether it takes fused=True): each with options that reach most of its lines.
CASES = [
    (TO.SGD, dict(momentum=0.9, nesterov=True, weight_decay=0.1), True),
    (TO.Momentum, dict(momentum=0.9, weight_decay=0.1, maximize=True), False),
    (TO.Adam, dict(weight_decay=0.1, amsgrad=True), True),
    (TO.AdamW, dict(weight_decay=0.1, maximize=True), True),
    (TO.RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.1), True),
    (TO.Adagrad, dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1), True),
    (TO.Adadelta, dict(weight_decay=0.1), False),
]
PARAMS = [pytest.param(cls, kw, fused, id=cls.__name__ + ("-fused" if fused else ""))
          for cls, kw, takes_fused in CASES for fused in ((False, True) if takes_fused else (False,))]


def _params():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, dtype=torch.float64, generator=gen).requires_grad_(True) for s in ((5, 3), (7,), (2, 4))]


def _train(cls, kw, step_of=lambda opt: opt.step, steps=12, lr_change_at=None):
    """``steps`` steps on fixed gradients, ``lr`` changed at step ``lr_change_at`` as a scheduler would."""
    params = _params()
    opt = cls(params, lr=0.05, **kw)
    step = step_of(opt)
    gen = torch.Generator().manual_seed(1)
    for t in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen)
        if t == lr_change_at:
            for g in opt.param_groups:
                g["lr"] = 0.02
        step()
    return params, opt


@pytest.mark.slow
@pytest.mark.parametrize("cls, kw, fused", PARAMS)
def test_a_compiled_step_has_no_graph_break_nor_a_graph_per_step_and_the_eager_twins_numbers(cls, kw, fused):
    if fused_mod.compile_unavailable(torch.device("cpu")):
        pytest.skip("no C++ compiler for torch.compile")
    if fused:
        kw = {**kw, "fused": True}
    params = _params()
    for p in params:
        p.grad = torch.ones_like(p)
    explained = torch._dynamo.explain(cls(params, lr=0.05, **kw).step)()
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons

    for lr_change_at in (None, 6):
        torch._dynamo.reset()  # the compiled step below traces afresh
        graphs = CompileCounterWithBackend("inductor")
        compiled, opt = _train(cls, kw, lambda opt: torch.compile(opt.step, backend=graphs, fullgraph=True),
                               lr_change_at=lr_change_at)
        eager, _ = _train(cls, kw, lr_change_at=lr_change_at)
        for got, want in zip(compiled, eager):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        # the first step (empty state), the second (step 1, a constant), then one for every step
        # number; a new lr compiles again, as it does for torch's optimizers given a float lr
        assert graphs.frame_count <= (3 if lr_change_at is None else 5), graphs.frame_count
