"""Random augmentations of whole batches, torch twin of ``tipslib.augment._numpy.transforms``.

Each transform has ``draw(shape, generator) -> params`` (tensors with one row
per image of a batch of ``shape`` (N, C, H, W)), ``apply(batch, params)`` and
``__call__(batch, generator=None)``. Differences from the NumPy twin: one call
augments a whole NCHW batch with different parameters for every image, with
no Python loop over images; draws come from ``generator`` (on its own device,
then moved to the batch's), or from torch's default generator when it is None.
"""

from __future__ import annotations

import math

import torch

from ..._checks import GENERATOR, check_generator, validate_params
from .._shared import (COMPOSE, ColorShiftParams, ComposeBase, ContrastBrightnessParams, GaussianNoiseParams,
                       PixelDropoutParams, RandomCropParams, RandomErasingParams, RandomFlipParams,
                       RandomRotationParams)
from . import functional as F

__all__ = [
    "RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise",
    "RandomErasing", "PixelDropout", "ContrastBrightness", "Compose",
]

# The constructors (parameters checked at the door) are shared with the NumPy
# twin in ``_shared``; here each transform draws its parameters for the whole
# batch and applies the bare deterministic function (``F.rotate.__wrapped__``):
# the batch was checked once by ``__call__``, the draws are valid by construction.


def _rand(size, generator, dtype=torch.float64):
    """Uniform [0, 1) draws on the generator's device (the CPU for the default generator)."""
    device = generator.device if generator is not None else "cpu"
    return torch.rand(size, generator=generator, dtype=dtype, device=device)


class _Transform:
    def draw(self, shape, generator=None):
        raise NotImplementedError

    def apply(self, batch, params):
        raise NotImplementedError

    def __call__(self, batch, generator=None):
        owner = type(self).__name__
        F.check_image(batch, owner)
        generator = check_generator(generator, owner)
        if batch.ndim == 3:
            return self(batch.unsqueeze(0), generator).squeeze(0)
        return self.apply(batch, self.draw(tuple(batch.shape), generator))


def _on(params, batch, dtype=None):
    """Move drawn parameters to the batch's device (and the work dtype for floats)."""
    out = {}
    for k, v in params.items():
        if v.dtype.is_floating_point:
            v = v.to(device=batch.device, dtype=dtype or F._work_dtype(batch))
        else:
            v = v.to(device=batch.device)
        out[k] = v
    return out


class RandomFlip(_Transform, RandomFlipParams):
    """Twin of the NumPy ``RandomFlip``: each image of the batch flips on its own."""

    def draw(self, shape, generator=None):
        u = _rand((shape[0], 2), generator)
        return {"horizontal": (u[:, 0] < self.p) & self.horizontal,
                "vertical": (u[:, 1] < self.p) & self.vertical}

    def apply(self, batch, params):
        p = _on(params, batch)
        out = batch
        for key, dim in (("horizontal", -1), ("vertical", -2)):
            chosen = p[key].nonzero().squeeze(1)
            if len(chosen):  # copy the batch once, then flip only the chosen images
                out = out.clone() if out is batch else out
                out[chosen] = out[chosen].flip(dim)
        return out


class RandomRotation(_Transform, RandomRotationParams):
    """Twin of the NumPy ``RandomRotation``: one angle per image."""

    def draw(self, shape, generator=None):
        return {"angle": (2 * _rand(shape[0], generator) - 1) * self.max_angle}

    def apply(self, batch, params):
        return F.rotate.__wrapped__(batch, _on(params, batch)["angle"], fill=self.fill)


class RandomCrop(_Transform, RandomCropParams):
    """Twin of the NumPy ``RandomCrop``: one box per image."""

    def draw(self, shape, generator=None):
        n, _, h, w = shape
        u = _rand((n, 3), generator)
        side = torch.sqrt(self.scale[0] + u[:, 0] * (self.scale[1] - self.scale[0]))
        height, width = h * side, w * side
        return {"top": u[:, 1] * (h - height), "left": u[:, 2] * (w - width), "height": height, "width": width}

    def apply(self, batch, params):
        p = _on(params, batch)
        return F.crop_resize.__wrapped__(batch, p["top"], p["left"], p["height"], p["width"])


class ColorShift(_Transform, ColorShiftParams):
    """Twin of the NumPy ``ColorShift``: one offset per image and channel."""

    def draw(self, shape, generator=None):
        return {"shift": (2 * _rand(shape[:2], generator) - 1) * self.max_shift}

    def apply(self, batch, params):
        return F.color_shift.__wrapped__(batch, _on(params, batch)["shift"])


