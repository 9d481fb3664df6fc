"""Deterministic augmentations of one HWC image: every parameter is given.

Conventions shared with the torch twin:

* Images are ``uint8`` (0..255) or floating point (0..1). Every intensity
  argument (``shift``, ``noise``, ``value``, ``fill``, ``brightness``) is on
  the 0..1 scale and is multiplied by 255 for ``uint8`` images. Results keep
  the input's dtype and are clipped to its range (``uint8`` rounded half to even).
* Pixel ``(i, j)`` (row, column) has its centre at the point ``(x, y) = (j, i)``;
  the image centre is ``((W - 1) / 2, (H - 1) / 2)``.
* Resampling is bilinear over the four nearest pixel centres, exactly what
  ``torch.nn.functional.grid_sample(mode='bilinear', align_corners=False)``
  computes once our pixel coordinates are written as its normalised ones.
  Outside the image, rotation sees ``fill``; cropping clamps to the border.
"""

from __future__ import annotations

import math

import numpy as np

from ..._checks import validate_params
from .._shared import ADJUST_CONTRAST_BRIGHTNESS, DROP_PIXELS, ERASE, ROTATE, SHIFT, Image, box_fits

__all__ = [
    "hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise",
    "erase", "drop_pixels", "adjust_contrast_brightness",
]


# --------------------------------------------------------------------------- checks at the door
IMAGE = Image(np.ndarray, (3,), "a 3-D (H, W, C) image")


def check_image(img, owner, name="img"):
    """An HWC array of dtype uint8 or floating point."""
    IMAGE(img, name, owner)


def _hw(img):
    return img.shape[:2]


def _one_shift_per_channel(arguments, owner):
    img, shift = arguments["img"], arguments["shift"]
    try:
        values = np.asarray(shift, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"The 'shift' parameter of {owner} must be a sequence of floats, one per channel. "
                        f"Got {shift!r} instead.") from None
    if values.shape != (img.shape[2],):
        raise ValueError(f"The 'shift' parameter of {owner} must hold one value per channel, shape "
                         f"({img.shape[2]},). Got shape {values.shape} instead.")
    if not np.all((values >= SHIFT[0]) & (values <= SHIFT[1])):  # NaN fails this too
        raise ValueError(f"The 'shift' parameter of {owner} must have values in the range [-1, 1]. "
                         f"Got {values.tolist()} instead.")


def _noise_like_image(arguments, owner):
    img, noise = arguments["img"], arguments["noise"]
    if not isinstance(noise, np.ndarray) or noise.dtype.kind != "f":
        raise TypeError(f"The 'noise' parameter of {owner} must be a float array. Got {type(noise).__name__} "
                        f"{getattr(noise, 'dtype', '')} instead.")
    if noise.shape != img.shape:
        raise ValueError(f"The 'noise' parameter of {owner} must have the image's shape {img.shape}. "
                         f"Got {noise.shape} instead.")
    if not np.isfinite(noise).all():
        raise ValueError(f"The 'noise' parameter of {owner} must be finite. Got NaN or inf instead.")


def _mask_like_image(arguments, owner):
    img, mask = arguments["img"], arguments["mask"]
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        raise TypeError(f"The 'mask' parameter of {owner} must be a bool array. Got "
                        f"{type(mask).__name__} {getattr(mask, 'dtype', '')} instead.")
    if mask.shape != img.shape[:2]:
        raise ValueError(f"The 'mask' parameter of {owner} must have shape {img.shape[:2]} (H, W). "
                         f"Got {mask.shape} instead.")


# --------------------------------------------------------------------------- helpers
def _peak(img):
    return 255.0 if img.dtype == np.uint8 else 1.0


def _to_work(img):
    # uint8 becomes float64 for the arithmetic; float images keep their precision.
    return img.astype(np.float64) if img.dtype == np.uint8 else img


def _finish(out, like):
    """Back to ``like``'s dtype, clipped to its range."""
    if like.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.clip(out, 0.0, 1.0).astype(like.dtype, copy=False)


