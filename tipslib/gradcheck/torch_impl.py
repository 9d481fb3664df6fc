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

from .._checks import check_callable, check_choice, check_float_array, check_real
from ._common import (KINK_DROP, NOISE_FACTOR, TOLERANCES, GradientCheck, GradientCheckWarning,
                      ParameterCheck, judge, kink_warning, match_grads, precision_of, settings,
                      start_value, unpack)

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


@torch.no_grad()
def _probe(call, arrays, names, h, owner):
    """Twin of the NumPy ``_probe``: per tensor, float64 ``(f_plus, f_minus, up, down)``."""
    probes = []
    for name, x in zip(names, arrays):
        if not x.is_contiguous():
            raise ValueError(f"The '{name}' parameter of {owner} must be contiguous so it can be nudged in place.")
        flat = x.view(-1)
        n = flat.numel()
        f_plus, f_minus, up, down = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        for i in range(n):
            old = flat[i].item()
            try:
                flat[i] = old + h
                up[i] = flat[i].item() - old
                f_plus[i] = _scalar(call(), owner)
                flat[i] = old - h
                down[i] = old - flat[i].item()
                f_minus[i] = _scalar(call(), owner)
            finally:
                flat[i] = old
            if up[i] + down[i] == 0:
                where = tuple(int(j) for j in _unravel(i, x.shape))
                raise ValueError(
                    f"The 'h' parameter of {owner} must be large enough to change '{name}' in "
                    f"{x.dtype}: x + h and x - h round to x = {old!r} at index {where}. Got {h!r} instead.")
        kw = {"dtype": torch.float64, "device": x.device}
        probes.append(tuple(torch.tensor(v, **kw) for v in (f_plus, f_minus, up, down)))
    return probes


def _unravel(i, shape):
    index = []
    for n in reversed(tuple(shape)):
        index.append(i % n)
        i //= n
    return tuple(reversed(index))


def numerical_gradient(f, *arrays, h=1e-6):
    """Twin of the NumPy ``numerical_gradient``: nudges each element of each tensor in place
    (under ``torch.no_grad``) and divides by the step actually stored."""
    owner = "numerical_gradient"
    check_callable(f, "f", owner)
    h = check_real(h, "h", owner, low=0, low_open=True)
    if not arrays:
        raise ValueError(f"The 'arrays' parameter of {owner} must name at least one array. Got none.")
    names = [f"arrays[{k}]" for k in range(len(arrays))]
    for name, x in zip(names, arrays):
        check_float_array(x, name, owner)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"The '{name}' parameter of {owner} must be a torch.Tensor. Got {type(x).__name__} instead.")
    grads = []
    for x, (f_plus, f_minus, up, down) in zip(arrays, _probe(lambda: f(*arrays), arrays, names, h, owner)):
        grads.append(((f_plus - f_minus) / (up + down)).to(x.dtype).reshape(x.shape))
    return grads[0] if len(grads) == 1 else tuple(grads)


def _scalar(value, owner):
    t = torch.as_tensor(value)
    if t.numel() != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got a tensor of shape {tuple(t.shape)} instead.")
    return float(t.detach().reshape(()))


# --- comparing two gradients ---------------------------------------------------------------


def relative_error(a, b, *, floor=None):
    """Twin of the NumPy ``relative_error``, ``|a - b| / max(|a|, |b|, floor)``;
    returns a float64 tensor on ``a``'s device."""
    a, b, floor = _relative_error_args(a, b, floor)
    return (a - b).abs() / torch.maximum(a.abs(), b.abs()).clamp_min(floor)


def _relative_error_args(a, b, floor, owner="relative_error"):
    """Checked at the door: two real tensors of one shape (float64, on ``a``'s device), a floor ``>= 0``."""
    a, b = _real_tensor(a, "a", owner), _real_tensor(b, "b", owner)
    if a.shape != b.shape:
        raise ValueError(
            f"The 'b' parameter of {owner} must have the same shape as 'a' {tuple(a.shape)}. Got {tuple(b.shape)} instead.")
    tiny = torch.finfo(torch.float64).tiny
    floor = tiny if floor is None else max(check_real(floor, "floor", owner, low=0), tiny)
    return a, b.to(a.device), floor


def _real_tensor(x, name, owner):
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"The '{name}' parameter of {owner} must be an array of real numbers. Got dtype {t.dtype} instead.")
    return t.to(torch.float64)


