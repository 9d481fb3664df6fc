"""Learning-rate schedules: NumPy twin, torch twin and ``torch.optim.lr_scheduler`` epoch by epoch."""

import copy
import math

import numpy as np
import pytest
import torch

from tipslib.optim import numpy_impl as npo
from tipslib.optim import torch_impl as tho
from helpers import assert_refused

EPOCHS = 60
LRS = (0.1, 0.03)  # two param groups in torch; the NumPy optimizer has the first

SCHEDULES = [
    ("StepLR", {"step_size": 1}),
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 10, "gamma": 0.5}),
    ("StepLR", {"step_size": 3, "gamma": 1.1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("ExponentialLR", {"gamma": 0.99}),
    ("ExponentialLR", {"gamma": 1.02}),
    ("CosineAnnealingLR", {"T_max": 60}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 1}),
    ("CosineAnnealingLR", {"T_max": 25, "eta_min": 1e-3}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.01, "total_iters": 20}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 37}),
]
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for n, kw in SCHEDULES]


def _torch_opt():
    ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    return torch.optim.SGD([{"params": [ps[0]], "lr": LRS[0]}, {"params": [ps[1]], "lr": LRS[1]}])


def _np_opt():
    return npo.SGD([np.zeros(2)], lr=LRS[0])


def _trace(opt, sched, get, metrics=None, epochs=EPOCHS):
    """Learning rates of every epoch (epoch 0 first), stepping the optimizer before the scheduler."""
    out = [get(opt)]
    for e in range(epochs):
        if isinstance(opt, torch.optim.Optimizer):
            opt.step()
        else:
            opt.step([np.zeros(2)])
        sched.step() if metrics is None else sched.step(metrics[e])
        out.append(get(opt))
    return np.array(out)


def _torch_lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def _np_lr(opt):
    return [opt.lr]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=IDS)
def test_schedules_match_torch(name, kwargs):
    ref_opt = _torch_opt()
    ref = _trace(ref_opt, getattr(torch.optim.lr_scheduler, name)(ref_opt, **kwargs), _torch_lrs)
    th_opt = _torch_opt()
    th = _trace(th_opt, getattr(tho, name)(th_opt, **kwargs), _torch_lrs)
    np_opt = _np_opt()
    nps = _trace(np_opt, getattr(npo, name)(np_opt, **kwargs), _np_lr)
    assert np.ptp(ref[:, 0]) > 1e-3, "the schedule never changed the rate: the comparison would be empty"
    np.testing.assert_array_equal(th, ref)  # the same recursion as torch's, so the same rounding
    np.testing.assert_array_equal(nps[:, 0], ref[:, 0])


def test_formula_is_the_closed_form():
    opt = _np_opt()
    s = npo.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    assert s.formula(0.1, 0) == pytest.approx(0.1)
    assert s.formula(0.1, 5) == pytest.approx(0.055)
    assert s.formula(0.1, 10) == pytest.approx(0.01)
    assert npo.StepLR(_np_opt(), 3, gamma=0.5).formula(1.0, 7) == 0.25
    assert npo.ExponentialLR(_np_opt(), 0.5).formula(2.0, 3) == 0.25


@pytest.mark.parametrize("name,kwargs", [c for c in SCHEDULES if not (c[0] == "CosineAnnealingLR" and c[1]["T_max"] < 60)],
                         ids=[i for c, i in zip(SCHEDULES, IDS) if not (c[0] == "CosineAnnealingLR" and c[1]["T_max"] < 60)])
def test_formula_is_what_the_recursion_reaches_from_any_base_rate(name, kwargs):
    """``formula(base_lr, e)`` is the rate after e steps, for a base rate other than 1 (the cosine
    only up to T_max: past it torch's recursion climbs back, the closed form is one half-period)."""
    base = 0.37
    opt = npo.SGD([np.zeros(2)], lr=base)
    sched = getattr(npo, name)(opt, **kwargs)
    lrs = _trace(opt, sched, _np_lr, epochs=40)[:, 0]
    np.testing.assert_allclose(lrs, [sched.formula(base, e) for e in range(41)], rtol=1e-9, atol=0)


