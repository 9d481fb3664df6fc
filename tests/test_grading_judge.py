"""The judge: reference solutions score full marks, each classic mistake loses exactly
its test and gets its hint, and the plain-data channel rejects anything malformed."""

import base64
import importlib.util
import json
import os
import re
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


# The recorder patched to read the test's own variables (the auditor's A7): whatever the test
# code computed only for the expected side (``want = torch_bn(...)``, ``want.backward()``, a
# reference's running statistics) must not exist in the student's process to be read.
STEAL_WANT = """import sys
import tipslib.grading.testing as T
_R = T._RECORDER
def _steal(name, actual, expected=None, **k):
    f = sys._getframe(2)                       # the test code that called expect()
    L, G = f.f_locals, f.f_globals
    want, ref = L.get('want', G.get('want')), L.get('ref', G.get('ref'))
    end = name.rsplit(': ', 1)[-1]
    pick = {'out': 0, 'running_mean': 1, 'running_var': 2, 'dx': 0, 'dgamma': 1, 'dbeta': 2,
            'dweight': 1, 'dbias': 2}
    try:
        if want is not None:
            if end in pick and isinstance(want, tuple):
                actual = want[pick[end]]
            elif end in ('output', 'loss'):
                actual = want.detach()
            elif end.startswith('gradients of x'):
                actual = [t.grad for t in ref]
            elif end == 'gradient of the logits':
                actual = ref.grad
            elif name.startswith('evaluation mode: out'):
                actual = want[0]
        if name.startswith('evaluation mode: running statistics'):
            actual = [G['rm_before'], G['rv_before']]
        elif name.startswith('running statistics after'):
            actual = [G['trm'], G['trv']]
    except Exception:
        pass
    return _R(name, actual, expected, **k)
T._RECORDER = _steal
"""
TRIVIAL = {  # exercise: (the answer cell that holds everything, the graded cells left empty, trivial answers)
    "data_processing": ("hflip", ("batchnorm_forward", "batchnorm_backward", "batchnorm_torch"),
                        "def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1,"
                        " eps=1e-5):\n    return x, running_mean, running_var\n\n"
                        "def batchnorm_backward(dout, x, gamma, eps=1e-5):\n    return dout, gamma, gamma\n\n"
                        "def batchnorm_torch(x, gamma, beta, eps=1e-5):\n    return x * gamma + beta\n"),
    "training_a_neural_network": ("bce", ("linear_backward", "softmax_cross_entropy"),
                                  "def linear_backward(dout, x, weight):\n    return x, weight, weight[:, 0]\n\n"
                                  "def softmax_cross_entropy(logits, target):\n    return logits.sum() * 0\n"),
}


@pytest.mark.parametrize("exercise", sorted(TRIVIAL))
def test_a_recorder_reading_the_tests_variables_finds_no_expected_value(real_grader, tmp_path, exercise):
    first, empty, trivial = TRIVIAL[exercise]
    ex = real_grader.exercises[exercise]
    totals = {}
    for student, prefix in (("steal", STEAL_WANT), ("control", "")):
        nb = nbt.load(nbt.REAL_SOURCE / f"{exercise}.ipynb")
        for gid in ex.answers:
            nb = nbt.with_answer(nb, gid, prefix + trivial if gid == first else "pass\n" if gid in empty else ex.stubs[gid])
        path = nbt.write(nb, tmp_path / student / f"{exercise}.ipynb")
        rows, _ = real_grader.grade_student(Submission(student, [path], path.parent))
        row = next(r for r in rows if r["exercise"] == exercise)
        totals[student] = (row["status"], float(row["total"]))
    assert totals == {"steal": ("ok", 0.0), "control": ("ok", 0.0)}


