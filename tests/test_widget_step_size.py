"""The step-size explorer: its compute functions and its view, driven headlessly."""

import numpy as np
import pytest

from tipslib.gradcheck import numpy_impl as G
from tipslib.widgets.step_size import (DEFAULT_HS, DTYPES, METHODS, StepSizeExplorer, step_size_curves,
                                       step_size_estimate)


@pytest.fixture(scope="module")
def widget():
    return StepSizeExplorer()


def test_curves_are_the_library_errors_averaged_over_points():
    curves = step_size_curves(np.sin, np.cos, 1.0, DEFAULT_HS, spread=0.5, n_points=41)
    assert set(curves) == {(d, m) for d in DTYPES for m in METHODS}
    points = np.linspace(0.5, 1.5, 41)
    for (name, method), err in curves.items():
        assert err.shape == DEFAULT_HS.shape
        expected = G.step_size_errors(np.sin, np.cos, points, DEFAULT_HS, method=method, dtype=DTYPES[name])
        np.testing.assert_array_equal(err, expected.mean(axis=1))


def test_curves_are_u_shaped_with_the_minimum_near_the_theory():
    for (name, method), err in step_size_curves().items():
        best = DEFAULT_HS[np.argmin(err)]
        h_star = G.optimal_step_size(DTYPES[name], method)
        assert h_star / 30 < best < 30 * h_star, (name, method)
        assert err[0] > 1e3 * err.min() and err[-1] > 1e3 * err.min()


@pytest.mark.parametrize("h", [1e-14, 1e-9, 1e-5, 1e-2, 0.7])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("method", METHODS)
def test_estimate_matches_step_size_errors(h, dtype, method):
    estimate, exact, error = step_size_estimate(h, np.sin, np.cos, 1.0, dtype=dtype, method=method)
    assert exact == np.cos(1.0)
    assert error == abs(estimate - exact)
    expected = G.step_size_errors(np.sin, np.cos, 1.0, [h], method=method, dtype=DTYPES[dtype])[0]
    assert error == pytest.approx(expected, rel=1e-12, abs=0)


def test_known_estimates():
    # A large centered step on sin: (sin(1.5) - sin(0.5)) / 1 exactly.
    est, _, _ = step_size_estimate(0.5, np.sin, np.cos, 1.0)
    assert est == pytest.approx(np.sin(1.5) - np.sin(0.5), rel=1e-15)
    # Below float32's resolution at x = 1 the two probes coincide: the estimate is 0.
    est, exact, err = step_size_estimate(1e-9, dtype="float32")
    assert est == 0.0 and err == pytest.approx(exact)


def test_widget_controls_and_defaults(widget):
    assert set(widget.controls) == {"h", "dtype", "method"}
    assert type(widget.controls["h"]).__name__ == "FloatLogSlider"
    assert widget.controls["h"].min == -16 and widget.controls["h"].max == 0


def test_update_moves_the_marker_and_the_estimate(widget):
    widget.update(h=1e-3, dtype="float64", method="centered")
    first = widget.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    x_marker, y_marker = (np.asarray(a)[0] for a in widget._marker.get_data())
    assert x_marker == pytest.approx(1e-3)
    assert y_marker == pytest.approx(widget.error)
    assert widget.error == pytest.approx(1e-6 * np.cos(1.0) / 6, rel=0.01)
    widget.update(h=1e-7)
    assert widget.image.value != first
    assert np.asarray(widget._marker.get_data()[0])[0] == pytest.approx(1e-7)
    assert widget.error < 1e-8
    assert "1.0e-07" in widget._title_f.get_text()


def test_switching_precision_and_method_highlights_the_chosen_curve(widget):
    widget.update(h=1e-4, dtype="float32", method="forward")
    widths = {k: line.get_linewidth() for k, line in widget._lines.items()}
    assert max(widths, key=widths.get) == ("float32", "forward")
    assert widget._best_line.get_xdata()[0] == pytest.approx(G.optimal_step_size(np.float32, "forward"))
    estimate, _, error = step_size_estimate(1e-4, dtype="float32", method="forward")
    assert widget.estimate == estimate and widget.error == error


def test_blitted_image_equals_a_full_redraw(widget):
    widget.update(h=3e-6, dtype="float64", method="centered")
    widget.update(dtype="float32")  # a second background, cached
    widget.update(h=2e-2, dtype="float64")  # blitted on the first, cached background
    assert set(widget.blitter.backgrounds) >= {("float64", "centered"), ("float32", "centered")}
    blitted = widget.image.value
    widget.blitter.invalidate()  # force a full render
    widget.refresh()
    from io import BytesIO

    from PIL import Image

    a = np.asarray(Image.open(BytesIO(blitted)))
    b = np.asarray(Image.open(BytesIO(widget.image.value)))
    assert a.shape == b.shape and np.array_equal(a, b)


def test_every_interaction_redraws_and_records_its_time():
    widget = StepSizeExplorer(h=1e-3, dtype="float64", method="centered")
    widget.refresh()
    for values in ({"h": 1e-12}, {"dtype": "float32"}, {"method": "forward"}, {"h": 0.9}):
        before = bytes(widget.image.value)
        widget.update(**values)
        assert bytes(widget.image.value) != before, values
        assert widget.last_update_seconds > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="'dtype'"):
        StepSizeExplorer(dtype="float16")
    with pytest.raises(ValueError, match="'method'"):
        StepSizeExplorer(method="backward")
    with pytest.raises(ValueError, match="'h'"):
        StepSizeExplorer(h=10.0)
    with pytest.raises(ValueError, match="'h'"):
        step_size_estimate(0.0)
    with pytest.raises(ValueError, match="update"):
        StepSizeExplorer().update(step=1e-3)


def test_the_axis_and_the_marker_say_which_error_they_show(widget):
    """The curves are means over 41 points around x; the dot is the error at x alone (up to decades apart)."""
    gaps = []
    for h in DEFAULT_HS[::10]:  # where the slider can go (one step per decade)
        error = step_size_estimate(h)[2]
        mean_error = widget.curves["float64", "centered"][list(DEFAULT_HS).index(h)]
        gaps.append(abs(np.log10(max(error, 1e-300) / mean_error)))
    assert max(gaps) > 1  # not the same quantity: a decade apart somewhere, so the labels must differ
    widget.update(h=1e-13, dtype="float64", method="centered")
    ylabel = widget.ax_err.get_ylabel()
    assert "mean" in ylabel and "[0.5, 1.5]" in ylabel
    labels = [t.get_text() for t in widget.ax_err.get_legend().get_texts()]
    assert "at x = 1 only" in labels and widget._marker.get_label() == "at x = 1 only"
    assert "at x = 1: error" in widget._title_err.get_text()


def test_the_marker_is_drawn_whole_at_the_slider_ends(widget):
    for h in (1e-16, 1.0):
        widget.update(h=h, dtype="float32", method="centered")
        x, y = (np.asarray(a)[0] for a in widget._marker.get_data())
        low, high = widget.ax_err.get_ylim()
        assert x == pytest.approx(h) and low <= y <= high
    assert not widget._marker.get_clip_on()
