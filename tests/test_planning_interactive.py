"""Re-assessing a dragged channel: analytic contacts, pivot about b, the paper's pose again."""

from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.errors import PlanningError
from lumboplan_app.io.volume_files import read_label_map
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.channel import Channel, direction_for_pose
from lumboplan_app.planning.interactive import ChannelPlanner
from lumboplan_app.planning.placement import SidePlan
from lumboplan_app.planning.plan import CasePlan, plan_from_labels
from lumboplan_app.volume import Grid, LabelMap

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
POINT_B = (10.0, 0.0, 0.0)
#: A ball of "left L5 IAP", radius 5 mm, 40 mm lateral of b and 20 mm cranial of its plane.
BALL_CENTRE = np.array([50.0, 0.0, 20.0])
BALL_RADIUS_MM = 5.0


def ball_plan(
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0), part: Part = Part.L5_IAP_LEFT
) -> CasePlan:
    """A plan whose only part is one ball of ``part``; the disc plane axial, the midline at x = 0.

    Without skin a channel is seen only where the scan holds all of it: the grid reaches past
    the 150 mm channel's outer end at every pose the tests take.
    """
    extent = np.array([170.0, 40.0, 75.0])
    shape_xyz = np.ceil(2 * extent / np.asarray(spacing_mm)).astype(int)
    grid = Grid(
        tuple(int(n) for n in shape_xyz[::-1]),
        spacing_mm,
        tuple(float(v) for v in -extent),
    )
    z, y, x = np.indices(grid.shape_zyx)
    points = np.asarray(grid.origin_lps_mm) + np.stack([x, y, z], -1) * np.asarray(spacing_mm)
    inside = np.linalg.norm(points - BALL_CENTRE, axis=-1) <= BALL_RADIUS_MM
    parts = LabelMap(np.where(inside, int(part), 0).astype(np.uint8), grid)
    channel = Channel(POINT_B, (1.0, 0.0, 0.0))
    landmarks = {
        "points_lps_mm": {"left": {"b": list(POINT_B)}, "right": {"b": [-10.0, 0.0, 0.0]}},
        "planes": {
            "disc_mid": {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0]},
            "mid_sagittal": {"point": [0.0, 0.0, 0.0], "normal": [1.0, 0.0, 0.0]},
        },
    }
    sides = {
        Side.LEFT: SidePlan("A", (), channel, 0.0, 0.0),
        Side.RIGHT: SidePlan("not_assessable", ("No exiting L5 nerve root found.",)),
    }
    return CasePlan(sides, landmarks, parts=parts)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.9, 1.6)])
def test_a_contact_appears_and_disappears_as_the_channel_tilts(spacing) -> None:
    planner = ChannelPlanner(ball_plan(spacing))
    flat = planner.assess(Side.LEFT, 0.0, 0.0)
    # The ball's surface is 20 - 5 mm from the axis: 11 mm from the 8 mm channel's side.
    assert flat.clear
    assert flat.contacts == ()
    towards = np.degrees(np.arctan2(BALL_CENTRE[2], BALL_CENTRE[0] - POINT_B[0]))
    through = planner.assess(Side.LEFT, 0.0, float(towards))
    assert not through.clear
    (contact,) = through.blocked_by
    assert contact.part is Part.L5_IAP_LEFT
    # Through the centre, the channel's wall (4 mm off the axis) lies 1 mm inside the ball.
    assert contact.clearance_mm == pytest.approx(4.0 - BALL_RADIUS_MM, abs=max(spacing))
    assert through.summary().startswith("Touches the L5 inferior articular process (left): ")
    assert through.summary().endswith(" mm deep.")
    # At 10 degrees the centre is 44.7 mm * sin(16.6) = 12.8 mm off the axis: 3.8 mm clear.
    tilted = planner.assess(Side.LEFT, 0.0, 10.0)
    assert tilted.clear
    assert tilted.contacts == ()
    # At 13 degrees, 10.5 mm off the axis: 1.5 mm clear, reported but not touching.
    grazing = planner.assess(Side.LEFT, 0.0, 13.0)
    (near,) = grazing.contacts
    assert grazing.clear
    assert near.clearance_mm == pytest.approx(1.5, abs=max(spacing))


