"""Correcting a label map by hand: a round brush in one slice, undo and redo.

The surgeon reviews the segmentation in the slice views and paints or erases a structure where
the model was wrong. :class:`LabelEditor` edits the :class:`~lumboplan_app.volume.LabelMap`'s
array in place (the views show that same map), records each step as the changed voxels' flat
indices with their old and new ids, and undoes or redoes them exactly. A mouse stroke (press,
moves, release) is one step. The history keeps at most :data:`HISTORY_BYTES` of changes; the
oldest steps go first.

Painting overwrites whatever the voxels held (3D Slicer's default: the surgeon paints what the
voxel is), or, with ``overwrite=False``, fills only unlabelled voxels (to close a gap in a nerve
root along the bone without eating into the bone); erasing clears only the chosen structure, so
erasing the disc never removes bone. A brush limited to an intensity range (``intensity``)
changes only voxels whose scan value lies in it (paint the bright disc next to dark bone).

The other correction tools (:mod:`~lumboplan_app.editing.grow`, ...) compute new ids for a
block of voxels and record them with :meth:`LabelEditor.assign`: one undoable step each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Structure
from lumboplan_app.viewing import PLANE_AXIS, Plane

if TYPE_CHECKING:
    from lumboplan_app.volume import LabelMap

#: Memory the undo history may hold (bytes); a 5 mm dab changes about 80 voxels (1.3 kB).
HISTORY_BYTES = 64 * 1024 * 1024
#: Brush radii the editor accepts (mm).
RADIUS_RANGE_MM = (0.5, 30.0)


@dataclass(frozen=True)
class IntensityRange:
    """Scan values a brush may change: ``low <= image <= high`` (the scan's units)."""

    image: npt.NDArray[np.floating]
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"the intensity range {self.low}..{self.high} is empty")


