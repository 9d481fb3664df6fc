"""Optimizers: the NumPy references and torch twins against ``torch.optim``.

Every case of ``CASES`` runs 120 steps on three arrays of different shapes,
with gradients of a real loss (a quadratic bowl plus a step-dependent tilt),
in float64, three ways: NumPy twin, torch twin, torch built-in. The arrays
(and the readable state) must agree to a relative 1e-10.
"""

import copy

import numpy as np
import pytest
import torch

from helpers import assert_close, assert_refused
from tipslib.optim import numpy_impl as npo
from tipslib.optim import torch_impl as tho

SHAPES = [(5, 3), (7,), (2, 3, 4)]
STEPS = 120

# (twin name, kwargs): each option alone, then in combination, like torch's OptimizerInfo.
CASES = [
    ("SGD", {}),
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("SGD", {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True, "maximize": True}),
    ("Momentum", {}),
    ("Momentum", {"lr": 0.1}),
    ("Momentum", {"lr": 0.1, "momentum": 0.5}),
    ("Momentum", {"lr": 0.1, "momentum": 0.0}),
    ("Momentum", {"lr": 0.1, "weight_decay": 0.1}),
    ("Momentum", {"lr": 0.1, "momentum": 0.95, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.02}),
    ("Adam", {"lr": 0.02, "betas": (0.5, 0.9)}),
    ("Adam", {"lr": 0.02, "eps": 1e-3}),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02, "amsgrad": True}),
    ("Adam", {"lr": 0.02, "maximize": True}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05, "amsgrad": True, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.02}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.0}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.02, "amsgrad": True}),
    ("AdamW", {"lr": 0.02, "maximize": True}),
    ("AdamW", {"lr": 0.02, "betas": (0.7, 0.99), "eps": 1e-5, "weight_decay": 0.2, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.005, "eps": 1e-3}),
    ("RMSprop", {"lr": 0.005, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.005, "centered": True}),
    ("RMSprop", {"lr": 0.005, "maximize": True}),
    ("RMSprop", {"lr": 0.003, "alpha": 0.95, "eps": 1e-6, "weight_decay": 0.05, "momentum": 0.5, "centered": True,
                 "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-4}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
    ("Adagrad", {"lr": 0.2, "lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-6,
                 "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5}),
    ("Adadelta", {"rho": 1.0}),
    ("Adadelta", {"eps": 1e-3}),
    ("Adadelta", {"weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adadelta", {"lr": 2.0, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.05, "maximize": True}),
]


def _builtin(name, params, kwargs, **extra):
    """The ``torch.optim`` optimizer a twin must match."""
    if name == "Momentum":
        # v = b v + (1 - b) g, w -= lr v   is   buf = b buf + g, w -= lr (1 - b) buf
        kw = dict(kwargs)
        beta = kw.pop("momentum", 0.9)
        lr = kw.pop("lr", 1e-3)
        return torch.optim.SGD(params, lr=lr * (1 - beta), momentum=beta, **kw, **extra)
    return getattr(torch.optim, name)(params, **kwargs, **extra)


def _start(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _grad(p, k, i):
    """Gradient of a quadratic bowl (curvature differs per array) tilted by a step-dependent term.
    It depends on the current weights, so a wrong update also changes later gradients."""
    tilt = np.cos(0.3 * k + np.linspace(0.0, 3.0, int(np.prod(p.shape))) + i).reshape(tuple(p.shape))
    if isinstance(p, torch.Tensor):
        return (0.5 + 0.25 * i) * p + torch.as_tensor(tilt, dtype=p.dtype, device=p.device)
    return (0.5 + 0.25 * i) * p + tilt


def run_numpy(name, kwargs, steps=STEPS, start=None):
    params = [a.copy() for a in (start or _start())]
    opt = getattr(npo, name)(params, **kwargs)
    for k in range(steps):
        opt.step([_grad(p, k, i) for i, p in enumerate(params)])
    return params, opt


def run_torch(make, device="cpu", steps=STEPS, start=None, k0=0, params=None, opt=None):
    if params is None:
        params = [torch.tensor(a, device=device, requires_grad=True) for a in (start or _start())]
        opt = make(params)
    for k in range(k0, k0 + steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            p.grad = _grad(p.detach(), k, i)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(map(str, kw)) or 'defaults'}" for n, kw in CASES])
def test_numpy_twin_matches_torch_builtin(name, kwargs):
    ours, opt = run_numpy(name, kwargs)
    ref, ref_opt = run_torch(lambda ps: _builtin(name, ps, kwargs))
    moved = max(np.abs(a - b).max() for a, b in zip(ours, _start()))
    assert moved > 1e-2, "the parameters barely moved: the test would not see a wrong update"
    for a, b in zip(ours, ref):
        assert_close(a, b, rtol=1e-10, atol=1e-12)
    if name == "Momentum":
        return
    # the readable state is torch's state, key for key
    for p, state in zip(ref, opt.state):
        ref_state = ref_opt.state[p]
        assert set(ref_state) == set(state), (set(ref_state), set(state))
        for key, value in ref_state.items():
            if key == "step":
                assert state["step"] == int(value)
            else:
                assert_close(state[key], value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(map(str, kw)) or 'defaults'}" for n, kw in CASES])
def test_torch_twin_matches_torch_builtin(name, kwargs, device):
    ref, _ = run_torch(lambda ps: _builtin(name, ps, kwargs), device=device)
    ours, _ = run_torch(lambda ps: getattr(tho, name)(ps, **kwargs), device=device)
    for a, b in zip(ours, ref):
        assert a.device.type == device.type
        assert_close(a, b, rtol=1e-10, atol=1e-12)


# The torch twins with a group-at-once path (torch._foreach_*): every option of each.
FOREACH = [(n, kw) for n, kw in CASES if n in ("SGD", "Momentum", "Adam", "AdamW")]


@pytest.mark.parametrize("name,kwargs", FOREACH, ids=[f"{n}-{'-'.join(map(str, kw)) or 'defaults'}" for n, kw in FOREACH])
def test_foreach_path_matches_per_tensor_path(name, kwargs, device):
    def per_tensor(ps):
        opt = getattr(tho, name)(ps, **kwargs)
        opt.param_groups[0]["foreach"] = False
        return opt
    a, opt = run_torch(lambda ps: getattr(tho, name)(ps, **kwargs), device=device)
    b, _ = run_torch(per_tensor, device=device)
    c, ref_opt = run_torch(lambda ps: _builtin(name, ps, kwargs, foreach=True), device=device)
    moved = max((x.detach().cpu().numpy() - s).__abs__().max() for x, s in zip(a, _start()))
    assert moved > 1e-2, "the parameters barely moved: the test would not see a wrong update"
    for x, y, z in zip(a, b, c):
        assert_close(x, y, rtol=1e-10, atol=1e-12)
        assert_close(x, z, rtol=1e-10, atol=1e-12)
    if name == "SGD":  # the buffers the foreach path keeps are torch's, tensor for tensor
        for p, q in zip(a, c):
            assert set(opt.state[p]) == set(ref_opt.state[q])
            if "momentum_buffer" in ref_opt.state[q]:
                assert_close(opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"],
                             rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Momentum"])
def test_foreach_path_is_the_one_taken(name, monkeypatch):
    """A uniform group goes through the _foreach kernels, a mixed one tensor by tensor."""
    import importlib

    module = importlib.import_module(f"tipslib.optim._torch.{name.lower()}")
    calls = []
    foreach = getattr(module, f"_{name.lower()}_foreach")
    monkeypatch.setattr(module, f"_{name.lower()}_foreach", lambda *a, **k: calls.append(1) or foreach(*a, **k))
    kwargs = {"lr": 0.1, "momentum": 0.9}
    run_torch(lambda ps: getattr(tho, name)(ps, **kwargs), steps=3)
    assert len(calls) == 3
    mixed = [torch.zeros(3, dtype=torch.float32, requires_grad=True), torch.zeros(2, dtype=torch.float64,
                                                                                 requires_grad=True)]
    opt = getattr(tho, name)(mixed, **kwargs)
    for p in mixed:
        p.grad = torch.ones_like(p)
    opt.step()
    assert len(calls) == 3


# the last case of each optimizer: every option on, so every state entry is exercised
ROUND_TRIP = list({n: (n, kw) for n, kw in CASES}.values())


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_torch_twin_state_dict_round_trip(name, kwargs, device):
    make = lambda ps: getattr(tho, name)(ps, **kwargs)  # noqa: E731
    params, opt = run_torch(make, device=device, steps=50)
    saved = copy.deepcopy(opt.state_dict())
    clones = [p.detach().clone().requires_grad_(True) for p in params]
    restored = make(clones)
    restored.load_state_dict(saved)
    run_torch(make, steps=50, k0=50, params=params, opt=opt)
    run_torch(make, steps=50, k0=50, params=clones, opt=restored)
    for a, b in zip(params, clones):
        assert torch.equal(a, b)


def test_state_dict_round_trip_is_not_vacuous():
    """Dropping the state mid-run changes the trajectory, so the round-trip test can fail."""
    make = lambda ps: tho.Adam(ps, lr=0.02)  # noqa: E731
    params, opt = run_torch(make, steps=50)
    clones = [p.detach().clone().requires_grad_(True) for p in params]
    run_torch(make, steps=50, k0=50, params=params, opt=opt)
    run_torch(make, steps=50, k0=50, params=clones, opt=make(clones))
    assert not all(torch.equal(a, b) for a, b in zip(params, clones))


def test_torch_twin_trains_a_model_with_param_groups():
    torch.manual_seed(0)
    x = torch.randn(64, 3, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3
    model_a = torch.nn.Linear(3, 1).double()
    model_b = copy.deepcopy(model_a)
    groups = lambda m: [{"params": [m.weight]}, {"params": [m.bias], "lr": 0.1}]  # noqa: E731
    opt_a = tho.Adam(groups(model_a), lr=0.05)
    opt_b = torch.optim.Adam(groups(model_b), lr=0.05)
    for _ in range(200):
        for m, o in ((model_a, opt_a), (model_b, opt_b)):
            o.zero_grad()
            loss = ((m(x).squeeze(1) - y) ** 2).mean()
            loss.backward()
            o.step()
    assert_close(model_a.weight, model_b.weight)
    assert_close(model_a.bias, model_b.bias)
    assert ((model_a(x).squeeze(1) - y) ** 2).mean() < 1e-3


def test_closure_returns_loss():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = tho.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(5.0)
    assert w.detach().abs().max() < 2.0


def test_step_functions_agree_across_twins():
    rng = np.random.default_rng(1)
    p, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    tp, tg = torch.tensor(p), torch.tensor(g)
    tm, tv, tvmax = torch.zeros_like(tp), torch.zeros_like(tp), torch.zeros_like(tp)
    for t in range(1, 6):
        npo.adam_step(p, g, m, v, vmax, t, lr=0.1, amsgrad=True, weight_decay=0.1)
        tho.adam_step(tp, tg, tm, tv, tvmax, t, lr=0.1, amsgrad=True, weight_decay=0.1)
        npo.adamw_step(p, g, m, v, None, t, lr=0.1)
        tho.adamw_step(tp, tg, tm, tv, None, t, lr=0.1)
    assert_close(p, tp)
    assert_close(vmax, tvmax)


def test_adam_first_step_is_lr_times_sign():
    """With bias correction the first Adam step moves every weight by about lr, whatever the gradient's scale."""
    p = np.zeros(4)
    g = np.array([1e-3, -2.0, 50.0, -7.0])
    npo.adam_step(p, g, np.zeros(4), np.zeros(4), None, 1, lr=0.01)
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-4)


def test_numpy_adam_keeps_float32():
    params = [np.ones((3, 2), dtype=np.float32)]
    opt = npo.Adam(params, lr=0.1)
    opt.step([np.full((3, 2), 0.5, dtype=np.float32)])
    assert params[0].dtype == np.float32 and opt.state[0]["exp_avg"].dtype == np.float32
    np.testing.assert_allclose(params[0], 0.9, rtol=1e-6)


def test_numpy_optimizer_takes_a_dict_of_params_and_grads():
    params = {"w": np.ones((2, 2)), "b": np.zeros(2)}
    opt = npo.Adam(params, lr=0.1)
    opt.step({"b": np.ones(2), "w": np.ones((2, 2))})  # order of keys does not matter
    assert params["w"][0, 0] == pytest.approx(0.9) and params["b"][0] == pytest.approx(-0.1)
    assert opt.state[0]["step"] == 1


# ---------------------------------------------------------------- bad input

def _np_params():
    return [np.zeros((2, 2)), np.zeros(3)]


def _th_params():
    return [torch.zeros(2, 2, requires_grad=True)]


def _read_only(a):
    a.flags.writeable = False
    return a


BAD = [
    # (label, call, exception, words the message must contain)
    # arrays updated in place must be writeable: NumPy's bare "output array is read-only" came
    # after the arrays before it had been updated (a half-done step)
    ("read-only param", lambda: npo.Adam([np.zeros(2), _read_only(np.zeros(3))]), ValueError,
     ["'params'", "Adam", "writeable", "position 1"]),
    ("read-only state", lambda: npo.adam_step(np.zeros(2), np.ones(2), np.zeros(2), _read_only(np.zeros(2)), None, 1,
                                              lr=0.1), ValueError, ["'exp_avg_sq'", "adam_step", "writeable"]),
    ("negative lr", lambda: npo.Adam(_np_params(), lr=-1.0), ValueError, ["'lr'", "Adam", "[0, inf)", "Got -1.0 instead"]),
    ("NaN lr", lambda: npo.SGD(_np_params(), lr=float("nan")), ValueError, ["'lr'", "SGD", "nan"]),
    ("string lr", lambda: npo.Adam(_np_params(), lr="0.1"), TypeError, ["'lr'"]),
    ("bool lr", lambda: tho.Adam(_th_params(), lr=True), TypeError, ["'lr'"]),
    ("beta1 = 1", lambda: npo.Adam(_np_params(), betas=(1.0, 0.999)), ValueError,
     ["'betas'", "[0, 1)", "(1.0, 0.999)"]),
    ("beta2 < 0", lambda: tho.AdamW(_th_params(), betas=(0.9, -0.1)), ValueError, ["'betas'", "AdamW", "-0.1"]),
    ("betas not a pair", lambda: npo.Adam(_np_params(), betas=0.9), TypeError, ["'betas'", "pair"]),
    ("betas of three", lambda: npo.Adam(_np_params(), betas=(0.9, 0.99, 0.999)), TypeError, ["'betas'"]),
    # a set has no order: {0.9, 0.999} may iterate as (0.999, 0.9)
    ("betas a set", lambda: npo.Adam(_np_params(), betas={0.9, 0.999}), TypeError,
     ["'betas'", "Adam", "pair of floats", "tuple or list", "Got {"]),
    ("betas a set (torch)", lambda: tho.Adam(_th_params(), betas={0.99, 0.9}), TypeError, ["'betas'", "Adam"]),
    ("betas a set (torch group)", lambda: tho.AdamW([{"params": _th_params(), "betas": {0.99, 0.9}}]), TypeError,
     ["'betas'", "AdamW"]),
    ("betas a set (step)", lambda: npo.adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), None, 1, lr=0.1,
                                                 betas={0.9, 0.99}), TypeError, ["'betas'", "adam_step"]),
    ("grads a bare array", lambda: npo.SGD([np.ones(3)], lr=0.1).step(np.ones((1, 3))), TypeError,
     ["'grads'", "SGD.step", "single ndarray", "wrap it in a list"]),
    ("eps = 0", lambda: npo.Adam(_np_params(), eps=0.0), ValueError, ["'eps'", "Adam", "(0, inf)", "Got 0.0 instead"]),
    ("negative eps", lambda: tho.Adam(_th_params(), eps=-1e-8), ValueError, ["'eps'"]),
    ("negative weight decay", lambda: npo.AdamW(_np_params(), weight_decay=-0.1), ValueError, ["'weight_decay'"]),
    ("negative momentum", lambda: npo.SGD(_np_params(), momentum=-0.5), ValueError, ["'momentum'"]),
    ("nesterov without momentum", lambda: npo.SGD(_np_params(), nesterov=True), ValueError, ["'nesterov'"]),
    ("amsgrad not a bool", lambda: npo.Adam(_np_params(), amsgrad="yes"), TypeError, ["'amsgrad'"]),
    ("empty params", lambda: npo.Adam([]), ValueError, ["'params'", "empty"]),
    ("empty params (torch)", lambda: tho.Adam([]), ValueError, ["'params'", "Adam", "empty"]),
    ("one bare array", lambda: npo.Adam(np.zeros(3)), TypeError, ["'params'", "wrap it in a list"]),
    ("non-array params", lambda: npo.Adam([[1.0, 2.0]]), TypeError, ["'params'", "list"]),
    ("integer params", lambda: npo.Adam([np.zeros(3, dtype=int)]), TypeError, ["'params'", "int"]),
    ("too few grads", lambda: npo.Adam(_np_params()).step([np.zeros((2, 2))]), ValueError, ["'grads'", "(2)", "1"]),
    ("wrong grad shape", lambda: npo.Adam(_np_params()).step([np.zeros((2, 2)), np.zeros(4)]), ValueError,
     ["'grads'", "(3,)", "(4,)"]),
    ("grads not arrays", lambda: npo.Adam(_np_params()).step([1.0, 2.0]), TypeError, ["'grads'", "float"]),
    ("RMSprop alpha = 1", lambda: npo.RMSprop(_np_params(), alpha=1.0), ValueError, ["'alpha'", "[0, 1)"]),
    ("RMSprop centered not a bool", lambda: tho.RMSprop(_th_params(), centered=1), TypeError, ["'centered'"]),
    ("Adadelta rho > 1", lambda: npo.Adadelta(_np_params(), rho=1.5), ValueError, ["'rho'", "[0, 1]"]),
    ("Adagrad negative lr_decay", lambda: tho.Adagrad(_th_params(), lr_decay=-0.1), ValueError, ["'lr_decay'"]),
    ("Adagrad negative accumulator", lambda: npo.Adagrad(_np_params(), initial_accumulator_value=-1.0), ValueError,
     ["'initial_accumulator_value'"]),
    ("Momentum of 1", lambda: npo.Momentum(_np_params(), momentum=1.0), ValueError, ["'momentum'", "[0, 1)"]),
    ("infinite lr", lambda: tho.SGD(_th_params(), lr=float("inf")), ValueError, ["'lr'", "inf"]),
    ("maximize not a bool", lambda: npo.Adagrad(_np_params(), maximize="no"), TypeError, ["'maximize'"]),
    ("centered without grad_avg", lambda: npo.rmsprop_step(np.zeros(2), np.zeros(2), np.zeros(2), None, None, lr=0.1,
                                                             centered=True), ValueError, ["'grad_avg'"]),
    ("step 0 in adam_step", lambda: npo.adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), None, 0, lr=0.1),
     ValueError, ["'step'", "[1, inf)"]),
    # required state left out: named, not a bare TypeError/AttributeError from inside the math
    ("momentum_step without velocity", lambda: npo.momentum_step(np.ones(3), np.ones(3), None, lr=0.1), TypeError,
     ["'velocity'", "momentum_step", "Got None"]),
    ("adam_step without exp_avg", lambda: tho.adam_step(torch.ones(3), torch.ones(3), None, torch.zeros(3), None, 1,
                                                        lr=0.1), TypeError, ["'exp_avg'", "adam_step", "Got None"]),
    ("adam_step without exp_avg_sq", lambda: npo.adam_step(np.ones(3), np.ones(3), np.zeros(3), None, None, 1, lr=0.1),
     TypeError, ["'exp_avg_sq'", "Got None"]),
    ("adadelta_step without acc_delta", lambda: tho.adadelta_step(torch.ones(3), torch.ones(3), torch.zeros(3), None),
     TypeError, ["'acc_delta'", "adadelta_step", "Got None"]),
    ("adagrad_step without state_sum", lambda: npo.adagrad_step(np.ones(3), np.ones(3), None, 1, lr=0.1), TypeError,
     ["'state_sum'", "Got None"]),
    ("rmsprop_step without square_avg", lambda: tho.rmsprop_step(torch.ones(3), torch.ones(3), None, None, None,
                                                                 lr=0.1), TypeError, ["'square_avg'", "Got None"]),
    ("sgd_step without grad", lambda: npo.sgd_step(np.ones(3), None, None, lr=0.1), TypeError, ["'grad'", "Got None"]),
    ("amsgrad without its buffer", lambda: tho.adam_step(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2),
                                                          None, 1, lr=0.1, amsgrad=True), ValueError, ["'max_exp_avg_sq'"]),
    # the step functions' arrays: the twin's type, floating point, param's shape (no silent broadcasting)
    ("list grad", lambda: npo.sgd_step(np.zeros(2), [1.0, 2.0], None, lr=0.1), TypeError,
     ["'grad'", "sgd_step", "floating-point ndarray", "Got list"]),
    ("int param", lambda: npo.momentum_step(np.zeros(2, dtype=int), np.zeros(2), np.zeros(2), lr=0.1), TypeError,
     ["'param'", "momentum_step", "int64"]),
    ("grad that would broadcast", lambda: npo.adam_step(np.zeros(3), np.ones(1), np.zeros(3), np.zeros(3), None, 1,
                                                        lr=0.1), ValueError, ["'grad'", "adam_step", "(3,)", "(1,)"]),
    ("state of another shape", lambda: npo.adagrad_step(np.zeros(3), np.ones(3), np.zeros(2), 1, lr=0.1), ValueError,
     ["'state_sum'", "(3,)", "(2,)"]),
    ("ndarray in the torch twin", lambda: tho.adadelta_step(torch.zeros(2), np.zeros(2), torch.zeros(2), torch.zeros(2)),
     TypeError, ["'grad'", "adadelta_step", "floating-point Tensor", "Got ndarray"]),
    ("int tensor", lambda: tho.rmsprop_step(torch.zeros(2, dtype=torch.int64), torch.zeros(2), torch.zeros(2), None,
                                            None, lr=0.1), TypeError, ["'param'", "rmsprop_step", "int64"]),
    ("momentum buffer of another shape", lambda: tho.sgd_step(torch.zeros(2), torch.ones(2), torch.zeros(3), lr=0.1,
                                                              momentum=0.9), ValueError, ["'momentum_buffer'", "(2,)"]),
]


@pytest.mark.parametrize("label,call,exc,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input(label, call, exc, words):
    assert_refused(call, exc, *words)


def test_sparse_gradient_is_refused():
    w = torch.zeros(3, requires_grad=True)
    opt = tho.Adam([w])
    w.grad = torch.zeros(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("name", ["SGD", "Momentum"])
def test_sgd_mixed_dtypes_fall_back_to_per_tensor_path(name):
    start = [np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0, 2, 4)]
    kwargs = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1, "maximize": True}
    if name == "SGD":
        kwargs["nesterov"] = True

    def tensors():
        return [torch.tensor(start[0], dtype=torch.float32, requires_grad=True),
                torch.tensor(start[1], dtype=torch.float64, requires_grad=True)]

    ours, ref = tensors(), tensors()
    opt_a = getattr(tho, name)(ours, **kwargs)
    opt_b = _builtin(name, ref, kwargs, foreach=False)
    for k in range(30):
        for ps, opt in ((ours, opt_a), (ref, opt_b)):
            for i, p in enumerate(ps):
                p.grad = _grad(p.detach(), k, i)
            opt.step()
    assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-7)
    assert_close(ours[1], ref[1])


