"""L1 / L2 / elastic-net penalties, the proximal step, scikit-learn's form, and the fit hook."""

import warnings

import numpy as np
import pytest
import torch
from helpers import assert_close, to_numpy
from scipy.optimize import minimize_scalar

from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL
from tipslib.losses import numpy_impl as LS
from tipslib.optim import numpy_impl as O
from tipslib.regularization import numpy_impl as R
from tipslib.regularization import torch_impl as TR
from tipslib.training import numpy_impl as T
from tipslib.training import torch_impl as TT

ALPHAS = [0.0, 0.25, 0.5, 0.9, 1.0]


def _theta(rng, shape=(5, 7)):
    theta = rng.standard_normal(shape)
    theta.flat[::6] = 0.0  # exact zeros exercise sign(0) = 0
    return theta


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("lam", [0.0, 0.3, 2.0])
def test_penalty_value_and_grad_match_the_formula(lam, alpha, rng):
    theta = _theta(rng)
    value = lam * ((1 - alpha) * np.sum(np.abs(theta)) + alpha * np.sum(theta**2))
    grad = lam * ((1 - alpha) * np.sign(theta) + 2 * alpha * theta)
    assert R.elastic_net_penalty(theta, lam, alpha) == pytest.approx(value, rel=1e-14, abs=1e-14)
    assert_close(R.elastic_net_grad(theta, lam, alpha), grad)
    t = torch.from_numpy(theta)
    assert float(TR.elastic_net_penalty(t, lam, alpha)) == pytest.approx(value, rel=1e-14, abs=1e-14)
    assert_close(TR.elastic_net_grad(t, lam, alpha), grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_penalties_return_a_python_float(dtype, rng):
    """The docstrings promise a float: not a NumPy scalar (a float32 one is not even a float)."""
    theta = _theta(rng).astype(dtype)
    for value in (R.elastic_net_penalty(theta, 0.3, 0.4), R.l1_penalty(theta, 0.3), R.l2_penalty(theta, 0.3)):
        assert type(value) is float


def test_l1_l2_are_the_two_ends(rng):
    theta = _theta(rng)
    assert R.l1_penalty(theta, 0.7) == pytest.approx(0.7 * np.abs(theta).sum())
    assert R.l2_penalty(theta, 0.7) == pytest.approx(0.7 * (theta**2).sum())
    assert_close(R.l1_grad(theta, 0.7), 0.7 * np.sign(theta))
    assert_close(R.l2_grad(theta, 0.7), 1.4 * theta)
    t = torch.from_numpy(theta)
    for name in ("l1_penalty", "l2_penalty", "l1_grad", "l2_grad"):
        assert_close(getattr(TR, name)(t, 0.7), getattr(R, name)(theta, 0.7))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_torch_grad_equals_autograd_including_at_zero(alpha, rng):
    theta = torch.from_numpy(_theta(rng)).requires_grad_()
    TR.elastic_net_penalty(theta, 1.3, alpha).backward()
    assert_close(TR.elastic_net_grad(theta.detach(), 1.3, alpha), theta.grad)
    assert_close(R.elastic_net_grad(to_numpy(theta), 1.3, alpha), theta.grad)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_numpy_grad_equals_numerical_gradient_away_from_zero(alpha, rng):
    theta = rng.standard_normal((3, 4))
    theta += np.sign(theta) * 0.1  # keep |theta| >= 0.1 > h, where |.| is smooth
    num = numerical_gradient(lambda th: R.elastic_net_penalty(th, 0.8, alpha), theta)
    assert_close(R.elastic_net_grad(theta, 0.8, alpha), num, rtol=1e-7, atol=1e-8)


# --- the proximal step ---------------------------------------------------------------------

@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("lr,lam", [(0.1, 1.0), (0.5, 0.3), (1.0, 2.0), (0.0, 1.0), (0.2, 0.0)])
def test_prox_matches_closed_form_and_twin(lr, lam, alpha, rng):
    theta = rng.standard_normal(200) * 2
    t = lr * lam * (1 - alpha)
    expected = np.sign(theta) * np.maximum(np.abs(theta) - t, 0) / (1 + 2 * lr * lam * alpha)
    out = R.prox_elastic_net(theta, lr, lam, alpha)
    assert_close(out, expected)
    assert_close(TR.prox_elastic_net(torch.from_numpy(theta), lr, lam, alpha), expected)
    if alpha < 1 and t > 0:
        assert np.all(out[np.abs(theta) <= t] == 0.0)  # exactly zero, not tiny
        assert np.all(out[np.abs(theta) > t] != 0.0)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("v", [-3.0, -0.2, 0.0, 0.05, 0.7, 2.5])
def test_prox_is_the_argmin(v, alpha):
    lr, lam = 0.4, 1.5

    def objective(z):
        return (z - v) ** 2 / (2 * lr) + lam * ((1 - alpha) * abs(z) + alpha * z * z)

    best = minimize_scalar(objective, bounds=(-5, 5), method="bounded", options={"xatol": 1e-12}).x
    got = float(R.prox_elastic_net(np.array([v]), lr, lam, alpha)[0])
    assert got == pytest.approx(best, abs=1e-6)
    assert objective(got) <= objective(best) + 1e-12


def test_soft_threshold_is_torch_softshrink(rng):
    x = rng.standard_normal(1000)
    ref = torch.nn.functional.softshrink(torch.from_numpy(x), 0.4)
    assert_close(R.soft_threshold(x, 0.4), ref)
    assert_close(TR.soft_threshold(torch.from_numpy(x), 0.4), ref)


def _sparse_problem(rng, n=200, d=30, k=5, noise=0.1):
    x = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:k] = rng.choice([-1, 1], k) * rng.uniform(1, 3, k)
    y = x @ w + noise * rng.standard_normal(n)
    return x, y, w


