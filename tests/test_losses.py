"""Losses: NumPy reference vs torch twin vs torch.nn.functional, values and gradients, float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_close, tensor
from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.losses import numpy_impl as LN
from tipslib.losses import torch_impl as LT

REDUCTIONS = ["mean", "sum", "none"]


_t = tensor  # float64, no grad unless asked: the shared helper


def _cases(rng):
    """name -> (numpy pair, our torch function, built-in, input, target)."""
    probs = rng.uniform(0.01, 0.99, size=(6, 3))
    probs[0, :] = [0.0, 1.0, 0.5]  # exactly 0 and 1: the clamp at work
    soft = rng.uniform(size=(6, 3))
    soft[0, :] = [1.0, 0.0, 1.0]
    logits = rng.normal(size=(6, 3)) * 4
    logits[0, :] = [1e4, -1e4, 0.0]
    labels = rng.integers(0, 3, size=6)
    return {
        "bce": ((LN.binary_cross_entropy_forward, LN.binary_cross_entropy_backward),
                LT.binary_cross_entropy, F.binary_cross_entropy, probs, soft),
        "bce_logits": ((LN.binary_cross_entropy_with_logits_forward, LN.binary_cross_entropy_with_logits_backward),
                       LT.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, logits, soft),
        "cross_entropy": ((LN.cross_entropy_forward, LN.cross_entropy_backward),
                          LT.cross_entropy, F.cross_entropy, logits, labels),
        "mse": ((LN.mse_loss_forward, LN.mse_loss_backward), LT.mse_loss, F.mse_loss, logits, soft),
    }


@pytest.mark.parametrize("name", ["bce", "bce_logits", "cross_entropy", "mse"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_three_way_parity(name, reduction, rng, device):
    (fwd, bwd), ours, builtin, x, y = _cases(rng)[name]
    loss, cache = fwd(x, y, reduction)
    dout = rng.normal(size=np.shape(loss)) if reduction == "none" else 0.7
    dx = bwd(dout, cache)

    yt = torch.tensor(y, device=device) if y.dtype.kind == "i" else _t(y, device)
    xo, xb = _t(x, device, True), _t(x, device, True)
    out_ours = ours(xo, yt, reduction)
    out_ref = builtin(xb, yt, reduction=reduction)
    out_ours.backward(_t(dout, device))
    out_ref.backward(_t(dout, device))

    assert np.isfinite(loss).all() and np.isfinite(dx).all()
    assert_close(loss, out_ref)
    assert_close(out_ours, out_ref)
    assert_close(dx, xb.grad)
    assert_close(xo.grad, xb.grad)


def test_bce_clamps_log_at_minus_100():
    loss = LN.binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0]), reduction="none")
    assert_close(loss, [100.0, 100.0])


def test_bce_clamp_and_loss_refusals_raise_no_numpy_warning():
    """log(0) at z = 0 or 1 is clamped silently, and a non-probability is refused with our
    ValueError, not a RuntimeWarning from NumPy first (so warnings-as-errors sees the real message);
    so are an infinite logit and an infinite input and target of mse_loss (inf - inf inside)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = LN.binary_cross_entropy(np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0]), "none")
        assert_close(loss, [100.0, 100.0, 0.0, 0.0])
        with pytest.raises(ValueError, match="input"):
            LN.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
        with pytest.raises(ValueError, match="'input' parameter of binary_cross_entropy_with_logits"):
            LN.binary_cross_entropy_with_logits(np.array([np.inf, 0.0]), np.array([1.0, 0.0]))
        with pytest.raises(ValueError, match="'input' parameter of mse_loss"):
            LN.mse_loss(np.array([np.inf, 0.0]), np.array([np.inf, 0.0]))  # inf - inf inside


def test_naive_formula_blows_up_where_ours_does_not():
    """The textbook -[y log z + (1-y) log(1-z)] gives inf at z=0; the logits form stays exact."""
    z = np.array([1e4, -1e4])
    y = np.array([0.0, 1.0])
    with np.errstate(over="ignore", divide="ignore"):
        p = 1 / (1 + np.exp(-z))
        naive = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert np.isinf(naive).all()
    exact = LN.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert_close(exact, [1e4, 1e4])


