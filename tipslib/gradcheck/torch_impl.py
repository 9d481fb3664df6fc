"""Gradient checking in PyTorch: twin of :mod:`tipslib.gradcheck.numpy_impl`.

Same numerical gradient, error measure, verdicts and report, computed with
tensors on their own device. Differences: :func:`gradient_check` also runs
``torch.autograd.gradcheck`` on the same function (float64 only) and records
what it said in ``result.autograd_gradcheck``; ``analytic_grads`` may be the
string ``'autograd'``; the model and layer checks take ``nn.Module``\\ s and read
the gradients autograd leaves in ``.grad``.
"""

from __future__ import annotations

import torch

from .._checks import GENERATOR, FloatArray, IsCallable, Optional, check_float_array, validate_params
from ._shared import (CHECK_LAYER_GRADIENTS, CHECK_MODEL_GRADIENTS, GRADIENT_CHECK, NOISE_FACTOR,
                      NUMERICAL_GRADIENT, OPTIMAL_STEP_SIZE, RELATIVE_ERROR, STEP_SIZE_ERRORS, TOLERANCES, Arrays,
                      ArraysOrParams, GradientCheck, GradientCheckWarning, ParameterCheck, aligned,
                      at_least_one_array, grads_match, is_kink, judge, kink_warning, precision, probe_all,
                      settings, start_value, tolerances_ordered, unpack, unravel)

__all__ = [
    "numerical_gradient",
    "relative_error",
    "gradient_check",
    "check_model_gradients",
    "check_layer_gradients",
    "step_size_errors",
    "optimal_step_size",
    "GradientCheck",
    "ParameterCheck",
    "GradientCheckWarning",
]

TORCH_ONLY: frozenset = frozenset()
NUMPY_ONLY: frozenset = frozenset()


# --- the numerical gradient ----------------------------------------------------------------


def _contiguous(x):
    return x.is_contiguous()


def _read(flat, i):
    return flat[i].item()  # a Python float: flat[i] itself would be a view that the nudge moves


def _scalar(value, owner):
    t = torch.as_tensor(value)
    if t.numel() != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got a tensor of shape {tuple(t.shape)} instead.")
    return float(t.detach().reshape(()))


@torch.no_grad()
def _probe(call, arrays, names, h, owner):
    """Every element nudged: per tensor, flat float64 tensors ``(f_plus, f_minus, up, down)`` on its device."""
    return [tuple(torch.tensor(v, dtype=torch.float64, device=x.device) for v in values)
            for x, values in zip(arrays, probe_all(call, arrays, names, h, _scalar, owner, _read))]


@validate_params(NUMERICAL_GRADIENT, at_least_one_array, arrays=Arrays(torch.Tensor, _contiguous))
def numerical_gradient(f, *arrays, h=1e-6):
    r"""Twin of the NumPy ``numerical_gradient``: nudges each element of each tensor in place
    (under ``torch.no_grad``) and divides by the step actually stored.

    .. math::

        \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{(x_i + h) - (x_i - h)}
    """
    names = [f"arrays[{k}]" for k in range(len(arrays))]
    grads = []
    for x, (f_plus, f_minus, up, down) in zip(arrays, _probe(lambda: f(*arrays), arrays, names, h, "numerical_gradient")):
        grads.append(((f_plus - f_minus) / (up + down)).to(x.dtype).reshape(x.shape))
    return grads[0] if len(grads) == 1 else tuple(grads)


# --- comparing two gradients ---------------------------------------------------------------


def _as_float64(x, device=None):
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return t.to(device=device, dtype=torch.float64)


def _real_tensor(value, name, owner):
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"The '{name}' parameter of {owner} must be an array of real numbers. Got dtype {t.dtype} instead.")


