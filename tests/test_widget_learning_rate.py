"""Learning-rate explorer: the compute functions, then the view driven headlessly."""

import numpy as np
import pytest

from tipslib.optim import numpy_impl as O
from tipslib.widgets import learning_rate as LR
from tipslib.widgets._base import FigureWidget

ALL_OPTIMIZERS = LR.optimizer_names()


# --- the surfaces ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LR.SURFACES))
def test_surface_gradient_matches_finite_differences(name, rng):
    s = LR.SURFACES[name]
    h = 1e-6
    for x, y in rng.uniform(-1.5, 1.5, size=(20, 2)):
        gx, gy = s.grad(x, y)
        nx = (s.f(x + h, y) - s.f(x - h, y)) / (2 * h)
        ny = (s.f(x, y + h) - s.f(x, y - h)) / (2 * h)
        np.testing.assert_allclose([gx, gy], [nx, ny], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LR.SURFACES))
def test_surface_minimum_is_a_stationary_point_below_a_grid(name):
    s = LR.SURFACES[name]
    np.testing.assert_allclose(s.grad(*s.minimum), [0.0, 0.0], atol=1e-12)
    gx, gy = np.meshgrid(np.linspace(*s.xlim, 201), np.linspace(*s.ylim, 201))
    assert (s.f(gx, gy) >= s.f_min - 1e-12).all()


# --- optimize_path ---------------------------------------------------------------------------


def test_every_tipslib_optimizer_is_offered():
    classes = {n for n in O.__all__ if isinstance(getattr(O, n), type)
               and issubclass(getattr(O, n), O.Optimizer) and n != "Optimizer"}
    assert set(ALL_OPTIMIZERS) == classes and "SGD" in classes
    assert ALL_OPTIMIZERS[0] == "SGD"


def test_sgd_on_the_bowl_is_exact_gradient_descent():
    """SGD with no momentum: each coordinate shrinks by (1 - lr * curvature) per step."""
    path, losses = LR.optimize_path("bowl", "SGD", 0.05, 40)
    t = np.arange(41)
    np.testing.assert_allclose(path[:, 0], -4.0 * (1 - 0.05) ** t, rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], 1.5 * (1 - 0.5) ** t, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(losses, 0.5 * (path[:, 0] ** 2 + 10 * path[:, 1] ** 2), rtol=1e-12)


def test_good_rate_converges_on_the_bowl():
    path, losses = LR.optimize_path("bowl", "SGD", 0.1, 200)
    assert path.shape == (201, 2) and losses.shape == (201,)
    assert losses[-1] < 1e-6 * losses[0]
    assert np.linalg.norm(path[-1]) < 1e-3
    assert LR.classify_run(losses, 200) == "converging"


def test_rate_beyond_two_over_curvature_diverges_and_stops_finite():
    # the steep direction has curvature 10: SGD is stable only for lr < 0.2
    path, losses = LR.optimize_path("bowl", "SGD", 0.25, 500)
    assert len(path) < 501, "should have stopped"
    assert np.isfinite(path).all() and np.isfinite(losses).all()
    assert losses[-1] > LR.DIVERGED
    assert LR.classify_run(losses, 500) == "diverged"


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
@pytest.mark.parametrize("surface", sorted(LR.SURFACES))
def test_huge_rates_never_give_nan_or_inf(name, surface):
    for lr in (10.0, 1e6, 1e300):
        path, losses = LR.optimize_path(surface, name, lr, 100)
        assert np.isfinite(path).all() and np.isfinite(losses).all() and (losses >= 0).all()
        curve = LR.train_digits_curve(name, lr, 5)
        assert len(curve) >= 1 and np.isfinite(curve).all()


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_tiny_rate_stays_at_the_start(name):
    s = LR.SURFACES["bowl"]
    path, losses = LR.optimize_path("bowl", name, 1e-9, 50)
    assert len(path) == 51
    # adaptive methods move about lr per step at most; plain SGD lr * gradient
    assert np.abs(path - np.array(s.start)).max() < 1e-6
    assert LR.classify_run(losses, 50) == "crawling"


