"""Mini-batches and the fit loop, in both twins, against a plain torch loop."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_close
from tipslib.data import Standardizer, load_digits, make_spirals, to_torch
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL
from tipslib.losses import numpy_impl as LN
from tipslib.losses import torch_impl as LT
from tipslib.optim import numpy_impl as O
from tipslib.optim import torch_impl as OT
from tipslib.training import numpy_impl as TR
from tipslib.training import torch_impl as TT


@pytest.mark.parametrize("n,batch,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (5, 8, False)])
def test_minibatches_cover_an_epoch(rng, n, batch, drop_last):
    x = np.arange(n, dtype=float)[:, None]
    y = np.arange(n)
    batches = list(TR.minibatches(x, y, batch, rng=rng, drop_last=drop_last))
    assert len(batches) == TR.num_batches(n, batch, drop_last)
    seen = np.concatenate([yb for _, yb in batches])
    assert len(seen) == (n - n % batch if drop_last else n)
    assert len(set(seen)) == len(seen)  # no example twice in an epoch
    for xb, yb in batches:
        assert_close(xb[:, 0], yb)  # rows stay paired with their labels

    tb = list(TT.minibatches(torch.tensor(x), torch.tensor(y), batch, generator=torch.Generator().manual_seed(0),
                             drop_last=drop_last))
    assert [len(b[1]) for b in tb] == [len(b[1]) for b in batches]


def test_shuffle_gives_a_new_order_each_epoch(rng):
    x = np.zeros((50, 1))
    y = np.arange(50)
    first = np.concatenate([yb for _, yb in TR.minibatches(x, y, 10, rng=rng)])
    second = np.concatenate([yb for _, yb in TR.minibatches(x, y, 10, rng=rng)])
    assert sorted(first) == list(range(50)) and not np.array_equal(first, second)
    fixed = np.concatenate([yb for _, yb in TR.minibatches(x, y, 10, shuffle=False)])
    assert np.array_equal(fixed, y)


def _digits(n=300):
    """The first n digits, 80% train / 20% validation, scaled on the training part."""
    x, y = load_digits()
    cut = int(0.8 * n)
    scaler = Standardizer().fit(x[:cut])
    return scaler.transform(x[:cut]), y[:cut], scaler.transform(x[cut:n]), y[cut:n]


def test_numpy_fit_equals_torch_twin_and_plain_torch_loop(rng):
    """Same start, same batch order (no shuffling), float64: three loops, one trajectory."""
    xt, yt, xv, yv = _digits()
    np_model = L.Sequential(L.Linear(64, 32, rng=rng), L.ReLU(), L.Linear(32, 10, rng=rng))
    state = {k: torch.tensor(v) for k, v in np_model.state_dict().items()}
    hyper = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    kw = dict(epochs=4, batch_size=32, shuffle=False, progress=False)

    h_np = TR.fit(np_model, LN.CrossEntropyLoss(), O.SGD(np_model.params, **hyper), xt, yt,
                  x_val=xv, y_val=yv, **kw)

    twin = TL.Sequential(TL.Linear(64, 32), TL.ReLU(), TL.Linear(32, 10)).double()
    twin.load_state_dict(state)
    Xt, Yt, Xv, Yv = to_torch(xt, yt, xv, yv, device="cpu", dtype=torch.float64)
    h_twin = TT.fit(twin, LT.CrossEntropyLoss(), OT.SGD(twin.parameters(), **hyper), Xt, Yt,
                    x_val=Xv, y_val=Yv, **kw)

    plain = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).double()
    plain.load_state_dict(state)
    opt = torch.optim.SGD(plain.parameters(), **hyper)
    step_losses = []
    for _ in range(kw["epochs"]):
        for i in range(0, len(Xt), kw["batch_size"]):
            loss = F.cross_entropy(plain(Xt[i:i + 32]), Yt[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_losses.append(loss.item())

    assert_close(h_np.step_loss, step_losses)
    assert_close(h_twin.step_loss, step_losses)
    assert_close(h_np.val_loss, h_twin.val_loss)
    assert_close(h_np.val_acc, h_twin.val_acc)
    for name, p in plain.named_parameters():
        assert_close(np_model.params[name], p)
    assert len(h_np.epoch) == 4 and h_np.train_loss[-1] < h_np.train_loss[0]


def test_fit_learns_spirals(rng):
    x, y = make_spirals(300, noise=0.1, rng=rng)
    model = L.Sequential(L.Linear(2, 64, rng=rng), L.ReLU(), L.Linear(64, 64, rng=rng), L.ReLU(),
                         L.Linear(64, 3, rng=rng))
    h = TR.fit(model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.05, momentum=0.9), x, y,
               epochs=150, batch_size=32, rng=rng, progress=False)
    assert h.train_acc[-1] > 0.9


class _StopAt:
    def __init__(self, epoch):
        self.epoch, self.calls = epoch, []

    def on_train_begin(self, model):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, logs, model):
        self.calls.append((epoch, sorted(logs)))
        return epoch == self.epoch

    def on_train_end(self, model):
        self.calls.append("end")


def test_callbacks_are_called_and_can_stop(rng):
    xt, yt, xv, yv = _digits(200)
    model = L.Sequential(L.Linear(64, 10, rng=rng))
    cb = _StopAt(3)
    h = TR.fit(model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), xt, yt, x_val=xv, y_val=yv,
               epochs=10, rng=rng, callbacks=[cb], progress=False)
    assert h.epoch == [1, 2, 3] and h.stopped_early
    assert cb.calls[0] == "begin" and cb.calls[-1] == "end"
    assert cb.calls[1] == (1, ["train_acc", "train_loss", "val_acc", "val_loss"])


def test_transform_runs_on_every_training_batch(rng):
    xt, yt, _, _ = _digits(200)
    seen = []

    def transform(xb):
        seen.append(len(xb))
        return xb

    model = L.Sequential(L.Linear(64, 10, rng=rng))
    TR.fit(model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), xt, yt, epochs=2, batch_size=50,
           rng=rng, transform=transform, progress=False)
    assert seen == [50, 50, 50, 10] * 2


class _L2:
    """A minimal penalty: lam * sum(w^2) on the weights only."""

    def __init__(self, lam):
        self.lam = lam

    def __call__(self, params):
        return sum(self.lam * float(np.sum(v * v)) for k, v in params.items() if k.endswith("weight"))

    def grad(self, params):
        return {k: 2 * self.lam * v for k, v in params.items() if k.endswith("weight")}


def test_penalty_hook_equals_weight_decay(rng):
    """An L2 penalty lam*||w||^2 through the hook = SGD weight_decay=2*lam on the weights."""
    xt, yt, _, _ = _digits(200)
    a = L.Sequential(L.Linear(64, 10, bias=False, rng=rng))
    b = L.Sequential(L.Linear(64, 10, bias=False))
    b.load_state_dict(a.state_dict())
    kw = dict(epochs=2, batch_size=40, shuffle=False, progress=False)
    TR.fit(a, LN.CrossEntropyLoss(), O.SGD(a.params, lr=0.1), xt, yt, penalty=_L2(0.01), **kw)
    TR.fit(b, LN.CrossEntropyLoss(), O.SGD(b.params, lr=0.1, weight_decay=0.02), xt, yt, **kw)
    assert_close(a.params["0.weight"], b.params["0.weight"])


def test_torch_penalty_hook(rng):
    xt, yt, _, _ = _digits(200)
    Xt, Yt = to_torch(xt, yt, device="cpu", dtype=torch.float64)
    a = TL.Sequential(TL.Linear(64, 10, bias=False)).double()
    b = TL.Sequential(TL.Linear(64, 10, bias=False)).double()
    b.load_state_dict(a.state_dict())
    kw = dict(epochs=2, batch_size=40, shuffle=False, progress=False)
    pen = lambda params: 0.01 * sum((v * v).sum() for k, v in params.items() if k.endswith("weight"))
    TT.fit(a, LT.CrossEntropyLoss(), OT.SGD(a.parameters(), lr=0.1), Xt, Yt, penalty=pen, **kw)
    TT.fit(b, LT.CrossEntropyLoss(), OT.SGD(b.parameters(), lr=0.1, weight_decay=0.02), Xt, Yt, **kw)
    assert_close(a[0].weight, b[0].weight)


def test_divergence_stops_with_a_warning_not_nan(rng):
    xt, yt, _, _ = _digits(200)
    model = L.Sequential(L.Linear(64, 64, rng=rng), L.ReLU(), L.Linear(64, 10, rng=rng))
    with pytest.warns(RuntimeWarning, match="learning rate"):
        h = TR.fit(model, LN.MSELoss(), O.SGD(model.params, lr=50.0), xt, np.eye(10)[yt], epochs=50,
                   rng=rng, progress=False)
    assert h.diverged and len(h.epoch) < 50
    assert all(np.isfinite(h.train_loss))


def _nan_output_problem(rng):
    # Positive inputs meet a weight row of +inf and -inf: inf - inf makes NaN logits from the
    # first forward on, before any loss is computed (tipslib's losses refuse NaN input).
    x = np.abs(rng.normal(size=(64, 4))) + 0.1
    y = rng.integers(0, 3, 64)
    return x, y


def test_divergence_with_nan_outputs_is_reported_not_raised(rng):
    x, y = _nan_output_problem(rng)
    model = L.Sequential(L.Linear(4, 32, rng=rng), L.ReLU(), L.Linear(32, 3, rng=rng))
    model.params["0.weight"][0, :2] = [np.inf, -np.inf]
    with pytest.warns(RuntimeWarning, match="learning rate"):
        h = TR.fit(model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), x, y, epochs=5,
                   batch_size=16, rng=rng, progress=False)
    assert h.diverged and np.isnan(h.step_loss[-1])


def test_torch_divergence_with_nan_outputs_is_reported_not_raised(rng):
    x, y = _nan_output_problem(rng)
    X, Y = to_torch(x, y, device="cpu", dtype=torch.float64)
    model = TL.Sequential(TL.Linear(4, 32), TL.ReLU(), TL.Linear(32, 3)).double()
    with torch.no_grad():
        model[0].weight[0, :2] = torch.tensor([torch.inf, -torch.inf])
    with pytest.warns(RuntimeWarning, match="learning rate"):
        h = TT.fit(model, LT.CrossEntropyLoss(), OT.SGD(model.parameters(), lr=0.1), X, Y, epochs=5,
                   batch_size=16, generator=torch.Generator().manual_seed(0), progress=False)
    assert h.diverged and np.isnan(h.step_loss[-1])


def test_nan_validation_outputs_give_a_nan_val_loss_not_an_error(rng):
    # A negative running variance is NaN in eval mode only: training stays finite.
    x, y = _nan_output_problem(rng)
    model = L.Sequential(L.Linear(4, 8, rng=rng), L.BatchNorm1d(8), L.Linear(8, 3, rng=rng))
    model[1].buffers["running_var"][:] = -10.0
    h = TR.fit(model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), x, y, x_val=x, y_val=y,
               epochs=1, batch_size=16, rng=rng, progress=False)
    assert np.isnan(h.val_loss[0]) and np.isfinite(h.train_loss[0])

    X, Y = to_torch(x, y, device="cpu", dtype=torch.float64)
    twin = TL.Sequential(TL.Linear(4, 8), TL.BatchNorm1d(8), TL.Linear(8, 3)).double()
    twin[1].running_var.fill_(-10.0)
    h = TT.fit(twin, LT.CrossEntropyLoss(), OT.SGD(twin.parameters(), lr=0.1), X, Y, x_val=X, y_val=Y,
               epochs=1, batch_size=16, generator=torch.Generator().manual_seed(0), progress=False)
    assert np.isnan(h.val_loss[0]) and np.isfinite(h.train_loss[0])


def test_torch_fit_runs_on_device(device, rng):
    xt, yt, xv, yv = _digits(200)
    Xt, Yt, Xv, Yv = to_torch(xt, yt, xv, yv, device=device, dtype=torch.float32)
    model = TL.Sequential(TL.Linear(64, 32), TL.ReLU(), TL.Linear(32, 10)).to(device)
    h = TT.fit(model, LT.CrossEntropyLoss(), OT.SGD(model.parameters(), lr=0.1, momentum=0.9), Xt, Yt,
               x_val=Xv, y_val=Yv, epochs=5, generator=torch.Generator().manual_seed(0), progress=False)
    assert h.val_acc[-1] > 0.7


class _Recorder:
    def __init__(self):
        self.calls = []

    def on_train_begin(self, model):
        self.calls.append("begin")


def _twin_case(torch_twin):
    """A tiny model, its optimizer, and float data with integer labels in the twin's array type."""
    x, y = np.ones((6, 3)), np.array([0, 1, 0, 1, 0, 1])
    if torch_twin:
        model = TL.Sequential(TL.Linear(3, 2)).double()
        return TT, model, LT.CrossEntropyLoss(), OT.SGD(model.parameters(), lr=0.1), torch.tensor(x), torch.tensor(y)
    model = L.Sequential(L.Linear(3, 2, rng=np.random.default_rng(0)))
    return TR, model, LN.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), x, y


