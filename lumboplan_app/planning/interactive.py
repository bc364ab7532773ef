"""Re-assess the working channel at any pose, for the surgeon who drags it (issue 7).

The paper's placement (:mod:`~lumboplan_app.planning.placement`) gives each foramen its group;
a surgeon then moves the channel to see what another path would meet. A :class:`ChannelPlanner`
keeps the plan's distance fields and assesses one pose in a few milliseconds: the channel pivots
about point b, and the pose is "clear" when it touches none of the parts a free path must clear,
by the rule the placement and the feasibility map share
(:func:`~lumboplan_app.planning.assessment.assess_channel`): at the paper's pose the drag shows
the plan's own contacts. The group of the foramen stays the paper's; a dragged pose is a
what-if, reported with its contacts, alpha, beta, point d and Line B. A pose whose path inside
the body leaves the scan is never "clear": what it would meet beyond the scan's edge is unseen
(:mod:`~lumboplan_app.planning.field_of_view`), as the placement says for the paper's pose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import PartContact, assess_channel, ilium_parts, sided
from lumboplan_app.planning.channel import (
    Channel,
    axial_offset_mm,
    direction_for_pose,
    line_b_mm,
    measure_pose,
)
from lumboplan_app.planning.distance import DistanceField
from lumboplan_app.planning.field_of_view import FieldOfView
from lumboplan_app.planning.placement import as_point, in_sentence, skin_entry
from lumboplan_app.planning.plan import CasePlan, plan_fields
from lumboplan_app.volume import LabelMap

FloatArray = npt.NDArray[np.float64]

#: Poses a dragged channel may take: alpha from straight lateral to straight posterior (and a
#: little beyond, where a surgeon may look), beta within the feasibility map's range (degrees).
ALPHA_RANGE_DEG = (-10.0, 100.0)
BETA_RANGE_DEG = (-30.0, 30.0)


@dataclass(frozen=True)
class PoseAssessment:
    """One pose of one side's channel: what it touches and its measurements.

    ``contacts`` holds every checked part nearer than 3 mm (negative clearance: depth, mm),
    nearest first; ``blocked_by`` the ones a free path must clear that it touches
    (:func:`~lumboplan_app.planning.assessment.assess_channel`). ``point_d`` is the skin entry
    (LPS mm, None when the axis leaves the scan first). ``unseen_from_mm`` is how far from point
    b the channel's path inside the body leaves the scan (None when the scan shows all of it).
    """

    side: Side
    alpha_deg: float
    beta_deg: float
    channel: Channel
    contacts: tuple[PartContact, ...]
    blocked_by: tuple[PartContact, ...]
    point_d: tuple[float, float, float] | None
    line_b_mm: float | None
    unseen_from_mm: float | None = None

    @property
    def clear(self) -> bool:
        """Whether the pose touches none of the parts a free path must clear, all of it seen."""
        return not self.blocked_by and self.unseen_from_mm is None

    @property
    def outer_end_lps_mm(self) -> FloatArray:
        """The channel's outer end (LPS mm): point b plus the length along the axis."""
        return np.asarray(self.channel.tip_lps_mm) + self.channel.length_mm * self.channel.axis

    def to_json(self) -> dict[str, object]:
        """Return the pose's JSON form: angles, clear, contacts, point d, Line B (0.01)."""
        return {
            "side": self.side.value,
            "alpha_deg": round(self.alpha_deg, 2) + 0.0,
            "beta_deg": round(self.beta_deg, 2) + 0.0,
            "clear": self.clear,
            "summary": self.summary(),
            "blocked_by": [contact.to_json() for contact in self.blocked_by],
            "contacts": [contact.to_json() for contact in self.contacts],
            "point_d_lps_mm": None if self.point_d is None else [round(v, 2) for v in self.point_d],
            "line_b_mm": None if self.line_b_mm is None else round(self.line_b_mm, 2),
            "unseen_from_mm": (
                None if self.unseen_from_mm is None else round(self.unseen_from_mm, 1)
            ),
        }

    def summary(self) -> str:
        """One sentence for the surgeon: clear, what it touches and how deep, or unseen."""
        if self.clear:
            return "Clear path: " + self._clear_of()
        if not self.blocked_by:
            return (
                f"Cannot be judged: the path leaves the scan {self.unseen_from_mm:.0f} mm from "
                "point b, still inside the body; what lies beyond the scan's edge is unseen."
            )
        worst = min(self.blocked_by, key=lambda contact: contact.clearance_mm)
        depth = (
            f"{-worst.clearance_mm:.1f} mm deep"
            if worst.clearance_mm < 0
            else f"{worst.clearance_mm:.1f} mm away, within the scan's resolution"
        )
        others = len(self.blocked_by) - 1
        more = f" and {others} more part{'s' if others > 1 else ''}" if others else ""
        return f"Touches the {in_sentence(worst.part)}{more}: {depth}."

    def _clear_of(self) -> str:
        """Return what a clear pose clears, and any part it reaches into that blocks nothing.

        A reported neighbour (the S1 superior articular process, the lamina) does not block the
        approach (DESIGN.md, "Classification"), but a surgeon who sees its negative clearance in
        the part list must read the same in the sentence.
        """
        cleared = "the channel touches no blocking part, nerve, ilium, ala or pedicle."
        entered = [contact for contact in self.contacts if contact.clearance_mm < 0]
        if not entered:
            return cleared
        deepest = min(entered, key=lambda contact: contact.clearance_mm)
        others = len(entered) - 1
        more = f" (and {others} more part{'s' if others > 1 else ''})" if others else ""
        return (
            f"{cleared[:-1]}; it passes {-deepest.clearance_mm:.1f} mm into the "
            f"{in_sentence(deepest.part)}{more}, which does not block the approach."
        )


