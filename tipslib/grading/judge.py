"""The judge: rebuild a submission from the instructor's notebook, run it sandboxed, score it.

Nothing from a submission is obeyed except the *source* of its answer cells
(matched by ``grade_id`` among the instructor's answer cells; the last one
wins when a student duplicated a cell). Setup cells, test cells (visible and
hidden parts), their order and all metadata come from the instructor's
notebook.

What decides a score never enters the student's process. The test code sent
into a student's sandbox is stripped of every expected value and hint (and of
the test code that only computed them, see :func:`strip_expected`), so there
``expect`` only records what the student's functions returned. The expected
values and hints come from the *reference runs* of the instructor's solution
(once per grading run, with the run's hidden-test seed): one of the full test
code, one of the stripped code, which must record the same values -- so
stripping cannot have changed what a test computes -- and whose values the
instructor's own ``expected`` arguments must accept. The judge compares, in
its own process, plain data only.

The judge never parses a submission itself: the notebook JSON and the answer
cells' Python are read by a *scan* in a sandbox (:func:`tipslib.grading._runner._scan`),
with its own memory and time limits.

Feedback carries no text that the student's process produced: check names,
hints and the expected side come from the instructor's run; about the
student's side only fixed words ("values differ", "a dict instead of an
array"), the kind of an exception only where the grader's own limits explain it
(:data:`SHOWN_ERRORS`; never for a hidden part of a test), and syntax errors
(which the scan finds before any code runs, in a process that never holds a
test). The kind of an exception is picked by the submission, which holds the
hidden tests in its memory: one of some 60 built-in kinds per test part and
answer cell spelled their inputs out, 6 bits at a time.
"""

from __future__ import annotations

import ast
import base64
import builtins
import hashlib
import json
import re
import signal
from dataclasses import dataclass, field

from . import notebook as nbk
from . import _runner
from .plain import ProtocolError, compare, decode
from .sandbox import EXIT_MEMORY

__all__ = ["Exercise", "TestResult", "ExerciseResult", "reference_run", "judge", "scan", "ReferenceError_",
           "strip_expected"]

MAX_LINE = 32 * 2**20        # bytes of one result line (a 2 M-number array, plain.MAX_ELEMENTS, is 22 MB)
#: JSON values one result line of a student's run may hold (each one a Python object in the judge:
#: a line of 21 million "[]," was 1.3 GB of lists). plain.encode keeps an honest value well under it
#: (plain.MAX_SEPARATORS); beyond it the run was tampered with.
MAX_VALUES = 500_000
MAX_RUN_VALUES = 1_000_000   # ... and all the lines of one run together
MAX_ANSWER = 2**20          # characters of one answer cell; a larger one is not graded
SCAN_TIMEOUT, SCAN_MEMORY_MB = 20.0, 512
#: Exception kinds named in feedback; anything else is "an exception" (a class name is student text).
BUILTIN_ERRORS = frozenset(n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
                           and issubclass(getattr(builtins, n), BaseException))
#: The kinds feedback names, as the grader explains them (a module the sandbox does not have or the
#: exercise forbids; what the sandbox refuses: threads, processes, files, network; its memory limit).
#: Any other is "an exception", which ``tipslib check`` names: a kind the submission picks can spell
#: out what it read of the hidden tests, so feedback carries at most two bits of it per part.
SHOWN_ERRORS = {"ImportError": "ImportError", "ModuleNotFoundError": "ImportError", "PermissionError": "PermissionError",
                "MemoryError": "MemoryError"}


class ReferenceError_(RuntimeError):
    """The instructor's own solution does not pass its tests (a bug in the exercise)."""


@dataclass
class TestCell:
    index: int           # position among the executed cells
    grade_id: str
    points: float
    parts: list          # [(part name, source)]
    calls: frozenset     # names the test code uses (to tie tests to graded functions)
    depends: tuple = ()  # answer functions of earlier parts it calls (``depends_on``)


@dataclass
class Exercise:
    """What the judge needs from one instructor source notebook."""

    id: str
    title: str
    cells: list                       # [{"kind", "grade_id", "parts"}] in notebook order
    answers: dict                     # grade_id -> instructor solution source
    stubs: dict                       # grade_id -> released (student) source
    tests: list                       # [TestCell]
    forbidden: dict                   # function -> [module or callable]
    preload: list
    stripped: list = field(default_factory=list)   # cells as sent to a student: no expected values
    headings: dict = field(default_factory=dict)   # answer grade_id -> the heading above it ("Part 1: ...")

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests)

    @classmethod
    def from_notebook(cls, nb) -> "Exercise":
        ex_id = nbk.exercise_id(nb)
        if ex_id is None:
            raise ValueError("the source notebook has no 'tipslib.exercise' id in its metadata")
        cells, answers, stubs, tests, imports, headings, heading = [], {}, {}, [], set(), {}, ""
        for cell in nb["cells"]:
            if cell.get("cell_type") == "markdown":
                first = nbk.source_of(cell).lstrip().split("\n")[0]
                if first.startswith("#"):
                    heading = first.lstrip("#").strip()
            if cell.get("cell_type") != "code":
                continue
            src, gid = nbk.strip_magics(nbk.source_of(cell)), nbk.grade_id(cell)
            imports |= _imports(src)
            if nbk.is_answer(cell):
                if gid is None or gid in answers:
                    raise ValueError(f"answer cell without a unique grade_id: {gid!r}")
                answers[gid], stubs[gid], headings[gid] = src, nbk.clear_solution(src), heading
                cells.append({"kind": "answer", "grade_id": gid, "parts": [["main", src]]})
            elif nbk.is_test(cell):
                visible, hidden = nbk.split_hidden(src)
                parts = [["visible", visible]] if hidden is None else [["visible", visible], ["hidden", hidden]]
                try:
                    for _, s in parts:
                        compile(s, "<test>", "exec")
                except SyntaxError:  # hidden block inside an indented block: run it whole, call it hidden
                    parts = [["hidden", src]]
                tests.append(TestCell(len(cells), gid, nbk.points(cell), parts, _names(src), _depends(src)))
                cells.append({"kind": "test", "grade_id": gid, "parts": parts})
            else:
                cells.append({"kind": "setup", "grade_id": gid, "parts": [["main", src]]})
        # never tipslib's topic packages: a run whose exercise forbids one must not hold its code
        preload = sorted(m for m in imports if m.split(".")[0] in {"numpy", "torch", "scipy", "sklearn", "matplotlib", "tipslib"}
                         and not _runner.topic_package(m))
        ex = cls(ex_id, nbk.title_of(nb), cells, answers, stubs, tests, nbk.forbidden_of(nb), preload,
                 headings=headings)
        ex.stripped = _stripped_cells(cells, keep=set(answers) | _defined(answers.values()))
        return ex

    def job(self, answers=None, *, seed=None, reference=False, report_modules=False):
        """The cells to execute: the instructor's with ``answers`` (grade_id -> source) swapped in.

        Only a reference job (``reference=True``) holds the full test code; any other job
        gets the tests stripped of expected values and hints.
        """
        cells = []
        for c in (self.cells if reference else self.stripped):
            if c["kind"] == "answer" and answers is not None:
                c = dict(c, parts=[["main", answers.get(c["grade_id"], self.stubs[c["grade_id"]])]])
            cells.append(c)
        return {"cells": cells, "forbidden": self.forbidden, "record": True, "reference": reference,
                "report_modules": report_modules, "seed": seed, "no_spawn": True}

    def scan_spec(self):
        return {"answers": sorted(self.answers), "forbidden": self.forbidden}


