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



# ---------------------------------------------------------------------------
# Both twins alike: each row runs on the NumPy twin and on the torch twin (where
# the name exists), through one test body. ``B`` hands a row the twin's arrays.


class _Backend:
    def __init__(self, topic, kind):
        import importlib

        self.torch = kind == "torch_impl"
        self.M = importlib.import_module(f"tipslib.{topic}.{kind}")

    def a(self, data, dtype=float):
        """An array (ndarray or tensor) of ``data``; ``dtype`` float (float64), int or bool."""
        if self.torch:
            return torch.tensor(data, dtype={float: torch.float64, int: torch.int64, bool: torch.bool}[dtype])
        return np.array(data, dtype=dtype)

    def z(self, *shape, dtype=float):
        return self.a(np.zeros(shape).tolist(), dtype)

    def zeros(self, *shape, dtype=float):
        """Like ``z``, but keeps an empty shape ((0, 3) stays 2-D; a list of no rows would not)."""
        if self.torch:
            return torch.zeros(shape, dtype={float: torch.float32, int: torch.int64}[dtype])
        return np.zeros(shape, dtype=dtype)

    def shape(self, *shape):
        """What the init functions fill: a shape (NumPy) or a tensor of that shape (torch)."""
        return torch.empty(shape, dtype=torch.float64) if self.torch else shape

    def img(self):
        """One 4x4 RGB image as each twin takes it (HWC array; NCHW batch of one)."""
        return torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64) if self.torch else np.full((4, 4, 3), 0.5)

    def empty_img(self):
        """An RGB image with no rows (H = 0), as each twin takes it."""
        return torch.zeros((1, 3, 0, 4), dtype=torch.float64) if self.torch else np.zeros((0, 4, 3))

    @property
    def rand(self):
        """The twin's randomness argument with a bad value."""
        return {"generator": 42} if self.torch else {"rng": 42}

    def params(self):
        return [torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)] if self.torch else [np.zeros((2, 3))]

    def model(self):
        layers = TL if self.torch else L
        model = layers.Sequential(layers.Linear(3, 2))
        return model.double() if self.torch else model


def _fit(B, **kw):
    from tipslib.losses import numpy_impl as ln, torch_impl as lt
    from tipslib.optim import numpy_impl as on, torch_impl as ot

    layers = TL if B.torch else L
    model = layers.Sequential(layers.Linear(3, 2))
    if B.torch:
        model = model.double()
    opt = (ot.SGD(model.parameters()) if B.torch else on.SGD(model.params))
    loss = (lt if B.torch else ln).CrossEntropyLoss()
    args = dict(x_train=B.a(np.ones((4, 3)).tolist()), y_train=B.a([0, 1, 0, 1], int), epochs=1, progress=False)
    args.update(kw)
    return B.M.fit(model, loss, opt, **args)


def _opt(B):
    from tipslib.optim import numpy_impl as on, torch_impl as ot

    return ot.SGD([torch.zeros(2, dtype=torch.float64, requires_grad=True)]) if B.torch else on.SGD([np.zeros(2)])


