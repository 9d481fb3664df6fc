"""``tipslib site``: the static course website, built and opened from disk in a real Chromium.

* A small site (one chapter, not executed; the learning-rate widget on part of
  its optimizer/surface grid, every other grid whole) is built once. Its pages
  link only to files that exist and load nothing from the network.
* In Chromium, every control of the three widgets is moved (slider handles
  with the arrow keys and by jumps, every dropdown option); each move must
  change the frame and the picture, and the frame shown must equal the one a
  fresh live widget computes in this process for the same values: the same
  moving artists and byte for byte the same background. The painted picture
  must also look like the widget's own PNG (a loose pixel comparison: the
  browser's anti-aliasing and fonts are not matplotlib's).
* No console error, no request other than ``file://``/``data:``, and no
  horizontal scroll of the page body at a 390-px phone width.
* Nothing of ``exercises/source`` (solutions, hidden tests) ends up on the site.
* Formulas: every ``$...$``/``$$...$$`` of every chapter becomes MathML at build
  time (none left as LaTeX), code and escaped dollars stay as they are, and in
  Chromium a ``<math>`` is laid out as math (a fraction's numerator above its
  denominator, nothing of zero size).
* One full build (every chapter executed) is in ``test_full_build``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tipslib.site import SOLUTION_MARKERS, _render, build_site, course_folders
from tipslib.site import frames as F
from tipslib.site import math as M

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SMALL = {"learning_rate": {"optimizer": ["SGD", "Adam"], "surface": ["bowl", "saddle"]},
         "regularization": {"alpha": [0.2, 0.5, 0.8]}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SPECS = {s.name: s for s in F.SPECS}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    build_site(out, execute=False, chapters=["04_regularization.ipynb"], only=SMALL)
    return out


def _site_files(root):
    return [p for p in root.rglob("*") if p.is_file()]


# --- without a browser ---------------------------------------------------------------------------


def test_site_has_pages_downloads_and_widgets(site):
    for name in ("index.html", "widgets.html", "install.html", "04_regularization.html",
                 "assets/style.css", "assets/player.js"):
        assert (site / name).is_file(), name
    index = (site / "index.html").read_text()
    assert 'href="04_regularization.html"' in index and 'href="install.html"' in index
    released = sorted(p.name for p in (REPO / "exercises" / "release").glob("*.ipynb"))
    assert released and sorted(p.name for p in (site / "exercises").glob("*.ipynb")) == released
    for name in released:
        assert (site / "exercises" / name).read_bytes() == (REPO / "exercises" / "release" / name).read_bytes()
        assert f'href="exercises/{name}"' in index
    install = (site / "install.html").read_text()
    assert "pip install" in install and "tipslib course" in install
    chapter = (site / "04_regularization.html").read_text()
    for widget in ("dropout", "regularization"):  # played in place, where the chapter shows them
        assert f'data-widget="{widget}"' in chapter


def test_every_local_link_resolves_and_nothing_loads_from_the_network(site):
    for page in site.glob("*.html"):
        text = page.read_text()
        for tag, attr, url in re.findall(r'<(script|link|img|iframe|source)\b[^>]*?\b(src|href)="([^"]*)"', text):
            assert not re.match(r"(https?:)?//", url), f"{page.name} loads {url} from the network"
        for url in re.findall(r'(?:href|src)="([^"#:]+)(?:#[^"]*)?"', text):
            assert (page.parent / url).is_file(), f"{page.name} links to missing {url}"


def test_no_instructor_content_on_the_site(site):
    solutions = []
    for p in (REPO / "exercises" / "source").glob("*.ipynb"):
        for cell in json.loads(p.read_text())["cells"]:
            src = "".join(cell["source"])
            if "BEGIN SOLUTION" in src or "BEGIN HIDDEN TESTS" in src:
                solutions += [line.strip() for line in src.splitlines()
                              if len(line.strip()) > 25 and "###" not in line and "raise NotImplementedError" not in line]
    assert solutions, "the instructor notebooks should hold solutions to look for"
    released = "".join(p.read_text() for p in (REPO / "exercises" / "release").glob("*.ipynb"))
    secret = [s for s in solutions if s not in released]
    assert secret
    for f in _site_files(site):
        if f.suffix in (".html", ".js", ".css", ".ipynb"):
            text = f.read_text(encoding="utf-8")
            for marker in SOLUTION_MARKERS:
                assert marker not in text, f"{f} holds {marker}"
            leaked = [s for s in secret if s in text]
            assert not leaked, f"{f} holds solution lines {leaked[:3]}"


def test_an_exercise_with_solutions_is_refused(tmp_path):
    src = tmp_path / "course"
    (src / "notebooks").mkdir(parents=True)
    (src / "exercises" / "release").mkdir(parents=True)
    shutil.copyfile(REPO / "exercises" / "source" / "regularization.ipynb",
                    src / "exercises" / "release" / "regularization.ipynb")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        build_site(tmp_path / "out", execute=False, source=src, widgets=[])


def test_bad_arguments():
    with pytest.raises(ValueError, match="'jobs'.*Got 0"):
        build_site("/nonexistent-out", jobs=0, widgets=[])
    with pytest.raises(FileNotFoundError, match="'source'"):
        build_site("/nonexistent-out", source="/nonexistent-course", widgets=[])


def test_a_students_course_folder_is_a_source(tmp_path, capsys):
    """`tipslib course` makes chapters/ and exercises/; the site builds from that folder too."""
    from tipslib.cli import main

    assert main(["course", str(tmp_path / "ws"), "--no-lab"]) == 0
    capsys.readouterr()
    chapters, exercises = course_folders(tmp_path / "ws")
    assert chapters == tmp_path / "ws" / "chapters" and exercises == tmp_path / "ws" / "exercises"
    assert len(list(chapters.glob("0*.ipynb"))) == 5 and (exercises / "regularization.ipynb").is_file()


def _tiny_course(root, chapters):
    """A course folder as `tipslib course` lays it out: {chapter file name: code of its one cell}."""
    import nbformat

    (root / "chapters").mkdir(parents=True)
    (root / "exercises").mkdir()
    for name, code in chapters.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                             nbformat.v4.new_code_cell(code)])
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "chapters" / name)
    return root


def test_a_course_folder_after_an_upgrade_shows_each_chapter_once(tmp_path):
    # `tipslib course` after an upgrade writes NAME.new-VERSION.ipynb beside a notebook the student
    # edited; `tipslib site --source` showed it as one more chapter and one more exercise.
    src = _tiny_course(tmp_path / "ws", {"01_tiny.ipynb": "x = 1", "01_tiny.new-0.2.0.ipynb": "x = 2"})
    shutil.copyfile(REPO / "exercises" / "release" / "regularization.ipynb", src / "exercises" / "regularization.ipynb")
    shutil.copyfile(REPO / "exercises" / "release" / "regularization.ipynb",
                    src / "exercises" / "regularization.new-0.2.0.ipynb")
    out = tmp_path / "out"
    build_site(out, execute=False, source=src, widgets=[])
    assert sorted(p.name for p in out.glob("0*.html")) == ["01_tiny.html"]
    assert sorted(p.name for p in (out / "exercises").iterdir()) == ["regularization.ipynb"]
    assert ".new-" not in (out / "index.html").read_text()


def test_a_chapter_that_raises_is_named_without_a_traceback(tmp_path, monkeypatch, capsys):
    # a self-learner's own course folder, a chapter cell changed so that it raises
    from tipslib.cli import main

    monkeypatch.setattr(F, "SPECS", [])  # no widget frames: only the chapter runs
    src = _tiny_course(tmp_path / "ws", {"01_tiny.ipynb": "x = 1\ny = x / 0"})
    assert main(["site", str(tmp_path / "out"), "--source", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tipslib site: ") and "Traceback" not in err, err
    assert "01_tiny.ipynb" in err and "ZeroDivisionError" in err and "--skip-execute" in err and "x = 1" in err


@pytest.mark.parametrize("problem", ["out is a file", "source is not a course"])
def test_the_command_names_a_users_mistake_without_a_traceback(problem, tmp_path, capsys):
    from tipslib.cli import main

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    argv = ["site", str(a_file), "--skip-execute"] if problem == "out is a file" else \
        ["site", str(tmp_path / "out"), "--skip-execute", "--source", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tipslib site: ") and "Traceback" not in err
    assert ("is a file" in err) if problem == "out is a file" else ("chapters/" in err and str(tmp_path) in err)


def test_site_command_is_registered(capsys):
    from tipslib.cli import main

    with pytest.raises(SystemExit) as e:
        main(["site", "--help"])
    assert e.value.code == 0
    assert "--skip-execute" in capsys.readouterr().out


def test_control_grids_follow_the_live_widgets():
    from tipslib.widgets.dropout import P_GRID
    from tipslib.widgets.learning_rate import LearningRateExplorer, optimizer_names
    from tipslib.widgets.regularization import LAM_GRID

    w = LearningRateExplorer()
    labels, lrs = F.control_grid(w.controls["lr"])
    assert len(lrs) == 101 and np.isclose(lrs[0], 1e-4) and np.isclose(lrs[-1], 10.0)
    assert F.control_grid(w.controls["optimizer"])[1] == optimizer_names()
    d = SPECS["dropout"].make(0)
    assert tuple(F.control_grid(d.controls["p"])[1]) == P_GRID
    r = SPECS["regularization"].make(0)
    np.testing.assert_allclose(F.control_grid(r.controls["lam"])[1], LAM_GRID, rtol=1e-12)
    assert F.control_grid(r.controls["penalty"])[1] == ["l1", "l2", "elastic_net"]


# --- formulas ---------------------------------------------------------------------------------------

#: Chapter formulas allowed to stay LaTeX (shown in <code class="tex">), each with the reason. Keep it empty.
KEPT_RAW = {}


def _markdown_html(text):
    """One markdown text through the site's renderer (protect, nbconvert, restore)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text)]
    report = {}
    return _render(nb, report), report


