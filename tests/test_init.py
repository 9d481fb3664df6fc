"""Initialisers: the formulas, both twins and ``torch.nn.init`` compared by statistics on large draws.

Random draws are never matched across backends: each sample's mean, standard
deviation, bounds and shape of distribution are checked against the formula
within a few standard errors, so a wrong gain or fan (a few percent) fails.
"""

import math

import numpy as np
import pytest
import torch

from tipslib.init import numpy_impl as npi
from tipslib.init import torch_impl as thi
from helpers import assert_refused

N_SE = 6  # standard errors allowed: a false alarm has odds below 1e-8 per check

GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 1.0), ("selu", None),
         ("conv_transpose3d", None)]


@pytest.mark.parametrize("nonlinearity,param", GAINS)
def test_gain_matches_torch(nonlinearity, param):
    want = torch.nn.init.calculate_gain(nonlinearity, param)
    assert npi.calculate_gain(nonlinearity, param) == pytest.approx(want, rel=1e-15)
    assert thi.calculate_gain(nonlinearity, param) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (8, 3, 5), (8, 3, 5, 5), (6, 2, 3, 3, 3), (1, 1)])
def test_fans_match_torch(shape):
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert npi.calculate_fan_in_and_fan_out(shape) == want
    assert npi.calculate_fan_in_and_fan_out(np.empty(shape).shape) == want
    assert thi.calculate_fan_in_and_fan_out(torch.empty(shape)) == want


def test_linear_and_conv_fans_by_hand():
    assert npi.calculate_fan_in_and_fan_out((10, 784)) == (784, 10)           # Linear(784 -> 10)
    assert npi.calculate_fan_in_and_fan_out((64, 32, 3, 3)) == (32 * 9, 64 * 9)  # Conv2d(32 -> 64, 3x3)


