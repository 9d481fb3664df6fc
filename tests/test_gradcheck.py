"""Gradient checking: numerical gradients, the relative error, per-parameter reports, kinks,
float32, every NumPy layer and loss, the torch twin against torch.autograd.gradcheck, the
step-size trade-off, and bad input."""

import inspect
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from helpers import assert_close, tensor, to_numpy
from tipslib.gradcheck import numpy_impl as G
from tipslib.gradcheck import torch_impl as GT
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as T
from tipslib._autograd import load_cache
from tipslib.losses import numpy_impl as LN
from tipslib.losses import torch_impl as LT

F64 = torch.float64


_t = tensor  # float64, no grad: the shared helper


# --- numerical gradients of known functions -------------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _known(rng):
    """name -> (numpy f, torch f, exact gradient, point). Points keep the exact gradient away
    from zero so that the pure relative error is meaningful."""
    labels = rng.integers(0, 5, size=6)
    onehot = np.eye(5)[labels]
    return {
        "cubic": (lambda x: np.sum(3 * x**3 - 2 * x**2 + x), lambda x: torch.sum(3 * x**3 - 2 * x**2 + x),
                  lambda x: 9 * x**2 - 4 * x + 1, rng.uniform(-2, 2, size=(3, 4))),
        "sin": (lambda x: np.sum(np.sin(x)), lambda x: torch.sum(torch.sin(x)),
                np.cos, rng.uniform(-1.2, 1.2, size=7)),
        "product": (lambda x: np.prod(x), lambda x: torch.prod(x),
                    lambda x: np.prod(x) / x, rng.uniform(0.5, 1.5, size=5)),
        "softmax_cross_entropy": (
            lambda z: LN.cross_entropy(z, labels),
            lambda z: F.cross_entropy(z, torch.as_tensor(labels)),
            lambda z: (_softmax(z) - onehot) / len(z), rng.normal(size=(6, 5))),
    }


@pytest.mark.parametrize("name", ["cubic", "sin", "product", "softmax_cross_entropy"])
def test_numerical_gradient_of_known_functions(name, rng):
    f_np, f_th, exact, x = _known(rng)[name]
    expected = exact(x)
    ours = G.numerical_gradient(f_np, x.copy())
    twin = GT.numerical_gradient(f_th, _t(x))
    # The estimate's error is rounding: the last bits of f, divided by the step 2h
    # (truncation, h^2 f'''/6, is about 1e-12 here). How many bits depends on the
    # library's exp and log, so the bound allows 16 ulps of f. A one-sided
    # difference (error h f''/2) exceeds it wherever f'' is not 0.
    rounding = 16 * np.finfo(np.float64).eps * max(1.0, abs(float(f_np(x)))) / 1e-6
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=rounding)
    np.testing.assert_allclose(to_numpy(twin), expected, rtol=1e-10, atol=rounding)


def test_numerical_gradient_restores_the_arrays_and_handles_several(rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=3)
    a0, b0 = a.copy(), b.copy()
    ga, gb = G.numerical_gradient(lambda a, b: np.sum(a * b), a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)
    assert_close(ga, np.broadcast_to(b, a.shape), rtol=1e-8, atol=1e-10)
    assert_close(gb, a.sum(axis=0), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4)])
def test_numerical_gradient_of_an_empty_array_is_empty_in_both_twins(shape):
    # Nothing to nudge, so nothing to refuse: the NumPy twin took an empty array for a
    # non-contiguous one (it shares no memory with its own flat view).
    g = G.numerical_gradient(lambda a: a.sum(), np.zeros(shape))
    gt = GT.numerical_gradient(lambda a: a.sum(), torch.zeros(shape, dtype=F64))
    assert g.shape == tuple(gt.shape) == shape


@pytest.mark.parametrize("call", [
    lambda a: G.numerical_gradient(lambda v: v.sum(), a),
    lambda a: G.gradient_check(lambda v: v.sum(), [a], [np.ones_like(a)]),
], ids=["numerical_gradient", "gradient_check"])
def test_a_read_only_array_is_refused_by_name(call):
    # It is nudged in place: NumPy's own "assignment destination is read-only" named no parameter.
    a = np.arange(3.0)
    a.flags.writeable = False
    with pytest.raises(ValueError, match=r"'arrays\[0\]'.*writeable"):
        call(a)


def test_numerical_gradient_divides_by_the_step_actually_taken():
    # In float32 near 1000, x + 1e-4 rounds to a step of 2**-17 * k, not 1e-4: dividing by
    # 2h would be off by several percent, dividing by the stored step is exact for a line.
    x = np.array([1000.0], dtype=np.float32)
    g = G.numerical_gradient(lambda v: v.sum() * 1.0, x, h=1e-4)
    assert abs(float(g[0]) - 1.0) < 1e-6
    gt = GT.numerical_gradient(lambda v: v.sum() * 1.0, torch.tensor([1000.0]), h=1e-4)
    assert abs(float(gt[0]) - 1.0) < 1e-6


# --- the relative error ---------------------------------------------------------------------


def test_relative_error_values():
    a = np.array([1.0, 1.0, 0.0, 1.0, -2.0, 3.0])
    b = np.array([1.0, -1.0, 0.0, 1.1, -2.0, 0.0])
    # CS231n's measure |a - b| / max(|a|, |b|): 2 for opposite signs, 1 when one is 0.
    expected = [0.0, 2.0, 0.0, 0.1 / 1.1, 0.0, 1.0]
    assert_close(G.relative_error(a, b), expected, rtol=1e-14)
    assert_close(G.relative_error(b, a), expected, rtol=1e-14)
    assert_close(GT.relative_error(_t(a), _t(b)), expected, rtol=1e-14)
    # A floor turns tiny values into an absolute comparison.
    assert_close(G.relative_error([1e-9], [0.0], floor=1e-3), [1e-6], rtol=1e-12)
    assert_close(GT.relative_error([1e-9], [0.0], floor=1e-3), [1e-6], rtol=1e-12)


