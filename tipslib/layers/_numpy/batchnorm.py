"""Batch normalization (filled in by the chapter 1 work)."""

__all__: list[str] = []
