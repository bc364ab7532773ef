"""The case session without Qt: what new labels, an edit, a plan and a moved channel leave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.case_session import CaseSession
from lumboplan_app.labels import Side, Structure
from lumboplan_app.planning.plan import CasePlan
from lumboplan_app.viewing import ViewState
from lumboplan_app.volume import LabelMap, ScanMeta, Volume
from tests.test_planning_interactive import ball_plan

SPACING_MM = (2.0, 2.0, 2.0)


@pytest.fixture(scope="module")
def plan() -> CasePlan:
    """A plan whose left side has a channel at the paper's pose (0, 0); the right has none."""
    return ball_plan(SPACING_MM)


def scan_of(plan: CasePlan) -> Volume:
    grid = plan.parts.grid
    values = np.random.default_rng(0).uniform(0, 1000, grid.shape_zyx).astype(np.float32)
    return Volume(values, grid, ScanMeta(modality="MR", series_description="T2 sag"))


def labels_of(plan: CasePlan) -> LabelMap:
    array = np.zeros(plan.parts.grid.shape_zyx, np.uint8)
    array[10:20, 10:20, 10:20] = Structure.L5
    return LabelMap(array, plan.parts.grid)


@pytest.fixture
def session(plan: CasePlan) -> CaseSession:
    """A session showing the plan's scan, opened from a folder, with labels."""
    session = CaseSession()
    session.show_volume(ViewState(scan_of(plan)), Path("/cd/series"), "1.2.3")
    session.set_labels(labels_of(plan))
    return session


class Heard(list):
    """An observer that keeps what it heard."""

    def __call__(self, change: str) -> None:
        self.append(change)


def test_a_new_scan_is_a_new_case_without_labels(plan) -> None:
    session, heard = CaseSession(), Heard()
    session.subscribe(heard)
    assert session.case_file() is None
    session.case_path = Path("/cases/old.lumboplan")
    session.show_volume(ViewState(scan_of(plan)), Path("/cd/series"))
    assert heard == ["volume"]
    assert session.case_path is None
    assert not session.has_case
    assert session.case_file() is None  # a scan alone is not a case
    assert (session.editor, session.plan) == (None, None)


def test_new_labels_get_an_editor_and_a_case_without_a_plan(session) -> None:
    assert session.has_case
    assert session.editor is not None
    assert session.editor.labels is session.labels
    case = session.case_file()
    assert case.labels is session.labels
    assert case.plan == {}
    assert case.channels == {"left": None, "right": None}
    assert case.scan["reference"] == str(Path("/cd/series"))
    assert case.scan["series_id"] == "1.2.3"
    assert case.scan["summary"]["series_description"] == "T2 sag"
    assert case.patient is None


def test_new_labels_move_the_views_to_the_disc_and_labels_without_one_leave_them(plan) -> None:
    session = CaseSession()
    session.show_volume(ViewState(scan_of(plan)), Path("/cd/series"))
    view = session.view
    start = view.cursor_zyx
    session.set_labels(labels_of(plan))  # L5 only: nothing to move to
    assert view.cursor_zyx == start
    labels = labels_of(plan)
    labels.array[2:5, 30:33, 6:10] = Structure.DISC  # centroid (3, 31, 7.5): x rounds up
    session.set_labels(labels)
    assert view.cursor_zyx == (3, 31, 8)
    view.set_cursor((0, 0, 0))
    session.labels_edited()  # an edit keeps where the surgeon was looking
    assert view.cursor_zyx == (0, 0, 0)


def test_labels_off_the_scan_are_refused(plan) -> None:
    session = CaseSession()
    with pytest.raises(ValueError, match="scan"):
        session.set_labels(labels_of(plan))
    session.show_volume(ViewState(scan_of(plan)))
    other_grid = ball_plan((8.0, 8.0, 8.0)).parts.grid
    other = LabelMap(np.zeros(other_grid.shape_zyx, np.uint8), other_grid)
    with pytest.raises(ValueError, match="grid"):
        session.set_labels(other)


def test_a_plan_puts_each_side_with_a_channel_on_the_paper_pose(session, plan) -> None:
    heard = Heard()
    session.subscribe(heard)
    session.set_active_side(Side.RIGHT)  # not assessable: no channel to move
    session.set_plan(plan)
    assert heard == ["plan"]
    assert session.plan is plan
    assert session.planner is not None
    assert session.poses == {Side.LEFT: (0.0, 0.0)}
    assert set(session.assessments) == {Side.LEFT}
    assert session.active_side is Side.LEFT  # the first side with a channel
    case = session.case_file()
    assert case.plan == plan.to_json()
    assert case.channels["left"]["tip_lps_mm"] == [10.0, 0.0, 0.0]
    assert case.channels["right"] is None


def test_moving_a_channel_is_heard_only_when_it_moves(session, plan) -> None:
    session.set_plan(plan)
    heard = Heard()
    session.subscribe(heard)
    assessment = session.set_pose(20.0, 5.0)
    assert (assessment.alpha_deg, assessment.beta_deg) == pytest.approx((20.0, 5.0))
    assert session.poses[Side.LEFT] == pytest.approx((20.0, 5.0))
    assert session.assessments[Side.LEFT] is assessment
    session.set_pose(20.0, 5.0)
    assert heard == ["pose"]
    assert not session.set_active_side(Side.RIGHT)
    assert session.set_pose(0.0, 0.0) is None
    session.unsubscribe(heard)
    assert session.set_active_side(Side.LEFT)
    session.set_pose(0.0, 0.0)
    assert heard == ["pose"]


def test_an_edit_after_planning_drops_the_plan_and_keeps_the_poses(session, plan) -> None:
    session.set_plan(plan)
    session.set_pose(20.0, 5.0)
    heard = Heard()
    session.subscribe(heard)
    assert session.labels_edited()
    assert heard == ["edit"]
    assert session.plan_stale
    assert (session.plan, session.planner, session.poses) == (None, None, {})
    assert session.case_file().channels == {"left": None, "right": None}
    session.set_plan(plan)  # planned again: the channel is back where the surgeon had it
    assert not session.plan_stale
    assert session.poses[Side.LEFT] == pytest.approx((20.0, 5.0))
    session.labels_edited()
    session.set_labels(labels_of(plan))  # new labels: the kept poses belonged to the old ones
    assert not session.plan_stale
    session.set_plan(plan)
    assert session.poses == {Side.LEFT: (0.0, 0.0)}


def test_an_edit_before_planning_leaves_nothing_stale(session) -> None:
    assert not session.labels_edited()
    assert not session.plan_stale


def test_a_new_scan_forgets_the_case(session, plan) -> None:
    session.set_plan(plan)
    session.case_path = Path("/cases/spine.lumboplan")
    session.show_volume(ViewState(scan_of(plan)))
    assert (session.plan, session.editor, session.labels, session.case_path) == (None,) * 4
    assert (session.scan_path, session.series, session.poses) == (None, None, {})


def test_a_reopened_case_gets_its_channels_back_in_their_direction(session, plan) -> None:
    session.set_plan(plan)
    left_as_left = session.planner.assess(Side.LEFT, 20.0, 5.0).channel
    heard = Heard()
    session.subscribe(heard)
    session.restore_channels({Side.LEFT: left_as_left, Side.RIGHT: left_as_left})
    assert heard == ["pose"]
    assert session.poses[Side.LEFT] == pytest.approx((20.0, 5.0), abs=1e-6)
    assert Side.RIGHT not in session.poses  # no channel on this plan: nothing to restore
    assert session.assessments[Side.LEFT].channel.tip_lps_mm == pytest.approx((10.0, 0.0, 0.0))
