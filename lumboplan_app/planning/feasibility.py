"""The feasibility map of one foramen and its best free trajectory (DESIGN.md, beyond the paper).

For every pose (alpha, beta) on a 1 degree grid, with the channel's tip on point b, the map holds
the clearance (mm, negative: depth) of the channel to each blocking part (the L5 IAP and
transverse process, the exiting and traversing roots, the dural sac), to the iliac bone, and to
the two bones a working channel cannot pass through that the paper's protocol never meets (the
sacral ala and the L5 pedicle: without them the "best" path of a low-crest case ran through
the ala). A pose is free where it touches none of them, by the rule the placement and the
dragged channel share (:func:`~lumboplan_app.planning.assessment.touch_limits_mm`: a blocking
part nearer than the contact margin is touched, the ilium, ala and pedicle when reached into);
the S1 superior articular process is not among them (foraminoplasty removes it, and the paper's
groups ignore it). The best free trajectory is the free pose whose smallest clearance is largest.

Clearance is measured on the capsule around the axis from one radius past the tip to the far end
(the distance to a part at points along the axis, less the radius: the cylinder's side), and on
the rim of the tip (16 points on the circle at point b): together they match the cylinder's
clearance to within the sampling (a capsule from the tip itself would bulge a radius past point b
into the canal, and called the paper's own Group A placements blocked). To stay within budget
(< 1 s a side, benchmarks/planning_bench.py) the axis is first sampled every 4 mm; a distance
field changes by at most 1 mm per mm, so only the 4 mm stretches whose coarse sample lies within
4 mm of the coarse minimum can hold the minimum, and only those are sampled again at 1 mm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import mapped_parts, touch_limits_mm

if TYPE_CHECKING:
    from lumboplan_app.planning.distance import DistanceField
    from lumboplan_app.planning.field_of_view import FieldOfView, SkinSource

FloatArray = npt.NDArray[np.float64]

#: Poses of the map: alpha 0-90 degrees (lateral to posterior), beta -30 to 30 (caudal, cranial).
ALPHAS_DEG = np.arange(0.0, 91.0)
BETAS_DEG = np.arange(-30.0, 31.0)
#: Spacing (mm) of the clearance samples along the axis, and of the first, coarse pass.
AXIS_STEP_MM = 1.0
COARSE_STEP_MM = 4.0
#: Points on the circle of the channel's tip.
RIM_POINTS = 16


@dataclass(frozen=True)
class BestPose:
    """A pose of the channel and its smallest clearance (mm) to the blocking parts and ilium."""

    alpha_deg: float
    beta_deg: float
    min_clearance_mm: float

    def to_json(self) -> dict[str, float]:
        """Return the plan JSON's ``best_free``."""
        return {
            "alpha_deg": round(self.alpha_deg, 2),
            "beta_deg": round(self.beta_deg, 2),
            "min_clearance_mm": round(self.min_clearance_mm, 2),
        }