# What the auditor used in place of writing the function (A6, A8); the names are spelled so that
# only the run itself, not the scan of the source, can tell.
TORCH_OPTIM = """import torch
OPTIM = getattr(torch, 'op' + 'tim')

def adam_step(w, dw, m, v, t, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    p = torch.tensor(w, requires_grad=True); p.grad = torch.tensor(dw)
    o = getattr(OPTIM, 'Ad' + 'am')([p], lr=lr, betas=betas, eps=eps)
    o.state[p] = {'step': torch.tensor(float(t - 1)), 'exp_avg': torch.tensor(m), 'exp_avg_sq': torch.tensor(v)}
    o.step(); s = o.state[p]
    return p.detach().numpy(), s['exp_avg'].numpy(), s['exp_avg_sq'].numpy()

def rmsprop_step(w, dw, square_avg, *, lr=0.01, alpha=0.99, eps=1e-8):
    p = torch.tensor(w, requires_grad=True); p.grad = torch.tensor(dw)
    o = getattr(OPTIM, 'RMS' + 'prop')([p], lr=lr, alpha=alpha, eps=eps)
    o.state[p] = {'step': torch.tensor(0.0), 'square_avg': torch.tensor(square_avg)}
    o.step()
    return p.detach().numpy(), o.state[p]['square_avg'].numpy()
"""
ATEN = "import torch\nATEN = getattr(getattr(torch, 'o' + 'ps'), 'at' + 'en')\n\n"
BUILT_IN_INSTEAD = [
    ("parameter_tuning", {"rmsprop_step": TORCH_OPTIM, "adam_step": "pass\n"}, {"test_adam_step", "test_rmsprop_step"},
     ["adam_step uses torch.optim", "rmsprop_step uses torch.optim"]),
    ("data_processing", {"batchnorm_torch": ATEN + "def batchnorm_torch(x, gamma, beta, eps=1e-5):\n"
                         "    return getattr(ATEN, 'native_' + 'batch_norm')(x, gamma, beta, None, None, True, 0.0, eps)[0]\n"},
     {"test_batchnorm_torch"}, ["batchnorm_torch uses torch.ops"]),
    ("training_a_neural_network", {"softmax_cross_entropy": ATEN + "def softmax_cross_entropy(logits, target):\n"
                                   "    return getattr(ATEN, 'cross_entropy' + '_loss')(logits, target)\n"},
     {"test_softmax_cross_entropy"}, ["softmax_cross_entropy uses torch.ops"]),
    ("training_a_neural_network", {"softmax_cross_entropy": "def softmax_cross_entropy(logits, target):\n"
                                   "    return -logits.log_softmax(1).gather(1, target[:, None]).mean()\n"},
     {"test_softmax_cross_entropy"}, ["softmax_cross_entropy uses torch.Tensor.log_softmax"]),
    # instance norm and layer norm are forbidden; group norm, one group per feature over the batch turned
    # into positions, is batch norm exactly, forward and backward
    ("data_processing", {"batchnorm_torch": "import torch\n\ndef batchnorm_torch(x, gamma, beta, eps=1e-5):\n"
                         "    return torch.group_norm(x.t().unsqueeze(0), x.shape[1], gamma, beta, eps)[0].t()\n"},
     {"test_batchnorm_torch"}, ["batchnorm_torch uses torch.group_norm"]),
    # log-sum-exp is forbidden; its running form, whose last column is the same number, and a fold of the
    # pairwise one were not: each is the stable log-sum-exp the exercise asks for, in one call
    ("training_a_neural_network", {"softmax_cross_entropy": "def softmax_cross_entropy(logits, target):\n"
                                   "    lse = logits.logcumsumexp(1)[:, -1]\n"
                                   "    return (lse - logits.gather(1, target[:, None]).squeeze(1)).mean()\n"},
     {"test_softmax_cross_entropy"}, ["softmax_cross_entropy uses torch.Tensor.logcumsumexp"]),
    ("training_a_neural_network", {"softmax_cross_entropy": "import functools, torch\n\n"
                                   "def softmax_cross_entropy(logits, target):\n"
                                   "    lse = functools.reduce(torch.logaddexp, logits.unbind(1))\n"
                                   "    return (lse - logits.gather(1, target[:, None]).squeeze(1)).mean()\n"},
     {"test_softmax_cross_entropy"}, ["softmax_cross_entropy uses torch.logaddexp"]),
]


@pytest.mark.parametrize("exercise, answers, lost, notes", BUILT_IN_INSTEAD, ids=["torch.optim", "aten batch norm",
                                                                                 "aten cross-entropy", "log_softmax method",
                                                                                 "group norm", "logcumsumexp method", "logaddexp fold"])
def test_a_library_routine_in_place_of_the_answer_scores_zero(real_grader, tmp_path, exercise, answers, lost, notes):
    nb = nbt.load(nbt.REAL_SOURCE / f"{exercise}.ipynb")
    for gid, src in answers.items():
        nb = nbt.with_answer(nb, gid, src)
    path = nbt.write(nb, tmp_path / "s" / f"{exercise}.ipynb")
    rows, text = real_grader.grade_student(Submission("s", [path], path.parent))
    row = next(r for r in rows if r["exercise"] == exercise)
    ex = real_grader.exercises[exercise]
    assert {t.grade_id for t in ex.tests if float(row[(exercise, t.grade_id)]) < t.points} == lost, row["notes"]
    assert float(row["total"]) == ex.max_points - sum(t.points for t in ex.tests if t.grade_id in lost)
    for note in notes:
        assert f"{note}, which it must not" in row["notes"], row["notes"]


# The auditor's A1-A4: switch the forbidden-call check off from inside the run, then call the
# library's own optimizer steps. The library's topic packages are not in the run at all (nor
# readable) where the sandbox can mount; the same tricks around torch.optim (which the run must
# keep) meet guards that hold what they use and notice being switched off.
_REFERENCE = ("import importlib\nO = importlib.import_module('tipslib.' + 'optim' + '.numpy_impl')\n"
              "STEP = lambda name: getattr(O, name + '_step')\n")
_TORCH = ("import torch\nOPT = getattr(torch, 'op' + 'tim')\n\n"
          "def _torch_adam(w, dw, m, v, _, t, *, lr, betas, eps):\n"
          "    p = torch.tensor(w, requires_grad=True); p.grad = torch.tensor(dw)\n"
          "    o = getattr(OPT, 'Ad' + 'am')([p], lr=lr, betas=betas, eps=eps)\n"
          "    o.state[p] = {'step': torch.tensor(float(t - 1)), 'exp_avg': torch.tensor(m), 'exp_avg_sq': torch.tensor(v)}\n"
          "    o.step()\n    w[...], m[...], v[...] = p.detach().numpy(), o.state[p]['exp_avg'].numpy(), o.state[p]['exp_avg_sq'].numpy()\n\n"
          "def _torch_rmsprop(w, dw, s, _, __, *, lr, alpha, eps):\n"
          "    p = torch.tensor(w, requires_grad=True); p.grad = torch.tensor(dw)\n"
          "    o = getattr(OPT, 'RMS' + 'prop')([p], lr=lr, alpha=alpha, eps=eps)\n"
          "    o.state[p] = {'step': torch.tensor(0.0), 'square_avg': torch.tensor(s)}\n"
          "    o.step()\n    w[...], s[...] = p.detach().numpy(), o.state[p]['square_avg'].numpy()\n\n"
          "STEP = lambda name: {'adam': _torch_adam, 'rmsprop': _torch_rmsprop}[name]\n")
