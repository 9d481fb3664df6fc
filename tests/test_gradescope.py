"""``tipslib export gradescope`` without Gradescope: the zip unpacked into a temporary root laid out
like ``/autograder``, ``run_autograder`` run on honest and hostile submissions, every results.json
checked against a JSON Schema written from Gradescope's specification
(tests/data/gradescope_results.schema.json), and every score checked against ``tipslib grade`` on
the same submissions.

The small sample exercise (tests/data/grading/sample.ipynb) keeps this quick. ``run_autograder``
runs in this test's Python (the current venv's tipslib); the real entry point (the shell script)
runs on two submissions, the others call :func:`run_autograder` in-process. The fresh venv that
``setup.sh`` builds from a local wheel (CPU torch downloaded: minutes) is opt-in:
``TIPSLIB_VENV_TEST=1``, like tests/test_newcomer.py.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from tipslib import __version__  # noqa: E402
from tipslib.grading import notebook as nbk  # noqa: E402
from tipslib.grading.grade import grade  # noqa: E402
from tipslib.grading.gradescope import VISIBILITIES, export_gradescope, run_autograder  # noqa: E402
from tipslib.grading.judge import Exercise  # noqa: E402

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("nbtools", HERE / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

SCHEMA = json.loads((HERE / "data" / "gradescope_results.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
HOSTILE = ("a09_forged_pipe", "a11_read_solutions", "a13_infinite_loop", "a20_syntax_error")
SHELL = ("c01_honest", "b01_malformed_json")  # graded through the run_autograder script itself


def schema_errors(results):
    return [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(results)]


def make_root(zip_path, root):
    """What Gradescope does: the zip in root/source, run_autograder copied to root, an empty results/."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_script(root, **env):
    return subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TIPSLIB_AUTOGRADER_ROOT": str(root), "TIPSLIB_PYTHON": sys.executable,
                               **env})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    src = tmp / "source"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    return export_gradescope(src / "sample.ipynb", tmp / "autograder.zip", hidden_visibility="after_due_date",
                             timeout=4, memory_mb=400)