def _same_shape(arguments, owner):
    a, b = (tuple(torch.as_tensor(arguments[k]).shape) if not isinstance(arguments[k], torch.Tensor)
            else tuple(arguments[k].shape) for k in ("a", "b"))
    if a != b:
        raise ValueError(f"The 'b' parameter of {owner} must have the same shape as 'a' {a}. Got {b} instead.")


@validate_params(RELATIVE_ERROR, _same_shape, a=_real_tensor, b=_real_tensor)
def relative_error(a, b, *, floor=None):
    r"""Twin of the NumPy ``relative_error``; returns a float64 tensor on ``a``'s device.

    .. math::

        e_i = \frac{|a_i - b_i|}{\max\big(|a_i|,\ |b_i|,\ \text{floor}\big)}
    """
    a = _as_float64(a)
    b = _as_float64(b, a.device)
    floor = max(floor or 0.0, torch.finfo(torch.float64).tiny)  # where both are 0: 0, not 0 / 0
    return (a - b).abs() / torch.maximum(a.abs(), b.abs()).clamp_min(floor)


# --- the gradient check --------------------------------------------------------------------


@torch.no_grad()
def _kinks(call, x, flat_a, f0, probe, err, h, pass_tol, owner):
    """Twin of the NumPy ``_kinks``: suspects by one-sided slopes, each confirmed with ``h/10``."""
    f_plus, f_minus, up, down = probe
    numeric = (f_plus - f_minus) / (up + down)
    jump = ((f_plus - f0) / up - (f0 - f_minus) / down).abs()
    suspects = torch.nonzero((err > pass_tol) & (jump >= 0.5 * (flat_a - numeric).abs())).flatten().tolist()
    kink = torch.zeros(err.shape, dtype=torch.bool, device=err.device)
    flat = x.view(-1)
    for i in suspects:
        kink[i] = is_kink(call, flat, i, h, f0, flat_a[i].item(), numeric[i].item(), jump[i].item(), _scalar,
                          owner, _read)
    return kink


def _autograd_gradcheck(f, call, arrays, is_dict, h, precision):
    """What ``torch.autograd.gradcheck`` says about autograd's gradient of the same ``f``."""
    if precision != "float64":
        return None, "skipped in float32"
    if not all(x.is_leaf for x in arrays):
        return None, "skipped: the tensors are not leaves"
    flags = [x.requires_grad for x in arrays]
    fn = (lambda *_: call()) if is_dict else f
    try:
        for x in arrays:
            x.requires_grad_(True)
        ok = torch.autograd.gradcheck(fn, tuple(arrays), eps=h, raise_exception=False)
        return bool(ok), ""
    except (RuntimeError, TypeError, ValueError) as exc:
        return None, f"could not run: {str(exc).splitlines()[0]}"
    finally:
        for x, flag in zip(arrays, flags):
            x.requires_grad_(flag)


@validate_params(GRADIENT_CHECK, grads_match(autograd=True), tolerances_ordered,
                 arrays_or_params=ArraysOrParams(torch.Tensor, _contiguous))
