"""Smooth a structure's outline: median, opening (cut spurs) or closing (fill dents and holes).

As 3D Slicer's "Smoothing" effect, on one structure, with a ball of ``radius_mm`` (round in mm
on anisotropic voxels). Voxels the structure loses become background; voxels it gains are
taken from the background only, unless ``overwrite``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from lumboplan_app.editing.editor import box_indices
from lumboplan_app.errors import CorrectionError
from lumboplan_app.labels import Structure

if TYPE_CHECKING:
    from lumboplan_app.editing.editor import Edit, LabelEditor

SmoothMethod = Literal["median", "opening", "closing"]
SMOOTH_METHODS: tuple[SmoothMethod, ...] = ("median", "opening", "closing")


def smooth_structure(
    editor: LabelEditor,
    structure: Structure,
    radius_mm: float = 1.5,
    method: SmoothMethod = "median",
    overwrite: bool = False,
) -> Edit | None:
    """Smooth ``structure`` with ``method`` and a ball of ``radius_mm``; one undoable step.

    Raises
    ------
    CorrectionError
        If the structure is not in the labels.
    ValueError
        For an unknown method or a radius under one voxel.
    """
    import SimpleITK as sitk

    if method not in SMOOTH_METHODS:
        raise ValueError(f"the smoothing method must be one of {SMOOTH_METHODS}")
    array = editor.labels.array
    mask = array == structure
    if structure is Structure.BACKGROUND or not mask.any():
        raise CorrectionError(
            f"No voxel holds {structure.display_name}: draw it before smoothing it."
        )
    spacing_zyx = np.asarray(editor.labels.grid.spacing_xyz_mm[::-1], dtype=np.float64)
    reach = np.floor(radius_mm / spacing_zyx).astype(int)
    if not reach.any():
        raise ValueError(f"a smoothing radius of {radius_mm} mm is under one voxel")
    box = tuple(
        slice(max(int(c.min()) - r - 1, 0), min(int(c.max()) + r + 2, n))
        for c, r, n in zip(np.nonzero(mask), reach, array.shape, strict=True)
    )
    image = sitk.GetImageFromArray(mask[box].astype(np.uint8))
    kernel = [int(r) for r in reach[::-1]]
    if method == "median":
        result = sitk.BinaryMedian(image, kernel, foregroundValue=1, backgroundValue=0)
    elif method == "opening":
        result = sitk.BinaryMorphologicalOpening(image, kernel, sitk.sitkBall, 1)
    else:
        result = sitk.BinaryMorphologicalClosing(image, kernel, sitk.sitkBall, 1)
    smooth = sitk.GetArrayFromImage(result).astype(bool)
    before = mask[box]
    lost = before & ~smooth
    gained = smooth & ~before
    if not overwrite:
        gained &= array[box] == Structure.BACKGROUND
    lost_at, gained_at = (box_indices(part, box, array.shape) for part in (lost, gained))
    ids = np.concatenate(
        [np.zeros(lost_at.size, np.uint8), np.full(gained_at.size, int(structure), np.uint8)]
    )
    return editor.assign(np.concatenate([lost_at, gained_at]), ids)
