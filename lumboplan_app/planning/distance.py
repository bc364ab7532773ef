"""Signed distance fields of label sets, and the one sampler every planning step uses.

A field holds, for each voxel centre of a label map's grid, the distance in mm to the boundary of
a set of labels (a structure, or a part): negative inside, positive outside. The boundary is the
voxelised set's own surface (the faces of its voxels): SciPy's exact Euclidean transform finds
the nearest voxel of the other set on the anisotropic grid, and the distance is taken to that
voxel's box. :meth:`DistanceField.sample` interpolates the field trilinearly at LPS points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.volume import Grid, LabelMap

#: Distance (mm) given for a set with no voxel at all: farther than anything in a scan.
ABSENT_MM = 1.0e4
#: How far around a set its field is computed exactly (mm); a channel farther away than this
#: from a part is clear of it whatever the exact value.
DEFAULT_MARGIN_MM = 40.0


@dataclass(frozen=True, eq=False)
class DistanceField:
    """Signed distance (mm) to one set of labels on ``grid``; negative inside.

    Parameters
    ----------
    grid : Grid
        The part of the label map's grid the field covers (the set's box plus a margin).
    values_mm : ndarray (Z, Y, X) float32
        Signed distance at each voxel centre of ``grid``.
    present : bool
        False when the set has no voxel (every distance is :data:`ABSENT_MM`).
    """

    grid: Grid
    values_mm: npt.NDArray[np.float32]
    present: bool

    @staticmethod
    def from_mask(
        mask: npt.NDArray[np.bool_], grid: Grid, margin_mm: float = DEFAULT_MARGIN_MM
    ) -> DistanceField:
        """Build the field of a boolean (Z, Y, X) mask on ``grid``.

        The field covers the set's bounding box grown by ``margin_mm`` (within the image):
        distances there are exact to the voxelised surface; farther away the sampler returns the
        border value, which is never more than the true distance.
        """
        if not mask.any():
            return DistanceField(grid, np.full((1, 1, 1), ABSENT_MM, np.float32), False)
        spacing_zyx = np.asarray(grid.spacing_xyz_mm[::-1])
        occupied = [np.flatnonzero(mask.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
        margin = np.ceil(margin_mm / spacing_zyx).astype(int)
        start = [max(int(axis[0]) - m, 0) for axis, m in zip(occupied, margin, strict=True)]
        stop = [
            min(int(axis[-1]) + m + 1, size)
            for axis, m, size in zip(occupied, margin, mask.shape, strict=True)
        ]
        window = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
        cropped = mask[window]
        outside = _distance_to_other_set(~cropped, spacing_zyx)
        inside = _distance_to_other_set(cropped, spacing_zyx)
        box = Grid(
            shape_zyx=tuple(b - a for a, b in zip(start, stop, strict=True)),
            spacing_xyz_mm=grid.spacing_xyz_mm,
            origin_lps_mm=tuple(grid.index_to_lps(start)),
            direction=grid.direction,
        )
        return DistanceField(box, np.where(cropped, -inside, outside).astype(np.float32), True)

    @staticmethod
    def from_labels(labels: LabelMap, ids: Iterable[int]) -> DistanceField:
        """Build the field of the voxels whose id is in ``ids``."""
        return DistanceField.from_mask(np.isin(labels.array, list(ids)), labels.grid)

    def sample(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the signed distance (mm) at LPS points ``(..., 3)``, trilinear.

        Outside its grid the nearest border value is used: no more than the true distance there
        (beyond the margin, or beyond the scan, which the field cannot see).
        """
        points = np.asarray(points_lps_mm, dtype=np.float64)
        index = self.grid.lps_to_index(points.reshape(-1, 3))
        values = ndimage.map_coordinates(self.values_mm, index.T, order=1, mode="nearest")
        return values.reshape(points.shape[:-1]).astype(np.float64)

    def sample_rays(
        self, origin_lps_mm: npt.ArrayLike, directions: npt.ArrayLike, along_mm: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Return the signed distance (mm) at ``origin + t * direction`` for rays (..., 3).

        ``along_mm`` gives t per ray (shape ``(..., T)``, broadcast against the rays) and the
        result has that shape. Rays map linearly into index space, so the points are built
        there directly: the same values as :meth:`sample`, without a matrix product per point.
        """
        origin = self.grid.lps_to_index(np.asarray(origin_lps_mm, dtype=np.float64))
        inverse = np.linalg.inv(self.grid.affine[:3, :3])
        steps = (np.asarray(directions, dtype=np.float64) @ inverse.T)[..., ::-1]
        t = np.asarray(along_mm, dtype=np.float64)
        index = origin + t[..., None] * steps[..., None, :]
        flat = index.reshape(-1, 3).T
        values = ndimage.map_coordinates(self.values_mm, flat, order=1, mode="nearest")
        return values.reshape(index.shape[:-1]).astype(np.float64)

    def covers(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Return whether each point lies inside the field's grid (where its values are exact)."""
        return _within(self.grid, points_lps_mm)


def _within(grid: Grid, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    points = np.asarray(points_lps_mm, dtype=np.float64)
    index = grid.lps_to_index(points.reshape(-1, 3))
    upper = np.asarray(grid.shape_zyx) - 1
    inside = np.all((index >= -0.5) & (index <= upper + 0.5), axis=1)
    return inside.reshape(points.shape[:-1])


def _distance_to_other_set(
    members: npt.NDArray[np.bool_], spacing_zyx: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """For voxels in ``members``: distance (mm) to the nearest voxel box outside it; else 0.

    The exact transform finds the nearest non-member voxel's centre; the distance is taken to
    that voxel's box (per axis ``max(|offset| - spacing / 2, 0)``), so the boundary lies on
    voxel faces, thick slices included, where a fixed half-voxel shift would be off by half a
    slice along the slice axis.
    """
    result = np.zeros(members.shape, dtype=np.float64)
    if members.all():  # the other set is nowhere in this box: as far as the box allows
        result[:] = float(np.sum(np.asarray(members.shape) * spacing_zyx))
        return result
    nearest = ndimage.distance_transform_edt(
        members, sampling=spacing_zyx, return_distances=False, return_indices=True
    )
    where = np.nonzero(members)
    offset = np.stack(
        [(nearest[axis][where] - where[axis]) * spacing_zyx[axis] for axis in range(3)], axis=-1
    )
    gap = np.maximum(np.abs(offset) - 0.5 * spacing_zyx[None, :], 0.0)
    result[where] = np.sqrt((gap**2).sum(axis=1))
    return result
