"""``tipslib site OUT``: the course as a static website that needs nothing installed to read.

* every chapter (``notebooks/0*.ipynb``) executed with nbclient and rendered
  to HTML (nbconvert's basic template in a small page of our own), with a
  table of contents and previous/next links; its formulas converted to MathML
  at build time (:mod:`tipslib.site.math`), which browsers draw themselves;
* the three core widgets (learning rate, dropout p, L1/L2/elastic net) as
  players of frames precomputed at build time by the widgets' own code
  (:mod:`tipslib.site.frames`), on their own pages and in place in the chapters;
* the exercises' student versions (``exercises/release``) as downloads;
* a page on installing and running the real course.

Pages load only files next to them: no CDN, no network at view time, and
they open straight from disk (``file://``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..course import is_new_version

__all__ = ["build_site", "add_site", "course_folders", "SOLUTION_MARKERS"]

ASSETS = Path(__file__).with_name("assets")

#: Text that appears only in the instructor's notebooks: the site must never contain it.
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

#: Widget class name in a chapter cell -> the site's player for it.
PLAYED = {"LearningRateExplorer": "learning_rate", "DropoutExplorer": "dropout",
          "RegularizationExplorer": "regularization"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def course_folders(source=None) -> tuple[Path, Path]:
    """``(chapters, exercises)``: the chapter notebooks and the student versions of the exercises.

    From ``source`` when given: a course folder made by ``tipslib course``
    (``chapters/`` and ``exercises/``) or a checkout (``notebooks/`` and
    ``exercises/release/``). Else from the installed package's copy of the
    course (``tipslib/_course``) when there is one; else from the checkout.
    """
    if source is None:
        shipped = Path(__file__).resolve().parents[1] / "_course"
        if (shipped / "chapters").is_dir():
            return shipped / "chapters", shipped / "exercises"
        source = Path(__file__).resolve().parents[2]
    root = Path(source)
    if (root / "chapters").is_dir():
        return root / "chapters", root / "exercises"
    if (root / "notebooks").is_dir():
        return root / "notebooks", root / "exercises" / "release"
    raise FileNotFoundError(
        f"The 'source' folder of tipslib site must be a course folder (with chapters/, as `tipslib course` "
        f"makes) or a checkout of the course (with notebooks/). Got {root} instead.")


# --- pages -------------------------------------------------------------------------------------


def _page(title, body, *, nav_extra="", scripts=()):
    tags = "\n".join(f'<script src="{html.escape(s)}"></script>' for s in scripts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · tipslib</title>
<link rel="stylesheet" href="assets/style.css">
<link rel="stylesheet" href="assets/pygments.css">
</head>
<body>
<header class="site"><nav>
<a class="brand" href="index.html">tipslib · Deep Learning Tips and Tricks</a>
<a href="index.html#chapters">Chapters</a> <a href="widgets.html">Widgets</a>
<a href="index.html#exercises">Exercises</a> <a href="install.html">Install</a>{nav_extra}
</nav></header>
<main>
{body}
</main>
<footer class="site">A static copy of the tipslib course. The real thing runs in Jupyter:
<a href="install.html">install it</a>.</footer>
{tags}
</body>
</html>
"""


def _player(spec):
    return (f'<div class="tl-player" data-widget="{spec.name}" id="widget-{spec.name}">'
            f'<div class="tl-controls"></div>'
            f'<div class="tl-figure"><img class="tl-background" alt="{html.escape(spec.title)}">'
            f'<canvas class="tl-layer" aria-hidden="true"></canvas></div></div>')


PRECOMPUTED = ("The pictures on this page were precomputed when the site was built, by the same code the live "
               "widget runs, for every position of the controls; moving a control only looks the picture up, "
               "so nothing runs here but a few lines of JavaScript.")


