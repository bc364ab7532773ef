"""Opening a case in the window when its scan moved, fails, or sits among other series; recovery."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lumboplan_app import session as session_module
from lumboplan_app.errors import PlanningError, WriteError
from lumboplan_app.gui.app import create_window
from lumboplan_app.gui.controllers import tasks as task_controller
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.io import list_series
from lumboplan_app.labels import Structure
from lumboplan_app.recovery import pending_autosaves, write_autosave
from lumboplan_app.session import CaseFile
from lumboplan_app.volume import Grid, LabelMap
from tests.conftest import not_assessable_plan, show_main_window

pytestmark = pytest.mark.gui

LOAD_TIMEOUT_MS = 60_000


@pytest.fixture
def window(qtbot) -> MainWindow:
    return show_main_window(qtbot, (900, 700))


def save_case(window: MainWindow, qtbot, scan: Path, series: str | None, case: Path) -> Path:
    """Open ``scan`` (its ``series``), put a block of L5 over it and save the case as ``case``."""
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS):
        assert window.open_path(scan, series)
    grid = window.state.volume.grid
    labels = np.zeros(grid.shape_zyx, np.uint8)
    labels[3:8, 4:10, 5:12] = Structure.L5
    window.show_labels(LabelMap(labels, grid))
    assert window.cases.save_to(case)
    return case


def answer_scan_question(monkeypatch, answer: Path | None) -> list[tuple[str, str | None]]:
    """Answer 'where is the scan?' with ``answer``; return the questions asked."""
    asked: list[tuple[str, str | None]] = []

    def ask(self, name: str, reference: str | None) -> Path | None:
        asked.append((name, reference))
        return answer

    monkeypatch.setattr(MainWindow, "ask_scan_path", ask)
    return asked


def open_until_the_series_chooser(window: MainWindow, qtbot, case: Path):
    """Start opening ``case`` and return the series chooser it opens."""
    assert window.cases.open_case(case)
    qtbot.waitUntil(
        lambda: window.scans.series_dialog is not None and window.scans.series_dialog.isVisible()
    )
    return window.scans.series_dialog


def test_a_moved_study_opens_the_case_own_series(window, qtbot, make_series, tmp_path, monkeypatch):
    make_series(folder="study/t2", series_description="T2 SPACE sag", series_number=3)
    make_series(folder="study/t1", series_description="T1 TSE sag", series_number=4)
    t2 = next(
        info for info in list_series(tmp_path / "study") if info.description == "T2 SPACE sag"
    )
    case = save_case(window, qtbot, tmp_path / "study", t2.series_id, tmp_path / "t2.lumboplan")
    (tmp_path / "study").rename(tmp_path / "moved")
    asked = answer_scan_question(monkeypatch, tmp_path / "moved")
    with qtbot.waitSignal(window.cases.case_opened, timeout=LOAD_TIMEOUT_MS):
        assert window.cases.open_case(case)
    assert asked == [("t2.lumboplan", str(tmp_path / "study"))]
    # Two series in the folder: the case's own opened, without the chooser.
    assert window.scans.series_dialog is None
    assert window.state.volume.meta.series_description == "T2 SPACE sag"
    assert np.count_nonzero(window.state.labels.array == Structure.L5) == 5 * 6 * 7
    assert window.session.case_path == case
    assert window.windowTitle().startswith("t2")


def test_a_case_scan_among_several_series_is_chosen_in_the_chooser(
    window, qtbot, make_series, tmp_path, monkeypatch
) -> None:
    scan = make_series(folder="only/t2", series_description="T2 SPACE sag")
    case = save_case(window, qtbot, scan, None, tmp_path / "case.lumboplan")  # names no series
    (tmp_path / "only").rename(tmp_path / "cd")
    make_series(folder="cd/t1", series_description="T1 TSE sag")
    answer_scan_question(monkeypatch, tmp_path / "cd")
    dialog = open_until_the_series_chooser(window, qtbot, case)
    assert "planned on: 'T2 SPACE sag' (12 x 20 x 16 voxels)" in window.statusBar().currentMessage()
    assert dialog.selected_series().description == "T2 SPACE sag"  # the case's own, preselected
    # The case goes on opening with the series chosen: its labels come back over it.
    with qtbot.waitSignal(window.cases.case_opened, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert window.state.volume.meta.series_description == "T2 SPACE sag"
    assert window.state.labels is not None
    assert window.session.case_path == case
    assert window.error_box is None  # its own series (the same UID): no warning


def test_a_folder_without_the_case_series_offers_its_own(
    window, qtbot, make_series, tmp_path, monkeypatch
) -> None:
    make_series(folder="study/t2", series_description="T2 SPACE sag")
    make_series(folder="study/t1", series_description="T1 TSE sag")
    t2 = next(info for info in list_series(tmp_path / "study") if info.description.startswith("T2"))
    case = save_case(window, qtbot, tmp_path / "study", t2.series_id, tmp_path / "case.lumboplan")
    shutil.rmtree(tmp_path / "study")
    # Exported again: the same images under new series UIDs.
    make_series(folder="export/t2", series_description="T2 SPACE sag")
    make_series(folder="export/t1", series_description="T1 TSE sag")
    answer_scan_question(monkeypatch, tmp_path / "export")
    dialog = open_until_the_series_chooser(window, qtbot, case)
    assert "is not in this folder" in window.statusBar().currentMessage()
    t1 = next(info for info in dialog.series if info.description == "T1 TSE sag")
    dialog.select_index(t1.index)  # the surgeon picks the wrong one: same grid, other series
    with (
        qtbot.waitSignal(window.cases.case_opened, timeout=LOAD_TIMEOUT_MS),
        qtbot.waitSignal(window.error_box_shown) as warned,
    ):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert window.state.labels is not None
    assert "not the series the case was planned on (that was 'T2 SPACE sag'" in warned.args[0]
    assert window.error_box.windowTitle() == "Check the series"


def test_a_case_whose_scan_fails_to_open_leaves_the_case_shown(
    window, qtbot, make_series, tmp_path, monkeypatch
) -> None:
    scan = make_series(folder="scan")
    shown = save_case(window, qtbot, scan, None, tmp_path / "shown.lumboplan")
    other = tmp_path / "other.lumboplan"
    assert window.cases.save_to(other)
    assert window.cases.save_to(shown)  # the case shown is 'shown', saved
    key, title = window.cases.autosave_key, window.windowTitle()
    scan.rename(tmp_path / "gone")
    (tmp_path / "empty").mkdir()
    answer_scan_question(monkeypatch, tmp_path / "empty")  # the surgeon points to a wrong folder
    with qtbot.waitSignal(window.error_box_shown, timeout=LOAD_TIMEOUT_MS):
        assert window.cases.open_case(other)
    qtbot.waitUntil(lambda: not window.is_busy())
    # Nothing was replaced: the case shown keeps its file (Ctrl+S saves there), autosave, title.
    assert window.session.case_path == shown
    assert window.cases.autosave_key == key
    assert window.windowTitle() == title
    assert window.state.labels is not None


def test_planning_that_fails_while_a_recovered_case_opens_keeps_the_work(
    window, qtbot, make_series, monkeypatch
) -> None:
    scan = make_series()
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS):
        assert window.open_path(scan)
    labels = np.zeros(window.state.volume.grid.shape_zyx, np.uint8)
    labels[3:8, 4:10, 5:12] = Structure.L5
    planned = CaseFile(
        LabelMap(labels, window.state.volume.grid),
        not_assessable_plan(),  # planned once: opening it plans again
        scan={"reference": str(scan), "summary": {}},
    )
    autosave = write_autosave(planned, "feed", Path("/cases/spine.lumboplan"))

    def failing_plan(labels):
        def job(progress, should_cancel):
            raise PlanningError("No L5/S1 disc was found between L5 and S1.")

        return job

    monkeypatch.setattr(task_controller, "plan_job", failing_plan)
    with (
        qtbot.waitSignal(window.cases.recovery_ended, timeout=LOAD_TIMEOUT_MS) as ended,
        qtbot.waitSignal(window.error_box_shown, timeout=LOAD_TIMEOUT_MS) as shown,
    ):
        assert window.cases.recover(autosave)
    # The labels are back; only the plan failed: the work is recovered, under its autosave.
    assert ended.args == [True]
    assert "The case is open without its plan: plan again (Ctrl+P)." in shown.args[0]
    assert np.count_nonzero(window.state.labels.array == Structure.L5) == 5 * 6 * 7
    assert window.cases.autosave_key == "feed"
    assert window.session.case_path == Path("/cases/spine.lumboplan")
    assert window.cases.modified
    assert [pending.key for pending in pending_autosaves()] == ["feed"]


def test_work_that_cannot_be_recovered_lets_the_scan_given_open(
    qtbot, make_series, monkeypatch
) -> None:
    scan = make_series(series_description="given")
    grid = Grid((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    autosave = write_autosave(CaseFile(LabelMap(np.zeros((2, 2, 2), np.uint8), grid), {}), "abcd")
    autosave.path.write_bytes(b"cut off")
    monkeypatch.setattr(MainWindow, "ask_recovery", lambda self, description: "recover")
    shown: list[str] = []
    monkeypatch.setattr(
        MainWindow, "show_error", lambda self, message, title="": shown.append(message)
    )
    window = create_window(scan, offer_recovery=True)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        pass
    assert loaded.args[0].meta.series_description == "given"
    assert len(shown) == 1
    assert shown[0].startswith("The work autosaved for the recovered case cannot be read")
    assert pending_autosaves() == [autosave]  # offered again at the next start


def test_a_full_disk_on_save_says_so_and_keeps_the_case_open(
    window, qtbot, make_series, tmp_path, monkeypatch
) -> None:
    shown = save_case(window, qtbot, make_series(folder="scan"), None, tmp_path / "a.lumboplan")
    full = WriteError(
        "'b.lumboplan' could not be written: the disk holding it is full; free some space."
    )

    def refuse(case: CaseFile, path: Path) -> None:
        raise full

    monkeypatch.setattr(session_module, "write_case", refuse)
    messages: list[str] = []
    monkeypatch.setattr(window, "show_error", lambda message, title="": messages.append(message))
    assert not window.cases.save_to(tmp_path / "b.lumboplan")
    assert len(messages) == 1
    assert messages[0].startswith(str(full))  # the reason, not "WriteError"
    assert "still open" in messages[0]
    assert window.session.case_path == shown
