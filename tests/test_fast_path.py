"""The layers' fast path (tipslib._compile.FastPath): when it runs, what it falls back to, and that
the compiled twin math gives the eager twin's numbers.

On a GPU machine BatchNorm and Dropout run their compiled math by default (batch norm's
is a pair of its own, which recomputes xhat in the backward). Here the choice is tested
with fakes, and the compiled math itself on the CPU, by adding "cpu" to
FAST_PATH_DEVICES (where torch.compile has a C++ compiler).
"""

import pytest
import torch

import tipslib._compile as fast
from tipslib._compile import FastPath
from tipslib.layers import torch_impl as TL
from tipslib.layers._torch import batchnorm as batchnorm_module
from tipslib.layers._torch import dropout as dropout_module


def _double(x):
    return 2 * x


def _randn(shape, seed):
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(autouse=True)
def fresh_fast_paths(monkeypatch):
    """The layers' fast paths start each test uncompiled: a copy compiled (or faked) by one test
    is not run by the next."""
    for path in (batchnorm_module.fast_forward, batchnorm_module.fast_backward, dropout_module.fast_forward,
                 dropout_module.fast_backward, dropout_module.fast_draw_and_drop):
        for name in ("_compiled", "_blocked", "fallback"):
            monkeypatch.setattr(path, name, None if name == "_compiled" else {})


@pytest.fixture
def on_cpu(monkeypatch):
    """The CPU counts as a fast-path device (torch.compile builds C++ kernels for it)."""
    monkeypatch.setattr(fast, "FAST_PATH_DEVICES", frozenset({"cpu", "cuda"}))


