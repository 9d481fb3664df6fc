"""Layers: NumPy reference vs torch twin vs torch built-in, forward and backward, float64."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_close, tensor
from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as T

# name -> (numpy forward/backward pair, torch twin pair, torch built-in, extra args)
ELEMENTWISE = {
    "relu": (L.relu_forward, L.relu_backward, T.ReLUFunction, F.relu),
    "sigmoid": (L.sigmoid_forward, L.sigmoid_backward, T.SigmoidFunction, torch.sigmoid),
    "tanh": (L.tanh_forward, L.tanh_backward, T.TanhFunction, torch.tanh),
}


def _t(a, device="cpu", grad=True):  # the shared helper; here leaves need a grad unless told
    return tensor(a, device, grad)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_three_way(name, rng, device):
    fwd, bwd, fn, builtin = ELEMENTWISE[name]
    x = rng.normal(size=(7, 5)) * 3
    dout = rng.normal(size=x.shape)
    out, cache = fwd(x)
    dx = bwd(dout, cache)

    xt = _t(x, device)
    ours = fn.apply(xt)
    ours.backward(_t(dout, device, False))
    xb = _t(x, device)
    ref = builtin(xb)
    ref.backward(_t(dout, device, False))

    assert_close(out, ref)
    assert_close(ours, ref)
    assert_close(dx, xb.grad)
    assert_close(xt.grad, xb.grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_three_way(rng, device, dim):
    x = rng.normal(size=(4, 6)) * 5
    dout = rng.normal(size=x.shape)
    out, cache = L.softmax_forward(x, dim)
    dx = L.softmax_backward(dout, cache)
    xt, xb = _t(x, device), _t(x, device)
    T.SoftmaxFunction.apply(xt, dim).backward(_t(dout, device, False))
    ref = F.softmax(xb, dim=dim)
    ref.backward(_t(dout, device, False))
    assert_close(out, ref)
    assert_close(dx, xb.grad)
    assert_close(xt.grad, xb.grad)


@pytest.mark.parametrize("shape, dim", [((0, 3), 0), ((3, 0), 1), ((3, 0), 0), ((2, 0, 4), 1)])
def test_softmax_of_an_empty_array_is_empty_like_builtin(shape, dim):
    # Softmax over an axis of length 0 normalises nothing: torch gives an empty output and
    # gradient. The shift by the maximum must not ask for the maximum of nothing.
    x = np.zeros(shape)
    out, cache = L.softmax_forward(x, dim)
    dx = L.softmax_backward(np.zeros(shape), cache)
    xt, xb = _t(x), _t(x)
    ours = T.SoftmaxFunction.apply(xt, dim)
    ours.sum().backward()
    ref = F.softmax(xb, dim=dim)
    ref.sum().backward()
    for a in (out, dx, ours, xt.grad, L.Softmax(dim)(x), T.Softmax(dim)(torch.from_numpy(x))):
        assert tuple(a.shape) == tuple(ref.shape) == shape
    assert_close(xt.grad, xb.grad)


def test_softmax_is_exact_for_huge_logits():
    out, _ = L.softmax_forward(np.array([[1e4, 0.0, -1e4]]))
    assert np.isfinite(out).all()
    assert_close(out, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_shifts_each_slice_by_its_own_maximum(dim):
    """Slices on very different scales: one shared shift would underflow the low ones to 0/0."""
    x = np.array([[1000.0, 999.0, 998.0], [0.0, -1.0, 2.0], [-1000.0, -1001.0, -999.0]])
    x = x.T if dim == 0 else x  # each slice along dim sits on its own scale
    out, _ = L.softmax_forward(x, dim)
    assert np.isfinite(out).all()
    assert_close(out, F.softmax(torch.tensor(x), dim=dim))


def test_sigmoid_finite_at_extremes():
    out, _ = L.sigmoid_forward(np.array([-1e4, -745.0, 0.0, 745.0, 1e4]))
    assert np.isfinite(out).all()
    assert_close(out, torch.sigmoid(torch.tensor([-1e4, -745.0, 0.0, 745.0, 1e4], dtype=torch.float64)))


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_three_way(rng, device, shape, bias):
    x = rng.normal(size=shape)
    w = rng.normal(size=(3, 4))
    b = rng.normal(size=3) if bias else None
    out, cache = L.linear_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    dx, dw, db = L.linear_backward(dout, cache)

    xt, wt = _t(x, device), _t(w, device)
    bt = _t(b, device) if bias else None
    T.LinearFunction.apply(xt, wt, bt).backward(_t(dout, device, False))
    xb, wb = _t(x, device), _t(w, device)
    bb = _t(b, device) if bias else None
    ref = F.linear(xb, wb, bb)
    ref.backward(_t(dout, device, False))

    assert_close(out, ref)
    assert_close(dx, xb.grad)
    assert_close(dw, wb.grad)
    assert_close(xt.grad, xb.grad)
    assert_close(wt.grad, wb.grad)
    if bias:
        assert_close(db, bb.grad)
        assert_close(bt.grad, bb.grad)
    else:
        assert bt is None


def _check_layer_numerically(layer, x, rng, rtol=1e-7):
    """Every NumPy backward agrees with centered differences of sum(out * dout)."""
    out = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    loss = lambda *_: float(np.sum(layer.forward(x) * dout))
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=rtol, atol=1e-8)
    for name, p in layer.params.items():
        np.testing.assert_allclose(layer.grads[name], numerical_gradient(loss, p), rtol=rtol, atol=1e-8,
                                   err_msg=name)


@pytest.mark.parametrize("make", [
    lambda rng: L.Linear(5, 3, rng=rng),
    lambda rng: L.Linear(5, 3, bias=False, rng=rng),
    lambda rng: L.ReLU(),
    lambda rng: L.Sigmoid(),
    lambda rng: L.Tanh(),
    lambda rng: L.Softmax(dim=1),
    lambda rng: L.Sequential(L.Linear(5, 8, rng=rng), L.Tanh(), L.Linear(8, 4, rng=rng), L.Softmax()),
], ids=["linear", "linear-nobias", "relu", "sigmoid", "tanh", "softmax", "sequential"])
def test_numpy_backward_passes_numerical_check(make, rng):
    x = rng.normal(size=(6, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink, where both sides differ
    _check_layer_numerically(make(rng), x, rng)


#: Each twin autograd Function with inputs away from its kinks (name -> (Function, make the inputs)).
FUNCTION_CASES = {
    "linear": (T.LinearFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3))),
                                          _t(np.random.default_rng(1).normal(size=(2, 3))),
                                          _t(np.random.default_rng(2).normal(size=2)))),
    "sigmoid": (T.SigmoidFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3))),)),
    "tanh": (T.TanhFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3))),)),
    "relu": (T.ReLUFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3)) + 0.1),)),
    "softmax": (T.SoftmaxFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3))), 1)),
}


@pytest.mark.parametrize("fn,args", FUNCTION_CASES.values(), ids=FUNCTION_CASES.keys())
def test_torch_functions_pass_autograd_gradcheck(fn, args):
    assert torch.autograd.gradcheck(fn.apply, args())


def test_numpy_and_torch_models_agree(rng, device):
    """Same weights in a NumPy Sequential, our torch Sequential and a built-in nn.Sequential."""
    np_model = L.Sequential(L.Linear(6, 8, rng=rng), L.ReLU(), L.Linear(8, 5, rng=rng), L.Sigmoid())
    ours = T.Sequential(T.Linear(6, 8), T.ReLU(), T.Linear(8, 5), T.Sigmoid()).double().to(device)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5),
                              torch.nn.Sigmoid()).double().to(device)
    state = {k: torch.tensor(v) for k, v in np_model.state_dict().items()}
    ours.load_state_dict(state)
    ref.load_state_dict(state)
    assert set(np_model.params) == {k for k, _ in ref.named_parameters()}

    x = rng.normal(size=(9, 6))
    dout = rng.normal(size=(9, 5))
    out = np_model.forward(x)
    dx = np_model.backward(dout)
    xo, xr = _t(x, device), _t(x, device)
    ours(xo).backward(_t(dout, device, False))
    r = ref(xr)
    r.backward(_t(dout, device, False))
    assert_close(out, r)
    assert_close(dx, xr.grad)
    assert_close(xo.grad, xr.grad)
    for (name, p_ref), (_, p_ours) in zip(ref.named_parameters(), ours.named_parameters()):
        assert_close(np_model.grads[name], p_ref.grad)
        assert_close(p_ours.grad, p_ref.grad)


def test_linear_initial_distribution_matches_torch(rng):
    """torch.nn.Linear draws U(-1/sqrt(in), 1/sqrt(in)); so must we (statistics, 200k weights)."""
    layer = L.Linear(400, 500, rng=rng)
    w = layer.params["weight"]
    bound = 1 / np.sqrt(400)
    assert np.abs(w).max() <= bound
    # The std of U(-a, a) is a/sqrt(3); standard error of the sample std is about std/sqrt(2n).
    assert abs(w.std() - bound / np.sqrt(3)) < 5 * (bound / np.sqrt(3)) / np.sqrt(2 * w.size)
    ref = torch.nn.Linear(400, 500).weight.detach().numpy()
    assert abs(w.std() - ref.std()) < 0.01 * bound


def test_train_eval_propagate_and_state_dict_round_trip(rng):
    model = L.Sequential(L.Linear(3, 4, rng=rng), L.ReLU(), L.Linear(4, 2, rng=rng))
    model.eval()
    assert not model.training and all(not layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)
    saved = model.state_dict()
    weight = model.params["0.weight"]
    weight += 1.0
    model.load_state_dict(saved)
    assert model.params["0.weight"] is weight  # loaded in place: optimizers keep their reference
    assert_close(weight, saved["0.weight"])


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        L.Linear(2, 2).backward(np.ones((1, 2)))


def test_sequential_params_cannot_be_replaced_silently():
    # The dicts are views of the layers' own; an assignment would be lost, so it must fail.
    model = L.Sequential(L.Linear(2, 3), L.ReLU())
    for name in ("params", "grads", "buffers"):
        with pytest.raises(AttributeError):
            setattr(model, name, {})


# --- checks at the door: modules check their arrays once, then run the bare math ---------------


def _int(backend, *shape):
    return torch.ones(shape, dtype=torch.long) if backend is T else np.ones(shape, dtype=int)


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
@pytest.mark.parametrize("make,shape", [
    (lambda B: B.Linear(3, 2), (4, 3)),
    (lambda B: B.ReLU(), (4, 3)),
    (lambda B: B.Sigmoid(), (4, 3)),
    (lambda B: B.Tanh(), (4, 3)),
    (lambda B: B.Softmax(dim=1), (4, 3)),
    (lambda B: B.Dropout(0.5), (4, 3)),
    (lambda B: B.Dropout(0.5).eval(), (4, 3)),
    (lambda B: B.BatchNorm1d(3), (4, 3)),
], ids=["Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "Dropout", "Dropout-eval", "BatchNorm1d"])
def test_modules_refuse_integer_arrays_in_their_own_name(backend, make, shape):
    layer = make(backend)
    call = layer if backend is T else layer.forward
    with pytest.raises(TypeError, match=rf"^The 'x' parameter of {type(layer).__name__} must be a floating-point"):
        call(_int(backend, *shape))


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
@pytest.mark.parametrize("cls", ["Linear", "BatchNorm1d", "BatchNorm2d"])
def test_constructors_refuse_a_dtype_that_is_not_floating(backend, cls):
    """An integer dtype rounds Linear's weights to 0; a string is not a torch.dtype. Both are refused at the door."""
    make = (lambda **kw: getattr(backend, cls)(3, 2, **kw)) if cls == "Linear" else \
        (lambda **kw: getattr(backend, cls)(3, **kw))
    bad = [torch.long, torch.bool, "float32", np.float64] if backend is T else [np.int64, int, bool, "int32", "nope"]
    for dtype in bad:
        with pytest.raises(TypeError, match=rf"^The 'dtype' parameter of {cls} must be a floating-point .*"
                                            rf"Got {re.escape(repr(dtype))} instead"):
            make(dtype=dtype)
    good = [torch.float32, torch.float64, None] if backend is T else [np.float32, "float64", np.dtype("float16")]
    for dtype in good:
        layer = make(dtype=dtype)
        weight = layer.weight if backend is T else layer.params["weight"]
        assert weight.dtype == (torch.get_default_dtype() if dtype is None else np.dtype(dtype) if backend is L
                                else dtype)
        assert (weight != 0).any()


