"""The paper's placement and classification on the phantom's exact geometry: ground truth.

The same protocol as the planner (:func:`lumboplan_app.planning.placement.paper_placement`),
fed with the true parts' analytic signed distances instead of voxel fields, so it is the
reference the planner is held against: its alpha, contacts, points c and d, Line A and Line B.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.phantom.anatomy import Anatomy, Piece
from lumboplan_app.planning.assessment import checked_parts
from lumboplan_app.planning.placement import paper_placement


class ShapeSource:
    """Exact signed distance (mm) to the union of a part's pieces."""

    present = True

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces

    def sample(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the signed distance at points ``(..., 3)``."""
        points = np.asarray(points_lps_mm, dtype=np.float64)
        flat = points.reshape(-1, 3)
        x, y, z = flat[:, 0], flat[:, 1], flat[:, 2]
        distances = np.min([piece.shape.distance(x, y, z) for piece in self.pieces], axis=0)
        return np.asarray(distances, dtype=np.float64).reshape(points.shape[:-1])

    def covers(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Return True everywhere: the exact shapes are known in all space."""
        return np.ones(np.asarray(points_lps_mm).shape[:-1], dtype=bool)


def plan_side(anatomy: Anatomy, side: Side) -> dict[str, Any]:
    """Return the true placement and group of one foramen (``truth.json``'s ``plan.SIDE``)."""
    landmarks = anatomy.landmarks
    wanted = {*checked_parts(side), Part.SKIN}
    pieces: dict[Part, list[Piece]] = {}
    for piece in anatomy.pieces:
        if piece.part in wanted:
            pieces.setdefault(piece.part, []).append(piece)
    sources = {part: ShapeSource(found) for part, found in pieces.items()}
    planes = landmarks["planes"]
    points = landmarks["points_lps_mm"][side.value]
    plan = paper_placement(
        side,
        points["b"],
        planes["disc_mid"]["normal"],
        sources,
        sources.get(Part.SKIN),
        (planes["mid_sagittal"]["point"], planes["mid_sagittal"]["normal"]),
        point_a=points["a"],
    )
    return plan.to_json()


def plan_truth(anatomy: Anatomy) -> dict[str, Any]:
    """Return both sides' true placement and group (``truth.json``'s ``plan``)."""
    return {side.value: plan_side(anatomy, side) for side in (Side.LEFT, Side.RIGHT)}
