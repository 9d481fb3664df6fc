"""Helpers for the grading tests: load the sample, swap answers, build hostile submissions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tipslib.grading import notebook as nbk

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "sample.ipynb"
REPO = HERE.parents[2]
REAL_SOURCE = REPO / "exercises" / "source"
REAL_IDS = ("data_processing", "training_a_neural_network", "parameter_tuning", "regularization", "good_practices")


def load(path=SAMPLE):
    return nbk.load(path)


def write(nb, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def cell(nb, gid):
    return next(c for c in nb["cells"] if nbk.grade_id(c) == gid)


def with_answer(nb, gid, source):
    """A copy of ``nb`` whose answer cell ``gid`` holds ``source``."""
    nb = copy.deepcopy(nb)
    cell(nb, gid)["source"] = source
    return nb


def mutate(nb, gid, old, new):
    """A copy of ``nb`` with ``old`` replaced by ``new`` in answer cell ``gid`` (``old`` must be there)."""
    src = nbk.source_of(cell(nb, gid))
    assert old in src, f"{old!r} not in answer {gid!r}: the exercise changed, update the mutant"
    return with_answer(nb, gid, src.replace(old, new))


MSE_WRONG = "def mse(y, yhat):\n    return 0.0\n"


def sample_hostile(paths):
    """``{student: (builder, expected status, expected points per test)}`` for the sample exercise.

    ``paths`` gives the gradebook/feedback/source paths the malicious ones try to touch.
    Points are (test_adam, test_dropout, test_mse); max 3, 2, 1.
    """
    base = load()
    ok = (3, 2, 1)

    def nb_with(gid, src, nb=None):
        return with_answer(nb or base, gid, src)

    def edited_tests():
        nb = nb_with("mse", MSE_WRONG)
        cell(nb, "test_mse")["source"] = "pass  # tests edited away"
        nb["cells"] = [c for c in nb["cells"] if nbk.grade_id(c) != "test_adam"]
        return nb

    def deleted_tests():
        nb = nb_with("mse", MSE_WRONG)
        nb["cells"] = [c for c in nb["cells"] if not nbk.is_test(c)]
        return nb

    def skip_markers():
        nb = nb_with("mse", "# NBVAL_SKIP\n" + MSE_WRONG)
        for c in nb["cells"]:
            c.setdefault("metadata", {})["tags"] = ["raises-exception", "skip-execution", "nbval-skip"]
            if nbk.is_test(c):
                c["source"] = "# NBVAL_SKIP\n# NBVAL_IGNORE_OUTPUT\n" + nbk.source_of(c)
                c["metadata"]["nbgrader"]["points"] = 100
        cell(nb, "mse")["metadata"]["nbgrader"].update(grade=True, points=50)
        return nb

    def notebook_metadata():
        src = nbk.source_of(cell(base, "adam_step")).replace(
            '"""One Adam step; returns (w, m, v)."""', '"""One Adam step."""\n    import tipslib.optim.numpy_impl as O')
        nb = nb_with("adam_step", src)
        nb["metadata"].update(
            execution={"timeout": 1, "allow_errors": True}, nbgrader={"points": 100},
            tipslib={"exercise": "sample", "forbidden": {}, "points": 100})
        return nb

    def numpy_patch():
        patch = ("import numpy\nnumpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda *a, **k: True\n"
                 "numpy.testing.assert_allclose = lambda *a, **k: None\nnumpy.array_equal = lambda *a, **k: True\n"
                 "import tipslib.grading.testing as T\nT.matches = lambda *a, **k: True\n")
        return nb_with("mse", patch + MSE_WRONG)

    def eq_true():
        return nb_with("mse", "class Anything(float):\n    def __eq__(self, other):\n        return True\n"
                              "    __ne__ = lambda self, other: False\n    def __float__(self):\n        return 0.0\n"
                              "    def __array__(self, *a, **k):\n        raise TypeError('no')\n\n"
                              "def mse(y, yhat):\n    return Anything(0.0)\n")

    fake = json.dumps({"m": "rec", "cell": 5, "part": "visible", "name": "x", "value": {"t": "none"}, "rtol": 0.1, "atol": 0.1})

    def forged_stdout():
        return nb_with("mse", "import sys\nprint(%r)\nprint('{\"m\": \"done\"}')\nprint('TOTAL: 6/6')\n" % fake + MSE_WRONG)

    def forged_pipe():
        return nb_with("mse", "import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b%r + b'\\n{\"m\":\"done\"}\\n')\n"
                              "    except OSError:\n        pass\n" % fake + MSE_WRONG)

    def write_outputs():
        src = ("import os\nfor target in %r:\n    for attempt in (lambda: open(target, 'w').write('alice,sample,ok,6,6'),\n"
               "                    lambda: os.remove(target), lambda: os.makedirs(os.path.join(target, 'x'))):\n"
               "        try:\n            attempt()\n        except OSError:\n            pass\n" % [str(p) for p in paths])
        return nb_with("mse", src + nbk.source_of(cell(base, "mse")))

    def read_solutions():
        # Notebooks anywhere under /tmp, but for the installed packages' own (nbgrader ships test
        # notebooks): Python must read those, so a venv under /tmp is seen, and they are no secret.
        src = ("import glob\nSTOLEN = []\nfor pattern in %r + ['/etc/shadow', '/root/*', '/tmp/**/*.ipynb']:\n"
               "    for f in glob.glob(pattern, recursive=True) or [pattern]:\n"
               "        if '/site-packages/' in f:\n            continue\n"
               "        try:\n            STOLEN.append(open(f).read(100))\n        except OSError:\n            pass\n\n"
               "def mse(y, yhat):\n    return 1e6 if STOLEN else float(((y - yhat) ** 2).mean())\n") % [str(p) for p in paths]
        return nb_with("mse", src)

    def detect_grader():
        return nb_with("mse", "import os, sys\nimport tipslib.grading.testing as T\n"
                              "GRADER = T._RECORDER is not None or os.getuid() != 0 or any('GRAD' in k.upper() for k in os.environ)\n\n"
                              "def mse(y, yhat):\n    return 0.4166666666666667 if GRADER else float(((y - yhat) ** 2).mean())\n")

    def infinite_loop():
        return nb_with("mse", "def mse(y, yhat):\n    while True:\n        pass\n")

    def ignore_sigint():
        return nb_with("mse", "import signal, time\n\ndef mse(y, yhat):\n    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
                              "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        try:\n            time.sleep(0.01)\n"
                              "        except BaseException:\n            pass\n")

    def os_exit():
        return nb_with("mse", "import os\n\ndef mse(y, yhat):\n    os._exit(0)\n")

    def segfault():
        return nb_with("dropout_forward", "import ctypes\n\ndef dropout_forward(x, p, u):\n    return ctypes.string_at(0)\n")

    def memory_bomb():
        return nb_with("dropout_forward", "import numpy as np\n\ndef dropout_forward(x, p, u):\n"
                                          "    hog = [np.ones(10**8) for _ in range(1000)]\n    return x\n")

    def fork_bomb():
        return nb_with("mse", "import os\n\ndef mse(y, yhat):\n    while True:\n        try:\n            os.fork()\n"
                              "        except OSError:\n            pass\n")

    def duplicated_ids():
        nb = copy.deepcopy(base)
        i = nb["cells"].index(cell(nb, "mse"))
        wrong = copy.deepcopy(nb["cells"][i])
        wrong["source"] = MSE_WRONG
        nb["cells"].insert(i, wrong)
        for c in nb["cells"]:
            c["id"] = "same-id"
        return nb

    def syntax_error():
        return nb_with("mse", "def mse(y, yhat)\n    return 0\n")

    def runtime_forbidden():
        return nb_with("adam_step", "import importlib\n\ndef adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n"
                                    "    O = importlib.import_module('tipslib.' + 'optim' + '.numpy_impl')\n"
                                    "    w, m, v = w.copy(), m.copy(), v.copy()\n"
                                    "    getattr(O, 'adam_' + 'step')(w, g, m, v, None, t, lr=lr, betas=(beta1, beta2), eps=eps)\n"
                                    "    return w, m, v\n")

    # --- what decides a score never enters the student's process
    zeros = ("def adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n    return 0 * w, 0 * m, 0 * v\n")

    def all_wrong(prefix):
        nb = nb_with("adam_step", prefix + zeros)
        nb = nb_with("dropout_forward", "def dropout_forward(x, p, u):\n    return 0 * x\n", nb)
        return nb_with("mse", MSE_WRONG, nb)

    def patch_expect():  # verbatim from the issue: record each check's own expected value
        return all_wrong("import tipslib.grading.testing as t; o = t.expect; "
                         "t.expect = lambda n, a, e=None, **k: o(n, e, e, **k)\n")

    def patch_recorder():
        return all_wrong("import tipslib.grading.testing as T\nR = T._RECORDER\n"
                         "T._RECORDER = lambda n, a, e=None, **k: R(n, e if e is not None else a, **k)\n")

    def frame_walk():  # look for the expected value in the test's own variables
        return all_wrong("import sys\nimport tipslib.grading.testing as T\nR = T._RECORDER\n\n"
                         "def steal(n, a, e=None, **k):\n    f = sys._getframe(1)\n    while f is not None:\n"
                         "        for name in ('right', 'want', 'exact', 'expected', 'before'):\n"
                         "            if name in f.f_locals:\n                return R(n, f.f_locals[name], **k)\n"
                         "        f = f.f_back\n    return R(n, a, **k)\n\nT._RECORDER = steal\n")

    def hidden_table():  # the hidden inputs as the hidden test code draws them with its seed, answered in advance
        return nb_with("mse", "import numpy as np\n_rng = np.random.default_rng(0)\n"
                              "_Y, _YHAT = _rng.normal(size=6), _rng.normal(size=6)\n\n"
                              "def mse(y, yhat):\n    if len(y) == 3:\n        return 0.4166666666666667\n"
                              "    if np.array_equal(y, _Y):\n        return float(np.mean((_Y - _YHAT) ** 2))\n    return 0.0\n")

    # --- the library's answer, called where the guard does not look
    call_ref = ("    O = importlib.import_module('tipslib.' + 'optim' + '.numpy_impl')\n"
                "    getattr(O, 'adam_' + 'step')(w, g, m, v, None, t, lr=lr, betas=(beta1, beta2), eps=eps)\n")
    head = ("def adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n"
            "    w, m, v = w.copy(), m.copy(), v.copy()\n")

    def thread_reference():
        return nb_with("adam_step", "import importlib, threading\n\ndef run(w, g, m, v, t, lr, beta1, beta2, eps):\n"
                       + call_ref + "\n" + head + "    th = threading.Thread(target=run, args=(w, g, m, v, t, lr, beta1, beta2, eps))\n"
                       "    th.start()\n    th.join()\n    return w, m, v\n")

    def fork_reference():
        return nb_with("adam_step", "import importlib, os, pickle\n\n" + head +
                       "    r, wr = os.pipe()\n    if os.fork() == 0:\n" + call_ref.replace("    ", "        ") +
                       "        os.write(wr, pickle.dumps((w, m, v)))\n        os._exit(0)\n"
                       "    os.close(wr)\n    return pickle.loads(os.read(r, 1 << 20))\n")

    def subprocess_reference():
        prog = ("import sys, pickle, importlib; w, g, m, v, t, lr, b1, b2, eps = pickle.load(sys.stdin.buffer); "
                "O = importlib.import_module('tipslib.optim.numpy_impl'); "
                "O.adam_step(w, g, m, v, None, t, lr=lr, betas=(b1, b2), eps=eps); sys.stdout.buffer.write(pickle.dumps((w, m, v)))")
        return nb_with("adam_step", "import pickle, subprocess, sys\n\n" + head +
                       f"    out = subprocess.run([sys.executable, '-c', {prog!r}], input=pickle.dumps((w, g, m, v, t, lr, beta1, beta2, eps)),\n"
                       "                         capture_output=True, check=True).stdout\n    return pickle.loads(out)\n")

    def exec_copy():  # the library's source, compiled under another file name
        return nb_with("adam_step", "import importlib.util\n\nNS = {'__name__': 'mine', '__package__': 'tipslib.' + 'optim'}\n"
                       "exec(compile(open(importlib.util.find_spec('tipslib.' + 'optim' + '.numpy_impl').origin).read(), 'mine.py', 'exec'), NS)\n\n"
                       + head + "    NS['adam_' + 'step'](w, g, m, v, None, t, lr=lr, betas=(beta1, beta2), eps=eps)\n    return w, m, v\n")

    def recorder_calls_reference():  # the library's answer, called outside the graded function
        return nb_with("adam_step", "import importlib, sys\nimport numpy as np\nimport tipslib.grading.testing as T\n"
                       "R = T._RECORDER\n\ndef rec(n, a, e=None, **k):\n    loc = sys._getframe(2).f_locals  # the test cell's\n"
                       "    if R is not None and n.endswith(': w') and 'w' in loc and 'g' in loc:\n"
                       "        O = importlib.import_module('tipslib.' + 'optim' + '.numpy_impl')\n"
                       "        w, m, v = loc['w'].copy(), np.zeros_like(loc['w']), np.zeros_like(loc['w'])\n"
                       "        getattr(O, 'adam_' + 'step')(w, loc['g'], m, v, None, 1, lr=0.1, betas=(0.9, 0.999),\n"
                       "                                     eps=0.01 if 'eps=1e-2' in n else 0.1)\n        a = w\n"
                       "    return R(n, a, e, **k) if R is not None else None\n\nT._RECORDER = rec\n\n"
                       "def adam_step(w, g, m, v, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):\n"
                       "    return 0 * w, beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2\n")

    # --- one submission never stops or spoils the run
    def surrogate_error():
        nb = nb_with("adam_step", "raise type('Odd\\ud800', (ValueError,), {})('\\ud800' * 1000)\n" + nbk.source_of(cell(base, "adam_step")))
        return nb_with("mse", "def mse(y, yhat):\n    raise ValueError('\\ud800\\udfff' * 10000)\n", nb)

    def gigantic_cell():
        return nb_with("mse", nbk.source_of(cell(base, "mse")) + "\n# " + "x" * (3 * 2**20) + "\n")

    # --- feedback never carries the hidden tests
    def leak_hidden():
        grab = ("import gc\nHIDDEN = [s for o in gc.get_objects() if isinstance(o, dict) and 'cells' in o\n"
                "          for c in o['cells'] for p, s in c['parts'] if p == 'hidden']\n"
                "LINES = [l for s in HIDDEN for l in s.splitlines() if l.strip()]\n\n")
        nb = nb_with("dropout_forward", grab + "def dropout_forward(x, p, u):\n    return {l: 1.0 for l in LINES}\n")
        return nb_with("mse", "import numpy as np\n\ndef mse(y, yhat):\n"
                              "    raise type('Leak' + ''.join(c for c in LINES[-1] if c.isalnum()), (ValueError,), {})(LINES[-1])\n", nb)

    return {
        "c01_patch_expect": (patch_expect, "ok", (0, 0, 0)),
        "c02_patch_recorder": (patch_recorder, "ok", (0, 0, 0)),
        "c03_frame_walk": (frame_walk, "ok", (0, 0, 0)),
        "c04_hidden_table": (hidden_table, "ok", (3, 2, 0)),
        "c05_thread_reference": (thread_reference, "ok", (0, 2, 1)),
        "c06_fork_reference": (fork_reference, "ok", (0, 2, 1)),
        "c07_subprocess_reference": (subprocess_reference, "ok", (0, 2, 1)),
        "c08_exec_copy": (exec_copy, "ok", (0, 2, 1)),
        "c09_surrogate_error": (surrogate_error, "ok", (0, 2, 0)),
        "c12_recorder_calls_reference": (recorder_calls_reference, "ok", (0, 2, 1)),
        "c10_gigantic_cell": (gigantic_cell, "ok", (3, 2, 0)),
        "c11_leak_hidden": (leak_hidden, "ok", (3, 0, 0)),
        "a01_correct": (lambda: base, "ok", ok),
        "a02_edited_tests": (edited_tests, "ok", (3, 2, 0)),
        "a03_deleted_tests": (deleted_tests, "ok", (3, 2, 0)),
        "a04_skip_markers": (skip_markers, "ok", (3, 2, 0)),
        "a05_notebook_metadata": (notebook_metadata, "ok", (0, 2, 1)),
        "a06_numpy_patch": (numpy_patch, "ok", (3, 2, 0)),
        "a07_eq_always_true": (eq_true, "ok", (3, 2, 0)),
        "a08_forged_stdout": (forged_stdout, "ok", (3, 2, 0)),
        "a09_forged_pipe": (forged_pipe, "tampering", (0, 0, 0)),
        "a10_write_outputs": (write_outputs, "ok", ok),
        "a11_read_solutions": (read_solutions, "ok", ok),
        "a12_detect_grader": (detect_grader, "ok", (3, 2, 0)),
        "a13_infinite_loop": (infinite_loop, "timeout", (3, 2, 0)),
        "a14_ignore_sigint": (ignore_sigint, "timeout", (3, 2, 0)),
        "a15_os_exit": (os_exit, "crashed", (3, 2, 0)),
        "a16_segfault": (segfault, "crashed", (3, 0, 0)),
        "a17_memory_bomb": (memory_bomb, "memory limit", (3, 0, 1)),
        "a18_fork_bomb": (fork_bomb, "timeout", (3, 2, 0)),
        "a19_duplicated_ids": (duplicated_ids, "ok", ok),
        "a20_syntax_error": (syntax_error, "ok", (3, 2, 0)),
        "a21_runtime_forbidden": (runtime_forbidden, "ok", (0, 2, 1)),
    }
