"""Where the scan ends: how much of a channel's path the scan shows, and where it cuts the ilium.

A channel the plan calls free must have been seen free. Where its path inside the body leaves
the scan, a part it must clear (the iliac crest above all; also a transverse process or a root)
may lie beyond the scan's edge, unseen: the side is then "not assessable", never Group A
(DESIGN.md, "Classification"; docs/architecture.md, "Field of view" says why and what is left).

- The body ends, along a channel's axis, where the axis last leaves the skin inside the scan.
  An axis that never leaves the skin inside the scan (a narrow slab, a cropped flank, no skin
  labelled) needs the channel's whole length in the scan.
- Faces are those of the scan's voxel grid, named by array axis and end (``(axis, 0)`` the
  first slice, ``(axis, 1)`` the last); on an oblique scan they are oblique in the patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Side

if TYPE_CHECKING:
    from lumboplan_app.planning.channel import Channel
    from lumboplan_app.volume import Grid, LabelMap

FloatArray = npt.NDArray[np.float64]
#: A face of the scan's grid: (array axis 0 z / 1 y / 2 x, 0 first slice / 1 last slice).
Face = tuple[int, int]

#: Step (mm) along a channel's axis when looking for where it leaves the skin.
_AXIS_STEP_MM = 0.5


class SkinSource(Protocol):
    """The skin's signed distance (mm, negative inside its voxels), as a distance field gives."""

    @property
    def present(self) -> bool:
        """Whether any skin was labelled."""

    def sample(self, points_lps_mm: npt.ArrayLike) -> FloatArray:
        """Return the signed distance at points ``(..., 3)``."""


@dataclass(frozen=True)
class UnseenPath:
    """Where a channel's path inside the body first leaves the scan.

    ``along_mm`` is the distance from point b along the axis, ``point_lps_mm`` the first point of
    the channel's surface outside the scan and ``faces`` the scan faces its unseen part lies
    beyond.
    """

    along_mm: float
    point_lps_mm: FloatArray
    faces: frozenset[Face]


