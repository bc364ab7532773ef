"""The paper's placement and classification of one foramen (DESIGN.md, "Paper placement").

The channel's proximal end is centred on point b; its axis lies in the plane through b parallel
to the disc mid-plane (beta = 0). Starting straight lateral (alpha = 0) it is turned posteriorly
in 0.5 degree steps until the cylinder no longer meets the iliac bone: that alpha is the
placement and the last contact with the ilium is point c. Where the ilium never meets the
cylinder, alpha is the literature's lower bound, 30 degrees; where the ilium is clear laterally
but meets posterior angles (DESIGN.md is silent), the sweep starts at 30 degrees. Where no angle
up to 90 clears it, the foramen is Group B. Placed, the channel is Group A when it touches none
of the L5 inferior articular process, the L5 transverse process and the nerves (exiting L5 root,
traversing S1 root, dural sac); Group B otherwise, with the parts and depths as reasons (what
counts as touching, and the contacts reported, are :mod:`~lumboplan_app.planning.assessment`'s,
shared with the dragged channel and the feasibility map). A
missing ilium, a missing exiting L5 root on the side, or neither traversing root nor dural sac,
make the foramen "not assessable", never Group A (the sac alone, on the midline, says nothing
of a side whose roots were not found).

Given the scan's field of view (:class:`~lumboplan_app.planning.field_of_view.FieldOfView`),
the placement must also have been seen: where the placed channel's path inside the body leaves
the scan, or where a crest that does not reach the channel's plane in the scan is cut by the
scan's edge the straight lateral channel leaves through, the crest (or another part) may lie
outside the scan and the foramen is "not assessable" with where the scan ends. Line A and
points a and b are kept on every side that has them.

It works on any distance source (a voxel :class:`~lumboplan_app.planning.distance.DistanceField`
or, for the phantom's ground truth, the exact shapes), so the planner and the truth share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import (
    DistanceSource,
    PartContact,
    assess_channel,
    blocking_parts,
    channel_clearances,
    ilium_parts,
    sided,
    touch_limits_mm,
)
from lumboplan_app.planning.channel import Channel, direction_for_pose, line_b_mm, measure_pose
from lumboplan_app.planning.field_of_view import FieldOfView, UnseenPath

FloatArray = npt.NDArray[np.float64]

SWEEP_STEP_DEG = 0.5
LOW_CREST_ALPHA_DEG = 30.0
#: A Group A whose channel passes a blocking part closer than this (mm, about one voxel of a
#: clinical 3-D T2) says so: the contact is within what the voxels can tell.
NEAR_MISS_MM = 1.0
_SKIN_STEP_MM = 0.25
_SKIN_REACH_MM = 400.0


def in_sentence(part: Part) -> str:
    """Return a part's name for the middle of a sentence ("traversing S1 root (left)")."""
    name = part.display_name
    return name[0].lower() + name[1:] if name[1:2].islower() else name