def _imports(src):
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


def _names(src):
    try:
        return frozenset(n.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Name))
    except SyntaxError:
        return frozenset()


def _defined(sources):
    out = set()
    for s in sources:
        try:
            out |= {n.name for n in ast.parse(s).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        except SyntaxError:
            pass
    return out


def _depends(src):
    """The names given to ``depends_on(...)`` in an (instructor) test cell."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return ()
    return tuple(a.value for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and getattr(n.func, "id", getattr(n.func, "attr", None)) == "depends_on"
                 for a in n.args if isinstance(a, ast.Constant) and isinstance(a.value, str))


def _stripped_cells(cells, keep):
    where = [(i, j) for i, c in enumerate(cells) if c["kind"] == "test" for j in range(len(c["parts"]))]
    new = strip_expected([cells[i]["parts"][j][1] for i, j in where], keep=keep)
    out = [dict(c, parts=[list(p) for p in c["parts"]]) for c in cells]
    for (i, j), src in zip(where, new):
        out[i]["parts"][j][1] = src
    return out


# ------------------------------------------------- stripping expected values
_EXPECT_KEEP = {"rtol", "atol"}
_BUILTIN_NAMES = frozenset(dir(builtins))


def _is_expect(call):
    f = call.func
    return (isinstance(f, ast.Name) and f.id == "expect") or (isinstance(f, ast.Attribute) and f.attr == "expect")


class _Loads(ast.NodeVisitor):
    def __init__(self):
        self.names = set()

    def visit_Name(self, node):
        if not isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_Global(self, node):
        self.names |= set(node.names)

    visit_Nonlocal = visit_Global


def _loaded(trees):
    """Every name read anywhere in ``trees`` (any scope)."""
    v = _Loads()
    for t in trees:
        v.visit(t)
    return v.names


def _arg_names(args):
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg] if a is not None}


def _uses(node):
    """``(loads, stores)``: the names ``node`` reads and binds in *its own* scope.

    A lambda or comprehension inside counts with the names it reads from outside (its own
    parameters and loop variables are its own); a nested ``def``/``class`` with its
    decorators, defaults and bases and the name it binds (its body is another scope).
    """
    loads, stores = set(), set()

    def visit(n, bound):
        if isinstance(n, ast.Name):
            if n.id not in bound:
                (stores if isinstance(n.ctx, ast.Store) else loads).add(n.id)
            return
        if isinstance(n, ast.NamedExpr):  # binds in the enclosing scope, even from a comprehension
            visit(n.value, bound)
            stores.add(n.target.id)
            return
        if isinstance(n, ast.Lambda):
            for d in [*n.args.defaults, *(d for d in n.args.kw_defaults if d is not None)]:
                visit(d, bound)
            visit(n.body, bound | _arg_names(n.args))
            return
        if isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = set(bound)
            for i, g in enumerate(n.generators):
                visit(g.iter, bound if i == 0 else inner)
                inner |= {t.id for t in ast.walk(g.target) if isinstance(t, ast.Name)}
                for c in g.ifs:
                    visit(c, inner)
            for e in ((n.key, n.value) if isinstance(n, ast.DictComp) else (n.elt,)):
                visit(e, inner)
            return
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            heads = list(n.decorator_list)
            if isinstance(n, ast.ClassDef):
                heads += n.bases + [k.value for k in n.keywords]
            else:
                heads += [*n.args.defaults, *(d for d in n.args.kw_defaults if d is not None)]
            for h in heads:
                visit(h, bound)
            stores.add(n.name)
            return
        for child in ast.iter_child_nodes(n):
            visit(child, bound)

    visit(node, frozenset())
    return loads, stores


def _free(fn):
    """The names a function (or class, or lambda) body reads from the scopes around it."""
    if isinstance(fn, ast.Lambda):
        return _uses(fn)[0]
    if isinstance(fn, ast.ClassDef):
        loads = set()
        for s in fn.body:
            loads |= _uses(s)[0]
            loads |= set().union(*(_free(d) for d in _nested(s)))
        return loads
    scope = _bindings(fn.body)
    own = (scope["all"] | _arg_names(fn.args)) - scope["declared"]
    loads = set()
    for s in _statements(fn.body):
        loads |= _uses(s)[0]
    for d in _nested(fn.body):
        loads |= _free(d)
    return (loads - own) | scope["declared"]


def _statements(body):
    """Every statement of a block, those of nested blocks too, not those of nested functions or classes."""
    for s in body:
        yield s
        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for attr in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(s, attr, None) or [])
            for h in getattr(s, "handlers", None) or []:
                yield from _statements(h.body)
            for c in getattr(s, "cases", None) or []:
                yield from _statements(c.body)


def _nested(body_or_stmt):
    """The functions, classes and lambdas directly inside a block (their own insides excluded)."""
    body = body_or_stmt if isinstance(body_or_stmt, list) else [body_or_stmt]
    out = []
    for s in _statements(body):
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(s)
            heads = list(s.decorator_list) + (s.bases if isinstance(s, ast.ClassDef) else
                                              [*s.args.defaults, *(d for d in s.args.kw_defaults if d is not None)])
        else:
            heads = [c for c in ast.iter_child_nodes(s) if not isinstance(c, ast.stmt)]
        stack = list(heads)
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Lambda):
                out.append(n)
            else:
                stack += list(ast.iter_child_nodes(n))
    return out


def _bindings(body):
    """Names bound in a block's scope: ``all``; ``static`` (only by import, def or class); ``declared``
    (global or nonlocal: they belong to another scope)."""
    plain, static, declared = set(), set(), set()
    for s in _statements(body):
        if isinstance(s, (ast.Global, ast.Nonlocal)):
            declared |= set(s.names)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            static |= {a.asname or a.name.split(".")[0] for a in s.names}
        elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            static.add(s.name)
            plain |= _uses(s)[1] - {s.name}
        else:
            heads = [c for c in ast.iter_child_nodes(s) if not isinstance(c, ast.stmt)]
            for h in heads:
                plain |= _uses(h)[1]
            for h in getattr(s, "handlers", None) or []:
                if h.name:
                    plain.add(h.name)
    return {"all": (plain | static) - declared, "static": static - plain - declared, "declared": declared}


#: Calls whose result shares nothing with their arguments or object (a copy, a plain number).
_COPIES = {"clone", "copy", "deepcopy", "item", "tolist", "tensor", "array"}
#: Calls whose result may be (a view of, an element of) an argument.
_PASSES = {"list", "tuple", "iter", "reversed", "enumerate", "zip", "sorted", "filter", "map", "next", "dict", "set",
           "getattr", "vars", "asarray", "asanyarray", "as_tensor", "from_numpy", "ascontiguousarray", "broadcast_to",
           "ravel", "reshape", "transpose", "squeeze", "expand_dims", "moveaxis", "swapaxes", "narrow", "select",
           "unbind", "chunk", "split", "atleast_1d", "atleast_2d", "atleast_3d"}
#: Calls that change the state of a library (its random generator) -- kept whatever they read.
_GLOBAL = {"seed", "manual_seed", "use_deterministic_algorithms"}
#: Calls that change their arguments (besides ``name_`` ones and ``out=``).
_MUTATORS = {"copyto", "shuffle", "put", "place", "putmask", "fill_diagonal", "append", "extend", "insert", "update",
             "setdefault", "pop", "popitem", "remove", "clear", "sort", "reverse", "setattr", "delattr", "exec"}


def _call_name(call):
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _roots(e, keep):
    """Names whose objects the value of ``e`` may be, or be part of (a view, an element, what a
    method returns). A call's result is its own object -- except a graded function's, whose
    result may hold its inputs (an autograd graph), and the views and containers of ``_PASSES``."""
    if isinstance(e, ast.Name):
        return {e.id}
    if isinstance(e, (ast.Attribute, ast.Subscript, ast.Starred)):
        return _roots(e.value, keep)
    if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_roots(x, keep) for x in e.elts))
    if isinstance(e, ast.Dict):
        return set().union(*(_roots(x, keep) for x in e.values))
    if isinstance(e, ast.IfExp):
        return _roots(e.body, keep) | _roots(e.orelse, keep)
    if isinstance(e, ast.BoolOp):
        return set().union(*(_roots(x, keep) for x in e.values))
    if isinstance(e, ast.NamedExpr):
        return _roots(e.value, keep)
    if isinstance(e, ast.Lambda):
        return _uses(e)[0]
    if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        bound = {n.id for g in e.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        elts = (e.key, e.value) if isinstance(e, ast.DictComp) else (e.elt,)
        out = set().union(*(_roots(x, keep) for x in elts))
        if out & bound:
            out |= set().union(*(_roots(g.iter, keep) for g in e.generators))
        return out - bound
    if isinstance(e, ast.Call):
        name = _call_name(e)
        if name in _COPIES:
            return set()
        out = _roots(e.func.value, keep) if isinstance(e.func, ast.Attribute) else set()
        if name in _PASSES or _keeps([e.func], keep):
            out |= set().union(*(_roots(a, keep) for a in e.args), *(_roots(k.value, keep) for k in e.keywords))
        return out
    return set()


def _aliases(body, keep):
    """``{name: names whose objects it may be or hold}`` from the bindings of a block (any order)."""
    alias = {}

    def bind(target, roots):
        for n in ast.walk(target):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                alias.setdefault(n.id, set()).update(roots)

    for s in _statements(body):
        if isinstance(s, ast.Assign):
            for t in s.targets:
                bind(t, _roots(s.value, keep))
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            bind(s.target, _roots(s.value, keep))
        elif isinstance(s, (ast.For, ast.AsyncFor)):
            bind(s.target, _roots(s.iter, keep))
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                if item.optional_vars is not None:
                    bind(item.optional_vars, _roots(item.context_expr, keep))
        for h in _heads(s):
            for n in ast.walk(h):
                if isinstance(n, ast.NamedExpr):
                    alias.setdefault(n.target.id, set()).update(_roots(n.value, keep))
    return alias


def _changes(stmt, scope):
    """The names whose objects a simple statement may change."""
    if isinstance(stmt, ast.AugAssign):
        return _roots(stmt.target, scope.keep)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Delete)):
        targets = stmt.targets if isinstance(stmt, (ast.Assign, ast.Delete)) else [stmt.target]
        return set().union(*(_roots(t, scope.keep) for t in targets))
    if isinstance(stmt, ast.Expr):
        out = set()
        for c in ast.walk(stmt.value):
            if not isinstance(c, ast.Call):
                continue
            f, name = c.func, _call_name(c)
            args = [*c.args, *(k.value for k in c.keywords)]
            if isinstance(f, ast.Attribute):
                # a method may change its object; a temporary's (``f(x).backward()``) is made of its arguments
                out |= _roots(f.value, scope.keep)
                if isinstance(f.value, ast.Call):
                    out |= set().union(*(_roots(a, scope.keep) for a in [*f.value.args, *(k.value for k in f.value.keywords)]))
            elif isinstance(f, ast.Name):
                if f.id not in scope.ignorable:
                    out.add(f.id)  # calling an object (a model) may change it
            else:
                out |= _roots(f, scope.keep)
            if name in _GLOBAL or (name or "").startswith("set_"):
                out.add("<global state>")  # np.random.seed(s): never a name of this scope
            if (name is None or name.endswith("_") or name in _MUTATORS or any(k.arg == "out" for k in c.keywords)
                    or (isinstance(f, ast.Name) and f.id not in _BUILTIN_NAMES)):
                out |= set().union(*(_roots(a, scope.keep) for a in args))
        return out
    loads, stores = _uses(stmt)  # assert, and anything else: all it touches
    return loads | stores


class _Scope:
    """How the stripping treats the names of one scope (the test cells' shared namespace, or a function).

    ``tracked``: bound here, so whether they are still read later can be known; ``ignorable``:
    modules, functions, built-ins -- reading one does not make a statement matter;
    ``always``: tracked names a function or lambda defined here reads (it may run any time).
    Any other name (a global of the setup cells, one declared ``global``) may be read by code
    we do not see: a statement touching it is kept.
    """

    def __init__(self, body, tracked, ignorable, always, keep):
        self.tracked, self.ignorable, self.always, self.keep = tracked, ignorable, always, keep
        self.alias = _aliases(body, keep)

    @classmethod
    def module(cls, trees, keep):
        body = [s for t in trees for s in t.body]
        b = _bindings(body)
        always = set().union(*(_free(d) for t in trees for d in _nested(t.body))) & b["all"]
        return cls(body, b["all"], b["static"] | (_BUILTIN_NAMES - b["all"]), always, keep)

    def function(self, fn):
        b = _bindings(fn.body)
        params = _arg_names(fn.args)
        tracked = (b["all"] | params) - b["declared"]
        outer = {n for n in self.ignorable if n not in tracked and n not in b["declared"]}
        always = set().union(*(_free(d) for d in _nested(fn.body))) & tracked
        return _Scope(fn.body, tracked, (b["static"] - params) | outer, always, self.keep)

    def reach(self, names):
        """``names`` and every name whose object one of them may be or be part of."""
        out, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                todo += self.alias.get(n, ())
        return out - self.ignorable

    def removable(self, touched, changes, live, empty=False):
        """Whether a statement can go: it touches names of this scope (``touched``), and the
        objects it may change (those of ``changes``) are all held by names dead after it."""
        if not (set(touched) - self.ignorable) and not empty:
            return False
        reach = self.reach(changes)
        if reach - self.tracked:  # an object of a scope we do not see (a setup cell's, the caller's)
            return False
        return not reach & (live | self.always)


def _keeps(nodes, keep):
    """Whether code mentions a graded function or a helper that records, or calls ``expect``."""
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in keep:
                return True
            if isinstance(n, ast.Call) and _is_expect(n):
                return True
    return False


def _simple_targets(targets):
    """The names an assignment binds, or None when it also stores into an attribute or item."""
    out = []
    for t in targets:
        if isinstance(t, ast.Starred):
            t = t.value
        if isinstance(t, ast.Name):
            out.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            inner = _simple_targets(t.elts)
            if inner is None:
                return None
            out += inner
        else:
            return None
    return out


class _Flow:
    """Where control goes from a statement besides the next one: ``extra`` is live everywhere in
    the block (handlers and ``finally`` of a ``try`` around it), ``loop`` after ``break``/``continue``."""

    def __init__(self, extra=frozenset(), loop=frozenset()):
        self.extra, self.loop = frozenset(extra), frozenset(loop)


def _block(body, live, scope, flow, apply):
    """Liveness, backwards over a block: ``(kept statements, live before the block, changed)``.

    Only code that may affect what is recorded survives: a statement goes when it calls no
    graded or recording function and every name of this scope it reads or binds is dead after
    it (faint-variable elimination: what only a dropped statement read is dead too; loops are
    solved from nothing live upwards, so a value that only feeds itself round a loop goes).
    With ``apply`` false nothing is changed (a loop's fixed point is being sought).
    """
    out, changed = [], False
    live = set(live)
    for stmt in reversed(body):
        live |= flow.extra
        kept, live, ch = _stmt(stmt, live, scope, flow, apply)
        changed |= ch
        if kept is not None:
            out.append(kept)
    out.reverse()
    return out, live | flow.extra, changed


def _heads(stmt):
    return [c for c in ast.iter_child_nodes(stmt) if not isinstance(c, (ast.stmt, ast.excepthandler, ast.match_case))]


def _stmt(stmt, live, scope, flow, apply):  # noqa: C901 - one case per kind of statement
    keep = scope.keep
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        loads, _ = _uses(stmt)
        if stmt.name not in live | scope.always and not _keeps(_heads(stmt), keep):
            return None, live, True
        return stmt, (live - {stmt.name}) | loads, False
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):  # later answer cells may use what a test imported
        return stmt, live - {a.asname or a.name.split(".")[0] for a in stmt.names}, False
    if isinstance(stmt, (ast.Break, ast.Continue)):
        return stmt, live | flow.loop, False
    if isinstance(stmt, ast.If):
        loads, stores = _uses(stmt.test)
        body, lb, c1 = _block(stmt.body, live, scope, flow, apply)
        orelse, lo, c2 = _block(stmt.orelse, live, scope, flow, apply)
        if not body and not orelse and not _keeps([stmt.test], keep) and scope.removable(loads | stores, loads | stores, live,
                                                                                             empty=True):
            return None, live, True
        if apply:
            stmt.body, stmt.orelse = body or [ast.Pass()], orelse
        return stmt, lb | lo | loads, c1 or c2
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        loop = isinstance(stmt, ast.While)
        loads, stores = _uses(stmt.test if loop else stmt.iter)
        tl, ts = (set(), set()) if loop else _uses(stmt.target)
        _, lo, _ = _block(stmt.orelse, live, scope, flow, False)
        head = set(live) | lo | tl | (loads if loop else set())
        while True:  # live at the head of the loop: the least fixed point
            _, lb, _ = _block(stmt.body, head, scope, _Flow(flow.extra, head), False)
            new = head | (lb - ts)
            if new <= head:
                break
            head = new
        body, lb, c1 = _block(stmt.body, head, scope, _Flow(flow.extra, head), apply)
        orelse, lo, c2 = _block(stmt.orelse, live, scope, flow, apply)
        if (not body and not orelse and not loop and not _keeps([stmt.iter, stmt.target], keep)
                and scope.removable(loads | ts | tl, loads | ts | tl, live, empty=True)):
            return None, live, True
        if apply:
            stmt.body, stmt.orelse = body or [ast.Pass()], orelse
        return stmt, head | loads, c1 or c2
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        loads, stores = set(), set()
        for item in stmt.items:
            l_, s_ = _uses(item)
            loads, stores = loads | l_, stores | s_
        body, lb, ch = _block(stmt.body, live, scope, flow, apply)
        if apply:
            stmt.body = body or [ast.Pass()]
        return stmt, (lb - stores) | loads, ch
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        final, lf, c1 = _block(stmt.finalbody, live, scope, flow, apply)
        orelse, lo, c2 = _block(stmt.orelse, lf, scope, flow, apply)
        lh, ch = set(), c1 or c2
        for h in stmt.handlers:
            hb, l_, c = _block(h.body, lf, scope, flow, apply)
            ch |= c
            lh |= (l_ - {h.name}) | (_uses(h.type)[0] if h.type is not None else set())
            if apply:
                h.body = hb or [ast.Pass()]
        body, lb, c = _block(stmt.body, lo | lh, scope, _Flow(flow.extra | lh | lf, flow.loop), apply)
        if not body and not orelse and not final:  # nothing left to raise, so no handler runs
            return None, live, True
        if apply:
            stmt.body, stmt.orelse = body or [ast.Pass()], orelse
            stmt.finalbody = final or ([ast.Pass()] if stmt.finalbody and not stmt.handlers else [])
        return stmt, lb | lh | lf, ch or c
    if isinstance(stmt, ast.stmt) and any(isinstance(c, ast.stmt) for c in ast.walk(stmt) if c is not stmt):
        # another compound statement (match): kept whole
        return stmt, live | _loaded([stmt]), False
    # a simple statement
    loads, stores = _uses(stmt)
    if isinstance(stmt, (ast.Return, ast.Raise, ast.Global, ast.Nonlocal, ast.Pass)) or _keeps([stmt], keep):
        kills = set(_simple_targets(stmt.targets) or ()) if isinstance(stmt, ast.Assign) else set()
        return stmt, (live - kills) | loads, False
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = _simple_targets(targets)
        if names is not None:
            wanted = live | scope.always
            if all(n in scope.tracked for n in names) and not set(names) & wanted:
                return None, live, True
            changed = False
            if (apply and isinstance(stmt, ast.Assign) and len(targets) == 1 and isinstance(targets[0], (ast.Tuple, ast.List))
                    and isinstance(stmt.value, (ast.Tuple, ast.List)) and len(targets[0].elts) == len(stmt.value.elts)
                    and not any(isinstance(e, ast.Starred) for e in targets[0].elts + stmt.value.elts)):
                # a, dead = x, y: keep a = x (the dead half may hold an expected value)
                pairs = [(t, v) for t, v in zip(targets[0].elts, stmt.value.elts)
                         if not (set(_simple_targets([t])) <= scope.tracked and not set(_simple_targets([t])) & wanted)]
                if len(pairs) < len(targets[0].elts):
                    changed = True
                    if len(pairs) == 1:
                        stmt.targets, stmt.value = [pairs[0][0]], pairs[0][1]
                    else:
                        targets[0].elts, stmt.value.elts = [t for t, _ in pairs], [v for _, v in pairs]
                    loads, stores = _uses(stmt)
            return stmt, (live - set(names)) | loads, changed
    # an expression statement (want.backward()), an in-place update, a store into an attribute or item,
    # del, assert: it only matters through the names it touches
    if scope.removable(loads | stores, _changes(stmt, scope), live):
        return None, live, True
    kills = stores if isinstance(stmt, ast.Delete) else set()
    return stmt, (live - kills) | loads, False


def _prune_functions(body, scope, apply=True):
    """Strip the bodies of the functions defined in a block, innermost first."""
    changed = False
    for s in _statements(body):
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = scope.function(s)
            changed |= _prune_functions(s.body, inner)
            new, _, ch = _block(s.body, set(), inner, _Flow(), apply)
            s.body, changed = new or [ast.Pass()], changed or ch
    return changed


def _prune(trees, keep):
    """One pass of dead-code elimination over the test sources (one namespace, in order)."""
    changed = _prune_functions([s for t in trees for s in t.body], _Scope.module(trees, keep))
    scope = _Scope.module(trees, keep)  # function bodies changed: what they read, too
    live = set()
    for t in reversed(trees):
        t.body, live, ch = _block(t.body, live, scope, _Flow(), True)
        changed |= ch
    return changed


def _params(fn):
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args] , [p.arg for p in a.kwonlyargs]


def _drop_param(fn, name):
    a = fn.args
    pos = a.posonlyargs + a.args
    names = [p.arg for p in pos]
    if name in names:
        i = names.index(name)
        first_default = len(pos) - len(a.defaults)
        if i >= first_default:
            del a.defaults[i - first_default]
        elif a.defaults:
            return None  # a required parameter before defaulted ones: leave it
        if i < len(a.posonlyargs):
            del a.posonlyargs[i]
        else:
            del a.args[i - len(a.posonlyargs)]
        return ("pos", i, name)
    names = [p.arg for p in a.kwonlyargs]
    i = names.index(name)
    del a.kwonlyargs[i]
    del a.kw_defaults[i]
    return ("kw", None, name)


class _Stripper(ast.NodeTransformer):
    """One pass: expected values out of ``expect`` calls, a dropped parameter out of its calls."""

    def __init__(self, dropped):
        self.dropped, self.changed = dropped, False  # {function name: [("pos", i, name) | ("kw", None, name)]}

    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_expect(node):
            keep = [k for k in node.keywords if k.arg in _EXPECT_KEEP]
            if len(node.args) > 2 or len(keep) != len(node.keywords):
                node.args, node.keywords, self.changed = node.args[:2], keep, True
        elif isinstance(node.func, ast.Name) and node.func.id in self.dropped:
            for kind, i, name in self.dropped[node.func.id]:
                if kind == "pos" and i < len(node.args) and not any(isinstance(a, ast.Starred) for a in node.args[:i + 1]):
                    del node.args[i]
                    self.changed = True
                kws = [k for k in node.keywords if k.arg != name]
                if len(kws) != len(node.keywords):
                    node.keywords, self.changed = kws, True
        return node


def strip_expected(sources, keep=()):
    """The test sources without expected values, hints, or any code that only computed them.

    ``sources`` are (instructor) test-part sources that share one namespace; they come
    back transformed, in the same order: each ``expect(name, actual, expected, rtol=,
    atol=, hints=)`` becomes ``expect(name, actual, rtol=, atol=)``; then, until nothing
    changes, a helper parameter that only carried expected values is removed from the
    helper and its calls, and -- scope by scope, by liveness -- every statement that calls
    no name in ``keep`` (the graded functions) nor a helper that records, and whose names
    are all dead after it, is dropped: ``want = reference(x)``, ``want.backward()``, the
    loop line that advances a reference's state, functions nobody calls any more. Whether
    this changed what a test computes is checked by running the instructor's solution
    both ways (:func:`reference_run`).
    """
    trees = [ast.parse(s) for s in sources]
    keep = set(keep)
    defs = {}
    for t in trees:
        for stmt in ast.walk(t):
            if isinstance(stmt, ast.FunctionDef):
                defs.setdefault(stmt.name, []).append(stmt)
    for name, fns in defs.items():  # helpers that (may) record must keep running
        if any(_is_expect(c) for f in fns for c in ast.walk(f) if isinstance(c, ast.Call)):
            keep.add(name)
    for _ in range(len(defs) + 1):  # a helper calling a recording helper records too
        more = {n for n, fns in defs.items() if any(isinstance(c, ast.Name) and c.id in keep
                                                     for f in fns for c in ast.walk(f))}
        if more <= keep:
            break
        keep |= more
    pending = {}
    for _ in range(100):
        s = _Stripper(pending)
        trees = [s.visit(t) for t in trees]
        changed, pending = s.changed, {}
        changed |= _prune(trees, keep)
        used = _loaded(trees)
        defs = {}
        for t in trees:
            for stmt in ast.walk(t):
                if isinstance(stmt, ast.FunctionDef):
                    defs.setdefault(stmt.name, []).append(stmt)
        for name, fns in defs.items():
            fn = fns[0]
            if len(fns) != 1 or fn.args.vararg or fn.args.kwarg or name not in used:
                continue  # defined twice, or with *args: which argument goes where is not clear
            body_uses = _loaded([ast.Module(body=fn.body, type_ignores=[])])
            pos, kw = _params(fn)
            for p in pos + kw:
                if p not in body_uses and p != "self":
                    how = _drop_param(fn, p)
                    if how is not None:
                        pending.setdefault(name, []).append(how)
                        changed = True
        if not changed and not pending:
            break
    return [ast.unparse(ast.fix_missing_locations(t)) or "pass" for t in trees]


def static_forbidden(exercise, answers):
    """``{function: target}`` for answers that mention a forbidden target (tests and tools only:
    the grader runs this inside the sandboxed scan)."""
    trees = []
    for src in answers.values():
        try:
            trees.append(ast.parse(src))
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            pass
    return _runner.static_forbidden(exercise.forbidden, trees)


# ------------------------------------------------------------ parsing a run
@dataclass
class Run:
    """A sandboxed run, parsed: records and errors per (cell, part)."""

    records: dict = field(default_factory=dict)    # (cell, part) -> [record dict]
    errors: dict = field(default_factory=dict)     # (cell, part) -> {"type", "msg"}
    ended: set = field(default_factory=set)
    forbidden: dict = field(default_factory=dict)  # function -> target
    done: bool = False
    modules: list = field(default_factory=list)  # reference run only
    tampering: str = ""
    end: dict = field(default_factory=dict)


def _error_type(name):
    # a class name the submission made up can be any text: only built-in kinds are named
    return name if name in BUILTIN_ERRORS else "an exception"


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_SEPARATORS = (b",", b":", b"[", b"{")


def _values(raw):
    """At most how many JSON values ``raw`` holds (so how many objects ``json.loads`` makes of it),
    counted without parsing: one more than its separators and brackets outside strings."""
    n = sum(map(raw.count, _SEPARATORS)) + 1
    if n <= MAX_VALUES:
        return n
    # commas, colons and brackets inside strings do not count: take them out again (each string is a
    # value too, so a line of more strings than MAX_VALUES is too many anyway)
    if raw.count(b'"') // 2 > MAX_VALUES:
        return raw.count(b'"') // 2
    for m in _STRING.finditer(raw):
        a, b = m.span()
        n -= sum(raw.count(c, a, b) for c in _SEPARATORS)
    return n


def _read_lines(lines, *, limit=True):
    """The messages of a run, one dict per line. ``limit``: the line and value limits of a student's
    run (:data:`MAX_LINE`, :data:`MAX_VALUES`, :data:`MAX_RUN_VALUES`) are checked *before* parsing,
    so a line built to blow up in ``json.loads`` costs the judge nothing."""
    total = 0
    for raw in lines:
        if len(raw) > (MAX_LINE if limit else 2 * MAX_LINE):
            raise ProtocolError("a result line is too long")
        if limit:
            n = _values(raw)
            total += n
            if n > MAX_VALUES or total > MAX_RUN_VALUES:
                raise ProtocolError("a result line holds too many values")
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            raise ProtocolError("a message that is not a dict")
        yield msg


def parse_run(exercise, lines, end, *, reference=False) -> Run:
    """Check the message sequence and decode the values; any deviation is tampering."""
    run = Run(end=end)
    order = {(i, p[0]): (i, j) for i, c in enumerate(exercise.cells) for j, p in enumerate(c["parts"])}
    last = (-1, -1)
    try:
        for msg in _read_lines(lines, limit=not reference):
            if run.done:
                raise ProtocolError("a message after the end of the run")
            kind = msg.get("m")
            if kind == "forbidden":
                fn, mod = msg.get("function"), msg.get("module")
                if fn not in exercise.forbidden or not isinstance(mod, str):
                    raise ProtocolError("a bad forbidden-use report")
                known = exercise.forbidden[fn]
                # the name shown is one of the exercise's own targets, never text from the run
                run.forbidden.setdefault(fn, next((t for t in known if t in mod), known[0] if known else "?")
                                         if mod != "the profiler guard was removed" else mod)
                continue
            if kind == "done":
                run.done = True
                continue
            if kind == "modules" and reference and isinstance(msg.get("v"), list):
                run.modules = [m for m in msg["v"] if isinstance(m, str) and m.replace(".", "").replace("_", "").isalnum()]
                continue
            key = (msg.get("cell"), msg.get("part"))
            if kind not in ("rec", "end") or key not in order or order[key] <= last:
                raise ProtocolError("a message out of order")
            if kind == "rec":
                name, rtol, atol = msg.get("name"), msg.get("rtol"), msg.get("atol")
                if not (isinstance(name, str) and isinstance(rtol, float) and isinstance(atol, float)):
                    raise ProtocolError("a bad record")
                rec = {"name": name[:200], "value": decode(msg.get("value")), "rtol": rtol, "atol": atol}
                if reference:
                    rec["hints"] = [(str(h[0])[:300], decode(h[1])) for h in msg.get("hints") or []
                                    if isinstance(h, list) and len(h) == 2]
                    rec["ok"] = msg.get("ok")
                run.records.setdefault(key, []).append(rec)
            else:
                err = msg.get("error")
                if err is not None:
                    if not (isinstance(err, dict) and isinstance(err.get("type"), str) and isinstance(err.get("msg"), str)):
                        raise ProtocolError("a bad error report")
                    run.errors[key] = {"type": _error_type(err["type"]), "msg": err["msg"][:300]}
                run.ended.add(key)
                last = order[key]
    except (ProtocolError, ValueError, TypeError, RecursionError) as exc:
        run.tampering = str(exc) if isinstance(exc, ProtocolError) else "a malformed result message"
    return run


def reference_run(exercise, sandbox, *, seed=None, timeout=60.0, memory_mb=2048, _cache={}):  # noqa: B006 - the cache is the point
    """Run the instructor's solution (full tests, then stripped tests) and return the parsed records.

    Records carry the stripped run's values (what a student's run is compared with: the
    same code, the same seed) and the full run's hints. Raises :class:`ReferenceError_`
    when the solution does not run cleanly, fails its own tests' expected values, or when
    stripping the expected values changed what a test computes.
    """
    full_job = exercise.job(exercise.answers, seed=seed, reference=True, report_modules=True)
    key = hashlib.sha256(json.dumps([full_job, exercise.stripped], sort_keys=True).encode()).hexdigest()
    if key in _cache:
        return _cache[key]
    runs = []
    for job in (full_job, exercise.job(exercise.answers, seed=seed)):
        lines, end = sandbox.run(job, timeout=timeout, memory_mb=memory_mb)
        run = parse_run(exercise, lines, end, reference=job["reference"])
        problems = [f"cell {k[0]} ({exercise.cells[k[0]]['grade_id']}): {e['type']}: {e['msg']}" for k, e in run.errors.items()]
        problems += [f"{fn} runs {t}, which the exercise forbids" for fn, t in run.forbidden.items()]
        if run.tampering or not run.done or problems:
            raise ReferenceError_(f"the reference solution of {exercise.id!r} does not run cleanly (seed {seed}): "
                                  f"{run.tampering or problems or end}")
        runs.append(run)
    full, stripped = runs
    for key_, recs in full.records.items():
        gid = exercise.cells[key_[0]]["grade_id"]
        bad = [r["name"] for r in recs if r.get("ok") is not True]
        if bad:
            raise ReferenceError_(f"the reference solution of {exercise.id!r} fails its own test {gid} "
                                  f"(seed {seed}): {bad[:3]}")
        got = stripped.records.get(key_, [])
        same = len(got) == len(recs) and all(compare(g["value"], r["value"], 1e-12, 0.0)[0] for g, r in zip(got, recs))
        if not same:
            raise ReferenceError_(f"stripping the expected values from test {gid} of {exercise.id!r} changed what it "
                                  "computes (does a line that only computes an expected value draw random numbers?)")
        for g, r in zip(got, recs):
            g["hints"] = r["hints"]
    stripped.modules = full.modules
    _cache[key] = stripped
    return stripped


# ------------------------------------------------------------------- scanning
@dataclass
class Scan:
    """What the sandboxed scan read from one submitted notebook."""

    invalid: str | None = None
    exercise: str | None = None
    answers: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    syntax: dict = field(default_factory=dict)
    flagged: dict = field(default_factory=dict)


def scan_job(exercises, data: bytes, stem: str):
    return {"kind": "scan", "nb": base64.b64encode(data).decode(), "stem": stem, "max_cell": MAX_ANSWER,
            "exercises": {e.id: e.scan_spec() for e in exercises.values()}}


def scan(exercises, data, stem, sandbox) -> Scan:
    """Read one submitted notebook (its bytes) in the sandbox; never raises for what the file holds."""
    lines, end = sandbox.run(scan_job(exercises, data, stem), timeout=SCAN_TIMEOUT, memory_mb=SCAN_MEMORY_MB)
    msg = None
    try:
        msgs = list(_read_lines(lines))
        msg = msgs[0] if len(msgs) == 2 and msgs[1] == {"m": "done"} and msgs[0].get("m") == "scan" else None
    except (ProtocolError, ValueError, RecursionError):
        pass
    if msg is None:
        why = ("it took too long" if end.get("timed_out") else
               "it needed too much memory" if end.get("exit") == EXIT_MEMORY else "it could not be analysed")
        return Scan(invalid=f"the notebook could not be read: {why} (a gigantic or deeply nested cell?)")
    out = Scan()
    if isinstance(msg.get("invalid"), str):
        out.invalid = msg["invalid"][:200]
        return out
    ex = msg.get("exercise")
    if ex is None or ex not in exercises:
        return out
    spec = exercises[ex]
    out.exercise = ex
    answers = msg.get("answers")
    if isinstance(answers, dict):
        out.answers = {g: s for g, s in answers.items() if g in spec.answers and isinstance(s, str) and len(s) <= MAX_ANSWER}
    notes = msg.get("notes")
    out.notes = [n[:300] for n in notes if isinstance(n, str)][:50] if isinstance(notes, list) else []
    syn = msg.get("syntax")
    if isinstance(syn, dict):
        out.syntax = {g: m[:300] for g, m in syn.items() if g in spec.answers and isinstance(m, str)}
    flagged = msg.get("flagged")
    if isinstance(flagged, dict):
        out.flagged = {f: t for f, t in flagged.items() if f in spec.forbidden and t in spec.forbidden[f]}
    return out


# ------------------------------------------------------------------ scoring
@dataclass
class Check:
    name: str
    hidden: bool
    ok: bool
    why: str = ""
    hint: str = ""


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    checks: list = field(default_factory=list)
    problem: str = ""   # why the whole test failed (an error, did not run, forbidden use)
    #: what went wrong in its hidden part only (no exception type: the submission picks it, and could
    #: spell what it read of the hidden tests with it); shown with the hidden checks, never with the visible
    hidden_problem: str = ""


@dataclass
class ExerciseResult:
    exercise: str
    title: str
    status: str
    tests: list
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self):
        return sum(t.points for t in self.tests)

    @property
    def max_points(self):
        return sum(t.max_points for t in self.tests)


def empty_result(exercise, status, note):
    """Zero points for every test (missing or unreadable notebook, or a failure of the grader)."""
    tests = [TestResult(t.grade_id, 0.0, t.points, problem=note) for t in exercise.tests]
    return ExerciseResult(exercise.id, exercise.title, status, tests, [note])


def _status(run):
    errors = list(run.errors.values())
    end = run.end
    if run.tampering:
        return "tampering"
    if any(e["type"] == "MemoryError" for e in errors):
        return "memory limit"
    if end.get("timed_out") or end.get("exit") in (-signal.SIGXCPU,):
        return "timeout"
    if end.get("too_much_output") or not run.done or end.get("exit") != 0:
        return "crashed"
    return "ok"


def _explain_end(status, end):
    return {
        "timeout": "the run was stopped at the time limit; the tests after that point did not run",
        "memory limit": "the code ran out of memory (the sandbox memory limit)",
        # neither the exit code nor the signal is quoted: the run picks them (os._exit(n), a signal it
        # sends itself), and with them could spell 8 bits of what it read of the hidden tests
        "crashed": ("the run sent more results than the grader reads (64 MB)" if end.get("too_much_output")
                    else "the process ended abruptly, before the tests finished (tipslib check on your notebook "
                         "may show why)"),
        "tampering": "the run sent messages that the grader does not accept (forged or out-of-order results), so no test counts",
    }.get(status, "")


def judge(exercise, scanned, sandbox, reference, *, seed=None, timeout=30.0, memory_mb=1024) -> ExerciseResult:
    """Grade one submission of ``exercise``, as read by :func:`scan`."""
    answers, notes = dict(scanned.answers), list(scanned.notes)
    flagged = dict(scanned.flagged)
    for gid, msg in scanned.syntax.items():
        notes.append(f"your answer cell {gid!r} has a syntax error: {msg}")
    lines, end = sandbox.run(exercise.job(answers, seed=seed), timeout=timeout, memory_mb=memory_mb)
    run = parse_run(exercise, lines, end)
    for fn, mod in run.forbidden.items():
        flagged.setdefault(fn, mod)
    status = _status(run)
    if status != "ok":
        notes.append(_explain_end(status, end))
    for c, cell in enumerate(exercise.cells):
        err = run.errors.get((c, "main"))
        if cell["kind"] == "answer" and err and cell["grade_id"] in answers and cell["grade_id"] not in scanned.syntax:
            kind = SHOWN_ERRORS.get(err["type"])
            notes.append(f"your answer cell {cell['grade_id']!r} raised {kind or 'an exception'} when it ran "
                         f"(tipslib check on your notebook shows {'the message' if kind else 'which'})")
    for fn, mod in flagged.items():
        what = mod if mod == "the profiler guard was removed" else f"uses {mod}"
        notes.append(f"{fn} {what}, which it must not (the exercise asks you to write it): its tests score zero")
    tests = [_score_test(t, run, reference, flagged, status) for t in exercise.tests]
    _point_at_earlier_parts(exercise, tests)
    return ExerciseResult(exercise.id, exercise.title, status, tests, notes, seconds=end.get("wall_s", 0.0))


def _point_at_earlier_parts(exercise, tests):
    """A failed test that builds on an earlier part whose own test failed says so."""
    by_fn = {}
    for t in exercise.tests:
        for gid in exercise.answers:
            if gid in t.calls and gid not in by_fn:
                by_fn[gid] = t.grade_id
    lost = {r.grade_id for r in tests if r.points < r.max_points}
    # tests that failed where a student sees it at once (a visible check or problem), not only in
    # hidden checks, whose results may be shown later (Gradescope's hidden visibility)
    seen = {r.grade_id for r in tests if r.problem or any(not c.ok for c in r.checks if not c.hidden)}
    for t, r in zip(exercise.tests, tests):
        if r.grade_id not in lost:
            continue
        earlier = [fn for fn in t.depends if by_fn.get(fn) in lost and by_fn.get(fn) != t.grade_id]
        if earlier:
            where = "; ".join(f"your {fn} ({exercise.headings.get(fn) or by_fn[fn]})" for fn in earlier)
            text = f"this test calls {where}, whose own test failed too: fix that first"
            if r.grade_id in seen and all(by_fn[fn] in seen for fn in earlier):
                r.problem = (r.problem + "; " if r.problem else "") + text
            else:
                r.hidden_problem = (r.hidden_problem + "; " if r.hidden_problem else "") + text


def _score_test(test, run, reference, flagged, status):
    result = TestResult(test.grade_id, 0.0, test.points)
    passed = True
    for part, _ in test.parts:
        key = (test.index, part)
        hidden = part == "hidden"
        refs, got = reference.records.get(key, []), run.records.get(key, [])
        for i, ref in enumerate(refs):
            if i >= len(got):
                result.checks.append(Check(ref["name"], hidden, False, "did not run"))
                passed = False
                continue
            ok, why = compare(got[i]["value"], ref["value"], ref["rtol"], ref["atol"], reveal=not hidden)
            hint = ""
            if not ok:
                hint = next((m for m, wrong in ref.get("hints", []) if compare(got[i]["value"], wrong, ref["rtol"], ref["atol"])[0]), "")
            result.checks.append(Check(ref["name"], hidden, ok, why, hint))
            passed &= ok
        problem = ""
        if len(got) > len(refs):
            passed = False
            problem = "the test recorded more checks than the reference (expect called from your code?)"
        err = run.errors.get(key)
        if err is not None:
            passed = False
            # the message is not shown: the submission writes it, and could fill it with what it read
            # of the hidden tests from its own memory. Nor is the kind of the exception, but for the few
            # the grader explains (SHOWN_ERRORS), and never a hidden part's: one of some 60 built-in
            # kinds per part spelled the hidden inputs out, 6 bits at a time
            kind = SHOWN_ERRORS.get(err["type"])
            if hidden:
                problem = problem or "the hidden part of this test stopped with an exception"
            elif err["type"] == "NotImplementedError":
                problem = "not implemented yet (the function still raises NotImplementedError)"
            elif kind:
                problem = problem or f"this test stopped with {kind} (tipslib check shows the message)"
            else:
                problem = problem or "this test stopped with an exception (tipslib check on your notebook shows which)"
        elif key not in run.ended:
            passed = False
            # (a hidden part after a visible one that stopped: that one's problem says it all)
            problem = problem or ("" if hidden and result.problem else f"did not run ({status})")
        if hidden:
            result.hidden_problem = result.hidden_problem or problem
        elif problem:
            result.problem = problem if problem.startswith("not implemented") else result.problem or problem
    uses = sorted(fn for fn in flagged if fn in test.calls)
    if uses:
        passed = False
        result.problem = f"{', '.join(uses)} uses what it must implement itself ({', '.join(flagged[f] for f in uses)})"
    if run.tampering:
        passed = False
        result.problem = result.problem or "not counted: the run was tampered with"
    result.points = test.points if passed else 0.0
    return result
