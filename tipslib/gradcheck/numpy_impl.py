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

from .._checks import RNG, FloatArray, Optional, validate_params
from ._shared import (CHECK_LAYER_GRADIENTS, CHECK_MODEL_GRADIENTS, GRADIENT_CHECK, NOISE_FACTOR,
                      NUMERICAL_GRADIENT, OPTIMAL_STEP_SIZE, RELATIVE_ERROR, STEP_SIZE_ERRORS, TOLERANCES, Arrays,
                      ArraysOrParams, GradientCheck, GradientCheckWarning, ParameterCheck, at_least_one_array,
                      aligned, grads_match, is_kink, judge, kink_warning, precision, probe, probe_all, settings,
                      start_value, tolerances_ordered, unpack)

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


def _contiguous(x):
    # The flat view must be x itself. An empty array has nothing to nudge, and shares no memory at all.
    return x.size == 0 or np.shares_memory(x.reshape(-1), x)


def _read(flat, i):
    return flat[i]  # a NumPy scalar: a copy, not a view


def _scalar(value, owner):
    a = np.asarray(value)
    if a.size != 1:
        raise ValueError(f"The 'f' parameter of {owner} must return a scalar. Got an array of shape {a.shape} instead.")
    return float(a.reshape(()))


def _nudge(call, x, i, h, name, owner="numerical_gradient"):
    """``(f(x + h e_i), f(x - h e_i), up, down)`` for the flat element ``i`` of ``x``, nudged in place
    and restored; ``up + down`` is the step actually stored."""
    return probe(call, x, x.reshape(-1), i, h, name, _scalar, owner, _read)


@validate_params(NUMERICAL_GRADIENT, at_least_one_array, arrays=Arrays(np.ndarray, _contiguous))
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
    grads = []
    for k, x in enumerate(arrays):
        grad = np.empty(x.size)
        for i in range(x.size):
            # f at x_i + h and x_i - h; up + down is the step actually stored, 2h up to rounding
            f_plus, f_minus, up, down = _nudge(lambda: f(*arrays), x, i, h, f"arrays[{k}]")
            grad[i] = (f_plus - f_minus) / (up + down)
        grads.append(grad.astype(x.dtype).reshape(x.shape))
    return grads[0] if len(grads) == 1 else tuple(grads)


# --- comparing two gradients ---------------------------------------------------------------


def _real_array(value, name, owner):
    kind = np.asarray(value).dtype.kind
    if kind not in "iuf":
        raise TypeError(f"The '{name}' parameter of {owner} must be an array of real numbers. "
                        f"Got dtype {np.asarray(value).dtype} instead.")


def _same_shape(arguments, owner):
    a, b = np.shape(arguments["a"]), np.shape(arguments["b"])
    if a != b:
        raise ValueError(f"The 'b' parameter of {owner} must have the same shape as 'a' {a}. Got {b} instead.")


@validate_params(RELATIVE_ERROR, _same_shape, a=_real_array, b=_real_array)
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
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    floor = max(floor or 0.0, np.finfo(np.float64).tiny)  # where both are 0: 0, not 0 / 0
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


# --- the gradient check --------------------------------------------------------------------


def _kinks(call, x, flat_a, f0, probe, err, h, pass_tol, owner):
    """Mask of the elements whose disagreement comes from a kink of ``f`` within ``±h``
    (see :func:`tipslib.gradcheck._shared.is_kink`): suspects by their one-sided
    slopes, each confirmed with a step of ``h/10``."""
    f_plus, f_minus, up, down = probe
    numeric = (f_plus - f_minus) / (up + down)
    jump = np.abs((f_plus - f0) / up - (f0 - f_minus) / down)
    suspects = np.flatnonzero((err > pass_tol) & (jump >= 0.5 * np.abs(flat_a - numeric)))
    kink = np.zeros(err.shape, dtype=bool)
    flat = x.reshape(-1)
    for i in suspects:
        kink[i] = is_kink(call, flat, i, h, f0, float(flat_a[i]), float(numeric[i]), float(jump[i]), _scalar,
                          owner, _read)
    return kink


