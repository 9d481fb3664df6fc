"""Exercises and grading: release student versions, check visible tests, grade a class.

- :mod:`.release` -- ``tipslib release SOURCE_DIR RELEASE_DIR`` (same output as
  ``nbgrader generate_assignment``);
- :mod:`.check` -- ``tipslib check NOTEBOOK``: the visible tests, with their hints;
- :mod:`.grade` -- ``tipslib grade``: a gradebook CSV and a feedback file per student;
- :mod:`.judge` -- rebuilds each submission from the instructor's cells plus
  the student's answer cells, runs it sandboxed, compares plain data with the
  reference run;
- :mod:`.sandbox` -- the isolation: a fork server inside bubblewrap (an allowlisted,
  read-only view of Python, a private capped scratch tmpfs, no network), as root or not;
- :mod:`.gradescope` -- ``tipslib export gradescope``: an autograder zip whose
  ``run_autograder`` writes Gradescope's ``results.json`` with the same judge;
- :mod:`.nbgrader_layout` -- nbgrader course folders in, nbgrader's gradebook CSV out;
- :mod:`._runner` -- what runs inside the sandbox; :mod:`.plain` -- the only
  data format that crosses back; :mod:`.feedback` -- the text students read;
- :mod:`.testing` -- ``expect``, ``hidden_seed``, ``depends_on``: what exercise test cells call.

What decides a score never enters a student's process: the test code sent
into the sandbox is stripped of expected values and hints, which come from
the instructor's reference runs and are compared in the judge (see
:mod:`.judge`); hidden tests draw their inputs from a seed picked per grading
run; graded runs can start no thread, process or program; the notebook itself
is read by a sandboxed scan, never parsed by the grader; feedback quotes no
text the student's process produced. What the sandbox isolates: see the
docstring of :mod:`.sandbox`.
"""
