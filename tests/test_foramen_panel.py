"""The foramen panel and its feasibility chart, clicked and dragged as a surgeon would."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from lumboplan_app.gui.panels.feasibility_chart import (
    FREE_BRIGHT_RGB,
    IMPOSSIBLE_RGB,
    LEAVES_SCAN_RGB,
    FeasibilityChart,
    map_rgb,
)
from lumboplan_app.gui.panels.foramen import (
    CONTACT_STATE_ROLE,
    NO_PLAN_HINT,
    NO_VALUE,
    TOUCHING_BACKGROUND,
    ForamenPanel,
)
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import PartContact
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.feasibility import ALPHAS_DEG, BETAS_DEG, FeasibilityMap
from lumboplan_app.planning.interactive import ChannelPlanner, PoseAssessment
from lumboplan_app.planning.placement import SidePlan
from tests.test_planning_interactive import BALL_CENTRE, POINT_B, ball_plan

pytestmark = pytest.mark.gui

MARGIN_MM = 0.5


def pattern_map(side: Side = Side.LEFT) -> FeasibilityMap:
    """Free where alpha > 40 (clearance grows 0.1 mm a degree, less 0.1 mm per degree of |beta|
    past 10), best at alpha 90, beta 0; no pose at alpha < 10 with |beta| > 25."""
    alpha, beta = np.meshgrid(ALPHAS_DEG, BETAS_DEG, indexing="ij")
    iap = (alpha - 40.0) / 10.0 - np.maximum(np.abs(beta) - 10.0, 0.0) / 10.0
    crest = np.full(alpha.shape, 9.0)
    possible = ~((alpha < 10) & (np.abs(beta) > 25))
    part_iap = Part.L5_IAP_LEFT if side is Side.LEFT else Part.L5_IAP_RIGHT
    crest_part = Part.ILIAC_CREST_LEFT if side is Side.LEFT else Part.ILIAC_CREST_RIGHT
    return FeasibilityMap(
        side,
        ALPHAS_DEG.copy(),
        BETAS_DEG.copy(),
        {part_iap: iap, crest_part: crest},
        possible,
        MARGIN_MM,
    )


def synthetic_assessment() -> PoseAssessment:
    """A blocked pose: touching the IAP and the exiting root, into the SAP, near the sac."""
    contacts = (
        PartContact(Part.L5_IAP_LEFT, -1.24),
        PartContact(Part.S1_SAP_LEFT, -0.4),
        PartContact(Part.L5_ROOT_LEFT, 0.31),
        PartContact(Part.DURAL_SAC, 2.06),
    )
    return PoseAssessment(
        side=Side.LEFT,
        alpha_deg=35.24,
        beta_deg=-4.26,
        channel=Channel(POINT_B, (1.0, 0.0, 0.0)),
        contacts=contacts,
        blocked_by=(contacts[0], contacts[2]),
        point_d=None,
        line_b_mm=None,
    )


PAPER_B = SidePlan(
    "B",
    ("The channel touches the L5 inferior articular process (left), 1.2 mm deep.",),
    Channel(POINT_B, (1.0, 0.0, 0.0)),
    38.5,
    0.0,
    line_a_mm=13.64,
    line_b_mm=88.2,
)


@pytest.fixture(scope="module")
def planner() -> ChannelPlanner:
    return ChannelPlanner(ball_plan())


@pytest.fixture
def chart(qtbot) -> FeasibilityChart:
    chart = FeasibilityChart()
    qtbot.addWidget(chart)
    chart.resize(300, chart.heightForWidth(300))
    chart.set_map(pattern_map())
    chart.show()
    qtbot.waitExposed(chart)
    return chart


@pytest.fixture
def panel(qtbot) -> ForamenPanel:
    panel = ForamenPanel()
    qtbot.addWidget(panel)
    panel.resize(280, 800)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def show_blocked(panel: ForamenPanel, best: tuple[float, float] | None = (90.0, 0.0)) -> None:
    panel.show_foramen(Side.LEFT, PAPER_B, synthetic_assessment(), pattern_map(), (38.5, 0.0), best)


# -- the chart -------------------------------------------------------------------------------


def test_the_map_image_is_green_where_free_red_where_blocked_grey_where_impossible() -> None:
    rgb = map_rgb(pattern_map())
    assert rgb.shape == (len(BETAS_DEG), len(ALPHAS_DEG), 3)

    def at(alpha: int, beta: int) -> np.ndarray:
        return rgb[30 - beta, alpha]  # row 0 is beta +30: beta runs up

    free, blocked = at(80, 0), at(20, 0)
    assert free[1] > free[0]
    assert free[1] > free[2]
    assert blocked[0] > blocked[1]
    assert blocked[0] > blocked[2]
    assert tuple(at(90, 0)) == FREE_BRIGHT_RGB  # 5 mm clear: the brightest green
    assert tuple(at(5, 28)) == IMPOSSIBLE_RGB
    assert tuple(at(5, -28)) == IMPOSSIBLE_RGB
    assert at(60, 0)[1] > at(45, 0)[1]  # brighter with more room
    near_miss, just_free = at(41, 0), at(46, 0)  # 0.1 and 0.6 mm clear, the margin is 0.5
    assert near_miss[0] > near_miss[1]
    assert just_free[1] > just_free[0]


def test_poses_whose_path_leaves_the_scan_are_violet_and_say_they_cannot_be_judged(
    qtbot,
) -> None:
    fmap = pattern_map()
    leaves = np.zeros(fmap.possible.shape, dtype=bool)
    leaves[ALPHAS_DEG >= 80, :] = True  # free by clearance, but the path runs out of the scan
    leaves[ALPHAS_DEG < 10, :] = True  # beside poses that do not exist
    fmap = replace(fmap, leaves_scan=leaves)
    rgb = map_rgb(fmap)
    assert tuple(rgb[30, 85]) == LEAVES_SCAN_RGB  # beta 0 in row 30
    assert tuple(rgb[30 - 28, 5]) == IMPOSSIBLE_RGB  # a pose that does not exist stays grey
    assert rgb[30, 60][1] > rgb[30, 60][0]  # the free poses stay green
    chart = FeasibilityChart()
    qtbot.addWidget(chart)
    chart.set_map(fmap)
    assert chart.describe_pose(85, 0) == (
        "alpha 85, beta 0: cannot be judged (it touches nothing in the scan, but its path leaves "
        "the scan before it leaves the body)"
    )
    assert chart.describe_pose(60, 0) == (
        "alpha 60, beta 0: 2.0 mm clear (nearest: L5 inferior articular process (left))"
    )
    chart.resize(300, chart.heightForWidth(300))
    image = chart.grab().toImage()
    below_plot = range(int(chart.plot_rect().bottom()) + 2, image.height())
    legend = [
        x
        for y in below_plot
        for x in range(image.width())
        if image.pixelColor(x, y).getRgb()[:3] == LEAVES_SCAN_RGB
    ]
    assert legend, "the legend shows the colour of poses that leave the scan"
    assert max(legend) < image.width() - 20  # with room for its words, on the narrowest chart


def test_pose_and_point_round_trip(chart) -> None:
    for alpha, beta in [(0.0, -30.0), (90.0, 30.0), (35.0, -4.0), (50.5, 10.25), (12.0, 0.0)]:
        point = chart.point_for_pose(alpha, beta)
        assert chart.plot_rect().contains(point)
        back = chart.pose_at(point)
        assert back == pytest.approx((alpha, beta), abs=1e-6)
    # alpha runs across, beta up
    assert chart.point_for_pose(60, 0).x() > chart.point_for_pose(30, 0).x()
    assert chart.point_for_pose(30, 20).y() < chart.point_for_pose(30, -20).y()
    assert chart.pose_at(QPointF(1, 1)) is None  # outside the plot: the axis titles


def test_a_click_chooses_the_pose_under_the_pointer(chart, qtbot) -> None:
    point = chart.point_for_pose(50, 10).toPoint()
    with qtbot.waitSignal(chart.pose_chosen, timeout=1000) as blocker:
        qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=point)
    alpha, beta = blocker.args
    assert alpha == pytest.approx(50, abs=1.0)
    assert beta == pytest.approx(10, abs=1.0)


def test_a_right_click_or_a_click_off_the_plot_chooses_nothing(chart, qtbot) -> None:
    with qtbot.assertNotEmitted(chart.pose_chosen):
        qtbot.mouseClick(
            chart, Qt.MouseButton.RightButton, pos=chart.point_for_pose(50, 10).toPoint()
        )
        qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))


def test_a_drag_emits_poses_along_the_way_clamped_to_the_range(chart, qtbot) -> None:
    chosen: list[tuple[float, float]] = []
    chart.pose_chosen.connect(lambda alpha, beta: chosen.append((alpha, beta)))
    qtbot.mousePress(chart, Qt.MouseButton.LeftButton, pos=chart.point_for_pose(20, 0).toPoint())
    for alpha in (30, 40, 50, 60):
        qtbot.mouseMove(chart, chart.point_for_pose(alpha, alpha / 4).toPoint())
    # past the plot's right and top edges: the pose stays at the range's edge
    corner = chart.point_for_pose(90, 30) + QPointF(40, -40)
    qtbot.mouseMove(chart, corner.toPoint())
    qtbot.mouseRelease(chart, Qt.MouseButton.LeftButton, pos=corner.toPoint())
    assert len(chosen) >= 5
    alphas = [alpha for alpha, _ in chosen]
    assert alphas == sorted(alphas)
    assert chosen[0] == pytest.approx((20, 0), abs=1.0)
    assert chosen[-1] == (90.0, 30.0)
    count = len(chosen)
    qtbot.mouseMove(chart, chart.point_for_pose(10, 0).toPoint())  # released: no more poses
    assert len(chosen) == count


def test_the_tooltip_says_the_smallest_clearance(chart) -> None:
    assert chart.describe_pose(60, 0) == (
        "alpha 60, beta 0: 2.0 mm clear (nearest: L5 inferior articular process (left))"
    )
    assert chart.describe_pose(35.2, -4.4) == (
        "alpha 35, beta -4: blocked (0.5 mm into the L5 inferior articular process (left))"
    )
    assert chart.describe_pose(42, 0).startswith("alpha 42, beta 0: blocked (0.2 mm from the ")
    assert "no channel has this pose" in chart.describe_pose(3, 29)


def test_hovering_shows_the_pose_tooltip(chart) -> None:
    point = chart.point_for_pose(60, 0).toPoint()
    QApplication.sendEvent(chart, QHelpEvent(QEvent.Type.ToolTip, point, chart.mapToGlobal(point)))
    assert QToolTip.text() == chart.describe_pose(60, 0)
    QToolTip.hideText()


def test_an_empty_chart_paints_and_ignores_clicks(qtbot) -> None:
    chart = FeasibilityChart()
    qtbot.addWidget(chart)
    chart.resize(260, 220)
    chart.set_marks((30, 0), (30, 0), (60, 5))
    chart.set_map(None)
    chart.show()
    qtbot.waitExposed(chart)
    image = chart.grab().toImage()
    assert not image.isNull()
    assert chart.describe_pose(30, 0) == ""
    with qtbot.assertNotEmitted(chart.pose_chosen):
        qtbot.mouseClick(
            chart, Qt.MouseButton.LeftButton, pos=chart.point_for_pose(30, 0).toPoint()
        )


def test_the_marks_are_painted_where_their_poses_are(chart) -> None:
    chart.set_marks((30.0, -10.0), paper=(45.0, 0.0), best=(80.0, 20.0))
    assert chart.marks == ((30.0, -10.0), (45.0, 0.0), (80.0, 20.0))
    image = chart.grab().toImage()
    ratio = chart.devicePixelRatioF()

    def colour(alpha: float, beta: float) -> QColor:
        point = chart.point_for_pose(alpha, beta)
        return QColor(image.pixel(int(point.x() * ratio), int(point.y() * ratio)))

    best = colour(80, 20)  # the yellow diamond, over green
    assert best.red() > 200
    assert best.green() > 180
    assert best.blue() < 140
    paper = colour(45, 0)  # the blue square
    assert paper.blue() > 200
    assert paper.red() < 150
    plain = colour(20, 20)  # no mark: the blocked map's red
    assert plain.red() > plain.green()


# -- the panel -------------------------------------------------------------------------------


def test_the_panel_shows_the_group_the_pose_and_its_measurements(panel) -> None:
    show_blocked(panel)
    assert panel.group_chip.text() == "Group B"
    assert panel.group_chip.property("group") == "B"
    assert "1.2 mm deep" in panel.reasons_label.text()
    assert panel.alpha_value.text() == "35.2\u00b0"
    assert panel.beta_value.text() == "-4.3\u00b0"
    assert panel.line_a_value.text() == "13.6 mm"
    assert panel.line_b_value.text() == NO_VALUE  # point d outside the scan
    assert panel.status_label.text() == synthetic_assessment().summary()
    assert panel.status_label.property("state") == "blocked"
    assert panel.chart.marks == ((35.24, -4.26), (38.5, 0.0), (90.0, 0.0))
    assert not panel.hint_label.isVisible()


def test_the_contacts_table_marks_the_touching_parts(panel) -> None:
    show_blocked(panel)
    table = panel.contacts_table
    assert table.rowCount() == 4
    rows = [
        (
            table.item(row, 0).text(),
            table.item(row, 1).text(),
            table.item(row, 0).data(CONTACT_STATE_ROLE),
        )
        for row in range(4)
    ]
    assert rows == [
        ("L5 inferior articular process (left)", "-1.2", "touching"),
        ("S1 superior articular process (left)", "-0.4", "inside"),
        ("exiting L5 root (left)", "0.3", "touching"),
        ("dural sac", "2.1", "near"),
    ]
    for row, (_, _, state) in enumerate(rows):
        background = table.item(row, 1).background().color()
        assert (background == TOUCHING_BACKGROUND) == (state == "touching")


def test_a_real_assessment_from_the_planner(panel, planner) -> None:
    towards = float(np.degrees(np.arctan2(BALL_CENTRE[2], BALL_CENTRE[0] - POINT_B[0])))
    paper = planner.paper_pose(Side.LEFT)
    side_plan = planner.plan.sides[Side.LEFT]
    blocked = planner.assess(Side.LEFT, 0.0, towards)
    panel.show_foramen(Side.LEFT, side_plan, blocked, None, paper, None)
    assert panel.group_chip.property("group") == "A"
    assert panel.beta_value.text() == f"{towards:.1f}\u00b0"
    assert panel.status_label.property("state") == "blocked"
    assert panel.contacts_table.rowCount() == 1
    assert panel.contacts_table.item(0, 0).data(CONTACT_STATE_ROLE) == "touching"
    assert not panel.snap_button.isEnabled()
    assert not panel.chart.isEnabled()  # no map: the chart says so and takes no clicks

    clear = planner.assess(Side.LEFT, 0.0, 10.0)
    panel.show_foramen(Side.LEFT, side_plan, clear, None, paper, None)
    assert panel.status_label.property("state") == "clear"
    assert panel.status_label.text().startswith("Clear path")
    assert panel.contacts_table.rowCount() == 0
    assert panel.no_contacts_label.isVisible()


def test_a_not_assessable_side_shows_its_reasons_and_no_pose(panel) -> None:
    side_plan = SidePlan("not_assessable", ("No exiting L5 nerve root found on the right side.",))
    panel.show_foramen(Side.RIGHT, side_plan, None, None, None, None)
    assert panel.side is Side.RIGHT
    assert panel.side_buttons[Side.RIGHT].isChecked()
    assert panel.group_chip.text() == "Not assessable"
    assert panel.group_chip.property("group") == "not_assessable"
    assert "No exiting L5 nerve root" in panel.reasons_label.text()
    assert panel.alpha_value.text() == NO_VALUE
    assert not panel.reset_button.isEnabled()
    assert not panel.snap_button.isEnabled()


def test_reset_snap_and_chart_clicks_are_asked_for(panel, qtbot) -> None:
    show_blocked(panel)
    with qtbot.waitSignal(panel.reset_requested, timeout=1000):
        qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.snap_requested, timeout=1000):
        qtbot.mouseClick(panel.snap_button, Qt.MouseButton.LeftButton)
    chart = panel.chart
    with qtbot.waitSignal(panel.pose_chosen, timeout=1000) as blocker:
        qtbot.mouseClick(
            chart, Qt.MouseButton.LeftButton, pos=chart.point_for_pose(70, -5).toPoint()
        )
    assert blocker.args == pytest.approx([70, -5], abs=1.0)


def test_snap_is_disabled_without_a_best_pose(panel) -> None:
    show_blocked(panel, best=None)
    assert not panel.snap_button.isEnabled()
    assert panel.reset_button.isEnabled()
    show_blocked(panel)
    assert panel.snap_button.isEnabled()


def test_without_a_best_pose_the_snap_button_says_how_many_poses_leave_the_scan(panel) -> None:
    show_blocked(panel, best=None)
    assert panel.snap_button.toolTip() == "No free pose on this side's map"
    leaves = np.zeros(pattern_map().possible.shape, dtype=bool)
    leaves[ALPHAS_DEG >= 80, :] = True
    fmap = replace(pattern_map(), leaves_scan=leaves)
    panel.show_foramen(Side.LEFT, PAPER_B, synthetic_assessment(), fmap, (38.5, 0.0), None)
    assert not panel.snap_button.isEnabled()
    assert panel.snap_button.toolTip() == (
        f"No free pose on this side's map: {int(leaves.sum())} poses touch nothing in the scan, "
        "but their path leaves the scan, so they cannot be judged"
    )


def test_switch_side_flips_the_selector_and_asks_for_the_other_side(panel, qtbot) -> None:
    show_blocked(panel)
    assert panel.side is Side.LEFT
    with qtbot.waitSignal(panel.side_changed, timeout=1000) as blocker:
        qtbot.mouseClick(panel.switch_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [Side.RIGHT]
    assert panel.side is Side.RIGHT
    assert panel.side_buttons[Side.RIGHT].isChecked()
    assert not panel.side_buttons[Side.LEFT].isChecked()
    with qtbot.waitSignal(panel.side_changed, timeout=1000) as blocker:
        qtbot.mouseClick(panel.side_buttons[Side.LEFT], Qt.MouseButton.LeftButton)
    assert blocker.args == [Side.LEFT]


def test_showing_a_side_does_not_echo_side_changed(panel, qtbot) -> None:
    show_blocked(panel)
    with qtbot.assertNotEmitted(panel.side_changed):
        panel.show_foramen(Side.RIGHT, PAPER_B, None, pattern_map(Side.RIGHT), None, None)
        qtbot.mouseClick(panel.side_buttons[Side.RIGHT], Qt.MouseButton.LeftButton)  # already
    assert panel.side is Side.RIGHT
    # no assessment: the paper's own pose and measurements
    assert panel.alpha_value.text() == "38.5\u00b0"
    assert panel.line_b_value.text() == "88.2 mm"


def test_the_chart_image_is_rebuilt_only_for_another_map(panel, monkeypatch) -> None:
    fmap = pattern_map()
    calls = []
    original = panel.chart.set_map
    monkeypatch.setattr(
        panel.chart, "set_map", lambda *a, **k: (calls.append(a), original(*a, **k))
    )
    for alpha in (35.0, 36.0, 37.0):
        assessment = replace(synthetic_assessment(), alpha_deg=alpha)
        panel.show_foramen(Side.LEFT, PAPER_B, assessment, fmap, (38.5, 0.0), None)
    assert len(calls) == 1
    panel.show_foramen(Side.LEFT, PAPER_B, None, pattern_map(), (38.5, 0.0), None)
    assert len(calls) == 2


def test_clear_disables_everything_and_says_to_plan(panel, qtbot) -> None:
    show_blocked(panel)
    panel.clear()
    assert panel.hint_label.isVisible()
    assert panel.hint_label.text() == NO_PLAN_HINT
    for widget in (
        *panel.side_buttons.values(),
        panel.switch_button,
        panel.reset_button,
        panel.snap_button,
        panel.chart,
    ):
        assert not widget.isEnabled()
    assert not panel.group_chip.isVisible()
    assert panel.alpha_value.text() == NO_VALUE
    assert panel.contacts_table.rowCount() == 0
    assert panel.chart.feasibility_map is None
    with qtbot.assertNotEmitted(panel.pose_chosen):
        qtbot.mouseClick(
            panel.chart, Qt.MouseButton.LeftButton, pos=panel.chart.point_for_pose(50, 0).toPoint()
        )
    assert not panel.grab().toImage().isNull()
