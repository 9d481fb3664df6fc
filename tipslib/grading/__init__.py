"""Exercises and grading: release student versions, check visible tests, grade a class.

- :mod:`.release` -- ``tipslib release SOURCE_DIR RELEASE_DIR`` (same output as
  ``nbgrader generate_assignment``);
- :mod:`.check` -- ``tipslib check NOTEBOOK``: the visible tests, with their hints;
- :mod:`.grade` -- ``tipslib grade``: a gradebook CSV and a feedback file per student;
- :mod:`.judge` -- rebuilds each submission from the instructor's cells plus
  the student's answer cells, runs it sandboxed, compares plain data with the
  reference run;
- :mod:`.sandbox` -- the isolation (fork server, rlimits, process-group and
  per-uid kill, uid switch, private network and file-system namespaces as root);
- :mod:`._runner` -- what runs inside the sandbox; :mod:`.plain` -- the only
  data format that crosses back; :mod:`.feedback` -- the text students read;
- :mod:`.testing` -- ``expect``, what exercise test cells call.

What the grader relies on, and what it does not protect against: see the
docstring of :mod:`.sandbox`. In short: student code shares its process with
the test cells of its own run (so it can see that test code, but can only send
back plain values, which the judge compares in its own process); as root it
cannot read files outside Python itself and world-readable system files, has no
network, and never holds another run's cells in memory.
"""
