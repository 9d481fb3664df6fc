"""``tipslib check NOTEBOOK``: run a notebook's visible tests and say what passed.

The notebook's code cells run top to bottom in a fresh Python process (no
kernel needed); hidden-test blocks, if the notebook still has them, are cut
out first. Each ``expect`` compares locally, so a failing test shows the
helpful message it raises (a matched hint, a shape, a value).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from . import notebook as nbk
from .release import _remove_hidden

__all__ = ["check"]

HIDDEN_NOTE = ("Passing the visible tests does not mean full marks: the grader also runs hidden "
               "tests on other inputs.")


def _job(nb):
    cells = []
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        src = nbk.strip_magics(nbk.source_of(cell))
        kind = "test" if nbk.is_test(cell) else "setup"
        if kind == "test":
            try:
                src = _remove_hidden(src)
            except ValueError:  # markers out of order (a student's edit): only what comes before them runs
                head, begun, _ = src.partition(nbk.BEGIN_HIDDEN)
                src = head.rsplit("\n", 1)[0] if begun else src  # (an end marker alone is only a comment)
        cells.append({"kind": kind, "grade_id": nbk.grade_id(cell), "parts": [["main", src]], "points": nbk.points(cell)})
    return {"cells": cells, "record": False, "whole_messages": True}


def _run(job, timeout):
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "tipslib.grading._runner", str(w)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,),
                            env=dict(os.environ, MPLBACKEND="Agg"), start_new_session=True)
    os.close(w)
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    buf, deadline, timed_out = b"", time.monotonic() + timeout, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            timed_out = True
            os.killpg(proc.pid, 9)
            break
        data = os.read(r, 1 << 20)
        if not data:
            break
        buf += data
    os.close(r)
    proc.wait()
    msgs = []
    for line in buf.split(b"\n"):
        try:
            msgs.append(json.loads(line))
        except ValueError:
            pass
    return msgs, timed_out


def check(path, *, timeout=300.0, out=None) -> int:
    """Run the visible tests of the notebook at ``path``; 0 when all pass, 1 otherwise, 2 if unreadable."""
    out = sys.stdout if out is None else out     # the stream of the moment, not the one at import
    if not Path(path).is_file():
        where = "" if Path(path).is_absolute() else f" in {Path.cwd()}"
        print(f"Cannot check {path}: there is no such file{where}. The exercises are in the exercises/ "
              "folder of your course: from the course folder (where JupyterLab's terminal starts), run "
              "`tipslib check exercises/NAME.ipynb`.", file=out)
        return 2
    try:
        nb = nbk.load(path)
    except nbk.InvalidNotebook as exc:
        print(f"Cannot check {path}: {exc}. If it cannot be repaired (JupyterLab: File > Revert Notebook to "
              "Checkpoint), rename it and run `tipslib course` again: it writes a fresh copy beside it.", file=out)
        return 2
    job = _job(nb)
    tests = [i for i, c in enumerate(job["cells"]) if c["kind"] == "test"]
    if not tests:
        print(f"Cannot check {path}: it has no test cells, so it is not an exercise notebook. The exercises "
              "are the notebooks in the exercises/ folder of your course.", file=out)
        return 2
    name = nbk.title_of(nb) or Path(path).stem
    print(f"Checking {name}: {len(tests)} test cells (this takes a few seconds)...", file=out)
    msgs, timed_out = _run(job, timeout)
    errors = {m["cell"]: m["error"] for m in msgs if m.get("m") == "end" and m.get("error")}
    ended = {m["cell"] for m in msgs if m.get("m") == "end"}
    # the cells run in order: at the time limit, the first one that did not end is the one that was running
    running = next((i for i in range(len(job["cells"])) if i not in ended), None) if timed_out else None
    slow = (f"still running at the time limit ({timeout:g} s): an endless loop, or an answer far too slow? "
            "(`--timeout` gives it more time)")
    if running is not None and job["cells"][running]["kind"] == "setup":
        print(f"  note: cell {job['cells'][running]['grade_id'] or running} was {slow}", file=out)
    for i, c in enumerate(job["cells"]):
        if c["kind"] == "setup" and i in errors and errors[i]["type"] != "NotImplementedError":
            e = errors[i]
            print(f"  note: cell {c['grade_id'] or i} raised {e['type']}: {e['msg']}", file=out)
    passed = points = total = 0
    for i in tests:
        c = job["cells"][i]
        total += c["points"]
        label = f"{c['grade_id'] or f'cell {i}'} ({c['points']:g} point{'' if c['points'] == 1 else 's'})"
        if i in ended and i not in errors:
            passed += 1
            points += c["points"]
            print(f"  PASS  {label}", file=out)
            continue
        e = errors.get(i)
        if e is None and i == running:
            why = slow
        elif e is None:
            why = "did not run (the run stopped earlier" + (": time limit)" if timed_out else ")")
        elif e["type"] == "NotImplementedError":
            why = "not implemented yet (the function still raises NotImplementedError)"
        elif e["type"] == "AssertionError":
            why = e["msg"]
        else:
            why = f"{e['type']}: {e['msg']}"
        print(f"  FAIL  {label}: " + why.replace("\n", "\n        "), file=out)   # arrays keep their rows
    print(f"{passed}/{len(tests)} visible tests pass ({points:g}/{total:g} visible points).", file=out)
    print(HIDDEN_NOTE, file=out)
    return 0 if passed == len(tests) else 1
