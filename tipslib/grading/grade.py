"""``tipslib grade``: grade a class into a gradebook CSV and feedback files.

Submissions are either one folder per student (any ``*.ipynb`` inside,
nested folders included) or one notebook per student directly in
SUBMISSIONS_DIR (the file stem is the student id). A notebook belongs to the
exercise named in its ``tipslib.exercise`` metadata (a notebook naming an
exercise that is not being graded is ignored); without that metadata, to the
exercise whose id is its file stem, else to the one sharing most answer-cell
ids. If a student has two notebooks for one exercise the newest is graded. A
notebook that is a symbolic link is not followed (it could point at the
solutions), and one that is not a regular file (a FIFO, a device) is not
opened: either counts as an invalid notebook, named in the student's rows. At
most :data:`MAX_NOTEBOOKS` notebooks of a student are read, those named after
an exercise first, within :data:`SCAN_BUDGET_S` seconds of reading; the rows
name the ones left unread.

Submission time: ``submitted_at`` from the ``timestamp.txt`` at the root of the
student's folder, which the collector writes (in an nbgrader course directory,
the one at the root of ``submitted/<student>/<assignment>/``, which nbgrader
writes); one deeper down is the student's own file and is ignored. ISO 8601, or
nbgrader's ``2024-05-01 12:00:00.000000 UTC``; naive times are UTC. Without
one, the notebook's modification time. With ``--deadline`` a later
submission gets status ``late`` (its points are kept; the policy is yours).

The CSV is written row by row as students finish, in the order of their
ids, so memory does not grow with the size of the class.

Every step for one student -- reading the notebook (in a sandboxed scan),
running, comparing, writing the feedback and the rows -- is isolated: when
one fails on a student's input, that student gets rows with status
``crashed`` and the reason, and the class goes on; :func:`grade` reports those
students so the command can exit non-zero. A student id that is not valid
UTF-8 (the folder name's bytes) is written with backslash escapes.

Hidden tests draw their inputs from a seed picked at random per grading run
(``seed=`` fixes it), the same for the reference run and every student.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import queue
import secrets
import stat
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.pool import ThreadPool
from pathlib import Path

from . import notebook as nbk
from .feedback import csv_notes, render
from .judge import Exercise, empty_result, judge, reference_run, scan
from .sandbox import Sandbox, SandboxError

__all__ = ["grade", "load_exercises", "discover", "STATUSES", "GradeReport"]

STATUSES = ("ok", "late", "missing", "invalid notebook", "timeout", "memory limit", "crashed", "tampering")
MAX_NOTEBOOKS = 20      # notebooks of one student that are read (those named after an exercise first)
SCAN_BUDGET_S = 60.0    # seconds of reading notebooks per student (each read is also limited on its own)


@dataclass
class Submission:
    student: str
    notebooks: list
    folder: Path | None
    course: bool = False     # nbgrader's layout: the folder holds <assignment>/ folders (and their timestamp.txt)
    notes: list = field(default_factory=list)   # what the grader noticed about the folder itself


@dataclass
class GradeReport:
    """What a grading run did: students graded, and those the grader itself failed on."""

    students: int = 0
    failed: list = field(default_factory=list)   # [(student, exercise, reason)]
    seed: int | None = None

    def __int__(self):
        return self.students

    def __str__(self):
        return str(self.students)

    def __eq__(self, other):
        return self.students == other if isinstance(other, int) else NotImplemented

    __hash__ = None


def safe_text(text) -> str:
    """``text`` as valid UTF-8 (lone surrogates and undecodable bytes become backslash escapes)."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def safe_name(name) -> str:
    """A student id from a file name: its bytes decoded, what is not UTF-8 escaped."""
    return os.fsencode(name).decode("utf-8", "backslashreplace") if isinstance(name, str) else safe_text(name)


#: Where an instructor finds the source notebooks: said whenever they were not given.
WHERE_SOURCES = ("The instructor notebooks are in exercises/source of the tipslib repository; the installed package "
                 "and the course folder carry only the student versions.")


