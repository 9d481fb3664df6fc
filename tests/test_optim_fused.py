"""``fused=True`` on the torch twins Adam/AdamW: the same lines compiled by torch.compile.

On a machine without a GPU the fused path compiles for the CPU when a C++
compiler is there, else falls back to the plain twin; both choices are covered.
The CUDA parity run (float32, many steps, every option) is issue 18's GPU part.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from tipslib.optim import torch_impl as TO
from tipslib.optim._torch import adam as adam_mod

OPTIONS = [dict(weight_decay=wd, amsgrad=ams, maximize=mx)
           for wd, ams, mx in itertools.product((0.0, 0.1), (False, True), (False, True))]


def _params(dtype=torch.float64, shapes=((5, 3), (7,), (2, 2, 2))):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, dtype=dtype, generator=gen).requires_grad_(True) for s in shapes]


def _train(cls, steps=8, dtype=torch.float64, **kw):
    params = _params(dtype)
    opt = cls(params, lr=0.05, **kw)
    gen = torch.Generator().manual_seed(1)
    for t in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, dtype=dtype, generator=gen)
        if t == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 0.02  # a scheduler's change must reach the compiled step
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls", [TO.Adam, TO.AdamW])
@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_fused_math_eager_equals_adam_step(cls, kw):
    """The function that gets compiled, run as plain Python, is the twin's math."""
    decoupled = cls is TO.AdamW
    ref = _params()
    ours = [p.detach().clone() for p in ref]
    state = [[torch.zeros_like(p) for _ in range(3)] for p in ref]
    state2 = [[torch.zeros_like(p) for _ in range(3)] for p in ref]
    gen = torch.Generator().manual_seed(1)
    step_fn = adam_mod.adamw_step if decoupled else adam_mod.adam_step
    for t in range(1, 6):
        for p, q, s, s2 in zip(ref, ours, state, state2):
            g = torch.randn(p.shape, dtype=p.dtype, generator=gen)
            with torch.no_grad():
                step_fn(p, g, *s, t, lr=0.05, **kw)
            lr, b1, b2 = (torch.tensor(v, dtype=torch.float64) for v in (0.05, 1 - 0.9 ** t, (1 - 0.999 ** t) ** 0.5))
            adam_mod.adam_fused_math(q, g, *s2, lr, b1, b2, beta1=0.9, beta2=0.999, eps=1e-8, decoupled=decoupled,
                                     **kw)
    for p, q in zip(ref, ours):
        torch.testing.assert_close(q, p.detach(), rtol=1e-12, atol=1e-14)


def test_fused_falls_back_to_the_plain_twin_without_a_toolchain(monkeypatch):
    monkeypatch.setattr(adam_mod, "compile_unavailable", lambda device: "no C++ compiler (test)")

    def no_compile(*a, **k):
        raise AssertionError("the compiled kernel must not be called")

    monkeypatch.setattr(adam_mod, "_compiled_adam", no_compile)
    fused, opt = _train(TO.Adam, fused=True, amsgrad=True)
    plain, _ = _train(TO.Adam, amsgrad=True)
    assert opt.fused_fallback == {"cpu": "no C++ compiler (test)"}
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fused_falls_back_when_compiling_fails(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("inductor exploded (test)")

    monkeypatch.setattr(adam_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(adam_mod, "_compiled_adam", lambda: broken)
    fused, opt = _train(TO.AdamW, fused=True)
    plain, _ = _train(TO.AdamW)
    assert "inductor exploded" in opt.fused_fallback["cpu"]
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fused_flag_is_checked():
    with pytest.raises(TypeError, match="'fused' parameter of Adam must be a bool. Got 'yes'"):
        TO.Adam(_params(), fused="yes")


@pytest.mark.slow
@pytest.mark.parametrize("cls", [TO.Adam, TO.AdamW])
def test_fused_compiled_on_cpu_matches_plain_twin(cls):
    reason = adam_mod.compile_unavailable(torch.device("cpu"))
    if reason:
        pytest.skip(reason)
    for kw in (OPTIONS[0], OPTIONS[-1]):
        fused, opt = _train(cls, fused=True, **kw)
        plain, _ = _train(cls, **kw)
        builtin_params = _params()
        builtin = getattr(torch.optim, cls.__name__)(builtin_params, lr=0.05, **kw)
        gen = torch.Generator().manual_seed(1)
        for t in range(8):
            for p in builtin_params:
                p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen)
            if t == 4:
                builtin.param_groups[0]["lr"] = 0.02
            builtin.step()
        assert opt.fused_fallback == {"cpu": None}
        for a, b, c in zip(fused, plain, builtin_params):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-14)


def test_a_large_group_keeps_the_plain_twin(monkeypatch):
    monkeypatch.setattr(adam_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(adam_mod, "FUSED_MAX_TENSORS", 2)  # _params gives 3 tensors

    def no_compile(*a, **k):
        raise AssertionError("a group over FUSED_MAX_TENSORS must not be compiled")

    monkeypatch.setattr(adam_mod, "_compiled_adam", no_compile)
    fused, _ = _train(TO.Adam, fused=True)
    plain, _ = _train(TO.Adam)
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
