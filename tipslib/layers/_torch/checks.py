"""The torch twin's own checks of layer arguments (the NumPy twin's are in ``_numpy/module.py``)."""

from __future__ import annotations

import torch

from .._shared import FloatDtype, own_arrays

__all__ = ["DTYPE", "TENSORS"]

#: The ``dtype`` of a layer's tensors: a floating-point ``torch.dtype``, or ``None`` for torch's default.
DTYPE = FloatDtype(lambda dtype: dtype is None or (isinstance(dtype, torch.dtype) and dtype.is_floating_point),
                   "a floating-point torch.dtype (torch.float16, torch.bfloat16, torch.float32 or torch.float64) "
                   "or None")

#: The rule of every torch layer function's arrays, and of what a layer takes at its door.
TENSORS = own_arrays("a torch.Tensor", lambda a: isinstance(a, torch.Tensor))
