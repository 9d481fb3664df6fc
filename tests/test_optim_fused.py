"""``fused=True`` on the torch twins (Adam, AdamW, SGD, RMSprop, Adagrad): the same lines compiled by torch.compile.

On a machine without a GPU the fused path compiles for the CPU when a C++
compiler is there, else falls back to the plain twin; both choices are covered.
The CUDA parity test (float32, 30 steps, every option of every fused twin) runs
where a GPU is and is skipped elsewhere; it is issue 18's GPU part.
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

import tipslib._compile as compile_mod
from tipslib.optim import torch_impl as TO
from tipslib.optim._torch import adagrad as adagrad_mod
from tipslib.optim._torch import adam as adam_mod
from tipslib.optim._torch import fused as fused_mod
from tipslib.optim._torch import rmsprop as rmsprop_mod
from tipslib.optim._torch import sgd as sgd_mod

OPTIONS = [dict(weight_decay=wd, amsgrad=ams, maximize=mx)
           for wd, ams, mx in itertools.product((0.0, 0.1), (False, True), (False, True))]


def _params(dtype=torch.float64, shapes=((5, 3), (7,), (2, 2, 2))):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, dtype=dtype, generator=gen).requires_grad_(True) for s in shapes]


def _train(cls, steps=8, dtype=torch.float64, params=None, **kw):
    params = _params(dtype) if params is None else params
    opt = cls(params, lr=0.05, **kw)
    gen = torch.Generator().manual_seed(1)
    for t in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen).to(p.device)
        if t == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 0.02  # a scheduler's change must reach the compiled step
        opt.step()
    return params, opt


def _assert_same(got, want, exact=False):
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0 if exact else 1e-12, atol=0 if exact else 1e-14)


def test_fused_falls_back_to_the_plain_twin_without_a_toolchain(monkeypatch):
    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: "no C++ compiler (test)")

    def no_compile(*a, **k):
        raise AssertionError("the compiled kernel must not be called")

    monkeypatch.setattr(fused_mod, "compiled", no_compile)
    fused, opt = _train(TO.Adam, fused=True, amsgrad=True)
    plain, _ = _train(TO.Adam, amsgrad=True)
    assert opt.fused_fallback == {"cpu": "no C++ compiler (test)"}
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fused_falls_back_when_compiling_fails(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("inductor exploded (test)")

    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(fused_mod, "compiled", lambda math: broken)
    fused, opt = _train(TO.AdamW, fused=True)
    plain, _ = _train(TO.AdamW)
    assert "inductor exploded" in opt.fused_fallback["cpu"]
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _fallbacks_of_new_models(count, first_size):
    """Train ``count`` one-tensor models of new sizes with fused Adam, one step each: their ``fused_fallback``."""
    reasons = []
    for size in range(first_size, first_size + count):
        param = torch.zeros(size, requires_grad=True)
        param.grad = torch.ones(size)
        opt = TO.Adam([param], fused=True)
        opt.step()
        reasons.append(opt.fused_fallback["cpu"])
    return reasons


@pytest.mark.slow
def test_a_process_may_train_more_than_eight_models_fused(monkeypatch):
    """Each model's shapes are one more graph of the shared compiled step (static shapes):
    dynamo's default ceiling of 8 graphs per function must not end the fused path."""
    reason = fused_mod.compile_unavailable(torch.device("cpu"))
    if reason:
        pytest.skip(reason)
    assert _fallbacks_of_new_models(10, 1000) == [None] * 10
    monkeypatch.setattr(compile_mod, "GRAPHS_PER_FUNCTION", 0)  # dynamo's default back: the check can fail
    assert "torch.compile failed" in _fallbacks_of_new_models(1, 2000)[0]


def test_fused_flag_is_checked():
    with pytest.raises(TypeError, match="'fused' parameter of Adam must be a bool. Got 'yes'"):
        TO.Adam(_params(), fused="yes")


@pytest.mark.slow
@pytest.mark.parametrize("cls", [TO.Adam, TO.AdamW])
def test_fused_compiled_on_cpu_matches_plain_twin(cls):
    reason = fused_mod.compile_unavailable(torch.device("cpu"))
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


# ------------------------------------------------------------ SGD, RMSprop, Adagrad

