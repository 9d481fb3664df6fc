"""The regularization explorer: geometry, the FISTA solver, the path, and the view driven headlessly."""

import numpy as np
import pytest
from helpers import blit_mismatch

from tipslib.regularization import numpy_impl as R
from tipslib.widgets.regularization import (
    LAM_GRID, PENALTIES, RegularizationExplorer, _H2, _W2, constraint_boundary, make_sparse_regression,
    penalty_mix, regularization_path, solve_elastic_net,
)


def test_penalty_mix():
    assert penalty_mix("l1", 0.7) == 0.0
    assert penalty_mix("l2", 0.7) == 1.0
    assert penalty_mix("elastic_net", 0.7) == 0.7
    with pytest.raises(ValueError, match="'penalty' parameter of penalty_mix must be one of"):
        penalty_mix("l3")
    with pytest.raises(ValueError, match="'alpha' parameter of penalty_mix"):
        penalty_mix("elastic_net", 1.2)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("t", [0.2, 1.0, 2.5])
def test_boundary_is_the_level_set(alpha, t):
    pts = constraint_boundary(alpha, t)
    level = (1 - alpha) * np.abs(pts).sum(axis=1) + alpha * (pts**2).sum(axis=1)
    np.testing.assert_allclose(level, t, rtol=1e-12)
    assert np.allclose(pts[0], pts[-1])  # closed


def test_boundary_shapes():
    diamond = constraint_boundary(0.0, 1.0, n=9)  # every 45 degrees
    np.testing.assert_allclose(np.abs(diamond[[0, 2, 4, 6]]).max(axis=1), 1.0)  # corners on the axes
    np.testing.assert_allclose(np.linalg.norm(constraint_boundary(1.0, 4.0), axis=1), 2.0)  # disc of radius sqrt(t)
    assert np.all(constraint_boundary(0.5, 0.0) == 0)
    with pytest.raises(ValueError, match="'alpha' parameter of constraint_boundary"):
        constraint_boundary(-0.1)


def _design(rng, n=80, d=10):
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    return x, y, x.T @ x / n, x.T @ y / n


@pytest.mark.parametrize("lam,alpha", [(0.05, 0.0), (0.3, 0.0), (0.2, 0.5), (0.1, 0.9)])
def test_solver_agrees_with_sklearn(lam, alpha, rng):
    from sklearn.linear_model import ElasticNet

    x, y, h, c = _design(rng)
    a, r = R.to_sklearn(lam, alpha)
    sk = ElasticNet(alpha=a, l1_ratio=r, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y)
    w = solve_elastic_net(h, c, lam, alpha)
    np.testing.assert_allclose(w, sk.coef_, atol=1e-7)
    assert np.array_equal(w == 0, sk.coef_ == 0)


def test_solver_ridge_and_orthonormal_lasso_closed_forms(rng):
    x, y, h, c = _design(rng)
    np.testing.assert_allclose(solve_elastic_net(h, c, 0.4, 1.0), np.linalg.solve(h + 0.4 * np.eye(10), c))
    # with H = I the lasso is a soft-threshold of c by lam / 2
    w = solve_elastic_net(np.eye(5), np.array([2.0, -0.1, 0.3, -1.0, 0.05]), 0.4, 0.0)
    np.testing.assert_allclose(w, [1.8, 0.0, 0.1, -0.8, 0.0], atol=1e-12)


def test_solver_warm_start_reaches_the_same_point(rng):
    _, _, h, c = _design(rng)
    cold = solve_elastic_net(h, c, 0.1, 0.3)
    warm = solve_elastic_net(h, c, 0.1, 0.3, w0=solve_elastic_net(h, c, 0.2, 0.3))
    np.testing.assert_allclose(warm, cold, atol=1e-8)


def test_solver_bad_input():
    with pytest.raises(ValueError, match="'hessian' and 'target' parameters of solve_elastic_net must have shapes"):
        solve_elastic_net(np.eye(3), np.ones(2), 0.1, 0.5)
    with pytest.raises(ValueError, match="'w0' parameter of solve_elastic_net must be 2 finite numbers"):
        solve_elastic_net(np.eye(2), np.ones(2), 0.1, 0.5, w0=np.ones(3))
    with pytest.raises(ValueError, match="must be finite"):
        solve_elastic_net(np.eye(2), np.array([1.0, np.nan]), 0.1, 0.5)
    with pytest.raises(ValueError, match="'lam' parameter of solve_elastic_net"):
        solve_elastic_net(np.eye(2), np.ones(2), -1.0, 0.5)
    with pytest.raises(ValueError, match="'alpha' parameter of solve_elastic_net"):
        solve_elastic_net(np.eye(2), np.ones(2), 1.0, 2.0)


