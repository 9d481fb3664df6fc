"""``tipslib release``: write the student version of each source exercise notebook.

What changes, cell by cell (the same as ``nbgrader generate_assignment``):

- answer cells: each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` span becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the marker's indentation;
- test cells: the ``# BEGIN HIDDEN TESTS`` ... ``# END HIDDEN TESTS`` block is removed;
- every cell: outputs and execution counts are cleared.

The notebook keeps its ``tipslib`` metadata (the exercise id) and the nbgrader
cell metadata, so the grader and nbgrader both recognise the released file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import notebook as nbk

__all__ = ["release_notebook", "release"]


def _remove_hidden(source: str) -> str:
    return "\n".join(l for kind, l in nbk._marked_regions(source, nbk.BEGIN_HIDDEN, nbk.END_HIDDEN)
                     if kind == "out")


def release_notebook(nb: dict) -> dict:
    """The student version of a source notebook (a new dict; ``nb`` is not changed)."""
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out["cells"]):
        src = nbk.source_of(cell)
        try:
            if nbk.is_answer(cell):
                src = nbk.clear_solution(src, cell.get("cell_type", "code"))
            elif nbk.BEGIN_SOLUTION in src:
                raise ValueError("solution markers in a cell that is not an answer cell")
            if nbk.BEGIN_HIDDEN in src:
                if not nbk.is_test(cell):
                    raise ValueError("hidden tests in a cell that is not a test cell")
                src = _remove_hidden(src)
        except ValueError as exc:
            raise ValueError(f"cell {i} ({nbk.grade_id(cell) or 'no grade_id'}): {exc}") from None
        cell["source"] = src
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return out


def release(source_dir, release_dir) -> list[Path]:
    """Release every ``*.ipynb`` of ``source_dir`` into ``release_dir`` (same file names)."""
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    if not source_dir.is_dir():
        raise ValueError(f"The 'source_dir' parameter must be a folder of notebooks. Got {str(source_dir)!r} instead.")
    release_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = nbk.load(path)
        if nbk.exercise_id(nb) is None:
            raise ValueError(f"{path.name} has no 'tipslib.exercise' id in its metadata")
        target = release_dir / path.name
        target.write_text(json.dumps(release_notebook(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written
