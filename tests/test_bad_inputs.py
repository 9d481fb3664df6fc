"""Bad input raises ValueError/TypeError naming the parameter (foundation topics).

Each row: a call, the exception type, and text the message must contain —
always the parameter's name in quotes, so the user knows what to fix.
"""

import numpy as np
import pytest
import torch

from tipslib.data import Standardizer, make_spirals, to_torch, train_val_test_split
from tipslib.gradcheck import numpy_impl as G
from tipslib.layers import numpy_impl as L
from tipslib.layers import torch_impl as TL
from tipslib.losses import numpy_impl as LN
from tipslib.losses import torch_impl as LT
from tipslib.optim import numpy_impl as O
from tipslib.optim import torch_impl as OT
from tipslib.training import numpy_impl as TR

X = np.ones((4, 3))
W = np.ones((2, 3))
P = [np.zeros((2, 3)), np.zeros(2)]


def _model():
    return L.Sequential(L.Linear(3, 2))


CASES = [
    # layers: shapes and dtypes
    ("linear wrong features", lambda: L.linear_forward(np.ones((4, 5)), W, None), ValueError, "'x'"),
    ("linear int input", lambda: L.linear_forward(np.ones((4, 3), dtype=int), W, None), TypeError, "'x'"),
    ("linear 1-D weight", lambda: L.linear_forward(X, np.ones(3), None), ValueError, "'weight'"),
    ("linear list input", lambda: L.linear_forward([[1.0, 2.0, 3.0]], W, None), TypeError, "'x'"),
    ("Linear zero features", lambda: L.Linear(0, 3), ValueError, "'in_features'"),
    ("Linear float features", lambda: L.Linear(2.5, 3), TypeError, "'in_features'"),
    ("Linear bad rng", lambda: L.Linear(2, 3, rng=42), TypeError, "'rng'"),
    ("softmax dim out of range", lambda: L.softmax_forward(X, dim=2), ValueError, "'dim'"),
    ("Sequential non-layer", lambda: L.Sequential(L.ReLU(), "relu"), TypeError, "'layers'"),
    ("torch Linear wrong features", lambda: TL.Linear(3, 2)(torch.ones(4, 5)), ValueError, "'x'"),
    ("torch Sequential non-module", lambda: TL.Sequential(TL.ReLU(), 3), TypeError, "'layers'"),
    # losses: probabilities, labels, shapes, reductions
    ("bce prob above 1", lambda: LN.binary_cross_entropy(np.array([1.5]), np.array([1.0])), ValueError, "'input'"),
    ("bce prob below 0", lambda: LN.binary_cross_entropy(np.array([-0.1]), np.array([1.0])), ValueError, "'input'"),
    ("bce target above 1", lambda: LN.binary_cross_entropy(np.array([0.5]), np.array([2.0])), ValueError, "'target'"),
    ("bce shape mismatch", lambda: LN.binary_cross_entropy(np.ones(3) / 2, np.ones(2)), ValueError, "'target'"),
    ("bce NaN input", lambda: LN.binary_cross_entropy_with_logits(np.array([np.nan]), np.array([1.0])), ValueError, "'input'"),
    ("ce label out of range", lambda: LN.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "'target'"),
    ("ce negative label", lambda: LN.cross_entropy(np.zeros((2, 3)), np.array([-1, 0])), ValueError, "'target'"),
    ("ce float labels", lambda: LN.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, "'target'"),
    ("ce label count", lambda: LN.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError, "'target'"),
    ("ce 1-D logits", lambda: LN.cross_entropy(np.zeros(3), np.array([0])), ValueError, "'input'"),
    ("empty mse", lambda: LN.mse_loss(np.zeros(0), np.zeros(0)), ValueError, "'input'"),
    ("unknown reduction", lambda: LN.mse_loss(np.zeros(2), np.zeros(2), reduction="avg"), ValueError, "'reduction'"),
    ("torch ce label out of range", lambda: LT.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 5])), ValueError, "'target'"),
    ("torch bce prob above 1", lambda: LT.binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0])), ValueError, "'input'"),
    ("backward dout shape", lambda: LN.mse_loss_backward(np.ones(2), LN.mse_loss_forward(np.ones(3), np.ones(3))[1]), ValueError, "'dout'"),
    # optimizer
    ("negative lr", lambda: O.SGD(P, lr=-1.0), ValueError, "The 'lr' parameter of SGD must be a float in the range [0, inf). Got -1.0 instead."),
    ("NaN lr", lambda: O.SGD(P, lr=float("nan")), ValueError, "'lr'"),
    ("string lr", lambda: O.SGD(P, lr="0.1"), TypeError, "'lr'"),
    ("negative momentum", lambda: O.SGD(P, lr=0.1, momentum=-0.5), ValueError, "'momentum'"),
    ("nesterov without momentum", lambda: O.SGD(P, lr=0.1, nesterov=True), ValueError, "'nesterov'"),
    ("empty params", lambda: O.SGD([], lr=0.1), ValueError, "'params'"),
    ("int params", lambda: O.SGD([np.zeros(2, dtype=int)], lr=0.1), TypeError, "'params'"),
    ("grads count", lambda: O.SGD(P, lr=0.1).step([np.zeros((2, 3))]), ValueError, "'grads'"),
    ("grads shape", lambda: O.SGD(P, lr=0.1).step([np.zeros((3, 2)), np.zeros(2)]), ValueError, "'grads'"),
    ("grads keys", lambda: O.SGD({"w": np.zeros(2)}, lr=0.1).step({"v": np.zeros(2)}), ValueError, "'grads'"),
    ("torch negative lr", lambda: OT.SGD([torch.zeros(2, requires_grad=True)], lr=-1.0), ValueError, "'lr'"),
    # training
    ("batch size 0", lambda: list(TR.minibatches(X, np.zeros(4), 0)), ValueError, "'batch_size'"),
    ("batch size float", lambda: list(TR.minibatches(X, np.zeros(4), 2.0)), TypeError, "'batch_size'"),
    ("labels count", lambda: list(TR.minibatches(X, np.zeros(3), 2)), ValueError, "'y'"),
    ("fit label count", lambda: TR.fit(_model(), LN.MSELoss(), O.SGD(_model().params), X, np.zeros(3), progress=False), ValueError, "'y_train'"),
    ("fit negative epochs", lambda: TR.fit(_model(), LN.MSELoss(), O.SGD(_model().params), X, np.zeros((4, 2)), epochs=-1, progress=False), ValueError, "'epochs'"),
    ("fit drop_last everything", lambda: TR.fit(_model(), LN.MSELoss(), O.SGD(_model().params), X, np.zeros((4, 2)), batch_size=8, drop_last=True, progress=False), ValueError, "'batch_size'"),
    ("fit bad callback", lambda: TR.fit(_model(), LN.MSELoss(), O.SGD(_model().params), X, np.zeros((4, 2)), callbacks=[print], progress=False), TypeError, "'callbacks'"),
    ("fit x_val alone", lambda: TR.fit(_model(), LN.MSELoss(), O.SGD(_model().params), X, np.zeros((4, 2)), x_val=X, progress=False), ValueError, "'x_val'"),
    # data and gradcheck
    ("spirals no samples", lambda: make_spirals(0), ValueError, "'n_samples'"),
    ("spirals negative noise", lambda: make_spirals(10, noise=-1.0), ValueError, "'noise'"),
    ("split sizes", lambda: train_val_test_split(X, np.zeros(4), val_size=0.6, test_size=0.5), ValueError, "'val_size'"),
    ("standardizer columns", lambda: Standardizer().fit(X).transform(np.ones((2, 2))), ValueError, "'x'"),
    ("to_torch strings", lambda: to_torch(np.array(["a"]), device="cpu"), TypeError, "'arrays'"),
    ("gradcheck h <= 0", lambda: G.numerical_gradient(lambda a: a.sum(), np.ones(2), h=0.0), ValueError, "'h'"),
    ("gradcheck vector f", lambda: G.numerical_gradient(lambda a: a, np.ones(2)), ValueError, "'f'"),
    ("gradcheck int array", lambda: G.numerical_gradient(lambda a: a.sum(), np.ones(2, dtype=int)), TypeError, "'arrays[0]'"),
]


@pytest.mark.parametrize("call,error,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)
    assert "Got" in str(info.value) or "Invalid" in str(info.value) or "requires" in str(info.value)


def test_table_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_check_real_refuses_non_finite_values(value):
    from tipslib._checks import check_real

    with pytest.raises(ValueError, match="'eps' parameter of BatchNorm1d"):
        check_real(value, "eps", "BatchNorm1d", low=0, low_open=True)