def gradient_check(f, arrays_or_params, analytic_grads, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``gradient_check``, on tensors.

    Differences: ``analytic_grads='autograd'`` takes the gradients from
    ``torch.autograd.grad`` of ``f``; the result also records whether
    ``torch.autograd.gradcheck(f, arrays, eps=h)`` (its default tolerances,
    float64 only) passed, in ``autograd_gradcheck`` (``None`` with the reason in
    ``autograd_note`` when it could not run, e.g. in float32).
    """
    owner = "gradient_check"
    names, arrays, call = unpack(f, arrays_or_params)
    grads = _autograd_grads(call, arrays, owner) if isinstance(analytic_grads, str) else aligned(names, analytic_grads)
    dtype = precision(arrays)
    h, pass_tol, fail_tol = settings(dtype, h, pass_tol, fail_tol, owner)
    with torch.no_grad():
        f0 = start_value(call, _scalar, owner)
    atol = NOISE_FACTOR * TOLERANCES[dtype]["eps"] * max(1.0, abs(f0)) / h if atol is None else float(atol)
    floor = max(atol, torch.finfo(torch.float64).tiny)

    rows, errors = [], {}
    for name, x, g, probe in zip(names, arrays, grads, _probe(call, arrays, names, h, owner)):
        f_plus, f_minus, up, down = probe
        a = g.detach().to(device=x.device, dtype=torch.float64).reshape(-1)
        n = (f_plus - f_minus) / (up + down)
        err = relative_error.__wrapped__(a, n, floor=floor)
        noisy = (err > pass_tol) & ((a - n).abs() <= atol)
        err[~torch.isfinite(err)] = float("inf")
        kink = _kinks(call, x, a, f0, probe, torch.where(noisy, torch.zeros_like(err), err), h, pass_tol, owner)
        errors[name] = err.reshape(x.shape)
        judged = torch.where(kink | noisy, torch.zeros_like(err), err)
        i = int(torch.argmax(judged)) if judged.numel() else 0
        index = unravel(i, x.shape) if x.numel() else ()
        row = judge(name, tuple(x.shape), dtype, judged[i].item() if judged.numel() else 0.0, index,
                    a[i].item() if a.numel() else 0.0, n[i].item() if n.numel() else 0.0,
                    (a - n).abs().max().item() if a.numel() else 0.0, int(kink.sum()), pass_tol, fail_tol,
                    noisy=int(noisy.sum()), nonzero=int(torch.count_nonzero(torch.maximum(a.abs(), n.abs()))))
        if row.kinks:
            kink_warning(owner, name, row.kinks, unravel(int(torch.nonzero(kink)[0, 0]), x.shape), h)
        rows.append(row)
    ok, note = _autograd_gradcheck(f, call, arrays, isinstance(arrays_or_params, dict), h, dtype)
    return GradientCheck(rows=rows, dtype=dtype, h=h, pass_tol=pass_tol, fail_tol=fail_tol,
                         atol=atol, errors=errors, autograd_gradcheck=ok, autograd_note=note)


def _autograd_grads(call, arrays, owner):
    flags = [x.requires_grad for x in arrays]
    try:
        for x in arrays:
            x.requires_grad_(True)
        with torch.enable_grad():
            out = call()
            if not isinstance(out, torch.Tensor) or out.numel() != 1 or not out.requires_grad:
                raise ValueError(
                    f"The 'f' parameter of {owner} must return a scalar tensor that autograd can "
                    f"differentiate when analytic_grads='autograd'. Got {out!r} instead.")
            return list(torch.autograd.grad(out.reshape(()), arrays, allow_unused=True, materialize_grads=True))
    finally:
        for x, flag in zip(arrays, flags):
            x.requires_grad_(flag)


# --- models and layers ---------------------------------------------------------------------


def _module(value, name, owner):
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.nn.Module. Got {type(value).__name__} instead.")


def _float_tensor(value, name, owner):
    check_float_array(value, name, owner)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.Tensor. Got {type(value).__name__} instead.")


def _has_params(arguments, owner):
    model = arguments["model"]
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"The 'model' parameter of {owner} must have parameters that require grad. Got "
            f"{type(model).__name__} with none; use check_layer_gradients for the input gradient.")


def _run_restoring(model, body):
    """Run ``body()`` and put back the model's buffers and ``.grad``\\ s as they were."""
    buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    old_grads = {k: p.grad for k, p in model.named_parameters()}
    try:
        return body()
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in buffers:
                    b.copy_(buffers[k])
        for k, p in model.named_parameters():
            p.grad = old_grads.get(k)


@validate_params(CHECK_MODEL_GRADIENTS, _has_params, model=_module, loss_fn=IsCallable())
def check_model_gradients(model, loss_fn, x, y, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``check_model_gradients`` for any ``nn.Module``: the analytic
    gradients are what ``loss.backward()`` leaves in each parameter's ``.grad``
    (zero where it leaves ``None``). Checks every parameter that requires grad;
    restores buffers and ``.grad`` afterwards."""
    params = {k: p for k, p in model.named_parameters() if p.requires_grad}

    def body():
        for p in params.values():
            p.grad = None
        loss_fn(model(x), y).backward()
        analytic = {k: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                    for k, p in params.items()}
        return gradient_check(lambda: loss_fn(model(x), y), params, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)

    return _run_restoring(model, body)


@validate_params(CHECK_LAYER_GRADIENTS, layer=_module, x=_float_tensor, dout=Optional(FloatArray()),
                 generator=GENERATOR)
def check_layer_gradients(layer, x, dout=None, *, generator=None, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``check_layer_gradients``: ``dout`` defaults to a standard
    normal drawn from ``generator`` (on the CPU, then moved to ``x``'s device)."""
    owner = "check_layer_gradients"
    x = x.detach().clone().contiguous().requires_grad_(True)
    params = {k: p for k, p in layer.named_parameters() if p.requires_grad}

    def body():
        for p in params.values():
            p.grad = None
        out = layer(x)
        d = dout
        if d is None:
            d = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
        if tuple(d.shape) != tuple(out.shape):
            raise ValueError(
                f"The 'dout' parameter of {owner} must have the output's shape {tuple(out.shape)}. "
                f"Got {tuple(d.shape)} instead.")
        out.backward(d)
        arrays = {"x": x, **params}
        analytic = {"x": x.grad.detach().clone(),
                    **{k: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                       for k, p in params.items()}}
        return gradient_check(lambda: (layer(x) * d).sum(), arrays, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)

    return _run_restoring(layer, body)


# --- the step size -------------------------------------------------------------------------


def _points(value, name, owner):
    _real_tensor(value, name, owner)
    if torch.as_tensor(value).ndim > 1:
        raise ValueError(f"The '{name}' parameter of {owner} must be a scalar or a 1-D array. "
                         f"Got shape {tuple(torch.as_tensor(value).shape)} instead.")


def _steps(value, name, owner):
    _real_tensor(value, name, owner)
    hs = _as_float64(value)
    if hs.ndim != 1 or hs.numel() == 0 or not bool((hs > 0).all()) or not bool(torch.isfinite(hs).all()):
        raise ValueError(f"The '{name}' parameter of {owner} must be a 1-D array of positive finite steps. "
                         f"Got {value!r} instead.")


def _float_dtype(value, name, owner):
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch floating-point dtype. Got {value!r} instead.")


@validate_params(STEP_SIZE_ERRORS, x=_points, hs=_steps, dtype=_float_dtype)
def step_size_errors(f, df, x, hs, *, method="centered", dtype=torch.float64):
    """Twin of the NumPy ``step_size_errors``: ``f`` works on tensors (``torch.sin``);
    returns a float64 tensor of shape ``(len(hs),) + shape(x)``."""
    x = _as_float64(x)
    hs = _as_float64(hs, x.device)
    exact = torch.as_tensor(df(x)).to(torch.float64)
    xd = x.to(dtype)
    hd = hs.to(dtype).reshape((-1,) + (1,) * x.ndim)
    at = lambda v: torch.as_tensor(f(v)).to(dtype)  # noqa: E731
    if method == "centered":
        estimate = (at(xd + hd) - at(xd - hd)) / (hd + hd)
    else:
        estimate = (at(xd + hd) - at(xd)) / hd
    return (estimate.to(torch.float64) - exact).abs()


@validate_params(OPTIMAL_STEP_SIZE, dtype=_float_dtype)
def optimal_step_size(dtype=torch.float64, method="centered"):
    """Twin of the NumPy ``optimal_step_size``, for a torch floating-point dtype."""
    eps = torch.finfo(dtype).eps
    return eps ** (1 / 3) if method == "centered" else eps ** 0.5

