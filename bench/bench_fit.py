"""fit on digits: the NumPy twin and the torch twin against a plain torch CPU loop.

The workload of issue 2: a 64-128-10 MLP, batch 64, 20 epochs of SGD with
momentum, float32, on the CPU. The anchor is the loop people write by hand:
``nn.Sequential`` + ``torch.optim.SGD`` + ``F.cross_entropy``, no DataLoader.

The torch twin's ``fit`` sees a chain of twins and runs their autograd
Functions by hand (``tipslib._autograd.Tape``). The other rows show what the
same twins cost when autograd runs them, in the hand loop with one part
swapped for its twin at a time (the layers, the loss, the optimizer), and the
floor every twin module then pays, a Python ``torch.autograd.Function`` that
does nothing, against the same work done by built-in ops.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, interleaved_times, median_time, print_table, single_thread  # noqa: E402

from tipslib.data import Standardizer, load_digits  # noqa: E402
from tipslib.layers import numpy_impl as L  # noqa: E402
from tipslib.layers import torch_impl as TL  # noqa: E402
from tipslib.losses import numpy_impl as LN  # noqa: E402
from tipslib.losses import torch_impl as LT  # noqa: E402
from tipslib.optim import numpy_impl as O  # noqa: E402
from tipslib.optim import torch_impl as OT  # noqa: E402
from tipslib.training import numpy_impl as TR  # noqa: E402
from tipslib.training import torch_impl as TT  # noqa: E402


def run(quick: bool = False) -> list[Row]:
    with single_thread():
        return _run(quick)


def _run(quick):
    epochs = 5 if quick else 20
    x, y = load_digits()
    x = Standardizer().fit_transform(x).astype(np.float32)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    hyper = dict(lr=0.05, momentum=0.9)
    kw = dict(epochs=epochs, batch_size=64, progress=False)

    def numpy_fit():
        rng = np.random.default_rng(0)
        m = L.Sequential(L.Linear(64, 128, rng=rng, dtype=np.float32), L.ReLU(),
                         L.Linear(128, 10, rng=rng, dtype=np.float32))
        TR.fit(m, LN.CrossEntropyLoss(), O.SGD(m.params, **hyper), x, y, rng=rng, **kw)

    def twin_fit():
        g = torch.Generator().manual_seed(0)
        m = TL.Sequential(TL.Linear(64, 128), TL.ReLU(), TL.Linear(128, 10))
        TT.fit(m, LT.CrossEntropyLoss(), OT.SGD(m.parameters(), **hyper), xt, yt, generator=g, **kw)

    def plain_torch():
        g = torch.Generator().manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(m.parameters(), **hyper)
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=g)
            for i in range(0, len(xt), 64):
                idx = order[i:i + 64]
                loss = F.cross_entropy(m(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

    def hand_loop(layers, loss_fn, optimizer):
        def loop():
            g = torch.Generator().manual_seed(0)
            m = layers.Sequential(layers.Linear(64, 128), layers.ReLU(), layers.Linear(128, 10))
            opt = optimizer(m.parameters(), **hyper)
            for _ in range(epochs):
                order = torch.randperm(len(xt), generator=g)
                for i in range(0, len(xt), 64):
                    idx = order[i:i + 64]
                    loss = loss_fn(m(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        return loop

    parts = {"twin layers": hand_loop(TL, torch.nn.CrossEntropyLoss(), torch.optim.SGD),
             "twin loss": hand_loop(torch.nn, LT.CrossEntropyLoss(), torch.optim.SGD),
             "twin SGD": hand_loop(torch.nn, torch.nn.CrossEntropyLoss(), OT.SGD)}

    repeat = 3 if quick else 5
    # Interleaved rounds, so a burst of load elsewhere hits all of them alike.
    times = {f: [] for f in (plain_torch, numpy_fit, twin_fit, *parts.values())}
    for _ in range(repeat):
        for f, ts in times.items():
            ts.append(median_time(f, repeat=1, warmup=0))
    anchor, ours, twin, *swapped = (sorted(ts)[len(ts) // 2] for ts in times.values())
    label = f"fit digits 64-128-10, batch 64, {epochs} epochs, CPU float32, 1 thread"
    what = "plain torch loop (nn.Sequential + torch.optim.SGD)"
    rows = [
        Row(f"{label}: NumPy twin", ours, anchor, what, "<= 1.5x"),
        Row(f"{label}: torch twin", twin, anchor, what, "<= 1.2x"),
    ]
    rows += [Row(f"{label}: plain loop with only the {part}", t, anchor, what, "", "where the time goes")
             for part, t in zip(parts, swapped)]
    return rows + [_function_floor(quick)]


class _Nothing(torch.autograd.Function):
    """The cost every twin module pays before its math: a Python Function, forward and backward."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, dout):
        return dout * 2


def _function_floor(quick):
    x = torch.randn(64, 128, requires_grad=True)
    calls = 200 if quick else 1000

    def through_function():
        for _ in range(calls):
            _Nothing.apply(x).sum().backward()

    def built_in():
        for _ in range(calls):
            (x * 2).sum().backward()

    ours, anchor = interleaved_times([through_function, built_in], rounds=3 if quick else 5)
    return Row(f"x*2 forward+backward on 64x128 through a Python autograd.Function, {calls} calls", ours, anchor,
               "the same ops recorded by autograd (built-in backward)", "",
               f"+{(ours - anchor) / calls * 1e6:.0f} us a call")


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