def _text_outside(html_text, *tags):
    """The HTML with the given elements (and their content) removed."""
    for tag in tags:
        html_text = re.sub(rf"<{tag}\b.*?</{tag}>", "", html_text, flags=re.S)
    return html_text


def test_dollars_are_found_by_the_pandoc_rules():
    text = (r"Costs \$5 and \$10; $a_i < b$, $$\sum_i x_i$$ and $x$.\n"
            "`code $y$` and ``a ` $z$`` stay code.\n```python\nprint('$w$')\n```\n$u$")
    found = [(tex, display) for _, _, tex, display in M.find_math(text)]
    assert found == [("a_i < b", False), (r"\sum_i x_i", True), ("x", False), ("u", False)]
    # Currency: a closing '$' needs a non-space before it and no digit after it.
    for text in ("Prices $5 and $10 stay text.", "From $5 to $10, $20 or $30.", "$ x$ and $x $", "$5-$10"):
        assert M.find_math(text) == [], text
    # A formula never crosses a blank line (two paragraphs that each hold one dollar).
    assert M.find_math("It costs $5.\n\nThe other one $6 more.") == []
    assert [f[2] for f in M.find_math("$$\na = b\n$$")] == ["\na = b\n"]


def test_markdown_formulas_become_mathml_and_code_is_untouched():
    body, report = _markdown_html(
        "# Choosing $h$\n\n"
        r"Costs \$5 and \$10; pay $a_i < b_i$ with *stress*, $\lVert w \rVert_2$ and"
        "\n\n$$\n\\hat y = \\sum_{i=1}^{n} w_i x_i \\quad \\text{if } a<b\n$$\n\n"
        "`code $x$` | and\n\n```python\nx = \"$y$\"\n```\n\n    indented $z$ block\n\n| a | b |\n|---|---|\n| $|x|$ | 1 |\n")
    assert "TIPSLIBMATH" not in body
    assert report == {"converted": 5, "raw": []}  # h, a_i < b_i, the norm, the display one, |x|
    assert body.count("<math ") == 5 and body.count('display="block"') == 1
    assert body.count('<span class="math-display"><math') == 1
    for tag in re.findall(r"<math\b.*?</math>", body, flags=re.S):  # every formula is well-formed XML
        ET.fromstring(tag)
    assert "Costs $5 and $10" in body  # escaped dollars: plain text
    assert "<code>code $x$</code>" in body  # inline code, fenced and indented code blocks: as written
    assert re.search(r'<pre>.*"\$y\$"', body, flags=re.S) and "indented $z$ block" in body
    assert 'id="Choosing-h"' in body  # the heading's anchor holds the formula's letters, not MathML
    assert "<td><math" in body  # the |x| formula stays one table cell
    assert "<em>stress</em>" in body and "<mi>a</mi>" in body  # a_i's underscore is no emphasis
    assert "\u2016" in body and r"\lVert" not in _text_outside(body, "annotation")
    assert "$" not in _text_outside(body, "code", "pre", "annotation").replace("Costs $5 and $10", "")