def test_path_l1_selects_l2_shrinks(rng):
    (x, y), (xv, yv), w_true = make_sparse_regression(rng=rng)
    w1, train1, val1 = regularization_path(x, y, LAM_GRID, 0.0, x_val=xv, y_val=yv)
    w2, _, val2 = regularization_path(x, y, LAM_GRID, 1.0, x_val=xv, y_val=yv)
    zeros = (w1 == 0).sum(axis=1)
    assert zeros[0] < 10 and zeros[-1] == len(w_true)  # almost none at 1e-3, all at 10
    assert np.all(np.diff(zeros)[np.diff(zeros) < 0] >= -2)  # more zeros as lam grows (the lasso path may re-enter a few)
    assert np.count_nonzero(w2 == 0) == 0  # ridge: never exactly zero
    assert np.all(np.diff(np.linalg.norm(w2, axis=1)) < 0)  # but ever smaller
    assert np.all(np.diff(train1) > -1e-9)  # a stronger penalty never fits the training set better
    for val in (val1, val2):  # validation error: too little and too much regularization both hurt
        best = int(np.argmin(val))
        assert 0 < best < len(LAM_GRID) - 1
        assert val[best] < 0.95 * val[0] and val[best] < 0.5 * val[-1]
    assert val1.min() < 0.8 * val1[0]  # selecting the 5 relevant features pays off most


def test_make_sparse_regression(rng):
    (x, y), (xv, yv), w = make_sparse_regression(30, 20, 12, 3, noise=0.0, rng=rng)
    assert x.shape == (30, 12) and xv.shape == (20, 12)
    assert np.count_nonzero(w) == 3 and np.all(np.abs(w[:3]) >= 1)
    np.testing.assert_allclose(y, x @ w)
    with pytest.raises(ValueError, match="'n_informative' parameter of make_sparse_regression"):
        make_sparse_regression(n_features=3, n_informative=4)
    with pytest.raises(TypeError, match="'rng' parameter of make_sparse_regression"):
        make_sparse_regression(rng=0)


# --- the view ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer():
    w = RegularizationExplorer(penalty="l1", lam=0.3)
    w.refresh()
    return w


def _kkt_residual(w2, lam, alpha):
    """Optimality of the 2-D toy: 0 must be in grad loss + lam * subgradient of the penalty."""
    g = 2 * _H2 @ (w2 - _W2) + 2 * lam * alpha * w2
    l1 = lam * (1 - alpha)
    res = np.where(w2 != 0, np.abs(g + l1 * np.sign(w2)), np.maximum(np.abs(g) - l1, 0))
    return res.max()


def test_view_l1_zeroes_l2_shrinks(explorer):
    explorer.update(penalty="l1", lam=0.3)
    w_l1 = explorer.weights.copy()
    assert np.count_nonzero(w_l1 == 0) >= 20
    assert explorer.controls["alpha"].disabled
    region_l1 = explorer._region.get_xy().copy()
    explorer.update(penalty="l2")
    assert np.count_nonzero(explorer.weights == 0) == 0
    assert not np.allclose(explorer._region.get_xy(), region_l1)  # disc instead of diamond
    explorer.update(penalty="elastic_net", alpha=0.5)
    assert not explorer.controls["alpha"].disabled


@pytest.mark.parametrize("penalty,alpha", [("l1", 0.5), ("l2", 0.5), ("elastic_net", 0.3)])
@pytest.mark.parametrize("lam", [0.01, 0.3, 2.0])
def test_view_2d_solution_is_optimal_and_on_the_region(explorer, penalty, alpha, lam):
    explorer.update(penalty=penalty, alpha=alpha, lam=lam)
    a = penalty_mix(penalty, alpha)
    lam_shown = LAM_GRID[np.argmin(np.abs(np.log10(LAM_GRID / lam)))]
    w2 = explorer.solution_2d
    assert _kkt_residual(w2, lam_shown, a) < 1e-5
    region = explorer._region.get_xy()
    level = (1 - a) * np.abs(w2).sum() + a * (w2**2).sum()
    np.testing.assert_allclose((1 - a) * np.abs(region).sum(axis=1) + a * (region**2).sum(axis=1), level, rtol=1e-9)
    touch = np.column_stack(explorer._touch.get_data())
    assert np.min(np.linalg.norm(touch - w2, axis=1)) < 0.05  # the loss contour through the solution