# --- gradient_check: reports, planted bugs, kinks, float32 ---------------------------------


# Gradients of very different sizes: 3e-5 and -7e-6 carry the same absolute rounding error
# (about eps * |f| / h) as 0.8 and -1.3, so their relative errors are far above 1e-7.
_C = np.array([3e-5, -7e-6, 0.8, -1.3])
_X0 = np.array([0.3, -1.1, 0.7, 2.0])


def test_relative_error_is_symmetric_bounded_and_scale_free(rng):
    """Signed values of any size: |a - b| / max(|a|, |b|), the same both ways round, at most 2,
    and relative for tiny values too (the default floor is the smallest normal, not 1)."""
    a, b = rng.normal(size=200), rng.normal(size=200) * 3
    err = G.relative_error(a, b)
    assert_close(err, np.abs(a - b) / np.maximum(np.abs(a), np.abs(b)))
    assert_close(G.relative_error(b, a), err)
    assert err.max() <= 2.0
    assert_close(G.relative_error(0.5, -1.0), 1.5)
    assert_close(G.relative_error(1e-8 * a, 1e-8 * b), err)


def test_the_reported_error_is_the_relative_error_of_the_reported_element():
    wrong = _C * np.cos(_X0)
    wrong[2] *= 1.001                              # a 0.1% bug on a gradient of size 0.6
    for g, to in ((G, np.asarray), (GT, _t)):
        f = (lambda v: 2.0 + np.sum(_C * np.sin(v))) if g is G else (lambda v: 2.0 + torch.sum(_t(_C) * torch.sin(v)))
        row = g.gradient_check(f, [to(_X0.copy())], [to(wrong)])["arrays[0]"]
        assert row.index == (2,) and row.verdict == "fail"
        # CS231n's measure of the two numbers the row prints, not a scaled absolute error.
        expected = abs(row.analytic - row.numerical) / max(abs(row.analytic), abs(row.numerical))
        assert row.max_rel_error == pytest.approx(expected, rel=1e-12)
        assert row.max_rel_error == pytest.approx(0.001 / 1.001, rel=1e-6)


def test_tiny_gradients_within_rounding_noise_are_counted_not_judged():
    right = _C * np.cos(_X0)
    results = [G.gradient_check(lambda v: 2.0 + np.sum(_C * np.sin(v)), [_X0.copy()], [right]),
               GT.gradient_check(lambda v: 2.0 + torch.sum(_t(_C) * torch.sin(v)), [_t(_X0)], [_t(right)])]
    for result in results:
        row = result.rows[0]
        err = np.asarray(result.errors["arrays[0]"])
        # The small gradients' relative errors are large but their differences are below atol ...
        assert err[0] > 1e-7 and err[1] > 1e-7 and np.all(err[2:] <= 1e-7)
        assert row.noisy == 2 and "rounding noise" in row.reason
        # ... so they are left out: the verdict is a pass and the maximum is the large gradients'.
        assert row.verdict == "pass" and row.max_rel_error == pytest.approx(err[2:].max()) and row.index in ((2,), (3,))
        assert "max(|a|, |n|, atol)" in repr(result)
    assert results[0].rows[0].noisy == results[1].rows[0].noisy
    # The twins' numerical gradients differ by their rounding (each within atol, which is
    # what NumPy's and torch's sin leave), so their errors differ by at most 2 atol / |a|.
    ours, twin = (np.asarray(r.errors["arrays[0]"]) for r in results)
    assert np.all(np.abs(twin - ours) <= 2 * results[0].atol / np.maximum(np.abs(right), results[0].atol))


def test_a_step_so_small_that_noise_hides_most_gradients_cannot_pass(rng):
    params, loss, grads = _mlp_loss(rng)
    assert G.gradient_check(loss, params, grads()).verdict == "pass"
    tiny = G.gradient_check(loss, params, grads(), h=1e-11)
    assert tiny.verdict == "warn" and all(row.noisy > 0 for row in tiny)
    assert any("rounding noise hides" in row.reason for row in tiny)
    right = _C * np.cos(_X0)
    for result in (G.gradient_check(lambda v: 2.0 + np.sum(_C * np.sin(v)), [_X0.copy()], [right], h=1e-11),
                   GT.gradient_check(lambda v: 2.0 + torch.sum(_t(_C) * torch.sin(v)), [_t(_X0)], [_t(right)], h=1e-11)):
        row = result.rows[0]
        assert row.verdict == "warn" and row.noisy == 4 and "rounding noise hides 4 of the 4" in row.reason


def test_truncation_error_of_a_large_step_is_not_taken_for_a_kink():
    # At a smooth point the error of h/10 is 100 times smaller than that of h; at a kink the
    # smaller step either still straddles it (the jump stays) or the error all but vanishes.
    right = _C * np.cos(_X0)
    for result in (G.gradient_check(lambda v: 2.0 + np.sum(_C * np.sin(v)), [_X0.copy()], [right], h=0.3),
                   GT.gradient_check(lambda v: 2.0 + torch.sum(_t(_C) * torch.sin(v)), [_t(_X0)], [_t(right)], h=0.3)):
        row = result.rows[0]
        assert row.kinks == 0 and row.verdict == "fail"
        assert row.max_rel_error == pytest.approx(1 - np.sin(0.3) / 0.3, rel=1e-6)   # h**2 / 6


