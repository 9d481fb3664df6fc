"""nbgrader's course directory in and its gradebook CSV out, and the same totals as nbgrader itself.

* ``tipslib grade`` takes an nbgrader course directory (``submitted/<student>/<assignment>/``),
  reads nbgrader's ``timestamp.txt`` beside the notebook, and ``--format nbgrader`` writes the
  columns ``nbgrader export`` writes.
* Slow: ``nbgrader generate_assignment`` + ``nbgrader autograde`` + ``nbgrader export`` and
  ``tipslib grade`` on the same small class (the sample exercise, three students) give identical
  per-student totals.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tipslib.cli import main
from tipslib.grading.nbgrader_layout import NBGRADER_COLUMNS, course_submissions, write_nbgrader_csv

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("nbtools", HERE / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_course_submissions_is_the_submitted_folder(tmp_path):
    assert course_submissions(tmp_path) == tmp_path
    (tmp_path / "submitted").mkdir()
    assert course_submissions(tmp_path) == tmp_path  # a student called "submitted" in a plain folder
    (tmp_path / "gradebook.db").write_bytes(b"")
    assert course_submissions(tmp_path) == tmp_path / "submitted"


def test_nbgrader_csv_sums_a_students_exercises(tmp_path):
    book = tmp_path / "gradebook.csv"
    book.write_text("student,exercise,status,total,max,late,submitted_at,seconds,notes\n"
                    "alice,a,ok,3,4,no,2025-05-01T12:00:00+02:00,1.0,\n"
                    "alice,b,ok,2,2,no,2025-05-01T13:00:00+00:00,1.0,\n"
                    "bob,a,missing,0,4,no,,0,\n"
                    "bob,b,missing,0,2,no,,0,\n")
    out = write_nbgrader_csv(book, tmp_path / "grades.csv", assignment="ps1")
    rows = read_csv(out)
    assert tuple(rows[0]) == NBGRADER_COLUMNS
    assert [(r["student_id"], r["raw_score"], r["score"], r["max_score"], r["timestamp"]) for r in rows] == [
        ("alice", "5.0", "5.0", "6.0", "2025-05-01 13:00:00"), ("bob", "0.0", "0.0", "6.0", "")]
    with pytest.raises(ValueError, match="'assignment' parameter must be a non-empty name without commas. Got 'a,b'"):
        write_nbgrader_csv(book, tmp_path / "x.csv", assignment="a,b")


def _class(course):
    """Three students of the sample exercise in nbgrader's layout: honest, one wrong answer, untouched."""
    blank = nbt.load()
    for c in blank["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("solution"):
            c["source"] = "raise NotImplementedError()\n"
    for student, nb in {"alice": nbt.load(), "bob": nbt.mutate(nbt.load(), "mse", "np.mean(", "np.sum("),
                        "carol": blank}.items():
        nbt.write(nb, course / "submitted" / student / "ps1" / "sample.ipynb")
        (course / "submitted" / student / "ps1" / "timestamp.txt").write_text("2025-05-01 12:00:00.000000 UTC\n")
    return {"alice": 6.0, "bob": 5.0, "carol": 0.0}


def test_tipslib_grade_reads_the_course_layout_and_its_timestamps(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "source" / "ps1" / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    expected = _class(course)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(course / "source" / "ps1"), str(course), "--out", str(out), "--quiet", "--timeout", "20",
                 "--deadline", "2025-05-01T11:00:00+00:00", "--format", "nbgrader"]) == 0
    rows = {r["student_id"]: r for r in read_csv(out)}
    assert {s: float(r["raw_score"]) for s, r in rows.items()} == expected
    assert {r["assignment"] for r in rows.values()} == {"ps1"}
    assert {r["timestamp"] for r in rows.values()} == {"2025-05-01 12:00:00"}  # from timestamp.txt, not the mtime
    assert {r["duedate"] for r in rows.values()} == {"2025-05-01 11:00:00"}
    assert not list(tmp_path.glob(".*.tipslib.csv"))


def _nbgrader(course, *args):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"], cwd=course,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_nbgrader_autograde_and_tipslib_grade_agree(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "source" / "ps1" / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    expected = _class(course)
    _nbgrader(course, "generate_assignment", "ps1", "--force")
    _nbgrader(course, "autograde", "ps1", "--create", "--force")
    _nbgrader(course, "export", "--to", str(tmp_path / "nbgrader.csv"))
    theirs = {r["student_id"]: r for r in read_csv(tmp_path / "nbgrader.csv")}
    assert main(["grade", str(course / "source" / "ps1"), str(course), "--out", str(tmp_path / "tipslib.csv"),
                 "--quiet", "--timeout", "20", "--format", "nbgrader"]) == 0
    ours = {r["student_id"]: r for r in read_csv(tmp_path / "tipslib.csv")}
    assert tuple(read_csv(tmp_path / "tipslib.csv")[0]) == tuple(read_csv(tmp_path / "nbgrader.csv")[0])
    assert {s: float(r["raw_score"]) for s, r in theirs.items()} == expected
    assert {s: (float(r["raw_score"]), float(r["max_score"])) for s, r in ours.items()} == \
        {s: (float(r["raw_score"]), float(r["max_score"])) for s, r in theirs.items()}


def test_only_nbgraders_own_timestamp_counts_not_one_the_student_nested(tmp_path):
    # nbgrader writes submitted/<student>/<assignment>/timestamp.txt; a timestamp.txt in a folder of the
    # student's own (work/, beside a notebook there) is the student's file and must not move the time
    import datetime as dt

    from tipslib.grading.grade import discover, submission_time

    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    ps1 = course / "submitted" / "mallory" / "ps1"
    nb = nbt.write(nbt.load(), ps1 / "work" / "sample.ipynb")
    (ps1 / "timestamp.txt").write_text("2030-01-02 00:00:00.000000 UTC\n")
    (ps1 / "work" / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC\n")
    beside = nbt.write(nbt.load(), course / "submitted" / "trent" / "ps1" / "sample.ipynb")
    (beside.parent / "timestamp.txt").write_text("2025-05-01 12:00:00.000000 UTC\n")
    mallory, trent = discover(course)
    assert mallory.course and submission_time(mallory, nb) == dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    assert submission_time(trent, beside) == dt.datetime(2025, 5, 1, 12, tzinfo=dt.timezone.utc)
    # in a plain folder of student folders, the same shape is the student's: subs/<student>/<folder>/
    plain = next(s for s in discover(course / "submitted") if s.student == "mallory")
    assert not plain.course
    os.utime(nb, (1.9e9, 1.9e9))
    assert submission_time(plain, nb) == dt.datetime.fromtimestamp(1.9e9, dt.timezone.utc)