@pytest.fixture
def fake_compile(monkeypatch, on_cpu):
    """torch.compile that records what it compiled, and returns a copy that counts its runs in
    ``compiled.runs`` (no C++ needed)."""

    class Compiled(list):
        runs = 0

    compiled = Compiled()

    def compile_(fn, **kw):
        compiled.append(fn)

        def run(*args, **kwargs):
            compiled.runs += 1
            return fn(*args, **kwargs)
        return run

    monkeypatch.setattr(fast, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(torch, "compile", compile_)
    return compiled


def test_off_a_fast_path_device_the_bare_math_runs_and_nothing_compiles(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: pytest.fail("compiled on the CPU"))
    path = FastPath(_double)
    assert torch.equal(path(torch.ones(3)), torch.full((3,), 2.0))
    assert path.fallback == {}


def test_on_a_fast_path_device_it_compiles_once(fake_compile):
    path = FastPath(_double)
    for _ in range(3):
        assert torch.equal(path(torch.ones(3)), torch.full((3,), 2.0))
    assert fake_compile == [_double] and fake_compile.runs == 3 and path.fallback == {"cpu": None}


def test_without_a_toolchain_it_says_why_and_runs_the_bare_math(monkeypatch, on_cpu):
    monkeypatch.setattr(fast, "compile_unavailable", lambda device: "no C++ compiler (test)")
    path = FastPath(_double)
    assert torch.equal(path(torch.ones(2)), torch.full((2,), 2.0))
    assert path.fallback == {"cpu": "no C++ compiler (test)"}


def test_a_failed_compile_is_reported_once_and_not_retried(monkeypatch, fake_compile):
    calls = []

    def exploding(fn, **kw):
        def run(*args, **kwargs):
            calls.append(args)
            raise RuntimeError("inductor exploded")
        return run

    monkeypatch.setattr(torch, "compile", exploding)
    path = FastPath(_double)
    for _ in range(2):
        assert torch.equal(path(torch.ones(2)), torch.full((2,), 2.0))
    assert len(calls) == 1 and "inductor exploded" in path.fallback["cpu"]


def test_what_autograd_records_stays_bare_so_it_can_be_differentiated(fake_compile):
    path = FastPath(_double)
    x = torch.ones(2, requires_grad=True)
    assert path(x).requires_grad and "create_graph" in path.fallback["cpu"]
    assert fake_compile.runs == 0
    with torch.no_grad():
        path(x)
    assert fake_compile.runs == 1 and path.fallback == {"cpu": None}


def test_a_cache_holding_a_tensor_that_requires_grad_counts_as_recorded(fake_compile):
    path = FastPath(lambda dout, cache: dout * cache[0])
    dout, saved = torch.ones(2), torch.ones(2, requires_grad=True)
    path(dout, (saved, 0.5))
    assert "create_graph" in path.fallback["cpu"] and fake_compile.runs == 0
    path(dout, (saved.detach(), 0.5))
    assert path.fallback["cpu"] is None and fake_compile.runs == 1


# ------------------------------------------------------------------ batch norm's fused pair

BATCHNORM_CASES = [  # (input shape, affine parts, running statistics, training)
    (shape, parts, stats, training)
    for shape in [(16, 5), (4, 5, 3, 3)]
    for parts in ["both", "gamma", "beta", "none"]
    for stats, training in [(True, True), (False, True), (True, False)]
]


def _affine(parts, c):
    gamma = _randn((c,), 2) + 1.5 if parts in ("both", "gamma") else None
    beta = _randn((c,), 3) if parts in ("both", "beta") else None
    return gamma, beta


@pytest.mark.parametrize("shape,parts,stats,training", BATCHNORM_CASES, ids=str)
def test_the_fused_pair_gives_the_plain_twins_numbers(shape, parts, stats, training):
    """The fast path's forward and backward (xhat recomputed from x), bare: the plain twin's numbers in float64,
    and the running statistics updated alike."""
    c = shape[1]
    x, dout = _randn(shape, 0) * 3 + 2, _randn(shape, 1)
    gamma, beta = _affine(parts, c)
    results = []
    for forward, backward in [(batchnorm_module._fused_forward, batchnorm_module._fused_backward),
                              (TL.batchnorm_forward, TL.batchnorm_backward)]:
        running = (_randn((c,), 4), _randn((c,), 5).abs() + 0.5) if stats else (None, None)
        out, cache = forward(x, gamma, beta, *running, training=training, momentum=0.3, eps=1e-4)
        results.append([out, *backward(dout, cache), *(r for r in running if r is not None)])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("parts", ["both", "gamma", "beta", "none"])
@pytest.mark.parametrize("training", [True, False])
def test_the_fused_pair_passes_gradcheck_through_batchnorm_function(parts, training, fake_compile):
    """BatchNormFunction on the fast path (compile faked: the fused pair's bare math) against numerical gradients."""
    c = 3
    x = _randn((6, c, 2), 0).requires_grad_(True)
    gamma, beta = _affine(parts, c)
    inputs = [x] + [t.requires_grad_(True) for t in (gamma, beta) if t is not None]
    running = (_randn((c,), 4), _randn((c,), 5).abs() + 0.5)

    def apply(x, *affine):
        it = iter(affine)
        g = next(it) if gamma is not None else None
        b = next(it) if beta is not None else None
        # fresh copies: each evaluation starts from the same running statistics
        return batchnorm_module.BatchNormFunction.apply(x, g, b, running[0].clone(), running[1].clone(),
                                                        training, 0.1, 1e-5)

    assert torch.autograd.gradcheck(apply, inputs)
    assert fake_compile.runs > 0 and batchnorm_module.fast_backward.fallback["cpu"] is None


def test_batchnorm_function_runs_the_backward_of_the_pair_its_forward_ran(fake_compile, monkeypatch):
    """Fast-path forward, fast-path backward; plain forward, plain backward: a cache fits only its own."""
    layer = TL.BatchNorm1d(4, dtype=torch.float64)
    x = _randn((8, 4), 0).requires_grad_(True)
    layer(x).sum().backward()
    assert [f.__name__ for f in fake_compile] == ["_fused_forward", "_fused_backward"] and fake_compile.runs == 2
    monkeypatch.setattr(fast, "FAST_PATH_DEVICES", frozenset())
    layer(x).sum().backward()  # plain cache (xhat): the plain backward, not the compiled one
    assert fake_compile.runs == 2


@pytest.mark.slow
@pytest.mark.parametrize("cls,shape", [(TL.BatchNorm1d, (16, 5)), (TL.BatchNorm2d, (4, 5, 3, 3))])
def test_compiled_batchnorm_gives_the_plain_twin_numbers(cls, shape, on_cpu, monkeypatch):
    reason = fast.compile_unavailable(torch.device("cpu"))
    assert reason is None, reason  # the CI machine has a C++ compiler
    x = _randn(shape, 0)
    dout = _randn(shape, 1)
    results = []
    for devices in (frozenset({"cpu"}), frozenset()):  # compiled, then eager
        monkeypatch.setattr(fast, "FAST_PATH_DEVICES", devices)
        module = cls(5, dtype=torch.float64)
        out = []
        for training in (True, True, False):
            module.train(training)
            xi = x.clone().requires_grad_(True)
            y = module(xi)
            y.backward(dout)
            out += [y, xi.grad, module.weight.grad.clone(), module.bias.grad.clone()]
        results.append(out + [module.running_mean, module.running_var, module.num_batches_tracked])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)
    assert batchnorm_module.fast_forward.fallback["cpu"] is None
    assert batchnorm_module.fast_backward.fallback["cpu"] is None


