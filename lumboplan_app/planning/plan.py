"""Plan both foramina of a case: placement, group, feasibility map, best free trajectory.

The input is the seven structures, or a part map with its landmarks (the phantom's truth).

:func:`plan_from_labels` is what ``lumboplan plan`` and the window run: it derives the parts and
landmarks (:mod:`lumboplan_app.planning.parts`), builds one distance field per part, places the
channel by the paper's protocol and maps the free poses. A case whose disc, L5 or S1 is missing
has no frame to plan in: both sides come back "not assessable" with the reason, never a guess.
A case whose parts cannot be told apart (L5 or S1 not found at the midline) keeps its two
planes, when the structures give them, so that its report can still show the disc plane. A side
whose L5 pedicle is not found has no point b: that side alone is "not assessable".

The scan's field of view goes with every voxel plan: a placement that rests on what lies outside
the scan is "not assessable" (:mod:`lumboplan_app.planning.field_of_view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import checked_parts, ilium_parts
from lumboplan_app.planning.distance import DistanceField, fields_of_labels
from lumboplan_app.planning.feasibility import BestPose, FeasibilityMap, feasibility_map
from lumboplan_app.planning.field_of_view import FieldOfView
from lumboplan_app.planning.parts import PEDICLE_MEDIAL_MM, anatomical_frame, derive_anatomy
from lumboplan_app.planning.placement import SidePlan, paper_placement
from lumboplan_app.progress import ProgressCallback
from lumboplan_app.threads import map_in_threads
from lumboplan_app.volume import LabelMap

PLAN_SCHEMA = "lumboplan.plan/1"


@dataclass(frozen=True)
class ChannelSize:
    """The working channel's size (mm)."""

    diameter_mm: float = 8.0
    length_mm: float = 150.0


@dataclass(frozen=True)
class CasePlan:
    """Both sides' assessments, with the landmarks and maps they rest on.

    ``landmarks`` is in ``truth.json``'s form (``points_lps_mm``, ``planes``); ``parts`` is the
    derived part map (None when it could not be derived).
    """

    sides: dict[Side, SidePlan]
    landmarks: dict[str, Any] = field(default_factory=dict)
    maps: dict[Side, FeasibilityMap] = field(default_factory=dict)
    parts: LabelMap | None = None
    channel: ChannelSize = ChannelSize()
    #: A blocking part nearer than this (mm) counts as touched (see :func:`contact_margin_mm`).
    contact_margin_mm: float = 0.0
    #: The distance fields the plan sampled, kept for re-assessing dragged poses (not saved).
    fields: Mapping[Part, DistanceField] = field(default_factory=dict, repr=False, compare=False)
    skin: DistanceField | None = field(default=None, repr=False, compare=False)
    #: Where the scan ends, kept for judging dragged poses (not saved).
    field_of_view: FieldOfView | None = field(default=None, repr=False, compare=False)

    def best_free(self, side: Side) -> BestPose | None:
        """Return the side's best free trajectory (None without a map or a free pose)."""
        found = self.maps.get(side)
        return None if found is None else found.best()

    def to_json(self) -> dict[str, Any]:
        """Return the plan JSON (schema ``lumboplan.plan/1``, docs/plan-json.md)."""
        sides = {}
        for side, plan in self.sides.items():
            entry = plan.to_json()
            points = self.landmarks.get("points_lps_mm", {}).get(side.value, {})
            for name in ("a", "b"):
                value = points.get(name)
                entry["points_lps_mm"][name] = (
                    None if value is None else [round(float(v), 2) for v in value]
                )
            best = self.best_free(side)
            entry["best_free"] = None if best is None else best.to_json()
            found = self.maps.get(side)
            entry["feasibility_map"] = None if found is None else found.to_json()
            sides[side.value] = entry
        planes = {
            name: {key: [round(float(v), 4) for v in values] for key, values in plane.items()}
            for name, plane in self.landmarks.get("planes", {}).items()
        }
        return {
            "schema": PLAN_SCHEMA,
            "channel": {
                "diameter_mm": self.channel.diameter_mm,
                "length_mm": self.channel.length_mm,
            },
            "planes": planes,
            "sides": {side.value: sides[side.value] for side in Side if side in self.sides},
        }


def needed_parts() -> set[Part]:
    """Return the parts whose fields the placement and the maps sample (both sides)."""
    return {part for side in Side for part in checked_parts(side)}


#: How far around each part its field is exact (mm). Contacts, the crest sweep and the map
#: need only the near field (the map's clearances are capped there, never overstated); Line A,
#: point a's distance to the exiting root, reaches 25 mm, so the roots keep 40 mm.
FIELD_MARGIN_MM = 20.0
ROOT_FIELD_MARGIN_MM = 40.0
#: The skin's field is read only for its sign (inside the skin or not: point d, where the body
#: ends). Its box holds every skin voxel, so the sign is exact in the box grown by a voxel and
#: positive beyond, whatever the margin; a wide margin only computes more air.
SKIN_FIELD_MARGIN_MM = 5.0


def contact_margin_mm(parts: LabelMap) -> float:
    """Return the contact margin of a voxel plan: half the largest voxel side (mm).

    On phantoms at 1 mm, the parts derived from the structures put blocking contacts 0.1-0.4 mm
    deep in the truth 0.1-0.4 mm clear (false Group A); a clearance under half a voxel is
    within what the scan can tell, and is counted as a contact.
    """
    return 0.5 * float(max(parts.grid.spacing_xyz_mm))


