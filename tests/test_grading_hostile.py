"""A class of hostile and broken submissions, graded together with --jobs 2.

Every submission must get its row with the right status and points while
the others are graded normally; none may change the gradebook, read the
solutions, or leave processes behind. The classes (see ``nbtools.sample_hostile``):
a0x tamper with the run or the sandbox; c01-c04 try to score what they did not
earn by patching ``expect``, the recorder, or reading expected values and hidden
inputs (none are in their process); c05-c08 call the library's answer from a
thread, a fork, a subprocess or an exec'd copy; c09-c10 and the d0x folders try
to stop the run (lone surrogates, a gigantic cell, undecodable names); c11 tries
to smuggle the hidden tests out through its feedback.
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
    # names that are not UTF-8 (a folder and a notebook in it), next to an honest classmate
    bad_dir = subs / os.fsdecode(b"d01_\xff\xfe")
    nbt.write(nbt.load(), bad_dir / os.fsdecode(b"sample\xff.ipynb"))
    nbt.write(nbt.load(), subs / os.fsdecode(b"d02_caf\xe9.ipynb"))
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
                                       "b04_late", "b05_missing", "b06_single_file", "d01_\\xff\\xfe", "d02_caf\\xe9"}
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
    ("b06_single_file", "ok", 6), ("d01_\\xff\\xfe", "ok", 6), ("d02_caf\\xe9", "ok", 6)])
def test_file_level_cases(graded, student, status, total):
    row = graded["rows"][student]
    assert (row["status"], float(row["total"])) == (status, total)
    assert row["late"] == ("yes" if student == "b04_late" else "no")
    if student.startswith("d0"):  # its feedback file exists under the escaped name
        assert (graded["feedback"] / f"{student}.md").read_text().startswith(f"# Feedback for {student}")


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
    # and the tests as the sandbox holds them (stripped of expected values), letters only too
    from tipslib.grading.judge import Exercise

    stripped = [s for c in Exercise.from_notebook(nbt.load()).stripped if c["kind"] == "test" for _, s in c["parts"]]
    code_lines |= {l.strip() for s in stripped for l in s.split("\n") if len(l.strip()) > 25}
    code_lines |= {"".join(ch for ch in l if ch.isalnum()) for l in set(code_lines)}
    for f in [*graded["feedback"].glob("*.md"), graded["gradebook"]]:
        text = f.read_text()
        assert not [l for l in code_lines if l in text], f.name
        assert "BEGIN HIDDEN" not in text and "Traceback" not in text


def test_feedback_explains(graded):
    fb = graded["feedback"]
    for student, what in [("c05_thread_reference", "PermissionError"), ("c06_fork_reference", "PermissionError"),
                          ("c07_subprocess_reference", "PermissionError"), ("c08_exec_copy", "adam_step uses tipslib.optim"),
                          ("c12_recorder_calls_reference", "adam_step uses tipslib.optim"),
                          ("c10_gigantic_cell", "larger than 1024 KB"), ("c11_leak_hidden", "test_mse")]:
        assert what in (fb / f"{student}.md").read_text(), student
    assert "timeout" in (fb / "a13_infinite_loop.md").read_text()
    assert "adam_step uses tipslib.optim" in (fb / "a21_runtime_forbidden.md").read_text()
    assert "appears more than once" in (fb / "a19_duplicated_ids.md").read_text()
    assert "has a syntax error: " in (fb / "a20_syntax_error.md").read_text()


def test_expected_values_never_enter_the_students_process(graded):
    # the jobs sent into the sandbox hold no expected value, no hint, no reference helper
    from tipslib.grading.judge import Exercise

    ex = Exercise.from_notebook(nbt.load())
    text = json.dumps(ex.job({"mse": "pass"}, seed=1))
    for needle in ("adam_variants", "EPS_INSIDE", "hints", "0.4166666666666667", "x * (u >= 0.25) / 0.75",
                   "np.mean((y - yhat)", "0.1 * g"):
        assert needle not in text, needle
    assert '"reference": false' in text


def test_rows_of_honest_classmates_do_not_change(graded):
    # the honest rows (and the rest of the class) are the same as those of a class without hostile members
    honest = [s for s, (_, status, pts) in graded["cases"].items() if s.startswith("a01")]
    assert honest and all(graded["rows"][s]["total"] == "6" for s in honest)


@pytest.mark.skipif(not ROOT, reason="per-slot uids exist only when grading as root")
def test_no_process_of_a_sandbox_survives(graded):
    mine = {100_000 + (os.getpid() % 100_000) * 64 + slot for slot in range(2)}  # the slots of this grade run
    ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    assert not [l for l in ps.splitlines() if int(l.split()[0]) in mine], ps


def test_one_bad_submission_costs_only_its_own_limit(graded):
    # three submissions hit the 4 s limit; with 2 slots the whole class still finishes well within
    # (timeouts + everything else) rather than serialising behind them
    assert graded["elapsed"] < 4 * 3 + 45
