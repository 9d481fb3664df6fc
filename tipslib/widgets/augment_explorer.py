"""Augmentation explorer: turn each augmentation's knob and watch the photo change.

:func:`augment_image` is the pure compute (an image and knob values in, the
augmented image out), built on :mod:`tipslib.augment.numpy_impl`;
:class:`AugmentExplorer` is the view: one control per augmentation and the
original beside the augmented photo, redrawn in place.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_bool, check_int, check_real
from ..augment import numpy_impl as A
from ..augment._shared import Image
from ._base import FONT, WIDTH, Blitter, FigureWidget

#: The picture every view takes: the NumPy twins' image constraint (declared in tipslib.augment._shared).
_IMAGE = Image(np.ndarray, (3,), "a 3-D (H, W, C) image")

__all__ = ["augment_image", "sample_photo", "AugmentExplorer"]

#: name -> (min, max, step, default) of every slider, in the order shown. At most 30 steps, so
#: each is a few pixels of a half-width track; the readout takes a typed value in between.
SLIDERS = {
    "angle": (-45.0, 45.0, 5.0, 0.0),
    "crop": (0.2, 1.0, 0.05, 1.0),
    "red": (-0.5, 0.5, 0.05, 0.0),
    "green": (-0.5, 0.5, 0.05, 0.0),
    "blue": (-0.5, 0.5, 0.05, 0.0),
    "noise": (0.0, 0.3, 0.02, 0.0),
    "erase": (0.0, 0.5, 0.05, 0.0),
    "drop": (0.0, 0.5, 0.05, 0.0),
    "contrast": (0.0, 3.0, 0.1, 1.0),
    "brightness": (-0.5, 0.5, 0.05, 0.0),
}


def sample_photo(factor=4):
    """The sample photo (600x512 RGB) shrunk by averaging ``factor`` x ``factor`` blocks, float in [0, 1]."""
    from ..data import load_sample_image

    factor = check_int(factor, "factor", "sample_photo", low=1, high=64)
    img = load_sample_image().astype(np.float64) / 255.0
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    img = img[:h, :w].reshape(h // factor, factor, w // factor, factor, img.shape[2])
    return img.mean(axis=(1, 3))


def augment_image(img, *, hflip=False, vflip=False, angle=0.0, crop=1.0, red=0.0, green=0.0, blue=0.0,
                  noise=0.0, erase=0.0, drop=0.0, contrast=1.0, brightness=0.0, seed=0):
    """Apply every augmentation of the cheatsheet with the given strengths, in a fixed order.

    Parameters
    ----------
    img : ndarray (H, W, 3), uint8 or float in [0, 1]
    hflip, vflip : bool
        Mirror left-right / top-bottom.
    angle : float in [-180, 180]
        Rotation in degrees, counter-clockwise.
    crop : float in (0, 1]
        Fraction of the area kept by a centred crop, resized back (a zoom).
    red, green, blue : float in [-1, 1]
        Colour shift of each channel.
    noise : float in [0, 1]
        Standard deviation of the added Gaussian noise.
    erase : float in [0, 1]
        Fraction of the area blanked by a centred rectangle.
    drop : float in [0, 1]
        Fraction of pixels dropped at random.
    contrast : float in [0, 10]; brightness : float in [-1, 1]
        See :func:`tipslib.augment.numpy_impl.adjust_contrast_brightness`.
    seed : int
        Seeds the noise and the dropped pixels, so the same knobs give the same picture.

    Returns
    -------
    ndarray, same shape and dtype as ``img``.
    """
    owner = "augment_image"
    _IMAGE(img, "img", owner)
    crop = check_real(crop, "crop", owner, low=0, high=1, low_open=True)
    erase = check_real(erase, "erase", owner, low=0, high=1)
    drop = check_real(drop, "drop", owner, low=0, high=1)
    noise = check_real(noise, "noise", owner, low=0, high=1)
    seed = check_int(seed, "seed", owner, low=0)
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = img
    if check_bool(hflip, "hflip", owner):
        out = A.hflip(out)
    if check_bool(vflip, "vflip", owner):
        out = A.vflip(out)
    if angle != 0:
        out = A.rotate(out, angle)
    if crop < 1:
        side = np.sqrt(crop)
        out = A.crop_resize(out, h * (1 - side) / 2, w * (1 - side) / 2, h * side, w * side)
    if red or green or blue:
        out = A.color_shift(out, [red, green, blue])
    if noise > 0:
        out = A.add_noise(out, noise * rng.standard_normal(out.shape))
    if erase > 0:
        eh, ew = round(h * np.sqrt(erase)), round(w * np.sqrt(erase))
        out = A.erase(out, (h - eh) // 2, (w - ew) // 2, eh, ew)
    if drop > 0:
        out = A.drop_pixels(out, rng.random((h, w)) < drop)
    if contrast != 1 or brightness != 0:
        out = A.adjust_contrast_brightness(out, contrast, brightness)
    return out if out is not img else img.copy()


class AugmentExplorer(FigureWidget):
    """The original photo beside its augmented copy, with a control per augmentation.

    Parameters
    ----------
    image : ndarray (H, W, 3), optional
        Defaults to :func:`sample_photo` (150x128), small enough that a change
        recomputes and redraws well under 100 ms.

    Attributes
    ----------
    controls : dict
        ``hflip``, ``vflip`` (checkboxes), then the sliders of :data:`SLIDERS`
        and ``seed``; drive them headlessly with ``update(angle=10, noise=0.1)``.
    augmented : ndarray
        The picture shown on the right, from the last redraw.
    """

    def __init__(self, image=None):
        import ipywidgets as w

        super().__init__(figsize=(WIDTH / 72, 4.2))
        self.source = sample_photo() if image is None else image
        _IMAGE(self.source, "image", "AugmentExplorer")
        self.controls = {
            "hflip": w.Checkbox(value=False, description="flip left-right", indent=False),
            "vflip": w.Checkbox(value=False, description="flip top-bottom", indent=False),
        }
        for name, (lo, hi, step, default) in SLIDERS.items():
            self.controls[name] = w.FloatSlider(value=default, min=lo, max=hi, step=step, description=name,
                                                continuous_update=True, readout_format=".2f")
        self.controls["seed"] = w.IntSlider(value=0, min=0, max=20, description="seed")
        # Two image panes placed by hand with text labels: no layout engine, no
        # title positioning, so a redraw is little more than two image blits.
        self.figure.set_layout_engine("none")
        ax_in = self.figure.add_axes((0.01, 0.01, 0.48, 0.90))
        ax_out = self.figure.add_axes((0.51, 0.01, 0.48, 0.90))
        ax_in.imshow(self.source)
        self.augmented = self.source.copy()
        self._artist = ax_out.imshow(self.augmented)
        for ax, label in ((ax_in, "original"), (ax_out, "augmented")):
            ax.set_axis_off()
            ax.text(0.5, 1.01, label, transform=ax.transAxes, ha="center", va="bottom", fontsize=FONT["title"])
        # Only the augmented photo changes: the original and the labels are a saved background.
        self.blitter = Blitter(self.figure, [self._artist])
        self._observe_controls()

    def draw(self):
        self.augmented = augment_image(self.source, **self.values)
        self._artist.set_data(self.augmented)