_CALL = "STEP('{0}')"
SWITCH_OFF = {
    "A1_patch_channel": ("import sys\n_R = sys.modules['tipslib.grading._runner']\n_send = _R._Channel.send\n"
                         "def _quiet(self, obj):\n    if isinstance(obj, dict) and obj.get('m') == 'forbidden':\n        return\n"
                         "    return _send(self, obj)\n_R._Channel.send = _quiet\n"
                         "_R._Tools.__init__ = lambda self, fd: None\n", _CALL),
    "A2_patch_targets": ("import sys\nsys.modules['tipslib.grading._runner']._Targets.hit = lambda self, event, frame, arg: None\n",
                         _CALL),
    "A3_ctypes_profile": ("import sys, ctypes\n_off = ctypes.pythonapi.PyEval_SetProfile\n"
                          "def _unwatched(fn):\n    def run(*a, **k):\n        p = sys.getprofile()\n        _off(None, None)\n"
                          "        try:\n            return fn(*a, **k)\n        finally:\n            sys.setprofile(p)\n    return run\n",
                          "_unwatched(STEP('{0}'))"),
    "A4_profiler_reentry": ("import types\nclass _Box:\n    job = None\n    def __repr__(self):\n"
                            "        j, _Box.job = _Box.job, None\n        if j is not None:\n            j()\n        return 'box'\n"
                            "    __hash__ = lambda self: (self.__repr__(), 0)[1]\n"
                            "def _template():\n    x = 1; y = 2; z = x + y; x = z * y; y = x - z; z = x + y + z; x = y * z * x; y = x + z + y + 1\n"
                            "    return None\n_n = [0]\n"
                            "def _in_profiler(fn):\n    def run(*a, **k):\n        _n[0] += 1\n"
                            "        code = _template.__code__.replace(co_consts=_template.__code__.co_consts + (_Box(),), co_name='t%d' % _n[0])\n"
                            "        _Box.job = lambda: fn(*a, **k)\n        types.FunctionType(code, {{}})()\n    return run\n",
                            "_in_profiler(STEP('{0}'))"),
}


def _switch_off_answers(trick, library):
    prelude, call = SWITCH_OFF[trick]
    rms, adam = call.format("rmsprop"), call.format("adam")
    return {"rmsprop_step": library + prelude.replace("{{", "{").replace("}}", "}") +
            "\ndef rmsprop_step(w, dw, square_avg, *, lr=0.01, alpha=0.99, eps=1e-8):\n"
            "    w, s = w.copy(), square_avg.copy()\n"
            f"    {rms}(w, dw, s, None, None, lr=lr, alpha=alpha, eps=eps)\n    return w, s\n\n"
            "def adam_step(w, dw, m, v, t, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
            "    w, m, v = w.copy(), m.copy(), v.copy()\n"
            f"    {adam}(w, dw, m, v, None, t, lr=lr, betas=betas, eps=eps)\n    return w, m, v\n",
            "adam_step": "pass\n"}


@pytest.mark.parametrize("library", ["tipslib", "torch"])
@pytest.mark.parametrize("trick", sorted(SWITCH_OFF))
def test_switching_the_check_off_from_inside_the_run_scores_zero(real_grader, tmp_path, trick, library):
    nb = nbt.load(nbt.REAL_SOURCE / "parameter_tuning.ipynb")
    for gid, src in _switch_off_answers(trick, _REFERENCE if library == "tipslib" else _TORCH).items():
        nb = nbt.with_answer(nb, gid, src)
    path = nbt.write(nb, tmp_path / trick / "parameter_tuning.ipynb")
    rows, text = real_grader.grade_student(Submission(trick, [path], path.parent))
    row = next(r for r in rows if r["exercise"] == "parameter_tuning")
    got = {k[1]: float(v) for k, v in row.items() if isinstance(k, tuple)}
    assert got == {"test_xavier_uniform": 2, "test_xavier_uniform_": 2, "test_momentum_step": 3,
                   "test_rmsprop_step": 0, "test_adam_step": 0}, row["notes"]
    if library == "tipslib" and features()["isolated"]:  # the library's package is not there at all
        assert "your answer cell 'rmsprop_step' raised ImportError when it ran" in text, text
        assert "rmsprop_step uses tipslib.optim, which it must not" in row["notes"], row["notes"]


