"""The paper's placement and classification computed on the phantom's exact geometry.

This is ground truth for the planner: it uses the analytic shapes of the true parts (signed
distances), not voxels. Per side (DESIGN.md, "Landmarks and measurements"): the channel (8 mm x
150 mm) has its proximal end centred on point b, its axis in the plane through b parallel to the
disc mid-plane (beta = 0); starting straight lateral it is turned posteriorly until the cylinder
clears the iliac bone. That angle is the placement (alpha, measured in the axial projection); the
last contact with the ilium is point c; where the axis leaves the skin is point d; Line B is
the axial-plane distance from the mid-sagittal line to d; Line A is the shortest distance from
point a to the exiting L5 root. Group A when the placed channel touches
none of the L5 inferior articular process, the L5 transverse process and the nerves; Group B
otherwise, or when no angle up to 90 degrees clears the ilium.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.phantom.anatomy import Anatomy, Piece
from lumboplan_app.phantom.shapes import FloatArray, Shell

CHANNEL_DIAMETER_MM = 8.0
CHANNEL_LENGTH_MM = 150.0
#: Step of the posterior sweep (degrees of rotation in the disc plane).
SWEEP_STEP_DEG = 0.5
#: When the ilium never meets the channel, the literature's lower bound is the placement.
LOW_CREST_ALPHA_DEG = 30.0

_SAMPLE_STEP_MM = 1.0
_RING_ANGLES = 16


@dataclass(frozen=True)
class TruthContact:
    """A part the placed channel touches or comes near: its clearance (negative = depth), mm."""

    part: Part
    clearance_mm: float

    def to_json(self) -> dict[str, Any]:
        """JSON form: structure, part and clearance."""
        return {
            "structure": self.part.structure.name.lower(),
            "part": self.part.name.lower(),
            "clearance_mm": round(self.clearance_mm, 2),
        }


def channel_samples(
    tip: FloatArray, axis: FloatArray, diameter_mm: float, length_mm: float
) -> npt.NDArray[np.float64]:
    """Points (N, 3) covering a cylinder's surface, axis and proximal face, LPS mm."""
    axis = axis / np.linalg.norm(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    angles = np.linspace(0.0, 2 * np.pi, _RING_ANGLES, endpoint=False)
    radius = diameter_mm / 2
    ring = np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second
    offsets = np.concatenate([[np.zeros(3)], radius * ring, 0.5 * radius * ring])
    along = np.arange(0.0, length_mm + 1e-9, _SAMPLE_STEP_MM)
    return (tip[None, None, :] + along[:, None, None] * axis + offsets[None, :, :]).reshape(-1, 3)


def _clearance(pieces: list[Piece], points: FloatArray) -> float:
    """Smallest signed distance (mm) from ``points`` to the pieces' shapes (negative inside)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return float(min(np.min(piece.shape.distance(x, y, z)) for piece in pieces))


def _pieces(anatomy: Anatomy, parts: set[Part]) -> dict[Part, list[Piece]]:
    found: dict[Part, list[Piece]] = {}
    for piece in anatomy.pieces:
        if piece.part in parts:
            found.setdefault(piece.part, []).append(piece)
    return found


def _blocking_parts(side: Side) -> set[Part]:
    left = side is Side.LEFT
    return {
        Part.L5_IAP_LEFT if left else Part.L5_IAP_RIGHT,
        Part.L5_TRANSVERSE_PROCESS_LEFT if left else Part.L5_TRANSVERSE_PROCESS_RIGHT,
        Part.L5_ROOT_LEFT if left else Part.L5_ROOT_RIGHT,
        Part.S1_ROOT_LEFT if left else Part.S1_ROOT_RIGHT,
        Part.DURAL_SAC,
    }


def _reported_parts(side: Side) -> set[Part]:
    left = side is Side.LEFT
    return _blocking_parts(side) | {
        Part.S1_SAP_LEFT if left else Part.S1_SAP_RIGHT,
        Part.S1_ALA_LEFT if left else Part.S1_ALA_RIGHT,
        Part.L5_PEDICLE_LEFT if left else Part.L5_PEDICLE_RIGHT,
        Part.L5_LAMINA,
    }


def plan_side(anatomy: Anatomy, side: Side) -> dict[str, Any]:
    """Return the paper's placement and group for one foramen, from the exact geometry."""
    landmarks = anatomy.landmarks
    tip = np.asarray(landmarks["points_lps_mm"][side.value]["b"], dtype=np.float64)
    normal = np.asarray(landmarks["planes"]["disc_mid"]["normal"], dtype=np.float64)
    lateral = np.array([float(side.lps_sign), 0.0, 0.0])
    lateral = lateral - normal * (lateral @ normal)
    lateral /= np.linalg.norm(lateral)
    posterior = np.cross(normal, lateral) * float(side.lps_sign)
    if posterior[1] < 0:
        posterior = -posterior
    ilium_parts = {
        Part.ILIAC_CREST_LEFT if side is Side.LEFT else Part.ILIAC_CREST_RIGHT,
        Part.ILIAC_WING_LEFT if side is Side.LEFT else Part.ILIAC_WING_RIGHT,
    }
    ilium = [piece for pieces in _pieces(anatomy, ilium_parts).values() for piece in pieces]
    thetas = np.arange(0.0, 90.0 + 1e-9, SWEEP_STEP_DEG)
    touching = np.zeros(len(thetas), dtype=bool)
    deepest: list[FloatArray] = []
    for index, theta in enumerate(thetas):
        axis = np.cos(np.deg2rad(theta)) * lateral + np.sin(np.deg2rad(theta)) * posterior
        points = channel_samples(tip, axis, CHANNEL_DIAMETER_MM, CHANNEL_LENGTH_MM)
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        distance = np.min([piece.shape.distance(x, y, z) for piece in ilium], axis=0)
        touching[index] = bool(np.any(distance < 0))
        deepest.append(points[int(np.argmin(distance))])
    reasons: list[str] = []
    if not touching.any():
        start = _theta_for_alpha(lateral, posterior, LOW_CREST_ALPHA_DEG)
        reasons.append("The iliac crest does not reach the channel's plane: it does not constrain.")
    elif touching[0]:
        start = 0.0
    else:  # clear laterally; the ilium only meets posterior angles: start at the lower bound
        start = _theta_for_alpha(lateral, posterior, LOW_CREST_ALPHA_DEG)
    candidates = np.flatnonzero((thetas >= start - 1e-9) & ~touching)
    if len(candidates) == 0:
        return {
            "group": "B",
            "reasons": ["No channel angle up to 90 degrees clears the iliac crest."],
            "alpha_deg": None,
            "contacts": [],
            "points_lps_mm": {"c": None, "d": None},
            "line_b_mm": None,
            "line_a_mm": None,
        }
    first_clear = int(candidates[0])
    placed_theta = float(thetas[first_clear])
    last_contact = (
        deepest[first_clear - 1] if first_clear > 0 and touching[first_clear - 1] else None
    )
    axis = np.cos(np.deg2rad(placed_theta)) * lateral + np.sin(np.deg2rad(placed_theta)) * posterior
    points = channel_samples(tip, axis, CHANNEL_DIAMETER_MM, CHANNEL_LENGTH_MM)
    contacts = []
    for part, pieces in sorted(_pieces(anatomy, _reported_parts(side)).items()):
        clearance = _clearance(pieces, points)
        if clearance < 3.0:
            contacts.append(TruthContact(part, clearance))
    blocking = [c for c in contacts if c.part in _blocking_parts(side) and c.clearance_mm < 0]
    group = "B" if blocking else "A"
    reasons.extend(
        f"The channel touches the {c.part.display_name.lower()} ({-c.clearance_mm:.1f} mm deep)."
        for c in blocking
    )
    skin_entry = _skin_entry(anatomy, tip, axis)
    root_part = Part.L5_ROOT_LEFT if side is Side.LEFT else Part.L5_ROOT_RIGHT
    point_a = np.asarray(landmarks["points_lps_mm"][side.value]["a"], dtype=np.float64)[None, :]
    line_a = _clearance(_pieces(anatomy, {root_part})[root_part], point_a)
    alpha = float(np.degrees(np.arctan2(abs(axis[1]), abs(axis[0]))))
    return {
        "group": group,
        "reasons": reasons,
        "alpha_deg": round(alpha, 2),
        "contacts": [c.to_json() for c in contacts],
        "points_lps_mm": {
            "c": None if last_contact is None else [round(float(v), 2) for v in last_contact],
            "d": None if skin_entry is None else [round(float(v), 2) for v in skin_entry],
        },
        "line_b_mm": None if skin_entry is None else round(float(abs(skin_entry[0])), 2),
        "line_a_mm": round(line_a, 2),
    }


def _theta_for_alpha(lateral: FloatArray, posterior: FloatArray, alpha_deg: float) -> float:
    """Return the in-plane rotation whose axial projection makes ``alpha_deg`` (degrees)."""
    thetas = np.arange(0.0, 90.0 + 1e-9, 0.05)
    axes = (
        np.cos(np.deg2rad(thetas))[:, None] * lateral
        + np.sin(np.deg2rad(thetas))[:, None] * posterior
    )
    alphas = np.degrees(np.arctan2(np.abs(axes[:, 1]), np.abs(axes[:, 0])))
    return float(thetas[int(np.argmin(np.abs(alphas - alpha_deg)))])


def _skin_entry(anatomy: Anatomy, tip: FloatArray, axis: FloatArray) -> FloatArray | None:
    """Where the channel's axis crosses the outer skin surface (point d), or None if beyond."""
    skin = [piece for piece in anatomy.pieces if piece.part is Part.SKIN]
    if not skin:
        return None
    shell = skin[0].shape
    if not isinstance(shell, Shell):
        return None
    contour = shell.shape
    along = np.arange(0.0, 400.0, 0.25)
    points = tip[None, :] + along[:, None] * axis[None, :]
    outside = contour.distance(points[:, 0], points[:, 1], points[:, 2]) > 0
    if not outside.any():
        return None
    return points[int(np.argmax(outside))]


def plan_truth(anatomy: Anatomy) -> dict[str, Any]:
    """Return both sides' true placement and group (``truth.json``'s ``plan``)."""
    return {side.value: plan_side(anatomy, side) for side in (Side.LEFT, Side.RIGHT)}
