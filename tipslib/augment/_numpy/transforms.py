"""Random augmentations: draw the parameters, then call the deterministic function.

Every transform has ``draw(shape, rng) -> params`` (a dict of plain values for
one image of ``shape`` (H, W, C)), ``apply(img, params)`` and
``__call__(img, rng)``, which is ``apply(img, draw(img.shape, rng))``. Testing
``draw`` by its statistics and ``apply`` against the deterministic functions
covers the transform without matching random streams across libraries.
"""

from __future__ import annotations

import math

import numpy as np

from ..._checks import check_bool, check_real, check_rng
from .._checks import check_image_shape, check_range_pair
from . import functional as F

__all__ = [
    "RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise",
    "RandomErasing", "PixelDropout", "ContrastBrightness", "Compose",
]



class _Transform:
    def draw(self, shape, rng):
        raise NotImplementedError

    def apply(self, img, params):
        raise NotImplementedError

    def __call__(self, img, rng=None):
        F.check_image(img, type(self).__name__)
        return self.apply(img, self.draw(img.shape, check_rng(rng, type(self).__name__)))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RandomFlip(_Transform):
    """Flip left-right and/or top-bottom, each with probability ``p``, independently.

    See Also
    --------
    torchvision.transforms.v2.RandomHorizontalFlip, RandomVerticalFlip : one axis each.
    """

    def __init__(self, p=0.5, horizontal=True, vertical=False):
        self.p = check_real(p, "p", "RandomFlip", low=0, high=1)
        self.horizontal = check_bool(horizontal, "horizontal", "RandomFlip")
        self.vertical = check_bool(vertical, "vertical", "RandomFlip")

    def draw(self, shape, rng):
        h, v = rng.random(2) < self.p
        return {"horizontal": bool(h and self.horizontal), "vertical": bool(v and self.vertical)}

    def apply(self, img, params):
        if params["horizontal"]:
            img = F.hflip(img)
        if params["vertical"]:
            img = F.vflip(img)
        return img


class RandomRotation(_Transform):
    r"""Rotate by an angle drawn uniformly from :math:`[-\text{max\_angle}, \text{max\_angle}]` degrees.

    A slight angle mimics a camera held askew. See :func:`rotate`.

    See Also
    --------
    torchvision.transforms.v2.RandomRotation : ``degrees=max_angle``; nearest
        interpolation by default.
    """

    def __init__(self, max_angle=15.0, fill=0.0):
        self.max_angle = check_real(max_angle, "max_angle", "RandomRotation", low=0, high=180)
        self.fill = check_real(fill, "fill", "RandomRotation", low=0, high=1)

    def draw(self, shape, rng):
        return {"angle": float(rng.uniform(-self.max_angle, self.max_angle))}

    def apply(self, img, params):
        return F.rotate(img, params["angle"], fill=self.fill)


class RandomCrop(_Transform):
    r"""Zoom on a random part: a box with the image's aspect ratio and a fraction
    :math:`a \sim U(\text{scale})` of its area, placed uniformly, resized back.

    The box has sides :math:`H\sqrt a` and :math:`W\sqrt a` (fractional sizes
    and positions are fine: :func:`crop_resize` samples bilinearly).

    See Also
    --------
    torchvision.transforms.v2.RandomResizedCrop : also varies the aspect
        ratio and rounds the box to whole pixels.
    """

    def __init__(self, scale=(0.5, 1.0)):
        self.scale = check_range_pair(scale, "scale", "RandomCrop", low=0, high=1, low_open=True)

    def draw(self, shape, rng):
        h, w = shape[:2]
        side = math.sqrt(rng.uniform(*self.scale))
        height, width = h * side, w * side
        u, v = rng.random(2)
        return {"top": float(u * (h - height)), "left": float(v * (w - width)),
                "height": height, "width": width}

    def apply(self, img, params):
        return F.crop_resize(img, params["top"], params["left"], params["height"], params["width"])


class ColorShift(_Transform):
    r"""Shift each channel by its own offset :math:`s_c \sim U(-\text{max\_shift}, \text{max\_shift})`
    (0..1 scale): the hues change slightly, as under different light."""

    def __init__(self, max_shift=0.1):
        self.max_shift = check_real(max_shift, "max_shift", "ColorShift", low=0, high=1)

    def draw(self, shape, rng):
        return {"shift": rng.uniform(-self.max_shift, self.max_shift, size=shape[2])}

    def apply(self, img, params):
        return F.color_shift(img, params["shift"])


class GaussianNoise(_Transform):
    r"""Add :math:`\sigma\,\mathcal{N}(0, 1)` noise to every value (0..1 scale), ``std`` = :math:`\sigma`.

    See Also
    --------
    torchvision.transforms.v2.GaussianNoise : the same on float images, without clipping by default.
    """

    def __init__(self, std=0.05):
        self.std = check_real(std, "std", "GaussianNoise", low=0, high=1)

    def draw(self, shape, rng):
        return {"noise": self.std * rng.standard_normal(shape)}

    def apply(self, img, params):
        return F.add_noise(img, params["noise"])


