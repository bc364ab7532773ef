"""Hostile input opened through the window: the message in a dialog, the window still usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.gui.main_window import MainWindow
from tests.conftest import show_main_window
from tests.test_hostile_input import HOSTILE, dicom_series

pytestmark = pytest.mark.gui

LOAD_TIMEOUT_MS = 30_000
#: One input of each class: a hang, a file read outside the folder, a bomb, a nonsense number.
OPENED = [
    "huge frame count",
    "FIFO given directly",
    "nhdr data file ../../etc/passwd",
    "RLE 65535 x 65535 in 1 kB",
    "RescaleSlope NaN",
]


def test_hostile_inputs_show_their_message_and_the_window_stays_usable(
    qtbot, tmp_path: Path
) -> None:
    window: MainWindow = show_main_window(qtbot, (1000, 760))
    for number, name in enumerate(OPENED):
        make, expected = HOSTILE[name]
        folder = tmp_path / f"input{number}"
        folder.mkdir()
        with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
            assert window.open_path(make(folder))
        error = blocker.args[0]
        assert isinstance(error, LumboPlanError)
        assert type(error).__name__ == expected
        box = window.error_box
        assert box is not None
        assert box.isVisible()
        assert box.text() == str(error)
        assert not window.is_loading()
        box.accept()
        qtbot.waitUntil(lambda box=box: not box.isVisible())
    with qtbot.waitSignal(window.volume_loaded, timeout=LOAD_TIMEOUT_MS):
        assert window.open_path(dicom_series(tmp_path / "good"))
    qtbot.waitUntil(lambda: not window.is_loading(), timeout=LOAD_TIMEOUT_MS)
    assert window.state.volume is not None
    assert window.state.volume.grid.shape_zyx == (16, 20, 4)