@pytest.mark.parametrize("name", ["bce", "bce_logits", "cross_entropy", "mse"])
def test_numpy_backward_passes_numerical_check(name, rng):
    (fwd, bwd), *_ , x, y = _cases(rng)[name]
    if name == "bce":
        x = rng.uniform(0.05, 0.95, size=x.shape)  # away from the clamp, where the slope is torch's convention
    else:
        x = rng.normal(size=x.shape)
    loss, cache = fwd(x, y, "mean")
    dx = bwd(1.0, cache)
    num = numerical_gradient(lambda v: fwd(v, y, "mean")[0], x)
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cls", ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss"])
def test_objects_match_functions(cls, rng):
    cases = {"BCELoss": "bce", "BCEWithLogitsLoss": "bce_logits", "CrossEntropyLoss": "cross_entropy", "MSELoss": "mse"}
    (fwd, bwd), *_ , x, y = _cases(rng)[cases[cls]]
    obj = getattr(LN, cls)(reduction="sum")
    loss = obj.forward(x, y)
    ref, cache = fwd(x, y, "sum")
    assert_close(loss, ref)
    assert_close(obj.backward(), bwd(1.0, cache))
    tobj = getattr(LT, cls)(reduction="sum")
    yt = torch.tensor(y)
    assert_close(tobj(_t(x), yt if y.dtype.kind == "i" else _t(y)), ref)


def test_cross_entropy_extreme_logits_exact():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    y = np.array([1, 2])
    loss = LN.cross_entropy(x, y, reduction="none")
    assert_close(loss, [2e4, 0.0])
    loss, cache = LN.cross_entropy_forward(x, y)
    assert np.isfinite(LN.cross_entropy_backward(1.0, cache)).all()


# --- checks at the door: the classes run the bare math but still refuse bad arrays -------------


def _ce_objects():
    return [(LN.CrossEntropyLoss(), np.array), (LT.CrossEntropyLoss(), torch.tensor)]


@pytest.mark.parametrize("twin", ["numpy", "torch"])
def test_loss_objects_refuse_bad_arrays_before_any_work(twin):
    obj, arr = dict(zip(["numpy", "torch"], _ce_objects()))[twin]
    good_x, good_y = arr([[0.5, -0.5]]), arr([1])
    if twin == "numpy":
        obj.forward(good_x, good_y)
        cache = obj._cache
    with pytest.raises(ValueError, match="'target' parameter of CrossEntropyLoss must hold labels in the range"):
        obj(arr([[0.0, 1.0]]), arr([2]))
    with pytest.raises(TypeError, match="'target' parameter of CrossEntropyLoss must hold integer class labels"):
        obj(arr([[0.0, 1.0]]), arr([1.0]))
    with pytest.raises(ValueError, match="'input' parameter of cross_entropy must hold finite values.*Got inf"):
        obj(arr([[float("inf"), 1.0]]), arr([1]))
    if twin == "numpy":
        assert obj._cache is cache  # the failed calls left the last good forward's cache in place
        with pytest.raises(ValueError, match="'dout' parameter of CrossEntropyLoss"):
            obj.backward(np.ones(3))


@pytest.mark.parametrize("M", [LN, LT], ids=["numpy", "torch"])
def test_a_non_finite_input_is_named_whatever_the_reduction(M):
    arr = (lambda v: torch.tensor(v, dtype=torch.float64)) if M is LT else np.array
    for reduction in REDUCTIONS:
        with pytest.raises(ValueError, match="'target' parameter of mse_loss must hold finite values.*nan"):
            M.mse_loss(arr([1.0, 2.0]), arr([0.0, float("nan")]), reduction)
        with pytest.raises(ValueError, match="'input' parameter of binary_cross_entropy_with_logits .*-inf"):
            M.binary_cross_entropy_with_logits(arr([-float("inf")]), arr([0.0]), reduction)


@pytest.mark.parametrize("M", [LN, LT], ids=["numpy", "torch"])
def test_a_loss_that_overflows_on_finite_inputs_is_returned(M):
    """Only a non-finite input is an error: a float32 square that overflows is the arithmetic's answer."""
    arr = (lambda v: torch.tensor(v, dtype=torch.float32)) if M is LT else (lambda v: np.array(v, np.float32))
    with np.errstate(over="ignore"):
        loss = M.mse_loss(arr([1e30]), arr([0.0]))
    assert not np.isfinite(float(loss))


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits"])
def test_the_finiteness_check_of_an_unreduced_loss_does_not_overflow(name):
    # Every entry is finite, but their sum is not: the check on the loss must not add them up
    # (NumPy warned "overflow encountered in reduce" from inside tipslib, the torch twin did not).
    import warnings

    x, y = np.array([1e154, 1e154]), np.zeros(2)
    if name == "binary_cross_entropy_with_logits":
        x = np.array([1e308, 1e308])  # each loss is max(x, 0) - x * 0 = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = getattr(LN, name)(x, y, "none")
    assert np.isfinite(loss).all()


