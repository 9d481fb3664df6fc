"""``tipslib grade``: grade a class into a gradebook CSV and feedback files.

Submissions are either one folder per student (any ``*.ipynb`` inside,
nested folders included) or one notebook per student directly in
SUBMISSIONS_DIR (the file stem is the student id). A notebook belongs to the
exercise named in its ``tipslib.exercise`` metadata (a notebook naming an
exercise that is not being graded is ignored); without that metadata, to the
exercise whose id is its file stem, else to the one sharing most answer-cell
ids. If a student has two notebooks for one exercise the newest is graded. A
notebook that is a symbolic link is not followed (it could point at the
solutions): it counts as an invalid notebook.

Submission time: ``submitted_at`` from a ``timestamp.txt`` in the student's
folder (ISO 8601, or nbgrader's ``2024-05-01 12:00:00.000000 UTC``; naive times
are UTC), else the notebook's modification time. With ``--deadline`` a later
submission gets status ``late`` (its points are kept; the policy is yours).

The CSV is written row by row as students finish, in the order of their
ids, so memory does not grow with the size of the class.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import queue
import sys
from dataclasses import dataclass
from multiprocessing.pool import ThreadPool
from pathlib import Path

from . import notebook as nbk
from .feedback import csv_notes, render
from .judge import Exercise, empty_result, judge, reference_run
from .sandbox import Sandbox, SandboxError

__all__ = ["grade", "load_exercises", "discover", "STATUSES"]

STATUSES = ("ok", "late", "missing", "invalid notebook", "timeout", "memory limit", "crashed", "tampering")


@dataclass
class Submission:
    student: str
    notebooks: list
    folder: Path | None


def load_exercises(source_dir):
    """``{exercise id: Exercise}`` for every source notebook."""
    exercises = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        ex = Exercise.from_notebook(nbk.load(path))
        if ex.id in exercises:
            raise ValueError(f"two source notebooks define exercise {ex.id!r}")
        exercises[ex.id] = ex
    if not exercises:
        raise ValueError(f"The 'source_dir' parameter must hold exercise notebooks. Got {str(source_dir)!r} instead (no *.ipynb).")
    return exercises


def discover(submissions_dir):
    """Yield one :class:`Submission` per student, sorted by id."""
    for entry in sorted(os.scandir(submissions_dir), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            nbs = sorted(p for p in Path(entry.path).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            yield Submission(entry.name, nbs, Path(entry.path))
        elif entry.name.endswith(".ipynb") and entry.is_file(follow_symlinks=False):
            yield Submission(entry.name[:-len(".ipynb")], [Path(entry.path)], None)


def _parse_time(text):
    text = text.strip().removeprefix("submitted_at").strip(" :=")
    if text.endswith(" UTC"):
        text = text[:-4]
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def submission_time(sub, path):
    if sub.folder is not None and (sub.folder / "timestamp.txt").is_file():
        try:
            return _parse_time((sub.folder / "timestamp.txt").read_text()[:200])
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)


def _match(exercises, path, nb):
    ex = nbk.exercise_id(nb)
    if ex is not None:  # a notebook of another exercise is not an answer to this one
        return ex if ex in exercises else None
    stem = path.stem
    if stem in exercises:
        return stem
    ids = {nbk.grade_id(c) for c in nb["cells"]}
    best = max(exercises.values(), key=lambda e: len(ids & set(e.answers)))
    return best.id if ids & set(best.answers) else None


class Grader:
    """Grades students with ``jobs`` sandboxes; reference runs happen once, at start."""

    def __init__(self, exercises, *, jobs=1, timeout=60.0, memory_mb=2048, deadline=None, hide=()):
        self.exercises, self.timeout, self.memory_mb, self.deadline = exercises, timeout, memory_mb, deadline
        self.preload = sorted({m for e in exercises.values() for m in e.preload})
        self.base_uid, self.jobs, self.hide = 100_000 + (os.getpid() % 100_000) * 64, max(1, jobs), hide
        self.sandboxes = []
        self.pool = queue.Queue()
        self.references = {}

    def __enter__(self):
        # The reference runs get a sandbox of their own, closed before any student code runs.
        # They also tell which modules the exercise imports, so the graders' sandboxes import
        # them once up front instead of once per submission.
        with Sandbox(uid=self.base_uid + self.jobs, preload=self.preload, hide=self.hide) as sb:
            for ex in self.exercises.values():
                self.references[ex.id] = reference_run(ex, sb, timeout=max(self.timeout, 60), memory_mb=max(self.memory_mb, 2048))
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

    def grade_student(self, sub):
        """``(rows, feedback text)`` for one student."""
        found, invalid, notes = {}, [], {}
        for path in sub.notebooks:
            if path.is_symlink():  # it could point at the instructor's source notebook, solutions and all
                invalid.append((path, f"{path.name} is a symbolic link, not a notebook file"))
                continue
            try:
                nb = nbk.load(path)
            except nbk.InvalidNotebook as exc:
                invalid.append((path, str(exc)))
                continue
            ex = _match(self.exercises, path, nb)
            if ex is None:
                continue
            if ex in found:
                notes.setdefault(ex, []).append("more than one notebook for this exercise; the newest was graded")
                if path.stat().st_mtime <= found[ex][0].stat().st_mtime:
                    continue
            found[ex] = (path, nb)
        results, rows, late_any, when_any = [], [], False, None
        for ex_id, ex in self.exercises.items():
            when, late = None, False
            if ex_id in found:
                path, nb = found[ex_id]
                when = submission_time(sub, path)
                late = bool(self.deadline and when > self.deadline)
                sb = self.pool.get()
                try:
                    r = judge(ex, nb, sb, self.references[ex_id], timeout=self.timeout, memory_mb=self.memory_mb)
                except SandboxError as exc:
                    r = empty_result(ex, "crashed", f"the sandbox failed ({exc})")
                except Exception as exc:  # noqa: BLE001 - a grader bug on one submission must not stop the class
                    r = empty_result(ex, "crashed", f"the grader failed on this notebook ({type(exc).__name__})")
                finally:
                    self.pool.put(sb)
                r.notes[:0] = notes.get(ex_id, [])
                if late and r.status == "ok":
                    r.status = "late"
            else:
                mine = [(p, e) for p, e in invalid if p.stem == ex_id or len(self.exercises) == 1]
                if mine:
                    r = empty_result(ex, "invalid notebook", mine[0][1])
                else:  # an unreadable notebook named after no exercise cannot be attributed, but is named
                    unread = "".join(f"; {why}" for p, why in invalid if p.stem not in self.exercises)
                    r = empty_result(ex, "missing", "no notebook for this exercise was found" + unread)
            results.append(r)
            late_any |= late
            when_any = when_any or when
            rows.append({"student": sub.student, "exercise": ex_id, "status": r.status, "total": f"{r.total:g}",
                         "max": f"{r.max_points:g}", "late": "yes" if late else "no",
                         "submitted_at": when.isoformat() if when else "", "seconds": f"{r.seconds:.3f}",
                         **{(ex_id, t.grade_id): f"{t.points:g}" for t in r.tests}, "notes": csv_notes(r)})
        return rows, render(sub.student, results, late=late_any, submitted_at=when_any.isoformat() if when_any else None)


def _private_open(path):
    """Open for writing with mode 0600: grades are nobody else's business (sandboxes included)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    return open(fd, "w", newline="", encoding="utf-8")