def test_zero_rate_does_not_move_at_all():
    path, _ = LR.optimize_path("rosenbrock", "Adam", 0.0, 10)
    np.testing.assert_array_equal(path, np.tile(LR.SURFACES["rosenbrock"].start, (11, 1)))


def test_path_uses_the_optimizer_it_names():
    """Adam's first step moves every coordinate by lr, whatever the gradient's size."""
    path, _ = LR.optimize_path("bowl", "Adam", 0.01, 1)
    np.testing.assert_allclose(np.abs(path[1] - path[0]), [0.01, 0.01], rtol=1e-6)
    # options reach the optimizer: heavy momentum changes the path
    a, _ = LR.optimize_path("bowl", "SGD", 0.01, 20)
    b, _ = LR.optimize_path("bowl", "SGD", 0.01, 20, options={"momentum": 0.9})
    assert not np.allclose(a, b)


def test_saddle_sgd_escapes_slowly_and_adam_fast():
    sgd_path, sgd = LR.optimize_path("saddle", "SGD", 0.01, 200)
    _, adam = LR.optimize_path("saddle", "Adam", 0.05, 200)
    # SGD slid down to the saddle point (0, 0), whose gap is 0.25, and sits on its plateau
    assert abs(sgd_path[-1, 1]) < 0.1 and sgd[-1] > 0.2
    assert adam[-1] < 1e-3  # Adam's normalised steps leave the flat region at once


def test_custom_start():
    path, _ = LR.optimize_path("bowl", "SGD", 0.1, 3, start=(1.0, 0.0))
    np.testing.assert_allclose(path[:, 0], 0.9 ** np.arange(4))


# --- train_digits_curve ----------------------------------------------------------------------


def test_digits_curve_good_rate_learns():
    losses = LR.train_digits_curve("SGD", 1.0, 30)
    assert losses.shape == (31,)
    assert losses[0] == pytest.approx(np.log(10), abs=0.3)  # small random start: near uniform
    assert losses[-1] < 0.3 * losses[0]


def test_digits_curve_is_reproducible_and_starts_in_the_same_place():
    a = LR.train_digits_curve("Adam", 0.01, 10)
    b = LR.train_digits_curve("Adam", 0.01, 10)
    c = LR.train_digits_curve("SGD", 0.5, 10)
    np.testing.assert_array_equal(a, b)
    assert a[0] == c[0]


def test_digits_curve_tiny_rate_crawls_and_huge_rate_diverges():
    tiny = LR.train_digits_curve("SGD", 1e-4, 30)
    assert abs(tiny[-1] - tiny[0]) < 0.01 * tiny[0]
    huge = LR.train_digits_curve("SGD", 10.0, 30)
    assert len(huge) < 31 and huge[-1] > LR.DIVERGED
    assert LR.classify_run(huge, 30) == "diverged"


def test_digits_run_held_out_loss_and_seeds():
    train, held = LR.train_digits_run("SGD", 1.0, 20, seed=3)
    assert train.shape == held.shape == (21,)
    np.testing.assert_array_equal(train, LR.train_digits_curve("SGD", 1.0, 20, seed=3))
    # unseen digits: the held-out loss falls too, but ends above the training loss
    assert held[-1] < 0.5 * held[0] and held[-1] > train[-1]
    other = LR.train_digits_run("SGD", 1.0, 20, seed=4)[0]
    assert other[0] != train[0]                      # another seed, other starting weights
    np.testing.assert_array_equal(LR.train_digits_curve("SGD", 1.0, 20), LR.train_digits_curve("SGD", 1.0, 20, seed=0))


