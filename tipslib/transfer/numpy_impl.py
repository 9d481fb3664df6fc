r"""Transfer learning in NumPy: reuse a network trained on one task for another.

The shipped network (``pretrained_digits.npz``, made by ``python -m
tipslib.transfer.pretrain``) learnt to read handwritten digits: dark ink on
light paper, from one half of scikit-learn's 8x8 digits. The target task is
the other half of the digits as *negatives*: light ink on dark paper, as if a
new scanner inverted every picture (``x -> 1 - x``). The shapes are the same
but every pixel value changes, so the old network gets most negatives wrong,
yet its hidden layers still detect strokes; a new softmax layer on top may
need only a handful of labelled negatives. The cheatsheet's three regimes,
by how much target data there is:

=============  =====================================================  ===============
target data    what is trained                                         ``regime``
=============  =====================================================  ===============
small          the new softmax layer only, the rest frozen             ``"softmax"``
medium         the last layers and the softmax, the first frozen      ``"last_layers"``
large          every layer, starting from the pretrained weights      ``"fine_tune"``
(baseline)     every layer, starting from random weights               ``"scratch"``
=============  =====================================================  ===============

Freezing in NumPy: :class:`Frozen` wraps a layer so that its frozen arrays
move from ``params`` to ``buffers``. They are still used and still saved, but
an optimizer built on ``model.params`` never sees them and ``model.grads``
has no entry for them: the NumPy counterpart of ``requires_grad=False``.
The torch twin is :mod:`tipslib.transfer.torch_impl`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .._checks import RNG, validate_params
from .._threads import one_blas_thread
from ..data import load_digits
from ..layers.numpy_impl import Linear, Module, ReLU, Sequential
from ..losses.numpy_impl import CrossEntropyLoss
from ..optim.numpy_impl import SGD
from ..training.numpy_impl import fit
from ._shared import (HIDDEN_LAYERS, LOAD_PRETRAINED, MAKE_MLP, NUM_CLASSES, REGIMES, SIZES, STRATIFIED_SUBSET,
                      TARGET_TASK, TRANSFER_EXPERIMENT, TRANSFER_MODEL, TransferResults, as_regimes,
                      frozen_layers, index_out_of_range, layer_items, lr_for_every_regime, lr_table,
                      n_at_most_rows, not_a_layer_spec, not_in_model, one_label_per_row, run_experiment,
                      check_sizes_fit_pool, unknown_name)

__all__ = [
    "REGIMES", "SIZES", "NUM_CLASSES", "HIDDEN_LAYERS", "TransferResults",
    "make_mlp", "Frozen", "freeze", "unfreeze", "trainable_params",
    "pretrained_path", "load_pretrained", "transfer_model",
    "source_task", "target_task", "stratified_subset", "accuracy_of", "transfer_experiment",
]

WEIGHTS_FILE = "pretrained_digits.npz"


# --- checks at the door --------------------------------------------------------------------


def _layer(value, name, owner):
    if not isinstance(value, Module):
        raise TypeError(f"The '{name}' parameter of {owner} must be a tipslib NumPy layer. Got {type(value).__name__} instead.")


def _sequential(value, name, owner):
    if not isinstance(value, Sequential):
        raise TypeError(f"The '{name}' parameter of {owner} must be a tipslib NumPy Sequential. Got {type(value).__name__} instead.")


def _names_of_layer(arguments, owner):
    layer, names = arguments["layer"], arguments["names"]
    if names is None:
        return
    if isinstance(names, str) or iter(names) is names:  # an iterator would be used up by this check
        raise TypeError(f"The 'names' parameter of Frozen must be a list of array names. Got {names!r} instead.")
    unknown = sorted(set(names) - set(layer.params))
    if unknown:
        raise ValueError(
            f"The 'names' parameter of {owner} must name arrays of the layer {sorted(layer.params)}. "
            f"Got {unknown} instead."
        )


def _layers_of_model(arguments, owner):
    if arguments["layers"] is not None:
        _resolve(arguments["model"], arguments["layers"], owner)


# --- the network ---------------------------------------------------------------------------


@validate_params(MAKE_MLP, rng=RNG)
def make_mlp(sizes=HIDDEN_LAYERS, *, rng=None, dtype=np.float64):
    """A multilayer perceptron ``Linear -> ReLU -> ... -> Linear`` with the given layer sizes.

    ``sizes=(64, 64, 32, 10)`` (the default) gives 64 pixels -> 64 -> 32 -> 10 logits,
    the shape of the shipped network. Weights are drawn from ``rng`` the way
    ``torch.nn.Linear`` draws them.

    See Also
    --------
    tipslib.transfer.torch_impl.make_mlp : the same network as an ``nn.Sequential``
    with the same parameter names (``"0.weight"``, ``"2.bias"``, ...).
    """
    rng = np.random.default_rng(rng)  # a fresh generator for None, else rng itself
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(ReLU())
        layers.append(Linear(n_in, n_out, rng=rng, dtype=dtype))
    return Sequential(*layers)


# --- freezing ------------------------------------------------------------------------------


class Frozen(Module):
    """A layer whose arrays ``names`` are used and saved but not trained.

    The frozen arrays appear in ``buffers`` instead of ``params`` and have no
    entry in ``grads``, so ``state_dict`` keys are unchanged while optimizers
    and the fit loop leave those arrays alone. ``backward`` still returns the
    gradient with respect to the layer's input, which the layers below need.

    Parameters
    ----------
    layer : Module
        The layer to wrap; ``Frozen.layer`` gives it back.
    names : iterable of str, optional
        Which of ``layer.params`` to freeze; all of them by default.

    See Also
    --------
    torch.Tensor.requires_grad_ : in torch a frozen parameter stays a
    parameter with ``requires_grad=False`` and its ``.grad`` stays ``None``.
    """

    @validate_params(None, _names_of_layer, layer=_layer)
    def __init__(self, layer: Module, names=None) -> None:
        super().__init__()
        self.layer = layer
        self.names = frozenset(layer.params if names is None else names)
        self.training = layer.training

    # Properties, so they always show the arrays the wrapped layer holds now.
    params = property(lambda self: {k: v for k, v in self.layer.params.items() if k not in self.names},
                      lambda self, v: None)
    grads = property(lambda self: {k: v for k, v in self.layer.grads.items() if k not in self.names},
                     lambda self, v: None)
    buffers = property(lambda self: {**{k: self.layer.params[k] for k in self.names}, **self.layer.buffers},
                       lambda self, v: None)

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dout):
        return self.layer.backward(dout)

    def train(self, mode: bool = True) -> "Frozen":
        self.training = bool(mode)
        self.layer.train(mode)
        return self

    def __repr__(self) -> str:
        return f"Frozen({self.layer!r}, names={sorted(self.names)})"


def _unwrap(layer):
    return layer.layer if isinstance(layer, Frozen) else layer


def _resolve(model, layers, owner) -> dict[int, set[str]]:
    """Turn layer indices, layer objects and names ("2", "2.weight") into {index: array names}."""
    items = layer_items(layers, owner, Module)
    inner = [_unwrap(layer) for layer in model.layers]
    names = [f"{i}.{k}" for i, layer in enumerate(inner) for k in layer.params]
    chosen: dict[int, set[str]] = {}
    for item in items:
        if isinstance(item, Module):
            hits = [i for i, layer in enumerate(inner) if layer is _unwrap(item)]
            if not hits:
                raise not_in_model(item, owner)
            i = hits[0]
            chosen.setdefault(i, set()).update(inner[i].params)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -len(inner) <= item < len(inner):
                raise index_out_of_range(item, len(inner), owner)
            i = item % len(inner)
            chosen.setdefault(i, set()).update(inner[i].params)
        elif isinstance(item, str):
            index, _, array = item.partition(".")
            if not index.isdigit() or int(index) >= len(inner) or (array and array not in inner[int(index)].params):
                raise unknown_name(item, names, owner)
            i = int(index)
            chosen.setdefault(i, set()).update([array] if array else inner[i].params)
        else:
            raise not_a_layer_spec(item, owner)
    return chosen


@validate_params(None, _layers_of_model, model=_sequential)
def freeze(model, layers):
    """Stop training some layers (or single arrays) of ``model``; returns ``model``.

    Parameters
    ----------
    model : Sequential
    layers : int, str, Module, or a list of them
        Layer indices (``0``), array names as in ``model.params`` (``"0.weight"``),
        layer prefixes (``"0"``) or the layer objects themselves.

    Build the optimizer *after* freezing, on ``model.params`` (or
    :func:`trainable_params`, the same dict): frozen arrays are not in it.

    See Also
    --------
    tipslib.transfer.torch_impl.freeze : sets ``requires_grad=False`` instead of wrapping.
    """
    for i, names in _resolve(model, layers, "freeze").items():
        layer = model.layers[i]
        if not names:
            continue  # a layer without arrays (ReLU) has nothing to freeze
        if isinstance(layer, Frozen):
            names = names | layer.names
        model.layers[i] = Frozen(_unwrap(layer), names)
    return model


@validate_params(None, _layers_of_model, model=_sequential)
def unfreeze(model, layers=None):
    """Train again what :func:`freeze` froze (everything when ``layers`` is None); returns ``model``.

    See Also
    --------
    torch.Tensor.requires_grad_ : the torch twin sets ``requires_grad=True`` again.
    """
    chosen = dict(enumerate(set(_unwrap(l).params) for l in model.layers)) if layers is None \
        else _resolve(model, layers, "unfreeze")
    for i, names in chosen.items():
        layer = model.layers[i]
        if isinstance(layer, Frozen):
            rest = layer.names - names
            model.layers[i] = Frozen(layer.layer, rest) if rest else layer.layer
    return model


@validate_params(model=_layer)
def trainable_params(model) -> dict:
    """The arrays an optimizer should update: ``model.params``, which excludes frozen arrays.

    Given for symmetry with the torch twin, where frozen parameters are
    still listed by ``model.parameters()`` and must be filtered out.

    See Also
    --------
    torch.nn.Module.named_parameters : lists frozen parameters too; filter on ``requires_grad``.
    """
    return dict(model.params)


# --- the shipped weights -------------------------------------------------------------------


def pretrained_path():
    """Where the shipped weights live (inside the installed package)."""
    return Path(str(resources.files("tipslib.transfer") / WEIGHTS_FILE))


def _load_state(path):
    with np.load(pretrained_path() if path is None else Path(path)) as data:
        return {k: data[k] for k in data.files}


@validate_params(LOAD_PRETRAINED, rng=RNG)
def load_pretrained(num_classes=None, *, path=None, rng=None, dtype=np.float64):
    """The network pretrained on the upright digits, as a NumPy ``Sequential``.

    Parameters
    ----------
    num_classes : int, optional
        ``None`` keeps the pretrained softmax layer (10 outputs, the digits).
        An int replaces it by a fresh ``Linear(32, num_classes)`` drawn from
        ``rng``: the usual start of transfer learning, where the new task has
        its own classes (here the classes happen to be the same ten digits,
        but the old layer's weights fit features of upright digits).
    path : str or Path, optional
        Another weights file written by :mod:`tipslib.transfer.pretrain`.
    rng : numpy.random.Generator, optional
        Only used for the new softmax layer.
    dtype : numpy dtype, default float64

    See Also
    --------
    tipslib.transfer.torch_impl.load_pretrained : the same weights in an ``nn.Sequential``.
    """
    state = _load_state(path)
    n_linear = len([k for k in state if k.endswith(".weight")])
    sizes = [state[f"{2 * i}.weight"].shape[1] for i in range(n_linear)] + [state[f"{2 * (n_linear - 1)}.weight"].shape[0]]
    model = make_mlp(sizes, rng=np.random.default_rng(0), dtype=dtype)  # overwritten just below
    model.load_state_dict(state)
    if num_classes is not None:
        model.layers[-1] = Linear(sizes[-2], num_classes, rng=np.random.default_rng(rng), dtype=dtype)
    return model


@validate_params(TRANSFER_MODEL, rng=RNG)
def transfer_model(regime, num_classes=NUM_CLASSES, *, path=None, rng=None, dtype=np.float64):
    """A network ready for ``regime``: pretrained with a new head and frozen layers, or random.

    ``"softmax"`` freezes every linear layer but the last, ``"last_layers"``
    all but the last two, ``"fine_tune"`` none; ``"scratch"`` starts from
    random weights (drawn from ``rng``) instead of the pretrained ones.

    See Also
    --------
    freeze : how the layers are frozen.
    torch.Tensor.requires_grad_ : how the torch twin freezes them; torch has no such helper.
    """
    rng = np.random.default_rng(rng)
    if regime == "scratch":
        return make_mlp((*HIDDEN_LAYERS[:-1], num_classes), rng=rng, dtype=dtype)
    model = load_pretrained(num_classes, path=path, rng=rng, dtype=dtype)
    linear = [i for i, layer in enumerate(model.layers) if isinstance(layer, Linear)]
    frozen = [linear[j] for j in frozen_layers(regime, len(linear))]
    return freeze(model, frozen) if frozen else model


# --- the two tasks -------------------------------------------------------------------------


def _half(which, dtype):
    x, y = load_digits()
    # Alternate rows: a fixed split that needs no random numbers and keeps
    # the ten classes balanced between the halves.
    return x[which::2].astype(dtype), y[which::2]


def source_task(*, dtype=np.float64):
    """The pretraining data: the even rows of scikit-learn's digits, upright.

    Returns ``x`` (899, 64) in [0, 1] and ``y`` (899,) int64, digits 0-9.
    """
    return _half(0, dtype)


@validate_params(TARGET_TASK, rng=RNG)
def target_task(*, test_size=0.3, rng=None, dtype=np.float64):
    """The new task: the odd rows of the digits as negatives (``1 - x``), split in two.

    None of these pictures was seen in pretraining. Returns ``x_train,
    y_train, x_test, y_test``; the split is stratified and drawn from ``rng``.
    """
    rng = np.random.default_rng(rng)
    x, y = _half(1, dtype)
    x = 1.0 - x
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, size=round(test_size * len(idx)), replace=False)] = True
    train = np.flatnonzero(~test)
    train = train[rng.permutation(len(train))]
    return x[train], y[train], x[test], y[test]


@validate_params(STRATIFIED_SUBSET, n_at_most_rows, rng=RNG)
def stratified_subset(x, y, n, *, rng=None):
    """``n`` rows of ``(x, y)``, spread as evenly over the classes as their counts allow.

    Each class's rows are shuffled and dealt out in turns (one of every class,
    then a second of every class, ...), so a class that runs out simply stops
    contributing. The rows come back in random order.

    See Also
    --------
    sklearn.model_selection.train_test_split : ``stratify=y`` keeps the class proportions
        instead of evening them out.
    torch.utils.data.Subset : takes given indices; torch has no stratified sampling.
    """
    rng = np.random.default_rng(rng)
    order = rng.permutation(len(y))
    classes, y_codes = np.unique(y[order], return_inverse=True)
    # turn[i]: how many rows of the same class come before row i in the shuffled order
    turn = np.zeros(len(y), dtype=np.int64)
    for c in range(len(classes)):
        members = np.flatnonzero(y_codes == c)
        turn[members] = np.arange(len(members))
    class_rank = rng.permutation(len(classes))[y_codes]  # who goes first within a turn
    picked = order[np.lexsort((class_rank, turn))[:n]]
    picked = picked[rng.permutation(n)]
    return x[picked], y[picked]


@validate_params(None, one_label_per_row)
def accuracy_of(model, x, y) -> float:
    r"""Fraction of ``x`` that ``model`` (in eval mode) classifies as ``y``; the model's mode is left as it was.

    .. math::

        \frac{1}{N} \sum_{n=1}^{N} \big[\arg\max_c f(x_n)_c = y_n\big]

    See Also
    --------
    tipslib.training.numpy_impl.accuracy : the same on outputs already computed;
        torch has no accuracy function.
    """
    was_training = model.training
    model.eval()
    out = model.forward(x)
    model.train(was_training)
    return float(np.mean(out.argmax(axis=1) == y))


# --- the experiment ------------------------------------------------------------------------


@validate_params(TRANSFER_EXPERIMENT, lr_for_every_regime, rng=RNG)
def transfer_experiment(sizes=SIZES, *, regimes=REGIMES, steps=150, batch_size=32, lr=None,
                        momentum=0.9, repeats=3, rng=None, progress=False):
    """Train every regime on every target-set size; return the test accuracies.

    Each run draws ``size`` stratified examples of the negative digits, builds the
    network with :func:`transfer_model` and trains it with SGD (momentum) for
    about ``steps`` updates of ``batch_size`` examples, whatever the size, so
    regimes differ only in where they start and what they may change. All
    runs are measured on the same held-out test set. ``repeats`` runs with
    different subsets and initial heads are averaged.

    Parameters
    ----------
    sizes : sequence of int
        Target training-set sizes (small, medium, large by default).
    regimes : sequence of str
        Among ``"softmax"``, ``"last_layers"``, ``"fine_tune"``, ``"scratch"``.
    steps, batch_size : int
    lr : float or dict, optional
        One learning rate for all regimes, or ``{regime: lr}``; the default
        gives fine-tuning a smaller one (0.02 against 0.05).
    momentum : float
    repeats : int
    rng : numpy.random.Generator, optional
        Draws the test split, the subsets, the new heads and the batch order.
    progress : bool
        Show a tqdm bar over the runs.

    Returns
    -------
    TransferResults
        ``print`` it for a table; ``.accuracy[regime]`` lists one mean per size.
    """
    regimes = as_regimes(regimes)
    lr = lr_table(lr, regimes)
    rng = np.random.default_rng(rng)
    x_pool, y_pool, x_test, y_test = target_task(rng=rng)
    check_sizes_fit_pool(sizes, len(y_pool), "transfer_experiment")

    def draw_subset(size):
        return stratified_subset(x_pool, y_pool, size, rng=rng)

    def train_and_score(regime, x, y, epochs):
        model = transfer_model(regime, rng=rng)
        opt = SGD(trainable_params(model), lr=lr[regime], momentum=momentum)
        fit(model, CrossEntropyLoss(), opt, x, y, epochs=epochs, batch_size=batch_size, rng=rng, progress=False)
        return accuracy_of(model, x_test, y_test), sum(p.size for p in model.params.values())

    with one_blas_thread():
        return run_experiment(sizes, regimes, repeats, steps, batch_size, draw_subset, train_and_score, progress)