TWIN_CASES = [
    # (topic, public name, label, call(B), exception, text the message must contain (or a tuple of
    # alternatives, where the twins name one argument differently, e.g. shape <-> tensor in init))
    # augment
    ("augment", "hflip", "list image", lambda B: B.M.hflip([[0.0]]), TypeError, "'img'"),
    ("augment", "vflip", "int image", lambda B: B.M.vflip(B.a(np.zeros((1, 3, 2, 2) if B.torch else (2, 2, 3)).tolist(), int)), TypeError, "'img'"),
    ("augment", "rotate", "angle 400", lambda B: B.M.rotate(B.img(), 400.0), ValueError, "'angle'"),
    ("augment", "rotate", "bool angle", lambda B: B.M.rotate(B.img(), True), TypeError, "'angle'"),
    ("augment", "rotate", "image with no rows", lambda B: B.M.rotate(B.empty_img(), 30.0), ValueError, "'img'"),
    ("augment", "adjust_contrast_brightness", "image with no rows",
     lambda B: B.M.adjust_contrast_brightness(B.empty_img(), 1.5, 0.0), ValueError, "'img'"),
    ("augment", "crop_resize", "crop outside", lambda B: B.M.crop_resize(B.img(), 3, 3, 4, 4), ValueError, "'"),
    ("augment", "color_shift", "NaN shift", lambda B: B.M.color_shift(B.img(), float("nan")), ValueError, "'shift'"),
    ("augment", "add_noise", "noise shape", lambda B: B.M.add_noise(B.img(), B.z(2, 2)), ValueError, "'noise'"),
    ("augment", "erase", "negative height", lambda B: B.M.erase(B.img(), 0, 0, -1, 2), ValueError, "'height'"),
    ("augment", "drop_pixels", "float mask", lambda B: B.M.drop_pixels(B.img(), B.z(*((1, 4, 4) if B.torch else (4, 4)))), TypeError, "'mask'"),
    ("augment", "adjust_contrast_brightness", "negative contrast",
     lambda B: B.M.adjust_contrast_brightness(B.img(), -1.0, 0.0), ValueError, "'contrast'"),
    ("augment", "RandomFlip", "p = 2", lambda B: B.M.RandomFlip(p=2.0), ValueError, "'p'"),
    ("augment", "RandomRotation", "bool max_angle", lambda B: B.M.RandomRotation(True), TypeError, "'max_angle'"),
    ("augment", "RandomCrop", "scale reversed", lambda B: B.M.RandomCrop(scale=(1.0, 0.5)), ValueError, "'scale'"),
    ("augment", "ColorShift", "negative shift", lambda B: B.M.ColorShift(-0.1), ValueError, "'max_shift'"),
    ("augment", "GaussianNoise", "inf std", lambda B: B.M.GaussianNoise(float("inf")), ValueError, "'std'"),
    ("augment", "RandomErasing", "p = -1", lambda B: B.M.RandomErasing(p=-1.0), ValueError, "'p'"),
    ("augment", "PixelDropout", "p = 1.5", lambda B: B.M.PixelDropout(p=1.5), ValueError, "'p'"),
    ("augment", "ContrastBrightness", "string contrast", lambda B: B.M.ContrastBrightness("a"), TypeError, "'contrast'"),
    ("augment", "Compose", "bad randomness", lambda B: B.M.Compose([], **B.rand), TypeError, "'"),
    ("augment", "Compose", "non-callable transform", lambda B: B.M.Compose([3]), TypeError, "'transforms'"),
    # gradcheck
    ("gradcheck", "numerical_gradient", "h = 0", lambda B: B.M.numerical_gradient(lambda a: a.sum(), B.a([1.0, 2.0]), h=0.0), ValueError, "'h'"),
    ("gradcheck", "relative_error", "shape mismatch", lambda B: B.M.relative_error(B.z(2), B.z(3)), ValueError, "'b'"),
    ("gradcheck", "gradient_check", "not callable", lambda B: B.M.gradient_check(3, [B.z(2)], [B.z(2)]), TypeError, "'f'"),
    ("gradcheck", "check_model_gradients", "int x",
     lambda B: B.M.check_model_gradients(B.model(), None, B.z(2, 3, dtype=int), B.z(2, dtype=int)), TypeError, "'"),
    ("gradcheck", "check_layer_gradients", "not a layer", lambda B: B.M.check_layer_gradients(3, B.z(2, 3)), TypeError, "'layer'"),
    ("gradcheck", "step_size_errors", "unknown method",
     lambda B: B.M.step_size_errors(lambda x: x, lambda x: x, 1.0, [1e-3], method="forward2"), ValueError, "'method'"),
    ("gradcheck", "optimal_step_size", "unknown method", lambda B: B.M.optimal_step_size(method="x"), ValueError, "'method'"),
    # init
    ("init", "calculate_gain", "unknown nonlinearity", lambda B: B.M.calculate_gain("swish"), ValueError, "'nonlinearity'"),
    ("init", "calculate_fan_in_and_fan_out", "1-D shape", lambda B: B.M.calculate_fan_in_and_fan_out(B.shape(3)), ValueError,
     ("'shape'", "'tensor'")),
    ("init", "zeros", "a string", lambda B: B.M.zeros("2x2"), TypeError, ("'shape'", "'tensor'")),
    ("init", "normal", "negative std", lambda B: B.M.normal(B.shape(2, 2), std=-1.0), ValueError, "'std'"),
    ("init", "normal", "bad randomness", lambda B: B.M.normal(B.shape(2, 2), **B.rand), TypeError, "'"),
    ("init", "uniform", "a > b", lambda B: B.M.uniform(B.shape(2, 2), a=1.0, b=0.0), ValueError, "'b'"),
    ("init", "xavier_uniform", "inf gain", lambda B: B.M.xavier_uniform(B.shape(2, 2), gain=float("inf")), ValueError, "'gain'"),
    ("init", "xavier_normal", "string gain", lambda B: B.M.xavier_normal(B.shape(2, 2), gain="1"), TypeError, "'gain'"),
    ("init", "kaiming_uniform", "bad mode", lambda B: B.M.kaiming_uniform(B.shape(2, 2), mode="fan"), ValueError, "'mode'"),
    ("init", "kaiming_normal", "bad nonlinearity", lambda B: B.M.kaiming_normal(B.shape(2, 2), nonlinearity="x"), ValueError, "'nonlinearity'"),
    # layers
    ("layers", "linear_forward", "wrong features", lambda B: B.M.linear_forward(B.z(4, 5), B.z(2, 3), None), ValueError, "'x'"),
    ("layers", "linear_backward", "dout shape",
     lambda B: B.M.linear_backward(B.z(4, 5), B.M.linear_forward(B.z(4, 3), B.z(2, 3), None)[1]), ValueError, "'dout'"),
    ("layers", "Linear", "non-bool bias", lambda B: B.M.Linear(2, 3, bias="no"), TypeError, "'bias'"),
    ("layers", "Linear", "zero features", lambda B: B.M.Linear(0, 3), ValueError, "'in_features'"),
    ("layers", "Linear", "bad randomness", lambda B: B.M.Linear(2, 3, **B.rand), TypeError, "'"),
    ("layers", "relu_forward", "int x", lambda B: B.M.relu_forward(B.z(2, dtype=int)), TypeError, "'x'"),
    ("layers", "relu_backward", "dout shape", lambda B: B.M.relu_backward(B.z(3), B.M.relu_forward(B.z(2))[1]), ValueError, "'dout'"),
    ("layers", "ReLU", "int x", lambda B: B.M.ReLU()(B.z(2, dtype=int)) if B.torch else B.M.ReLU().forward(B.z(2, dtype=int)), TypeError, "'x'"),
    ("layers", "sigmoid_forward", "list x", lambda B: B.M.sigmoid_forward([1.0]), TypeError, "'x'"),
    ("layers", "sigmoid_backward", "dout shape", lambda B: B.M.sigmoid_backward(B.z(3), B.M.sigmoid_forward(B.z(2))[1]), ValueError, "'dout'"),
    ("layers", "Sigmoid", "int x", lambda B: B.M.Sigmoid()(B.z(2, dtype=int)) if B.torch else B.M.Sigmoid().forward(B.z(2, dtype=int)), TypeError, "'x'"),
    ("layers", "tanh_forward", "bool x", lambda B: B.M.tanh_forward(B.z(2, dtype=bool)), TypeError, "'x'"),
    ("layers", "tanh_backward", "dout shape", lambda B: B.M.tanh_backward(B.z(3), B.M.tanh_forward(B.z(2))[1]), ValueError, "'dout'"),
    ("layers", "Tanh", "int x", lambda B: B.M.Tanh()(B.z(2, dtype=int)) if B.torch else B.M.Tanh().forward(B.z(2, dtype=int)), TypeError, "'x'"),
    ("layers", "softmax_forward", "dim out of range", lambda B: B.M.softmax_forward(B.z(2, 3), dim=2), ValueError, "'dim'"),
    ("layers", "softmax_backward", "dout shape", lambda B: B.M.softmax_backward(B.z(3, 3), B.M.softmax_forward(B.z(2, 3))[1]), ValueError, "'dout'"),
    ("layers", "Softmax", "float dim", lambda B: B.M.Softmax(dim=1.0), TypeError, "'dim'"),
    ("layers", "Sequential", "not a layer", lambda B: B.M.Sequential(B.M.ReLU(), "relu"), TypeError, "'layers'"),
    ("layers", "batchnorm_forward", "gamma length",
     lambda B: B.M.batchnorm_forward(B.z(4, 3), B.z(2), B.z(3), None, None, training=True), ValueError, "'gamma'"),
    ("layers", "batchnorm_backward", "dout shape",
     lambda B: B.M.batchnorm_backward(B.z(4, 2), B.M.batchnorm_forward(B.z(4, 3) + 0.5 * (B.a([[0.0, 1.0, 2.0]] * 4)), B.a([1.0] * 3), B.z(3), None, None, training=True)[1]),
     ValueError, "'dout'"),
    ("layers", "BatchNorm1d", "momentum 2", lambda B: B.M.BatchNorm1d(3, momentum=2.0), ValueError, "'momentum'"),
    ("layers", "BatchNorm2d", "non-bool affine", lambda B: B.M.BatchNorm2d(3, affine=1), TypeError, "'affine'"),
    ("layers", "dropout_forward", "p = 1", lambda B: B.M.dropout_forward(B.z(2, 2), p=1.0), ValueError, "'p'"),
    ("layers", "dropout_forward", "int x", lambda B: B.M.dropout_forward(B.z(2, 2, dtype=int), p=0.5), TypeError, "'x'"),
    ("layers", "dropout_backward", "dout shape",
     lambda B: B.M.dropout_backward(B.z(3), B.M.dropout_forward(B.z(2), p=0.5, mask=B.a([1.0, 0.0]))[1]), ValueError, "'dout'"),
    ("layers", "Dropout", "p = -0.1", lambda B: B.M.Dropout(-0.1), ValueError, "'p'"),
    # losses
    ("losses", "binary_cross_entropy_forward", "prob above 1", lambda B: B.M.binary_cross_entropy_forward(B.a([1.5]), B.a([1.0])), ValueError, "'input'"),
    ("losses", "binary_cross_entropy_backward", "dout shape",
     lambda B: B.M.binary_cross_entropy_backward(B.z(3), B.M.binary_cross_entropy_forward(B.a([0.5]), B.a([1.0]))[1]), ValueError, "'dout'"),
    ("losses", "binary_cross_entropy", "shape mismatch", lambda B: B.M.binary_cross_entropy(B.a([0.5] * 3), B.a([1.0] * 2)), ValueError, "'target'"),
    ("losses", "BCELoss", "bad reduction", lambda B: B.M.BCELoss(reduction="avg"), ValueError, "'reduction'"),
    ("losses", "binary_cross_entropy_with_logits_forward", "+inf logit",
     lambda B: B.M.binary_cross_entropy_with_logits_forward(B.a([float("inf")]), B.a([1.0])), ValueError, "'input'"),
    ("losses", "binary_cross_entropy_with_logits_backward", "dout shape",
     lambda B: B.M.binary_cross_entropy_with_logits_backward(B.z(3), B.M.binary_cross_entropy_with_logits_forward(B.a([0.5]), B.a([1.0]))[1]),
     ValueError, "'dout'"),
    ("losses", "binary_cross_entropy_with_logits", "NaN logit",
     lambda B: B.M.binary_cross_entropy_with_logits(B.a([float("nan")]), B.a([1.0])), ValueError, "'input'"),
    ("losses", "BCEWithLogitsLoss", "bad reduction", lambda B: B.M.BCEWithLogitsLoss(reduction=None), ValueError, "'reduction'"),
    ("losses", "cross_entropy_forward", "+inf logit",
     lambda B: B.M.cross_entropy_forward(B.a([[float("inf"), 0.0]]), B.a([0], int)), ValueError, "'input'"),
    ("losses", "cross_entropy_backward", "dout shape",
     lambda B: B.M.cross_entropy_backward(B.z(3), B.M.cross_entropy_forward(B.z(1, 2), B.a([0], int))[1]), ValueError, "'dout'"),
    ("losses", "cross_entropy", "+inf logit", lambda B: B.M.cross_entropy(B.a([[float("inf"), 0.0]]), B.a([0], int)), ValueError, "'input'"),
    ("losses", "cross_entropy", "-inf logit", lambda B: B.M.cross_entropy(B.a([[-float("inf"), 0.0]]), B.a([0], int)), ValueError, "'input'"),
    ("losses", "cross_entropy", "label out of range", lambda B: B.M.cross_entropy(B.z(2, 3), B.a([0, 3], int)), ValueError, "'target'"),
    ("losses", "CrossEntropyLoss", "bad reduction", lambda B: B.M.CrossEntropyLoss(reduction="avg"), ValueError, "'reduction'"),
    ("losses", "mse_loss_forward", "inf input", lambda B: B.M.mse_loss_forward(B.a([float("inf")]), B.a([1.0])), ValueError, "'input'"),
    ("losses", "mse_loss_backward", "dout shape",
     lambda B: B.M.mse_loss_backward(B.z(3), B.M.mse_loss_forward(B.a([0.5]), B.a([1.0]))[1]), ValueError, "'dout'"),
    ("losses", "mse_loss", "empty", lambda B: B.M.mse_loss(B.z(0), B.z(0)), ValueError, "'input'"),
    ("losses", "MSELoss", "bad reduction", lambda B: B.M.MSELoss(reduction="avg"), ValueError, "'reduction'"),
    # optim: functions
    ("optim", "sgd_step", "negative lr", lambda B: B.M.sgd_step(B.z(2), B.z(2), None, lr=-1.0), ValueError, "'lr'"),
    ("optim", "sgd_step", "inf dampening", lambda B: B.M.sgd_step(B.z(2), B.z(2), None, lr=0.1, momentum=0.9, dampening=float("inf")),
     ValueError, "'dampening'"),
    ("optim", "momentum_step", "momentum 1", lambda B: B.M.momentum_step(B.z(2), B.z(2), B.z(2), lr=0.1, momentum=1.0), ValueError, "'momentum'"),
    ("optim", "adam_step", "step 0", lambda B: B.M.adam_step(B.z(2), B.z(2), B.z(2), B.z(2), None, 0, lr=0.1), ValueError, "'step'"),
    ("optim", "adamw_step", "beta 1", lambda B: B.M.adamw_step(B.z(2), B.z(2), B.z(2), B.z(2), None, 1, lr=0.1, betas=(1.0, 0.9)),
     ValueError, "'betas'"),
    ("optim", "rmsprop_step", "centered without grad_avg",
     lambda B: B.M.rmsprop_step(B.z(2), B.z(2), B.z(2), None, None, lr=0.1, centered=True), ValueError, "'grad_avg'"),
    ("optim", "adagrad_step", "eps 0", lambda B: B.M.adagrad_step(B.z(2), B.z(2), B.z(2), 1, lr=0.1, eps=0.0), ValueError, "'eps'"),
    ("optim", "adadelta_step", "rho 2", lambda B: B.M.adadelta_step(B.z(2), B.z(2), B.z(2), B.z(2), rho=2.0), ValueError, "'rho'"),
    # optim: optimizers (the torch twins check the tensors and every param group)
    ("optim", "Optimizer", "empty params", lambda B: B.M.Optimizer([]), ValueError, "'params'"),
    ("optim", "SGD", "empty params", lambda B: B.M.SGD([]), ValueError, "'params'"),
    ("optim", "SGD", "negative dampening", lambda B: B.M.SGD(B.params(), momentum=0.9, dampening=-1.0), ValueError, "'dampening'"),
    ("optim", "SGD", "inf dampening", lambda B: B.M.SGD(B.params(), momentum=0.9, dampening=float("inf")), ValueError, "'dampening'"),
    ("optim", "SGD", "int params", lambda B: B.M.SGD([B.z(2, dtype=int)]), TypeError, "'params'"),
    ("optim", "Momentum", "empty params", lambda B: B.M.Momentum([]), ValueError, "'params'"),
    ("optim", "Adam", "int params", lambda B: B.M.Adam([B.z(2, dtype=int)]), TypeError, "'params'"),
    ("optim", "Adam", "lr message", lambda B: B.M.Adam(B.params(), lr=-1.0), ValueError,
     "The 'lr' parameter of Adam must be a float in the range [0, inf). Got -1.0 instead."),
    ("optim", "AdamW", "eps 0", lambda B: B.M.AdamW(B.params(), eps=0.0), ValueError, "'eps'"),
    ("optim", "RMSprop", "alpha 1", lambda B: B.M.RMSprop(B.params(), alpha=1.0), ValueError, "'alpha'"),
    ("optim", "Adagrad", "negative lr_decay", lambda B: B.M.Adagrad(B.params(), lr_decay=-1.0), ValueError, "'lr_decay'"),
    ("optim", "Adadelta", "string rho", lambda B: B.M.Adadelta(B.params(), rho="0.9"), TypeError, "'rho'"),
    ("optim", "StepLR", "step_size 0", lambda B: B.M.StepLR(_opt(B), 0), ValueError, "'step_size'"),
    ("optim", "StepLR", "not an optimizer", lambda B: B.M.StepLR("sgd", 2), TypeError, "'optimizer'"),
    ("optim", "ExponentialLR", "gamma 0", lambda B: B.M.ExponentialLR(_opt(B), 0.0), ValueError, "'gamma'"),
    ("optim", "CosineAnnealingLR", "T_max 0", lambda B: B.M.CosineAnnealingLR(_opt(B), 0), ValueError, "'T_max'"),
    ("optim", "LinearLR", "start_factor 0", lambda B: B.M.LinearLR(_opt(B), start_factor=0.0), ValueError, "'start_factor'"),
    ("optim", "ReduceLROnPlateau", "bad mode", lambda B: B.M.ReduceLROnPlateau(_opt(B), mode="low"), ValueError, "'mode'"),
    ("optim", "ReduceLROnPlateau", "string metric", lambda B: B.M.ReduceLROnPlateau(_opt(B)).step("low"), TypeError, "'metrics'"),
    # regularization
    ("regularization", "l1_penalty", "negative lam", lambda B: B.M.l1_penalty(B.z(2), -1.0), ValueError, "'lam'"),
    ("regularization", "l1_grad", "int theta", lambda B: B.M.l1_grad(B.z(2, dtype=int), 0.1), TypeError, "'theta'"),
    ("regularization", "l2_penalty", "inf lam", lambda B: B.M.l2_penalty(B.z(2), float("inf")), ValueError, "'lam'"),
    ("regularization", "l2_grad", "string lam", lambda B: B.M.l2_grad(B.z(2), "0.1"), TypeError, "'lam'"),
    ("regularization", "elastic_net_penalty", "alpha 2", lambda B: B.M.elastic_net_penalty(B.z(2), 0.1, alpha=2.0), ValueError, "'alpha'"),
    ("regularization", "elastic_net_grad", "negative lam", lambda B: B.M.elastic_net_grad(B.z(2), -0.1), ValueError, "'lam'"),
    ("regularization", "soft_threshold", "negative threshold", lambda B: B.M.soft_threshold(B.z(2), -1.0), ValueError, "'threshold'"),
    ("regularization", "prox_elastic_net", "negative lr", lambda B: B.M.prox_elastic_net(B.z(2), -1.0, 0.1), ValueError, "'lr'"),
    ("regularization", "ElasticNet", "alpha -1", lambda B: B.M.ElasticNet(0.1, alpha=-1.0), ValueError, "'alpha'"),
    ("regularization", "L1", "negative lam", lambda B: B.M.L1(-1.0), ValueError, "'lam'"),
    ("regularization", "L2", "bad include", lambda B: B.M.L2(0.1, include=3), TypeError, "'include'"),
    ("regularization", "to_sklearn", "negative lam", lambda B: B.M.to_sklearn(-1.0, 0.5), ValueError, "'lam'"),
    ("regularization", "from_sklearn", "l1_ratio 2", lambda B: B.M.from_sklearn(0.1, 2.0), ValueError, "'l1_ratio'"),
    ("regularization", "EarlyStopping", "bad monitor", lambda B: B.M.EarlyStopping(monitor="loss"), ValueError, "'monitor'"),
    # training
    ("training", "num_batches", "batch size 0", lambda B: B.M.num_batches(10, 0), ValueError, "'batch_size'"),
    ("training", "minibatches", "label count", lambda B: list(B.M.minibatches(B.z(4, 3), B.z(3), 2)), ValueError, "'y'"),
    ("training", "accuracy", "not arrays", lambda B: B.M.accuracy("a", 3), TypeError, "'output'"),
    ("training", "accuracy", "label count", lambda B: B.M.accuracy(B.z(4, 2), B.z(3, dtype=int)), ValueError, "'target'"),
    ("training", "accuracy", "no class columns", lambda B: B.M.accuracy(B.z(3, 0), B.z(3, dtype=int)), ValueError, "'output'"),
    ("training", "minibatches", "0-d x", lambda B: list(B.M.minibatches(B.a(1.0), B.a(1, int), 2)), ValueError, "'x'"),
    ("training", "accuracy", "float labels", lambda B: B.M.accuracy(B.z(4, 2), B.z(4)), TypeError, "'target'"),
    ("training", "fit", "non-callable transform", lambda B: _fit(B, transform=3), TypeError, "'transform'"),
    ("training", "fit", "string penalty", lambda B: _fit(B, penalty="l2"), TypeError, "'penalty'"),
    ("training", "fit", "string metric", lambda B: _fit(B, metric="acc"), TypeError, "'metric'"),
    ("training", "fit", "x_val/y_val mismatch", lambda B: _fit(B, x_val=B.z(4, 3), y_val=B.z(3, dtype=int)), ValueError, "'y_val'"),
    ("training", "fit", "x_val row shape", lambda B: _fit(B, x_val=B.z(4, 5), y_val=B.z(4, dtype=int)), ValueError, "'x_val'"),
    ("training", "fit", "the other twin's arrays",
     lambda B: _fit(B, x_train=np.ones((4, 3)) if B.torch else torch.ones(4, 3, dtype=torch.float64)), TypeError, "'x_train'"),
    ("training", "overfit_small_batch", "n_examples 0",
     lambda B: B.M.overfit_small_batch(None, None, None, B.z(4, 3), B.z(4, dtype=int), n_examples=0), (TypeError, ValueError), "'"),
    # transfer
    ("transfer", "make_mlp", "one size", lambda B: B.M.make_mlp((64,)), ValueError, "'sizes'"),
    ("transfer", "Frozen", "not a layer", lambda B: B.M.Frozen(3), TypeError, "'layer'"),
    ("transfer", "freeze", "not a model", lambda B: B.M.freeze(3, [0]), TypeError, "'model'"),
    ("transfer", "unfreeze", "not a model", lambda B: B.M.unfreeze(3), TypeError, "'model'"),
    ("transfer", "trainable_params", "not a model", lambda B: B.M.trainable_params(3), TypeError, "'model'"),
    ("transfer", "load_pretrained", "zero classes", lambda B: B.M.load_pretrained(0), ValueError, "'num_classes'"),
    ("transfer", "transfer_model", "bad regime", lambda B: B.M.transfer_model("all"), ValueError, "'regime'"),
    ("transfer", "target_task", "test_size 2", lambda B: B.M.target_task(test_size=2.0), ValueError, "'test_size'"),
    ("transfer", "stratified_subset", "n 0", lambda B: B.M.stratified_subset(B.z(4, 3), B.z(4, dtype=int), 0), ValueError, "'n'"),
    ("transfer", "accuracy_of", "no rows", lambda B: B.M.accuracy_of(B.M.make_mlp((3, 2)), B.zeros(0, 3), B.zeros(0, dtype=int)),
     ValueError, "'x'"),
    ("transfer", "accuracy_of", "label count", lambda B: B.M.accuracy_of(B.M.make_mlp((3, 2)), B.z(4, 3), B.z(3, dtype=int)), ValueError, "'"),
    ("transfer", "transfer_experiment", "repeats 0", lambda B: B.M.transfer_experiment(repeats=0), ValueError, "'repeats'"),
]

