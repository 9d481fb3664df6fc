"""Argument checks shared by the NumPy and torch augmentation twins (no array library here)."""

from __future__ import annotations

import math
import numbers

from .._checks import check_real

__all__ = ["check_range_pair", "check_box", "check_image_shape"]


def check_range_pair(value, name, owner, *, low=None, high=None, low_open=False):
    """A ``(lo, hi)`` pair of floats with ``lo <= hi``, both inside ``[low, high]``."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise TypeError(f"The '{name}' parameter of {owner} must be a pair (min, max) of floats. Got {value!r} instead.")
    lo = check_real(value[0], name, owner, low=low, high=high, low_open=low_open)
    hi = check_real(value[1], name, owner, low=low, high=high, low_open=low_open)
    if lo > hi:
        raise ValueError(f"The '{name}' parameter of {owner} must be a pair (min, max) with min <= max. "
                         f"Got {value!r} instead.")
    return lo, hi


def check_box(top, left, height, width, h, w, owner, *, integer=False, min_size=0.0):
    """A rectangle ``[top, top + height) x [left, left + width)`` inside an ``h`` by ``w`` image.

    Returns the four numbers (ints when ``integer``). ``min_size`` is exclusive
    for crops (a crop of height 0 has nothing to resize) and inclusive for erasing.
    """
    out = []
    for name, v, size in (("top", top, h), ("left", left, w), ("height", height, h), ("width", width, w)):
        kind = "an int" if integer else "a float"
        ok = isinstance(v, numbers.Integral) if integer else isinstance(v, numbers.Real)
        if isinstance(v, bool) or not ok:
            raise TypeError(f"The '{name}' parameter of {owner} must be {kind}. Got {v!r} instead.")
        if not math.isfinite(float(v)):
            raise ValueError(f"The '{name}' parameter of {owner} must be finite. Got {v!r} instead.")
        out.append(int(v) if integer else float(v))
    top, left, height, width = out
    for name, start, extent, size, origin in (("height", top, height, h, "top"), ("width", left, width, w, "left")):
        if start < 0 or start > size:
            raise ValueError(f"The '{origin}' parameter of {owner} must be in the range [0, {size}] for an image of "
                             f"{'height' if origin == 'top' else 'width'} {size}. Got {start!r} instead.")
        too_small = extent <= min_size if not integer else extent < min_size
        if too_small or start + extent > size:
            bound = "(0" if not integer else f"[{int(min_size)}"
            raise ValueError(
                f"The '{name}' parameter of {owner} must be in the range {bound}, {size - start}] so the box "
                f"({origin}={start}) fits in the image ({name} {size}). Got {extent!r} instead."
            )
    return top, left, height, width


def check_image_shape(value, owner):
    """``image_shape`` for flattened inputs: three positive ints, or None."""
    if value is None:
        return None
    if (not isinstance(value, (tuple, list)) or len(value) != 3
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"The 'image_shape' parameter of {owner} must be three positive ints or None. "
                         f"Got {value!r} instead.")
    return tuple(int(v) for v in value)