def _probe(call, arrays, names, h, owner):
    """Every element nudged: per array, flat float64 arrays ``(f_plus, f_minus, up, down)``."""
    return [tuple(np.array(v, dtype=np.float64) for v in values)
            for values in probe_all(call, arrays, names, h, _scalar, owner, _read)]


@validate_params(GRADIENT_CHECK, grads_match(), tolerances_ordered,
                 arrays_or_params=ArraysOrParams(np.ndarray, _contiguous))
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
    names, arrays, call = unpack(f, arrays_or_params)
    grads = aligned(names, analytic_grads)
    dtype = precision(arrays)
    h, pass_tol, fail_tol = settings(dtype, h, pass_tol, fail_tol, owner)
    f0 = start_value(call, _scalar, owner)
    atol = NOISE_FACTOR * TOLERANCES[dtype]["eps"] * max(1.0, abs(f0)) / h if atol is None else float(atol)
    floor = max(atol, np.finfo(np.float64).tiny)

    rows, errors = [], {}
    for name, x, g, probe in zip(names, arrays, grads, _probe(call, arrays, names, h, owner)):
        f_plus, f_minus, up, down = probe
        a = np.asarray(g, dtype=np.float64).reshape(-1)
        n = (f_plus - f_minus) / (up + down)
        with np.errstate(invalid="ignore"):
            err = relative_error.__wrapped__(a, n, floor=floor)
            noisy = (err > pass_tol) & (np.abs(a - n) <= atol)
        err[~np.isfinite(err)] = np.inf
        kink = _kinks(call, x, a, f0, probe, np.where(noisy, 0.0, err), h, pass_tol, owner)
        errors[name] = err.reshape(x.shape)
        judged = np.where(kink | noisy, 0.0, err)
        i = int(np.argmax(judged)) if judged.size else 0
        index = tuple(int(j) for j in np.unravel_index(i, x.shape)) if x.size else ()
        row = judge(name, x.shape, dtype, judged[i] if judged.size else 0.0, index,
                    a[i] if a.size else 0.0, n[i] if n.size else 0.0,
                    float(np.max(np.abs(a - n))) if a.size else 0.0, int(kink.sum()), pass_tol, fail_tol,
                    noisy=int(noisy.sum()), nonzero=int(np.count_nonzero(np.maximum(np.abs(a), np.abs(n)))))
        if row.kinks:
            first = tuple(int(j) for j in np.unravel_index(int(np.flatnonzero(kink)[0]), x.shape))
            kink_warning(owner, name, row.kinks, first, h)
        rows.append(row)
    return GradientCheck(rows=rows, dtype=dtype, h=h, pass_tol=pass_tol, fail_tol=fail_tol,
                         atol=atol, errors=errors)


# --- models and layers ---------------------------------------------------------------------


def _layer(value, name, owner):
    if not all(hasattr(value, attr) for attr in ("forward", "backward", "params", "grads")):
        raise TypeError(f"The '{name}' parameter of {owner} must be a tipslib NumPy layer (forward, "
                        f"backward, params, grads). Got {type(value).__name__} instead.")


def _loss(value, name, owner):
    if not all(hasattr(value, attr) for attr in ("forward", "backward")):
        raise TypeError(f"The '{name}' parameter of {owner} must be a tipslib NumPy loss object (forward, "
                        f"backward). Got {type(value).__name__} instead.")


def _has_params(arguments, owner):
    model = arguments["model"]
    if not model.params:
        raise ValueError(f"The 'model' parameter of {owner} must have parameters to check. Got {model!r}, which "
                         f"has none; use check_layer_gradients for the input gradient.")