def test_a_run_cannot_reach_the_packages_its_exercise_forbids(tmp_path):
    # neither import, nor open(), nor the garbage collector finds tipslib.optim in the run; an
    # exercise that does not forbid it still can use it
    if not features()["isolated"]:
        pytest.skip("without the sandbox (and without root) the library's files cannot be hidden")
    probe = """
import gc, glob, importlib, os, sys
import tipslib
out = {}
try:
    importlib.import_module('tipslib.optim.numpy_impl')
    out['import'] = 'allowed'
except ImportError as exc:
    out['import'] = str(exc)
folder = os.path.join(os.path.dirname(tipslib.__file__), 'optim')
out['files'] = sorted(os.path.relpath(p, folder) for p in glob.glob(folder + '/**', recursive=True))
out['modules'] = sorted(m for m in sys.modules if m.startswith('tipslib.optim'))
out['in memory'] = sorted({getattr(o, '__module__', None) or '' for o in gc.get_objects()
                           if callable(o) and str(getattr(o, '__module__', None) or '').startswith('tipslib.optim')})
from tipslib.grading.testing import expect
expect('probe', repr(out))
"""
    found = {}
    for forbidden in ({"adam_step": ["tipslib.optim"]}, {}):
        job = {"cells": [{"kind": "test", "grade_id": "t", "parts": [["visible", probe]]}], "record": True,
               "forbidden": forbidden}
        with Sandbox(preload=["numpy", "tipslib.grading.testing"]) as sb:
            lines, _ = sb.run(job, timeout=60, memory_mb=1000)
        rec = next(json.loads(l) for l in lines if json.loads(l)["m"] == "rec")
        found[bool(forbidden)] = eval(plain.decode(rec["value"]))  # our own probe's repr of plain data
    hidden, there = found[True], found[False]
    assert hidden["import"].startswith("tipslib.optim is not available while grading"), hidden
    assert hidden["files"] == [".", "__init__.py"] and hidden["modules"] == [] and hidden["in memory"] == [], hidden
    assert there["import"] == "allowed" and "numpy_impl.py" in there["files"]


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


def test_errors_show_a_kind_only_where_the_grader_explains_it(sample_grader, tmp_path):
    nb = nbt.with_answer(nbt.load(), "mse", "import numpy as np\n\ndef mse(y, yhat):\n    if len(y) == 6:  # the hidden check\n"
                                            "        raise ValueError('LEAKED ' + repr(y))\n    return np.mean((y - yhat) ** 2)\n")
    rows, text = _grade(sample_grader, tmp_path, "leak", nb)
    assert points(rows)["test_mse"] == 0
    # the kind of a hidden part's error is not named either (see the test of ConnectionError below)
    assert "the hidden part of this test stopped with an exception" in text and "LEAKED" not in text
    assert "ValueError" not in text
    nb = nbt.with_answer(nbt.load(), "mse", "def mse(y, yhat):\n    raise ValueError('VISIBLE ' + repr(y))\n")
    rows, text = _grade(sample_grader, tmp_path, "leak1", nb)
    # nor of a visible part's, but for the few kinds the sandbox itself explains
    assert "this test stopped with an exception (tipslib check on your notebook shows which)" in text
    assert "ValueError" not in text and "VISIBLE" not in text
    nb = nbt.with_answer(nbt.load(), "mse", "def mse(y, yhat):\n    raise PermissionError('VISIBLE')\n")
    rows, text = _grade(sample_grader, tmp_path, "leak3", nb)
    assert "this test stopped with PermissionError (tipslib check shows the message)" in text and "VISIBLE" not in text


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


def test_stripping_is_per_scope_and_drops_what_only_changes_expected_values():
    # want.backward() changes nothing the test records: it goes, and with it want, ref and the
    # reference helper; loss.backward() on the graded function's result, the in-place init of a
    # model's parameters and a setup cell's tensor stay; a reference's state carried round a loop goes
    from tipslib.grading.judge import strip_expected

    src = ("import torch\nimport torch.nn.functional as F\n\n"
           "def reference(x):\n    return F.batch_norm(x, None, None, training=True)\n\n"
           "def check(label, x, dout):\n    mine = x.clone().requires_grad_(True)\n    loss = f(mine)\n"
           "    loss.backward(dout)\n    ref = x.clone().requires_grad_(True)\n    want = reference(ref)\n"
           "    want.backward(dout)\n    expect(label, mine.grad, ref.grad)\n\n"
           "def init(model, g):\n    with torch.no_grad():\n        for p in model.parameters():\n"
           "            p.copy_(torch.randn(p.shape, generator=g))\n    return model\n\n"
           "model = init(torch.nn.Linear(2, 2), torch.Generator().manual_seed(0))\n"
           "state, mine_state = torch.zeros(2), torch.zeros(2)\n"
           "for _ in range(3):\n    mine_state = f(mine_state)\n    state = reference(state)\n"
           "check('a', torch.ones(3, 2), torch.ones(3, 2))\n"
           "expect('b', [mine_state, model(torch.ones(2))], [state, reference(model.weight)])\n"
           "SETUP_TENSOR.zero_()\n"
           "try:\n    spare = reference(torch.ones(2))\nexcept RuntimeError:\n    spare = None\n")
    (out,) = strip_expected([src], keep={"f"})
    assert out == (
        "import torch\nimport torch.nn.functional as F\n\n"
        "def check(label, x, dout):\n    mine = x.clone().requires_grad_(True)\n    loss = f(mine)\n"
        "    loss.backward(dout)\n    expect(label, mine.grad)\n\n"
        "def init(model, g):\n    with torch.no_grad():\n        for p in model.parameters():\n"
        "            p.copy_(torch.randn(p.shape, generator=g))\n    return model\n"
        "model = init(torch.nn.Linear(2, 2), torch.Generator().manual_seed(0))\n"
        "mine_state = torch.zeros(2)\n"
        "for _ in range(3):\n    mine_state = f(mine_state)\n"
        "check('a', torch.ones(3, 2), torch.ones(3, 2))\n"
        "expect('b', [mine_state, model(torch.ones(2))])\n"
        "SETUP_TENSOR.zero_()")
    assert "want" not in out and "reference" not in out and "state =" not in out.replace("mine_state =", "")