def _prox_gradient(x, y, lam, alpha, *, intercept=False, iters=3000, prox=True):
    """Minimise mean((y - Xw - b)^2) + R(w) by (sub)gradient or proximal-gradient descent."""
    n = len(x)
    lr = 1 / (2 * np.linalg.norm(x, 2) ** 2 / n + 2 * lam * alpha)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(iters):
        r = x @ w + b - y
        gw = 2 * x.T @ r / n
        if intercept:
            b -= lr * 2 * r.mean()
        if prox:
            w = R.prox_elastic_net(w - lr * gw, lr, lam, alpha)
        else:
            w = w - lr * (gw + R.elastic_net_grad(w, lam, alpha))
    return w, b


def test_lasso_zeroes_irrelevant_weights_exactly_ridge_does_not(rng):
    x, y, w_true = _sparse_problem(rng)
    w_lasso, _ = _prox_gradient(x, y, lam=0.2, alpha=0.0)
    w_ridge, _ = _prox_gradient(x, y, lam=0.2, alpha=1.0)
    w_sub, _ = _prox_gradient(x, y, lam=0.2, alpha=0.0, prox=False)
    irrelevant = w_true == 0
    assert np.all(w_lasso[irrelevant] == 0.0)
    assert np.all(w_lasso[~irrelevant] != 0.0)
    assert np.all(w_ridge != 0.0)
    assert np.abs(w_ridge[irrelevant]).max() < 0.1  # shrunk, but not zero
    assert np.count_nonzero(w_sub[irrelevant]) > 0  # subgradient steps never land on 0


@pytest.mark.parametrize("lam,alpha", [(0.0, 0.4), (0.5, 0.0), (1.3, 0.5), (0.01, 1.0)])
def test_sklearn_conversion_round_trip(lam, alpha):
    a, r = R.to_sklearn(lam, alpha)
    assert 0 <= r <= 1
    back = R.from_sklearn(a, r)
    assert back == pytest.approx((lam, alpha), abs=1e-15)
    assert TR.to_sklearn(lam, alpha) == (a, r)
    assert TR.from_sklearn(a, r) == back


def test_sklearn_conversion_ends():
    assert R.to_sklearn(2.0, 0.0) == (1.0, 1.0)  # lasso
    assert R.to_sklearn(2.0, 1.0) == (2.0, 0.0)  # ridge


