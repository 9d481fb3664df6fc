"""Data augmentation in NumPy: the reference implementations, one HWC image at a time.

Deterministic functions take every parameter explicitly (``rotate(img, 10.0)``);
the random transforms draw those parameters from an ``rng`` and call them;
:class:`Compose` runs a pipeline over a batch so it can be ``fit``'s ``transform``.
The torch twin, :mod:`tipslib.augment.torch_impl`, works on NCHW batches and
draws different parameters for every image in one vectorised call.
"""

from ._numpy.functional import (add_noise, adjust_contrast_brightness, color_shift, crop_resize, drop_pixels,
                                erase, hflip, rotate, vflip)
from ._numpy.transforms import (ColorShift, Compose, ContrastBrightness, GaussianNoise, PixelDropout, RandomCrop,
                                RandomErasing, RandomFlip, RandomRotation)

__all__ = [
    "hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise",
    "erase", "drop_pixels", "adjust_contrast_brightness",
    "RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise",
    "RandomErasing", "PixelDropout", "ContrastBrightness", "Compose",
]
