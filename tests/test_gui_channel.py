"""The 3-D pane and the moved channel, driven with the mouse as a surgeon would."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from lumboplan_app.gui import workers
from lumboplan_app.gui.controllers import surfaces as surfaces_controller
from lumboplan_app.gui.controllers import tasks as task_controller
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.views import view3d as view_module
from lumboplan_app.gui.workers import Job
from lumboplan_app.labels import Part, Side, Structure
from lumboplan_app.planning.channel import direction_for_pose
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.volume import LabelMap
from tests.conftest import show_main_window

pytestmark = pytest.mark.gui

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
PLAN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def demo_results() -> dict[str, Any]:
    """The demo labels' display surfaces and plan, computed by the first window of the module."""
    return {}


def computed_once(make_job: Callable[[LabelMap], Job], results: dict[str, Any], key: str):
    """Wrap a job factory of :mod:`.gui.workers`: its result is computed once, then copied."""

    def make_reused_job(labels: LabelMap) -> Job:
        job = make_job(labels)

        def reused(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
            if key not in results:
                results[key] = job(progress, should_cancel)
            if isinstance(results[key], dict):  # the surfaces: VTK data the scene may change
                return {part: mesh.copy(deep=True) for part, mesh in results[key].items()}
            return copy.deepcopy(results[key])

        return reused

    return make_reused_job


@pytest.fixture
def planned_window(qtbot, demo_volume, demo_results, monkeypatch) -> MainWindow:
    """A window showing the demo, its labels, surfaces and plan.

    The surfaces and the plan of the demo's labels are computed once per module (10 s a window
    otherwise) and go through the window's workers as before; afterwards every job is the
    window's own, so tests that edit, plan again or cancel run the real work.
    """
    window = show_main_window(qtbot, (1400, 900), demo_volume)
    with monkeypatch.context() as patch:
        mesh_job = computed_once(workers.mesh_job, demo_results, "meshes")
        plan_job = computed_once(workers.plan_job, demo_results, "plan")
        patch.setattr(surfaces_controller, "mesh_job", mesh_job)
        patch.setattr(task_controller, "plan_job", plan_job)
        with qtbot.waitSignal(window.meshes_shown, timeout=PLAN_TIMEOUT_MS):
            assert window.load_labels(DEMO / "labels.nii.gz")
        with qtbot.waitSignal(window.planned, timeout=PLAN_TIMEOUT_MS):
            assert window.plan()
    window.view3d.view.render_now()
    return window


def test_without_opengl_the_3d_pane_says_why_and_the_slices_plan(
    qtbot, demo_volume, monkeypatch
) -> None:
    from lumboplan_app.reconstruction import opengl

    monkeypatch.setattr(opengl, "_check", None)
    monkeypatch.setattr(opengl, "opengl_support", lambda: opengl.OpenGLSupport(False, "1.1.0"))
    window = show_main_window(qtbot, (1400, 900), demo_volume)
    with qtbot.waitSignal(window.meshes_shown, timeout=PLAN_TIMEOUT_MS):
        assert window.load_labels(DEMO / "labels.nii.gz")
    assert "OpenGL 1.1.0" in window.view3d.view.unavailable_message
    with qtbot.waitSignal(window.planned, timeout=PLAN_TIMEOUT_MS):
        assert window.plan()
    window.view3d.set_camera("lateral")
    qtbot.mouseClick(window.view3d.view, Qt.MouseButton.LeftButton)
    assert not window.view3d.view.has_scene  # nothing was ever rendered
    assert window.session.assessments[Side.LEFT] is not None
    for view in window.views.values():  # the channel is planned and shown in the slices
        assert view.channel_handle_position() is not None


def point(position) -> QPoint:
    return QPoint(round(position.x()), round(position.y()))


def end_of_pose(window: MainWindow, alpha: float, beta: float) -> np.ndarray:
    planner = window.session.planner
    side = window.session.active_side
    normal = planner.plan.landmarks["planes"]["disc_mid"]["normal"]
    axis = direction_for_pose(alpha, beta, normal, side)
    return planner.point_b(side) + planner.plan.channel.length_mm * axis


def test_planning_shows_the_paper_channel_in_every_view(planned_window) -> None:
    window = planned_window
    assert window.session.active_side is Side.LEFT
    # The demo's left foramen is Group A: the paper's channel is clear.
    assert window.session.assessments[Side.LEFT].clear
    for view in window.views.values():
        assert view.channel_handle_position() is not None
    scene = window.view3d.view.scene
    assert scene.channel_visible(Side.LEFT)
    assert scene.channel_visible(Side.RIGHT)
    assert set(scene.markers(Side.LEFT)) >= {"a", "b", "line_a"}
    assert scene.touched == ()
    # Its right foramen is Group B: the paper's channel runs into the IAP, drawn touched.
    window.channel.set_active_side(Side.RIGHT)
    assessment = window.session.assessments[Side.RIGHT]
    assert not assessment.clear
    assert Part.L5_IAP_RIGHT in {contact.part for contact in assessment.blocked_by}
    assert Part.L5_IAP_RIGHT in scene.touched
    assert set(scene.structures) == set(Structure) - {Structure.BACKGROUND}
    image = window.view3d.view.grab().toImage()
    assert image.width() > 100
    assert window.view3d.view.handle_position() is not None


def test_dragging_in_the_axial_view_turns_the_channel_into_the_ilium(planned_window, qtbot):
    window = planned_window
    view = window.views["axial"]
    b = window.session.planner.point_b(Side.LEFT)
    window.state.set_cursor(window.state.clamp_index(window.state.volume.grid.lps_to_index(b)))
    start = view.channel_handle_position()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=point(start))
    # Straight lateral, 60 mm out in the axial plane through b: the iliac crest is in the way.
    lateral = b + np.array([60.0, -5.0, 0.0])
    target = view.index_to_widget(tuple(window.state.volume.grid.lps_to_index(lateral)))
    for fraction in np.linspace(0.2, 1.0, 5):
        qtbot.mouseMove(view, pos=point(start + fraction * (target - start)))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=point(target))
    moved = window.session.assessments[Side.LEFT]
    assert moved.alpha_deg < 15.0
    assert abs(moved.beta_deg) < 5.0
    touched = {contact.part for contact in moved.blocked_by}
    assert touched & {Part.ILIAC_CREST_LEFT, Part.ILIAC_WING_LEFT}
    assert window.channel.last_update_ms < 1000.0  # measured in benchmarks/gui_bench.py, not here


