"""show_source: the math a reader needs; the checks live in the decorator, not in the body."""

import ast
import importlib
import inspect
import json
from pathlib import Path

import pytest

from tipslib import show_source
from tipslib.layers import numpy_impl as L
from tipslib.regularization import numpy_impl as R

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _text(obj, **kw):
    out = show_source(obj, **kw)
    return out if isinstance(out, str) else out.data


def test_reference_sections_are_left_out_and_the_declaration_stays():
    text = _text(L.dropout_forward)
    ast.parse(text)  # still Python
    assert "Parameters" not in text and "See Also" not in text
    assert text.startswith("@validate_params(") and ".. math::" in text and "mask = rng.random" in text


def test_checks_true_shows_the_source_as_written():
    assert _text(L.dropout_forward, checks=True) == inspect.getsource(L.dropout_forward)


def _no_sections(x):
    r"""A formula and nothing else: :math:`y = x`."""
    return x


def test_functions_without_sections_and_classes_are_shown_whole():
    # Every public tipslib function now has a See Also (tests/test_docstrings.py), so a local one stands in.
    assert _text(_no_sections) == inspect.getsource(_no_sections)
    assert _text(R.EarlyStopping) == inspect.getsource(R.EarlyStopping)


def _shown_in_notebooks():
    """(notebook, expression, object) for every ``show_source(X.name)`` the chapters run."""
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        aliases = {}
        for cell in cells:
            try:
                tree = ast.parse("".join(cell["source"]))
            except SyntaxError:
                continue  # IPython magics
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tipslib"):
                    for a in node.names:
                        aliases[a.asname or a.name] = (node.module, a.name)
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "show_source"
                        and node.args):
                    expr = ast.unparse(node.args[0])
                    head, *attrs = expr.split(".")
                    module, name = aliases[head]
                    obj = importlib.import_module(module)
                    try:
                        obj = importlib.import_module(f"{module}.{name}")
                    except ModuleNotFoundError:
                        obj = getattr(obj, name)
                    for attr in attrs:
                        obj = getattr(obj, attr)
                    yield path.stem, expr, obj


SHOWN = list(_shown_in_notebooks())


def test_the_chapters_show_source():
    assert len(SHOWN) >= 20, SHOWN


@pytest.mark.parametrize("notebook, expr, obj", SHOWN, ids=[f"{n}:{e}" for n, e, _ in SHOWN])
def test_every_function_a_chapter_shows_is_only_its_math(notebook, expr, obj):
    """No argument check in the body of what a student reads: no raise, no check_ call."""
    if inspect.isclass(obj):
        return  # classes are shown whole; their methods call the bare functions
    func = ast.parse(inspect.cleandoc("\n" + inspect.getsource(obj))).body[0]
    for node in ast.walk(ast.Module(body=func.body, type_ignores=[])):
        assert not isinstance(node, ast.Raise), f"{expr}: a raise on line {node.lineno} of its body"
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            assert not name.split(".")[-1].startswith(("check_", "_check")), f"{expr}: calls {name}"
