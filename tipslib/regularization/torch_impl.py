"""Weight penalties and early stopping in torch: twins of :mod:`tipslib.regularization.numpy_impl`.

The penalties return 0-dim tensors that autograd differentiates, so
``fit(..., penalty=ElasticNet(lam, alpha))`` adds them to the loss; ``grad``
gives the same (sub)gradient by formula, for checking and teaching.
"""

from __future__ import annotations

import copy

import torch

from .._checks import check_float_array, check_real
from ._common import EarlyStoppingBase, Selection, check_alpha, check_lam, check_lr, from_sklearn, to_sklearn

__all__ = [
    "l1_penalty", "l1_grad", "l2_penalty", "l2_grad", "elastic_net_penalty", "elastic_net_grad",
    "soft_threshold", "prox_elastic_net", "ElasticNet", "L1", "L2", "to_sklearn", "from_sklearn",
    "EarlyStopping",
]
TORCH_ONLY: frozenset = frozenset()
NUMPY_ONLY: frozenset = frozenset()


def _check_theta(theta, name, owner):
    check_float_array(theta, name, owner)
    # one device sync per call: the price of never returning a silent NaN
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(f"The '{name}' parameter of {owner} must hold finite numbers. Got NaN or inf entries instead.")


def elastic_net_penalty(theta, lam, alpha=0.5):
    """Twin of the NumPy ``elastic_net_penalty``; returns a 0-dim tensor autograd can differentiate."""
    owner = "elastic_net_penalty"
    _check_theta(theta, "theta", owner)
    lam, alpha = check_lam(lam, owner), check_alpha(alpha, owner)
    return lam * ((1 - alpha) * theta.abs().sum() + alpha * theta.square().sum())


def elastic_net_grad(theta, lam, alpha=0.5):
    """Twin of the NumPy ``elastic_net_grad`` (``sign(0) = 0``, as autograd's choice for ``abs``)."""
    owner = "elastic_net_grad"
    _check_theta(theta, "theta", owner)
    lam, alpha = check_lam(lam, owner), check_alpha(alpha, owner)
    return lam * ((1 - alpha) * torch.sign(theta) + 2 * alpha * theta)


def l1_penalty(theta, lam):
    """Twin of the NumPy ``l1_penalty``."""
    return elastic_net_penalty(theta, lam, 0.0)


def l1_grad(theta, lam):
    """Twin of the NumPy ``l1_grad``."""
    return elastic_net_grad(theta, lam, 0.0)


def l2_penalty(theta, lam):
    """Twin of the NumPy ``l2_penalty``."""
    return elastic_net_penalty(theta, lam, 1.0)


def l2_grad(theta, lam):
    """Twin of the NumPy ``l2_grad``."""
    return elastic_net_grad(theta, lam, 1.0)


def soft_threshold(x, threshold):
    """Twin of the NumPy ``soft_threshold``; ``torch.nn.functional.softshrink`` is the same map."""
    owner = "soft_threshold"
    _check_theta(x, "x", owner)
    t = check_real(threshold, "threshold", owner, low=0)
    return torch.sign(x) * torch.clamp_min(x.abs() - t, 0.0)


def prox_elastic_net(theta, lr, lam, alpha=0.5):
    """Twin of the NumPy ``prox_elastic_net``; returns a new tensor."""
    owner = "prox_elastic_net"
    _check_theta(theta, "theta", owner)
    lr, lam, alpha = check_lr(lr, owner), check_lam(lam, owner), check_alpha(alpha, owner)
    return soft_threshold(theta, lr * lam * (1 - alpha)) / (1 + 2 * lr * lam * alpha)


class ElasticNet:
    """Twin of the NumPy ``ElasticNet``. Differences: ``params`` is
    ``dict(model.named_parameters())``; calling returns a tensor (on the
    parameters' device) that autograd differentiates; ``prox`` runs under ``no_grad``."""

    def __init__(self, lam, alpha=0.5, *, include=None):
        owner = type(self).__name__
        self.lam = check_lam(lam, owner)
        self.alpha = check_alpha(alpha, owner)
        self.selected = Selection(include, owner)

    def _arrays(self, params):
        names = self.selected(params)
        for n in names:
            _check_theta(params[n].detach(), f"params['{n}']", type(self).__name__)
        return names

    def __call__(self, params):
        names = self._arrays(params)
        return sum(elastic_net_penalty(params[n], self.lam, self.alpha) for n in names)

    def grad(self, params):
        return {n: elastic_net_grad(params[n].detach(), self.lam, self.alpha) for n in self._arrays(params)}

    @torch.no_grad()
    def prox(self, params, lr):
        lr = check_lr(lr, type(self).__name__)
        for n in self._arrays(params):
            params[n].copy_(prox_elastic_net(params[n], lr, self.lam, self.alpha))

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam}, alpha={self.alpha})"


class L1(ElasticNet):
    """Twin of the NumPy ``L1``."""

    def __init__(self, lam, *, include=None):
        super().__init__(lam, 0.0, include=include)

    def __repr__(self):
        return f"L1(lam={self.lam})"


class L2(ElasticNet):
    """Twin of the NumPy ``L2``."""

    def __init__(self, lam, *, include=None):
        super().__init__(lam, 1.0, include=include)

    def __repr__(self):
        return f"L2(lam={self.lam})"


class EarlyStopping(EarlyStoppingBase):
    """Twin of the NumPy ``EarlyStopping``. Difference: the best weights are a
    ``copy.deepcopy`` of ``model.state_dict()`` (on the model's device)."""

    def _snapshot(self, model):
        return copy.deepcopy(model.state_dict())

    def _restore(self, model, state):
        model.load_state_dict(state)