def test_dragging_in_3d_to_the_best_trajectory_clears_the_contact(planned_window, qtbot):
    window = planned_window
    window.channel.set_active_side(Side.RIGHT)  # the blocked side
    window.view3d.set_camera("posterolateral")  # looking from the right
    view = window.view3d.view
    view.render_now()
    best = window.session.planner.best_pose(Side.RIGHT)
    paper = window.session.planner.paper_pose(Side.RIGHT)
    assert best is not None
    seen_clear = []
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=point(view.handle_position()))
    # The handle moves in the view plane through itself: a few moves towards where the target
    # appears converge on it, as a surgeon's hand does.
    for target in (best, paper):
        for _ in range(8):
            x, y = view.scene.to_display(end_of_pose(window, *target))
            qtbot.mouseMove(view, pos=QPoint(round(x), round(y)))
        seen_clear.append(window.session.assessments[Side.RIGHT].clear)
        alpha, beta = window.session.poses[Side.RIGHT]
        assert abs(alpha - target[0]) < 2.0
        assert abs(beta - target[1]) < 2.0
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton)
    assert seen_clear == [True, False]
    view.render_now()
    assert Part.L5_IAP_RIGHT in view.scene.touched


def test_reset_snap_and_switch_side(planned_window, qtbot) -> None:
    window = planned_window
    assert window.snap_channel_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    best = window.session.assessments[Side.LEFT]
    assert window.session.poses[Side.LEFT] == pytest.approx(
        window.session.planner.best_pose(Side.LEFT)
    )
    assert best.clear
    assert window.view3d.view.scene.touched == ()
    window.reset_channel_action.trigger()
    assert window.session.poses[Side.LEFT] == pytest.approx(
        window.session.planner.paper_pose(Side.LEFT)
    )
    window.switch_side_action.trigger()
    assert window.session.active_side is Side.RIGHT
    right = window.session.assessments[Side.RIGHT]
    assert Part.L5_IAP_RIGHT in {c.part for c in right.blocked_by}
    assert window.views["axial"].channel_handle_position() is not None
    # Each side keeps its own pose.
    assert window.session.poses[Side.LEFT] == pytest.approx(
        window.session.planner.paper_pose(Side.LEFT)
    )