def test_view_lambda_moves_marker_and_weights(explorer):
    explorer.update(penalty="l1", lam=0.01)
    w_small, x_small = explorer.weights.copy(), explorer._lam_line.get_xdata()[0]
    explorer.update(lam=3.0)
    assert explorer._lam_line.get_xdata()[0] > x_small
    assert np.abs(explorer.weights).sum() < np.abs(w_small).sum()
    assert "weights exactly 0" in explorer._titles[explorer.ax_w].get_text()


def test_view_alpha_changes_the_validation_curve(explorer):
    explorer.update(penalty="elastic_net", alpha=0.2, lam=0.1)
    val_02 = explorer._val_line.get_ydata().copy()
    explorer.update(alpha=0.8)
    assert not np.allclose(explorer._val_line.get_ydata(), val_02)


def test_view_fast_frames_match_a_full_draw(explorer):
    for change in (dict(penalty="l1", lam=0.01), dict(lam=1.0), dict(penalty="elastic_net", alpha=0.4),
                   dict(penalty="l2", lam=0.05)):
        explorer.update(**change)
        assert blit_mismatch(explorer) < 5e-4


def test_view_bad_input():
    with pytest.raises(ValueError, match="'penalty' parameter of RegularizationExplorer must be one of"):
        RegularizationExplorer(penalty="lasso")
    with pytest.raises(ValueError, match="'lam' parameter of RegularizationExplorer must be a float in the range"):
        RegularizationExplorer(lam=100.0)
    assert set(PENALTIES) == {"l1", "l2", "elastic_net"}


def test_the_greyed_mix_slider_shows_the_mix_in_effect(explorer):
    """L1 and L2 use a fixed mix (0 and 1): the greyed slider reads it, and the elastic net gets its own back."""
    explorer.update(penalty="elastic_net", alpha=0.3)
    explorer.update(penalty="l2")
    assert explorer.controls["alpha"].disabled and explorer.controls["alpha"].value == 1.0
    assert "α = 1.0" in explorer._titles[explorer.ax_geo].get_text()
    explorer.update(penalty="l1")
    assert explorer.controls["alpha"].value == 0.0
    explorer.update(penalty="elastic_net")
    assert not explorer.controls["alpha"].disabled and explorer.controls["alpha"].value == 0.3
    assert "α = 0.3" in explorer._titles[explorer.ax_geo].get_text()
    explorer.update(penalty="l1")
    explorer.update(penalty="elastic_net", alpha=0.7)  # set by hand in the same update: kept
    assert explorer.controls["alpha"].value == 0.7


