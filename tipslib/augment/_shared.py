"""Backend-free parts of augmentation, shared by the NumPy and torch twins (no array library here).

* The parameter constraints of every function and transform, declared once
  (the ranges of the 0..1 intensity scale, angles, boxes, probabilities).
* The transforms' parameter handling: each random transform's constructor
  (validated at the door) lives in a base class here; the twins add only
  ``draw`` and ``apply``, the parts that touch arrays.
* :class:`ComposeBase`: the shape handling of ``Compose`` (flattened data,
  one image, a batch) around the twin's own ``_chain``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from .._checks import BOOL, Optional, Real, param_of, check_real, validate_params

__all__ = [
    "check_range_pair", "check_box", "check_image_shape", "check_image", "check_transforms",
    "RangePair", "ImageShape", "Transforms", "Image", "box_fits",
    "ANGLE", "MAX_ANGLE", "INTENSITY", "SHIFT", "CONTRAST", "BRIGHTNESS", "PROB",
    "ROTATE", "ERASE", "DROP_PIXELS", "ADJUST_CONTRAST_BRIGHTNESS",
    "RANDOM_FLIP", "RANDOM_ROTATION", "RANDOM_CROP", "COLOR_SHIFT", "GAUSSIAN_NOISE",
    "RANDOM_ERASING", "PIXEL_DROPOUT", "CONTRAST_BRIGHTNESS", "COMPOSE",
    "Transform", "RandomFlipParams", "RandomRotationParams", "RandomCropParams", "ColorShiftParams",
    "GaussianNoiseParams", "RandomErasingParams", "PixelDropoutParams", "ContrastBrightnessParams",
    "ComposeBase",
]


# --- checks ----------------------------------------------------------------------------------


def check_range_pair(value, name, owner, *, low=None, high=None, low_open=False):
    """A ``(lo, hi)`` pair of floats with ``lo <= hi``, both inside ``[low, high]``."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"{param_of(name, owner)} must be a pair (min, max) of floats. Got {value!r} instead.")
    lo = check_real(value[0], name, owner, low=low, high=high, low_open=low_open)
    hi = check_real(value[1], name, owner, low=low, high=high, low_open=low_open)
    if lo > hi:
        raise ValueError(f"{param_of(name, owner)} must be a pair (min, max) with min <= max. Got {value!r} instead.")
    return lo, hi


def check_box(top, left, height, width, h, w, owner, *, integer=False):
    """A rectangle ``[top, top + height) x [left, left + width)`` inside an ``h`` by ``w`` image.

    Returns the four numbers (ints when ``integer``). A crop (float box) needs a
    positive height and width, there is nothing to resize otherwise; an erased
    box (``integer``) may be empty.
    """
    out = []
    for name, v in (("top", top), ("left", left), ("height", height), ("width", width)):
        kind = "an int" if integer else "a float"
        ok = isinstance(v, numbers.Integral) if integer else isinstance(v, numbers.Real)
        if isinstance(v, bool) or not ok:
            raise TypeError(f"{param_of(name, owner)} must be {kind}. Got {v!r} instead.")
        if not math.isfinite(float(v)):
            raise ValueError(f"{param_of(name, owner)} must be finite. Got {v!r} instead.")
        out.append(int(v) if integer else float(v))
    top, left, height, width = out
    for name, start, extent, size, origin in (("height", top, height, h, "top"), ("width", left, width, w, "left")):
        if start < 0 or start > size:
            raise ValueError(f"{param_of(origin, owner)} must be in the range [0, {size}] for an image of "
                             f"{'height' if origin == 'top' else 'width'} {size}. Got {start!r} instead.")
        too_small = extent < 0 if integer else extent <= 0
        if too_small or start + extent > size:
            bound = "[0" if integer else "(0"
            raise ValueError(
                f"{param_of(name, owner)} must be in the range {bound}, {size - start}] so the box "
                f"({origin}={start}) fits in the image ({name} {size}). Got {extent!r} instead."
            )
    return top, left, height, width


