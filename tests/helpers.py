"""Small helpers importable by every test module (``from helpers import ...``)."""

import numpy as np
import torch


def to_numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def assert_close(actual, expected, rtol=1e-10, atol=1e-12):
    """Compare NumPy arrays and/or tensors with tight float64 tolerances."""
    np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), rtol=rtol, atol=atol)


def blit_mismatch(widget):
    """Fraction of pixels where a widget's blitted frame differs visibly from a full draw.

    The fast frame is a cached background plus the moving artists; it must look
    like matplotlib drawing the same state from scratch. Only stacking order may
    differ (moving artists are drawn last).
    """
    import io

    from PIL import Image

    fast = np.asarray(Image.open(io.BytesIO(bytes(widget.image.value))).convert("RGB")).astype(int)
    for a in widget.blitter.artists:
        a.set_animated(False)
    try:
        widget.figure.canvas.draw()
        full = np.asarray(widget.figure.canvas.buffer_rgba())[..., :3].astype(int)
    finally:
        for a in widget.blitter.artists:
            a.set_animated(True)
    assert fast.shape == full.shape
    return float((np.abs(fast - full).max(axis=2) > 64).mean())