# --- the gradient check --------------------------------------------------------------------


@torch.no_grad()
def _kinks(call, x, flat_a, f0, probe, err, h, pass_tol, owner):
    """Twin of the NumPy ``_kinks``: suspects by one-sided slopes, confirmed with ``h/10``."""
    f_plus, f_minus, up, down = probe
    numeric = (f_plus - f_minus) / (up + down)
    jump = ((f_plus - f0) / up - (f0 - f_minus) / down).abs()
    suspects = torch.nonzero((err > pass_tol) & (jump >= 0.5 * (flat_a - numeric).abs())).flatten().tolist()
    kink = torch.zeros(err.shape, dtype=torch.bool, device=err.device)
    flat = x.view(-1)
    small = h / 10
    for i in suspects:
        old = flat[i].item()
        try:
            flat[i] = old + small
            up2 = flat[i].item() - old
            fp = _scalar(call(), owner)
            flat[i] = old - small
            down2 = old - flat[i].item()
            fm = _scalar(call(), owner)
        finally:
            flat[i] = old
        if up2 == 0 or down2 == 0:
            continue
        a_i, n_i = flat_a[i].item(), numeric[i].item()
        jump2 = abs((fp - f0) / up2 - (f0 - fm) / down2)
        scale = max(abs(a_i), abs(n_i), 1e-300)
        err2, raw = abs(a_i - (fp - fm) / (up2 + down2)) / scale, abs(a_i - n_i) / scale
        kink[i] = jump2 >= 0.5 * jump[i].item() or err2 <= KINK_DROP * raw
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


def gradient_check(f, arrays_or_params, analytic_grads, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``gradient_check``, on tensors.

    Differences: ``analytic_grads='autograd'`` takes the gradients from
    ``torch.autograd.grad`` of ``f``; the result also records whether
    ``torch.autograd.gradcheck(f, arrays, eps=h)`` (its default tolerances,
    float64 only) passed, in ``autograd_gradcheck`` (``None`` with the reason in
    ``autograd_note`` when it could not run, e.g. in float32).
    """
    owner = "gradient_check"
    check_callable(f, "f", owner)
    names, arrays, call = unpack(f, arrays_or_params, owner, torch.Tensor)
    if isinstance(analytic_grads, str):
        check_choice(analytic_grads, "analytic_grads", owner, ("autograd",))
        analytic_grads = _autograd_grads(call, arrays, owner)
    grads = match_grads(names, arrays, analytic_grads, owner)
    precision = precision_of(names, arrays, owner)
    h, pass_tol, fail_tol = settings(precision, h, pass_tol, fail_tol, owner)
    with torch.no_grad():
        f0 = start_value(call, _scalar, owner)
    eps = TOLERANCES[precision]["eps"]
    atol = NOISE_FACTOR * eps * max(1.0, abs(f0)) / h if atol is None else check_real(atol, "atol", owner, low=0)
    floor = max(atol, torch.finfo(torch.float64).tiny)

    rows, errors = [], {}
    for name, x, g, probe in zip(names, arrays, grads, _probe(call, arrays, names, h, owner)):
        f_plus, f_minus, up, down = probe
        a = g.detach().to(device=x.device, dtype=torch.float64).reshape(-1)
        n = (f_plus - f_minus) / (up + down)
        err = relative_error(a, n, floor=floor)
        noisy = (err > pass_tol) & ((a - n).abs() <= atol)
        err[~torch.isfinite(err)] = float("inf")
        kink = _kinks(call, x, a, f0, probe, torch.where(noisy, torch.zeros_like(err), err), h, pass_tol, owner)
        errors[name] = err.reshape(x.shape)
        judged = torch.where(kink | noisy, torch.zeros_like(err), err)
        i = int(torch.argmax(judged)) if judged.numel() else 0
        index = _unravel(i, x.shape) if x.numel() else ()
        row = judge(name, tuple(x.shape), precision, judged[i].item() if judged.numel() else 0.0, index,
                    a[i].item() if a.numel() else 0.0, n[i].item() if n.numel() else 0.0,
                    (a - n).abs().max().item() if a.numel() else 0.0, int(kink.sum()), pass_tol, fail_tol,
                    noisy=int(noisy.sum()), nonzero=int(torch.count_nonzero(torch.maximum(a.abs(), n.abs()))))
        if row.kinks:
            kink_warning(owner, name, row.kinks, _unravel(int(torch.nonzero(kink)[0, 0]), x.shape), h)
        rows.append(row)
    ok, note = _autograd_gradcheck(f, call, arrays, isinstance(arrays_or_params, dict), h, precision)
    return GradientCheck(rows=rows, dtype=precision, h=h, pass_tol=pass_tol, fail_tol=fail_tol,
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


def _check_module(model, name, owner):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"The '{name}' parameter of {owner} must be a torch.nn.Module. Got {type(model).__name__} instead.")


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


def check_model_gradients(model, loss_fn, x, y, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``check_model_gradients`` for any ``nn.Module``: the analytic
    gradients are what ``loss.backward()`` leaves in each parameter's ``.grad``
    (zero where it leaves ``None``). Checks every parameter that requires grad;
    restores buffers and ``.grad`` afterwards."""
    owner = "check_model_gradients"
    _check_module(model, "model", owner)
    check_callable(loss_fn, "loss_fn", owner)
    params = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError(
            f"The 'model' parameter of {owner} must have parameters that require grad. Got "
            f"{type(model).__name__} with none; use check_layer_gradients for the input gradient.")

    def body():
        for p in params.values():
            p.grad = None
        loss_fn(model(x), y).backward()
        analytic = {k: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                    for k, p in params.items()}
        return gradient_check(lambda: loss_fn(model(x), y), params, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)

    return _run_restoring(model, body)


def check_layer_gradients(layer, x, dout=None, *, generator=None, h=None, pass_tol=None, fail_tol=None, atol=None):
    """Twin of the NumPy ``check_layer_gradients``: ``dout`` defaults to a standard
    normal drawn from ``generator`` (on the CPU, then moved to ``x``'s device)."""
    owner = "check_layer_gradients"
    _check_module(layer, "layer", owner)
    check_float_array(x, "x", owner)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"The 'x' parameter of {owner} must be a torch.Tensor. Got {type(x).__name__} instead.")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"The 'generator' parameter of {owner} must be a torch.Generator. Got {generator!r} instead.")
    x = x.detach().clone().contiguous().requires_grad_(True)
    params = {k: p for k, p in layer.named_parameters() if p.requires_grad}

    def body():
        for p in params.values():
            p.grad = None
        out = layer(x)
        d = dout
        if d is None:
            d = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
        check_float_array(d, "dout", owner)
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


