"""Batch normalization: NumPy reference, torch twin and torch.nn.BatchNorm* agree in float64."""

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_refused, to_numpy

from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL

SHAPES = {"1d": [(7, 5), (6, 4, 3)], "2d": [(5, 3, 4, 6)]}
CLASSES = {"1d": (L.BatchNorm1d, TL.BatchNorm1d, torch.nn.BatchNorm1d),
           "2d": (L.BatchNorm2d, TL.BatchNorm2d, torch.nn.BatchNorm2d)}
CASES = [(kind, shape) for kind, shapes in SHAPES.items() for shape in shapes]
OPTIONS = [
    dict(),
    dict(momentum=0.3, eps=1e-3),
    dict(momentum=None),
    dict(affine=False),
    dict(track_running_stats=False),
]


def _three(kind, c, device="cpu", **kw):
    np_cls, tw_cls, th_cls = CLASSES[kind]
    ours = np_cls(c, **kw)
    twin = tw_cls(c, dtype=torch.float64, device=device, **kw)
    ref = th_cls(c, dtype=torch.float64, device=device, **kw)
    if ours.affine:  # non-trivial gamma/beta, the same in all three
        g = np.linspace(0.5, 2.0, c)
        b = np.linspace(-1.0, 1.0, c)
        ours.params["weight"][:] = g
        ours.params["bias"][:] = b
        with torch.no_grad():
            for m in (twin, ref):
                m.weight.copy_(torch.tensor(g))
                m.bias.copy_(torch.tensor(b))
    return ours, twin, ref


@pytest.mark.parametrize("kind,shape", CASES)
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_three_way_parity_train_then_eval(kind, shape, opts, rng, device):
    """Forward, backward and running statistics over several training batches, then eval."""
    c = shape[1]
    ours, twin, ref = _three(kind, c, device=device, **opts)
    for step in range(6):
        # Shifted, scaled data so the running statistics travel far from (0, 1).
        x = rng.normal(size=shape) * (1 + step) + 2.0 - step
        dout = rng.normal(size=shape)
        out = ours.forward(x)
        dx = ours.backward(dout)
        results = []
        for m in (twin, ref):
            xt = torch.tensor(x, device=device, requires_grad=True)
            y = m(xt)
            y.backward(torch.tensor(dout, device=device))
            results.append((y, xt.grad, m))
        for y, gx, m in results:
            assert_close(y, out)
            assert_close(gx, dx)
            if ours.affine:
                assert_close(m.weight.grad, ours.grads["weight"])
                assert_close(m.bias.grad, ours.grads["bias"])
                m.weight.grad = m.bias.grad = None
            if ours.track_running_stats:
                assert_close(m.running_mean, ours.buffers["running_mean"])
                assert_close(m.running_var, ours.buffers["running_var"])
                assert int(m.num_batches_tracked) == int(ours.buffers["num_batches_tracked"]) == step + 1
    if ours.track_running_stats:  # the statistics really moved
        assert np.abs(ours.buffers["running_mean"]).max() > 0.5
    for m in (ours, twin, ref):
        m.eval()
    x = rng.normal(size=shape) * 3 + 1
    dout = rng.normal(size=shape)
    out = ours.forward(x)
    dx = ours.backward(dout)
    for m in (twin, ref):
        xt = torch.tensor(x, device=device, requires_grad=True)
        y = m(xt)
        y.backward(torch.tensor(dout, device=device))
        assert_close(y, out)
        assert_close(xt.grad, dx)


def test_functions_match_functional_batch_norm(rng):
    x = rng.normal(size=(9, 4, 3)) * 2 + 0.5
    g, b = rng.normal(size=4), rng.normal(size=4)
    rm, rv = rng.normal(size=4), rng.uniform(0.5, 2, size=4)
    for training in (True, False):
        rm_np, rv_np = rm.copy(), rv.copy()
        rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
        rm_ref, rv_ref = torch.tensor(rm), torch.tensor(rv)
        out, _ = L.batchnorm_forward(x, g, b, rm_np, rv_np, training=training, momentum=0.25, eps=1e-4)
        out_t, _ = TL.batchnorm_forward(torch.tensor(x), torch.tensor(g), torch.tensor(b), rm_t, rv_t,
                                        training=training, momentum=0.25, eps=1e-4)
        ref = torch.nn.functional.batch_norm(torch.tensor(x), rm_ref, rv_ref, torch.tensor(g), torch.tensor(b),
                                             training=training, momentum=0.25, eps=1e-4)
        assert_close(out, ref)
        assert_close(out_t, ref)
        for ours in ((rm_np, rv_np), (rm_t, rv_t)):
            assert_close(ours[0], rm_ref)
            assert_close(ours[1], rv_ref)
        if training:  # running_var holds the unbiased batch variance
            m = 9 * 3
            var_b = x.var(axis=(0, 2))
            assert_close(rv_np, 0.75 * rv + 0.25 * var_b * m / (m - 1))
        else:
            assert_close(rm_np, rm)