# --- the path solver: exact along the path, and fast ------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("n, d", [(50, 40), (20, 30)])  # the widget's shape, and more features than examples
def test_path_is_the_exact_solution_at_every_lambda(alpha, n, d, rng):
    """Each point of the path passes the optimality conditions to rounding, and lands on scikit-learn's
    coefficients (solved to 1e-12 by coordinate descent), zeros included."""
    from sklearn.linear_model import ElasticNet

    (x, y), _, _ = make_sparse_regression(n_train=n, n_features=d, rng=rng)
    weights, train, _ = regularization_path(x, y, LAM_GRID, alpha)
    h, c = x.T @ x / n, x.T @ y / n
    for i in range(0, len(LAM_GRID), 5):
        lam, w = LAM_GRID[i], weights[i]
        g = 2 * (h @ w - c) + 2 * lam * alpha * w
        l1 = lam * (1 - alpha)
        np.testing.assert_allclose(g[w != 0], -l1 * np.sign(w[w != 0]), atol=1e-9)
        assert np.all(np.abs(g[w == 0]) <= l1 * (1 + 1e-8))
        if n > d:  # unique solution: compare with scikit-learn
            a, r = R.to_sklearn(lam, alpha)
            sk = ElasticNet(alpha=a, l1_ratio=r, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(x, y)
            np.testing.assert_allclose(w, sk.coef_, atol=1e-9)
            assert np.array_equal(w == 0, sk.coef_ == 0)
    np.testing.assert_allclose(train, np.mean((x @ weights.T - y[:, None]) ** 2, axis=0))


def test_path_needs_few_fista_steps(monkeypatch):
    """Warm starts plus the exact solve on the guessed zeros and signs: the widget's 41-lambda path took
    about 13,000 FISTA steps per mix (some 200 ms, past the 100 ms an interaction may take)."""
    import tipslib.widgets.regularization as RW

    (x, y), _, _ = make_sparse_regression(rng=np.random.default_rng(0))
    steps, fista = [], RW._fista
    monkeypatch.setattr(RW, "_fista", lambda *a: steps.append(a[-2]) or fista(*a))
    for alpha in (0.0, 0.5, 0.9):
        regularization_path(x, y, LAM_GRID, alpha)
    assert sum(steps) <= 300


def test_path_falls_back_on_fista_bursts(monkeypatch, rng):
    """With a single try per burst (no active-set swaps), FISTA bursts find the zeros and the same path comes out."""
    import tipslib.widgets.regularization as RW

    (x, y), _, _ = make_sparse_regression(rng=rng)
    exact = regularization_path(x, y, LAM_GRID, 0.3)[0]
    steps, fista = [], RW._fista
    monkeypatch.setattr(RW, "_SWAPS", 1)
    monkeypatch.setattr(RW, "_fista", lambda *a: steps.append(a[-2]) or fista(*a))
    np.testing.assert_allclose(regularization_path(x, y, LAM_GRID, 0.3)[0], exact, atol=1e-10)
    assert steps  # the bursts ran


# --- the mix alpha shown is the mix solved -----------------------------------------------------


@pytest.mark.parametrize("start, alpha", [("l1", 0.0), ("l2", 1.0)])
@pytest.mark.parametrize("order", ["alpha first", "penalty first"])
def test_an_explicit_mix_equal_to_the_forced_one_is_kept(start, alpha, order):
    """Coming from L1 (mix 0) or L2 (mix 1), asking for the elastic net at that same mix used to show 0.5."""
    view = RegularizationExplorer(penalty=start, lam=0.3)
    view.refresh()
    values = {"alpha": alpha, "penalty": "elastic_net"}
    view.update(**(values if order == "alpha first" else dict(reversed(values.items()))))
    assert view.controls["alpha"].value == alpha and view.alpha == alpha and not view.controls["alpha"].disabled
    assert f"elastic net, α = {alpha:.1f}" in view._titles[view.ax_geo].get_text()
    i = int(np.argmin(np.abs(np.log10(LAM_GRID / 0.3))))
    np.testing.assert_array_equal(view.weights, view._path(alpha)["weights"][i])


def test_the_title_shows_the_mix_that_was_solved():
    view = RegularizationExplorer(penalty="elastic_net", alpha=0.5, lam=0.1)
    view.refresh()
    view.update(alpha=0.37)  # off the slider's 0.1 grid: snapped, in the solve and in the title alike
    assert view.controls["alpha"].value == 0.4 and view.alpha == 0.4
    assert "α = 0.4" in view._titles[view.ax_geo].get_text()
    (x, y), (xv, yv) = (view.x_train, view.y_train), (view.x_val, view.y_val)
    weights, _, val = regularization_path(x, y, LAM_GRID, 0.4, x_val=xv, y_val=yv)
    i = int(np.argmin(np.abs(np.log10(LAM_GRID / 0.1))))
    np.testing.assert_allclose(view.weights, weights[i], atol=1e-12)
    np.testing.assert_allclose(view._val_line.get_ydata(), val, atol=1e-12)
    assert sorted(view._paths) == [0.0, 0.4, 0.5, 1.0]  # nothing solved at 0.37
    assert RegularizationExplorer(penalty="elastic_net", alpha=0.37).controls["alpha"].value == 0.4


def test_a_mix_set_under_l1_waits_for_the_elastic_net():
    view = RegularizationExplorer(penalty="l1")
    view.refresh()
    view.update(alpha=0.3)  # L1 stays L1: the greyed slider keeps showing the mix in effect
    assert view.controls["alpha"].value == 0.0 and view.alpha == 0.0
    assert "α = 0.0" in view._titles[view.ax_geo].get_text()
    view.update(penalty="elastic_net")
    assert view.controls["alpha"].value == 0.3 and view.alpha == 0.3


def test_labels_and_markers_stay_inside_the_figure(explorer):
    explorer.update(penalty="l1", lam=LAM_GRID[-1])  # the lambda marker at the right end of its axis
    renderer = explorer.figure.canvas.get_renderer()
    label = next(t for t in explorer.ax_geo.texts if t.get_text() == "least squares")
    box, axes = label.get_window_extent(renderer), explorer.ax_geo.get_window_extent(renderer)
    assert axes.x0 <= box.x0 and box.x1 <= axes.x1  # it used to run past the plot's right edge
    assert not explorer._lam_dot.get_clip_on()      # a dot at either end of the slider is drawn whole


@pytest.mark.slow
def test_the_benchmark_runs_and_prints_its_table(capsys):
    """A smoke run of ``bench/bench_widgets_regularization.py --quick`` (no time asserted)."""
    from helpers import load_bench

    module = load_bench("bench_widgets_regularization")
    rows = module.run(quick=True)
    module.print_table(rows)
    assert all(r.ours_s is not None and r.ours_s > 0 for r in rows)
    assert "first visit of a mix alpha" in capsys.readouterr().out
