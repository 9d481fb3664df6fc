"""Data augmentation in NumPy: the reference implementations, one HWC image at a time.

Deterministic functions take every parameter explicitly (``rotate(img, 10.0)``);
the random transforms draw those parameters from an ``rng`` and call them;
:class:`Compose` runs a pipeline over a batch so it can be ``fit``'s ``transform``.
The torch twin, :mod:`tipslib.augment.torch_impl`, works on NCHW batches and
draws different parameters for every image in one vectorised call.
"""

from ._numpy.functional import *  # noqa: F401,F403
from ._numpy.transforms import *  # noqa: F401,F403
from ._numpy import functional, transforms

__all__ = [*functional.__all__, *transforms.__all__]
del functional, transforms
