"""Transfer learning in PyTorch: twin of :mod:`tipslib.transfer.numpy_impl`.

Same network, same shipped weights, same tasks and regimes. Differences:

* freezing sets ``requires_grad=False`` on parameters (they stay in
  ``model.parameters()``, their ``.grad`` stays ``None``) instead of wrapping
  layers, so there is no ``Frozen`` class; :func:`trainable_params` filters
  the frozen ones out for the optimizer;
* ``generator`` (a ``torch.Generator``) instead of ``rng``; ``device`` and
  ``dtype`` say where tensors and weights live (default dtype: torch's).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np  # only to read the .npz weights file
import torch
from torch import nn
from tqdm.auto import tqdm

from .._checks import check_generator, check_int, check_real
from ..data import load_digits
from ..layers.torch_impl import Linear, ReLU, Sequential
from ..losses.torch_impl import CrossEntropyLoss
from ..optim.torch_impl import SGD
from ..training.torch_impl import fit, num_batches
from ._common import (HIDDEN_LAYERS, NUM_CLASSES, REGIMES, SIZES, TransferResults, check_lr_table,
                      check_layer_sizes, check_regime, check_sizes, frozen_layers)

__all__ = [
    "REGIMES", "SIZES", "NUM_CLASSES", "HIDDEN_LAYERS", "TransferResults",
    "make_mlp", "freeze", "unfreeze", "trainable_params",
    "pretrained_path", "load_pretrained", "transfer_model",
    "source_task", "target_task", "stratified_subset", "accuracy_of", "transfer_experiment",
]

#: The NumPy twin's ``Frozen`` wrapper has no counterpart: ``requires_grad`` does its job.
NUMPY_ONLY = frozenset({"Frozen"})
TORCH_ONLY: frozenset[str] = frozenset()

WEIGHTS_FILE = "pretrained_digits.npz"



# --- the network ---------------------------------------------------------------------------


def make_mlp(sizes=HIDDEN_LAYERS, *, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``make_mlp``: tipslib's torch ``Linear``/``ReLU`` in a ``Sequential``."""
    sizes = check_layer_sizes(sizes, "make_mlp")
    generator = check_generator(generator, "make_mlp")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(ReLU())
        layers.append(Linear(n_in, n_out, generator=generator, dtype=dtype, device=device))
    return Sequential(*layers)


# --- freezing ------------------------------------------------------------------------------


def _check_module(model, owner):
    if not isinstance(model, nn.Module):
        raise TypeError(f"The 'model' parameter of {owner} must be a torch.nn.Module. Got {type(model).__name__} instead.")


def _resolve(model, layers, owner) -> list[nn.Parameter]:
    """Turn layer indices, modules and names ("2", "2.weight") into the parameters they denote."""
    if isinstance(layers, (int, str, nn.Module)) and not isinstance(layers, bool):
        layers = [layers]
    try:
        items = list(layers)
    except TypeError:
        raise TypeError(
            f"The 'layers' parameter of {owner} must be a layer index, a parameter name, a layer, "
            f"or a list of them. Got {layers!r} instead."
        ) from None
    named = dict(model.named_parameters())
    modules = dict(model.named_modules())
    chosen = []
    for item in items:
        if isinstance(item, nn.Module):
            if not any(item is m for m in modules.values()):
                raise ValueError(f"The 'layers' parameter of {owner} must hold layers of this model. Got {item!r}, which is not in it.")
            chosen.extend(item.parameters())
        elif isinstance(item, int) and not isinstance(item, bool):
            if not isinstance(model, nn.Sequential):
                raise TypeError(f"The 'layers' parameter of {owner} may hold indices only for a Sequential model. Got {item} instead.")
            if not -len(model) <= item < len(model):
                raise ValueError(
                    f"The 'layers' parameter of {owner} must hold layer indices in the range "
                    f"[{-len(model)}, {len(model) - 1}]. Got {item} instead."
                )
            chosen.extend(model[item].parameters())
        elif isinstance(item, str):
            if item in named:
                chosen.append(named[item])
            elif item in modules and item:
                chosen.extend(modules[item].parameters())
            else:
                raise ValueError(f"The 'layers' parameter of {owner} must hold names among {list(named)} or layer indices. Got {item!r} instead.")
        else:
            raise TypeError(
                f"The 'layers' parameter of {owner} must hold layer indices, parameter names or layers. "
                f"Got {type(item).__name__} instead."
            )
    return chosen