@dataclass(frozen=True)
class Edit:
    """One undoable step: the voxels it changed (flat indices) and their ids before and after."""

    indices: npt.NDArray[np.int64]
    before: npt.NDArray[np.uint8]
    after: npt.NDArray[np.uint8]
    shape_zyx: tuple[int, int, int]

    @property
    def size_bytes(self) -> int:
        """Memory the step holds."""
        return int(self.indices.nbytes + self.before.nbytes + self.after.nbytes)

    def bounds_zyx(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Return the first and last voxel index (z, y, x) of the box holding the changes."""
        z, y, x = np.unravel_index(self.indices, self.shape_zyx)
        return (
            (int(z.min()), int(y.min()), int(x.min())),
            (int(z.max()), int(y.max()), int(x.max())),
        )


class LabelEditor:
    """Paint and erase structures in a label map, with undo and redo.

    Parameters
    ----------
    labels : LabelMap
        Edited in place: whoever shows it sees the edits (tell the views, e.g.
        ``ViewState.set_labels(labels)``, after each change).
    """

    def __init__(self, labels: LabelMap, history_bytes: int = HISTORY_BYTES) -> None:
        self.labels = labels
        self._history_bytes = history_bytes
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._stroke: dict[int, tuple[int, int]] | None = None
        #: Changes with every edit, undo and redo (the plan of older labels is stale).
        self.revision = 0

    # -- painting -------------------------------------------------------------------------------

    def begin_stroke(self) -> None:
        """Start a stroke: the dabs until :meth:`end_stroke` undo as one step."""
        self._stroke = {}

    def end_stroke(self) -> Edit | None:
        """End the stroke and record it; None if it changed nothing."""
        stroke, self._stroke = self._stroke, None
        if not stroke:
            return None
        indices = np.fromiter(stroke.keys(), dtype=np.int64, count=len(stroke))
        values = np.array(list(stroke.values()), dtype=np.uint8).reshape(-1, 2)
        changed = values[:, 0] != values[:, 1]
        if not changed.any():
            return None
        return self._record(
            Edit(indices[changed], values[changed, 0], values[changed, 1], self._shape)
        )

    def paint(
        self,
        structure: Structure,
        centre_index_zyx: npt.ArrayLike,
        plane: Plane,
        radius_mm: float,
        erase: bool = False,
        overwrite: bool = True,
        intensity: IntensityRange | None = None,
    ) -> Edit | None:
        """Paint (or erase) ``structure`` in a disc of ``radius_mm`` in the slice of ``plane``.

        The disc is round in mm (anisotropic voxels honoured) and centred on the voxel nearest
        ``centre_index_zyx``; it is clipped at the volume's edge. Painting replaces other
        structures under the brush, or with ``overwrite`` False paints unlabelled voxels only;
        with ``intensity`` it changes only voxels whose scan value lies in that range.
        Within a stroke the dab joins the stroke (returns None); alone it is its own step
        (returns it, or None when nothing changed).

        Raises
        ------
        ValueError
            For the background as a structure, or a radius outside :data:`RADIUS_RANGE_MM`.
        """
        if structure is Structure.BACKGROUND:
            raise ValueError("choose a structure to paint or erase, not the background")
        if not RADIUS_RANGE_MM[0] <= radius_mm <= RADIUS_RANGE_MM[1]:
            raise ValueError(f"the brush radius must lie within {RADIUS_RANGE_MM} mm")
        indices = brush_indices(self.labels, centre_index_zyx, plane, radius_mm)
        if intensity is not None:
            values = intensity.image.reshape(-1)[indices]
            indices = indices[(values >= intensity.low) & (values <= intensity.high)]
        flat = self.labels.array.reshape(-1)
        before = flat[indices]
        if erase:
            indices, before = indices[before == structure], before[before == structure]
            after = np.zeros_like(before)
        elif not overwrite:
            unlabelled = before == Structure.BACKGROUND
            indices, before = indices[unlabelled], before[unlabelled]
            after = np.full_like(before, int(structure))
        else:
            after = np.full_like(before, int(structure))
        changed = before != after
        indices, before, after = indices[changed], before[changed], after[changed]
        if indices.size == 0:
            return None
        flat[indices] = after
        self.revision += 1
        if self._stroke is not None:
            for index, old, new in zip(
                indices.tolist(), before.tolist(), after.tolist(), strict=True
            ):
                first = self._stroke.get(index, (old, new))[0]
                self._stroke[index] = (first, new)
            return None
        return self._record(Edit(indices, before, after, self._shape))

    def assign(self, indices: npt.ArrayLike, ids: npt.ArrayLike) -> Edit | None:
        """Set the voxels at flat ``indices`` to structure ``ids``, as one undoable step.

        The step of a correction tool (grow from seeds, fill between slices, ...): only the
        voxels whose id changes are recorded. Returns None when nothing changed.

        Raises
        ------
        ValueError
            Inside a stroke (end it first), or when ``indices`` and ``ids`` differ in length.
        """
        if self.in_stroke:
            raise ValueError("end the brush stroke before applying another tool")
        where = np.asarray(indices, dtype=np.int64).reshape(-1)
        after = np.broadcast_to(np.asarray(ids, dtype=np.uint8), where.shape)
        flat = self.labels.array.reshape(-1)
        before = flat[where]
        changed = before != after
        if not changed.any():
            return None
        where, before, after = where[changed], before[changed], after[changed].copy()
        flat[where] = after
        self.revision += 1
        return self._record(Edit(where, before, after, self._shape))

    @property
    def last_edit(self) -> Edit | None:
        """The step :meth:`undo` would undo (None if there is none)."""
        return self._undo[-1] if self._undo else None

    # -- history --------------------------------------------------------------------------------

    @property
    def in_stroke(self) -> bool:
        """Whether a stroke is open (between :meth:`begin_stroke` and :meth:`end_stroke`)."""
        return self._stroke is not None

    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone step to redo."""
        return bool(self._redo)

    def undo(self) -> Edit | None:
        """Undo the last step (None if there is none)."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        self.labels.array.reshape(-1)[edit.indices] = edit.before
        self._redo.append(edit)
        self.revision += 1
        return edit

    def redo(self) -> Edit | None:
        """Redo the last undone step (None if there is none)."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        self.labels.array.reshape(-1)[edit.indices] = edit.after
        self._undo.append(edit)
        self.revision += 1
        return edit

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def _shape(self) -> tuple[int, int, int]:
        z, y, x = self.labels.array.shape
        return int(z), int(y), int(x)

    def _record(self, edit: Edit) -> Edit:
        self._undo.append(edit)
        self._redo.clear()
        while len(self._undo) > 1 and sum(e.size_bytes for e in self._undo) > self._history_bytes:
            self._undo.pop(0)
        return edit


def brush_indices(
    labels: LabelMap, centre_index_zyx: npt.ArrayLike, plane: Plane, radius_mm: float
) -> npt.NDArray[np.int64]:
    """Return the flat indices of the voxels of a brush's disc (``radius_mm``, in ``plane``).

    The disc is round in mm and centred on the voxel nearest ``centre_index_zyx`` (z, y, x);
    it is clipped at the volume's edge.
    """
    shape_zyx = tuple(int(n) for n in labels.array.shape)
    shape = np.asarray(shape_zyx)
    centre = np.clip(np.rint(np.asarray(centre_index_zyx, dtype=np.float64)), 0, shape - 1)
    centre = centre.astype(np.int64)
    spacing_zyx = np.asarray(labels.grid.spacing_xyz_mm[::-1], dtype=np.float64)
    normal = PLANE_AXIS[plane]
    reach = np.floor(radius_mm / spacing_zyx).astype(np.int64)
    reach[normal] = 0
    low = np.maximum(centre - reach, 0)
    high = np.minimum(centre + reach, shape - 1)
    axes = [np.arange(low[k], high[k] + 1) for k in range(3)]
    grid = np.meshgrid(*axes, indexing="ij")
    offsets_mm = [(grid[k] - centre[k]) * spacing_zyx[k] for k in range(3)]
    inside = sum(offset**2 for offset in offsets_mm) <= radius_mm**2 + 1e-9
    points = [grid[k][inside] for k in range(3)]
    return np.ravel_multi_index(points, shape_zyx).astype(np.int64)


def box_indices(
    mask: npt.NDArray[np.bool_], box: tuple[slice, ...], shape_zyx: tuple[int, ...]
) -> npt.NDArray[np.int64]:
    """Return the flat indices (in a volume of ``shape_zyx``) of ``mask``'s voxels in ``box``."""
    local = np.nonzero(mask)
    points = tuple(c + s.start for c, s in zip(local, box, strict=True))
    return np.ravel_multi_index(points, shape_zyx).astype(np.int64)
