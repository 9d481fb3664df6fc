"""``tipslib export gradescope``: the exercises as a Gradescope autograder, and the code it runs.

Gradescope runs one container per submission. The zip this module writes holds,
at its root (Gradescope unpacks it into ``/autograder/source``):

- ``setup.sh`` -- run once when Gradescope builds the image: a virtual environment
  in ``/autograder/venv`` with CPU-only torch (PyTorch's CPU index) and tipslib
  pinned to the exporting version (from ``wheels/`` when a wheel was bundled,
  else ``tipslib==VERSION`` from PyPI), plus bubblewrap for the sandbox;
- ``run_autograder`` -- run once per submission: ``python -m
  tipslib.grading.gradescope run`` grades every ``*.ipynb`` in
  ``/autograder/submission`` with the same :class:`~tipslib.grading.grade.Grader`
  (judge, sandbox, reference runs of the instructor's solution) as ``tipslib
  grade``, and writes ``/autograder/results/results.json``;
- ``exercises/*.ipynb`` -- the instructor notebooks (solutions and hidden tests:
  the zip is for course staff only, like ``exercises/source``);
- ``tipslib_autograder.json`` -- the settings chosen at export.

results.json follows Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a total
``score``, ``execution_time``, an ``output`` for the whole submission (each
exercise's status and notes), ``stdout_visibility`` (hidden: stdout carries the
grading seed and, on a grader failure, its traceback) and one entry per test.
A test with hidden checks becomes two entries: its visible checks (always
visible, worth 0 points, with the problem of its visible part if any) and its
hidden checks (worth the test's points, with the visibility chosen at export,
and what went wrong in the hidden part: nothing of that shows in the visible
entry); a test without hidden checks is one visible entry. The text is the
feedback ``tipslib grade`` writes (:func:`tipslib.grading.feedback.render`),
cut per test: check names, what differed, a matched hint, never test code or
hidden expected values.

Whatever happens -- no notebook, a wrong file, a broken notebook, a grader
failure -- a results.json is written; when nothing could be graded it scores 0
and says why. The root (``/autograder``) is the ``--root`` argument or the
``TIPSLIB_AUTOGRADER_ROOT`` variable, so the autograder runs anywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
import zipfile
from pathlib import Path

__all__ = ["export_gradescope", "run_autograder", "VISIBILITIES", "ROOT_ENV", "add_export"]

#: Gradescope's visibility settings for a test (its specification's words).
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
ROOT_ENV = "TIPSLIB_AUTOGRADER_ROOT"
SETTINGS = "tipslib_autograder.json"
GRADER_PROBLEM = ("this is a problem of the autograder, not of your submission: please tell the course staff "
                  "(your submission is kept and can be regraded)")

SETUP_SH = """#!/usr/bin/env bash
# Written by `tipslib export gradescope` (tipslib {version}). Gradescope runs it once, as root,
# when it builds the autograder image. TIPSLIB_AUTOGRADER_ROOT moves /autograder elsewhere (tests),
# TIPSLIB_SETUP_NO_APT=1 skips apt-get, TIPSLIB_PYTHON picks the Python that makes the venv,
# TIPSLIB_TORCH_INDEX replaces PyTorch's CPU index (empty: pip's own index, e.g. a mirror).
set -euo pipefail
ROOT="${{TIPSLIB_AUTOGRADER_ROOT:-/autograder}}"
SRC="$ROOT/source"
if [ -z "${{TIPSLIB_SETUP_NO_APT:-}}" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -q
    # bubblewrap: the sandbox's file-system and network isolation
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-pip bubblewrap
fi
"${{TIPSLIB_PYTHON:-python3}}" -m venv "$ROOT/venv"
PY="$ROOT/venv/bin/python"
"$PY" -m pip install -q --upgrade pip
# CPU-only torch: the CUDA wheels are gigabytes that a grading container never uses.
TORCH_INDEX="${{TIPSLIB_TORCH_INDEX-https://download.pytorch.org/whl/cpu}}"
if [ -n "$TORCH_INDEX" ]; then
    "$PY" -m pip install -q "torch>=2.6" --index-url "$TORCH_INDEX"
else
    "$PY" -m pip install -q "torch>=2.6"
fi
WHEEL="$(ls "$SRC"/wheels/tipslib-*.whl 2>/dev/null | head -n 1 || true)"
if [ -n "$WHEEL" ]; then
    "$PY" -m pip install -q "$WHEEL"
else
    "$PY" -m pip install -q "tipslib=={version}"
fi
"$PY" -c "import tipslib, sys; v = tipslib.__version__; sys.exit(0 if v == '{version}' else 'tipslib ' + v + ' installed, {version} expected')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Written by `tipslib export gradescope` (tipslib {version}). Gradescope runs it once per submission.
ROOT="${{TIPSLIB_AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT" || exit 1
ROOT="$PWD"  # a relative root (TIPSLIB_AUTOGRADER_ROOT=root, to try the zip) would be wrong after the cd
PY="${{TIPSLIB_PYTHON:-$ROOT/venv/bin/python}}"
[ -x "$PY" ] || PY=python3
"$PY" -m tipslib.grading.gradescope run --root "$ROOT"
code=$?
# Python itself (or tipslib) could not start: still leave a result that says so.
if [ ! -s "$ROOT/results/results.json" ]; then
    mkdir -p "$ROOT/results"
    printf '{{"score": 0, "output": "The autograder could not start (exit code %s): {problem}.", "stdout_visibility": "hidden", "tests": []}}\\n' "$code" > "$ROOT/results/results.json"
fi
exit 0
"""


# ----------------------------------------------------------------- export
def _sources(source):
    from .grade import WHERE_SOURCES

    source = Path(source)
    if source.is_dir():
        paths = sorted(source.glob("*.ipynb"))
    elif source.suffix == ".ipynb" and source.is_file():
        paths = [source]
    else:
        raise ValueError(f"The 'source' parameter must be an exercise source notebook or a folder of them. "
                         f"Got {str(source)!r} instead. {WHERE_SOURCES}")
    if not paths:
        raise ValueError(f"The 'source' parameter must hold exercise notebooks. Got {str(source)!r} instead (no *.ipynb). "
                         f"{WHERE_SOURCES}")
    return paths


def export_gradescope(source, out="autograder.zip", *, hidden_visibility="after_published", wheel=None,
                      timeout=60.0, memory_mb=2048, unsafe=False) -> Path:
    """Write a Gradescope autograder zip for the exercise notebook(s) ``source``; returns its path.

    Args:
        source: an instructor (source) exercise notebook, or a folder of them.
        out: the zip to write.
        hidden_visibility: when students see the hidden checks' results, one of :data:`VISIBILITIES`.
        wheel: a tipslib wheel to bundle (setup.sh installs it instead of ``tipslib==VERSION`` from PyPI);
            its version must be this tipslib's.
        timeout, memory_mb: per-notebook limits, as ``tipslib grade --timeout --memory``.
        unsafe: grade even where the container cannot build the sandbox (``tipslib grade --unsafe``):
            a submission could then read the solutions in /autograder/source and write its own results.
    """
    from .. import __version__
    from .grade import load_exercises

    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"The 'hidden_visibility' parameter must be one of {', '.join(VISIBILITIES)}. "
                         f"Got {hidden_visibility!r} instead.")
    for name, value in (("timeout", timeout), ("memory_mb", memory_mb)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"The '{name}' parameter must be a positive number. Got {value!r} instead.")
    paths = _sources(source)
    if wheel is not None:
        wheel = Path(wheel)
        if not (wheel.is_file() and wheel.name.startswith(f"tipslib-{__version__}-") and wheel.suffix == ".whl"):
            raise ValueError(f"The 'wheel' parameter must be a tipslib-{__version__}-*.whl file (the exporting "
                             f"version). Got {str(wheel)!r} instead.")
    exercises = load_exercises(source, paths)  # the same checks as tipslib grade: an id per notebook, no duplicates
    settings = {"tipslib": __version__, "exercises": {e.id: f"exercises/{p.name}" for e, p in zip(exercises.values(), paths)},
                "hidden_visibility": hidden_visibility, "timeout": float(timeout), "memory_mb": int(memory_mb),
                "unsafe": bool(unsafe)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp_out, "w", zipfile.ZIP_DEFLATED) as z:
        def add(name, data, mode=0o644):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        add("setup.sh", SETUP_SH.format(version=__version__), 0o755)
        add("run_autograder", RUN_AUTOGRADER.format(version=__version__, problem=GRADER_PROBLEM), 0o755)
        add(SETTINGS, json.dumps(settings, indent=1) + "\n")
        for p in paths:
            add(f"exercises/{p.name}", p.read_bytes())
        if wheel is not None:
            add(f"wheels/{wheel.name}", wheel.read_bytes())
    os.replace(tmp_out, out)
    return out


# ------------------------------------------------------------ run_autograder
def _notebooks(folder):
    """Every ``*.ipynb`` under ``folder`` (no checkpoints), and the names of the other files."""
    from .grade import walk_notebooks

    if not folder.is_dir():
        return [], []
    # (not os.walk: it recursed once per level, and a folder nested 1200 deep ended in RecursionError)
    nbs, others, _ = walk_notebooks(folder, skip=(".ipynb_checkpoints", "__MACOSX"))
    return sorted(nbs), sorted(str(p.relative_to(folder)) for p in others)


def _section(result, test, checks, problem):
    """The feedback lines of one test (as ``tipslib grade`` writes them) for ``checks`` only."""
    from .feedback import render
    from .judge import ExerciseResult

    one = dataclasses.replace(test, checks=list(checks), problem=problem, hidden_problem="")
    lines = render("", [ExerciseResult(result.exercise, result.title, result.status, [one], [])]).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### ")) + 1
    body = []
    for line in lines[start:]:
        if not line.strip():
            break
        body.append(line[2:] if line.startswith("- ") else line)
    return "\n".join(body)


def results_json(results, *, hidden_visibility="after_published", seed=None, found=None, others=(), names=()):
    """The results.json dict for one submission's :class:`~tipslib.grading.judge.ExerciseResult` list."""
    from .. import __version__
    from .feedback import VISIBLE_NOTE

    many = len(results) > 1
    tests, head = [], []
    for r in results:
        head += [f"{r.title or r.exercise} ({r.exercise}): status {r.status}."] + [f"- {n}" for n in r.notes] + [""]
        for t in r.tests:
            prefix = f"{r.exercise}: " if many else ""
            visible = [c for c in t.checks if not c.hidden]
            hidden = [c for c in t.checks if c.hidden]
            passed = t.points == t.max_points and t.max_points > 0
            if not hidden:  # (a hidden part without checks of its own: its points are visible anyway)
                problem = "; ".join(p for p in (t.problem, t.hidden_problem) if p)
                tests.append({"name": f"{prefix}{t.grade_id}", "score": t.points, "max_score": t.max_points,
                              "status": "passed" if passed else "failed",
                              "output": _section(r, t, visible, problem), "visibility": "visible"})
                continue
            vis_ok = all(c.ok for c in visible) and not t.problem
            if all(c.why == "did not run" for c in t.checks):  # nothing ran: the feedback file's one line, in both
                visible = hidden = t.checks
            note = (f"The {t.max_points:g} point{'' if t.max_points == 1 else 's'} of this test "
                    f"{'is' if t.max_points == 1 else 'are'} counted with its hidden checks.")
            vis_text = _section(r, t, visible, t.problem) if visible or t.problem else "(no visible checks)"
            hid_text = _section(r, t, hidden, t.hidden_problem)
            if not passed and all(c.ok for c in hidden) and not t.hidden_problem:
                hid_text += "\nNo points: this test also needs its visible checks (see above)."
            tests.append({"name": f"{prefix}{t.grade_id}: visible checks", "score": 0.0, "max_score": 0.0,
                          "status": "passed" if vis_ok else "failed", "output": f"{note}\n{vis_text}",
                          "visibility": "visible"})
            tests.append({"name": f"{prefix}{t.grade_id}: hidden checks", "score": t.points, "max_score": t.max_points,
                          "status": "passed" if passed else "failed", "output": hid_text,
                          "visibility": hidden_visibility})
    if found is not None and not found:
        shown = ", ".join(others[:10]) + (" ..." if len(others) > 10 else "") if others else "no files"
        wanted = ", ".join(f"{r.exercise}.ipynb" for r in results)
        head.insert(0, f"No Jupyter notebook (.ipynb) was found in your submission ({shown}). "
                       f"Upload your notebook{'s' if many else ''}: {wanted}.\n")
    missing = [r.exercise for r in results if r.status == "missing"]
    if found and missing:
        head.insert(0, f"No notebook of {', '.join(missing)} was recognised among the notebooks you uploaded "
                       f"({', '.join(names)}): upload the exercise notebook you worked in (its metadata names "
                       "the exercise), not a copy made from a blank notebook.\n")
    head.append(VISIBLE_NOTE)
    return {"score": float(sum(r.total for r in results)), "output": "\n".join(head), "stdout_visibility": "hidden",
            "tests": tests, "extra_data": {"tipslib": __version__, "seed": seed,
                                           "statuses": {r.exercise: r.status for r in results}}}


def _failure(message):
    return {"score": 0.0, "output": message, "stdout_visibility": "hidden", "tests": []}


def _grade(root, settings):
    from .grade import Grader, Submission, load_exercises, safe_name
    from .sandbox import Sandbox

    class Recording(Grader):
        """A Grader that keeps the last result object per exercise (``tipslib grade`` keeps rows)."""

        def _row(self, sub, r, when, late):
            self.kept[r.exercise] = r
            return super()._row(sub, r, when, late)

    source, submission = root / "source", root / "submission"
    exercises = load_exercises(source / "exercises")
    nbs, others = _notebooks(submission)
    sub = Submission("submission", nbs, submission if submission.is_dir() else None)
    hide = [source, submission, root / "results"]
    Sandbox.allow_unsafe = bool(settings.get("unsafe", False))
    try:
        with Recording(exercises, jobs=1, timeout=settings.get("timeout", 60.0),
                       memory_mb=settings.get("memory_mb", 2048), hide=hide) as grader:
            grader.kept = {}
            print(f"tipslib {settings.get('tipslib')}: grading {len(nbs)} notebook(s) of {sorted(exercises)} "
                  f"with seed {grader.seed}", flush=True)
            grader.grade_student(sub)
            results = [grader.kept[e] for e in exercises]
            for who, ex, why in grader.failed:
                print(f"grader failure on {ex}: {why}", flush=True)
            seed = grader.seed
    finally:
        Sandbox.allow_unsafe = False
    # file names are the student's bytes: not UTF-8, they would be lone surrogates that results.json cannot hold
    return results_json(results, hidden_visibility=settings.get("hidden_visibility", "after_published"), seed=seed,
                        found=bool(nbs), others=[safe_name(o) for o in others], names=[safe_name(p.name) for p in nbs])


def run_autograder(root=None) -> dict:
    """Grade ``ROOT/submission`` and write ``ROOT/results/results.json``; returns what was written.

    ``root`` defaults to ``$TIPSLIB_AUTOGRADER_ROOT``, else ``/autograder``. Never raises for
    what the submission holds or for a failure of the grader: either way a results.json is written.
    """
    start = time.monotonic()
    root = Path(root or os.environ.get(ROOT_ENV) or "/autograder")
    try:
        settings = json.loads((root / "source" / SETTINGS).read_text(encoding="utf-8"))
        out = _grade(root, settings)
    except Exception as exc:  # noqa: BLE001 - whatever failed, Gradescope must get a result
        traceback.print_exc(file=sys.stdout)
        if type(exc).__name__ == "SandboxError":
            print("The sandbox could not be built in this container (bubblewrap and user namespaces are needed); "
                  "`tipslib export gradescope --unsafe` grades without it, at the risks its help names.", flush=True)
        out = _failure(f"The autograder failed ({type(exc).__name__}): {GRADER_PROBLEM}.")
    out["execution_time"] = round(time.monotonic() - start, 3)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / "results.json.part"
    tmp.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8", errors="backslashreplace")
    os.replace(tmp, results / "results.json")
    print(f"score {out['score']:g} written to {results / 'results.json'} in {out['execution_time']:.1f} s", flush=True)
    return out


# ---------------------------------------------------------------------- CLI
def add_export(sub):
    """``tipslib export gradescope``: registered in :data:`tipslib.cli.COMMANDS`."""
    p = sub.add_parser(
        "export", help="package the exercises for another grading engine (Gradescope)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Package exercise source notebooks for a grading engine. gradescope: an autograder zip "
                    "(setup.sh, run_autograder) that grades with the same judge, sandbox and reference values "
                    "as `tipslib grade`.",
        epilog="example:\n  tipslib export gradescope exercises/source -o autograder.zip --hidden-visibility after_published")
    engines = p.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    g = engines.add_parser(
        "gradescope", help="a Gradescope autograder zip", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a Gradescope autograder zip for one exercise source notebook or a folder of them. "
                    "Upload it as the assignment's autograder (Ubuntu base image); students upload their "
                    "notebook(s).",
        epilog="example:\n  tipslib export gradescope exercises/source/regularization.ipynb -o regularization.zip \\\n"
               "      --hidden-visibility after_due_date --wheel dist/tipslib-0.1.0-py3-none-any.whl")
    g.add_argument("source", help="an exercise source notebook, or a folder of them")
    g.add_argument("-o", "--out", default="autograder.zip", help="the zip to write (default autograder.zip)")
    g.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                   help="when students see the results of hidden checks (default after_published)")
    g.add_argument("--wheel", default=None, help="a tipslib wheel of this version to bundle (without it, setup.sh "
                                                 "installs tipslib==VERSION from PyPI, where it must be published)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per notebook (default 60)")
    g.add_argument("--memory", type=int, default=2048, help="MB of memory per notebook (default 2048)")
    g.add_argument("--unsafe", action="store_true", help="grade even where the container cannot build the sandbox "
                   "(a submission could then read the solutions and write its own results)")

    def run(args):
        try:
            path = export_gradescope(args.source, args.out, hidden_visibility=args.hidden_visibility, wheel=args.wheel,
                                     timeout=args.timeout, memory_mb=args.memory, unsafe=args.unsafe)
        except (ValueError, OSError) as exc:
            print(f"tipslib export gradescope: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
        if args.wheel is None:
            from .. import __version__

            print(f"tipslib export gradescope: note: without --wheel, setup.sh runs `pip install tipslib=={__version__}` "
                  "from PyPI when Gradescope builds the image, which fails unless that release is published there. "
                  f"To bundle the wheel you installed: --wheel PATH/tipslib-{__version__}-py3-none-any.whl "
                  "(`pip wheel --no-deps .` in a checkout builds one).", file=sys.stderr)
        return 0

    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tipslib.grading.gradescope",
                                description="What the Gradescope autograder runs per submission.")
    p.add_argument("command", choices=["run"])
    p.add_argument("--root", default=None, help=f"the autograder root (default ${ROOT_ENV}, else /autograder)")
    args = p.parse_args(argv)
    run_autograder(args.root)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
