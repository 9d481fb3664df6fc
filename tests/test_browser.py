"""The course as a person meets it: JupyterLab in a real (headless) Chromium.

* Every chapter notebook in ``notebooks/`` is opened, run with Run > Run All
  Cells, and must finish with every code cell executed and no error output
  (checked in the page, and again in the notebook saved from the page).
* Every widget class in ``tipslib.widgets`` is shown in a notebook of its own and
  each of its controls is moved as a person would (slider handles dragged and
  nudged with the arrow keys, dropdown options picked, boxes ticked); the figure
  must be redrawn and look different afterwards.
* Every widget is shown at 1000 and 1600 px window widths on a 2x (high-DPI)
  screen: its figure must not be rescaled by the page (drawn pixels over the
  device pixel ratio = shown size, within 3%), and the widget must fit its
  output area (at 1000 px with the file browser open) and one screen height.
* Self-tests on the notebooks in ``tests/data/browser`` show that these checks
  can fail: an error is noticed, a control that changes nothing is noticed, and
  a stretched figure is noticed.

Screenshots are written to ``test-artifacts/browser/`` on every run, passing or
not. Chromium comes from the system (``apt-get install -y chromium``); without it
these tests are skipped, except under CI (``CI`` set), where that is a failure.
How fast a widget answers is measured by ``bench/bench_browser_widgets.py``,
never asserted here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import browser_harness as B

pytestmark = pytest.mark.browser

DATA = Path(__file__).parent / "data" / "browser"
CHAPTERS = B.chapter_notebooks()
WIDGETS = B.discover_widgets()
#: A hang guard for one notebook run, not a speed target (that is bench/run.py's job).
RUN_TIMEOUT_S = 180


def _require_browser():
    missing = []
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("Chromium (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e .[test])")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory):
    """A scratch copy of the notebooks (runs must not touch the committed files)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(B.REPO / "notebooks", root / "notebooks", ignore=ignore)
    shutil.copytree(DATA, root / "selftest", ignore=ignore)
    (root / "widgets").mkdir()
    return root


