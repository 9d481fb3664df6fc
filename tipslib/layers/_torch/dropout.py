"""Dropout (filled in by the chapter 4 work)."""

__all__: list[str] = []