def _is_student_version(nb) -> bool:
    """Answer cells and not one solution marker or hidden test: what `tipslib release` made of a source."""
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    answers = [c for c in cells if nbk.is_answer(c)]
    return bool(answers) and not any(nbk.BEGIN_SOLUTION in nbk.source_of(c) for c in answers) \
        and not any(nbk.BEGIN_HIDDEN in nbk.source_of(c) for c in cells if nbk.is_test(c))


def load_exercises(source_dir, paths=None):
    """``{exercise id: Exercise}`` for every source notebook (of ``source_dir``, or the notebooks ``paths``)."""
    exercises = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")) if paths is None else paths:
        nb = nbk.load(path)
        if _is_student_version(nb):
            raise ValueError(
                f"{path} is a student version (its answers are stubs and it has no hidden tests, as `tipslib release` "
                "writes them): grading needs the instructor's source notebooks, with the solutions. " + WHERE_SOURCES)
        ex = Exercise.from_notebook(nb)
        if ex.id in exercises:
            raise ValueError(f"two source notebooks define exercise {ex.id!r}")
        exercises[ex.id] = ex
    if not exercises:
        raise ValueError(f"The 'source_dir' parameter must hold exercise notebooks. Got {str(source_dir)!r} instead "
                         f"(no *.ipynb). {WHERE_SOURCES}")
    return exercises


MAX_DEPTH = 32         # folder levels of a student's folder that are read
MAX_ENTRIES = 100_000  # files and folders of a student's folder that are looked at


def walk_notebooks(folder, skip=(".ipynb_checkpoints",)):
    """``(notebooks, other files, notes)`` under ``folder``, without recursion and within
    :data:`MAX_DEPTH` levels and :data:`MAX_ENTRIES` entries (``os.walk`` recursed once per level: a
    folder 1200 levels deep raised RecursionError and stopped the grading of the whole class). Symbolic
    links to folders are not entered."""
    nbs, others, notes = [], [], []
    todo, seen = [(os.fspath(folder), 0)], 0
    while todo:
        path, depth = todo.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                notes.append(f"the folder holds more than {MAX_ENTRIES} files: the others were not read")
                return nbs, others, notes
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if e.name in skip:
                    continue
                if depth + 1 >= MAX_DEPTH:
                    note = f"folders nested deeper than {MAX_DEPTH} levels were not read"
                    if note not in notes:
                        notes.append(note)
                    continue
                todo.append((e.path, depth + 1))
            elif e.name.endswith(".ipynb"):
                nbs.append(Path(e.path))
            else:
                others.append(Path(e.path))
    return nbs, others, notes


def discover(submissions_dir):
    """Yield one :class:`Submission` per student, sorted by id (an nbgrader course: its ``submitted/``)."""
    from .nbgrader_layout import course_submissions

    folder = course_submissions(submissions_dir)
    course = folder != Path(submissions_dir)
    for entry in sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name)):
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                nbs, _, notes = walk_notebooks(entry.path)
                yield Submission(safe_name(entry.name), sorted(nbs), Path(entry.path), course=course, notes=notes)
            elif entry.name.endswith(".ipynb"):  # a link or a FIFO too: its rows say why it was not read
                yield Submission(safe_name(entry.name[:-len(".ipynb")]), [Path(entry.path)], None)
            elif entry.is_symlink():
                yield Submission(safe_name(entry.name), [], None,
                                 notes=[f"{safe_name(entry.name)} is a symbolic link: it was not followed"])
        except OSError:
            yield Submission(safe_name(entry.name), [], None)


