"""Deterministic augmentations of NCHW batches, torch twin of ``tipslib.augment._numpy.functional``.

Differences from the NumPy twin, all about batches:

* ``img`` is a batch (N, C, H, W) or one image (C, H, W), uint8 (0..255) or
  floating point (0..1), on any device. uint8 is computed in float32.
* Every scalar parameter may also be a tensor of shape (N,) (``shift``:
  (C,) or (N, C); ``mask``: (H, W) or (N, H, W)), one value per image, so a
  whole batch is augmented in one call with different parameters per image.
* Resampling runs ``grid_sample(mode='bilinear', align_corners=False)`` on a
  grid holding exactly the NumPy twin's pixel coordinates, normalised by
  :math:`u = (2x + 1)/W - 1` (its inverse is what ``grid_sample`` applies);
  rotation uses ``padding_mode='zeros'`` on ``img - fill``, then adds ``fill``
  back, so a corner outside the image counts as ``fill``; cropping uses
  ``padding_mode='border'``.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as nnf

from ..._checks import check_real
from .._checks import check_box

__all__ = [
    "hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise",
    "erase", "drop_pixels", "adjust_contrast_brightness",
]


# --------------------------------------------------------------------------- helpers
def check_image(img, owner, name="img"):
    """A (C, H, W) or (N, C, H, W) tensor of dtype uint8 or floating point."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.Tensor. Got {type(img).__name__} instead.")
    if img.ndim not in (3, 4):
        raise ValueError(f"The '{name}' parameter of {owner} must be a 4-D (N, C, H, W) batch or a 3-D "
                         f"(C, H, W) image. Got shape {tuple(img.shape)} instead.")
    if img.dtype != torch.uint8 and not img.dtype.is_floating_point:
        raise TypeError(f"The '{name}' parameter of {owner} must have dtype uint8 or a float dtype. "
                        f"Got dtype {img.dtype} instead.")


def _batched(fn):
    """Run ``fn`` on a 4-D batch; a 3-D image goes through as a batch of one."""
    def wrapper(img, *args, **kwargs):
        if isinstance(img, torch.Tensor) and img.ndim == 3:
            return fn(img.unsqueeze(0), *args, **kwargs).squeeze(0)
        return fn(img, *args, **kwargs)
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _peak(img):
    return 255.0 if img.dtype == torch.uint8 else 1.0


def _work_dtype(img):
    return torch.float32 if img.dtype == torch.uint8 else img.dtype


def _to_work(img):
    return img.to(_work_dtype(img))


def _finish(out, like):
    if like.dtype == torch.uint8:
        return out.round().clamp_(0, 255).to(torch.uint8)
    return out.clamp(0.0, 1.0).to(like.dtype)


def per_image(value, name, owner, img, *, low=None, high=None, integer=False):
    """A scalar or an (N,) tensor as an (N,) tensor in the work dtype on ``img``'s device,
    after checking its range (tensor values too: a bad angle must not become a silent NaN)."""
    n = img.shape[0]
    dtype = torch.int64 if integer else _work_dtype(img)
    if isinstance(value, torch.Tensor):
        if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != n):
            raise ValueError(f"The '{name}' parameter of {owner} must be a number or a tensor of shape ({n},), "
                             f"one per image. Got shape {tuple(value.shape)} instead.")
        if integer and (value.dtype.is_floating_point or value.dtype == torch.bool):
            raise TypeError(f"The '{name}' parameter of {owner} must hold integers. Got dtype {value.dtype} instead.")
        if not integer and (value.dtype == torch.bool or value.dtype.is_complex):
            # True would silently become 1.0 (one degree, one unit of shift)
            raise TypeError(f"The '{name}' parameter of {owner} must hold real numbers. Got dtype {value.dtype} instead.")
        v = value.to(device=img.device, dtype=dtype)
        if not integer and not bool(torch.isfinite(v).all()):
            raise ValueError(f"The '{name}' parameter of {owner} must be finite. Got NaN or inf instead.")
        lo_ok = low is None or bool((v >= low).all())
        hi_ok = high is None or bool((v <= high).all())
        if not (lo_ok and hi_ok):
            raise ValueError(f"The '{name}' parameter of {owner} must have values in the range "
                             f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]. "
                             f"Got values from {float(v.min())} to {float(v.max())} instead.")
        return v.expand(n)
    if integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"The '{name}' parameter of {owner} must be an int. Got {value!r} instead.")
    else:
        value = check_real(value, name, owner, low=low, high=high)
    return torch.full((n,), value, dtype=dtype, device=img.device)


def _pixel_grid(img, dtype):
    h, w = img.shape[-2:]
    xs = torch.arange(w, dtype=dtype, device=img.device)
    ys = torch.arange(h, dtype=dtype, device=img.device)
    return xs, ys


