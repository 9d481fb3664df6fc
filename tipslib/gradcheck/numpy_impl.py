r"""Gradient checking in NumPy: numerical gradients, the relative error, and a per-parameter report.

An analytic gradient (a hand-written backward) is checked against the
centered difference

.. math::

    \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},

element by element. :func:`gradient_check` reports, for every parameter, the
largest relative error, where it is, and a verdict; :func:`check_model_gradients`
does it for every parameter of a model. :func:`step_size_errors` measures the
trade-off in choosing ``h``. The torch twin is :mod:`tipslib.gradcheck.torch_impl`.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_callable, check_choice, check_float_array, check_real, check_rng
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


# --- the numerical gradient ----------------------------------------------------------------


def _nudge(call, x, i, h, name, owner):
    """``f`` with element ``i`` of ``x`` (flat index) moved to ``x_i + h``, then ``x_i - h``.

    Returns ``(f_plus, f_minus, up, down)``: the two values of ``f`` and the
    steps actually taken. In low precision ``x + h`` rounds, so dividing by the
    stored step instead of ``2h`` removes that part of the rounding error.
    The element is restored whatever happens.
    """
    flat = x.reshape(-1)
    old = flat[i]
    try:
        flat[i] = old + h
        up = float(flat[i]) - float(old)
        f_plus = _scalar(call(), owner)
        flat[i] = old - h
        down = float(old) - float(flat[i])
        f_minus = _scalar(call(), owner)
    finally:
        flat[i] = old
    if up + down == 0:
        where = tuple(int(j) for j in np.unravel_index(i, x.shape))
        raise ValueError(
            f"The 'h' parameter of {owner} must be large enough to change '{name}' in "
            f"{x.dtype}: x + h and x - h round to x = {float(old)!r} at index {where}. Got {h!r} instead.")
    return f_plus, f_minus, up, down


def _probe(call, arrays, names, h, owner):
    """:func:`_nudge` every element of every array: per array, flat float64 arrays
    ``(f_plus, f_minus, up, down)``."""
    probes = []
    for name, x in zip(names, arrays):
        _check_contiguous(x, name, owner)
        values = [_nudge(call, x, i, h, name, owner) for i in range(x.size)]
        probes.append(tuple(np.array([v[k] for v in values], dtype=np.float64) for k in range(4)))
    return probes


def _check_contiguous(x, name, owner):
    if not np.shares_memory(x.reshape(-1), x):
        raise ValueError(f"The '{name}' parameter of {owner} must be contiguous so it can be nudged in place.")


def _numerical_gradient_args(f, arrays, h, owner):
    """Checked at the door: a callable ``f``, at least one contiguous float array, ``h > 0``."""
    check_callable(f, "f", owner)
    h = check_real(h, "h", owner, low=0, low_open=True)
    if not arrays:
        raise ValueError(f"The 'arrays' parameter of {owner} must name at least one array. Got none.")
    names = [f"arrays[{k}]" for k in range(len(arrays))]
    for name, x in zip(names, arrays):
        check_float_array(x, name, owner)
        _check_contiguous(x, name, owner)
    return names, h


def numerical_gradient(f, *arrays, h=1e-6):
    r"""Centered-difference gradient of the scalar ``f(*arrays)`` with respect to each array.

    .. math::

        \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    The error of this estimate shrinks like :math:`h^2`, against :math:`h` for
    the one-sided difference; rounding error grows like :math:`1/h`, hence the
    cheatsheet's "not too small, not too large" (see :func:`step_size_errors`).
    The division uses the step actually stored, ``(x + h) - (x - h)`` after
    rounding, which is :math:`2h` up to the last bit.

    Each element is nudged in place and restored, so ``f`` may close over the
    arrays instead of taking them as arguments. Costs two calls of ``f`` per element.

    Returns
    -------
    ndarray, or a tuple of ndarrays when several arrays are given.

    Raises
    ------
    ValueError
        If ``f`` returns a non-scalar, or ``h`` is too small to change an element.

    See Also
    --------
    torch.autograd.gradcheck : compares such estimates with autograd.
    gradient_check : compares them with a given analytic gradient and reports.
    """
    names, h = _numerical_gradient_args(f, arrays, h, "numerical_gradient")
    grads = []
    for name, x in zip(names, arrays):
        grad = np.empty(x.size)
        for i in range(x.size):
            # f at x_i + h and x_i - h; up + down is the step actually stored, 2h up to rounding
            f_plus, f_minus, up, down = _nudge(lambda: f(*arrays), x, i, h, name, "numerical_gradient")
            grad[i] = (f_plus - f_minus) / (up + down)
        grads.append(grad.astype(x.dtype).reshape(x.shape))
    return grads[0] if len(grads) == 1 else tuple(grads)


def _scalar(value, owner):
    a = np.asarray(value)
    if a.size != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got an array of shape {a.shape} instead.")
    return float(a.reshape(()))


# --- comparing two gradients ---------------------------------------------------------------


def relative_error(a, b, *, floor=None):
    r"""Elementwise relative error of two arrays, symmetric in ``a`` and ``b``.

    .. math::

        e_i = \frac{|a_i - b_i|}{\max\big(|a_i|,\ |b_i|,\ \text{floor}\big)}

    CS231n's measure ("Gradient checks",
    https://cs231n.github.io/neural-networks-3/#gradcheck), with a floor that
    only matters for values smaller than it. With the default ``floor`` (the
    smallest normal float64) it is 0 when both are 0, 1 when exactly one is 0,
    and at most 2 (opposite signs, equal sizes).

    CS231n's rules of thumb for gradients compared in float64 with this
    measure: 1e-7 and below, "you should be happy"; up to 1e-4, fine only if
    ``f`` has kinks, too high for a smooth one; above 1e-2 the gradient is
    probably wrong. They assume gradients well above the finite difference's
    rounding error (see :func:`gradient_check`).

    Parameters
    ----------
    a, b : array_like of real numbers, same shape
    floor : float, optional
        Smallest denominator; must be ``>= 0``.

    Returns
    -------
    ndarray of float64, the shape of ``a``

    See Also
    --------
    torch.allclose : the test ``torch.autograd.gradcheck`` uses,
        :math:`|a - b| \le \text{atol} + \text{rtol}\,|b|` (not symmetric).
    """
    a, b, floor = _relative_error_args(a, b, floor)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def _relative_error_args(a, b, floor, owner="relative_error"):
    """Checked at the door: two real arrays of one shape (as float64) and a floor ``>= 0``."""
    a, b = _real_array(a, "a", owner), _real_array(b, "b", owner)
    if a.shape != b.shape:
        raise ValueError(f"The 'b' parameter of {owner} must have the same shape as 'a' {a.shape}. Got {b.shape} instead.")
    tiny = np.finfo(np.float64).tiny
    floor = tiny if floor is None else max(check_real(floor, "floor", owner, low=0), tiny)
    return a, b, floor


def _real_array(x, name, owner):
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"The '{name}' parameter of {owner} must be an array of real numbers. Got dtype {a.dtype} instead.")
    return a.astype(np.float64)


# --- the gradient check --------------------------------------------------------------------


def _kinks(call, x, flat_a, f0, probe, err, h, pass_tol, owner):
    """Mask of the elements whose disagreement comes from a kink of ``f`` within ``±h``.

    Near a kink the slopes on the two sides differ by a jump that does not
    shrink with ``h``; the analytic gradient is one of them and the centered
    difference their mean. A suspect is confirmed by probing again with ``h/10``:
    either the jump stays (the kink is still inside the step) or the error
    vanishes (the smaller step no longer crosses it: a drop by more than
    ``1 / KINK_DROP``, where the truncation error of a large ``h`` at a smooth
    point falls by only 100). A wrong backward at a smooth point does neither.
    """
    f_plus, f_minus, up, down = probe
    numeric = (f_plus - f_minus) / (up + down)
    jump = np.abs((f_plus - f0) / up - (f0 - f_minus) / down)
    suspects = np.flatnonzero((err > pass_tol) & (jump >= 0.5 * np.abs(flat_a - numeric)))
    kink = np.zeros(err.shape, dtype=bool)
    if suspects.size == 0:
        return kink
    flat = x.reshape(-1)
    small = h / 10
    for i in suspects:
        old = flat[i]
        try:
            flat[i] = old + small
            up2 = float(flat[i]) - float(old)
            fp = _scalar(call(), owner)
            flat[i] = old - small
            down2 = float(old) - float(flat[i])
            fm = _scalar(call(), owner)
        finally:
            flat[i] = old
        if up2 == 0 or down2 == 0:
            continue
        jump2 = abs((fp - f0) / up2 - (f0 - fm) / down2)
        scale = max(abs(flat_a[i]), abs(numeric[i]), 1e-300)
        err2 = abs(flat_a[i] - (fp - fm) / (up2 + down2)) / scale
        raw = abs(flat_a[i] - numeric[i]) / scale
        kink[i] = jump2 >= 0.5 * jump[i] or err2 <= KINK_DROP * raw
    return kink


def gradient_check(f, arrays_or_params, analytic_grads, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    r"""Compare analytic gradients with centered differences, parameter by parameter.

    For every element :math:`i` of every array the error is CS231n's relative error

    .. math::

        e_i = \frac{|a_i - n_i|}{\max\big(|a_i|,\ |n_i|,\ \text{atol}\big)},
        \qquad \text{atol} = 30\, \varepsilon \max(1, |f(x)|) / h,

    with :math:`a` the analytic and :math:`n` the numerical gradient
    (:func:`relative_error` with ``floor=atol``). ``atol`` bounds the rounding
    error of the centered difference (about :math:`\varepsilon |f| / h`, times
    a safety factor of 30): where :math:`|a_i - n_i| \le \text{atol}` the two
    agree as far as the finite difference can tell, so an element whose
    relative error is large only because its gradient is tiny (in float64, a
    gradient of 1e-4 carries a rounding error of about 1e-10, a relative
    1e-6) is counted in ``noisy`` and left out of the maximum instead of
    raising a false alarm. Each parameter's verdict, on the largest
    remaining :math:`e_i` ("noise hides > half": more than half the nonzero
    gradients are within ``atol``, as when ``h`` is far too small):

    ========  =====================  ============================================
    verdict   float64 (default)      float32
    ========  =====================  ============================================
    pass      max error <= 1e-7      never: at best 'warn', with the reason
    warn      <= 1e-4, kinks, or     <= 1e-2, or kinks
              noise hides > half
    fail      > 1e-4                 > 1e-2
    ========  =====================  ============================================

    Kinks: where ``f`` is not differentiable within ``±h`` of the point (a
    ReLU input, an ``abs``, a ``max`` crossing over), the centered difference
    averages two slopes and disagrees with a correct backward. Such elements
    are detected (the two one-sided slopes differ, confirmed with a step of
    ``h/10``), left out of the maximum, counted in ``kinks``, and turn a pass
    into 'warn' with a :class:`GradientCheckWarning`. float32 also warns.

    Parameters
    ----------
    f : callable returning a scalar
        With a dict, called as ``f()`` (it closes over the arrays, as a model
        loss does); with a list, called as ``f(*arrays)``. Must be deterministic.
    arrays_or_params : dict[str, ndarray] or list of ndarray
        Float32 or float64, contiguous; nudged in place and restored.
    analytic_grads : dict or list of ndarray
        Same keys (or length) and shapes as ``arrays_or_params``.
    h : float, optional
        Step; default 1e-6 for float64, 1e-3 for float32.
    pass_tol, fail_tol : float, optional
        Verdict thresholds; defaults from the table above.
    atol : float, optional
        Rounding-noise level of the finite difference; default as in the formula.

    Returns
    -------
    GradientCheck
        One row per array (max error, its index, both gradients there,
        verdict, reason); ``print`` it for the table.

    Costs two calls of ``f`` per element, plus two per suspected kink.

    See Also
    --------
    torch.autograd.gradcheck : checks autograd's own gradients with
        ``allclose(analytic, numerical, rtol=1e-3, atol=1e-5)``, one pass/fail
        for all inputs, no per-parameter report and no kink detection.
    check_model_gradients : this check for every parameter of a model.
    """
    owner = "gradient_check"
    check_callable(f, "f", owner)
    names, arrays, call = unpack(f, arrays_or_params, owner, np.ndarray)
    grads = match_grads(names, arrays, analytic_grads, owner)
    precision = precision_of(names, arrays, owner)
    h, pass_tol, fail_tol = settings(precision, h, pass_tol, fail_tol, owner)
    f0 = start_value(call, _scalar, owner)
    eps = TOLERANCES[precision]["eps"]
    atol = NOISE_FACTOR * eps * max(1.0, abs(f0)) / h if atol is None else check_real(atol, "atol", owner, low=0)
    floor = max(atol, np.finfo(np.float64).tiny)

    rows, errors = [], {}
    for name, x, g, probe in zip(names, arrays, grads, _probe(call, arrays, names, h, owner)):
        f_plus, f_minus, up, down = probe
        a = np.asarray(g, dtype=np.float64).reshape(-1)
        n = (f_plus - f_minus) / (up + down)
        with np.errstate(invalid="ignore"):
            err = relative_error(a, n, floor=floor)
            noisy = (err > pass_tol) & (np.abs(a - n) <= atol)
        err[~np.isfinite(err)] = np.inf
        kink = _kinks(call, x, a, f0, probe, np.where(noisy, 0.0, err), h, pass_tol, owner)
        errors[name] = err.reshape(x.shape)
        judged = np.where(kink | noisy, 0.0, err)
        i = int(np.argmax(judged)) if judged.size else 0
        index = tuple(int(j) for j in np.unravel_index(i, x.shape)) if x.size else ()
        row = judge(name, x.shape, precision, judged[i] if judged.size else 0.0, index,
                    a[i] if a.size else 0.0, n[i] if n.size else 0.0,
                    float(np.max(np.abs(a - n))) if a.size else 0.0, int(kink.sum()), pass_tol, fail_tol,
                    noisy=int(noisy.sum()), nonzero=int(np.count_nonzero(np.maximum(np.abs(a), np.abs(n)))))
        if row.kinks:
            first = tuple(int(j) for j in np.unravel_index(int(np.flatnonzero(kink)[0]), x.shape))
            kink_warning(owner, name, row.kinks, first, h)
        rows.append(row)
    return GradientCheck(rows=rows, dtype=precision, h=h, pass_tol=pass_tol, fail_tol=fail_tol,
                         atol=atol, errors=errors)


# --- models and layers ---------------------------------------------------------------------


def _check_module(model, name, owner):
    for attr in ("forward", "backward", "params", "grads"):
        if not hasattr(model, attr):
            raise TypeError(
                f"The '{name}' parameter of {owner} must be a tipslib NumPy layer (forward, "
                f"backward, params, grads). Got {type(model).__name__} instead.")


def check_model_gradients(model, loss_fn, x, y, *, h=None, pass_tol=None, fail_tol=None, atol=None):
    """:func:`gradient_check` of every parameter of a NumPy model on one batch.

    Runs ``loss_fn.forward(model.forward(x), y)`` and the backward once to get
    ``model.grads``, then checks each array of ``model.params`` by centered
    differences of the same loss. The model is used in its current mode: put
    it in ``eval()`` (or fix dropout masks) if it has random layers. Buffers
    such as batch-norm running statistics are restored afterwards.

    Parameters
    ----------
    model : tipslib NumPy layer, e.g. a ``Sequential``
    loss_fn : tipslib NumPy loss object (``forward(input, target)``, ``backward()``)
    x, y : the batch
    h, pass_tol, fail_tol, atol : see :func:`gradient_check`

    Returns
    -------
    GradientCheck, rows named like ``model.params`` (``"0.weight"``, ...)

    See Also
    --------
    torch.autograd.gradcheck : the torch twin also runs it on the same loss.
    """
    owner = "check_model_gradients"
    _check_module(model, "model", owner)
    for attr in ("forward", "backward"):
        if not hasattr(loss_fn, attr):
            raise TypeError(
                f"The 'loss_fn' parameter of {owner} must be a tipslib NumPy loss object (forward, "
                f"backward). Got {type(loss_fn).__name__} instead.")
    params = model.params
    if not params:
        raise ValueError(
            f"The 'model' parameter of {owner} must have parameters to check. Got {model!r}, which "
            f"has none; use check_layer_gradients for the input gradient.")
    saved = {k: np.array(v, copy=True) for k, v in model.buffers.items()}
    try:
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        grads = model.grads
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"The 'model' parameter of {owner} left no gradient for {missing} after backward.")
        analytic = {k: np.array(grads[k], copy=True) for k in params}
        return gradient_check(lambda: loss_fn.forward(model.forward(x), y), params, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)
    finally:
        for k, v in model.buffers.items():
            if k in saved:
                np.copyto(v, saved[k])


def check_layer_gradients(layer, x, dout=None, *, rng=None, h=None, pass_tol=None, fail_tol=None, atol=None):
    r""":func:`gradient_check` of one layer's input gradient and parameter gradients.

    The scalar checked is :math:`\sum \mathrm{out} \odot \mathrm{dout}`, whose
    gradient is exactly what ``layer.backward(dout)`` computes. A random
    ``dout`` (the default) exercises every output; a constant one would hide
    bugs that cancel, as the rows of a softmax do.

    Parameters
    ----------
    layer : tipslib NumPy layer
    x : ndarray, the input (copied; the row for it is named ``"x"``)
    dout : ndarray of the output's shape, optional
        Default: standard normal, drawn from ``rng``.
    rng : numpy.random.Generator, optional
    h, pass_tol, fail_tol, atol : see :func:`gradient_check`

    Returns
    -------
    GradientCheck with rows ``"x"`` and one per parameter.

    See Also
    --------
    torch.autograd.gradcheck : the torch twin also runs it on the same layer.
    """
    owner = "check_layer_gradients"
    _check_module(layer, "layer", owner)
    check_float_array(x, "x", owner)
    rng = check_rng(rng, owner)
    x = np.array(x, copy=True, order="C")
    saved = {k: np.array(v, copy=True) for k, v in layer.buffers.items()}
    try:
        out = layer.forward(x)
        if dout is None:
            dout = rng.standard_normal(out.shape).astype(out.dtype)
        check_float_array(dout, "dout", owner)
        if tuple(dout.shape) != tuple(out.shape):
            raise ValueError(f"The 'dout' parameter of {owner} must have the output's shape {out.shape}. Got {dout.shape} instead.")
        dx = layer.backward(dout)
        arrays = {"x": x, **layer.params}
        analytic = {"x": np.array(dx, copy=True), **{k: np.array(layer.grads[k], copy=True) for k in layer.params}}
        return gradient_check(lambda: np.sum(layer.forward(x) * dout), arrays, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)
    finally:
        for k, v in layer.buffers.items():
            if k in saved:
                np.copyto(v, saved[k])


# --- the step size -------------------------------------------------------------------------


def step_size_errors(f, df, x, hs, *, method="centered", dtype=np.float64):
    r"""Error of a finite-difference derivative against the step ``h``: the U-shaped curve.

    .. math::

        \text{centered: } \frac{f(x+h) - f(x-h)}{2h} = f'(x) + \underbrace{\tfrac{h^2}{6} f'''(x)}_{\text{truncation}}
            + \underbrace{O(\varepsilon |f| / h)}_{\text{rounding}}, \qquad
        \text{forward: } \frac{f(x+h) - f(x)}{h} = f'(x) + \tfrac{h}{2} f''(x) + O(\varepsilon |f| / h)

    Too large an ``h`` and the truncation term dominates (a poor
    approximation); too small and rounding does (numerical instability). The
    best step is near :func:`optimal_step_size`.

    Parameters
    ----------
    f : callable, elementwise on arrays (``np.sin``)
        Evaluated in ``dtype``; its result is rounded to ``dtype``.
    df : callable, the exact derivative, evaluated in float64
    x : float or 1-D array of points
    hs : 1-D array of positive steps
    method : {'centered', 'forward'}
    dtype : numpy float dtype, default float64
        Where the arithmetic happens: ``x + h``, ``f``, the difference and the division.

    Returns
    -------
    ndarray of float64, shape ``(len(hs),) + shape(x)``
        :math:`|\text{estimate} - f'(x)|`.

    See Also
    --------
    torch.autograd.gradcheck : uses the centered difference with ``eps=1e-6`` in float64.
    """
    x, hs, dtype = _step_size_args(f, df, x, hs, method, dtype)
    exact = np.asarray(df(x), dtype=np.float64)
    xd = x.astype(dtype)
    hd = hs.astype(dtype).reshape((-1,) + (1,) * x.ndim)
    at = lambda v: np.asarray(f(v)).astype(dtype)  # noqa: E731
    if method == "centered":
        estimate = (at(xd + hd) - at(xd - hd)) / (hd + hd)
    else:
        estimate = (at(xd + hd) - at(xd)) / hd
    return np.abs(estimate.astype(np.float64) - exact)


def _step_size_args(f, df, x, hs, method, dtype, owner="step_size_errors"):
    """Checked at the door: callables, the method, points ``x`` and steps ``hs`` as float64, the dtype."""
    check_callable(f, "f", owner)
    check_callable(df, "df", owner)
    check_choice(method, "method", owner, ("centered", "forward"))
    dtype = _float_dtype(dtype, owner)
    x = _real_array(x, "x", owner)
    if x.ndim > 1:
        raise ValueError(f"The 'x' parameter of {owner} must be a scalar or a 1-D array. Got shape {x.shape} instead.")
    hs = _real_array(hs, "hs", owner)
    if hs.ndim != 1 or hs.size == 0 or not np.all(hs > 0) or not np.all(np.isfinite(hs)):
        raise ValueError(f"The 'hs' parameter of {owner} must be a 1-D array of positive finite steps. Got {hs!r} instead.")
    return x, hs, dtype


def optimal_step_size(dtype=np.float64, method="centered"):
    r"""The step that balances truncation and rounding, up to a factor of order one.

    .. math::

        h^\star_{\text{centered}} \approx \varepsilon^{1/3}, \qquad
        h^\star_{\text{forward}} \approx \varepsilon^{1/2}

    from minimising :math:`h^2|f'''|/6 + \varepsilon|f|/h` (resp. :math:`h|f''|/2 +
    2\varepsilon|f|/h`) when :math:`f` and its derivatives are of order one;
    :math:`\varepsilon` is the machine epsilon of ``dtype``: about 6e-6 and 1.5e-8 in
    float64, 5e-3 and 3.5e-4 in float32.
    """
    owner = "optimal_step_size"
    check_choice(method, "method", owner, ("centered", "forward"))
    eps = float(np.finfo(_float_dtype(dtype, owner)).eps)
    return eps ** (1 / 3) if method == "centered" else eps ** 0.5


def _float_dtype(dtype, owner):
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d.kind != "f":
        raise TypeError(f"The 'dtype' parameter of {owner} must be a NumPy floating-point dtype. Got {dtype!r} instead.")
    return d
