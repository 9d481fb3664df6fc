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
* One full build (every chapter executed) is in ``test_full_build``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tipslib.site import SOLUTION_MARKERS, build_site
from tipslib.site import frames as F

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


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("needs playwright")
    if exe is None:
        pytest.skip("needs Chromium (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
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
