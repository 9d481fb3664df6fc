"""Gradient checking a 64-128-10 MLP over all 9,610 parameters, float64, on a batch of 8 digits.

The anchor is ``torch.autograd.gradcheck(fast_mode=False)`` on the same loss of
the same network (an ``nn.Sequential`` holding the NumPy model's weights),
measured in the same run on one thread: it also perturbs every parameter twice
and compares with autograd. Both spend nearly all their time in forward passes,
so the ratio is the per-forward overhead of each framework plus each tool's
bookkeeping. Last row: the step-size widget's redraw when ``h`` moves (blitted)
against a full redraw of the same figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, median_time, print_table, single_thread  # noqa: E402

from tipslib.data import load_digits  # noqa: E402
from tipslib.gradcheck import numpy_impl as G  # noqa: E402
from tipslib.gradcheck import torch_impl as GT  # noqa: E402
from tipslib.layers import numpy_impl as L  # noqa: E402
from tipslib.losses import numpy_impl as LN  # noqa: E402


def run(quick: bool = False) -> list[Row]:
    with single_thread():
        return _run(quick)


def _models(batch):
    rng = np.random.default_rng(0)
    x, y = load_digits()
    x, y = x[:batch], y[:batch]
    model = L.Sequential(L.Linear(64, 128, rng=rng), L.ReLU(), L.Linear(128, 10, rng=rng))
    twin = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return model, twin, x, y


def _run(quick):
    batch = 8
    repeat = 1 if quick else 3
    model, twin, x, y = _models(batch)
    n_params = sum(p.size for p in model.params.values())
    loss_fn = LN.CrossEntropyLoss()
    xt, yt = torch.tensor(x), torch.tensor(y)
    names = [k for k, _ in twin.named_parameters()]

    def numpy_loss(*_):
        return loss_fn.forward(model.forward(x), y)

    def torch_loss(*params):
        return F.cross_entropy(torch.func.functional_call(twin, dict(zip(names, params)), (xt,)), yt)

    inputs = tuple(p.detach().clone().requires_grad_() for p in twin.parameters())

    def anchor():
        assert torch.autograd.gradcheck(torch_loss, inputs, fast_mode=False)

    def numpy_numerical():
        G.numerical_gradient(numpy_loss, *model.params.values())

    def torch_numerical():
        with torch.no_grad():
            GT.numerical_gradient(lambda *_: F.cross_entropy(twin(xt), yt), *twin.parameters())

    def numpy_check():
        assert G.check_model_gradients(model, loss_fn, x, y).passed

    def torch_check():
        assert GT.check_model_gradients(twin, F.cross_entropy, xt, yt).passed

    # Same function, same numbers: the numerical gradients agree before anything is timed.
    ours = G.numerical_gradient(numpy_loss, *model.params.values())
    with torch.no_grad():
        theirs = GT.numerical_gradient(lambda *_: F.cross_entropy(twin(xt), yt), *twin.parameters())
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-9)

    t_anchor = median_time(anchor, repeat=repeat, warmup=0 if quick else 1)
    what = f"64-128-10 MLP, {n_params} params, batch {batch}, float64, CPU 1 thread"
    anchor_name = "torch.autograd.gradcheck(fast_mode=False)"
    rows = [
        Row(f"NumPy numerical_gradient, {what}", median_time(numpy_numerical, repeat=repeat, warmup=0),
            t_anchor, anchor_name, "<= 1.0x"),
        Row(f"torch twin numerical_gradient, {what}", median_time(torch_numerical, repeat=repeat, warmup=0),
            t_anchor, anchor_name, "<= 2.0x", "element-wise tensor indexing costs per element"),
        Row(f"NumPy check_model_gradients (report, kinks), {what}", median_time(numpy_check, repeat=repeat, warmup=0),
            t_anchor, anchor_name, "<= 1.5x"),
        Row(f"torch twin check_model_gradients (runs gradcheck too), {what}",
            median_time(torch_check, repeat=repeat, warmup=0), t_anchor, anchor_name, "<= 3.0x",
            "includes one torch.autograd.gradcheck call"),
    ]
    rows.append(_widget_row(quick))
    return rows


def _widget_row(quick):
    from tipslib.widgets.step_size import StepSizeExplorer

    widget = StepSizeExplorer()
    widget.refresh()
    hs = iter(np.logspace(-15, -1, 400))

    def blitted():
        widget.update(h=float(next(hs)))

    def full():
        widget.blitter.invalidate()
        widget.refresh()  # no cached background: a full render

    repeat = 5 if quick else 15
    t_full = median_time(full, repeat=repeat)
    t_ours = median_time(blitted, repeat=repeat)
    return Row("StepSizeExplorer redraw when h moves (recompute + PNG)", t_ours, t_full,
               "full redraw of the same figure (FigureWidget.refresh)", "< 100 ms")


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
