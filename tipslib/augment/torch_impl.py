"""Data augmentation in PyTorch: twin of :mod:`tipslib.augment.numpy_impl`.

The same functions and transforms on NCHW batches, on CPU or GPU. A random
transform draws different parameters for every image of a batch in one
vectorised call (rotations and crops become one ``grid_sample`` with a
per-image sampling grid), so augmenting on the fly costs little next to a
training step. Deterministic results equal the NumPy twin's to float64
round-off: both read the image at the same pixel coordinates with the same
bilinear rule.
"""

from ._torch.functional import *  # noqa: F401,F403
from ._torch.transforms import *  # noqa: F401,F403
from ._torch import functional, transforms

__all__ = [*functional.__all__, *transforms.__all__]
TORCH_ONLY = frozenset()
NUMPY_ONLY = frozenset()
del functional, transforms
