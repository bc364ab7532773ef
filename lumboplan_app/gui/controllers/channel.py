"""The moved channel: the side shown, its pose (dragged, typed, reset, snapped) and its drawing.

:class:`ChannelController` turns the surgeon's gestures (the outer end dragged in 3-D, the
channel turned in a slice view, a pose typed in the foramen panel, reset, snap, switch side)
into :class:`~lumboplan_app.case_session.CaseSession` calls, and draws what the session then
holds: both channels, the moved one's points, lines and touched parts, in the slice views,
the 3-D pane and the foramen panel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Side
from lumboplan_app.viewing import PLANE_AXIS, Plane

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.panels.foramen import ForamenPanel
    from lumboplan_app.gui.views.slice_view import SliceView
    from lumboplan_app.gui.views.view3d import View3D
    from lumboplan_app.planning.interactive import PoseAssessment


class ChannelController(QObject):
    """Moves the active side's channel through the session and draws both sides' channels.

    Parameters
    ----------
    session : CaseSession
        The case (its planner, poses, assessments and active side).
    views : mapping of Plane to SliceView
        The slice views: they draw the moved channel and report it dragged.
    view3d : View3D
        The 3-D pane: its handle is the channel's outer end.
    panel : ForamenPanel
        Shows the side's result and chooses side and pose.
    status : callable
        ``status(message, timeout_ms)`` shows a message in the status bar.
    parent : QObject, optional
        The Qt parent (the window).

    Signals
    -------
    moved(object)
        The channel was assessed at a new pose (the ``PoseAssessment``).
    side_shown(object)
        The side shown and moved changed (the ``Side``).
    """

    moved = Signal(object)
    side_shown = Signal(object)

    def __init__(
        self,
        session: CaseSession,
        views: Mapping[Plane, SliceView],
        view3d: View3D,
        panel: ForamenPanel,
        status: Callable[[str, int], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.views = views
        self.view3d = view3d
        self.panel = panel
        self._status = status
        #: How long the last update of the moved channel took (ms).
        self.last_update_ms = 0.0
        self._line_a: dict[Side, tuple[object, object] | None] = {}
        view3d.view.outer_end_dragged.connect(self.move_end)
        for view in views.values():
            view.channel_dragged.connect(self._on_view_channel_dragged)
        panel.side_changed.connect(self.set_active_side)
        panel.pose_chosen.connect(self.set_pose)
        panel.reset_requested.connect(self.reset)
        panel.snap_requested.connect(self.snap_to_best)

    def clear(self) -> None:
        """Show no channel (the session dropped the plan)."""
        self._line_a = {}
        self.panel.clear()
        for view in self.views.values():
            view.set_channel(None)
        self.view3d.view.set_handle(None)
        if self.view3d.view.has_scene:
            scene = self.view3d.view.scene
            for side in Side:
                scene.set_channel(side, None, True, False)
                scene.set_markers(side, dict.fromkeys("abcd"), {"line_a": None, "line_b": None})
            scene.set_touched(())
            self.view3d.view.request_render()

    def show_plan(self, with_scene: bool) -> None:
        """Show the session's channels on a new plan, the active side's first.

        ``with_scene``: the 3-D pane has (or is getting) surfaces, to be framed on the plan.
        """
        session = self.session
        planner = session.planner
        if planner is None:
            self.show_foramen()  # no channel on either side: the reasons only
            return
        self._line_a = {side: planner.line_a_segment(side) for side in Side}
        if self.view3d.view.has_scene or (with_scene and self.view3d.view.available):
            self.view3d.view.scene.set_plan_frame(planner.plan.landmarks, planner.plan.parts)
            self.view3d.set_camera(self.view3d.camera)
        self.set_active_side(session.active_side)
        if session.poses and session.view is not None:
            state = session.view
            index = state.volume.grid.lps_to_index(planner.point_b(session.active_side))
            state.set_cursor(state.clamp_index(tuple(float(v) for v in index)))

    def set_active_side(self, side: Side) -> bool:
        """Show ``side`` and move its channel from now on; False if it has no channel.

        A side that is not assessable is shown with its reasons, and no channel to move.
        """
        self.view3d.show_side(side)
        moving = self.session.set_active_side(side)
        self.side_shown.emit(side)  # the session does not announce the active side
        if moving:
            self.set_pose(*self.session.poses[side])
            return True
        for view in self.views.values():
            view.set_channel(None)
        self.view3d.view.set_handle(None)
        if self.view3d.view.has_scene:
            scene = self.view3d.view.scene
            for other in Side:
                shown = self.session.assessments.get(other)
                scene.set_channel(other, None if shown is None else shown.channel, False, False)
                scene.set_markers(other, dict.fromkeys("abcd"), {"line_a": None, "line_b": None})
            scene.set_touched(())
            self.view3d.view.request_render()
        self.show_foramen()
        return False

    def switch_side(self) -> bool:
        """Move the other side's channel; False if it has none."""
        other = Side.RIGHT if self.session.active_side is Side.LEFT else Side.LEFT
        return self.set_active_side(other)

    def set_pose(self, alpha_deg: float, beta_deg: float) -> PoseAssessment | None:
        """Put the moved channel at (alpha, beta) degrees about point b and show what it meets.

        Returns the assessment, or None when there is no channel or no such pose exists.
        """
        started = time.perf_counter()
        try:
            assessment = self.session.set_pose(alpha_deg, beta_deg)
        except PlanningError as error:
            self._status(str(error), 4000)
            return None
        if assessment is None:
            return None
        self.show()
        self.last_update_ms = 1000.0 * (time.perf_counter() - started)
        self.moved.emit(assessment)
        return assessment

    def move_end(self, point_lps_mm: object) -> PoseAssessment | None:
        """Point the moved channel from b towards ``point_lps_mm`` (a dragged handle, LPS mm)."""
        planner = self.session.planner
        if planner is None or self.session.active_side not in self.session.poses:
            return None
        try:
            alpha, beta = planner.pose_towards(self.session.active_side, point_lps_mm)  # type: ignore[arg-type]
        except PlanningError as error:
            self._status(str(error), 4000)
            return None
        return self.set_pose(alpha, beta)

    def turn_in_view(self, plane: Plane, point_lps_mm: object) -> PoseAssessment | None:
        """Turn the moved channel, in a slice view, to point at ``point_lps_mm`` on its slice.

        The view shows the channel's projection: the mouse sets the direction within the view's
        plane, whatever slice the view shows. In the axial view that direction is alpha (its
        definition) and beta stays; in the coronal and sagittal views the channel keeps its tilt
        out of the view's plane.
        """
        planner = self.session.planner
        shown = self.session.assessments.get(self.session.active_side)
        state = self.session.view
        if planner is None or shown is None or state is None:
            return None
        index_axis = 2 - PLANE_AXIS[plane]  # the index axis along the plane's normal (x, y, z)
        normal = state.volume.grid.direction[:, index_axis]
        tip = planner.point_b(self.session.active_side)
        within = np.asarray(point_lps_mm, dtype=np.float64) - tip
        within -= (within @ normal) * normal
        axis = shown.channel.axis
        axis_within = axis - (axis @ normal) * normal
        if np.linalg.norm(within) < 1e-6 or np.linalg.norm(axis_within) < 1e-6:
            return None
        if plane == "axial":
            alpha, _ = planner.pose_towards(self.session.active_side, tip + within)
            return self.set_pose(alpha, shown.beta_deg)
        tilt = float(axis @ normal) / float(np.linalg.norm(axis_within))
        direction = within / np.linalg.norm(within) + tilt * normal
        return self.move_end(tip + 100.0 * direction / np.linalg.norm(direction))

    def _on_view_channel_dragged(self, payload: tuple[Plane, object]) -> None:
        self.turn_in_view(*payload)

    def reset(self) -> PoseAssessment | None:
        """Put the moved channel back on the paper's placement."""
        planner = self.session.planner
        pose = None if planner is None else planner.paper_pose(self.session.active_side)
        return None if pose is None else self.set_pose(*pose)

    def snap_to_best(self) -> PoseAssessment | None:
        """Put the moved channel on the side's best free trajectory (None if there is none)."""
        planner = self.session.planner
        pose = None if planner is None else planner.best_pose(self.session.active_side)
        if pose is None:
            self._status(f"No free trajectory on the {self.session.active_side.value} side.", 6000)
            return None
        return self.set_pose(*pose)

    def show_foramen(self) -> None:
        """Show the side's paper result, the moved channel's assessment and the map."""
        planner = self.session.planner
        side = self.session.active_side
        if planner is None:
            # A plan where no side has a channel (both not assessable) still says why.
            plan = self.session.plan
            if plan is None:
                self.panel.clear()
            else:
                self.panel.show_foramen(side, plan.sides.get(side), None, None, None, None)
            return
        side_plan = planner.plan.sides.get(side)
        assessable = side_plan is not None and side_plan.group != "not_assessable"
        self.panel.show_foramen(
            side,
            side_plan,
            self.session.assessments.get(side),
            planner.plan.maps.get(side) if assessable else None,
            planner.paper_pose(side),
            planner.best_pose(side) if assessable else None,
        )

    def show(self) -> None:
        """Draw both sides' channels, the moved one's points, lines and touched parts."""
        planner = self.session.planner
        assessment = self.session.assessments.get(self.session.active_side)
        if planner is None or assessment is None:
            return
        self.show_foramen()
        channel = assessment.channel
        for view in self.views.values():
            view.set_channel(
                channel.tip_lps_mm,
                assessment.outer_end_lps_mm,
                channel.diameter_mm,
                assessment.clear,
            )
        if not self.view3d.view.has_scene:
            return
        scene = self.view3d.view.scene
        landmarks = planner.plan.landmarks.get("points_lps_mm", {})
        for side in Side:
            shown = self.session.assessments.get(side)
            active = side is self.session.active_side
            scene.set_channel(
                side, None if shown is None else shown.channel, bool(shown and shown.clear), active
            )
            points = landmarks.get(side.value, {})
            side_plan = planner.plan.sides.get(side)
            scene.set_markers(
                side,
                {
                    "a": points.get("a") if active else None,
                    "b": points.get("b") if shown is not None else None,
                    "c": side_plan.point_c if active and side_plan is not None else None,
                    "d": shown.point_d if active and shown is not None else None,
                },
                {
                    "line_a": self._line_a.get(side) if active else None,  # type: ignore[dict-item]
                    "line_b": planner.line_b_segment(shown) if active and shown else None,
                },
            )
        scene.set_touched(contact.part for contact in assessment.blocked_by)
        self.view3d.view.set_handle(assessment.outer_end_lps_mm)
        self.view3d.view.request_render()
