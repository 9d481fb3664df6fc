"""The tipslib command, and the course folder ``tipslib course`` prepares."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tipslib
from tipslib import course
from tipslib.cli import COMMANDS, main

REPO = Path(__file__).resolve().parent.parent


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"tipslib {tipslib.__version__}"


def _help_examples():
    """Every ``tipslib ...`` example line of the main help and of each subcommand's help."""
    import argparse
    import shlex

    from tipslib.cli import EPILOG, build_parser

    parser, _ = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    texts = {"tipslib": EPILOG, **{name: p.epilog or "" for name, p in sub.choices.items()}}
    for where, text in texts.items():
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():  # a trailing backslash continues the line
            line = line.strip()
            if line.startswith("tipslib "):
                # the example ends where its comment starts: two spaces or a "(" aside
                command = re.split(r"\s{2,}|\s\(", line)[0]
                yield where, shlex.split(command)[1:]


def test_every_subcommand_has_an_example_in_its_help():
    commands_with_examples = {where for where, _ in _help_examples()}
    assert set(COMMANDS) <= commands_with_examples, sorted(set(COMMANDS) - commands_with_examples)


@pytest.mark.parametrize("where, argv", list(_help_examples()), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_example_in_the_help_parses(where, argv):
    """An example that names a flag or a subcommand that does not exist fails here (argparse exits 2)."""
    from tipslib.cli import build_parser

    parser, _ = build_parser()
    if argv == ["--version"]:
        return  # prints and exits 0 by design; test_version covers it
    args = parser.parse_args(argv)
    assert args.command == argv[0]
    if where != "tipslib":
        assert argv[0] == where, f"an example in the help of {where!r} runs {argv[0]!r}"


def test_release_writes_student_versions(tmp_path, capsys):
    assert main(["release", str(REPO / "exercises" / "source"), str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert written == sorted(p.name for p in (REPO / "exercises" / "source").glob("*.ipynb"))
    assert not any("BEGIN SOLUTION" in p.read_text() for p in tmp_path.glob("*.ipynb"))


def test_export_writes_an_autograder_zip(tmp_path, capsys):
    import zipfile

    out = tmp_path / "autograder.zip"
    assert main(["export", "gradescope", str(REPO / "exercises" / "source"), "-o", str(out)]) == 0
    assert zipfile.is_zipfile(out) and zipfile.ZipFile(out).namelist()


@pytest.mark.parametrize("argv,names", [
    (["check", "no-such-exercise.ipynb"], "no-such-exercise.ipynb"),
    (["grade", str(REPO / "exercises" / "source"), "no-such-folder", "--out", "gradebook.csv"], "no-such-folder"),
])
def test_check_and_grade_name_a_missing_path(argv, names, tmp_path, monkeypatch, capsys):
    """A real run that stops at once: exit code 2 and the missing path named (the full runs are
    the slow test below and tests/test_grading_*.py; `site` is exercised by tests/test_site.py)."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert names in captured.out + captured.err


@pytest.mark.parametrize("argv", [
    ["check", "--timeout", "0", "exercises/regularization.ipynb"],
    ["check", "--timeout", "-5", "exercises/regularization.ipynb"],
    ["site", "out", "--jobs", "0"],
])
def test_a_number_that_must_be_positive_is_refused_at_once(argv, tmp_path, monkeypatch, capsys):
    # `check --timeout 0` ran the notebook and reported every test as failed ("time limit")
    monkeypatch.chdir(tmp_path)
    assert main(["course", ".", "--no-lab"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    option = next(a for a in argv if a.startswith("--"))
    assert e.value.code == 2 and f"argument {option}: must be positive" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv,says", [
    (["grade", "a", "b", "--out", "g.csv", "--jobs", "two"], "argument --jobs: invalid int value: 'two'"),
    (["check", "--timeout", "soon", "x.ipynb"], "argument --timeout: invalid float value: 'soon'"),
])
def test_a_number_that_is_not_one_is_named(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and says in capsys.readouterr().err  # was "invalid parse value"


@pytest.mark.parametrize("cmd", ["grade", "export"])
def test_student_versions_are_refused_as_sources_and_the_sources_are_named(cmd, tmp_path, capsys):
    # An instructor with only the wheel has the student versions (tipslib course); given as the
    # sources, `export gradescope` wrote a zip that failed every submission, and `grade` blamed a
    # "reference solution" for raising NotImplementedError.
    assert main(["course", str(tmp_path / "ws"), "--no-lab"]) == 0
    capsys.readouterr()
    ex, out = tmp_path / "ws" / "exercises", tmp_path / "out"
    argv = (["grade", str(ex), str(tmp_path), "--out", str(out), "--quiet", "--unsafe"] if cmd == "grade"
            else ["export", "gradescope", str(ex / "regularization.ipynb"), "-o", str(out)])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is a student version" in err and "exercises/source of the tipslib repository" in err, err
    assert not out.exists()
    # the README's example, typed where there is no exercises/source: where to find it
    argv = (["grade", "no/exercises/source", str(tmp_path), "--out", str(out), "--unsafe"] if cmd == "grade"
            else ["export", "gradescope", "no/exercises/source", "-o", str(out)])
    assert main(argv) == 2
    assert "exercises/source of the tipslib repository" in capsys.readouterr().err


@pytest.mark.parametrize("argv,usage", [
    (["course", "--no-such-option"], "usage: tipslib course "),
    (["check", "a.ipynb", "b.ipynb"], "usage: tipslib check "),
    (["--no-such-option"], "usage: tipslib [-h]"),
])
def test_an_unknown_argument_shows_the_usage_of_its_command(argv, usage, capsys):
    # argparse showed the top-level usage ("tipslib [-h] [--version] COMMAND ...") for `course --nope`
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(usage) and f"unrecognized arguments: {argv[-1]}" in err, err


def test_console_script_is_installed():
    out = subprocess.run(["tipslib", "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"tipslib {tipslib.__version__}"


# -- tipslib course ----------------------------------------------------------------

CHAPTERS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted(p.name for p in (REPO / "exercises" / "release").glob("*.ipynb"))


def run_course(*args, capsys):
    code = main(["course", *map(str, args)])
    return code, capsys.readouterr()


def test_course_copies_the_chapters_exercises_and_a_start_page(tmp_path, capsys):
    ws = tmp_path / "my course"
    code, out = run_course(ws, "--no-lab", capsys=capsys)
    assert code == 0, out.err
    assert f"Created your course folder {ws}" in out.out
    assert sorted(p.name for p in (ws / "chapters").iterdir()) == CHAPTERS
    assert sorted(p.name for p in (ws / "exercises").iterdir()) == EXERCISES
    for name in CHAPTERS:
        assert (ws / "chapters" / name).read_bytes() == (REPO / "notebooks" / name).read_bytes()
    start = json.loads((ws / course.START_PAGE).read_text())
    text = "\n".join(c["source"] for c in start["cells"])
    assert "chapters/01_data_processing.ipynb" in text and "tipslib check exercises/" in text
    for name in EXERCISES:
        assert f"(exercises/{name})" in text
    manifest = json.loads((ws / course.MANIFEST).read_text())
    assert set(manifest["files"]) == {f"chapters/{n}" for n in CHAPTERS} | {f"exercises/{n}" for n in EXERCISES} | {
        course.START_PAGE}


def test_course_default_folder_is_in_the_home_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out = run_course("--no-lab", capsys=capsys)
    assert code == 0 and str(tmp_path / "tipslib-course") in out.out
    assert (tmp_path / "tipslib-course" / course.START_PAGE).is_file()


def test_a_second_run_keeps_the_students_edits(tmp_path, capsys):
    ws = tmp_path / "ws"
    run_course(ws, "--no-lab", capsys=capsys)
    mine = ws / "exercises" / EXERCISES[0]
    mine.write_text(mine.read_text().replace("raise NotImplementedError()", "return 42"))
    edited = mine.read_bytes()
    (ws / "chapters" / CHAPTERS[1]).unlink()  # deleted to get a fresh copy
    code, out = run_course(ws, "--no-lab", capsys=capsys)
    assert code == 0 and f"Using your course folder {ws}" in out.out
    assert mine.read_bytes() == edited
    assert f"added    chapters/{CHAPTERS[1]}" in out.out
    assert (ws / "chapters" / CHAPTERS[1]).read_bytes() == (REPO / "notebooks" / CHAPTERS[1]).read_bytes()
    assert not list(ws.rglob("*.new-*"))


def _shipped_upgrade(tmp_path, monkeypatch):
    """Pretend a newer tipslib ships: every notebook changed, plus one new exercise."""
    new = tmp_path / "newer"
    files = {}
    for rel, src in course.shipped_files().items():
        nb = json.loads(src.read_text())
        nb["metadata"]["upgraded"] = True
        (new / rel).parent.mkdir(parents=True, exist_ok=True)
        (new / rel).write_text(json.dumps(nb))
        files[rel] = new / rel
    (new / "exercises" / "bonus.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                                "nbformat_minor": 5}))
    files["exercises/bonus.ipynb"] = new / "exercises" / "bonus.ipynb"
    monkeypatch.setattr(course, "shipped_files", lambda: dict(files))
    return files


def test_an_upgrade_adds_new_notebooks_and_writes_changed_ones_beside_edited_ones(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    course.prepare_workspace(ws, version="0.1.0")
    mine = ws / "exercises" / EXERCISES[0]
    mine.write_text(mine.read_text().replace("raise NotImplementedError()", "return 42"))
    edited = mine.read_bytes()
    files = _shipped_upgrade(tmp_path, monkeypatch)

    report = course.prepare_workspace(ws, version="0.2.0")
    beside = ws / "exercises" / f"{Path(EXERCISES[0]).stem}.new-0.2.0.ipynb"
    assert mine.read_bytes() == edited, "the student's edit was overwritten"
    assert beside.read_bytes() == files[f"exercises/{EXERCISES[0]}"].read_bytes()
    assert report.beside == [(f"exercises/{EXERCISES[0]}", str(beside.relative_to(ws)))]
    assert "exercises/bonus.ipynb" in report.added and (ws / "exercises" / "bonus.ipynb").is_file()
    # Unedited copies simply take the new version.
    other = f"chapters/{CHAPTERS[0]}"
    assert other in report.updated and (ws / other).read_bytes() == files[other].read_bytes()
    lines = "\n".join(report.lines())
    assert f"new version of exercises/{EXERCISES[0]} written beside yours: {beside.relative_to(ws)}" in lines

    # Running again changes nothing more: the edit stays, the beside file is not rewritten.
    beside.write_text("the student looked at it")
    again = course.prepare_workspace(ws, version="0.2.0")
    assert (again.added, again.updated, again.beside) == ([], [], [])
    assert mine.read_bytes() == edited and beside.read_text() == "the student looked at it"


def test_a_folder_without_a_manifest_never_loses_a_file(tmp_path):
    """A notebook of the same name that tipslib did not write is kept; the course's goes beside it."""
    ws = tmp_path / "ws"
    (ws / "exercises").mkdir(parents=True)
    (ws / "exercises" / EXERCISES[0]).write_text("my own notes")
    report = course.prepare_workspace(ws, version="9.9")
    assert (ws / "exercises" / EXERCISES[0]).read_text() == "my own notes"
    assert (ws / "exercises" / f"{Path(EXERCISES[0]).stem}.new-9.9.ipynb").is_file()
    assert len(report.beside) == 1


def test_the_course_folder_must_be_outside_the_package(tmp_path, capsys):
    inside = Path(tipslib.__file__).parent / "my-course"
    code, out = run_course(inside, "--no-lab", capsys=capsys)
    assert code == 2 and "outside the installed package" in out.err
    assert not inside.exists()


def test_course_starts_jupyterlab_on_the_folder_with_the_start_page(tmp_path, monkeypatch, capsys):
    import subprocess as sp

    calls = []

    class Lab:
        def __init__(self, cmd, **kw):
            calls.append((cmd, kw))

        def wait(self):
            return 0

    monkeypatch.setattr(sp, "Popen", Lab)
    ws = tmp_path / "ws"
    code, _ = run_course(ws, "--no-browser", "--port", "9999", capsys=capsys)
    assert code == 0 and len(calls) == 1
    cmd, kw = calls[0]
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={ws}" in cmd
    assert f"--ServerApp.file_to_run={ws / course.START_PAGE}" in cmd
    assert "--no-browser" in cmd and "--port=9999" in cmd
    assert f"--LabApp.default_url=/lab/tree/{course.START_PAGE}" in cmd  # the address it prints opens the start page
    # JupyterLab's terminal starts in the folder and finds this Python's `tipslib`.
    assert kw["cwd"] == ws
    assert kw["env"]["PATH"].split(":")[0] == str(Path(sys.executable).parent)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_the_address_jupyterlab_prints_opens_the_start_page(tmp_path):
    """With --no-browser (a remote machine, a container) the student pastes the address JupyterLab
    prints; it opened /lab, without the start page the README promises."""
    import re
    import signal
    import socket
    import subprocess as sp
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = sp.Popen([sys.executable, "-m", "tipslib.cli", "course", str(tmp_path / "ws"), "--no-browser",
                     "--port", str(port)], stdout=sp.DEVNULL, stderr=sp.PIPE, text=True, start_new_session=True)
    try:
        url = None
        for line in proc.stderr:
            found = re.search(rf"(http://127\.0\.0\.1:{port}/\S*\?token=\w+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "JupyterLab printed no address"
        assert f"/lab/tree/{course.START_PAGE}?token=" in url, url
        for _ in range(60):  # the address is printed just before the server listens
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    assert r.status == 200
                break
            except urllib.error.URLError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"{url} never answered")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_ctrl_c_stops_jupyterlab_without_a_traceback(tmp_path):
    """Ctrl+C goes to the whole foreground process group: JupyterLab and `tipslib course`. Here a
    stand-in for JupyterLab says when it is up and exits 0 on Ctrl+C; `tipslib course` must wait
    for it and end with its exit code, not with a KeyboardInterrupt traceback."""
    import signal
    import subprocess as sp

    fake = tmp_path / "fake" / "jupyterlab"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        "import time\n"
        "try:\n    print('lab is up', flush=True)\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    print('lab stopped', flush=True)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]))
    proc = sp.Popen([sys.executable, "-m", "tipslib.cli", "course", str(tmp_path / "ws"), "--no-browser"],
                    stdout=sp.PIPE, stderr=sp.PIPE, text=True, env=env, start_new_session=True)
    try:
        for line in proc.stdout:
            if line.strip() == "lab is up":
                break
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "lab stopped" in out
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.slow
def test_tipslib_check_works_in_the_course_folder(tmp_path, capsys):
    """As from JupyterLab's terminal (it starts in the folder): a relative path to an exercise.
    With the instructor's answers pasted into the student's copy, every visible test passes."""
    import nbformat

    ws = tmp_path / "ws"
    run_course(ws, "--no-lab", capsys=capsys)
    name = "regularization.ipynb"
    student = nbformat.read(ws / "exercises" / name, as_version=4)
    source = nbformat.read(REPO / "exercises" / "source" / name, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in student.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nbformat.write(student, ws / "exercises" / name)

    result = subprocess.run(["tipslib", "check", f"exercises/{name}"], cwd=ws, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"(\d+)/\1 visible tests pass", result.stdout), result.stdout
    stub = subprocess.run(["tipslib", "check", "exercises/good_practices.ipynb"], cwd=ws, capture_output=True,
                          text=True, timeout=300)
    assert stub.returncode != 0 and "not implemented yet" in stub.stdout
