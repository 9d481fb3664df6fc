"""Showing library code inside notebooks."""

from __future__ import annotations

import ast
import inspect
import textwrap

_SECTIONS = {"Parameters", "Returns", "Yields", "Raises", "Attributes", "Notes", "See Also", "Examples",
             "References", "Warns", "Other Parameters"}


def show_source(obj, *, checks=False):
    """Display the source of a tipslib function or class, highlighted, in a notebook.

    The notebooks use it so the code a learner reads is the code that runs.
    For a function the reader wants the math: by default its docstring stops
    before the reference sections (Parameters, Returns, See Also, ...). The
    argument checks are not in the body at all: they are declared once, in
    the ``@validate_params(...)`` line above the function (see
    ``tipslib/_checks.py``). ``checks=True`` shows the source exactly as
    written, reference sections too. Classes are always shown whole. Outside
    IPython it returns the source text.
    """
    source = inspect.getsource(obj)
    if not checks and (inspect.isfunction(obj) or inspect.ismethod(obj)):
        source = _math_only(source)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        return source


def _math_only(source: str) -> str:
    """``source`` of one function without the reference sections of its docstring."""
    lines = textwrap.dedent(source).splitlines()
    try:
        func = ast.parse("\n".join(lines)).body[0]
    except SyntaxError:  # pragma: no cover - getsource gives parseable code
        return source
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return source
    body = func.body
    first = body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return source
    for i in range(first.lineno, first.end_lineno - 1):  # 0-based indices of the docstring's inner lines
        if lines[i].strip() in _SECTIONS and set(lines[i + 1].strip()) == {"-"}:
            start = i - 1 if i > 0 and not lines[i - 1].strip() else i
            drop = range(start, first.end_lineno - 1)  # keep the closing quotes
            return "\n".join(line for j, line in enumerate(lines) if j not in drop) + "\n"
    return source