# --- schedules -------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", LR.SCHEDULES)
def test_schedule_learning_rates_follow_their_formula(schedule):
    """Plain SGD on the bowl: x_{t+1} = (1 - lr_t) x_t, so the path reveals every lr_t."""
    steps, lr = 30, 0.05
    path, _ = LR.optimize_path("bowl", "SGD", lr, steps, schedule=schedule)
    used = 1 - path[1:, 0] / path[:-1, 0]
    t = np.arange(steps)
    expected = {
        "constant": np.full(steps, lr),
        "step": lr * 0.3 ** (t // 10),
        "exponential": lr * 0.01 ** (t / steps),
        "cosine": lr * (1 + np.cos(np.pi * t / steps)) / 2,
        "warmup": lr * (0.05 + 0.95 * np.minimum(t, 6) / 6),
    }
    if schedule == "plateau":
        np.testing.assert_allclose(used, lr, rtol=1e-9)   # the loss falls at every step: never cut
    else:
        np.testing.assert_allclose(used, expected[schedule], rtol=1e-9)


def test_plateau_cuts_the_rate_when_the_loss_stalls():
    # at lr 0.2 = 2 / (steep curvature) the steep coordinate flips sign for ever and the gap
    # stalls at 11.25; the plateau schedule notices and cuts the rate, and then it converges
    _, constant = LR.optimize_path("bowl", "SGD", 0.2, 200)
    _, plateau = LR.optimize_path("bowl", "SGD", 0.2, 200, schedule="plateau")
    assert constant[-1] == pytest.approx(11.25) and plateau[-1] < 1e-6
    opt = O.SGD([np.zeros(2)], lr=1.0)
    sched = LR.make_schedule("plateau", opt, 100)
    for _ in range(7):
        sched.step(1.0)
    assert opt.lr == pytest.approx(0.3)


def test_schedules_reach_the_digits_run():
    constant = LR.train_digits_curve("SGD", 1.0, 20)
    np.testing.assert_array_equal(constant, LR.train_digits_curve("SGD", 1.0, 20, schedule=None))
    for schedule in LR.SCHEDULES[1:4]:
        assert not np.array_equal(constant, LR.train_digits_curve("SGD", 1.0, 20, schedule=schedule))
    assert LR.make_schedule("constant", O.SGD([np.zeros(1)], lr=1.0), 10) is None


# --- classify_run ----------------------------------------------------------------------------


@pytest.mark.parametrize("losses, steps, expected", [
    ([1.0, 0.5, 0.1, 0.01], 3, "converging"),
    ([1.0, 0.9, 0.8, 0.7], 3, "crawling"),
    ([1.0, 0.2, 0.5, 0.1, 0.3, 0.05], 5, "oscillating"),
    ([1.0, 2.0, 30.0], 5, "diverged"),       # stopped early
    ([1.0, 0.5, 2.0], 2, "diverged"),        # ended above the start
    ([3.0], 0, "crawling"),
    ([1.0, 42.0, 0.5, 0.01, 1e-4], 4, "unstable"),   # blew up on the way, then came back below the start
    ([1.0, 9.0, 0.5, 0.01, 1e-4], 4, "converging"),  # a jump under BLOWUP (10x) is not a blow-up
    ([1.0, 7e5, 0.0, 0.0, 0.0], 4, "unstable"),      # a memorised 0 after a huge spike
])
def test_classify_run(losses, steps, expected):
    assert LR.classify_run(np.array(losses), steps) == expected


def test_classify_run_sees_the_zig_zag_in_the_path():
    """Between lr 0.1 and 0.2 SGD zig-zags across the bowl while its loss still falls at every step."""
    path, losses = LR.optimize_path("bowl", "SGD", 0.15, 150)
    assert (np.diff(losses) < 0).all()
    assert LR.classify_run(losses, 150) == "converging"
    assert LR.classify_run(losses, 150, path) == "oscillating"
    path, losses = LR.optimize_path("bowl", "SGD", 0.05, 150)
    assert LR.classify_run(losses, 150, path) == "converging"
    with pytest.raises(ValueError, match="'path'"):
        LR.classify_run(losses, 150, path[:-1])


# --- the view --------------------------------------------------------------------------------


def test_widget_controls_and_base_class():
    import ipywidgets as w

    view = LR.LearningRateExplorer()
    assert isinstance(view, FigureWidget)
    assert isinstance(view.controls["lr"], w.FloatLogSlider)
    assert view.controls["lr"].min == -4 and view.controls["lr"].max == 1
    assert list(view.controls["optimizer"].options) == ALL_OPTIMIZERS
    assert list(view.controls["surface"].options) == sorted(LR.SURFACES, key=list(LR.SURFACES).index)
    assert list(view.controls["schedule"].options) == list(LR.SCHEDULES)
    assert bytes(view.image.value) == b""  # nothing drawn until shown or updated


def test_update_redraws_in_place_with_new_data():
    view = LR.LearningRateExplorer(lr=0.01)
    view.refresh()
    first_png = bytes(view.image.value)
    line = view._line
    first_xy = np.array(line.get_xydata())
    assert first_png.startswith(b"\x89PNG")
    view.update(lr=0.15)
    assert view._line is line  # the same artist, new data
    assert not np.array_equal(np.array(line.get_xydata()), first_xy)
    assert bytes(view.image.value) != first_png
    np.testing.assert_array_equal(line.get_xydata(), view.path)
    np.testing.assert_allclose(view.path, LR.optimize_path("bowl", "SGD", view.values["lr"], view.steps)[0])
    assert view.last_update_seconds > 0


def test_update_schedule_redraws_the_scheduled_runs():
    view = LR.LearningRateExplorer(lr=0.1)
    view.update(schedule="cosine")
    np.testing.assert_array_equal(view.path, LR.optimize_path("bowl", "SGD", 0.1, view.steps, schedule="cosine")[0])
    np.testing.assert_array_equal(view.digit_losses, LR.train_digits_curve("SGD", 0.1, view.digit_steps, schedule="cosine"))


def test_update_optimizer_and_surface_and_titles():
    view = LR.LearningRateExplorer()
    view.update(surface="rosenbrock", optimizer="Adam", lr=0.05)
    assert view._contours["rosenbrock"].get_visible() and not view._contours["bowl"].get_visible()
    assert view.ax_path.get_xlim() == LR.SURFACES["rosenbrock"].xlim
    assert "Adam" in view._title[view.ax_path].get_text()
    view.update(surface="bowl", optimizer="SGD", lr=0.5)
    assert "diverged" in view._title[view.ax_loss].get_text()
    y = view._loss_line.get_ydata()
    assert np.isfinite(y).all() and y.max() <= LR.LOSS_RANGE[1]
    assert np.isfinite(view._digit_line.get_ydata()).all()


def test_png_matches_a_full_render():
    """The blitted image shows what a plain savefig of the same figure shows."""
    import io

    from PIL import Image

    view = LR.LearningRateExplorer(lr=0.12)
    view.update(lr=0.12)
    fast = np.asarray(Image.open(io.BytesIO(bytes(view.image.value))).convert("RGB"), dtype=float)
    for a in view.blitter.artists:
        a.set_animated(False)
    buf = io.BytesIO()
    view.figure.savefig(buf, format="png", dpi=view.figure.dpi)
    full = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=float)
    assert fast.shape == full.shape
    assert np.abs(fast - full).mean() < 1.0  # antialiasing order may differ by a few pixels


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"lr": 100.0}, ValueError, "lr"),
    ({"optimizer": "Nadam"}, ValueError, "optimizer"),
    ({"surface": "himmelblau"}, ValueError, "surface"),
    ({"steps": 0}, ValueError, "steps"),
    ({"schedule": "linear"}, ValueError, "schedule"),
])
def test_widget_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=f"'{name}'"):
        LR.LearningRateExplorer(**kwargs)


