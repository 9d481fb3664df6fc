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
array"), the kind of a built-in exception, and syntax errors (which the scan
finds before any code runs, in a process that never holds a test).
"""

from __future__ import annotations

import ast
import base64
import builtins
import hashlib
import json
import signal
from dataclasses import dataclass, field

from . import notebook as nbk
from . import _runner
from .plain import ProtocolError, compare, decode
from .sandbox import EXIT_MEMORY

__all__ = ["Exercise", "TestResult", "ExerciseResult", "reference_run", "judge", "scan", "ReferenceError_",
           "strip_expected"]

MAX_LINE = 64 * 2**20
MAX_ANSWER = 2**20          # characters of one answer cell; a larger one is not graded
SCAN_TIMEOUT, SCAN_MEMORY_MB = 20.0, 512
#: Exception kinds named in feedback; anything else is "an exception" (a class name is student text).
BUILTIN_ERRORS = frozenset(n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
                           and issubclass(getattr(builtins, n), BaseException))


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
        preload = sorted(m for m in imports if m.split(".")[0] in {"numpy", "torch", "scipy", "sklearn", "matplotlib", "tipslib"})
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
    v = _Loads()
    for t in trees:
        v.visit(t)
    return v.names


def _target_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        out = []
        for t in target.elts:
            t = t.value if isinstance(t, ast.Starred) else t
            names = _target_names(t)
            if names is None:
                return None
            out += names
        return out
    return None  # attribute or subscript: a side effect, keep


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


def _prune(body, used, keep):
    """Drop assignments to names nothing reads (unless they call a graded or recording
    function), and functions nobody calls."""
    out, changed = [], False
    for stmt in body:
        for attr in ("body", "orelse", "finalbody"):
            if isinstance(getattr(stmt, attr, None), list) and not isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                old = getattr(stmt, attr)
                new, ch = _prune(old, used, keep)
                setattr(stmt, attr, new if new or not old else [ast.Pass()])
                changed |= ch
        if isinstance(stmt, ast.FunctionDef):
            if stmt.name not in used:
                changed = True
                continue
            new, ch = _prune(stmt.body, used, keep)
            stmt.body, changed = new or [ast.Pass()], changed or ch
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [_target_names(t) for t in targets]
            calls = {getattr(c.func, "id", None) for c in ast.walk(stmt) if isinstance(c, ast.Call)}
            if all(n is not None for n in names) and not {x for n in names for x in n} & used and not calls & keep:
                changed = True
                continue
        out.append(stmt)
    return out, changed


def strip_expected(sources, keep=()):
    """The test sources without expected values, hints, or any code that only computed them.

    ``sources`` are (instructor) test-part sources that share one namespace; they come
    back transformed, in the same order: each ``expect(name, actual, expected, rtol=,
    atol=, hints=)`` becomes ``expect(name, actual, rtol=, atol=)``; then, until nothing
    changes, a helper parameter that only carried expected values is removed from the
    helper and its calls, and assignments nothing reads and functions nobody calls are
    dropped -- except statements that call a name in ``keep`` (the graded functions) or
    a helper that records. Whether this changed what a test computes is checked by
    running the instructor's solution both ways (:func:`reference_run`).
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
        more = {n for n, fns in defs.items() if any(getattr(c.func, "id", None) in keep
                                                     for f in fns for c in ast.walk(f) if isinstance(c, ast.Call))}
        if more <= keep:
            break
        keep |= more
    pending = {}
    for _ in range(100):
        s = _Stripper(pending)
        trees = [s.visit(t) for t in trees]
        changed, pending = s.changed, {}
        used = _loaded(trees)
        for t in trees:
            t.body, ch = _prune(t.body, used, keep)
            changed |= ch
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


def _read_lines(lines):
    for raw in lines:
        if len(raw) > MAX_LINE:
            raise ProtocolError("a result line is too long")
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
        for msg in _read_lines(lines):
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
        "crashed": (f"the process ended abruptly (killed by signal {-end.get('exit', 0)})" if end.get("exit", 0) < 0
                    else f"the process ended abruptly (exit code {end.get('exit')})"),
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
            notes.append(f"your answer cell {cell['grade_id']!r} raised {err['type']} when it ran "
                         "(tipslib check on your notebook shows the message)")
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
    for t, r in zip(exercise.tests, tests):
        if r.grade_id not in lost:
            continue
        earlier = [fn for fn in t.depends if by_fn.get(fn) in lost and by_fn.get(fn) != t.grade_id]
        if earlier:
            where = "; ".join(f"your {fn} ({exercise.headings.get(fn) or by_fn[fn]})" for fn in earlier)
            r.problem = (r.problem + "; " if r.problem else "") + \
                f"this test calls {where}, whose own test failed too: fix that first"


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
        if len(got) > len(refs):
            passed = False
            result.problem = "the test recorded more checks than the reference (expect called from your code?)"
        err = run.errors.get(key)
        if err is not None:
            passed = False
            # the message is not shown: the submission writes it, and could fill it with what
            # it read of the hidden tests from its own memory
            where = "the hidden part of this test" if hidden else "this test"
            why = f"{where} stopped with {err['type']}" + ("" if hidden else " (tipslib check shows the message)")
            result.problem = result.problem or why
            if err["type"] == "NotImplementedError":
                result.problem = "not implemented yet (the function still raises NotImplementedError)"
        elif key not in run.ended:
            passed = False
            result.problem = result.problem or f"did not run ({status})"
    uses = sorted(fn for fn in flagged if fn in test.calls)
    if uses:
        passed = False
        result.problem = f"{', '.join(uses)} uses what it must implement itself ({', '.join(flagged[f] for f in uses)})"
    if run.tampering:
        passed = False
        result.problem = result.problem or "not counted: the run was tampered with"
    result.points = test.points if passed else 0.0
    return result