@pytest.fixture(scope="session")
def lab(lab_root):
    path = os.pathsep.join(filter(None, [str(lab_root / "selftest"), os.environ.get("PYTHONPATH")]))
    with B.JupyterLab(lab_root, env={"PYTHONPATH": path}) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab, pw):
    chromium = B.launch_chromium(pw)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def context(browser):
    """One browser profile for the session: JupyterLab's scripts load from its cache after the first page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


#: Window widths of the size checks: a laptop with the file browser open, and a wide screen.
SIZE_WIDTHS = (1000, 1600)


@pytest.fixture(scope="session")
def hidpi_contexts(browser):
    """One 2x (high-DPI) browser profile per window width in SIZE_WIDTHS, 900 px tall."""
    contexts = {w: browser.new_context(viewport={"width": w, "height": 900}, device_scale_factor=2)
                for w in SIZE_WIDTHS}
    yield contexts
    for ctx in contexts.values():
        ctx.close()


@pytest.fixture
def page(context, lab):
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    pg.close()
    lab.shutdown_kernels(wait=False)


def run_in_browser(page, lab, relpath: str) -> tuple[B.NotebookPage, list[str]]:
    """Open, Run All, save; return the page object and every problem seen."""
    slug = B._slug(relpath)
    B.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nb = B.NotebookPage(page, lab, relpath).open()
    try:
        nb.run_all()
        not_run = nb.wait_all_ran(RUN_TIMEOUT_S)
        errors = nb.errors()
    finally:
        page.screenshot(path=str(B.ARTIFACTS / f"{slug}-after-run.png"))
    nb.save()
    problems = [f"in the page, code cell {c.index} did not run ({c.prompt}): {c.source_head!r}" for c in not_run]
    problems += [f"in the page, code cell {e['cell']} shows an error: {e['text'][:300]!r}" for e in errors]
    problems += [f"in the saved notebook, {p}" for p in B.saved_notebook_problems(lab.root_dir / relpath)]
    return nb, problems


def undrawn_figures(nb: B.NotebookPage) -> int:
    """How many widget figures on the page have no picture."""
    return nb.panel.evaluate(
        "p => Array.from(p.querySelectorAll('img.tipslib-figure')).filter(i => !(i.complete && i.naturalWidth > 0)).length")


# -- chapter notebooks ---------------------------------------------------------

@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_notebook_runs_in_jupyterlab(page, lab, notebook):
    nb, problems = run_in_browser(page, lab, f"notebooks/{notebook.name}")
    assert not problems, "\n".join(problems)
    assert undrawn_figures(nb) == 0


# -- widgets -------------------------------------------------------------------

def show_widget(page, lab, module: str, cls: str):
    nb, image, problems = B.show_widget(page, lab, module, cls)
    page.screenshot(path=str(B.ARTIFACTS / f"{B._slug(module + '.' + cls)}-shown.png"))
    assert not problems, "\n".join(problems)
    return nb, image


@pytest.mark.parametrize("module, cls", WIDGETS, ids=[f"{m.rsplit('.', 1)[-1]}.{c}" for m, c in WIDGETS])
def test_widget_controls_redraw_the_figure(page, lab, module, cls):
    nb, image = show_widget(page, lab, module, cls)
    problems = B.exercise_widget(page, image, name=f"{module.rsplit('.', 1)[-1]}.{cls}")
    assert not problems, "\n".join(problems)


def widget_geometry(hidpi_contexts, lab, module, cls, width):
    """Show the widget in a ``width``-px window on a 2x screen; return its geometry (screenshot saved)."""
    page = hidpi_contexts[width].new_page()
    page.set_default_timeout(30_000)
    try:
        _, image = show_widget(page, lab, module, cls)
        B.settle(image)
        geometry = B.figure_geometry(image)
        page.screenshot(path=str(B.ARTIFACTS / f"{B._slug(cls)}-{width}px.png"))
        return geometry
    finally:
        page.close()
        lab.shutdown_kernels(wait=False)


@pytest.mark.parametrize("width", SIZE_WIDTHS)
@pytest.mark.parametrize("module, cls", WIDGETS, ids=[f"{m.rsplit('.', 1)[-1]}.{c}" for m, c in WIDGETS])
def test_widget_is_shown_at_its_drawn_size_and_fits(hidpi_contexts, lab, module, cls, width):
    g = widget_geometry(hidpi_contexts, lab, module, cls, width)
    if width == min(SIZE_WIDTHS):  # the narrow case is the one with the file browser open
        assert g["file_browser"] > 200, f"the file browser is not open at {width} px: {g}"
    problems = B.geometry_problems(cls, g)
    assert not problems, "\n".join(problems)


def test_a_stretched_figure_is_noticed(hidpi_contexts, lab):
    g = widget_geometry(hidpi_contexts, lab, "toy_widget", "StretchedWidget", max(SIZE_WIDTHS))
    problems = B.geometry_problems("StretchedWidget", g)
    assert any("rescaled by" in p for p in problems), (problems, g)
    # The same page with the figure at its drawn size and a box of ordinary size passes.
    unstretched = {**g, "shown": [n / g["dpr"] for n in g["natural"]], "widget": [g["output"][0], g["output"][0] + 400, 300]}
    assert not B.geometry_problems("ToyWidget", unstretched)


def test_every_widget_module_has_a_widget_class():
    """A widget module whose class is not a FigureWidget would escape the test above."""
    import pkgutil

    import tipslib.widgets

    modules = {m.name for m in pkgutil.iter_modules(tipslib.widgets.__path__) if not m.name.startswith("_")}
    found = {m.rsplit(".", 1)[-1] for m, _ in WIDGETS}
    assert modules <= found, f"widget modules without a FigureWidget subclass: {sorted(modules - found)}"


# -- the student's course folder ------------------------------------------------------

def test_course_folder_opens_on_its_start_page(browser, tmp_path):
    """What `tipslib course` serves: the start page renders, and the file browser shows the
    chapters and the exercises side by side (JupyterLab rooted at the course folder)."""
    from tipslib.course import START_PAGE, prepare_workspace

    ws = prepare_workspace(tmp_path / "course").root
    with B.JupyterLab(ws) as lab:
        ctx = browser.new_context(viewport={"width": 1000, "height": 800})
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(lab.url(f"/lab/tree/{START_PAGE}?reset"), wait_until="domcontentloaded")
            page.locator(".jp-RenderedMarkdown h1").first.wait_for(state="visible")
            listing = page.locator(".jp-DirListing-content")
            listing.locator(".jp-DirListing-item").first.wait_for(state="visible")
            page.screenshot(path=str(B.ARTIFACTS / "course-start-page.png"))
            names = listing.inner_text()
            text = page.locator(".jp-NotebookPanel").first.inner_text()
        finally:
            ctx.close()
            lab.shutdown_kernels()
    assert "chapters" in names and "exercises" in names and START_PAGE in names
    assert "start here" in text and "tipslib check exercises/" in text


# -- self-tests: the checks above can fail ----------------------------------------

def test_practice_chapter_runs_clean(page, lab):
    nb, problems = run_in_browser(page, lab, "selftest/practice_chapter.ipynb")
    assert not problems, "\n".join(problems)
    # The stderr line and the tqdm bar are not mistaken for errors, and the widget is drawn.
    assert "a warning on stderr" in nb.panel.locator(".jp-Notebook").inner_text()
    assert B.figure_images(nb.panel).count() == 1
    assert undrawn_figures(nb) == 0


def test_an_error_is_noticed(page, lab):
    _, problems = run_in_browser(page, lab, "selftest/broken.ipynb")
    text = "\n".join(problems)
    assert "in the page, code cell 1 shows an error" in text and "this error is on purpose" in text
    assert "in the page, code cell 2 did not run" in text
    assert "in the saved notebook, code cell 1 raised RuntimeError" in text


def test_every_kind_of_control_is_moved(page, lab):
    _, image = show_widget(page, lab, "toy_widget", "ToyWidget")
    kinds = [c.kind for c in B.widget_controls(B.widget_output(image))]
    assert kinds == ["slider", "slider", "slider", "dropdown", "checkbox"]
    problems = B.exercise_widget(page, image, name="selftest.ToyWidget", steps=(0, 1))  # sliders: drag, then a key
    assert not problems, "\n".join(problems)


def test_a_control_that_changes_nothing_is_noticed(page, lab):
    _, image = show_widget(page, lab, "toy_widget", "DeadControlWidget")
    problems = B.exercise_widget(page, image, name="selftest.DeadControlWidget", steps=(0,), redraw_timeout=4)
    # Drawn again with the same pixels, the PNG bytes are equal and ipywidgets sends nothing:
    # either way the person sees no change, and it is reported.
    assert problems and all("'ignored'" in p and ("same picture" in p or "did not redraw" in p)
                            for p in problems), problems


def test_a_slider_too_narrow_to_drag_is_noticed(page, lab):
    _, image = show_widget(page, lab, "toy_widget", "SqueezedWidget")
    problems = B.exercise_widget(page, image, name="selftest.SqueezedWidget", redraw_timeout=4)
    assert any("too narrow to drag" in p for p in problems), problems
