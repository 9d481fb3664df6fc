"""A container that chains layers."""

from __future__ import annotations

import numpy as np

from .._shared import check_layers
from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """Run layers in order; run their backwards in reverse order.

    ``params``, ``grads`` and ``buffers`` gather the layers' arrays under
    torch-style names (``"0.weight"``, ``"2.bias"``), so a NumPy model and an
    ``nn.Sequential`` of the same shape exchange state dicts key for key.

    See Also
    --------
    torch.nn.Sequential : same indexing and parameter names.
    """

    def __init__(self, *layers: Module) -> None:
        # Not Module.__init__: it would assign params/grads/buffers, which here are
        # read-only views of the layers' dicts (assigning to them is a mistake).
        check_layers(layers, Module, "tipslib NumPy layers", type(self).__name__)
        self.training = True
        self.layers = list(layers)

    def _gather(self, attr: str) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in getattr(layer, attr).items()}

    # The dicts are rebuilt on each access from the layers' own dicts, so they
    # always show the arrays the layers hold now (grads are replaced per backward).
    params = property(lambda self: self._gather("params"))
    grads = property(lambda self: self._gather("grads"))
    buffers = property(lambda self: self._gather("buffers"))

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self, mode: bool = True) -> "Sequential":
        super().train(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
