"""Numerical gradients in PyTorch: twin of :mod:`tipslib.gradcheck.numpy_impl`."""

from __future__ import annotations

import torch

from .._checks import check_callable, check_float_array, check_real

__all__ = ["numerical_gradient"]


@torch.no_grad()
def numerical_gradient(f, *arrays, h=1e-6):
    """Twin of the NumPy ``numerical_gradient``: nudges each element of each tensor in place."""
    owner = "numerical_gradient"
    check_callable(f, "f", owner)
    h = check_real(h, "h", owner, low=0, low_open=True)
    if not arrays:
        raise ValueError(f"The 'arrays' parameter of {owner} must name at least one array. Got none.")
    grads = []
    for k, x in enumerate(arrays):
        check_float_array(x, f"arrays[{k}]", owner)
        if not x.is_contiguous():
            raise ValueError(f"The 'arrays[{k}]' parameter of {owner} must be contiguous so it can be nudged in place.")
        grad = torch.zeros_like(x)
        flat, gflat = x.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            f_plus = _scalar(f(*arrays), owner)
            flat[i] = old - h
            f_minus = _scalar(f(*arrays), owner)
            flat[i] = old
            gflat[i] = (f_plus - f_minus) / (2 * h)
        grads.append(grad)
    return grads[0] if len(grads) == 1 else tuple(grads)


def _scalar(value, owner):
    t = torch.as_tensor(value)
    if t.numel() != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got a tensor of shape {tuple(t.shape)} instead.")
    return float(t)