@dataclass(frozen=True)
class SidePlan:
    """The paper's placement of one foramen; group ``"A"``, ``"B"`` or ``"not_assessable"``."""

    group: str
    reasons: tuple[str, ...]
    channel: Channel | None = None
    alpha_deg: float | None = None
    beta_deg: float | None = None
    contacts: tuple[PartContact, ...] = ()
    point_c: tuple[float, float, float] | None = None
    point_d: tuple[float, float, float] | None = None
    line_a_mm: float | None = None
    line_b_mm: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form (the SIDE of DESIGN.md's plan JSON, rounded to 0.01)."""

        def point(value: tuple[float, float, float] | None) -> list[float] | None:
            return None if value is None else [round(v, 2) for v in value]

        def number(value: float | None) -> float | None:
            return None if value is None else round(value, 2) + 0.0  # no "-0.0" in the JSON

        return {
            "group": self.group,
            "reasons": list(self.reasons),
            "alpha_deg": number(self.alpha_deg),
            "beta_deg": number(self.beta_deg),
            "contacts": [contact.to_json() for contact in self.contacts],
            "points_lps_mm": {"c": point(self.point_c), "d": point(self.point_d)},
            "line_a_mm": number(self.line_a_mm),
            "line_b_mm": number(self.line_b_mm),
        }


def paper_placement(
    side: Side,
    point_b: npt.ArrayLike,
    disc_normal: npt.ArrayLike,
    sources: Mapping[Part, DistanceSource],
    skin: DistanceSource | None,
    mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike],
    point_a: npt.ArrayLike | None = None,
    diameter_mm: float = 8.0,
    length_mm: float = 150.0,
    contact_margin_mm: float = 0.0,
    field_of_view: FieldOfView | None = None,
) -> SidePlan:
    """Place the channel by the paper's protocol on one side and classify the foramen.

    Parameters
    ----------
    side : Side
        Which foramen.
    point_b, point_a : (3,) LPS mm
        The channel's tip, and the SAP/IAP crossing (for Line A; optional).
    disc_normal : (3,)
        Normal of the disc mid-plane.
    sources : mapping of Part to DistanceSource
        At least the side's iliac parts, the blocking parts and the reported ones; a part that
        is absent (``present`` False) or missing from the mapping is treated as not found.
    skin : DistanceSource or None
        The skin, for point d and Line B.
    mid_sagittal : (point, normal)
        The mid-sagittal plane, for Line B.
    contact_margin_mm : float
        A blocking part nearer than this counts as touched (0 on exact geometry; on voxels,
        half a voxel: a clearance the scan cannot resolve is never read as a free path).
    field_of_view : FieldOfView or None
        Where the scan ends (None on exact geometry, which is known everywhere): a placement
        that rests on what lies outside it is "not assessable".
    """
    tip = np.asarray(point_b, dtype=np.float64)

    def found(part: Part) -> DistanceSource | None:
        source = sources.get(part)
        return source if source is not None and source.present else None

    has_ilium = any(found(part) is not None for part in ilium_parts(side))
    exiting_root = found(sided(side, Part.L5_ROOT_LEFT, Part.L5_ROOT_RIGHT))
    medial_nerves = [
        part
        for part in (sided(side, Part.S1_ROOT_LEFT, Part.S1_ROOT_RIGHT), Part.DURAL_SAC)
        if found(part) is not None
    ]
    # Line A needs only point a and the exiting root: kept on a side that cannot be classified.
    line_a = None
    if point_a is not None and exiting_root is not None:
        line_a = float(exiting_root.sample(np.asarray(point_a, dtype=np.float64)[None, :])[0])

    def channel_at(alpha_deg: float) -> Channel:
        axis = direction_for_pose(alpha_deg, 0.0, disc_normal, side)
        return Channel(tuple(tip), tuple(axis), diameter_mm, length_mm)

    def not_assessable(*reasons: str) -> SidePlan:
        return SidePlan("not_assessable", reasons, line_a_mm=line_a)

    # A blocking bone that was not segmented cannot be touched: a clear path past it is no
    # evidence (on real scans a model may draw the L5 body without its arch), nor is a map.
    unsegmented = [
        f"No {in_sentence(bone)} found in the L5 labels: the channel cannot be checked "
        "against it. Check L5's arch in the labels (Review tab)."
        for bone in (
            sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT),
            sided(side, Part.L5_TRANSVERSE_PROCESS_LEFT, Part.L5_TRANSVERSE_PROCESS_RIGHT),
        )
        if found(bone) is None
    ]
    missing = []
    if not has_ilium:
        missing.append(_no_ilium_reason(side, channel_at(0.0), skin, mid_sagittal, field_of_view))
    if exiting_root is None:
        # The dural sac of the midline is no evidence for a side whose exiting root is missing.
        missing.append(f"No exiting L5 nerve root found on the {side.value} side.")
    elif not medial_nerves:
        missing.append(f"No traversing S1 nerve root or dural sac found on the {side.value} side.")
    if missing:
        return not_assessable(*missing, *unsegmented)

    limits = touch_limits_mm(side, contact_margin_mm)

    def crest_at(alpha_deg: float) -> tuple[bool, tuple[float, float, float] | None]:
        """Return whether the channel at ``alpha_deg`` touches the ilium, and its deepest point."""
        crest = channel_clearances(channel_at(alpha_deg), sources, ilium_parts(side)).values()
        deepest = min(crest, key=lambda c: c.clearance_mm).closest_point_lps_mm
        return any(c.clearance_mm < limits[c.part] for c in crest), deepest

    # The sweep stops at the first clear angle; the angles beyond it are looked at only where
    # none before touched, to tell a crest that never meets the plane.
    alphas = np.arange(0.0, 90.0 + 1e-9, SWEEP_STEP_DEG)
    lateral_crest = crest_at(0.0)
    start = 0.0 if lateral_crest[0] else LOW_CREST_ALPHA_DEG
    first: int | None = None
    previous: tuple[bool, tuple[float, float, float] | None] = (False, None)
    met = False
    for index, alpha in enumerate(alphas):
        touching, deepest = lateral_crest if index == 0 else crest_at(float(alpha))
        met |= touching
        if alpha >= start - 1e-9 and not touching:
            first = index
            break
        previous = (touching, deepest)
    reasons: list[str] = []
    if first is None:
        # Bone outside the scan could only block more: this holds whatever the scan missed.
        crest_blocks = "No channel angle up to 90 degrees clears the iliac crest."
        if unsegmented:
            return not_assessable(crest_blocks, *unsegmented)
        return SidePlan("B", (crest_blocks,), line_a_mm=line_a)
    if not met and not any(crest_at(float(alpha))[0] for alpha in alphas[first + 1 :]):
        reasons.append("The iliac crest does not reach the channel's plane: it does not constrain.")
    channel = channel_at(float(alphas[first]))
    if field_of_view is not None:
        unseen = field_of_view.unseen_path(channel, skin)
        if unseen is not None:
            # Anything of the path beyond the scan's edge is unseen: the crest may stop the
            # sweep there, a transverse process or a root may lie in it.
            return not_assessable(
                _unseen_path_reason(side, unseen, field_of_view, mid_sagittal), *unsegmented
            )
        lateral = field_of_view.unseen_path(channel_at(0.0), skin) if start > 0 else None
        if lateral is not None and lateral.faces & field_of_view.ilium_faces.get(side, frozenset()):
            # A crest that misses the plane in the scan, cut by the edge the straight lateral
            # channel leaves through, may rise into it outside: the sweep would start at 0.
            return not_assessable(
                _cut_crest_reason(side, lateral, field_of_view, mid_sagittal), *unsegmented
            )
    if unsegmented:
        return not_assessable(*unsegmented)
    point_c = previous[1] if first > 0 and previous[0] else None
    assessment = assess_channel(channel, side, sources, contact_margin_mm)
    reasons.extend(
        f"The channel touches the {in_sentence(c.part)}, {-c.clearance_mm:.1f} mm deep."
        if c.clearance_mm < 0
        else f"The channel passes {c.clearance_mm:.1f} mm from the {in_sentence(c.part)}: "
        f"closer than the scan resolves ({contact_margin_mm:.1f} mm), counted as touching."
        for c in assessment.blocking
    )
    if not assessment.blocking:
        reasons.extend(
            f"Near miss: the channel passes {c.clearance_mm:.1f} mm from the "
            f"{in_sentence(c.part)}, within what the scan's voxels can resolve; check this "
            "foramen on the images."
            for c in assessment.contacts
            if c.part in blocking_parts(side) and c.clearance_mm < NEAR_MISS_MM
        )
    point_d = skin_entry(channel, skin)
    alpha, beta = measure_pose(channel.axis, disc_normal, side)
    return SidePlan(
        group="B" if assessment.blocking else "A",
        reasons=tuple(reasons),
        channel=channel,
        alpha_deg=alpha,
        beta_deg=beta,
        contacts=assessment.contacts,
        point_c=point_c,
        point_d=None if point_d is None else as_point(point_d),
        line_a_mm=line_a,
        line_b_mm=None if point_d is None else line_b_mm(point_d, *mid_sagittal),
    )


