"""Drive the course in a real browser: JupyterLab + headless Chromium + playwright.

Shared by ``tests/test_browser.py``, ``bench/bench_browser_widgets.py`` and
``bench/screenshot_widgets.py`` (which put ``tests/`` on ``sys.path``). It lives
beside the tests, not in the package: the wheel ships no test harness.
playwright (a ``[test]`` extra) is imported only when a browser is launched.

The pieces:

* :class:`JupyterLab` starts a private JupyterLab server (own port, random
  token, settings and workspaces in a temporary folder, no news or update
  checks, every cell attached to the DOM) and stops its whole process group.
* :func:`launch_chromium` starts the system Chromium (``apt-get install
  chromium``); playwright's own browser downloads are never used.
* :class:`NotebookPage` opens a notebook, runs all cells, reports the
  cells that did not run and the error outputs, and saves the notebook.
* :func:`widget_controls` / :func:`move_control` find the ipywidgets controls
  that belong to a ``tipslib-figure`` image and move them as a person would.
* :func:`discover_widgets` lists every widget class in ``tipslib.widgets``
  and :func:`widget_notebook` writes a notebook that shows one of them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHROMIUM_ARGS", "REPO", "ARTIFACTS", "JupyterLab", "launch_chromium", "NotebookPage",
    "chapter_notebooks", "discover_widgets", "widget_notebook", "widget_controls",
    "move_control", "Control", "time_control_move", "exercise_widget", "settle", "figure_images",
    "widget_output", "saved_notebook_problems", "browser_session", "show_widget",
    "is_disabled", "default_steps", "figure_geometry", "geometry_problems",
]

REPO = Path(__file__).resolve().parent.parent
#: Screenshots land here (gitignored), also when a test fails.
ARTIFACTS = REPO / "test-artifacts" / "browser"

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

#: JupyterLab user settings written for the private server (settings folder layout:
#: ``<plugin package>/<plugin name>.jupyterlab-settings``).
LAB_SETTINGS = {
    # No request to the Jupyter news feed or the PyPI update check, and no toast asking.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Every cell stays in the DOM, so a run can be checked cell by cell; the kernel
    # starts without a dialog when a notebook names none.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    # The tests save explicitly; autosave would race with them.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def chapter_notebooks(folder: Path | None = None) -> list[Path]:
    """The chapter notebooks that exist now, in chapter order (``NN_name.ipynb``)."""
    folder = REPO / "notebooks" if folder is None else Path(folder)
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A private JupyterLab server on ``root_dir``; use as a context manager.

    Parameters
    ----------
    root_dir : path
        The folder JupyterLab serves; the kernel's working directory is the
        notebook's folder inside it.
    env : dict, optional
        Extra environment variables for the server and its kernels
        (e.g. ``PYTHONPATH`` so a notebook can import helpers beside it).
    """

    def __init__(self, root_dir, *, env=None, startup_timeout=90.0):
        self.root_dir = Path(root_dir)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._extra_env = dict(env or {})
        self._startup_timeout = startup_timeout
        self._proc = None
        self._home = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "JupyterLab":
        self._home = Path(tempfile.mkdtemp(prefix="tipslib-lab-"))
        settings = self._home / "settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update({
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self._home / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self._home / "runtime"),
            # tests/conftest.py sets MPLBACKEND=Agg for pytest; kernels must draw inline as for a person.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        })
        env.update(self._extra_env)
        cmd = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            # CI containers run as root; the server is bound to 127.0.0.1 and guarded by the token.
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # The language-server extension only adds start-up work here.
            "--ServerApp.jpserver_extensions=jupyter_lsp=False",
        ]
        self.log_path = self._home / "server.log"
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.root_dir, start_new_session=True)
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {self._startup_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and every kernel it started (the whole process group)."""
        if self._proc is not None and self._proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self._proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._proc is not None:
            self._log.close()
            self._proc = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers ------------------------------------------------------------
    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def notebook_url(self, relpath: str) -> str:
        # ``reset`` starts from an empty workspace, so only this notebook is open.
        return self.url(f"/lab/tree/{relpath}?reset")

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, wait: bool = True) -> None:
        """Shut down every running kernel (between notebooks, so they do not pile up).
        With ``wait=False`` the requests go out from a thread and the caller moves on."""
        def shut():
            try:
                kernels = self.api("/api/kernels")
            except OSError:  # the server is already gone
                return
            for k in kernels:
                try:
                    self.api(f"/api/kernels/{k['id']}", method="DELETE")
                except OSError:
                    pass

        if wait:
            shut()
        else:
            import threading

            threading.Thread(target=shut, daemon=True).start()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class browser_session:
    """JupyterLab on ``root_dir`` plus a headless Chromium: ``with browser_session(root) as (lab, browser):``.

    For scripts (benchmarks, screenshots); the tests build the same from fixtures."""

    def __init__(self, root_dir, *, env=None):
        self.lab = JupyterLab(root_dir, env=env)

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self.lab.start()
        try:
            self._pw = sync_playwright().start()
            self.browser = launch_chromium(self._pw)
        except BaseException:
            self.lab.stop()
            raise
        return self.lab, self.browser

    def __exit__(self, *exc):
        try:
            self.browser.close()
            self._pw.stop()
        finally:
            self.lab.stop()


def launch_chromium(playwright, **kwargs):
    """The system Chromium, headless, with playwright (never ``playwright install``)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise FileNotFoundError("Chromium is not installed: run `apt-get install -y chromium`.")
    return playwright.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS, **kwargs)