class RandomErasing(_Transform):
    r"""With probability ``p`` erase one rectangle (Zhong et al., 2020, "Random Erasing").

    Its area is a fraction :math:`a \sim U(\text{scale})` of the image and its
    aspect ratio :math:`r = h/w` is log-uniform in ``ratio``:
    :math:`h = \mathrm{round}\sqrt{aHWr}`, :math:`w = \mathrm{round}\sqrt{aHW/r}`,
    clipped to the image, placed uniformly.

    See Also
    --------
    torchvision.transforms.v2.RandomErasing : retries until the box fits;
        here the box is clipped instead, so one draw always suffices.
    """

    def __init__(self, p=0.5, scale=(0.02, 0.2), ratio=(0.3, 3.3), value=0.0):
        owner = "RandomErasing"
        self.p = check_real(p, "p", owner, low=0, high=1)
        self.scale = check_range_pair(scale, "scale", owner, low=0, high=1)
        self.ratio = check_range_pair(ratio, "ratio", owner, low=0, low_open=True)
        self.value = check_real(value, "value", owner, low=0, high=1)

    def draw(self, shape, rng):
        h, w = shape[:2]
        u = rng.random(5)
        area = (self.scale[0] + u[0] * (self.scale[1] - self.scale[0])) * h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = math.exp(log_lo + u[1] * (log_hi - log_lo))
        height = min(max(round(math.sqrt(area * r)), 1), h)
        width = min(max(round(math.sqrt(area / r)), 1), w)
        if u[2] >= self.p:
            height = width = 0
        top = min(int(u[3] * (h - height + 1)), h - height)
        left = min(int(u[4] * (w - width + 1)), w - width)
        return {"top": top, "left": left, "height": height, "width": width}

    def apply(self, img, params):
        return F.erase(img, params["top"], params["left"], params["height"], params["width"], self.value)


class PixelDropout(_Transform):
    """Drop each pixel (all its channels) with probability ``p``, setting it to ``value``."""

    def __init__(self, p=0.05, value=0.0):
        self.p = check_real(p, "p", "PixelDropout", low=0, high=1)
        self.value = check_real(value, "value", "PixelDropout", low=0, high=1)

    def draw(self, shape, rng):
        return {"mask": rng.random(shape[:2]) < self.p}

    def apply(self, img, params):
        return F.drop_pixels(img, params["mask"], self.value)


class ContrastBrightness(_Transform):
    r"""Contrast factor :math:`c \sim U(1 - \text{contrast}, 1 + \text{contrast})` and brightness
    offset :math:`b \sim U(-\text{brightness}, \text{brightness})`; see :func:`adjust_contrast_brightness`.

    See Also
    --------
    torchvision.transforms.v2.ColorJitter : ``contrast`` means the same range
        of factors; its brightness is a factor, ours an offset.
    """

    def __init__(self, contrast=0.2, brightness=0.1):
        self.contrast = check_real(contrast, "contrast", "ContrastBrightness", low=0, high=1)
        self.brightness = check_real(brightness, "brightness", "ContrastBrightness", low=0, high=1)

    def draw(self, shape, rng):
        c, b = rng.uniform(-1, 1, size=2)
        return {"contrast": 1.0 + self.contrast * float(c), "brightness": self.brightness * float(b)}

    def apply(self, img, params):
        return F.adjust_contrast_brightness(img, params["contrast"], params["brightness"])


class Compose:
    """Chain transforms and apply them to a batch, drawing new parameters for every image.

    Pass it as ``transform=`` to :func:`tipslib.training.numpy_impl.fit` to
    augment each mini-batch on the fly: every epoch sees new variants.

    Parameters
    ----------
    transforms : sequence of callables ``t(img, rng) -> img``
        Applied in order to each (H, W, C) image.
    rng : numpy.random.Generator, optional
        Source of all the random draws; a fresh unseeded one if omitted.
    image_shape : (H, W, C), optional
        For flattened data such as digits: a batch (N, H*W*C) is reshaped to
        (N, H, W, C), augmented and flattened back, e.g. ``image_shape=(8, 8, 1)``.

    ``__call__(x)`` accepts a batch (N, H, W, C), one image (H, W, C) or, with
    ``image_shape``, a flattened batch; the output has the input's shape and dtype.
    A ``uint8`` input is converted to float32 on the 0..1 scale once, runs
    through the whole chain and is rounded back once at the end, instead of
    being rounded after every step.

    See Also
    --------
    torchvision.transforms.v2.Compose : one image (or one parameter draw) per call;
        the torch twin draws per image across a whole batch at once.
    """

    def __init__(self, transforms, *, rng=None, image_shape=None):
        transforms = list(transforms)
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"The 'transforms' parameter of Compose must hold callables. "
                                f"Got {t!r} at position {i} instead.")
        self.transforms = transforms
        self.rng = check_rng(rng, "Compose")
        self.image_shape = check_image_shape(image_shape, "Compose")

    def _one(self, img):
        for t in self.transforms:
            img = t(img, self.rng)
        return img

    def _chain(self, images):
        """Augment a stack of images (N, H, W, C), one at a time."""
        if len(images) == 0:
            return images.copy()
        if images.dtype == np.uint8:
            out = np.stack([self._one(img) for img in images.astype(np.float32) / np.float32(255)])
            return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
        return np.stack([self._one(img) for img in images])

    def __call__(self, x):
        owner = "Compose"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"The 'x' parameter of {owner} must be a numpy array. Got {type(x).__name__} instead.")
        if self.image_shape is not None:
            size = int(np.prod(self.image_shape))
            if x.ndim != 2 or x.shape[1] != size:
                raise ValueError(f"The 'x' parameter of {owner} must have shape (N, {size}) to match "
                                 f"image_shape={self.image_shape}. Got shape {x.shape} instead.")
            return self._chain(x.reshape((len(x),) + self.image_shape)).reshape(x.shape)
        if x.ndim == 3:
            return self._chain(x[None])[0]
        if x.ndim != 4:
            raise ValueError(f"The 'x' parameter of {owner} must be a batch (N, H, W, C) or an image (H, W, C); "
                             f"pass image_shape for flattened data. Got shape {x.shape} instead.")
        return self._chain(x)

    def __repr__(self):
        inner = "".join(f"\n  {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
