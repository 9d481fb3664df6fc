"""What every NumPy optimizer shares: holding the arrays, matching their gradients, the ``step`` loop."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .._shared import arrays_like_param

__all__ = ["Optimizer", "NDARRAYS"]

#: The rule of every NumPy ``*_step`` function's arrays: floating-point ndarrays of ``param``'s shape.
NDARRAYS = arrays_like_param(np.ndarray)


class Optimizer:
    """Base of the NumPy optimizers.

    Parameters
    ----------
    params : dict[str, ndarray] or sequence of ndarray
        The arrays to train; ``step`` updates these very objects in place.
        A model's ``params`` dict is the usual argument.

    Attributes
    ----------
    params : list of ndarray
    param_names : list of str or None
        The dict keys when ``params`` was a dict.
    state : list of dict
        Per-array state (momentum buffers, moment estimates, step counts),
        readable for teaching: ``opt.state[0]["exp_avg"]``.

    Hyperparameters are plain attributes (``opt.lr``), never mixed into ``state``:
    a schedule changes ``opt.lr`` between steps.

    A subclass checks its hyperparameters once, in ``__init__``, and says how to
    start an array's state (``_init_state``) and how to update one array
    (``_update``, which calls the bare ``*_step`` function); ``step`` does the rest.

    See Also
    --------
    torch.optim.Optimizer : the same role; there ``step()`` reads each parameter's
        ``.grad`` and hyperparameters live in ``param_groups``, here ``step(grads)``
        takes the gradients and hyperparameters are attributes.
    """

    def __init__(self, params) -> None:
        owner = type(self).__name__
        if isinstance(params, Mapping):
            names, arrays = list(params.keys()), list(params.values())
        elif isinstance(params, np.ndarray):
            raise TypeError(
                f"The 'params' parameter of {owner} must be a dict or a list of arrays. "
                f"Got a single ndarray instead; wrap it in a list."
            )
        else:
            try:
                names, arrays = None, list(params)
            except TypeError:
                raise TypeError(
                    f"The 'params' parameter of {owner} must be a dict or a list of arrays. "
                    f"Got {type(params).__name__} instead."
                ) from None
        if not arrays:
            raise ValueError(f"The 'params' parameter of {owner} must not be empty. Got an empty parameter list instead.")
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
                raise TypeError(
                    f"The 'params' parameter of {owner} must hold floating-point ndarrays. "
                    f"Got {type(a).__name__}{'' if not hasattr(a, 'dtype') else ' of dtype ' + str(a.dtype)} at position {i} instead."
                )
        for i, a in enumerate(arrays):
            if not a.flags.writeable:  # found at the first step, it would leave the arrays before it updated
                raise ValueError(f"The 'params' parameter of {owner} must hold writeable arrays: step updates them "
                                 f"in place. Got a read-only array at position {i} instead.")
        if len({id(a) for a in arrays}) != len(arrays):
            # torch.optim warns too (github.com/pytorch/pytorch/issues/40967) and updates the array twice
            warnings.warn(f"The 'params' parameter of {owner} holds the same array more than once: each step "
                          f"will update it once per occurrence.", UserWarning, stacklevel=4)
        self.params: list[np.ndarray] = arrays
        self.param_names: list[str] | None = names
        self.state: list[dict] = [{} for _ in arrays]

    def _match(self, grads) -> list[np.ndarray]:
        """Return ``grads`` as a list aligned with ``self.params``, or say what does not match."""
        owner = f"{type(self).__name__}.step"
        if isinstance(grads, np.ndarray):  # list() would split it into rows, one per parameter
            raise TypeError(f"The 'grads' parameter of {owner} must be a dict or a list of arrays. "
                            f"Got a single ndarray instead; wrap it in a list.")
        if isinstance(grads, Mapping):
            if self.param_names is not None and list(grads.keys()) != self.param_names:
                if set(grads.keys()) != set(self.param_names):
                    raise ValueError(
                        f"The 'grads' parameter of {owner} must have the keys of params "
                        f"{self.param_names}. Got {list(grads.keys())} instead."
                    )
                grads = [grads[k] for k in self.param_names]
            else:
                grads = list(grads.values())
        else:
            grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(
                f"The 'grads' parameter of {owner} must hold one array per parameter "
                f"({len(self.params)}). Got {len(grads)} instead."
            )
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if not isinstance(g, np.ndarray):
                raise TypeError(f"The 'grads' parameter of {owner} must hold ndarrays. Got {type(g).__name__} at position {i} instead.")
            if g.dtype.kind != "f":
                raise TypeError(f"The 'grads' parameter of {owner} must hold floating-point ndarrays. "
                                f"Got dtype {g.dtype} at position {i} instead.")
            if g.shape != p.shape:
                raise ValueError(
                    f"The 'grads' parameter of {owner} must match the shape of each parameter: "
                    f"position {i} needs {p.shape}. Got {g.shape} instead."
                )
        return grads

    def step(self, grads) -> None:
        """Update every parameter in place from ``grads`` (a dict or list matching ``params``).

        The hyperparameters were checked by the constructor; only ``grads`` is checked here.
        """
        for p, g, state in zip(self.params, self._match(grads), self.state):
            if not state:
                self._init_state(p, state)
            if "step" in state:  # the optimizers that count their updates (torch's "step" key)
                state["step"] += 1
            self._update(p, g, state)

    def _init_state(self, p, state) -> None:
        """Fill the empty ``state`` of array ``p`` before its first update (nothing by default)."""

    def _update(self, p, g, state) -> None:
        """Update ``p`` in place from its gradient ``g``: the subclass's bare ``*_step`` call."""
        raise NotImplementedError

    def _hyper(self) -> dict:
        """The hyperparameters: the constructor's keyword arguments, as attributes (private ones are not)."""
        return {k: v for k, v in vars(self).items()
                if k not in ("params", "param_names", "state") and not k.startswith("_")}

    def state_dict(self) -> dict:
        """A copy of the hyperparameters and per-array state, to checkpoint a run (like torch's),
        with the optimizer's class name, so that it loads into the same kind of optimizer only."""
        state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in self.state]
        return {"optimizer": type(self).__name__, "hyper": dict(self._hyper()), "state": state}

    def load_state_dict(self, state_dict) -> None:
        """Restore what :meth:`state_dict` returned; the arrays must match ``params`` in number and shape,
        and the hyperparameters pass the constructor's checks."""
        name = type(self).__name__
        owner = f"{name}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"optimizer", "hyper", "state"}:
            raise ValueError(f"The 'state_dict' parameter of {owner} must be a dict returned by state_dict(). "
                             f"Got {type(state_dict).__name__} instead.")
        if state_dict["optimizer"] != name:  # another optimizer's state would fail at the next step, or mislead
            raise ValueError(f"The 'state_dict' parameter of {owner} must be the state dict of a {name}. "
                             f"Got the state dict of a {state_dict['optimizer']} instead.")
        hyper = state_dict["hyper"]
        if not isinstance(hyper, Mapping) or set(hyper) != set(self._hyper()):
            got = sorted(hyper) if isinstance(hyper, Mapping) else type(hyper).__name__
            raise ValueError(f"The 'state_dict' parameter of {owner} must hold the hyperparameters "
                             f"{sorted(self._hyper())}. Got {got} instead.")
        try:  # the constructor's own checks, on a throwaway optimizer of one of the arrays
            checked = type(self)(self.params[:1], **hyper)._hyper()
        except (TypeError, ValueError) as error:
            raise type(error)(f"The 'state_dict' parameter of {owner} must hold valid hyperparameters: "
                              f"{error}") from None
        state = state_dict["state"]
        if len(state) != len(self.params):
            raise ValueError(f"The 'state_dict' parameter of {owner} must hold state for {len(self.params)} arrays. "
                             f"Got {len(state)} instead.")
        for i, (p, s) in enumerate(zip(self.params, state)):
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.shape != p.shape:
                    raise ValueError(f"The 'state_dict' parameter of {owner} must match the shape of each "
                                     f"parameter: state[{i}][{k!r}] needs {p.shape}. Got {v.shape} instead.")
        vars(self).update(checked)
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in state]

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({hyper})"
