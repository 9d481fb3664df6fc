"""Numerical gradients in NumPy."""

from __future__ import annotations

import numpy as np

from .._checks import check_callable, check_float_array, check_real

__all__ = ["numerical_gradient"]


def numerical_gradient(f, *arrays, h=1e-6):
    r"""Centered-difference gradient of the scalar ``f(*arrays)`` with respect to each array.

    .. math::

        \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    The error of this estimate shrinks like :math:`h^2`, against :math:`h` for
    the one-sided difference; rounding error grows like :math:`1/h`, hence the
    cheatsheet's "not too small, not too large".

    Each element is nudged in place and restored, so ``f`` may close over the
    arrays instead of taking them as arguments. Costs two calls of ``f`` per element.

    Returns
    -------
    ndarray, or a tuple of ndarrays when several arrays are given.

    See Also
    --------
    torch.autograd.gradcheck : compares such estimates with autograd.
    """
    owner = "numerical_gradient"
    check_callable(f, "f", owner)
    h = check_real(h, "h", owner, low=0, low_open=True)
    if not arrays:
        raise ValueError(f"The 'arrays' parameter of {owner} must name at least one array. Got none.")
    grads = []
    for k, x in enumerate(arrays):
        check_float_array(x, f"arrays[{k}]", owner)
        grad = np.zeros_like(x)
        flat, gflat = x.reshape(-1), grad.reshape(-1)
        if not np.shares_memory(flat, x):
            raise ValueError(f"The 'arrays[{k}]' parameter of {owner} must be contiguous so it can be nudged in place.")
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            f_plus = _scalar(f(*arrays), owner)
            flat[i] = old - h
            f_minus = _scalar(f(*arrays), owner)
            flat[i] = old
            gflat[i] = (f_plus - f_minus) / (2 * h)
        grads.append(grad)
    return grads[0] if len(grads) == 1 else tuple(grads)


def _scalar(value, owner):
    a = np.asarray(value)
    if a.size != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got an array of shape {a.shape} instead.")
    return float(a)
