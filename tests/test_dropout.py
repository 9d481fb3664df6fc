"""Dropout: statistics, injected masks, gradients, and parity with torch.nn.Dropout."""

import math

import numpy as np
import pytest
import torch
from helpers import assert_close, to_numpy

from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL

N = 10**6
PS = [0.1, 0.5, 0.8]


def _sigma_bound(p, n, k=6.0):
    """k binomial standard deviations of the dropped fraction (k=6: a false alarm is ~1e-9)."""
    return k * math.sqrt(p * (1 - p) / n)


def _check_statistics(out, x_value, p):
    out = to_numpy(out).ravel()
    dropped = np.mean(out == 0)
    assert abs(dropped - p) < _sigma_bound(p, out.size)
    # out_i = x * keep_i / (1-p): its mean is x * kept_fraction / (1-p)
    kept = 1 - dropped
    assert abs(out.mean() - x_value) <= x_value * _sigma_bound(p, out.size) / (1 - p) + 1e-12
    np.testing.assert_allclose(out.mean(), x_value * kept / (1 - p), rtol=1e-9)
    # the survivors carry exactly x / (1 - p)
    np.testing.assert_allclose(np.unique(out), [0.0, x_value / (1 - p)], rtol=1e-12)


@pytest.mark.parametrize("p", PS)
def test_numpy_statistics(p, rng):
    x = np.full(N, 3.0)
    out, (mask, _) = L.dropout_forward(x, p, rng=rng)
    _check_statistics(out, 3.0, p)
    assert mask.dtype == np.bool_ and mask.shape == x.shape


def test_rng_and_generator_are_optional():
    """Without ``rng``/``generator`` the functions draw from a fresh generator (the default is None)."""
    x = np.full(10**5, 3.0)
    out, _ = L.dropout_forward(x, 0.5)
    _check_statistics(out, 3.0, 0.5)
    out_t, _ = TL.dropout_forward(torch.tensor(x), 0.5)
    _check_statistics(out_t, 3.0, 0.5)


@pytest.mark.parametrize("p", PS)
def test_torch_twin_statistics(p, generator):
    x = torch.full((N,), 3.0, dtype=torch.float64)
    out, _ = TL.dropout_forward(x, p, generator=generator)
    _check_statistics(out, 3.0, p)
    out_mod = TL.Dropout(p, generator=generator)(x)
    _check_statistics(out_mod, 3.0, p)


@pytest.mark.parametrize("p", PS)
def test_builtin_has_the_same_statistics_and_scaling(p):
    """Our convention is torch's: p drops, survivors scaled by 1/(1-p)."""
    torch.manual_seed(0)  # the built-in takes no generator; seeding here is the test's own business
    x = torch.full((N,), 3.0, dtype=torch.float64)
    _check_statistics(torch.nn.Dropout(p)(x), 3.0, p)


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_eval_is_identity(p, rng, generator):
    x = rng.standard_normal((4, 5))
    out, cache = L.dropout_forward(x, p, training=False, rng=rng)
    assert out is x
    assert L.dropout_backward(x, cache) is x
    layer = L.Dropout(p, rng=rng).eval()
    assert layer(x) is x
    xt = torch.from_numpy(x)
    mod = TL.Dropout(p, generator=generator).eval()
    assert mod(xt) is xt
    assert torch.equal(torch.nn.Dropout(p).eval()(xt), xt)


def test_p_zero_in_training_is_identity(rng):
    x = rng.standard_normal((3, 4))
    out, cache = L.dropout_forward(x, 0.0, rng=rng)
    assert out is x and cache[0] is None
    xt = torch.from_numpy(x)
    assert TL.Dropout(0.0)(xt) is xt


def test_backward_is_mask_times_dout_over_keep(rng):
    p = 0.3
    x, dout = rng.standard_normal((2, 6, 7))
    mask = rng.random(x.shape) > p
    out, cache = L.dropout_forward(x, p, mask=mask)
    assert_close(out, np.where(mask, x / (1 - p), 0.0))
    assert_close(L.dropout_backward(dout, cache), mask * dout / (1 - p))
    out_t, cache_t = TL.dropout_forward(torch.from_numpy(x), p, mask=torch.from_numpy(mask))
    assert_close(out_t, out)
    assert_close(TL.dropout_backward(torch.from_numpy(dout), cache_t), mask * dout / (1 - p))


