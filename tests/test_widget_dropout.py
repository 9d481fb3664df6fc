"""The dropout explorer: its pure compute functions, and the view driven headlessly."""

import math

import numpy as np
import pytest
from helpers import blit_mismatch

from tipslib.widgets.dropout import (
    DRAWN_SIZES, P_GRID, DropoutExplorer, dropout_curves, final_metrics, network_layout, network_masks,
    small_noisy_digits,
)

SMALL = dict(epochs=3, hidden=8, n_train=40, n_val=60, seeds=(0,))


def test_layout_has_every_unit_and_connection():
    sizes = (3, 4, 2)
    nodes, edges = network_layout(sizes)
    assert nodes.shape == (9, 2)
    assert len(edges) == 3 * 4 + 4 * 2
    # every connection joins consecutive columns, left to right
    assert np.all(nodes[edges[:, 1], 0] - nodes[edges[:, 0], 0] == 1)
    assert len({tuple(e) for e in edges}) == len(edges)
    for col, s in enumerate(sizes):
        ys = nodes[nodes[:, 0] == col, 1]
        assert len(ys) == s and ys.mean() == pytest.approx(0.0)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.7])
def test_masks_drop_hidden_units_with_probability_p(p, rng):
    sizes = (5, 50, 50, 3)
    draws = [network_masks(sizes, p, rng) for _ in range(400)]
    assert all(m[0].all() and m[-1].all() for m in draws)
    hidden = np.concatenate([np.concatenate(m[1:-1]) for m in draws])
    dropped = 1 - hidden.mean()
    bound = 6 * math.sqrt(max(p * (1 - p), 1e-12) / hidden.size)
    assert abs(dropped - p) <= bound
    assert [len(m) for m in draws[0]] == list(sizes)


def test_mask_bad_input(rng):
    with pytest.raises(ValueError, match="'p' parameter of network_masks must be a float in the range \\[0, 1\\)"):
        network_masks((2, 3, 2), 1.0, rng)
    with pytest.raises(TypeError, match="'rng' parameter of network_masks"):
        network_masks((2, 3, 2), 0.5, 0)
    with pytest.raises(ValueError, match="'layer_sizes' parameter of network_masks"):
        network_masks((2,), 0.5, rng)
    with pytest.raises(ValueError, match="'layer_sizes' parameter of network_layout"):
        network_layout((2, 0))


def test_noisy_digits_change_exactly_the_stated_fraction_of_labels():
    from tipslib.data import load_digits

    x, y = load_digits()
    x_tr, y_tr, x_va, y_va, wrong = small_noisy_digits(7, n_train=50, n_val=80, label_noise=0.2)
    assert x_tr.shape == (50, 64) and x_va.shape == (80, 64) and wrong.sum() == 10
    # recover each digit's true label from its pixels (the digits data has no exact duplicates across labels)
    truth = {row.tobytes(): label for row, label in zip(x, y)}
    true_tr = np.array([truth[row.tobytes()] for row in x_tr])
    assert np.all(y_tr[wrong] != true_tr[wrong]) and np.all(y_tr[~wrong] == true_tr[~wrong])
    assert np.all(y_va == [truth[row.tobytes()] for row in x_va])  # validation labels are clean
    assert not {r.tobytes() for r in x_tr} & {r.tobytes() for r in x_va}
    again = small_noisy_digits(7, n_train=50, n_val=80, label_noise=0.2)
    assert all(np.array_equal(a, b) for a, b in zip((x_tr, y_tr, x_va, y_va, wrong), again))
    assert not np.array_equal(small_noisy_digits(8, n_train=50, n_val=80)[0], x_tr)
    assert small_noisy_digits(7, n_train=50, n_val=80, label_noise=0.0)[4].sum() == 0
    with pytest.raises(ValueError, match="'label_noise' parameter of small_noisy_digits"):
        small_noisy_digits(0, label_noise=1.5)


def test_curves_shapes_determinism_and_copies():
    a = dropout_curves((0.0, 0.5), **SMALL)
    b = dropout_curves((0.0, 0.5), **SMALL)
    assert a["train_loss"].shape == a["val_acc"].shape == (2, 3)
    assert a["val_loss_runs"].shape == (1, 2, 3) and np.all(a["val_loss_std"] == 0)  # one seed: no spread
    assert np.array_equal(a["p"], [0.0, 0.5]) and np.array_equal(a["epoch"], [1, 2, 3])
    for k in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert np.isfinite(a[k]).all()
        assert np.array_equal(a[k], b[k])
    a["val_loss"][:] = -1  # a caller's edit must not reach the cache
    assert np.all(dropout_curves((0.0, 0.5), **SMALL)["val_loss"] > 0)
    assert np.all((0 <= b["val_acc"]) & (b["val_acc"] <= 1))


