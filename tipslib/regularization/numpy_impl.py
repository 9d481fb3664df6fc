r"""Weight penalties and early stopping in NumPy: the reference implementations.

The cheatsheet's three penalties are one family,

.. math::

    R(\theta) = \lambda\big[(1-\alpha)\lVert\theta\rVert_1 + \alpha\lVert\theta\rVert_2^2\big],
    \qquad \lambda \ge 0,\ \alpha \in [0, 1],

with ``alpha=0`` the LASSO (:class:`L1`), ``alpha=1`` ridge (:class:`L2`) and
anything between the elastic net. ``lam`` stands for :math:`\lambda` (``lambda``
is a Python keyword). The torch twin is :mod:`tipslib.regularization.torch_impl`.
"""

from __future__ import annotations

import numpy as np

from .._checks import LR, NONNEG, validate_params
from ._shared import (LAM, PENALTY, EarlyStoppingBase, ElasticNetBase, FixedMix, array_of, from_sklearn,
                      to_sklearn)

__all__ = [
    "l1_penalty", "l1_grad", "l2_penalty", "l2_grad", "elastic_net_penalty", "elastic_net_grad",
    "soft_threshold", "prox_elastic_net", "ElasticNet", "L1", "L2", "to_sklearn", "from_sklearn",
    "EarlyStopping",
]

#: An array a penalty acts on, in this twin: any float array of its kind, and a finite one.
ARRAY = array_of("a numpy.ndarray", lambda a: isinstance(a, np.ndarray), finite=False)
THETA = array_of("a numpy.ndarray", lambda a: isinstance(a, np.ndarray), finite=True)


# --- the math ------------------------------------------------------------------------------


@validate_params(PENALTY, theta=THETA)
def elastic_net_penalty(theta, lam, alpha=0.5):
    r"""The elastic-net penalty of one array.

    .. math::

        R(\theta) = \lambda\big[(1-\alpha)\textstyle\sum_i|\theta_i| + \alpha\sum_i\theta_i^2\big]

    Parameters
    ----------
    theta : ndarray, any shape
    lam : float >= 0
        Overall strength :math:`\lambda`.
    alpha : float in [0, 1], default 0.5
        The mix: 0 is pure L1 (LASSO), 1 pure squared L2 (ridge).

    Returns
    -------
    float

    See Also
    --------
    sklearn.linear_model.ElasticNet : the same family in another parametrisation; see :func:`to_sklearn`.
    torch.optim.SGD : ``weight_decay=2*lam`` is the gradient of the ``alpha=1`` case.
    """
    return float(lam * ((1 - alpha) * np.abs(theta).sum() + alpha * np.square(theta).sum()))


@validate_params(PENALTY, theta=THETA)
def elastic_net_grad(theta, lam, alpha=0.5):
    r"""A (sub)gradient of :func:`elastic_net_penalty`.

    .. math::

        \partial R / \partial\theta = \lambda\big[(1-\alpha)\,\mathrm{sign}(\theta) + 2\alpha\,\theta\big]

    :math:`|\theta|` has no derivative at 0; ``sign(0) = 0`` picks the
    subgradient torch's autograd picks too. Subgradient steps make weights
    hover around zero without reaching it; :func:`prox_elastic_net` lands on it.

    Returns
    -------
    ndarray, shape of ``theta``

    See Also
    --------
    torch.autograd.grad : of the torch twin's penalty gives the same (sub)gradient,
        ``sign(0) = 0`` included.
    """
    return lam * ((1 - alpha) * np.sign(theta) + 2 * alpha * theta)


@validate_params(theta=THETA, lam=LAM)
def l1_penalty(theta, lam):
    r"""LASSO penalty of one array: :func:`elastic_net_penalty` with ``alpha=0``.

    .. math::

        R(\theta) = \lambda\lVert\theta\rVert_1 = \lambda \textstyle\sum_i |\theta_i|

    ``theta`` has any shape; returns a float.

    See Also
    --------
    torch.linalg.vector_norm : ``lam * vector_norm(theta, ord=1)`` is the same value; torch's
        optimizers have no L1 option (their ``weight_decay`` is the L2 gradient).
    """
    return elastic_net_penalty.__wrapped__(theta, lam, 0.0)


