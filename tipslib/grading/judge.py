"""The judge: rebuild a submission from the instructor's notebook, run it sandboxed, score it.

Nothing from a submission is obeyed except the *source* of its answer cells
(matched by ``grade_id`` among the instructor's answer cells; the last one
wins when a student duplicated a cell). Setup cells, test cells (visible and
hidden parts), their order and all metadata come from the instructor's
notebook. The sandbox sends back plain data only; this module parses it
strictly and compares it, here, with what the instructor's own solution
produced for the same ``expect`` calls (the reference run, cached per
exercise).
"""

from __future__ import annotations

import ast
import hashlib
import json
import signal
from dataclasses import dataclass, field

from . import notebook as nbk
from .plain import ProtocolError, compare, decode

__all__ = ["Exercise", "TestResult", "ExerciseResult", "reference_run", "judge", "ReferenceError_"]

MAX_LINE = 64 * 2**20


class ReferenceError_(RuntimeError):
    """The instructor's own solution does not pass its tests (a bug in the exercise)."""


@dataclass
class TestCell:
    index: int           # position among the executed cells
    grade_id: str
    points: float
    parts: list          # [(part name, source)]
    calls: frozenset     # names the test code uses (to tie tests to graded functions)


@dataclass
class Exercise:
    """What the judge needs from one instructor source notebook."""

    id: str
    title: str
    cells: list                       # [{"kind", "grade_id", "parts"}] in notebook order
    answers: dict                     # grade_id -> instructor solution source
    stubs: dict                       # grade_id -> released (student) source
    tests: list                       # [TestCell]
    forbidden: dict                   # function -> [modules]
    preload: list

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests)

    @classmethod
    def from_notebook(cls, nb) -> "Exercise":
        ex_id = nbk.exercise_id(nb)
        if ex_id is None:
            raise ValueError("the source notebook has no 'tipslib.exercise' id in its metadata")
        cells, answers, stubs, tests, imports = [], {}, {}, [], set()
        for cell in nb["cells"]:
            if cell.get("cell_type") != "code":
                continue
            src, gid = nbk.strip_magics(nbk.source_of(cell)), nbk.grade_id(cell)
            imports |= _imports(src)
            if nbk.is_answer(cell):
                if gid is None or gid in answers:
                    raise ValueError(f"answer cell without a unique grade_id: {gid!r}")
                answers[gid], stubs[gid] = src, nbk.clear_solution(src)
                cells.append({"kind": "answer", "grade_id": gid, "parts": [["main", src]]})
            elif nbk.is_test(cell):
                visible, hidden = nbk.split_hidden(src)
                parts = [["visible", visible]] if hidden is None else [["visible", visible], ["hidden", hidden]]
                try:
                    for _, s in parts:
                        compile(s, "<test>", "exec")
                except SyntaxError:  # hidden block inside an indented block: run it whole, call it hidden
                    parts = [["hidden", src]]
                tests.append(TestCell(len(cells), gid, nbk.points(cell), parts, _names(src)))
                cells.append({"kind": "test", "grade_id": gid, "parts": parts})
            else:
                cells.append({"kind": "setup", "grade_id": gid, "parts": [["main", src]]})
        preload = sorted(m for m in imports if m.split(".")[0] in {"numpy", "torch", "scipy", "sklearn", "matplotlib", "tipslib"})
        return cls(ex_id, nbk.title_of(nb), cells, answers, stubs, tests, nbk.forbidden_of(nb), preload)

    def job(self, answers=None, *, record_hints=False, report_modules=False):
        """The cells to execute: the instructor's, with ``answers`` (grade_id -> source) swapped in."""
        cells = []
        for c in self.cells:
            if c["kind"] == "answer" and answers is not None:
                c = dict(c, parts=[["main", answers.get(c["grade_id"], self.stubs[c["grade_id"]])]])
            cells.append(c)
        return {"cells": cells, "forbidden": self.forbidden, "record": True, "record_hints": record_hints,
                "report_modules": report_modules}


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


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _references(src):
    """Dotted module-like names an answer cell mentions: imports, attribute chains, strings."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # "-" * 10**5 + "1" is not a SyntaxError
        return set(), set()
    # a graded name may be a class (an autograd Function), not only a function
    refs = set()
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            refs |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            refs.add(node.module)
            refs |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute):
            d = _dotted(node)
            if d:
                refs.add(d)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            refs.add(node.value.strip())
    return refs, defined


def static_forbidden(exercise, answers):
    """``{function: module}`` for graded functions whose answer cell mentions a forbidden module."""
    found = {}
    for src in answers.values():
        refs, defined = _references(src)
        targets = [f for f in exercise.forbidden if f in defined] or list(exercise.forbidden)
        for fn in targets:
            for mod in exercise.forbidden[fn]:
                if any(r == mod or r.startswith(mod + ".") for r in refs):
                    found.setdefault(fn, mod)
    return found


# ------------------------------------------------------------ parsing a run
@dataclass
class Run:
    """A sandboxed run, parsed: records and errors per (cell, part)."""

    records: dict = field(default_factory=dict)    # (cell, part) -> [record dict]
    errors: dict = field(default_factory=dict)     # (cell, part) -> {"type", "msg"}
    ended: set = field(default_factory=set)
    forbidden: dict = field(default_factory=dict)  # function -> module
    done: bool = False
    modules: list = field(default_factory=list)  # reference run only
    tampering: str = ""
    end: dict = field(default_factory=dict)


def _error_type(name):
    # a class name the submission made up can be any string: only a plain identifier is shown
    name = name[:100]
    return name if name.isidentifier() else "an exception of an odd name"


def _withhold_test_code(exercise, msg):
    """``msg`` unless it quotes a line of the tests.

    Student code shares its process with the test cells (hidden parts included), so it
    could raise them as an error message; this stops a plain quote, not an encoded one.
    """
    lines = {ln.strip() for t in exercise.tests for _, src in t.parts for ln in src.splitlines()}
    if any(len(ln) >= 12 and ln in msg for ln in lines):
        return "(message withheld: it quotes the test code)"
    return msg


def parse_run(exercise, lines, end, *, reference=False) -> Run:
    """Check the message sequence and decode the values; any deviation is tampering."""
    run = Run(end=end)
    order = {(i, p[0]): (i, j) for i, c in enumerate(exercise.cells) for j, p in enumerate(c["parts"])}
    last = (-1, -1)
    try:
        for raw in lines:
            if len(raw) > MAX_LINE:
                raise ProtocolError("a result line is too long")
            msg = json.loads(raw)
            if not isinstance(msg, dict) or run.done:
                raise ProtocolError("a message after the end of the run")
            kind = msg.get("m")
            if kind == "forbidden":
                fn, mod = msg.get("function"), msg.get("module")
                if fn not in exercise.forbidden or not isinstance(mod, str):
                    raise ProtocolError("a bad forbidden-use report")
                run.forbidden.setdefault(fn, mod[:200])
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
                if reference and isinstance(msg.get("hints"), list):
                    rec["hints"] = [(str(h[0])[:300], decode(h[1])) for h in msg["hints"]
                                    if isinstance(h, list) and len(h) == 2]
                run.records.setdefault(key, []).append(rec)
            else:
                err = msg.get("error")
                if err is not None:
                    if not (isinstance(err, dict) and isinstance(err.get("type"), str) and isinstance(err.get("msg"), str)):
                        raise ProtocolError("a bad error report")
                    run.errors[key] = {"type": _error_type(err["type"]), "msg": _withhold_test_code(exercise, err["msg"][:300])}
                run.ended.add(key)
                last = order[key]
    except (ProtocolError, ValueError, TypeError, RecursionError) as exc:
        run.tampering = str(exc) if isinstance(exc, ProtocolError) else "a malformed result message"
    return run


def reference_run(exercise, sandbox, *, timeout=60.0, memory_mb=2048, _cache={}):  # noqa: B006 - the cache is the point
    """Run the instructor's solution once (per exercise content) and return its parsed records."""
    job = exercise.job(record_hints=True, report_modules=True)
    key = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()
    if key not in _cache:
        lines, end = sandbox.run(job, timeout=timeout, memory_mb=memory_mb)
        run = parse_run(exercise, lines, end, reference=True)
        problems = [f"{k}: {e['type']}: {e['msg']}" for k, e in run.errors.items()]
        if run.tampering or not run.done or problems:
            raise ReferenceError_(f"the reference solution of {exercise.id!r} does not run cleanly: "
                                  f"{run.tampering or problems or end}")
        _cache[key] = run
    return _cache[key]


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
    """Zero points for every test (missing or unreadable notebook)."""
    tests = [TestResult(t.grade_id, 0.0, t.points, problem=note) for t in exercise.tests]
    return ExerciseResult(exercise.id, exercise.title, status, tests, [note])