def test_dropout_draws_and_drops_in_one_fast_call_by_hand_as_through_autograd(fake_compile):
    """On a fast-path device a Dropout without a generator makes one call for the draw and
    the drop, and hands its output to DropoutFunction: through autograd and run by hand
    (as fit does), the output is x dropped by the layer's mask and the gradient mask / (1 - p)."""
    from tipslib._autograd import Tape
    from tipslib.losses import torch_impl as LT
    p, x = 0.4, _randn((50, 6), 0)
    for by_hand in (False, True):
        layer, linear = TL.Dropout(p), TL.Linear(6, 6, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.eye(6))
            linear.bias.zero_()
        runs = fake_compile.runs
        if by_hand:
            tape = Tape()
            with torch.no_grad():
                out = tape.run(layer, tape.run(linear, x))
                loss = tape.run(LT.MSELoss(reduction="sum"), out, torch.zeros_like(out))
            tape.backward(loss)
        else:
            out = layer(linear(x))
            LT.MSELoss(reduction="sum")(out, torch.zeros_like(out)).backward()
        assert fake_compile.runs == runs + 2  # the draw-and-drop, then the backward
        mask = layer.mask
        assert mask.dtype == torch.bool and 0 < mask.sum() < mask.numel()
        want, _ = TL.dropout_forward(x, p, mask=mask)
        torch.testing.assert_close(out, want, rtol=0, atol=0)
        # d(sum out^2)/dW = (2 out * mask / (1 - p))^T x, through the identity Linear
        torch.testing.assert_close(linear.weight.grad, (2 * want * mask / (1 - p)).T @ x, rtol=1e-13, atol=1e-13)
    assert dropout_module._draw_and_drop in fake_compile


@pytest.mark.slow
def test_compiled_dropout_draws_a_fair_mask_and_scales_by_it(on_cpu):
    p = 0.3
    x = _randn((400, 50), 0).requires_grad_(True)
    layer = TL.Dropout(p)
    out = layer(x)
    out.backward(torch.ones_like(out))
    mask = layer.mask
    assert dropout_module.fast_draw_and_drop.fallback["cpu"] is None
    assert dropout_module.fast_backward.fallback["cpu"] is None
    n = mask.numel()
    keep = mask.double().mean().item()
    assert abs(keep - (1 - p)) < 4 * ((p * (1 - p)) / n) ** 0.5  # four standard errors
    want, _ = TL.dropout_forward(x.detach(), p, mask=mask)
    torch.testing.assert_close(out, want, rtol=1e-15, atol=0)
    torch.testing.assert_close(x.grad, mask.double() / (1 - p), rtol=1e-15, atol=0)


