"""Exercises and grading: release student versions, check visible tests, grade a class."""