def answers_of(exercise, nb):
    """The student's answer sources by grade_id (the last duplicate wins) and notes about them."""
    answers, notes, seen = {}, [], set()
    for cell in nb["cells"]:
        gid = nbk.grade_id(cell)
        if gid in exercise.answers and cell.get("cell_type") == "code":
            if gid in seen:
                notes.append(f"answer cell {gid!r} appears more than once; the last one was graded")
            seen.add(gid)
            answers[gid] = nbk.strip_magics(nbk.source_of(cell))
    for gid in exercise.answers:
        if gid not in answers:
            notes.append(f"answer cell {gid!r} is missing from the notebook")
    return answers, notes


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


def judge(exercise, nb, sandbox, reference, *, timeout=30.0, memory_mb=1024) -> ExerciseResult:
    """Grade one submitted notebook ``nb`` (a loaded dict) for ``exercise``."""
    answers, notes = answers_of(exercise, nb)
    flagged = static_forbidden(exercise, answers)
    lines, end = sandbox.run(exercise.job(answers), timeout=timeout, memory_mb=memory_mb)
    run = parse_run(exercise, lines, end)
    for fn, mod in run.forbidden.items():
        flagged.setdefault(fn, mod)
    status = _status(run)
    if status != "ok":
        notes.append(_explain_end(status, end))
    for c, cell in enumerate(exercise.cells):
        err = run.errors.get((c, "main"))
        if cell["kind"] == "answer" and err and cell["grade_id"] in answers:
            notes.append(f"your answer cell {cell['grade_id']!r} raised {err['type']}: {err['msg']}")
    for fn, mod in flagged.items():
        notes.append(f"{fn} uses {mod}, which it must implement itself: its tests score zero")
    tests = [_score_test(t, run, reference, flagged, status) for t in exercise.tests]
    return ExerciseResult(exercise.id, exercise.title, status, tests, notes, seconds=end.get("wall_s", 0.0))


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
            ok, why = compare(got[i]["value"], ref["value"], ref["rtol"], ref["atol"])
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
            # a hidden part's message is not shown: the submission writes it, and could fill it
            # with what it read of the hidden test from its own memory
            why = f"the hidden part of this test stopped with {err['type']}" if hidden else \
                f"this test stopped with {err['type']}: {err['msg']}"
            result.problem = result.problem or why
            if err["type"] == "NotImplementedError":
                result.problem = "not implemented yet (the function still raises NotImplementedError)"
        elif key not in run.ended:
            passed = False
            result.problem = result.problem or f"did not run ({status})"
    uses = sorted(fn for fn in flagged if fn in test.calls)
    if uses:
        passed = False
        result.problem = f"{', '.join(uses)} uses the tipslib reference it must implement"
    if run.tampering:
        passed = False
        result.problem = result.problem or "not counted: the run was tampered with"
    result.points = test.points if passed else 0.0
    return result
