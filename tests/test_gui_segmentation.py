"""The window's Segment action and the label overlay, driven as a surgeon would."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Side, Structure
from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS
from tests.conftest import show_main_window

pytestmark = pytest.mark.gui

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
SEGMENT_TIMEOUT_MS = 180_000


@pytest.fixture
def demo_window(qtbot, demo_volume) -> MainWindow:
    return show_main_window(qtbot, (1100, 800), demo_volume)


def l5_pixels(window: MainWindow) -> int:
    overlay = window.state.overlay_rgba("sagittal")
    colour = np.array(Structure.L5.colour_rgb)
    return int(np.all(overlay[..., :3] == colour, axis=-1).sum())


def test_labels_show_over_the_scan_and_each_structure_can_be_hidden(demo_window, qtbot) -> None:
    window = demo_window
    panel = window.structures_panel
    assert window.state.overlay_rgba("axial") is None
    assert not panel.checks[Structure.L5].isEnabled()
    assert window.load_labels(DEMO / "labels.nii.gz")
    window.state.set_cursor(np.argwhere(window.state.labels.array == Structure.L5).mean(axis=0))
    assert l5_pixels(window) > 50
    assert panel.checks[Structure.L5].isEnabled()
    assert panel.status_label.text() == "All six structures labelled."
    check = panel.checks[Structure.L5]
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert not window.state.is_structure_visible(Structure.L5)
    assert l5_pixels(window) == 0
    panel.opacity_slider.setValue(80)
    assert window.state.label_opacity == pytest.approx(0.8)
    assert window.state.overlay_rgba("axial")[..., 3].max() == round(0.8 * 255)
    window.views["sagittal"].grab()  # paints with the overlay without error


def test_labels_of_another_grid_are_refused_with_a_dialog(demo_window, tmp_path, qtbot) -> None:
    from lumboplan_app.io import write_image
    from lumboplan_app.volume import Grid, LabelMap

    other = LabelMap(np.zeros((4, 5, 6), np.uint8), Grid((4, 5, 6), (1.0, 1.0, 1.0), (0, 0, 0)))
    path = tmp_path / "other.nii.gz"
    write_image(other, path)
    assert not demo_window.load_labels(path)
    assert "does not lie on the scan's voxel grid" in demo_window.error_box.text()
    assert demo_window.state.labels is None


def test_segment_without_a_usable_model_says_what_to_do(demo_window, qtbot, tmp_path) -> None:
    # The model's weights went away after it was chosen.
    chosen = demo_window.models.model
    demo_window.models.model = replace(chosen, weights=tmp_path / "missing.safetensors")
    with qtbot.waitSignal(demo_window.error_box_shown, timeout=SEGMENT_TIMEOUT_MS):
        assert demo_window.segment()
    qtbot.waitUntil(lambda: not demo_window.is_busy(), timeout=5000)
    assert "missing.safetensors" in demo_window.error_box.text()
    assert "Traceback" not in demo_window.error_box.text()
    assert demo_window.state.labels is None
    assert demo_window.segment_action.isEnabled()


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights")
def test_segment_labels_the_demo_with_the_shipped_model(demo_window, qtbot) -> None:
    window = demo_window
    qtbot.mouseClick(window.structures_panel.segment_button, Qt.MouseButton.LeftButton)
    assert window.is_busy()
    assert not window.segment_action.isEnabled()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=SEGMENT_TIMEOUT_MS)
    assert window.error_box is None
    labels = window.state.labels
    assert labels is not None
    assert labels.grid.matches(window.state.volume.grid)
    truth = read_label_map(DEMO / "labels.nii.gz")
    for structure in (Structure.L5, Structure.S1, Structure.DISC):
        a, b = labels.array == structure, truth.array == structure
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.8, structure


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights")
def test_segmentation_can_be_cancelled(demo_window, qtbot) -> None:
    window = demo_window
    assert window.segment()
    window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=SEGMENT_TIMEOUT_MS)
    assert window.state.labels is None
    assert window.error_box is None


def test_plan_and_export_the_report_from_the_window(demo_window, qtbot, tmp_path) -> None:
    window = demo_window
    assert not window.plan_action.isEnabled()  # nothing to plan without labels
    assert window.load_labels(DEMO / "labels.nii.gz")
    assert window.plan_action.isEnabled()
    assert not window.report_action.isEnabled()
    with qtbot.waitSignal(window.planned, timeout=SEGMENT_TIMEOUT_MS):
        window.plan_action.trigger()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=5000)
    truth = json.loads((DEMO / "truth.json").read_text())["plan"]
    for side in (Side.LEFT, Side.RIGHT):
        planned = window.session.plan.sides[side]
        # The plan on the labels agrees with the exact geometry: left open, right blocked.
        assert planned.group == truth[side.value]["group"]
    summary = window.structures_panel.plan_label.text()
    assert "Left foramen: Group A" in summary
    assert "Right foramen: Group B" in summary
    assert window.report_action.isEnabled()
    output = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.report_written, timeout=SEGMENT_TIMEOUT_MS):
        assert window.write_report(output)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=5000)
    assert output.read_bytes().startswith(b"%PDF")
    # New labels drop the plan: a report can no longer describe labels it was not made from.
    assert window.load_labels(DEMO / "labels.nii.gz")
    assert window.session.plan is None
    assert not window.report_action.isEnabled()
