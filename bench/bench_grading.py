"""Grading speed and memory: ``tipslib grade --jobs 2`` on a generated class.

The class is built from one exercise's source notebook: mostly correct
submissions, some partly wrong (an answer left as the released stub), some
hostile (segfault, ``os._exit``, forged results on the private pipe, a memory
bomb, NumPy monkeypatching, an infinite loop). The anchor is
``nbgrader autograde`` on the first 10 submissions of the same class in the
same run (a Jupyter kernel per notebook is too slow for all 100), reported
per submission.

Rows: wall time per submission for the whole class, the median sandboxed run
per submission, and the grader's peak RSS for 20 vs 100 submissions (it
streams rows to the CSV, so it should not grow).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, print_table  # noqa: E402

from tipslib.grading import notebook as nbk  # noqa: E402
from tipslib.grading.release import release_notebook  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data" / "grading" / "sample.ipynb"
REAL = REPO / "exercises" / "source" / "regularization.ipynb"

HOSTILE = [
    "import ctypes\nctypes.string_at(0)",
    "import os\nos._exit(0)",
    "import os\nos.write(3, b'{\"m\": \"done\"}\\n')",
    "x = bytearray(10**12)",
    "import numpy\nnumpy.allclose = lambda *a, **k: True",
    "while True:\n    pass",
]


def make_class(source: Path, folder: Path, n: int, seed: int = 0):
    """Write ``n`` submissions (one notebook per student) and return the folder."""
    rng = random.Random(seed)
    src = nbk.load(source)
    stub = release_notebook(src)
    answers = [i for i, c in enumerate(src["cells"]) if nbk.is_answer(c)]
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        nb = json.loads(json.dumps(src))
        kind = "correct" if k % 10 < 6 else ("partly wrong" if k % 10 < 9 else "hostile")
        if kind == "partly wrong":
            i = rng.choice(answers)
            nb["cells"][i] = stub["cells"][i]
        elif kind == "hostile":
            i = rng.choice(answers)
            nb["cells"][i]["source"] = HOSTILE[(k // 10) % len(HOSTILE)]
        (folder / f"student{k:03d}.ipynb").write_text(json.dumps(nb))
    return folder


def run_grade(source_dir, subs, out, jobs=2, timeout=10):
    """Wall seconds, grader peak RSS (MB) and the per-notebook sandbox seconds."""
    code = ("import resource, sys, time\nfrom tipslib.cli import main\nt = time.perf_counter()\n"
            "rc = main(sys.argv[1:])\nprint('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rc)")
    proc = subprocess.run([sys.executable, "-c", code, "grade", str(source_dir), str(subs), "--out", str(out),
                           "--jobs", str(jobs), "--timeout", str(timeout), "--memory", "1024", "--quiet"],
                          capture_output=True, text=True, check=True)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("BENCH"))
    _, wall, rss_kb, rc = line.split()
    with open(out, newline="") as f:
        secs = [float(r["seconds"]) for r in csv.DictReader(f) if r["status"] != "missing"]
    return float(wall), int(rss_kb) / 1024, secs


def run_nbgrader(source: Path, subs: Path, n: int, tmp: Path):
    """Seconds per submission for ``nbgrader autograde`` on the first ``n`` submissions (None if absent)."""
    if shutil.which("nbgrader") is None:
        return None
    course = tmp / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(source, course / "source" / "ps1" / source.name)
    root = f"--CourseDirectory.root={course}"
    subprocess.run(["nbgrader", "generate_assignment", "ps1", "--force", root], cwd=course, capture_output=True, check=True)
    for path in sorted(subs.glob("*.ipynb"))[:n]:
        dest = course / "submitted" / path.stem / "ps1"
        dest.mkdir(parents=True)
        shutil.copy(path, dest / source.name)
    t0 = time.perf_counter()
    subprocess.run(["nbgrader", "autograde", "ps1", "--force", root, "--ExecutePreprocessor.timeout=10"],
                   cwd=course, capture_output=True)
    return (time.perf_counter() - t0) / n


def bench_exercise(source: Path, label: str, n: int, tmp: Path, with_nbgrader: bool):
    src_dir = tmp / f"{label}-src"
    src_dir.mkdir()
    shutil.copy(source, src_dir / source.name)
    subs = make_class(source, tmp / f"{label}-subs", n)
    wall, rss_n, secs = run_grade(src_dir, subs, tmp / f"{label}-{n}.csv")
    anchor = run_nbgrader(source, subs, 10, tmp / f"{label}-nbg") if with_nbgrader else None
    rows = [
        Row(f"tipslib grade --jobs 2, {n} submissions of {label}: wall per submission", wall / n, anchor,
            anchor="nbgrader autograde, first 10 of the class, per submission" if anchor else "",
            goal="<= 0.3 s", note="sandboxed; includes zygote start and the reference run"),
        Row(f"median sandboxed run per submission ({label})", statistics.median(secs), None, goal="<= 0.3 s",
            note=f"max {max(secs):.2f} s (timeouts/hostile included)"),
    ]
    return rows, rss_n, src_dir, subs


def run(quick: bool = False) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        targets = [(SAMPLE, "the sample exercise")]
        if REAL.exists() and not quick:
            targets.append((REAL, "regularization"))
        for source, label in targets:
            n = 20 if quick else 100
            r, rss_n, src_dir, _ = bench_exercise(source, label, n, tmp, with_nbgrader=not quick)
            rows += r
            if source == SAMPLE and not quick:
                small = make_class(source, tmp / "small-subs", 20)
                _, rss_20, _ = run_grade(src_dir, small, tmp / "small.csv")
                rows.append(Row("grader peak RSS, 20 vs 100 submissions (sample)", None, None, goal="no growth",
                                note=f"{rss_20:.0f} MB vs {rss_n:.0f} MB"))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
