"""Screenshots of the widgets as JupyterLab shows them, for the README.

    python bench/screenshot_widgets.py                  # the learning-rate widget
    python bench/screenshot_widgets.py --all            # every widget
    python bench/screenshot_widgets.py RegularizationExplorer --out /tmp/shots

Each widget is shown in a notebook of its own in a private JupyterLab in headless
Chromium (the machinery of the browser tests, ``tests/browser_harness.py``); the picture is
the widget's output area, controls and figure, written to
``docs/images/widget-<module>.png`` as an indexed-colour PNG (kept under 200 KB).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The browser harness lives beside the tests (the package does not ship it).
sys.path.insert(0, str(REPO / "tests"))
DEFAULT = "LearningRateExplorer"
MAX_BYTES = 200_000


def small_png(png: bytes, colors: int = 128) -> bytes:
    """Fewer colours, same pixels' layout: a UI screenshot stays sharp with 128 colours."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def main(argv=None) -> int:
    import browser_harness as B

    widgets = B.discover_widgets()
    names = [cls for _, cls in widgets]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("widgets", nargs="*", default=[DEFAULT], help=f"class names among {names}")
    parser.add_argument("--all", action="store_true", help="every widget")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder for the PNG files")
    args = parser.parse_args(argv)
    chosen = widgets if args.all else [(m, c) for m, c in widgets if c in args.widgets]
    unknown = set(args.widgets) - set(names)
    if unknown and not args.all:
        parser.error(f"unknown widget(s) {sorted(unknown)}; choose among {names}")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="tipslib-shots-") as tmp, \
            B.browser_session(Path(tmp)) as (lab, browser):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=2)
        page = context.new_page()
        page.set_default_timeout(30_000)
        for module, cls in chosen:
            _, image, problems = B.show_widget(page, lab, module, cls)
            if problems:
                print(f"{cls}: " + "; ".join(problems), file=sys.stderr)
                return 1
            output = B.widget_output(image)
            output.scroll_into_view_if_needed()
            B.settle(image)
            # The widget's own box (controls and figure), not the whole width of the output area.
            box = output.locator(".tipslib-widget")
            png = small_png((box.first if box.count() else output).screenshot())
            path = args.out / f"widget-{module.rsplit('.', 1)[-1].replace('_', '-')}.png"
            path.write_bytes(png)
            print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {len(png) / 1e3:.0f} KB")
            if len(png) > MAX_BYTES:
                print(f"{path.name} is over {MAX_BYTES // 1000} KB", file=sys.stderr)
                return 1
            lab.shutdown_kernels()
        context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