def test_camera_presets_visibility_and_maximise(planned_window, qtbot) -> None:
    window = planned_window
    scene = window.view3d.view.scene
    positions = {}
    for name, button in window.view3d.preset_buttons.items():
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        positions[name] = tuple(np.round(scene.plotter.camera_position[0], 3))
    assert len(set(positions.values())) == 4
    check = window.structures_panel.checks[Structure.ILIUM]
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert not scene.structure_visible(Structure.ILIUM)
    assert scene.structure_visible(Structure.L5)
    qtbot.mouseClick(window.view3d.maximise_button, Qt.MouseButton.LeftButton)
    assert window.grid.maximised_view() is window.view3d
    assert not window.views["axial"].isVisible()
    qtbot.mouseClick(window.view3d.maximise_button, Qt.MouseButton.LeftButton)
    assert window.grid.maximised_view() is None
    assert window.views["axial"].isVisible()
    qtbot.mouseDClick(window.views["sagittal"], Qt.MouseButton.LeftButton)
    assert window.grid.maximised_view() is window.views["sagittal"]
    assert not window.view3d.isVisible()


def test_switching_side_in_a_lateral_view_looks_from_the_other_side(planned_window) -> None:
    window = planned_window
    plotter = window.view3d.view.scene.plotter
    window.channel.set_active_side(Side.LEFT)
    window.view3d.set_camera("lateral")
    eye, focus, _ = plotter.camera_position
    assert eye[0] > focus[0]  # from the left (+x in LPS)
    window.channel.switch_side()
    eye, focus, _ = plotter.camera_position
    assert eye[0] < focus[0]  # now from the right
    window.view3d.set_camera("posterior")
    before = plotter.camera_position
    window.channel.switch_side()
    assert np.allclose(plotter.camera_position[0], before[0])  # not a sided view: kept


def test_the_3d_view_orbits_and_zooms_with_the_mouse(planned_window, qtbot) -> None:
    view = planned_window.view3d.view
    before = view.scene.plotter.camera_position
    corner = QPoint(20, 20)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=corner)
    qtbot.mouseMove(view, pos=QPoint(120, 40))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(120, 40))
    after = view.scene.plotter.camera_position
    assert not np.allclose(before[0], after[0])
    assert np.allclose(before[1], after[1])  # orbits about the same focal point
    frames = view.frames_rendered
    qtbot.waitUntil(lambda: view.frames_rendered > frames, timeout=5000)


def test_save_reopen_and_the_unsaved_changes_prompt(
    planned_window, qtbot, tmp_path, monkeypatch
) -> None:
    window = planned_window
    assert window.isWindowModified()
    assert window.windowTitle().endswith("— LumboPlan")
    best = window.channel.snap_to_best()
    path = tmp_path / "demo case"
    assert window.cases.save_to(path)
    saved = tmp_path / "demo case.lumboplan"
    assert saved.is_file()
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("demo case")
    # Moving the channel again marks the case; closing then asks, and Cancel keeps it open.
    window.channel.reset()
    assert window.isWindowModified()
    answers = []

    def cancel(self):
        answers.append("asked")
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(MainWindow, "ask_unsaved_changes", cancel)
    window.close()
    assert answers == ["asked"]
    assert window.isVisible()

    reopened = MainWindow()
    qtbot.addWidget(reopened)
    reopened.show()
    with qtbot.waitSignal(reopened.cases.case_opened, timeout=PLAN_TIMEOUT_MS):
        assert reopened.cases.open_case(saved, scan=DEMO / "dicom")
    assert np.array_equal(reopened.state.labels.array, window.state.labels.array)
    # The left channel is where it was saved (the best pose), not the paper's placement.
    assert reopened.session.poses[Side.LEFT] == pytest.approx(
        (best.alpha_deg, best.beta_deg), abs=0.5
    )
    assert reopened.session.assessments[Side.LEFT].clear
    assert not reopened.isWindowModified()
    assert reopened.session.case_path == saved
    monkeypatch.setattr(
        MainWindow, "ask_unsaved_changes", lambda self: QMessageBox.StandardButton.Discard
    )


