"""The path a newcomer walks: the README, ``tipslib --help``, the top of each chapter.

* ``tipslib --help`` lists every registered subcommand (``tipslib.cli.COMMANDS``,
  so commands added later are covered) with an example line, and each
  subcommand's own ``--help`` ends with an example.
* Every chapter notebook opens with a markdown cell that says what it teaches,
  how long it takes and what to run first, as lines starting with
  ``**You will learn**``, ``**Time**`` and ``**Before you start**``.
* The README shows a widget screenshot that exists, is a PNG and is small, and
  every ``tipslib`` command it mentions exists.
* Opt-in (``TIPSLIB_VENV_TEST=1``, several minutes): the built wheel in a brand-new
  virtual environment, then what a student does first: ``tipslib course``, an edit that
  survives a second run, ``tipslib check`` in the course folder, a chapter run by nbval.
  (``tests/test_packaging.py`` checks the wheel's contents in every run.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tipslib import cli

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CHAPTER_NAMES = ["01_data_processing", "02_training_a_neural_network", "03_parameter_tuning",
                 "04_regularization", "05_good_practices"]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIRST_CELL_LINES = ("**You will learn**", "**Time**", "**Before you start**")


def tipslib_cmd(*args) -> subprocess.CompletedProcess:
    """Run the installed ``tipslib`` command (the console script a newcomer types)."""
    exe = shutil.which("tipslib")
    cmd = [exe] if exe else [sys.executable, "-m", "tipslib.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


# -- tipslib --help ------------------------------------------------------------

@pytest.fixture(scope="module")
def top_help():
    result = tipslib_cmd("--help")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_lists_every_subcommand(top_help):
    listed = set(re.findall(r"^ {4}(\w[\w-]*) {2,}\S", top_help, flags=re.M))
    assert set(cli.COMMANDS) <= listed, f"missing from `tipslib --help`: {sorted(set(cli.COMMANDS) - listed)}"


def test_help_shows_an_example_for_every_subcommand(top_help):
    examples = top_help.split("examples:", 1)
    assert len(examples) == 2, "`tipslib --help` has no 'examples:' section"
    shown = set(re.findall(r"^\s+tipslib (\w[\w-]*)", examples[1], flags=re.M))
    assert set(cli.COMMANDS) <= shown, f"no example in `tipslib --help` for {sorted(set(cli.COMMANDS) - shown)}"


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_subcommand_help_ends_with_an_example(name):
    result = tipslib_cmd(name, "--help")
    assert result.returncode == 0, result.stderr
    tail = result.stdout.rsplit("example", 1)
    assert len(tail) == 2 and re.search(rf"^\s+tipslib {name}\b", tail[1], flags=re.M), (
        f"`tipslib {name} --help` does not end with an example line 'tipslib {name} ...':\n{result.stdout}")


def test_no_arguments_prints_the_help():
    result = tipslib_cmd()
    assert result.returncode == 0 and "examples:" in result.stdout


def test_version():
    result = tipslib_cmd("--version")
    assert result.returncode == 0 and result.stdout.strip().startswith("tipslib ")


# -- the top of each chapter -----------------------------------------------------

def test_the_five_chapters_exist():
    assert [p.stem for p in CHAPTERS] == CHAPTER_NAMES


def first_cell_problems(nb) -> list[str]:
    """What the first cell of a chapter lacks (empty when it says all three things)."""
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        return ["the first cell is not a markdown cell"]
    lines = [line.strip() for line in nb.cells[0].source.splitlines()]
    problems = []
    if not any(line.startswith("# ") for line in lines):
        problems.append("no '# ' title")
    for marker in FIRST_CELL_LINES:
        hits = [line for line in lines if line.startswith(marker)]
        if not hits:
            problems.append(f"no line starting with {marker}")
        elif len(hits[0]) - len(marker) < 10:
            problems.append(f"the {marker} line says almost nothing: {hits[0]!r}")
    time_line = next((line for line in lines if line.startswith("**Time**")), "")
    if time_line and not re.search(r"\d+\s*(min|minute)", time_line):
        problems.append(f"the **Time** line gives no duration in minutes: {time_line!r}")
    return problems


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_starts_by_saying_what_when_and_how(path):
    import nbformat

    problems = first_cell_problems(nbformat.read(str(path), as_version=4))
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_the_first_cell_check_can_fail():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    good = "# T\n\n**You will learn** how a thing works.\n\n**Time** about 15 minutes.\n\n**Before you start** run chapter 1."
    assert first_cell_problems(new_notebook(cells=[new_markdown_cell(good)])) == []
    assert first_cell_problems(new_notebook(cells=[new_code_cell("1")])) == ["the first cell is not a markdown cell"]
    no_time = good.replace("**Time** about 15 minutes.", "**Time** a while, really.")
    assert first_cell_problems(new_notebook(cells=[new_markdown_cell(no_time)])) == [
        "the **Time** line gives no duration in minutes: '**Time** a while, really.'"]
    missing = good.replace("**Before you start** run chapter 1.", "")
    assert first_cell_problems(new_notebook(cells=[new_markdown_cell(missing)])) == [
        "no line starting with **Before you start**"]


# -- the README ------------------------------------------------------------------

def readme_images() -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README.read_text()) + re.findall(
        r"<img[^>]+src=\"([^\"]+)\"", README.read_text())


def test_readme_shows_a_widget_screenshot():
    images = readme_images()
    widget_shots = [i for i in images if re.fullmatch(r"docs/images/widget-[\w-]+\.png", i)]
    assert widget_shots, f"README.md shows no docs/images/widget-*.png (images: {images})"
    for rel in images:
        path = REPO / rel
        assert path.is_file(), f"README.md shows {rel}, which does not exist"
        data = path.read_bytes()
        if rel.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{rel} is not a PNG"
        assert len(data) < 200_000, f"{rel} is {len(data) / 1e3:.0f} KB; keep images under 200 KB"


def test_readme_mentions_only_commands_that_exist():
    mentioned = set(re.findall(r"(?<![\w/.-])tipslib (\w[\w-]*)", README.read_text()))
    mentioned -= {"turns", "asks"}  # prose: "tipslib turns every idea ...", "tipslib asks for torch"
    unknown = {m for m in mentioned if m not in cli.COMMANDS and not m.startswith("-")}
    assert not unknown, f"README.md mentions tipslib subcommands that do not exist: {sorted(unknown)}"


def test_every_path_a_notebook_names_exists_in_the_course_folder(tmp_path):
    """A student copies what a notebook tells them to type: `tipslib check exercises/...`, a
    chapter's file name. In the folder `tipslib course` makes, each of those paths must exist."""
    import json

    from tipslib.course import prepare_workspace

    root = prepare_workspace(tmp_path / "course").root
    named = 0
    for nb in sorted(root.rglob("*.ipynb")):
        text = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown")
        for path in re.findall(r"`(?:tipslib check )?((?:exercises|chapters|notebooks)/[\w/.-]+\.ipynb)`", text):
            named += 1
            assert (root / path).is_file(), f"{nb.relative_to(root)} names {path}, which the course folder lacks"
    assert named >= 15  # every exercise names its own check command and its chapter, twice


