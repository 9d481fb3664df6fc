"""Grading speed and memory: ``tipslib grade --jobs 2`` on a generated class.

The class is built from one exercise's source notebook: mostly correct
submissions, some partly wrong (an answer left as the released stub), some
hostile (segfault, ``os._exit``, forged results on the private pipe, a memory
bomb, NumPy monkeypatching, an infinite loop). The anchor is
``nbgrader autograde`` on the first 10 submissions of the same class in the
same run (a Jupyter kernel per notebook is too slow for all 100), reported
per submission.

Rows: wall time per submission for the whole class, the CPU seconds per
submission (all processes; wall times on a shared machine mostly measure its
load), the median sandboxed run per submission, the sandbox's own cost (one
correct submission sandboxed vs exec'd in-process, interleaved), and the
grader's peak RSS for 20 vs 100 submissions (it streams rows to the CSV, so it
should not grow) and for a class where one answer cell is 20 MB.
"""

from __future__ import annotations

import csv
import json
import os
import random
import resource
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


def _children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_grade(source_dir, subs, out, jobs=2, timeout=10):
    """Wall seconds, grader peak RSS (MB), the per-notebook sandbox seconds and the CPU seconds
    of every process involved (grader, zygotes, sandboxes)."""
    cpu0 = _children_cpu()
    # VmHWM (this process's own high-water mark), not ru_maxrss, which Linux carries over exec
    # from the parent: it would report this bench's own peak
    code = ("import sys, time\nfrom tipslib.cli import main\nt = time.perf_counter()\nrc = main(sys.argv[1:])\n"
            "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "print('BENCH', time.perf_counter() - t, hwm, rc)")
    proc = subprocess.run([sys.executable, "-c", code, "grade", str(source_dir), str(subs), "--out", str(out),
                           "--jobs", str(jobs), "--timeout", str(timeout), "--memory", "1024", "--quiet"],
                          capture_output=True, text=True, check=True)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("BENCH"))
    _, wall, rss_kb, rc = line.split()
    with open(out, newline="") as f:
        secs = [float(r["seconds"]) for r in csv.DictReader(f) if r["status"] != "missing"]
    return float(wall), int(rss_kb) / 1024, secs, _children_cpu() - cpu0


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
    t0, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run(["nbgrader", "autograde", "ps1", "--force", root, "--ExecutePreprocessor.timeout=10"],
                   cwd=course, capture_output=True)
    return (time.perf_counter() - t0) / n, (_children_cpu() - cpu0) / n


def sandbox_overhead(source: Path, repeat: int = 7):
    """Median wall time of one correct submission: sandboxed run vs plain in-process exec of the same cells."""
    from tipslib.grading import testing
    from tipslib.grading._runner import run_job
    from tipslib.grading.grade import Grader, load_exercises

    with tempfile.TemporaryDirectory() as d:
        shutil.copy(source, d)
        exercises = load_exercises(d)
    ex = next(iter(exercises.values()))
    job = ex.job(ex.answers)
    for m in ex.preload:
        __import__(m)
    sandboxed, plain = [], []
    null = os.open(os.devnull, os.O_WRONLY)
    with Grader(exercises, jobs=1) as grader:  # the grader's own sandbox, warmed the grader's way
        sb = grader.sandboxes[0]
        for _ in range(repeat):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            sb.run(job, timeout=60, memory_mb=2048)
            sandboxed.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_job(dict(job, forbidden={}, no_spawn=False), null)  # a seccomp filter here would stop the bench
            plain.append(time.perf_counter() - t0)
            testing._RECORDER = None
    os.close(null)
    return statistics.median(sandboxed), statistics.median(plain)


def bench_exercise(source: Path, label: str, n: int, tmp: Path, with_nbgrader: bool):
    src_dir = tmp / f"{label}-src"
    src_dir.mkdir()
    shutil.copy(source, src_dir / source.name)
    subs = make_class(source, tmp / f"{label}-subs", n)
    wall, rss_n, secs, cpu = run_grade(src_dir, subs, tmp / f"{label}-{n}.csv")
    nbg_wall, nbg_cpu = run_nbgrader(source, subs, 10, tmp / f"{label}-nbg") if with_nbgrader else (None, None)
    boxed, bare = sandbox_overhead(source)
    anchor = "nbgrader autograde, first 10 of the class, per submission"
    rows = [
        Row(f"tipslib grade --jobs 2, {n} submissions of {label}: wall per submission", wall / n, nbg_wall,
            anchor=anchor if nbg_wall else "", goal="<= 0.3 s",
            note=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; includes zygote start and reference run"),
        Row("same class: CPU seconds per submission, all processes", cpu / n, nbg_cpu, anchor=anchor if nbg_cpu else "",
            note="independent of machine load; wall ~ CPU / jobs on an idle machine"),
        Row(f"median sandboxed run per submission ({label})", statistics.median(secs), None, goal="<= 0.3 s",
            note=f"from the gradebook; max {max(secs):.2f} s (timeouts/hostile included)"),
        Row(f"one correct submission of {label}: sandboxed run vs in-process exec", boxed, bare,
            anchor="exec of the same cells in this process (no isolation)", note="the cost of the sandbox itself"),
    ]
    return rows, rss_n, src_dir, subs


def big_cell_row(source: Path, src_dir: Path, tmp: Path, mb: int = 20) -> Row:
    """Grader peak RSS for 20 submissions, one of them with a ``mb`` MB answer cell, against the same class without it."""
    plain = make_class(source, tmp / "plain-subs", 20, seed=1)
    big = make_class(source, tmp / "big-subs", 20, seed=1)
    nb = json.loads((big / "student000.ipynb").read_text())
    cell = next(c for c in nb["cells"] if nbk.is_answer(c))
    cell["source"] = "BIG = '" + "a" * (mb * 10**6) + "'\n" + nbk.source_of(cell)  # just under the 20 MiB file limit
    (big / "student000.ipynb").write_text(json.dumps(nb))
    _, rss_plain, _, _ = run_grade(src_dir, plain, tmp / "plain.csv")
    wall, rss_big, _, _ = run_grade(src_dir, big, tmp / "big.csv")
    return Row(f"grader peak RSS, 20 submissions, one with a {mb} MB answer cell (sample)", None, None,
               goal="bounded (< 1 GB)", note=f"{rss_big:.0f} MB vs {rss_plain:.0f} MB without the big cell "
                                             f"({rss_big / rss_plain:.2f}x); class graded in {wall:.1f} s")


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
                _, rss_20, _, _ = run_grade(src_dir, small, tmp / "small.csv")
                rows.append(Row("grader peak RSS, 20 vs 100 submissions (sample)", None, None, goal="no growth",
                                note=f"{rss_20:.0f} MB vs {rss_n:.0f} MB"))
            if source == SAMPLE:
                rows.append(big_cell_row(source, src_dir, tmp))
    return rows


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