def test_get_last_lr_and_state_dict_round_trip():
    """A run resumes from the optimizer's and the scheduler's state dicts, as in torch: a schedule
    goes on from the optimizer's current rate, so the optimizer's state is restored too."""
    for make in (lambda m, o: m.StepLR(o, 4, gamma=0.5), lambda m, o: m.CosineAnnealingLR(o, 9)):
        runs = []
        for m in (tho, torch.optim.lr_scheduler):
            opt = _torch_opt()
            s = make(m, opt)
            _trace(opt, s, _torch_lrs, epochs=13)
            assert s.get_last_lr() == _torch_lrs(opt)
            opt2 = _torch_opt()
            s2 = make(m, opt2)
            opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
            s2.load_state_dict(copy.deepcopy(s.state_dict()))
            a = _trace(opt, s, _torch_lrs, epochs=20)
            b = _trace(opt2, s2, _torch_lrs, epochs=20)
            np.testing.assert_array_equal(a, b)
            runs.append(a)
        np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12, atol=0)
    opt = _np_opt()
    s = npo.ExponentialLR(opt, 0.8)
    _trace(opt, s, _np_lr, epochs=5)
    assert s.get_last_lr() == [pytest.approx(0.1 * 0.8 ** 5)]
    opt2 = _np_opt()
    s2 = npo.ExponentialLR(opt2, 0.8)
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(s.state_dict())
    s.step()
    s2.step()
    assert opt.lr == opt2.lr and s2.last_epoch == 6


def test_torch_twin_drives_tipslib_torch_optimizers():
    w = torch.zeros(3, requires_grad=True)
    opt = tho.Adam([w], lr=0.01)
    s = tho.StepLR(opt, 2, gamma=0.5)
    w.grad = torch.ones(3)
    for _ in range(4):
        opt.step()
        s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0025)


def _trace_all(opt, scheds, get, epochs):
    """Like ``_trace``, stepping every schedule of ``scheds`` after each optimizer step."""
    out = [get(opt)]
    for _ in range(epochs):
        opt.step() if isinstance(opt, torch.optim.Optimizer) else opt.step([np.zeros(2)])
        for s in scheds:
            s.step()
        out.append(get(opt))
    return np.array(out)


CHAINS = [
    (("LinearLR", {"start_factor": 0.5, "total_iters": 3}), ("ExponentialLR", {"gamma": 0.9})),
    (("ExponentialLR", {"gamma": 0.9}), ("LinearLR", {"start_factor": 0.5, "total_iters": 3})),
    (("LinearLR", {"start_factor": 0.1, "total_iters": 5}), ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001})),
    (("StepLR", {"step_size": 4, "gamma": 0.5}), ("CosineAnnealingLR", {"T_max": 9})),
    (("StepLR", {"step_size": 3, "gamma": 0.5}), ("ExponentialLR", {"gamma": 1.05})),
]


@pytest.mark.parametrize("first,second", CHAINS, ids=[f"{a[0]}-{b[0]}" for a, b in CHAINS])
def test_schedules_stepped_together_compose_as_in_torch(first, second):
    """Two schedules on one optimizer: each moves the rate on from where the other left it."""
    traces = []
    for module, make_opt, get in ((torch.optim.lr_scheduler, _torch_opt, _torch_lrs), (tho, _torch_opt, _torch_lrs),
                                  (npo, _np_opt, _np_lr)):
        opt = make_opt()
        scheds = [getattr(module, name)(opt, **kwargs) for name, kwargs in (first, second)]
        traces.append(_trace_all(opt, scheds, get, epochs=30))
    ref, th, nps = traces
    np.testing.assert_allclose(th, ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(nps[:, 0], ref[:, 0], rtol=1e-12, atol=0)


def test_warm_up_then_decay_gives_torchs_values():
    opt = npo.SGD([np.zeros(1)], lr=0.1)
    warm, decay = npo.LinearLR(opt, start_factor=0.5, total_iters=3), npo.ExponentialLR(opt, gamma=0.9)
    lrs = [opt.lr]
    for _ in range(3):
        warm.step()
        decay.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [0.05, 0.06, 0.0675, 0.0729], rtol=1e-12)


