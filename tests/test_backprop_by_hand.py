"""The torch fit's backprop by hand (tipslib._autograd.Tape) against autograd itself.

fit runs a chain of twin modules by hand; the same model behind a module of
its own (a forward autograd must see through) runs through autograd. Both
must give the same weights, buffers and history, bit for bit.
"""

import math

import pytest
import torch
from torch import nn

from tipslib._autograd import Tape, runs_by_hand
from tipslib.layers import torch_impl as TL
from tipslib.losses import torch_impl as LT
from tipslib.optim import torch_impl as OT
from tipslib.training import torch_impl as TT


class Opaque(nn.Module):
    """The same layers behind a forward of its own: fit cannot run it by hand."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def _mlp(dtype, n_out, frozen_first=False, probabilities=False):
    """Every twin layer; a sigmoid at the end for a loss on probabilities."""
    g = torch.Generator().manual_seed(1)
    model = TL.Sequential(
        TL.Linear(6, 8, generator=g, dtype=dtype), TL.BatchNorm1d(8, dtype=dtype), TL.Tanh(),
        TL.Dropout(0.3, generator=torch.Generator().manual_seed(5)),
        TL.Sequential(TL.Linear(8, 8, generator=g, dtype=dtype), TL.Sigmoid(), TL.Softmax(dim=1)),  # nested
        TL.Linear(8, 8, bias=False, generator=g, dtype=dtype), TL.ReLU(),
        TL.Linear(8, n_out, generator=g, dtype=dtype))
    if probabilities:
        model.append(TL.Sigmoid())
    if frozen_first:
        model[0].requires_grad_(False)
    return model


def _problem(loss, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 6, dtype=dtype, generator=g)
    if loss == "cross_entropy":
        return x, torch.randint(0, 3, (100,), generator=g), LT.CrossEntropyLoss, 3
    if loss == "mse":
        return x, torch.randn(100, 2, dtype=dtype, generator=g), LT.MSELoss, 2
    labels = torch.randint(0, 2, (100, 1), generator=g).to(dtype)
    return x, labels, (LT.BCELoss if loss == "bce" else LT.BCEWithLogitsLoss), 1


@pytest.mark.parametrize("frozen_first", [False, True], ids=["all-trained", "frozen-first"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "bce_logits", "bce"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_fit_by_hand_equals_fit_through_autograd(dtype, loss, frozen_first, monkeypatch):
    x, y, loss_class, n_out = _problem(loss, dtype)
    by_hand = _mlp(dtype, n_out, frozen_first, probabilities=loss == "bce")
    through_autograd = Opaque(_mlp(dtype, n_out, frozen_first, probabilities=loss == "bce"))
    assert runs_by_hand(by_hand, loss_class()) is not None and runs_by_hand(through_autograd, loss_class()) is None

    def run(model):
        return TT.fit(model, loss_class(), OT.Adam(model.parameters(), lr=0.01, weight_decay=0.01), x, y,
                      x_val=x[:20], y_val=y[:20], epochs=3, batch_size=16,
                      generator=torch.Generator().manual_seed(2), progress=False)

    recorded = []  # validation runs the model under no_grad; training steps must never apply
    monkeypatch.setattr(TL.LinearFunction, "apply",
                        lambda *a: recorded.append(torch.is_grad_enabled()) or nn.functional.linear(*a))
    h_hand = run(by_hand)
    assert recorded and not any(recorded)  # the training steps never went through autograd
    monkeypatch.undo()
    h_auto = run(through_autograd)

    assert h_hand == h_auto
    hand, auto = by_hand.state_dict(), through_autograd.inner.state_dict()
    assert hand.keys() == auto.keys()
    for name in hand:  # weights, running statistics and num_batches_tracked
        assert torch.equal(hand[name], auto[name]), name
    if frozen_first:
        assert torch.equal(by_hand[0].weight, _mlp(dtype, n_out, probabilities=loss == "bce")[0].weight)


def test_tape_adds_to_existing_gradients_as_autograd_does():
    x, y, loss_class, n_out = _problem("cross_entropy", torch.float64)
    models = [_mlp(torch.float64, n_out).eval() for _ in range(2)]  # eval: no dropout mask to share
    for model in models:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.5)
    hand, auto = models

    tape, out = Tape(), x
    with torch.no_grad():
        for layer in runs_by_hand(hand):
            out = tape.run(layer, out)
        loss = tape.run(loss_class(), out, y)
    tape.backward(loss)
    loss_class()(auto(x), y).backward()

    for (name, p), q in zip(hand.named_parameters(), auto.parameters()):
        assert torch.equal(p.grad, q.grad), name


def test_tape_asks_only_for_the_gradients_autograd_would():
    """The first layer's input needs no gradient; after a frozen layer, a parameter-free
    layer needs none either, so it is not taped at all."""
    calls = []

    class Recording(TL.LinearFunction):
        @staticmethod
        def backward(ctx, dout):
            calls.append(ctx.needs_input_grad)
            return TL.LinearFunction.backward(ctx, dout)

    first, second = TL.Linear(3, 4).requires_grad_(False), TL.Linear(4, 2)
    for layer in (first, second):
        layer.function_call = lambda x, layer=layer: (Recording, (x, layer.weight, layer.bias))
    tape = Tape()
    with torch.no_grad():
        out = tape.run(TL.ReLU(), tape.run(first, torch.randn(5, 3)))
        assert tape._steps == []  # nothing before here needs a gradient
        loss = tape.run(LT.MSELoss(), tape.run(second, out), torch.zeros(5, 2))
    tape.backward(loss)
    with pytest.raises(RuntimeError, match="no_grad"):
        tape.run(second, out)
    assert calls == [(False, True, True)]
    assert first.weight.grad is None and second.weight.grad is not None


@pytest.mark.parametrize("case", ["plain torch layer", "own forward", "forward hook", "plain torch loss",
                                  "loss function", "parameter hook", "global hook"])
def test_fit_falls_back_to_autograd_for_what_it_cannot_see_through(case):
    model, loss, handles = TL.Sequential(TL.Linear(4, 3), TL.ReLU()), LT.MSELoss(), []
    assert runs_by_hand(model, loss) is not None
    if case == "plain torch layer":
        model.append(nn.Linear(3, 3))
    elif case == "own forward":
        class Doubled(TL.Linear):
            def forward(self, x):
                return 2 * super().forward(x)
        model.append(Doubled(3, 3))
    elif case == "forward hook":
        handles.append(model[1].register_forward_hook(lambda module, args, out: out * 0))
    elif case == "plain torch loss":
        loss = nn.MSELoss()
    elif case == "loss function":
        loss = LT.mse_loss
    elif case == "parameter hook":
        handles.append(model[0].weight.register_hook(lambda grad: 2 * grad))
    else:
        handles.append(nn.modules.module.register_module_forward_hook(lambda module, args, out: out))
    try:
        assert runs_by_hand(model, loss) is None
    finally:
        for handle in handles:
            handle.remove()


def test_fit_with_a_penalty_goes_through_autograd():
    """autograd differentiates a penalty, which the tape does not know: fit does not tape then."""
    x, y, loss_class, n_out = _problem("mse", torch.float64)

    def weight_norm_after_fit(penalty):
        model = TL.Sequential(TL.Linear(6, n_out, generator=torch.Generator().manual_seed(0))).double()
        TT.fit(model, loss_class(), OT.SGD(model.parameters(), lr=0.1), x, y, epochs=5, batch_size=100,
               penalty=penalty, progress=False)
        return float(model[0].weight.detach().norm())

    assert weight_norm_after_fit(lambda params: params["0.weight"].square().sum()) < 0.9 * weight_norm_after_fit(None)


def test_fit_by_hand_names_a_layer_that_does_not_fit():
    model = TL.Sequential(TL.Linear(6, 8), TL.ReLU(), TL.Linear(5, 3)).double()
    x, y, loss_class, _ = _problem("cross_entropy", torch.float64)
    with pytest.raises(ValueError, match="Linear"):
        TT.fit(model, loss_class(), OT.SGD(model.parameters(), lr=0.1), x, y, epochs=1, progress=False)


def test_fit_by_hand_casts_gradients_to_each_input_dtype_as_autograd_does():
    """A float64 target makes a float64 loss on float32 outputs: autograd casts the gradient back."""
    x, y, loss_class, n_out = _problem("mse", torch.float32)
    y = y.double()
    models = [TL.Sequential(TL.Linear(6, 4, generator=torch.Generator().manual_seed(0)), TL.ReLU(),
                            TL.Linear(4, n_out, generator=torch.Generator().manual_seed(1))) for _ in range(2)]
    models[1] = Opaque(models[1])
    for model in models:
        TT.fit(model, loss_class(), OT.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=32,
               shuffle=False, progress=False)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert p.dtype == torch.float32 and torch.equal(p, q)


def test_overfit_small_batch_by_hand_equals_through_autograd():
    x, y, loss_class, n_out = _problem("cross_entropy", torch.float64)
    by_hand, through_autograd = _mlp(torch.float64, n_out), Opaque(_mlp(torch.float64, n_out))
    results = [TT.overfit_small_batch(model, loss_class(), lambda params: OT.Adam(params, lr=0.01), x, y,
                                      max_steps=30, progress=False) for model in (by_hand, through_autograd)]
    assert results[0] == results[1] and len(results[0].losses) == 31
    assert results[0].gradient_ratio is not None