def test_a_bug_on_a_tiny_gradient_is_still_caught_when_it_exceeds_the_noise():
    wrong = _C * np.cos(_X0)
    wrong[1] *= 3                                   # |a - n| ~ 1e-5, a thousand times atol
    result = G.gradient_check(lambda v: 2.0 + np.sum(_C * np.sin(v)), [_X0.copy()], [wrong])
    row = result.rows[0]
    assert row.verdict == "fail" and row.index == (1,) and row.noisy == 1
    assert row.max_rel_error == pytest.approx(2 / 3, rel=1e-4)



def _mlp_loss(rng, n=6, d=4, k=8, c=3):
    """A tiny two-layer net as a closure over a params dict, with its exact gradients."""
    params = {"w1": rng.normal(size=(d, k)) * 0.5, "b1": rng.normal(size=k) * 0.1,
              "w2": rng.normal(size=(k, c)) * 0.5, "b2": rng.normal(size=c) * 0.1}
    x, y = rng.normal(size=(n, d)), rng.integers(0, c, size=n)

    def loss():
        hid = np.tanh(x @ params["w1"] + params["b1"])
        return LN.cross_entropy(hid @ params["w2"] + params["b2"], y)

    def grads():
        hid = np.tanh(x @ params["w1"] + params["b1"])
        dz = (_softmax(hid @ params["w2"] + params["b2"]) - np.eye(c)[y]) / n
        dh = dz @ params["w2"].T * (1 - hid**2)
        return {"w1": x.T @ dh, "b1": dh.sum(0), "w2": hid.T @ dz, "b2": dz.sum(0)}

    return params, loss, grads


def test_gradient_check_passes_a_correct_gradient(rng):
    params, loss, grads = _mlp_loss(rng)
    result = G.gradient_check(loss, params, grads())
    assert result.verdict == "pass" and result.passed
    assert [r.name for r in result] == ["w1", "b1", "w2", "b2"]
    for row in result:
        assert row.verdict == "pass" and row.max_rel_error <= 1e-7 and row.kinks == 0
        assert result.errors[row.name].shape == params[row.name].shape
    assert result.dtype == "float64" and result.h == 1e-6


@pytest.mark.parametrize("where", [("w1", (2, 5)), ("b1", (7,)), ("w2", (0, 2)), ("b2", (1,))])
def test_gradient_check_locates_a_planted_wrong_gradient(where, rng):
    name, index = where
    params, loss, grads = _mlp_loss(rng)
    wrong = grads()
    wrong[name][index] += 0.5 * abs(wrong[name][index]) + 0.05
    result = G.gradient_check(loss, params, wrong)
    assert result.verdict == "fail" and not result.passed and result.failed() == [name]
    row = result[name]
    assert row.index == index
    assert row.analytic == pytest.approx(wrong[name][index])
    assert row.numerical == pytest.approx(grads()[name][index], rel=1e-6)
    assert str(index) in row.reason
    assert all(r.verdict == "pass" for r in result if r.name != name)


def test_torch_twin_locates_a_planted_wrong_gradient(rng):
    params, _, grads = _mlp_loss(rng)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    tp = {k: _t(v) for k, v in params.items()}
    xt, yt = _t(x), torch.as_tensor(y)

    def loss():
        hid = torch.tanh(xt @ tp["w1"] + tp["b1"])
        return F.cross_entropy(hid @ tp["w2"] + tp["b2"], yt)

    right = GT.gradient_check(loss, tp, "autograd")
    assert right.verdict == "pass" and right.autograd_gradcheck is True
    wrong = {k: v.clone() for k, v in _autograd(loss, tp).items()}
    wrong["w2"][3, 1] *= -1
    result = GT.gradient_check(loss, tp, wrong)
    assert result.failed() == ["w2"] and result["w2"].index == (3, 1)
    assert result.autograd_gradcheck is True  # autograd itself is right; our "analytic" input is not


def _autograd(loss, tp):
    for v in tp.values():
        v.requires_grad_(True)
    grads = torch.autograd.grad(loss(), list(tp.values()))
    for v in tp.values():
        v.requires_grad_(False)
    return dict(zip(tp, grads))


def test_report_table_and_html(rng):
    params, loss, grads = _mlp_loss(rng)
    wrong = grads()
    wrong["b2"][0] += 1.0
    result = G.gradient_check(loss, params, wrong)
    text = repr(result)
    for word in ("parameter", "w1", "b2", "fail", "pass", "FAIL", "(0,)"):
        assert word in text
    html = result._repr_html_()
    assert "<table>" in html and "b2" in html and "fail" in html
    with pytest.raises(KeyError, match="w3"):
        result["w3"]


def test_list_form_calls_f_with_the_arrays(rng):
    x = rng.uniform(-1, 1, size=5)
    result = G.gradient_check(lambda v: np.sum(v**4), [x], [4 * x**3])
    assert result.verdict == "pass" and result.rows[0].name == "arrays[0]"
    bad = G.gradient_check(lambda v: np.sum(v**4), [x], [3 * x**3])
    assert bad.verdict == "fail"


def _kinked_relu_net(rng):
    """Linear -> ReLU -> Linear whose hidden unit 5 of example 2 sits 3e-7 above the kink."""
    model = L.Sequential(L.Linear(4, 16, rng=rng), L.ReLU(), L.Linear(16, 3, rng=rng))
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    z = x @ model[0].params["weight"].T + model[0].params["bias"]
    model[0].params["bias"][5] -= z[2, 5] - 3e-7
    return model, x, y


