"""Showing library code inside notebooks."""

from __future__ import annotations

import inspect


def show_source(obj):
    """Display the source of a tipslib function or class, highlighted, in a notebook.

    The notebooks use it so the code a learner reads is the code that runs.
    Outside IPython it returns the source text.
    """
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        return source
