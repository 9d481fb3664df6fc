"""The course as a folder of the student's own: what ``tipslib course [DIR]`` prepares.

The package carries the five chapters and the student versions of the
exercises (:func:`shipped_files`). :func:`prepare_workspace` copies them into
a folder of the student's on the first run, with a start page, and on later
runs adds what is new without ever overwriting what the student changed.

A manifest in the folder (:data:`MANIFEST`) records the hash of every file
as it was shipped. That is how "the student edited this notebook" is told
apart from "a newer tipslib ships a different version of it":

=========================  ==========================  ==========================
the student's copy         shipped file unchanged      shipped file changed
=========================  ==========================  ==========================
missing (never, or         copied                      copied
deleted to start afresh)
as shipped                 left alone                  replaced by the new version
edited                     left alone                  left alone; the new version
                                                       is written beside it as
                                                       ``NAME.new-VERSION.ipynb``
=========================  ==========================  ==========================

Only files inside the workspace are ever written; the installed package is
read, never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

__all__ = ["MANIFEST", "START_PAGE", "default_workspace", "shipped_files", "start_page",
           "prepare_workspace", "WorkspaceReport", "is_new_version"]

#: The manifest of shipped hashes, kept in the workspace.
MANIFEST = ".tipslib-course.json"
#: The page JupyterLab opens first.
START_PAGE = "START.ipynb"

_PACKAGE = Path(__file__).resolve().parent


def default_workspace() -> Path:
    """``~/tipslib-course``."""
    return Path.home() / "tipslib-course"


def _course_folders() -> tuple[Path, Path]:
    """Where the chapters and the student exercises are: inside an installed wheel,
    ``tipslib/_course/`` (copied there by the build, see ``setup.py``); in a checkout
    (an editable install), the repository's ``notebooks/`` and ``exercises/release/``."""
    shipped = _PACKAGE / "_course"
    if shipped.is_dir():
        return shipped / "chapters", shipped / "exercises"
    root = _PACKAGE.parent
    return root / "notebooks", root / "exercises" / "release"


def shipped_files() -> dict[str, Path]:
    """The course files, as ``{path in the workspace: file shipped}``: ``chapters/NN_*.ipynb``
    and ``exercises/*.ipynb`` (student versions only; the instructor sources never ship)."""
    chapters, exercises = _course_folders()
    files = {f"chapters/{p.name}": p for p in sorted(chapters.glob("[0-9][0-9]_*.ipynb"))}
    # Exercises in chapter order (an exercise is named after its chapter, less the number).
    order = [Path(rel).stem[3:] for rel in files]
    found = sorted(exercises.glob("*.ipynb"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.name))
    files.update({f"exercises/{p.name}": p for p in found})
    if not files:
        raise FileNotFoundError(
            f"tipslib found no course notebooks in {chapters} or {exercises}: the installation is incomplete. "
            "Reinstall tipslib (pip install --force-reinstall tipslib).")
    return files