def _widget_section(spec, level=2, heading=True):
    head = f"<h{level}>{html.escape(spec.title)}</h{level}>" if heading else ""
    return (f"{head}<p>{spec.intro}</p>{_player(spec)}"
            f'<p class="note">{PRECOMPUTED} {spec.live} <a href="install.html">Run the live notebook</a>.</p>')


# --- chapters ----------------------------------------------------------------------------------


def chapter_title(nb, fallback):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _execute(path, timeout=600):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # The kernel must draw figures inline, as in JupyterLab, even when this process was told to use
    # a headless backend (MPLBACKEND=Agg under pytest): the kernel would inherit it and show nothing.
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    except Exception as e:
        raise ChapterError(path, nb, e) from e
    return nb, time.perf_counter() - start


class ChapterError(RuntimeError):
    """A chapter raised while it ran for the site: which chapter, which cell, what error, in one line."""

    def __init__(self, path, nb, exc):
        where = next((f"cell {k} ({(c.source.strip().splitlines() or [''])[0][:60]!r})"
                      for k, c in enumerate(nb.cells, 1) if c.cell_type == "code"
                      and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        what = (f"{exc.ename}: {exc.evalue}" if getattr(exc, "ename", None) else f"{type(exc).__name__}: {exc}")
        what = what if len(what) < 300 else what[:300] + "..."
        super().__init__(f"Chapter {path.name} failed while executing for the site"
                         + (f", in {where}" if where else "") + f": {what}. Fix it in {path} "
                         "(run it in Jupyter to see the traceback), or build with --skip-execute.")


def _place_widgets(nb):
    """Drop live-widget outputs (they need a kernel); put a player (or a note) where a widget was shown."""
    import nbformat

    used = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        had_widget = any(WIDGET_MIME in o.get("data", {}) for o in cell.get("outputs", []))
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
        shown = [name for cls, name in PLAYED.items() if re.search(rf"\b{cls}\(", cell.source)]
        if shown:
            used += shown
            slot = "".join(f'<div class="tl-slot" data-widget="{n}"></div>' for n in shown)
            cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": slot}))
        elif had_widget or re.search(r"\b[A-Z]\w*Explorer\(", cell.source):
            note = ('<p class="note">An interactive widget appears here when you run the notebook '
                    '(<a href="install.html">install the course</a>).</p>')
            if not re.search(r"tqdm|trange", cell.source) or re.search(r"Explorer\(", cell.source):
                cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": note}))
    return used


def _render(nb, math_report=None):
    """The notebook's HTML, its formulas as MathML (:mod:`tipslib.site.math`).

    ``math_report``, a dict, receives ``converted`` (a count) and ``raw`` (``(tex, reason)`` kept as LaTeX).
    """
    import copy

    from nbconvert import HTMLExporter

    from . import math as M

    nb = copy.deepcopy(nb)  # the caller still reads the chapter titles from the original
    formulas = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = M.protect(cell.source, formulas)
        for output in cell.get("outputs", []):  # display(Markdown(...)) tables
            data = output.get("data", {})
            if isinstance(data.get("text/markdown"), str):
                data["text/markdown"] = M.protect(data["text/markdown"], formulas)
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    body, converted, raw = M.restore(body, formulas)
    if math_report is not None:
        math_report["converted"] = math_report.get("converted", 0) + converted
        math_report.setdefault("raw", []).extend(raw)
    return body


# --- the build ---------------------------------------------------------------------------------


def build_site(out, *, execute=True, source=None, chapters=None, jobs=2, widgets=None, only=None, log=None):
    """Build the static site into ``out`` (created; files already there are overwritten).

    Parameters
    ----------
    out : path
    execute : bool, default True
        Run every chapter first; False renders them as committed (no outputs).
    source : path, optional
        The course folder (``notebooks/``, ``exercises/release/``); the checkout by default.
    chapters : list of str, optional
        Only these chapter file names (tests use one small chapter).
    jobs : int, default 2
        Chapters executed at the same time.
    widgets : list of str, optional
        Only these widgets of :data:`tipslib.site.frames.SPECS` (tests).
    only : dict, optional
        ``widget -> {control: values}``: precompute only part of a control's grid (tests).
    log : callable(str), optional

    Returns
    -------
    dict
        ``seconds``, ``bytes``, ``files``, ``chapters`` (name -> seconds executing), ``math``
        (``converted``: formulas shown as MathML; ``raw``: ``(tex, reason)`` kept as LaTeX).
    """
    from pygments.formatters import HtmlFormatter

    import nbformat

    from . import frames as F

    start = time.perf_counter()
    log = log or (lambda message: None)
    chapter_dir, exercise_dir = course_folders(source)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"The 'out' folder of tipslib site is a file: {out}. Name a folder.")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"The 'jobs' parameter of build_site must be an int >= 1. Got {jobs!r} instead.")
    # A course folder may hold NAME.new-VERSION.ipynb beside an edited notebook (`tipslib course` after an
    # upgrade): the reader's own chapter is the one to show, once.
    paths = sorted(p for p in chapter_dir.glob("0*.ipynb") if not is_new_version(p))
    if chapters is not None:
        paths = [p for p in paths if p.name in set(chapters)]
    specs = [s for s in F.SPECS if widgets is None or s.name in widgets]
    (out / "assets").mkdir(parents=True, exist_ok=True)
    (out / "widgets").mkdir(exist_ok=True)
    (out / "exercises").mkdir(exist_ok=True)
    for asset in ASSETS.iterdir():
        if asset.suffix in (".css", ".js"):
            shutil.copyfile(asset, out / "assets" / asset.name)
    (out / "assets" / "pygments.css").write_text(HtmlFormatter(style="default").get_style_defs(".highlight"))

    # Chapters run in their own kernels while this process computes the widget frames.
    log(f"building the site in {out}: " + (f"running {len(paths)} chapters, {jobs} at a time, while " if execute
                                           else "") + f"precomputing the frames of {len(specs)} widgets")
    pool = ThreadPoolExecutor(max_workers=jobs)
    if execute:
        futures = {p: pool.submit(_execute, p) for p in paths}
    timings = {}
    try:
        for spec in specs:
            t = time.perf_counter()
            meta, backgrounds = F.widget_frames(spec, only=(only or {}).get(spec.name))
            names = []
            for k, png in enumerate(backgrounds):
                name = f"widgets/{spec.name}-background-{k}.png"
                (out / name).write_bytes(png)
                names.append(name)
            meta["backgrounds"] = names
            script = ("window.TIPSLIB_WIDGETS = window.TIPSLIB_WIDGETS || {};\n"
                      f"window.TIPSLIB_WIDGETS[{json.dumps(spec.name)}] = "
                      + json.dumps(meta, separators=(",", ":"), ensure_ascii=False) + ";\n")
            (out / "widgets" / f"{spec.name}.js").write_text(script, encoding="utf-8")
            log(f"widget {spec.name}: {len(meta['frames'])} frames in {time.perf_counter() - t:.1f} s")

        pages = []
        for p in paths:
            if execute:
                nb, seconds = futures[p].result()
                timings[p.stem] = round(seconds, 1)
                log(f"chapter {p.stem}: executed in {seconds:.1f} s")
            else:
                nb = nbformat.read(p, as_version=4)
            pages.append((p, nb))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    by_name = {s.name: s for s in specs}
    entries = []
    math_report = {"converted": 0, "raw": []}
    for k, (p, nb) in enumerate(pages):
        title = chapter_title(nb, p.stem)
        used = [n for n in _place_widgets(nb) if n in by_name]
        body = _render(nb, math_report)
        for name in dict.fromkeys(used):
            section = f'<div class="tl-embedded">{_player(by_name[name])}<p class="note">{PRECOMPUTED} ' \
                      f'{by_name[name].live}</p></div>'
            body = body.replace(f'<div class="tl-slot" data-widget="{name}"></div>', section, 1)
            body = body.replace(f'<div class="tl-slot" data-widget="{name}"></div>',
                                f'<p><a href="widgets.html#widget-{name}">The widget, above.</a></p>')
        prev_link = f'<a href="{pages[k - 1][0].stem}.html">&larr; {html.escape(chapter_title(pages[k - 1][1], ""))}</a>' \
            if k else '<a href="index.html">&larr; Contents</a>'
        next_link = f'<a href="{pages[k + 1][0].stem}.html">{html.escape(chapter_title(pages[k + 1][1], ""))} &rarr;</a>' \
            if k + 1 < len(pages) else '<a href="install.html">Run it yourself &rarr;</a>'
        nav = f'<nav class="chapter-nav">{prev_link}{next_link}</nav>'
        note = "" if execute else ('<p class="note">This copy was built without running the notebook: '
                                   'code only, no outputs.</p>')
        exercise = exercise_dir / (p.stem.split("_", 1)[-1] + ".ipynb")
        tail = (f'<p>Practice: <a href="exercises/{exercise.name}" download>download the exercise notebook</a> '
                f'and open it in Jupyter.</p>') if exercise.is_file() else ""
        scripts = [f"widgets/{n}.js" for n in dict.fromkeys(used)] + (["assets/player.js"] if used else [])
        (out / f"{p.stem}.html").write_text(_page(title, nav + note + body + tail + nav, scripts=scripts),
                                            encoding="utf-8")
        entries.append((p.stem, title))

    log(f"formulas: {math_report['converted']} as MathML, {len(math_report['raw'])} kept as LaTeX")
    for tex, reason in math_report["raw"]:
        log(f"  kept as LaTeX ({reason}): {tex}")
    exercises = _copy_exercises(exercise_dir, out)
    (out / "widgets.html").write_text(_widgets_page(specs), encoding="utf-8")
    (out / "install.html").write_text(_install_page(), encoding="utf-8")
    (out / "index.html").write_text(_index_page(entries, exercises, specs), encoding="utf-8")

    files = [f for f in out.rglob("*") if f.is_file()]
    return dict(seconds=round(time.perf_counter() - start, 1), bytes=sum(f.stat().st_size for f in files),
                files=len(files), chapters=timings, math=math_report)