def _midline_mm(point: FloatArray, mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike]) -> float:
    """Return a point's distance (mm) from the mid-sagittal plane."""
    origin, normal = (np.asarray(v, dtype=np.float64) for v in mid_sagittal)
    return abs(float((point - origin) @ normal) / float(np.linalg.norm(normal)))


_EDGES = {0: ("right", "left"), 1: ("anterior", "posterior"), 2: ("inferior", "superior")}


def _scan_end(
    side: Side,
    unseen: UnseenPath,
    field_of_view: FieldOfView,
    mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike],
) -> str:
    """Say where a path leaves the scan: "The scan ends 38 mm from the midline on the left"."""
    edges = []
    for face in sorted(unseen.faces):
        normal = field_of_view.face_direction(face)
        axis = int(np.argmax(np.abs(normal)))
        edges.append(_EDGES[axis][int(normal[axis] > 0)])
    if any(edge in ("left", "right") for edge in edges):
        distance = _midline_mm(unseen.point_lps_mm, mid_sagittal)
        return f"The scan ends {distance:.0f} mm from the midline on the {side.value}"
    return f"The scan ends at its {' and '.join(edges)} edge on the {side.value}"


def _unseen_path_reason(
    side: Side,
    unseen: UnseenPath,
    field_of_view: FieldOfView,
    mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike],
) -> str:
    """Return why a placed channel whose path leaves the scan inside the body is not assessed."""
    return (
        f"{_scan_end(side, unseen, field_of_view, mid_sagittal)}: the channel's path leaves it "
        f"{unseen.along_mm:.0f} mm from point b, still inside the body. The iliac crest, or "
        "another part the channel must clear, may lie outside the scan: not assessable. A scan "
        "that covers the iliac crest and the skin on this side is needed."
    )


