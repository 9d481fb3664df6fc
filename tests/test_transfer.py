"""Transfer learning: shipped weights, freezing in both twins, the regimes, the experiment."""

import copy

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_refused, to_numpy

from tipslib.gradcheck.numpy_impl import numerical_gradient
from tipslib.losses import numpy_impl as NL
from tipslib.losses import torch_impl as TLoss
from tipslib.optim import numpy_impl as NO
from tipslib.optim import torch_impl as TO
from tipslib.training import numpy_impl as NTr
from tipslib.training import torch_impl as TTr
from tipslib.transfer import numpy_impl as N
from tipslib.transfer import pretrain
from tipslib.transfer import torch_impl as T

ALL = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
#: What each regime trains, by name: the claim the tests hold the code to.
TRAINED = {
    "softmax": {"4.weight", "4.bias"},
    "last_layers": {"2.weight", "2.bias", "4.weight", "4.bias"},
    "fine_tune": ALL,
    "scratch": ALL,
}


def builtin_mlp(state):
    """The same network from torch's own layers, for parity."""
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 10)).double()
    net.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return net


# --- the shipped weights ---------------------------------------------------------------------


def test_shipped_weights_are_in_the_package():
    path = N.pretrained_path()
    assert path.is_file() and path.suffix == ".npz"
    assert path.stat().st_size < 200_000
    assert T.pretrained_path() == path
    with np.load(path) as data:
        assert set(data.files) == ALL
        assert data["0.weight"].shape == (64, 64) and data["4.weight"].shape == (10, 32)


def test_shipped_weights_are_what_the_pretrain_script_makes(tmp_path):
    out = tmp_path / "weights.npz"
    assert pretrain.main([str(out)]) == 0
    with np.load(out) as made, np.load(N.pretrained_path()) as shipped:
        assert set(made.files) == set(shipped.files)
        for k in made.files:
            # same machine: bit for bit; the tolerance only allows another BLAS's rounding
            np.testing.assert_allclose(made[k], shipped[k], rtol=1e-6, atol=1e-8, err_msg=k)


def test_pretrained_network_reads_upright_digits_not_negatives(rng):
    model = N.load_pretrained()
    x, y = N.source_task()
    assert N.accuracy_of(model, x, y) > 0.9  # most of these it was trained on
    xn, yn, xt, yt = N.target_task(rng=rng)
    # the new task really is new: the old network fails on negatives
    assert N.accuracy_of(model, xt, yt) < 0.3


def test_loaded_weights_agree_across_numpy_torch_and_builtin():
    x, _ = N.source_task()
    np_model = N.load_pretrained()
    th_model = T.load_pretrained(dtype=torch.float64)
    with np.load(N.pretrained_path()) as data:
        state = {k: data[k] for k in data.files}
        ref = builtin_mlp(state)
    assert set(np_model.state_dict()) == set(dict(th_model.state_dict())) == ALL
    xt = torch.as_tensor(x)
    expected = ref(xt)
    assert_close(np_model.forward(x), expected)
    assert_close(th_model(xt), expected)


def test_loading_weights_leaves_the_global_torch_stream_alone():
    state = torch.random.get_rng_state()
    T.load_pretrained()  # no new head: nothing random is asked for
    assert torch.equal(torch.random.get_rng_state(), state)


def test_accuracy_of_leaves_the_model_in_its_mode():
    x, y = N.source_task()
    np_model, th_model = N.load_pretrained(), T.load_pretrained()
    np_model.eval()
    th_model.eval()
    N.accuracy_of(np_model, x, y)
    T.accuracy_of(th_model, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y))
    assert not np_model.training and not th_model.training
    np_model.train()
    th_model.train()
    N.accuracy_of(np_model, x, y)
    T.accuracy_of(th_model, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y))
    assert np_model.training and th_model.training


def test_new_head_is_fresh_and_drawn_from_the_generator(rng):
    a = N.load_pretrained(3, rng=np.random.default_rng(1))
    b = N.load_pretrained(3, rng=np.random.default_rng(1))
    c = N.load_pretrained(3, rng=np.random.default_rng(2))
    assert a.params["4.weight"].shape == (3, 32)
    np.testing.assert_array_equal(a.params["4.weight"], b.params["4.weight"])
    assert not np.array_equal(a.params["4.weight"], c.params["4.weight"])
    np.testing.assert_array_equal(a.params["0.weight"], c.params["0.weight"])  # body kept
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    ta, tb = T.load_pretrained(3, generator=g(1)), T.load_pretrained(3, generator=g(1))
    assert ta[-1].weight.shape == (3, 32)
    assert torch.equal(ta[-1].weight, tb[-1].weight)
    bound = 1 / np.sqrt(32)
    assert np.abs(a.params["4.weight"]).max() <= bound and float(ta[-1].weight.detach().abs().max()) <= bound