def _sample(work, x, y, padding_mode):
    """Bilinear read of ``work`` (N, C, H, W) at pixel coordinates ``x``, ``y`` (N, Ho, Wo)."""
    h, w = work.shape[-2:]
    grid = torch.stack(((2 * x + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1)
    return nnf.grid_sample(work, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


# --------------------------------------------------------------------------- geometry
def hflip(img):
    """Twin of the NumPy ``hflip`` (mirror the last axis, W)."""
    check_image(img, "hflip")
    return img.flip(-1)


def vflip(img):
    """Twin of the NumPy ``vflip`` (mirror axis H)."""
    check_image(img, "vflip")
    return img.flip(-2)


@_batched
def rotate(img, angle, *, fill=0.0):
    """Twin of the NumPy ``rotate``; ``angle`` may be an (N,) tensor of degrees."""
    owner = "rotate"
    check_image(img, owner)
    angle = per_image(angle, "angle", owner, img, low=-180, high=180)
    fill = check_real(fill, "fill", owner, low=0, high=1)
    return _rotate(img, angle, fill)


def _rotate(img, angle, fill):
    work = _to_work(img)
    h, w = img.shape[-2:]
    theta = torch.deg2rad(angle)[:, None, None]
    cos, sin = torch.cos(theta), torch.sin(theta)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    xs, ys = _pixel_grid(img, work.dtype)
    dx, dy = (xs - cx)[None, None, :], (ys - cy)[None, :, None]
    x = cx + cos * dx - sin * dy
    y = cy + sin * dx + cos * dy
    value = fill * _peak(img)
    if value == 0:
        out = _sample(work, x, y, "zeros")
    else:
        out = _sample(work - value, x, y, "zeros") + value
    return _finish(out, img)


@_batched
def crop_resize(img, top, left, height, width):
    """Twin of the NumPy ``crop_resize``; the four box numbers may be (N,) tensors."""
    owner = "crop_resize"
    check_image(img, owner)
    h, w = img.shape[-2:]
    if not any(isinstance(v, torch.Tensor) for v in (top, left, height, width)):
        top, left, height, width = check_box(top, left, height, width, h, w, owner)
    box = [per_image(v, name, owner, img) for v, name in
           ((top, "top"), (left, "left"), (height, "height"), (width, "width"))]
    top, left, height, width = box
    for start, extent, size, s_name, e_name in ((top, height, h, "top", "height"), (left, width, w, "left", "width")):
        if not bool(((start >= 0) & (extent > 0) & (start + extent <= size)).all()):
            raise ValueError(f"The '{e_name}' parameter of {owner} must be positive with {s_name} >= 0 and "
                             f"{s_name} + {e_name} <= {size}, so the box fits in the image. Got {s_name} "
                             f"{start.tolist()} and {e_name} {extent.tolist()} instead.")
    return _crop_resize(img, top, left, height, width)


def _crop_resize(img, top, left, height, width):
    work = _to_work(img)
    h, w = img.shape[-2:]
    xs, ys = _pixel_grid(img, work.dtype)
    y = top[:, None, None] + (ys[None, :, None] + 0.5) * (height / h)[:, None, None] - 0.5
    x = left[:, None, None] + (xs[None, None, :] + 0.5) * (width / w)[:, None, None] - 0.5
    x, y = torch.broadcast_tensors(x, y)
    return _finish(_sample(work, x, y, "border"), img)


# --------------------------------------------------------------------------- intensity
@_batched
def color_shift(img, shift):
    """Twin of the NumPy ``color_shift``; ``shift`` has shape (C,) or (N, C)."""
    owner = "color_shift"
    check_image(img, owner)
    n, c = img.shape[:2]
    try:
        shift = torch.as_tensor(shift, dtype=_work_dtype(img), device=img.device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"The 'shift' parameter of {owner} must be a sequence of floats or a float tensor, one "
                        f"per channel. Got {shift!r} instead.") from None
    if shift.shape not in ((c,), (n, c)):
        raise ValueError(f"The 'shift' parameter of {owner} must hold one value per channel, shape ({c},) or "
                         f"({n}, {c}). Got shape {tuple(shift.shape)} instead.")
    if not bool((shift.abs() <= 1).all()):
        raise ValueError(f"The 'shift' parameter of {owner} must have values in the range [-1, 1]. "
                         f"Got {shift.tolist()} instead.")
    return _color_shift(img, shift.expand(n, c))


def _color_shift(img, shift):
    return _finish(_to_work(img) + (shift * _peak(img))[:, :, None, None], img)


@_batched
def add_noise(img, noise):
    """Twin of the NumPy ``add_noise``; ``noise`` has ``img``'s shape."""
    owner = "add_noise"
    check_image(img, owner)
    if not isinstance(noise, torch.Tensor) or not noise.dtype.is_floating_point:
        raise TypeError(f"The 'noise' parameter of {owner} must be a float tensor. Got {type(noise).__name__} "
                        f"{getattr(noise, 'dtype', '')} instead.")
    if noise.ndim == img.ndim - 1:
        noise = noise.unsqueeze(0)
    if noise.shape != img.shape:
        raise ValueError(f"The 'noise' parameter of {owner} must have the image's shape {tuple(img.shape)}. "
                         f"Got {tuple(noise.shape)} instead.")
    if not bool(torch.isfinite(noise).all()):
        raise ValueError(f"The 'noise' parameter of {owner} must be finite. Got NaN or inf instead.")
    return _add_noise(img, noise)


def _add_noise(img, noise):
    return _finish(_to_work(img) + noise.to(device=img.device, dtype=_work_dtype(img)) * _peak(img), img)


@_batched
def erase(img, top, left, height, width, value=0.0):
    """Twin of the NumPy ``erase``; the box numbers may be (N,) integer tensors."""
    owner = "erase"
    check_image(img, owner)
    h, w = img.shape[-2:]
    if not any(isinstance(v, torch.Tensor) for v in (top, left, height, width)):
        top, left, height, width = check_box(top, left, height, width, h, w, owner, integer=True)
    top, left, height, width = (per_image(v, name, owner, img, integer=True) for v, name in
                                ((top, "top"), (left, "left"), (height, "height"), (width, "width")))
    for start, extent, size, s_name, e_name in ((top, height, h, "top", "height"), (left, width, w, "left", "width")):
        if not bool(((start >= 0) & (extent >= 0) & (start + extent <= size)).all()):
            raise ValueError(f"The '{e_name}' parameter of {owner} must be >= 0 with {s_name} >= 0 and "
                             f"{s_name} + {e_name} <= {size}, so the box fits in the image. Got {s_name} "
                             f"{start.tolist()} and {e_name} {extent.tolist()} instead.")
    value = check_real(value, "value", owner, low=0, high=1)
    return _erase(img, top, left, height, width, value)


def _box_mask(img, top, left, height, width):
    h, w = img.shape[-2:]
    rows = torch.arange(h, device=img.device)[None, :]
    cols = torch.arange(w, device=img.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
    return in_rows[:, None, :, None] & in_cols[:, None, None, :]


def _fill_value(img, value):
    return _finish(torch.tensor(value * _peak(img), dtype=_work_dtype(img), device=img.device), img)


def _erase(img, top, left, height, width, value):
    return torch.where(_box_mask(img, top, left, height, width), _fill_value(img, value), img)


@_batched
def drop_pixels(img, mask, value=0.0):
    """Twin of the NumPy ``drop_pixels``; ``mask`` has shape (H, W) or (N, H, W)."""
    owner = "drop_pixels"
    check_image(img, owner)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"The 'mask' parameter of {owner} must be a bool tensor. Got "
                        f"{type(mask).__name__} {getattr(mask, 'dtype', '')} instead.")
    n, _, h, w = img.shape
    if mask.shape not in ((h, w), (n, h, w)):
        raise ValueError(f"The 'mask' parameter of {owner} must have shape ({h}, {w}) or ({n}, {h}, {w}). "
                         f"Got {tuple(mask.shape)} instead.")
    value = check_real(value, "value", owner, low=0, high=1)
    return _drop_pixels(img, mask.expand(n, h, w), value)


def _drop_pixels(img, mask, value):
    return torch.where(mask.to(img.device)[:, None], _fill_value(img, value), img)


@_batched
def adjust_contrast_brightness(img, contrast, brightness):
    """Twin of the NumPy ``adjust_contrast_brightness``; both factors may be (N,) tensors.
    The mean is taken per image."""
    owner = "adjust_contrast_brightness"
    check_image(img, owner)
    contrast = per_image(contrast, "contrast", owner, img, low=0, high=10)
    brightness = per_image(brightness, "brightness", owner, img, low=-1, high=1)
    return _adjust_contrast_brightness(img, contrast, brightness)


def _adjust_contrast_brightness(img, contrast, brightness):
    work = _to_work(img)
    mean = work.mean(dim=(1, 2, 3), keepdim=True)
    c = contrast[:, None, None, None]
    b = brightness[:, None, None, None]
    # c (x - m) + m + b, rearranged as c x + [(1 - c) m + b] so the big tensor is read once.
    return _finish(torch.addcmul((1 - c) * mean + b * _peak(img), c, work), img)

