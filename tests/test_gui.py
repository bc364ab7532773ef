"""The window, driven as a surgeon would: open, choose a series, click, scroll, window, cancel."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QtMsgType, QUrl, qInstallMessageHandler
from PySide6.QtGui import QColor, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from lumboplan_app import __version__
from lumboplan_app.errors import Cancelled, NotAnImageError, SeriesChoiceRequired
from lumboplan_app.gui.app import (
    CHECK_THE_CASE,
    UNFINISHED,
    build_parser,
    create_window,
    install_excepthook,
    load_style_sheet,
)
from lumboplan_app.gui.controllers import scan_loading
from lumboplan_app.gui.layout import EMPTY_STATE_TEXT
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.workers import Worker, load_scan_job
from lumboplan_app.labels import Structure
from lumboplan_app.viewing import DEFAULT_PRESET, ViewState, apply_window, extract_plane
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume
from tests.conftest import show_main_window

pytestmark = pytest.mark.gui

LOAD_TIMEOUT_MS = 30_000
#: (z, y, x) voxels, anisotropic spacing (x, y, z) = 0.8, 1.0, 2.5 mm.
SHAPE_ZYX = (10, 12, 14)


def random_volume(seed: int = 0) -> Volume:
    """A volume whose every slice looks different, so a view showing the wrong one is caught."""
    grid = Grid(shape_zyx=SHAPE_ZYX, spacing_xyz_mm=(0.8, 1.0, 2.5), origin_lps_mm=(5, -30, 40))
    values = np.random.default_rng(seed).uniform(0, 1000, SHAPE_ZYX).astype(np.float32)
    return Volume(values, grid, ScanMeta(modality="MR", series_description="random"))


@pytest.fixture
def window(qtbot) -> MainWindow:
    return show_main_window(qtbot, (1000, 760))


@pytest.fixture
def shown(window, qtbot) -> MainWindow:
    """The window showing :func:`random_volume` in the full-range window."""
    with qtbot.waitSignal(window.volume_loaded, timeout=2000):
        window.set_volume(random_volume())
    window.state.apply_preset("Full range")
    return window


def open_and_wait(window: MainWindow, qtbot, path: Path, series: str | None = None) -> Volume:
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert window.open_path(path, series)
    qtbot.waitUntil(lambda: not window.is_loading(), timeout=LOAD_TIMEOUT_MS)
    return blocker.args[0]


def open_and_fail(window: MainWindow, qtbot, path: Path) -> BaseException:
    with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert window.open_path(path)
    return blocker.args[0]


def shown_grey(view: QWidget, rows_columns) -> np.ndarray:
    """Grey levels the view shows at the centres of the given display pixels."""
    image = view.grab().toImage()
    grey = []
    for row, column in rows_columns:
        point = view.display_to_widget(row, column)
        grey.append(QColor(image.pixel(int(point.x()), int(point.y()))).red())
    return np.array(grey, dtype=np.float64)


def expected_grey(window: MainWindow, plane: str, slice_index: int, rows_columns) -> np.ndarray:
    state = window.state
    grey = apply_window(extract_plane(state.volume.array, plane, slice_index), state.window)
    return np.array([grey[r, c] for r, c in rows_columns], dtype=np.float64)


def sample_pixels(window: MainWindow, plane: str) -> list[tuple[int, int]]:
    """Display pixels of ``plane`` away from the crosshair lines and the edge letters."""
    row_cursor, column_cursor = (round(v) for v in window.state.cursor_display(plane))
    return [
        (r, c)
        for r in (1, 2, 7)
        for c in (1, 2, 9)
        if abs(r - row_cursor) > 1 and abs(c - column_cursor) > 1
    ]


def assert_view_shows(window: MainWindow, plane: str, slice_index: int) -> None:
    view = window.views[plane]
    pixels = sample_pixels(window, plane)
    assert len(pixels) >= 4
    seen = shown_grey(view, pixels)
    error = np.abs(seen - expected_grey(window, plane, slice_index, pixels)).mean()
    other = slice_index + 1 if slice_index + 1 < window.state.slice_count(plane) else 0
    error_other = np.abs(seen - expected_grey(window, plane, other, pixels)).mean()
    assert error < 6, f"{plane} view does not show slice {slice_index} (mean error {error:.1f})"
    assert error_other > 4 * error + 10


# -- start, empty state, menus ------------------------------------------------------------------


def test_empty_window_invites_to_open_a_scan(window):
    assert window.stack.currentIndex() == 0
    assert window.empty_label.text() == EMPTY_STATE_TEXT
    assert window.empty_label.isVisible()
    assert window.state is None
    assert not window.preset_combo.isEnabled()
    assert window.open_folder_action.shortcut().toString() == "Ctrl+O"
    assert window.open_file_action.shortcut().toString() == "Ctrl+Shift+O"
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.segment_action.shortcut().toString() == "Ctrl+G"
    assert not window.segment_action.isEnabled()  # nothing to segment yet
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["&File", "&Edit", "&Case", "C&hannel", "&View", "&Model", "&Help"]


def test_about_names_the_version(window, qtbot):
    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.about_box is not None and window.about_box.isVisible())
    assert __version__ in window.about_box.text()
    assert "does not replace" in window.about_box.text()
    # The model card: what the model is, what it was trained on, its held-out Dice.
    assert "BasicUNet" in window.about_box.text()
    assert "synthetic" in window.about_box.text()
    assert "held-out phantoms" in window.about_box.text()
    window.about_box.accept()


def test_quit_closes_the_window(window, qtbot):
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_style_sheet_is_shipped_and_parses(qtbot):
    sheet = load_style_sheet()
    assert "QMainWindow" in sheet
    problems = []

    def handler(mode, context, message):
        if mode != QtMsgType.QtDebugMsg:
            problems.append(message)

    previous = qInstallMessageHandler(handler)
    try:
        widget = MainWindow()
        qtbot.addWidget(widget)
        widget.setStyleSheet(sheet)
        widget.show()
        qtbot.waitExposed(widget)
        widget.grab()
    finally:
        qInstallMessageHandler(previous)
    # Qt reports a sheet it cannot parse ("Could not parse stylesheet ...") or an unknown
    # property as warnings; the offscreen platform's own notice is not about the sheet.
    assert [p for p in problems if "propagateSizeHints" not in p] == []


def test_command_line_options():
    args = build_parser().parse_args(["scan_dir", "--exit-when-shown"])
    assert args.scan == Path("scan_dir")
    assert args.exit_when_shown
    assert build_parser().parse_args([]).scan is None


def test_exit_when_shown_starts_quits_and_prints_nothing():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "lumboplan_app.gui.app", "--exit-when-shown"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_window_starts_without_readers_or_heavy_libraries():
    code = (
        "import sys\n"
        "import lumboplan_app.gui.app\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.split())
    assert "PySide6" in loaded
    heavy = {"torch", "vtk", "vtkmodules", "pyvista", "pyvistaqt", "reportlab", "monai"}
    readers = {"SimpleITK", "pydicom", "scipy"}
    assert not loaded & (heavy | readers)


# -- opening ------------------------------------------------------------------------------------


def test_open_dicom_folder_from_the_menu(window, qtbot, make_series, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    folder = make_series(
        folder="Doe_Jane_MRI", series_description="T2 SPACE sag", patient_name="Doe^Jane"
    )
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kw: str(folder))
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.open_folder_action.trigger()
        assert window.is_loading()
        assert window.progress_bar.isVisible()
        assert window.cancel_button.isVisible()
        assert not window.open_folder_action.isEnabled()
    qtbot.waitUntil(lambda: not window.is_loading())
    volume = blocker.args[0]
    assert window.state.volume is volume
    # The sagittal acquisition arrives in canonical LPS order: slices (L) are the x axis.
    assert volume.grid.shape_zyx == (16, 20, 12)
    assert volume.grid.spacing_xyz_mm == pytest.approx((1.5, 0.8, 0.9))
    assert volume.grid.orientation_code() == "LPS"
    assert window.stack.currentIndex() == 1
    assert window.info_panel.values["Series"] == "T2 SPACE sag"
    assert window.info_panel.values["Orientation"] == "LPS"
    assert window.windowTitle() == "T2 SPACE sag[*] — LumboPlan"  # [*]: the change mark
    assert not window.isWindowModified()  # a scan alone is not a case with changes
    assert window.preset_combo.currentText() == DEFAULT_PRESET
    assert not window.progress_bar.isVisible()
    assert not window.cancel_button.isVisible()
    assert window.open_folder_action.isEnabled()
    assert window.active_worker_count() == 0
    assert "Doe" not in caplog.text
    assert "Jane" not in caplog.text
    assert str(folder) not in caplog.text


def test_open_image_file_from_the_menu(window, qtbot, tmp_path, monkeypatch):
    from lumboplan_app.io import write_image

    path = tmp_path / "scan.nii.gz"
    write_image(random_volume(), path)
    seen_filters = []

    def get_open_file_name(parent, caption, folder, filters):
        seen_filters.append(filters)
        return str(path), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", get_open_file_name)
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.open_file_action.trigger()
    volume = blocker.args[0]
    np.testing.assert_allclose(volume.array, random_volume().array, rtol=1e-6)
    assert "*.nii.gz" in seen_filters[0]
    assert "*.nrrd" in seen_filters[0]
    assert "*.mha" in seen_filters[0]


def test_a_dropped_folder_is_opened(window, qtbot, make_series):
    folder = make_series(series_description="dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    centre = QPointF(window.width() / 2, window.height() / 2)
    drop = QDropEvent(
        centre,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.dropEvent(drop)
    assert blocker.args[0].meta.series_description == "dropped"


def test_scan_on_the_command_line_opens_on_start(qtbot, make_series):
    folder = make_series(series_description="from argv")
    window = create_window(folder)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0].meta.series_description == "from argv"


def test_ct_scan_shows_its_warning_and_ct_presets(window, qtbot, make_series):
    volume = open_and_wait(window, qtbot, make_series(modality="CT", series_description="CT"))
    assert any("CT" in warning for warning in volume.meta.warnings)
    assert window.info_panel.warnings == volume.meta.warnings
    assert window.info_panel.warnings_label.isVisible()
    presets = [window.preset_combo.itemText(i) for i in range(window.preset_combo.count())]
    assert "CT bone" in presets


def test_several_series_open_the_chooser_and_the_chosen_one_loads(
    window, qtbot, make_series, tmp_path
):
    make_series(folder="cd/a", series_description="T2 SPACE sag", series_number=3)
    make_series(folder="cd/b", series_description="T1 TSE sag", series_number=4)
    single = Grid(shape_zyx=(1, 16, 20), spacing_xyz_mm=(1, 1, 1), origin_lps_mm=(0, 0, 0))
    make_series(grid=single, folder="cd/c", series_description="Localizer", series_number=5)
    error = open_and_fail(window, qtbot, tmp_path / "cd")
    assert isinstance(error, SeriesChoiceRequired)
    qtbot.waitUntil(
        lambda: window.scans.series_dialog is not None and window.scans.series_dialog.isVisible()
    )
    dialog = window.scans.series_dialog
    table = dialog.table
    descriptions = [table.item(row, 1).text() for row in range(table.rowCount())]
    assert descriptions == ["T2 SPACE sag", "T1 TSE sag", "Localizer"]
    localizer = descriptions.index("Localizer")
    assert table.item(localizer, 6).text()  # the problem is shown as text
    assert not table.item(localizer, 1).flags() & Qt.ItemFlag.ItemIsEnabled
    assert table.item(0, 1).flags() & Qt.ItemFlag.ItemIsEnabled
    table.selectRow(localizer)  # a greyed row cannot be chosen
    assert dialog.selected_series() is None
    assert not dialog.open_button.isEnabled()
    dialog.select_index(2)
    assert dialog.open_button.isEnabled()
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].meta.series_description == "T1 TSE sag"
    assert window.scans.series_dialog is None


def test_cancelling_the_chooser_changes_nothing(shown, qtbot, make_series, tmp_path):
    make_series(folder="two/a", series_description="first")
    make_series(folder="two/b", series_description="second")
    before = shown.state
    open_and_fail(shown, qtbot, tmp_path / "two")
    qtbot.waitUntil(
        lambda: shown.scans.series_dialog is not None and shown.scans.series_dialog.isVisible()
    )
    qtbot.mouseClick(shown.scans.series_dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert shown.scans.series_dialog is None
    assert shown.state is before
    assert not shown.is_loading()
    assert "nothing was changed" in shown.statusBar().currentMessage()


def test_a_folder_whose_only_series_cannot_be_opened_says_why(window, qtbot, make_series):
    single = Grid(shape_zyx=(1, 16, 20), spacing_xyz_mm=(1, 1, 1), origin_lps_mm=(0, 0, 0))
    error = open_and_fail(window, qtbot, make_series(grid=single, folder="one_slice"))
    assert window.error_box is not None
    assert window.error_box.isVisible()
    assert "single 2-D image" in window.error_box.text()
    assert window.error_box.text() == str(error)
    assert window.scans.series_dialog is None


@pytest.mark.parametrize("content", ["empty", "junk"])
def test_a_bad_folder_shows_the_message_and_keeps_the_scan(shown, qtbot, tmp_path, content):
    folder = tmp_path / content
    folder.mkdir()
    if content == "junk":
        (folder / "x.dcm").write_text("this is not a DICOM file\n" * 20)
    before = shown.state
    error = open_and_fail(shown, qtbot, folder)
    assert isinstance(error, NotAnImageError)
    box = shown.error_box
    assert box.isVisible()
    assert box.text().startswith("No DICOM image was found here. Choose the folder")
    assert "Traceback" not in box.text()
    assert shown.state is before
    assert shown.stack.currentIndex() == 1
    assert shown.open_folder_action.isEnabled()
    assert not shown.is_loading()
    box.accept()
    qtbot.waitUntil(lambda: not box.isVisible())


def test_an_unexpected_error_gets_a_generic_message_and_only_its_type_is_logged(
    shown, qtbot, tmp_path, monkeypatch, caplog
):
    def broken_job(path, series):
        def job(progress, should_cancel):
            raise RuntimeError(f"decoder exploded on {path}")

        return job

    monkeypatch.setattr(scan_loading, "load_scan_job", broken_job)
    before = shown.state
    secret = tmp_path / "Doe_Jane"
    secret.mkdir()
    error = open_and_fail(shown, qtbot, secret)
    assert isinstance(error, RuntimeError)
    text = shown.error_box.text()
    assert "unexpected problem (RuntimeError)" in text
    assert "Doe_Jane" not in text
    assert "exploded" not in text
    assert "RuntimeError" in caplog.text
    assert "Doe_Jane" not in caplog.text
    assert "exploded" not in caplog.text
    assert shown.state is before


def test_cancel_stops_the_load_and_keeps_the_scan(shown, qtbot, make_series):
    before = shown.state
    folder = make_series()
    with qtbot.waitSignal(shown.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert shown.open_path(folder)
        assert not shown.open_path(folder)  # one load at a time
        qtbot.mouseClick(shown.cancel_button, Qt.MouseButton.LeftButton)
    assert isinstance(blocker.args[0], Cancelled)
    assert shown.state is before
    assert shown.error_box is None
    assert "cancelled" in shown.statusBar().currentMessage()
    assert not shown.cancel_button.isVisible()
    assert not shown.is_loading()
    assert shown.active_worker_count() == 0


def test_closing_during_a_load_stops_the_worker(window, qtbot, make_series):
    assert window.open_path(make_series())
    window.close()
    assert window.active_worker_count() == 0
    assert not window.is_loading()
    assert not window.open_path(make_series(folder="again"))


# -- workers without a thread ---------------------------------------------------------------


def test_worker_body_reports_progress_result_and_errors(qtbot):
    def job(progress, should_cancel):
        progress(0.5, "half")
        progress(2.0, "clamped")
        return 42

    worker = Worker(job)
    reports = []
    worker.progress.connect(lambda fraction, text: reports.append((fraction, text)))
    with qtbot.waitSignal(worker.finished, timeout=1000) as blocker:
        worker.work()
    assert blocker.args == [42]
    assert reports == [(0.5, "half"), (1.0, "clamped")]

    def failing(progress, should_cancel):
        if should_cancel():
            raise Cancelled()
        return None

    worker = Worker(failing)
    worker.request_cancel()
    with qtbot.waitSignal(worker.failed, timeout=1000) as blocker:
        worker.work()
    assert isinstance(blocker.args[0], Cancelled)


def test_load_job_reads_in_a_child_process_and_honours_cancel(make_series):
    job = load_scan_job(make_series(), None)
    reports = []
    volume = job(lambda fraction, text: reports.append(fraction), lambda: False)
    assert volume.grid.shape_zyx == (16, 20, 12)
    assert reports[0] == 0.0
    assert reports[-1] == 1.0
    assert reports == sorted(reports)
    with pytest.raises(Cancelled):
        job(lambda fraction, text: None, lambda: True)


# -- the views ------------------------------------------------------------------------------


def test_views_keep_the_true_pixel_aspect(shown):
    expected_height_over_width = {
        "axial": (12 * 1.0) / (14 * 0.8),
        "coronal": (10 * 2.5) / (14 * 0.8),
        "sagittal": (10 * 2.5) / (12 * 1.0),
    }
    for plane, ratio in expected_height_over_width.items():
        rect = shown.views[plane].image_rect()
        assert rect.height() / rect.width() == pytest.approx(ratio, rel=0.01)


def test_views_show_their_slice_of_the_cursor(shown):
    for plane in ("axial", "coronal", "sagittal"):
        assert_view_shows(shown, plane, shown.state.slice_index(plane))


def test_click_moves_the_cursor_and_the_other_views_follow(shown, qtbot):
    state = shown.state
    z = state.slice_index("axial")
    axial = shown.views["axial"]
    target = axial.index_to_widget((z, 3, 9)).toPoint()
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=target)
    assert state.cursor_zyx == (z, 3, 9)
    assert state.slice_index("coronal") == 3
    assert state.slice_index("sagittal") == 9
    assert_view_shows(shown, "coronal", 3)
    assert_view_shows(shown, "sagittal", 9)
    x, y, zz = state.cursor_lps_mm()
    assert shown.cursor_label.text().startswith(f"Cursor LPS ({x:.1f}, {y:.1f}, {zz:.1f}) mm")
    # A click in the sagittal view moves z and y, keeps x.
    sagittal = shown.views["sagittal"]
    qtbot.mouseClick(
        sagittal, Qt.MouseButton.LeftButton, pos=sagittal.index_to_widget((7, 5, 9)).toPoint()
    )
    assert state.cursor_zyx == (7, 5, 9)
    assert_view_shows(shown, "axial", 7)


def test_click_outside_the_image_clamps_to_its_edge(shown, qtbot):
    coronal = shown.views["coronal"]
    rect = coronal.image_rect()
    qtbot.mouseClick(
        coronal,
        Qt.MouseButton.LeftButton,
        pos=QPoint(int(rect.right()) + 3, int(rect.top()) + 2),
    )
    z, _, x = shown.state.cursor_zyx
    assert (z, x) == (SHAPE_ZYX[0] - 1, SHAPE_ZYX[2] - 1)  # top = superior, right = left


def send_wheel(view: QWidget, notches: int) -> None:
    centre = QPointF(view.width() / 2, view.height() / 2)
    event = QWheelEvent(
        centre,
        view.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, event)


def test_wheel_steps_the_slice_of_that_view(shown):
    state = shown.state
    z, y, x = state.cursor_zyx
    send_wheel(shown.views["sagittal"], 1)
    assert state.cursor_zyx == (z, y, x + 1)
    send_wheel(shown.views["sagittal"], -3)
    assert state.cursor_zyx == (z, y, x - 2)
    send_wheel(shown.views["axial"], 2)
    assert state.cursor_zyx == (z + 2, y, x - 2)
    assert_view_shows(shown, "axial", z + 2)
    assert_view_shows(shown, "sagittal", x - 2)


def test_keys_step_the_slice_of_the_clicked_view(shown, qtbot):
    coronal = shown.views["coronal"]
    # A click gives the view the keyboard (and moves the cursor within the coronal slice).
    qtbot.mouseClick(coronal, Qt.MouseButton.LeftButton, pos=coronal.rect().center())
    y = shown.state.slice_index("coronal")
    qtbot.keyClick(coronal, Qt.Key.Key_Up)
    qtbot.keyClick(coronal, Qt.Key.Key_PageUp)
    assert shown.state.slice_index("coronal") == y + 2
    qtbot.keyClick(coronal, Qt.Key.Key_Down)
    assert shown.state.slice_index("coronal") == y + 1
    for _ in range(SHAPE_ZYX[1] + 2):
        qtbot.keyClick(coronal, Qt.Key.Key_PageDown)
    assert shown.state.slice_index("coronal") == 0


def test_right_drag_changes_window_and_level_and_presets_restore_them(shown, qtbot):
    state = shown.state
    view = shown.views["axial"]
    before = state.window
    cursor = state.cursor_zyx
    span = state.preset(DEFAULT_PRESET).window.width
    start = view.rect().center()
    end = start + QPoint(40, 20)
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=end)
    assert state.window.width == pytest.approx(before.width + span * 40 / 400)
    assert state.window.level == pytest.approx(before.level + span * 20 / 400)
    assert state.cursor_zyx == cursor  # the right button does not move the cursor
    assert shown.preset_combo.currentText() == "Custom"
    assert shown.window_label.text() == f"W {state.window.width:.4g}  L {state.window.level:.4g}"
    assert_view_shows(shown, "axial", state.slice_index("axial"))
    shown.preset_combo.setCurrentText("Full range")
    assert state.window == state.preset("Full range").window
    assert shown.preset_combo.findText("Custom") < 0


def test_hover_shows_position_and_value(shown, qtbot):
    view = shown.views["axial"]
    z = shown.state.slice_index("axial")
    qtbot.mouseMove(view, view.index_to_widget((z, 2, 3)).toPoint())
    qtbot.waitUntil(lambda: "value" in shown.hover_label.text())
    text = shown.hover_label.text()
    match = re.fullmatch(r"Mouse LPS \((\S+), (\S+), (\S+)\) mm\s+value (\S+)", text)
    assert match, text
    position_mm = [float(v) for v in match.groups()[:3]]
    expected_mm = shown.state.index_to_lps_mm((z, 2, 3))
    np.testing.assert_allclose(position_mm, expected_mm, atol=0.5)  # within half a voxel
    assert match.group(4) == f"{shown.state.volume.array[z, 2, 3]:.4g}"
    view.leaveEvent(None)
    assert shown.hover_label.text() == ""


def test_a_new_volume_replaces_the_old_one_and_views_let_go(shown):
    old = shown.state
    assert old.observer_count == 4  # the three views and the window
    shown.set_volume(random_volume(seed=1))
    assert old.observer_count == 0
    assert shown.state.observer_count == 4
    shown.close()
    assert shown.state.observer_count == 0


def test_the_window_follows_its_session_not_its_own_methods(window, qtbot):
    """A scan, labels and an edit given to the session alone: the window shows each."""
    volume = random_volume()
    with qtbot.waitSignal(window.volume_loaded, timeout=2000):
        window.session.show_volume(ViewState(volume))
    assert window.stack.currentIndex() == 1
    assert all(view.state is window.session.view for view in window.views.values())
    assert not window.structures_panel.checks[Structure.L5].isEnabled()  # no labels yet

    labels = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    labels[3:7, 4:9, 4:10] = Structure.L5
    with qtbot.waitSignal(window.meshes_shown, timeout=LOAD_TIMEOUT_MS):
        window.session.set_labels(LabelMap(labels, volume.grid))
    assert window.structures_panel.checks[Structure.L5].isEnabled()

    editor = window.session.editor
    editor.paint(Structure.S1, (2.0, 6.0, 7.0), "axial", radius_mm=2.0)
    window.session.labels_edited()
    assert window.statusBar().currentMessage() == "Labels edited."
    assert window.surfaces.timer.isActive()  # the surfaces are rebuilt when the edits pause


def test_an_error_escaping_a_slot_is_shown_like_a_failed_task(shown, monkeypatch, caplog):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(shown)
    try:
        raise KeyError("Doe_Jane")
    except KeyError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    text = shown.error_box.text()
    assert text.startswith(f"{UNFINISHED} because of an unexpected problem (KeyError).")
    assert CHECK_THE_CASE in text
    assert "Doe_Jane" not in text + caplog.text
    assert "KeyError" in caplog.text
    assert "test_gui.py" in caplog.text  # where it was raised

    sys.excepthook(NotAnImageError, NotAnImageError("This file is not an image."), None)
    assert shown.error_box.text() == f"This file is not an image. {CHECK_THE_CASE}"
    assert shown.error_box.windowTitle() == UNFINISHED