def _parse_time(text):
    text = text.strip().removeprefix("submitted_at").strip(" :=")
    if text.endswith(" UTC"):
        text = text[:-4]
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _open_regular(path):
    """``(descriptor, stat)`` of ``path`` if it is a regular file and not a symbolic link, else ``(None, why)``.

    Never blocks (a FIFO named like a notebook would hang ``open`` until someone writes to it) and
    never follows a link (it could point at the instructor's source notebook, solutions and all)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return None, "is a symbolic link, not a notebook file"
    if not stat.S_ISREG(st.st_mode):
        return None, "is not a regular file (a FIFO, socket or device), so it was not read"
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        return None, "changed while it was read"
    return fd, now


def _timestamp(folder):
    """The time in ``folder/timestamp.txt`` (a regular file, not a link), or None."""
    try:
        fd, _ = _open_regular(folder / "timestamp.txt")
        if fd is None:
            return None
        with open(fd, "rb") as f:
            return _parse_time(f.read(200).decode("utf-8", "replace"))
    except (ValueError, OSError):
        return None


def submission_time(sub, path):
    """When ``path`` (a notebook of ``sub``) was handed in: the collector's ``timestamp.txt``, else its mtime.

    Only the student folder's own ``timestamp.txt`` counts, and in nbgrader's course layout the one of
    ``submitted/<student>/<assignment>/`` that holds the notebook; one in a folder the student made
    (``work/timestamp.txt`` beside a notebook) is the student's file, not the collector's."""
    folders = []
    if sub.folder is not None:
        rel = path.relative_to(sub.folder).parts if path.is_relative_to(sub.folder) else ()
        if sub.course and len(rel) >= 2:
            folders.append(sub.folder / rel[0])
        folders.append(sub.folder)
    for folder in folders:
        when = _timestamp(folder)
        if when is not None:
            return when
    return dt.datetime.fromtimestamp(os.lstat(path).st_mtime, dt.timezone.utc)


def _read(path):
    """The bytes of a submitted notebook, or ``(None, why)``; nothing is parsed here."""
    name = safe_name(path.name)
    try:
        fd, st = _open_regular(path)
        if fd is None:
            return None, f"{name} {st}"
        with open(fd, "rb") as f:
            if st.st_size > nbk.MAX_NOTEBOOK_BYTES:
                return None, f"{name} is larger than {nbk.MAX_NOTEBOOK_BYTES >> 20} MB"
            data = f.read(nbk.MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        return None, f"{name} could not be read ({type(exc).__name__})"
    if len(data) > nbk.MAX_NOTEBOOK_BYTES:
        return None, f"{name} is larger than {nbk.MAX_NOTEBOOK_BYTES >> 20} MB"
    return data, None


class Grader:
    """Grades students with ``jobs`` sandboxes; reference runs happen once, at start."""

    def __init__(self, exercises, *, jobs=1, timeout=60.0, memory_mb=2048, deadline=None, hide=(), seed=None):
        self.exercises, self.timeout, self.memory_mb, self.deadline = exercises, timeout, memory_mb, deadline
        self.preload = sorted({m for e in exercises.values() for m in e.preload})
        self.base_uid, self.jobs, self.hide = 100_000 + (os.getpid() % 100_000) * 64, max(1, jobs), hide
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.sandboxes = []
        self.pool = queue.Queue()
        self.references = {}
        self.failed = []

    def __enter__(self):
        # The reference runs get a sandbox of their own, closed before any student code runs.
        # They also tell which modules the exercise imports, so the graders' sandboxes import
        # them once up front instead of once per submission.
        with Sandbox(uid=self.base_uid + self.jobs, preload=self.preload, hide=self.hide) as sb:
            for ex in self.exercises.values():
                self.references[ex.id] = reference_run(ex, sb, seed=self.seed, timeout=max(self.timeout, 60),
                                                       memory_mb=max(self.memory_mb, 2048))
        modules = sorted({m for r in self.references.values() for m in r.modules} | set(self.preload))
        self.sandboxes = [Sandbox(uid=self.base_uid + i, preload=modules, hide=self.hide) for i in range(self.jobs)]
        for sb in self.sandboxes:
            sb.spawn()
        for sb in self.sandboxes:
            sb.wait_ready()
            self.pool.put(sb)
        return self

    def __exit__(self, *exc):
        for sb in self.sandboxes:
            sb.close()

    def _in_sandbox(self, fn, *args, **kwargs):
        if not self.sandboxes:
            raise SandboxError("the grader has no sandbox (use it in a with block)")
        sb = self.pool.get()
        try:
            return fn(*args, sandbox=sb, **kwargs)
        finally:
            self.pool.put(sb)

    def _crashed(self, sub, ex, step, exc):
        reason = f"the grader failed while {step} ({type(exc).__name__}); this is a grader problem, not yours"
        self.failed.append((sub.student, ex.id, f"{step}: {type(exc).__name__}: {safe_text(exc)[:200]}"))
        return empty_result(ex, "crashed", reason)

    def grade_student(self, sub):
        """``(rows, feedback text)`` for one student; never raises for what the student handed in."""
        try:
            return self._grade_student(sub)
        except Exception as exc:  # noqa: BLE001 - a grader bug on one student must not stop the class
            results = [self._crashed(sub, ex, "grading this student", exc) for ex in self.exercises.values()]
            return [self._row(sub, r, None, False) for r in results], render(sub.student, results)

    def _find(self, sub):
        """``{exercise: (path, Scan)}`` (the newest notebook per exercise), invalid ones, notes
        (per exercise; under ``None`` those of every row)."""
        found, invalid, notes = {}, [], {}
        # those named after an exercise first: a folder full of other notebooks does not push them out
        ordered = sorted(sub.notebooks, key=lambda p: p.stem not in self.exercises)
        spent, unread = 0.0, []
        for k, path in enumerate(ordered):
            if k >= MAX_NOTEBOOKS or spent >= SCAN_BUDGET_S:
                unread = ordered[k:]
                break
            data, why = _read(path)
            if data is None:
                invalid.append((path, why))
                continue
            t0 = time.monotonic()
            # a failing sandbox is the grader's problem: grade_student turns it into 'crashed' rows
            s = self._in_sandbox(lambda sandbox, data=data: scan(self.exercises, data, path.stem, sandbox))
            spent += time.monotonic() - t0
            del data
            if s.invalid is not None:
                invalid.append((path, f"{safe_name(path.name)}: {s.invalid}"))
                continue
            if s.exercise is None:
                continue
            if s.exercise in found:
                more = "more than one notebook for this exercise; the newest was graded"
                if more not in notes.setdefault(s.exercise, []):
                    notes[s.exercise].append(more)
                if path.stat().st_mtime <= found[s.exercise][0].stat().st_mtime:
                    continue
            found[s.exercise] = (path, s)
        if unread:
            names = ", ".join(safe_name(p.name) for p in unread[:10]) + (", ..." if len(unread) > 10 else "")
            why = (f"reading the others took {SCAN_BUDGET_S:g} s" if spent >= SCAN_BUDGET_S
                   else f"more than {MAX_NOTEBOOKS} notebooks")
            notes.setdefault(None, []).append(f"{len(unread)} notebook(s) were not read ({why}): {names}")
        return found, invalid, notes

    def _grade_student(self, sub):
        found, invalid, notes = self._find(sub)
        results, rows, late_any, when_any = [], [], False, None
        for ex_id, ex in self.exercises.items():
            when, late = None, False
            if ex_id in found:
                path, scanned = found[ex_id]
                try:
                    when = submission_time(sub, path)
                except OSError:
                    when = None
                late = bool(self.deadline and when and when > self.deadline)
                try:
                    r = self._in_sandbox(judge, ex, scanned, reference=self.references[ex_id], seed=self.seed,
                                         timeout=self.timeout, memory_mb=self.memory_mb)
                except SandboxError as exc:
                    r = self._crashed(sub, ex, "running the notebook in the sandbox", exc)
                except Exception as exc:  # noqa: BLE001 - a grader bug on one submission must not stop the class
                    r = self._crashed(sub, ex, "judging the notebook", exc)
                r.notes[:0] = notes.get(ex_id, [])
                # files that were not read, and that belong to this exercise or to none
                r.notes += [why for p, why in invalid if p.stem == ex_id or p.stem not in self.exercises]
                if late and r.status == "ok":
                    r.status = "late"
            else:
                mine = [(p, e) for p, e in invalid if p.stem == ex_id or len(self.exercises) == 1]
                if mine:
                    r = empty_result(ex, "invalid notebook", mine[0][1])
                else:  # an unreadable notebook named after no exercise cannot be attributed, but is named
                    unread = "".join(f"; {why}" for p, why in invalid if p.stem not in self.exercises)
                    r = empty_result(ex, "missing", "no notebook for this exercise was found" + unread)
            r.notes[:0] = list(sub.notes) + notes.get(None, [])
            results.append(r)
            late_any |= late
            when_any = when_any or when
            rows.append(self._row(sub, r, when, late))
        try:
            text = render(sub.student, results, late=late_any, submitted_at=when_any.isoformat() if when_any else None)
        except Exception as exc:  # noqa: BLE001
            results = [self._crashed(sub, self.exercises[r.exercise], "writing the feedback", exc) for r in results]
            rows = [self._row(sub, r, None, False) for r in results]
            text = render(sub.student, results)
        return rows, text

    def _row(self, sub, r, when, late):
        return {"student": safe_text(sub.student), "exercise": r.exercise, "status": r.status, "total": f"{r.total:g}",
                "max": f"{r.max_points:g}", "late": "yes" if late else "no",
                "submitted_at": when.isoformat() if when else "", "seconds": f"{r.seconds:.3f}",
                **{(r.exercise, t.grade_id): f"{t.points:g}" for t in r.tests}, "notes": safe_text(csv_notes(r))}


def _private_open(path):
    """Open for writing with mode 0600: grades are nobody else's business (sandboxes included)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    return open(fd, "w", newline="", encoding="utf-8")