@pytest.mark.parametrize("affine", ["gamma only", "beta only"])
def test_functions_take_gamma_without_beta_and_beta_without_gamma(affine, rng):
    """``weight`` without ``bias`` (and the reverse) is legal in F.batch_norm: each must act alone."""
    x = rng.normal(size=(6, 3, 2)) * 2 + 1
    g = rng.normal(size=3) if affine == "gamma only" else None
    b = rng.normal(size=3) if affine == "beta only" else None
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    t = lambda a: None if a is None else torch.tensor(a)  # noqa: E731
    for training in (True, False):
        ref = torch.nn.functional.batch_norm(t(x), t(rm), t(rv), t(g), t(b), training=training)
        out, _ = L.batchnorm_forward(x, g, b, rm.copy(), rv.copy(), training=training)
        out_t, _ = TL.batchnorm_forward(t(x), t(g), t(b), t(rm), t(rv), training=training)
        assert_close(out, ref)
        assert_close(out_t, ref)


@pytest.mark.parametrize("affine", [False, True])
def test_function_keeps_float32_without_running_statistics(affine, rng):
    """The output dtype is x's (and gamma/beta's) even when no running statistics are given."""
    x = rng.normal(size=(8, 3, 4)).astype(np.float32)
    g, b = (np.ones(3, np.float32), np.zeros(3, np.float32)) if affine else (None, None)
    out, (xhat, *_) = L.batchnorm_forward(x, g, b, None, None, training=True)
    assert out.dtype == np.float32 and xhat.dtype == np.float32
    ref = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_normalises_with_biased_variance(rng):
    x = rng.normal(size=(10, 3)) * 5 + 3
    out, _ = L.batchnorm_forward(x, None, None, None, None, training=True, eps=1e-12)
    assert_close(out.mean(axis=0), np.zeros(3), atol=1e-12)
    assert_close(out.var(axis=0), np.ones(3), rtol=1e-9)  # ddof=0: the biased variance


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 3)])
def test_numpy_backward_matches_numerical_gradient(training, shape, rng):
    x = rng.normal(size=shape) * 2 + 1
    c = shape[1]
    g, b = rng.normal(size=c), rng.normal(size=c)
    rm, rv = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    dout = rng.normal(size=shape)

    def f(x, g, b):
        # Copies of the running statistics, so the nudged calls do not move them.
        out, _ = L.batchnorm_forward(x, g, b, rm.copy(), rv.copy(), training=training)
        return float((out * dout).sum())

    _, cache = L.batchnorm_forward(x, g, b, rm.copy(), rv.copy(), training=training)
    dx, dg, db = L.batchnorm_backward(dout, cache)
    ndx, ndg, ndb = numerical_gradient(f, x, g, b)
    assert_close(dx, ndx, rtol=1e-6, atol=1e-7)
    assert_close(dg, ndg, rtol=1e-6, atol=1e-7)
    assert_close(db, ndb, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("training,track", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 3, 2)])
def test_function_passes_gradcheck(training, track, shape):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
    c = shape[1]
    g = torch.randn(c, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(c, dtype=torch.float64, generator=gen, requires_grad=True)
    rm = torch.randn(c, dtype=torch.float64, generator=gen) if track else None
    rv = torch.rand(c, dtype=torch.float64, generator=gen) + 0.5 if track else None
    assert torch.autograd.gradcheck(
        lambda x, g, b: TL.BatchNormFunction.apply(x, g, b, rm, rv, training, 0.1, 1e-5), (x, g, b))


def test_function_without_affine_passes_gradcheck():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(
        lambda x: TL.BatchNormFunction.apply(x, None, None, None, None, True, 0.1, 1e-5), (x,))


def test_twin_trains_like_builtin_in_a_model(rng):
    """Same init, same batches, 25 SGD steps: the model with our BatchNorm1d follows nn.BatchNorm1d."""
    torch.manual_seed(0)  # test-side seeding only, for the shared initial weights

    def model(bn_cls):
        return torch.nn.Sequential(
            torch.nn.Linear(6, 16), bn_cls(16), torch.nn.ReLU(),
            torch.nn.Linear(16, 16), bn_cls(16), torch.nn.Tanh(),
            torch.nn.Linear(16, 3),
        ).double()

    ref = model(torch.nn.BatchNorm1d)
    ours = model(TL.BatchNorm1d)
    ours.load_state_dict(ref.state_dict())  # same names: the state dict carries over
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.2, momentum=0.9)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(25):
        xb = torch.tensor(rng.normal(size=(16, 6)))
        yb = torch.tensor(rng.integers(0, 3, size=16))
        for m, opt in ((ref, opt_ref), (ours, opt_ours)):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(m(xb), yb)
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] != losses[0]
    for (k, a), (k2, b) in zip(ref.state_dict().items(), ours.state_dict().items()):
        assert k == k2
        assert_close(b, a, rtol=1e-9, atol=1e-11)
    ref.eval(), ours.eval()
    xt = torch.tensor(rng.normal(size=(5, 6)))
    assert_close(ours(xt), ref(xt), rtol=1e-9, atol=1e-11)