def test_mixed_dtypes_fall_back_to_per_tensor_path():
    """A group mixing float32 and float64 cannot use _foreach kernels; the per-tensor path must take over."""
    start = [np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0, 2, 4)]

    def tensors():
        return [torch.tensor(start[0], dtype=torch.float32, requires_grad=True),
                torch.tensor(start[1], dtype=torch.float64, requires_grad=True)]

    ours, ref = tensors(), tensors()
    opt_a = tho.AdamW(ours, lr=0.05, amsgrad=True)
    opt_b = torch.optim.AdamW(ref, lr=0.05, amsgrad=True, foreach=False)
    for k in range(30):
        for ps, opt in ((ours, opt_a), (ref, opt_b)):
            for i, p in enumerate(ps):
                p.grad = _grad(p.detach(), k, i)
            opt.step()
    assert ours[0].dtype == torch.float32
    assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-7)
    assert_close(ours[1], ref[1])


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_numpy_optimizers_train_a_model_in_the_fit_loop(name):
    """Every NumPy optimizer drives tipslib's own fit loop and lowers the loss on a toy problem."""
    from tipslib.data import make_moons
    from tipslib.layers import numpy_impl as L
    from tipslib.losses import numpy_impl as LO
    from tipslib.training import numpy_impl as T

    rng = np.random.default_rng(0)
    x, y = make_moons(200, rng=rng)
    model = L.Sequential(L.Linear(2, 16, rng=rng), L.Tanh(), L.Linear(16, 2, rng=rng))
    lr = {"SGD": 0.5, "Momentum": 0.5, "Adadelta": 1.0, "Adagrad": 0.1}.get(name, 0.02)
    opt = getattr(npo, name)(model.params, lr=lr)
    history = T.fit(model, LO.CrossEntropyLoss(), opt, x, y, epochs=15, batch_size=32, rng=rng, progress=False)
    losses = history["train_loss"] if isinstance(history, dict) else history.train_loss
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("name,kwargs", [("Adam", {"lr": 0.02, "amsgrad": True}), ("RMSprop", {"momentum": 0.5}),
                                         ("Adagrad", {"lr": 0.1}), ("Adadelta", {})])