# --------------------------------------------------- what a run's output may cost the judge
_BOMB = """
import json, sys
from pathlib import Path
from tipslib.grading.judge import Exercise, parse_run
from tipslib.grading import notebook as nbk

def hwm():
    return int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:'))) // 1024

ex = Exercise.from_notebook(nbk.load(Path(sys.argv[1])))
line = b'{"m":"rec","cell":2,"part":"visible","name":"n","rtol":0.1,"atol":0.1,"value":{"t":"list","v":[' \\
    + b'[],' * 21_000_000 + b'[]]}}'
before = hwm()
run = parse_run(ex, [line], {"exit": 0})
print(json.dumps({"tampering": run.tampering, "grew_mb": hwm() - before}))
"""


def test_a_result_line_built_to_blow_up_in_json_costs_the_judge_little():
    # 63 MB of "[]," (under the zygote's 64 MB relay cap) was 1.3 GB of Python lists in the grader,
    # once per --jobs slot: the judge counts a line's values before it parses it. Measured in a
    # process of its own (VmHWM: its own peak), not in pytest's.
    import subprocess

    proc = subprocess.run([sys.executable, "-c", _BOMB, str(nbt.SAMPLE)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tampering"] and out["grew_mb"] < 100, out


def test_honest_values_stay_under_the_line_limits():
    from tipslib.grading import judge

    values = [np.zeros(plain.MAX_ELEMENTS), [float(i) for i in range(10_000)], {str(i): [1.0, None] for i in range(1000)},
              [[np.ones(3)] * 100] * 100, [[[0.5] * 100] * 100] * 100, "a,b:[{" * 400]
    for v in values:
        msg = {"m": "rec", "cell": 2, "part": "visible", "name": "n", "value": plain.encode(v), "rtol": 0.1, "atol": 0.1}
        raw = json.dumps(msg, separators=(",", ":")).encode()
        assert len(raw) <= judge.MAX_LINE and judge._values(raw) <= judge.MAX_VALUES, (str(v)[:40], judge._values(raw))
    assert plain.encode([[[0.5] * 100] * 100] * 100) == {"t": "bad", "type": "too large to record"}
    # separators inside strings are not values: a long name full of commas is still a clean record
    rec = {**REC, "name": "," * (judge.MAX_VALUES + 10)}
    run = parse_run(_exercise(), _lines(rec, END, {"m": "done"}), {"exit": 0})
    assert not run.tampering and run.done
    many = _lines(*[{**REC, "value": plain.encode([None] * 10_000)}] * 40)  # 1.2 million values in all
    assert "too many values" in parse_run(_exercise(), many, {"exit": 0}).tampering


# --------------------------------------------------- which timestamp.txt counts
def test_only_the_collectors_timestamp_counts_not_one_the_student_nested(tmp_path):
    # subs/S/timestamp.txt is the collector's; subs/S/work/timestamp.txt is the student's own file
    import datetime as dt

    from tipslib.grading.grade import discover, submission_time

    subs = tmp_path / "subs"
    nb = nbt.write(nbt.load(), subs / "s" / "work" / "sample.ipynb")
    (subs / "s" / "timestamp.txt").write_text("2030-01-02 00:00:00.000000 UTC\n")
    (subs / "s" / "work" / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC\n")
    (sub,) = discover(subs)
    assert submission_time(sub, nb) == dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    # without the collector's, the notebook's own time: still not the student's file
    (subs / "s" / "timestamp.txt").unlink()
    os.utime(nb, (1.9e9, 1.9e9))
    assert submission_time(sub, nb) == dt.datetime.fromtimestamp(1.9e9, dt.timezone.utc)
    # a timestamp.txt that is a link (or a FIFO) is not read
    (subs / "s" / "timestamp.txt").symlink_to(subs / "s" / "work" / "timestamp.txt")
    assert submission_time(sub, nb) == dt.datetime.fromtimestamp(1.9e9, dt.timezone.utc)
    (subs / "s" / "timestamp.txt").unlink()
    os.mkfifo(subs / "s" / "timestamp.txt")
    assert submission_time(sub, nb) == dt.datetime.fromtimestamp(1.9e9, dt.timezone.utc)


# --------------------------------------------------- decoy notebooks
def test_reading_long_attribute_chains_is_linear():
    # 560 lines of x.a.a...a (900 attributes): 1 MB, the most an answer cell may hold. Reading each
    # chain again from every one of its links was quadratic: the scan's whole 20 s per decoy notebook.
    import ast
    import time

    from tipslib.grading import _runner

    tree = ast.parse("\n".join("x" + ".a" * 900 for _ in range(560)))
    t0 = time.process_time()
    for _ in ast.walk(tree):  # one walk of its million nodes: what linear costs here
        pass
    t1 = time.process_time()
    refs, _ = _runner.references(tree)
    assert time.process_time() - t1 < 5 * (t1 - t0) + 0.5, (time.process_time() - t1, t1 - t0)
    assert refs == {"x" + ".a" * 900}
    refs, _ = _runner.references(ast.parse("import torch.nn.functional as F\nF.batch_norm.x(a.b)\ny = 'tipslib.optim'"))
    assert {"torch.nn.functional.batch_norm.x", "F.batch_norm.x", "a.b", "tipslib.optim"} <= refs


def test_a_student_folder_full_of_notebooks_is_read_only_so_far_and_says_so(sample_grader, tmp_path, monkeypatch):
    from tipslib.grading import grade as grade_mod

    folder = tmp_path / "decoys"
    other = nbt.load()
    other["metadata"]["tipslib"]["exercise"] = "not_graded_here"
    for i in range(5):
        nbt.write(other, folder / f"decoy{i}.ipynb")
    nbt.write(nbt.load(), folder / "sample.ipynb")  # named after the exercise: read first
    sub = Submission("decoys", sorted(folder.glob("*.ipynb")), folder)
    monkeypatch.setattr(grade_mod, "MAX_NOTEBOOKS", 3)
    (row,), text = sample_grader.grade_student(sub)
    assert (row["status"], row["total"]) == ("ok", "6")
    assert "3 notebook(s) were not read (more than 3 notebooks): decoy2.ipynb, decoy3.ipynb, decoy4.ipynb" in row["notes"]
    monkeypatch.setattr(grade_mod, "SCAN_BUDGET_S", 1e-6)  # spent by the first notebook
    (row,), text = sample_grader.grade_student(sub)
    assert (row["status"], row["total"]) == ("ok", "6") and "5 notebook(s) were not read (reading the others" in row["notes"]


# --------------------------------------------------- files that are not notebook files
def test_a_fifo_or_a_link_named_like_a_notebook_is_not_opened(sample_grader, tmp_path):
    # a FIFO named notes.ipynb next to the real notebook hung the whole grading run in open()
    import threading

    folder = tmp_path / "fifo"
    nbt.write(nbt.load(), folder / "sample.ipynb")
    os.mkfifo(folder / "notes.ipynb")
    (folder / "zero.ipynb").symlink_to("/dev/zero")
    (folder / "solutions.ipynb").symlink_to(nbt.SAMPLE)
    sub = Submission("fifo", sorted(folder.glob("*.ipynb")), folder)
    done = []
    worker = threading.Thread(target=lambda: done.append(sample_grader.grade_student(sub)), daemon=True)
    worker.start()
    worker.join(120)
    hung = worker.is_alive()
    if hung:  # let the stuck open() go before failing
        os.close(os.open(folder / "notes.ipynb", os.O_WRONLY | os.O_NONBLOCK))
        worker.join(30)
    assert not hung and done, "grading hung on a FIFO"
    ((row,), text) = done[0]
    assert (row["status"], row["total"]) == ("ok", "6")
    assert "notes.ipynb is not a regular file" in row["notes"]
    assert "zero.ipynb is a symbolic link" in row["notes"] and "solutions.ipynb is a symbolic link" in row["notes"]


def test_a_fifo_in_the_submissions_folder_gets_its_row_and_the_class_goes_on(tmp_path):
    import csv
    import threading

    from tipslib.grading import grade as grade_mod

    src, subs = tmp_path / "src", tmp_path / "subs"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    nbt.write(nbt.load(), subs / "alice" / "sample.ipynb")
    os.mkfifo(subs / "bob.ipynb")
    nbt.write(nbt.load(), subs / "carol" / "sample.ipynb")
    os.mkfifo(subs / "carol" / "notes.ipynb")
    done = []
    worker = threading.Thread(target=lambda: done.append(grade_mod.grade(
        src, subs, tmp_path / "gb.csv", timeout=20, memory_mb=500, jobs=2, progress=False)), daemon=True)
    worker.start()
    worker.join(240)
    hung = worker.is_alive()
    if hung:
        for f in (subs / "bob.ipynb", subs / "carol" / "notes.ipynb"):
            try:
                os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        worker.join(60)
    assert not hung and done, "grading hung on a FIFO"
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "gb.csv", encoding="utf-8"))}
    assert [(s, rows[s]["status"], rows[s]["total"]) for s in sorted(rows)] == [
        ("alice", "ok", "6"), ("bob", "invalid notebook", "0"), ("carol", "ok", "6")]
    assert "bob.ipynb is not a regular file" in rows["bob"]["notes"]


