"""The main window: open a scan, segment, review in 2-D and 3-D, plan, move the channel, report.

The window holds no logic of its own: reading is :func:`lumboplan_app.io.read_scan_isolated`
in a :class:`~lumboplan_app.gui.workers.Worker`, the view state is a
:class:`~lumboplan_app.viewing.ViewState`. Errors from the core arrive as typed exceptions whose
message is shown as is (it is written for the surgeon); anything unexpected gets a generic,
actionable message and its type is logged, never the input's path or the patient's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from lumboplan_app import __version__
from lumboplan_app.case_session import CaseSession, SessionChange
from lumboplan_app.errors import Cancelled, LumboPlanError, SeriesChoiceRequired
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
from lumboplan_app.gui.controllers.surfaces import SurfacesController
from lumboplan_app.gui.panels.edit import EditPanel
from lumboplan_app.gui.panels.foramen import ForamenPanel
from lumboplan_app.gui.panels.info import InfoPanel
from lumboplan_app.gui.panels.structures import StructuresPanel
from lumboplan_app.gui.series_dialog import SeriesChooserDialog
from lumboplan_app.gui.tasks import (
    NOTHING_CHANGED,
    TaskRunner,
    failure_message,
)
from lumboplan_app.gui.views.readouts import PresetCombo, ScanReadouts
from lumboplan_app.gui.views.slice_view import SliceView
from lumboplan_app.gui.views.view3d import View3D
from lumboplan_app.gui.workers import (
    CancelCheck,
    Job,
    ProgressCallback,
    case_job,
    load_scan_job,
    plan_job,
    report_job,
    segment_job,
)
from lumboplan_app.labels import Side, Structure
from lumboplan_app.planning.advice import GROUP_NAME
from lumboplan_app.viewing import CAMERA_PRESETS, PLANES, Change, Plane, ViewState

if TYPE_CHECKING:
    from lumboplan_app.io.series import SeriesInfo
    from lumboplan_app.planning.interactive import PoseAssessment
    from lumboplan_app.planning.plan import CasePlan
    from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

EMPTY_STATE_TEXT = "Open a DICOM folder or image file: File > Open…"
#: The slots of the jobs the status bar shows, one at a time: a busy window starts no other.
_FOREGROUND = ("load", "task")
#: Grid cell of each slice view; the fourth cell (1, 1) holds the 3-D pane.
_VIEW_CELLS: dict[Plane, tuple[int, int]] = {
    "sagittal": (0, 0),
    "axial": (0, 1),
    "coronal": (1, 0),
}
_PROGRESS_STEPS = 1000


def _load_state_job(path: Path, series: str | None) -> Job:
    """Return a worker job that reads the scan and prepares its view state (off the GUI thread)."""
    read = load_scan_job(path, series)

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> ViewState:
        volume = read(progress, should_cancel)
        progress(1.0, "Preparing the views")
        return ViewState(volume)

    return job


def _scrolling(panels: tuple[QWidget, ...], parent: QWidget) -> QScrollArea:
    """Return a scroll area holding ``panels`` one under the other."""
    holder = QWidget(parent)
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(4, 4, 4, 4)
    for panel in panels:
        layout.addWidget(panel)
    layout.addStretch(1)
    scroll = QScrollArea(parent)
    scroll.setWidgetResizable(True)
    scroll.setWidget(holder)
    return scroll


class MainWindow(QMainWindow):
    """LumboPlan's window: File menu, three linked slice views, scan summary, status bar.

    Signals
    -------
    volume_loaded(object)
        A volume is shown (after a load or :meth:`set_volume`).
    load_failed(object)
        A load ended without a new volume (the exception, already reported to the user;
        :class:`~lumboplan_app.errors.Cancelled` after a cancel,
        :class:`~lumboplan_app.errors.SeriesChoiceRequired` when the chooser opened).
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
        self.series_dialog: SeriesChooserDialog | None = None
        self.error_box: QMessageBox | None = None
        self.about_box: QMessageBox | None = None
        #: The background work: reading ("load"); segmenting, planning, the report, reading a
        #: case ("task"); the surfaces ("meshes"); the autosave ("autosave").
        self.tasks = TaskRunner(self)
        self.tasks.slot_changed.connect(self._on_slot_changed)
        self._load_path: Path | None = None
        self.report_path: Path | None = None
        self._maximised: QWidget | None = None
        self._load_series: str | None = None
        #: The case on disk: its file, whether it changed, saving and opening.
        self.cases = CaseKeeper(self, self)
        self.exporter = ExportController(self.session, self.tasks, self, self._on_progress)
        self.models = ModelController(self, self.statusBar())  # the model "Segment" uses
        self._last_folder = Path.home()
        self._painted = False
        self._closing = False
        self._create_actions()
        self._create_menus()
        self._create_central()
        self._create_status_bar()
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
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
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
        empty = QWidget(self.stack)
        empty.setObjectName("emptyState")
        self.empty_label = QLabel(EMPTY_STATE_TEXT, empty)
        self.empty_label.setObjectName("emptyStateText")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Ctrl+O: a DICOM folder (CD or PACS export)   ·   "
            "Ctrl+Shift+O: a NIfTI, NRRD or MetaImage file   ·   or drop it here",
            empty,
        )
        hint.setObjectName("emptyStateHint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_folder_button = QPushButton("Open DICOM folder…", empty)
        open_folder_button.setObjectName("primaryButton")
        open_folder_button.clicked.connect(self.commands["open_folder"].trigger)
        open_file_button = QPushButton("Open image file…", empty)
        open_file_button.clicked.connect(self.commands["open_file"].trigger)
        buttons = QWidget(empty)
        buttons_layout = QGridLayout(buttons)
        buttons_layout.addWidget(open_folder_button, 0, 0)
        buttons_layout.addWidget(open_file_button, 0, 1)
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(2)
        empty_layout.addWidget(self.empty_label)
        empty_layout.addWidget(hint)
        empty_layout.addWidget(buttons, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(3)
        self.stack.addWidget(empty)

        viewer = QWidget(self.stack)
        viewer.setObjectName("viewerGrid")
        grid = QGridLayout(viewer)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(2)
        self.views: dict[Plane, SliceView] = {}
        for plane in PLANES:
            view = SliceView(plane, viewer)
            view.hovered.connect(self._on_hover)
            self.views[plane] = view
            row, column = _VIEW_CELLS[plane]
            grid.addWidget(view, row, column)
        self.view3d = View3D(viewer)
        grid.addWidget(self.view3d, 1, 1)
        self.view3d.maximise_toggled.connect(self.toggle_maximise_3d)
        for view in self.views.values():
            view.maximise_requested.connect(self._toggle_maximise_view)
        self._grid = grid
        # The workflow's panels dock at the right, so the 2 x 2 grid of views keeps its shape.
        self.structures_panel = StructuresPanel(self)
        self.structures_panel.segment_requested.connect(self.commands["segment"].trigger)
        self.info_panel = InfoPanel(self)
        self.foramen_panel = ForamenPanel(self)
        self.foramen_panel.clear()
        self.edit_panel = EditPanel(self)
        self._create_controllers()
        # The side tabs follow the workflow: review the labels, plan the foramina, the scan.
        self.side_tabs = QTabWidget(self)
        self.side_tabs.setObjectName("sideTabs")
        self.review_tab = _scrolling((self.structures_panel, self.edit_panel), self)
        self.foramen_tab = _scrolling((self.foramen_panel,), self)
        self.side_tabs.addTab(self.review_tab, "Review")
        self.side_tabs.addTab(self.foramen_tab, "Foramen")
        self.side_tabs.addTab(self.info_panel, "Scan")
        dock = QDockWidget("Case", self)
        dock.setObjectName("caseDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self.side_tabs)
        dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self.stack.addWidget(viewer)
        self.setCentralWidget(self.stack)

    def _create_controllers(self) -> None:
        """Create what the controls do: the channel, the brush, the 3-D surfaces."""
        self.channel = ChannelController(
            self.session, self.views, self.view3d, self.foramen_panel, self.show_status, self
        )
        self.channel.moved.connect(self.channel_moved)
        self.channel.side_shown.connect(lambda _side: self._update_actions())
        self.brush = BrushController(self.session, self.views, self.edit_panel, self.is_busy, self)
        self.brush.edited.connect(self._on_labels_edited)
        self.surfaces = SurfacesController(
            self.session, self.tasks, self.view3d, self.channel.show, self.show_status, self
        )
        self.surfaces.shown.connect(self.meshes_shown)

    def _create_status_bar(self) -> None:
        bar = self.statusBar()
        self.readouts = ScanReadouts(self.session, bar, self.fontMetrics())
        self.hover_label = self.readouts.hover_label
        self.cursor_label = self.readouts.cursor_label
        self.window_label = self.readouts.window_label
        self.progress_bar = QProgressBar(bar)
        self.progress_bar.setRange(0, _PROGRESS_STEPS)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.setObjectName("cancelLoadButton")
        self.cancel_button.clicked.connect(self.cancel_running)
        self.cancel_button.hide()
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)

    # -- opening ------------------------------------------------------------------------------

    def open_folder(self) -> None:
        """Ask for a DICOM folder and open it."""
        if not self._may_discard_changes():
            return
        folder = dialogs.ask_folder(self, "Open DICOM folder", self._last_folder)
        if folder is not None:
            self.open_path(folder)

    def open_file(self) -> None:
        """Ask for a NIfTI, NRRD or MetaImage file and open it."""
        if not self._may_discard_changes():
            return
        path = dialogs.ask_image_file(self, "Open image file", self._last_folder, all_files=True)
        if path is not None:
            self.open_path(path)

    def is_loading(self) -> bool:
        """Whether a scan is being read."""
        return self.tasks.is_running("load")

    def active_worker_count(self) -> int:
        """Return the number of worker threads not yet finished and released."""
        return self.tasks.count()

    def open_path(self, path: Path, series: str | None = None) -> bool:
        """Start reading the scan at ``path`` (folder or file) in a worker.

        Parameters
        ----------
        path : Path
            A DICOM folder or file, or a NIfTI/NRRD/MetaImage file.
        series : str, optional
            The ``series_id`` to read when the folder holds several; without it, a folder with
            several series opens the series chooser.

        Returns
        -------
        bool
            False when another scan is still being read (nothing is started).
        """
        if self.is_busy() or self._closing:
            return False
        path = Path(path)
        self._last_folder = path if path.is_dir() else path.parent
        self._load_path = path
        self._load_series = series
        self.tasks.start(
            "load",
            _load_state_job(path, series),
            self._on_load_finished,
            self._on_load_failed,
            self._on_progress,
        )
        self.statusBar().showMessage(f"Opening {path.name}…")
        return True

    def cancel_load(self) -> None:
        """Ask the running load to stop; the volume shown stays."""
        if self.tasks.cancel("load"):
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage("Cancelling…")

    def cancel_running(self) -> None:
        """Cancel what the status bar shows running: the load, or the segmentation."""
        if any(self.tasks.cancel(slot) for slot in _FOREGROUND):
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage("Cancelling…")

    # -- segmentation -------------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Whether a scan is being read or segmented."""
        return self.tasks.is_running(*_FOREGROUND)

    def segment(self) -> bool:
        """Segment the scan shown in a worker; the labels appear over it when done.

        Returns False when there is no scan or something is already running.
        """
        if self.state is None or self.is_busy() or self._closing:
            return False
        if self.state.labels is not None and not self._may_discard_changes():
            return False
        return self._start_task(
            segment_job(self.state.volume, self.models.weights, self.models.sha256),
            "Segmenting…",
            self._on_segmented,
            "LumboPlan could not segment the scan",
        )

    def open_labels(self) -> None:
        """Ask for a label map of the scan shown and show it."""
        path = dialogs.ask_image_file(self, "Open labels", self._last_folder, "Label maps")
        if path is not None:
            self.load_labels(path)

    def load_labels(self, path: Path) -> bool:
        """Show the label map at ``path`` over the scan; False (and a dialog) if it cannot be."""
        from lumboplan_app.io import read_label_map

        if self.state is None or self.is_busy() or self._closing:
            return False
        try:
            labels = read_label_map(path, reference=self.state.volume.grid)
        except LumboPlanError as error:
            self.show_error(str(error), "LumboPlan could not open the labels")
            return False
        self.show_labels(labels)
        return True

    def show_labels(self, labels: LabelMap, model: dict[str, Any] | None = None) -> None:
        """Show ``labels`` (on the scan's grid) over the scan; a previous plan is dropped.

        ``model``: the model that segmented them (None: given labels). The structures' surfaces
        are built in the background for the 3-D pane.
        """
        if self.state is not None:
            self.session.set_labels(labels, model)
            self.structures_panel.refresh()
            self._clear_plan_views()
            self.surfaces.new_labels()

    @property
    def meshes(self) -> dict | None:
        """The structures' surfaces shown in 3-D (None until built for the labels shown)."""
        return self.surfaces.meshes

    def build_meshes(self) -> None:
        """Build the surfaces of the labels shown in the background (see :class:`.surfaces`)."""
        self.surfaces.build()

    def _clear_plan_views(self) -> None:
        """Show no plan and no channel (the session dropped them)."""
        self.structures_panel.show_plan(None)
        self.channel.clear()

    def _update_actions(self) -> None:
        """Enable the actions and controls the case and the running work allow."""
        states = enabled_states(self.session, self.is_busy())
        apply_enabled(self._enable_targets, states)
        self.edit_panel.set_history(states["undo"], states["redo"])

    def _on_session_changed(self, change: SessionChange) -> None:
        self._update_actions()
        if change in ("volume", "labels", "draft"):
            self.structures_panel.set_draft(self.session.draft)

    # -- planning and the report -------------------------------------------------------------

    def plan(self) -> bool:
        """Plan both foramina of the labels shown, in a worker; False if it cannot start."""
        if self.state is None or self.state.labels is None or self.is_busy() or self._closing:
            return False
        return self._start_task(
            plan_job(self.state.labels),
            "Planning…",
            self._on_planned,
            "LumboPlan could not plan the case",
        )

    def export_report(self) -> None:
        """Ask where to save the PDF report and write it."""
        path = dialogs.ask_report_path(self, self._last_folder)
        if path is not None:
            self.write_report(path)

    def write_report(self, path: Path, deidentify: bool = False) -> bool:
        """Write the plan's PDF report to ``path`` in a worker; False if there is no plan."""
        case = self.session.report_case()
        if case is None or self.state is None or self.is_busy() or self._closing:
            return False
        return self._start_task(
            report_job(case, path, self.state.volume, deidentify),
            "Writing the report…",
            self._on_report_written,
            "LumboPlan could not write the report",
        )

    # -- correcting the labels ---------------------------------------------------------------

    def undo_edit(self) -> bool:
        """Undo the last label stroke; False if there is none."""
        return self.brush.undo()

    def redo_edit(self) -> bool:
        """Redo the last undone label stroke; False if there is none."""
        return self.brush.redo()

    def paint_labels(
        self,
        structure: Structure,
        centre_index_zyx: tuple[float, float, float],
        plane: Plane,
        radius_mm: float,
        erase: bool = False,
        overwrite: bool = True,
    ) -> bool:
        """Paint (or erase) one brush dab as one undoable step; the headless brush of tests.

        ``overwrite`` False paints unlabelled voxels only (the panel's "Paint over other
        structures" unchecked).
        """
        return self.brush.paint(structure, centre_index_zyx, plane, radius_mm, erase, overwrite)

    def _on_labels_edited(self, dropped: bool) -> None:
        """Show that the plan is of the old labels; rebuild the 3-D surfaces when edits pause."""
        if dropped:
            self._clear_plan_views()
            self.structures_panel.plan_label.setText(
                "The labels were edited after planning: plan again (Ctrl+P) to update the "
                "foramina and the report."
            )
        self.statusBar().showMessage("Labels edited.", 4000)
        self.surfaces.labels_edited()
        self.structures_panel.labels_edited()

    # -- cases ---------------------------------------------------------------------------------

    def save_case(self) -> bool:
        """Save the case where it was saved before, or ask where; False if not saved."""
        if self.session.case_path is None:
            return self.save_case_as()
        return self.cases.save_to(self.session.case_path)

    def save_case_as(self) -> bool:
        """Ask where to save the case and save it there; False if not saved."""
        from lumboplan_app.session import CASE_SUFFIX

        suggested = self.session.case_path or self._last_folder / f"case{CASE_SUFFIX}"
        path = dialogs.ask_save_case(self, suggested)
        return path is not None and self.cases.save_to(path)

    def open_case_dialog(self) -> None:
        """Ask for a case file and open it (asking for its scan's folder if the scan moved)."""
        if not self._may_discard_changes():
            return
        path = dialogs.ask_case_file(self, self._last_folder)
        if path is not None:
            self.cases.open_case(path)

    def read_case_file(self, path: Path, name: str, autosave: bool = False) -> bool:
        """Start reading the case file at ``path`` in a worker; the case keeper goes on with it.

        ``name`` is the case as the surgeon knows it; ``autosave`` says the file is the autosave
        of a case. Returns False when something is already running (nothing is started).
        """
        if self.is_busy() or self._closing:
            return False
        # A cancel that comes as the read ends counts: the case is not opened.
        return self._start_task(
            case_job(path, name, autosave),
            f"Opening {name}…",
            self.cases.case_read,
            "LumboPlan could not open the case",
            late_cancel_counts=True,
        )

    def ask_scan_path(self, case_name: str, reference: str | None) -> Path | None:
        """Ask where the scan of the case ``case_name`` is now; None if the surgeon cancels.

        ``reference`` is where the scan was: a folder is asked for, or an image file if the
        scan was one.
        """
        return dialogs.ask_scan_path(self, case_name, reference, self._last_folder)

    def _fill_recent_menu(self) -> None:
        from lumboplan_app.recovery import RecentCases

        self.recent_menu.clear()
        paths = RecentCases().paths()
        for path in paths:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path.parent))
            action.triggered.connect(lambda _=False, chosen=path: self.open_recent_case(chosen))
        if not paths:
            self.recent_menu.addAction("No recent cases").setEnabled(False)

    def open_recent_case(self, path: Path) -> bool:
        """Open a recent case (after offering to save the current one); False if not opened."""
        if not self._may_discard_changes():
            return False
        return self.cases.open_case(path)

    def offer_recovery(self) -> bool:
        """Offer the newest autosave a crash left; True if recovering started.

        Temporary files that crashed autosave writes left a day or more ago are deleted.
        """
        from lumboplan_app.recovery import (
            discard_autosave,
            pending_autosaves,
            remove_abandoned_temporaries,
        )

        remove_abandoned_temporaries()
        pending = pending_autosaves()
        if not pending:
            return False
        choice = self.ask_recovery(pending[0].description)
        if choice == "recover":
            return self.cases.recover(pending[0])
        if choice == "discard":
            discard_autosave(pending[0].key)
        return False

    def ask_recovery(self, description: str) -> str:
        """Ask what to do with an autosave: ``"recover"``, ``"discard"`` or ``"later"``."""
        return dialogs.ask_recovery(self, description)

    def show_status(self, message: str, timeout_ms: int = 0) -> None:
        """Show ``message`` in the status bar for ``timeout_ms`` (0: until replaced)."""
        self.statusBar().showMessage(message, timeout_ms)

    def case_saved(self, path: Path) -> None:
        """Say that the case was saved to ``path``."""
        self._last_folder = path.parent
        self.statusBar().showMessage(f"Case saved: {path.name}", 8000)

    def _may_discard_changes(self) -> bool:
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

    # -- the moved channel -----------------------------------------------------------------------

    @property
    def last_update_ms(self) -> float:
        """How long the last update of the moved channel took (ms)."""
        return self.channel.last_update_ms

    def set_active_side(self, side: Side) -> bool:
        """Show ``side`` and move its channel from now on; False if it has no channel."""
        return self.channel.set_active_side(side)

    def switch_side(self) -> bool:
        """Move the other side's channel; False if it has none."""
        return self.channel.switch_side()

    def set_channel_pose(self, alpha_deg: float, beta_deg: float) -> PoseAssessment | None:
        """Put the moved channel at (alpha, beta) degrees about point b (None: no such pose)."""
        return self.channel.set_pose(alpha_deg, beta_deg)

    def move_channel_end(self, point_lps_mm: object) -> PoseAssessment | None:
        """Point the moved channel from b towards ``point_lps_mm`` (a dragged handle, LPS mm)."""
        return self.channel.move_end(point_lps_mm)

    def turn_channel_in_view(self, plane: Plane, point_lps_mm: object) -> PoseAssessment | None:
        """Turn the moved channel, in a slice view, to point at ``point_lps_mm`` on its slice."""
        return self.channel.turn_in_view(plane, point_lps_mm)

    def reset_channel(self) -> PoseAssessment | None:
        """Put the moved channel back on the paper's placement."""
        return self.channel.reset()

    def snap_channel_to_best(self) -> PoseAssessment | None:
        """Put the moved channel on the side's best free trajectory (None if there is none)."""
        return self.channel.snap_to_best()

    # -- the grid's views ------------------------------------------------------------------------

    def maximised_view(self) -> QWidget | None:
        """Return the view given the whole grid, or None when all four share it."""
        return self._maximised

    def toggle_maximise(self, widget: QWidget) -> None:
        """Give ``widget`` (a slice view or the 3-D pane) the whole grid, or the room back."""
        cells = [*self.views.values(), self.view3d]
        maximise = self._maximised is not widget
        for cell in cells:
            cell.setVisible(not maximise or cell is widget)
        # Empty rows and columns keep their stretch: give the room to the maximised cell's.
        row, column = _VIEW_CELLS[widget.plane] if isinstance(widget, SliceView) else (1, 1)
        for index in (0, 1):
            self._grid.setRowStretch(index, 1 if not maximise or index == row else 0)
            self._grid.setColumnStretch(index, 1 if not maximise or index == column else 0)
        self._maximised = widget if maximise else None
        self.view3d.maximise_button.setChecked(self._maximised is self.view3d)

    def toggle_maximise_3d(self) -> None:
        """Give the 3-D pane the whole grid, or the room back."""
        self.toggle_maximise(self.view3d)

    def set_camera(self, preset: str) -> None:
        """Look at the disc in 3-D from ``preset`` (one of :data:`~.viewing.CAMERA_PRESETS`)."""
        self.view3d.set_camera(preset)

    def _toggle_maximise_view(self) -> None:
        view = self.sender()
        if isinstance(view, QWidget):
            self.toggle_maximise(view)

    def _start_task(
        self,
        job: Job,
        message: str,
        done: Callable[[Any], None],
        failure_title: str,
        late_cancel_counts: bool = False,
    ) -> bool:
        """Run ``job`` as the window's task; a failure is reported under ``failure_title``."""
        started = self.tasks.start(
            "task",
            job,
            done,
            lambda error: self._on_task_failed(error, failure_title),
            self._on_progress,
            late_cancel_counts,
        )
        if started is not None:
            self.statusBar().showMessage(message)
        return started is not None

    def _on_planned(self, plan: CasePlan) -> None:
        self._clear_plan_views()
        self.session.set_plan(plan)
        self.structures_panel.show_plan(plan)
        self.channel.show_plan(with_scene=self.meshes is not None)
        self.side_tabs.setCurrentWidget(self.foramen_tab)
        self.cases.planned()
        groups = ", ".join(
            f"{side.value} {GROUP_NAME[plan.sides[side].group]}" for side in plan.sides
        )
        self.statusBar().showMessage(f"Planned: {groups}", 8000)
        self.planned.emit(plan)

    def _on_report_written(self, path: Path) -> None:
        self.report_path = path
        self.statusBar().showMessage(f"Report written: {path.name}", 8000)
        self.report_written.emit(path)

    def _on_slot_changed(self, slot: str) -> None:
        """Show or hide the progress of a job the status bar shows (it started or ended)."""
        if slot in _FOREGROUND:
            busy = self.is_busy()
            self.progress_bar.setValue(0)
            self.progress_bar.setVisible(busy)
            self.cancel_button.setEnabled(busy)
            self.cancel_button.setVisible(busy)
            self._update_actions()

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setValue(round(fraction * _PROGRESS_STEPS))
        if not any(self.tasks.is_cancelling(slot) for slot in _FOREGROUND):
            self.statusBar().showMessage(text)

    def _on_segmented(self, labels: LabelMap) -> None:
        self.show_labels(labels, self.models.record)
        self.statusBar().showMessage("Segmented: review the labels in the three views.", 8000)

    def _on_task_failed(self, error: BaseException, title: str) -> None:
        # Planning a case being opened: its scan and labels are shown, it opens without a plan.
        without_plan = self.cases.opening_failed()
        outcome = (
            "The case is open without its plan: plan again (Ctrl+P)."
            if without_plan
            else "Nothing was changed."
        )
        if isinstance(error, Cancelled):
            self.statusBar().showMessage(f"Cancelled. {outcome}", 8000)
            return
        shown = partial(self.show_labels, model=self.models.record)
        if not self.brush.drafts.offer(error, shown):  # a refused segmentation: shown as a draft
            self._show_failure(error, title, outcome)

    def _show_failure(self, error: BaseException, title: str, outcome: str) -> None:
        """Report a failed job in a dialog (see :func:`.tasks.failure_message`)."""
        self.statusBar().clearMessage()
        self.show_error(failure_message(error, title, outcome), title)

    def _on_load_finished(self, state: ViewState) -> None:
        self.show_state(state, self._load_path, self._load_series)
        self.cases.volume_shown()
        meta = state.volume.meta
        size = " x ".join(str(n) for n in state.shape_zyx[::-1])
        self.statusBar().showMessage(
            f"Opened {meta.series_description or 'the scan'} ({size} voxels)", 8000
        )

    def _on_load_failed(self, error: BaseException) -> None:
        if not isinstance(error, SeriesChoiceRequired):
            self.cases.opening_failed()  # a case being opened waits for the series chosen
        if isinstance(error, Cancelled):
            self.statusBar().showMessage("Opening cancelled; nothing was changed.", 8000)
        elif isinstance(error, SeriesChoiceRequired):
            planned_on = self.cases.series_planned_on()
            self.statusBar().showMessage(
                str(error)
                if planned_on is None
                else f"{error} Choose the series the case was planned on: {planned_on[1]}."
            )
            self._choose_series(error.series, planned_on[0] if planned_on else "")
        else:
            self._show_failure(error, "LumboPlan could not open the scan", NOTHING_CHANGED)
        self.load_failed.emit(error)

    def _choose_series(self, series: list[SeriesInfo], preferred_description: str = "") -> None:
        dialog = dialogs.series_chooser(self, series, preferred_description)
        dialog.series_chosen.connect(self._on_series_chosen)
        dialog.rejected.connect(self._on_series_dialog_rejected)
        self.series_dialog = dialog
        dialog.open()

    def _on_series_dialog_rejected(self) -> None:
        self.series_dialog = None
        self.cases.opening_failed()
        self.statusBar().showMessage("No series chosen; nothing was changed.", 8000)

    def _on_series_chosen(self, info: SeriesInfo) -> None:
        self.series_dialog = None
        if self._load_path is None or not self.open_path(self._load_path, info.series_id):
            self.cases.opening_failed()

    # -- showing ------------------------------------------------------------------------------

    def set_volume(self, volume: Volume) -> None:
        """Show ``volume`` (a canonical LPS volume) in the views, replacing the current one."""
        self.show_state(ViewState(volume))

    def show_state(
        self, state: ViewState, scan_path: Path | None = None, series: str | None = None
    ) -> None:
        """Show the volume of ``state``, a new case; the views follow ``state`` from now on.

        ``scan_path`` is the scan as opened and ``series`` the series chosen from a folder of
        several, for the case file (None for a volume given in memory).
        """
        if self.state is not None:
            self.state.unsubscribe(self._on_state_changed)
        self.session.show_volume(state, scan_path, series)
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
        self._clear_plan_views()
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

    def _on_state_changed(self, change: Change) -> None:
        if change == "cursor":
            self.readouts.show_cursor()
        elif change == "labels":
            self.surfaces.sync_visibility()
        else:
            self.readouts.show_window()
            self.preset_combo.sync()

    def _on_hover(self, payload: tuple[Plane, tuple[float, float, float]] | None) -> None:
        self.readouts.show_hover(payload)

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
        """Open the dropped folder or file."""
        from lumboplan_app.session import CASE_SUFFIX

        urls = [url for url in event.mimeData().urls() if url.isLocalFile()]
        if urls and self._may_discard_changes():
            path = Path(urls[0].toLocalFile())
            if path.suffix == CASE_SUFFIX:
                self.cases.open_case(path)
            else:
                self.open_path(path)
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Offer to save changes; stop the workers (cancel, then wait) and let go of the model.

        The wait has no time limit (see :meth:`~lumboplan_app.gui.tasks.TaskRunner.shutdown`):
        every long job stops at its next cancel point, a short step away (a report or an
        autosave being written has none; it is a single write). Meanwhile the status bar says
        why the window is still there.
        """
        if not self._closing and not self._may_discard_changes():
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