def test_formulas_in_markdown_outputs_become_mathml():
    """display(Markdown(...)) tables of an executed chapter (e.g. chapter 5's summary) get MathML too."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("Markdown(table)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/markdown": "| says | measured |\n|---|---|\n| $\\frac{f(x+h)-f(x-h)}{2h}$ | best $h$ |\n",
        "text/plain": "<IPython.core.display.Markdown object>"})]
    nb.cells = [cell]
    report = {}
    body = _render(nb, report)
    assert report == {"converted": 2, "raw": []} and "<mfrac>" in body and "$" not in _text_outside(body, "annotation")


def test_unsupported_formula_stays_latex_and_is_reported():
    with pytest.raises(M.MathError, match="unsupported command"):
        M.to_mathml(r"\foo x")
    with pytest.raises(M.MathError, match="malformed"):  # latex2mathml leaves '<' raw inside \text
        M.to_mathml(r"\text{a<b}")
    body, report = _markdown_html(r"Fine $x^2$, not $\foo x$ nor $\text{a<b}$.")
    assert report["converted"] == 1 and [t for t, _ in report["raw"]] == [r"\foo x", r"\text{a<b}"]
    assert r'<code class="tex">\foo x</code>' in body and r'<code class="tex">\text{a&lt;b}</code>' in body


def test_latex2mathml_gaps_are_patched():
    def tags(tex, display=False):
        return M.to_mathml(tex, display)

    assert "\u2016" in tags(r"\lVert\theta\rVert_1")  # \lVert is missing from latex2mathml
    assert "<mo" in tags(r"\arg\min_z f") and r"\arg" not in tags(r"\arg\min_z f").split("<annotation")[0]
    assert "\u223c" in tags(r"m \sim B") and "~" not in tags(r"m \sim B")  # not the ASCII tilde
    assert "<munderover><mo movablelimits" in tags(r"\sum_{i=1}^m x_i")  # limits under/over in display
    assert "<munder><mo movablelimits" in tags(r"\max_i x_i", display=True)
    aligned = tags(r"\begin{aligned} a &= b \\ c &= d \end{aligned}", display=True)
    assert aligned.count("<mtr>") == 2 and 'columnalign="right"' in aligned and "&amp;=" not in aligned.split("<annotation")[0]
    for tex in (r"\tfrac{m}{m-1}", r"\mathcal N(0, \sigma^2)", r"\operatorname{clip}(x)", r"\hat\epsilon",
                r"\lceil n / B \rceil", r"\mathrm{softmax}(x)", r"\big(1 + e^{-|x|}\big)", r"\text{out}_i"):
        ET.fromstring(tags(tex))


def test_every_chapter_formula_becomes_mathml():
    import nbformat

    counted, raw = 0, {}
    for path in sorted((REPO / "notebooks").glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        expected = sum(len(M.find_math(c.source)) for c in nb.cells if c.cell_type == "markdown")
        report = {}
        body = _render(nb, report)
        assert report["converted"] + len(report["raw"]) == expected, path.name
        assert body.count("<math ") == report["converted"], path.name
        counted += expected
        for tex, reason in report["raw"]:
            raw[(path.name, tex)] = reason
        # Nothing that looks like math is left as text (a lone '$' in prose would be a parsing slip).
        text = _text_outside(body, "code", "pre", "annotation", "script", "style")
        assert not re.search(r"\$[^\s$][^$]*\$", text), (path.name, re.search(r"\$[^\s$][^$]*\$", text).group())
    assert counted > 300  # the five chapters hold about 390 formulas
    assert {k: v for k, v in raw.items() if k not in KEPT_RAW} == {}


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(pw):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: CI must install it (apt-get install -y chromium)")
        pytest.skip("needs Chromium (apt-get install -y chromium)")
    b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


class Watched:
    """A page whose console errors, page errors and non-local requests are recorded."""

    def __init__(self, browser, width=1280, scale=1):
        self.context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=scale)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else self.requests.append(r.url))

    def open(self, path):
        self.page.goto(Path(path).as_uri())
        self.page.wait_for_load_state("load")

    def close(self):
        self.context.close()


def _shown(page, name):
    """The frame key, its data, the control values and the background file the player shows now."""
    return page.evaluate("""(name) => {
        const root = document.getElementById('widget-' + name), data = window.TIPSLIB_WIDGETS[name];
        const key = root.dataset.frame;
        return {key: key, frame: data.frames[key], controls: data.controls,
                background: root.querySelector('img.tl-background').getAttribute('src')};
    }""", name)


def _values(shown):
    indices, _, variant = shown["key"].partition("/")
    values = {c["name"]: c["values"][int(i)] for c, i in zip(shown["controls"], indices.split(","))}
    return values, int(variant or 0)


def _matches_live_widget(site, name, shown):
    values, variant = _values(shown)
    expected, background = F.frame_for(SPECS[name], values, variant)
    assert json.loads(json.dumps(expected["a"])) == shown["frame"]["a"], f"{name} {values}: artists differ"
    assert (site / shown["background"]).read_bytes() == background, f"{name} {values}: background differs"


def _figure_png(page, name):
    """A screenshot of exactly the area of the figure's background image (the canvas lies on it)."""
    return page.locator(f"#widget-{name} img.tl-background").screenshot()