class ChannelPlanner:
    """Assess a side's channel at any pose of a :class:`CasePlan` (a few ms a pose).

    Parameters
    ----------
    plan : CasePlan
        A plan with its landmarks; its distance fields are used when it kept them
        (:func:`~lumboplan_app.planning.plan.plan_from_parts` does), else built from its parts
        (seconds: do it in a worker).

    Raises
    ------
    PlanningError
        If the plan has neither fields nor a part map (both sides were not assessable).
    """

    def __init__(self, plan: CasePlan) -> None:
        fields: Mapping[Part, DistanceField] = plan.fields
        skin = plan.skin
        if not fields:
            if plan.parts is None:
                raise PlanningError(
                    "This plan has no parts to assess a channel against: plan the case again."
                )
            fields, skin = plan_fields(plan.parts)
        self.plan = plan
        self._fields = fields
        self._skin = skin
        self._field_of_view = plan.field_of_view
        if self._field_of_view is None and plan.parts is not None:
            self._field_of_view = FieldOfView.of_label_map(
                plan.parts, {side: ilium_parts(side) for side in Side}
            )
        planes = plan.landmarks.get("planes", {})
        self._disc_normal = np.asarray(planes["disc_mid"]["normal"], dtype=np.float64)
        self._mid_sagittal = (
            np.asarray(planes["mid_sagittal"]["point"], dtype=np.float64),
            np.asarray(planes["mid_sagittal"]["normal"], dtype=np.float64),
        )

    def assessable(self, side: Side) -> bool:
        """Whether the side was assessable (has a placed channel to start from)."""
        found = self.plan.sides.get(side)
        return found is not None and found.channel is not None

    def point_b(self, side: Side) -> FloatArray:
        """Point b of ``side`` (LPS mm): the pivot of the channel.

        Raises
        ------
        PlanningError
            If the side has no point b (its L5 pedicle was not found).
        """
        found = self.plan.landmarks.get("points_lps_mm", {}).get(side.value, {}).get("b")
        if found is None:
            raise PlanningError(f"The {side.value} foramen has no point b: there is no channel.")
        return np.asarray(found, dtype=np.float64)

    def paper_pose(self, side: Side) -> tuple[float, float] | None:
        """Return the paper's placement (alpha, beta degrees); None if the side was not placed."""
        found = self.plan.sides.get(side)
        if found is None or found.alpha_deg is None or found.beta_deg is None:
            return None
        return found.alpha_deg, found.beta_deg

    def best_pose(self, side: Side) -> tuple[float, float] | None:
        """Return the best free trajectory's pose (degrees); None without a map or free pose."""
        best = self.plan.best_free(side)
        return None if best is None else (best.alpha_deg, best.beta_deg)

    def pose_towards(self, side: Side, point_lps_mm: npt.ArrayLike) -> tuple[float, float]:
        """Return the pose (alpha, beta degrees) whose axis points from b towards ``point_lps_mm``.

        The result is clamped to the poses a dragged channel may take, so a drag past the
        midline or straight up keeps the channel on its side.
        """
        direction = np.asarray(point_lps_mm, dtype=np.float64) - self.point_b(side)
        if float(np.linalg.norm(direction)) < 1e-6:
            raise PlanningError("Drag the channel's outer end away from its tip (point b).")
        alpha, beta = measure_pose(direction, self._disc_normal, side)
        return (
            float(np.clip(alpha, *ALPHA_RANGE_DEG)),
            float(np.clip(beta, *BETA_RANGE_DEG)),
        )

    def assess(self, side: Side, alpha_deg: float, beta_deg: float) -> PoseAssessment:
        """Place the channel at (``alpha_deg``, ``beta_deg``) about b and measure what it meets.

        Raises
        ------
        PlanningError
            If the side was not assessable, or no direction has these angles.
        """
        if not self.assessable(side):
            raise PlanningError(
                f"The {side.value} foramen is not assessable: there is no channel to move."
            )
        size = self.plan.channel
        axis = direction_for_pose(alpha_deg, beta_deg, self._disc_normal, side)
        channel = Channel(tuple(self.point_b(side)), tuple(axis), size.diameter_mm, size.length_mm)
        found = assess_channel(channel, side, self._fields, self.plan.contact_margin_mm)
        point_d = skin_entry(channel, self._skin)
        measured_alpha, measured_beta = measure_pose(axis, self._disc_normal, side)
        unseen = (
            None
            if self._field_of_view is None
            else self._field_of_view.unseen_path(channel, self._skin)
        )
        return PoseAssessment(
            side=side,
            alpha_deg=measured_alpha,
            beta_deg=measured_beta,
            channel=channel,
            contacts=found.contacts,
            blocked_by=found.touching,
            point_d=None if point_d is None else as_point(point_d),
            line_b_mm=None if point_d is None else line_b_mm(point_d, *self._mid_sagittal),
            unseen_from_mm=None if unseen is None else unseen.along_mm,
        )

    def line_a_segment(self, side: Side) -> tuple[FloatArray, FloatArray] | None:
        """Return Line A as drawn: point a and the exiting root's nearest voxel centre (LPS mm).

        None when point a or the root is missing.
        """
        point_a = self.plan.landmarks.get("points_lps_mm", {}).get(side.value, {}).get("a")
        return line_a_segment(point_a, self.plan.parts, side)

    def line_b_segment(self, assessment: PoseAssessment) -> tuple[FloatArray, FloatArray] | None:
        """Return Line B as drawn: point d and its foot on the mid-sagittal plane (LPS mm).

        The foot is taken in the axial plane through d, as Line B is measured; None without d.
        """
        if assessment.point_d is None:
            return None
        point_d = np.asarray(assessment.point_d, dtype=np.float64)
        distance, direction = axial_offset_mm(point_d, *self._mid_sagittal)
        return point_d, point_d - distance * direction

    def assess_towards(self, side: Side, point_lps_mm: npt.ArrayLike) -> PoseAssessment:
        """Assess the pose pointing from b towards ``point_lps_mm`` (a dragged outer end)."""
        return self.assess(side, *self.pose_towards(side, point_lps_mm))


def line_a_segment(
    point_a_lps_mm: npt.ArrayLike | None, parts: LabelMap | None, side: Side
) -> tuple[FloatArray, FloatArray] | None:
    """Return Line A: point a and the side's exiting root's nearest voxel centre (LPS mm).

    None when point a, the part map or the root is missing.
    """
    if point_a_lps_mm is None or parts is None:
        return None
    root = sided(side, Part.L5_ROOT_LEFT, Part.L5_ROOT_RIGHT)
    voxels = np.argwhere(parts.array == root)
    if len(voxels) == 0:
        return None
    start = np.asarray(point_a_lps_mm, dtype=np.float64)
    centres = parts.grid.index_to_lps(voxels)
    nearest = centres[int(np.argmin(np.linalg.norm(centres - start, axis=1)))]
    return start, nearest