@pytest.mark.parametrize("intercept", [False, True])
@pytest.mark.parametrize("lam,alpha", [(0.3, 0.0), (0.2, 0.5), (0.1, 0.8)])
def test_solution_agrees_with_sklearn_elastic_net(lam, alpha, intercept, rng):
    from sklearn.linear_model import ElasticNet

    x, y, _ = _sparse_problem(rng, n=120, d=12, k=4)
    y = y + (3.0 if intercept else 0.0)
    a, r = R.to_sklearn(lam, alpha)
    sk = ElasticNet(alpha=a, l1_ratio=r, fit_intercept=intercept, tol=1e-12, max_iter=100_000).fit(x, y)
    w, b = _prox_gradient(x, y, lam, alpha, intercept=intercept, iters=3000)
    np.testing.assert_allclose(w, sk.coef_, atol=1e-6)
    if intercept:
        assert b == pytest.approx(sk.intercept_, abs=1e-6)
    assert np.array_equal(w == 0, sk.coef_ == 0)  # the same variables selected


# --- penalty objects -----------------------------------------------------------------------

def _np_model(rng):
    return L.Sequential(L.Linear(4, 6, rng=rng), L.Tanh(), L.Linear(6, 3, rng=rng))


def test_objects_select_weights_by_default(rng):
    model = _np_model(rng)
    pen = R.ElasticNet(0.3, 0.4)
    params = model.params
    expected = sum(R.elastic_net_penalty(params[n], 0.3, 0.4) for n in ("0.weight", "2.weight"))
    assert pen(params) == pytest.approx(expected, rel=1e-14)
    grads = pen.grad(params)
    assert sorted(grads) == ["0.weight", "2.weight"]
    assert_close(grads["2.weight"], R.elastic_net_grad(params["2.weight"], 0.3, 0.4))
    assert sorted(R.L1(1.0, include=["0.bias"]).grad(params)) == ["0.bias"]
    assert sorted(R.L2(1.0, include=lambda n: n.startswith("2.")).grad(params)) == ["2.bias", "2.weight"]
    assert R.L1(0.5)(params) == pytest.approx(R.ElasticNet(0.5, 0.0)(params))
    assert R.L2(0.5)(params) == pytest.approx(R.ElasticNet(0.5, 1.0)(params))


def test_torch_objects_match_numpy_objects(rng):
    model = _np_model(rng)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    tparams = dict(tmodel.named_parameters())
    for pen, tpen in [(R.ElasticNet(0.3, 0.6), TR.ElasticNet(0.3, 0.6)), (R.L1(0.2), TR.L1(0.2)), (R.L2(0.2), TR.L2(0.2))]:
        value = tpen(tparams)
        assert float(value.detach()) == pytest.approx(pen(model.params), rel=1e-14)
        value.backward()
        for n, g in pen.grad(model.params).items():
            assert_close(tpen.grad(tparams)[n], g)
            assert_close(tparams[n].grad, g)
        for p in tmodel.parameters():
            p.grad = None


def test_prox_objects_update_in_place(rng):
    model = _np_model(rng)
    before = model.state_dict()
    weight = model.params["0.weight"]
    R.L1(10.0).prox(model.params, 0.1)  # threshold 1 > every initial weight
    assert model.params["0.weight"] is weight and np.all(weight == 0)
    assert np.array_equal(model.params["0.bias"], before["0.bias"])
    tmodel = torch.nn.Linear(3, 2).double()
    w = tmodel.weight.detach().numpy().copy()
    TR.ElasticNet(0.5, 0.5).prox(dict(tmodel.named_parameters()), 0.3)
    assert_close(tmodel.weight, R.prox_elastic_net(w, 0.3, 0.5, 0.5))


def _digits_pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    np_model = L.Sequential(L.Linear(5, 8, rng=rng), L.Tanh(), L.Linear(8, 3, rng=rng))
    t_model = torch.nn.Sequential(TL.Linear(5, 8, dtype=torch.float64), TL.Tanh(), TL.Linear(8, 3, dtype=torch.float64))
    t_model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in np_model.state_dict().items()})
    return x, y, np_model, t_model