# ---------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------

_PROMPTS_JS = """(panel) => Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')).map(c => ({
    prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    source: (c.querySelector('.jp-InputArea-editor') || {}).textContent || '',
}))"""

# JupyterLab renders an error output with the same mime type as stderr text
# (application/vnd.jupyter.stderr), so errors are told apart by their text: an
# IPython traceback, or a last line "SomeError: ..." (SyntaxError has no
# "Traceback" header). A warning line starts with a file path, tqdm with its label.
_ERRORS_JS = r"""(panel) => Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')).flatMap((c, i) =>
    Array.from(c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], '
                                  + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        .filter(o => o.dataset.mimeType.endsWith('error')
                     || /Traceback \(most recent call last\)/.test(o.textContent)
                     || /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: |$)/m.test(o.textContent))
        .map(o => ({cell: i, text: o.textContent.slice(0, 2000)})))"""


@dataclass
class CellReport:
    index: int          # among code cells, 0-based
    prompt: str         # "[3]:", "[*]:", "[ ]:"
    source_head: str


class NotebookPage:
    """One notebook open in JupyterLab in a playwright ``page``."""

    def __init__(self, page, lab: JupyterLab, relpath: str):
        self.page = page
        self.lab = lab
        self.relpath = relpath

    def open(self, timeout: float = 60.0) -> "NotebookPage":
        page = self.page
        page.goto(self.lab.notebook_url(self.relpath), wait_until="domcontentloaded")
        self.panel = page.locator(".jp-NotebookPanel").filter(
            has=page.locator(".jp-Notebook")).first
        self.panel.wait_for(state="visible", timeout=timeout * 1000)
        self._accept_kernel_dialog(timeout)
        self.wait_idle(timeout)
        return self

    def _accept_kernel_dialog(self, timeout):
        """If JupyterLab asks which kernel to use, take its suggestion (Python 3)."""
        deadline = time.monotonic() + min(timeout, 15)
        while time.monotonic() < deadline:
            dialog = self.page.locator(".jp-Dialog")
            if dialog.count():
                dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
                return
            if self.status() == "idle":
                return
            time.sleep(0.2)

    def status(self) -> str:
        """The kernel's state: 'idle', 'busy', ... ('' before there is a kernel)."""
        # One look (the toolbar may move the indicator between a count and a read).
        shown = self.panel.evaluate("""(p) => { const i = p.querySelector('.jp-Notebook-ExecutionIndicator');
                                               return i ? (i.getAttribute('data-status') || '') : null; }""")
        if shown is not None:
            return shown
        # A narrow window folds the toolbar, indicator included, into its "..." menu: ask the server.
        try:
            sessions = self.lab.api("/api/sessions")
        except OSError:
            return ""
        return next((s["kernel"].get("execution_state", "") for s in sessions
                     if s.get("path") == self.relpath and s.get("kernel")), "")

    def wait_idle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.status() != "idle":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.relpath}: the kernel was not idle within {timeout:.0f} s")
            time.sleep(0.2)

    def run_all(self, attempts: int = 3) -> None:
        """Run > Run All Cells, through the menu as a person would.

        The menu item stays disabled for a moment after the kernel connects, so the
        click is repeated until a cell is seen queued or done."""
        for _ in range(attempts):
            self.panel.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
            self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            item = self.page.locator(".lm-Menu-item", has_text="Run All Cells").first
            item.wait_for(state="visible")
            if "lm-mod-disabled" in (item.get_attribute("class") or ""):
                self.page.keyboard.press("Escape")
                time.sleep(1.0)
                continue
            item.click()
            try:
                self.page.wait_for_function(
                    r"""(panel) => Array.from(panel.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'))
                                  .some(p => /\[(\*|\d+)\]/.test(p.textContent))""",
                    arg=self.panel.element_handle(), timeout=10000)
                return
            except Exception:
                continue
        raise RuntimeError(f"{self.relpath}: Run > Run All Cells did not start the cells")

    def cells(self) -> list[CellReport]:
        rows = self.panel.evaluate(_PROMPTS_JS)
        return [CellReport(i, r["prompt"].strip(), r["source"].strip()[:80]) for i, r in enumerate(rows)]

    def wait_all_ran(self, timeout: float = 120.0, quiet: float = 3.0) -> list[CellReport]:
        """Wait for the run to end; return the code cells that did not run.

        The run has ended when every non-empty code cell has an execution count and
        the kernel is idle, or, when some never get one (Run All stops at an error),
        once the kernel has stayed idle with no cell queued for ``quiet`` seconds:
        JupyterLab does not always mark every queued cell ``[*]`` up front.
        An empty code cell gets no execution count in JupyterLab, so it is not required to.
        """
        deadline = time.monotonic() + timeout
        quiet_since = None
        while True:
            cells = self.cells()
            idle = self.status() == "idle"
            not_run = [c for c in cells if c.source_head and not _ran(c.prompt)]
            if idle and cells and not not_run:
                return []
            if idle and not any(c.prompt == "[*]:" for c in cells):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet:
                    return not_run
            else:
                quiet_since = None
            if time.monotonic() > deadline:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shot = ARTIFACTS / f"{_slug(self.relpath)}-timeout.png"
                self.page.screenshot(path=str(shot))
                raise TimeoutError(f"{self.relpath}: still running after {timeout:.0f} s (kernel {self.status()!r}, "
                                   f"queued cells {[c.index for c in cells if c.prompt == '[*]:']}, "
                                   f"not run {[c.index for c in not_run]}); see {shot}")
            time.sleep(0.25)

    def errors(self) -> list[dict]:
        """Error outputs shown in the notebook (tracebacks), not mere stderr text such as tqdm's."""
        return self.panel.evaluate(_ERRORS_JS)

    def save(self) -> None:
        self.panel.locator(".jp-Notebook").click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            "(panel) => !panel.querySelector('.jp-mod-dirty') && !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')",
            arg=self.panel.element_handle(), timeout=15000)


