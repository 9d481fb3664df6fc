"""Mutation testing of the exercise solutions: small wrong edits that the test cells must catch.

A mutant is the instructor solution with one small change inside its ``# BEGIN SOLUTION`` /
``# END SOLUTION`` region: a comparison flipped (``<`` to ``<=``), an operator swapped (``+`` to
``-``), one operand of an operation kept alone, a constant changed, a call swapped for its
neighbour (``mean`` for ``sum``, ``max`` for ``min``, ...), a call replaced by its argument, a
``.copy()`` dropped, a keyword argument dropped, an index or a slice bound dropped, a local
name read where another is (``x`` for ``dout``), or a statement deleted. Each mutant is named by
what it changes, in source text, so a name survives edits elsewhere in the notebook.

A mutant that passes every test cell of its notebook (hidden tests included) is a wrong answer
that would keep full marks, unless it is equivalent to the solution; the test that uses this
module lists the equivalent ones, each with the reason.

Run as a script, it executes one notebook's mutants in this process (the notebooks are the
instructor's own, trusted code) and writes ``{answer cell: [surviving mutant, ...]}`` as JSON::

    python tests/mutation.py exercises/source/regularization.ipynb out.json
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import signal
import sys

BEGIN_SOLUTION, END_SOLUTION = "# BEGIN SOLUTION", "# END SOLUTION"

FLIPPED_COMPARISONS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                       ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
SWAPPED_OPERATORS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                     ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
SWAPPED_CALLS = {"mean": "sum", "sum": "mean", "max": "min", "min": "max", "maximum": "minimum",
                 "minimum": "maximum", "sqrt": "abs", "exp": "abs", "log": "abs", "var": "std", "std": "var",
                 "zeros_like": "ones_like", "ones_like": "zeros_like", "argmax": "argmin",
                 "permutation": "arange", "clone": "detach"}
DROPPED_METHODS = ("copy", "clone", "detach", "item")
SECONDS_PER_MUTANT = 20


def solution_lines(source: str) -> set[int]:
    """The line numbers (1-based) between the solution markers of a cell."""
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == BEGIN_SOLUTION:
            inside = True
        elif line.strip() == END_SOLUTION:
            inside = False
        elif inside:
            lines.add(number)
    return lines


class _OneMutation(ast.NodeTransformer):
    """Walks the tree and applies only the ``target``-th possible mutation, naming it."""

    def __init__(self, target: int, source: str, names: list[str]):
        self.target, self.lines, self.seen, self.name = target, solution_lines(source), 0, None
        self.source_lines, self.names = source.splitlines(), names

    def _take(self, node: ast.AST, replacement: ast.AST | None, kind: str) -> bool:
        if getattr(node, "lineno", None) not in self.lines:
            return False
        index, self.seen = self.seen, self.seen + 1
        if index != self.target:
            return False
        after = "pass" if replacement is None else ast.unparse(replacement)
        line = self.source_lines[node.lineno - 1].strip()
        self.name = f"{kind}: {ast.unparse(node)} -> {after}" + (f"  (in `{line}`)" if kind in ("constant", "name swapped") else "")
        return True

    def visit_Compare(self, node):
        self.generic_visit(node)
        flipped = FLIPPED_COMPARISONS.get(type(node.ops[0]))
        if flipped:
            new = ast.Compare(node.left, [flipped(), *node.ops[1:]], node.comparators)
            if self._take(node, new, "comparison"):
                return ast.copy_location(new, node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        swapped = SWAPPED_OPERATORS.get(type(node.op))
        if swapped:
            new = ast.BinOp(node.left, swapped(), node.right)
            if self._take(node, new, "operator"):
                return ast.copy_location(new, node)
        for side in (node.left, node.right):
            if self._take(node, side, "one operand"):
                return side
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.USub, ast.Not)) and self._take(node, node.operand, "unary operator dropped"):
            return node.operand
        return node

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool):
            candidates = [not value]
        elif isinstance(value, (int, float)):
            candidates = sorted({0, 1, 2, value + 1, value / 2} - {value})
        else:
            candidates = []
        for candidate in candidates:
            new = ast.Constant(type(value)(candidate) if isinstance(value, float) else candidate)
            if self._take(node, new, "constant"):
                return ast.copy_location(new, node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in SWAPPED_CALLS:
            new_func = (ast.Attribute(func.value, SWAPPED_CALLS[name], ast.Load()) if isinstance(func, ast.Attribute)
                        else ast.Name(SWAPPED_CALLS[name], ast.Load()))
            new = ast.Call(new_func, node.args, node.keywords)
            if self._take(node, new, "call swapped"):
                return ast.copy_location(new, node)
        if len(node.args) == 1 and not node.keywords and self._take(node, node.args[0], "call -> its argument"):
            return node.args[0]
        if isinstance(func, ast.Attribute) and name in DROPPED_METHODS and not node.args:
            if self._take(node, func.value, "method dropped"):
                return func.value
        for i in range(len(node.keywords)):
            new = ast.Call(func, node.args, node.keywords[:i] + node.keywords[i + 1:])
            if self._take(node, new, "keyword dropped"):
                return ast.copy_location(new, node)
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            for other in self.names:
                new = ast.Name(other, ast.Load())
                if other != node.id and self._take(node, new, "name swapped"):
                    return ast.copy_location(new, node)
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if self._take(node, node.value, "index dropped"):
            return node.value
        return node

    def visit_Slice(self, node):
        self.generic_visit(node)
        for part in ("lower", "upper", "step"):
            bound = getattr(node, part)
            if bound is not None:
                new = ast.Slice(**{p: (None if p == part else getattr(node, p)) for p in ("lower", "upper", "step")})
                if self._take(node, new, f"slice {part} dropped"):
                    return ast.copy_location(new, node)
        return node

    def _statement(self, node):
        self.generic_visit(node)
        if self._take(node, None, "statement deleted"):
            return ast.copy_location(ast.Pass(), node)
        return node

    visit_Assign = visit_AugAssign = visit_Expr = _statement


def local_names(tree: ast.AST) -> list[str]:
    """The arguments and assigned names of the functions in a cell (``ctx`` and ``self`` aside)."""
    names = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            arguments = function.args
            names |= {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
            names |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(names - {"ctx", "self"})


def mutants(source: str):
    """Yield ``(name, mutated source)`` for every mutation inside the solution region of a cell."""
    tree, target = ast.parse(source), 0
    while True:
        mutation = _OneMutation(target, source, local_names(tree))
        mutated = ast.fix_missing_locations(mutation.visit(copy.deepcopy(tree)))
        if mutation.name is None:
            return
        yield mutation.name, ast.unparse(mutated)
        target += 1


def _timeout(signum, frame):
    raise TimeoutError(f"a mutant ran over {SECONDS_PER_MUTANT} s")


def failing_tests(cells, answer_id: str | None = None, answer_source: str | None = None, *,
                  first_only: bool = False) -> list[str]:
    """Run a notebook's code cells in a fresh namespace; the grade ids of the test cells that fail.

    With ``first_only``, stop at the first failing test cell (enough to know a mutant is caught).
    """
    namespace, failed = {"__name__": "__main__"}, []
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(SECONDS_PER_MUTANT)
    try:
        for cell in cells:
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id")
            source = answer_source if gid == answer_id else cell.source
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    exec(compile(source, f"<cell {gid}>", "exec"), namespace)
            except TimeoutError:
                raise
            except BaseException:  # noqa: BLE001 - a failing cell is the result we want
                if meta.get("grade"):
                    failed.append(gid)
                    if first_only:
                        break
    except TimeoutError:
        failed.append("(ran out of time)")
    finally:
        signal.alarm(0)
    return failed


def surviving_mutants(path: str) -> dict[str, list[str]]:
    """``{answer cell: [name of each mutant that fails no test cell]}`` for one source notebook."""
    import warnings

    import nbformat

    warnings.filterwarnings("ignore")
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    failing = failing_tests(cells)
    if failing:
        raise RuntimeError(f"{path}: the solution itself fails {failing}")
    survivors = {}
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            survivors[meta["grade_id"]] = [name for name, source in mutants(cell.source)
                                           if not failing_tests(cells, meta["grade_id"], source, first_only=True)]
    return survivors


if __name__ == "__main__":
    notebook, out = sys.argv[1:3]
    with open(out, "w") as f:
        json.dump(surviving_mutants(notebook), f, indent=1)