def test_a_relu_kink_is_a_warning_not_a_failure(rng):
    model, x, y = _kinked_relu_net(rng)
    with pytest.warns(G.GradientCheckWarning, match="kink") as caught:
        result = G.check_model_gradients(model, LN.CrossEntropyLoss(), x, y)
    assert any("'0.bias'" in str(w.message) and "(5,)" in str(w.message) for w in caught)
    assert result.verdict == "warn"
    assert result["0.bias"].verdict == "warn" and result["0.bias"].kinks == 1
    assert "kink" in result["0.bias"].reason
    assert result["0.weight"].kinks >= 1
    # The raw error at the kink is large: without the detection this would be a false alarm.
    assert result.errors["0.bias"][5] > 1e-4
    assert result["2.weight"].verdict == "pass"


def test_a_real_bug_next_to_a_kink_still_fails(rng):
    model, x, y = _kinked_relu_net(rng)

    class Bad(L.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["weight"] = self.grads["weight"] * 1.01
            return dx

    bad = L.Sequential(model[0], model[1], Bad(16, 3, rng=rng))
    with pytest.warns(G.GradientCheckWarning, match="kink"):
        result = G.check_model_gradients(bad, LN.CrossEntropyLoss(), x, y)
    assert result.failed() == ["2.weight"] and result["0.bias"].verdict == "warn"


def test_abs_kink_in_a_plain_function():
    v = np.array([3e-7, -2e-7, 1.0, -2.0])
    with pytest.warns(G.GradientCheckWarning, match="2 element"):
        result = G.gradient_check(lambda a: np.abs(a).sum(), [v], [np.sign(v)])
    assert result.verdict == "warn" and result.rows[0].kinks == 2
    # A wrong sign at a smooth point is not mistaken for a kink.
    wrong = np.sign(v)
    wrong[2] = -1.0
    with pytest.warns(G.GradientCheckWarning):
        assert G.gradient_check(lambda a: np.abs(a).sum(), [v], [wrong]).verdict == "fail"


def test_float32_warns_and_still_catches_a_bug(rng):
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=8)
    model = L.Sequential(L.Linear(4, 16, rng=rng, dtype=np.float32), L.Tanh(),
                         L.Linear(16, 3, rng=rng, dtype=np.float32))
    with pytest.warns(G.GradientCheckWarning, match="float32"):
        result = G.check_model_gradients(model, LN.CrossEntropyLoss(), x, y)
    assert result.dtype == "float32" and result.h == 1e-3
    assert all(r.verdict == "warn" and "float32" in r.reason for r in result)

    class Flipped(L.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["weight"] = -self.grads["weight"]
            return dx

    bad = L.Sequential(model[0], model[1], Flipped(16, 3, rng=rng, dtype=np.float32))
    with pytest.warns(G.GradientCheckWarning, match="float32"):
        assert G.check_model_gradients(bad, LN.CrossEntropyLoss(), x, y).failed() == ["2.weight"]


def test_torch_float32_warns_and_skips_autograd_gradcheck(generator):
    model = T.Sequential(T.Linear(4, 8, generator=generator), T.Tanh(), T.Linear(8, 3, generator=generator))
    x, y = torch.randn(6, 4, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    with pytest.warns(GT.GradientCheckWarning, match="float32"):
        result = GT.check_model_gradients(model, F.cross_entropy, x, y)
    assert result.verdict == "warn" and result.autograd_gradcheck is None and "float32" in result.autograd_note


def test_nondeterministic_f_is_refused(rng):
    model = L.Sequential(L.Linear(4, 5, rng=rng), L.Dropout(0.5, rng=rng), L.Linear(5, 2, rng=rng))
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 2, size=6)
    with pytest.raises(ValueError, match="deterministic.*Dropout"):
        G.check_model_gradients(model, LN.CrossEntropyLoss(), x, y)
    assert G.check_model_gradients(model.eval(), LN.CrossEntropyLoss(), x, y).verdict == "pass"


# --- models: NumPy and torch ---------------------------------------------------------------


def test_check_model_gradients_numpy_restores_buffers(rng):
    model = L.Sequential(L.Linear(4, 6, rng=rng), L.BatchNorm1d(6), L.Tanh(), L.Linear(6, 3, rng=rng))
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    result = G.check_model_gradients(model, LN.CrossEntropyLoss(), x, y)
    assert result.verdict == "pass"
    assert [r.name for r in result] == list(model.params)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k]), k


def _torch_models(generator):
    return {
        "tipslib": T.Sequential(T.Linear(4, 8, generator=generator, dtype=F64), T.Tanh(),
                                T.Linear(8, 3, generator=generator, dtype=F64)),
        "torch.nn": torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Sigmoid(),
                                        torch.nn.Linear(8, 3)).to(F64),
    }


@pytest.mark.parametrize("kind", ["tipslib", "torch.nn"])
def test_check_model_gradients_torch_agrees_with_autograd_gradcheck(kind, generator, device):
    model = _torch_models(generator)[kind].to(device)
    x = torch.randn(6, 4, generator=generator, dtype=F64).to(device)
    y = torch.randint(0, 3, (6,), generator=generator).to(device)
    marker = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    result = GT.check_model_gradients(model, LT.cross_entropy, x, y)
    assert result.verdict == "pass" and result.autograd_gradcheck is True
    assert [r.name for r in result] == [k for k, _ in model.named_parameters()]
    # Same function, torch's own checker: the same answer.
    loss = lambda *ps: LT.cross_entropy(torch.func.functional_call(  # noqa: E731
        model, dict(zip([k for k, _ in model.named_parameters()], ps)), (x,)), y)
    inputs = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    assert torch.autograd.gradcheck(loss, inputs)
    for p, m in zip(model.parameters(), marker):
        assert torch.equal(p, m) and torch.equal(p.grad, torch.full_like(p, 7.0))