def test_numpy_modules_state_dict_keys_match_torch():
    for np_cls, _, th_cls in CLASSES.values():
        assert set(np_cls(4).state_dict()) == set(th_cls(4).state_dict())
        assert set(np_cls(4, affine=False, track_running_stats=False).state_dict()) == set(
            th_cls(4, affine=False, track_running_stats=False).state_dict())


def test_numpy_module_inside_sequential_gradcheck(rng):
    model = L.Sequential(L.Linear(4, 5, rng=rng), L.BatchNorm1d(5), L.Tanh(), L.Linear(5, 2, rng=rng))
    model.layers[1].params["weight"][:] = rng.uniform(0.5, 1.5, size=5)
    x = rng.normal(size=(6, 4))
    dout = rng.normal(size=(6, 2))
    model.forward(x)
    dx = model.backward(dout)
    grads = {k: v.copy() for k, v in model.grads.items()}
    saved = model.state_dict()

    def f(*arrays):
        model.load_state_dict({k: saved[k] for k in saved if "running" in k or "num_batches" in k} |
                              {k: v for k, v in model.params.items()})
        return float((model.forward(x) * dout).sum())

    params = model.params
    names = ["1.weight", "1.bias", "0.weight"]
    numeric = numerical_gradient(f, *[params[n] for n in names])
    for n, g in zip(names, numeric):
        assert_close(grads[n], g, rtol=1e-6, atol=1e-7)
    assert_close(dx, numerical_gradient(lambda x_: float((model.forward(x_) * dout).sum()), x.copy()),
                 rtol=1e-6, atol=1e-7)


def test_eval_uses_running_statistics_and_single_row_is_fine_in_eval(rng):
    bn = L.BatchNorm1d(3)
    for _ in range(80):  # 0.9**80 < 3e-4: the initial (0, 1) is forgotten
        bn.forward(rng.normal(size=(32, 3)) * 2 + 5)
    bn.eval()
    one = np.array([[5.0, 5.0, 5.0]])
    out = bn.forward(one)  # eval on a batch of one is allowed
    assert np.abs(out).max() < 0.5  # 5 is near the running mean
    assert bn.buffers["running_mean"] == pytest.approx(np.full(3, 5.0), abs=0.3)
    assert bn.buffers["running_var"] == pytest.approx(np.full(3, 4.0), abs=1.5)


