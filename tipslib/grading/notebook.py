"""Reading exercise notebooks: which cell is what, and the markers in them.

Everything here works on the plain JSON dict of a notebook (``json.load``),
never on a kernel, so a broken or hostile submission can only make
:func:`load` raise :class:`InvalidNotebook`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = [
    "InvalidNotebook", "load", "source_of", "nbgrader_meta", "grade_id", "is_answer",
    "is_test", "points", "exercise_id", "forbidden_of", "split_hidden", "clear_solution",
    "strip_magics",
]

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = ("YOUR ANSWER HERE",)
#: A submission larger than this is not read at all.
MAX_NOTEBOOK_BYTES = 20 * 2**20


class InvalidNotebook(ValueError):
    """The file is not a notebook we can read (bad JSON, no cell list, too big)."""


def load(path) -> dict:
    """Read a notebook as a plain dict; any problem becomes :class:`InvalidNotebook`."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise InvalidNotebook(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, bad UTF-8, a 5000-digit number
        raise InvalidNotebook(f"{path.name} is not a readable notebook ({type(exc).__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(f"{path.name} has no list of cells")
    nb["cells"] = [c for c in nb["cells"] if isinstance(c, dict)]
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = {}
    return nb


def source_of(cell) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell):
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_answer(cell) -> bool:
    """A cell the student writes: ``solution: true`` and not a grade cell."""
    m = nbgrader_meta(cell)
    return m.get("solution") is True and m.get("grade") is not True


def is_test(cell) -> bool:
    """An autograder test cell: ``grade: true`` code cell that is not an answer."""
    m = nbgrader_meta(cell)
    return m.get("grade") is True and m.get("solution") is not True and cell.get("cell_type") == "code"


def points(cell) -> float:
    p = nbgrader_meta(cell).get("points", 0)
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        return 0.0
    try:
        p = float(p)
    except OverflowError:  # an int past float (10**400)
        return 0.0
    return p if math.isfinite(p) and p >= 0 else 0.0


def _tipslib_meta(nb) -> dict:
    meta = nb.get("metadata", {}).get("tipslib")
    return meta if isinstance(meta, dict) else {}


def exercise_id(nb):
    """The ``tipslib.exercise`` id in the notebook metadata, or ``None``."""
    ex = _tipslib_meta(nb).get("exercise")
    return ex if isinstance(ex, str) and ex else None


def title_of(nb) -> str:
    t = _tipslib_meta(nb).get("title")
    return t if isinstance(t, str) else (exercise_id(nb) or "")


def forbidden_of(nb) -> dict[str, list[str]]:
    """``{graded function name: [tipslib modules it must not use]}`` from the metadata."""
    forb = _tipslib_meta(nb).get("forbidden")
    if not isinstance(forb, dict):
        return {}
    return {str(k): [m for m in v if isinstance(m, str)] for k, v in forb.items() if isinstance(v, list)}


def _marked_regions(source: str, begin: str, end: str):
    """Yield ``(kind, line)`` with kind 'out', 'begin', 'in' or 'end', line by line.

    Like nbgrader, a marker is any line containing the marker text.
    """
    inside = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"nested '{begin}' markers")
            inside = True
            yield "begin", line
        elif end in line and inside:
            inside = False
            yield "end", line
        else:
            yield ("in" if inside else "out"), line
    if inside:
        raise ValueError(f"'{begin}' without a matching '{end}'")


def clear_solution(source: str, cell_type: str = "code") -> str:
    """Replace each ``BEGIN SOLUTION``/``END SOLUTION`` span by the stub, at the marker's indentation."""
    stub = CODE_STUB if cell_type == "code" else TEXT_STUB
    out = []
    for kind, line in _marked_regions(source, BEGIN_SOLUTION, END_SOLUTION):
        if kind == "begin":
            indent = re.match(r"\s*", line).group(0)
            out.extend(indent + s for s in stub)
        elif kind == "out":
            out.append(line)
    return "\n".join(out)


def split_hidden(source: str):
    """``(visible, hidden)`` sources of a test cell; ``hidden`` is ``None`` without markers.

    Both keep their line numbers (blank lines stand in for the other part),
    so an error points at the same line as in the notebook.
    """
    visible, hidden, seen = [], [], False
    for kind, line in _marked_regions(source, BEGIN_HIDDEN, END_HIDDEN):
        if kind == "out":
            visible.append(line)
            hidden.append("")
        else:
            seen = True
            visible.append("")
            hidden.append(line if kind == "in" else "")
    if not seen:
        return source, None
    return "\n".join(visible), "\n".join(hidden)


def strip_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes: they mean nothing outside a kernel."""
    return "\n".join("# " + l if l.lstrip().startswith(("%", "!")) else l for l in source.split("\n"))