@dataclass(frozen=True)
class FeasibilityMap:
    """Clearances of one side's channel over (alpha, beta).

    ``clearance_mm[part]`` is an (alpha, beta) array in mm; ``possible`` marks the poses that
    exist at all (a steep tilt near the disc plane's own slope may not); ``leaves_scan`` the
    poses touching nothing whose path inside the body leaves the scan (only those are checked;
    None: not checked); a pose is free when it touches no mapped part and its path is seen
    (:func:`~lumboplan_app.planning.assessment.touch_limits_mm` with ``margin_mm``, the plan's
    contact margin).
    """

    side: Side
    alphas_deg: FloatArray
    betas_deg: FloatArray
    clearance_mm: dict[Part, FloatArray]
    possible: npt.NDArray[np.bool_]
    margin_mm: float = 0.0
    leaves_scan: npt.NDArray[np.bool_] | None = None

    @property
    def smallest_clearance_mm(self) -> FloatArray:
        """Return, per pose, the smallest clearance to any blocking part or the ilium (mm)."""
        if not self.clearance_mm:
            return np.full(self.possible.shape, np.inf)
        stacked = np.min(np.stack(list(self.clearance_mm.values())), axis=0)
        return np.where(self.possible, stacked, -np.inf)

    @property
    def free(self) -> npt.NDArray[np.bool_]:
        """Return, per pose, whether the channel's path is seen and touches no mapped part."""
        limits = touch_limits_mm(self.side, self.margin_mm)
        free = (
            self.possible.copy() if self.leaves_scan is None else self.possible & ~self.leaves_scan
        )
        for part, clearance in self.clearance_mm.items():
            free &= clearance >= limits[part]
        return free

    def best(self) -> BestPose | None:
        """Return the free pose with the largest smallest clearance, or None if none is free."""
        free = self.free
        if not free.any():
            return None
        smallest = np.where(free, self.smallest_clearance_mm, -np.inf)
        row, column = np.unravel_index(int(np.argmax(smallest)), smallest.shape)
        return BestPose(
            float(self.alphas_deg[row]), float(self.betas_deg[column]), float(smallest[row, column])
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form: the grid, clearances (0.1 mm), free poses, poses leaving the scan.

        ``leaves_scan`` is written only where it was checked.
        """
        smallest = np.where(
            np.isfinite(self.smallest_clearance_mm), self.smallest_clearance_mm, -99
        )
        found: dict[str, Any] = {
            "margin_mm": round(self.margin_mm, 2),
            "alphas_deg": self.alphas_deg.tolist(),
            "betas_deg": self.betas_deg.tolist(),
            "smallest_clearance_mm": np.round(smallest, 1).tolist(),
            "free": self.free.tolist(),
        }
        if self.leaves_scan is not None:
            found["leaves_scan"] = self.leaves_scan.tolist()
        return found


def pose_directions(
    alphas_deg: FloatArray, betas_deg: FloatArray, disc_normal: npt.ArrayLike, side: Side
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Return the unit axes (A, B, 3) of every pose and whether each pose exists.

    The vectorised form of :func:`~lumboplan_app.planning.channel.direction_for_pose`.
    """
    n = np.asarray(disc_normal, dtype=np.float64)
    n = n / np.linalg.norm(n) * (1.0 if n[2] >= 0 else -1.0)
    alpha = np.deg2rad(alphas_deg)[:, None]
    beta = np.deg2rad(betas_deg)[None, :]
    sign = float(side.lps_sign)
    k = sign * np.cos(alpha) * n[0] + np.sin(alpha) * n[1]
    radius = np.hypot(k, n[2])
    possible = np.abs(np.sin(beta)) <= radius
    delta = np.arctan2(n[2], k)
    spread = np.arccos(np.clip(np.sin(beta) / radius, -1.0, 1.0))
    phi = np.where(np.cos(delta - spread) >= 0, delta - spread, delta + spread)
    c, z = np.cos(phi), np.sin(phi)
    directions = np.stack(
        np.broadcast_arrays(sign * np.cos(alpha) * c, np.sin(alpha) * c, z), axis=-1
    )
    return directions, possible


def feasibility_map(
    side: Side,
    point_b: npt.ArrayLike,
    disc_normal: npt.ArrayLike,
    sources: Mapping[Part, DistanceField],
    diameter_mm: float = 8.0,
    length_mm: float = 150.0,
    alphas_deg: FloatArray = ALPHAS_DEG,
    betas_deg: FloatArray = BETAS_DEG,
    contact_margin_mm: float = 0.0,
    field_of_view: FieldOfView | None = None,
    skin: SkinSource | None = None,
) -> FeasibilityMap:
    """Measure the channel's clearance to the side's blocking parts and ilium at every pose.

    Parts missing from ``sources`` or absent from the scan are left out of the map (the plan's
    "not assessable" covers a side without nerves or ilium). With ``field_of_view`` (and the
    ``skin``, where the path inside the body ends), a pose whose path leaves the scan is not
    free: what lies beyond is unknown.
    """
    directions, possible = pose_directions(alphas_deg, betas_deg, disc_normal, side)
    clearance = {}
    for part in mapped_parts(side):
        source = sources.get(part)
        if source is None or not source.present:
            continue
        radius = diameter_mm / 2.0
        side_clearance = _smallest_along(source, point_b, directions, radius, length_mm) - radius
        clearance[part] = np.minimum(
            side_clearance, _rim_clearance(source, point_b, directions, radius)
        )
    touching_nothing = FeasibilityMap(
        side, np.asarray(alphas_deg), np.asarray(betas_deg), clearance, possible, contact_margin_mm
    )
    if field_of_view is None:
        return touching_nothing
    candidates = touching_nothing.free
    leaves_scan = np.zeros_like(candidates)
    leaves_scan[candidates] = ~field_of_view.seen_poses(
        point_b, directions[candidates], diameter_mm, length_mm, skin
    )
    return replace(touching_nothing, leaves_scan=leaves_scan)


def _rim_clearance(
    source: DistanceField, origin: npt.ArrayLike, directions: FloatArray, radius_mm: float
) -> FloatArray:
    """Return, per pose, the smallest distance on the circle of the channel's tip (mm)."""
    rays = directions.reshape(-1, 3)
    helper = np.where(np.abs(rays[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    first = np.cross(rays, helper)
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second = np.cross(rays, first)
    angles = np.linspace(0.0, 2 * np.pi, RIM_POINTS, endpoint=False)
    ring = radius_mm * (
        np.cos(angles)[None, :, None] * first[:, None, :]
        + np.sin(angles)[None, :, None] * second[:, None, :]
    )
    distances = source.sample(np.asarray(origin, dtype=np.float64) + ring)
    return distances.min(axis=1).reshape(directions.shape[:-1])


def _smallest_along(
    source: DistanceField,
    origin: npt.ArrayLike,
    directions: FloatArray,
    start_mm: float,
    length_mm: float,
) -> FloatArray:
    """Return, per ray, the smallest distance at 1 mm steps over ``[start_mm, length_mm]``.

    Coarse to fine: a 4 mm pass, then a 1 mm pass over the stretches that can hold the minimum.
    """
    rays = directions.reshape(-1, 3)
    coarse_t = np.arange(start_mm, length_mm + 1e-9, COARSE_STEP_MM)
    coarse = source.sample_rays(origin, rays, np.broadcast_to(coarse_t, (len(rays), len(coarse_t))))
    smallest = coarse.min(axis=1)
    slack = COARSE_STEP_MM  # a stretch's points lie within half a step of its coarse sample
    ray, sample = np.nonzero(coarse <= smallest[:, None] + slack)
    offsets = np.arange(-COARSE_STEP_MM / 2, COARSE_STEP_MM / 2 + 1e-9, AXIS_STEP_MM)
    fine_t = np.clip(coarse_t[sample][:, None] + offsets[None, :], start_mm, length_mm)
    fine = source.sample_rays(origin, rays[ray], fine_t).min(axis=1)
    np.minimum.at(smallest, ray, fine)
    return smallest.reshape(directions.shape[:-1])