def saved_notebook_problems(path) -> list[str]:
    """Read a notebook saved after a run: error outputs and code cells without an execution count."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        if cell.source.strip() and cell.get("execution_count") is None:
            problems.append(f"code cell {i} did not run: {cell.source.strip()[:60]!r}")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"code cell {i} raised {out.get('ename')}: {out.get('evalue', '')[:200]}")
    return problems


def _ran(prompt: str) -> bool:
    inner = prompt.strip().removeprefix("[").removesuffix("]:")
    return inner.isdigit()


# ---------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------

def discover_widgets(package: str = "tipslib.widgets"):
    """Every FigureWidget subclass defined in a public module of ``package``:
    a list of ``(module_name, class_name)``, sorted."""
    from tipslib.widgets._base import FigureWidget

    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        for name, obj in inspect.getmembers(mod, inspect.isclass):
            if (issubclass(obj, FigureWidget) and obj is not FigureWidget
                    and obj.__module__ == mod.__name__ and not name.startswith("_")
                    and not inspect.isabstract(obj)):
                found.append((mod.__name__, name))
    return sorted(found)


def widget_notebook(module: str, cls: str, path: Path, kwargs: str = "") -> Path:
    """Write a one-widget notebook: import ``module.cls``, build it, show it."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        cells=[new_markdown_cell(f"`{module}.{cls}` in the browser."),
               new_code_cell(f"from {module} import {cls}\nw = {cls}({kwargs})\nw")])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def show_widget(page, lab: JupyterLab, module: str, cls: str, kwargs: str = "", folder: str = "widgets"):
    """Write a one-widget notebook under ``lab.root_dir/folder``, open it, run it, and wait
    for the figure. Returns ``(notebook_page, image_locator, problems)``; ``problems``
    lists cells that did not run and errors (empty when all went well)."""
    relpath = f"{folder}/{module}.{cls}.ipynb"
    widget_notebook(module, cls, lab.root_dir / relpath, kwargs)
    nb = NotebookPage(page, lab, relpath).open()
    nb.run_all()
    problems = [f"code cell {c.index} did not run" for c in nb.wait_all_ran()]
    problems += [f"code cell {e['cell']} shows an error: {e['text'][:300]!r}" for e in nb.errors()]
    image = figure_images(nb.panel).first
    if not problems:
        image.wait_for(state="visible", timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return nb, image, problems


@dataclass
class Control:
    kind: str           # "slider", "dropdown", "checkbox", "toggle", "radio", "number", "button"
    label: str          # the control's description, for messages
    locator: object     # playwright Locator of the element a person acts on


_CONTROL_KINDS = [
    # (kind, selector of the control's box, selector of the element acted on inside it)
    ("slider", ".widget-slider", ".noUi-handle"),
    ("dropdown", ".widget-dropdown", "select"),
    ("checkbox", ".widget-checkbox", "input[type=checkbox]"),
    ("toggle", ".widget-toggle-buttons", "button"),
    ("radio", ".widget-radio-box", "input[type=radio]"),
    ("number", ".widget-text", "input"),
    ("button", "button.jupyter-button:not(.widget-toggle-button)", None),
]


def figure_images(scope):
    return scope.locator("img.tipslib-figure")


def widget_output(image):
    """The output area holding a widget's image and its controls."""
    return image.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")


def widget_controls(output) -> list[Control]:
    """The controls inside one widget's output area, in page order."""
    controls = []
    for kind, box_sel, inner_sel in _CONTROL_KINDS:
        boxes = output.locator(box_sel)
        for i in range(boxes.count()):
            box = boxes.nth(i)
            label_el = box.locator(".widget-label")
            label = label_el.first.inner_text().strip(" \n\u200b") if label_el.count() else ""
            if not label:  # a checkbox shows its description beside the box, not in the label
                label = box.inner_text().strip(" \n\u200b")
            target = box if inner_sel is None else box.locator(inner_sel).first
            if kind == "toggle":
                target = box.locator("button:not(.mod-active)").first
            if kind == "radio":
                target = box.locator("input[type=radio]:not(:checked)").first
            if kind == "button":
                label = box.inner_text().strip()
            controls.append(Control(kind, label or f"{kind} {i}", target))
    return controls


def move_control(page, control: Control, step: int = 0) -> None:
    """Act on one control as a person would.

    ``step`` varies the move between calls so that repeated moves keep changing the
    value: a slider is dragged (step 0) or nudged with an arrow key (other steps,
    right on odd steps and left on even ones, turning back at the ends of its range);
    a dropdown picks another option; checkboxes, toggle buttons, radio buttons and
    buttons are clicked; a number box is stepped with the arrow keys.
    """
    loc = control.locator
    loc.scroll_into_view_if_needed()
    if control.kind == "slider":
        if step == 0:
            _drag_slider(page, loc)
            return
        now, lo, hi = (loc.get_attribute(a) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
        key = "ArrowRight" if step % 2 else "ArrowLeft"
        if now == hi:
            key = "ArrowLeft"
        elif now == lo:
            key = "ArrowRight"
        loc.focus()
        page.keyboard.press(key)
    elif control.kind == "dropdown":
        options = loc.locator("option")
        current = loc.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        others = [v for v in values if v != current]
        if others:
            loc.select_option(others[step % len(others)])
    elif control.kind in ("checkbox", "toggle", "radio", "button"):
        loc.click()
    elif control.kind == "number":
        loc.focus()
        page.keyboard.press("ArrowUp" if step % 2 == 0 else "ArrowDown")
        page.keyboard.press("Enter")
    else:  # pragma: no cover - _CONTROL_KINDS and this function go together
        raise ValueError(f"The 'kind' of a Control must be one of {[k for k, *_ in _CONTROL_KINDS]}. "
                         f"Got {control.kind!r} instead.")


def slider_track(handle):
    return handle.locator("xpath=ancestor::div[contains(@class, 'noUi-target')][1]")


def _drag_slider(page, handle) -> None:
    """Press the handle, drag it a quarter of the track towards the far side, release."""
    tbox = slider_track(handle).bounding_box()
    hbox = handle.bounding_box()
    x, y = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
    dx = tbox["width"] / 4 * (1 if x < tbox["x"] + tbox["width"] / 2 else -1)
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(x + dx * k / 5, y)
    page.mouse.up()


_WATCH_JS = """(img) => {
    // Input -> redrawn output: from the input event (key, click, option picked) to the
    // moment the image has loaded its next picture.
    if (window.__tipslibWatch) window.__tipslibWatch.stop();
    const st = {oldSrc: img.src, input: null, drawn: null};
    const mark = () => { if (st.drawn === null) st.input = performance.now(); };
    const events = ['keydown', 'pointerdown', 'change', 'click'];
    for (const ev of events) document.addEventListener(ev, mark, true);
    const obs = new MutationObserver(() => {
        // A picture that arrives before the input answers an earlier move: not ours.
        if (st.input === null) { st.oldSrc = img.src; return; }
        if (img.src !== st.oldSrc && st.drawn === null) {
            obs.disconnect();
            const done = () => { if (st.drawn === null) st.drawn = performance.now(); };
            if (img.complete && img.naturalWidth > 0) done(); else img.addEventListener('load', done, {once: true});
        }
    });
    obs.observe(img, {attributes: true, attributeFilter: ['src']});
    st.stop = () => { obs.disconnect(); for (const ev of events) document.removeEventListener(ev, mark, true); };
    window.__tipslibWatch = st;
}"""


def settle(image, quiet: float = 0.25, timeout: float = 15.0) -> None:
    """Wait until no redraw is on its way: the kernel is idle and the image has not
    changed for ``quiet`` seconds (a drag sends a burst of updates)."""
    page = image.page
    deadline = time.monotonic() + timeout
    src, since = image.get_attribute("src"), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = image.get_attribute("src")
        busy = page.evaluate("""() => { const i = document.querySelector('.jp-Notebook-ExecutionIndicator');
                                        return !!i && i.getAttribute('data-status') !== 'idle'; }""")
        if now != src or busy:
            src, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def time_control_move(page, image, control: Control, step: int, timeout: float = 10.0) -> float | None:
    """Move ``control`` and return the seconds from the input event to the redrawn image
    (measured in the page's own clock), or ``None`` when it was not redrawn within ``timeout``."""
    page.evaluate(_WATCH_JS, image.element_handle())
    move_control(page, control, step)
    try:
        page.wait_for_function("() => window.__tipslibWatch.drawn !== null", timeout=timeout * 1000)
    except Exception:
        return None
    finally:
        page.evaluate("() => window.__tipslibWatch.stop()")
    st = page.evaluate("() => ({input: window.__tipslibWatch.input, drawn: window.__tipslibWatch.drawn})")
    return (st["drawn"] - st["input"]) / 1000.0


#: A slider track narrower than this cannot be dragged with any precision.
MIN_TRACK_PX = 60


def is_disabled(control: Control) -> bool:
    return control.locator.evaluate("e => e.disabled === true || e.closest('[disabled], .mod-disabled') !== null")


def default_steps(control: Control, first_slider: bool = False) -> tuple[int, ...]:
    """How many moves each kind gets: every slider is dragged, and the first one is also
    nudged with an arrow key; a dropdown picks two other options in turn (a choice often
    enables other controls); the rest are used once."""
    if control.kind == "slider":
        return (0, 1) if first_slider else (0,)
    if control.kind == "dropdown":
        return (0, 1)
    return (0,)


def exercise_widget(page, image, *, name: str, shots_dir: Path | None = None, steps=None,
                    redraw_timeout: float = 10.0) -> list[str]:
    """Move every control of the widget drawn in ``image``; return what went wrong.

    Each move must redraw the image, the new picture must differ from the one before
    (element screenshots, saved to ``shots_dir``), and a slider's readout must stay a
    number. A control that is disabled when its turn comes is tried again after the
    others have moved (e.g. a mix slider that only the elastic net uses); one that
    stays disabled throughout is reported.
    """
    shots_dir = ARTIFACTS if shots_dir is None else Path(shots_dir)
    shots_dir.mkdir(parents=True, exist_ok=True)
    output = widget_output(image)
    controls = widget_controls(output)
    if not controls:
        return [f"{name}: no control found next to its figure"]
    problems = []
    image.scroll_into_view_if_needed()
    output.screenshot(path=str(shots_dir / f"{_slug(name)}.png"))
    settle(image)
    previous = image.screenshot(path=str(shots_dir / f"{_slug(name)}-start.png"))
    queue, deferred_once = list(controls), set()
    first_slider = next((c for c in controls if c.kind == "slider"), None)
    while queue:
        c = queue.pop(0)
        if is_disabled(c):
            if id(c) in deferred_once:
                problems.append(f"{name}: '{c.label}' ({c.kind}) stayed disabled after every other control moved")
            else:
                deferred_once.add(id(c))
                queue.append(c)
            continue
        if c.kind == "slider":
            width = slider_track(c.locator).bounding_box()["width"]
            if width < MIN_TRACK_PX:
                problems.append(f"{name}: the '{c.label}' slider is {width:.0f} px wide, too narrow to drag "
                                f"(at least {MIN_TRACK_PX} px; let the controls wrap)")
                continue
        for step in steps if steps is not None else default_steps(c, c is first_slider):
            what = f"moving '{c.label}' ({c.kind}, {'drag' if c.kind == 'slider' and step == 0 else f'step {step}'})"
            seconds = time_control_move(page, image, c, step, timeout=redraw_timeout)
            if seconds is None:
                problems.append(f"{name}: {what} did not redraw the figure within {redraw_timeout:.0f} s")
                continue
            settle(image)
            after = image.screenshot(path=str(shots_dir / f"{_slug(name)}-{_slug(c.label)}-{step}.png"))
            if after == previous:
                problems.append(f"{name}: {what} redrew the same picture")
            previous = after
            if c.kind == "slider":
                readout = c.locator.locator(
                    "xpath=ancestor::div[contains(@class, 'widget-slider')][1]").locator(".widget-readout")
                text = readout.first.inner_text().strip() if readout.count() else ""
                if "nan" in text.lower():
                    problems.append(f"{name}: after {what}, its readout shows {text!r}")
    return problems


def _slug(text: str) -> str:
    keep = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(filter(None, keep.split("-")))[:60] or "x"


# ---------------------------------------------------------------------------
# Size on the page
# ---------------------------------------------------------------------------

_GEOMETRY_JS = """(img) => {
    const r = img.getBoundingClientRect();
    const out = img.closest('.jp-OutputArea-output').getBoundingClientRect();
    const box = (img.closest('.tipslib-widget') || img.parentElement).getBoundingClientRect();
    const left = document.querySelector('#jp-left-stack');
    return {natural: [img.naturalWidth, img.naturalHeight], shown: [r.width, r.height], dpr: window.devicePixelRatio,
            widget: [box.left, box.right, box.height], output: [out.left, out.right],
            window: [window.innerWidth, window.innerHeight],
            file_browser: left && left.offsetParent !== null ? left.getBoundingClientRect().width : 0};
}"""


def figure_geometry(image) -> dict:
    """Where and how big a widget's figure and its box are on the page, in CSS pixels:
    ``natural`` (the PNG's pixels), ``shown``, ``dpr``, ``widget`` (left, right, height),
    ``output`` (left, right of the output area), ``window``, ``file_browser`` (its width, 0 when closed)."""
    return image.evaluate(_GEOMETRY_JS)


def geometry_problems(name: str, g: dict, *, tolerance: float = 0.03, max_height: float = 620) -> list[str]:
    """What is wrong with a widget's size on the page: its figure rescaled by more than
    ``tolerance`` (the PNG's pixels over the device pixel ratio against the shown size, so a
    figure drawn at 2x on a 2x screen maps one pixel to one), the widget wider than its output
    area (cut off, or scrolled sideways), or taller than ``max_height`` CSS pixels (it no longer
    fits one screen with JupyterLab around it)."""
    problems = []
    for axis, drawn, shown in zip(("width", "height"), g["natural"], g["shown"]):
        want = drawn / g["dpr"]
        if want == 0 or abs(shown / want - 1) > tolerance:
            problems.append(f"{name}: the figure's {axis} is shown at {shown:.0f} CSS px but drawn for {want:.0f} "
                            f"({drawn} px at device pixel ratio {g['dpr']}): rescaled by {shown / max(want, 1):.2f}")
    if g["widget"][1] > g["output"][1] + 1:
        problems.append(f"{name}: the widget is {g['widget'][1] - g['widget'][0]:.0f} px wide, more than its "
                        f"output area's {g['output'][1] - g['output'][0]:.0f} px in a {g['window'][0]}-px window")
    if g["widget"][2] > max_height:
        problems.append(f"{name}: the widget is {g['widget'][2]:.0f} px tall, more than {max_height:.0f} px")
    return problems
