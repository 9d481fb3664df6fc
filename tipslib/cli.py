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
  tipslib course                      copy the course to ~/tipslib-course and open it in JupyterLab
  tipslib release exercises/source exercises/release
  tipslib check exercises/regularization.ipynb        (in your course folder) run an exercise's visible tests
  tipslib grade exercises/source submissions/ --out gradebook.csv --feedback feedback/ --jobs 2
  tipslib site site/                  build the course as a static website (open site/index.html)
  tipslib export gradescope exercises/source -o autograder.zip    a Gradescope autograder for the exercises
"""


def _add_course(sub):
    p = sub.add_parser(
        "course", help="copy the course into a folder of your own and open it in JupyterLab",
        description="Copy the chapters and the exercises into DIR (default: ~/tipslib-course) on the first run, "
                    "then start JupyterLab there on the start page. Running it again never overwrites your "
                    "edits: new notebooks are added, and a new version of a notebook you changed is written "
                    "beside yours (NAME.new-VERSION.ipynb).",
        epilog="examples:\n  tipslib course\n  tipslib course ~/deep-learning-course --port 8888\n"
               "  tipslib course --no-lab            only prepare the folder",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                   help="your course folder (default: tipslib-course in your home folder)")
    p.add_argument("--no-lab", action="store_true", help="prepare the folder but do not start JupyterLab")
    p.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: its own choice)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")

    def run(args):
        import os
        import signal
        import subprocess

        from .course import START_PAGE, prepare_workspace

        try:
            report = prepare_workspace(args.dir)
        except (OSError, ValueError) as exc:
            print(f"tipslib course: {exc}", file=sys.stderr)
            return 2
        print("\n".join(report.lines()))
        if args.no_lab:
            print(f"Open {report.root / START_PAGE} in JupyterLab to begin.")
            return 0
        print(f"Starting JupyterLab on it with {START_PAGE} open (Ctrl+C here stops it).")
        # file_to_run is what a browser opened here shows; default_url is the address JupyterLab prints
        # (for --no-browser, a remote machine) and where its root sends you: the start page, both.
        cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={report.root}",
               f"--ServerApp.file_to_run={report.root / START_PAGE}", f"--LabApp.default_url=/lab/tree/{START_PAGE}"]
        if args.port:
            cmd.append(f"--port={args.port}")
        if args.no_browser:
            cmd.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Containers and CI run as root, where JupyterLab refuses to start without this.
            cmd.append("--allow-root")
        # JupyterLab's terminal must find this Python's `tipslib` (for `tipslib check`), also
        # when the environment was not activated.
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        lab = subprocess.Popen(cmd, cwd=report.root, env=env)
        # Ctrl+C in this terminal reaches JupyterLab too, which asks before it shuts down. This
        # process only waits for it: dying with a traceback would leave JupyterLab's question
        # dangling under the shell's prompt.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            code = lab.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        return 128 - code if code < 0 else code      # killed by signal N: the shell's 128 + N

    return run


#: name -> function(subparsers) -> runner(args) -> exit code
COMMANDS = {"course": _add_course}

from .grading.cli import add_check, add_grade, add_release  # noqa: E402 - registered after the core ones

COMMANDS.update(release=add_release, check=add_check, grade=add_grade)

from .site import add_site  # noqa: E402

COMMANDS["site"] = add_site

from .grading.gradescope import add_export  # noqa: E402

COMMANDS["export"] = add_export


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
    parser.subcommands = sub.choices  # name -> its parser, for its own usage line in errors
    return parser, runners


def main(argv=None) -> int:
    parser, runners = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would show the top-level usage; the command's own says what it takes
        parser.subcommands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 0
    return int(runners[args.command](args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