def test_curves_summarise_the_seeds():
    c = dropout_curves((0.0, 0.5), **{**SMALL, "seeds": (0, 1, 2)})
    runs = c["val_loss_runs"]
    assert runs.shape == (3, 2, 3) and np.array_equal(c["seeds"], [0, 1, 2])
    np.testing.assert_allclose(c["val_loss"], runs.mean(axis=0))
    np.testing.assert_allclose(c["val_loss_std"], runs.std(axis=0, ddof=1))
    assert not np.array_equal(runs[0], runs[1])  # different seeds, different data and weights
    # seed 0 alone is the first row of the three-seed run
    np.testing.assert_allclose(dropout_curves((0.0, 0.5), **SMALL)["val_loss_runs"][0], runs[0])
    final = final_metrics(c, last=2)
    np.testing.assert_allclose(final["val_acc"], c["val_acc_runs"][:, :, -2:].mean(axis=2))
    assert final["train_loss"].shape == (3, 2)


def test_curves_train_without_dropout_learns():
    c = dropout_curves((0.0,), epochs=30, hidden=32, n_train=60, n_val=100, label_noise=0.0, seeds=(0,))
    assert c["train_loss"][0, -1] < 0.5 * c["train_loss"][0, 0]
    assert c["val_acc"][0, -1] > 0.5


def test_curves_bad_input():
    with pytest.raises(ValueError, match="'p_grid' parameter of dropout_curves"):
        dropout_curves((0.0, 1.0))
    with pytest.raises(ValueError, match="'p_grid' parameter of dropout_curves must hold at least one"):
        dropout_curves(())
    with pytest.raises(ValueError, match="'epochs' parameter of dropout_curves"):
        dropout_curves((0.0,), epochs=0)
    with pytest.raises(ValueError, match="'lr' parameter of dropout_curves"):
        dropout_curves((0.0,), lr=float("nan"))
    with pytest.raises(ValueError, match="'seeds' parameter of dropout_curves must hold at least one"):
        dropout_curves((0.0,), seeds=())
    with pytest.raises(ValueError, match="'seeds' parameter of dropout_curves"):
        dropout_curves((0.0,), seeds=(-1,))


def test_default_curves_tell_the_story():
    """Without dropout the network memorises its noisy 100 digits; a moderate p beats it on
    validation loss and accuracy, by more than the seed-to-seed spread; p = 0.8 underfits."""
    c = dropout_curves()
    final = final_metrics(c)
    val, acc = final["val_loss"], final["val_acc"]
    best = int(np.argmin(val.mean(axis=0)))
    assert 0.3 <= P_GRID[best] <= 0.7
    assert np.all(final["train_acc"][:, 0] > 0.99)  # memorised, wrong labels included
    assert val[:, 0].mean() - val[:, best].mean() > val[:, 0].std(ddof=1) + val[:, best].std(ddof=1)
    assert np.all(acc[:, best] > acc[:, 0])  # better on every seed
    assert val[:, -1].mean() > val[:, best].mean() and acc[:, -1].mean() < acc[:, 0].mean()  # p = 0.8 underfits


@pytest.mark.slow
def test_shipped_curves_are_what_the_code_computes():
    """The widget opens with precomputed curves; they must be exactly what training gives now."""
    from tipslib.widgets.dropout import SHIPPED_CURVES

    assert SHIPPED_CURVES.is_file()
    shipped = dropout_curves()
    fresh = dropout_curves(recompute=True)
    for k in ("train_loss_runs", "val_loss_runs", "train_acc_runs", "val_acc_runs", "p", "epoch", "seeds"):
        np.testing.assert_allclose(shipped[k], fresh[k], rtol=1e-6, atol=1e-9)


def test_shipped_curves_are_only_used_for_their_own_configuration():
    a = dropout_curves((0.0,), **SMALL)
    assert a["train_loss"].shape == (1, 3)  # not the shipped 9 x 60
    from tipslib.widgets import dropout as D

    defaults = {k: v.default for k, v in D._signature_defaults().items()}
    assert D._load_shipped(P_GRID, defaults) is not None
    # other seeds (another TIPSLIB_SEED_SET) must train, not read the shipped seeds 0, 1, 2
    assert D._load_shipped(P_GRID, {**defaults, "seeds": (1000, 1001, 1002)}) is None


