"""Early stopping: scripted validation curves, restored weights, and both fit loops for real."""

import math

import numpy as np
import pytest
import torch

from tipslib.data import load_digits
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL
from tipslib.losses import numpy_impl as LS
from tipslib.optim import numpy_impl as O
from tipslib.regularization import numpy_impl as R
from tipslib.regularization import torch_impl as TR
from tipslib.training import numpy_impl as T
from tipslib.training import torch_impl as TT

NAN, INF = float("nan"), float("inf")

# (values, kwargs, stopped_epoch, best_epoch)
SCRIPTS = {
    "plateau": ([1.0, 0.8, 0.8, 0.8, 0.8, 0.7], dict(patience=2), 4, 2),
    "rises": ([1.0, 0.7, 0.75, 0.8, 0.9], dict(patience=3), 5, 2),
    "within_min_delta": ([1.0, 0.95, 0.91, 0.905, 0.5], dict(patience=3, min_delta=0.1), 4, 1),
    "exactly_min_delta_is_not_enough": ([1.0, 0.5, 0.0], dict(patience=1, min_delta=0.5), 2, 1),
    "beyond_min_delta": ([1.0, 0.49, 0.0], dict(patience=1, min_delta=0.5), 3, 2),
    "nan_is_no_improvement": ([1.0, NAN, 0.9, NAN, NAN, 0.1], dict(patience=2), 5, 3),
    "nan_first": ([NAN, NAN, 2.0, 1.0], dict(patience=5), None, 4),
    "inf_is_no_improvement": ([INF, 3.0, INF, INF], dict(patience=2), 4, 2),
    "all_nan": ([NAN, NAN, NAN], dict(patience=2), 2, None),
    "mode_max": ([0.5, 0.6, 0.6, 0.55, 0.7], dict(patience=2, mode="max"), 4, 2),
    "mode_max_min_delta": ([0.5, 0.55, 0.58, 0.7], dict(patience=2, mode="max", min_delta=0.1), 3, 1),
    "patience_zero": ([1.0, 0.5, 0.6, 0.1], dict(patience=0), 3, 2),
    "keeps_improving": ([3.0, 2.0, 1.0], dict(patience=1), None, 3),
}


def _run_script(mod, model, set_weight, values, kwargs, monitor="val_loss"):
    """Drive the callback as fit would; the weight at epoch e is filled with e."""
    es = mod.EarlyStopping(monitor=monitor, **kwargs)
    es.on_train_begin(model)
    last = 0
    for epoch, v in enumerate(values, start=1):
        set_weight(model, epoch)
        last = epoch
        if es.on_epoch_end(epoch, {"train_loss": 0.0, "train_acc": None, "val_loss": v, "val_acc": v}, model):
            break
    es.on_train_end(model)
    return es, last


def _numpy_model():
    model = L.Linear(2, 3, rng=np.random.default_rng(0))

    def set_weight(m, e):
        m.params["weight"][...] = e
        m.params["bias"][...] = -e

    return model, set_weight, lambda m: m.params["weight"][0, 0]


def _torch_model():
    model = torch.nn.Linear(2, 3)

    def set_weight(m, e):
        with torch.no_grad():
            m.weight.fill_(e)
            m.bias.fill_(-e)

    return model, set_weight, lambda m: float(m.weight[0, 0].detach())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("mod,make", [(R, _numpy_model), (TR, _torch_model)], ids=["numpy", "torch"])
