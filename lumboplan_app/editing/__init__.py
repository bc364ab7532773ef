"""Correcting a label map: the brush with undo and redo, and the tools that do more per stroke.

- :mod:`~lumboplan_app.editing.editor`: :class:`LabelEditor`, the brush (optionally limited to
  an intensity range) and the one undo history every tool writes to.
- :mod:`~lumboplan_app.editing.grow`: grow from seeds (:class:`SeedGrower`).
- :mod:`~lumboplan_app.editing.interpolate`: fill between slices.
- :mod:`~lumboplan_app.editing.islands`: remove small islands.
- :mod:`~lumboplan_app.editing.smooth`: smooth a structure.

Each tool is a plain function (or object) of the editor: the window and scripts call the same.
"""

import importlib
from typing import Any

#: Where each public name lives. The submodules are imported on first use (PEP 562), so the
#: window can start with the brush without loading SciPy or SimpleITK (tests/test_gui.py).
_HOME = {
    "HISTORY_BYTES": "editor",
    "RADIUS_RANGE_MM": "editor",
    "Edit": "editor",
    "IntensityRange": "editor",
    "LabelEditor": "editor",
    "brush_indices": "editor",
    "SeedGrower": "grow",
    "fill_between_slices": "interpolate",
    "remove_small_islands": "islands",
    "SMOOTH_METHODS": "smooth",
    "smooth_structure": "smooth",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` when it is first asked for."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
