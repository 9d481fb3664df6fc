"""Filled in by its chapter."""
