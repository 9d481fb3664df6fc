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

from ..._checks import RNG, check_rng, validate_params
from .._shared import (COMPOSE, ColorShiftParams, ComposeBase, ContrastBrightnessParams, GaussianNoiseParams,
                       PixelDropoutParams, RandomCropParams, RandomErasingParams, RandomFlipParams,
                       RandomRotationParams)
from . import functional as F

__all__ = [
    "RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise",
    "RandomErasing", "PixelDropout", "ContrastBrightness", "Compose",
]

# The constructors (parameters checked at the door) are shared with the torch
# twin in ``_shared``; here each transform draws its parameters and applies the
# bare deterministic function (``F.rotate.__wrapped__``): the image was checked
# once by ``__call__`` and the drawn parameters are valid by construction.


class _Transform:
    def draw(self, shape, rng):
        raise NotImplementedError

    def apply(self, img, params):
        raise NotImplementedError

    def __call__(self, img, rng=None):
        owner = type(self).__name__
        F.check_image(img, owner)
        rng = check_rng(rng, owner)
        return self.apply(img, self.draw(img.shape, rng))


class RandomFlip(_Transform, RandomFlipParams):
    """Flip left-right and/or top-bottom, each with probability ``p``, independently.

    See Also
    --------
    hflip, vflip : the formulas.
    torchvision.transforms.v2.RandomHorizontalFlip, RandomVerticalFlip : one axis each.
    """

    def draw(self, shape, rng):
        h, v = rng.random(2) < self.p
        return {"horizontal": bool(h and self.horizontal), "vertical": bool(v and self.vertical)}

    def apply(self, img, params):
        if params["horizontal"]:
            img = F.hflip.__wrapped__(img)
        if params["vertical"]:
            img = F.vflip.__wrapped__(img)
        return img


class RandomRotation(_Transform, RandomRotationParams):
    r"""Rotate by an angle drawn uniformly from :math:`[-\text{max\_angle}, \text{max\_angle}]` degrees.

    A slight angle mimics a camera held askew. See :func:`rotate`.

    See Also
    --------
    torchvision.transforms.v2.RandomRotation : ``degrees=max_angle``; nearest
        interpolation by default.
    """

    def draw(self, shape, rng):
        return {"angle": float(rng.uniform(-self.max_angle, self.max_angle))}

    def apply(self, img, params):
        return F.rotate.__wrapped__(img, params["angle"], fill=self.fill)


class RandomCrop(_Transform, RandomCropParams):
    r"""Zoom on a random part: a box with the image's aspect ratio and a fraction
    :math:`a \sim U(\text{scale})` of its area, placed uniformly, resized back.

    The box has sides :math:`H\sqrt a` and :math:`W\sqrt a` (fractional sizes
    and positions are fine: :func:`crop_resize` samples bilinearly).

    See Also
    --------
    torchvision.transforms.v2.RandomResizedCrop : also varies the aspect
        ratio and rounds the box to whole pixels.
    """

    def draw(self, shape, rng):
        h, w = shape[:2]
        side = math.sqrt(rng.uniform(*self.scale))
        height, width = h * side, w * side
        u, v = rng.random(2)
        return {"top": float(u * (h - height)), "left": float(v * (w - width)),
                "height": height, "width": width}

    def apply(self, img, params):
        return F.crop_resize.__wrapped__(img, params["top"], params["left"], params["height"], params["width"])


class ColorShift(_Transform, ColorShiftParams):
    r"""Shift each channel by its own offset :math:`s_c \sim U(-\text{max\_shift}, \text{max\_shift})`
    (0..1 scale): the hues change slightly, as under different light.

    See Also
    --------
    color_shift : the formula.
    torchvision.transforms.v2.ColorJitter : random brightness, contrast, saturation and
        hue; no per-channel offset.
    """

    def draw(self, shape, rng):
        return {"shift": rng.uniform(-self.max_shift, self.max_shift, size=shape[2])}

    def apply(self, img, params):
        return F.color_shift.__wrapped__(img, params["shift"])


class GaussianNoise(_Transform, GaussianNoiseParams):
    r"""Add :math:`\sigma\,\mathcal{N}(0, 1)` noise to every value (0..1 scale), ``std`` = :math:`\sigma`.

    See Also
    --------
    torchvision.transforms.v2.GaussianNoise : the same, clipped to the image's range
        by default (``clip=True``) as here; ``sigma`` is our ``std``, and it adds a ``mean``.
    """

    def draw(self, shape, rng):
        return {"noise": self.std * rng.standard_normal(shape)}

    def apply(self, img, params):
        return F.add_noise.__wrapped__(img, params["noise"])


class RandomErasing(_Transform, RandomErasingParams):
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
        return F.erase.__wrapped__(img, params["top"], params["left"], params["height"], params["width"], self.value)


class PixelDropout(_Transform, PixelDropoutParams):
    """Drop each pixel (all its channels) with probability ``p``, setting it to ``value``.

    See Also
    --------
    drop_pixels : the formula.
    torch.nn.Dropout : drops single values and scales the survivors by :math:`1/(1-p)`;
        torchvision has no pixel dropout.
    """

    def draw(self, shape, rng):
        return {"mask": rng.random(shape[:2]) < self.p}

    def apply(self, img, params):
        return F.drop_pixels.__wrapped__(img, params["mask"], self.value)


class ContrastBrightness(_Transform, ContrastBrightnessParams):
    r"""Contrast factor :math:`c \sim U(1 - \text{contrast}, 1 + \text{contrast})` and brightness
    offset :math:`b \sim U(-\text{brightness}, \text{brightness})`; see :func:`adjust_contrast_brightness`.

    See Also
    --------
    torchvision.transforms.v2.ColorJitter : ``contrast`` means the same range
        of factors; its brightness is a factor, ours an offset.
    """

    def draw(self, shape, rng):
        c, b = rng.uniform(-1, 1, size=2)
        return {"contrast": 1.0 + self.contrast * float(c), "brightness": self.brightness * float(b)}

    def apply(self, img, params):
        return F.adjust_contrast_brightness.__wrapped__(img, params["contrast"], params["brightness"])


class Compose(ComposeBase):
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

    _array_type = np.ndarray

    @validate_params(COMPOSE, rng=RNG)
    def __init__(self, transforms, *, rng=None, image_shape=None):
        self.transforms = list(transforms)
        self.rng = np.random.default_rng() if rng is None else rng
        self.image_shape = None if image_shape is None else tuple(int(v) for v in image_shape)

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