OTHER_TWIN_CALLS = [  # (label, call(B, a) with B the twin and a(*shape) an array of the other twin)
    ("relu_forward", lambda B, a: B.relu_forward(a(4, 3))),
    ("sigmoid_forward", lambda B, a: B.sigmoid_forward(a(4, 3))),
    ("softmax_forward", lambda B, a: B.softmax_forward(a(4, 3))),
    ("linear_forward", lambda B, a: B.linear_forward(a(4, 3), a(2, 3), None)),
    ("batchnorm_forward", lambda B, a: B.batchnorm_forward(a(4, 3), None, None, None, None, training=True)),
    ("dropout_forward", lambda B, a: B.dropout_forward(a(4, 3), 0.5)),
    ("Linear", lambda B, a: _callable(B.Linear(3, 2))(a(4, 3))),
    ("ReLU", lambda B, a: _callable(B.ReLU())(a(4, 3))),
    ("Sigmoid", lambda B, a: _callable(B.Sigmoid())(a(4, 3))),
    ("Softmax", lambda B, a: _callable(B.Softmax())(a(4, 3))),
    ("Dropout", lambda B, a: _callable(B.Dropout(0.5))(a(4, 3))),
    ("BatchNorm1d", lambda B, a: _callable(B.BatchNorm1d(3))(a(4, 3))),
]


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
@pytest.mark.parametrize("label,call", OTHER_TWIN_CALLS, ids=[c[0] for c in OTHER_TWIN_CALLS])
def test_each_twin_names_the_other_twins_arrays(backend, label, call):
    """As the losses and optimizers do: a NumPy function given a tensor (or the reverse) says so,
    instead of an AttributeError from inside the math or an answer of the other twin's type."""
    if backend is L:
        kind, got, other = "a numpy.ndarray", "Tensor", lambda *shape: torch.ones(shape, dtype=torch.float64)
    else:
        kind, got, other = "a torch.Tensor", "ndarray", lambda *shape: np.ones(shape)
    with pytest.raises(TypeError, match=rf"^The 'x' parameter of {label} must be {kind}. Got {got} instead."):
        call(backend, other)


