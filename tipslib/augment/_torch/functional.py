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

import torch
import torch.nn.functional as nnf

from ..._checks import Int, Real, validate_params
from .._shared import (ADJUST_CONTRAST_BRIGHTNESS, ANGLE, BRIGHTNESS, CONTRAST, DROP_PIXELS, ERASE, ROTATE, SHIFT,
                       Image, box_fits)

__all__ = [
    "hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise",
    "erase", "drop_pixels", "adjust_contrast_brightness",
]


# --------------------------------------------------------------------------- checks at the door
IMAGE = Image(torch.Tensor, (3, 4), "a 4-D (N, C, H, W) batch or a 3-D (C, H, W) image")


def check_image(img, owner, name="img"):
    """A (C, H, W) or (N, C, H, W) tensor of dtype uint8 or floating point (bool refused)."""
    IMAGE(img, name, owner)


def _n(img):
    return img.shape[0] if img.ndim == 4 else 1


def _hw(img):
    return img.shape[-2:]


def PerImage(low=None, high=None, *, integer=False):
    """A number in ``[low, high]``, or a tensor of them with one value per image.

    Tensor values are checked too: a bad angle must not become a silent NaN,
    and a bool tensor is no angle (True would silently become one degree).
    The tensor's length is checked against the batch by :func:`_one_per_image`.
    """
    scalar = Int(low, high) if integer else Real(low, high)

    def constraint(value, name, owner):
        if not isinstance(value, torch.Tensor):
            return scalar(value, name, owner)
        if integer and (value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool):
            raise TypeError(f"The '{name}' parameter of {owner} must hold integers. Got dtype {value.dtype} instead.")
        if not integer and (value.dtype == torch.bool or value.dtype.is_complex):
            raise TypeError(f"The '{name}' parameter of {owner} must hold real numbers. Got dtype {value.dtype} instead.")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"The '{name}' parameter of {owner} must be finite. Got NaN or inf instead.")
        if not ((low is None or bool((value >= low).all())) and (high is None or bool((value <= high).all()))):
            raise ValueError(f"The '{name}' parameter of {owner} must have values in the range "
                             f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]. "
                             f"Got values from {float(value.min())} to {float(value.max())} instead.")
        return value
    return constraint


def _one_per_image(*names):
    """A rule: each tensor among ``names`` is 0-d or has one value per image of ``img``."""
    def rule(arguments, owner):
        n = _n(arguments["img"])
        for name in names:
            value = arguments[name]
            if isinstance(value, torch.Tensor) and (value.ndim > 1 or (value.ndim == 1 and value.shape[0] != n)):
                raise ValueError(f"The '{name}' parameter of {owner} must be a number or a tensor of shape ({n},), "
                                 f"one per image. Got shape {tuple(value.shape)} instead.")
    return rule


def _box_tensors_fit(*, integer=False):
    """A rule: with per-image tensors, every image's box fits in the image (plain numbers: ``box_fits``)."""
    def rule(arguments, owner):
        box = [arguments[k] for k in ("top", "left", "height", "width")]
        if not any(isinstance(v, torch.Tensor) for v in box):
            return
        img = arguments["img"]
        h, w = _hw(img)
        n = _n(img)
        dtype = torch.int64 if integer else torch.float64
        top, left, height, width = (torch.as_tensor(v).to("cpu", dtype).reshape(-1).expand(n) for v in box)
        least = "must be >= 0" if integer else "must be positive"
        for start, extent, size, s_name, e_name in ((top, height, h, "top", "height"),
                                                     (left, width, w, "left", "width")):
            positive = extent >= 0 if integer else extent > 0
            if not bool(((start >= 0) & positive & (start + extent <= size)).all()):
                raise ValueError(f"The '{e_name}' parameter of {owner} {least} with {s_name} >= 0 and "
                                 f"{s_name} + {e_name} <= {size}, so the box fits in the image. Got {s_name} "
                                 f"{start.tolist()} and {e_name} {extent.tolist()} instead.")
    return rule


def _one_shift_per_channel(arguments, owner):
    img, shift = arguments["img"], arguments["shift"]
    n, c = (img.shape[0], img.shape[1]) if img.ndim == 4 else (1, img.shape[0])
    try:
        values = torch.as_tensor(shift, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"The 'shift' parameter of {owner} must be a sequence of floats or a float tensor, one "
                        f"per channel. Got {shift!r} instead.") from None
    if values.shape not in ((c,), (n, c)):
        raise ValueError(f"The 'shift' parameter of {owner} must hold one value per channel, shape ({c},) or "
                         f"({n}, {c}). Got shape {tuple(values.shape)} instead.")
    if not bool(((values >= SHIFT[0]) & (values <= SHIFT[1])).all()):  # NaN fails this too
        raise ValueError(f"The 'shift' parameter of {owner} must have values in the range [-1, 1]. "
                         f"Got {values.tolist()} instead.")


