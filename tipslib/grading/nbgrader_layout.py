"""nbgrader's course directory in, nbgrader's gradebook CSV out.

In: an nbgrader course directory keeps submissions as
``submitted/<student>/<assignment>/<notebook>.ipynb`` (with nbgrader's
``timestamp.txt`` beside the notebooks). ``tipslib grade`` accepts the course
directory itself: :func:`course_submissions` turns it into its ``submitted/``
folder, whose student folders ``tipslib grade`` already walks; a notebook
belongs to the exercise named in its metadata, so the assignment folders need
no mapping.

Out: :func:`write_nbgrader_csv` turns a ``tipslib grade`` gradebook into the
CSV ``nbgrader export`` writes (its columns: ``assignment, duedate, timestamp,
student_id, last_name, first_name, email, raw_score,
late_submission_penalty, score, max_score``), one row per student: the points
of all graded exercises together, as nbgrader sums the notebooks of one
assignment. tipslib keeps late points (its gradebook says ``late``), so the
penalty is 0 and ``score`` equals ``raw_score``; names and e-mail are empty
(tipslib knows student ids only).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

__all__ = ["course_submissions", "is_course", "write_nbgrader_csv", "NBGRADER_COLUMNS"]

NBGRADER_COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                    "raw_score", "late_submission_penalty", "score", "max_score")


#: Besides ``submitted/``, one of these marks an nbgrader course directory (a student whose id is
#: "submitted", in a plain folder of student folders, does not).
COURSE_MARKS = ("source", "release", "autograded", "gradebook.db", "nbgrader_config.py")


def is_course(path) -> bool:
    """Whether ``path`` is an nbgrader course directory: ``submitted/`` and one of :data:`COURSE_MARKS`."""
    path = Path(path)
    sub = path / "submitted"
    return sub.is_dir() and not sub.is_symlink() and any((path / m).exists() for m in COURSE_MARKS)


def course_submissions(path) -> Path:
    """The folder of student folders: ``path/submitted`` for an nbgrader course directory, else ``path``."""
    return Path(path) / "submitted" if is_course(path) else Path(path)


def _nbgrader_time(text):
    """nbgrader's way of writing a time: naive UTC, ``str(datetime)``."""
    if not text:
        return ""
    t = dt.datetime.fromisoformat(text) if isinstance(text, str) else text
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return str(t)


def write_nbgrader_csv(gradebook, out, *, assignment, duedate=None):
    """Write ``tipslib grade``'s ``gradebook`` CSV as ``nbgrader export``'s CSV at ``out``; returns ``out``."""
    if not isinstance(assignment, str) or not assignment or "," in assignment:
        raise ValueError(f"The 'assignment' parameter must be a non-empty name without commas. Got {assignment!r} instead.")
    students = {}
    with open(gradebook, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            s = students.setdefault(row["student"], {"raw": 0.0, "max": 0.0, "when": []})
            s["raw"] += float(row["total"] or 0)
            s["max"] += float(row["max"] or 0)
            if row.get("submitted_at"):
                s["when"].append(row["submitted_at"])
    out = Path(out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(NBGRADER_COLUMNS)
        for student, s in students.items():
            when = max((dt.datetime.fromisoformat(t) for t in s["when"]), default=None)
            w.writerow([assignment, _nbgrader_time(duedate), _nbgrader_time(when), student, "", "", "",
                        str(s["raw"]), "0.0", str(s["raw"]), str(s["max"])])
    return out
