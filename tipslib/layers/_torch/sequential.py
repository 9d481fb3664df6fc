"""Container, torch twin of ``tipslib.layers._numpy.sequential``."""

from __future__ import annotations

from torch import nn

__all__ = ["Sequential"]


class Sequential(nn.Sequential):
    """Twin of the NumPy ``Sequential``: ``torch.nn.Sequential`` itself, which
    already chains modules and names parameters ``"0.weight"``; autograd runs
    the backwards in reverse order."""

    def __init__(self, *layers: nn.Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(
                    f"The 'layers' parameter of Sequential must hold torch.nn.Module objects. "
                    f"Got {type(layer).__name__} at position {i} instead."
                )
        super().__init__(*layers)