def test_torch_twin_resumes_from_a_torch_optim_checkpoint(name, kwargs):
    """State saved by torch.optim (``step`` as a tensor) loads into the twin and the run goes on identically."""
    params, ref_opt = run_torch(lambda ps: _builtin(name, ps, kwargs), steps=40)
    clones = [p.detach().clone().requires_grad_(True) for p in params]
    twin = getattr(tho, name)(clones, **kwargs)
    twin.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    run_torch(None, steps=40, k0=40, params=params, opt=ref_opt)
    run_torch(None, steps=40, k0=40, params=clones, opt=twin)
    for a, b in zip(clones, params):
        assert_close(a, b)


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_numpy_state_dict_round_trip(name, kwargs):
    params, opt = run_numpy(name, kwargs, steps=30)
    saved = opt.state_dict()
    clones = [p.copy() for p in params]
    restored = getattr(npo, name)(clones, lr=0.123)  # hyperparameters come back from the state dict too
    restored.load_state_dict(saved)
    assert restored.lr == opt.lr
    for k in range(30, 60):
        opt.step([_grad(p, k, i) for i, p in enumerate(params)])
        restored.step([_grad(p, k, i) for i, p in enumerate(clones)])
    for a, b in zip(params, clones):
        assert np.array_equal(a, b)
    # the saved copy did not move with the run
    assert all(s2 is not s1 for s1, s2 in zip(opt.state, saved["state"]))


