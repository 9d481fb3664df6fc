"""Small helpers importable by every test module (``from helpers import ...``)."""

import numpy as np
import torch


def to_numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def assert_close(actual, expected, rtol=1e-10, atol=1e-12):
    """Compare NumPy arrays and/or tensors with tight float64 tolerances."""
    np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), rtol=rtol, atol=atol)