BAD_FIT = [
    ("y_val", ValueError, lambda x, y: dict(x_val=x, y_val=y[:-1])),
    ("x_val", ValueError, lambda x, y: dict(x_val=x[:, :2], y_val=y)),
    ("x_val", ValueError, lambda x, y: dict(x_val=x)),
    ("transform", TypeError, lambda x, y: dict(transform="flip")),
    ("penalty", TypeError, lambda x, y: dict(penalty="l2")),
    ("metric", TypeError, lambda x, y: dict(metric="acc")),
    ("callbacks", TypeError, lambda x, y: dict(callbacks=iter([]))),
    ("progress", TypeError, lambda x, y: dict(progress=1)),
    ("x_train", TypeError, lambda x, y: dict(x_train=x.tolist())),
]


@pytest.mark.parametrize("torch_twin", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize("name,error,bad", BAD_FIT, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_FIT)])
def test_fit_refuses_bad_arguments_before_the_first_epoch(torch_twin, name, error, bad):
    M, model, loss, opt, x, y = _twin_case(torch_twin)
    before = {k: v.clone() if torch_twin else v.copy() for k, v in model.state_dict().items()}
    recorder = _Recorder()
    kw = dict(x_train=x, y_train=y, epochs=2, batch_size=2, callbacks=[recorder], progress=False)
    kw.update(bad(x, y))
    with pytest.raises(error, match=f"The '{name}' (and 'y_val' )?parameters? of fit"):
        M.fit(model, loss, opt, **kw)
    assert recorder.calls == []  # no epoch began
    for k, v in model.state_dict().items():
        assert_close(v, before[k])