def _callable(layer):
    """A layer of either twin, as a function of its input (the NumPy ones have ``forward``)."""
    return layer if isinstance(layer, torch.nn.Module) else layer.forward


def test_numpy_backward_refuses_a_tensor_dout():
    layer = L.ReLU()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match="^The 'dout' parameter of ReLU must be a numpy.ndarray. Got Tensor"):
        layer.backward(torch.ones(2, 3, dtype=torch.float64))
    _, cache = T.relu_forward(torch.ones(2, 3))
    with pytest.raises(TypeError, match="^The 'dout' parameter of relu_backward must be a torch.Tensor. Got ndarray"):
        T.relu_backward(np.ones((2, 3)), cache)


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
def test_linear_module_refuses_wrong_features_before_any_work(backend):
    layer = backend.Linear(3, 2)
    x = torch.ones(4, 5) if backend is T else np.ones((4, 5))
    with pytest.raises(ValueError, match=r"The 'x' parameter of Linear must have in_features=3 .* Got shape \(4, 5\)"):
        layer(x) if backend is T else layer.forward(x)


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
def test_batchnorm_refuses_a_bad_batch_before_counting_it(backend):
    layer = backend.BatchNorm1d(3, momentum=None)
    x = torch.ones(1, 3) if backend is T else np.ones((1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(x) if backend is T else layer.forward(x)
    count = layer.num_batches_tracked if backend is T else layer.buffers["num_batches_tracked"]
    assert int(count) == 0  # nothing changed: the batch was refused at the door


@pytest.mark.parametrize("make,shape", [
    (lambda: L.Linear(3, 2), (4, 3)),
    (lambda: L.ReLU(), (4, 3)),
    (lambda: L.Softmax(), (4, 3)),
    (lambda: L.Dropout(0.5), (4, 3)),
    (lambda: L.BatchNorm1d(3), (4, 3)),
], ids=["Linear", "ReLU", "Softmax", "Dropout", "BatchNorm1d"])
def test_numpy_module_backward_checks_dout_in_its_own_name(make, shape, rng):
    layer = make()
    out = layer.forward(rng.normal(size=shape))
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"^The 'dout' parameter of {name} must have the shape of the forward output"):
        layer.backward(np.ones((out.shape[0] + 1, *out.shape[1:])))
    with pytest.raises(TypeError, match=rf"^The 'dout' parameter of {name} must be a floating-point"):
        layer.backward(np.ones(out.shape, dtype=int))


@pytest.mark.parametrize("backend", [L, T], ids=["numpy", "torch"])
def test_batchnorm_module_checks_its_input_once(backend, monkeypatch):
    """The module checks ``x`` at its door and runs the bare batchnorm_forward: no second check."""
    import tipslib._checks as checks
    import tipslib.layers._shared as shared

    seen = []
    original = checks.check_float_array

    def counting(x, name, *args, **kwargs):
        seen.append(name)
        return original(x, name, *args, **kwargs)

    monkeypatch.setattr(checks, "check_float_array", counting)
    monkeypatch.setattr(shared, "check_float_array", counting)
    layer = backend.BatchNorm1d(3)
    x = torch.randn(8, 3) if backend is T else np.random.default_rng(0).normal(size=(8, 3))
    layer(x) if backend is T else layer.forward(x)
    assert seen == ["x"]


def test_public_functions_are_checked_and_their_bare_math_is_reachable():
    for module in (L, T):
        for name in module.__all__:
            if name.endswith(("_forward", "_backward")):
                fn = getattr(module, name)
                assert callable(fn.__wrapped__), f"{module.__name__}.{name}"
                assert fn.constraints, f"{module.__name__}.{name}"


def test_linear_function_skips_gradients_nobody_asked_for():
    """A first layer's dx is never used; the hand-written backward leaves it out."""
    x = torch.randn(5, 3, dtype=torch.float64)  # data: no gradient wanted
    w = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    out = T.LinearFunction.apply(x, w, b)
    grads = out.grad_fn.apply(torch.ones_like(out))
    assert grads[0] is None
    assert_close(grads[1], torch.ones(5, 2, dtype=torch.float64).T @ x)
    assert_close(grads[2], torch.full((2,), 5.0, dtype=torch.float64))


def test_relu_function_matches_builtin_at_the_kink_and_in_float32():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-30, 3.0], requires_grad=True)
    xb = x.detach().clone().requires_grad_()
    T.ReLUFunction.apply(x).backward(torch.arange(1.0, 6.0))
    F.relu(xb).backward(torch.arange(1.0, 6.0))
    assert torch.equal(x.grad, xb.grad) and x.grad.dtype == torch.float32


