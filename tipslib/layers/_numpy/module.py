"""The base class every NumPy layer shares."""

from __future__ import annotations

import numpy as np

from ..._checks import BOOL, validate_params
from .._shared import FloatDtype, own_arrays

__all__ = ["Module", "DTYPE", "NDARRAYS"]

#: The rule of every NumPy layer function's arrays, and of what a layer takes at its door.
NDARRAYS = own_arrays("a numpy.ndarray", lambda a: isinstance(a, (np.ndarray, np.generic)))


def _is_floating(dtype) -> bool:
    try:
        return np.dtype(dtype).kind == "f"
    except TypeError:  # not a dtype at all
        return False


#: The ``dtype`` of a layer's arrays: anything ``np.dtype`` reads as a float type.
DTYPE = FloatDtype(_is_floating, "a floating-point dtype (np.float16, np.float32 or np.float64, or its name)")


class Module:
    """A layer: ``forward(x)`` caches what ``backward(dout)`` needs.

    Attributes
    ----------
    params : dict[str, numpy.ndarray]
        Trainable arrays. Optimizers update them *in place*, so the same
        array objects stay referenced by the layer and the optimizer.
    grads : dict[str, numpy.ndarray]
        Gradients of the last ``backward`` call, same keys as ``params``.
        Each ``backward`` overwrites them (no accumulation, no ``zero_grad``).
    buffers : dict[str, numpy.ndarray]
        State that is saved with the model but not trained (running statistics).
    training : bool
        ``True`` after :meth:`train`, ``False`` after :meth:`eval`.

    See Also
    --------
    torch.nn.Module : the same ``train()``/``eval()``/``state_dict()`` contract; there
        autograd fills each parameter's ``.grad``, here ``backward`` fills ``grads``.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _last_cache(self):
        """What the last ``forward`` kept for ``backward``; a backward needs a forward first."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward.")
        return self._cache

    @validate_params(mode=BOOL)
    def train(self, mode: bool = True) -> "Module":
        self.training = bool(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed like ``torch``'s ``state_dict``."""
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the existing arrays, so optimizers keep their references."""
        own = {**self.params, **self.buffers}
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"The 'state' parameter of load_state_dict must have the keys {sorted(own)}. "
                f"Missing {missing}, unexpected {unexpected}."
            )
        for k, target in own.items():
            value = np.asarray(state[k])
            if value.shape != target.shape:
                raise ValueError(
                    f"The 'state' parameter of load_state_dict must give '{k}' the shape "
                    f"{target.shape}. Got {value.shape} instead."
                )
            np.copyto(target, value)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