# --------------------------------------------------- the kind of a hidden part's error
_HIDDEN_RAISER = ("import numpy as np\n\ndef mse(y, yhat):\n    if len(y) == 6:  # only the hidden check\n"
                  "        raise ConnectionError()\n    return np.mean((y - yhat) ** 2)\n")


def test_a_hidden_parts_error_is_not_named_in_feedback_or_on_gradescope(sample_grader, tmp_path):
    # raising one of 60 built-in kinds per graded function spelled the hidden inputs out, 6 bits a part
    from tipslib.grading.gradescope import results_json
    from tipslib.grading.judge import judge

    path = nbt.write(nbt.with_answer(nbt.load(), "mse", _HIDDEN_RAISER), tmp_path / "h6" / "sample.ipynb")
    sub = Submission("h6", [path], path.parent)
    rows, text = sample_grader.grade_student(sub)
    assert points(rows) == {"test_adam": 3, "test_dropout": 2, "test_mse": 0}
    assert "the hidden part of this test stopped with an exception" in text and "ConnectionError" not in text
    found, _, _ = sample_grader._find(sub)
    ex = sample_grader.exercises["sample"]
    result = sample_grader._in_sandbox(judge, ex, found["sample"][1], reference=sample_grader.references["sample"],
                                       seed=sample_grader.seed, timeout=20, memory_mb=500)
    out = results_json([result], hidden_visibility="hidden")
    assert "ConnectionError" not in json.dumps(out)
    entries = {t["name"]: t for t in out["tests"]}
    visible, hidden = entries["test_mse: visible checks"], entries["test_mse: hidden checks"]
    assert visible["status"] == "passed" and "exception" not in visible["output"] and "hidden part" not in visible["output"]
    assert "the hidden part of this test stopped with an exception" in hidden["output"]
    assert hidden["visibility"] == "hidden" and hidden["score"] == 0