def test_a_case_is_not_opened_without_its_scan(planned_window, qtbot, tmp_path) -> None:
    window = planned_window
    assert window.cases.save_to(tmp_path / "case.lumboplan")
    # Saved from a volume set directly, the case has no scan reference to follow, and the
    # surgeon cancels the question where it is.
    assert window.cases.open_case(tmp_path / "case.lumboplan")
    qtbot.waitUntil(
        lambda: (
            "needs the scan case.lumboplan was planned on" in window.statusBar().currentMessage()
        )
    )
    assert window.session.case_path == tmp_path / "case.lumboplan"  # the case shown stays
    assert not window.is_busy()
    (tmp_path / "broken.lumboplan").write_bytes(b"not a zip")
    with qtbot.waitSignal(window.error_box_shown) as shown:
        assert window.cases.open_case(tmp_path / "broken.lumboplan")
    assert "not a readable LumboPlan case" in shown.args[0]
    assert window.error_box.windowTitle() == "LumboPlan could not open the case"
    assert window.session.case_path == tmp_path / "case.lumboplan"


def test_a_case_is_read_in_the_background_and_can_be_cancelled(
    planned_window, qtbot, tmp_path, monkeypatch
) -> None:
    from lumboplan_app import session

    window = planned_window
    assert window.cases.save_to(tmp_path / "case.lumboplan")
    read_case = session.read_case

    def slow_read(path):
        time.sleep(1.0)  # a large case: the window must stay responsive meanwhile
        return read_case(path)

    monkeypatch.setattr(session, "read_case", slow_read)
    asked = []
    monkeypatch.setattr(MainWindow, "ask_scan_path", lambda self, name, where: asked.append(name))
    assert window.cases.open_case(tmp_path / "case.lumboplan")
    assert window.is_busy()
    assert window.cancel_button.isVisible()
    assert not window.open_folder_action.isEnabled()
    assert not window.cases.open_case(tmp_path / "case.lumboplan")  # one thing at a time
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=10_000)
    assert "Cancelled" in window.statusBar().currentMessage()
    assert asked == []  # nothing goes on after a cancel
    assert window.session.plan is not None  # the case shown stays
    assert window.session.case_path == tmp_path / "case.lumboplan"


def test_open_case_from_the_menu_asks_for_a_scan_it_cannot_find(
    planned_window, qtbot, tmp_path, monkeypatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    from lumboplan_app import session

    window = planned_window
    saved = tmp_path / "case.lumboplan"
    assert window.cases.save_to(saved)
    reads = []
    read_case = session.read_case
    monkeypatch.setattr(session, "read_case", lambda path: reads.append(path) or read_case(path))
    chosen = [str(saved)]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (chosen[0], ""))
    asked = []
    monkeypatch.setattr(
        MainWindow, "ask_scan_path", lambda self, name, where: asked.append(name) or DEMO / "dicom"
    )
    with qtbot.waitSignal(window.cases.case_opened, timeout=PLAN_TIMEOUT_MS):
        window.open_case_action.trigger()
    # The case names no scan (saved from a volume set directly): the surgeon is asked for it.
    assert asked == ["case.lumboplan"]
    assert reads == [saved]  # read once, not once for the question and again to open it
    assert window.session.case_path == saved

    (tmp_path / "broken.lumboplan").write_bytes(b"not a zip")
    chosen[0] = str(tmp_path / "broken.lumboplan")
    with qtbot.waitSignal(window.error_box_shown) as shown:
        window.open_case_action.trigger()
    assert "not a readable LumboPlan case" in shown.args[0]
    assert asked == ["case.lumboplan"]  # no question for it