def _columns(exercises):
    ids = [(e.id, t.grade_id) for e in exercises.values() for t in e.tests]
    plain = [g for _, g in ids]
    return {k: (k[1] if plain.count(k[1]) == 1 else f"{k[0]}:{k[1]}") for k in ids}


def grade(source_dir, submissions_dir, out, *, feedback_dir=None, jobs=1, timeout=60.0, memory_mb=2048,
          deadline=None, progress=True):
    """Grade every submission; returns the number of students graded."""
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
    n = 0
    with Grader(exercises, jobs=jobs, timeout=timeout, memory_mb=memory_mb, deadline=deadline, hide=hide) as grader, \
            _private_open(out) as f, ThreadPool(max(1, jobs)) as pool:
        writer = csv.DictWriter(f, header, restval="")
        writer.writeheader()
        bar = tqdm(total=len(subs), desc="grading", unit="student", disable=not progress, file=sys.stderr)
        for sub, (rows, text) in zip(subs, pool.imap(grader.grade_student, subs)):
            for row in rows:
                writer.writerow({columns.get(k, k) if isinstance(k, tuple) else k: v for k, v in row.items()})
            f.flush()
            if feedback_dir is not None:
                with _private_open(Path(feedback_dir) / f"{sub.student}.md") as fb:
                    fb.write(text)
            n += 1
            bar.update()
        bar.close()
    return n