def test_a_clear_path_into_the_s1_sap_says_how_deep_it_goes() -> None:
    # The S1 SAP is reported but blocks nothing (DESIGN.md, "Classification"): a channel through
    # it is clear, and the sentence says what the part list shows.
    planner = ChannelPlanner(ball_plan(part=Part.S1_SAP_LEFT))
    towards = np.degrees(np.arctan2(BALL_CENTRE[2], BALL_CENTRE[0] - POINT_B[0]))
    through = planner.assess(Side.LEFT, 0.0, float(towards))
    assert through.clear
    (contact,) = through.contacts
    assert contact.part is Part.S1_SAP_LEFT
    assert contact.clearance_mm == pytest.approx(-1.0, abs=1.0)
    assert through.summary() == (
        "Clear path: the channel touches no blocking part, nerve, ilium, ala or pedicle; it "
        f"passes {-contact.clearance_mm:.1f} mm into the S1 superior articular process (left), "
        "which does not block the approach."
    )
    untouched = planner.assess(Side.LEFT, 0.0, 0.0)
    assert untouched.summary() == (
        "Clear path: the channel touches no blocking part, nerve, ilium, ala or pedicle."
    )


def test_the_channel_pivots_about_b_when_its_outer_end_is_dragged() -> None:
    planner = ChannelPlanner(ball_plan())
    for alpha, beta in ((0.0, 0.0), (35.0, 12.0), (80.0, -20.0)):
        end = planner.assess(Side.LEFT, alpha, beta).outer_end_lps_mm
        moved = planner.assess_towards(Side.LEFT, end)
        assert (moved.alpha_deg, moved.beta_deg) == pytest.approx((alpha, beta), abs=1e-6)
        assert np.allclose(moved.channel.tip_lps_mm, POINT_B)
    # A drag across the midline or straight up keeps the channel within its side's poses.
    alpha, beta = planner.pose_towards(Side.LEFT, (-100.0, 0.0, 200.0))
    assert alpha == pytest.approx(100.0)
    assert beta == pytest.approx(30.0)
    with pytest.raises(PlanningError, match="away from its tip"):
        planner.pose_towards(Side.LEFT, POINT_B)


def test_a_side_without_a_channel_cannot_be_dragged() -> None:
    planner = ChannelPlanner(ball_plan())
    assert planner.assessable(Side.LEFT)
    assert not planner.assessable(Side.RIGHT)
    with pytest.raises(PlanningError, match="right foramen is not assessable"):
        planner.assess(Side.RIGHT, 30.0, 0.0)


def test_a_side_without_point_b_has_no_pivot() -> None:
    plan = ball_plan()
    plan.landmarks["points_lps_mm"]["right"]["b"] = None  # its pedicle was not found
    planner = ChannelPlanner(plan)
    with pytest.raises(PlanningError, match="right foramen has no point b"):
        planner.pose_towards(Side.RIGHT, (-60.0, 0.0, 0.0))  # gave (nan, nan)


def test_the_paper_pose_reassessed_gives_the_plans_contacts() -> None:
    plan = ball_plan()
    planner = ChannelPlanner(plan)
    assert planner.paper_pose(Side.LEFT) == (0.0, 0.0)
    assert planner.best_pose(Side.LEFT) is None  # no map in this plan
    axis = direction_for_pose(0.0, 0.0, (0.0, 0.0, 1.0), Side.LEFT)
    assert np.allclose(planner.assess(Side.LEFT, 0.0, 0.0).channel.axis, axis)


@pytest.mark.slow
def test_the_paper_pose_on_the_demo_is_blocked_by_the_parts_that_made_it_group_b() -> None:
    labels = read_label_map(DEMO / "labels.nii.gz")
    plan = plan_from_labels(labels)
    planner = ChannelPlanner(plan)
    for side in Side:
        placed = plan.sides[side]
        again = planner.assess(side, *planner.paper_pose(side))
        assert again.clear == (placed.group == "A")
        touched = {c.part for c in placed.contacts if c.clearance_mm < plan.contact_margin_mm}
        assert {c.part for c in again.blocked_by} <= touched
        best = planner.assess(side, *planner.best_pose(side))
        assert best.clear
