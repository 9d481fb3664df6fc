"""A class of hostile and broken submissions, graded together with --jobs 2.

Every submission must get its row with the right status and points while
the others are graded normally; none may change the gradebook, read the
solutions, or leave processes behind.
"""

import csv
import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tipslib.cli import main
from tipslib.grading.sandbox import features

_spec = importlib.util.spec_from_file_location("nbtools", Path(__file__).parent / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

TESTS = ("test_adam", "test_dropout", "test_mse")
ROOT = features()["uid_switch"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    source, subs, out = tmp / "source", tmp / "submissions", tmp / "out"
    source.mkdir()
    (source / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    os.chmod(source / "sample.ipynb", 0o600)
    gradebook, feedback = out / "gradebook.csv", out / "feedback"
    cases = nbt.sample_hostile([gradebook, feedback, feedback / "a01_correct.md", source / "sample.ipynb", source, subs])
    for student, (build, _, _) in cases.items():
        nbt.write(build(), subs / student / "sample.ipynb")
    # file-level cases
    (subs / "b01_malformed_json").mkdir()
    (subs / "b01_malformed_json" / "sample.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    other = nbt.load(nbt.REAL_SOURCE / "regularization.ipynb") if (nbt.REAL_SOURCE / "regularization.ipynb").exists() \
        else {"cells": [], "metadata": {"tipslib": {"exercise": "regularization"}}, "nbformat": 4, "nbformat_minor": 5}
    nbt.write(other, subs / "b02_other_exercise" / "regularization.ipynb")
    nbt.write(nbt.load(), subs / "b03_wrong_file_name" / "My Homework (final) v2.ipynb")
    nbt.write(nbt.load(), subs / "b04_late" / "sample.ipynb")
    (subs / "b04_late" / "timestamp.txt").write_text("2030-01-02 00:00:00.000000 UTC\n")
    (subs / "b05_missing").mkdir()
    nbt.write(nbt.load(), subs / "b06_single_file.ipynb")
    t0 = time.perf_counter()
    code = main(["grade", str(source), str(subs), "--out", str(gradebook), "--feedback", str(feedback),
                 "--jobs", "2", "--timeout", "4", "--memory", "400", "--deadline", "2030-01-01T00:00:00+00:00", "--quiet"])
    elapsed = time.perf_counter() - t0
    with open(gradebook, newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return {"code": code, "rows": rows, "cases": cases, "feedback": feedback, "elapsed": elapsed, "subs": subs,
            "gradebook": gradebook}


def test_grade_exits_zero_and_has_a_row_for_everyone(graded):
    assert graded["code"] == 0
    expected = set(graded["cases"]) | {"b01_malformed_json", "b02_other_exercise", "b03_wrong_file_name",
                                       "b04_late", "b05_missing", "b06_single_file"}
    assert set(graded["rows"]) == expected
    assert len(graded["cases"]) >= 15


@pytest.mark.parametrize("student", sorted(nbt.sample_hostile([]).keys()))
def test_hostile_submission_gets_its_score_and_status(graded, student):
    _, status, points = graded["cases"][student]
    if student == "a11_read_solutions" and not ROOT:
        pytest.skip("files are only unreadable when the grader can switch uid (root)")
    row = graded["rows"][student]
    assert (row["status"], [float(row[t]) for t in TESTS]) == (status, [float(p) for p in points]), row["notes"]
    assert float(row["total"]) == sum(points) and float(row["max"]) == 6


@pytest.mark.parametrize("student, status, total", [
    ("b01_malformed_json", "invalid notebook", 0), ("b02_other_exercise", "missing", 0),
    ("b03_wrong_file_name", "ok", 6), ("b04_late", "late", 6), ("b05_missing", "missing", 0),
    ("b06_single_file", "ok", 6)])
def test_file_level_cases(graded, student, status, total):
    row = graded["rows"][student]
    assert (row["status"], float(row["total"])) == (status, total)
    assert row["late"] == ("yes" if student == "b04_late" else "no")


def test_outputs_are_private(graded):
    assert os.stat(graded["gradebook"]).st_mode & 0o777 == 0o600
    assert all(os.stat(f).st_mode & 0o777 == 0o600 for f in graded["feedback"].glob("*.md"))


def test_gradebook_and_feedback_are_written_by_the_grader_only(graded):
    text = (graded["feedback"] / "a01_correct.md").read_text()
    assert text.startswith("# Feedback for a01_correct") and "6 / 6 points" in text
    # no row was forged: exactly one row per student, all with the columns of the header
    assert all(set(r) >= {"student", "status", "total", *TESTS} for r in graded["rows"].values())


def test_feedback_never_shows_test_code(graded):
    source = json.loads(nbt.SAMPLE.read_text())
    code_lines = {l.strip() for c in source["cells"] if c["cell_type"] == "code"
                  for l in "".join(c["source"]).split("\n") if len(l.strip()) > 25}
    for f in [*graded["feedback"].glob("*.md"), graded["gradebook"]]:
        text = f.read_text()
        assert not [l for l in code_lines if l in text], f.name
        assert "BEGIN HIDDEN" not in text and "Traceback" not in text


def test_feedback_explains(graded):
    fb = graded["feedback"]
    assert "timeout" in (fb / "a13_infinite_loop.md").read_text()
    assert "adam_step uses tipslib.optim" in (fb / "a21_runtime_forbidden.md").read_text()
    assert "appears more than once" in (fb / "a19_duplicated_ids.md").read_text()
    assert "SyntaxError" in (fb / "a20_syntax_error.md").read_text()


@pytest.mark.skipif(not ROOT, reason="per-slot uids exist only when grading as root")
def test_no_process_of_a_sandbox_survives(graded):
    mine = {100_000 + (os.getpid() % 100_000) * 64 + slot for slot in range(2)}  # the slots of this grade run
    ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    assert not [l for l in ps.splitlines() if int(l.split()[0]) in mine], ps


def test_one_bad_submission_costs_only_its_own_limit(graded):
    # three submissions hit the 4 s limit; with 2 slots the whole class still finishes well within
    # (timeouts + everything else) rather than serialising behind them
    assert graded["elapsed"] < 4 * 3 + 45