def test_widget_update_rejects_unknown_controls():
    with pytest.raises(ValueError, match="update"):
        LR.LearningRateExplorer().update(momentum=0.9)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: LR.optimize_path("himmelblau", "SGD", 0.1), ValueError, "surface"),
    (lambda: LR.optimize_path(3, "SGD", 0.1), TypeError, "surface"),
    (lambda: LR.optimize_path("bowl", "Nadam", 0.1), ValueError, "optimizer_name"),
    (lambda: LR.optimize_path("bowl", "SGD", -0.1), ValueError, "lr"),
    (lambda: LR.optimize_path("bowl", "SGD", float("nan")), ValueError, "lr"),
    (lambda: LR.optimize_path("bowl", "SGD", "0.1"), TypeError, "lr"),
    (lambda: LR.optimize_path("bowl", "SGD", 0.1, -1), ValueError, "steps"),
    (lambda: LR.optimize_path("bowl", "SGD", 0.1, start=(0.0, np.inf)), ValueError, "start"),
    (lambda: LR.optimize_path("bowl", "SGD", 0.1, options=[("momentum", 0.9)]), TypeError, "options"),
    (lambda: LR.train_digits_curve("SGD", 0.1, 2.5), TypeError, "steps"),
    (lambda: LR.classify_run([], 3), ValueError, "losses"),
    (lambda: LR.optimize_path("bowl", "SGD", 0.1, schedule="linear"), ValueError, "schedule"),
    (lambda: LR.train_digits_run("SGD", 0.1, 5, seed=-1), ValueError, "seed"),
    (lambda: LR.train_digits_run("SGD", 0.1, 5, schedule=3), ValueError, "schedule"),
])
def test_compute_bad_arguments(call, exc, name):
    with pytest.raises(exc, match=f"'{name}'"):
        call()