def test_correcting_the_labels_with_the_brush_changes_the_plan(planned_window, qtbot) -> None:
    window = planned_window
    window.channel.set_active_side(Side.RIGHT)  # the blocked side
    labels = window.state.labels
    before = window.session.plan.sides[Side.RIGHT]
    assert any(c.part is Part.L5_IAP_RIGHT and c.clearance_mm < 0 for c in before.contacts)
    iap = np.argwhere(window.session.plan.parts.array == Part.L5_IAP_RIGHT)
    centre = iap.mean(axis=0)
    window.state.set_cursor(window.state.clamp_index(centre))
    panel = window.edit_panel
    assert panel.isEnabled()
    qtbot.mouseClick(panel.tool_buttons["erase"], Qt.MouseButton.LeftButton)
    panel.set_structure(Structure.L5)
    panel.radius_spin.setValue(6.0)
    l5_before = int(np.count_nonzero(labels.array == Structure.L5))
    view = window.views["axial"]
    start = view.index_to_widget(tuple(centre))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=point(start))
    for dx in (2, 4, 6):
        qtbot.mouseMove(view, pos=point(start) + QPoint(dx, 0))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=point(start) + QPoint(6, 0))
    erased = int(np.count_nonzero(labels.array == Structure.L5))
    assert erased < l5_before
    assert window.session.plan_stale
    assert not window.report_action.isEnabled()
    # The plan of the old labels is gone: no channel can be moved against old anatomy.
    assert window.session.plan is None
    assert window.session.planner is None
    assert window.views["axial"].channel_handle_position() is None
    assert window.channel.move_end(np.zeros(3)) is None
    # One stroke, one undo step; Ctrl+Z and Ctrl+Y.
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert int(np.count_nonzero(labels.array == Structure.L5)) == l5_before
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert int(np.count_nonzero(labels.array == Structure.L5)) == erased
    # Erase the rest of the right IAP (the headless brush), plan again: the IAP no longer blocks.
    for z in np.unique(iap[:, 0]):
        for y, x in iap[iap[:, 0] == z][:, 1:][::15]:
            window.brush.paint(Structure.L5, (z, y, x), "axial", 4.0, erase=True)
    with qtbot.waitSignal(window.planned, timeout=PLAN_TIMEOUT_MS):
        assert window.plan()
    after = window.session.plan.sides[Side.RIGHT]
    assert not window.session.plan_stale
    assert window.report_action.isEnabled()
    assert not any(c.part is Part.L5_IAP_RIGHT and c.clearance_mm < 0 for c in after.contacts)
    assert after.to_json() != before.to_json()
    # Planned again, the right channel is back where it was before the edits (the paper's pose).
    assert window.session.poses[Side.RIGHT] == pytest.approx(
        (before.alpha_deg, before.beta_deg), abs=0.01
    )


def test_the_foramen_panel_follows_the_channel_and_its_chart_moves_it(planned_window, qtbot):
    window = planned_window
    panel = window.foramen_panel
    assert panel.side is Side.LEFT
    assert panel.group_chip.property("group") == "A"
    assert panel.status_label.property("state") == "clear"
    # The panel's Right button shows the right foramen: Group B, blocked.
    qtbot.mouseClick(panel.side_buttons[Side.RIGHT], Qt.MouseButton.LeftButton)
    assert window.session.active_side is Side.RIGHT
    assert panel.side is Side.RIGHT
    assert panel.group_chip.property("group") == "B"
    assert panel.status_label.property("state") == "blocked"
    assert panel.contacts_table.rowCount() >= 1
    # A click on the chart at the best free pose puts the channel there: clear.
    best = window.session.planner.best_pose(Side.RIGHT)
    chart = panel.chart
    qtbot.mouseClick(chart, Qt.MouseButton.LeftButton, pos=point(chart.point_for_pose(*best)))
    assert window.session.poses[Side.RIGHT] == pytest.approx(best, abs=0.6)
    assert window.session.assessments[Side.RIGHT].clear
    assert panel.status_label.property("state") == "clear"
    assert chart.marks[0] == pytest.approx(window.session.poses[Side.RIGHT])
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert window.session.poses[Side.RIGHT] == pytest.approx(
        window.session.planner.paper_pose(Side.RIGHT)
    )
    assert panel.status_label.property("state") == "blocked"