def test_torch_fit_names_numpy_arrays():
    _, model, loss, opt, x, y = _twin_case(True)
    with pytest.raises(TypeError, match="'x_train' parameter of fit must be a torch.Tensor. Got ndarray"):
        TT.fit(model, loss, opt, x.numpy(), y, progress=False)


@pytest.mark.parametrize("torch_twin", [False, True], ids=["numpy", "torch"])
def test_the_loop_does_not_re_validate(torch_twin, monkeypatch):
    """fit checks at the door, then calls the bare minibatches and accuracy: not one
    of their constraints runs inside the loop."""
    M, model, loss, opt, x, y = _twin_case(torch_twin)
    checked = []
    for fn in (M.minibatches, M.accuracy):
        for param, constraint in list(fn.constraints.items()):
            def counting(value, name, owner, _constraint=constraint):
                checked.append((owner, name))
                return _constraint(value, name, owner)
            monkeypatch.setitem(fn.constraints, param, counting)
    h = M.fit(model, loss, opt, x, y, x_val=x, y_val=y, epochs=3, batch_size=2, progress=False)
    assert len(h.train_acc) == 3 and checked == []
    list(M.minibatches(x, y, 2))  # the public function still checks
    assert ("minibatches", "batch_size") in checked


@pytest.mark.parametrize("torch_twin", [False, True], ids=["numpy", "torch"])
def test_minibatches_and_accuracy_check_when_called(torch_twin):
    M, _, _, _, x, y = _twin_case(torch_twin)
    with pytest.raises(ValueError, match="'batch_size' parameter of minibatches"):
        M.minibatches(x, y, 0)  # at the call, not at the first batch
    with pytest.raises(ValueError, match="'output' parameter of accuracy must hold at least one row"):
        M.accuracy(x[:0, :2], y[:0])
    scores = np.eye(2)[[0, 1, 0, 1, 0, 0]]  # the last row is wrong
    assert M.accuracy(torch.tensor(scores) if torch_twin else scores, y) == 5 / 6