# --- freezing: NumPy -------------------------------------------------------------------------


@pytest.mark.parametrize("regime", N.REGIMES)
def test_numpy_regime_trains_exactly_what_it_claims(regime, rng):
    model = N.transfer_model(regime, rng=rng)
    assert set(model.params) == TRAINED[regime]
    assert set(N.trainable_params(model)) == TRAINED[regime]
    assert set(model.state_dict()) == ALL  # frozen arrays are still saved
    before = model.state_dict()
    x, y, _, _ = N.target_task(rng=rng)
    opt = NO.SGD(N.trainable_params(model), lr=0.05, momentum=0.9)
    NTr.fit(model, NL.CrossEntropyLoss(), opt, x[:200], y[:200], epochs=2, batch_size=32, rng=rng, progress=False)
    after = model.state_dict()
    assert set(model.grads) == TRAINED[regime]  # frozen arrays get no gradient entry
    for k in ALL:
        if k in TRAINED[regime]:
            assert not np.array_equal(before[k], after[k]), f"{k} should have been trained"
        else:
            np.testing.assert_array_equal(before[k], after[k], err_msg=f"{k} should be frozen")


def test_numpy_frozen_backward_is_the_true_input_gradient(rng):
    model = N.transfer_model("softmax", rng=rng)
    x = rng.uniform(size=(4, 64))
    y = np.array([0, 3, 9, 4])
    loss = NL.CrossEntropyLoss()

    def f(x_):
        return loss.forward(model.forward(x_), y)

    f(x)
    dx = model.backward(loss.backward())
    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)
    # and identical to the unfrozen network's: freezing changes updates, not gradients
    free = N.unfreeze(copy.deepcopy(model))
    loss.forward(free.forward(x), y)
    np.testing.assert_array_equal(free.backward(loss.backward()), dx)
    assert set(free.params) == ALL


def test_numpy_freeze_by_name_index_and_layer(rng):
    model = N.make_mlp(rng=rng)
    N.freeze(model, "0.weight")
    assert set(model.params) == ALL - {"0.weight"}
    assert set(model.buffers) == {"0.weight"}
    N.freeze(model, [model[2], -1])  # a layer object and a negative index
    assert set(model.params) == {"0.bias"}
    N.freeze(model, "0")  # a layer prefix; merges with what is frozen already
    assert model.params == {}
    assert isinstance(model[0], N.Frozen) and model[0].names == {"weight", "bias"}
    N.unfreeze(model, ["2.bias"])
    assert set(model.params) == {"2.bias"}
    N.unfreeze(model)
    assert set(model.params) == ALL
    assert not any(isinstance(layer, N.Frozen) for layer in model)
    N.freeze(model, 1)  # a ReLU: nothing to freeze, nothing wrapped
    assert not isinstance(model[1], N.Frozen) and set(model.params) == ALL


def test_numpy_frozen_layer_follows_train_eval_and_state_dict(rng):
    model = N.freeze(N.make_mlp(rng=rng), [0, 2])
    model.eval()
    assert not model[0].training and not model[0].layer.training
    model.train()
    assert model[0].layer.training
    other = N.make_mlp(rng=np.random.default_rng(5))
    model.load_state_dict(other.state_dict())  # into params and frozen arrays alike
    x = rng.uniform(size=(3, 64))
    np.testing.assert_array_equal(model.forward(x), other.forward(x))
    assert "Frozen(" in repr(model)


# --- freezing: torch -------------------------------------------------------------------------


@pytest.mark.parametrize("regime", T.REGIMES)
def test_torch_regime_trains_exactly_what_it_claims(regime, generator, device):
    model = T.transfer_model(regime, generator=generator, device=device)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == TRAINED[regime]
    assert set(T.trainable_params(model)) == TRAINED[regime]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y, _, _ = T.target_task(generator=generator, device=device)
    opt = TO.SGD(list(T.trainable_params(model).values()), lr=0.05, momentum=0.9)
    TTr.fit(model, TLoss.CrossEntropyLoss(), opt, x[:200], y[:200], epochs=2, batch_size=32,
            generator=generator, progress=False)
    for name, p in model.named_parameters():
        if name in TRAINED[regime]:
            assert p.grad is not None and not torch.equal(before[name], p.detach())
        else:
            assert p.grad is None, f"{name} is frozen but got a gradient"
            assert torch.equal(before[name], p.detach()), f"{name} should be frozen"


