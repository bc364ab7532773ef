"""Landmark planes derived from the segmented structures (DESIGN.md, "Landmarks").

- Disc mid-plane: through the centroid of the L5/S1 disc, normal to its thinnest direction (the
  smallest principal axis of its voxels' positions), pointing cranially.
- Mid-sagittal plane: the plane of left-right symmetry of L5 and S1. In every antero-posterior
  row of the image that crosses them, the middle of their left-right extent lies on it; a plane
  ``x = x0 + gy * y + gz * z`` fitted to those midpoints with a robust (median-residual) fit
  ignores the rows that asymmetric posterior elements or a herniation shift.

Both are returned as (point, unit normal) in LPS mm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Structure
from lumboplan_app.volume import LabelMap

FloatArray = npt.NDArray[np.float64]
#: Fewest voxels of a structure a plane is fitted to.
_MINIMUM_VOXELS = 50


def disc_mid_plane(labels: LabelMap) -> tuple[FloatArray, FloatArray]:
    """Return the disc mid-plane (centroid, cranial unit normal) of the L5/S1 disc.

    Raises
    ------
    PlanningError
        If the disc is missing or too small to have a shape.
    """
    index = np.argwhere(labels.array == Structure.DISC)
    if len(index) < _MINIMUM_VOXELS:
        raise PlanningError("The L5/S1 disc was not found: the disc plane cannot be placed.")
    points = labels.grid.index_to_lps(index.astype(np.float64))
    centroid = points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((points - centroid).T))
    normal = vectors[:, 0]  # eigh sorts ascending: the thinnest direction
    return centroid, normal if normal[2] >= 0 else -normal


def mid_sagittal_plane(labels: LabelMap) -> tuple[FloatArray, FloatArray]:
    """Return the mid-sagittal plane (a point, unit normal toward the patient's left).

    Raises
    ------
    PlanningError
        If L5 and S1 are missing.
    """
    mask = np.isin(labels.array, [Structure.L5, Structure.S1])
    if mask.sum() < _MINIMUM_VOXELS:
        raise PlanningError("L5 and S1 were not found: the mid-sagittal plane cannot be placed.")
    grid = labels.grid
    rows = np.argwhere(mask.any(axis=2))  # (z, y) rows that cross the bones
    first = np.argmax(mask[rows[:, 0], rows[:, 1], :], axis=1)
    last = mask.shape[2] - 1 - np.argmax(mask[rows[:, 0], rows[:, 1], ::-1], axis=1)
    middle = np.column_stack([rows[:, 0], rows[:, 1], (first + last) / 2.0])
    points = grid.index_to_lps(middle)
    design = np.column_stack([np.ones(len(points)), points[:, 1], points[:, 2]])
    keep = np.ones(len(points), dtype=bool)
    for _ in range(3):  # refit on the rows whose midpoint the plane explains
        solution, *_ = np.linalg.lstsq(design[keep], points[keep, 0], rcond=None)
        residual = np.abs(design @ solution - points[:, 0])
        keep = residual <= max(2.5 * float(np.median(residual[keep])), min(grid.spacing_xyz_mm))
    x0, gy, gz = solution
    normal = np.array([1.0, -gy, -gz])
    normal /= np.linalg.norm(normal)
    point = np.array([x0, 0.0, 0.0])
    return point, normal


def plane_axes(plan: Mapping[str, Any]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the plan's frame: origin and unit axes u (left), v (posterior), w (cranial).

    ``plan`` holds ``planes`` (``disc_mid`` and ``mid_sagittal``: point and normal, LPS mm) as
    the plan JSON and :attr:`CasePlan.landmarks` do; the origin is on both planes.
    """
    planes = plan["planes"]
    w = np.asarray(planes["disc_mid"]["normal"], dtype=np.float64)
    left = np.asarray(planes["mid_sagittal"]["normal"], dtype=np.float64)
    u = left - (left @ w) * w
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    disc_point = np.asarray(planes["disc_mid"]["point"], dtype=np.float64)
    mid_point = np.asarray(planes["mid_sagittal"]["point"], dtype=np.float64)
    origin = disc_point - ((disc_point - mid_point) @ left) / (u @ left) * u
    return origin, u, v, w