@dataclass(frozen=True, eq=False)
class FieldOfView:
    """The scan's grid, and for each side which of the scan's faces its iliac bone reaches.

    Parameters
    ----------
    grid : Grid
        The scan's (the label map's) grid.
    ilium_faces : mapping of Side to set of Face
        The faces each side's iliac bone touches: where the scan cuts it.
    """

    grid: Grid
    ilium_faces: Mapping[Side, frozenset[Face]]

    @staticmethod
    def of_label_map(labels: LabelMap, ilium_ids: Mapping[Side, Iterable[int]]) -> FieldOfView:
        """Return the field of view of a label map whose side's ilium has ``ilium_ids``."""
        faces = {
            side: touched_faces(np.isin(labels.array, [int(i) for i in ids]))
            for side, ids in ilium_ids.items()
        }
        return FieldOfView(labels.grid, faces)

    def covers(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Return whether each point ``(..., 3)`` lies in the scan (within its outer voxels)."""
        index = self._index(points_lps_mm)
        upper = np.asarray(self.grid.shape_zyx, dtype=np.float64) - 0.5
        return np.all((index >= -0.5) & (index <= upper), axis=-1)

    def faces_beyond(self, points_lps_mm: npt.ArrayLike) -> frozenset[Face]:
        """Return the faces of the scan that points ``(N, 3)`` lie beyond."""
        index = self._index(points_lps_mm).reshape(-1, 3)
        upper = np.asarray(self.grid.shape_zyx, dtype=np.float64) - 0.5
        faces = set()
        for axis in range(3):
            if np.any(index[:, axis] < -0.5):
                faces.add((axis, 0))
            if np.any(index[:, axis] > upper[axis]):
                faces.add((axis, 1))
        return frozenset(faces)

    def body_end_mm(self, channel: Channel, skin: SkinSource | None) -> float:
        """Return how far from point b the channel runs inside the body (mm, at most its length).

        That is where its axis last leaves the skin inside the scan; the whole length when the
        axis never does (no skin, or the scan ends first).
        """
        along = np.arange(0.0, channel.length_mm + 1e-9, _AXIS_STEP_MM)
        points = np.asarray(channel.tip_lps_mm) + along[:, None] * channel.axis
        return float(self._body_ends_mm(points[None], along, channel.length_mm, skin)[0])

    def unseen_path(self, channel: Channel, skin: SkinSource | None) -> UnseenPath | None:
        """Return where the channel's path inside the body leaves the scan; None if all is seen."""
        from lumboplan_app.planning.channel import Channel

        inside_body = Channel(
            channel.tip_lps_mm,
            channel.direction,
            channel.diameter_mm,
            max(self.body_end_mm(channel, skin), 1.0),
        )
        points = inside_body.surface_points()
        seen = self.covers(points)
        if seen.all():
            return None
        unseen = points[~seen]
        along = (unseen - np.asarray(channel.tip_lps_mm)) @ channel.axis
        first = int(np.argmin(along))
        return UnseenPath(float(along[first]), unseen[first], self.faces_beyond(unseen))

    def seen_poses(
        self,
        tip_lps_mm: npt.ArrayLike,
        directions: FloatArray,
        diameter_mm: float,
        length_mm: float,
        skin: SkinSource | None,
    ) -> npt.NDArray[np.bool_]:
        """Return, per unit axis of ``directions`` (..., 3), whether all its path is seen.

        The vectorised form of :meth:`unseen_path` ``is None`` for channels from ``tip_lps_mm``,
        slightly stricter: each cross-section of the mantle must lie in the scan along every
        axis of the grid (its whole circle, where :meth:`unseen_path` samples points on it).
        """
        rays = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        along = np.arange(0.0, length_mm + 1e-9, _AXIS_STEP_MM)
        points = np.asarray(tip_lps_mm, dtype=np.float64) + along[None, :, None] * rays[:, None, :]
        end_mm = np.maximum(self._body_ends_mm(points, along, length_mm, skin), 1.0)
        index = self._index(points)
        upper = np.asarray(self.grid.shape_zyx, dtype=np.float64) - 0.5
        axes = np.asarray(self.grid.direction, dtype=np.float64)[:, ::-1]  # columns z, y, x
        spacing = np.asarray(self.grid.spacing_xyz_mm, dtype=np.float64)[::-1]
        along_axes = rays @ axes
        reach = diameter_mm / 2 * np.sqrt(np.clip(1.0 - along_axes**2, 0.0, 1.0)) / spacing
        inside_scan = np.all(
            (index - reach[:, None, :] >= -0.5) & (index + reach[:, None, :] <= upper), axis=-1
        )
        on_path = along[None, :] <= end_mm[:, None]
        seen = np.all(inside_scan | ~on_path, axis=1)
        return seen.reshape(np.shape(directions)[:-1])

    def _body_ends_mm(
        self,
        points: FloatArray,
        along: FloatArray,
        length_mm: float,
        skin: SkinSource | None,
    ) -> FloatArray:
        """Per ray of ``points`` (R, T, 3) at ``along`` mm, where it last leaves the skin.

        That is inside the scan; ``length_mm`` where a ray never does (or without skin).
        """
        if skin is None or not skin.present:
            return np.full(len(points), float(length_mm))
        known = self.covers(points)
        inside = (skin.sample(points) < 0) & known
        exits = inside[:, :-1] & ~inside[:, 1:] & known[:, 1:]
        last = exits.shape[1] - 1 - np.argmax(exits[:, ::-1], axis=1)
        return np.where(exits.any(axis=1), along[last + 1], float(length_mm))

    def face_direction(self, face: Face) -> FloatArray:
        """Return the outward LPS unit normal of a face of the scan."""
        axis, end = face
        column = np.asarray(self.grid.direction)[:, 2 - axis]  # direction columns are x, y, z
        return np.asarray(column if end == 1 else -column, dtype=np.float64)

    def _index(self, points_lps_mm: npt.ArrayLike) -> FloatArray:
        return self.grid.lps_to_index(np.asarray(points_lps_mm, dtype=np.float64))


def touched_faces(mask: npt.NDArray[np.bool_]) -> frozenset[Face]:
    """Return the faces of the array's box that a mask (Z, Y, X) reaches."""
    faces = set()
    for axis in range(3):
        for end, index in ((0, 0), (1, -1)):
            if np.take(mask, index, axis=axis).any():
                faces.add((axis, end))
    return frozenset(faces)