def test_autosave_and_recovery_after_a_crash(planned_window, qtbot, monkeypatch) -> None:
    from lumboplan_app.recovery import pending_autosaves

    window = planned_window
    best = window.channel.snap_to_best()
    assert window.cases.modified
    with qtbot.waitSignal(window.cases.autosaved, timeout=60_000) as saved:
        assert window.cases.autosave()
    autosave = saved.args[0]
    assert pending_autosaves() == [autosave]
    # A crash: the window is gone without closing; a new one finds the autosave at start.
    window.cases.autosave_timer.stop()
    recovered = MainWindow()
    qtbot.addWidget(recovered)
    recovered.show()
    monkeypatch.setattr(MainWindow, "ask_recovery", lambda self, description: "recover")
    asked = []
    monkeypatch.setattr(
        MainWindow, "ask_scan_path", lambda self, name, where: asked.append(name) or DEMO / "dicom"
    )
    with qtbot.waitSignal(recovered.cases.case_opened, timeout=PLAN_TIMEOUT_MS):
        assert recovered.offer_recovery()
    # Saved from a volume set directly, the case names no scan: the surgeon points to it.
    assert asked == ["the recovered case"]
    assert np.array_equal(recovered.state.labels.array, window.state.labels.array)
    assert recovered.session.poses[Side.LEFT] == pytest.approx(
        (best.alpha_deg, best.beta_deg), abs=0.5
    )
    assert recovered.cases.modified  # recovered work is unsaved until saved
    assert recovered.isWindowModified()
    # Closing with the changes discarded removes the autosave: nothing left to recover.
    recovered.close()
    assert pending_autosaves() == []
    assert not recovered.offer_recovery()


def test_an_autosave_discarded_while_written_is_not_reported(planned_window, qtbot) -> None:
    from lumboplan_app.recovery import pending_autosaves

    window = planned_window
    window.channel.snap_to_best()
    reported = []
    window.cases.autosaved.connect(reported.append)
    assert window.cases.autosave()
    window.cases.discard_autosave()  # waits for the write, then removes it
    qtbot.wait(300)  # the writer's queued "finished" arrives now
    assert reported == []
    assert pending_autosaves() == []
    assert window.cases.autosave()  # and the next autosave is not blocked
    with qtbot.waitSignal(window.cases.autosaved, timeout=60_000):
        pass
    assert len(pending_autosaves()) == 1


def test_saved_cases_are_offered_as_recent(planned_window, qtbot, tmp_path, monkeypatch) -> None:
    window = planned_window
    assert window.cases.save_to(tmp_path / "first.lumboplan")
    assert window.cases.save_to(tmp_path / "second.lumboplan")
    window.recent_menu.aboutToShow.emit()
    actions = window.recent_menu.actions()
    assert [action.text() for action in actions][:2] == ["second.lumboplan", "first.lumboplan"]
    # Opened from the menu, a case whose scan is not found asks for it like File > Open case.
    asked = []
    monkeypatch.setattr(
        MainWindow, "ask_scan_path", lambda self, name, where: asked.append(name) or DEMO / "dicom"
    )
    with qtbot.waitSignal(window.cases.case_opened, timeout=PLAN_TIMEOUT_MS):
        actions[1].trigger()
    assert asked == ["first.lumboplan"]
    assert window.session.case_path == tmp_path / "first.lumboplan"


def test_the_brush_can_fill_beside_bone_without_painting_over_it(qtbot, demo_volume) -> None:
    window = show_main_window(qtbot, (1400, 900), demo_volume)
    with qtbot.waitSignal(window.meshes_shown, timeout=PLAN_TIMEOUT_MS):
        assert window.load_labels(DEMO / "labels.nii.gz")
    labels = window.state.labels
    s1 = np.argwhere(labels.array == Structure.S1)
    edge = s1[s1[:, 1] == s1[:, 1].min()][0]  # S1's most anterior voxel: soft tissue in front
    window.state.set_cursor(window.state.clamp_index(edge))
    panel = window.edit_panel
    qtbot.mouseClick(panel.tool_buttons["paint"], Qt.MouseButton.LeftButton)
    panel.set_structure(Structure.NERVES)
    panel.radius_spin.setValue(5.0)
    assert panel.overwrite_check.isChecked()  # Slicer's default: paint what the voxel is
    panel.overwrite_check.click()
    before = labels.array.copy()
    view = window.views["axial"]
    start = point(view.index_to_widget(tuple(edge)))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, pos=start + QPoint(0, 3))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(0, 3))
    changed = labels.array != before
    assert changed.any()
    assert set(np.unique(before[changed]).tolist()) == {Structure.BACKGROUND}
    assert np.array_equal(labels.array == Structure.S1, before == Structure.S1)
    assert (labels.array[changed] == Structure.NERVES).all()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(labels.array, before)