def test_classify_run_watches_the_held_out_loss_too():
    train = np.array([2.4, 1.0, 0.3, 0.1, 0.05])
    assert LR.classify_run(train, 4) == "converging"
    assert LR.classify_run(train, 4, held_out=[2.4, 30.0, 20.0, 5.0, 2.0]) == "unstable"   # blew up there
    assert LR.classify_run(train, 4, held_out=[2.4, 2.0, 2.5, 3.0, 3.2]) == "converging"   # over-fitting, no blow-up
    assert LR.classify_run([1.0, 2.0], 5, held_out=[1.0, 50.0]) == "diverged"              # stopped early wins
    with pytest.raises(ValueError, match="'held_out' parameter of classify_run must have shape"):
        LR.classify_run(train, 4, held_out=train[:-1])
    assert list(LR.VERDICTS) == ["crawling", "converging", "oscillating", "unstable", "diverged"]


# --- the digits panel tells a blow-up from convergence (audit: labelled "converging") --------


#: Runs the audit found titled "converging" although their loss blew up: training loss 2.37 -> 42.2 -> < 1e-3
#: and held-out 2.43 -> 158.9 (Adam at 1); a training peak of 63.8 (RMSprop at 0.1); a training peak of 7.3e5
#: and then exactly 0.0, held-out ending at 1.38e5 (RMSprop at 10); and the like for Adagrad and AdamW.
BLEW_UP = [("Adam", 1.0), ("RMSprop", 0.1), ("RMSprop", 10.0), ("Adagrad", 1.0), ("AdamW", 2.0)]


@pytest.fixture(scope="module")
def explorer():
    view = LR.LearningRateExplorer()
    view.refresh()
    return view


@pytest.mark.parametrize("optimizer, lr", BLEW_UP)
def test_a_blown_up_digits_run_is_not_called_converging(explorer, optimizer, lr):
    explorer.update(optimizer=optimizer, lr=lr, schedule="constant")
    train, held = explorer.digit_losses, explorer.digit_held_out
    assert train.max() > LR.BLOWUP * train[0] or held.max() > LR.BLOWUP * held[0]  # the case is a blow-up
    title = explorer._title[explorer.ax_digits].get_text()
    assert explorer.verdicts["digits"] in ("unstable", "diverged")
    assert explorer.verdicts["digits"] in title and "converging" not in title and "crawling" not in title
    # the held-out loss is drawn (dashed, under the training loss), and the title says where it went
    np.testing.assert_array_equal(explorer._held_line.get_ydata(), np.clip(held, *LR.DIGITS_RANGE))
    np.testing.assert_array_equal(explorer._digit_line.get_ydata(), np.clip(train, *LR.DIGITS_RANGE))
    assert explorer._held_line in explorer.blitter.artists and explorer._held_line.get_visible()
    assert f"held-out loss {held[0]:.2g} → {held[-1]:.2g}" in title


def test_the_digits_legend_says_which_curve_is_which(explorer):
    labels = [t.get_text() for t in explorer.ax_digits.get_legend().get_texts()]
    assert labels == ["training", "held-out"]
    assert explorer._digit_line.get_label() == "training" and explorer._held_line.get_label() == "held-out"