def test_numpy_load_state_dict_checks_hyperparameters_as_the_constructor_does():
    w = [np.ones(3)]
    opt = npo.Adam(w, lr=0.1)
    for key, value, exc in (("lr", float("nan"), ValueError), ("betas", (1.0, 0.9), ValueError),
                            ("betas", {0.9, 0.99}, TypeError), ("amsgrad", "yes", TypeError), ("eps", 0.0, ValueError)):
        saved = opt.state_dict()
        saved["hyper"][key] = value
        with pytest.raises(exc, match=f"'state_dict' parameter of Adam.load_state_dict .*'{key}' parameter of Adam"):
            opt.load_state_dict(saved)
    sgd = npo.SGD([np.ones(3)], lr=0.1)
    saved = sgd.state_dict()
    saved["hyper"]["nesterov"] = True  # the constructor's rules too: nesterov needs momentum
    with pytest.raises(ValueError, match="'nesterov' parameter of SGD"):
        sgd.load_state_dict(saved)
    del saved["hyper"]["lr"]
    with pytest.raises(ValueError, match="must hold the hyperparameters"):
        sgd.load_state_dict(saved)
    assert opt.lr == 0.1 and opt.betas == (0.9, 0.999) and sgd.nesterov is False  # nothing was applied
    opt.step([np.ones(3)])
    assert np.isfinite(w[0]).all()


