"""The window's actions, menus and toolbar in one table, and when each action may be used.

Every command the window offers is one :class:`ActionSpec` in :data:`ACTIONS`: its text,
shortcuts, status tip and the window's method it calls. :data:`MENUS` and :data:`TOOLBAR` say
where the actions appear. Whether an action is enabled is never set where something happens:
:func:`enabled_states` derives all of them from the case (the window's
:class:`~lumboplan_app.case_session.CaseSession`) and whether the window is busy (a scan being
read, a segmentation, a plan, a report or a case being read: the
:class:`~lumboplan_app.gui.tasks.TaskRunner`'s foreground slots). The window calls
:func:`apply_enabled` with it whenever either changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtGui import QAction, QKeySequence

from lumboplan_app.viewing import CAMERA_PRESETS

if TYPE_CHECKING:
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar

    from lumboplan_app.case_session import CaseSession

Shortcut = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    """One command of the window.

    Attributes
    ----------
    key : str
        Its name: the window's attribute is ``<key>_action``, :func:`enabled_states` uses the key.
    text : str
        The menu's text.
    slot : str
        The window's method that the action calls (with ``args``); a dotted name reaches a
        controller's (``exporter.ask_and_export``).
    shortcuts : tuple
        Key sequences (text or a standard key); several are merged with the standard key's
        bindings on this platform.
    tip : str
        The status bar's tip.
    role : QAction.MenuRole, optional
        Where macOS puts it (Quit, About).
    args : tuple
        Arguments given to ``slot``.
    """

    key: str
    text: str
    slot: str
    shortcuts: tuple[Shortcut, ...] = ()
    tip: str = ""
    role: QAction.MenuRole | None = None
    args: tuple[Any, ...] = ()


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "open_folder",
        "Open DICOM folder…",
        "scans.open_folder",
        ("Ctrl+O",),
        "Open a folder holding a DICOM series (CD, PACS)",
    ),
    ActionSpec(
        "open_file",
        "Open image file…",
        "scans.open_file",
        ("Ctrl+Shift+O",),
        "Open a NIfTI, NRRD or MetaImage volume",
    ),
    ActionSpec(
        "open_labels",
        "Open labels…",
        "scans.open_labels",
        ("Ctrl+L",),
        "Show a label map of this scan (NIfTI, NRRD, MetaImage or a Slicer .seg.nrrd)",
    ),
    ActionSpec(
        "open_case",
        "Open case…",
        "scans.open_case_dialog",
        ("Ctrl+Shift+K",),
        "Open a saved LumboPlan case (.lumboplan) and its scan",
    ),
    ActionSpec(
        "save_case",
        "Save case",
        "save_case",
        (QKeySequence.StandardKey.Save,),
        "Save the labels, the plan and the channels",
    ),
    ActionSpec("save_case_as", "Save case as…", "save_case_as", (QKeySequence.StandardKey.SaveAs,)),
    ActionSpec(
        "segment",
        "Segment",
        "segment",
        ("Ctrl+G",),
        "Label L5, the L5/S1 disc, S1, the nerves, the iliac bone and the skin",
    ),
    ActionSpec(
        "plan",
        "Plan",
        "plan",
        ("Ctrl+P",),
        "Place the working channel on both foramina and classify them (Group A/B)",
    ),
    ActionSpec(
        "report",
        "Export report…",
        "export_report",
        ("Ctrl+E",),
        "Write the PDF report of the plan",
    ),
    ActionSpec(
        "export",
        "Export…",
        "exporter.ask_and_export",
        ("Ctrl+Shift+E",),
        "Export the labels (Slicer .seg.nrrd, DICOM SEG), the plan (Slicer markups), the report "
        "(DICOM PDF) or the meshes",
    ),
    ActionSpec("quit", "Quit", "close", ("Ctrl+Q",), role=QAction.MenuRole.QuitRole),
    ActionSpec(
        "reset_channel",
        "Reset to the paper's placement",
        "channel.reset",
        ("Ctrl+R",),
        "Put the channel back where the paper places it",
    ),
    ActionSpec(
        "snap_channel",
        "Snap to the best free trajectory",
        "channel.snap_to_best",
        ("Ctrl+B",),
        "Turn the channel to the pose that keeps farthest from every blocking part and bone",
    ),
    ActionSpec(
        "switch_side",
        "Switch side",
        "channel.switch_side",
        ("Ctrl+T",),
        "Move the other foramen's channel",
    ),
    *(
        ActionSpec(
            f"camera_{preset}",
            f"{preset.title()} view",
            "view3d.set_camera",
            (f"Ctrl+{number}",),
            f"Look at the disc in 3-D from the {preset} view",
            args=(preset,),
        )
        for number, preset in enumerate(CAMERA_PRESETS, start=1)
    ),
    ActionSpec("maximise_3d", "Maximise the 3-D view", "grid.toggle_maximise_3d", ("Ctrl+M",)),
    ActionSpec("undo", "Undo label edit", "brush.undo", (QKeySequence.StandardKey.Undo,)),
    ActionSpec(
        "redo",
        "Redo label edit",
        "brush.redo",
        ("Ctrl+Shift+Z", "Ctrl+Y", QKeySequence.StandardKey.Redo),
    ),
    ActionSpec(
        "choose_model",
        "Use a fine-tuned model…",
        "models.ask_and_choose",
        tip="Segment with a model fine-tuned on this site's cases (lumboplan train)",
    ),
    ActionSpec(
        "shipped_model",
        "Use the shipped model",
        "models.use_shipped",
        tip="Segment with the model LumboPlan ships",
    ),
    ActionSpec("model_card", "Show the model's card", "models.show_card"),
    ActionSpec("about", "About LumboPlan", "show_about", role=QAction.MenuRole.AboutRole),
)

#: The recent cases' submenu, filled when it opens.
RECENT = "recent"
#: A separator in a menu or the toolbar.
SEPARATOR = "-"
#: The menus: title and the keys of their actions, in order.
MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "&File",
        (
            "open_folder",
            "open_file",
            "open_labels",
            SEPARATOR,
            "open_case",
            RECENT,
            "save_case",
            "save_case_as",
            SEPARATOR,
            "export",
            SEPARATOR,
            "quit",
        ),
    ),
    ("&Edit", ("undo", "redo")),
    ("&Case", ("segment", "plan", "report")),
    ("C&hannel", ("reset_channel", "snap_channel", "switch_side")),
    ("&View", (*(f"camera_{preset}" for preset in CAMERA_PRESETS), SEPARATOR, "maximise_3d")),
    ("&Model", ("choose_model", "shipped_model", SEPARATOR, "model_card")),
    ("&Help", ("about",)),
)
#: The main toolbar's actions (the intensity window's combo follows them).
TOOLBAR: tuple[str, ...] = ("open_folder", "open_file", "segment", "plan", "report", SEPARATOR)


def _key_sequences(shortcuts: tuple[Shortcut, ...]) -> list[QKeySequence]:
    """Return the key sequences of several shortcuts: a standard key's bindings included."""
    keys: set[str] = set()
    for shortcut in shortcuts:
        if isinstance(shortcut, str):
            keys.add(shortcut)
        else:
            keys |= {key.toString() for key in QKeySequence.keyBindings(shortcut)}
    return [QKeySequence(key) for key in sorted(keys)]


