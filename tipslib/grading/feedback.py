"""Feedback text for a student: each test, its points, and what went wrong.

Only what the judge decided goes in: test ids, check names, a matched hint,
the expected shape of a visible check, the kind of an error only where the
grader's limits explain it (``judge.SHOWN_ERRORS``: ImportError,
PermissionError, MemoryError; never in a hidden part of a test: the submission
picks the kind, so it could spell out the hidden inputs with it), and syntax
errors found before anything ran. No text the student's process
produced is quoted (it could encode what it read of the hidden tests), test
code -- visible or hidden -- is never quoted, and neither is anything about
the expected values of hidden checks. One student's feedback is at most
:data:`MAX_FEEDBACK` bytes; a longer one is cut, and says so.
"""

from __future__ import annotations

__all__ = ["render", "csv_notes", "MAX_FEEDBACK"]

MAX_FEEDBACK = 64 * 1024
#: How a spreadsheet cell that it runs as a formula begins (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

VISIBLE_NOTE = ("Passing the visible tests is not full marks: every test also has hidden checks "
                "on other inputs.")


def _fmt(x):
    return f"{x:g}"


def render(student, results, *, late=False, submitted_at=None) -> str:
    """Markdown feedback for one student over their exercise results."""
    out = [f"# Feedback for {student}", ""]
    if submitted_at:
        out += [f"Submitted at {submitted_at}" + (" (after the deadline)." if late else "."), ""]
    for r in results:
        out += [f"## {r.title or r.exercise} (`{r.exercise}`): {_fmt(r.total)} / {_fmt(r.max_points)} points",
                "", f"Status: **{r.status}**.", ""]
        out += [f"- {n}" for n in r.notes] + ([""] if r.notes else [])
        for t in r.tests:
            mark = "passed" if t.points == t.max_points and t.max_points > 0 else ("failed" if t.points == 0 else "partly")
            out.append(f"### {t.grade_id}: {_fmt(t.points)} / {_fmt(t.max_points)} ({mark})")
            for problem in (t.problem, getattr(t, "hidden_problem", "")):
                if problem:
                    out.append(f"- {problem}")
            hidden_n = 0
            if not any(c.why != "did not run" for c in t.checks):
                n_hidden = sum(c.hidden for c in t.checks)
                if t.checks:
                    out.append(f"- none of its {len(t.checks)} checks ran ({n_hidden} of them hidden)")
                out.append("")
                continue
            for c in t.checks:
                label = c.name
                if c.hidden:
                    hidden_n += 1
                    label = f"hidden check {hidden_n} ({c.name})"
                line = f"- {label}: " + ("ok" if c.ok else c.why or "wrong")
                if c.hint:
                    line += f". Hint: {c.hint}"
                out.append(line)
            out.append("")
    out.append(VISIBLE_NOTE)
    return _cap("\n".join(out) + "\n")


def _cap(text):
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= MAX_FEEDBACK:
        return data.decode("utf-8")
    cut = f"\n\n(This feedback was cut at {MAX_FEEDBACK // 1024} KB; your scores in the gradebook are complete.)\n"
    return data[:MAX_FEEDBACK - len(cut.encode())].decode("utf-8", "ignore") + cut


def csv_notes(result) -> str:
    """The short notes that go in the gradebook (no student error text, no test code)."""
    keep = [n for n in result.notes if not n.startswith("your answer cell")]
    text = " | ".join(keep)[:500]
    # a note may begin with a file name the student chose ("=HYPERLINK(...).ipynb"): a spreadsheet would
    # run a cell beginning like a formula, so such a cell is quoted as text
    return "'" + text if text.startswith(FORMULA_START) else text