def plan_fields(parts: LabelMap) -> tuple[dict[Part, DistanceField], DistanceField]:
    """Build the plan's signed distance fields: one per needed part, and the skin's.

    Absent parts give absent fields. The skin's field is exact within
    :data:`SKIN_FIELD_MARGIN_MM` of its box; all are built in one pool of threads.
    """
    roots = {Part.L5_ROOT_LEFT, Part.L5_ROOT_RIGHT}
    margins = {
        int(part): ROOT_FIELD_MARGIN_MM if part in roots else FIELD_MARGIN_MM
        for part in sorted(needed_parts())
    }
    margins[int(Part.SKIN)] = SKIN_FIELD_MARGIN_MM
    fields = {Part(label): field for label, field in fields_of_labels(parts, margins).items()}
    return fields, fields.pop(Part.SKIN)


def plan_from_parts(
    parts: LabelMap,
    landmarks: Mapping[str, Any],
    channel: ChannelSize = ChannelSize(),
    with_maps: bool = True,
    progress: ProgressCallback | None = None,
) -> CasePlan:
    """Place the channel by the paper's protocol on each side of a part map, and map the poses.

    Parameters
    ----------
    parts : LabelMap
        Part ids (``lumboplan_app.labels.Part``).
    landmarks : mapping
        ``points_lps_mm`` ({left, right}: {a, b}) and ``planes`` ({mid_sagittal, disc_mid}:
        {point, normal}), in LPS mm, as in a phantom's ``truth.json``.
    """
    fields, skin = plan_fields(parts)
    margin = contact_margin_mm(parts)
    if progress is not None:
        progress(0.5, "Distance fields ready")
    field_of_view = FieldOfView.of_label_map(parts, {side: ilium_parts(side) for side in Side})
    planes = landmarks["planes"]
    mid_sagittal = (planes["mid_sagittal"]["point"], planes["mid_sagittal"]["normal"])

    def plan_side(side: Side) -> tuple[SidePlan, FeasibilityMap | None]:
        points = landmarks["points_lps_mm"][side.value]
        if points.get("b") is None:
            return SidePlan("not_assessable", (_no_point_b_reason(side),)), None
        placed = paper_placement(
            side,
            points["b"],
            planes["disc_mid"]["normal"],
            fields,
            skin,
            mid_sagittal,
            point_a=points.get("a"),
            diameter_mm=channel.diameter_mm,
            length_mm=channel.length_mm,
            contact_margin_mm=margin,
            field_of_view=field_of_view,
        )
        # A side without its nerves or ilium has no map: the missing parts would read as free.
        if not with_maps or placed.group == "not_assessable":
            return placed, None
        mapped = feasibility_map(
            side,
            points["b"],
            planes["disc_mid"]["normal"],
            fields,
            channel.diameter_mm,
            channel.length_mm,
            contact_margin_mm=margin,
            field_of_view=field_of_view,
            skin=skin,
        )
        return placed, mapped

    sides, maps = {}, {}
    for side, (placed, mapped) in zip(Side, map_in_threads(plan_side, Side), strict=True):
        sides[side] = placed
        if mapped is not None:
            maps[side] = mapped
    if progress is not None:
        progress(1.0, "Both foramina planned")
    return CasePlan(
        sides, dict(landmarks), maps, parts, channel, margin, fields, skin, field_of_view
    )


def _no_point_b_reason(side: Side) -> str:
    """Why a side without point b is not assessable, and what the surgeon can check."""
    low, high = PEDICLE_MEDIAL_MM
    return (
        f"The {side.value} L5 pedicle was not found where a pedicle lies (its medial border "
        f"{low:.0f}-{high:.0f} mm from the midline): point b, the channel's target, cannot be "
        "placed. Check L5's arch in the labels (Review tab)."
    )


def plan_from_labels(
    labels: LabelMap,
    channel: ChannelSize = ChannelSize(),
    with_maps: bool = True,
    progress: ProgressCallback | None = None,
) -> CasePlan:
    """Derive the parts and landmarks from a structure label map and plan both sides.

    A label map without the disc, L5 or S1 gives both sides "not assessable" with the reason; so
    does one whose parts cannot be derived, which keeps the two planes when they can be placed.
    """
    try:
        derived = derive_anatomy(labels)
    except PlanningError as error:
        reason = f"{error} Both foramina are not assessable."
        sides = {side: SidePlan("not_assessable", (reason,)) for side in Side}
        return CasePlan(sides, _planes_only(labels), channel=channel)
    if progress is not None:
        progress(0.2, "Parts and landmarks derived")
    return plan_from_parts(derived.parts, derived.landmarks, channel, with_maps, progress)


def _planes_only(labels: LabelMap) -> dict[str, Any]:
    """Return the landmarks of a case whose parts could not be derived: its planes, if any."""
    try:
        frame = anatomical_frame(labels)
    except PlanningError:
        return {}
    origin = frame.origin.tolist()
    return {
        "planes": {
            "mid_sagittal": {"point": origin, "normal": frame.axes[0].tolist()},
            "disc_mid": {"point": origin, "normal": frame.axes[2].tolist()},
        }
    }