def test_dragging_in_the_coronal_view_tilts_the_channel(planned_window, qtbot) -> None:
    window = planned_window
    before = window.session.poses[Side.LEFT]
    view = window.views["coronal"]
    start = view.channel_handle_position()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=point(start))
    for dy in (-15, -30, -45, -60):
        qtbot.mouseMove(view, pos=point(start) + QPoint(0, dy))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=point(start) + QPoint(0, -60))
    alpha, beta = window.session.poses[Side.LEFT]
    # Up in the coronal view tilts the channel cranially, keeping its tilt out of the coronal
    # plane: alpha moves a little, it does not snap to straight lateral (the current slice runs
    # through b, where a point on the slice would have no posterior component).
    assert beta > before[1] + 3.0
    assert abs(alpha - before[0]) < 15.0


def test_a_side_switch_alone_leaves_a_saved_case_unmodified(planned_window, tmp_path) -> None:
    window = planned_window
    assert window.cases.save_to(tmp_path / "case.lumboplan")
    window.channel.switch_side()
    window.channel.switch_side()
    assert not window.cases.modified


def test_planning_can_be_cancelled(planned_window, qtbot) -> None:
    window = planned_window
    before = window.session.plan
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=PLAN_TIMEOUT_MS):
        assert window.plan()
    window.cancel_running()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=PLAN_TIMEOUT_MS)
    # The plan shown is the one from before: the cancelled one never arrived.
    assert window.session.plan is before
    assert window.session.planner is not None


def test_the_3d_handle_is_grabbed_anywhere_it_is_drawn_when_zoomed_in(
    planned_window, qtbot
) -> None:
    view = planned_window.view3d.view
    end = planned_window.session.assessments[Side.LEFT].outer_end_lps_mm
    view.scene.plotter.camera.SetFocalPoint(*end)  # look at the handle, closer
    view.scene.zoom(1.8)
    view.render_now()
    drawn = view.scene.handle_radius_px(end)
    assert drawn > 1.5 * view_module.GRAB_RADIUS_PX
    centre = view.handle_position()
    near_the_edge = QPoint(round(centre.x() + 0.85 * drawn), round(centre.y()))
    assert view.rect().contains(near_the_edge)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=near_the_edge)
    assert view.dragging
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=near_the_edge)
    assert not view.dragging


def test_a_side_without_its_pedicle_says_why_and_the_other_is_planned(qtbot, demo_volume) -> None:
    from lumboplan_app.io import read_label_map

    labels = read_label_map(DEMO / "labels.nii.gz")
    left_arch = [Part.L5_PEDICLE_LEFT, Part.L5_TRANSVERSE_PROCESS_LEFT, Part.L5_IAP_LEFT]
    array = labels.array.copy()
    array[np.isin(read_label_map(DEMO / "parts.nii.gz").array, left_arch)] = Structure.BACKGROUND
    window = show_main_window(qtbot, (1400, 900), demo_volume)
    window.show_labels(LabelMap(array, labels.grid))
    with qtbot.waitSignal(window.planned, timeout=PLAN_TIMEOUT_MS):
        assert window.plan()
    assert window.statusBar().currentMessage() == "Planned: left Not assessable, right Group B"
    assert window.session.active_side is Side.RIGHT  # the side with a channel to move
    assert window.views["axial"].channel_handle_position() is not None
    assert not window.switch_side_action.isEnabled()  # one channel to move
    foramen = window.foramen_panel
    qtbot.mouseClick(foramen.side_buttons[Side.LEFT], Qt.MouseButton.LeftButton)
    assert window.session.active_side is Side.LEFT
    assert foramen.group_chip.property("group") == "not_assessable"
    assert "left L5 pedicle was not found where a pedicle lies" in foramen.reasons_label.text()
    assert window.views["axial"].channel_handle_position() is None