def test_explorer_updates_in_place():
    w = DropoutExplorer(p=0.0, seed=1, **SMALL)
    w.refresh()
    image0 = w.image.value
    train_line = w._train
    assert np.allclose(train_line.get_ydata(), w.curves["train_loss"][0])
    assert w.keep_label.value.endswith("1.0")
    w.update(p=0.6)
    i = P_GRID.index(0.6)
    assert w._train is train_line  # the same artist, new data
    assert np.allclose(train_line.get_ydata(), w.curves["train_loss"][i])
    assert np.allclose(w._val.get_ydata(), w.curves["val_loss"][i])
    assert w.keep_label.value == "keep probability 1 - p = 0.4"
    assert w._p_line.get_xdata()[0] == pytest.approx(0.6)
    assert bytes(w.image.value) != bytes(image0) and bytes(w.image.value).startswith(b"\x89PNG")
    assert w.last_update_seconds > 0
    # the drawing shows the mask: dropped hidden units are white
    keep = np.concatenate(w.masks)
    faces = w._node_art.get_facecolors()
    assert np.all(faces[~keep, :3] == 1.0) and np.all(faces[keep, :3] < 1.0)
    assert len(keep) == sum(DRAWN_SIZES)


def test_fast_frames_match_a_full_draw():
    w = DropoutExplorer(p=0.0)
    w.refresh()
    for p in (0.6, 0.2, 0.8):
        w.update(p=p)
        assert blit_mismatch(w) < 5e-4


def test_explorer_draws_a_new_mask_each_change():
    w = DropoutExplorer(p=0.5, seed=3, **SMALL)
    seen = set()
    for p in (0.5, 0.4, 0.5, 0.4, 0.5, 0.4):
        w.update(p=p)
        seen.add(np.concatenate(w.masks).tobytes())
    assert len(seen) > 1


def test_explorer_controls_drive_it_like_a_user():
    w = DropoutExplorer(p=0.2, **SMALL)
    w.refresh()
    w.controls["p"].value = 0.8  # what the slider does in the browser
    assert w.keep_label.value.endswith("0.2")
    assert np.allclose(w._train.get_ydata(), w.curves["train_loss"][P_GRID.index(0.8)])


def test_explorer_bad_input():
    with pytest.raises(ValueError, match="'p' parameter of DropoutExplorer must be a float in the range \\[0, 0.8\\]"):
        DropoutExplorer(p=0.95, **SMALL)
    with pytest.raises(ValueError, match="keyword arguments of DropoutExplorer.update"):
        DropoutExplorer(**SMALL).update(q=0.1)


def test_a_diverging_configuration_draws_with_finite_limits_and_says_so():
    """lr = 50 blows training up (losses ~1e270, then NaN): the constructor used to set log limits up to
    8e270 and the first refresh died in matplotlib's tick formatter (OverflowError)."""
    import warnings

    from tipslib.widgets.dropout import LOSS_CAP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit's own warning that the loss became NaN, and overflows in the twins
        w = DropoutExplorer(seeds=[0], epochs=4, lr=50.0)
        w.refresh()
        w.update(p=0.0)
    assert w.diverged.all()
    low, high = w.ax_curve.get_ylim()
    assert 0 < low < high <= LOSS_CAP
    for line in (w._train, w._val):
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.all(np.isnan(y) | (y <= high))  # past the top: drawn at the top; stopped: left out
    assert np.isfinite(w.ax_p.get_ylim()).all()
    assert "blew up" in w._titles[w.ax_curve].get_text() and "blew up" in w._titles[w.ax_p].get_text()
    assert bytes(w.image.value).startswith(b"\x89PNG")


def test_the_legend_counts_one_seed_as_one_seed():
    w = DropoutExplorer(**SMALL)  # one seed
    labels = [t.get_text() for t in w.ax_p.get_legend().get_texts()]
    assert "validation (± spread, 1 seed)" in labels
    assert not any(w.diverged)
    w = DropoutExplorer(**{**SMALL, "seeds": (0, 1)})
    assert "validation (± spread, 2 seeds)" in [t.get_text() for t in w.ax_p.get_legend().get_texts()]
