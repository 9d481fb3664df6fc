"""tipslib check: passes on a released notebook filled with the solutions, fails politely on the untouched one."""

import importlib.util
import io
from multiprocessing.pool import ThreadPool
from pathlib import Path

import pytest

from tipslib.grading import notebook as nbk
from tipslib.grading.check import HIDDEN_NOTE, check
from tipslib.grading.release import release_notebook

_spec = importlib.util.spec_from_file_location("nbtools", Path(__file__).parent / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

REPO = Path(__file__).resolve().parents[1]
SOURCES = [nbt.SAMPLE] + sorted(nbt.REAL_SOURCE.glob("*.ipynb"))


def filled(source_nb):
    """The released notebook with the instructor's answers typed in."""
    nb = release_notebook(source_nb)
    answers = {nbk.grade_id(c): nbk.source_of(c) for c in source_nb["cells"] if nbk.is_answer(c)}
    for c in nb["cells"]:
        if nbk.is_answer(c):
            c["source"] = answers[nbk.grade_id(c)]
    return nb


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every check run once, a few at a time (each is a fresh Python)."""
    tmp = tmp_path_factory.mktemp("check")
    runs = []
    for p in SOURCES:
        src = nbk.load(p)
        runs.append(((p.stem, "filled"), nbt.write(filled(src), tmp / "filled" / p.name)))
        runs.append(((p.stem, "released"), nbt.write(release_notebook(src), tmp / "released" / p.name)))
    mutant = nbt.mutate(filled(nbt.load()), "mse", "np.mean(", "np.sum(")
    runs.append((("sample", "mutant"), nbt.write(mutant, tmp / "mutant" / "sample.ipynb")))
    regularization = REPO / "exercises" / "source" / "regularization.ipynb"
    off = nbt.mutate(filled(nbk.load(regularization)), "dropout_forward", "return x * mask / (1 - p), mask",
                     "return x * mask / (1 - p) + 0.01, mask")           # matches no hint: only the values help
    runs.append((("regularization", "off"), nbt.write(off, tmp / "off" / "regularization.ipynb")))
    bad = tmp / "bad.ipynb"
    bad.write_text("{ nope")
    runs.append((("bad", "bad"), bad))

    def one(item):
        key, path = item
        out = io.StringIO()
        return key, (check(path, out=out), out.getvalue())

    with ThreadPool(3) as pool:
        return dict(pool.map(one, runs))


@pytest.mark.parametrize("name", [p.stem for p in SOURCES])
def test_check_passes_when_filled_with_the_solutions(outcomes, name):
    code, text = outcomes[(name, "filled")]
    assert code == 0, text
    assert "FAIL" not in text and HIDDEN_NOTE in text


@pytest.mark.parametrize("name", [p.stem for p in SOURCES])
def test_check_fails_politely_on_the_untouched_release(outcomes, name):
    code, text = outcomes[(name, "released")]
    assert code == 1
    assert "Traceback" not in text and "not implemented yet" in text and HIDDEN_NOTE in text
    assert len(text.splitlines()) < 40  # one line per test, no spam


def test_check_shows_the_hint(outcomes):
    code, text = outcomes[("sample", "mutant")]
    assert code == 1 and "FAIL  test_mse (1 point): mse of 3 values: wrong result. Hint: sum instead of mean." in text
    assert "PASS  test_adam (3 points)" in text


def test_check_refuses_an_unreadable_notebook(outcomes):
    code, text = outcomes[("bad", "bad")]
    assert code == 2 and "not a readable notebook" in text


@pytest.mark.parametrize("which", ["a chapter", "an exercise whose metadata was stripped"])
def test_check_says_when_a_notebook_is_not_an_exercise(which, tmp_path):
    """A chapter, the start page or an exercise whose cells lost their nbgrader metadata has no test
    cells: '0/0 visible tests pass' would read as a result, so the check refuses it instead."""
    nb = nbk.load(REPO / "notebooks" / "05_good_practices.ipynb") if which == "a chapter" else nbk.load(SOURCES[-1])
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("nbgrader", None)
    path = nbt.write(nb, tmp_path / "some.ipynb")
    out = io.StringIO()
    assert check(path, out=out) == 2
    assert "not an exercise notebook" in out.getvalue() and "0/0" not in out.getvalue()


def test_a_wrong_array_is_shown_whole_expected_and_received(outcomes):
    """A 2-D expected value spans several lines; cut to its first line, it shows neither its last row
    nor what the answer returned, and the student cannot see what to fix."""
    code, text = outcomes[("regularization", "off")]
    fail = text.split("FAIL  test_dropout_forward", 1)[1].split("  PASS", 1)[0]
    assert code == 1 and "expected" in fail and "got" in fail, text
    assert fail.count("[") >= 4, fail       # both arrays, row by row


@pytest.mark.parametrize("where", ["test", "answer"])
def test_the_time_limit_names_what_was_running(where, tmp_path):
    # an endless loop reached from a test cell (the usual case: the answer is called there) or run by
    # the answer cell itself; every test after it said only "did not run (...: time limit)"
    loop = "def adam_step(*args, **kwargs):\n    while True:\n        pass\n" if where == "test" else "while True:\n    pass\n"
    path = nbt.write(nbt.with_answer(filled(nbt.load()), "adam_step", loop), tmp_path / "sample.ipynb")
    out = io.StringIO()
    assert check(path, timeout=6, out=out) == 1
    text = out.getvalue()
    said = "still running at the time limit (6 s): an endless loop"
    if where == "test":
        assert f"FAIL  test_adam (3 points): {said}" in text, text
    else:
        assert f"note: cell adam_step was {said}" in text, text
    assert "did not run (the run stopped earlier: time limit)" in text, text


def test_a_missing_notebook_says_where_to_run_the_check(tmp_path, monkeypatch):
    # `tipslib check exercises/regularization.ipynb` typed outside the course folder said only
    # "regularization.ipynb is not a readable notebook (FileNotFoundError)"
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert check("exercises/regularization.ipynb", out=out) == 2
    text = out.getvalue()
    assert "no such file in " + str(tmp_path) in text and "from the course folder" in text, text
    out = io.StringIO()                        # an absolute path names no folder it was looked for in
    assert check(str(tmp_path / "nowhere.ipynb"), out=out) == 2
    assert "there is no such file. " in out.getvalue(), out.getvalue()


def test_a_broken_notebook_says_how_to_get_a_fresh_copy(outcomes):
    code, text = outcomes[("bad", "bad")]
    assert code == 2 and "run `tipslib course` again" in text, text


def _tiny(test_source="x = 1\n", points=1):
    """A notebook of one test cell (fast to check: nothing is imported)."""
    meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": "test_x", "points": points,
                         "schema_version": 3}}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "metadata": meta, "source": test_source, "outputs": [], "execution_count": None}]}


@pytest.mark.parametrize("what", ["a 5000-digit number", "a hidden block without its end", "points past float",
                                  "two hidden blocks nested", "an end marker alone"])
def test_check_survives_a_malformed_notebook(what, tmp_path):
    """A student's notebook is whatever their editor (or they) wrote: ``tipslib check`` answers with a
    sentence and an exit code, never a traceback."""
    path = tmp_path / "mine.ipynb"
    if what == "a 5000-digit number":
        text = __import__("json").dumps(_tiny())
        path.write_text(text[:-1] + ', "n": ' + "1" * 5000 + "}")
    elif what == "a hidden block without its end":
        nbt.write(_tiny("x = 1\n# BEGIN HIDDEN TESTS\ny = 2\n"), path)
    elif what == "points past float":
        nbt.write(_tiny(points=10**400), path)
    elif what == "an end marker alone":  # the visible checks still run, all of them
        nbt.write(_tiny("from tipslib.grading.testing import expect\nexpect('one', 1, 1)\n# END HIDDEN TESTS\n"
                        "expect('two', 2, 3)"), path)
    else:
        nbt.write(_tiny("x = 1\n# BEGIN HIDDEN TESTS\n# BEGIN HIDDEN TESTS\ny = 2\n# END HIDDEN TESTS\n"), path)
    out = io.StringIO()
    code = check(path, out=out)  # raised ValueError / OverflowError before
    assert code in (1, 2) or (code == 0 and "PASS" in out.getvalue()), out.getvalue()
    assert out.getvalue().strip()
    if what == "an end marker alone":
        assert code == 1 and "two: expected" in out.getvalue(), out.getvalue()