def test_no_slider_position_calls_a_blow_up_converging():
    """Every 5th of the slider's 101 rates, for the optimizers the audit caught: a run whose training or held-out
    loss rose past BLOWUP times its start is unstable or diverged, never converging, crawling or oscillating."""
    for name in ("Adagrad", "Adam", "AdamW", "RMSprop"):
        for lr in 10.0 ** np.arange(-4, 1.001, 0.25):
            train, held = LR.train_digits_run(name, lr, 30)
            verdict = LR.classify_run(train, 30, held_out=held)
            if train.max() > LR.BLOWUP * train[0] or held.max() > LR.BLOWUP * held[0]:
                assert verdict in ("unstable", "diverged"), (name, lr, verdict)


def test_values_past_an_axis_end_are_drawn_on_it_and_the_tick_says_so(explorer):
    explorer.update(optimizer="RMSprop", lr=10.0, schedule="constant")
    assert (explorer.digit_losses == 0).any()   # the training loss memorised to exactly 0 ...
    drawn = explorer._digit_line.get_ydata()
    assert drawn.min() == LR.DIGITS_RANGE[0]     # ... is drawn on the floor ...
    explorer.figure.canvas.draw()
    for ax, (low, high) in ((explorer.ax_digits, LR.DIGITS_RANGE), (explorer.ax_loss, LR.LOSS_RANGE)):
        assert ax.get_ylim() == (low, high)
        ticks = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
        assert ticks[low].startswith("≤") and ticks[high].startswith("≥")  # ... whose tick says "at most"
        assert all(not text.startswith(("≤", "≥")) for v, text in ticks.items() if v not in (low, high))
    assert LR._log_tick_label(1e-4, *LR.DIGITS_RANGE) == "≤1e-4" and LR._log_tick_label(1e2, 1e-10, 1e10) == "1e2"


def test_titles_stay_inside_the_figure_and_clear_of_each_other(explorer):
    explorer.update(surface="rosenbrock", optimizer="RMSprop", lr=10.0)  # long titles: a diverged run
    renderer = explorer.figure.canvas.get_renderer()
    width, height = explorer.figure.canvas.get_width_height(physical=True)
    boxes = [t.get_window_extent(renderer) for t in explorer._title.values()]
    for box in boxes:
        assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height
    label = explorer.ax_loss.xaxis.label.get_window_extent(renderer)
    assert boxes[2].y1 < label.y0  # the digits panel's two-line title stays under the loss panel's x label


# --- surface switches: a cached background per surface, the digits run kept ------------------


def test_a_surface_switch_reuses_its_background_and_the_digits_run(monkeypatch):
    view = LR.LearningRateExplorer(lr=0.1)
    view.refresh()  # the first refresh renders every surface's background, so no switch pays for one
    assert set(view.blitter.backgrounds) == set(LR.SURFACES)
    draws, runs = [], []
    canvas_draw, run = view.figure.canvas.draw, LR.train_digits_run
    monkeypatch.setattr(view.figure.canvas, "draw", lambda: draws.append(1) or canvas_draw())
    monkeypatch.setattr(LR, "train_digits_run", lambda *a, **k: runs.append(a) or run(*a, **k))
    for surface in ("rosenbrock", "saddle", "bowl", "rosenbrock"):
        view.update(surface=surface)
        assert view._contours[surface].get_visible()
        assert sum(cs.get_visible() for cs in view._contours.values()) == 1
    assert draws == [] and runs == []  # no full render, no digits training
    monkeypatch.undo()
    from helpers import blit_mismatch

    assert blit_mismatch(view) < 5e-4  # the cached rosenbrock background is what a full draw shows
    view.update(lr=0.2)                # a new rate trains the digits network again
    np.testing.assert_array_equal(view.digit_held_out, LR.train_digits_run("SGD", 0.2, view.digit_steps)[1])


# --- the benchmark still runs (it once looked for an attribute the widget had lost) ------------


@pytest.mark.slow
def test_the_benchmark_runs_and_prints_its_table(capsys):
    """A smoke run of ``bench/bench_widget_learning_rate.py --quick``: rows come back, the table prints.
    No time is asserted: benchmarks report ratios, tests never time."""
    from helpers import load_bench

    module = load_bench("bench_widget_learning_rate")
    rows = module.run(quick=True)
    module.print_table(rows)
    assert len(rows) >= 4 and all(r.ours_s is not None and r.ours_s > 0 for r in rows)
    assert "LearningRateExplorer: switch surface" in capsys.readouterr().out