SGD_OPTIONS = [dict(momentum=0.0, weight_decay=0.1, maximize=True),
               dict(momentum=0.9, dampening=0.2, weight_decay=0.0),
               dict(momentum=0.9, dampening=0.2, weight_decay=0.1, maximize=True),
               dict(momentum=0.9, weight_decay=0.1, nesterov=True),
               dict(momentum=0.5, nesterov=True, maximize=True)]
RMSPROP_OPTIONS = [dict(weight_decay=wd, momentum=mu, centered=c, maximize=mx)
                   for wd, mu, c, mx in itertools.product((0.0, 0.1), (0.0, 0.9), (False, True), (False, True))]
ADAGRAD_OPTIONS = [dict(lr_decay=d, weight_decay=wd, maximize=mx)
                   for d, wd, mx in itertools.product((0.0, 0.1), (0.0, 0.1), (False, True))]


#: name -> (the twin's public step, its state tensors, the numbers the fused path sends as 0-d tensors,
#: option sets, how the state starts: SGD's buffer exists once the compiled lines run)
STEPS = {
    "Adam": (adam_mod.adam_step, 3, ("lr", "step"), OPTIONS, torch.zeros_like),
    "AdamW": (adam_mod.adamw_step, 3, ("lr", "step"), OPTIONS, torch.zeros_like),
    "SGD": (sgd_mod.sgd_step, 1, ("lr",), SGD_OPTIONS,
            lambda p: torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator().manual_seed(3))),
    "RMSprop": (rmsprop_mod.rmsprop_step, 3, ("lr",), RMSPROP_OPTIONS, torch.zeros_like),
    "Adagrad": (adagrad_mod.adagrad_step, 1, ("lr", "step"), ADAGRAD_OPTIONS, lambda p: torch.full_like(p, 0.1)),
}
STEP_CASES = [(name, kw) for name, (_, _, _, options, _) in STEPS.items() for kw in options]


@pytest.mark.parametrize("name, kw", STEP_CASES, ids=lambda v: v if isinstance(v, str) else str(v))
def test_the_bare_step_runs_alike_on_numbers_and_on_0d_tensors(name, kw):
    """What ``fused=True`` compiles is the twin's own bare step, with ``lr`` (and the step
    number) as 0-d tensors so that a new value does not recompile: on tensors it must give
    the numbers it gives on Python floats, over several steps and every option."""
    step_fn, n_state, scalar_names, _, state_init = STEPS[name]
    bare = step_fn.__wrapped__
    ref = _params()
    ours = [p.detach().clone() for p in ref]
    state = [[state_init(p) for _ in range(n_state)] for p in ref]
    state2 = [[x.clone() for x in st] for st in state]
    gen = torch.Generator().manual_seed(2)
    for t in range(1, 6):
        numbers = {"lr": 0.05, "step": t}
        for p, q, st, st2 in zip(ref, ours, state, state2):
            g = torch.randn(p.shape, dtype=p.dtype, generator=gen)
            with torch.no_grad():
                bare(p, g, *st, **{k: numbers[k] for k in scalar_names}, **kw)
                bare(q, g, *st2, **{k: torch.tensor(numbers[k], dtype=torch.float64) for k in scalar_names}, **kw)
    _assert_same(ours, [p.detach() for p in ref])


def test_fused_compiles_the_bare_step_itself(monkeypatch):
    """No second copy of the math: the function handed to torch.compile is ``adam_step.__wrapped__``."""
    seen = []
    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(fused_mod, "compiled", lambda math: seen.append(math) or (lambda *a: None))
    for cls in (TO.Adam, TO.AdamW, TO.SGD, TO.RMSprop, TO.Adagrad):
        params = _params()
        opt = cls(params, lr=0.05, fused=True, **({"momentum": 0.9} if cls is TO.SGD else {}))
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
        opt.step()  # SGD's first step makes its momentum buffers on the plain path
    assert set(seen) == {m.__wrapped__ for m in (adam_mod.adam_step, adam_mod.adamw_step, sgd_mod.sgd_step,
                                                  rmsprop_mod.rmsprop_step, adagrad_mod.adagrad_step)}


