"""The main window: open a scan, segment, review in 2-D and 3-D, plan, move the channel, report.

The window is layout and wiring: it builds the widgets (:mod:`.layout`, the panels, the status
bar), creates the controllers (:mod:`.controllers`) and connects them; what a command does lives
in them, on the window's :class:`~lumboplan_app.case_session.CaseSession`. Its public methods
that tests and the case keeper use delegate to them in one line.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QPaintEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from lumboplan_app import __version__
from lumboplan_app.case_session import CaseSession, SessionChange
from lumboplan_app.gui import dialogs
from lumboplan_app.gui.actions import (
    RECENT,
    Enableable,
    apply_enabled,
    create_actions,
    enabled_states,
    fill_menus,
    fill_toolbar,
)
from lumboplan_app.gui.case_files import CaseKeeper
from lumboplan_app.gui.controllers.brush import BrushController
from lumboplan_app.gui.controllers.channel import ChannelController
from lumboplan_app.gui.controllers.export import ExportController
from lumboplan_app.gui.controllers.model import ModelController
from lumboplan_app.gui.controllers.scan_loading import ScanLoader
from lumboplan_app.gui.controllers.surfaces import SurfacesController
from lumboplan_app.gui.controllers.tasks import TaskController
from lumboplan_app.gui.layout import EmptyState, SideTabs, ViewGrid
from lumboplan_app.gui.panels.edit import EditPanel
from lumboplan_app.gui.panels.foramen import ForamenPanel
from lumboplan_app.gui.panels.info import InfoPanel
from lumboplan_app.gui.panels.structures import StructuresPanel
from lumboplan_app.gui.tasks import TaskRunner
from lumboplan_app.gui.views.readouts import PresetCombo, ScanReadouts
from lumboplan_app.viewing import CAMERA_PRESETS, Change, ViewState

if TYPE_CHECKING:
    from lumboplan_app.planning.plan import CasePlan
    from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """LumboPlan's window: File menu, three linked slice views, scan summary, status bar.

    Signals
    -------
    volume_loaded(object)
        A volume is shown (after a load or :meth:`set_volume`).
    load_failed(object)
        A load ended without a new volume (see :attr:`.ScanLoader.failed`).
    first_painted()
        The window has been painted once.
    error_box_shown(str)
        An error dialog opened with this message.
    planned(object)
        Both foramina were planned (the :class:`~lumboplan_app.planning.plan.CasePlan`).
    channel_moved(object)
        The moved channel was assessed at a new pose (the
        :class:`~lumboplan_app.planning.interactive.PoseAssessment`).
    meshes_shown(object)
        The 3-D pane shows the structures' surfaces (a dict of Structure to mesh).
    report_written(object)
        The PDF report was written (its path).

    Attributes
    ----------
    state : ViewState or None
        The model of the volume shown.
    views : dict of Plane to SliceView
        The three slice views.
    """

    volume_loaded = Signal(object)
    load_failed = Signal(object)
    first_painted = Signal()
    error_box_shown = Signal(str)
    planned = Signal(object)
    report_written = Signal(object)
    channel_moved = Signal(object)
    meshes_shown = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("LumboPlan")
        self.setAcceptDrops(True)
        #: The case shown: scan, labels, plan, channels, its file (the window's model).
        self.session = CaseSession()
        #: The view state and plan the views show (they follow the session's).
        self._state_shown: ViewState | None = None
        self._plan_shown: CasePlan | None = None
        self._stale_shown = False
        self.error_box: QMessageBox | None = None
        self.about_box: QMessageBox | None = None
        #: The background work: reading ("load"); segmenting, planning, the report, reading a
        #: case ("task"); the surfaces ("meshes"); the autosave ("autosave").
        self.tasks = TaskRunner(self)
        self._painted = False
        self._closing = False
        #: The case on disk: its file, whether it changed, saving and opening.
        self.cases = CaseKeeper(self, self)
        self.models = ModelController(self, self.statusBar())  # the model "Segment" uses
        self._create_status_bar()
        #: Opening a scan (and, from the same menu, labels and case files).
        self.scans = ScanLoader(self, self.session, self.work, self.cases)
        self.scans.failed.connect(self.load_failed)
        self.exporter = ExportController(self.session, self.tasks, self, self.work.progress)
        self._create_actions()
        self._create_menus()
        self._create_central()
        #: What :func:`.actions.enabled_states` enables: the actions and the controls with them.
        self._enable_targets: dict[str, Enableable] = {
            **self.commands,
            "recent_menu": self.recent_menu,
            "segment_button": self.structures_panel.segment_button,
            "edit_panel": self.edit_panel,
        }
        self.session.subscribe(self._on_session_changed)
        self._update_actions()
        self.resize(QSize(1280, 860))

    @property
    def state(self) -> ViewState | None:
        """The view state of the scan shown (the session's), or None."""
        return self.session.view

    # -- construction -----------------------------------------------------------------------

    def _create_actions(self) -> None:
        #: The window's commands by key (:data:`.actions.ACTIONS`); each is also the attribute
        #: ``<key>_action`` (``window.plan_action``).
        self.commands = create_actions(self)
        for key, action in self.commands.items():
            setattr(self, f"{key}_action", action)
        self.camera_actions: dict[str, QAction] = {
            preset: self.commands[f"camera_{preset}"] for preset in CAMERA_PRESETS
        }

    def _create_menus(self) -> None:
        self.recent_menu = fill_menus(self.menuBar(), self.commands)[RECENT]
        self.recent_menu.aboutToShow.connect(partial(self.scans.fill_recent_menu, self.recent_menu))
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        fill_toolbar(toolbar, self.commands)
        window_label = QLabel("Window ", toolbar)
        window_label.setObjectName("toolbarLabel")
        toolbar.addWidget(window_label)
        self.preset_combo = PresetCombo(self.session, toolbar)
        toolbar.addWidget(self.preset_combo)
        self.addToolBar(toolbar)

    def _create_central(self) -> None:
        self.stack = QStackedWidget(self)
        empty = EmptyState(self.commands["open_folder"], self.commands["open_file"], self.stack)
        self.empty_label = empty.label
        self.stack.addWidget(empty)
        #: The three slice views and the 3-D pane, two by two (:class:`.layout.ViewGrid`).
        self.grid = ViewGrid(self.stack)
        self.views = self.grid.views
        self.view3d = self.grid.view3d
        for view in self.views.values():
            view.hovered.connect(self.readouts.show_hover)
        self.stack.addWidget(self.grid)
        self.setCentralWidget(self.stack)
        # The workflow's panels dock at the right, so the 2 x 2 grid of views keeps its shape.
        self.structures_panel = StructuresPanel(self)
        self.structures_panel.segment_requested.connect(self.commands["segment"].trigger)
        self.info_panel = InfoPanel(self)
        self.foramen_panel = ForamenPanel(self)
        self.foramen_panel.clear()
        self.edit_panel = EditPanel(self)
        self._create_controllers()
        self.side_tabs = SideTabs(
            self, self.structures_panel, self.edit_panel, self.foramen_panel, self.info_panel
        )
        self.review_tab = self.side_tabs.review_tab
        self.foramen_tab = self.side_tabs.foramen_tab

    def _create_controllers(self) -> None:
        """Create what the controls do: the channel, the brush, the 3-D surfaces."""
        self.channel = ChannelController(
            self.session, self.views, self.view3d, self.foramen_panel, self.show_status, self
        )
        self.channel.moved.connect(self.channel_moved)
        self.channel.side_shown.connect(lambda _side: self._update_actions())
        self.brush = BrushController(self.session, self.views, self.edit_panel, self.is_busy, self)
        self.surfaces = SurfacesController(
            self.session, self.tasks, self.view3d, self.channel.show, self.show_status, self
        )
        self.surfaces.shown.connect(self.meshes_shown)

    def _create_status_bar(self) -> None:
        """Add the mouse, cursor and window readouts, then the foreground work's progress."""
        self.readouts = ScanReadouts(self.session, self.statusBar(), self.fontMetrics())
        self.hover_label = self.readouts.hover_label
        self.cursor_label = self.readouts.cursor_label
        self.window_label = self.readouts.window_label
        #: Segmenting, planning, the report, a case read; the progress, Cancel and failures.
        self.work = TaskController(
            self.tasks, self.session, self.cases, self.models, self, self._offer_draft
        )
        self.work.busy_changed.connect(self._update_actions)
        self.work.planned.connect(self.planned)
        self.work.report_written.connect(self.report_written)
        self.progress_bar = self.work.progress_bar
        self.cancel_button = self.work.cancel_button

    # -- opening, the tasks, the case on disk: delegations; the questions to the surgeon -----

    def open_path(self, path: Path, series: str | None = None) -> bool:
        """Start reading the scan at ``path`` (see :meth:`.ScanLoader.open_path`)."""
        return self.scans.open_path(path, series)

    def is_loading(self) -> bool:
        """Whether a scan is being read."""
        return self.scans.is_loading()

    def active_worker_count(self) -> int:
        """Return the number of worker threads not yet finished and released."""
        return self.tasks.count()

    def cancel_running(self) -> None:
        """Cancel what the status bar shows running: the load, or the task."""
        self.work.cancel()

    def is_busy(self) -> bool:
        """Whether a scan is being read or a task runs (segmenting, planning, ...)."""
        return self.work.is_busy()

    def segment(self) -> bool:
        """Segment the scan shown in a worker (see :meth:`.TaskController.segment`)."""
        return self.work.segment()

    def load_labels(self, path: Path) -> bool:
        """Show the label map at ``path`` over the scan (see :meth:`.ScanLoader.load_labels`)."""
        return self.scans.load_labels(path)

    def plan(self) -> bool:
        """Plan both foramina of the labels shown, in a worker; False if it cannot start."""
        return self.work.plan()

    def export_report(self) -> None:
        """Ask where to save the PDF report and write it."""
        path = dialogs.ask_report_path(self, self.scans.folder)
        if path is not None:
            self.work.write_report(path)

    def write_report(self, path: Path, deidentify: bool = False) -> bool:
        """Write the plan's PDF report to ``path`` in a worker; False if there is no plan."""
        return self.work.write_report(path, deidentify)

    def save_case(self) -> bool:
        """Save the case where it was saved before, or ask where; False if not saved."""
        if self.session.case_path is None:
            return self.save_case_as()
        return self.cases.save_to(self.session.case_path)

    def save_case_as(self) -> bool:
        """Ask where to save the case and save it there; False if not saved."""
        from lumboplan_app.session import CASE_SUFFIX

        suggested = self.session.case_path or self.scans.folder / f"case{CASE_SUFFIX}"
        path = dialogs.ask_save_case(self, suggested)
        return path is not None and self.cases.save_to(path)

    def read_case_file(self, path: Path, name: str, autosave: bool = False) -> bool:
        """Start reading a case file in a worker (see :meth:`.TaskController.read_case_file`)."""
        return self.work.read_case_file(path, name, autosave)

    def ask_scan_path(self, case_name: str, reference: str | None) -> Path | None:
        """Ask where the scan of the case ``case_name`` is now; None if the surgeon cancels.

        ``reference`` is where the scan was: a folder is asked for, or an image file if the
        scan was one.
        """
        return dialogs.ask_scan_path(self, case_name, reference, self.scans.folder)

    def offer_recovery(self) -> bool:
        """Offer the newest autosave a crash left (see :meth:`.CaseKeeper.offer_recovery`)."""
        return self.cases.offer_recovery()

    def ask_recovery(self, description: str) -> str:
        """Ask what to do with an autosave: ``"recover"``, ``"discard"`` or ``"later"``."""
        return dialogs.ask_recovery(self, description)

    def show_status(self, message: str, timeout_ms: int = 0) -> None:
        """Show ``message`` in the status bar for ``timeout_ms`` (0: until replaced)."""
        self.statusBar().showMessage(message, timeout_ms)

    def case_saved(self, path: Path) -> None:
        """Say that the case was saved to ``path``."""
        self.scans.folder = path.parent
        self.statusBar().showMessage(f"Case saved: {path.name}", 8000)

    def may_discard_changes(self) -> bool:
        """Ask to save unsaved changes; False if the surgeon cancels (or the save fails)."""
        if not self.cases.modified:
            return True
        answer = self.ask_unsaved_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save_case()
        return answer == QMessageBox.StandardButton.Discard

    def ask_unsaved_changes(self) -> QMessageBox.StandardButton:
        """Ask whether to save the case's changes: Save, Discard or Cancel."""
        return dialogs.ask_unsaved_changes(self)

    # -- showing ------------------------------------------------------------------------------

    def set_volume(self, volume: Volume) -> None:
        """Show ``volume`` (a canonical LPS volume) in the views, replacing the current one."""
        self.session.show_volume(ViewState(volume))  # the views follow (_show_scan)

    def _show_scan(self) -> None:
        """Show the session's new scan in the views and panels, which follow its view state."""
        state = self.state
        if state is None:
            return
        if self._state_shown is not None:
            self._state_shown.unsubscribe(self._on_state_changed)
        self._state_shown = state
        for view in self.views.values():
            view.set_state(state)
        state.subscribe(self._on_state_changed)
        self.preset_combo.fill()
        self.info_panel.show_volume(state.volume)
        # The scan's warnings decide how far a plan on it can be trusted: show them first.
        self.side_tabs.setCurrentIndex(
            self.side_tabs.indexOf(self.info_panel) if state.volume.meta.warnings else 0
        )
        self.structures_panel.set_state(state)
        self.surfaces.new_scan()  # cancels a build of the previous scan's labels
        self.edit_panel.set_tool("review")
        self.stack.setCurrentIndex(1)
        self.readouts.show_cursor()
        self.readouts.show_window()
        self.views["sagittal"].setFocus(Qt.FocusReason.OtherFocusReason)
        logger.info(
            "case %s shown: %s voxels",
            state.volume.meta.case_key or "-",
            "x".join(str(n) for n in state.shape_zyx[::-1]),
        )
        self.volume_loaded.emit(state.volume)

    def show_labels(self, labels: LabelMap, model: dict[str, Any] | None = None) -> None:
        """Show ``labels`` (on the scan's grid) over the scan; a previous plan is dropped.

        ``model``: the model that segmented them (None: given labels). The structures' surfaces
        are built in the background for the 3-D pane.
        """
        if self.state is not None:
            self.session.set_labels(labels, model)  # the views follow (_on_session_changed)

    @property
    def meshes(self) -> dict | None:
        """The structures' surfaces shown in 3-D (None until built for the labels shown)."""
        return self.surfaces.meshes

    def _follow_plan(self, change: SessionChange) -> None:
        """Show the session's plan and channels, or none when it dropped them.

        A new plan (``"plan"``) is shown afresh; other changes redraw only when they dropped
        the plan shown (new scan or labels, an edit, a draft's confirmation) or changed
        whether it is stale (new labels end the "plan again" of edited ones).
        """
        plan, stale = self.session.plan, self.session.plan_stale
        if change != "plan" and plan is self._plan_shown and stale == self._stale_shown:
            return
        self._plan_shown, self._stale_shown = plan, stale
        self.structures_panel.show_plan(plan, stale)
        self.channel.clear()
        if plan is not None:
            self.channel.show_plan(with_scene=self.meshes is not None)

    def _update_actions(self) -> None:
        """Enable the actions and controls the case and the running work allow."""
        states = enabled_states(self.session, self.is_busy())
        apply_enabled(self._enable_targets, states)
        self.edit_panel.set_history(states["undo"], states["redo"])

    def _on_session_changed(self, change: SessionChange) -> None:
        """Follow the session: a new scan, new or edited labels, the plan and the draft."""
        if change == "volume":
            self._show_scan()
        self._update_actions()
        if change in ("volume", "labels", "draft"):  # an edit: recounted when the edits pause
            self.structures_panel.set_draft(self.session.draft)
        if change == "labels":
            self.surfaces.new_labels()
        elif change == "edit":  # the surfaces and the counts follow when the edits pause
            self.statusBar().showMessage("Labels edited.", 4000)
            self.surfaces.labels_edited()
            self.structures_panel.labels_edited()
        if change != "pose":
            self._follow_plan(change)

    def show_plan(self, plan: CasePlan) -> None:
        """Show ``plan``, now the case's: the structures and foramen panels, the channels."""
        self.session.set_plan(plan)  # the views follow (_follow_plan)
        self.side_tabs.setCurrentWidget(self.foramen_tab)

    def _offer_draft(self, error: BaseException) -> bool:
        """Show a refused segmentation's labels as a draft; False for any other error."""
        return self.brush.drafts.offer(error, partial(self.show_labels, model=self.models.record))

    def _on_state_changed(self, change: Change) -> None:
        if change == "cursor":
            self.readouts.show_cursor()
        elif change == "labels":
            self.surfaces.sync_visibility()
        else:
            self.readouts.show_window()
            self.preset_combo.sync()

    # -- messages -----------------------------------------------------------------------------

    def show_error(self, message: str, title: str = "LumboPlan could not open the scan") -> None:
        """Show ``message`` in a dialog (window-modal, does not block the event loop)."""
        if self.error_box is not None:
            self.error_box.close()
        self.error_box = dialogs.open_error_box(self, message, title)
        self.error_box_shown.emit(message)

    def show_about(self) -> None:
        """Show the version, what LumboPlan is for, and the segmentation model's card."""
        self.about_box = dialogs.open_about_box(self, __version__, self.models.card_text())

    # -- window events ------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint, and report the first paint (for ``--exit-when-shown``)."""
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept a dropped folder or file."""
        if event.mimeData().hasUrls() and not self.is_busy():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the dropped case file, folder or image file."""
        urls = [url for url in event.mimeData().urls() if url.isLocalFile()]
        if urls and self.may_discard_changes():
            self.scans.open_dropped(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Offer to save changes; stop the workers (cancel, then wait) and let go of the model.

        The wait has no time limit (see :meth:`~lumboplan_app.gui.tasks.TaskRunner.shutdown`):
        every long job stops at its next cancel point, a short step away (a report or an
        autosave being written has none; it is a single write). Meanwhile the status bar says
        why the window is still there.
        """
        if not self._closing and not self.may_discard_changes():
            event.ignore()
            return
        self._closing = True
        self.surfaces.stop()
        # A clean close keeps nothing to recover: what the surgeon kept is saved.
        self.cases.autosave_timer.stop()
        self.cases.discard_autosave()
        self.tasks.shutdown(self._say_stopping)
        self.cases.opening_failed(keep_labels_shown=False)
        self.view3d.view.close_scene()
        for view in self.views.values():
            view.detach()
        if self.state is not None:
            self.state.unsubscribe(self._on_state_changed)
        super().closeEvent(event)

    def _say_stopping(self) -> None:
        self.statusBar().showMessage("Stopping the work in progress before closing…")
        self.statusBar().repaint()  # the event loop is not running while we wait
