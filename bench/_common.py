"""Shared by every benchmark: timing and the one result format.

Each ``bench/bench_<topic>.py`` defines ``run(quick: bool = False) -> list[Row]``
and, for running alone, ``if __name__ == "__main__": print_table(run())``.
``bench/run.py`` imports them all and prints one table.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass


@dataclass
class Row:
    measurement: str           # what was timed, with sizes: "Adam step, 1e7 float32 params, CPU"
    ours_s: float | None       # seconds for tipslib (median); None when absent (no GPU)
    anchor_s: float | None     # seconds for the anchor measured in the same run
    anchor: str = ""           # what the anchor is: "torch.optim.Adam(foreach=True)"
    goal: str = ""             # the goal: "<= 2.0x"
    note: str = ""             # "absent: no GPU", units for non-time rows, ...
    unit: str = "s"            # what ours_s and anchor_s count: seconds, or "B/el" (bytes per element)

    @property
    def ratio(self) -> float | None:
        if self.ours_s is None or self.anchor_s in (None, 0):
            return None
        return self.ours_s / self.anchor_s


@contextlib.contextmanager
def single_thread():
    """Run torch and NumPy's BLAS on one thread each while timing.

    A like-for-like comparison (the NumPy twins are single-threaded loops), and
    stable on a shared 2-core machine, where idle-spinning worker threads of
    both libraries distort timings by an order of magnitude.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


def median_time(fn, *, repeat=5, warmup=1, sync=None) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs.
    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before each clock read."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(fns, *, rounds=5, sync=None) -> list[float]:
    """Median wall time of each of ``fns``, called in turn within every round
    (after one warm-up call each).

    The machine is shared: alternating call by call lets a burst of someone
    else's load hit every contender alike instead of whichever ran then."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            ts.append(median_time(fn, repeat=1, warmup=0, sync=sync))
    return [statistics.median(ts) for ts in times]


def _fmt(s, unit="s"):
    if s is None:
        return "—"
    if unit != "s":
        return f"{s:.1f} {unit}"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def _cells(r):
    return (r.measurement, _fmt(r.ours_s, r.unit), _fmt(r.anchor_s, r.unit), r.anchor,
            "—" if r.ratio is None else f"{r.ratio:.2f}x", r.goal, r.note)


def print_row(row, flush=False) -> None:
    """One row on one line, as soon as it is measured: ``measurement: tipslib / anchor = ratio``."""
    what, ours, anchor_s, anchor, ratio, goal, note = _cells(row)
    print(f"{what}: {ours} / {anchor_s} ({anchor}) = {ratio}" + (f", goal {goal}" if goal else "")
          + (f"; {note}" if note else ""), flush=flush)


def print_table(rows) -> None:
    header = ("measurement", "tipslib", "anchor", "anchor is", "ratio", "goal", "note")
    body = [_cells(r) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for b in body:
        print(line.format(*b))