NEW = [TO.SGD, TO.RMSprop, TO.Adagrad]
#: One combined option set per optimizer for the compiled runs (each compile costs 10-20 s here).
COMPILED_OPTIONS = {TO.SGD: dict(momentum=0.9, weight_decay=0.1, nesterov=True, maximize=True),
                    TO.RMSprop: dict(momentum=0.9, weight_decay=0.1, centered=True, maximize=True),
                    TO.Adagrad: dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1, maximize=True)}


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.__name__)
def test_new_fused_compiled_on_cpu_matches_plain_twin_and_builtin(cls):
    """Compiled on the CPU: the plain twin's numbers and torch's; ``fused`` switched
    off and on between steps, across a state_dict round trip, changes nothing."""
    reason = fused_mod.compile_unavailable(torch.device("cpu"))
    if reason:
        pytest.skip(reason)
    kw = COMPILED_OPTIONS[cls]
    fused, opt = _train(cls, fused=True, **kw)
    assert opt.fused_fallback == {"cpu": None}
    plain, _ = _train(cls, **kw)
    builtin, _ = _train(getattr(torch.optim, cls.__name__), **kw)
    _assert_same(fused, plain)
    _assert_same(fused, builtin)

    # fused for 3 steps, then a fresh plain optimizer from its state_dict, then fused again
    params = _params()
    gen = torch.Generator().manual_seed(1)
    opt = cls(params, lr=0.05, fused=True, **kw)
    for t in range(8):
        for p in params:
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen)
        if t == 3:
            saved = opt.state_dict()
            opt = cls(params, lr=0.05, fused=False, **kw)
            opt.load_state_dict(saved)
            assert opt.param_groups[0]["fused"] is True  # the saved group's flag comes back
            opt.param_groups[0]["fused"] = False
        if t == 4:
            for g in opt.param_groups:
                g["lr"] = 0.02
        if t == 6:
            opt.param_groups[0]["fused"] = True
        opt.step()
    assert opt.fused_fallback == {"cpu": None}
    _assert_same(params, plain)


def _plain_reference(cls, kw):
    return _train(cls, **kw)[0]


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.__name__)
def test_new_fused_fall_back_without_a_toolchain(cls, monkeypatch):
    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: "no C++ compiler (test)")

    def no_compile(*a, **k):
        raise AssertionError("the compiled kernel must not be called")

    monkeypatch.setattr(fused_mod, "compiled", no_compile)
    kw = COMPILED_OPTIONS[cls]
    fused, opt = _train(cls, fused=True, **kw)
    assert opt.fused_fallback == {"cpu": "no C++ compiler (test)"}
    _assert_same(fused, _plain_reference(cls, kw), exact=True)


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.__name__)
def test_new_fused_fall_back_when_compiling_fails(cls, monkeypatch):
    calls = []

    def broken(*a, **k):
        calls.append(1)
        raise RuntimeError("inductor exploded (test)")

    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(fused_mod, "compiled", lambda math: broken)
    kw = COMPILED_OPTIONS[cls]
    fused, opt = _train(cls, fused=True, **kw)
    assert "inductor exploded" in opt.fused_fallback["cpu"]
    assert len(calls) == 1  # a failed compile is not tried again at every step
    _assert_same(fused, _plain_reference(cls, kw), exact=True)


@pytest.mark.parametrize("cls", [TO.Adam, *NEW], ids=lambda c: c.__name__)
@pytest.mark.parametrize("per_tensor_max", [64, 2], ids=["per-tensor", "flat"])
def test_a_group_of_mixed_dtypes_keeps_the_plain_twin_and_says_why(cls, per_tensor_max, monkeypatch):
    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(fused_mod, "FUSED_PER_TENSOR_MAX", per_tensor_max)

    def no_compile(*a, **k):
        raise AssertionError("this group must not be compiled")

    monkeypatch.setattr(fused_mod, "compiled", no_compile)
    kw = COMPILED_OPTIONS.get(cls, {})
    mixed = _params()
    mixed[1] = mixed[1].detach().float().requires_grad_(True)
    fused, opt = _train(cls, fused=True, params=mixed, **kw)
    assert "differ in device or dtype" in opt.fused_fallback["cpu"]
    mixed2 = _params()
    mixed2[1] = mixed2[1].detach().float().requires_grad_(True)
    plain, _ = _train(cls, params=mixed2, **kw)
    _assert_same(fused, plain, exact=True)


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.__name__)
def test_new_fused_flag_is_checked(cls):
    with pytest.raises(TypeError, match=f"'fused' parameter of {cls.__name__} must be a bool. Got 'yes'"):
        cls(_params(), fused="yes")
    opt = cls(_params(), fused=None)  # torch's default spelling
    with pytest.raises(TypeError, match=f"'fused' parameter of {cls.__name__} must be a bool"):
        opt.add_param_group({"params": [torch.zeros(2, dtype=torch.float64, requires_grad=True)], "fused": 1})