def test_scripted_curves(name, mod, make):
    values, kwargs, stopped, best = SCRIPTS[name]
    model, set_weight, read = make()
    es, last = _run_script(mod, model, set_weight, values, kwargs)
    assert es.stopped_epoch == stopped
    assert last == (stopped if stopped is not None else len(values))
    assert es.best_epoch == best
    if best is None:
        assert es.best_value is None
        assert read(model) == last  # nothing to restore: the last weights stay
    else:
        assert es.best_value == values[best - 1]
        assert read(model) == best  # the best epoch's weights are back
    assert len(es.values) == last
    assert all((a == b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(es.values, values))


@pytest.mark.parametrize("mod,make", [(R, _numpy_model), (TR, _torch_model)], ids=["numpy", "torch"])
def test_without_restore_the_last_weights_stay(mod, make):
    model, set_weight, read = make()
    es, last = _run_script(mod, model, set_weight, [1.0, 0.5, 0.9, 0.9], dict(patience=2, restore_best_weights=False))
    assert (es.stopped_epoch, es.best_epoch, last) == (4, 2, 4)
    assert read(model) == 4


def test_restored_weights_are_a_copy_not_a_reference():
    model, set_weight, read = _torch_model()
    es, _ = _run_script(TR, model, set_weight, [1.0, 2.0, 3.0], dict(patience=5))
    assert read(model) == 1.0
    model2, set_weight2, read2 = _numpy_model()
    _run_script(R, model2, set_weight2, [1.0, 2.0, 3.0], dict(patience=5))
    assert read2(model2) == 1.0


def test_state_resets_on_train_begin():
    model, set_weight, _ = _numpy_model()
    es, _ = _run_script(R, model, set_weight, [1.0, 2.0, 3.0], dict(patience=1))
    assert es.stopped_epoch == 2
    es.on_train_begin(model)
    assert (es.best_epoch, es.best_value, es.stopped_epoch, es.wait, es.values) == (None, None, None, 0, [])


def test_monitor_train_acc():
    model, set_weight, read = _numpy_model()
    es = R.EarlyStopping(monitor="train_acc", mode="max", patience=1)
    es.on_train_begin(model)
    for epoch, acc in enumerate([0.2, 0.9, 0.8], start=1):
        set_weight(model, epoch)
        stop = es.on_epoch_end(epoch, {"train_loss": 1.0, "train_acc": acc, "val_loss": None, "val_acc": None}, model)
    assert stop and es.best_epoch == 2


# --- in the real fit loops -----------------------------------------------------------------

def _overfitting_data():
    x, y = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    return x[idx[:40]], y[idx[:40]], x[idx[40:400]], y[idx[40:400]]


def test_in_numpy_fit():
    x_tr, y_tr, x_va, y_va = _overfitting_data()
    rng = np.random.default_rng(1)
    model = L.Sequential(L.Linear(64, 128, rng=rng), L.ReLU(), L.Linear(128, 10, rng=rng))
    es = R.EarlyStopping(patience=5)
    h = T.fit(model, LS.CrossEntropyLoss(), O.SGD(model.params, lr=0.3, momentum=0.9), x_tr, y_tr,
              epochs=300, batch_size=10, x_val=x_va, y_val=y_va, rng=rng, callbacks=[es], progress=False)
    assert h.stopped_early and es.stopped_epoch == h.epoch[-1] < 300
    assert es.stopped_epoch - es.best_epoch == 5
    assert es.best_epoch == int(np.argmin(h.val_loss)) + 1
    assert es.best_value == min(h.val_loss)
    # the model now holds the best epoch's weights: its validation loss is the best one
    model.eval()
    assert float(LS.CrossEntropyLoss()(model.forward(x_va), y_va)) == pytest.approx(es.best_value, rel=1e-12)
    assert h.val_loss[-1] > es.best_value


def test_in_torch_fit(device):
    x_tr, y_tr, x_va, y_va = (torch.from_numpy(a).to(device) for a in _overfitting_data())
    g = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(TL.Linear(64, 128, generator=g, dtype=torch.float64), TL.ReLU(),
                                TL.Linear(128, 10, generator=g, dtype=torch.float64)).to(device)
    es = TR.EarlyStopping(patience=5)
    h = TT.fit(model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9),
               x_tr, y_tr, epochs=300, batch_size=10, x_val=x_va, y_val=y_va, generator=g, callbacks=[es],
               progress=False)
    assert h.stopped_early and es.stopped_epoch == h.epoch[-1] < 300
    assert es.best_epoch == int(np.argmin(h.val_loss)) + 1
    model.eval()
    with torch.no_grad():
        val = float(torch.nn.functional.cross_entropy(model(x_va), y_va))
    assert val == pytest.approx(es.best_value, rel=1e-12)
    assert next(model.parameters()).device.type == device.type


def test_missing_validation_set_is_explained():
    x_tr, y_tr, _, _ = _overfitting_data()
    model = L.Sequential(L.Linear(64, 10, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match="'monitor' parameter of EarlyStopping is 'val_loss'.*Pass x_val and y_val"):
        T.fit(model, LS.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), x_tr, y_tr, epochs=3,
              callbacks=[R.EarlyStopping()], progress=False)


# --- bad input -----------------------------------------------------------------------------

BAD = [
    (dict(patience=-1), ValueError, "'patience' parameter of EarlyStopping must be an int in the range [0, inf)"),
    (dict(patience=2.5), TypeError, "'patience' parameter of EarlyStopping"),
    (dict(min_delta=-0.1), ValueError, "'min_delta' parameter of EarlyStopping must be a float in the range [0, inf)"),
    (dict(min_delta=NAN), ValueError, "'min_delta' parameter of EarlyStopping"),
    (dict(mode="auto"), ValueError, "'mode' parameter of EarlyStopping must be one of {'min', 'max'}"),
    (dict(monitor="val_accuracy"), ValueError, "'monitor' parameter of EarlyStopping must be one of"),
    (dict(monitor=None), ValueError, "'monitor' parameter of EarlyStopping"),
    (dict(monitor="val_acc"), ValueError, "'mode' parameter of EarlyStopping must be 'max' when monitor is 'val_acc'"),
    (dict(restore_best_weights="yes"), TypeError, "'restore_best_weights' parameter of EarlyStopping must be a bool"),
]


@pytest.mark.parametrize("kwargs,err,msg", BAD)
@pytest.mark.parametrize("mod", [R, TR], ids=["numpy", "torch"])
def test_bad_arguments(kwargs, err, msg, mod):
    with pytest.raises(err) as info:
        mod.EarlyStopping(**kwargs)
    assert msg in str(info.value) and "Got" in str(info.value)
