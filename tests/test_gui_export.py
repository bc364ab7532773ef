"""File > Export from the window (issue 22, item 3): the same export as ``lumboplan export``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from lumboplan_app.gui import dialogs
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Structure
from lumboplan_app.volume import LabelMap
from tests.conftest import show_main_window

pytestmark = pytest.mark.gui

TIMEOUT_MS = 30_000
PATIENT_ID = "PID-5512"


@pytest.fixture
def window(qtbot, make_series) -> MainWindow:
    """The window showing a small DICOM series (with a patient ID) and blocks of labels."""
    window = show_main_window(qtbot, (900, 700))
    folder = make_series(patient_name="Export^Test", patient_id=PATIENT_ID)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        assert window.open_path(folder, None)
    return window


def show_blocks(window: MainWindow) -> LabelMap:
    grid = window.state.volume.grid
    array = np.zeros(grid.shape_zyx, np.uint8)
    array[2:6, 3:9, 4:12] = Structure.L5
    array[6:8, 3:9, 4:12] = Structure.DISC
    labels = LabelMap(array, grid)
    window.show_labels(labels)
    return labels


def answer_export(monkeypatch, path: Path, deidentify: bool) -> None:
    monkeypatch.setattr(dialogs, "ask_export_path", lambda parent, start: (path, deidentify))


def test_file_export_writes_a_seg_nrrd_that_reads_back_as_the_labels(
    window, qtbot, monkeypatch, tmp_path: Path
) -> None:
    export = window.commands["export"]
    assert not export.isEnabled()  # no labels yet
    labels = show_blocks(window)
    assert export.isEnabled()
    output = tmp_path / "case.seg.nrrd"
    answer_export(monkeypatch, output, False)
    with qtbot.waitSignal(window.exporter.exported, timeout=TIMEOUT_MS) as done:
        export.trigger()
    assert done.args == [[output]]
    back = read_label_map(output, reference=labels.grid)
    np.testing.assert_array_equal(back.array, labels.array)
    assert window.statusBar().currentMessage() == "Exported: case.seg.nrrd"
    # And back in through Open labels (as a segmentation edited in Slicer would come).
    window.show_labels(LabelMap(np.zeros_like(labels.array), labels.grid))
    assert window.load_labels(output)
    np.testing.assert_array_equal(window.session.labels.array, labels.array)


def test_file_export_writes_a_deidentified_dicom_seg_on_the_series(
    window, qtbot, monkeypatch, tmp_path: Path
) -> None:
    show_blocks(window)
    output = tmp_path / "labels.dcm"
    answer_export(monkeypatch, output, True)
    with qtbot.waitSignal(window.exporter.exported, timeout=TIMEOUT_MS):
        window.commands["export"].trigger()
    seg = pydicom.dcmread(output)
    assert seg.Modality == "SEG"
    assert [item.SegmentLabel for item in seg.SegmentSequence] == ["L5 vertebra", "L5/S1 disc"]
    assert PATIENT_ID.encode() not in output.read_bytes()


def test_a_failed_export_says_why_in_the_error_box(
    window, qtbot, monkeypatch, tmp_path: Path
) -> None:
    show_blocks(window)  # no plan: the plan's markups cannot be written
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        MainWindow, "show_error", lambda self, message, title: shown.append((message, title))
    )
    answer_export(monkeypatch, tmp_path / "plan.markups.json", False)
    window.commands["export"].trigger()
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT_MS)
    message, title = shown[0]
    assert title == "LumboPlan could not export the case"
    assert "no plan yet" in message
    assert not (tmp_path / "plan.markups.json").exists()
