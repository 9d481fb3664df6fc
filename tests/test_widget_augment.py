"""The augmentation explorer: its compute function and its view, driven headlessly."""

import numpy as np
import pytest
from helpers import assert_close

from tipslib.augment import numpy_impl as A
from tipslib.widgets.augment_explorer import SLIDERS, AugmentExplorer, augment_image, sample_photo


@pytest.fixture(scope="module")
def photo():
    return sample_photo()


def test_sample_photo_is_a_block_average(photo):
    from tipslib.data import load_sample_image

    full = load_sample_image()
    assert photo.shape == (150, 128, 3) and photo.dtype == np.float64
    assert 0 <= photo.min() and photo.max() <= 1
    assert photo[3, 5, 1] == pytest.approx(full[12:16, 20:24, 1].mean() / 255)


def test_default_knobs_change_nothing(photo):
    out = augment_image(photo)
    assert_close(out, photo)
    assert out is not photo


def test_each_knob_is_the_library_function(photo):
    h, w = photo.shape[:2]
    assert_close(augment_image(photo, hflip=True), A.hflip(photo))
    assert_close(augment_image(photo, vflip=True), A.vflip(photo))
    assert_close(augment_image(photo, angle=12.0), A.rotate(photo, 12.0))
    side = np.sqrt(0.49)
    assert_close(augment_image(photo, crop=0.49),
                 A.crop_resize(photo, h * (1 - side) / 2, w * (1 - side) / 2, h * side, w * side))
    assert_close(augment_image(photo, red=0.1, blue=-0.2), A.color_shift(photo, [0.1, 0.0, -0.2]))
    noise = 0.05 * np.random.default_rng(3).standard_normal(photo.shape)
    assert_close(augment_image(photo, noise=0.05, seed=3), A.add_noise(photo, noise))
    assert_close(augment_image(photo, contrast=1.4, brightness=0.1), A.adjust_contrast_brightness(photo, 1.4, 0.1))


def test_erase_and_drop_blank_the_expected_share(photo):
    erased = augment_image(photo, erase=0.25)
    blank = (erased == 0).all(axis=2)
    assert blank.mean() == pytest.approx(0.25, abs=0.01)
    assert blank[75, 64] and not blank[0, 0]  # centred
    dropped = augment_image(photo, drop=0.3, seed=1)
    assert (dropped == 0).all(axis=2).mean() == pytest.approx(0.3, abs=0.02)
    assert not np.array_equal(dropped, augment_image(photo, drop=0.3, seed=2))
    assert np.array_equal(dropped, augment_image(photo, drop=0.3, seed=1))


def test_uint8_images_stay_uint8():
    img = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    out = augment_image(img, angle=10.0, crop=0.5, red=0.3, noise=0.1, erase=0.1, drop=0.1, contrast=2.0)
    assert out.dtype == np.uint8 and out.shape == img.shape


@pytest.mark.parametrize("kwargs,name", [
    (dict(crop=0.0), "crop"), (dict(erase=1.5), "erase"), (dict(noise=-0.1), "noise"),
    (dict(angle=400.0), "angle"), (dict(hflip="yes"), "hflip"), (dict(seed=-1), "seed"),
    (dict(contrast=-1.0), "contrast"), (dict(red=2.0), "shift"),
])
def test_bad_knobs_name_the_parameter(photo, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"'{name}'"):
        augment_image(photo, **kwargs)


def test_bad_image():
    with pytest.raises(ValueError, match="'img'"):
        augment_image(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="'image'"):
        AugmentExplorer(np.zeros((4, 4)))


def test_view_driven_headlessly(photo):
    w = AugmentExplorer()
    assert set(w.controls) == {"hflip", "vflip", "seed", *SLIDERS}
    w.refresh()
    first_png = w.image.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert_close(w._artist.get_array(), photo)
    w.update(angle=15.0, noise=0.1, hflip=True)
    assert w.image.value != first_png
    expected = augment_image(photo, **{**w.values})
    assert_close(w.augmented, expected)
    assert_close(np.asarray(w._artist.get_array()), expected)
    assert w.values["angle"] == 15.0 and w.values["hflip"] is True
    assert w.last_update_seconds > 0
    # Slider moves from the front end go through the observers: one change, one redraw.
    png = w.image.value
    w.controls["brightness"].value = 0.2
    assert w.image.value != png
    assert_close(w.augmented, augment_image(photo, **w.values))


def test_view_redraws_in_place_and_rejects_unknown_knobs():
    w = AugmentExplorer()
    artist, axes = w._artist, list(w.figure.axes)
    w.update(crop=0.5)
    assert w._artist is artist and w.figure.axes == axes
    with pytest.raises(ValueError, match="update"):
        w.update(zoom=2.0)


def test_layout_holds_every_control():
    w = AugmentExplorer()
    box = w.layout()
    shown = box.children[0].children  # the shared grid of controls (FigureWidget.layout)
    assert set(map(id, shown)) == set(map(id, w.controls.values()))
    assert box.children[1] is w.image