def _class(subs, roots):
    """{student: files} for the class: honest, a wrong answer, hostile ones, file-level failures."""
    base = nbt.load()
    # the hostile notebooks that read or write files aim at every root's solutions and results
    paths = [roots / "*" / "source" / "exercises" / "sample.ipynb", roots / "*" / "results" / "results.json"]
    cases = nbt.sample_hostile(paths)
    notebooks = {"c01_honest": base, "c02_wrong_mse": nbt.mutate(base, "mse", "np.mean(", "np.sum("),
                 **{s: cases[s][0]() for s in HOSTILE}}
    for student, nb in notebooks.items():
        nbt.write(nb, subs / student / "sample.ipynb")
    (subs / "b01_malformed_json").mkdir()
    (subs / "b01_malformed_json" / "sample.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    nbt.write(base, subs / "b03_wrong_file_name" / "My Homework (final) v2.ipynb")
    (subs / "b05_missing").mkdir()
    (subs / "b07_not_a_notebook").mkdir()
    (subs / "b07_not_a_notebook" / "sample.py").write_text("def mse(y, yhat):\n    return 0.0\n")
    return sorted(p.name for p in subs.iterdir())


@pytest.fixture(scope="module")
def graded(exported, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    subs, roots = tmp / "submissions", tmp / "roots"
    students = _class(subs, roots)
    out = {}
    for student in students:
        root = make_root(exported, roots / student)
        shutil.copytree(subs / student, root / "submission", dirs_exist_ok=True)
        if student in SHELL:
            proc = run_script(root)
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "written to" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        else:
            run_autograder(root)
        out[student] = json.loads((root / "results" / "results.json").read_text())
    # the same class through tipslib grade, in one batch
    src = tmp / "source"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    grade(src, subs, tmp / "gradebook.csv", feedback_dir=tmp / "feedback", timeout=4, memory_mb=400, progress=False)
    with open(tmp / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return {"results": out, "rows": rows, "feedback": tmp / "feedback", "roots": roots}


def test_the_zip_has_what_gradescope_needs(exported):
    with zipfile.ZipFile(exported) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "tipslib_autograder.json", "exercises/sample.ipynb"} <= names
        for name in ("setup.sh", "run_autograder"):
            mode = z.getinfo(name).external_attr >> 16
            assert mode & stat.S_IXUSR, f"{name} is not executable in the zip"
            assert z.read(name).startswith(b"#!/usr/bin/env bash\n")
        setup = z.read("setup.sh").decode()
        settings = json.loads(z.read("tipslib_autograder.json"))
    assert f'tipslib=={__version__}' in setup and "download.pytorch.org/whl/cpu" in setup
    assert settings["hidden_visibility"] == "after_due_date" and settings["tipslib"] == __version__


def test_bad_export_arguments_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="'hidden_visibility' parameter must be one of hidden, after_due_date"):
        export_gradescope(nbt.SAMPLE, tmp_path / "a.zip", hidden_visibility="later")
    with pytest.raises(ValueError, match="'source' parameter"):
        export_gradescope(tmp_path / "nothing.ipynb", tmp_path / "a.zip")
    fake = tmp_path / "tipslib-0.0.1-py3-none-any.whl"
    fake.write_bytes(b"")
    with pytest.raises(ValueError, match=f"'wheel' parameter must be a tipslib-{__version__}"):
        export_gradescope(nbt.SAMPLE, tmp_path / "a.zip", wheel=fake)
    with pytest.raises(ValueError, match="'timeout' parameter must be a positive number. Got 0"):
        export_gradescope(nbt.SAMPLE, tmp_path / "a.zip", timeout=0)
    assert not (tmp_path / "a.zip").exists()


def test_every_results_json_is_valid(graded):
    for student, results in graded["results"].items():
        assert schema_errors(results) == [], student


def test_scores_equal_tipslib_grade(graded):
    assert set(graded["results"]) == set(graded["rows"])
    for student, results in graded["results"].items():
        row = graded["rows"][student]
        assert results["score"] == float(row["total"]), (student, row["status"], results["output"])
        per_test = {}
        for t in results["tests"]:
            per_test[t["name"].split(":")[0]] = per_test.get(t["name"].split(":")[0], 0.0) + t["score"]
        assert per_test == {g: float(row[g]) for g in ("test_adam", "test_dropout", "test_mse")}, student


def test_honest_full_marks_wrong_answer_loses_its_test(graded):
    honest, wrong = graded["results"]["c01_honest"], graded["results"]["c02_wrong_mse"]
    assert honest["score"] == 6 and all(t["status"] == "passed" for t in honest["tests"])
    assert wrong["score"] == 5
    failed = [t["name"] for t in wrong["tests"] if t["status"] == "failed"]
    assert failed == ["test_mse: visible checks", "test_mse: hidden checks"]
    assert "sum instead of mean" in next(t for t in wrong["tests"] if t["name"] == "test_mse: visible checks")["output"]
    hidden = next(t for t in wrong["tests"] if t["name"] == "test_mse: hidden checks")
    assert hidden["score"] == 0 and hidden["max_score"] == 1 and ": ok" not in hidden["output"]


def test_hidden_checks_have_the_chosen_visibility_and_hold_the_points(graded):
    for results in graded["results"].values():
        for t in results["tests"]:
            if t["name"].endswith("hidden checks"):
                assert t["visibility"] == "after_due_date"
            else:
                assert t["visibility"] == "visible" and (t["max_score"] == 0 or "hidden" not in t["output"])
        assert sum(t["max_score"] for t in results["tests"]) == 6
        assert results["stdout_visibility"] == "hidden"


def test_no_hidden_test_content_and_the_same_text_as_the_feedback_file(graded):
    ex = Exercise.from_notebook(nbk.load(nbt.SAMPLE))
    hidden_lines = {line.strip() for t in ex.tests for part, src in t.parts if part == "hidden"
                    for line in src.splitlines() if len(line.strip()) > 12 and not line.strip().startswith("#")}
    assert hidden_lines
    for student, results in graded["results"].items():
        text = json.dumps(results)
        leaked = [line for line in hidden_lines if line in text or json.dumps(line)[1:-1] in text]
        assert not leaked, (student, leaked)
        feedback = (graded["feedback"] / f"{student}.md").read_text()
        for t in results["tests"]:
            for line in t["output"].splitlines():
                if not line.startswith(("The ", "(no visible", "No points: ")):
                    assert line in feedback, (student, t["name"], line)


def test_hostile_submissions_get_their_status(graded):
    rows = graded["rows"]
    assert rows["a09_forged_pipe"]["status"] == "tampering" and graded["results"]["a09_forged_pipe"]["score"] == 0
    assert rows["a13_infinite_loop"]["status"] == "timeout"
    assert graded["results"]["a11_read_solutions"]["score"] == 6   # it read nothing
    assert "status timeout" in graded["results"]["a13_infinite_loop"]["output"]
    for root in graded["roots"].iterdir():  # nobody wrote over a results.json
        assert json.loads((root / "results" / "results.json").read_text())["score"] == \
            graded["results"][root.name]["score"]


@pytest.mark.parametrize("student, says", [
    ("b01_malformed_json", "sample.ipynb: "),
    ("b05_missing", "No Jupyter notebook (.ipynb) was found in your submission (no files)"),
    ("b07_not_a_notebook", "No Jupyter notebook (.ipynb) was found in your submission (sample.py)"),
])
def test_missing_or_broken_notebooks_score_zero_and_say_why(graded, student, says):
    results = graded["results"][student]
    assert results["score"] == 0 and says in results["output"], results["output"]
    assert all(t["score"] == 0 for t in results["tests"])


def test_a_wrong_file_name_is_still_graded(graded):
    assert graded["results"]["b03_wrong_file_name"]["score"] == 6


def test_a_grader_failure_still_writes_a_result(exported, tmp_path):
    root = make_root(exported, tmp_path / "broken")
    shutil.rmtree(root / "source" / "exercises")
    nbt.write(nbt.load(), root / "submission" / "sample.ipynb")
    results = run_autograder(root)
    assert results["score"] == 0 and "problem of the autograder, not of your submission" in results["output"]
    assert schema_errors(json.loads((root / "results" / "results.json").read_text())) == []


def test_a_python_that_cannot_start_still_leaves_a_valid_result(exported, tmp_path):
    root = make_root(exported, tmp_path / "nopython")
    proc = run_script(root, TIPSLIB_PYTHON="/bin/false")
    assert proc.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "could not start (exit code 1)" in results["output"]
    assert schema_errors(results) == []


def test_the_readmes_local_try_with_a_relative_root(exported, tmp_path):
    # exercises/README.md, literally: unzip into root/source, a notebook in root/submission/, then
    # `TIPSLIB_AUTOGRADER_ROOT=root bash root/source/run_autograder` from the folder holding root/.
    # The script changed into root/ and then looked for root/source there (root/root/results).
    root = tmp_path / "root"
    with zipfile.ZipFile(exported) as z:
        z.extractall(root / "source")
    nbt.write(nbt.load(), root / "submission" / "sample.ipynb")
    proc = subprocess.run(["bash", "root/source/run_autograder"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TIPSLIB_AUTOGRADER_ROOT": "root",
                                            "TIPSLIB_PYTHON": sys.executable})
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 6 and schema_errors(results) == []
    assert not (root / "root").exists()


def test_setup_sh_asks_for_the_torch_tipslib_needs(exported):
    from importlib.metadata import requires

    (floor,) = [r for r in requires("tipslib") if r.replace(" ", "").startswith("torch>=")]
    with zipfile.ZipFile(exported) as z:
        setup = z.read("setup.sh").decode()
    # an older floor there lets pip pick a torch tipslib refuses, then fetch another from pip's own index
    assert setup.count(f'"{floor}"') == 2, floor


def test_the_cli_says_when_setup_sh_will_look_for_tipslib_on_pypi(tmp_path, capsys):
    # The README's example (no --wheel) wrote a zip whose setup.sh installs tipslib==VERSION from PyPI:
    # the course ships as a wheel or a checkout, so a wheel-only instructor learned it at Gradescope.
    from tipslib.cli import main

    assert main(["export", "gradescope", str(nbt.SAMPLE), "-o", str(tmp_path / "a.zip")]) == 0
    err = capsys.readouterr().err
    assert f"pip install tipslib=={__version__}" in err and "--wheel" in err, err
    wheel = tmp_path / f"tipslib-{__version__}-py3-none-any.whl"
    wheel.write_bytes(b"PK")  # only its name is checked at export
    assert main(["export", "gradescope", str(nbt.SAMPLE), "-o", str(tmp_path / "b.zip"), "--wheel", str(wheel)]) == 0
    assert "PyPI" not in capsys.readouterr().err


def test_the_cli_exports(tmp_path):
    from tipslib.cli import main

    out = tmp_path / "ag.zip"
    assert main(["export", "gradescope", str(nbt.SAMPLE), "-o", str(out), "--hidden-visibility", "hidden"]) == 0
    with zipfile.ZipFile(out) as z:
        settings = json.loads(z.read("tipslib_autograder.json"))
    assert settings["hidden_visibility"] == "hidden" and settings["unsafe"] is False
    assert main(["export", "gradescope", str(nbt.SAMPLE), "-o", str(out), "--unsafe"]) == 0
    with zipfile.ZipFile(out) as z:
        assert json.loads(z.read("tipslib_autograder.json"))["unsafe"] is True
    assert main(["export", "gradescope", str(tmp_path / "none"), "-o", str(tmp_path / "x.zip")]) == 2
    assert set(VISIBILITIES) == set(SCHEMA["$defs"]["visibility"]["enum"])


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TIPSLIB_VENV_TEST") != "1", reason="opt-in (TIPSLIB_VENV_TEST=1): builds a venv, downloads CPU torch")
def test_setup_sh_in_a_fresh_venv_from_the_local_wheel(tmp_path):
    repo, project, dist = HERE.parent, tmp_path / "project", tmp_path / "dist"
    project.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tipslib", "notebooks", "exercises"):
        if (repo / name).is_dir():  # built from a copy: pip builds in the source folder, and the checkout is shared
            shutil.copytree(repo / name, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif (repo / name).exists():
            shutil.copy2(repo / name, project / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(project)],
                   check=True, timeout=600)
    (wheel,) = dist.glob(f"tipslib-{__version__}-*.whl")
    zip_path = export_gradescope(nbt.SAMPLE, tmp_path / "ag.zip", wheel=wheel, timeout=30)
    root = make_root(zip_path, tmp_path / "autograder")
    # TIPSLIB_TORCH_INDEX: where PyTorch's CPU index is out of reach, "" installs torch from pip's own index
    env = {**os.environ, "TIPSLIB_AUTOGRADER_ROOT": str(root), "TIPSLIB_SETUP_NO_APT": "1"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["bash", str(root / "source" / "setup.sh")], check=True, timeout=1800, env=env)
    nbt.write(nbt.load(), root / "submission" / "sample.ipynb")
    env.pop("TIPSLIB_PYTHON", None)
    subprocess.run(["bash", str(root / "run_autograder")], check=True, timeout=600, env=env, cwd=root)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 6 and schema_errors(results) == []


def test_a_hidden_parts_error_stays_out_of_the_visible_entry(exported, tmp_path):
    # the visible entry is always shown: the hidden part's error went there, by its kind (one of 60
    # built-in kinds per graded function spelled the hidden inputs out). Now neither entry names it,
    # and only the hidden entry says that the hidden part stopped.
    src = ("import numpy as np\n\ndef mse(y, yhat):\n    if len(y) == 6:  # only the hidden check\n"
           "        raise ConnectionError()\n    return np.mean((y - yhat) ** 2)\n")
    root = make_root(exported, tmp_path / "h6")
    nbt.write(nbt.with_answer(nbt.load(), "mse", src), root / "submission" / "sample.ipynb")
    results = run_autograder(root)
    assert schema_errors(results) == [] and results["score"] == 5
    assert "ConnectionError" not in json.dumps(results)
    entries = {t["name"]: t for t in results["tests"]}
    visible, hidden = entries["test_mse: visible checks"], entries["test_mse: hidden checks"]
    assert visible["status"] == "passed" and "stopped" not in visible["output"], visible
    assert "the hidden part of this test stopped with an exception" in hidden["output"] and hidden["score"] == 0


def test_results_json_puts_hidden_problems_in_the_hidden_entry_only():
    from tipslib.grading.gradescope import results_json
    from tipslib.grading.judge import Check, ExerciseResult, TestResult

    t = TestResult("t1", 0.0, 2.0, [Check("a", False, True), Check("b", True, True)],
                   hidden_problem="the hidden part of this test stopped with an exception")
    out = results_json([ExerciseResult("ex", "Ex", "ok", [t])], hidden_visibility="hidden")
    visible, hidden = out["tests"]
    assert visible["status"] == "passed" and "hidden part" not in visible["output"]
    assert "the hidden part of this test stopped with an exception" in hidden["output"]
    assert "No points: this test also needs its visible checks" not in hidden["output"]
    # a test without hidden checks is one entry, with its points: a problem of its hidden part shows there
    t = TestResult("t2", 0.0, 1.0, [Check("a", False, True)], hidden_problem="the hidden part of this test stopped with an exception")
    (only,) = results_json([ExerciseResult("ex", "Ex", "ok", [t])])["tests"]
    assert only["status"] == "failed" and "stopped with an exception" in only["output"]


def test_file_names_that_are_not_utf8_are_named_in_a_written_result(exported, tmp_path):
    """Files whose names are not UTF-8 (a student's zip from another system): results.json names them,
    escaped. They went into it raw, as lone surrogates, and writing it raised UnicodeEncodeError: no
    result but the shell's 'could not start'."""
    for case in ("no notebook", "a notebook of no exercise"):
        root = make_root(exported, tmp_path / case.replace(" ", "_"))
        (root / "submission" / os.fsdecode(b"notes\xfe.txt")).write_text("x")
        if case != "no notebook":
            nbt.write({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                      root / "submission" / os.fsdecode(b"copy\xff.ipynb"))
        run_autograder(root)
        written = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        assert written["score"] == 0 and schema_errors(written) == []
        assert ("notes\\xfe.txt" if case == "no notebook" else "copy\\xff.ipynb") in written["output"], written["output"]