class _WrongLinearFunction(T.LinearFunction):
    """Our LinearFunction with one planted slip: the weight gradient's last column is lost."""

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        dx, dweight, dbias = T.linear_backward(dout, load_cache(ctx))
        dweight = dweight.clone()
        dweight[:, -1] = 0
        return dx, dweight, dbias if ctx.has_bias else None


class _WrongLinear(T.Linear):
    def forward(self, x):
        return _WrongLinearFunction.apply(x, self.weight, self.bias)


def test_torch_planted_bug_fails_both_checks(generator):
    model = T.Sequential(T.Linear(4, 8, generator=generator, dtype=F64), T.Tanh(),
                         _WrongLinear(8, 3, generator=generator, dtype=F64))
    x = torch.randn(6, 4, generator=generator, dtype=F64)
    y = torch.randint(0, 3, (6,), generator=generator)
    result = GT.check_model_gradients(model, LT.cross_entropy, x, y)
    assert result.failed() == ["2.weight"] and result["2.weight"].index[1] == 7
    assert result.autograd_gradcheck is False


class _Cube(torch.autograd.Function):
    """x**3 with a hand-written backward, right or (``wrong=True``) off by a factor."""

    @staticmethod
    def forward(ctx, x, wrong):
        ctx.save_for_backward(x)
        ctx.wrong = wrong
        return x**3

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        return dout * (2.0 if ctx.wrong else 3.0) * x**2, None


@pytest.mark.parametrize("wrong", [False, True])
def test_torch_gradient_check_agrees_with_autograd_gradcheck_on_functions(wrong, generator):
    x = torch.rand(5, dtype=F64, generator=generator) + 0.5
    f = lambda v: _Cube.apply(v, wrong).sum()  # noqa: E731
    result = GT.gradient_check(f, [x], "autograd")
    direct = torch.autograd.gradcheck(f, (x.clone().requires_grad_(),), raise_exception=False)
    assert direct is (not wrong)
    assert result.autograd_gradcheck is direct
    assert result.verdict == ("fail" if wrong else "pass")
    assert not x.requires_grad  # the flag is put back


@pytest.mark.parametrize("name", ["cubic", "sin", "product", "softmax_cross_entropy"])
def test_torch_gradient_check_on_known_functions(name, rng):
    f_np, f_th, exact, x = _known(rng)[name]
    result = GT.gradient_check(f_th, [_t(x)], [_t(exact(x))])
    assert result.verdict == "pass" and result.autograd_gradcheck is True
    np_result = G.gradient_check(f_np, [x.copy()], [exact(x)])
    assert np_result.verdict == "pass"


# --- every NumPy layer and loss passes ---------------------------------------------------


class _FixedMaskDropout(L.Dropout):
    """Dropout in training mode with an injected generator, reset per forward: one fixed mask."""

    def forward(self, x):
        self.rng = np.random.default_rng(5)
        return super().forward(x)


#: class name -> list of (id, make layer from rng, input shape). Every Module subclass that
#: tipslib.layers.numpy_impl exports must appear here (see the coverage test below).
LAYER_CASES = {
    "Linear": [("bias", lambda rng: L.Linear(5, 3, rng=rng), (6, 5)),
               ("no-bias", lambda rng: L.Linear(5, 3, bias=False, rng=rng), (6, 5)),
               ("3d-input", lambda rng: L.Linear(5, 3, rng=rng), (2, 4, 5))],
    "ReLU": [("", lambda rng: L.ReLU(), (6, 5))],
    "Sigmoid": [("", lambda rng: L.Sigmoid(), (6, 5))],
    "Tanh": [("", lambda rng: L.Tanh(), (6, 5))],
    "Softmax": [("dim1", lambda rng: L.Softmax(dim=1), (6, 5)),
                ("dim0", lambda rng: L.Softmax(dim=0), (6, 5))],
    "Sequential": [("mlp", lambda rng: L.Sequential(L.Linear(5, 7, rng=rng), L.Tanh(), L.Linear(7, 4, rng=rng),
                                                    L.Softmax()), (6, 5))],
    "BatchNorm1d": [("train", lambda rng: _bn(L.BatchNorm1d, 5, rng), (6, 5)),
                    ("train-3d", lambda rng: _bn(L.BatchNorm1d, 5, rng), (4, 5, 3)),
                    ("eval", lambda rng: _bn(L.BatchNorm1d, 5, rng).eval(), (6, 5))],
    "BatchNorm2d": [("train", lambda rng: _bn(L.BatchNorm2d, 3, rng), (2, 3, 4, 4)),
                    ("eval", lambda rng: _bn(L.BatchNorm2d, 3, rng).eval(), (2, 3, 4, 4))],
    "Dropout": [("train-fixed-mask", lambda rng: _FixedMaskDropout(0.3), (6, 5)),
                ("eval", lambda rng: L.Dropout(0.3, rng=rng).eval(), (6, 5))],
}


def _bn(cls, c, rng):
    """Batch norm with non-trivial weight, bias and running statistics."""
    layer = cls(c)
    for k, v in layer.params.items():
        v[...] = rng.normal(size=v.shape) + (1.0 if k == "weight" else 0.0)
    if "running_mean" in layer.buffers:
        layer.buffers["running_mean"][...] = rng.normal(size=c) * 0.3
        layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, size=c)
    return layer