def step_size_errors(f, df, x, hs, *, method="centered", dtype=torch.float64):
    """Twin of the NumPy ``step_size_errors``: ``f`` works on tensors (``torch.sin``);
    returns a float64 tensor of shape ``(len(hs),) + shape(x)``."""
    owner = "step_size_errors"
    check_callable(f, "f", owner)
    check_callable(df, "df", owner)
    check_choice(method, "method", owner, ("centered", "forward"))
    dtype = _float_dtype(dtype, owner)
    x = _real_tensor(x, "x", owner)
    if x.ndim > 1:
        raise ValueError(f"The 'x' parameter of {owner} must be a scalar or a 1-D array. Got shape {tuple(x.shape)} instead.")
    hs = _real_tensor(hs, "hs", owner).to(x.device)
    if hs.ndim != 1 or hs.numel() == 0 or not bool((hs > 0).all()) or not bool(torch.isfinite(hs).all()):
        raise ValueError(f"The 'hs' parameter of {owner} must be a 1-D array of positive finite steps. Got {hs!r} instead.")
    exact = torch.as_tensor(df(x)).to(torch.float64)
    xd = x.to(dtype)
    hd = hs.to(dtype).reshape((-1,) + (1,) * x.ndim)
    at = lambda v: torch.as_tensor(f(v)).to(dtype)  # noqa: E731
    if method == "centered":
        estimate = (at(xd + hd) - at(xd - hd)) / (hd + hd)
    else:
        estimate = (at(xd + hd) - at(xd)) / hd
    return (estimate.to(torch.float64) - exact).abs()


def optimal_step_size(dtype=torch.float64, method="centered"):
    """Twin of the NumPy ``optimal_step_size``, for a torch floating-point dtype."""
    owner = "optimal_step_size"
    check_choice(method, "method", owner, ("centered", "forward"))
    eps = torch.finfo(_float_dtype(dtype, owner)).eps
    return eps ** (1 / 3) if method == "centered" else eps ** 0.5


def _float_dtype(dtype, owner):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"The 'dtype' parameter of {owner} must be a torch floating-point dtype. Got {dtype!r} instead.")
    return dtype
