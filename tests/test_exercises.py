"""The five exercise notebooks: they run, follow the format, teach the classic mistakes, release cleanly.

* (a) every source notebook runs top to bottom with all its ``expect`` checks passing, and
  every hint it computes differs from the right answer somewhere (a hint that can never fire
  teaches nothing);
* (b) the format the grading tool chain relies on (ids, nbgrader metadata, markers, points,
  hints for the classic mistakes), also accepted by nbgrader's own preprocessors;
* (c) each classic mistake, planted in the instructor solution by a text substitution, fails
  exactly the test cells it should, with the hint that names it in the message, and already
  in the visible tests of the released notebook (``MISTAKES``); the wrong answers only the hidden
  checks catch fail there and pass the visible ones (``HIDDEN_MISTAKES``); one that crashes a
  visible check fails it with its exception (``CRASHING_MISTAKES``); and through the real grader
  every one of them, and each answer calling what the text forbids (``FORBIDDEN_ANSWERS``),
  loses exactly those tests (slow);
* (d) ``exercises/release`` is what ``tipslib release`` makes of ``exercises/source``; the
  released stubs fail every test cell (no free points); ``tipslib grade`` gives the instructor
  solution full marks (slow).

Notebooks run cell by cell in a fresh Python process (no kernel), one process for all of them
so that torch is imported once; one slow test drives a real kernel through nbclient.
"""

from __future__ import annotations

import ast
import builtins
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "exercises" / "source"
RELEASE = ROOT / "exercises" / "release"
IDS = ["data_processing", "training_a_neural_network", "parameter_tuning", "regularization", "good_practices"]

BEGIN_SOLUTION, END_SOLUTION = "# BEGIN SOLUTION", "# END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "# BEGIN HIDDEN TESTS", "# END HIDDEN TESTS"

# Runs each notebook's code cells in order in a fresh namespace and writes, per notebook, the
# grade_id and error (or None) of every code cell. A failing cell does not stop the later ones,
# so one run tells exactly which test cells fail. It also audits the hints: a hint whose wrong
# value equals the right one in every call it appears in could never fire.
RUNNER = r"""
import json, sys
import nbformat
import tipslib.grading.testing as testing

out_path, paths = sys.argv[1], sys.argv[2:]
original, audit = testing.expect, {}


def auditing_expect(name, actual, expected=None, *, rtol=1e-7, atol=1e-9, hints=None):
    for mistake, wrong in (hints or {}).items():
        audit[mistake] = audit.get(mistake, False) or not testing.matches(wrong, expected, rtol, atol)
    return original(name, actual, expected, rtol=rtol, atol=atol, hints=hints)


testing.expect = auditing_expect  # test cells import it from the module when they run
results = {}
for path in paths:
    nb = nbformat.read(path, as_version=4)
    ns = {"__name__": "__main__"}
    cells, audit = [], {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        try:
            exec(compile(cell.source, f"<cell {gid}>", "exec"), ns)
            cells.append([gid, None])
        except BaseException as exc:  # noqa: BLE001 - a failing cell is a result
            cells.append([gid, f"{type(exc).__name__}: {exc}"])
    results[path] = {"cells": cells, "hints": audit}
with open(out_path, "w") as f:
    json.dump(results, f)
"""


def run_notebooks(paths, workdir) -> dict[str, dict]:
    """``{path: {"cells": {grade_id: error or None}, "hints": {hint: can fire}}}`` per notebook."""
    out = Path(workdir) / "results.json"
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(out), *map(str, paths)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {path: {"cells": dict(r["cells"]), "hints": r["hints"]} for path, r in json.loads(out.read_text()).items()}


def load(path):
    return nbformat.read(path, as_version=4)


def nbg(cell):
    return cell.metadata.get("nbgrader", {})


def answer_cells(nb):
    return [c for c in nb.cells if nbg(c).get("solution") and not nbg(c).get("grade")]


def grade_cells(nb):
    return [c for c in nb.cells if nbg(c).get("grade") and not nbg(c).get("solution")]


