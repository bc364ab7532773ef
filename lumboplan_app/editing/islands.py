"""Remove small islands: pieces of a structure too small to be anatomy (specks, stray blobs).

Each piece (face-connected component) of a structure smaller than ``min_volume_mm3`` goes to
the label that surrounds it most (a speck of bone inside the disc becomes disc; one in fat
becomes background), where 3D Slicer's tool leaves an empty hole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lumboplan_app.editing.editor import box_indices
from lumboplan_app.labels import Structure

if TYPE_CHECKING:
    from lumboplan_app.editing.editor import Edit, LabelEditor

#: Default smallest piece kept (mm^3): the smallest true piece of a phantom's structures is larger.
MIN_VOLUME_MM3 = 200.0


def remove_small_islands(
    editor: LabelEditor,
    structures: tuple[Structure, ...] | None = None,
    min_volume_mm3: float = MIN_VOLUME_MM3,
) -> Edit | None:
    """Give every piece of ``structures`` (all when None) under ``min_volume_mm3`` to its shell.

    The shell is the face-neighbours of the piece; the most common label there wins. One
    undoable step; None when there was no small island.
    """
    from scipy import ndimage  # here, not at the top: the window starts without SciPy

    array = editor.labels.array
    voxel_mm3 = float(np.prod(editor.labels.grid.spacing_xyz_mm))
    min_voxels = max(int(np.ceil(min_volume_mm3 / voxel_mm3)), 1)
    present = [int(s) for s in np.unique(array) if s != Structure.BACKGROUND]
    chosen = present if structures is None else [int(s) for s in structures if s in present]
    shape = np.asarray(array.shape)
    all_indices, all_ids = [], []
    for structure in chosen:
        pieces, count = ndimage.label(array == structure)
        sizes = np.bincount(pieces.reshape(-1), minlength=count + 1)
        for number, where in enumerate(ndimage.find_objects(pieces), start=1):
            if where is None or sizes[number] >= min_voxels:
                continue
            grown = tuple(
                slice(max(s.start - 1, 0), min(s.stop + 1, int(n)))
                for s, n in zip(where, shape, strict=True)
            )
            piece = pieces[grown] == number
            shell = ndimage.binary_dilation(piece) & ~piece
            around = np.bincount(array[grown][shell], minlength=256)
            around[structure] = 0
            indices = box_indices(piece, grown, array.shape)
            all_indices.append(indices)
            all_ids.append(np.full(indices.size, int(np.argmax(around)), dtype=np.uint8))
    if not all_indices:
        return None
    return editor.assign(np.concatenate(all_indices), np.concatenate(all_ids))