class GaussianNoise(_Transform, GaussianNoiseParams):
    """Twin of the NumPy ``GaussianNoise``. The noise is drawn in the batch's work dtype
    (float32 for uint8), on the generator's device."""

    def draw(self, shape, generator=None, *, dtype=torch.float32):
        device = generator.device if generator is not None else "cpu"
        return {"noise": self.std * torch.randn(shape, generator=generator, dtype=dtype, device=device)}

    def __call__(self, batch, generator=None):
        F.check_image(batch, "GaussianNoise")
        if batch.ndim == 3:
            return self(batch.unsqueeze(0), generator).squeeze(0)
        generator = check_generator(generator, "GaussianNoise")
        if generator is None:  # the default generator of the batch's device: no copy across devices
            noise = self.std * torch.randn(batch.shape, dtype=F._work_dtype(batch), device=batch.device)
            return F.add_noise.__wrapped__(batch, noise)
        return self.apply(batch, self.draw(tuple(batch.shape), generator, dtype=F._work_dtype(batch)))

    def apply(self, batch, params):
        return F.add_noise.__wrapped__(batch, params["noise"])


class RandomErasing(_Transform, RandomErasingParams):
    """Twin of the NumPy ``RandomErasing``: each image gets its own box (or none, with probability 1-p)."""

    def draw(self, shape, generator=None):
        n, _, h, w = shape
        u = _rand((n, 5), generator)
        area = (self.scale[0] + u[:, 0] * (self.scale[1] - self.scale[0])) * h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(log_lo + u[:, 1] * (log_hi - log_lo))
        height = torch.round(torch.sqrt(area * r)).clamp(1, h).long()
        width = torch.round(torch.sqrt(area / r)).clamp(1, w).long()
        keep = u[:, 2] < self.p
        height, width = height * keep, width * keep
        top = torch.minimum((u[:, 3] * (h - height + 1)).long(), h - height)
        left = torch.minimum((u[:, 4] * (w - width + 1)).long(), w - width)
        return {"top": top, "left": left, "height": height, "width": width}

    def apply(self, batch, params):
        p = _on(params, batch)
        return F.erase.__wrapped__(batch, p["top"], p["left"], p["height"], p["width"], self.value)


class PixelDropout(_Transform, PixelDropoutParams):
    """Twin of the NumPy ``PixelDropout``: an independent (H, W) mask per image."""

    def draw(self, shape, generator=None):
        n, _, h, w = shape
        return {"mask": _rand((n, h, w), generator, dtype=torch.float32) < self.p}

    def apply(self, batch, params):
        return F.drop_pixels.__wrapped__(batch, params["mask"].to(batch.device), self.value)


class ContrastBrightness(_Transform, ContrastBrightnessParams):
    """Twin of the NumPy ``ContrastBrightness``: one factor and one offset per image."""

    def draw(self, shape, generator=None):
        u = 2 * _rand((shape[0], 2), generator) - 1
        return {"contrast": 1.0 + self.contrast * u[:, 0], "brightness": self.brightness * u[:, 1]}

    def apply(self, batch, params):
        p = _on(params, batch)
        return F.adjust_contrast_brightness.__wrapped__(batch, p["contrast"], p["brightness"])


class Compose(ComposeBase):
    """Twin of the NumPy ``Compose``. Differences: each transform is called once per
    batch, ``t(batch, generator)``, and draws for every image at once; batches
    are NCHW; ``image_shape`` is (C, H, W), e.g. ``(1, 8, 8)`` for flattened digits.
    Like the NumPy twin, a uint8 batch is converted to float32 (0..1) once and
    rounded back once at the end."""

    _array_type = torch.Tensor
    _layout = ("(N, C, H, W)", "(C, H, W)")

    @validate_params(COMPOSE, generator=GENERATOR)
    def __init__(self, transforms, *, generator=None, image_shape=None):
        self.transforms = list(transforms)
        self.generator = generator
        self.image_shape = None if image_shape is None else tuple(int(v) for v in image_shape)

    def _chain(self, batch):
        if len(batch) == 0:
            return batch.clone()
        as_uint8 = batch.dtype == torch.uint8
        if as_uint8:
            batch = batch.to(torch.float32) / 255
        for t in self.transforms:
            batch = t(batch, self.generator)
        if as_uint8:
            batch = (batch * 255).round_().clamp_(0, 255).to(torch.uint8)
        return batch
