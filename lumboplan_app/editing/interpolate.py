"""Fill between slices: draw a structure on a few slices, the slices between are interpolated.

Shape-based interpolation (Herman, Zheng and Bucholtz 1992; what ITK's morphological contour
interpolation, behind 3D Slicer's "Fill between slices", refines): each drawn slice becomes its
signed distance map in mm (negative inside), the maps of two neighbouring drawn slices are
blended linearly across the gap, and the voxels where the blend is negative are filled. A slice
counts as drawn when it holds any voxel of the structure; drawn slices are kept as they are,
and slices beyond the first and last drawn one stay empty. The blend is negative only inside
one of the two drawn shapes, so the work stays in the structure's box.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.editing.editor import box_indices
from lumboplan_app.errors import CorrectionError
from lumboplan_app.labels import Structure
from lumboplan_app.viewing import PLANE_AXIS

if TYPE_CHECKING:
    from lumboplan_app.editing.editor import Edit, LabelEditor
    from lumboplan_app.viewing import Plane


def fill_between_slices(
    editor: LabelEditor, structure: Structure, plane: Plane, overwrite: bool = False
) -> Edit | None:
    """Interpolate ``structure`` between the slices of ``plane`` it was drawn on; one undo step.

    With ``overwrite`` False the fill takes unlabelled voxels only (neighbours stay intact);
    True lets it replace other structures. Returns the step (None if nothing changed).

    Raises
    ------
    CorrectionError
        If the structure is drawn on fewer than two slices of ``plane`` with a gap between.
    """
    if structure is Structure.BACKGROUND:
        raise ValueError("choose a structure to fill, not the background")
    array = editor.labels.array
    axis = PLANE_AXIS[plane]
    whole = array == structure
    if not whole.any():
        raise CorrectionError(
            f"Draw the {structure.display_name} on a few {plane} slices first, then fill between."
        )
    box = tuple(slice(int(c.min()), int(c.max()) + 1) for c in np.nonzero(whole))
    mask = np.moveaxis(whole[box], axis, 0)
    drawn = np.flatnonzero(mask.any(axis=(1, 2)))
    if drawn.size < 2 or np.all(np.diff(drawn) == 1):
        raise CorrectionError(
            f"Draw the {structure.display_name} on at least two {plane} slices with undrawn "
            "slices between them, then fill between slices."
        )
    spacing_zyx = editor.labels.grid.spacing_xyz_mm[::-1]
    in_plane = tuple(float(s) for k, s in enumerate(spacing_zyx) if k != axis)
    filled = np.zeros_like(mask)
    distances = {int(k): _signed_distance_mm(mask[k], in_plane) for k in drawn}
    for low, high in itertools.pairwise(drawn):
        for k in range(int(low) + 1, int(high)):
            t = (k - low) / (high - low)
            filled[k] = (1 - t) * distances[int(low)] + t * distances[int(high)] < 0
    filled = np.moveaxis(filled, 0, axis)
    if not overwrite:
        filled &= array[box] == Structure.BACKGROUND
    return editor.assign(box_indices(filled, box, array.shape), int(structure))


def _signed_distance_mm(
    mask: npt.NDArray[np.bool_], spacing: tuple[float, ...]
) -> npt.NDArray[np.float64]:
    """Signed distance (mm) of each pixel to ``mask``'s outline: negative inside, positive out."""
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
    inside = ndimage.distance_transform_edt(mask, sampling=spacing)
    return np.asarray(outside - inside, dtype=np.float64)
