"""Every ``bench/bench_*.py`` imports without a widget library or a browser (issue 18):
``python bench/run.py`` must be able to list and start any module on a bare machine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

# Run in a fresh interpreter where importing any of these fails, as on a machine without them.
SCRIPT = textwrap.dedent('''
    import importlib.util, pathlib, sys
    BLOCKED = ("ipywidgets", "playwright", "selenium", "browser_harness", "jupyterlab", "tipslib.widgets")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"{name} is blocked for this test")

    sys.meta_path.insert(0, Block())
    bench = pathlib.Path(sys.argv[1])
    sys.path.insert(0, str(bench))
    failed = []
    for path in sorted(bench.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except Exception as exc:
            failed.append(f"{path.name}: {type(exc).__name__}: {exc}")
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
''')


def test_bench_modules_import_without_widgets_or_browser():
    modules = sorted(BENCH.glob("bench_*.py"))
    assert modules, "bench/ has no bench_*.py"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(BENCH)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_the_check_catches_a_module_that_imports_a_widget(tmp_path):
    (tmp_path / "bench_needs_widget.py").write_text("import ipywidgets\n")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "bench_needs_widget.py" in proc.stdout


@pytest.fixture
def bench_modules(monkeypatch):
    """``import_module`` for ``bench/`` files; sys.path is as before once the test ends, and the
    bench modules are gone from sys.modules (what they imported from torch or tipslib stays)."""
    import importlib
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # bench modules add their folder too
    before = set(sys.modules)
    yield importlib.import_module
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(BENCH)):
            del sys.modules[name]


def test_a_gpu_row_that_fails_is_reported_and_the_others_still_run(monkeypatch, bench_modules):
    """One GPU call is all a session gets: a row that raises must not cost the table."""
    import torch
    gpu = bench_modules("bench_gpu_twins")
    for name, value in [("is_available", lambda: True), ("get_device_name", lambda: "a GPU"),
                        ("synchronize", lambda: None), ("empty_cache", lambda: None)]:
        monkeypatch.setattr(torch.cuda, name, value)
    def row(what):
        return what, lambda: (what, lambda: None, lambda: None, "anchor")
    made = [row("Adam step, plain"), ("row A", lambda: 1 / 0), row("row B"), row("row C, fast path off")]
    monkeypatch.setattr(gpu, "_workloads", lambda device, which: iter(made))
    emitted = []
    rows = gpu.cuda_rows(rounds=1, emit=emitted.append)
    # the rows with a goal first; the plain twins' after them (a call cut short loses those)
    assert [(r.measurement, r.ours_s is None, r.goal) for r in rows] == [
        ("row A, torch twin, CUDA", True, gpu.GOAL), ("row B, torch twin, CUDA", False, gpu.GOAL),
        ("Adam step, plain, torch twin, CUDA", False, ""), ("row C, fast path off, torch twin, CUDA", False, "")]
    assert "failed: ZeroDivisionError" in rows[0].note
    assert emitted == rows  # each as it was done: a call cut short by its limit keeps them

    traffic = bench_modules("bench_traffic")
    assert "failed: ZeroDivisionError" in traffic._counted("X step", lambda: 1 / 0, "cuda").note
    with pytest.raises(ZeroDivisionError):  # on the CPU a failing count raises, for CI to see
        traffic._counted("X step", lambda: 1 / 0, "cpu")


def test_a_row_printed_as_it_is_done_says_what_the_table_says(bench_modules, capsys):
    common = bench_modules("_common")
    row = common.Row("Adam step, CUDA", 2e-3, 1e-3, "torch.optim.Adam(fused=True)", "<= 1.2x", "an H200")
    common.print_row(row)
    assert capsys.readouterr().out == ("Adam step, CUDA: 2.00 ms / 1.00 ms (torch.optim.Adam(fused=True)) = 2.00x, "
                                       "goal <= 1.2x; an H200\n")
    common.print_row(common.Row("X, CUDA", None, None, note="failed: E"))
    assert capsys.readouterr().out == "X, CUDA: — / — () = —; failed: E\n"


def test_the_mlp_rows_on_a_gpu_are_eager_compiled_and_cuda_graphs(bench_modules):
    gpu = bench_modules("bench_gpu_twins")
    mlp = [what for what, _ in gpu._workloads("cuda", "gpu") if what.startswith("MLP epoch")]
    assert [m.split("batch 256")[1] for m in mlp] == ["", gpu.COMPILED_MODEL, gpu.CUDA_GRAPHS]
    cpu = [what for what, _ in gpu._workloads("cpu", "quick") if what.startswith("MLP epoch")]
    assert len(cpu) == 2  # CUDA graphs need CUDA
