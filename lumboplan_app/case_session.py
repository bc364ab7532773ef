"""The case being worked on, without Qt: scan, labels, plan, channels and the case file.

A :class:`CaseSession` is the window's model (napari's viewer model, a Slicer parameter node):
the views and the case keeper read it and call its methods; it decides what a change means for
the rest of the case:

- new labels (segmented, opened) drop the plan and the channels moved on it, and the views
  move to the L5/S1 disc, the level planned (a real scan is framed wider than its spine);
- an edit of planned labels drops the plan too (its distance fields are of the old labels: a
  channel moved against them could read as clear through a nerve just painted), marks it
  stale, and keeps each side's pose: planning again puts each channel back where it was;
- a reopened case's channels keep the direction they were left in, their tips on the new
  plan's point b (:meth:`CaseSession.restore_channels`);
- what the case file will hold (:meth:`CaseSession.case_file`).

Observers are plain callables, called synchronously after the change with what changed:
``"volume"`` (a new scan: a new, unsaved case), ``"labels"`` (new labels: segmented, opened or
a draft's), ``"edit"`` (the labels corrected in place by :attr:`CaseSession.editor`), ``"plan"``
(a plan arrived or was dropped with the labels), ``"pose"`` (a channel moved) and ``"draft"``
(a draft's confirmations).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Side, Structure
from lumboplan_app.observable import Observable

if TYPE_CHECKING:
    from lumboplan_app.draft import Draft
    from lumboplan_app.editing import LabelEditor, SeedGrower
    from lumboplan_app.planning.channel import Channel
    from lumboplan_app.planning.interactive import ChannelPlanner, PoseAssessment
    from lumboplan_app.planning.plan import CasePlan
    from lumboplan_app.session import CaseFile
    from lumboplan_app.viewing import ViewState
    from lumboplan_app.volume import LabelMap

logger = logging.getLogger(__name__)

#: What changed, as observers are told (:class:`~lumboplan_app.observable.Observable`).
SessionChange = Literal["volume", "labels", "edit", "plan", "pose", "draft"]
#: Poses closer than this (degrees) are the same pose: moving there changes nothing.
_SAME_POSE_DEG = 1e-6


class CaseSession(Observable[SessionChange]):
    """The case shown: its scan and view state, labels and their editor, plan and channels.

    Attributes (read them; change them through the methods)
    ----------
    view : ViewState or None
        The scan shown, its labels, cursor and window (None before a scan is shown).
    editor : LabelEditor or None
        The correction of the labels shown (None without labels).
    draft : Draft or None
        Set when the labels shown are an unverified draft (a refused segmentation): the plan
        is restricted until the surgeon confirms every structure it rests on.
    model : dict or None
        The model that segmented the labels shown (its weights file, SHA-256 and training data,
        as the case file records it), or None for labels given from a file.
    grower : SeedGrower or None
        The strokes of grow from seeds on the labels shown (None until the first stroke;
        dropped with the labels, and when the surgeon finishes growing).
    plan : CasePlan or None
        The plan of the labels shown (None until planned; dropped when the labels change).
    plan_stale : bool
        Whether the labels were edited after the plan that was dropped (plan again).
    planner : ChannelPlanner or None
        Assesses the channels of :attr:`plan` (None without a plan, or when no side has one).
    poses : dict of Side to (float, float)
        Each side's channel pose (alpha, beta degrees about point b), for sides with a channel.
    assessments : dict of Side to PoseAssessment
        What each side's channel touches at its pose.
    active_side : Side
        The side whose channel is moved and shown.
    case_path : Path or None
        Where the case is saved (None: never saved).
    scan_path : Path or None
        The scan shown as it was opened (a folder or file), for the case file's reference.
    series : str or None
        The series shown, when it was chosen from a folder of several.
    """

    def __init__(self) -> None:
        super().__init__()
        self.view: ViewState | None = None
        self.editor: LabelEditor | None = None
        self.grower: SeedGrower | None = None
        self.draft: Draft | None = None
        self.model: dict[str, Any] | None = None
        self.plan: CasePlan | None = None
        self.plan_stale = False
        self.planner: ChannelPlanner | None = None
        self.poses: dict[Side, tuple[float, float]] = {}
        self.assessments: dict[Side, PoseAssessment] = {}
        self.active_side = Side.LEFT
        self.case_path: Path | None = None
        self.scan_path: Path | None = None
        self.series: str | None = None
        self._kept_poses: dict[Side, tuple[float, float]] = {}

    # -- the scan and its labels ----------------------------------------------------------------

    @property
    def labels(self) -> LabelMap | None:
        """The labels shown (structure ids on the scan's grid), or None."""
        return None if self.view is None else self.view.labels

    @property
    def has_case(self) -> bool:
        """Whether there is a case to keep: a scan with labels (a scan alone is not one)."""
        return self.labels is not None

    def show_volume(
        self, view: ViewState, scan_path: Path | None = None, series: str | None = None
    ) -> None:
        """Show a new scan (``view``): a new, unsaved case without labels or plan.

        ``scan_path`` is the scan as opened (None for a volume given in memory), ``series``
        the series chosen from a folder of several.
        """
        self.view = view
        self.scan_path = scan_path
        self.series = series
        self.case_path = None
        self.editor = None
        self.grower = None
        self.draft = None
        self.model = None
        self.plan_stale = False
        self._kept_poses = {}
        self._forget_plan()
        self._notify("volume")

    def set_labels(self, labels: LabelMap, model: dict[str, Any] | None = None) -> None:
        """Show ``labels`` (on the scan's grid) over the scan; the plan and its poses are dropped.

        The cursor moves to the centre of the labelled L5/S1 disc (the voxel nearest its
        centroid), so that the axial view shows the disc; without a disc it stays where it was.
        ``model``: the model that segmented them (:attr:`model`), None for labels given.

        Raises
        ------
        ValueError
            If there is no scan, or the labels do not lie on its grid.
        """
        from lumboplan_app.editing import LabelEditor

        if self.view is None:
            raise ValueError("labels need a scan to lie on")
        self.view.set_labels(labels)
        self.view.set_strokes(None)
        disc = np.nonzero(labels.array == Structure.DISC)
        if disc[0].size:
            self.view.set_cursor([float(axis.mean()) for axis in disc])
        self.editor = LabelEditor(labels)
        self.grower = None
        self.draft = None
        self.model = model
        self.plan_stale = False
        self._kept_poses = {}  # poses kept across edits belong to the labels replaced
        self._forget_plan()
        self._notify("labels")

    def seed_grower(self) -> SeedGrower | None:
        """Return the grow-from-seeds strokes of the labels shown, started on first use.

        None without labels.
        """
        from lumboplan_app.editing import SeedGrower

        if self.view is None or self.view.labels is None:
            return None
        if self.grower is None:
            self.grower = SeedGrower(self.view.volume, self.view.labels)
        return self.grower

    def mark_draft(self, draft: Draft) -> None:
        """Take the labels shown as an unverified ``draft`` (new labels end it).

        A copy of the labels is kept as the draft's original, to tell what was corrected.
        """
        if self.labels is None:
            raise ValueError("a draft needs labels shown")
        draft.original = self.labels.array.copy()
        self.draft = draft
        self._notify("draft")

    def confirm(self, structure: Structure, confirmed: bool = True) -> None:
        """Record that the surgeon confirmed (or no longer confirms) a draft's ``structure``.

        A plan made before is dropped as stale (its sides rest on the old confirmations).
        Nothing happens when the labels are not a draft.
        """
        if self.draft is None:
            return
        if confirmed:
            self.draft.confirmed.add(structure)
        else:
            self.draft.confirmed.discard(structure)
        if self.plan is not None:
            self._drop_plan_as_stale()
            self._notify("plan")
        self._notify("draft")

    def finish_growing(self) -> None:
        """Forget the grow-from-seeds strokes; the labels keep what was grown (undoable)."""
        self.grower = None
        if self.view is not None:
            self.view.set_strokes(None)

    def labels_edited(self) -> bool:
        """Take note that :attr:`editor` changed the labels; True if that dropped the plan.

        A dropped plan is stale and its poses are kept for the next plan.
        """
        if self.view is None:
            return False
        self.view.set_labels(self.view.labels)  # the views redraw the overlay
        if self.draft is not None and self.view.labels is not None:
            self.draft.note_corrections(self.view.labels.array)
        dropped = self.plan is not None
        if dropped:
            self._drop_plan_as_stale()
        self._notify("edit")
        return dropped

    def _drop_plan_as_stale(self) -> None:
        """Drop the plan, keeping each side's pose for the next plan."""
        self._kept_poses = dict(self.poses)
        self._forget_plan()
        self.plan_stale = True

    # -- the plan and the channels --------------------------------------------------------------

    def set_plan(self, plan: CasePlan) -> None:
        """Take ``plan`` (of the labels shown) and put each side's channel on it.

        Each channel starts at the paper's placement, or where the surgeon had it when the
        labels were edited since the last plan. The active side stays if it has a channel,
        else the first side with one does.
        """
        from lumboplan_app.draft import restrict_plan
        from lumboplan_app.planning.interactive import ChannelPlanner

        if self.draft is not None:
            plan = restrict_plan(plan, self.draft)
        self._forget_plan()
        self.plan = plan
        self.plan_stale = False
        try:
            planner = ChannelPlanner(plan)
        except PlanningError:
            logger.info("the plan has no channel to move")
        else:
            kept, self._kept_poses = self._kept_poses, {}
            self.planner = planner
            paper = {side: planner.paper_pose(side) for side in Side}
            self.poses = {
                side: kept.get(side, pose) for side, pose in paper.items() if pose is not None
            }
            self.assessments = {
                side: planner.assess(side, *pose) for side, pose in self.poses.items()
            }
            if self.poses and self.active_side not in self.poses:
                self.active_side = next(iter(self.poses))
        self._notify("plan")

    def set_active_side(self, side: Side) -> bool:
        """Move and show ``side``'s channel from now on; False if it has none."""
        self.active_side = side
        return side in self.poses

    def set_pose(self, alpha_deg: float, beta_deg: float) -> PoseAssessment | None:
        """Put the active side's channel at (alpha, beta) degrees about point b.

        Returns its assessment, or None when the side has no channel. Observers hear ``"pose"``
        only when the channel moved.

        Raises
        ------
        PlanningError
            If no channel has that pose (the planner says why).
        """
        side = self.active_side
        if self.planner is None or side not in self.poses:
            return None
        return self._move(side, self.planner.assess(side, alpha_deg, beta_deg))

    def restore_channels(self, channels: Mapping[Side, Channel]) -> None:
        """Turn each side's channel the way ``channels`` (a case file's) point.

        A channel keeps its direction; its tip is this plan's point b (the labels may have
        moved it). Sides without a channel on this plan, and directions no pose reaches, keep
        the plan's pose.
        """
        planner = self.planner
        if planner is None:
            return
        for side, channel in channels.items():
            if side not in self.poses:
                continue
            towards = planner.point_b(side) + 100.0 * np.asarray(channel.axis, dtype=np.float64)
            try:
                self._move(side, planner.assess_towards(side, towards))
            except PlanningError:
                logger.info("the %s channel of the case could not be restored", side.value)

    def _move(self, side: Side, assessment: PoseAssessment) -> PoseAssessment:
        """Keep ``assessment`` as ``side``'s channel; tell observers if the pose changed."""
        before, now = self.poses[side], (assessment.alpha_deg, assessment.beta_deg)
        self.poses[side] = now
        self.assessments[side] = assessment
        if max(abs(a - b) for a, b in zip(before, now, strict=True)) > _SAME_POSE_DEG:
            self._notify("pose")
        return assessment

    def _forget_plan(self) -> None:
        self.plan = None
        self.planner = None
        self.poses = {}
        self.assessments = {}

    # -- the case file ----------------------------------------------------------------------------

    def report_case(self) -> CaseFile | None:
        """Return the case the report shows; None without a plan.

        The plan's own placement on both sides (not the channels as moved) and, for a draft,
        its record (what was confirmed and corrected by hand).
        """
        from lumboplan_app.session import case_from_plan

        if self.plan is None or self.view is None or self.view.labels is None:
            return None
        return case_from_plan(
            self.plan, self.view.labels, self.view.volume, model=self.model, draft=self.draft
        )

    def case_file(self) -> CaseFile | None:
        """Return what the case file will hold: labels, plan, channels as left; None without labels.

        The labels are the ones shown (not a copy: copy them before writing in the background
        while edits go on).
        """
        from lumboplan_app.session import CaseFile, channel_json, scan_summary

        labels = self.labels
        if self.view is None or labels is None:
            return None
        volume = self.view.volume
        patient = volume.meta.patient
        plan = self.plan
        return CaseFile(
            labels=labels,
            plan={} if plan is None else plan.to_json(),
            parts=None if plan is None else plan.parts,
            scan={
                "reference": None if self.scan_path is None else str(self.scan_path),
                "series_id": self.series,
                "summary": scan_summary(volume),
            },
            channels={
                side.value: channel_json(
                    self.assessments[side].channel if side in self.assessments else None
                )
                for side in Side
            },
            patient=patient if any((patient.name, patient.patient_id)) else None,
            model=self.model,
            draft=None if self.draft is None else self.draft.to_json(),
        )