def test_torch_freeze_by_name_index_module_and_unfreeze(generator):
    model = T.make_mlp(generator=generator)
    T.freeze(model, "0.weight")
    assert set(T.trainable_params(model)) == ALL - {"0.weight"}
    T.freeze(model, [model[2], -1])
    assert set(T.trainable_params(model)) == {"0.bias"}
    T.freeze(model, "0")
    assert T.trainable_params(model) == {}
    T.unfreeze(model, "2.bias")
    assert set(T.trainable_params(model)) == {"2.bias"}
    T.unfreeze(model)
    assert set(T.trainable_params(model)) == ALL


def test_frozen_training_matches_across_numpy_torch_and_builtin(rng):
    """The 'last_layers' regime, full batch, 30 steps, float64: NumPy, torch twin, torch built-in."""
    np_model = N.transfer_model("last_layers", rng=rng)
    state = np_model.state_dict()
    th_model = T.transfer_model("last_layers", dtype=torch.float64)
    th_model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    ref = builtin_mlp(state)
    ref[0].requires_grad_(False)
    x, y, _, _ = N.target_task(rng=rng)
    x, y = x[:64], y[:64]
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    kw = dict(lr=0.1, momentum=0.9, nesterov=True)
    np_opt = NO.SGD(N.trainable_params(np_model), **kw)
    th_opt = TO.SGD(list(T.trainable_params(th_model).values()), **kw)
    ref_opt = torch.optim.SGD([p for p in ref.parameters() if p.requires_grad], **kw)
    np_loss, th_loss = NL.CrossEntropyLoss(), TLoss.CrossEntropyLoss()
    for _ in range(30):
        np_loss.forward(np_model.forward(x), y)
        np_model.backward(np_loss.backward())
        np_opt.step(np_model.grads)
        for model, opt, loss_fn in ((th_model, th_opt, th_loss), (ref, ref_opt, torch.nn.functional.cross_entropy)):
            opt.zero_grad()
            loss_fn(model(xt), yt).backward()
            opt.step()
    final = np_model.state_dict()
    assert not np.array_equal(final["2.weight"], state["2.weight"])
    np.testing.assert_array_equal(final["0.weight"], state["0.weight"])
    for k in ALL:
        assert_close(th_model.state_dict()[k], final[k], rtol=1e-9, atol=1e-11)
        assert_close(ref.state_dict()[k], final[k], rtol=1e-9, atol=1e-11)
    assert ref[0].weight.grad is None and th_model[0].weight.grad is None


# --- the tasks ---------------------------------------------------------------------------------


