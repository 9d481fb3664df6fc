"""Data sets that work offline: digits, 2-D toys, a sample photo, splits and scaling.

Everything returns NumPy arrays; :func:`to_torch` turns them into tensors.
"""

from .datasets import load_digits, load_sample_image, make_moons, make_spirals, make_xor
from .preprocessing import Standardizer, to_torch, train_val_test_split

__all__ = [
    "load_digits", "load_sample_image", "make_spirals", "make_moons", "make_xor",
    "train_val_test_split", "Standardizer", "to_torch",
]