def test_numpy_relu_matches_builtin_at_the_kink_and_in_float32():
    """The NumPy reference too: slope 0 at x = 0 (and -0), like torch; dtype kept."""
    for dtype in (np.float64, np.float32):
        x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0], dtype=dtype)
        dout = np.arange(1.0, 6.0, dtype=dtype)
        out, cache = L.relu_forward(x)
        dx = L.relu_backward(dout, cache)
        xb = torch.tensor(x, requires_grad=True)
        F.relu(xb).backward(torch.tensor(dout))
        np.testing.assert_array_equal(dx, xb.grad.numpy())
        assert dx.dtype == dtype and out.dtype == dtype


@pytest.mark.parametrize("fn,args", [
    *FUNCTION_CASES.values(),
    (T.DropoutFunction, lambda: (_t(np.random.default_rng(0).normal(size=(4, 3))), 0.25,
                                 torch.from_numpy(np.random.default_rng(1).random((4, 3)) > 0.25), None)),
], ids=[*FUNCTION_CASES, "dropout"])
def test_torch_functions_differentiate_twice(fn, args):
    """Their backwards are torch ops on saved inputs/outputs: create_graph=True follows them."""
    assert torch.autograd.gradgradcheck(fn.apply, args())


def test_batchnorm_function_refuses_a_second_derivative():
    """Its backward reads xhat, which autograd never saw being made: a second derivative
    would be silently wrong, so it is an error instead."""
    x = _t(np.random.default_rng(0).normal(size=(6, 3)))
    out = T.BatchNormFunction.apply(x, None, None, None, None, True, 0.1, 1e-5)
    (dx,) = torch.autograd.grad((out ** 3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiable"):
        dx.sum().backward()


def test_train_mode_must_be_a_bool_like_torch():
    model = L.Sequential(L.Linear(2, 2), L.ReLU())
    with pytest.raises(TypeError, match=r"^The 'mode' parameter of Sequential must be a bool\. Got 'no' instead\.$"):
        model.train("no")
    assert model.training and all(layer.training for layer in model)  # refused before any change
    with pytest.raises(ValueError):
        torch.nn.Sequential(torch.nn.ReLU()).train("no")  # torch refuses it too
