"""Interactive widgets: each is a pure compute function (unit-tested) plus a thin view.

Every view subclasses :class:`FigureWidget`: ipywidgets controls, one matplotlib
figure whose artists are updated in place, rendered to an ``ipywidgets.Image``
so the picture changes without flicker and without an interactive backend.
Tests drive a view headlessly through ``update(**values)``.
"""

from ._base import FigureWidget

__all__ = ["FigureWidget"]