def _noise_like_image(arguments, owner):
    img, noise = arguments["img"], arguments["noise"]
    if not isinstance(noise, torch.Tensor) or not noise.dtype.is_floating_point:
        raise TypeError(f"The 'noise' parameter of {owner} must be a float tensor. Got {type(noise).__name__} "
                        f"{getattr(noise, 'dtype', '')} instead.")
    # one image's noise (C, H, W) also fits a batch of one
    if noise.shape != img.shape and not (img.ndim == 4 and img.shape[0] == 1 and noise.shape == img.shape[1:]):
        raise ValueError(f"The 'noise' parameter of {owner} must have the image's shape {tuple(img.shape)}. "
                         f"Got {tuple(noise.shape)} instead.")
    if not bool(torch.isfinite(noise).all()):
        raise ValueError(f"The 'noise' parameter of {owner} must be finite. Got NaN or inf instead.")


def _mask_like_image(arguments, owner):
    img, mask = arguments["img"], arguments["mask"]
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"The 'mask' parameter of {owner} must be a bool tensor. Got "
                        f"{type(mask).__name__} {getattr(mask, 'dtype', '')} instead.")
    n, (h, w) = _n(img), _hw(img)
    if mask.shape not in ((h, w), (n, h, w)):
        raise ValueError(f"The 'mask' parameter of {owner} must have shape ({h}, {w}) or ({n}, {h}, {w}). "
                         f"Got {tuple(mask.shape)} instead.")


ROTATE_T = {**ROTATE, "angle": PerImage(*ANGLE)}
BOX = {k: PerImage() for k in ("top", "left", "height", "width")}
INT_BOX = {k: PerImage(integer=True) for k in ("top", "left", "height", "width")}
ADJUST_T = {**ADJUST_CONTRAST_BRIGHTNESS, "contrast": PerImage(*CONTRAST), "brightness": PerImage(*BRIGHTNESS)}


# --------------------------------------------------------------------------- helpers
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


def _per_image(value, img, dtype=None):
    """A number or an (N,) tensor as an (N,) tensor on ``img``'s device (work dtype unless ``dtype``)."""
    n, dtype = img.shape[0], dtype or _work_dtype(img)
    if isinstance(value, torch.Tensor):
        return value.to(device=img.device, dtype=dtype).expand(n)
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
@validate_params(img=IMAGE)
def hflip(img):
    r"""Twin of the NumPy ``hflip``, mirroring the last axis (W):
    :math:`\mathrm{out}[\dots, j] = \mathrm{img}[\dots, W - 1 - j]`."""
    return img.flip(-1)


@validate_params(img=IMAGE)
def vflip(img):
    r"""Twin of the NumPy ``vflip``, mirroring axis H:
    :math:`\mathrm{out}[\dots, i, :] = \mathrm{img}[\dots, H - 1 - i, :]`."""
    return img.flip(-2)


@validate_params(ROTATE_T, _one_per_image("angle"), img=IMAGE)
@_batched
def rotate(img, angle, *, fill=0.0):
    r"""Twin of the NumPy ``rotate``; ``angle`` may be an (N,) tensor of degrees.

    .. math::

        x_{\text{src}} = c_x + d_x\cos\theta - d_y\sin\theta, \qquad
        y_{\text{src}} = c_y + d_x\sin\theta + d_y\cos\theta

    read bilinearly; a corner outside the image counts as ``fill``.
    """
    work = _to_work(img)
    h, w = img.shape[-2:]
    theta = torch.deg2rad(_per_image(angle, img))[:, None, None]
    cos, sin = torch.cos(theta), torch.sin(theta)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    xs, ys = _pixel_grid(img, work.dtype)
    dx, dy = (xs - cx)[None, None, :], (ys - cy)[None, :, None]
    x = cx + cos * dx - sin * dy
    y = cy + sin * dx + cos * dy
    value = fill * _peak(img)
    if value == 0:
        out = _sample(work, x, y, "zeros")
    else:  # zeros padding of img - fill, then + fill: an outside corner reads fill
        out = _sample(work - value, x, y, "zeros") + value
    return _finish(out, img)