@pytest.mark.parametrize("source,target", [("SGD", "Adam"), ("AdamW", "Adam"), ("Adam", "RMSprop"),
                                           ("Momentum", "SGD")])
def test_numpy_load_state_dict_refuses_another_optimizers_state(source, target):
    src = getattr(npo, source)([np.ones(3)], lr=0.1)
    src.step([np.ones(3)])
    dst = getattr(npo, target)([np.ones(3)])
    with pytest.raises(ValueError, match=f"must be the state dict of a {target}. Got the state dict of a {source}"):
        dst.load_state_dict(src.state_dict())
    assert dst.state == [{}]


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_duplicate_arrays_warn_as_torch_does(name):
    """torch.optim warns on a tensor given twice (and updates it twice); the NumPy twin does the same."""
    a = np.ones(3)
    with pytest.warns(UserWarning, match=f"'params' parameter of {name} holds the same array more than once"):
        opt = getattr(npo, name)([a, a], lr=0.1)
    t = torch.ones(3, requires_grad=True)
    for cls in (getattr(tho, name), torch.optim.SGD):
        with pytest.warns(UserWarning, match="duplicate parameters"):
            cls([t, t], lr=0.1)
    with pytest.warns(UserWarning):
        npo.SGD({"w": a, "tied": a}, lr=0.1)
    b, c = np.ones(3), np.ones(3)  # equal values, different arrays: no warning
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        npo.SGD([b, c], lr=0.1)
    assert len(opt.params) == 2


