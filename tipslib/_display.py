"""Showing library code inside notebooks."""

from __future__ import annotations

import ast
import inspect
import textwrap

_SECTIONS = {"Parameters", "Returns", "Yields", "Raises", "Attributes", "Notes", "See Also", "Examples",
             "References", "Warns", "Other Parameters"}
_HIDDEN = "# (argument checks left out: show_source(..., checks=True) shows them)"


def show_source(obj, *, checks=False):
    """Display the source of a tipslib function or class, highlighted, in a notebook.

    The notebooks use it so the code a learner reads is the code that runs.
    For a function the reader wants the math: by default its docstring stops
    before the reference sections (Parameters, Returns, See Also, ...) and the
    argument checks at the top level of its body (``owner = ...``,
    ``x = check_...(...)``, ``if ...: raise ...``) are left out, marked by one
    comment. ``checks=True`` shows the source exactly as written. Classes are
    always shown whole. Outside IPython it returns the source text.
    """
    source = inspect.getsource(obj)
    if not checks and (inspect.isfunction(obj) or inspect.ismethod(obj)):
        source = _math_only(source)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        return source


def _is_check_call(node) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name.startswith(("check_", "_check"))


def _is_check(stmt) -> bool:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, ast.Name) and target.id == "owner" and isinstance(value, ast.Constant):
            return True
        if isinstance(value, ast.Tuple):
            return bool(value.elts) and all(_is_check_call(v) for v in value.elts)
        return _is_check_call(value)
    if isinstance(stmt, ast.Expr):
        return _is_check_call(stmt.value)
    if isinstance(stmt, ast.If) and not stmt.orelse:
        return isinstance(stmt.body[-1], ast.Raise)
    return False


def _checks_in(body, lines) -> list[tuple[int, int]]:
    """0-based line ranges of the checks in ``body``; inside an ``if``'s branches too, and an
    ``else:`` left with nothing but checks goes with them."""
    found = []
    for stmt in body:
        if _is_check(stmt):
            found.append((stmt.lineno - 1, stmt.end_lineno))
        elif isinstance(stmt, ast.If):
            inner = _checks_in(stmt.body, lines)
            if not all(_is_check(s) for s in stmt.body):
                found += inner  # never empty a branch: an if with no body is not Python
            orelse = _checks_in(stmt.orelse, lines)
            if orelse and all(_is_check(s) for s in stmt.orelse):
                head = stmt.orelse[0].lineno - 2
                if lines[head].strip() == "else:":
                    found.append((head, head + 1))
                    found += orelse
            else:
                found += orelse
    return sorted(found)


def _math_only(source: str) -> str:
    """``source`` of one function without its reference docstring sections and top-level checks."""
    lines = textwrap.dedent(source).splitlines()
    try:
        func = ast.parse("\n".join(lines)).body[0]
    except SyntaxError:  # pragma: no cover - getsource gives parseable code
        return source
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return source
    drop, comment_at = set(), None
    body = func.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        for i in range(first.lineno, first.end_lineno - 1):  # 0-based indices of the docstring's inner lines
            if lines[i].strip() in _SECTIONS and set(lines[i + 1].strip()) == {"-"}:
                start = i - 1 if i > 0 and not lines[i - 1].strip() else i
                drop.update(range(start, first.end_lineno - 1))  # keep the closing quotes
                break
        body = body[1:]
    checks = _checks_in(body, lines)
    for start, end in checks:
        drop.update(range(start, end))
    if checks:
        comment_at = checks[0][0]
    if not drop:
        return source
    indent = " " * (len(lines[comment_at]) - len(lines[comment_at].lstrip())) if comment_at is not None else ""
    out = []
    for i, line in enumerate(lines):
        if i == comment_at:
            out.append(indent + _HIDDEN)
        if i not in drop:
            out.append(line)
    return "\n".join(out) + "\n"