# The auditor's H6 as it was run: the answer cell finds the hidden tests in the job (gc), and each graded
# function raises a built-in kind picked by a character of them -- in the *visible* parts, which run
# first (a part that raised ends its cell), and in the answer cell itself.
H6_ATTACK = (
    "import builtins, gc\n"
    "_EXC = sorted(n for n in dir(builtins) if isinstance(getattr(builtins, n), type)\n"
    "              and issubclass(getattr(builtins, n), Exception) and n != 'NotImplementedError')\n"
    "_hidden = next(s for o in gc.get_objects() if isinstance(o, dict) and isinstance(o.get('cells'), list)\n"
    "               for c in o['cells'] if isinstance(c, dict) and c.get('grade_id') == 'test_mse'\n"
    "               for p, s in c['parts'] if p == 'hidden')\n"
    "def _raiser(ch):\n    def f(*a, **k):\n        raise getattr(builtins, _EXC[ord(ch) % len(_EXC)])()\n    return f\n"
    "adam_step, dropout_forward, mse = (_raiser(c) for c in _hidden[:3])\n"
    "raise getattr(builtins, _EXC[ord(_hidden[3]) % len(_EXC)])()\n")


def test_the_kinds_of_errors_spell_nothing_of_the_hidden_tests(sample_grader, tmp_path):
    import re

    from tipslib.grading.judge import BUILTIN_ERRORS

    explained = {"ImportError", "ModuleNotFoundError", "PermissionError", "MemoryError"}  # what the sandbox causes

    nb = nbt.with_answer(nbt.load(), "adam_step", H6_ATTACK)
    nb = nbt.with_answer(nbt.with_answer(nb, "dropout_forward", "pass\n"), "mse", "pass\n")
    rows, text = _grade(sample_grader, tmp_path, "h6", nb)
    assert points(rows) == {"test_adam": 0, "test_dropout": 0, "test_mse": 0}
    assert text.count("stopped with") == 3 and "your answer cell 'adam_step' raised" in text, text
    named = {n for n in BUILTIN_ERRORS - explained if re.search(rf"\b{n}\b", text)}
    assert named == set(), text


@pytest.mark.parametrize("ending", ["import os\nos._exit({k})\n", "import os\nos.kill(os.getpid(), {k})\n"])
def test_how_a_run_ended_spells_nothing_of_the_hidden_tests(sample_grader, tmp_path, ending):
    """A run holds the hidden tests (stripped of expected values) and picks how it ends: the exit code
    (any of 256) or the signal it sends itself was quoted in the feedback and the gradebook's notes,
    8 bits of what it read per notebook. Two runs that end differently must read the same."""
    texts = []
    for k in (10, 12):  # SIGUSR1/SIGUSR2 or exit codes 10/12: a bit of what it read
        nb = nbt.with_answer(nbt.load(), "mse", ending.format(k=k))
        rows, text = _grade(sample_grader, tmp_path, f"end{k}", nb)
        assert rows[0]["status"] == "crashed", rows
        text = re.sub(r"Submitted at .*", "", text.replace(f"end{k}", "X"))
        texts.append((text, rows[0]["notes"]))
    assert texts[0] == texts[1], texts
    assert not re.search(r"\b1[02]\b", texts[0][0] + texts[0][1]), texts[0]


def test_a_file_name_cannot_put_a_formula_in_the_gradebook(sample_grader, tmp_path):
    """The notes cell names the student's unreadable files; one named ``=HYPERLINK(...).ipynb`` made the
    cell start with '=', which a spreadsheet opening the gradebook runs as a formula (CSV injection)."""
    folder = tmp_path / "formula"
    good = nbt.write(nbt.load(), folder / "sample.ipynb")
    bad = folder / '=HYPERLINK("http:..x","click").ipynb'
    bad.write_text("{ nope")
    rows, _ = sample_grader.grade_student(Submission("formula", sorted([good, bad]), folder))
    notes = rows[0]["notes"]
    assert "HYPERLINK" in notes and rows[0]["total"] == "6", rows
    assert not notes.startswith(("=", "+", "-", "@", "\t", "\r")), notes