GROUP_LATER = [("StepLR", {"step_size": 2, "gamma": 0.5}), ("ExponentialLR", {"gamma": 0.8}),
               ("LinearLR", {"start_factor": 0.25, "total_iters": 4}), ("CosineAnnealingLR", {"T_max": 12})]


@pytest.mark.parametrize("name,kwargs", GROUP_LATER, ids=[n for n, _ in GROUP_LATER])
def test_a_group_added_after_the_schedule_is_scheduled_as_in_torch(name, kwargs):
    traces = []
    for module in (torch.optim.lr_scheduler, tho):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        s = getattr(module, name)(opt, **kwargs)
        opt.step()
        s.step()
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5})
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.25})  # more new groups than old
        traces.append(_trace(opt, s, _torch_lrs, epochs=10))
    np.testing.assert_allclose(traces[1], traces[0], rtol=1e-12, atol=0)
    assert traces[1][-1, 1] != 0.5 and traces[1][-1, 2] != 0.25


def test_cosine_cannot_climb_back_for_a_group_it_has_no_base_rate_for():
    """torch fails there too (zip of unequal lists); the twin says why."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    s = tho.CosineAnnealingLR(opt, T_max=2)
    opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5})
    s.step()
    s.step()
    with pytest.raises(RuntimeError, match="CosineAnnealingLR cannot climb back from eta_min at epoch 3 .*added after"):
        s.step()


def test_growing_rate_follows_torch_and_refuses_to_become_infinite():
    """gamma > 1: no power that overflows, the same rates as torch, then a clear error instead of inf."""
    ref_opt, opt, np_opt = _torch_opt(), _torch_opt(), _np_opt()
    ref, th, nps = (torch.optim.lr_scheduler.ExponentialLR(ref_opt, 1.5), tho.ExponentialLR(opt, 1.5),
                    npo.ExponentialLR(np_opt, 1.5))
    ref_opt.step()
    for _ in range(1700):
        ref.step()
        th.step()
        nps.step()
    assert _torch_lrs(opt) == _torch_lrs(ref_opt) and np_opt.lr == _torch_lrs(ref_opt)[0]
    assert math.isfinite(np_opt.lr) and np_opt.lr > 1e290
    with pytest.raises(ValueError, match="ExponentialLR must keep the learning rate finite"):
        for _ in range(100):
            nps.step()
    assert math.isfinite(np_opt.lr)
    s = npo.StepLR(npo.SGD([np.zeros(1)], lr=0.1), step_size=1, gamma=1.5)
    with pytest.raises(ValueError, match="StepLR must keep the learning rate finite"):
        for _ in range(2000):
            s.step()


@pytest.mark.parametrize("M", [npo, tho], ids=["numpy", "torch"])
def test_scheduler_load_state_dict_checks_what_it_loads(M):
    make = _np_opt if M is npo else _torch_opt
    s = M.StepLR(make(), 3, gamma=0.5)
    with pytest.raises(ValueError, match="'state_dict' parameter of StepLR.load_state_dict must be a state dict of "
                                         "StepLR"):
        s.load_state_dict(M.ExponentialLR(make(), 0.9).state_dict())
    for key, value, exc in (("gamma", float("nan"), ValueError), ("step_size", 0, ValueError),
                            ("last_epoch", 1.5, TypeError), ("base_lrs", [-1.0] * len(s.base_lrs), ValueError)):
        state = copy.deepcopy(s.state_dict())
        state[key] = value
        with pytest.raises(exc, match=f"'{key}' parameter of StepLR"):
            s.load_state_dict(state)
    assert s.gamma == 0.5 and s.step_size == 3
    p = M.ReduceLROnPlateau(make())
    state = p.state_dict()
    state["factor"] = 1.0
    with pytest.raises(ValueError, match="'factor' parameter of ReduceLROnPlateau"):
        p.load_state_dict(state)


# ------------------------------------------------------------ ReduceLROnPlateau

def _scripted(kind):
    """Metric sequences with improvements, plateaus, tiny gains below the threshold, and NaN."""
    e = np.arange(EPOCHS, dtype=float)
    if kind == "staircase":
        return 1.0 / (1 + e // 15)                     # flat stretches of 15 epochs
    if kind == "tiny":
        return 1.0 - 1e-6 * e                          # improves, but by less than 1e-4 relative
    if kind == "noisy":
        return 1.0 / (1 + 0.1 * e) + 0.05 * np.sin(1.7 * e)
    if kind == "rising":
        return np.log1p(e) + 0.2 * np.cos(e)
    if kind == "flat_steps_up":
        return 1.0 + e // 15                           # max mode: flat stretches, rising
    if kind == "steady_down":
        return 100.0 - 0.5 * e                         # gains of 0.5: below 1% and below an absolute 1.0
    if kind == "steady_up":
        return 100.0 + 0.5 * e
    if kind == "nan":
        m = 1.0 / (1 + 0.1 * e)
        m[20:30] = np.nan
        return m
    raise ValueError(kind)


PLATEAU = [
    ({}, "staircase"),
    ({"patience": 3}, "staircase"),
    ({"patience": 0}, "noisy"),
    ({"patience": 2, "factor": 0.5}, "noisy"),
    ({"patience": 2, "cooldown": 4}, "noisy"),
    ({"patience": 1, "threshold_mode": "abs", "threshold": 0.01}, "noisy"),
    ({"patience": 2}, "tiny"),
    ({"patience": 2, "threshold": 0.0}, "tiny"),
    ({"patience": 1, "min_lr": 0.002}, "staircase"),
    ({"patience": 1, "factor": 0.9, "eps": 0.05}, "staircase"),
    ({"mode": "max", "patience": 2}, "rising"),
    ({"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.1, "cooldown": 2}, "rising"),
    ({"patience": 2}, "nan"),
    # ties and the size of the threshold decide these: a metric equal to the best is no gain, and
    # a gain of 0.5 on 100 is under 1% ('rel') and under 1.0 ('abs'), so the rate falls
    ({"patience": 2, "threshold": 0.0}, "staircase"),
    ({"mode": "max", "patience": 2, "threshold": 0.0}, "flat_steps_up"),
    ({"patience": 1, "threshold": 0.01}, "steady_down"),
    ({"patience": 1, "threshold_mode": "abs", "threshold": 1.0}, "steady_down"),
    ({"mode": "max", "patience": 1, "threshold": 0.01}, "steady_up"),
    ({"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 1.0}, "steady_up"),
]


@pytest.mark.parametrize("kwargs,kind", PLATEAU, ids=[f"{k}-{'-'.join(map(str, kw.items()))}" for kw, k in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(kwargs, kind):
    metrics = _scripted(kind)
    ref_opt = _torch_opt()
    ref_s = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **kwargs)
    ref = _trace(ref_opt, ref_s, _torch_lrs, metrics)
    th_opt = _torch_opt()
    th_s = tho.ReduceLROnPlateau(th_opt, **kwargs)
    th = _trace(th_opt, th_s, _torch_lrs, [torch.tensor(m) for m in metrics])  # 0-d tensors work too
    np_opt = _np_opt()
    np_s = npo.ReduceLROnPlateau(np_opt, **kwargs)
    nps = _trace(np_opt, np_s, _np_lr, metrics)
    np.testing.assert_allclose(th, ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(nps[:, 0], ref[:, 0], rtol=1e-12, atol=0)
    for s in (th_s, np_s):
        assert s.num_bad_epochs == ref_s.num_bad_epochs and s.cooldown_counter == ref_s.cooldown_counter
        assert s.best == ref_s.best or (math.isnan(s.best) and math.isnan(ref_s.best))
        assert s.last_epoch == ref_s.last_epoch and s.get_last_lr()[0] == ref_s.get_last_lr()[0]


def test_plateau_cases_do_reduce():
    """At least most scripted cases reduce the rate, so the table can catch a wrong rule."""
    reduced = 0
    for kwargs, kind in PLATEAU:
        opt = _np_opt()
        _trace(opt, npo.ReduceLROnPlateau(opt, **kwargs), _np_lr, _scripted(kind))
        reduced += opt.lr < LRS[0]
    assert reduced >= len(PLATEAU) - 2


def test_plateau_schedules_a_group_added_later_as_torch_does():
    lrs = []
    for S in (torch.optim.lr_scheduler.ReduceLROnPlateau, tho.ReduceLROnPlateau):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        s = S(opt, patience=0, min_lr=0.004)
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5})
        for m in (1.0, 2.0, 3.0, 4.0):
            s.step(m)
        lrs.append(_torch_lrs(opt))
    assert lrs[1] == lrs[0] and lrs[1][1] < 0.5
    opt = _torch_opt()
    s = tho.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5})
    s.step(1.0)
    with pytest.raises(RuntimeError, match="one min_lr per param group"):  # torch raises too: which minimum?
        s.step(2.0)


def test_plateau_min_lr_per_group():
    opt = _torch_opt()
    s = tho.ReduceLROnPlateau(opt, patience=0, min_lr=[0.05, 0.0])
    for _ in range(3):
        s.step(1.0)
    assert _torch_lrs(opt) == pytest.approx([0.05, 0.03 * 0.1 ** 2])


# ------------------------------------------------------------------ bad input

BAD = [
    ("StepLR step_size 0", lambda: npo.StepLR(_np_opt(), 0), ValueError, ["'step_size'", "StepLR", "Got 0"]),
    ("StepLR float step_size", lambda: tho.StepLR(_torch_opt(), 2.5), TypeError, ["'step_size'"]),
    ("negative gamma", lambda: npo.ExponentialLR(_np_opt(), -0.5), ValueError, ["'gamma'"]),
    ("NaN gamma", lambda: tho.ExponentialLR(_torch_opt(), float("nan")), ValueError, ["'gamma'"]),
    ("T_max 0", lambda: npo.CosineAnnealingLR(_np_opt(), 0), ValueError, ["'T_max'"]),
    ("LinearLR start_factor 0", lambda: npo.LinearLR(_np_opt(), start_factor=0.0), ValueError,
     ["'start_factor'", "LinearLR", "(0, 1]", "Got 0.0"]),
    ("LinearLR end_factor 2", lambda: tho.LinearLR(_torch_opt(), end_factor=2.0), ValueError, ["'end_factor'"]),
    ("LinearLR total_iters 0", lambda: npo.LinearLR(_np_opt(), total_iters=0), ValueError, ["'total_iters'"]),
    ("negative eta_min", lambda: tho.CosineAnnealingLR(_torch_opt(), 5, eta_min=-1.0), ValueError, ["'eta_min'"]),
    ("torch optimizer given to NumPy", lambda: npo.StepLR(_torch_opt(), 3), TypeError, ["'optimizer'", "SGD"]),
    ("NumPy optimizer given to torch", lambda: tho.StepLR(_np_opt(), 3), TypeError, ["'optimizer'"]),
    ("unknown mode", lambda: npo.ReduceLROnPlateau(_np_opt(), mode="lowest"), ValueError, ["'mode'", "'lowest'"]),
    ("factor 1", lambda: tho.ReduceLROnPlateau(_torch_opt(), factor=1.0), ValueError, ["'factor'", "[0, 1)"]),
    ("negative patience", lambda: npo.ReduceLROnPlateau(_np_opt(), patience=-1), ValueError, ["'patience'"]),
    ("unknown threshold_mode", lambda: tho.ReduceLROnPlateau(_torch_opt(), threshold_mode="pct"), ValueError,
     ["'threshold_mode'"]),
    ("negative cooldown", lambda: npo.ReduceLROnPlateau(_np_opt(), cooldown=-2), ValueError, ["'cooldown'"]),
    ("negative min_lr", lambda: npo.ReduceLROnPlateau(_np_opt(), min_lr=-0.1), ValueError, ["'min_lr'"]),
    ("min_lr list of wrong length", lambda: tho.ReduceLROnPlateau(_torch_opt(), min_lr=[0.0]), ValueError,
     ["'min_lr'", "(2)"]),
    ("metric not a number", lambda: npo.ReduceLROnPlateau(_np_opt()).step("low"), TypeError, ["'metrics'"]),
]


@pytest.mark.parametrize("label,call,exc,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input(label, call, exc, words):
    assert_refused(call, exc, *words)
