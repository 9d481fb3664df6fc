"""Data augmentation in PyTorch: twin of :mod:`tipslib.augment.numpy_impl`.

The same functions and transforms on NCHW batches, on CPU or GPU. A random
transform draws different parameters for every image of a batch in one
vectorised call (rotations and crops become one ``grid_sample`` with a
per-image sampling grid), so augmenting on the fly costs little next to a
training step. Deterministic results equal the NumPy twin's to float64
round-off: both read the image at the same pixel coordinates with the same
bilinear rule.
"""

from ._torch.functional import (add_noise, adjust_contrast_brightness, color_shift, crop_resize, drop_pixels,
                                erase, hflip, rotate, vflip)
from ._torch.transforms import (ColorShift, Compose, ContrastBrightness, GaussianNoise, PixelDropout, RandomCrop,
                                RandomErasing, RandomFlip, RandomRotation)

__all__ = [
    "hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise",
    "erase", "drop_pixels", "adjust_contrast_brightness",
    "RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise",
    "RandomErasing", "PixelDropout", "ContrastBrightness", "Compose",
]
TORCH_ONLY = frozenset()
NUMPY_ONLY = frozenset()