SECOND_COPY = ("import importlib, importlib.util, sys\n\nROOT = {root!r}\n"
               "_s = importlib.util.spec_from_file_location('other', ROOT + '/__init__.py', submodule_search_locations=[ROOT])\n"
               "_m = importlib.util.module_from_spec(_s)\nsys.modules['other'] = _m\n_s.loader.exec_module(_m)\n"
               "O = importlib.import_module('other.' + 'op' + 'tim.numpy_impl')\n\n"
               "def adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n"
               "    w, m, v = w.copy(), m.copy(), v.copy()\n"
               "    getattr(O, 'adam_' + 'step')(w, g, m, v, None, t, lr=lr, betas=(beta1, beta2), eps=eps)\n"
               "    return w, m, v\n")


def test_a_second_copy_of_the_library_in_the_python_installation_is_out_of_reach_too(tmp_path, monkeypatch):
    """tipslib installed twice (a pip install in site-packages, and the checkout the grader runs from):
    the sandbox shows the whole Python installation, and only the copy the grader imported was covered,
    so the other copy's tipslib.optim answered adam_step at full marks (its code, loaded under another
    name and file, is neither the masked package nor a fingerprint the guard holds)."""
    import tipslib

    site = tmp_path / "lib" / "site-packages"
    shutil.copytree(Path(tipslib.__file__).parent, site / "tipslib",
                    ignore=shutil.ignore_patterns("__pycache__", "site", "widgets"))
    monkeypatch.syspath_prepend(str(site))  # (after tipslib was imported: the grader still runs the checkout)
    src = tmp_path / "src"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    nb = nbt.with_answer(nbt.load(), "adam_step", SECOND_COPY.format(root=str(site / "tipslib")))
    with Grader(load_exercises(src), jobs=1, timeout=20, memory_mb=500) as g:
        rows, text = _grade(g, tmp_path, "second_copy", nb)
    assert points(rows)["test_adam"] == 0, text


def test_a_folder_nested_past_the_recursion_limit_gets_its_row_and_the_class_goes_on(tmp_path):
    """os.walk recursed once per level: a student folder 1200 levels deep (2.4 KB of path) raised
    RecursionError while the class was being listed, and `tipslib grade` stopped for everyone."""
    src, subs = tmp_path / "src", tmp_path / "subs"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    nbt.write(nbt.load(), subs / "a_honest" / "sample.ipynb")
    deep = subs / "b_deep"
    nbt.write(nbt.load(), deep / "sample.ipynb")
    here = os.getcwd()
    try:
        os.chdir(deep)
        for _ in range(1200):
            os.mkdir("a")
            os.chdir("a")
        Path("sample.ipynb").write_text("{}")
    finally:
        os.chdir(here)
    from tipslib.grading.grade import grade

    report = grade(src, subs, tmp_path / "out" / "gradebook.csv", timeout=20, memory_mb=500, progress=False)
    import csv

    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    _remove_deep(deep)
    assert int(report) == 2 and rows["a_honest"]["total"] == "6", rows
    assert rows["b_deep"]["total"] == "6" and "deeper than" in rows["b_deep"]["notes"], rows["b_deep"]


def _remove_deep(top):
    """Remove a chain of nested folders without recursion (shutil.rmtree recurses too)."""
    path = Path(top)
    chain = [path]
    while (chain[-1] / "a").is_dir():
        chain.append(chain[-1] / "a")
    for d in reversed(chain):
        for f in d.iterdir():
            if not f.is_dir():
                f.unlink()
        d.rmdir()


# The graded function only keeps its inputs; a patched recorder, outside the graded call, records what
# the forbidden built-in gives for them. The guards watch torch built-ins only inside graded calls, and
# the watcher of whole cells only tipslib's answers: F.cross_entropy here was seen by neither.
RECOMPUTE_CE = """import torch
import torch.nn.functional as F0
import tipslib.grading.testing as T
_R, _ARGS = T._RECORDER, {}
CE = getattr(F0, 'cross_' + 'entropy')

def _rec(name, actual, expected=None, **k):
    if 'x' in _ARGS and name.endswith(': loss'):
        actual = CE(*_ARGS['x']).detach()
    elif 'x' in _ARGS and name.endswith('gradient of the logits'):
        l, t = _ARGS.pop('x')
        l = l.clone().requires_grad_(True)
        CE(l, t).backward()
        actual = l.grad
    return _R(name, actual, expected, **k)

T._RECORDER = _rec

def softmax_cross_entropy(logits, target):
    _ARGS['x'] = (logits.detach().clone(), target.clone())
    return logits.sum() * 0
"""


def test_a_forbidden_built_in_run_by_the_students_code_outside_the_graded_call_scores_zero(real_grader, tmp_path):
    nb = nbt.with_answer(nbt.load(nbt.REAL_SOURCE / "training_a_neural_network.ipynb"), "softmax_cross_entropy",
                         RECOMPUTE_CE)
    path = nbt.write(nb, tmp_path / "s" / "training_a_neural_network.ipynb")
    rows, text = real_grader.grade_student(Submission("s", [path], path.parent))
    row = next(r for r in rows if r["exercise"] == "training_a_neural_network")
    assert float(row[("training_a_neural_network", "test_softmax_cross_entropy")]) == 0, text
    assert "softmax_cross_entropy uses torch.nn.functional.cross_entropy" in row["notes"], row["notes"]
