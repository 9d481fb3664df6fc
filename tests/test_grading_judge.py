"""The judge: reference solutions score full marks, each classic mistake loses exactly
its test and gets its hint, and the plain-data channel rejects anything malformed."""

import base64
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tipslib.grading import feedback, plain
from tipslib.grading import notebook as nbk
from tipslib.grading.grade import Grader, Submission, load_exercises
from tipslib.grading.judge import Exercise, parse_run, static_forbidden
from tipslib.grading.sandbox import Sandbox, features

_spec = importlib.util.spec_from_file_location("nbtools", Path(__file__).parent / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

HAVE_REAL = all((nbt.REAL_SOURCE / f"{e}.ipynb").exists() for e in nbt.REAL_IDS)


def _grade(grader, tmp_path, name, nb):
    path = nbt.write(nb, tmp_path / name / "submission.ipynb")
    rows, text = grader.grade_student(Submission(name, [path], path.parent))
    return rows, text


@pytest.fixture(scope="module")
def sample_grader(tmp_path_factory):
    src = tmp_path_factory.mktemp("sample_src")
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    with Grader(load_exercises(src), jobs=1, timeout=20, memory_mb=500) as g:
        yield g


def points(rows):
    (row,) = rows
    return {k[1]: float(v) for k, v in row.items() if isinstance(k, tuple)}


def test_sample_solution_scores_full_marks(sample_grader, tmp_path):
    rows, text = _grade(sample_grader, tmp_path, "ref", nbt.load())
    assert rows[0]["status"] == "ok" and rows[0]["total"] == rows[0]["max"] == "6"
    assert "hidden check 1" in text


SAMPLE_MUTANTS = [
    ("adam_step", "(np.sqrt(v_hat) + eps)", "np.sqrt(v_hat + eps)", "test_adam", "eps is inside the square root"),
    ("adam_step", "m / (1 - beta1**t)", "m", "test_adam", None),  # only m: no hint matches, still fails
    ("adam_step", "m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)", "m_hat, v_hat = m, v",
     "test_adam", "no bias correction of m and v"),
    ("dropout_forward", "mask = u >= p\n    return x * mask / (1 - p)", "mask = u < p\n    return x * mask / p",
     "test_dropout", "p used as the keep probability"),
    ("mse", "np.mean(", "np.sum(", "test_mse", "sum instead of mean"),
]


@pytest.mark.parametrize("gid, old, new, test, hint", SAMPLE_MUTANTS)
def test_sample_mutant_loses_exactly_its_test(sample_grader, tmp_path, gid, old, new, test, hint):
    rows, text = _grade(sample_grader, tmp_path, "mutant", nbt.mutate(nbt.load(), gid, old, new))
    got = points(rows)
    full = {"test_adam": 3, "test_dropout": 2, "test_mse": 1}
    assert got == {**full, test: 0.0}
    if hint:
        assert f"Hint: {hint}" in text
        assert hint not in rows[0]["notes"]  # the CSV carries scores and short notes only
    else:
        assert "Hint:" not in text


def test_an_unreadable_notebook_of_no_exercise_is_named_in_the_missing_rows(tmp_path):
    # with several exercises a broken "homework.ipynb" cannot be attributed; the rows still say why
    other = nbt.load()
    other["metadata"]["tipslib"]["exercise"] = "other"
    exercises = {e.id: e for e in (Exercise.from_notebook(nbt.load()), Exercise.from_notebook(other))}
    broken = tmp_path / "s" / "homework.ipynb"
    broken.parent.mkdir()
    broken.write_text('{"cells": [')
    with Grader(exercises, timeout=20, memory_mb=500) as grader:
        rows, text = grader.grade_student(Submission("s", [broken], broken.parent))
    assert [r["status"] for r in rows] == ["missing", "missing"]
    assert all("homework.ipynb: not a readable notebook" in r["notes"] for r in rows) and "homework.ipynb" in text


def test_a_link_to_the_solutions_is_not_graded(sample_grader, tmp_path):
    folder = tmp_path / "linker"
    folder.mkdir()
    (folder / "sample.ipynb").symlink_to(nbt.SAMPLE)  # the instructor's source, solutions included
    (row,), _ = sample_grader.grade_student(Submission("linker", [folder / "sample.ipynb"], folder))
    assert (row["status"], row["total"]) == ("invalid notebook", "0") and "symbolic link" in row["notes"]


def test_switching_the_guard_off_and_on_around_the_reference_is_caught(sample_grader, tmp_path):
    src = ("import importlib, sys\n\nO = importlib.import_module('tipslib.' + 'optim' + '.numpy_impl')\n\n"
           "def adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n"
           "    w, m, v = w.copy(), m.copy(), v.copy()\n"
           "    guard = sys.getprofile()\n    sys.setprofile(None)\n"
           "    getattr(O, 'adam_' + 'step')(w, g, m, v, None, t, lr=lr, betas=(beta1, beta2), eps=eps)\n"
           "    sys.setprofile(guard)\n    return w, m, v\n")
    rows, _ = _grade(sample_grader, tmp_path, "unguard", nbt.with_answer(nbt.load(), "adam_step", src))
    assert points(rows) == {"test_adam": 0, "test_dropout": 2, "test_mse": 1}


def test_feedback_names_the_expected_shape_of_a_visible_check_only(sample_grader, tmp_path):
    # the student's own shape is not quoted (its process chose it, and could encode anything in it)
    nb = nbt.with_answer(nbt.load(), "dropout_forward", "def dropout_forward(x, p, u):\n    return x.ravel()\n")
    _, text = _grade(sample_grader, tmp_path, "shape", nb)
    assert "dropout p=0.25: wrong shape (expected (2, 3))" in text
    assert "(6,)" not in text


# ------------------------------------------------------------------ real exercises
@pytest.fixture(scope="module")
def real_grader():
    assert HAVE_REAL, f"every exercise notebook must be in {nbt.REAL_SOURCE}: {nbt.REAL_IDS}"
    with Grader(load_exercises(nbt.REAL_SOURCE), jobs=2, timeout=60, memory_mb=2048) as g:
        yield g


@pytest.mark.parametrize("exercise", nbt.REAL_IDS)
def test_real_reference_solution_scores_full_marks(real_grader, tmp_path, exercise):
    nb = nbt.load(nbt.REAL_SOURCE / f"{exercise}.ipynb")
    path = nbt.write(nb, tmp_path / "s" / f"{exercise}.ipynb")
    rows, _ = real_grader.grade_student(Submission("s", [path], path.parent))
    row = next(r for r in rows if r["exercise"] == exercise)
    assert (row["status"], row["total"]) == ("ok", row["max"]), row["notes"]
    assert float(row["max"]) > 0


REAL_MUTANTS = [
    ("parameter_tuning", "adam_step", "(np.sqrt(v_hat) + eps)", "np.sqrt(v_hat + eps)", "test_adam_step",
     "eps goes OUTSIDE the square root"),
    ("parameter_tuning", "adam_step", "m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)", "m_hat, v_hat = m, v",
     "test_adam_step", "without this bias correction"),
    ("regularization", "dropout_forward", "return x * mask / (1 - p), mask", "return x * mask / p, mask",
     "test_dropout_forward", "p is the probability of DROPPING a unit"),
    ("data_processing", "batchnorm_forward", "momentum * var * n / (n - 1)", "momentum * var",
     "test_batchnorm_forward", "running_var must store the UNBIASED batch variance"),
    # gradient_check calls the student's own numerical_gradient, so its test goes down with it
    ("good_practices", "numerical_gradient", "grad[i] = (f_plus - f_minus) / (2 * h)", "grad[i] = (f_plus - f(x)) / h",
     ("test_numerical_gradient", "test_gradient_check"), "use the CENTERED difference"),
    ("training_a_neural_network", "bce", "np.mean(-(", "np.sum(-(", "test_bce", "MEAN over its examples"),
]


@pytest.mark.parametrize("exercise, gid, old, new, test, hint", REAL_MUTANTS)
def test_real_mutant_loses_exactly_its_test_and_gets_the_hint(real_grader, tmp_path, exercise, gid, old, new, test, hint):
    nb = nbt.mutate(nbt.load(nbt.REAL_SOURCE / f"{exercise}.ipynb"), gid, old, new)
    path = nbt.write(nb, tmp_path / "m" / f"{exercise}.ipynb")
    rows, text = real_grader.grade_student(Submission("m", [path], path.parent))
    row = next(r for r in rows if r["exercise"] == exercise)
    ex = real_grader.exercises[exercise]
    tests = {test} if isinstance(test, str) else set(test)
    lost = {t.grade_id for t in ex.tests if float(row[(exercise, t.grade_id)]) < t.points}
    assert lost == tests
    assert float(row["total"]) == ex.max_points - sum(t.points for t in ex.tests if t.grade_id in tests)
    if not isinstance(test, str):  # a test that goes down with an earlier part points at it
        later = text[text.index(f"### {test[1]}:"):].split("\n### ")[0]
        assert f"calls your {gid} (Part 1: the numerical gradient), whose own test failed too: fix that first" in later
    test = test if isinstance(test, str) else test[0]
    section = text[text.index(f"### {test}:"):].split("\n### ")[0]
    assert any("Hint:" in line and hint in line.split("Hint:", 1)[1] for line in section.splitlines())


# ----------------------------------------------------------- the channel itself
def _exercise():
    return Exercise.from_notebook(nbt.load())


def _arr(shape, nbytes):
    return {"t": "arr", "shape": shape, "b64": base64.b64encode(b"\0" * nbytes).decode()}


@pytest.mark.parametrize("value", [
    {"t": "arr", "shape": [2], "b64": "AAAA"}, _arr([3], 16), _arr([-1], 8), _arr([2**40, 2**40], 8),
    {"t": "pickle", "v": "gASVAAAA"}, {"t": "list", "v": "notalist"}, {"t": "dict", "v": [[1, {"t": "none"}]]},
    {"t": "str", "v": 3}, "plain string", None, {"t": "arr", "shape": [1], "b64": "!!!!!!!!!!!!"}])
def test_decode_rejects_malformed_values(value):
    with pytest.raises(plain.ProtocolError):
        plain.decode(value)


def test_decode_roundtrip_and_compare():
    for v in [1.5, np.arange(6.0).reshape(2, 3), (np.ones(2), {"a": 3}), "x", None, True]:
        got = plain.decode(json.loads(json.dumps(plain.encode(v))))
        assert plain.compare(got, plain.decode(plain.encode(v)))[0]
    assert plain.compare(plain.decode(plain.encode([1.0, 2.0])), np.array([1.0, 2.0]))[0]
    ok, why = plain.compare(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert not ok and "NaN" in why
    # nothing of the actual value beyond its kind; nothing of a hidden expected value
    ok, why = plain.compare({"leak": 1.0, "more": 2.0}, {"a": np.ones(3)}, reveal=False)
    assert (ok, why) == (False, "wrong keys")
    ok, why = plain.compare(np.arange(104.0), np.zeros(3))
    assert why == "wrong shape (expected (3,))"
    ok, why = plain.compare(np.array([1e6, 2.0, 3.0]), np.zeros(3))
    assert why.startswith("values differ") and "1e+06" not in why


def test_compare_takes_a_torch_bool_for_a_bool_like_expect_does():
    import torch

    from tipslib.grading.testing import matches

    for value, want in [(torch.tensor(True), True), (torch.tensor(False), False), (torch.tensor(False), True)]:
        got = plain.decode(json.loads(json.dumps(plain.encode(value))))
        assert plain.compare(got, want)[0] is bool(matches(value, want)) is (bool(value) == want)
    assert not plain.compare(plain.decode(plain.encode(2.0)), True)[0]


def _lines(*msgs):
    return [json.dumps(m).encode() for m in msgs]


REC = {"m": "rec", "cell": 2, "part": "visible", "name": "n", "value": {"t": "none"}, "rtol": 0.1, "atol": 0.1}
END = {"m": "end", "cell": 2, "part": "visible", "error": None}


@pytest.mark.parametrize("lines", [
    _lines(END, REC),                                  # a record after its cell ended
    _lines(END, END),                                  # the same cell twice
    _lines({"m": "done"}, REC),                        # anything after done
    _lines({**REC, "cell": 99}),                       # a cell that does not exist
    _lines({**REC, "rtol": "0.1"}),                    # wrong types
    _lines({"m": "score", "points": 6}),               # an unknown message
    _lines({"m": "forbidden", "function": "nope", "module": "x"}),
    [b"{not json"], [b"[1, 2]"]])
def test_parse_run_flags_tampering(lines):
    run = parse_run(_exercise(), lines, {"exit": 0})
    assert run.tampering


def test_parse_run_accepts_a_clean_sequence():
    run = parse_run(_exercise(), _lines(REC, END, {"m": "done"}), {"exit": 0})
    assert not run.tampering and run.done and run.records[(2, "visible")][0]["value"] is None


@pytest.mark.parametrize("src, flagged", [
    ("from tipslib.optim import numpy_impl\ndef adam_step(*a): pass", True),
    ("import tipslib.optim.numpy_impl as O\ndef adam_step(*a): pass", True),
    ("def adam_step(*a):\n    import tipslib\n    return tipslib.optim.numpy_impl.adam_step(*a)", True),
    ("import importlib\ndef adam_step(*a):\n    return importlib.import_module('tipslib.optim')", True),
    ("from tipslib import optim\ndef adam_step(*a): pass", True),
    ("import tipslib.data\ndef adam_step(*a): pass", False),
    ("def adam_step(*a):\n    return 'optim'", False)])
def test_static_forbidden(src, flagged):
    assert bool(static_forbidden(_exercise(), {"adam_step": src})) is flagged


def test_static_forbidden_charges_a_class_answer_to_its_own_name():
    ex = _exercise()
    ex.forbidden = {"DropoutFunction": ["tipslib.layers"], "adam_step": ["tipslib.layers"]}
    src = "import tipslib.layers\nclass DropoutFunction:\n    pass"
    assert static_forbidden(ex, {"DropoutFunction": src}) == {"DropoutFunction": "tipslib.layers"}


# ------------------------------------------------------------- the sandbox itself
def test_sandbox_isolation(tmp_path):
    secret_dir = Path(__file__).parent / "data" / "grading"
    secret = secret_dir / f".secret-{os.getpid()}"
    secret.write_text("solution")
    os.chmod(secret, 0o600)
    probe = f"""
import os, socket
out = {{"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(os.environ), "tmp": os.listdir('/tmp')}}
for name, fn in [("secret", lambda: open({str(secret)!r}).read()), ("shadow", lambda: open('/etc/shadow').read()),
                 ("socket", lambda: socket.socket()), ("hidden", lambda: os.listdir({str(tmp_path)!r}))]:
    try:
        fn()
        out[name] = "allowed"
    except Exception as exc:
        out[name] = type(exc).__name__
from tipslib.grading.testing import expect
expect("probe", str(out))
"""
    job = {"cells": [{"kind": "test", "grade_id": "t", "parts": [["visible", probe]]}], "record": True}
    try:
        with Sandbox(uid=123_456, hide=[tmp_path]) as sb:
            lines, end = sb.run(job, timeout=20, memory_mb=300)
    finally:
        secret.unlink()
    rec = next(json.loads(l) for l in lines if json.loads(l)["m"] == "rec")
    out = eval(plain.decode(rec["value"]))  # our own probe's repr of plain str/int/list values
    assert out["socket"] == "PermissionError"
    assert set(out["env"]) <= {"PATH", "LANG", "MPLBACKEND", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                               "MKL_NUM_THREADS", "HOME", "TMPDIR", "MPLCONFIGDIR"}
    if features()["uid_switch"]:
        assert out["uid"] == 123_456
        # Unreadable either way: denied by its mode, or not even visible when the
        # checkout lies under /tmp, which the sandbox replaces by a fresh tmpfs.
        assert out["secret"] in ("PermissionError", "FileNotFoundError")
        assert out["shadow"] in ("PermissionError", "FileNotFoundError")  # not in the sandbox's /etc
        assert out["hidden"] == "FileNotFoundError" or out["hidden"] == "allowed" and not os.listdir(tmp_path)
        # /tmp is fresh: the run's own folder, plus the folders that hold Python
        # itself when it is installed under /tmp (a venv in a checkout there, as in CI).
        import sys

        import tipslib
        python_tops = {p.split(os.sep)[2] for p in (sys.prefix, os.path.dirname(tipslib.__file__))
                       if os.path.realpath(p).startswith("/tmp/")}
        own = [name for name in out["tmp"] if name not in python_tops]
        assert len(own) == 1 and out["cwd"].startswith("/tmp/tipslib-sandbox-")


def test_feedback_render_counts_points():
    from tipslib.grading.judge import Check, ExerciseResult, TestResult

    r = ExerciseResult("ex", "Ex", "ok", [TestResult("t1", 2.0, 2.0, [Check("a", False, True)]),
                                          TestResult("t2", 0.0, 3.0, [Check("b", True, False, "values differ", "sum instead of mean")])])
    text = feedback.render("zoe", [r])
    assert "2 / 5 points" in text and "hidden check 1 (b): values differ. Hint: sum instead of mean" in text


def test_sandbox_without_uid_switch_still_limits_and_kills():
    """The fallback used without root: same runner, rlimits and timeouts, no namespaces."""
    job = lambda src: {"cells": [{"kind": "test", "grade_id": "t", "parts": [["visible", src]]}], "record": True}
    with Sandbox(uid=None, isolate=False) as sb:  # the bare zygote of --unsafe
        assert sb.info["network_namespace"] is False
        lines, end = sb.run(job("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
                            timeout=1, memory_mb=200)
        assert end["timed_out"] and end["exit"] == -9
        lines, end = sb.run(job("x = bytearray(2**33)"), timeout=10, memory_mb=200)
        assert b"MemoryError" in b"".join(lines)
        lines, end = sb.run(job("import socket\nsocket.create_connection(('127.0.0.1', 9))"), timeout=10, memory_mb=200)
        assert b"the network is disabled while grading" in b"".join(lines)


def test_errors_show_their_built_in_type_only(sample_grader, tmp_path):
    nb = nbt.with_answer(nbt.load(), "mse", "import numpy as np\n\ndef mse(y, yhat):\n    if len(y) == 6:  # the hidden check\n"
                                            "        raise ValueError('LEAKED ' + repr(y))\n    return np.mean((y - yhat) ** 2)\n")
    rows, text = _grade(sample_grader, tmp_path, "leak", nb)
    assert points(rows)["test_mse"] == 0
    assert "the hidden part of this test stopped with ValueError" in text and "LEAKED" not in text
    nb = nbt.with_answer(nbt.load(), "mse", "def mse(y, yhat):\n    raise ValueError('VISIBLE ' + repr(y))\n")
    rows, text = _grade(sample_grader, tmp_path, "leak1", nb)
    assert "this test stopped with ValueError (tipslib check shows the message)" in text and "VISIBLE" not in text


def test_error_messages_never_quote_the_hidden_tests(sample_grader, tmp_path):
    # the hidden tests are in the sandbox's memory from the start; an answer cell that
    # raises them as its message must not get them back in its feedback
    leak = ("import sys\nimport numpy as np\n\ndef mse(y, yhat):\n    return np.mean((y - yhat) ** 2)\n\n"
            "f = sys._getframe()\nwhile 'job' not in f.f_locals:\n    f = f.f_back\n"
            "hidden = [s for c in f.f_locals['job']['cells'] for p, s in c['parts'] if p == 'hidden']\n"
            "raise type('Leak' + hidden[-1][:60], (ValueError,), {})(hidden[-1][:290])\n")
    rows, text = _grade(sample_grader, tmp_path, "leak2", nbt.with_answer(nbt.load(), "mse", leak))
    assert points(rows)["test_mse"] == 1
    assert "raised an exception when it ran" in text and "Leak" not in text
    assert "normal(size=6)" not in text and "hidden_seed" not in text


@pytest.mark.parametrize("src", ["x = " + "-" * 100_000 + "1\n", "x = " + "a." * 200_000 + "b\n"],
                         ids=["deep-unary", "long-attribute"])
def test_an_answer_the_parser_chokes_on_still_gets_its_row(sample_grader, tmp_path, src):
    # ast.parse raises MemoryError / RecursionError (not SyntaxError) on these
    rows, _ = _grade(sample_grader, tmp_path, "deep", nbt.with_answer(nbt.load(), "mse", src))
    assert points(rows) == {"test_adam": 3, "test_dropout": 2, "test_mse": 0}


# ------------------------------------------------- one student never stops the class
def test_a_crash_of_the_judge_on_one_student_gives_a_crashed_row_and_the_class_goes_on(tmp_path, monkeypatch):
    from tipslib.grading import grade as grade_mod

    real = grade_mod.judge

    def fragile(exercise, scanned, sandbox, reference, **kw):
        if "BREAK THE JUDGE" in scanned.answers.get("mse", ""):
            raise KeyError("\ud800 a bug of the judge")
        return real(exercise, scanned, sandbox, reference, **kw)

    monkeypatch.setattr(grade_mod, "judge", fragile)
    src, subs = tmp_path / "src", tmp_path / "subs"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    nbt.write(nbt.load(), subs / "alice" / "sample.ipynb")
    nbt.write(nbt.with_answer(nbt.load(), "mse", "# BREAK THE JUDGE\n" + nbt.MSE_WRONG), subs / "bob" / "sample.ipynb")
    nbt.write(nbt.load(), subs / "carol" / "sample.ipynb")
    report = grade_mod.grade(src, subs, tmp_path / "out" / "gb.csv", feedback_dir=tmp_path / "fb", timeout=20,
                             memory_mb=500, progress=False, seed=7)
    import csv

    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "out" / "gb.csv", encoding="utf-8"))}
    assert int(report) == 3 and report.seed == 7
    assert [(s, e) for s, e, _ in report.failed] == [("bob", "sample")] and "\\ud800" in report.failed[0][2]
    assert (rows["bob"]["status"], rows["bob"]["total"]) == ("crashed", "0") and "grader failed" in rows["bob"]["notes"]
    assert rows["alice"]["total"] == rows["carol"]["total"] == "6"
    assert "grader problem" in (tmp_path / "fb" / "bob.md").read_text()