def test_tasks_are_disjoint_halves_and_negatives(rng):
    xs, ys = N.source_task()
    x, y, xt, yt = N.target_task(rng=rng)
    assert len(xs) + len(x) + len(xt) == 1797
    assert set(np.unique(ys)) == set(np.unique(y)) == set(range(10))
    assert abs(len(xt) / (len(x) + len(xt)) - 0.3) < 0.01
    # negatives: the paper is bright, so the mean pixel is high
    assert xs.mean() < 0.4 < 0.6 < x.mean()
    assert x.min() >= 0 and x.max() <= 1
    # no negative is the inverse of a pretraining picture
    assert not (np.abs((1 - x)[:, None, :] - xs[None, :, :]).sum(axis=2) == 0).any()
    tx, ty, ttx, tty = T.target_task(generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert len(tx) == len(x) and len(ttx) == len(xt)
    # another split of the same pictures
    assert_close(torch.sort(torch.cat([tx, ttx]).sum(dim=1)).values, np.sort(np.concatenate([x, xt]).sum(axis=1)))


@pytest.mark.parametrize("n", [1, 7, 30, 100, 628])
def test_stratified_subset_spreads_the_classes(n, rng, generator):
    x, y, _, _ = N.target_task(rng=rng)
    n = min(n, len(y))
    for xs, ys in (N.stratified_subset(x, y, n, rng=rng),
                   tuple(map(to_numpy, T.stratified_subset(torch.as_tensor(x), torch.as_tensor(y), n, generator=generator)))):
        assert len(ys) == n
        counts = np.bincount(ys, minlength=10)
        available = np.bincount(y, minlength=10)
        # no class gets 2 more than another unless that one has run out
        short = counts == available
        assert counts[~short].max(initial=0) - counts[~short].min(initial=n) <= 1 or short.any()
        assert counts[~short].max(initial=0) - counts.min() <= 1 or short.any()
        # rows come from the pool with their labels
        rows = {tuple(r): lab for r, lab in zip(x, y)}
        assert all(rows[tuple(r)] == lab for r, lab in zip(xs, ys))
        assert len({tuple(r) for r in xs}) == n  # no row twice


# --- the experiment ----------------------------------------------------------------------------


def test_pretrained_start_beats_scratch_on_the_small_set():
    # One run's accuracy spreads by about 0.05; over 4 runs the mean gap (about 0.1) is clear.
    res = N.transfer_experiment(sizes=(30,), regimes=("softmax", "fine_tune", "scratch"), repeats=4,
                                rng=np.random.default_rng(0))
    assert res.accuracy["softmax"][0] > res.accuracy["scratch"][0] + 0.03
    assert res.accuracy["fine_tune"][0] > res.accuracy["scratch"][0] + 0.03
    assert res.best(30) != "scratch"
    assert res.trainable == {"softmax": 330, "fine_tune": 6570, "scratch": 6570}
    assert res.repeats == 4


def test_torch_pretrained_start_beats_scratch_on_the_small_set():
    res = T.transfer_experiment(sizes=(30,), regimes=("softmax", "scratch"), repeats=6,
                                generator=torch.Generator().manual_seed(0))
    assert res.accuracy["softmax"][0] > res.accuracy["scratch"][0] + 0.03


def test_results_table_shape_and_text():
    res = N.transfer_experiment(sizes=(20, 40), regimes=("softmax", "scratch"), steps=5, repeats=2,
                                rng=np.random.default_rng(1))
    assert res.sizes == (20, 40) and res.regimes == ("softmax", "scratch")
    for r in res.regimes:
        assert len(res.accuracy[r]) == 2 and len(res.accuracy_std[r]) == 2
        assert all(0 <= a <= 1 for a in res.accuracy[r])
    text = str(res)
    assert "n = 20" in text and "softmax" in text and "scratch" in text
    md = res._repr_markdown_()
    assert md.startswith("| regime") and md.count("\n|") >= 3
    with pytest.raises(ValueError, match="'size'"):
        res.best(25)


# --- bad input ---------------------------------------------------------------------------------

BAD = [
    (N.make_mlp, ((64,),), {}, ValueError, "sizes"),
    (N.make_mlp, ((64, 0, 3),), {}, ValueError, "sizes"),
    (N.make_mlp, (), {"rng": 3}, TypeError, "rng"),
    (N.load_pretrained, (0,), {}, ValueError, "num_classes"),
    (N.load_pretrained, (), {"path": "/nonexistent.npz"}, ValueError, "path"),
    (N.transfer_model, ("all",), {}, ValueError, "regime"),
    (N.target_task, (), {"test_size": 1.0}, ValueError, "test_size"),
    (N.transfer_experiment, ((30, 10_000),), {}, ValueError, "sizes"),
    (N.transfer_experiment, ((30,),), {"regimes": ("softmax", "everything")}, ValueError, "regimes"),
    (N.transfer_experiment, ((30,),), {"lr": -1.0}, ValueError, "lr"),
    (N.transfer_experiment, ((30,),), {"lr": {"softmax": 0.1}}, ValueError, "lr"),
    (N.transfer_experiment, ((30,),), {"repeats": 0}, ValueError, "repeats"),
    (N.transfer_experiment, ("30",), {}, TypeError, "sizes"),
    (N.trainable_params, ("model",), {}, TypeError, "model"),
    (N.freeze, ("model", 0), {}, TypeError, "model"),
]
BAD_TORCH = [
    (T.make_mlp, ((64,),), {}, ValueError, "sizes"),
    (T.make_mlp, (), {"generator": np.random.default_rng()}, TypeError, "generator"),
    (T.load_pretrained, (0,), {}, ValueError, "num_classes"),
    (T.transfer_model, ("all",), {}, ValueError, "regime"),
    (T.transfer_experiment, ((30,),), {"momentum": 1.0}, ValueError, "momentum"),
    (T.trainable_params, ("model",), {}, TypeError, "model"),
    (T.freeze, ("model", 0), {}, TypeError, "model"),
]


@pytest.mark.parametrize("fn, args, kwargs, exc, name", BAD + BAD_TORCH,
                         ids=[f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}-{n}-{i}" for i, (f, _, _, _, n) in enumerate(BAD + BAD_TORCH)])
def test_bad_input(fn, args, kwargs, exc, name):
    assert_refused(lambda: fn(*args, **kwargs), exc, f"The '{name}' parameter", "Got")


@pytest.mark.parametrize("twin", ["numpy", "torch"])
@pytest.mark.parametrize("layers, exc", [(6, ValueError), (-7, ValueError), ("7.weight", ValueError),
                                         ("0.gamma", ValueError), (1.5, TypeError), (None, TypeError)])
def test_bad_freeze_targets(twin, layers, exc, rng):
    mod = N if twin == "numpy" else T
    model = N.make_mlp(rng=rng) if twin == "numpy" else T.make_mlp()
    with pytest.raises(exc, match="'layers'"):
        mod.freeze(model, layers)


def test_freeze_refuses_a_layer_from_another_model(rng):
    with pytest.raises(ValueError, match="'layers'"):
        N.freeze(N.make_mlp(rng=rng), N.make_mlp(rng=rng)[0])
    with pytest.raises(ValueError, match="'layers'"):
        T.freeze(T.make_mlp(), T.make_mlp()[0])
    with pytest.raises(ValueError, match="'names'"):
        N.Frozen(N.make_mlp(rng=rng)[0], ["gamma"])


# --- checks at the door; the experiment's bookkeeping shared by the twins ------------------------


def test_a_bad_freeze_leaves_the_model_as_it_was(rng):
    model = N.make_mlp(rng=rng)
    with pytest.raises(ValueError, match="'layers'"):
        N.freeze(model, [0, 99])  # the first target is good, the second is not: nothing is frozen
    assert not any(isinstance(layer, N.Frozen) for layer in model.layers)
    tmodel = T.make_mlp()
    with pytest.raises(ValueError, match="'layers'"):
        T.freeze(tmodel, ["0.weight", "9.weight"])
    assert all(p.requires_grad for p in tmodel.parameters())


def test_frozen_refuses_names_it_would_use_up(rng):
    with pytest.raises(TypeError, match="'names'"):
        N.Frozen(N.make_mlp(rng=rng)[0], iter(["weight"]))


@pytest.mark.parametrize("mod", [N, T], ids=["numpy", "torch"])
@pytest.mark.parametrize("kwargs, exc, name", [
    ({"progress": "yes"}, TypeError, "progress"),
    ({"lr": {"softmax": 0.1}}, ValueError, "lr"),
    ({"lr": {"softmax": -0.1, "scratch": 0.1}}, ValueError, "lr"),
    ({"steps": 0}, ValueError, "steps"),
])
def test_transfer_experiment_refuses_before_any_training(mod, kwargs, exc, name, monkeypatch):
    monkeypatch.setattr(mod, "target_task", lambda **_: pytest.fail("work started before the checks"))
    with pytest.raises(exc, match=f"'{name}'.*Got"):
        mod.transfer_experiment((30,), regimes=("softmax", "scratch"), **kwargs)


def test_run_experiment_is_the_loop_of_both_twins():
    from tipslib.transfer._shared import run_experiment

    drawn, trained = [], []

    def draw_subset(size):
        drawn.append(size)
        return f"x{size}", f"y{size}"

    def train_and_score(regime, x, y, epochs):
        trained.append((regime, x, epochs))
        return {"softmax": 0.5, "scratch": 0.25}[regime] + 0.125 * (len(trained) % 2), 7

    res = run_experiment((10, 40), ("softmax", "scratch"), 2, 12, 8, draw_subset, train_and_score, False)
    assert drawn == [10, 10, 40, 40]
    assert [e for _, x, e in trained if x == "x10"] == [6] * 4  # 12 steps of 2 batches per epoch
    assert [e for _, x, e in trained if x == "x40"] == [2] * 4  # 5 batches per epoch
    assert res.sizes == (10, 40) and res.trainable == {"softmax": 7, "scratch": 7}
    assert len(res.accuracy["softmax"]) == 2 and all(s >= 0 for s in res.accuracy_std["scratch"])