@pytest.mark.parametrize("make", [lambda m: m.ElasticNet(0.05, 0.3), lambda m: m.L1(0.02), lambda m: m.L2(0.1)])
def test_fit_with_a_penalty_gives_the_same_weights_in_both_twins(make):
    x, y, np_model, t_model = _digits_pair()
    h = T.fit(np_model, LS.CrossEntropyLoss(), O.SGD(np_model.params, lr=0.1), x, y, epochs=15,
              batch_size=16, shuffle=False, penalty=make(R), progress=False)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    ht = TT.fit(t_model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(t_model.parameters(), lr=0.1), xt, yt,
                epochs=15, batch_size=16, shuffle=False, penalty=make(TR), progress=False)
    for k, v in np_model.state_dict().items():
        assert_close(t_model.state_dict()[k], v, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(h.train_loss, ht.train_loss, rtol=1e-9)
    # and the penalty did something: weights differ from an unpenalised run
    x, y, plain, _ = _digits_pair()
    T.fit(plain, LS.CrossEntropyLoss(), O.SGD(plain.params, lr=0.1), x, y, epochs=15, batch_size=16,
          shuffle=False, progress=False)
    assert not np.allclose(plain.params["0.weight"], np_model.params["0.weight"])


def test_l2_on_every_parameter_is_torch_weight_decay():
    """lam * ||theta||^2 has gradient 2 * lam * theta: torch.optim.SGD(weight_decay=2 * lam)."""
    x, y, _, t_model = _digits_pair()
    ref = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    ref.load_state_dict(t_model.state_dict())
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    lam = 0.05
    TT.fit(t_model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(t_model.parameters(), lr=0.1), xt, yt, epochs=10,
           batch_size=16, shuffle=False, penalty=TR.L2(lam, include=lambda n: True), progress=False)
    TT.fit(ref, torch.nn.CrossEntropyLoss(), torch.optim.SGD(ref.parameters(), lr=0.1, weight_decay=2 * lam), xt, yt,
           epochs=10, batch_size=16, shuffle=False, progress=False)
    for k, v in ref.state_dict().items():
        assert_close(t_model.state_dict()[k], v, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_torch_penalty_on_cuda():
    model = torch.nn.Linear(3, 2).double().cuda()
    value = TR.ElasticNet(0.4, 0.5)(dict(model.named_parameters()))
    assert value.is_cuda
    cpu = TR.ElasticNet(0.4, 0.5)({k: v.cpu() for k, v in model.named_parameters()})
    assert float(value.detach()) == pytest.approx(float(cpu.detach()), rel=1e-14)


# --- bad input -----------------------------------------------------------------------------

BAD = [
    (lambda m: m.ElasticNet(-0.1), ValueError, "'lam' parameter of ElasticNet must be a float in the range [0, inf)"),
    (lambda m: m.L1(float("nan")), ValueError, "'lam' parameter of L1"),
    (lambda m: m.L2("1"), TypeError, "'lam' parameter of L2"),
    (lambda m: m.ElasticNet(1.0, 1.5), ValueError, "'alpha' parameter of ElasticNet must be a float in the range [0, 1]"),
    (lambda m: m.ElasticNet(1.0, -0.2), ValueError, "'alpha' parameter of ElasticNet"),
    (lambda m: m.ElasticNet(1.0, include="0.weight"), TypeError, "'include' parameter of ElasticNet"),
    (lambda m: m.ElasticNet(1.0, include=3), TypeError, "'include' parameter of ElasticNet"),
    (lambda m: m.to_sklearn(-1.0, 0.5), ValueError, "'lam' parameter of to_sklearn"),
    (lambda m: m.to_sklearn(1.0, 2.0), ValueError, "'alpha' parameter of to_sklearn"),
    (lambda m: m.from_sklearn(1.0, 1.5), ValueError, "'l1_ratio' parameter of from_sklearn"),
    (lambda m: m.from_sklearn(-1.0, 0.5), ValueError, "'alpha' parameter of from_sklearn"),
]


@pytest.mark.parametrize("call,err,msg", BAD)
@pytest.mark.parametrize("mod", [R, TR], ids=["numpy", "torch"])
def test_bad_hyperparameters(call, err, msg, mod):
    with pytest.raises(err) as info:
        call(mod)
    assert msg in str(info.value) and "Got" in str(info.value)


@pytest.mark.parametrize("mod,arr", [(R, np.array), (TR, lambda v: torch.tensor(v, dtype=torch.float64))],
                         ids=["numpy", "torch"])
def test_bad_arrays(mod, arr):
    good = arr([1.0, -2.0])
    with pytest.raises(ValueError, match="'theta' parameter of elastic_net_penalty must hold finite"):
        mod.elastic_net_penalty(arr([1.0, float("nan")]), 1.0, 0.5)
    with pytest.raises(ValueError, match="'theta' parameter of prox_elastic_net must hold finite"):
        mod.prox_elastic_net(arr([float("inf"), 0.0]), 0.1, 1.0, 0.5)
    with pytest.raises(ValueError, match="'theta' parameter of l1_grad|'theta' parameter of elastic_net_grad"):
        mod.l1_grad(arr([float("nan")]), 1.0)
    with pytest.raises(ValueError, match="'lr' parameter of prox_elastic_net must be a float in the range"):
        mod.prox_elastic_net(good, -0.1, 1.0, 0.5)
    with pytest.raises(ValueError, match="'threshold' parameter of soft_threshold"):
        mod.soft_threshold(good, -1.0)
    with pytest.raises(TypeError, match="'theta' parameter of l2_penalty|'theta' parameter of elastic_net_penalty"):
        mod.l2_penalty([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match=r"params\['w.weight'\]"):
        mod.L1(1.0)({"w.weight": arr([float("nan")])})
    with pytest.raises(ValueError, match="selects none of the parameters"):
        mod.L1(1.0)({"W1": good})
    with pytest.raises(ValueError, match="does not have"):
        mod.L1(1.0, include=["W2"])({"W1": good})
    with pytest.raises(TypeError, match="'params' parameter of L2 must be a dict"):
        mod.L2(1.0)([good])
    with pytest.raises(ValueError, match="'lr' parameter of ElasticNet"):
        mod.ElasticNet(1.0).prox({"weight": good}, float("nan"))


def test_message_style():
    with pytest.raises(ValueError) as info:
        R.ElasticNet(1.0, 1.5)
    assert str(info.value) == "The 'alpha' parameter of ElasticNet must be a float in the range [0, 1]. Got 1.5 instead."


def test_no_warning_from_clean_use(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        R.ElasticNet(0.1)({"weight": rng.standard_normal(3)})


def test_torch_penalty_on_trainable_weights_reads_them_without_warnings():
    """The penalty's finiteness is read off its one scalar, detached; a NaN weight is still named."""
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = TR.ElasticNet(0.1)({"weight": w})
        value.backward()
    assert w.grad is not None
    with torch.no_grad():
        w[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"params\['weight'\]' parameter of ElasticNet must hold finite"):
        TR.ElasticNet(0.1)({"weight": w})


@pytest.mark.parametrize("mod", [R, TR], ids=["numpy", "torch"])
def test_l1_l2_are_elastic_nets_with_their_mix_fixed(mod):
    assert isinstance(mod.L1(0.1), mod.ElasticNet) and mod.L1(0.1).alpha == 0.0 and mod.L2(0.1).alpha == 1.0
    assert repr(mod.L2(0.5)) == "L2(lam=0.5)"
    with pytest.raises(TypeError):
        mod.L1(0.1, 0.5)  # the mix is not an argument


def test_a_sum_that_overflows_is_not_mistaken_for_a_non_finite_weight():
    big = np.full(4, np.finfo(np.float32).max / 2, dtype=np.float32)
    with np.errstate(over="ignore"):
        assert np.isfinite(R.l1_grad(big, 1.0)).all()


def test_each_twin_names_the_other_twins_arrays():
    with pytest.raises(TypeError, match="'theta' parameter of elastic_net_grad must be a torch.Tensor. Got ndarray"):
        TR.elastic_net_grad(np.ones(2), 0.1)
    with pytest.raises(TypeError, match=r"'params\['weight'\]' parameter of L2 must be a numpy.ndarray. Got Tensor"):
        R.L2(0.1)({"weight": torch.ones(2)})
