"""The correction tools in the window: a removed disc grown back from a few strokes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.labels import Structure
from lumboplan_app.volume import LabelMap
from tests.conftest import show_main_window
from tests.test_correction_tools import ball_scene, dice

pytestmark = pytest.mark.gui


def stroke(qtbot, window, index_zyx) -> None:
    """Drag the brush a few pixels in the axial view at voxel ``index_zyx``."""
    window.state.set_cursor(index_zyx)
    view = window.views["axial"]
    position = view.index_to_widget(index_zyx)
    start = QPoint(round(position.x()), round(position.y()))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, pos=start + QPoint(3, 0))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(3, 0))


@pytest.fixture
def damaged_window(qtbot) -> tuple[MainWindow, np.ndarray]:
    """The window showing a scan whose disc was removed from its labels; and the truth."""
    volume, labels, truth = ball_scene()
    labels.array[labels.array == Structure.DISC] = 0
    window = show_main_window(qtbot, (1300, 850), volume)
    window.show_labels(LabelMap(labels.array.copy(), labels.grid))
    return window, truth


def test_grow_from_seeds_puts_a_removed_disc_back_and_undoes_in_one_step(
    qtbot, damaged_window
) -> None:
    window, truth = damaged_window
    labels = window.state.labels
    damaged = labels.array.copy()
    assert "L5/S1 disc" in window.structures_panel.status_label.text()
    panel, tools = window.edit_panel, window.edit_panel.tools
    assert panel.isEnabled()
    qtbot.mouseClick(panel.tool_buttons["seed"], Qt.MouseButton.LeftButton)
    panel.set_structure(Structure.DISC)
    panel.radius_spin.setValue(2.0)
    stroke(qtbot, window, (15, 20, 20))
    assert np.array_equal(labels.array, damaged)  # strokes alone change no label
    assert tools.seeds_label.text() == "Strokes: L5/S1 disc."
    assert window.state.overlay_rgba("axial")[20, 20, 3] == 255  # the stroke is drawn
    tools.background_check.setChecked(True)
    stroke(qtbot, window, (15, 6, 6))  # updates after the stroke
    assert dice(labels.array == Structure.DISC, truth == Structure.DISC) > 0.9
    assert np.array_equal(labels.array == Structure.L5, truth == Structure.L5)
    # Once the edits pause, the structures panel no longer lists the disc as not found.
    missing = window.structures_panel.status_label
    qtbot.waitUntil(lambda: "L5/S1 disc" not in missing.text(), timeout=3000)
    assert missing.text().startswith("Not found: ")
    stroke(qtbot, window, (15, 20, 35))
    grown = labels.array.copy()
    assert dice(grown == Structure.DISC, truth == Structure.DISC) > 0.9
    assert window.session.grower is not None
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(labels.array, damaged)  # two updates, one undo
    assert window.brush.redo()
    assert np.array_equal(labels.array, grown)
    qtbot.mouseClick(tools.clear_seeds_button, Qt.MouseButton.LeftButton)
    assert window.session.grower is None
    assert tools.seeds_label.text() == "No strokes."
    assert window.state.overlay_rgba("axial")[20, 20, 3] < 255  # the strokes are gone


def test_the_one_click_tools_say_why_they_cannot_run_and_change_nothing(
    qtbot, damaged_window
) -> None:
    window, _ = damaged_window
    labels = window.state.labels
    tools = window.edit_panel.tools
    before = labels.array.copy()
    window.edit_panel.set_structure(Structure.DISC)
    qtbot.mouseClick(tools.fill_button, Qt.MouseButton.LeftButton)
    assert "Draw the L5/S1 disc" in tools.message_label.text()
    qtbot.mouseClick(tools.grow_button, Qt.MouseButton.LeftButton)
    assert "stroke in the slices first" in tools.message_label.text()
    assert np.array_equal(labels.array, before)
    labels.array[2, 2, 2] = Structure.S1  # a speck
    qtbot.mouseClick(tools.islands_button, Qt.MouseButton.LeftButton)
    assert np.array_equal(labels.array, before)
    assert window.edit_panel.undo_button.isEnabled()


def test_a_refused_segmentation_opens_as_a_draft_to_correct_and_confirm(qtbot, monkeypatch) -> None:
    from lumboplan_app.draft import PLAN_RESTS_ON
    from lumboplan_app.errors import ImplausibleSegmentationError
    from lumboplan_app.segmentation import inference

    volume, labels, truth = ball_scene()
    labels.array[labels.array == Structure.DISC] = 0

    class RefusingSegmenter:
        def __init__(self, weights) -> None:
            pass

        def segment(self, volume, progress=None, should_cancel=None) -> LabelMap:
            raise ImplausibleSegmentationError(
                "No plausible L5/S1 disc found: ... The labels were not kept.",
                "No plausible L5/S1 disc found",
                (Structure.DISC,),
                LabelMap(labels.array.copy(), labels.grid),
            )

    monkeypatch.setattr(inference, "Segmenter", RefusingSegmenter)
    window = show_main_window(qtbot, (1300, 600), volume)  # a laptop: the draft below the fold
    assert window.segment()
    qtbot.waitUntil(lambda: window.session.draft is not None, timeout=10_000)
    panel = window.edit_panel.draft_panel
    assert panel.isVisible()
    assert panel.reason_label.text() == "Refused: No plausible L5/S1 disc found"
    assert panel.checks[Structure.DISC].text().endswith("(failed the check)")
    assert "unverified draft" in window.structures_panel.status_label.text()
    viewport = window.review_tab.viewport()  # the draft, below the structures, is scrolled to

    def draft_top_in_view() -> bool:
        top = panel.mapTo(viewport, panel.rect().topLeft()).y()
        return 0 <= top < viewport.height() // 2

    qtbot.waitUntil(draft_top_in_view, timeout=5000)
    assert window.review_tab.verticalScrollBar().value() > 0
    # Planned before anything is confirmed: no side is assessable, and the foramen panel says why.
    with qtbot.waitSignal(window.planned, timeout=30_000):
        assert window.plan()
    foramen = window.foramen_panel
    assert foramen.hint_label.isHidden()
    assert foramen.group_chip.property("group") == "not_assessable"
    assert foramen.reasons_label.text()
    assert window.statusBar().currentMessage() == (
        "Planned: left Not assessable, right Not assessable"
    )
    # Correct the disc with grow from seeds, then confirm every structure.
    qtbot.mouseClick(window.edit_panel.tool_buttons["seed"], Qt.MouseButton.LeftButton)
    window.edit_panel.set_structure(Structure.DISC)
    window.edit_panel.radius_spin.setValue(2.0)
    stroke(qtbot, window, (15, 20, 20))
    window.edit_panel.tools.background_check.setChecked(True)
    stroke(qtbot, window, (15, 6, 6))
    shown = window.state.labels.array
    assert dice(shown == Structure.DISC, truth == Structure.DISC) > 0.9
    assert window.session.draft.corrected == {Structure.DISC}
    assert "(corrected)" in panel.checks[Structure.DISC].text()
    # The stroke dropped the plan of the old labels: the window shows none and says so.
    assert window.session.plan is None
    assert not foramen.hint_label.isHidden()
    assert "plan again (Ctrl+P)" in window.structures_panel.plan_label.text()
    # Planned again, then a confirmation: that plan rested on the old confirmations, and the
    # window follows the session in dropping it (it used to keep showing it).
    with qtbot.waitSignal(window.planned, timeout=30_000):
        assert window.plan()
    assert foramen.hint_label.isHidden()
    for structure in PLAN_RESTS_ON:
        panel.checks[structure].click()
    assert window.session.draft.unconfirmed == ()
    assert window.session.plan is None
    assert not foramen.hint_label.isHidden()
    assert foramen.group_chip.property("group") != "not_assessable"
    assert "plan again (Ctrl+P)" in window.structures_panel.plan_label.text()
    window.show_labels(LabelMap(truth.copy(), labels.grid))  # new labels end the draft
    assert not panel.isVisible()
    assert window.structures_panel.plan_label.text() == ""  # and the "plan again" of the old
    assert "unverified draft" not in window.structures_panel.status_label.text()


def test_a_saved_draft_reopens_as_a_draft_with_its_confirmations(qtbot, tmp_path) -> None:
    from lumboplan_app.draft import Draft
    from lumboplan_app.io import write_image

    volume, labels, _ = ball_scene()
    write_image(volume, tmp_path / "scan.nii.gz")
    window = show_main_window(qtbot, (1300, 850))
    with qtbot.waitSignal(window.volume_loaded, timeout=10_000):
        assert window.open_path(tmp_path / "scan.nii.gz")
    window.show_labels(labels)
    window.session.mark_draft(Draft("No plausible L5/S1 disc found", (Structure.DISC,)))
    window.edit_panel.draft_panel.checks[Structure.L5].click()
    assert window.cases.save_to(tmp_path / "draft.lumboplan")
    window.show_labels(LabelMap(labels.array.copy(), labels.grid))
    assert window.session.draft is None
    with qtbot.waitSignal(window.cases.case_opened, timeout=10_000):
        assert window.cases.open_case(tmp_path / "draft.lumboplan")
    draft = window.session.draft
    assert draft is not None
    assert draft.failed == (Structure.DISC,)
    assert draft.confirmed == {Structure.L5}
    assert window.edit_panel.draft_panel.checks[Structure.L5].isChecked()
    assert not window.cases.modified


@pytest.mark.slow
def test_a_refused_demo_is_corrected_confirmed_planned_and_reported(
    qtbot, monkeypatch, demo_volume, tmp_path
) -> None:
    """The issue's path through the window: refused, grown back from strokes, confirmed, planned."""
    import json
    from pathlib import Path

    from scipy import ndimage

    from lumboplan_app.draft import PLAN_RESTS_ON
    from lumboplan_app.errors import ImplausibleSegmentationError
    from lumboplan_app.io import read_label_map
    from lumboplan_app.labels import Side
    from lumboplan_app.segmentation import inference

    demo = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
    truth = read_label_map(demo / "labels.nii.gz", reference=demo_volume.grid)
    refused = truth.array.copy()
    refused[refused == Structure.DISC] = 0  # the model "missed" the disc

    class RefusingSegmenter:
        def __init__(self, weights) -> None:
            pass

        def segment(self, volume, progress=None, should_cancel=None) -> LabelMap:
            raise ImplausibleSegmentationError(
                "No plausible L5/S1 disc found: ...",
                "No plausible L5/S1 disc found",
                (Structure.DISC,),
                LabelMap(refused.copy(), truth.grid),
            )

    monkeypatch.setattr(inference, "Segmenter", RefusingSegmenter)
    window = show_main_window(qtbot, (1400, 900), demo_volume)
    assert window.segment()
    qtbot.waitUntil(lambda: window.session.draft is not None, timeout=20_000)
    panel = window.edit_panel
    qtbot.mouseClick(panel.tool_buttons["seed"], Qt.MouseButton.LeftButton)
    panel.radius_spin.setValue(2.0)
    disc = truth.array == Structure.DISC
    near = ndimage.binary_dilation(disc, iterations=10) & np.isin(truth.array, (0, Structure.DISC))
    centre = tuple(int(c) for c in np.argwhere(disc).mean(axis=0).round())
    panel.set_structure(Structure.DISC)
    stroke(qtbot, window, centre)
    panel.tools.background_check.setChecked(True)
    stroke(qtbot, window, (centre[0], centre[1] - 25, centre[2]))  # the fat in front
    # Then as a surgeon does: a stroke in the middle of the biggest remaining error.
    for _ in range(12):
        shown = window.state.labels.array
        if dice(shown == Structure.DISC, disc) > 0.9:
            break
        pieces, _ = ndimage.label((shown != truth.array) & near)
        biggest = pieces == np.argmax(np.bincount(pieces.ravel())[1:]) + 1
        depth = ndimage.distance_transform_edt(biggest)
        point = tuple(int(i) for i in np.unravel_index(np.argmax(depth), depth.shape))
        panel.tools.background_check.setChecked(bool(truth.array[point] == 0))
        stroke(qtbot, window, point)
    assert dice(window.state.labels.array == Structure.DISC, disc) > 0.9
    for structure in PLAN_RESTS_ON:
        panel.draft_panel.checks[structure].click()
    with qtbot.waitSignal(window.planned, timeout=120_000):
        assert window.plan()
    expected = json.loads((demo / "truth.json").read_text())["plan"]
    for side in Side:
        planned = window.session.plan.sides[side]
        assert planned.group != "A" or expected[side.value]["group"] == "A"
        assert (
            planned.group != "not_assessable" or expected[side.value]["group"] == "not_assessable"
        )
    output = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.report_written, timeout=120_000):
        assert window.write_report(output)
    assert output.read_bytes().startswith(b"%PDF")