def _numpy_layer_classes():
    return sorted(n for n in L.__all__ if inspect.isclass(getattr(L, n))
                  and issubclass(getattr(L, n), L.Module) and getattr(L, n) is not L.Module)


def test_every_numpy_layer_class_has_a_gradient_check_case():
    missing = sorted(set(_numpy_layer_classes()) - set(LAYER_CASES))
    assert not missing, f"layers without a gradient-check case in LAYER_CASES: {missing}"


_LAYER_PARAMS = [pytest.param(name, make, shape, id=f"{name}-{cid}" if cid else name)
                 for name, cases in LAYER_CASES.items() for cid, make, shape in cases]


@pytest.mark.parametrize("name,make,shape", _LAYER_PARAMS)
def test_every_numpy_layer_passes_gradient_check(name, make, shape, rng):
    layer = make(rng)
    x = rng.normal(size=shape)
    result = G.check_layer_gradients(layer, x, rng=rng)
    assert result.verdict == "pass", repr(result)
    assert [r.name for r in result] == ["x", *layer.params]


def test_the_layer_check_catches_a_wrong_layer_backward(rng):
    class HalfSigmoid(L.Sigmoid):
        def backward(self, dout):
            return 0.5 * super().backward(dout)

    result = G.check_layer_gradients(HalfSigmoid(), rng.normal(size=(4, 3)), rng=rng)
    assert result.failed() == ["x"]


def _loss_input(name, rng):
    if name in ("BCELoss",):
        return rng.uniform(0.05, 0.95, size=(6, 3)), rng.uniform(size=(6, 3))
    if name == "CrossEntropyLoss":
        return rng.normal(size=(6, 4)) * 2, rng.integers(0, 4, size=6)
    return rng.normal(size=(6, 3)) * 2, rng.uniform(size=(6, 3))


def _numpy_loss_classes():
    return sorted(n for n in LN.__all__ if inspect.isclass(getattr(LN, n)) and n.endswith("Loss"))


def test_every_numpy_loss_class_is_covered():
    assert set(_numpy_loss_classes()) >= {"BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss"}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", _numpy_loss_classes())
def test_every_numpy_loss_backward_passes_gradient_check(name, reduction, rng):
    loss = getattr(LN, name)(reduction=reduction)
    x, y = _loss_input(name, rng)
    out = loss.forward(x, y)
    dout = rng.normal(size=np.shape(out)) if reduction == "none" else 1.3
    dx = np.array(loss.backward(dout), copy=True)
    result = G.gradient_check(lambda: np.sum(loss.forward(x, y) * dout), {"input": x}, {"input": dx})
    assert result.verdict == "pass", repr(result)


# torch layers: our autograd.Functions, checked with the twin (which also runs autograd.gradcheck)
TORCH_LAYER_CASES = {
    "Linear": lambda g: T.Linear(5, 3, generator=g, dtype=F64),
    "ReLU": lambda g: T.ReLU(),
    "Sigmoid": lambda g: T.Sigmoid(),
    "Tanh": lambda g: T.Tanh(),
    "Softmax": lambda g: T.Softmax(dim=1),
    "Sequential": lambda g: T.Sequential(T.Linear(5, 4, generator=g, dtype=F64), T.Tanh()),
    "BatchNorm1d": lambda g: T.BatchNorm1d(5, dtype=F64),
    "Dropout": lambda g: T.Dropout(0.3).eval(),
}


@pytest.mark.parametrize("name", sorted(TORCH_LAYER_CASES))
def test_torch_layers_pass_gradient_check(name, generator):
    layer = TORCH_LAYER_CASES[name](generator)
    x = torch.randn(6, 5, generator=generator, dtype=F64)
    result = GT.check_layer_gradients(layer, x, generator=generator)
    assert result.verdict == "pass", repr(result)
    assert result.autograd_gradcheck is True


# --- the step size --------------------------------------------------------------------------


HS = np.logspace(-16, 0, 161)


def test_step_size_errors_make_a_u_curve():
    for dtype, method in [(np.float64, "centered"), (np.float64, "forward"),
                          (np.float32, "centered"), (np.float32, "forward")]:
        # Rounding errors are erratic from one point to the next: average over 41 points.
        err = G.step_size_errors(np.sin, np.cos, np.linspace(0.5, 1.5, 41), HS, method=method, dtype=dtype)
        assert err.shape == (len(HS), 41)
        err = err.mean(axis=1)
        best = HS[np.argmin(err)]
        h_star = G.optimal_step_size(dtype, method)
        assert h_star / 30 < best < h_star * 30, (dtype, method, best, h_star)
        assert err[0] > 100 * err.min() and err[-1] > 100 * err.min()


def test_truncation_order_centered_h2_forward_h():
    hs = np.array([1e-2, 1e-3])
    c = G.step_size_errors(np.sin, np.cos, 1.0, hs)
    f = G.step_size_errors(np.sin, np.cos, 1.0, hs, method="forward")
    assert c[0] / c[1] == pytest.approx(100, rel=0.01)   # error ~ h^2 |f'''| / 6
    assert f[0] / f[1] == pytest.approx(10, rel=0.01)    # error ~ h |f''| / 2
    assert c[1] == pytest.approx(1e-6 * np.cos(1.0) / 6, rel=0.01)


