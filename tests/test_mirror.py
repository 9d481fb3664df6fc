"""The twin rule: every topic's NumPy and torch modules mirror each other.

Same ``__all__`` (less the names listed in ``TORCH_ONLY``/``NUMPY_ONLY``),
same kinds of object, same argument names, kinds and defaults. Allowed:
``rng`` <-> ``generator``; torch may add a keyword-only ``device``; the
default of ``dtype`` may differ.
"""

import importlib
import inspect
from pathlib import Path

import pytest
import torch

import tipslib

ROOT = Path(tipslib.__file__).parent
TOPICS = sorted(p.parent.name for p in ROOT.glob("*/numpy_impl.py"))
#: Topics DESIGN.md promises; each must exist with both twins.
EXPECTED = {"augment", "gradcheck", "init", "layers", "losses", "optim", "regularization", "training", "transfer"}


def test_every_designed_topic_has_twins():
    missing = sorted(EXPECTED - set(TOPICS))
    assert not missing, f"topics without numpy_impl.py: {missing}"
    for topic in TOPICS:
        assert (ROOT / topic / "torch_impl.py").is_file(), topic


def _pair(topic):
    return (importlib.import_module(f"tipslib.{topic}.numpy_impl"),
            importlib.import_module(f"tipslib.{topic}.torch_impl"))


def _shared_names(np_mod, th_mod):
    torch_only = set(getattr(th_mod, "TORCH_ONLY", ()))
    numpy_only = set(getattr(th_mod, "NUMPY_ONLY", ()))
    return set(np_mod.__all__) - numpy_only, set(th_mod.__all__) - torch_only


@pytest.mark.parametrize("topic", TOPICS)
def test_same_names(topic):
    np_mod, th_mod = _pair(topic)
    assert len(np_mod.__all__) == len(set(np_mod.__all__)), "duplicate names in __all__"
    np_names, th_names = _shared_names(np_mod, th_mod)
    assert np_names == th_names, (
        f"only in numpy: {sorted(np_names - th_names)}; only in torch: {sorted(th_names - np_names)}")
    for name in np_mod.__all__:
        assert hasattr(np_mod, name), name
    for name in th_mod.__all__:
        assert hasattr(th_mod, name), name


def _signature(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    if target in (torch.nn.Module.__init__, object.__init__):
        return []  # a class that adds no constructor arguments
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        name = "rng" if p.name == "generator" else p.name
        default = p.default
        if name == "dtype":
            default = "<dtype>"
        params.append((name, p.kind, repr(default)))
    return params


@pytest.mark.parametrize("topic", TOPICS)
def test_same_signatures(topic):
    np_mod, th_mod = _pair(topic)
    np_names, th_names = _shared_names(np_mod, th_mod)
    for name in sorted(np_names & th_names):
        a, b = getattr(np_mod, name), getattr(th_mod, name)
        assert inspect.isclass(a) == inspect.isclass(b), f"{topic}.{name}: class in one twin only"
        sa, sb = _signature(a), _signature(b)
        if sa is None or sb is None:
            continue
        # torch-only keyword-only arguments: where the tensors live, and torch's fused kernel flag
        sb = [p for p in sb if not (p[0] in ("device", "fused") and p[1] == inspect.Parameter.KEYWORD_ONLY)]
        # documented differences a torch module may declare: ARG_RENAMES maps a NumPy argument
        # name to its torch name (init: shape -> tensor); NUMPY_ONLY_ARGS are keyword-only there.
        renamed = {v: k for k, v in getattr(th_mod, "ARG_RENAMES", {}).items()}
        sb = [(renamed.get(p[0], p[0]), *p[1:]) for p in sb]
        numpy_only = getattr(th_mod, "NUMPY_ONLY_ARGS", frozenset())
        sa = [p for p in sa if not (p[0] in numpy_only and p[1] == inspect.Parameter.KEYWORD_ONLY)]
        assert sa == sb, f"{topic}.{name}:\n numpy {sa}\n torch {sb}"
