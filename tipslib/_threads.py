"""Thread control for the small matrix products of the teaching experiments."""

from __future__ import annotations

import contextlib
from functools import lru_cache


@lru_cache(maxsize=1)
def _blas_controller():
    # Building the controller inspects every loaded library: do it once.
    try:
        from threadpoolctl import ThreadpoolController  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def one_blas_thread():
    """A context in which NumPy's BLAS uses one thread.

    Products of a few hundred rows run fastest on one thread; on a busy
    machine, BLAS worker threads waiting for a core made them up to 100x slower.
    """
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")