def test_float32_is_worse_and_prefers_a_larger_step():
    e64 = G.step_size_errors(np.sin, np.cos, 1.0, HS)
    e32 = G.step_size_errors(np.sin, np.cos, 1.0, HS, dtype=np.float32)
    assert e32.min() > 1e3 * e64.min()
    assert HS[np.argmin(e32)] > 100 * HS[np.argmin(e64)]
    # Below float32's resolution x + h == x: the estimate is 0, the error |f'(x)|.
    assert e32[0] == pytest.approx(np.cos(1.0))


def test_step_size_errors_twins_agree_and_take_arrays_of_points():
    xs = np.array([0.3, 1.0, 2.0])
    ours = G.step_size_errors(np.sin, np.cos, xs, HS[::10])
    twin = GT.step_size_errors(torch.sin, torch.cos, torch.tensor(xs), HS[::10])
    assert ours.shape == (len(HS[::10]), 3)
    # Each estimate's rounding error is a few eps / h (sin near 1, x up to 2); NumPy's and torch's
    # sin may differ in the last bit, so the twins agree to that: closely where truncation
    # dominates (large h), and both are noise at the smallest steps.
    rounding = 8 * np.finfo(np.float64).eps / HS[::10][:, None]
    assert np.all(np.abs(to_numpy(twin) - ours) <= rounding)
    assert to_numpy(twin).max() < 1.0
    for dt_np, dt_th in [(np.float64, F64), (np.float32, torch.float32)]:
        for method in ("centered", "forward"):
            assert G.optimal_step_size(dt_np, method) == pytest.approx(GT.optimal_step_size(dt_th, method))


# --- bad input ------------------------------------------------------------------------------


def _x(backend, shape=(3,), dtype="float64"):
    a = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape).astype(dtype)
    return a if backend == "numpy" else torch.tensor(a)


def _mod(backend):
    return G if backend == "numpy" else GT