def test_the_torch_losses_read_no_gradient_state_when_checking():
    import warnings

    x = torch.tensor([[0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float() of a tensor that requires grad warns
        LT.cross_entropy_forward(x, torch.tensor([0]))
        with pytest.raises(ValueError, match="'input'"):
            LT.cross_entropy_forward(torch.tensor([[float("nan"), 0.0]], requires_grad=True), torch.tensor([0]))


def test_each_twin_names_the_other_twins_arrays():
    with pytest.raises(TypeError, match="'input' parameter of CrossEntropyLoss must be a torch.Tensor. Got ndarray"):
        LT.CrossEntropyLoss()(np.zeros((2, 3)), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="'target' parameter of mse_loss must be a numpy.ndarray. Got Tensor"):
        LN.mse_loss(np.zeros(2), torch.zeros(2))


# --- gradients with respect to the target, as torch's losses give them ----------------------------

TARGET_GRAD = {"bce": ("binary_cross_entropy", "BCELoss"), "bce_logits": ("binary_cross_entropy_with_logits",
               "BCEWithLogitsLoss"), "mse": ("mse_loss", "MSELoss")}


@pytest.mark.parametrize("name", sorted(TARGET_GRAD))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_twin_gives_target_its_gradient(name, reduction, rng):
    """Soft targets (BCE, MSE) get torch's target gradient, through the function and the module alike."""
    function, module = TARGET_GRAD[name]
    x = rng.uniform(0.05, 0.95, size=(4, 3)) if name == "bce" else rng.normal(size=(4, 3))
    y = rng.uniform(size=(4, 3))
    dout = rng.normal(size=(4, 3)) if reduction == "none" else 0.7
    grads = []
    for loss_fn in (getattr(LT, function), getattr(F, function), getattr(LT, module)(reduction=reduction)):
        a, b = _t(x, grad=True), _t(y, grad=True)
        (loss_fn(a, b) if isinstance(loss_fn, torch.nn.Module) else loss_fn(a, b, reduction=reduction)).backward(_t(dout))
        grads.append((a.grad, b.grad))
    (ours_x, ours_y), (ref_x, ref_y), (mod_x, mod_y) = grads
    assert ours_y is not None
    assert_close(ours_y, ref_y)
    assert_close(mod_y, ref_y)
    assert_close(ours_x, ref_x)
    a, b = _t(x, grad=True), _t(y, grad=True)
    assert torch.autograd.gradcheck(lambda a, b: getattr(LT, function)(a, b, reduction), (a, b))
    b = _t(y, grad=True)  # a target that needs a gradient beside an input that does not
    getattr(LT, function)(_t(x), b, reduction).backward(_t(dout))
    assert_close(b.grad, ref_y)


def test_bce_target_gradient_is_finite_where_the_log_is_clamped():
    """At z = 0 and 1 torch's -logit(z) is infinite; the slope of the clamped loss is +-100."""
    z, y = _t([0.0, 1.0, 0.5]), _t([0.5, 0.5, 0.5], grad=True)
    LT.binary_cross_entropy(z, y, "sum").backward()
    assert_close(y.grad, [100.0, -100.0, 0.0])


def test_class_labels_get_no_gradient():
    x = _t([[0.5, -0.5]], grad=True)
    LT.cross_entropy(x, torch.tensor([1])).backward()
    assert x.grad is not None


# --- what backward(dout) takes -------------------------------------------------------------------


def test_numpy_loss_backward_takes_a_number_for_a_reduced_loss():
    """None means 1.0, as in torch's loss.backward(); a list or a bool is refused, not broadcast."""
    loss = LN.MSELoss()
    loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    assert_close(loss.backward(None), loss.backward(1.0))
    assert_close(loss.backward(np.float64(0.5)), loss.backward(np.array(0.5)))
    assert_close(loss.backward(2), [2.0, 4.0])
    for bad, exc in (([1.0, 2.0], TypeError), (True, TypeError), (np.bool_(True), TypeError), ("1", TypeError),
                     (np.array(1), TypeError), (float("nan"), ValueError), (np.ones(2), ValueError)):
        with pytest.raises(exc, match="'dout' parameter of MSELoss"):
            loss.backward(bad)


@pytest.mark.parametrize("M", [LN, LT], ids=["numpy", "torch"])
def test_loss_backward_takes_an_array_of_the_loss_shape_for_reduction_none(M):
    arr = (lambda v: torch.tensor(v, dtype=torch.float64)) if M is LT else np.array
    _, cache = M.mse_loss_forward(arr([1.0, 2.0]), arr([0.0, 0.0]), "none")
    assert_close(M.mse_loss_backward(arr([1.0, 0.5]), cache), [2.0, 2.0])
    for bad, exc in ((1.0, TypeError), (None, TypeError), ([1.0, 1.0], TypeError), (arr([1.0, 1.0, 1.0]), ValueError),
                     (torch.tensor([1, 1]) if M is LT else np.array([1, 1]), TypeError)):
        with pytest.raises(exc, match="'dout' parameter of mse_loss_backward"):
            M.mse_loss_backward(bad, cache)
    with pytest.raises(TypeError, match="'dout' parameter of MSELoss must be an array of shape \\(2,\\)"):
        loss = LN.MSELoss(reduction="none")
        loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
        loss.backward()