# ------------------------------------------------------------ the flat layout (groups over FUSED_PER_TENSOR_MAX)

#: Every option set of every fused twin (SGD's first step makes its buffers on the plain path).
ALL_CASES = ([(TO.Adam, kw) for kw in OPTIONS] + [(TO.AdamW, kw) for kw in OPTIONS]
             + [(TO.SGD, kw) for kw in SGD_OPTIONS] + [(TO.RMSprop, kw) for kw in RMSPROP_OPTIONS]
             + [(TO.Adagrad, {**kw, "initial_accumulator_value": 0.1}) for kw in ADAGRAD_OPTIONS])
STATE_KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "grad_avg", "sum")


@pytest.fixture
def flat_eager(monkeypatch):
    """Groups of more than 2 tensors take the flat layout, and the group step runs eagerly
    (the layout's bookkeeping, without a compile per case): the calls it got are recorded."""
    calls = []

    def eager(math):
        step = fused_mod._over_group(math)
        return lambda tensor_lists, *args: calls.append([len(ts) for ts in tensor_lists]) or step(tensor_lists, *args)

    monkeypatch.setattr(fused_mod, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(fused_mod, "FUSED_PER_TENSOR_MAX", 2)  # _params gives 3 tensors
    monkeypatch.setattr(fused_mod, "compiled", eager)
    return calls


def _flat_buffers(opt):
    """The buffer behind each state key of ``opt``'s one group, asserting every state tensor is a view of it."""
    params = opt.param_groups[0]["params"]
    buffers = {}
    for key in STATE_KEYS:
        tensors = [opt.state[p].get(key) for p in params]
        if tensors[0] is None:
            continue
        buffer = tensors[0]._base
        assert buffer is not None and buffer.numel() == sum(p.numel() for p in params), key
        assert all(t._base is buffer for t in tensors), key
        buffers[key] = buffer
    return buffers


@pytest.mark.parametrize("cls, kw", ALL_CASES, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_the_flat_layout_runs_the_bare_step_once_over_the_whole_group(cls, kw, flat_eager):
    fused, opt = _train(cls, fused=True, **kw)
    assert opt.fused_fallback == {"cpu": None}
    first_fused = 1 if cls is TO.SGD and kw.get("momentum") else 0  # SGD's buffers are made plainly
    assert flat_eager and flat_eager == [[1] * len(flat_eager[0])] * (8 - first_fused)  # one flat tensor each
    stateless = cls is TO.SGD and not kw.get("momentum")  # plain SGD keeps no state, as torch's
    assert bool(_flat_buffers(opt)) is not stateless  # the state lives in flat buffers, one per key
    _assert_same(fused, _plain_reference(cls, kw))
    builtin, _ = _train(getattr(torch.optim, cls.__name__), **kw)
    _assert_same(fused, builtin)


def _fused_against_plain(cls, kw, steps, between, shapes=((5, 3), (7,), (2, 2, 2))):
    """Train ``cls`` fused and plain, ``between(t, params, opt, fused)`` running before step ``t``
    (it may return a new optimizer); both must give the same numbers: (fused optimizer, its params)."""
    def train(fused):
        params = _params(shapes=shapes)
        opt = cls(params, lr=0.05, fused=fused, **kw)
        gen = torch.Generator().manual_seed(1)
        for t in range(steps):
            for p in params:
                p.grad = torch.randn(p.shape, dtype=p.dtype, generator=gen)
            opt = between(t, params, opt, fused) or opt
            opt.step()
        return params, opt

    fused, opt = train(True)
    plain, _ = train(False)
    _assert_same(fused, plain)
    assert opt.fused_fallback == {"cpu": None}
    return opt, fused


@pytest.mark.parametrize("cls", [TO.Adam, *NEW], ids=lambda c: c.__name__)
def test_the_flat_layout_follows_what_happens_to_the_group_between_steps(cls, flat_eager):
    """A parameter changed by hand, an older state loaded, a state_dict handed to a new
    optimizer, fused switched off and on: the plain twin's numbers, and the state back in
    one flat buffer per key."""
    kw = COMPILED_OPTIONS.get(cls, dict(amsgrad=True, weight_decay=0.1))
    saved = {}

    def between(t, params, opt, fused):
        if t == 2:
            with torch.no_grad():
                params[0].mul_(0.5)  # the flat copy of the parameters must not be stale
        if t == 3:
            saved["old"] = copy.deepcopy(opt.state_dict())
        if t == 5:
            opt.load_state_dict(saved["old"])  # back two steps, in new tensors: laid flat again at the next step
        if t == 6:
            new = cls(params, lr=0.05, fused=fused, **kw)
            new.load_state_dict(opt.state_dict())  # a new optimizer, the same state tensors
            return new
        if t in (7, 8) and fused:
            opt.param_groups[0]["fused"] = t == 8
        return opt

    opt, _ = _fused_against_plain(cls, kw, 10, between)
    assert _flat_buffers(opt)
    assert len(opt._flat_groups) == 1  # the layouts of older steps are not kept


@pytest.mark.parametrize("cls", [TO.Adam, *NEW], ids=lambda c: c.__name__)
def test_a_parameter_that_misses_a_step_keeps_the_group_fused(cls, flat_eager):
    """A step where one parameter has no gradient leaves its step count one behind for good
    (Adam, Adagrad): the group is then stepped as two, each with its own count, each compiled."""
    kw = COMPILED_OPTIONS.get(cls, dict(amsgrad=True, weight_decay=0.1))

    def between(t, params, opt, fused):
        if t == 2:
            params[1].grad = None

    opt, params = _fused_against_plain(cls, kw, 6, between, shapes=((5, 3), (7,), (2, 2, 2), (4,), (3, 3)))
    counted = cls in (TO.Adam, TO.Adagrad)
    # tensors each call got after the miss: 4 flat then 1 on its own where the step is counted, else 5 flat
    after = flat_eager[3 - (cls is TO.SGD):]  # SGD's first step makes its buffers on the plain path
    assert after == ([[1] * len(after[0]), [1] * len(after[1])] * 3 if counted else [[1] * len(after[0])] * 3)
    if counted:
        assert {int(opt.state[p]["step"]) for p in params} == {5, 6}


def test_a_flat_step_leaves_the_parameters_where_they_are(flat_eager):
    """The parameters are the user's tensors, updated in place: same objects, same storage, same layout."""
    params = _params()
    params[0] = params[0].detach().t().requires_grad_(True)  # a non-contiguous parameter
    storages = [p.untyped_storage().data_ptr() for p in params]
    strides = [p.stride() for p in params]
    before = [p.detach().clone() for p in params]
    _, opt = _train(TO.Adam, params=params, fused=True)
    assert [p.untyped_storage().data_ptr() for p in params] == storages
    assert [p.stride() for p in params] == strides
    assert all(not torch.equal(a, b) for a, b in zip(params, before))
    plain, _ = _train(TO.Adam, params=[p.clone().requires_grad_(True) for p in before])
    _assert_same(params, plain)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [TO.Adam, TO.AdamW, *NEW], ids=lambda c: c.__name__)
def test_the_flat_layout_compiled_on_cpu_matches_plain_twin_and_builtin(cls, monkeypatch):
    reason = fused_mod.compile_unavailable(torch.device("cpu"))
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(fused_mod, "FUSED_PER_TENSOR_MAX", 2)  # _params gives 3 tensors
    kw = COMPILED_OPTIONS.get(cls, OPTIONS[-1])
    fused, opt = _train(cls, fused=True, **kw)
    assert opt.fused_fallback == {"cpu": None}
    assert _flat_buffers(opt)
    _assert_same(fused, _plain_reference(cls, kw))
    builtin, _ = _train(getattr(torch.optim, cls.__name__), **kw)
    _assert_same(fused, builtin)


# ------------------------------------------------------------ CUDA (issue 18's GPU part)

CUDA_CASES = ([(TO.Adam, kw) for kw in OPTIONS] + [(TO.AdamW, kw) for kw in OPTIONS]
              + [(TO.SGD, kw) for kw in SGD_OPTIONS] + [(TO.RMSprop, kw) for kw in RMSPROP_OPTIONS]
              + [(TO.Adagrad, {**kw, "initial_accumulator_value": 0.1}) for kw in ADAGRAD_OPTIONS])
#: Shapes that leave a ragged tail for a GPU kernel's blocks.
CUDA_SHAPES = ((257, 129), (1000,), (3, 4, 5))


def _float32_parity(cls, kw, device, steps=30):
    """``fused=True``, the plain twin and torch's built-in, float32 on ``device``: (fused, plain, builtin, opt)."""
    def start():
        return [p.detach().to(device, torch.float32).requires_grad_(True) for p in _params(shapes=CUDA_SHAPES)]

    fused, opt = _train(cls, steps, params=start(), fused=True, **kw)
    plain, _ = _train(cls, steps, params=start(), **kw)
    builtin, _ = _train(getattr(torch.optim, cls.__name__), steps, params=start(), **kw)
    return fused, plain, builtin, opt


def _assert_fused_on_cuda_matches_plain_twin_and_builtin(cls, kw):
    reason = fused_mod.compile_unavailable(torch.device("cuda"))
    if reason:
        pytest.skip(reason)
    # every option is a graph of its own: more than dynamo's default 8 for one function
    with torch._dynamo.config.patch(recompile_limit=64):
        fused, plain, builtin, opt = _float32_parity(cls, kw, "cuda")
    assert opt.fused_fallback == {"cuda": None}
    for a, b, c in zip(fused, plain, builtin):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)
    return opt


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("cls, kw", CUDA_CASES, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_fused_float32_on_cuda_matches_plain_twin_and_builtin(cls, kw):
    _assert_fused_on_cuda_matches_plain_twin_and_builtin(cls, kw)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("cls", [TO.Adam, TO.AdamW, *NEW], ids=lambda c: c.__name__)
def test_the_flat_layout_float32_on_cuda_matches_plain_twin_and_builtin(cls, monkeypatch):
    monkeypatch.setattr(fused_mod, "FUSED_PER_TENSOR_MAX", 2)  # CUDA_SHAPES are 3 tensors
    opt = _assert_fused_on_cuda_matches_plain_twin_and_builtin(cls, COMPILED_OPTIONS.get(cls, OPTIONS[-1]))
    assert _flat_buffers(opt)


# ------------------------------------------------------------ the foreach path (fused off)

@pytest.mark.parametrize("cls, kw", [(TO.RMSprop, kw) for kw in RMSPROP_OPTIONS]
                         + [(TO.Adagrad, {**kw, "initial_accumulator_value": 0.1}) for kw in ADAGRAD_OPTIONS],
                         ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_foreach_path_matches_per_tensor_path_and_builtin(cls, kw):
    """What a uniform group runs with fused off: the _foreach_* path, the per-tensor twin's numbers and torch's."""
    def per_tensor(params, **kw):
        opt = cls(params, **kw)
        opt.param_groups[0]["foreach"] = False
        return opt

    group, opt = _train(cls, **kw)
    assert opt.param_groups[0]["foreach"] is True
    plain, _ = _train(per_tensor, **kw)
    builtin, _ = _train(lambda ps, **k: getattr(torch.optim, cls.__name__)(ps, foreach=True, **k), **kw)
    _assert_same(group, plain)
    _assert_same(group, builtin)


@pytest.mark.parametrize("cls", [TO.RMSprop, TO.Adagrad], ids=lambda c: c.__name__)
def test_foreach_path_is_the_one_taken(cls, monkeypatch):
    """A uniform group goes through the _foreach kernels, a mixed one tensor by tensor."""
    module = {TO.RMSprop: rmsprop_mod, TO.Adagrad: adagrad_mod}[cls]
    name = f"_{cls.__name__.lower()}_foreach"
    calls, foreach = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or foreach(*a, **k))
    _train(cls, steps=3)
    assert len(calls) == 3
    mixed = _params()
    mixed[1] = mixed[1].detach().float().requires_grad_(True)
    _train(cls, steps=3, params=mixed)
    assert len(calls) == 3