def check_image_shape(value, name, owner):
    """``image_shape`` for flattened inputs: three positive ints."""
    if (not isinstance(value, (tuple, list)) or len(value) != 3
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{param_of(name, owner)} must be three positive ints or None. Got {value!r} instead.")
    return tuple(int(v) for v in value)


def check_transforms(value, name, owner):
    """A list (or tuple) of callables ``t(img, randomness) -> img``."""
    # A one-shot iterator would be used up by this check, so only sequences are taken.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{param_of(name, owner)} must be a list of callables. Got {value!r} instead.")
    for i, t in enumerate(value):
        if not callable(t):
            raise TypeError(f"{param_of(name, owner)} must hold callables. Got {t!r} at position {i} instead.")
    return value


def check_image(img, name, owner, *, array_type, ndims, layout):
    """An array of ``array_type`` with ``ndims`` dimensions, dtype uint8 or floating point.

    Bool arrays are refused with the integers: True is no intensity. An image needs at least one
    row, column and channel (the last three axes; a torch batch may hold 0 images): with none,
    a rotation or crop has no pixel to read from and a contrast has no mean.
    """
    if not isinstance(img, array_type):
        kind = "a numpy array" if array_type.__module__ == "numpy" else "a torch.Tensor"
        raise TypeError(f"{param_of(name, owner)} must be {kind}. Got {type(img).__name__} instead.")
    if img.ndim not in ndims:
        raise ValueError(f"{param_of(name, owner)} must be {layout}. Got shape {tuple(img.shape)} instead.")
    dtype = img.dtype
    floating = getattr(dtype, "is_floating_point", None)  # torch.dtype
    if floating is None:
        floating = dtype.kind == "f"  # numpy.dtype
    if not floating and str(dtype) not in ("uint8", "torch.uint8"):
        raise TypeError(f"{param_of(name, owner)} must have dtype uint8 or a float dtype. Got dtype {dtype} instead.")
    if 0 in tuple(img.shape[-3:]):
        raise ValueError(f"{param_of(name, owner)} must have at least one row, column and channel. "
                         f"Got shape {tuple(img.shape)} instead.")


# --- constraint factories ----------------------------------------------------------------------


def RangePair(low=None, high=None, *, low_open=False):
    """A ``(min, max)`` pair of floats in ``[low, high]`` with ``min <= max``."""
    return lambda value, name, owner: check_range_pair(value, name, owner, low=low, high=high, low_open=low_open)


def ImageShape():
    """Three positive ints ``image_shape``."""
    return check_image_shape


def Transforms():
    """A list of callables."""
    return check_transforms


def Image(array_type, ndims, layout):
    """An image (or batch) of the twin's ``array_type``: ``ndims`` dimensions, uint8 or float."""
    return lambda value, name, owner: check_image(value, name, owner, array_type=array_type, ndims=ndims,
                                                  layout=layout)


def box_fits(hw, *, integer=False):
    """A rule: the box ``top, left, height, width`` fits in the image; ``hw(img)`` is its (H, W).

    Only plain numbers are checked here; the torch twin checks per-image tensors itself.
    """
    def rule(arguments, owner):
        box = [arguments[k] for k in ("top", "left", "height", "width")]
        if not any(hasattr(v, "shape") for v in box):
            h, w = hw(arguments["img"])
            check_box(*box, h, w, owner, integer=integer)
    return rule


# --- declared constraints ----------------------------------------------------------------------

#: Bounds shared by a function and the transform that draws for it.
ANGLE = (-180, 180)
MAX_ANGLE = (0, 180)
INTENSITY = (0, 1)  # fill, value, noise std: the 0..1 scale (x255 for uint8 images)
SHIFT = (-1, 1)
CONTRAST = (0, 10)
BRIGHTNESS = (-1, 1)
PROB = (0, 1)

ROTATE = {"angle": Real(*ANGLE), "fill": Real(*INTENSITY)}
ERASE = {"value": Real(*INTENSITY)}
DROP_PIXELS = {"value": Real(*INTENSITY)}
ADJUST_CONTRAST_BRIGHTNESS = {"contrast": Real(*CONTRAST), "brightness": Real(*BRIGHTNESS)}

RANDOM_FLIP = {"p": Real(*PROB), "horizontal": BOOL, "vertical": BOOL}
RANDOM_ROTATION = {"max_angle": Real(*MAX_ANGLE), "fill": Real(*INTENSITY)}
RANDOM_CROP = {"scale": RangePair(0, 1, low_open=True)}  # a crop of area 0 has nothing to resize
COLOR_SHIFT = {"max_shift": Real(0, 1)}
GAUSSIAN_NOISE = {"std": Real(*INTENSITY)}
RANDOM_ERASING = {"p": Real(*PROB), "scale": RangePair(0, 1), "ratio": RangePair(0, low_open=True),
                  "value": Real(*INTENSITY)}
PIXEL_DROPOUT = {"p": Real(*PROB), "value": Real(*INTENSITY)}
CONTRAST_BRIGHTNESS = {"contrast": Real(0, 1), "brightness": Real(0, 1)}
COMPOSE = {"transforms": Transforms(), "image_shape": Optional(ImageShape())}


# --- the transforms' parameter handling ----------------------------------------------------------


class Transform:
    """What every random transform shares: its parameters as attributes, shown by ``repr``."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RandomFlipParams(Transform):
    @validate_params(RANDOM_FLIP)
    def __init__(self, p=0.5, horizontal=True, vertical=False):
        self.p, self.horizontal, self.vertical = float(p), bool(horizontal), bool(vertical)


class RandomRotationParams(Transform):
    @validate_params(RANDOM_ROTATION)
    def __init__(self, max_angle=15.0, fill=0.0):
        self.max_angle, self.fill = float(max_angle), float(fill)


class RandomCropParams(Transform):
    @validate_params(RANDOM_CROP)
    def __init__(self, scale=(0.5, 1.0)):
        self.scale = (float(scale[0]), float(scale[1]))


class ColorShiftParams(Transform):
    @validate_params(COLOR_SHIFT)
    def __init__(self, max_shift=0.1):
        self.max_shift = float(max_shift)


class GaussianNoiseParams(Transform):
    @validate_params(GAUSSIAN_NOISE)
    def __init__(self, std=0.05):
        self.std = float(std)


class RandomErasingParams(Transform):
    @validate_params(RANDOM_ERASING)
    def __init__(self, p=0.5, scale=(0.02, 0.2), ratio=(0.3, 3.3), value=0.0):
        self.p = float(p)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.value = float(value)


class PixelDropoutParams(Transform):
    @validate_params(PIXEL_DROPOUT)
    def __init__(self, p=0.05, value=0.0):
        self.p, self.value = float(p), float(value)


class ContrastBrightnessParams(Transform):
    @validate_params(CONTRAST_BRIGHTNESS)
    def __init__(self, contrast=0.2, brightness=0.1):
        self.contrast, self.brightness = float(contrast), float(brightness)


class ComposeBase:
    """``Compose.__call__`` for both twins: flattened data, one image or a batch, around ``_chain``.

    A twin sets ``_array_type`` (and ``_layout``, the batch and image layouts in
    words) and defines ``_chain(batch)``, which augments a 4-D batch.
    """

    _array_type: type = object
    _layout = ("(N, H, W, C)", "(H, W, C)")

    def _chain(self, batch):
        raise NotImplementedError

    def __call__(self, x):
        owner = type(self).__name__
        if not isinstance(x, self._array_type):
            kind = "a numpy array" if self._array_type.__module__ == "numpy" else "a torch.Tensor"
            raise TypeError(f"{param_of('x', owner)} must be {kind}. Got {type(x).__name__} instead.")
        if self.image_shape is not None:
            size = math.prod(self.image_shape)
            if x.ndim != 2 or x.shape[1] != size:
                raise ValueError(f"{param_of('x', owner)} must have shape (N, {size}) to match "
                                 f"image_shape={self.image_shape}. Got shape {tuple(x.shape)} instead.")
            return self._chain(x.reshape((len(x),) + self.image_shape)).reshape(x.shape)
        if x.ndim == 3:
            return self._chain(x[None])[0]
        if x.ndim != 4:
            batch, image = self._layout
            raise ValueError(f"{param_of('x', owner)} must be a batch {batch} or an image {image}; "
                             f"pass image_shape for flattened data. Got shape {tuple(x.shape)} instead.")
        return self._chain(x)

    def __repr__(self):
        inner = "".join(f"\n  {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"