def defined_names(src):
    """Top-level functions and classes an answer cell defines."""
    return [n.name for n in ast.parse(src).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def calls(src):
    """Names of the functions a piece of code calls."""
    return {n.func.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def helpers_calling_expect(src):
    """Functions defined in a test cell that call ``expect`` (a check shared by several cases)."""
    return {n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and "expect" in calls(ast.unparse(n))}


def cell_by_id(nb, gid):
    return next(c for c in nb.cells if nbg(c).get("grade_id") == gid)


# ---------------------------------------------------------------------------------------
# (c) the classic mistakes: (notebook, answer cell, substitutions, failing test cells, hint words)
# Each substitution must occur in the answer cell; the first failing cell must show the hint.
MISTAKES = {
    # the mistakes the brief requires hints for
    "rmsprop_eps_inside_sqrt": ("parameter_tuning", "rmsprop_step",
                                [("dw / (np.sqrt(s) + eps)", "dw / np.sqrt(s + eps)")],
                                ["test_rmsprop_step"], "eps goes OUTSIDE the square root"),
    "adam_eps_inside_sqrt": ("parameter_tuning", "adam_step",
                             [("m_hat / (np.sqrt(v_hat) + eps)", "m_hat / np.sqrt(v_hat + eps)")],
                             ["test_adam_step"], "eps goes OUTSIDE the square root"),
    "adam_no_bias_correction": ("parameter_tuning", "adam_step",
                                [("m / (1 - beta1**t)", "m"), ("v / (1 - beta2**t)", "v")],
                                ["test_adam_step"], "bias correction"),
    "dropout_p_as_keep": ("regularization", "dropout_forward",
                          [("x * mask / (1 - p)", "x * mask / p"), ("rng.random(x.shape) >= p", "rng.random(x.shape) < p")],
                          ["test_dropout_forward"], "probability of DROPPING"),
    "dropout_backward_p_as_keep": ("regularization", "dropout_backward", [("dout * mask / (1 - p)", "dout * mask / p")],
                                   ["test_dropout_backward"], "probability of DROPPING"),
    "dropout_function_p_as_keep": ("regularization", "DropoutFunction",
                                   [("x * mask / (1 - p)", "x * mask / p"), ("dout * mask / (1 - ctx.p)", "dout * mask / ctx.p")],
                                   ["test_DropoutFunction"], "probability of DROPPING"),
    "batchnorm_biased_running_var": ("data_processing", "batchnorm_forward",
                                     [("momentum * var * n / (n - 1)", "momentum * var")],
                                     ["test_batchnorm_forward"], "UNBIASED batch variance"),
    # the gradient check of part 3 uses the numerical gradient of part 1, so it fails too
    "forward_difference": ("good_practices", "numerical_gradient",
                           [("x[i] = old - h", "x[i] = old"), ("(2 * h)", "h")],
                           ["test_numerical_gradient", "test_gradient_check"], "CENTERED difference"),
    "bce_sum_not_mean": ("training_a_neural_network", "bce", [("float(np.mean(", "float(np.sum(")],
                         ["test_bce"], "MEAN over its examples"),
    "bce_grad_sum_not_mean": ("training_a_neural_network", "bce_grad", [(" / z.shape[0]", "")],
                              ["test_bce_grad"], "divided by N"),
    "cross_entropy_sum_not_mean": ("training_a_neural_network", "softmax_cross_entropy",
                                   [("(log_sum_exp - picked).mean()", "(log_sum_exp - picked).sum()")],
                                   ["test_softmax_cross_entropy"], "MEAN over its examples"),
    # more mistakes the hints teach
    "batchnorm_momentum_on_old": ("data_processing", "batchnorm_forward",
                                  [("(1 - momentum) * running_mean + momentum * mu", "momentum * running_mean + (1 - momentum) * mu")],
                                  ["test_batchnorm_forward"], "weight of the NEW batch statistic"),
    "batchnorm_constant_stats": ("data_processing", "batchnorm_backward",
                                 [("dx = gamma / (n * std) * (n * dout - dbeta - x_hat * dgamma)", "dx = dout * gamma / std")],
                                 ["test_batchnorm_backward"], "depend on x too"),
    "torch_var_unbiased": ("data_processing", "batchnorm_torch", [("x.var(dim=0, unbiased=False)", "x.var(dim=0)")],
                           ["test_batchnorm_torch"], "divides by N - 1 by default"),
    "vertical_flip": ("data_processing", "hflip", [("x[..., ::-1].copy()", "x[..., ::-1, :].copy()")],
                      ["test_hflip"], "flipped the rows"),
    "crop_off_by_one": ("data_processing", "random_crop",
                        [("height - h + 1", "height - h"), ("width - w + 1", "width - w")],
                        ["test_random_crop"], "never reaches the last row/column"),
    "linear_bias_mean": ("training_a_neural_network", "linear_backward", [("dout.sum(axis=0)", "dout.mean(axis=0)")],
                         ["test_linear_backward"], "SUMS dout over the batch"),
    "minibatch_drops_last": ("training_a_neural_network", "minibatch_indices",
                             [("stop = n - n % batch_size if drop_last else n", "stop = n - n % batch_size")],
                             ["test_minibatch_indices"], "last, smaller batch must be kept"),
    "xavier_std_as_bound": ("parameter_tuning", "xavier_uniform", [("math.sqrt(6.0 /", "math.sqrt(2.0 /")],
                            ["test_xavier_uniform"], "standard deviation"),
    "xavier_torch_std_as_bound": ("parameter_tuning", "xavier_uniform_", [("math.sqrt(6.0 /", "math.sqrt(2.0 /")],
                                  ["test_xavier_uniform_"], "not the standard deviation"),
    "momentum_torch_form": ("parameter_tuning", "momentum_step", [("(1 - beta) * dw", "dw")],
                            ["test_momentum_step"], "without (1 - beta)"),
    "elastic_net_no_two": ("regularization", "elastic_net", [("2 * alpha * theta", "alpha * theta")],
                           ["test_elastic_net"], "derivative of theta**2"),
    "early_stopping_late": ("regularization", "early_stopping", [("if waited >= patience", "if waited > patience")],
                            ["test_early_stopping"], "one epoch too late"),
    "early_stopping_vs_previous": ("regularization", "early_stopping",
                                   [("            waited += 1", "            waited += 1\n            best = loss")],
                                   ["test_early_stopping"], "not with the previous epoch"),
    "relative_error_mean": ("good_practices", "relative_error", [("float(np.max(", "float(np.mean(")],
                            ["test_relative_error", "test_gradient_check"], "WORST element"),
    "relative_error_sum": ("good_practices", "relative_error",
                           [("np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)", "np.maximum(np.abs(a) + np.abs(b), 1e-12)")],
                           ["test_relative_error", "test_gradient_check"], "LARGER of |a| and |b|"),
    "overfit_no_zero_grad": ("good_practices", "overfit_batch", [("optimizer.zero_grad()", "pass")],
                             ["test_overfit_batch"], "zero_grad() every step"),
    # no hint names this one (a wrong bool has one value only), but the test still catches it
    "gradient_check_inverted": ("good_practices", "gradient_check", [("bool(error <= tol)", "bool(error > tol)")],
                                ["test_gradient_check"], None),
    # wrong answers an audit found keeping full marks, now caught by a visible check of what the text states
    "hflip_view": ("data_processing", "hflip", [("x[..., ::-1].copy()", "x[..., ::-1]")], ["test_hflip"],
                   "a view of x"),
    "hflip_np_flip_view": ("data_processing", "hflip", [("x[..., ::-1].copy()", "np.flip(x, axis=-1)")], ["test_hflip"],
                           "a view of x"),
    "dropout_eval_no_mask": ("regularization", "dropout_forward",
                             [("return x.copy(), np.ones(x.shape, dtype=bool)", "return x.copy(), None")],
                             ["test_dropout_forward"], "all-True mask, np.ones(x.shape, dtype=bool), not None"),
    "dropout_eval_given_mask": ("regularization", "dropout_forward",
                                [("return x.copy(), np.ones(x.shape, dtype=bool)", "return x.copy(), mask")],
                                ["test_dropout_forward"], "not the mask given"),
    "dropout_eval_no_copy": ("regularization", "dropout_forward",
                             [("return x.copy(), np.ones(x.shape, dtype=bool)", "return x, np.ones(x.shape, dtype=bool)")],
                             ["test_dropout_forward"], "a copy of x (x.copy())"),
    "overfit_tensor_losses": ("good_practices", "overfit_batch", [("losses.append(loss.item())", "losses.append(loss)")],
                              ["test_overfit_batch"], "not the loss tensor"),
}

#: Wrong answers an audit found keeping full marks that only the hidden checks catch (the visible
#: checks stay few): the same fields as MISTAKES, and the released notebook's visible checks pass them.
HIDDEN_MISTAKES = {
    "batchnorm_eval_fixed_eps": ("data_processing", "batchnorm_forward",
                                 [("np.sqrt(running_var + eps)", "np.sqrt(running_var + 1e-5)")],
                                 ["test_batchnorm_forward"], "uses the eps given too"),
    "batchnorm_eval_no_copies": ("data_processing", "batchnorm_forward",
                                 [("return out, running_mean.copy(), running_var.copy()", "return out, running_mean, running_var")],
                                 ["test_batchnorm_forward"], "return copies"),
    "cross_entropy_batch_max": ("training_a_neural_network", "softmax_cross_entropy",
                                [("logits.max(dim=1, keepdim=True).values", "logits.max()"), ("m.squeeze(1) + ", "m + ")],
                                ["test_softmax_cross_entropy"], "maximum of EACH ROW"),
    "minibatch_touches_rng": ("training_a_neural_network", "minibatch_indices",
                              [("order = rng.permutation(n) if shuffle else np.arange(n)",
                                "order = rng.permutation(n) if rng is not None else np.arange(n)\n"
                                "    order = order if shuffle else np.arange(n)")],
                              ["test_minibatch_indices"], "do not draw from rng"),
    "rmsprop_square_avg_in_place": ("parameter_tuning", "rmsprop_step",
                                    [("s = alpha * square_avg + (1 - alpha) * dw**2",
                                      "s = square_avg\n    s *= alpha\n    s += (1 - alpha) * dw**2")],
                                    ["test_rmsprop_step"], "square_avg was updated in place"),
    "dropout_float_mask": ("regularization", "dropout_forward",
                           [("mask = rng.random(x.shape) >= p", "mask = (rng.random(x.shape) >= p).astype(float)")],
                           ["test_dropout_forward"], "the mask is a bool array"),
    "dropout_function_mask_from_output": ("regularization", "DropoutFunction",
                                          [("ctx.save_for_backward(mask)\n        ctx.p = p\n        return x * mask / (1 - p)",
                                            "out = x * mask / (1 - p)\n        ctx.save_for_backward(out)\n"
                                            "        ctx.p = p\n        return out"),
                                           ("(mask,) = ctx.saved_tensors", "(out,) = ctx.saved_tensors\n        mask = out != 0")],
                                          ["test_DropoutFunction"], "use the mask saved in forward"),
    # the gradient check of part 3 uses the numerical gradient of part 1, so it fails too
    "numerical_gradient_fixed_h": ("good_practices", "numerical_gradient",
                                   [("    grad = np.zeros_like(x)\n", "    h = 1e-5\n    grad = np.zeros_like(x)\n")],
                                   ["test_numerical_gradient", "test_gradient_check"], "not a fixed 1e-5"),
    "numerical_gradient_one_sided_tiny_h": ("good_practices", "numerical_gradient",
                                            [("x[i] = old + h", "x[i] = old + 1e-7"), ("x[i] = old - h", "x[i] = old"),
                                             ("(2 * h)", "1e-7")],
                                            ["test_numerical_gradient", "test_gradient_check"], None),
    # 0 / 0 is nan where both are 0; a nan hint could never match (nan equals nothing), so no hint
    "relative_error_no_floor": ("good_practices", "relative_error",
                                [("float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))",
                                  "float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))")],
                                ["test_relative_error"], None),
    "gradient_check_drops_h": ("good_practices", "gradient_check", [("numerical_gradient(f, x, h)", "numerical_gradient(f, x)")],
                               ["test_gradient_check"], "pass h on to numerical_gradient"),
    "early_stopping_keeps_last": ("regularization", "early_stopping",
                                  [("return len(val_losses) - 1, best_epoch", "return len(val_losses) - 1, len(val_losses) - 1")],
                                  ["test_early_stopping"], "still the BEST one"),
    # the absolute value forgotten on one side: only an element with a large negative partner shows it
    # (on b, the numerical gradient: then the gradient check's result does not depend on the hidden seed)
    "relative_error_signed_b": ("good_practices", "relative_error",
                                [("np.maximum(np.abs(a), np.abs(b))", "np.maximum(np.abs(a), b)")],
                                ["test_relative_error"], "ABSOLUTE values"),
    # clamping the probability instead of the log: log(1e-44) is -101.3, not torch's -100
    "bce_clamps_probability": ("training_a_neural_network", "bce",
                               [("np.maximum(np.log(1 - z), -100.0)", "np.log(np.maximum(1 - z, 1e-44))")],
                               ["test_bce"], None),
    # n // batch_size where n % batch_size belongs: right whenever the leftover batch starts before the stop
    "minibatch_drop_last_wrong_stop": ("training_a_neural_network", "minibatch_indices",
                                       [("n - n % batch_size", "n - n // batch_size")],
                                       ["test_minibatch_indices"], "the last batch is left out"),
}

#: Wrong answers that stop a visible check with an exception rather than a wrong value:
#: (notebook, answer cell, substitutions, failing test cells, the exception's kind).
CRASHING_MISTAKES = {
    # the mask drawn before looking at `training`: evaluation without an rng crashes
    "dropout_mask_before_training_check": ("regularization", "dropout_forward",
                                           [("    if not training:\n        return x.copy(), np.ones(x.shape, dtype=bool)\n"
                                             "    if mask is None:\n        mask = rng.random(x.shape) >= p\n",
                                             "    if mask is None:\n        mask = rng.random(x.shape) >= p\n"
                                             "    if not training:\n        return x.copy(), np.ones(x.shape, dtype=bool)\n")],
                                           ["test_dropout_forward"], "AttributeError"),
    # backward reads a global `mask` instead of the one saved in forward; the test cells name theirs
    # `keep`, so the global is an earlier part's NumPy mask, of another shape
    "dropout_function_global_mask": ("regularization", "DropoutFunction", [("        (mask,) = ctx.saved_tensors\n", "")],
                                     ["test_DropoutFunction"], "ValueError"),
}

#: Answers that call what the exercise text forbids (the grader, not a check, catches them):
#: (notebook, answer cell, the whole answer, the test cells whose points it loses).
FORBIDDEN_ANSWERS = {
    "cross_entropy_torch_logsumexp": (
        "training_a_neural_network", "softmax_cross_entropy",
        "import torch\n\ndef softmax_cross_entropy(logits, target):\n"
        "    return (torch.logsumexp(logits, 1) - logits[range(len(target)), target]).mean()\n",
        ["test_softmax_cross_entropy"]),
    "cross_entropy_logsumexp_method": (
        "training_a_neural_network", "softmax_cross_entropy",
        "def softmax_cross_entropy(logits, target):\n"
        "    return (logits.logsumexp(1) - logits[range(len(target)), target]).mean()\n",
        ["test_softmax_cross_entropy"]),
    "cross_entropy_special_logsumexp": (
        "training_a_neural_network", "softmax_cross_entropy",
        "import torch\n\ndef softmax_cross_entropy(logits, target):\n"
        "    return (torch.special.logsumexp(logits, 1) - logits[range(len(target)), target]).mean()\n",
        ["test_softmax_cross_entropy"]),
}
ALL_MUTANTS = {**MISTAKES, **HIDDEN_MISTAKES, **CRASHING_MISTAKES}

#: The classic mistakes the brief names, and the words their hints must contain in the sources.
REQUIRED_HINTS = {
    "eps inside the square root (RMSprop)": ("parameter_tuning", "test_rmsprop_step", "eps goes OUTSIDE the square root"),
    "eps inside the square root (Adam)": ("parameter_tuning", "test_adam_step", "eps goes OUTSIDE the square root"),
    "no bias correction (Adam)": ("parameter_tuning", "test_adam_step", "bias correction"),
    "p used as the keep probability (dropout)": ("regularization", "test_dropout_forward", "probability of DROPPING"),
    "biased running variance stored (batch norm)": ("data_processing", "test_batchnorm_forward", "UNBIASED batch variance"),
    "forward instead of centered differences": ("good_practices", "test_numerical_gradient", "CENTERED difference"),
    "sum instead of mean (BCE)": ("training_a_neural_network", "test_bce", "MEAN over its examples"),
    "sum instead of mean (cross-entropy)": ("training_a_neural_network", "test_softmax_cross_entropy", "MEAN over its examples"),
}


def mutate(exercise, answer_id, substitutions):
    nb = load(SOURCE / f"{exercise}.ipynb")
    cell = cell_by_id(nb, answer_id)
    for old, new in substitutions:
        assert old in cell.source, f"{exercise}/{answer_id}: {old!r} is not in the solution any more"
        cell.source = cell.source.replace(old, new)
    return nb


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One process runs the sources, the releases and every mutant (torch is imported once)."""
    work = tmp_path_factory.mktemp("runs")
    paths = {("source", ex): str(SOURCE / f"{ex}.ipynb") for ex in IDS}
    paths.update({("release", ex): str(RELEASE / f"{ex}.ipynb") for ex in IDS})
    for name, (exercise, answer_id, subs, _, _) in ALL_MUTANTS.items():
        mutant = mutate(exercise, answer_id, subs)
        nbformat.write(mutant, work / f"{name}.ipynb")
        paths["mutant", name] = str(work / f"{name}.ipynb")
        # what the student runs: the released notebook (visible tests only) with these answers
        student = load(RELEASE / f"{exercise}.ipynb")
        for cell in answer_cells(student):
            cell.source = cell_by_id(mutant, nbg(cell)["grade_id"]).source
        nbformat.write(student, work / f"{name}.student.ipynb")
        paths["student", name] = str(work / f"{name}.student.ipynb")
    ran = run_notebooks(list(paths.values()), work)
    return {key: ran[path] for key, path in paths.items()}


@pytest.fixture(scope="module")
def source_results(results):
    return {ex: results["source", ex]["cells"] for ex in IDS}


@pytest.fixture(scope="module")
def released_results(results):
    return {ex: results["release", ex]["cells"] for ex in IDS}


@pytest.fixture(scope="module")
def mutant_results(results):
    return {name: results["mutant", name]["cells"] for name in MISTAKES}


# ------------------------------------------------------------------------- (a) they run
@pytest.mark.parametrize("exercise", IDS)
def test_source_notebook_runs_with_every_check_passing(exercise, source_results):
    failures = {gid: err for gid, err in source_results[exercise].items() if err is not None}
    assert failures == {}
    nb = load(SOURCE / f"{exercise}.ipynb")
    assert set(source_results[exercise]) == {nbg(c)["grade_id"] for c in nb.cells if c.cell_type == "code"}


@pytest.mark.parametrize("exercise", IDS)
def test_every_hint_can_fire(exercise, results):
    """Each hint's wrong value differs from the right one in at least one check."""
    audit = results["source", exercise]["hints"]
    assert audit, "hints are computed"
    assert [hint for hint, can_fire in audit.items() if not can_fire] == []


@pytest.mark.slow
def test_source_notebooks_run_in_a_jupyter_kernel():
    """What nbgrader and nbval do: a real kernel, every cell, no error."""
    from nbclient import NotebookClient

    for exercise in IDS:
        nb = load(SOURCE / f"{exercise}.ipynb")
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert errors == [], exercise


# ----------------------------------------------------------------------- (b) the format
def _resolves(target):
    """A forbidden target is an importable module, a namespace a library registers as one
    (``torch.ops``), or a callable attribute of a module (``torch.Tensor.log_softmax`` included)."""
    from tipslib.grading._runner import _resolve

    found = _resolve(target)
    return found is not None and (found[0] == "module" or callable(found[1]))


@pytest.mark.parametrize("exercise", IDS)
def test_metadata_names_the_exercise_and_its_forbidden_modules(exercise):
    nb = load(SOURCE / f"{exercise}.ipynb")
    meta = nb.metadata["tipslib"]
    assert meta["exercise"] == exercise
    assert isinstance(meta["title"], str) and meta["title"]
    graded = [name for c in answer_cells(nb) for name in defined_names(c.source)]
    assert sorted(meta["forbidden"]) == sorted(graded)
    for name, targets in meta["forbidden"].items():
        # the tipslib modules of its topic, and torch built-ins it asks to write by hand
        assert any(re.fullmatch(r"tipslib(\.[a-z_]+)+", m) for m in targets), name
        for t in targets:
            assert re.fullmatch(r"(tipslib|torch)(\.[A-Za-z_0-9]+)+", t), (name, t)
            assert _resolves(t), (name, t)


@pytest.mark.parametrize("exercise", IDS)
def test_every_cell_has_consistent_nbgrader_metadata(exercise):
    nb = load(SOURCE / f"{exercise}.ipynb")
    ids = [nbg(c).get("grade_id") for c in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "grade_ids must be present and unique"
    for cell in nb.cells:
        m = nbg(cell)
        assert m["schema_version"] == 3
        kind = (m["grade"], m["solution"], m["locked"])
        assert kind in {(False, True, False), (True, False, True), (False, False, True)}, m["grade_id"]
        if m["grade"]:
            assert isinstance(m["points"], int) and m["points"] > 0, m["grade_id"]
        else:
            assert "points" not in m, m["grade_id"]
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{m['grade_id']} has outputs"


@pytest.mark.parametrize("exercise", IDS)
def test_answer_cells_have_balanced_markers_and_a_documented_function(exercise):
    nb = load(SOURCE / f"{exercise}.ipynb")
    for cell in nb.cells:
        lines = [line.strip() for line in cell.source.split("\n")]
        markers = [line for line in lines if line in (BEGIN_SOLUTION, END_SOLUTION)]
        if cell not in answer_cells(nb):
            assert not markers and "SOLUTION" not in cell.source, nbg(cell)["grade_id"]
            continue
        assert markers and markers == [BEGIN_SOLUTION, END_SOLUTION] * (len(markers) // 2), nbg(cell)["grade_id"]
        tree = ast.parse(cell.source)
        (node,) = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert node.name == nbg(cell)["grade_id"]
        assert ast.get_docstring(node) and "Returns" in ast.get_docstring(node) or isinstance(node, ast.ClassDef)
        if isinstance(node, ast.ClassDef):  # each method the student writes is documented too
            assert all(ast.get_docstring(f) for f in node.body if isinstance(f, ast.FunctionDef))


@pytest.mark.parametrize("exercise", IDS)
def test_every_answer_has_its_test_cell_with_visible_and_hidden_checks(exercise):
    nb = load(SOURCE / f"{exercise}.ipynb")
    answers = answer_cells(nb)
    assert 3 <= len(answers) <= 6
    tests = {nbg(c)["grade_id"]: c for c in grade_cells(nb)}
    assert sorted(tests) == sorted(f"test_{nbg(c)['grade_id']}" for c in answers)
    order = [nbg(c)["grade_id"] for c in nb.cells]
    for cell in answers:
        name = nbg(cell)["grade_id"]
        assert order.index(f"test_{name}") > order.index(name), "a test cell comes after its answer"
        src = tests[f"test_{name}"].source
        lines = src.split("\n")
        assert lines.count(BEGIN_HIDDEN) == 1 and lines.count(END_HIDDEN) == 1 and lines[-1] == END_HIDDEN, name
        visible, hidden = src.split(BEGIN_HIDDEN)
        checkers = {"expect"} | helpers_calling_expect(visible)
        assert calls(visible) & checkers and calls(hidden) & checkers, f"{name} needs visible and hidden checks"
        assert re.search(rf"\b{name}\b", visible), name
        compile(src, name, "exec")


def test_at_least_one_torch_exercise_per_notebook():
    for exercise in IDS:
        nb = load(SOURCE / f"{exercise}.ipynb")
        assert any(re.search(r"\btorch\.", c.source) for c in answer_cells(nb)), exercise


@pytest.mark.parametrize("exercise", IDS)
def test_first_cell_says_what_how_long_and_what_to_run(exercise):
    first = load(SOURCE / f"{exercise}.ipynb").cells[0]
    assert first.cell_type == "markdown"
    for words in ("What you practise", "minutes", "Run first", f"tipslib check exercises/{exercise}.ipynb"):
        assert words in first.source


@pytest.mark.parametrize("mistake", sorted(REQUIRED_HINTS))
def test_sources_carry_a_hint_for_each_classic_mistake(mistake):
    exercise, test_id, words = REQUIRED_HINTS[mistake]
    src = cell_by_id(load(SOURCE / f"{exercise}.ipynb"), test_id).source
    assert words in src and "hints=" in src
    assert any(m[0] == exercise and words == m[4] for m in MISTAKES.values()), "and a mutant proves it fires"


# ------------------------------------------------------------------ (c) the mutants
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_classic_mistake_fails_its_test_with_the_hint(mistake, mutant_results):
    _, answer_id, _, failing, words = MISTAKES[mistake]
    errors = mutant_results[mistake]
    failed = sorted(gid for gid, err in errors.items() if err is not None)
    assert failed == sorted(failing)
    message = errors[failing[0]]
    assert message.startswith("AssertionError:"), message
    if words is not None:
        assert "Hint:" in message and words in message, message


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_visible_tests_already_show_the_hint(mistake, results):
    """A student running the released notebook (or `tipslib check`) meets the hint before grading."""
    _, _, _, failing, words = MISTAKES[mistake]
    errors = results["student", mistake]["cells"]
    failed = {gid for gid, err in errors.items() if err is not None}
    assert failing[0] in failed and failed <= set(failing), failed  # a dependent cell may pass its visible checks
    assert errors[failing[0]].startswith("AssertionError:")
    if words is not None:
        assert words in errors[failing[0]]


def test_every_graded_function_has_a_planted_mistake():
    planted = {(exercise, answer_id) for exercise, answer_id, *_ in MISTAKES.values()}
    for exercise in IDS:
        for cell in answer_cells(load(SOURCE / f"{exercise}.ipynb")):
            assert (exercise, nbg(cell)["grade_id"]) in planted


def test_mutant_names_are_unique_across_the_tables():
    tables = [MISTAKES, HIDDEN_MISTAKES, CRASHING_MISTAKES, FORBIDDEN_ANSWERS]
    assert sum(map(len, tables)) == len(set().union(*tables))


@pytest.mark.parametrize("mistake", sorted(HIDDEN_MISTAKES))
def test_a_mistake_the_hidden_checks_catch_fails_its_test(mistake, results):
    """The visible checks let it through (the released notebook passes), the hidden ones do not."""
    _, _, _, failing, words = HIDDEN_MISTAKES[mistake]
    errors = results["mutant", mistake]["cells"]
    assert sorted(gid for gid, err in errors.items() if err is not None) == sorted(failing)
    message = errors[failing[0]]
    assert message.startswith("AssertionError:"), message
    if words is not None:
        assert "Hint:" in message and words in message, message
    student = results["student", mistake]["cells"]
    assert {gid: err for gid, err in student.items() if err is not None} == {}


@pytest.mark.parametrize("mistake", sorted(CRASHING_MISTAKES))
def test_a_mistake_that_crashes_a_visible_check_fails_its_test(mistake, results):
    _, _, _, failing, kind = CRASHING_MISTAKES[mistake]
    errors = results["mutant", mistake]["cells"]
    assert sorted(gid for gid, err in errors.items() if err is not None) == sorted(failing)
    assert errors[failing[0]].startswith(f"{kind}:"), errors[failing[0]]
    student = results["student", mistake]["cells"]
    failed = {gid for gid, err in student.items() if err is not None}
    assert failing[0] in failed and failed <= set(failing) and student[failing[0]].startswith(f"{kind}:")


def test_what_an_exercise_text_forbids_is_in_its_forbidden_metadata():
    """Part 5 of training_a_neural_network forbids logsumexp: as a function and as a tensor method."""
    forbidden = load(SOURCE / "training_a_neural_network.ipynb").metadata["tipslib"]["forbidden"]
    assert {"torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp",
            "torch.nn.functional.log_softmax", "torch.Tensor.log_softmax"} <= set(forbidden["softmax_cross_entropy"])
    for exercise, answer_id, _, _ in FORBIDDEN_ANSWERS.values():
        assert answer_id in load(SOURCE / f"{exercise}.ipynb").metadata["tipslib"]["forbidden"]


@pytest.mark.slow
def test_the_grader_takes_the_points_of_each_wrong_answer(tmp_path):
    """Through the real grader (sandbox, tests stripped of expected values, reference run on a fresh
    hidden seed), each planted mistake and each forbidden call loses exactly its tests, and the
    feedback of the first names the hint where there is one."""
    from multiprocessing.pool import ThreadPool

    from tipslib.grading.grade import Grader, Submission, load_exercises

    students = {}
    for name, (exercise, answer_id, subs, failing, words) in ALL_MUTANTS.items():
        hint = words if name in MISTAKES or name in HIDDEN_MISTAKES else None
        students[name] = (exercise, mutate(exercise, answer_id, subs), failing, hint)
    for name, (exercise, answer_id, answer, failing) in FORBIDDEN_ANSWERS.items():
        nb = load(SOURCE / f"{exercise}.ipynb")
        cell_by_id(nb, answer_id).source = answer
        students[name] = (exercise, nb, failing, None)
    paths = {}
    for name, (exercise, nb, _, _) in students.items():
        paths[name] = tmp_path / name / f"{exercise}.ipynb"
        paths[name].parent.mkdir()
        nbformat.write(nb, paths[name])
    with Grader(load_exercises(SOURCE), jobs=2, timeout=120, memory_mb=2048) as grader, ThreadPool(2) as pool:
        graded = dict(zip(students, pool.map(
            lambda name: grader.grade_student(Submission(name, [paths[name]], paths[name].parent)), students)))
        exercises = grader.exercises
    wrong = {}
    for name, (exercise, _, failing, hint) in students.items():
        rows, text = graded[name]
        row = next(r for r in rows if r["exercise"] == exercise)
        lost = sorted(t.grade_id for t in exercises[exercise].tests if float(row[(exercise, t.grade_id)]) < t.points)
        section = text[text.index(f"### {failing[0]}:"):].split("\n### ")[0]
        if row["status"] != "ok" or lost != sorted(failing) or (hint is not None and hint not in section):
            wrong[name] = (row["status"], lost, row["notes"], section[:600])
        if name in FORBIDDEN_ANSWERS and "which it must not" not in row["notes"]:
            wrong[name] = (row["status"], lost, row["notes"])
    assert wrong == {}


# ------------------------------------------------- what the grader sends into a student's sandbox
def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def _names_read(nodes):
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _names_called(nodes):
    return {n.func.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def expected_only(trees, graded):
    """Names and helper functions the full tests use only for expected values and hints.

    Independent of the grader's own stripping (and cruder: names, not scopes): what an
    ``expect``'s expected value or hints read, and what only feeds an assignment to such
    names, minus everything the actual side (an ``expect``'s actual value, a call of a graded
    function, what feeds them) reads too.
    """
    exp_nodes, act_nodes = [], []
    for t in trees:
        for n in ast.walk(t):
            if isinstance(n, ast.Call) and "expect" in (getattr(n.func, "id", None), getattr(n.func, "attr", None)):
                exp_nodes += n.args[2:] + [k.value for k in n.keywords if k.arg not in ("rtol", "atol")]
                act_nodes += n.args[:2]
            elif isinstance(n, ast.Call) and getattr(n.func, "id", None) in graded:
                act_nodes.append(n)
    expected, actual = _names_read(exp_nodes), _names_read(act_nodes)
    helpers, used = _names_called(exp_nodes), _names_called(act_nodes)
    assigns = [n for t in trees for n in ast.walk(t) if isinstance(n, ast.Assign)]
    while True:
        before = (len(expected), len(actual), len(helpers), len(used))
        for a in assigns:
            names = {n.id for t in a.targets for n in ast.walk(t) if isinstance(n, ast.Name)} - {"_"}
            if names and names <= expected:
                expected |= _names_read([a.value])
                helpers |= _names_called([a.value])
            if names & actual:
                actual |= _names_read([a.value])
                used |= _names_called([a.value])
        if (len(expected), len(actual), len(helpers), len(used)) == before:
            break
    imported = {a.asname or a.name.split(".")[0] for t in trees for n in ast.walk(t)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    looped = {x.id for t in trees for n in ast.walk(t) if isinstance(n, ast.comprehension)
              for x in ast.walk(n.target) if isinstance(x, ast.Name)}
    return ((expected - actual) | (helpers - used - set(graded))) - set(dir(builtins)) - imported - looped


@pytest.mark.parametrize("exercise", IDS)
def test_the_students_job_computes_no_expected_value(exercise):
    """The grader strips expected values from the tests it runs with a submission, and with them
    every line that only computed one: no reference helper (``torch_bn``, ``autograd_linear``), no
    ``want = ...`` or ``want.backward()``, no call of what the exercise forbids (``F.batch_norm``,
    ``F.cross_entropy``) is left for a patched recorder to read from the test's frames."""
    from tipslib.grading.judge import Exercise

    ex = Exercise.from_notebook(load(SOURCE / f"{exercise}.ipynb"))
    full = [ast.parse(s) for c in ex.cells if c["kind"] == "test" for _, s in c["parts"]]
    sent = [ast.parse(s) for c in ex.job({}, seed=1)["cells"] if c["kind"] == "test" for _, s in c["parts"]]
    only_expected = expected_only(full, set(ex.answers))
    assert {"want", "ref"} & only_expected or exercise not in ("data_processing", "training_a_neural_network")
    left = {n.id for t in sent for n in ast.walk(t) if isinstance(n, ast.Name)} & only_expected
    assert not left, f"{exercise}: the student's job still computes {sorted(left)}"
    aliases = {}
    for t in full:
        for n in ast.walk(t):
            if isinstance(n, ast.Import):
                aliases.update({a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0] for a in n.names})
            elif isinstance(n, ast.ImportFrom) and n.module:
                aliases.update({a.asname or a.name: f"{n.module}.{a.name}" for a in n.names})
    targets = {t for ts in ex.forbidden.values() for t in ts}
    called = set()
    for t in sent:
        for n in ast.walk(t):
            name = _dotted(n.func) if isinstance(n, ast.Call) else None
            if name:
                head, _, rest = name.partition(".")
                called.add(aliases.get(head, head) + ("." + rest if rest else ""))
    bad = {c for c in called for t in targets if c == t or c.startswith(t + ".")}
    assert not bad, f"{exercise}: the student's job still calls {sorted(bad)}"


# ------------------------------------------------------------------ (d) the release
def test_release_is_up_to_date(tmp_path):
    """``tipslib release exercises/source DST`` reproduces exercises/release cell for cell."""
    proc = subprocess.run([sys.executable, "-m", "tipslib.cli", "release", str(SOURCE), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == sorted(f"{ex}.ipynb" for ex in IDS)
    for exercise in IDS:
        fresh, committed = load(tmp_path / f"{exercise}.ipynb"), load(RELEASE / f"{exercise}.ipynb")
        assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], \
            f"{exercise}: run `tipslib release exercises/source exercises/release`"
        assert [c.metadata for c in committed.cells] == [c.metadata for c in fresh.cells]
        assert committed.metadata["tipslib"] == fresh.metadata["tipslib"]


def test_nbgrader_accepts_the_sources_and_releases_the_same_notebooks():
    """The sources are valid nbgrader assignments, and nbgrader's release equals ours."""
    pytest.importorskip("nbgrader")
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.preprocessors import CheckCellMetadata, ClearHiddenTests, ClearSolutions

    for exercise in IDS:
        nb = load(SOURCE / f"{exercise}.ipynb")
        MetadataValidator().validate_nb(nb)
        for step in (CheckCellMetadata(), ClearSolutions(), ClearHiddenTests()):
            nb, _ = step.preprocess(nb, {})
        ours = load(RELEASE / f"{exercise}.ipynb")
        assert [c.source.rstrip() for c in nb.cells] == [c.source.rstrip() for c in ours.cells], exercise


@pytest.mark.slow
def test_grader_gives_the_solution_full_marks_and_the_stubs_none(tmp_path):
    """End to end through the sandboxed judge: `tipslib grade` on two students."""
    for student, take_answers in (("solution", True), ("stubs", False)):
        folder = tmp_path / "submissions" / student
        folder.mkdir(parents=True)
        for exercise in IDS:
            nb = load(RELEASE / f"{exercise}.ipynb")
            if take_answers:
                source = load(SOURCE / f"{exercise}.ipynb")
                for cell in answer_cells(nb):
                    cell.source = cell_by_id(source, nbg(cell)["grade_id"]).source
            nbformat.write(nb, folder / f"{exercise}.ipynb")
    gradebook = tmp_path / "gradebook.csv"
    proc = subprocess.run([sys.executable, "-m", "tipslib.cli", "grade", str(SOURCE), str(tmp_path / "submissions"),
                           "--out", str(gradebook), "--quiet", "--timeout", "180"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(gradebook.open()))
    assert sorted((r["student"], r["exercise"]) for r in rows) == sorted((s, e) for s in ("solution", "stubs") for e in IDS)
    for row in rows:
        assert row["status"] == "ok", row
        assert float(row["total"]) == (float(row["max"]) if row["student"] == "solution" else 0.0), row


@pytest.mark.parametrize("exercise", IDS)
def test_released_notebook_hides_solutions_and_hidden_tests(exercise):
    nb = load(RELEASE / f"{exercise}.ipynb")
    source = load(SOURCE / f"{exercise}.ipynb")
    text = "\n".join(c.source for c in nb.cells)
    assert "SOLUTION" not in text and "HIDDEN" not in text
    for cell in answer_cells(nb):
        assert "raise NotImplementedError()" in cell.source
    for released, original in zip(grade_cells(nb), grade_cells(source)):
        assert released.source.rstrip("\n") == original.source.split(BEGIN_HIDDEN)[0].rstrip("\n")


@pytest.mark.parametrize("exercise", IDS)
def test_released_stubs_fail_every_test_cell(exercise, released_results):
    """The unanswered notebook runs its setup fine and fails every visible test: no free points."""
    nb = load(RELEASE / f"{exercise}.ipynb")
    tests = {nbg(c)["grade_id"] for c in grade_cells(nb)}
    for gid, err in released_results[exercise].items():
        if gid in tests:
            assert err is not None and "NotImplementedError" in err, gid
        else:
            assert err is None, f"{gid}: {err}"
