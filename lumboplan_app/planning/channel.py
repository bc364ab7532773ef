"""The working channel: a cylinder from point b outward, and its pose.

DESIGN.md, "Landmarks and measurements": the channel's proximal end is centred on b; alpha is
the angle between the axis' axial projection and the coronal plane (0 = straight lateral, 90 =
straight posterior); beta is the axis' tilt against the disc mid-plane, positive when the outer
end is cranial; Line B is the axial-plane distance from the mid-sagittal plane to the skin entry
point d. Angles are returned in degrees, lengths in mm, points in LPS. What a channel touches is
:mod:`~lumboplan_app.planning.assessment`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Side

FloatArray = npt.NDArray[np.float64]

CHANNEL_DIAMETER_MM = 8.0
CHANNEL_LENGTH_MM = 150.0
#: Samples around the circumference and along the axis of the channel's surface.
_RING_SAMPLES = 24
_AXIAL_STEP_MM = 1.0


@dataclass(frozen=True)
class Channel:
    """A cylinder: proximal end centred on ``tip_lps_mm`` (point b), axis ``direction`` outward.

    Raises
    ------
    ValueError
        For a zero direction or a non-positive diameter or length.
    """

    tip_lps_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    diameter_mm: float = CHANNEL_DIAMETER_MM
    length_mm: float = CHANNEL_LENGTH_MM

    def __post_init__(self) -> None:
        direction = np.asarray(self.direction, dtype=np.float64)
        norm = float(np.linalg.norm(direction))
        if norm < 1e-9:
            raise ValueError("the channel's direction must not be zero")
        if self.diameter_mm <= 0 or self.length_mm <= 0:
            raise ValueError("the channel's diameter and length must be positive")
        object.__setattr__(self, "direction", tuple(float(v) for v in direction / norm))
        object.__setattr__(self, "tip_lps_mm", tuple(float(v) for v in self.tip_lps_mm))

    @property
    def axis(self) -> FloatArray:
        """Unit axis, tip -> outside."""
        return np.asarray(self.direction)

    def surface_points(self) -> FloatArray:
        """Points (N, 3) LPS mm covering the cylinder's mantle and its proximal disc."""
        tip = np.asarray(self.tip_lps_mm)
        first, second = _perpendicular_pair(self.axis)
        angles = np.linspace(0.0, 2 * np.pi, _RING_SAMPLES, endpoint=False)
        radius = self.diameter_mm / 2
        ring = np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second
        along = np.arange(0.0, self.length_mm + 1e-9, _AXIAL_STEP_MM)
        mantle = tip + along[:, None, None] * self.axis + radius * ring[None, :, :]
        disc = tip + np.concatenate([np.zeros((1, 3)), 0.5 * radius * ring])
        return np.concatenate([mantle.reshape(-1, 3), disc])


def _perpendicular_pair(axis: FloatArray) -> tuple[FloatArray, FloatArray]:
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    return first, np.cross(axis, first)


def direction_for_pose(
    alpha_deg: float, beta_deg: float, disc_normal: npt.ArrayLike, side: Side
) -> FloatArray:
    """Return the unit axis with axial angle ``alpha_deg`` and tilt ``beta_deg`` (degrees).

    Closed form: the axis is ``(s cos a * c, sin a * c, z)`` with ``c**2 + z**2 = 1`` (``s`` the
    side's sign) and its component along the disc normal equals ``sin(beta)``.

    Raises
    ------
    PlanningError
        If no direction has both angles (a tilt steeper than the disc plane allows there).
    """
    n = np.asarray(disc_normal, dtype=np.float64)
    n = n / np.linalg.norm(n) * (1.0 if n[2] >= 0 else -1.0)  # the cranial normal
    alpha, beta = np.deg2rad(alpha_deg), np.deg2rad(beta_deg)
    sign = float(side.lps_sign)
    k = sign * np.cos(alpha) * n[0] + np.sin(alpha) * n[1]
    radius = float(np.hypot(k, n[2]))
    if abs(np.sin(beta)) > radius:
        raise PlanningError(
            f"No channel direction has alpha {alpha_deg:.0f} and beta {beta_deg:.0f}."
        )
    delta = np.arctan2(n[2], k)
    phi = delta - np.arccos(np.sin(beta) / radius)
    if np.cos(phi) < 0:
        phi = delta + np.arccos(np.sin(beta) / radius)
    c, z = np.cos(phi), np.sin(phi)
    return np.array([sign * np.cos(alpha) * c, np.sin(alpha) * c, z])


def measure_pose(
    direction: npt.ArrayLike, disc_normal: npt.ArrayLike, side: Side
) -> tuple[float, float]:
    """Alpha and beta (degrees) of an axis: axial angle from the coronal plane, tilt vs the disc."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    n = np.asarray(disc_normal, dtype=np.float64)
    n = n / np.linalg.norm(n) * (1.0 if n[2] >= 0 else -1.0)
    alpha = np.degrees(np.arctan2(d[1], float(side.lps_sign) * d[0]))
    beta = np.degrees(np.arcsin(np.clip(d @ n, -1.0, 1.0)))
    return float(alpha), float(beta)


def line_b_mm(
    skin_entry_lps_mm: npt.ArrayLike,
    mid_sagittal_point: npt.ArrayLike,
    mid_sagittal_normal: npt.ArrayLike,
) -> float:
    """Line B: distance (mm) in the axial plane from the mid-sagittal plane to point d."""
    return abs(axial_offset_mm(skin_entry_lps_mm, mid_sagittal_point, mid_sagittal_normal)[0])


def axial_offset_mm(
    point_lps_mm: npt.ArrayLike,
    mid_sagittal_point: npt.ArrayLike,
    mid_sagittal_normal: npt.ArrayLike,
) -> tuple[float, FloatArray]:
    """Return a point's signed distance (mm) from the mid-sagittal plane, in its axial plane.

    Also the unit direction (LPS) the distance is measured along: Line B's.
    """
    normal = np.asarray(mid_sagittal_normal, dtype=np.float64).copy()
    normal[2] = 0.0  # measured in the axial plane
    normal /= np.linalg.norm(normal)
    offset = np.asarray(point_lps_mm, dtype=np.float64) - np.asarray(mid_sagittal_point)
    offset[2] = 0.0
    return float(offset @ normal), normal