def _copy_exercises(exercise_dir, out):
    """The student versions only; refuse anything that carries a solution or a hidden test."""
    copied = []
    for p in sorted(Path(exercise_dir).glob("*.ipynb")):
        if is_new_version(p):
            continue
        text = p.read_text(encoding="utf-8")
        leaked = [m for m in SOLUTION_MARKERS if m in text]
        if leaked:
            raise ValueError(f"The exercise {p} holds {leaked}: only student versions may go on the site. "
                             "Run `tipslib release` first.")
        shutil.copyfile(p, out / "exercises" / p.name)
        copied.append(p.name)
    return copied


def _widgets_page(specs):
    body = ("<h1>Widgets without installing anything</h1>"
            f'<p class="note">{PRECOMPUTED}</p>'
            + "".join(_widget_section(s) for s in specs))
    scripts = [f"widgets/{s.name}.js" for s in specs] + ["assets/player.js"]
    return _page("Widgets", body, scripts=scripts)


def _index_page(entries, exercises, specs):
    toc = "".join(f'<li><a href="{stem}.html">{html.escape(title)}</a></li>' for stem, title in entries)
    wl = "".join(f'<li><a href="widgets.html#widget-{s.name}">{html.escape(s.title)}</a></li>' for s in specs)
    ex = "".join(f'<li><a href="exercises/{n}" download>{html.escape(n)}</a></li>' for n in exercises)
    body = f"""<h1>Deep Learning Tips and Tricks, as a runnable course</h1>
<p>The CS 230 cheatsheet's tips (data processing, training a network, parameter tuning,
regularization, good practices) as five chapters: each idea in plain words and a formula, NumPy code,
its PyTorch twin checked against the built-in, a plot and a knob to turn.</p>
<p>This site is a static copy: read the chapters with their figures, play with the three core widgets right
here, and download the exercises. To run and change the code, <a href="install.html">install the course</a>.</p>
<h2 id="chapters">Chapters</h2><ol class="toc">{toc}</ol>
<h2 id="widgets">Widgets that play in this page</h2><ul class="toc">{wl}</ul>
<h2 id="exercises">Exercises</h2>
<p>The student versions, as Jupyter notebooks. Fill in the marked cells, then check your work with
<code>tipslib check NOTEBOOK.ipynb</code> after <a href="install.html">installing the course</a>.</p>
<ul class="toc">{ex}</ul>"""
    return _page("Contents", body)


