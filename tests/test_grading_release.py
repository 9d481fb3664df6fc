"""tipslib release: the student version, equal to what nbgrader generate_assignment writes."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tipslib.cli import main
from tipslib.grading import notebook as nbk
from tipslib.grading.release import release_notebook

_spec = importlib.util.spec_from_file_location("nbtools", Path(__file__).parent / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

SOURCES = [nbt.SAMPLE] + sorted(nbt.REAL_SOURCE.glob("*.ipynb"))


def _norm(nb):
    """What a student sees: cell types and sources, trailing whitespace ignored."""
    return [(c["cell_type"], "\n".join(l.rstrip() for l in nbk.source_of(c).strip().split("\n"))) for c in nb["cells"]]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_release_removes_solutions_and_hidden_tests(path):
    src = nbk.load(path)
    before = json.dumps(src)
    out = release_notebook(src)
    assert json.dumps(src) == before  # the source is not changed
    assert nbk.exercise_id(out) == nbk.exercise_id(src)
    for s, r in zip(src["cells"], out["cells"]):
        text = nbk.source_of(r)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert r.get("metadata") == s.get("metadata")
        if r["cell_type"] == "code":
            assert r["outputs"] == [] and r["execution_count"] is None
        if nbk.is_answer(s) and "BEGIN SOLUTION" in nbk.source_of(s):
            assert "raise NotImplementedError()" in text
        if nbk.is_test(s):  # the visible part stays, verbatim
            kept = [l for l in nbk.source_of(s).split("\n") if l not in text.split("\n")]
            assert not kept or (kept[0].strip() == "# BEGIN HIDDEN TESTS" and kept[-1].strip() == "# END HIDDEN TESTS")


def test_stub_keeps_the_indentation():
    src = "class F:\n    def forward(x):\n        # BEGIN SOLUTION\n        return x\n        # END SOLUTION\n"
    assert nbk.clear_solution(src) == "class F:\n    def forward(x):\n        # YOUR CODE HERE\n        raise NotImplementedError()\n"


@pytest.mark.parametrize("bad", ["# BEGIN SOLUTION\nx = 1\n", "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n"])
def test_unbalanced_markers_are_refused(bad, tmp_path):
    nb = nbt.with_answer(nbt.load(), "mse", bad)
    with pytest.raises(ValueError, match="mse"):
        release_notebook(nb)


def test_release_cli_writes_every_notebook(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(nbt.SAMPLE, src)
    assert main(["release", str(src), str(tmp_path / "rel")]) == 0
    assert (tmp_path / "rel" / "sample.ipynb").exists() and "released" in capsys.readouterr().out
    assert main(["release", str(tmp_path / "nope"), str(tmp_path / "rel")]) == 2


@pytest.mark.parametrize("command", ["release", "check", "grade"])
def test_help_shows_an_example(command):
    out = subprocess.run([sys.executable, "-m", "tipslib.cli", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "example:" in out.stdout and f"tipslib {command}" in out.stdout


def test_committed_release_is_generated():
    released = sorted((nbt.REPO / "exercises" / "release").glob("*.ipynb"))
    assert len(released) == len(nbt.REAL_IDS), "run: tipslib release exercises/source exercises/release"
    for path in released:
        expected = release_notebook(nbk.load(nbt.REAL_SOURCE / path.name))
        assert _norm(nbk.load(path)) == _norm(expected), f"{path.name}: run tipslib release exercises/source exercises/release"


def test_same_student_version_as_nbgrader(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    for p in SOURCES:
        shutil.copy(p, course / "source" / "ps1")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--force",
                           f"--CourseDirectory.root={course}"], cwd=course, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for p in SOURCES:
        theirs = nbk.load(course / "release" / "ps1" / p.name)
        ours = release_notebook(nbk.load(p))
        assert _norm(ours) == _norm(theirs), p.name
        assert [nbk.grade_id(c) for c in ours["cells"]] == [nbk.grade_id(c) for c in theirs["cells"]]
