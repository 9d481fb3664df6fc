"""Weight penalties and early stopping in torch: twins of :mod:`tipslib.regularization.numpy_impl`.

The penalties return 0-dim tensors that autograd differentiates, so
``fit(..., penalty=ElasticNet(lam, alpha))`` adds them to the loss; ``grad``
gives the same (sub)gradient by formula, for checking and teaching.
"""

from __future__ import annotations

import copy

import torch

from .._checks import LR, NONNEG, validate_params
from ._shared import (LAM, PENALTY, EarlyStoppingBase, ElasticNetBase, FixedMix, array_of, from_sklearn,
                      to_sklearn)

__all__ = [
    "l1_penalty", "l1_grad", "l2_penalty", "l2_grad", "elastic_net_penalty", "elastic_net_grad",
    "soft_threshold", "prox_elastic_net", "ElasticNet", "L1", "L2", "to_sklearn", "from_sklearn",
    "EarlyStopping",
]

#: An array a penalty acts on, in this twin: any float array of its kind, and a finite one.
ARRAY = array_of("a torch.Tensor", lambda a: isinstance(a, torch.Tensor), finite=False)
THETA = array_of("a torch.Tensor", lambda a: isinstance(a, torch.Tensor), finite=True)
TORCH_ONLY: frozenset = frozenset()
NUMPY_ONLY: frozenset = frozenset()


@validate_params(PENALTY, theta=THETA)
def elastic_net_penalty(theta, lam, alpha=0.5):
    """Twin of the NumPy ``elastic_net_penalty``; returns a 0-dim tensor autograd can differentiate."""
    return lam * ((1 - alpha) * theta.abs().sum() + alpha * theta.square().sum())


@validate_params(PENALTY, theta=THETA)
def elastic_net_grad(theta, lam, alpha=0.5):
    """Twin of the NumPy ``elastic_net_grad`` (``sign(0) = 0``, as autograd's choice for ``abs``)."""
    return lam * ((1 - alpha) * torch.sign(theta) + 2 * alpha * theta)


@validate_params(theta=THETA, lam=LAM)
def l1_penalty(theta, lam):
    """Twin of the NumPy ``l1_penalty``."""
    return elastic_net_penalty.__wrapped__(theta, lam, 0.0)


@validate_params(theta=THETA, lam=LAM)
def l1_grad(theta, lam):
    """Twin of the NumPy ``l1_grad``."""
    return elastic_net_grad.__wrapped__(theta, lam, 0.0)


@validate_params(theta=THETA, lam=LAM)
def l2_penalty(theta, lam):
    """Twin of the NumPy ``l2_penalty``."""
    return elastic_net_penalty.__wrapped__(theta, lam, 1.0)


@validate_params(theta=THETA, lam=LAM)
def l2_grad(theta, lam):
    """Twin of the NumPy ``l2_grad``."""
    return elastic_net_grad.__wrapped__(theta, lam, 1.0)


@validate_params(x=THETA, threshold=NONNEG)
def soft_threshold(x, threshold):
    """Twin of the NumPy ``soft_threshold``; ``torch.nn.functional.softshrink`` is the same map."""
    return torch.sign(x) * torch.clamp_min(x.abs() - threshold, 0.0)


@validate_params(PENALTY, theta=THETA, lr=LR)
def prox_elastic_net(theta, lr, lam, alpha=0.5):
    """Twin of the NumPy ``prox_elastic_net``; returns a new tensor."""
    t = lr * lam * (1 - alpha)
    shrunk = torch.sign(theta) * torch.clamp_min(theta.abs() - t, 0.0)  # soft-threshold by t
    return shrunk / (1 + 2 * lr * lam * alpha)


class ElasticNet(ElasticNetBase):
    """Twin of the NumPy ``ElasticNet``. Differences: ``params`` is
    ``dict(model.named_parameters())``; calling returns a tensor (on the
    parameters' device) that autograd differentiates; ``prox`` writes under ``no_grad``."""

    _penalty = staticmethod(elastic_net_penalty.__wrapped__)
    _grad = staticmethod(elastic_net_grad.__wrapped__)
    _prox = staticmethod(prox_elastic_net.__wrapped__)
    _array = staticmethod(ARRAY)
    _theta = staticmethod(THETA)

    @staticmethod
    @torch.no_grad()
    def _assign(param, value):
        param.copy_(value)


class L1(FixedMix, ElasticNet):
    """Twin of the NumPy ``L1``."""

    alpha = 0.0


class L2(FixedMix, ElasticNet):
    """Twin of the NumPy ``L2``."""

    alpha = 1.0


class EarlyStopping(EarlyStoppingBase):
    """Twin of the NumPy ``EarlyStopping``. Difference: the best weights are a
    ``copy.deepcopy`` of ``model.state_dict()`` (on the model's device)."""

    def _snapshot(self, model):
        return copy.deepcopy(model.state_dict())

    def _restore(self, model, state):
        model.load_state_dict(state)
