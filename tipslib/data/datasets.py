"""Loaders and generators; no network access, ever."""

from __future__ import annotations

import numpy as np

from .._checks import check_int, check_real, check_rng

__all__ = ["load_digits", "load_sample_image", "make_spirals", "make_moons", "make_xor"]



def load_digits(*, images=False):
    """The 1,797 handwritten 8x8 digits that scikit-learn ships (UCI optdigits test set).

    Returns
    -------
    x : ndarray, float64
        Shape (1797, 64), or (1797, 8, 8) with ``images=True``; pixel
        intensities scaled from 0..16 to [0, 1].
    y : ndarray, int64, shape (1797,)
        The digit, 0 to 9.
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    x = bunch.images if images else bunch.data
    return (x / 16.0).astype(np.float64), bunch.target.astype(np.int64)


def load_sample_image():
    """A real photograph, 600x512 RGB ``uint8`` (HWC): the portrait of Grace Hopper
    that matplotlib ships as sample data."""
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.ascontiguousarray(mpimg.imread(path))


def make_spirals(n_samples=300, *, n_classes=3, noise=0.2, rng=None):
    """Interleaved spiral arms, one per class: not linearly separable.

    Each arm turns through 1.5 revolutions as the radius grows from 0 to 1;
    ``noise`` is the standard deviation of Gaussian jitter on the angle.
    Returns ``x`` (n_samples, 2) float64 and ``y`` (n_samples,) int64.
    """
    owner = "make_spirals"
    n = check_int(n_samples, "n_samples", owner, low=1)
    k = check_int(n_classes, "n_classes", owner, low=2)
    noise = check_real(noise, "noise", owner, low=0)
    rng = check_rng(rng, owner)
    y = np.arange(n) % k
    r = rng.uniform(0.0, 1.0, size=n)
    theta = 3.0 * np.pi * r + 2.0 * np.pi * y / k + rng.normal(0.0, noise, size=n)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return x, y.astype(np.int64)


def make_moons(n_samples=300, *, noise=0.1, rng=None):
    """Two interleaving half circles (the shape of scikit-learn's ``make_moons``).

    Returns ``x`` (n_samples, 2) float64 and ``y`` (n_samples,) int64 in {0, 1}.
    """
    owner = "make_moons"
    n = check_int(n_samples, "n_samples", owner, low=1)
    noise = check_real(noise, "noise", owner, low=0)
    rng = check_rng(rng, owner)
    y = np.arange(n) % 2
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) + rng.normal(0.0, noise, size=(n, 2))
    return x, y.astype(np.int64)


def make_xor(n_samples=300, *, noise=0.1, rng=None):
    """Noisy XOR: points in the square [-1, 1]^2, label 1 where the coordinates'
    signs differ. ``noise`` jitters the points after labelling, blurring the axes.
    """
    owner = "make_xor"
    n = check_int(n_samples, "n_samples", owner, low=1)
    noise = check_real(noise, "noise", owner, low=0)
    rng = check_rng(rng, owner)
    clean = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (np.sign(clean[:, 0]) != np.sign(clean[:, 1])).astype(np.int64)
    return clean + rng.normal(0.0, noise, size=(n, 2)), y
