"""Every benchmark in one table: ``python bench/run.py [--quick]``.

Runs, in this order:

1. every ``bench/bench_*.py`` module's ``run(quick)`` (each returns ``Row``\\ s with
   its anchor measured in the same run; a module that needs a GPU marks its GPU
   rows absent when there is none). ``bench_browser_widgets`` is among them: each
   widget's median input-to-redrawn-output time in JupyterLab in Chromium;
2. each chapter notebook executed with nbclient, timed, against an anchor
   notebook with one empty cell (kernel start and shutdown only);
3. the whole course: the chapter times added up, goal <= 2 minutes.

Each module runs in a process of its own, so one that leaves something behind
(a patched ``socket``, a changed thread count, a crash) cannot spoil the rows of
the next. A module that fails puts its error in the table and the run goes on;
the exit status is 1 when any did. ``--only browser,notebooks`` keeps the modules whose
name contains one of the comma-separated patterns (``notebooks`` selects steps 2
and 3); ``--no-notebooks`` skips steps 2 and 3.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _common import Row, print_table  # noqa: E402

NOTEBOOK_GOAL = "< 30 s (aim <= 15 s)"
COURSE_GOAL = "<= 120 s"


def bench_modules(only: list[str] | None = None) -> list[Path]:
    return [p for p in sorted(HERE.glob("bench_*.py")) if only is None or any(o in p.stem for o in only)]


def run_module(path: Path, quick: bool) -> list[Row]:
    """Import ``path`` and call its ``run``; an error becomes one row saying so."""
    name = path.stem
    try:
        spec = importlib.util.spec_from_file_location(f"tipslib_bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        rows = list(module.run(quick=quick))
        if not all(isinstance(r, Row) or type(r).__name__ == "Row" for r in rows):
            raise TypeError(f"run() must return a list of Row. Got {[type(r).__name__ for r in rows]} instead.")
        return rows
    except Exception as exc:  # noqa: BLE001 - the runner reports every failure and goes on
        traceback.print_exc(file=sys.stderr)
        return [Row(f"{name}: FAILED", None, None, note=f"error: {type(exc).__name__}: {exc}"[:200])]


def run_module_isolated(path: Path, quick: bool, timeout: float) -> list[Row]:
    """:func:`run_module` in a child process; its output is passed on to stderr."""
    with tempfile.TemporaryDirectory(prefix="tipslib-bench-") as tmp:
        rows_file = Path(tmp) / "rows.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--rows-out", str(rows_file)]
        if quick:
            cmd.append("--quick")
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, cwd=REPO)
            output, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (
                exc.stdout or ""), f"timeout after {timeout:.0f} s"
        sys.stderr.write(output)
        if rows_file.is_file():
            return [Row(**d) for d in json.loads(rows_file.read_text())]
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
        return [Row(f"{path.stem}: FAILED", None, None, note=f"process ended ({code}): {last}"[:200])]


def execute_seconds(nb, cwd: Path, timeout: int = 600) -> float:
    """Wall time to execute ``nb`` in a fresh python3 kernel (start to shutdown), with nbclient."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def notebook_rows(quick: bool) -> list[Row]:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    chapters = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        return [Row("chapter notebooks", None, None, goal=NOTEBOOK_GOAL, note="absent: notebooks/ has none")]
    folder = REPO / "notebooks"
    empty = new_notebook(cells=[new_code_cell("pass")])
    # The anchor: what any notebook pays for its kernel, measured now, on this machine's load.
    anchor = min(execute_seconds(nbformat.from_dict(empty), folder) for _ in range(1 if quick else 2))
    rows, total, failed = [], 0.0, []
    for path in chapters:
        print(f"[bench] executing {path.name}", file=sys.stderr, flush=True)
        try:
            seconds = execute_seconds(nbformat.read(str(path), as_version=4), folder)
        except Exception as exc:  # noqa: BLE001
            failed.append(path.name)
            rows.append(Row(f"notebook {path.name}: FAILED", None, anchor, "empty notebook (kernel start)",
                            NOTEBOOK_GOAL, f"error: {type(exc).__name__}: {str(exc)[-150:]}"))
            continue
        total += seconds
        rows.append(Row(f"notebook {path.name} (nbclient, start to shutdown)", seconds, anchor,
                        "empty notebook (kernel start)", NOTEBOOK_GOAL))
    import os

    note = (f"{len(chapters)} chapters, one after another; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores")
    if failed:
        note += f"; {len(failed)} failed, not counted: {', '.join(failed)}"
    rows.append(Row("whole course: every chapter notebook", total if len(failed) < len(chapters) else None,
                    anchor * len(chapters), f"{len(chapters)} empty notebooks", COURSE_GOAL, note))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke run)")
    parser.add_argument("--only", default=None, metavar="P1,P2",
                        help="only the bench modules whose name contains one of these ('notebooks': the notebook rows)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip the notebook execution times")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds one bench module may take")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # one module, in the process run_module_isolated started
        rows = run_module(args.child, args.quick)
        args.rows_out.write_text(json.dumps([dataclasses.asdict(r) for r in rows]))
        return 0

    only = args.only.split(",") if args.only else None
    rows: list[Row] = []
    started = time.perf_counter()
    for path in bench_modules(only):
        print(f"[bench] {path.stem}", file=sys.stderr, flush=True)
        rows += run_module_isolated(path, args.quick, args.timeout)
    if not args.no_notebooks and (only is None or "notebooks" in only):
        try:
            rows += notebook_rows(args.quick)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            rows.append(Row("notebooks: FAILED", None, None, note=f"error: {type(exc).__name__}: {exc}"[:200]))
    print()
    print_table(rows)
    print(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f} s"
          f"{' (--quick)' if args.quick else ''}; ratio = tipslib / anchor, both measured in this run.")
    return 1 if any("FAILED" in r.measurement for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