#: Public names with nothing to get wrong: constants, result records, no-argument helpers.
NO_INPUT = {"REGIMES", "SIZES", "NUM_CLASSES", "HIDDEN_LAYERS", "TransferResults", "History", "OverfitResult",
            "GradientCheck", "ParameterCheck", "GradientCheckWarning", "Module", "pretrained_path", "source_task",
            # torch's autograd Functions: reached through the modules and the *_forward rows above
            "LinearFunction", "ReLUFunction", "SigmoidFunction", "TanhFunction", "SoftmaxFunction",
            "BatchNormFunction", "DropoutFunction"}


def _twin_runs():
    """Each row on every twin that has its name (both, but for a few one-twin names such as Frozen)."""
    import importlib

    runs = []
    for topic, name, label, call, error, text in TWIN_CASES:
        kinds = [k for k in ("numpy_impl", "torch_impl") if name in importlib.import_module(f"tipslib.{topic}.{k}").__all__]
        assert kinds, f"{topic}.{name} is in neither twin"
        for kind in kinds:
            runs.append(pytest.param(topic, kind, name, call, error, text, id=f"{topic}.{kind}.{name}: {label}"))
    return runs


@pytest.mark.parametrize("topic,kind,name,call,error,text", _twin_runs())
def test_both_twins_refuse_bad_input_alike(topic, kind, name, call, error, text):
    B = _Backend(topic, kind)
    with pytest.raises(error) as info:
        call(B)
    message = str(info.value)
    assert any(t in message for t in ((text,) if isinstance(text, str) else text)), message
    assert "Got" in message, message


def test_every_public_name_has_a_bad_input_row():
    import importlib

    covered = {(topic, name) for topic, name, *_ in TWIN_CASES}
    missing = []
    for topic in ("augment", "gradcheck", "init", "layers", "losses", "optim", "regularization", "training",
                  "transfer"):
        for kind in ("numpy_impl", "torch_impl"):
            for name in importlib.import_module(f"tipslib.{topic}.{kind}").__all__:
                if name not in NO_INPUT and (topic, name) not in covered:
                    missing.append(f"{topic}.{kind}.{name}")
    assert not missing, f"public names without a bad-input row: {missing}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_check_real_refuses_non_finite_values(value):
    from tipslib._checks import check_real

    with pytest.raises(ValueError, match="'eps' parameter of BatchNorm1d"):
        check_real(value, "eps", "BatchNorm1d", low=0, low_open=True)