@validate_params(theta=THETA, lam=LAM)
def l1_grad(theta, lam):
    r"""A subgradient of :func:`l1_penalty`: :func:`elastic_net_grad` with ``alpha=0``.

    .. math::

        \partial R / \partial\theta = \lambda\,\mathrm{sign}(\theta), \qquad \mathrm{sign}(0) = 0

    Returns an array shaped like ``theta``.

    See Also
    --------
    torch.sign : the same sign, 0 at 0, which is also what autograd gives for ``torch.abs``.
    """
    return elastic_net_grad.__wrapped__(theta, lam, 0.0)


@validate_params(theta=THETA, lam=LAM)
def l2_penalty(theta, lam):
    r"""Ridge penalty :math:`\lambda\lVert\theta\rVert_2^2`: :func:`elastic_net_penalty` with ``alpha=1``.

    See Also
    --------
    torch.optim.SGD : ``weight_decay=2*lam`` adds this penalty's gradient :math:`2\lambda\theta`.
    """
    return elastic_net_penalty.__wrapped__(theta, lam, 1.0)


@validate_params(theta=THETA, lam=LAM)
def l2_grad(theta, lam):
    r"""Gradient of :func:`l2_penalty`: :func:`elastic_net_grad` with ``alpha=1``.

    .. math::

        \partial R / \partial\theta = 2\lambda\theta

    Returns an array shaped like ``theta``.

    See Also
    --------
    torch.optim.SGD : ``weight_decay=2*lam`` adds this gradient, to every parameter.
    """
    return elastic_net_grad.__wrapped__(theta, lam, 1.0)


@validate_params(x=THETA, threshold=NONNEG)
def soft_threshold(x, threshold):
    r"""Shrink every entry towards 0 by ``threshold``, stopping at 0.

    .. math::

        S_t(x) = \mathrm{sign}(x)\,\max(|x| - t,\ 0)

    The proximal operator of :math:`t\lVert\cdot\rVert_1`: entries with
    :math:`|x| \le t` become exactly 0. ``x`` has any shape; ``threshold`` is
    :math:`t \ge 0`; returns a new array shaped like ``x``.

    See Also
    --------
    torch.nn.functional.softshrink : the same map, ``lambd`` for our ``threshold``
        (which has no default here; torch's is 0.5).
    """
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


@validate_params(PENALTY, theta=THETA, lr=LR)
def prox_elastic_net(theta, lr, lam, alpha=0.5):
    r"""Proximal step of the elastic-net penalty: the closed-form minimiser

    .. math::

        \mathrm{prox}(\theta) = \arg\min_z \frac{1}{2\eta}\lVert z - \theta\rVert^2 + R(z)
        = \frac{S_{\eta\lambda(1-\alpha)}(\theta)}{1 + 2\eta\lambda\alpha}

    with step :math:`\eta` (``lr``) and :math:`S` the :func:`soft_threshold`.
    Proximal gradient descent alternates a plain gradient step on the data
    loss with this step; unlike a subgradient step it sets small weights
    *exactly* to zero, which is how the LASSO selects variables.

    Parameters
    ----------
    theta : ndarray
        Usually the weights right after the data-loss gradient step.
    lr : float >= 0
    lam : float >= 0
    alpha : float in [0, 1], default 0.5

    Returns
    -------
    ndarray, shape of ``theta`` (a new array).

    See Also
    --------
    sklearn.linear_model.ElasticNet : solves the linear case by coordinate descent instead.
    torch.nn.functional.softshrink : the soft-threshold; torch has no proximal step built in.
    """
    t = lr * lam * (1 - alpha)
    shrunk = np.sign(theta) * np.maximum(np.abs(theta) - t, 0.0)  # soft-threshold by t
    return shrunk / (1 + 2 * lr * lam * alpha)


# --- objects for fit -----------------------------------------------------------------------


