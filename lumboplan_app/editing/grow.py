"""Grow from seeds: a few strokes per structure and the background; the fill follows the edges.

3D Slicer's "Grow from seeds" is the model: the surgeon scribbles a few strokes inside each
structure to correct and in the background around it, and every voxel near the strokes goes to
the stroke it is joined to by the weakest image edges, in 3-D. Here that is a marker-based
watershed (SimpleITK's ``MorphologicalWatershedFromMarkers``) on the scan's gradient magnitude:
each stroke floods outwards, and two floods meet on the strongest edge between them.

- **Where**: only inside the box of the strokes plus :attr:`SeedGrower.margin_mm` (the rest of
  the labels is untouched), which keeps an update well under a second on a 300 x 320 x 320 scan.
- **What it may change**: voxels of the kinds with strokes: the seeded structures, and the
  unlabelled voxels when the background has strokes. Kinds without a stroke keep their voxels
  and act as walls: a disc grown beside an intact L5 never takes bone, and a border moved
  between L5 and the disc (strokes in both, none in the background) never takes the fat. A
  voxel under a stroke always takes the stroke's kind.
- **Strokes**: painted with the brush (:meth:`SeedGrower.paint`); each structure's strokes and
  the background's are kept as long as the grower (drop it to start afresh). Strokes never
  change the labels.
- **Updates**: :meth:`SeedGrower.update` grows and writes the result through the
  :class:`~lumboplan_app.editing.LabelEditor` as one undoable step, replacing its own previous
  result, so a growth refined over ten strokes undoes in one step.
- **Gradient**: computed once for a region around the strokes (smoothed at
  :attr:`SeedGrower.sigma_mm`) and kept; it is computed again only when strokes leave it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lumboplan_app.editing.editor import box_indices, brush_indices
from lumboplan_app.errors import CorrectionError
from lumboplan_app.labels import Structure

if TYPE_CHECKING:
    from lumboplan_app.editing.editor import Edit, LabelEditor
    from lumboplan_app.viewing import Plane
    from lumboplan_app.volume import LabelMap, Volume

#: The seed value of background strokes (0 is "no stroke").
BACKGROUND_SEED = 255
#: Default margin around the strokes' box that an update may change (mm).
MARGIN_MM = 10.0
#: Default smoothing of the gradient magnitude (mm, Gaussian sigma).
SIGMA_MM = 1.0
#: When strokes leave the gradient's region, it is recomputed this much wider on each side (mm).
GRADIENT_REACH_MM = 10.0

Box = tuple[slice, ...]


class SeedGrower:
    """Strokes per structure and background, grown into labels along the scan's edges.

    Parameters
    ----------
    volume : Volume
        The scan (its edges guide the growth).
    labels : LabelMap
        The labels edited (the editor's); read for what unseeded structures hold.
    margin_mm : float
        How far beyond the strokes' box an update may change labels (mm).
    sigma_mm : float
        Gaussian smoothing of the gradient magnitude (mm).
    """

    def __init__(
        self,
        volume: Volume,
        labels: LabelMap,
        margin_mm: float = MARGIN_MM,
        sigma_mm: float = SIGMA_MM,
    ) -> None:
        if volume.array.shape != labels.array.shape:
            raise ValueError("the labels do not lie on the scan's grid")
        self.volume = volume
        self.labels = labels
        self.margin_mm = margin_mm
        self.sigma_mm = sigma_mm
        #: Stroke of each voxel: 0 none, a structure id, or :data:`BACKGROUND_SEED`.
        self.seeds: npt.NDArray[np.uint8] = np.zeros(labels.array.shape, dtype=np.uint8)
        #: Seconds the last :meth:`grow` took (gradient included when it was computed).
        self.last_seconds = 0.0
        self._spacing_zyx = np.asarray(labels.grid.spacing_xyz_mm[::-1], dtype=np.float64)
        self._gradient: npt.NDArray[np.uint8] | None = None
        self._gradient_box: Box | None = None
        self._result: Edit | None = None

    # -- strokes --------------------------------------------------------------------------------

    def paint(
        self,
        structure: Structure,
        centre_index_zyx: npt.ArrayLike,
        plane: Plane,
        radius_mm: float,
    ) -> int:
        """Add a brush dab of strokes for ``structure`` (the background included); return voxels.

        The dab is the editor's brush (a disc of ``radius_mm`` in the slice of ``plane``); it
        overwrites earlier strokes under it.
        """
        indices = brush_indices(self.labels, centre_index_zyx, plane, radius_mm)
        self.add_seeds(structure, indices)
        return int(indices.size)

    def add_seeds(self, structure: Structure, indices: npt.ArrayLike) -> None:
        """Mark the voxels at flat ``indices`` as strokes of ``structure`` (or the background)."""
        value = BACKGROUND_SEED if structure is Structure.BACKGROUND else int(structure)
        self.seeds.reshape(-1)[np.asarray(indices, dtype=np.int64)] = value

    @property
    def seeded(self) -> tuple[Structure, ...]:
        """The structures with strokes (the background first when it has some)."""
        values = np.unique(self.seeds)
        return tuple(
            Structure.BACKGROUND if v == BACKGROUND_SEED else Structure(int(v))
            for v in sorted(values[values != 0], key=lambda v: v != BACKGROUND_SEED)
        )

    # -- growing --------------------------------------------------------------------------------

    def grow(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        """Grow the strokes; return the flat indices of the voxels that change and their new ids.

        The labels are not changed (see :meth:`update`).

        Raises
        ------
        CorrectionError
            Without strokes of at least two kinds (a structure and the background, or two
            structures): one kind alone would flood the whole box.
        """
        if len(self.seeded) < 2:
            raise CorrectionError(
                "Grow from seeds needs strokes in the structure and around it: paint at least "
                "one stroke in the structure and one in the background (or a neighbour)."
            )
        start = time.perf_counter()
        box = self._box()
        gradient = self._gradient_in(box)
        markers = self.seeds[box]
        current = self.labels.array[box]
        locked = ~np.isin(current, [int(s) for s in self.seeded]) & (markers == 0)
        grown = _watershed(np.where(locked, np.uint8(255), gradient), markers, self._spacing_zyx)
        grown[grown == BACKGROUND_SEED] = 0
        changes = ~locked & (grown != current)
        indices = box_indices(changes, box, self._shape)
        self.last_seconds = time.perf_counter() - start
        return indices, grown[changes]

    def update(self, editor: LabelEditor) -> Edit | None:
        """Grow and write the result through ``editor`` as one undoable step.

        The previous result of this grower, while it is still the editor's last step, is
        undone first: the step holds the growth from all strokes so far. Returns the step
        (None when the labels already are the result).

        Raises
        ------
        CorrectionError
            See :meth:`grow`.
        ValueError
            If ``editor`` does not edit this grower's labels.
        """
        if editor.labels is not self.labels:
            raise ValueError("the editor edits other labels than the grower reads")
        previous = self._result
        if previous is not None and editor.last_edit is previous:
            editor.undo()
        try:
            indices, ids = self.grow()
        except CorrectionError:
            if previous is not None and editor.can_redo:
                editor.redo()
            raise
        self._result = editor.assign(indices, ids)
        return self._result

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def _shape(self) -> tuple[int, int, int]:
        shape = self.seeds.shape
        return int(shape[0]), int(shape[1]), int(shape[2])

    def _box(self) -> Box:
        """Return the box of the strokes plus the margin, clipped to the volume."""
        coords = np.nonzero(self.seeds)
        reach = np.ceil(self.margin_mm / self._spacing_zyx).astype(int)
        return tuple(
            slice(max(int(axis.min()) - r, 0), min(int(axis.max()) + r + 1, n))
            for axis, r, n in zip(coords, reach, self._shape, strict=True)
        )

    def _gradient_in(self, box: Box) -> npt.NDArray[np.uint8]:
        """Return the gradient (0-255) in ``box``, from the kept region or a new, wider one."""
        kept = self._gradient_box
        if kept is None or not all(
            k.start <= b.start and b.stop <= k.stop for k, b in zip(kept, box, strict=True)
        ):
            reach = np.ceil(GRADIENT_REACH_MM / self._spacing_zyx).astype(int)
            kept = tuple(
                slice(max(b.start - r, 0), min(b.stop + r, n))
                for b, r, n in zip(box, reach, self._shape, strict=True)
            )
            self._gradient = _gradient_magnitude(
                self.volume.array[kept], self._spacing_zyx, self.sigma_mm
            )
            self._gradient_box = kept
        assert self._gradient is not None
        assert kept is not None
        inner = tuple(
            slice(b.start - k.start, b.stop - k.start) for b, k in zip(box, kept, strict=True)
        )
        return self._gradient[inner]


def _gradient_magnitude(
    image: npt.NDArray[np.floating], spacing_zyx: npt.NDArray[np.float64], sigma_mm: float
) -> npt.NDArray[np.uint8]:
    """Gaussian gradient magnitude of ``image`` scaled to 0-254 (its 99.5th percentile at 254).

    Eight bits make the watershed about twenty times faster than on floats; 255 is kept for
    walls (voxels no flood may take early).
    """
    import SimpleITK as sitk

    sitk_image = sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
    sitk_image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    magnitude = sitk.GetArrayFromImage(
        sitk.GradientMagnitudeRecursiveGaussian(sitk_image, float(sigma_mm))
    )
    top = float(np.percentile(magnitude, 99.5))
    if top <= 0:
        return np.zeros(magnitude.shape, dtype=np.uint8)
    return np.clip(magnitude * (254.0 / top), 0, 254).astype(np.uint8)


def _watershed(
    gradient: npt.NDArray[np.uint8],
    markers: npt.NDArray[np.uint8],
    spacing_zyx: npt.NDArray[np.float64],
) -> npt.NDArray[np.uint8]:
    """Flood ``gradient`` from ``markers`` (face-connected); every voxel gets a marker's value."""
    import SimpleITK as sitk

    spacing = tuple(float(s) for s in spacing_zyx[::-1])
    gradient_image = sitk.GetImageFromArray(np.ascontiguousarray(gradient))
    marker_image = sitk.GetImageFromArray(np.ascontiguousarray(markers))
    for image in (gradient_image, marker_image):
        image.SetSpacing(spacing)
    grown = sitk.MorphologicalWatershedFromMarkers(
        gradient_image, marker_image, markWatershedLine=False, fullyConnected=False
    )
    return sitk.GetArrayFromImage(grown).astype(np.uint8)
