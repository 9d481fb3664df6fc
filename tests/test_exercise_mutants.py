"""Every small wrong edit of an exercise solution loses points, unless it is not wrong at all.

``tests/mutation.py`` makes each one-edit mutant of the code between the solution markers (a
comparison flipped, an operator swapped, a constant changed, a call swapped or dropped, a
statement deleted, ...) and runs the notebook's test cells, hidden ones included, against it.
A mutant no test cell catches would keep full marks; each that survives must be listed below as
equivalent to the solution, with the reason. A listed mutant that is caught again (or no longer
made) fails too, so the list stays exact.

When this fails after you change an exercise, read each surviving mutant: add a check that
catches it (usually the fix), or list it here with why it gives the same answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from mutation import mutants

ROOT = Path(__file__).resolve().parents[1]
MUTATION = ROOT / "tests" / "mutation.py"
FLOAT_IS_NUMPY_FLOAT = "np.float64 is a subclass of float: the same number, the same comparisons"
NOT_ASKED = "the two differ only when no loss is below infinity (all inf or nan), which the exercise does not ask about"

#: {notebook: {answer cell: {surviving mutant: why it is not a wrong answer}}}
EQUIVALENT = {
    "data_processing": {
        "batchnorm_backward": {
            "name swapped: x -> dout  (in `n = x.shape[0]`)": "dout has the shape of x",
        },
    },
    "training_a_neural_network": {
        "bce": {
            "keyword dropped: np.errstate(divide='ignore') -> np.errstate()":
                "only hides a warning: log(0) is -inf either way, and the clamp makes it -100",
            "call -> its argument: float(np.mean(-(y * log_z + (1 - y) * log_1mz))) -> "
            "np.mean(-(y * log_z + (1 - y) * log_1mz))": FLOAT_IS_NUMPY_FLOAT,
        },
        "bce_grad": {
            "index dropped: z.shape[0] -> z.shape": "z has one axis, so dividing by the tuple (N,) divides by N",
            "name swapped: z -> y  (in `return (z - y) / (z * (1 - z)) / z.shape[0]`)": "y has the shape of z",
        },
        "softmax_cross_entropy": {
            "constant: 1 -> 0  (in `log_sum_exp = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))`)":
                "m keeps its (N, 1) shape, so the sum broadcasts to (N, N); its mean is still the mean of the row "
                "terms, because the mean is linear",
            "constant: 1 -> 0  (in `picked = logits.gather(1, target.unsqueeze(1)).squeeze(1)`)":
                "picked keeps its (N, 1) shape; as above, the mean of the broadcast (N, N) difference is unchanged",
        },
    },
    "parameter_tuning": {},
    "regularization": {
        "dropout_forward": {
            "comparison: rng.random(x.shape) >= p -> rng.random(x.shape) > p":
                "a uniform draw equals p with probability 0",
        },
        "elastic_net": {
            "call -> its argument: float(penalty) -> penalty": FLOAT_IS_NUMPY_FLOAT,
        },
        "early_stopping": {
            # the initial best_epoch and waited: the first finite loss sets both
            "constant: 0 -> 1  (in `best, best_epoch, waited = float(\"inf\"), 0, 0`)": NOT_ASKED,
            "constant: 0 -> 2  (in `best, best_epoch, waited = float(\"inf\"), 0, 0`)": NOT_ASKED,
        },
    },
    "good_practices": {
        "numerical_gradient": {
            "call swapped: np.zeros_like(x) -> np.ones_like(x)": "every element of the gradient is written afterwards",
            "name swapped: x -> grad  (in `for i in np.ndindex(x.shape):`)": "grad is made with the shape of x",
        },
        "relative_error": {
            "constant: 1e-12 -> 5e-13  (in `return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), "
            "np.abs(b)), 1e-12)))`)": "the floor only decides 0 / 0 (both give 0) and is below any difference tested",
            "call -> its argument: float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12))) "
            "-> np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12))": FLOAT_IS_NUMPY_FLOAT,
        },
        "overfit_batch": {
            "name swapped: optimizer -> model  (in `optimizer.zero_grad()`)":
                "the optimizer holds every parameter of the model, so both clear the same gradients",
        },
        "gradient_check": {
            "comparison: error <= tol -> error < tol": "an error exactly equal to tol has probability 0",
            "call -> its argument: bool(error <= tol) -> error <= tol":
                "np.bool_ and bool compare equal, and the check compares values",
        },
    },
}

#: the same surviving mutant may be made twice (two equal constants on one line)
TWICE = {("regularization", "early_stopping")}


@pytest.mark.slow
@pytest.mark.parametrize("exercise", sorted(EQUIVALENT))
def test_every_wrong_edit_of_the_solution_fails_a_test(exercise, tmp_path):
    out = tmp_path / "survivors.json"
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(MUTATION), str(ROOT / "exercises" / "source" / f"{exercise}.ipynb"),
                           str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    survivors = json.loads(out.read_text())
    for answer, names in survivors.items():
        listed = Counter({name: 2 if (exercise, answer) in TWICE else 1
                          for name in EQUIVALENT[exercise].get(answer, {})})
        wrong = Counter(names) - listed
        assert not wrong, f"{exercise}/{answer}: these wrong answers keep full marks:\n  " + "\n  ".join(wrong)
        stale = listed - Counter(names)
        assert not stale, f"{exercise}/{answer}: listed as equivalent but no longer surviving:\n  " + "\n  ".join(stale)
    assert set(EQUIVALENT[exercise]) <= set(survivors), "an answer cell named here is gone"


def test_the_mutants_are_made_inside_the_solution_only():
    source = ('def f(x, eps=1e-5):\n    """Doc, 2 + 2."""\n    # BEGIN SOLUTION\n    y = x + 1\n'
              '    return y.copy()\n    # END SOLUTION\n')
    names = [name for name, _ in mutants(source)]
    assert "operator: x + 1 -> x - 1" in names and "method dropped: y.copy() -> y" in names
    assert "statement deleted: y = x + 1 -> pass" in names
    assert not any("1e-05" in n or "Doc" in n for n in names), names   # defaults and docstrings are the stub's