def _columns(exercises):
    ids = [(e.id, t.grade_id) for e in exercises.values() for t in e.tests]
    plain = [g for _, g in ids]
    return {k: (k[1] if plain.count(k[1]) == 1 else f"{k[0]}:{k[1]}") for k in ids}


def _feedback_path(feedback_dir, student):
    name = student if len(student.encode()) <= 200 else student[:60] + "-" + hashlib.sha256(student.encode()).hexdigest()[:16]
    return Path(feedback_dir) / f"{name}.md"


def grade(source_dir, submissions_dir, out, *, feedback_dir=None, jobs=1, timeout=60.0, memory_mb=2048,
          deadline=None, progress=True, seed=None) -> GradeReport:
    """Grade every submission; returns a :class:`GradeReport` (``int()`` of it: students graded)."""
    from tqdm.auto import tqdm

    exercises = load_exercises(source_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if feedback_dir is not None:
        Path(feedback_dir).mkdir(parents=True, exist_ok=True)
    hide = [source_dir, submissions_dir, out.parent] + ([feedback_dir] if feedback_dir else [])
    columns = _columns(exercises)
    header = ["student", "exercise", "status", "total", "max", "late", "submitted_at", "seconds", *columns.values(), "notes"]
    subs = list(discover(submissions_dir))
    report = GradeReport()
    with Grader(exercises, jobs=jobs, timeout=timeout, memory_mb=memory_mb, deadline=deadline, hide=hide,
                seed=seed) as grader, _private_open(out) as f, ThreadPool(max(1, jobs)) as pool:
        report.seed = grader.seed
        writer = csv.DictWriter(f, header, restval="")
        writer.writeheader()
        bar = tqdm(total=len(subs), desc="grading", unit="student", disable=not progress, file=sys.stderr)
        for sub, (rows, text) in zip(subs, pool.imap(grader.grade_student, subs)):
            problem = None
            if feedback_dir is not None:
                try:
                    with _private_open(_feedback_path(feedback_dir, sub.student)) as fb:
                        fb.write(safe_text(text))
                except (OSError, ValueError) as exc:
                    problem = f"writing the feedback file failed ({type(exc).__name__})"
            try:
                lines = [{columns.get(k, k) if isinstance(k, tuple) else k: safe_text(v) for k, v in row.items()}
                         for row in rows]
            except Exception as exc:  # noqa: BLE001
                problem, lines = f"writing the gradebook row failed ({type(exc).__name__})", []
            if problem is not None:
                lines = [{"student": safe_text(sub.student), "exercise": ex_id, "status": "crashed", "total": "0",
                          "max": f"{ex.max_points:g}", "late": "no", "notes": problem}
                         for ex_id, ex in exercises.items()]
                grader.failed += [(sub.student, ex_id, problem) for ex_id in exercises]
            for line in lines:
                writer.writerow(line)
            f.flush()
            report.students += 1
            bar.update()
        bar.close()
    report.failed = list(grader.failed)
    return report
