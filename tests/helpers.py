"""Small helpers importable by every test module (``from helpers import ...``)."""

import numpy as np
import torch


def to_numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def tensor(a, device="cpu", grad=False, dtype=torch.float64):
    """A float64 (by default) copy of ``a`` as a tensor, a leaf that requires grad when asked."""
    t = torch.as_tensor(np.asarray(a), dtype=dtype, device=device).clone()
    return t.requires_grad_(grad)


def assert_refused(call, error, *words):
    """``call()`` raises ``error`` (ValueError or TypeError) whose message holds every one of ``words``:
    the one body of every bad-input table in these tests."""
    import pytest

    with pytest.raises(error) as exc:
        call()
    message = str(exc.value)
    for word in words:
        assert word in message, f"{word!r} not in the message: {message}"
    return message


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


def load_bench(name):
    """``bench/<name>.py`` loaded as a fresh module, for a smoke run of its ``run``; ``sys.path`` is
    left as it was (a bench puts its own folder first, to import ``_common``)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_smoke", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module
