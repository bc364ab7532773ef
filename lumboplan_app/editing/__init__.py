"""Correcting a label map: the brush with undo and redo, and the tools that do more per stroke.

- :mod:`~lumboplan_app.editing.editor`: :class:`LabelEditor`, the brush (optionally limited to
  an intensity range) and the one undo history every tool writes to.
- :mod:`~lumboplan_app.editing.grow`: grow from seeds (:class:`SeedGrower`).
- :mod:`~lumboplan_app.editing.interpolate`: fill between slices.
- :mod:`~lumboplan_app.editing.islands`: remove small islands.
- :mod:`~lumboplan_app.editing.smooth`: smooth a structure.

Each tool is a plain function (or object) of the editor: the window and scripts call the same.
"""

from lumboplan_app.editing.editor import (
    HISTORY_BYTES,
    RADIUS_RANGE_MM,
    Edit,
    IntensityRange,
    LabelEditor,
    brush_indices,
)
from lumboplan_app.editing.grow import SeedGrower
from lumboplan_app.editing.interpolate import fill_between_slices
from lumboplan_app.editing.islands import remove_small_islands
from lumboplan_app.editing.smooth import SMOOTH_METHODS, smooth_structure

__all__ = [
    "HISTORY_BYTES",
    "RADIUS_RANGE_MM",
    "SMOOTH_METHODS",
    "Edit",
    "IntensityRange",
    "LabelEditor",
    "SeedGrower",
    "brush_indices",
    "fill_between_slices",
    "remove_small_islands",
    "smooth_structure",
]