def _cut_crest_reason(
    side: Side,
    unseen: UnseenPath,
    field_of_view: FieldOfView,
    mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike],
) -> str:
    """Return why a crest that misses the plane in the scan but is cut by its edge is not."""
    return (
        f"{_scan_end(side, unseen, field_of_view, mid_sagittal)} and cuts the iliac bone there: "
        "in the scan the iliac crest does not reach the channel's plane, but outside it the "
        "crest may rise into the channel's path: not assessable. A scan that covers the iliac "
        "crest on this side is needed."
    )


def _no_ilium_reason(
    side: Side,
    lateral: Channel,
    skin: DistanceSource | None,
    mid_sagittal: tuple[npt.ArrayLike, npt.ArrayLike],
    field_of_view: FieldOfView | None,
) -> str:
    """Return why a side without iliac bone is not assessable, with where the scan ends."""
    if field_of_view is None:
        return f"No iliac bone on the {side.value} side in the scan: the crest cannot be assessed."
    unseen = field_of_view.unseen_path(lateral, skin)
    if unseen is None:
        return (
            f"No iliac bone was found on the {side.value} side, although the scan reaches the "
            "skin there: the segmentation may have missed it; the iliac crest cannot be "
            "assessed: not assessable."
        )
    where = _scan_end(side, unseen, field_of_view, mid_sagittal)
    return (
        f"{where} and shows no iliac bone on that side: the iliac crest may lie outside it: "
        "not assessable. A scan that covers the iliac crest on this side is needed."
    )


def skin_entry(channel: Channel, skin: DistanceSource | None) -> FloatArray | None:
    """Return point d: where the axis first leaves the skin's outer surface (None if never)."""
    if skin is None or not skin.present:
        return None
    along = np.arange(0.0, _SKIN_REACH_MM, _SKIN_STEP_MM)
    points = np.asarray(channel.tip_lps_mm) + along[:, None] * channel.axis
    known = skin.covers(points)
    points = points[: int(np.argmin(known)) if not known.all() else len(points)]
    inside = skin.sample(points) < 0
    if not inside.any():
        return None
    entered = int(np.argmax(inside))
    leaving = np.flatnonzero(~inside[entered:])
    if len(leaving) == 0:
        return None
    # The first exit from the skin, within the scan: where the axis leaves the scan before it
    # leaves the skin, point d is not in the scan (None), not guessed from border values.
    return points[entered + int(leaving[0])]


def as_point(values: FloatArray) -> tuple[float, float, float]:
    """Return a point (3,) as a tuple of floats (LPS mm)."""
    x, y, z = (float(v) for v in values)
    return x, y, z
