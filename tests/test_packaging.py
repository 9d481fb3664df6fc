"""What a package index would hand a student: the sdist, and the wheel built from it.

Both are built here from a scratch copy of the project (as ``pip install tipslib``
would build them, through setuptools' PEP 517 hooks, offline), then their file
lists are checked both ways: the course is in (the five chapters and the
student exercises, byte for byte as in the repository), the answers are out (no
instructor source, no notebook with a solution or hidden-test marker), and so
is the test harness. Then ``tipslib course`` prepares a workspace from the
unpacked wheel alone. About 20-40 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RELEASED = sorted((REPO / "exercises" / "release").glob("*.ipynb"))
SOURCES = sorted((REPO / "exercises" / "source").glob("*.ipynb"))
#: Text that only instructor material holds (the markers `tipslib release` removes).
ANSWER_MARKERS = (b"# BEGIN SOLUTION", b"BEGIN HIDDEN TESTS")
#: Project files and folders the build needs; the rest (.git, caches, artifacts) stays behind.
PROJECT = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "tipslib", "notebooks", "exercises",
           "tests", "bench", "docs"]


def _hook(hook: str, cwd: Path, out: Path) -> Path:
    """Run a setuptools PEP 517 hook in a fresh process; return the file it wrote."""
    code = f"from setuptools import build_meta as b; print(b.{hook}({str(out)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{hook} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return out / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(sdist, wheel)``: the sdist built from a copy of the project, the wheel from the sdist."""
    tmp = tmp_path_factory.mktemp("build")
    project, out = tmp / "project", tmp / "dist"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints", "_course")
    for name in PROJECT:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, project / name)
    out.mkdir()
    sdist = _hook("build_sdist", project, out)
    with tarfile.open(sdist) as tar:
        # the "data" filter refuses links and paths out of the folder (Python 3.11.4 and later)
        tar.extractall(tmp / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (root,) = (tmp / "unpacked").iterdir()
    wheel = _hook("build_wheel", root, out)
    return sdist, wheel


def _sdist_files(sdist) -> dict[str, bytes]:
    with tarfile.open(sdist) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _wheel_files(wheel) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def test_the_repository_has_the_course_to_ship():
    assert len(CHAPTERS) == 5 and RELEASED and SOURCES


def test_the_wheel_carries_the_course(built):
    files = _wheel_files(built[1])
    for path in CHAPTERS:
        assert files.get(f"tipslib/_course/chapters/{path.name}") == path.read_bytes(), f"chapter {path.name}"
    for path in RELEASED:
        assert files.get(f"tipslib/_course/exercises/{path.name}") == path.read_bytes(), f"exercise {path.name}"
    course = {n for n in files if n.startswith("tipslib/_course/")}
    assert len(course) == len(CHAPTERS) + len(RELEASED), sorted(course)
    # What the chapters and widgets load at run time.
    assert {"tipslib/widgets/dropout_curves.npz", "tipslib/transfer/pretrained_digits.npz",
            "tipslib/course.py", "tipslib/cli.py"} <= set(files)


def test_the_wheel_and_the_sdist_carry_the_license(built):
    # pyproject.toml declares MIT; the text itself must travel with every copy
    license_text = (REPO / "LICENSE").read_bytes()
    assert b"MIT License" in license_text
    assert any((n.endswith("dist-info/LICENSE") or n.endswith("dist-info/licenses/LICENSE")) and v == license_text
               for n, v in _wheel_files(built[1]).items()), "no LICENSE in the wheel's dist-info"
    assert _sdist_files(built[0]).get("LICENSE") == license_text


def test_the_wheel_carries_no_answers_and_no_test_harness(built):
    files = _wheel_files(built[1])
    _no_answers(files)
    harness = [n for n in files if "browser" in n.rsplit("/", 1)[-1] or n.startswith("tests/")
               or "conftest" in n or n.rsplit("/", 1)[-1].startswith("test_")]
    assert not harness, f"the wheel ships test code: {harness}"


def test_the_sdist_carries_the_course_and_no_answers(built):
    files = _sdist_files(built[0])
    for path in [*CHAPTERS, *RELEASED]:
        assert files.get(str(path.relative_to(REPO))) == path.read_bytes(), path.name
    _no_answers(files)
    assert not [n for n in files if n.startswith(("tests/", "bench/"))]


def _no_answers(files: dict[str, bytes]) -> None:
    sources = {p.read_bytes() for p in SOURCES}
    leaked = [n for n, data in files.items() if "exercises/source" in n or data in sources
              or (n.endswith(".ipynb") and any(m in data for m in ANSWER_MARKERS))]
    assert not leaked, f"instructor material shipped: {leaked}"


def test_the_answer_check_can_fail():
    solved = SOURCES[0].read_bytes()
    with pytest.raises(AssertionError, match="instructor material"):
        _no_answers({"tipslib/_course/exercises/x.ipynb": solved})
    with pytest.raises(AssertionError, match="instructor material"):
        _no_answers({"tipslib/_course/exercises/x.ipynb": b'{"source": "# BEGIN SOLUTION\\n"}'})


def test_tipslib_course_works_from_the_unpacked_wheel(built, tmp_path):
    """The wheel alone (no checkout beside it) gives a full workspace."""
    site = tmp_path / "site"
    with zipfile.ZipFile(built[1]) as z:
        z.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    ws = tmp_path / "my course"
    result = subprocess.run([sys.executable, "-m", "tipslib.cli", "course", str(ws), "--no-lab"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    probe = subprocess.run([sys.executable, "-c", "import tipslib; print(tipslib.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip().startswith(str(site)), probe.stdout
    assert sorted(p.name for p in (ws / "chapters").iterdir()) == [p.name for p in CHAPTERS]
    assert sorted(p.name for p in (ws / "exercises").iterdir()) == sorted(p.name for p in RELEASED)
    assert (ws / "START.ipynb").is_file()
