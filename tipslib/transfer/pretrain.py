"""Make the shipped weights: ``python -m tipslib.transfer.pretrain [OUT.npz]``.

Trains the 64-64-32-10 network of :func:`tipslib.transfer.numpy_impl.make_mlp`
on the source task (the upright digits of :func:`source_task`) with plain NumPy: seeded weights, seeded
mini-batch order, SGD with momentum. The same seed gives the same weights, so
anyone can check that ``pretrained_digits.npz`` came from this script. A
fifth of the source digits is held out to report how good the network is;
the weights are trained on the other four fifths.

It takes about a second and writes ``tipslib/transfer/pretrained_digits.npz``
unless given another path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..losses.numpy_impl import CrossEntropyLoss
from ..optim.numpy_impl import SGD
from .numpy_impl import HIDDEN_LAYERS, accuracy_of, make_mlp, pretrained_path, source_task

SEED = 230
EPOCHS = 40
BATCH_SIZE = 32
LR = 0.05
MOMENTUM = 0.9


def pretrain(*, seed=SEED, epochs=EPOCHS):
    """Train on the source digits; return ``(model, held_out_accuracy)``."""
    rng = np.random.default_rng(seed)
    x, y = source_task()
    order = rng.permutation(len(y))
    n_val = len(y) // 5
    x_val, y_val = x[order[:n_val]], y[order[:n_val]]
    x_train, y_train = x[order[n_val:]], y[order[n_val:]]
    model = make_mlp(HIDDEN_LAYERS, rng=rng)
    loss_fn = CrossEntropyLoss()
    opt = SGD(model.params, lr=LR, momentum=MOMENTUM)
    # The loop is written out rather than taken from tipslib.training, so the
    # weights depend only on this file, the layers and SGD.
    for _ in range(epochs):
        perm = rng.permutation(len(y_train))
        for start in range(0, len(perm), BATCH_SIZE):
            idx = perm[start:start + BATCH_SIZE]
            loss_fn.forward(model.forward(x_train[idx]), y_train[idx])
            model.backward(loss_fn.backward())
            opt.step(model.grads)
    return model, accuracy_of(model, x_val, y_val)


def save(model, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **model.state_dict())
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else pretrained_path()
    model, acc = pretrain()
    save(model, out)
    print(f"held-out accuracy on the source digits: {acc:.3f}; weights written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