def create_actions(window: QObject) -> dict[str, QAction]:
    """Create the actions of :data:`ACTIONS`, owned by ``window`` and calling its methods.

    A slot is looked up when its action is triggered, so a dotted slot may name a controller
    the window creates after its actions (``channel.reset``).
    """
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        if len(spec.shortcuts) == 1:
            action.setShortcut(QKeySequence(spec.shortcuts[0]))
        elif spec.shortcuts:
            action.setShortcuts(_key_sequences(spec.shortcuts))
        if spec.tip:
            action.setStatusTip(spec.tip)
        if spec.role is not None:
            action.setMenuRole(spec.role)
        # Looked up when triggered: the controllers a dotted slot names come after the actions.
        action.triggered.connect(
            lambda _=False, slot=attrgetter(spec.slot), args=spec.args: slot(window)(*args)
        )
        actions[spec.key] = action
    return actions


def fill_menus(menu_bar: QMenuBar, actions: Mapping[str, QAction]) -> dict[str, QMenu]:
    """Fill ``menu_bar`` from :data:`MENUS`; return the submenus by key (the recent cases)."""
    submenus: dict[str, QMenu] = {}
    for title, keys in MENUS:
        menu = menu_bar.addMenu(title)
        for key in keys:
            if key == SEPARATOR:
                menu.addSeparator()
            elif key == RECENT:
                submenu = menu.addMenu("Open recent case")
                submenu.setObjectName("recentMenu")
                submenus[key] = submenu
            else:
                menu.addAction(actions[key])
    return submenus


def fill_toolbar(toolbar: QToolBar, actions: Mapping[str, QAction]) -> None:
    """Put :data:`TOOLBAR`'s actions on ``toolbar``."""
    for key in TOOLBAR:
        if key == SEPARATOR:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[key])


def enabled_states(session: CaseSession, busy: bool) -> dict[str, bool]:
    """Return whether each action (by key), and the controls that go with them, may be used.

    ``busy`` is whether a scan is being read or a task runs (segmenting, planning, the report,
    a case file being read). Keys that are not actions: ``segment_button`` (the structures
    panel's), ``edit_panel`` (the brush), ``recent_menu``. Actions not listed are always
    enabled (quit, about, the model's card, the 3-D camera, maximise). The model is not changed
    while a job runs (a segmentation records the model it was started with).
    """
    shown = session.view is not None
    idle = not busy and shown
    has_labels = session.labels is not None
    editor = session.editor
    side = session.active_side
    moving = side in session.poses
    planner = session.planner
    return {
        "open_folder": not busy,
        "open_file": not busy,
        "open_labels": not busy and shown,
        "open_case": not busy,
        "recent_menu": not busy,
        "save_case": idle and has_labels,
        "save_case_as": idle and has_labels,
        "export": idle and has_labels,
        "segment": idle,
        "segment_button": idle,
        "plan": idle and has_labels,
        "report": idle and session.plan is not None and not session.plan_stale,
        "edit_panel": idle and editor is not None,
        "undo": editor is not None and editor.can_undo,
        "redo": editor is not None and editor.can_redo,
        "reset_channel": moving,
        "snap_channel": moving and planner is not None and planner.best_pose(side) is not None,
        "switch_side": len(session.poses) > 1,
        "choose_model": not busy,
        "shipped_model": not busy,
    }


class Enableable(Protocol):
    """An action, a menu or a widget."""

    def setEnabled(self, enabled: bool, /) -> None:
        """Enable or disable it."""
        ...


def apply_enabled(targets: Mapping[str, Enableable], states: Mapping[str, bool]) -> None:
    """Enable each of ``targets`` whose key :func:`enabled_states` decides, as it decides."""
    for key, enabled in states.items():
        target = targets.get(key)
        if target is not None:
            target.setEnabled(enabled)