@validate_params(CHECK_MODEL_GRADIENTS, _has_params, model=_layer, loss_fn=_loss)
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
    params = model.params
    saved = {k: np.array(v, copy=True) for k, v in model.buffers.items()}
    try:
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        grads = model.grads
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"The 'model' parameter of {owner} must leave a gradient for every parameter "
                             f"after backward. Got none for {missing} instead.")
        analytic = {k: np.array(grads[k], copy=True) for k in params}
        return gradient_check(lambda: loss_fn.forward(model.forward(x), y), params, analytic,
                              h=h, pass_tol=pass_tol, fail_tol=fail_tol, atol=atol)
    finally:
        for k, v in model.buffers.items():
            if k in saved:
                np.copyto(v, saved[k])


@validate_params(CHECK_LAYER_GRADIENTS, layer=_layer, x=FloatArray(), dout=Optional(FloatArray()), rng=RNG)
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
    rng = np.random.default_rng(rng)
    x = np.array(x, copy=True, order="C")
    saved = {k: np.array(v, copy=True) for k, v in layer.buffers.items()}
    try:
        out = layer.forward(x)
        if dout is None:
            dout = rng.standard_normal(out.shape).astype(out.dtype)
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


def _points(value, name, owner):
    _real_array(value, name, owner)
    if np.ndim(value) > 1:
        raise ValueError(f"The '{name}' parameter of {owner} must be a scalar or a 1-D array. "
                         f"Got shape {np.shape(value)} instead.")


def _steps(value, name, owner):
    _real_array(value, name, owner)
    hs = np.asarray(value, dtype=np.float64)
    if hs.ndim != 1 or hs.size == 0 or not np.all(hs > 0) or not np.all(np.isfinite(hs)):
        raise ValueError(f"The '{name}' parameter of {owner} must be a 1-D array of positive finite steps. "
                         f"Got {value!r} instead.")


def _float_dtype(value, name, owner):
    try:
        kind = np.dtype(value).kind
    except TypeError:
        kind = None
    if kind != "f":
        raise TypeError(f"The '{name}' parameter of {owner} must be a NumPy floating-point dtype. Got {value!r} instead.")


@validate_params(STEP_SIZE_ERRORS, x=_points, hs=_steps, dtype=_float_dtype)
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
    x, hs = np.asarray(x, dtype=np.float64), np.asarray(hs, dtype=np.float64)
    exact = np.asarray(df(x), dtype=np.float64)
    xd = x.astype(dtype)
    hd = hs.astype(dtype).reshape((-1,) + (1,) * x.ndim)
    at = lambda v: np.asarray(f(v)).astype(dtype)  # noqa: E731
    if method == "centered":
        estimate = (at(xd + hd) - at(xd - hd)) / (hd + hd)
    else:
        estimate = (at(xd + hd) - at(xd)) / hd
    return np.abs(estimate.astype(np.float64) - exact)


@validate_params(OPTIMAL_STEP_SIZE, dtype=_float_dtype)
def optimal_step_size(dtype=np.float64, method="centered"):
    r"""The step that balances truncation and rounding, up to a factor of order one.

    .. math::

        h^\star_{\text{centered}} \approx \varepsilon^{1/3}, \qquad
        h^\star_{\text{forward}} \approx \varepsilon^{1/2}

    from minimising :math:`h^2|f'''|/6 + \varepsilon|f|/h` (resp. :math:`h|f''|/2 +
    2\varepsilon|f|/h`) when :math:`f` and its derivatives are of order one, with
    :math:`\varepsilon` the machine epsilon of ``dtype``. The two steps are about 6e-6
    (centered) and 1.5e-8 (forward) in float64, 5e-3 and 3.5e-4 in float32.

    See Also
    --------
    torch.autograd.gradcheck : always steps by ``eps=1e-6`` (centered, meant for float64).
    """
    eps = float(np.finfo(dtype).eps)
    return eps ** (1 / 3) if method == "centered" else eps ** 0.5