def _install_page():
    body = """<h1>Install and run the real course</h1>
<p>This site shows the course; the course itself runs in Jupyter, where every cell can be changed and
re-run and every widget computes live, for any value, not only the precomputed ones. You need
Python 3.11 or newer.</p>
<h2>1. Install</h2>
<p>In a checkout of the course (a virtual environment is a good idea:
<code>python -m venv .venv &amp;&amp; . .venv/bin/activate</code>):</p>
<pre><code>pip install torch --index-url https://download.pytorch.org/whl/cpu   # the small CPU-only torch
pip install -e .</code></pre>
<p>Given a built wheel instead of a checkout, install that file in the second line:
<code>pip install tipslib-VERSION-py3-none-any.whl</code>. The wheel carries the whole course.</p>
<p>This also installs NumPy, matplotlib, JupyterLab and ipywidgets. On a machine with an NVIDIA GPU,
leave out the first line and pip installs the CUDA build of torch.</p>
<h2>2. Open the course</h2>
<pre><code>tipslib course          # copies the course to ~/tipslib-course and opens JupyterLab there</code></pre>
<p>The chapters are in <code>chapters/</code>, the exercises in <code>exercises/</code>. The folder is
yours: running <code>tipslib course</code> again never overwrites your edits. Run a chapter with
<em>Run &gt; Run All Cells</em>.</p>
<h2>3. Check your exercises</h2>
<pre><code>tipslib check exercises/regularization.ipynb      # in your course folder</code></pre>
<h2>4. Build this site yourself</h2>
<pre><code>tipslib site site/                   # runs every chapter, precomputes the widget frames
tipslib site site/ --skip-execute    # faster: the chapters without their outputs</code></pre>
<p>Open <code>site/index.html</code> in any browser; nothing is fetched from the network.</p>"""
    return _page("Install", body)