def _moves(page, name):
    """Move every control: arrow keys and jumps on sliders, every option of a dropdown. Yields after each move."""
    controls = page.locator(f"#widget-{name} .tl-controls [data-control]")
    for k in range(controls.count()):
        c = controls.nth(k)
        if c.is_disabled():
            continue
        if c.evaluate("e => e.tagName") == "SELECT":
            options = c.locator("option").all_text_contents()
            for i in list(range(len(options)))[::-1]:
                c.select_option(index=i)
                yield c
        else:
            top = int(c.get_attribute("max"))
            c.focus()
            c.press("End")
            yield c
            c.press("ArrowLeft")
            yield c
            c.fill(str(top // 3))
            yield c
            c.press("Home")
            yield c


@pytest.mark.browser
@pytest.mark.parametrize("name", ["learning_rate", "dropout", "regularization"])
def test_widget_plays_its_precomputed_frames(site, browser, name):
    w = Watched(browser)
    try:
        w.open(site / "widgets.html")
        page = w.page
        before = _shown(page, name)
        assert before["key"], "the player showed no frame"
        _matches_live_widget(site, name, before)
        picture = _figure_png(page, name)
        seen = {before["key"]}
        checked = 0
        for control in _moves(page, name):
            now = _shown(page, name)
            if now["key"] == before["key"]:
                continue  # e.g. Home on a slider already at its start
            new_picture = _figure_png(page, name)
            assert new_picture != picture, f"{name}: frame {now['key']} looks like {before['key']}"
            if now["key"] not in seen and checked < 8:
                _matches_live_widget(site, name, now)
                checked += 1
            seen.add(now["key"])
            before, picture = now, new_picture
        assert len(seen) >= 4
        if name == "dropout":  # at p = 0 every mask keeps everything: pick a p that drops
            page.locator("#widget-dropout [data-control=p]").fill("4")
            picture = _figure_png(page, name)
            page.locator("#widget-dropout button.tl-variant").click()
            now = _shown(page, name)
            assert now["key"].endswith("/1") and _figure_png(page, name) != picture
            _matches_live_widget(site, name, now)
        if name == "regularization":  # the mix only matters for the elastic net, as in the widget
            select = page.locator("#widget-regularization select[data-control=penalty]")
            select.select_option(value="0")
            assert page.locator("#widget-regularization [data-control=alpha]").is_disabled()
            select.select_option(value="2")
            assert not page.locator("#widget-regularization [data-control=alpha]").is_disabled()
        assert not w.errors, w.errors
        assert not w.requests, w.requests
    finally:
        w.close()


@pytest.mark.browser
@pytest.mark.parametrize("name", ["learning_rate", "dropout", "regularization"])
def test_painted_frame_looks_like_the_widgets_png(site, browser, name):
    """The canvas painter against matplotlib: the same picture up to anti-aliasing and fonts.

    The painted layer (read back from the canvas, which holds no image and so
    is never tainted) is laid over the background file at 1:1 here, not
    screenshotted, so page layout cannot blur the comparison.
    """
    import base64

    from PIL import Image

    w = Watched(browser)
    try:
        w.open(site / "widgets.html")
        shown = _shown(w.page, name)
        url = w.page.evaluate(f"document.querySelector('#widget-{name} canvas.tl-layer').toDataURL('image/png')")
        assert not w.errors, w.errors
    finally:
        w.close()
    layer = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA")
    painted = Image.alpha_composite(Image.open(site / shown["background"]).convert("RGBA"), layer)
    painted = np.asarray(painted.convert("RGB"), dtype=float)

    def distance(values, variant):
        live = SPECS[name].make(variant)
        live.update(**values)
        png = np.asarray(Image.open(io.BytesIO(live.image.value)).convert("RGB"), dtype=float)
        d = np.abs(painted - png).mean(axis=2)
        return d.mean(), (d > 64).mean()

    values, variant = _values(shown)
    same = distance(values, variant)
    # Nearly every pixel within a few levels; what differs is anti-aliasing along edges and text.
    assert same[0] < 3 and same[1] < 0.015, same
    # The comparison can fail: the widget's picture for other values is further away.
    other = {"learning_rate": {"lr": 10.0}, "dropout": {"p": 0.8}, "regularization": {"lam": 10.0}}[name]
    wrong = distance({**values, **other}, variant)
    assert wrong[0] > same[0] and wrong[1] > same[1], (same, wrong)


@pytest.mark.browser
def test_pages_fit_a_phone(site, browser):
    w = Watched(browser, width=390)
    try:
        for page in ("index.html", "widgets.html", "install.html", "04_regularization.html"):
            w.open(site / page)
            width = w.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{page} scrolls sideways at 390 px: {width} px wide"
            # A code block wider than the phone scrolls inside itself instead.
        assert not w.errors, w.errors
        assert not w.requests, w.requests
    finally:
        w.close()


@pytest.mark.browser
def test_formulas_are_laid_out_as_math(site, browser):
    w = Watched(browser, width=390)
    try:
        w.open(site / "04_regularization.html")
        boxes = w.page.evaluate("""() => [...document.querySelectorAll('math')].map(m => {
            const r = m.getBoundingClientRect();
            return {w: r.width, h: r.height, block: m.getAttribute('display') === 'block',
                    display: getComputedStyle(m).display};
        })""")
        assert len(boxes) > 20
        assert all(b["w"] > 0 and b["h"] > 0 for b in boxes), [b for b in boxes if not (b["w"] and b["h"])]
        # Laid out by the browser's MathML engine, not as unknown inline tags.
        assert {b["display"] for b in boxes} == {"math", "block math"}  # "math" is "inline math"
        fraction = w.page.evaluate("""() => {
            const f = document.querySelector('math[display=block] mfrac');
            const [num, den] = [...f.children].map(c => c.getBoundingClientRect());
            return {num_bottom: num.bottom, den_top: den.top, num_w: num.width, den_w: den.width};
        }""")
        assert fraction["num_bottom"] <= fraction["den_top"] + 1 and fraction["num_w"] > 0 and fraction["den_w"] > 0
        inline_h = min(b["h"] for b in boxes if not b["block"])
        assert max(b["h"] for b in boxes if b["block"]) > 1.5 * inline_h
        # A display formula wider than the phone scrolls inside its own box, the page does not.
        assert w.page.evaluate("document.documentElement.scrollWidth") <= 390
        assert not w.errors, w.errors
        assert not w.requests, w.requests
    finally:
        w.close()


@pytest.mark.timeout(1500)
def test_full_build(tmp_path):
    """The whole site, every chapter executed: figures in every chapter, no error output, size in budget."""
    stats = build_site(tmp_path, execute=True)
    chapters = sorted((REPO / "notebooks").glob("0*.ipynb"))
    assert set(stats["chapters"]) == {p.stem for p in chapters}
    for p in chapters:
        text = (tmp_path / f"{p.stem}.html").read_text()
        assert "data:image/png;base64" in text, f"{p.stem} has no figure"
        assert "Traceback (most recent call last)" not in text
        for marker in SOLUTION_MARKERS:
            assert marker not in text
    assert stats["bytes"] < 50e6, stats