class ElasticNet(ElasticNetBase):
    r"""The elastic-net penalty of a model, for ``fit(..., penalty=ElasticNet(lam, alpha))``.

    :math:`R = \lambda\sum_k[(1-\alpha)\lVert\theta_k\rVert_1 + \alpha\lVert\theta_k\rVert_2^2]`
    over the selected arrays :math:`\theta_k`.

    Parameters
    ----------
    lam : float >= 0
    alpha : float in [0, 1], default 0.5
    include : None, callable or collection of str
        Which parameters are penalised. ``None``: the names ending in
        ``"weight"`` (biases are left alone, as is usual: they do not make a
        model more wiggly). A callable receives each name and returns a bool.

    Methods
    -------
    __call__(params) -> float
        The penalty of a ``{name: array}`` dict (``model.params``).
    grad(params) -> dict
        Its (sub)gradient for the selected names, which ``fit`` adds to ``model.grads``.
    prox(params, lr)
        The proximal step :func:`prox_elastic_net`, applied in place.

    See Also
    --------
    torch.optim.SGD : ``weight_decay`` is the ridge case, but applied to every parameter, biases included.
    """

    _penalty = staticmethod(elastic_net_penalty.__wrapped__)
    _grad = staticmethod(elastic_net_grad.__wrapped__)
    _prox = staticmethod(prox_elastic_net.__wrapped__)
    _array = staticmethod(ARRAY)
    _theta = staticmethod(THETA)

    @staticmethod
    def _assign(param, value):
        param[...] = value


class L1(FixedMix, ElasticNet):
    r"""LASSO penalty :math:`\lambda\sum_k\lVert\theta_k\rVert_1`: :class:`ElasticNet` with ``alpha=0``.

    See Also
    --------
    l1_penalty : the formula, for one array.
    torch.optim.SGD : its ``weight_decay`` is L2 only; torch has no L1 penalty built in.
    """

    alpha = 0.0


class L2(FixedMix, ElasticNet):
    r"""Ridge penalty :math:`\lambda\sum_k\lVert\theta_k\rVert_2^2`: :class:`ElasticNet` with ``alpha=1``.

    With plain SGD it is the same as ``SGD(weight_decay=2*lam)`` restricted to the selected arrays.

    See Also
    --------
    l2_penalty : the formula, for one array.
    torch.optim.SGD : ``weight_decay=2*lam``, but on every parameter, biases included.
    """

    alpha = 1.0


class EarlyStopping(EarlyStoppingBase):
    """Stop ``fit`` when the monitored value stops improving; keep the best weights.

    A callback for ``fit(..., callbacks=[EarlyStopping()])``, with Keras's rules:

    * an epoch improves when its value beats the best so far by *more* than
      ``min_delta`` (below ``best - min_delta`` in ``mode='min'``, above
      ``best + min_delta`` in ``mode='max'``);
    * training stops after ``patience`` epochs in a row without improvement
      (``patience=0`` stops at the first one);
    * a NaN or infinite value is never an improvement;
    * with ``restore_best_weights`` the model gets the weights of the best
      epoch back when training ends, whether it stopped early or ran out of epochs.

    Parameters
    ----------
    monitor : {'val_loss', 'val_acc', 'train_loss', 'train_acc'}, default 'val_loss'
    patience : int >= 0, default 5
    min_delta : float >= 0, default 0.0
    mode : {'min', 'max'}, default 'min'
        'max' for accuracies (required: an accuracy monitored with 'min' raises ``ValueError``).
    restore_best_weights : bool, default True

    Attributes
    ----------
    best_epoch, best_value : the best epoch (1-based, as ``fit`` counts) and its value, or None
    stopped_epoch : the epoch at which it asked ``fit`` to stop, or None
    values : every monitored value seen, in order

    Weights are copied with ``model.state_dict()`` and put back with ``load_state_dict``.

    See Also
    --------
    keras.callbacks.EarlyStopping : the same rules; Keras 3 also restores at the end of training
        (Keras 2 restored only when it stopped early) and adds ``mode='auto'`` and ``baseline``.
        torch has no early-stopping callback (no ``fit`` loop either).
    """

    def _snapshot(self, model):
        return model.state_dict()

    def _restore(self, model, state):
        model.load_state_dict(state)
