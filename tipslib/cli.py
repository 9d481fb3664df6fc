"""The ``tipslib`` command.

Subcommands register themselves in :data:`COMMANDS`: a name maps to a
function that adds its arguments to a subparser and returns the function
that runs it. Later chapters (grading) add theirs here.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__

EPILOG = """examples:
  tipslib --version
  tipslib course                      open the chapter notebooks in JupyterLab
  tipslib release exercises/source exercises/release
  tipslib check exercises/release/regularization.ipynb
  tipslib grade exercises/source submissions/ --out gradebook.csv --feedback feedback/ --jobs 2
"""


def _add_course(sub):
    p = sub.add_parser(
        "course", help="open the course notebooks in JupyterLab",
        description="Start JupyterLab on the notebooks folder of this checkout (or the current folder).",
        epilog="example:\n  tipslib course --port 8888", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: its own choice)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")

    def run(args):
        import os
        import subprocess
        from pathlib import Path

        here = Path(__file__).resolve().parent.parent / "notebooks"
        root = here if here.is_dir() else Path.cwd()
        cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
        if args.port:
            cmd.append(f"--port={args.port}")
        if args.no_browser:
            cmd.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Containers and CI run as root, where JupyterLab refuses to start without this.
            cmd.append("--allow-root")
        return subprocess.call(cmd)

    return run


#: name -> function(subparsers) -> runner(args) -> exit code
COMMANDS = {"course": _add_course}

from .grading.cli import add_check, add_grade, add_release  # noqa: E402 - registered after the core ones

COMMANDS.update(release=add_release, check=add_check, grade=add_grade)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tipslib",
        description="tipslib: the CS 230 Deep Learning Tips and Tricks cheatsheet as a runnable course.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tipslib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners = {name: add(sub) for name, add in COMMANDS.items()}
    return parser, runners


def main(argv=None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(runners[args.command](args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
