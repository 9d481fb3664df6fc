"""Container, torch twin of ``tipslib.layers._numpy.sequential``."""

from __future__ import annotations

from torch import nn

from .._shared import check_layers

__all__ = ["Sequential"]


class Sequential(nn.Sequential):
    """Twin of the NumPy ``Sequential``: ``torch.nn.Sequential`` itself, which
    already chains modules and names parameters ``"0.weight"``; autograd runs
    the backwards in reverse order."""

    def __init__(self, *layers: nn.Module) -> None:
        check_layers(layers, nn.Module, "torch.nn.Module objects", type(self).__name__)
        super().__init__(*layers)