@validate_params(BOX, _one_per_image("top", "left", "height", "width"), box_fits(_hw), _box_tensors_fit(),
                 img=IMAGE)
@_batched
def crop_resize(img, top, left, height, width):
    r"""Twin of the NumPy ``crop_resize``; the four box numbers may be (N,) tensors.

    .. math::

        y_{\text{src}} = \text{top} + (i + \tfrac12)\,\frac{\text{height}}{H} - \tfrac12, \qquad
        x_{\text{src}} = \text{left} + (j + \tfrac12)\,\frac{\text{width}}{W} - \tfrac12
    """
    work = _to_work(img)
    h, w = img.shape[-2:]
    top, left, height, width = (_per_image(v, img) for v in (top, left, height, width))
    xs, ys = _pixel_grid(img, work.dtype)
    y = top[:, None, None] + (ys[None, :, None] + 0.5) * (height / h)[:, None, None] - 0.5
    x = left[:, None, None] + (xs[None, None, :] + 0.5) * (width / w)[:, None, None] - 0.5
    x, y = torch.broadcast_tensors(x, y)
    return _finish(_sample(work, x, y, "border"), img)


# --------------------------------------------------------------------------- intensity
@validate_params(None, _one_shift_per_channel, img=IMAGE)
@_batched
def color_shift(img, shift):
    r"""Twin of the NumPy ``color_shift``, :math:`\mathrm{out}_c = \mathrm{clip}(\mathrm{img}_c + s_c)`;
    ``shift`` has shape (C,) or (N, C)."""
    n, c = img.shape[:2]
    shift = torch.as_tensor(shift, dtype=_work_dtype(img), device=img.device).expand(n, c)
    return _finish(_to_work(img) + (shift * _peak(img))[:, :, None, None], img)


@validate_params(None, _noise_like_image, img=IMAGE)
@_batched
def add_noise(img, noise):
    r"""Twin of the NumPy ``add_noise``, :math:`\mathrm{out} = \mathrm{clip}(\mathrm{img} + \mathrm{noise})`;
    ``noise`` has ``img``'s shape."""
    return _finish(_to_work(img) + noise.to(device=img.device, dtype=_work_dtype(img)) * _peak(img), img)


def _box_mask(img, top, left, height, width):
    h, w = img.shape[-2:]
    rows = torch.arange(h, device=img.device)[None, :]
    cols = torch.arange(w, device=img.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
    return in_rows[:, None, :, None] & in_cols[:, None, None, :]


def _fill_value(img, value):
    return _finish(torch.tensor(value * _peak(img), dtype=_work_dtype(img), device=img.device), img)


@validate_params({**ERASE, **INT_BOX}, _one_per_image("top", "left", "height", "width"),
                 box_fits(_hw, integer=True), _box_tensors_fit(integer=True), img=IMAGE)
@_batched
def erase(img, top, left, height, width, value=0.0):
    """Twin of the NumPy ``erase``: the box ``[top, top+height) x [left, left+width)`` becomes ``value``;
    the box numbers may be (N,) integer tensors."""
    top, left, height, width = (_per_image(v, img, torch.int64) for v in (top, left, height, width))
    return torch.where(_box_mask(img, top, left, height, width), _fill_value(img, value), img)


@validate_params(DROP_PIXELS, _mask_like_image, img=IMAGE)
@_batched
def drop_pixels(img, mask, value=0.0):
    """Twin of the NumPy ``drop_pixels``: where ``mask`` is True every channel becomes ``value``;
    ``mask`` has shape (H, W) or (N, H, W)."""
    n, _, h, w = img.shape
    return torch.where(mask.to(img.device).expand(n, h, w)[:, None], _fill_value(img, value), img)


@validate_params(ADJUST_T, _one_per_image("contrast", "brightness"), img=IMAGE)
@_batched
def adjust_contrast_brightness(img, contrast, brightness):
    r"""Twin of the NumPy ``adjust_contrast_brightness``, with the mean :math:`\bar m` taken per image:

    .. math::

        \mathrm{out} = \mathrm{clip}\big(c\,(\mathrm{img} - \bar m) + \bar m + b\big)

    Both factors may be (N,) tensors.
    """
    work = _to_work(img)
    mean = work.mean(dim=(1, 2, 3), keepdim=True)
    c = _per_image(contrast, img)[:, None, None, None]
    b = _per_image(brightness, img)[:, None, None, None]
    # c (x - m) + m + b, rearranged as c x + [(1 - c) m + b] so the big tensor is read once.
    return _finish(torch.addcmul((1 - c) * mean + b * _peak(img), c, work), img)