# -- a brand-new environment (opt-in) ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TIPSLIB_VENV_TEST") != "1",
                    reason="opt-in: set TIPSLIB_VENV_TEST=1 (installs into a fresh venv, several minutes)")
def test_the_built_wheel_in_a_fresh_virtual_environment(tmp_path):
    """What a student gets from a package index: the wheel (not an editable checkout) in a venv
    that sees nothing installed on this machine, then the course folder and an exercise check.

    torch is installed first from the CPU wheel pip finds on disk (as ``.ci/run`` does),
    since a bare ``torch`` from PyPI would be a multi-GB CUDA build.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path / "home")
    outside = tmp_path / "elsewhere"  # far from the checkout: nothing may come from it
    outside.mkdir()
    (tmp_path / "project").mkdir()

    def sh(cmd, timeout=1200, cwd=outside, ok=True):
        result = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if ok:
            assert result.returncode == 0, f"`{cmd}` failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    sh(f"{py} -m pip install -q torch==2.13.0")
    # Built from a copy: pip builds in the source folder, and the checkout is shared.
    project = tmp_path / "project"
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tipslib", "notebooks", "exercises"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, project / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")}
                                            if (REPO / name).is_dir() else {}))
    sh(f"{py} -m pip wheel -q --no-deps -w {tmp_path / 'dist'} {project}")
    (wheel,) = (tmp_path / "dist").glob("tipslib-*.whl")
    sh(f"{py} -m pip install -q {wheel}")
    assert str(REPO) not in sh(f"{py} -c 'import tipslib; print(tipslib.__file__)'").stdout
    assert "examples:" in sh("tipslib --help", timeout=120).stdout

    course = tmp_path / "home" / "tipslib-course"
    out = sh("tipslib course --no-lab", timeout=120).stdout
    assert str(course) in out and (course / "START.ipynb").is_file()
    assert sorted(p.name for p in (course / "chapters").iterdir()) == [p.name for p in CHAPTERS]
    mine = course / "exercises" / "regularization.ipynb"
    mine.write_text(mine.read_text().replace("raise NotImplementedError()", "return None  # mine"))
    edited = mine.read_bytes()
    sh("tipslib course --no-lab", timeout=120)
    assert mine.read_bytes() == edited, "a second run overwrote the student's edit"
    check = sh("tipslib check exercises/regularization.ipynb", cwd=course, timeout=600, ok=False)
    assert "visible tests pass" in check.stdout, check.stdout + check.stderr
    assert not list(Path(str(venv)).rglob("exercises/source")), "the wheel installed instructor sources"
    assert_course_starts(env, course)
    # A chapter runs top to bottom from the student's copy (the wheel has no test extras: nbconvert runs it).
    sh(f"{py} -m jupyter nbconvert --to notebook --execute --output {tmp_path / 'ran.ipynb'} "
       "02_training_a_neural_network.ipynb", cwd=course / "chapters", timeout=600)


def assert_course_starts(env, folder, timeout=90.0):
    """`tipslib course FOLDER` serves JupyterLab: it answers HTTP on its port; then it is stopped."""
    import signal
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import tempfile

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(["tipslib", "course", str(folder), "--no-browser", "--port", str(port)], env=env, cwd=folder,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail():
        log.seek(0)
        return b"\n".join(log.read().splitlines()[-5:]).decode(errors="replace")

    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"`tipslib course` exited with code {proc.returncode}:\n{log_tail()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as r:
                    assert b"version" in r.read()
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise AssertionError(f"`tipslib course` did not answer on port {port} within {timeout:.0f} s")
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
