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

from .._checks import GENERATOR, validate_params
from ..data import load_digits
from ..layers.torch_impl import Linear, ReLU, Sequential
from ..losses.torch_impl import CrossEntropyLoss
from ..optim.torch_impl import SGD
from ..training.torch_impl import fit
from ._shared import (HIDDEN_LAYERS, LOAD_PRETRAINED, MAKE_MLP, NUM_CLASSES, REGIMES, SIZES, STRATIFIED_SUBSET,
                      TARGET_TASK, TRANSFER_EXPERIMENT, TRANSFER_MODEL, TransferResults, as_regimes,
                      frozen_layers, index_out_of_range, layer_items, lr_for_every_regime, lr_table,
                      n_at_most_rows, not_a_layer_spec, not_in_model, one_label_per_row, run_experiment,
                      check_sizes_fit_pool, unknown_name)

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


# --- checks at the door --------------------------------------------------------------------


def _module(value, name, owner):
    if not isinstance(value, nn.Module):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.nn.Module. Got {type(value).__name__} instead.")


def _layers_of_model(arguments, owner):
    if arguments["layers"] is not None:
        _resolve(arguments["model"], arguments["layers"], owner)


# --- the network ---------------------------------------------------------------------------


@validate_params(MAKE_MLP, generator=GENERATOR)
def make_mlp(sizes=HIDDEN_LAYERS, *, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``make_mlp``: tipslib's torch ``Linear``/``ReLU`` in a ``Sequential``."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(ReLU())
        layers.append(Linear(n_in, n_out, generator=generator, dtype=dtype, device=device))
    return Sequential(*layers)


# --- freezing ------------------------------------------------------------------------------


def _resolve(model, layers, owner) -> list[nn.Parameter]:
    """Turn layer indices, modules and names ("2", "2.weight") into the parameters they denote."""
    items = layer_items(layers, owner, nn.Module)
    named = dict(model.named_parameters())
    modules = dict(model.named_modules())
    chosen = []
    for item in items:
        if isinstance(item, nn.Module):
            if not any(item is m for m in modules.values()):
                raise not_in_model(item, owner)
            chosen.extend(item.parameters())
        elif isinstance(item, int) and not isinstance(item, bool):
            if not isinstance(model, nn.Sequential):
                raise TypeError(f"The 'layers' parameter of {owner} may hold indices only for a Sequential model. Got {item} instead.")
            if not -len(model) <= item < len(model):
                raise index_out_of_range(item, len(model), owner)
            chosen.extend(model[item].parameters())
        elif isinstance(item, str):
            if item in named:
                chosen.append(named[item])
            elif item in modules and item:
                chosen.extend(modules[item].parameters())
            else:
                raise unknown_name(item, list(named), owner)
        else:
            raise not_a_layer_spec(item, owner)
    return chosen


@validate_params(None, _layers_of_model, model=_module)
def freeze(model, layers):
    """Twin of the NumPy ``freeze``: sets ``requires_grad=False`` on the chosen parameters.

    Returns ``model``. Build the optimizer afterwards on
    ``trainable_params(model).values()``: an optimizer given a frozen
    parameter would skip it anyway (its ``.grad`` stays ``None``), but listing
    only trainable ones says what is trained.
    """
    for p in _resolve(model, layers, "freeze"):
        p.requires_grad_(False)
    return model


@validate_params(None, _layers_of_model, model=_module)
def unfreeze(model, layers=None):
    """Twin of the NumPy ``unfreeze``: ``requires_grad=True`` again (everywhere when ``layers`` is None)."""
    params = model.parameters() if layers is None else _resolve(model, layers, "unfreeze")
    for p in params:
        p.requires_grad_(True)
    return model


@validate_params(model=_module)
def trainable_params(model) -> dict:
    """Twin of the NumPy ``trainable_params``: ``{name: parameter}`` for the parameters with ``requires_grad``.

    Difference: frozen parameters stay in ``model.named_parameters()`` (with
    ``requires_grad=False``), so this filters them out; in NumPy they are not in ``params``.
    """
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


# --- the shipped weights -------------------------------------------------------------------


def pretrained_path():
    """Twin of the NumPy ``pretrained_path``."""
    return Path(str(resources.files("tipslib.transfer") / WEIGHTS_FILE))


@validate_params(LOAD_PRETRAINED, generator=GENERATOR)
def load_pretrained(num_classes=None, *, path=None, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``load_pretrained``: the same weights in an ``nn.Sequential``."""
    with np.load(pretrained_path() if path is None else Path(path)) as data:
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


@validate_params(TRANSFER_MODEL, generator=GENERATOR)
def transfer_model(regime, num_classes=NUM_CLASSES, *, path=None, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``transfer_model``."""
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


@validate_params(TARGET_TASK, generator=GENERATOR)
def target_task(*, test_size=0.3, generator=None, dtype=None, device=None):
    """Twin of the NumPy ``target_task``: the negatives of the odd rows, split from ``generator``."""
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


@validate_params(STRATIFIED_SUBSET, n_at_most_rows, generator=GENERATOR)
def stratified_subset(x, y, n, *, generator=None):
    """Twin of the NumPy ``stratified_subset``: classes dealt out in turns."""
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


@validate_params(None, one_label_per_row)
@torch.no_grad()
def accuracy_of(model, x, y) -> float:
    """Twin of the NumPy ``accuracy_of``."""
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    return float((out.argmax(dim=1) == y).double().mean())


# --- the experiment ------------------------------------------------------------------------


@validate_params(TRANSFER_EXPERIMENT, lr_for_every_regime, generator=GENERATOR)
def transfer_experiment(sizes=SIZES, *, regimes=REGIMES, steps=150, batch_size=32, lr=None,
                        momentum=0.9, repeats=3, generator=None, progress=False, device=None):
    """Twin of the NumPy ``transfer_experiment``, trained with tipslib's torch ``SGD`` and ``fit``.

    Runs in float32 on ``device`` (default: the CPU). Results are close to the
    NumPy twin's but not equal: the random draws differ.
    """
    regimes = as_regimes(regimes)
    lr = lr_table(lr, regimes)
    x_pool, y_pool, x_test, y_test = target_task(generator=generator, device=device)
    check_sizes_fit_pool(sizes, len(y_pool), "transfer_experiment")

    def draw_subset(size):
        return stratified_subset(x_pool, y_pool, size, generator=generator)

    def train_and_score(regime, x, y, epochs):
        model = transfer_model(regime, generator=generator, device=device)
        params = trainable_params(model)
        opt = SGD(list(params.values()), lr=lr[regime], momentum=momentum)
        fit(model, CrossEntropyLoss(), opt, x, y, epochs=epochs, batch_size=batch_size, generator=generator,
            progress=False)
        return accuracy_of(model, x_test, y_test), sum(p.numel() for p in params.values())

    return run_experiment(sizes, regimes, repeats, steps, batch_size, draw_subset, train_and_score, progress)