_SQ = lambda v: (v * v).sum()  # noqa: E731
BAD = [
    # id, call(G, backend), exception, message fragment
    ("h-zero", lambda g, b: g.numerical_gradient(_SQ, _x(b), h=0.0), ValueError, "'h'"),
    ("h-negative", lambda g, b: g.numerical_gradient(_SQ, _x(b), h=-1e-3), ValueError, "'h'"),
    ("h-nan", lambda g, b: g.numerical_gradient(_SQ, _x(b), h=float("nan")), ValueError, "'h'"),
    ("h-string", lambda g, b: g.numerical_gradient(_SQ, _x(b), h="1e-6"), TypeError, "'h'"),
    ("h-too-small", lambda g, b: g.numerical_gradient(_SQ, _x(b, dtype="float32"), h=1e-12), ValueError, "round"),
    ("int-array", lambda g, b: g.numerical_gradient(_SQ, _x(b, dtype="int64")), TypeError, "floating-point"),
    ("no-arrays", lambda g, b: g.numerical_gradient(_SQ), ValueError, "'arrays'"),
    ("f-not-callable", lambda g, b: g.numerical_gradient(3, _x(b)), TypeError, "'f'"),
    ("f-non-scalar", lambda g, b: g.numerical_gradient(lambda v: v * 2, _x(b)), ValueError, "scalar"),
    ("check-non-scalar", lambda g, b: g.gradient_check(lambda v: v * 2, [_x(b)], [_x(b)]), ValueError, "scalar"),
    ("check-shape", lambda g, b: g.gradient_check(_SQ, [_x(b)], [_x(b, (4,))]), ValueError, "'analytic_grads'"),
    ("check-count", lambda g, b: g.gradient_check(_SQ, [_x(b)], [_x(b), _x(b)]), ValueError, "'analytic_grads'"),
    ("check-keys", lambda g, b: g.gradient_check(lambda: 0.0, {"w": _x(b)}, {"v": _x(b)}), ValueError, "keys"),
    ("check-grad-type", lambda g, b: g.gradient_check(_SQ, [_x(b)], 3), TypeError, "'analytic_grads'"),
    ("check-int-grad", lambda g, b: g.gradient_check(_SQ, [_x(b)], [_x(b, dtype="int64")]), TypeError, "analytic_grads"),
    ("check-float16", lambda g, b: g.gradient_check(_SQ, [_x(b, dtype="float16")], [_x(b, dtype="float16")]),
     TypeError, "float32 or float64"),
    ("check-container", lambda g, b: g.gradient_check(_SQ, _x(b), [_x(b)]), TypeError, "'arrays_or_params'"),
    ("check-empty", lambda g, b: g.gradient_check(_SQ, [], []), ValueError, "'arrays_or_params'"),
    ("check-tols", lambda g, b: g.gradient_check(_SQ, [_x(b)], [2 * _x(b)], pass_tol=1e-2, fail_tol=1e-3),
     ValueError, "'fail_tol'"),
    ("check-pass-tol", lambda g, b: g.gradient_check(_SQ, [_x(b)], [2 * _x(b)], pass_tol=0), ValueError, "'pass_tol'"),
    ("check-atol", lambda g, b: g.gradient_check(_SQ, [_x(b)], [2 * _x(b)], atol=-1.0), ValueError, "'atol'"),
    ("check-nan-start", lambda g, b: g.gradient_check(lambda v: v.sum() * float("nan"), [_x(b)], [_x(b)]),
     ValueError, "finite"),
    ("check-random-f", lambda g, b: g.gradient_check(lambda v: v.sum() + np.random.default_rng().normal(),
                                                     [_x(b)], [_x(b)]), ValueError, "deterministic"),
    ("rel-shape", lambda g, b: g.relative_error(_x(b), _x(b, (4,))), ValueError, "'b'"),
    ("rel-complex", lambda g, b: g.relative_error(np.array([1j]), np.array([1j])), TypeError, "'a'"),
    ("rel-floor", lambda g, b: g.relative_error(_x(b), _x(b), floor=-1.0), ValueError, "'floor'"),
    ("steps-zero", lambda g, b: g.step_size_errors(np.sin if b == "numpy" else torch.sin,
                                                   np.cos if b == "numpy" else torch.cos, 1.0, [1e-3, 0.0]),
     ValueError, "'hs'"),
    ("steps-method", lambda g, b: g.step_size_errors(np.sin, np.cos, 1.0, [1e-3], method="backward"),
     ValueError, "'method'"),
    ("steps-dtype", lambda g, b: g.step_size_errors(np.sin, np.cos, 1.0, [1e-3], dtype="int32"),
     TypeError, "'dtype'"),
    ("steps-x-2d", lambda g, b: g.step_size_errors(np.sin, np.cos, np.ones((2, 2)), [1e-3]),
     ValueError, "'x'"),
    ("optimal-dtype", lambda g, b: g.optimal_step_size(int), TypeError, "'dtype'"),
    ("model-type", lambda g, b: g.check_model_gradients(object(), LN.CrossEntropyLoss(), _x(b), _x(b)),
     TypeError, "'model'"),
    ("layer-type", lambda g, b: g.check_layer_gradients(object(), _x(b)), TypeError, "'layer'"),
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input(case, backend):
    _, call, exc, fragment = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", G.GradientCheckWarning)
        with pytest.raises(exc, match=fragment) as info:
            call(_mod(backend), backend)
    assert "parameter" in str(info.value) or "must" in str(info.value)


def test_model_without_parameters_is_refused(rng):
    with pytest.raises(ValueError, match="'model'.*check_layer_gradients"):
        G.check_model_gradients(L.ReLU(), LN.MSELoss(), rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    with pytest.raises(ValueError, match="'model'.*check_layer_gradients"):
        GT.check_model_gradients(T.ReLU(), LT.mse_loss, torch.zeros(3, 2), torch.zeros(3, 2))


def test_dout_of_the_wrong_shape_is_refused(rng):
    with pytest.raises(ValueError, match="'dout'"):
        G.check_layer_gradients(L.Tanh(), rng.normal(size=(3, 2)), rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="'dout'"):
        GT.check_layer_gradients(T.Tanh(), torch.zeros(3, 2, dtype=F64), torch.zeros(2, 3, dtype=F64))


def test_torch_nondeterministic_model_is_refused_and_state_is_restored(generator):
    model = T.Sequential(T.Linear(4, 6, generator=generator, dtype=F64), T.BatchNorm1d(6, dtype=F64),
                         T.Dropout(0.5, generator=generator), T.Linear(6, 2, generator=generator, dtype=F64))
    x = torch.randn(8, 4, generator=generator, dtype=F64)
    y = torch.randint(0, 2, (8,), generator=generator)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="deterministic.*Dropout"):
        GT.check_model_gradients(model, F.cross_entropy, x, y)
    model[2].eval()  # batch norm stays in training mode: deterministic, running stats restored after
    result = GT.check_model_gradients(model, F.cross_entropy, x, y)
    assert result.verdict == "pass" and result.autograd_gradcheck is True
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


# --- checks at the door ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("bad", [
    {"pass_tol": 1e-2, "fail_tol": 1e-3},  # thresholds in the wrong order
    {"h": -1.0},
    {"atol": float("inf")},
])
def test_gradient_check_refuses_bad_settings_before_calling_f(bad, backend):
    calls = []

    def f(v):
        calls.append(1)
        return (v * v).sum()

    with pytest.raises(ValueError):
        _mod(backend).gradient_check(f, [_x(backend)], [2 * _x(backend)], **bad)
    assert not calls


def test_non_contiguous_arrays_are_refused_before_f_runs():
    calls = []

    def f(v):
        calls.append(1)
        return (v * v).sum()

    a = np.ones((3, 4))[:, :2]  # rows with gaps: no flat view to nudge
    t = torch.ones(3, 4, dtype=F64)[:, :2]
    for call in (lambda: G.numerical_gradient(f, a), lambda: GT.numerical_gradient(f, t),
                 lambda: G.gradient_check(f, [a], [a]), lambda: GT.gradient_check(f, [t], [t])):
        with pytest.raises(ValueError, match="contiguous"):
            call()
    assert not calls


def test_autograd_grads_are_a_torch_only_choice():
    with pytest.raises(TypeError, match="'analytic_grads'"):
        G.gradient_check(_SQ, [_x("numpy")], "autograd")
    with pytest.raises(ValueError, match="'analytic_grads'"):
        GT.gradient_check(_SQ, [_x("torch")], "autograd2")


@pytest.mark.parametrize("mod", [G, GT], ids=["numpy", "torch"])
def test_public_functions_keep_their_bare_math(mod):
    # the decorated function checks at the door; __wrapped__ is the formula alone
    for name in ("numerical_gradient", "relative_error", "gradient_check", "check_model_gradients",
                 "check_layer_gradients", "step_size_errors", "optimal_step_size"):
        fn = getattr(mod, name)
        assert fn.constraints and callable(fn.__wrapped__), name
    a, b = _x("numpy" if mod is G else "torch"), 2 * _x("numpy" if mod is G else "torch")
    assert to_numpy(mod.relative_error.__wrapped__(a, b)).tolist() == to_numpy(mod.relative_error(a, b)).tolist()