def _bilinear(img, x, y, fill):
    r"""Sample ``img`` (H, W, C) at the points ``(x, y)`` (arrays of one shape).

    .. math::

        \mathrm{out} = \sum_{a, b \in \{0, 1\}} (1 - |x - x_a|)(1 - |y - y_b|)\; v(x_a, y_b),
        \qquad x_0 = \lfloor x \rfloor,\; x_1 = x_0 + 1

    A corner outside the image has value ``fill``; with ``fill=None`` the
    coordinates are clamped to the image first (``padding_mode='border'``).
    """
    h, w = img.shape[:2]
    if fill is None:
        x = np.clip(x, 0, w - 1)
        y = np.clip(y, 0, h - 1)
    x0, y0 = np.floor(x), np.floor(y)
    wx, wy = x - x0, y - y0
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    # Gather from the image flattened to (H*W, C): one np.take per corner is
    # several times faster than 2-D fancy indexing.
    flat = img.reshape(h * w, -1)
    out = np.zeros(x.shape + (flat.shape[1],), dtype=np.result_type(img.dtype, np.float64))
    outside = 0.0
    for dy, wgt_y in ((0, 1 - wy), (1, wy)):
        for dx, wgt_x in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            weight = wgt_y * wgt_x
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            idx = np.where(inside, yy * w + xx, 0)
            if fill is not None:  # an outside corner contributes its weight times fill
                outside = outside + np.where(inside, 0.0, weight)
                weight = np.where(inside, weight, 0.0)
            out += weight[..., None] * np.take(flat, idx, axis=0)
    if fill is not None and fill != 0:
        out += outside[..., None] * fill
    return out.reshape(x.shape + img.shape[2:])


# --------------------------------------------------------------------------- geometry
@validate_params(img=IMAGE)
def hflip(img):
    r"""Mirror left-right: :math:`\mathrm{out}[i, j] = \mathrm{img}[i, W - 1 - j]`.

    Use it when the mirror image means the same thing (a cat, a car), not for
    text or digits.

    See Also
    --------
    torchvision.transforms.v2.functional.horizontal_flip : the same on CHW tensors.
    """
    return img[:, ::-1].copy()


@validate_params(img=IMAGE)
def vflip(img):
    r"""Mirror top-bottom: :math:`\mathrm{out}[i, j] = \mathrm{img}[H - 1 - i, j]`.

    See Also
    --------
    torchvision.transforms.v2.functional.vertical_flip : the same on CHW tensors.
    """
    return img[::-1].copy()


@validate_params(ROTATE, img=IMAGE)
def rotate(img, angle, *, fill=0.0):
    r"""Rotate by ``angle`` degrees counter-clockwise about the image centre, same size out.

    Each output pixel looks up where it came from (inverse mapping), with
    offsets :math:`(d_x, d_y)` from the centre :math:`(c_x, c_y)` and rows
    growing downwards:

    .. math::

        x_{\text{src}} = c_x + d_x\cos\theta - d_y\sin\theta, \qquad
        y_{\text{src}} = c_y + d_x\sin\theta + d_y\cos\theta

    and reads the image there bilinearly; corners falling outside take ``fill``.

    Parameters
    ----------
    img : ndarray (H, W, C), uint8 or float
    angle : float in [-180, 180]
        Degrees; positive turns the picture counter-clockwise as displayed.
    fill : float in [0, 1], default 0
        Value (0..1 scale) of the area that rotates in from outside.

    See Also
    --------
    torchvision.transforms.v2.functional.rotate : same direction and centre;
        its default interpolation is nearest, ours bilinear.
    scipy.ndimage.rotate : with ``order=1, reshape=False`` equal on the interior.
    """
    h, w = img.shape[:2]
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    dx = np.arange(w, dtype=np.float64)[None, :] - cx
    dy = np.arange(h, dtype=np.float64)[:, None] - cy
    x = cx + cos * dx - sin * dy
    y = cy + sin * dx + cos * dy
    out = _bilinear(_to_work(img), x, y, fill * _peak(img))
    return _finish(out, img)


@validate_params(None, box_fits(_hw), img=IMAGE)
def crop_resize(img, top, left, height, width):
    r"""Cut the box ``[top, top + height) x [left, left + width)`` and stretch it back to (H, W).

    The box may have fractional edges. Output pixel :math:`(i, j)` reads the
    box at its own relative position (``align_corners=False``):

    .. math::

        y_{\text{src}} = \text{top} + (i + \tfrac12)\,\frac{\text{height}}{H} - \tfrac12, \qquad
        x_{\text{src}} = \text{left} + (j + \tfrac12)\,\frac{\text{width}}{W} - \tfrac12

    bilinearly, with coordinates clamped to the image. The full box is the identity.

    Parameters
    ----------
    img : ndarray (H, W, C)
    top, left : float, >= 0
    height, width : float, > 0, with ``top + height <= H`` and ``left + width <= W``

    See Also
    --------
    torchvision.transforms.v2.functional.resized_crop : integer boxes and an
        anti-aliased resize; ours samples the box bilinearly without anti-aliasing.
    """
    h, w = img.shape[:2]
    y = top + (np.arange(h, dtype=np.float64)[:, None] + 0.5) * (height / h) - 0.5
    x = left + (np.arange(w, dtype=np.float64)[None, :] + 0.5) * (width / w) - 0.5
    x, y = np.broadcast_arrays(x, y)
    out = _bilinear(_to_work(img), x, y, None)
    return _finish(out, img)


