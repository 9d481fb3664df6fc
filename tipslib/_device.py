"""Picking where torch code runs."""

from __future__ import annotations


def torch_device(prefer: str | None = None):
    """The ``torch.device`` to use: CUDA when a GPU is visible, else the CPU.

    ``prefer='cpu'`` forces the CPU (for reproducible float64 comparisons).
    """
    import torch

    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
