"""What a class costs in each grading engine: Gradescope's container per submission vs one batch.

Gradescope starts one container per submission, so each pays what ``run_autograder`` does from
nothing: start Python, import torch and tipslib, run the instructor's solution (the reference
runs), build the sandbox, grade one notebook. ``tipslib grade`` (locally, or nbgrader's course
directory on JupyterHub) pays the start and the reference runs once per class. Both are measured
here in the same run, on the same submissions (a generated class, as in bench_grading.py: mostly
correct, some partly wrong, one hostile): ``run_autograder`` unpacked from ``tipslib export
gradescope`` into a temporary ``/autograder`` root, in a fresh process per submission, against
``tipslib grade --jobs 1`` over the class, per student. The note extrapolates to 1,000
students in CPU hours (container start and image build not included: Gradescope's side).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, print_table  # noqa: E402
from bench_grading import REAL, SAMPLE, make_class  # noqa: E402

from tipslib.grading.gradescope import export_gradescope  # noqa: E402


def _children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(cmd, env=None):
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr[-1500:]}")
    return time.perf_counter() - t0, _children_cpu() - c0


def autograder_per_submission(source: Path, subs: list, tmp: Path):
    """Median wall and CPU seconds of ``run_autograder`` in a fresh process, one submission each."""
    zip_path = export_gradescope(source, tmp / "autograder.zip", timeout=10)
    walls, cpus = [], []
    for i, nb in enumerate(subs):
        root = tmp / f"autograder-{i}"
        (root / "submission").mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(root / "source")
        shutil.copy(nb, root / "submission" / source.name)
        env = {**os.environ, "TIPSLIB_AUTOGRADER_ROOT": str(root), "TIPSLIB_PYTHON": sys.executable}
        wall, cpu = _timed(["bash", str(root / "source" / "run_autograder")], env)
        if not (root / "results" / "results.json").is_file():
            raise RuntimeError("run_autograder wrote no results.json")
        walls.append(wall)
        cpus.append(cpu)
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2], cpus[len(cpus) // 2]


def batch_per_student(source: Path, folder: Path, n: int, tmp: Path):
    src = tmp / "source"
    src.mkdir()
    shutil.copy(source, src / source.name)
    wall, cpu = _timed([sys.executable, "-m", "tipslib.cli", "grade", str(src), str(folder), "--out",
                        str(tmp / "gradebook.csv"), "--jobs", "1", "--timeout", "10", "--quiet"])
    return wall / n, cpu / n


def run(quick: bool = False) -> list[Row]:
    source = SAMPLE if quick or not REAL.exists() else REAL
    label = "sample" if source == SAMPLE else "regularization"
    n_class, n_containers = (5, 2) if quick else (10, 3)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        folder = make_class(source, tmp / "class", n_class)
        every = sorted(folder.rglob("*.ipynb"))
        subs = [every[i] for i in ((0, 1) if quick else (0, 6, 9))]  # correct (, partly wrong, hostile)
        gs_wall, gs_cpu = autograder_per_submission(source, subs, tmp / "gs")
        (tmp / "batch").mkdir()
        b_wall, b_cpu = batch_per_student(source, folder, n_class, tmp / "batch")
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    anchor = f"tipslib grade --jobs 1, {n_class} students in one batch, per student"
    return [
        Row(f"run_autograder in a fresh process, one submission of {label} (median of {n_containers}): wall",
            gs_wall, b_wall, anchor=anchor, note=load),
        Row("same: CPU seconds per submission (Python + torch import + reference runs + one grade)",
            gs_cpu, b_cpu, anchor=anchor,
            note=f"1,000 students: {gs_cpu * 1000 / 3600:.1f} CPU h on Gradescope vs {b_cpu * 1000 / 3600:.1f} CPU h "
                 "in one batch (container start and image build not counted)"),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