# --------------------------------------------------------------------------- intensity
@validate_params(None, _one_shift_per_channel, img=IMAGE)
def color_shift(img, shift):
    r"""Add a constant to each colour channel: :math:`\mathrm{out}_c = \mathrm{clip}(\mathrm{img}_c + s_c)`.

    Parameters
    ----------
    img : ndarray (H, W, C)
    shift : sequence of C floats in [-1, 1]
        One offset per channel on the 0..1 scale (times 255 for uint8).

    See Also
    --------
    torchvision.transforms.v2.ColorJitter : changes brightness, contrast, saturation and
        hue; neither torch nor torchvision adds a separate offset to each channel.
    """
    shift = np.asarray(shift, dtype=np.float64)
    return _finish(_to_work(img) + shift * _peak(img), img)


@validate_params(None, _noise_like_image, img=IMAGE)
def add_noise(img, noise):
    r"""Add a given noise image: :math:`\mathrm{out} = \mathrm{clip}(\mathrm{img} + \mathrm{noise})`.

    ``noise`` has the image's shape, on the 0..1 scale; :class:`GaussianNoise`
    draws it as :math:`\sigma\,\mathcal{N}(0, 1)`.

    See Also
    --------
    torchvision.transforms.v2.GaussianNoise : draws the noise itself (and clips by
        default); here the noise is given, so the function is deterministic.
    """
    return _finish(_to_work(img) + noise * _peak(img), img)


@validate_params(ERASE, box_fits(_hw, integer=True), img=IMAGE)
def erase(img, top, left, height, width, value=0.0):
    r"""Information loss: set the integer box ``[top, top+height) x [left, left+width)`` to ``value``.

    .. math::

        \mathrm{out}[i, j] = \begin{cases} v & \text{top} \le i < \text{top} + h
            \text{ and } \text{left} \le j < \text{left} + w \\
            \mathrm{img}[i, j] & \text{otherwise} \end{cases}

    in every channel, with :math:`v` = ``value`` (0..1 scale, default 0). A box of
    height or width 0 erases nothing. ``img`` is (H, W, C); ``out`` has its shape and dtype.

    See Also
    --------
    torchvision.transforms.v2.functional.erase : the same with a tensor value.
    """
    out = img.copy()
    out[top:top + height, left:left + width] = _finish(np.float64(value * _peak(img)), img)
    return out


@validate_params(DROP_PIXELS, _mask_like_image, img=IMAGE)
def drop_pixels(img, mask, value=0.0):
    r"""Information loss pixel by pixel: where ``mask`` (H, W) is True every channel becomes ``value``.

    .. math::

        \mathrm{out}[i, j, c] = \begin{cases} v & \mathrm{mask}[i, j] \\
            \mathrm{img}[i, j, c] & \text{otherwise} \end{cases}

    with :math:`v` = ``value`` (0..1 scale, default 0). ``img`` is (H, W, C); ``out`` has
    its shape and dtype.

    See Also
    --------
    torch.nn.functional.dropout : zeroes single values and scales the survivors by
        :math:`1/(1-p)`; here whole pixels drop, to ``value``, unscaled. torchvision has
        no such transform.
    """
    fill = _finish(np.float64(value * _peak(img)), img)
    return np.where(mask[..., None], fill, img).astype(img.dtype, copy=False)


@validate_params(ADJUST_CONTRAST_BRIGHTNESS, img=IMAGE)
def adjust_contrast_brightness(img, contrast, brightness):
    r"""Stretch intensities about the image mean, then shift them:

    .. math::

        \mathrm{out} = \mathrm{clip}\big(c\,(\mathrm{img} - \bar m) + \bar m + b\big)

    where :math:`\bar m` is the mean over all pixels and channels. ``c > 1``
    raises the contrast, ``c < 1`` flattens it (``c = 0`` gives a uniform
    image); ``b`` brightens or darkens, like light at another time of day.

    Parameters
    ----------
    contrast : float in [0, 10]
    brightness : float in [-1, 1]
        On the 0..1 scale.

    See Also
    --------
    torchvision.transforms.v2.functional.adjust_contrast : blends with the mean
        of the grey image; ``adjust_brightness`` multiplies instead of adding.
    """
    work = _to_work(img)
    mean = work.mean()
    return _finish(contrast * (work - mean) + mean + brightness * _peak(img), img)