def _title(path: Path) -> str:
    """The first '# ' heading of a notebook's first markdown cell, or its file name."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return path.stem
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", ""))
            for line in source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            break
    return path.stem


def start_page(files: dict[str, Path]) -> bytes:
    """The start page: a notebook of markdown cells (JupyterLab renders it as a page)
    saying what to open first and how to check an exercise. Same files, same bytes."""
    chapters = [(rel, _title(p)) for rel, p in files.items() if rel.startswith("chapters/")]
    exercises = [rel for rel in files if rel.startswith("exercises/")]
    first_exercise = exercises[0] if exercises else "exercises/NAME.ipynb"

    def exercise_of(chapter):  # chapters/01_data_processing.ipynb -> exercises/data_processing.ipynb
        rel = f"exercises/{Path(chapter).name[3:]}"
        return f" (exercise: [{rel}]({rel}))" if rel in files else ""

    chapter_lines = "\n".join(f"{i}. [{title}]({rel}){exercise_of(rel)}" for i, (rel, title) in enumerate(chapters, 1))
    exercise_lines = "\n".join(f"- [{rel}]({rel})" for rel in exercises)
    cells = [
        "# Deep Learning Tips and Tricks: start here\n\n"
        "This folder is yours: the chapters and the exercises are copies you can edit, run and save.\n\n"
        "**First:** open [chapter 1](" + (chapters[0][0] if chapters else "chapters/") + ") and run its cells "
        "from the top (Run > Run All Cells, or Shift+Enter cell by cell). Each chapter ends by pointing "
        "to its exercise.",
        "## Chapters (in `chapters/`)\n\n" + chapter_lines,
        "## Exercises (in `exercises/`)\n\n" + exercise_lines + "\n\n"
        "In each answer cell, replace `raise NotImplementedError()` by your code, then run the test cell "
        "under it. To check a whole exercise, open a terminal (File > New > Terminal; it starts in this "
        "folder) and run\n\n"
        f"```\ntipslib check {first_exercise}\n```\n\n"
        "It runs the notebook from the top in a fresh process and reports each visible check. "
        "The grader also runs hidden checks of the same kind on other inputs.",
        "## Updates\n\n"
        "Running `tipslib course` again never overwrites your work. After tipslib is upgraded it adds "
        "new notebooks, and where a notebook you changed has a new version, it writes that version "
        "beside yours as `NAME.new-VERSION.ipynb` and says so. Delete a notebook and run "
        "`tipslib course` again to get a fresh copy.",
    ]
    nb = {
        "cells": [{"cell_type": "markdown", "id": f"start-{i}", "metadata": {}, "source": text}
                  for i, text in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so an interrupted run never leaves half a notebook."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _beside(path: Path, version: str) -> Path:
    return path.with_name(f"{path.stem}.new-{version}{path.suffix}")


def is_new_version(path) -> bool:
    """Whether ``path`` is a ``NAME.new-VERSION.ipynb`` written beside an edited notebook (:func:`_beside`):
    a copy waiting for the student to compare, not a notebook of the course of its own."""
    return ".new-" in Path(path).stem


@dataclass
class WorkspaceReport:
    """What :func:`prepare_workspace` did; paths are relative to ``root``."""

    root: Path
    created: bool = False
    added: list = field(default_factory=list)      # copied: new, or missing in the workspace
    updated: list = field(default_factory=list)    # unedited copies replaced by a new shipped version
    beside: list = field(default_factory=list)     # (student's file, new version written beside it)
    kept: list = field(default_factory=list)       # the student's edits, left alone

    def lines(self) -> list[str]:
        """The report a person reads, one line per change."""
        out = [f"{'Created' if self.created else 'Using'} your course folder {self.root}"]
        if self.added and not self.created:
            out += [f"  added    {p}" for p in self.added]
        out += [f"  updated  {p} (you had not changed it)" for p in self.updated]
        out += [f"  new version of {mine} written beside yours: {new} (yours is unchanged)"
                for mine, new in self.beside]
        return out


def prepare_workspace(root=None, *, version: str = __version__) -> WorkspaceReport:
    """Copy the course into ``root`` (default :func:`default_workspace`), or bring it up to date.

    Parameters
    ----------
    root : path, optional
        The student's folder; created if missing.
    version : str
        Names the files written beside edited ones (``NAME.new-VERSION.ipynb``).

    Returns
    -------
    WorkspaceReport
    """
    root = Path(default_workspace() if root is None else root).expanduser().resolve()
    if root == _PACKAGE or _PACKAGE in root.parents:
        raise ValueError(f"The course folder must be outside the installed package {_PACKAGE}. Got {root} instead.")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"The course folder {root} exists and is not a folder.")
    shipped = shipped_files()
    files = {rel: p.read_bytes() for rel, p in shipped.items()}
    files[START_PAGE] = start_page(shipped)
    report = WorkspaceReport(root, created=not (root / MANIFEST).is_file() and not any(root.glob("*")))
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError):
        manifest = {}
    for rel, data in files.items():
        new = _sha256(data)
        target = root / rel
        if not target.is_file():
            _write(target, data)
            report.added.append(rel)
            continue
        mine, old = _sha256(target.read_bytes()), manifest.get(rel)
        if mine == new:
            continue
        if old == new:  # shipped unchanged since the last run: the difference is the student's
            report.kept.append(rel)
        elif mine == old:  # the student never touched it: take the new version
            _write(target, data)
            report.updated.append(rel)
        else:
            other = _beside(target, version)
            _write(other, data)
            report.beside.append((rel, str(other.relative_to(root))))
    # Every file as shipped now; files no longer shipped keep their entries (they stay the student's).
    manifest.update({rel: _sha256(data) for rel, data in files.items()})
    _write(manifest_path, (json.dumps({"tipslib": version, "files": manifest}, indent=1, sort_keys=True) + "\n")
           .encode("utf-8"))
    return report