def test_a_notebook_too_big_to_read_in_memory_is_invalid_and_says_why(sample_grader, tmp_path):
    # 19 MB of empty lists (under the 20 MB cap) is about 330 MB of Python lists: past the scan's limit
    n = (nbk.MAX_NOTEBOOK_BYTES - 100) // 3
    path = tmp_path / "eve" / "sample.ipynb"
    path.parent.mkdir()
    path.write_bytes(b'{"cells": [' + b"[]," * (n - 1) + b'[]], "metadata": {}}')
    failed_before = len(sample_grader.failed)
    rows, text = sample_grader.grade_student(Submission("eve", [path], path.parent))
    (row,) = rows
    assert row["status"] == "invalid notebook" and "it needed too much memory" in row["notes"], row
    assert len(sample_grader.failed) == failed_before  # the student's notebook, not a failure of the grader


def test_a_sandbox_that_cannot_prepare_runs_is_the_graders_failure_not_the_students(tmp_path, monkeypatch):
    # the grader's sandboxes bind a one-file module under /tmp back into each run (as torch 2.6 leaves
    # one after a torch.compile); once it is gone, no run can start. That must read as the grader's
    # failure, named for the instructor, not as "your notebook needed too much memory".
    src, folder = tmp_path / "src", Path(tempfile.mkdtemp(dir="/tmp"))
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    name = f"tipslib_gone_{os.getpid()}"
    (folder / f"{name}.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(sys.modules, name, importlib.import_module(name))
    exercises = load_exercises(src)
    exercises["sample"].preload.append(name)
    try:
        with Grader(exercises, jobs=1, timeout=20, memory_mb=500) as g:
            alice = nbt.write(nbt.load(), tmp_path / "alice" / "sample.ipynb")
            rows, _ = g.grade_student(Submission("alice", [alice], alice.parent))
            assert (rows[0]["status"], rows[0]["total"]) == ("ok", "6")
            shutil.rmtree(folder)
            rows, text = g.grade_student(Submission("alice", [alice], alice.parent))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    (row,) = rows
    assert row["status"] == "crashed" and "grader problem, not yours" in text and "memory" not in text, text
    ((student, ex, why),) = g.failed
    assert (student, ex) == ("alice", "sample")
    assert "could not prepare a run" in why and f"{name}.py" in why, why


def test_feedback_is_capped_and_says_so():
    from tipslib.grading.judge import Check, ExerciseResult, TestResult

    checks = [Check(f"check {i} " + "x" * 150, False, False, "values differ") for i in range(2000)]
    text = feedback.render("zoe", [ExerciseResult("ex", "Ex", "ok", [TestResult("t1", 0.0, 2.0, checks)])])
    assert len(text.encode()) <= feedback.MAX_FEEDBACK and "This feedback was cut at 64 KB" in text


def test_stripped_tests_keep_what_computes_the_actual_and_nothing_else():
    from tipslib.grading.judge import strip_expected

    src = ("W = 'a hint'\n\ndef ref(x):\n    return 2 * x\n\ndef check(label, x, want):\n"
           "    expect(label, f(x), want, rtol=1e-3, hints={W: ref(x) + 1})\n\n"
           "x = rng.normal(size=3)\nexact = ref(x)\ncheck('a', x, exact)\nexpect('b', f(x), expected=ref(x))\n")
    (out,) = strip_expected([src], keep={"f"})
    assert out == ("def check(label, x):\n    expect(label, f(x), rtol=0.001)\nx = rng.normal(size=3)\n"
                   "check('a', x)\nexpect('b', f(x))")