# --- the command -------------------------------------------------------------------------------


def add_site(sub):
    import argparse

    from ..grading.cli import _positive

    p = sub.add_parser(
        "site", help="build the course as a static website",
        description="Build a static website of the course into OUT: chapters executed and rendered, the "
                    "three core widgets playing precomputed frames, exercise downloads. Opens from disk.",
        epilog="examples:\n  tipslib site site/\n  tipslib site site/ --skip-execute",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="folder to write the site into")
    p.add_argument("--skip-execute", action="store_true", help="render the chapters without running them")
    p.add_argument("--jobs", type=_positive(int), default=2, help="chapters executed at once (default 2)")
    p.add_argument("--source", default=None,
                   help="your course folder (made by `tipslib course`) or a checkout of the course "
                        "(default: the course installed with tipslib)")

    def run(args):
        try:
            stats = build_site(args.out, execute=not args.skip_execute, jobs=args.jobs, source=args.source,
                               log=lambda m: print(m, flush=True))
        except (OSError, ValueError, ChapterError) as exc:
            print(f"tipslib site: {exc}", file=sys.stderr)
            return 2
        print(f"site written to {args.out}: {stats['files']} files, {stats['bytes'] / 1e6:.1f} MB, "
              f"built in {stats['seconds']:.0f} s; open {Path(args.out) / 'index.html'}")
        return 0

    return run
