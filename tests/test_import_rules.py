"""The import rules of DESIGN.md, checked on what Python really loads.

Each twin is imported alone in a fresh interpreter and ``sys.modules`` is read
back, so a rule broken through a chain of imports (a twin importing a helper
that imports torch) fails here, where a search of the source text would not.

- a topic's NumPy twin never loads torch;
- a topic's torch twin never loads its NumPy sibling (``numpy_impl`` or the
  ``_numpy`` subpackage): what both need lives in the topic's ``_shared.py``;
- no topic loads ``tipslib.widgets`` or ``tipslib.grading``;
- ``tipslib.grading`` never loads ``tipslib.widgets``.
"""

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import tipslib

ROOT = Path(tipslib.__file__).parent
TOPICS = sorted(p.parent.name for p in ROOT.glob("*/numpy_impl.py"))

_PROBE = "import importlib, json, sys\n{imports}\nprint(json.dumps(sorted(sys.modules)))"


@functools.lru_cache(maxsize=None)
def loaded_by(*modules: str) -> frozenset:
    """The names in ``sys.modules`` after a fresh interpreter imports ``modules``."""
    imports = "\n".join(f"importlib.import_module({m!r})" for m in modules)
    out = subprocess.run([sys.executable, "-c", _PROBE.format(imports=imports)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return frozenset(json.loads(out.stdout.strip().splitlines()[-1]))


def _under(names, package):
    return sorted(n for n in names if n == package or n.startswith(package + "."))


def test_there_are_topics():
    assert len(TOPICS) >= 9, TOPICS


@pytest.mark.parametrize("topic", TOPICS)
def test_numpy_twin_never_loads_torch(topic):
    loaded = loaded_by(f"tipslib.{topic}.numpy_impl")
    assert f"tipslib.{topic}.numpy_impl" in loaded  # the probe did import it
    assert not _under(loaded, "torch"), f"tipslib.{topic}.numpy_impl loads torch"


@pytest.mark.parametrize("topic", TOPICS)
def test_torch_twin_never_loads_its_numpy_sibling(topic):
    loaded = loaded_by(f"tipslib.{topic}.torch_impl")
    assert f"tipslib.{topic}.torch_impl" in loaded
    siblings = _under(loaded, f"tipslib.{topic}.numpy_impl") + _under(loaded, f"tipslib.{topic}._numpy")
    assert not siblings, f"tipslib.{topic}.torch_impl loads {siblings}"


@pytest.mark.parametrize("topic", TOPICS)
def test_topics_never_load_widgets_or_grading(topic):
    for twin in ("numpy_impl", "torch_impl"):
        loaded = loaded_by(f"tipslib.{topic}.{twin}")
        bad = _under(loaded, "tipslib.widgets") + _under(loaded, "tipslib.grading")
        assert not bad, f"tipslib.{topic}.{twin} loads {bad}"


def test_grading_never_loads_widgets():
    modules = ["tipslib.grading"] + sorted(f"tipslib.grading.{p.stem}" for p in (ROOT / "grading").glob("*.py")
                                           if p.stem != "__init__")
    loaded = loaded_by(*modules)
    assert "tipslib.grading.judge" in loaded
    bad = _under(loaded, "tipslib.widgets")
    assert not bad, f"tipslib.grading loads {bad}"