def test_numpy_load_state_dict_checks_shapes():
    opt = npo.Adam([np.zeros((2, 2))])
    opt.step([np.ones((2, 2))])
    other = npo.Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="'state_dict'.*\\(3,\\)"):
        other.load_state_dict(opt.state_dict())


# ------------------------------------------------------- checks at the door only

OPTIMIZERS = ["SGD", "Momentum", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"]


@pytest.mark.parametrize("twin", ["numpy", "torch"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_does_not_recheck_hyperparameters(name, twin, monkeypatch):
    """The constructor checks the hyperparameters once; ``step`` calls the bare step function."""
    import tipslib._checks as checks

    kwargs = dict(ROUND_TRIP)[name]
    if twin == "numpy":
        params = [a.copy() for a in _start()]
        opt = getattr(npo, name)(params, **kwargs)
    else:
        params = [torch.tensor(a, requires_grad=True) for a in _start()]
        opt = getattr(tho, name)(params, **kwargs)

    def refuse(*args, **kw):
        raise AssertionError("a hyperparameter was checked again inside step()")

    for check in ("check_real", "check_int", "check_bool", "check_choice"):
        monkeypatch.setattr(checks, check, refuse)
    for k in range(3):
        if twin == "numpy":
            opt.step([_grad(p, k, i) for i, p in enumerate(params)])
        else:
            for i, p in enumerate(params):
                p.grad = _grad(p.detach(), k, i)
            opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_numpy_step_still_refuses_bad_grads_before_any_update(name):
    """Bare step functions inside, but the grads are checked first: nothing moves on a bad call."""
    params = _np_params()
    opt = getattr(npo, name)(params)
    before = [p.copy() for p in params]
    for grads, exc in (([np.ones((2, 2)), np.ones(4)], ValueError),
                       ([np.ones((2, 2)), np.ones(3, dtype=int)], TypeError),
                       ([np.ones((2, 2)), [1.0, 1.0, 1.0]], TypeError)):
        with pytest.raises(exc, match="'grads' parameter of " + name):
            opt.step(grads)
    assert all(np.array_equal(a, b) for a, b in zip(params, before))
    assert all(not s for s in opt.state)


@pytest.mark.parametrize("name,group,word", [
    ("SGD", {"lr": -1.0}, "'lr'"),
    ("SGD", {"nesterov": True, "momentum": 0.0}, "'nesterov'"),
    ("SGD", {"momentum": 0.9, "dampening": float("inf")}, "'dampening'"),
    ("Momentum", {"momentum": 1.0}, "'momentum'"),
    ("Adam", {"betas": (0.9, 1.0)}, "'betas'"),
    ("AdamW", {"eps": 0.0}, "'eps'"),
    ("RMSprop", {"centered": "yes"}, "'centered'"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "'initial_accumulator_value'"),
    ("Adadelta", {"rho": 1.5}, "'rho'"),
    ("SGD", {"foreach": "yes"}, "'foreach'"),
    ("Adam", {"betas": {0.99, 0.9}}, "'betas'"),
])
def test_torch_twin_checks_every_param_group(name, group, word):
    """Per-group hyperparameters are checked in the constructor's groups and in add_param_group;
    a refused group leaves the optimizer as it was."""
    def bad_group():
        return {"params": [torch.zeros(2, requires_grad=True)], **group}

    with pytest.raises((ValueError, TypeError), match=word + " parameter of " + name):
        getattr(tho, name)([{"params": [torch.zeros(3, requires_grad=True)]}, bad_group()])
    opt = getattr(tho, name)([torch.zeros(3, requires_grad=True)])
    with pytest.raises((ValueError, TypeError), match=word + " parameter of " + name):
        opt.add_param_group(bad_group())
    assert len(opt.param_groups) == 1


def test_step_functions_keep_their_formula_readable():
    """``show_source`` shows the decorator and the math: no check calls left in the body."""
    import inspect

    for module in (npo, tho):
        for name in ("sgd_step", "momentum_step", "adam_step", "adamw_step", "rmsprop_step", "adagrad_step",
                     "adadelta_step"):
            fn = getattr(module, name)
            source = inspect.getsource(fn)
            assert source.lstrip().startswith("@validate_params("), (module.__name__, name)
            assert "check_" not in source and "raise" not in source, (module.__name__, name)
            assert "math:" in fn.__doc__, (module.__name__, name)  # the formula, as .. math:: or :math:
            assert fn.__wrapped__.__name__ == name


def test_sparse_gradient_in_a_later_group_leaves_every_group_untouched():
    a = torch.zeros(3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    opt = tho.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    a.grad = torch.ones(3)
    b.grad = torch.ones(3).to_sparse()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()
    assert torch.equal(a, torch.zeros(3)) and not opt.state[a]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_an_eps_that_float16_rounds_to_zero_is_refused(name):
    """In float16, eps = 1e-8 is 0: a weight whose gradient is still 0 takes 0 / 0 = NaN (torch.optim's
    own optimizers give that NaN). Both twins refuse it, in the constructor, for a param group added
    later and in the step functions; an eps float16 can hold trains without NaN."""
    tiny = 1e-8
    w16, t16 = np.ones(3, dtype=np.float16), torch.ones(3, dtype=torch.float16, requires_grad=True)
    for make in (lambda: getattr(npo, name)([w16], eps=tiny), lambda: getattr(npo, name)({"w": w16}, eps=tiny),
                 lambda: getattr(tho, name)([t16], eps=tiny),
                 lambda: getattr(tho, name)([torch.ones(2, requires_grad=True)], eps=tiny).add_param_group({"params": [t16]})):
        with pytest.raises(ValueError, match=r"'eps' parameter of \w+ must be above 2.98e-08 for float16.*Got 1e-08"):
            make()
    step_fn = {"Adam": "adam_step", "AdamW": "adamw_step", "RMSprop": "rmsprop_step", "Adagrad": "adagrad_step",
               "Adadelta": "adadelta_step"}[name]
    for twin, param in ((npo, w16), (tho, t16.detach())):
        with pytest.raises(ValueError, match="'eps'.*float16"):
            _call_step(getattr(twin, step_fn), param, eps=tiny)
    # an eps float16 can hold, and the float32 default: a zero gradient leaves the weights finite
    for w, eps in ((np.ones(3, dtype=np.float16), 1e-4), (np.ones(3, dtype=np.float32), tiny)):
        opt = getattr(npo, name)([w], eps=eps)
        opt.step([np.zeros_like(w)])
        assert np.isfinite(w).all()
    t = torch.ones(3, dtype=torch.float16, requires_grad=True)
    opt = getattr(tho, name)([t], eps=1e-4)
    t.grad = torch.zeros_like(t)
    opt.step()
    assert torch.isfinite(t).all()


def _call_step(fn, param, eps):
    """Call a ``*_step`` function with zero state of ``param``'s dtype, filling what its signature asks."""
    import inspect

    zeros = (lambda: np.zeros_like(param)) if isinstance(param, np.ndarray) else (lambda: torch.zeros_like(param))
    kwargs = {}
    for p in list(inspect.signature(fn).parameters.values())[2:]:
        if p.kind is p.KEYWORD_ONLY:
            break
        kwargs[p.name] = 1 if p.name == "step" else None if p.name in ("max_exp_avg_sq", "grad_avg", "momentum_buffer") else zeros()
    return fn(param, zeros(), **kwargs, lr=0.1, eps=eps)