def test_float32_follows_builtin(rng):
    x = rng.normal(size=(16, 8, 5, 5)).astype(np.float32)
    ours = L.BatchNorm2d(8, dtype=np.float32)
    twin = TL.BatchNorm2d(8)
    ref = torch.nn.BatchNorm2d(8)
    out = ours.forward(x)
    assert out.dtype == np.float32
    assert_close(out, ref(torch.tensor(x)), rtol=1e-4, atol=1e-5)
    assert_close(twin(torch.tensor(x)), ref(torch.tensor(x)), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- bad input
def _np_bn1d_train_one_row():
    L.BatchNorm1d(3).forward(np.ones((1, 3)))


def _th_bn1d_train_one_row():
    TL.BatchNorm1d(3)(torch.ones(1, 3))


BAD = [
    ("BN1d one row in training (numpy)", _np_bn1d_train_one_row, ValueError, "more than 1 value per channel"),
    ("BN1d one row in training (torch)", _th_bn1d_train_one_row, ValueError, "more than 1 value per channel"),
    ("BN2d 1x1 image, one image (numpy)", lambda: L.BatchNorm2d(2).forward(np.ones((1, 2, 1, 1))), ValueError, "'x'"),
    ("BN1d wrong channels (numpy)", lambda: L.BatchNorm1d(4).forward(np.ones((5, 3))), ValueError, "num_features"),
    ("BN1d wrong channels (torch)", lambda: TL.BatchNorm1d(4)(torch.ones(5, 3)), ValueError, "num_features"),
    ("BN2d wrong channels (torch)", lambda: TL.BatchNorm2d(4)(torch.ones(5, 3, 2, 2)), ValueError, "num_features"),
    ("BN2d on a 2-D input (numpy)", lambda: L.BatchNorm2d(3).forward(np.ones((5, 3))), ValueError, "'x'"),
    ("BN1d on a 4-D input (torch)", lambda: TL.BatchNorm1d(3)(torch.ones(5, 3, 2, 2)), ValueError, "'x'"),
    ("BN on integers (numpy)", lambda: L.BatchNorm1d(3).forward(np.ones((5, 3), dtype=int)), TypeError, "'x'"),
    ("BN on integers (torch)", lambda: TL.BatchNorm1d(3)(torch.ones(5, 3, dtype=torch.long)), TypeError, "'x'"),
    ("num_features 0", lambda: L.BatchNorm1d(0), ValueError, "num_features"),
    ("num_features float (torch)", lambda: TL.BatchNorm2d(3.0), TypeError, "num_features"),
    ("eps 0", lambda: L.BatchNorm1d(3, eps=0.0), ValueError, "eps"),
    ("momentum 1.5", lambda: TL.BatchNorm1d(3, momentum=1.5), ValueError, "momentum"),
    ("momentum nan", lambda: L.BatchNorm2d(3, momentum=float("nan")), ValueError, "momentum"),
    ("affine not bool", lambda: L.BatchNorm1d(3, affine="yes"), TypeError, "affine"),
    ("gamma wrong shape", lambda: L.batchnorm_forward(np.ones((4, 3)), np.ones(2), None, None, None, training=True),
     ValueError, "gamma"),
    ("running_var alone", lambda: L.batchnorm_forward(np.ones((4, 3)), None, None, None, np.ones(3), training=True),
     ValueError, "running_mean"),
    ("training not bool", lambda: TL.batchnorm_forward(torch.ones(4, 3), None, None, None, None, training=1),
     TypeError, "training"),
    ("x 1-D", lambda: L.batchnorm_forward(np.ones(4), None, None, None, None, training=True), ValueError, "'x'"),
    ("running_mean integer", lambda: TL.batchnorm_forward(torch.ones(4, 3), None, None, torch.zeros(3, dtype=torch.long),
                                                          torch.ones(3), training=True), TypeError, "running_mean"),
]


@pytest.mark.parametrize("case,fn,exc,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input(case, fn, exc, fragment):
    assert_refused(fn, exc, fragment, "Got")


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        L.BatchNorm1d(3).backward(np.ones((2, 3)))


def test_cuda_twin_matches_cpu_when_available():
    if not torch.cuda.is_available():
        pytest.skip("no GPU")
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    cpu = TL.BatchNorm2d(3, dtype=torch.float64)
    gpu = TL.BatchNorm2d(3, dtype=torch.float64, device="cuda")
    assert_close(to_numpy(gpu(x.cuda())), to_numpy(cpu(x)))


def test_torch_forward_takes_an_input_that_requires_grad():
    """The public torch forward writes its buffers in place: it runs without autograd instead of
    failing on an input that requires grad, and leaves the running statistics plain buffers."""
    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    out, _ = TL.batchnorm_forward(x, None, None, rm, rv, training=True)
    assert out.grad_fn is None and not rm.requires_grad and not rv.requires_grad
    torch.testing.assert_close(rm, 0.1 * x.detach().mean(dim=0))


@pytest.mark.parametrize("kind, shape", [("1d", (0, 3)), ("1d", (0, 3, 4)), ("2d", (0, 3, 2, 2))])
def test_empty_batch_in_eval_matches_builtin(kind, shape):
    # Evaluation uses the running statistics, so an empty batch is simply an empty output
    # (and an empty gradient), as torch.nn.BatchNorm* gives; the batch axis being 0 must
    # not trip the (N, C, L) view of the channels.
    ours, twin, ref = _three(kind, shape[1])
    x = np.zeros(shape)
    outs = []
    for m in (ours, twin, ref):
        m.eval()
        outs.append(m(x if m is ours else torch.from_numpy(x)))
    for out in outs:
        assert tuple(out.shape) == shape
    assert ours.backward(np.zeros(shape)).shape == shape
    assert ours.grads["weight"] == pytest.approx(np.zeros(shape[1]))