def _expected_std(kind, shape, gain=1.0, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """The standard deviation written straight from the papers / torch docs, independent of tipslib."""
    fan_in, fan_out = shape[1] * math.prod(shape[2:]), shape[0] * math.prod(shape[2:])
    if kind.startswith("xavier"):
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    fan = fan_in if mode == "fan_in" else fan_out
    g = {"relu": math.sqrt(2), "tanh": 5 / 3, "linear": 1.0, "selu": 0.75}.get(nonlinearity)
    if g is None:
        g = math.sqrt(2 / (1 + a ** 2))
    return g / math.sqrt(fan)


def _check_sample(w, std, uniform, label):
    """Mean, standard deviation, bounds and kurtosis of a large sample against the target distribution."""
    w = np.asarray(w, dtype=np.float64).ravel()
    n = w.size
    assert abs(w.mean()) < N_SE * std / math.sqrt(n), (label, w.mean())
    # sd of the sample std is std * sqrt((kurtosis - 1) / (4 n)); kurtosis 1.8 (uniform) or 3 (normal)
    se = std * math.sqrt(((1.8 if uniform else 3.0) - 1) / (4 * n))
    assert abs(w.std() - std) < N_SE * se, (label, w.std(), std, se)
    kurt = np.mean((w - w.mean()) ** 4) / w.var() ** 2
    # kurtosis tells the two shapes apart (1.8 vs 3); its standard error is at most sqrt(24 / n)
    assert abs(kurt - (1.8 if uniform else 3.0)) < N_SE * math.sqrt(24 / n), (label, kurt)
    if uniform:
        bound = math.sqrt(3) * std
        assert np.abs(w).max() <= bound * (1 + 1e-6), label
        assert np.abs(w).max() > bound * 0.999, label  # the sample reaches the edges


INITS = [
    ("xavier_uniform", (1000, 1000), {}),
    ("xavier_uniform", (300, 2000), {"gain": 5 / 3}),
    ("xavier_normal", (1000, 1000), {}),
    ("xavier_normal", (200, 64, 3, 3), {"gain": math.sqrt(2)}),
    ("kaiming_uniform", (1000, 1000), {}),
    ("kaiming_uniform", (500, 2000), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform", (128, 64, 5, 5), {"a": math.sqrt(5)}),  # torch's default for Linear/Conv weights
    ("kaiming_normal", (1000, 1000), {"nonlinearity": "relu"}),
    ("kaiming_normal", (2000, 500), {"mode": "fan_out", "a": 0.2}),
    ("kaiming_normal", (1000, 1000), {"nonlinearity": "tanh"}),
]
INIT_IDS = [f"{k}-{'x'.join(map(str, s))}-{kw}" for k, s, kw in INITS]


@pytest.mark.parametrize("kind,shape,kwargs", INITS, ids=INIT_IDS)
def test_distribution_matches_formula_in_all_three(kind, shape, kwargs, rng, generator):
    std = _expected_std(kind, shape, **kwargs)
    uniform = kind.endswith("uniform")
    ours = getattr(npi, kind)(shape, **kwargs, rng=rng)
    assert isinstance(ours, np.ndarray) and ours.shape == shape and ours.dtype == np.float64
    _check_sample(ours, std, uniform, "numpy")
    t = torch.empty(shape, dtype=torch.float64)
    out = getattr(thi, kind)(t, **kwargs, generator=generator)
    assert out is t  # filled in place and returned, like torch.nn.init
    _check_sample(t, std, uniform, "torch twin")
    ref = getattr(torch.nn.init, kind + "_")(torch.empty(shape, dtype=torch.float64), **kwargs, generator=generator)
    _check_sample(ref, std, uniform, "torch.nn.init")


def test_statistics_catch_a_small_error(rng):
    """The check above rejects a draw whose std is off by 2%, so it can fail."""
    shape = (1000, 1000)
    w = npi.xavier_uniform(shape, gain=1.02, rng=rng)
    with pytest.raises(AssertionError):
        _check_sample(w, _expected_std("xavier_uniform", shape), True, "2% too wide")
    w = npi.xavier_normal(shape, rng=rng)
    with pytest.raises(AssertionError):
        _check_sample(w, _expected_std("xavier_normal", shape), True, "normal taken for uniform")


@pytest.mark.parametrize("kind,kwargs,mean,std,uniform", [
    ("normal", {}, 0.0, 1.0, False),
    ("normal", {"mean": 2.0, "std": 0.5}, 2.0, 0.5, False),
    ("uniform", {}, 0.5, math.sqrt(1 / 12), True),
    ("uniform", {"a": -3.0, "b": 1.0}, -1.0, 4 / math.sqrt(12), True),
])
def test_normal_and_uniform(kind, kwargs, mean, std, uniform, rng, generator):
    ours = getattr(npi, kind)((1000, 1000), **kwargs, rng=rng)
    t = getattr(thi, kind)(torch.empty(1000, 1000, dtype=torch.float64), **kwargs, generator=generator)
    for w in (ours, t.numpy()):
        _check_sample(w - mean, std, uniform, kind)
        if uniform:
            lo, hi = kwargs.get("a", 0.0), kwargs.get("b", 1.0)
            assert lo <= w.min() and w.max() <= hi


def test_zeros_and_dtype_and_devices(device):
    assert np.array_equal(npi.zeros((3, 2)), np.zeros((3, 2)))
    assert npi.zeros((3, 2), dtype=np.float32).dtype == np.float32
    assert npi.kaiming_normal((4, 3), dtype=np.float32, rng=np.random.default_rng(0)).dtype == np.float32
    t = torch.ones(3, 4, device=device, requires_grad=True)
    thi.zeros(t)
    assert t.abs().sum().item() == 0 and t.requires_grad
    thi.xavier_uniform(t)
    assert t.device.type == device.type and t.abs().max().item() <= math.sqrt(6 / 7)


def test_same_seed_same_draw_within_a_backend():
    a = npi.kaiming_uniform((20, 10), rng=np.random.default_rng(5))
    b = npi.kaiming_uniform((20, 10), rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    c = thi.xavier_normal(torch.empty(20, 10), generator=torch.Generator().manual_seed(5))
    d = thi.xavier_normal(torch.empty(20, 10), generator=torch.Generator().manual_seed(5))
    assert torch.equal(c, d)


def test_rng_is_optional():
    """``rng=None`` (the default) draws from a fresh generator."""
    for draw in (npi.normal, npi.uniform, npi.xavier_uniform, npi.xavier_normal, npi.kaiming_uniform, npi.kaiming_normal):
        a = draw((40, 50))
        assert a.shape == (40, 50) and np.isfinite(a).all() and np.unique(a).size == a.size


def test_kaiming_keeps_relu_activations_alive(rng):
    """Why it matters: through 30 ReLU layers, He init keeps the activation scale; std 0.01 kills it."""
    x = rng.standard_normal((256, 200))
    scales = {}
    for name, init in [("kaiming", lambda s: npi.kaiming_normal(s, nonlinearity="relu", rng=rng)),
                       ("small", lambda s: npi.normal(s, std=0.01, rng=rng))]:
        h = x
        for _ in range(30):
            h = np.maximum(h @ init((200, 200)).T, 0)
        scales[name] = np.sqrt(np.mean(h ** 2))
    assert 0.3 < scales["kaiming"] < 3.0
    assert scales["small"] < 1e-20


BAD = [
    ("unknown mode", lambda: npi.kaiming_uniform((3, 4), mode="fan_avg"), ValueError, ["'mode'", "'fan_avg'", "fan_in"]),
    ("unknown mode (torch)", lambda: thi.kaiming_normal(torch.empty(3, 4), mode="in"), ValueError, ["'mode'"]),
    ("unknown nonlinearity", lambda: npi.calculate_gain("gelu"), ValueError, ["'nonlinearity'", "'gelu'"]),
    ("unknown nonlinearity (kaiming)", lambda: thi.kaiming_uniform(torch.empty(3, 4), nonlinearity="swish"),
     ValueError, ["'nonlinearity'"]),
    ("bad leaky slope", lambda: npi.calculate_gain("leaky_relu", "0.1"), TypeError, ["'param'"]),
    ("1-D fans", lambda: npi.calculate_fan_in_and_fan_out((5,)), ValueError, ["'shape'", "at least 2", "(5,)"]),
    ("0-D fans (torch)", lambda: thi.calculate_fan_in_and_fan_out(torch.tensor(1.0)), ValueError, ["'tensor'", "2"]),
    ("1-D xavier", lambda: npi.xavier_uniform(7), ValueError, ["'shape'", "at least 2"]),
    ("zero fan", lambda: npi.xavier_normal((0, 0)), ValueError, ["'shape'", "non-zero fans"]),
    ("negative std", lambda: npi.normal((2, 2), std=-1.0), ValueError, ["'std'", "[0, inf)", "-1.0"]),
    ("NaN std (torch)", lambda: thi.normal(torch.empty(2), std=float("nan")), ValueError, ["'std'"]),
    ("b below a", lambda: npi.uniform((2, 2), a=1.0, b=0.0), ValueError, ["'b'", "[1, inf)"]),
    ("negative gain", lambda: thi.xavier_uniform(torch.empty(3, 3), gain=-1.0), ValueError, ["'gain'"]),
    ("shape with a negative size", lambda: npi.zeros((3, -1)), ValueError, ["'shape'"]),
    ("shape not a tuple", lambda: npi.xavier_uniform("3x4"), TypeError, ["'shape'"]),
    ("rng not a Generator", lambda: npi.xavier_uniform((3, 4), rng=0), TypeError, ["'rng'", "Generator"]),
    ("generator not a Generator", lambda: thi.uniform(torch.empty(3), generator=0), TypeError, ["'generator'"]),
    ("integer dtype", lambda: npi.normal((2, 2), dtype=np.int64), TypeError, ["'dtype'", "floating"]),
    ("integer tensor", lambda: thi.kaiming_uniform(torch.zeros(3, 4, dtype=torch.int64)), TypeError, ["'tensor'", "int64"]),
    ("array given to torch twin", lambda: thi.xavier_uniform(np.zeros((3, 4))), TypeError, ["'tensor'", "ndarray"]),
]


@pytest.mark.parametrize("label,call,exc,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input(label, call, exc, words):
    assert_refused(call, exc, *words)


def test_both_twins_share_one_gain_table_and_fan_rule():
    assert npi.calculate_gain is thi.calculate_gain
    assert npi.calculate_fan_in_and_fan_out((3, 4, 5)) == thi.calculate_fan_in_and_fan_out(torch.empty(3, 4, 5))


def test_kaiming_checks_only_the_fan_it_divides_by():
    assert npi.kaiming_normal((0, 3), mode="fan_in", rng=np.random.default_rng(0)).shape == (0, 3)
    with pytest.raises(ValueError, match="non-zero fans"):
        npi.kaiming_normal((0, 3), mode="fan_out")
    with pytest.raises(ValueError, match="'tensor' parameter of kaiming_uniform must give non-zero fans"):
        thi.kaiming_uniform(torch.empty(0, 3), mode="fan_out")
