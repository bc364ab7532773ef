"""The window's action table: every menu entry is an action, every action calls a method."""

from __future__ import annotations

from lumboplan_app.case_session import CaseSession
from lumboplan_app.gui.actions import (
    ACTIONS,
    MENUS,
    RECENT,
    SEPARATOR,
    TOOLBAR,
    enabled_states,
)
from lumboplan_app.gui.controllers.brush import BrushController
from lumboplan_app.gui.controllers.channel import ChannelController
from lumboplan_app.gui.controllers.export import ExportController
from lumboplan_app.gui.controllers.model import ModelController
from lumboplan_app.gui.controllers.scan_loading import ScanLoader
from lumboplan_app.gui.layout import ViewGrid
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.views.view3d import View3D

_CONTROLS = {"recent_menu", "segment_button", "edit_panel"}
#: The window's controllers an action's dotted slot reaches (``exporter.ask_and_export``).
_CONTROLLERS = {
    "exporter": ExportController,
    "models": ModelController,
    "scans": ScanLoader,
    "channel": ChannelController,
    "brush": BrushController,
    "grid": ViewGrid,
    "view3d": View3D,
}


def test_the_table_names_only_actions_and_methods_that_exist() -> None:
    keys = [spec.key for spec in ACTIONS]
    assert len(keys) == len(set(keys))
    for spec in ACTIONS:
        owner, _, method = spec.slot.rpartition(".")
        assert callable(getattr(_CONTROLLERS.get(owner, MainWindow), method)), spec.slot
    listed = {key for _, entries in MENUS for key in entries} | set(TOOLBAR)
    assert listed - {SEPARATOR, RECENT} <= set(keys)
    assert set(enabled_states(CaseSession(), busy=False)) <= set(keys) | _CONTROLS


def test_without_a_scan_only_opening_and_the_model_are_enabled_and_busy_disables_them() -> None:
    idle = enabled_states(CaseSession(), busy=False)
    assert {key for key, enabled in idle.items() if enabled} == {
        "open_folder",
        "open_file",
        "open_case",
        "recent_menu",
        "choose_model",
        "shipped_model",
    }
    assert not any(enabled_states(CaseSession(), busy=True).values())