@pytest.mark.parametrize("mask_kind", ["bool", "float", "int"])
def test_mask_may_be_bool_or_01(mask_kind, rng):
    x = rng.standard_normal((5, 3))
    keep = rng.random(x.shape) > 0.5
    mask = {"bool": keep, "float": keep.astype(float), "int": keep.astype(np.int64)}[mask_kind]
    out, _ = L.dropout_forward(x, 0.5, mask=mask)
    assert_close(out, np.where(keep, 2 * x, 0.0))
    out_t, _ = TL.dropout_forward(torch.from_numpy(x), 0.5, mask=torch.from_numpy(mask))
    assert_close(out_t, out)


def test_numerical_gradient_with_fixed_mask(rng):
    p = 0.4
    x = rng.standard_normal((4, 5))
    w = rng.standard_normal((4, 5))  # a random linear read-out makes the loss sensitive to every entry
    mask = rng.random(x.shape) > p

    def loss(x):
        return np.sum(w * L.dropout_forward(x, p, mask=mask)[0])

    _, cache = L.dropout_forward(x, p, mask=mask)
    assert_close(L.dropout_backward(w, cache), numerical_gradient(loss, x), rtol=1e-7, atol=1e-9)


def test_layer_backward_uses_the_forward_mask(rng):
    layer = L.Dropout(0.5, rng=rng)
    x, dout = rng.standard_normal((2, 50, 8))
    out = layer(x)
    dx = layer.backward(dout)
    assert_close(dx, layer.mask * dout * 2)
    assert_close(out, layer.mask * x * 2)
    assert 0 < layer.mask.mean() < 1


def test_same_rng_same_mask_within_a_backend():
    x = np.ones(1000)
    a, _ = L.dropout_forward(x, 0.5, rng=np.random.default_rng(1))
    b, _ = L.dropout_forward(x, 0.5, rng=np.random.default_rng(1))
    c, _ = L.dropout_forward(x, 0.5, rng=np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    xt = torch.ones(1000)
    a, _ = TL.dropout_forward(xt, 0.5, generator=torch.Generator().manual_seed(1))
    b, _ = TL.dropout_forward(xt, 0.5, generator=torch.Generator().manual_seed(1))
    c, _ = TL.dropout_forward(xt, 0.5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_torch_twin_reproduces_builtin_given_its_mask(p, device):
    """Run torch.nn.Dropout, read its mask off the output, inject it into ours:
    same output, same gradient (autograd through the built-in vs our backward)."""
    g = torch.Generator(device=device).manual_seed(3)
    x = (torch.rand(64, 33, dtype=torch.float64, device=device, generator=g) + 0.5).requires_grad_()
    dout = torch.randn(64, 33, dtype=torch.float64, device=device, generator=g)
    ref = torch.nn.Dropout(p)(x)
    ref.backward(dout)
    mask = ref.detach() != 0
    x2 = x.detach().clone().requires_grad_()
    out = TL.DropoutFunction.apply(x2, p, mask, None)
    out.backward(dout)
    assert_close(out, ref)
    assert_close(x2.grad, x.grad)
    np_out, cache = L.dropout_forward(to_numpy(x), p, mask=to_numpy(mask))
    assert_close(np_out, ref)
    assert_close(L.dropout_backward(to_numpy(dout), cache), x.grad)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.7])
def test_gradcheck_of_the_function_with_injected_mask(p, rng):
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.from_numpy(rng.random((6, 5)) > p)
    assert torch.autograd.gradcheck(lambda t: TL.DropoutFunction.apply(t, p, mask, None), (x,))


