"""The grading subcommands of ``tipslib``: release, check, grade."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

__all__ = ["add_release", "add_check", "add_grade"]

_RAW = argparse.RawDescriptionHelpFormatter


def add_release(sub):
    p = sub.add_parser(
        "release", help="write the student versions of the exercise notebooks", formatter_class=_RAW,
        description="Replace each solution by a stub, remove hidden tests, clear outputs.",
        epilog="example:\n  tipslib release exercises/source exercises/release")
    p.add_argument("source_dir", help="folder of instructor notebooks (with solutions and hidden tests)")
    p.add_argument("release_dir", help="folder to write the student notebooks to")

    def run(args):
        from .release import release

        try:
            paths = release(args.source_dir, args.release_dir)
        except ValueError as exc:
            print(f"tipslib release: {exc}", file=sys.stderr)
            return 2
        for path in paths:
            print(f"released {path}")
        return 0

    return run


def add_check(sub):
    p = sub.add_parser(
        "check", help="run the visible tests of an exercise notebook", formatter_class=_RAW,
        description="Run the notebook top to bottom and report each visible test. "
                    "Passing them does not mean full marks: hidden tests also count.",
        epilog="example:\n  tipslib check exercises/regularization.ipynb   (in your course folder)")
    p.add_argument("notebook", help="the exercise notebook to check")
    p.add_argument("--timeout", type=_positive(float), default=300.0, help="seconds before the run is stopped (default 300)")

    def run(args):
        from .check import check

        return check(args.notebook, timeout=args.timeout)

    return run


def _deadline(text):
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the deadline must be an ISO 8601 time such as 2025-05-01T23:59:00+02:00. Got {text!r} instead.") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive. Got {text} instead.")
        return value
    parse.__name__ = kind.__name__  # argparse names it in "invalid int value: 'abc'"
    return parse


def add_grade(sub):
    p = sub.add_parser(
        "grade", help="grade a folder of submissions into a gradebook CSV", formatter_class=_RAW,
        description="Run every submission in a sandbox (bubblewrap: it sees only Python and a scratch folder of its own; "
                    "no network; memory/CPU/time/process limits) and compare its results with the instructor's solution. "
                    "Without bubblewrap or user namespaces it refuses to grade unless --unsafe is given.",
        epilog="example:\n  tipslib grade exercises/source submissions/ --out gradebook.csv --feedback feedback/ \\\n"
               "      --jobs 2 --timeout 60 --memory 2048 --deadline 2025-05-01T23:59:00+00:00\n\n"
               "SUBMISSIONS_DIR holds one folder per student (with .ipynb files, optional timestamp.txt)\n"
               "or one notebook per student (the file stem is the student id), or is an nbgrader course directory\n"
               "(submitted/<student>/<assignment>/*.ipynb). Submission time for --deadline:\n"
               "submitted_at in the folder's timestamp.txt (ISO 8601 or nbgrader's format), else the notebook's mtime.\n"
               "Statuses: ok, late, missing, invalid notebook, timeout, memory limit, crashed, tampering.")
    p.add_argument("source_dir", help="folder of instructor notebooks")
    p.add_argument("submissions_dir", help="folder of submissions")
    p.add_argument("--out", required=True, help="gradebook CSV to write")
    p.add_argument("--feedback", default=None, metavar="DIR", help="write one feedback file per student here")
    p.add_argument("--jobs", type=_positive(int), default=1, help="submissions graded at the same time (default 1)")
    p.add_argument("--timeout", type=_positive(float), default=60.0, help="seconds per notebook (default 60)")
    p.add_argument("--memory", type=_positive(int), default=2048, help="MB of memory per notebook beyond the preloaded libraries (default 2048)")
    p.add_argument("--deadline", type=_deadline, default=None, help="ISO 8601 time; later submissions are marked late")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--format", choices=["tipslib", "nbgrader"], default="tipslib",
                   help="gradebook shape: tipslib's (a row per student and exercise, every test) or nbgrader's "
                        "`nbgrader export` CSV (a row per student; default tipslib)")
    p.add_argument("--assignment", default=None, help="the assignment column of --format nbgrader "
                                                      "(default: the name of SOURCE_DIR)")
    p.add_argument("--unsafe", action="store_true",
                   help="grade even where the sandbox cannot be built (no bubblewrap or no user namespaces); "
                        "the submissions can then reach your files, network and processes")

    def run(args):
        from .grade import grade
        from .judge import ReferenceError_
        from .sandbox import Sandbox, SandboxError, features, unprotected

        f = features()
        if not f["isolated"]:
            what = "".join(f"\n  - {u}" for u in unprotected())
            if not args.unsafe:
                print(f"tipslib grade: refusing to grade: the sandbox cannot be built here ({f['why_not']}). "
                      f"Without it, these are unprotected:{what}\nInstall bubblewrap and allow user namespaces, "
                      "or pass --unsafe to grade anyway.", file=sys.stderr)
                return 2
            print(f"tipslib grade: WARNING, grading without the sandbox ({f['why_not']}); unprotected:{what}",
                  file=sys.stderr)
        from pathlib import Path

        from .nbgrader_layout import write_nbgrader_csv

        out = Path(args.out)
        table = out.with_name(f".{out.name}.tipslib.csv") if args.format == "nbgrader" else out
        Sandbox.allow_unsafe = bool(args.unsafe)
        try:
            n = grade(args.source_dir, args.submissions_dir, table, feedback_dir=args.feedback, jobs=args.jobs,
                      timeout=args.timeout, memory_mb=args.memory, deadline=args.deadline, progress=not args.quiet)
            if args.format == "nbgrader":
                write_nbgrader_csv(table, out, assignment=args.assignment or Path(args.source_dir).resolve().name,
                                   duedate=args.deadline)
        except (ValueError, ReferenceError_, OSError, SandboxError) as exc:
            print(f"tipslib grade: {exc}", file=sys.stderr)
            return 2
        finally:
            Sandbox.allow_unsafe = False
            if table != out:
                table.unlink(missing_ok=True)
        print(f"graded {n} students into {args.out}")
        failed = getattr(n, "failed", [])  # rows the grader itself failed on (status 'crashed'), the class went on
        for student, exercise, why in failed:
            print(f"tipslib grade: the grader failed on {student} / {exercise}: {why}", file=sys.stderr)
        return 3 if failed else 0

    return run