def freeze(model, layers):
    """Twin of the NumPy ``freeze``: sets ``requires_grad=False`` on the chosen parameters.

    Returns ``model``. Build the optimizer afterwards on
    ``trainable_params(model).values()``: an optimizer given a frozen
    parameter would skip it anyway (its ``.grad`` stays ``None``), but listing
    only trainable ones says what is trained.
    """
    _check_module(model, "freeze")
    for p in _resolve(model, layers, "freeze"):
        p.requires_grad_(False)
    return model


def unfreeze(model, layers=None):
    """Twin of the NumPy ``unfreeze``: ``requires_grad=True`` again (everywhere when ``layers`` is None)."""
    _check_module(model, "unfreeze")
    params = model.parameters() if layers is None else _resolve(model, layers, "unfreeze")
    for p in params:
        p.requires_grad_(True)
    return model


def trainable_params(model) -> dict:
    """``{name: parameter}`` for the parameters with ``requires_grad``, the ones to optimize."""
    _check_module(model, "trainable_params")
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


# --- the shipped weights -------------------------------------------------------------------


def pretrained_path():
    """Twin of the NumPy ``pretrained_path``."""
    return Path(str(resources.files("tipslib.transfer") / WEIGHTS_FILE))


def load_pretrained(num_classes=None, *, path=None, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``load_pretrained``: the same weights in an ``nn.Sequential``."""
    owner = "load_pretrained"
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", owner, low=1)
    generator = check_generator(generator, owner)
    path = pretrained_path() if path is None else Path(path)
    if not path.is_file():
        raise ValueError(f"The 'path' parameter of {owner} must name an existing .npz file. Got {str(path)!r} instead.")
    with np.load(path) as data:
        state = {k: torch.as_tensor(data[k]) for k in data.files}
    n_linear = len([k for k in state if k.endswith(".weight")])
    sizes = [state[f"{2 * i}.weight"].shape[1] for i in range(n_linear)] + [state[f"{2 * (n_linear - 1)}.weight"].shape[0]]
    # Throwaway weights, overwritten just below; a private generator leaves torch's global stream alone.
    model = make_mlp(sizes, generator=torch.Generator().manual_seed(0), dtype=dtype)
    model.load_state_dict(state)
    model.to(device)
    if num_classes is not None:
        model[-1] = Linear(sizes[-2], num_classes, generator=generator, dtype=dtype, device=device)
    return model


def transfer_model(regime, num_classes=NUM_CLASSES, *, path=None, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``transfer_model``."""
    owner = "transfer_model"
    check_regime(regime, owner)
    num_classes = check_int(num_classes, "num_classes", owner, low=1)
    generator = check_generator(generator, owner)
    if regime == "scratch":
        return make_mlp((*HIDDEN_LAYERS[:-1], num_classes), generator=generator, dtype=dtype, device=device)
    model = load_pretrained(num_classes, path=path, generator=generator, dtype=dtype, device=device)
    linear = [i for i, layer in enumerate(model) if isinstance(layer, Linear)]
    frozen = [linear[j] for j in frozen_layers(regime, len(linear))]
    return freeze(model, frozen) if frozen else model


# --- the two tasks -------------------------------------------------------------------------


def _half(which, dtype, device):
    x, y = load_digits()
    x = torch.as_tensor(x[which::2], dtype=dtype or torch.get_default_dtype(), device=device)
    return x, torch.as_tensor(y[which::2], device=device)


def source_task(*, dtype=None, device=None):
    """Twin of the NumPy ``source_task``, as tensors."""
    return _half(0, dtype, device)


def target_task(*, test_size=0.3, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``target_task``: the negatives of the odd rows, split from ``generator``."""
    owner = "target_task"
    test_size = check_real(test_size, "test_size", owner, low=0, high=1, low_open=True, high_open=True)
    generator = check_generator(generator, owner)
    x, y = _half(1, dtype, device)
    x = 1.0 - x
    test = torch.zeros(len(y), dtype=torch.bool)
    y_cpu = y.cpu()
    for c in torch.unique(y_cpu):
        idx = torch.nonzero(y_cpu == c).flatten()
        take = torch.randperm(len(idx), generator=generator)[: round(test_size * len(idx))]
        test[idx[take]] = True
    train = torch.nonzero(~test).flatten()
    train = train[torch.randperm(len(train), generator=generator)]
    test = torch.nonzero(test).flatten()
    return x[train.to(x.device)], y[train.to(y.device)], x[test.to(x.device)], y[test.to(y.device)]


def stratified_subset(x, y, n, *, generator=None):
    """Twin of the NumPy ``stratified_subset``: classes dealt out in turns."""
    owner = "stratified_subset"
    n = check_int(n, "n", owner, low=1, high=len(y))
    generator = check_generator(generator, owner)
    order = torch.randperm(len(y), generator=generator)
    classes, codes = torch.unique(y.cpu()[order], return_inverse=True)
    turn = torch.zeros(len(y), dtype=torch.int64)
    for c in range(len(classes)):
        members = torch.nonzero(codes == c).flatten()
        turn[members] = torch.arange(len(members))
    class_rank = torch.randperm(len(classes), generator=generator)[codes]
    # sort by turn, then by the class's place in the turn (torch has no lexsort)
    picked = order[torch.argsort(turn * len(classes) + class_rank, stable=True)[:n]]
    picked = picked[torch.randperm(n, generator=generator)].to(x.device)
    return x[picked], y[picked]


@torch.no_grad()
def accuracy_of(model, x, y) -> float:
    """Twin of the NumPy ``accuracy_of``."""
    if len(y) != len(x):
        raise ValueError(f"The 'y' parameter of accuracy_of must have one label per row of 'x' ({len(x)}). "
                         f"Got {len(y)} instead.")
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    return float((out.argmax(dim=1) == y).double().mean())


# --- the experiment ------------------------------------------------------------------------


def transfer_experiment(sizes=SIZES, *, regimes=REGIMES, steps=150, batch_size=32, lr=None,
                        momentum=0.9, repeats=3, generator=None, progress=False, device=None):
    """Twin of the NumPy ``transfer_experiment``, trained with tipslib's torch ``SGD`` and ``fit``.

    Runs in float32 on ``device`` (default: the CPU). Results are close to the
    NumPy twin's but not equal: the random draws differ.
    """
    owner = "transfer_experiment"
    sizes = check_sizes(sizes, owner)
    regimes = tuple(check_regime(r, owner) for r in regimes) if not isinstance(regimes, str) else (check_regime(regimes, owner),)
    steps = check_int(steps, "steps", owner, low=1)
    batch_size = check_int(batch_size, "batch_size", owner, low=1)
    repeats = check_int(repeats, "repeats", owner, low=1)
    lr = check_lr_table(lr, regimes, owner)
    momentum = check_real(momentum, "momentum", owner, low=0, high=1, high_open=True)
    generator = check_generator(generator, owner)
    x_pool, y_pool, x_test, y_test = target_task(generator=generator, device=device)
    if max(sizes) > len(y_pool):
        raise ValueError(f"The 'sizes' parameter of {owner} must be at most {len(y_pool)}, the target training pool. Got {max(sizes)} instead.")
    acc = {r: torch.zeros(len(sizes), repeats, dtype=torch.float64) for r in regimes}
    trainable = {}
    bar = tqdm(total=len(sizes) * repeats * len(regimes), desc="transfer runs", disable=not progress, leave=False)
    for j, size in enumerate(sizes):
        for k in range(repeats):
            x, y = stratified_subset(x_pool, y_pool, size, generator=generator)
            epochs = max(1, round(steps / num_batches(size, batch_size)))
            for r in regimes:
                model = transfer_model(r, generator=generator, device=device)
                params = trainable_params(model)
                trainable[r] = sum(p.numel() for p in params.values())
                opt = SGD(list(params.values()), lr=lr[r], momentum=momentum)
                fit(model, CrossEntropyLoss(), opt, x, y, epochs=epochs, batch_size=batch_size,
                    generator=generator, progress=False)
                acc[r][j, k] = accuracy_of(model, x_test, y_test)
                bar.update()
    bar.close()
    return TransferResults(
        regimes=regimes, sizes=sizes, repeats=repeats,
        accuracy={r: acc[r].mean(dim=1).tolist() for r in regimes},
        accuracy_std={r: acc[r].std(dim=1, unbiased=False).tolist() for r in regimes},
        trainable=trainable,
    )