@pytest.mark.slow
def test_a_new_batch_size_keeps_the_layers_compiled(on_cpu):
    """The last batch of an epoch is usually smaller: the compiled math takes the new shape (dynamo
    makes it dynamic) instead of failing and leaving the layer on its bare math for good."""
    model = TL.Sequential(TL.BatchNorm1d(6, dtype=torch.float64), TL.Dropout(0.4))
    for batch in (32, 32, 20, 7):
        x = _randn((batch, 6), batch).requires_grad_(True)
        model(x).sum().backward()
        paths = (batchnorm_module.fast_forward, batchnorm_module.fast_backward, dropout_module.fast_draw_and_drop,
                 dropout_module.fast_backward)
        assert [path.fallback["cpu"] for path in paths] == [None] * len(paths), batch


@pytest.mark.slow
def test_dropout_with_a_generator_draws_eagerly_the_same_mask(on_cpu):
    x = _randn((20, 10), 0)
    masks = []
    for _ in range(2):
        layer = TL.Dropout(0.5, generator=torch.Generator().manual_seed(7))
        layer(x)
        masks.append(layer.mask)
    assert torch.equal(*masks)  # a seeded generator decides the mask, compiled path or not


@pytest.mark.slow
def test_an_outer_compile_traces_the_bare_math_without_graph_breaks(on_cpu):
    model = TL.Sequential(TL.Linear(8, 16, dtype=torch.float64), TL.BatchNorm1d(16, dtype=torch.float64),
                          TL.ReLU(), TL.Dropout(0.5))
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(_randn((32, 8), 0))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def _train_steps(module, x, dout, steps=5):
    """Forward and backward ``steps`` times in training mode, then once in eval mode."""
    out = []
    for t in range(steps + 1):
        module.train(t < steps)
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.backward(dout)
        out += [y, xi.grad] + [p.grad.clone() for p in module.parameters()]
        module.zero_grad(set_to_none=True)
    return out + list(module.buffers())


@pytest.mark.cuda
@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (256, 64)), ("BatchNorm2d", (16, 8, 12, 12))])
def test_cuda_fast_path_batchnorm_matches_the_plain_twin_and_the_built_in(kind, shape, monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    gen = torch.Generator("cuda").manual_seed(0)
    x = torch.randn(shape, device="cuda", generator=gen)
    dout = torch.randn(shape, device="cuda", generator=gen)
    twin_cls, builtin_cls = getattr(TL, kind), getattr(torch.nn, kind)
    fast_run = _train_steps(twin_cls(shape[1], device="cuda"), x, dout)
    assert batchnorm_module.fast_forward.fallback["cuda"] is None
    assert batchnorm_module.fast_backward.fallback["cuda"] is None
    monkeypatch.setattr(fast, "FAST_PATH_DEVICES", frozenset())
    plain_run = _train_steps(twin_cls(shape[1], device="cuda"), x, dout)
    builtin_run = _train_steps(builtin_cls(shape[1], device="cuda"), x, dout)
    for fast_t, plain_t, builtin_t in zip(fast_run, plain_run, builtin_run):
        torch.testing.assert_close(fast_t, plain_t, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast_t, builtin_t, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
def test_cuda_fast_path_dropout_scales_by_its_mask():
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    p, x = 0.5, torch.randn(1000, 1000, device="cuda")
    layer = TL.Dropout(p)
    xi = x.clone().requires_grad_(True)
    out = layer(xi)
    out.backward(torch.ones_like(out))
    mask = layer.mask
    assert dropout_module.fast_draw_and_drop.fallback["cuda"] is None
    assert abs(mask.float().mean().item() - (1 - p)) < 4 * (p * (1 - p) / mask.numel()) ** 0.5
    torch.testing.assert_close(out, x * mask / (1 - p), rtol=1e-6, atol=0)
    torch.testing.assert_close(xi.grad, mask.float() / (1 - p), rtol=1e-6, atol=0)