def test_module_trains_inside_a_model(device):
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(TL.Linear(4, 16, generator=g, dtype=torch.float64), TL.ReLU(),
                                TL.Dropout(0.5, generator=g), TL.Linear(16, 1, generator=g, dtype=torch.float64))
    model.to(device)
    x = torch.randn(32, 4, dtype=torch.float64, device=device, generator=torch.Generator(device=device).manual_seed(1))
    out = model(x)
    out.sum().backward()
    drop = model[2]
    assert drop.mask.device == x.device and drop.mask.shape == (32, 16)
    w = model[0].weight
    assert w.grad is not None and torch.isfinite(w.grad).all()
    # a hidden unit dropped for every example of the batch sends no gradient to its weights
    dead = ~drop.mask.any(dim=0)
    assert torch.all(w.grad[dead] == 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_generator_draws_on_the_gpu():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.ones(10**6, device="cuda", dtype=torch.float64)
    out, (mask, _) = TL.dropout_forward(x, 0.3, generator=g)
    assert mask.is_cuda
    _check_statistics(out, 1.0, 0.3)


def test_numpy_layer_in_a_model_backpropagates(rng):
    model = L.Sequential(L.Linear(3, 8, rng=rng), L.ReLU(), L.Dropout(0.5, rng=rng), L.Linear(8, 2, rng=rng))
    x = rng.standard_normal((10, 3))
    out = model.forward(x)
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape
    # a hidden unit dropped for every example sends no gradient to its weights
    dead = ~model[2].mask.any(axis=0)
    assert np.all(model[0].grads["weight"][dead] == 0)
    model.eval()
    assert np.array_equal(model.forward(x), model.forward(x))


def test_float32_stays_float32(rng):
    x = rng.standard_normal(100).astype(np.float32)
    out, cache = L.dropout_forward(x, 0.5, rng=rng)
    assert out.dtype == np.float32
    assert L.dropout_backward(x, cache).dtype == np.float32


# --- bad input -----------------------------------------------------------------------------

BAD_P = [(1.0, ValueError), (1.5, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
         ("0.5", TypeError), (True, TypeError), (None, TypeError)]


@pytest.mark.parametrize("p,err", BAD_P)
def test_bad_p(p, err):
    x = np.ones(3)
    for call in (lambda: L.dropout_forward(x, p), lambda: L.Dropout(p),
                 lambda: TL.dropout_forward(torch.ones(3), p), lambda: TL.Dropout(p)):
        with pytest.raises(err, match=r"'p' parameter of (dropout_forward|Dropout) must be a float in the range \[0, 1\)"):
            call()


def test_bad_p_message_reads_well():
    with pytest.raises(ValueError, match=r"^The 'p' parameter of Dropout must be a float in the range \[0, 1\)\. Got 1\.5 instead\.$"):
        L.Dropout(1.5)


@pytest.mark.parametrize("mask,err,word", [
    (np.ones((3, 2)), ValueError, "same shape"),
    (np.array([[1.0, 2.0, 0.0]] * 2), ValueError, "only 0 and 1"),
    (np.array([[1.0, np.nan, 0.0]] * 2), ValueError, "only 0 and 1"),
    ([[1, 0, 1], [1, 1, 1]], TypeError, "mask"),
])
def test_bad_mask(mask, err, word):
    x = np.ones((2, 3))
    with pytest.raises(err, match=word):
        L.dropout_forward(x, 0.5, mask=mask)
    tmask = torch.as_tensor(mask) if isinstance(mask, np.ndarray) else mask
    with pytest.raises(err, match=word):
        TL.dropout_forward(torch.ones(2, 3), 0.5, mask=tmask)


def test_bad_other_arguments():
    with pytest.raises(TypeError, match="'x' parameter of dropout_forward must be a floating-point"):
        L.dropout_forward(np.ones(3, dtype=int))
    with pytest.raises(TypeError, match="'x' parameter of dropout_forward must be a floating-point"):
        TL.dropout_forward(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="'rng' parameter of Dropout"):
        L.Dropout(0.5, rng=0)
    with pytest.raises(TypeError, match="'rng' parameter of dropout_forward"):
        L.dropout_forward(np.ones(3), 0.5, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="'generator' parameter of Dropout"):
        TL.Dropout(0.5, generator=0)
    with pytest.raises(TypeError, match="'training' parameter of dropout_forward"):
        L.dropout_forward(np.ones(3), 0.5, training="yes")
    with pytest.raises(RuntimeError, match="before forward"):
        L.Dropout().backward(np.ones(3))


def test_nan_input_propagates_like_torch(rng):
    """A NaN activation is the fit loop's business (it stops with a warning), so dropout passes it on."""
    x = np.array([np.nan, 1.0, 2.0, np.nan])
    out, _ = L.dropout_forward(x, 0.5, mask=np.array([0, 1, 1, 1]))
    assert np.isnan(out[0]) and np.isnan(out[3])
    ref = torch.nn.functional.dropout(torch.tensor([np.nan] * 100), 0.5)
    assert torch.isnan(ref).all()
