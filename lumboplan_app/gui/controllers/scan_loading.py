"""Opening a scan: a DICOM folder or an image file, read in the background; a series chosen.

:class:`ScanLoader` asks for the folder or file (or takes one dropped, or a case's scan), reads
it with :func:`~lumboplan_app.gui.workers.load_scan_job` in the task runner's ``load`` slot
and prepares its :class:`~lumboplan_app.viewing.ViewState` there; the window then shows it as
a new case. A folder of several series opens the series chooser (the one a case was planned on
offered first) and reads the series chosen. From the same menu, a label map of the scan shown
is read with :func:`~lumboplan_app.io.read_label_map`, and case files and recent cases go to
the :class:`~lumboplan_app.gui.case_files.CaseKeeper`. It holds no reading logic of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QObject, Signal

from lumboplan_app.errors import Cancelled, LumboPlanError, SeriesChoiceRequired
from lumboplan_app.gui import dialogs
from lumboplan_app.gui.tasks import NOTHING_CHANGED
from lumboplan_app.gui.workers import load_scan_job
from lumboplan_app.viewing import ViewState

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMenu, QStatusBar, QWidget

    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.case_files import CaseKeeper
    from lumboplan_app.gui.controllers.tasks import TaskController
    from lumboplan_app.gui.series_dialog import SeriesChooserDialog
    from lumboplan_app.gui.workers import CancelCheck, Job, ProgressCallback
    from lumboplan_app.io.series import SeriesInfo
    from lumboplan_app.volume import LabelMap


def load_state_job(path: Path, series: str | None) -> Job:
    """Return a worker job that reads the scan and prepares its view state (off the GUI thread)."""
    read = load_scan_job(path, series)

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> ViewState:
        volume = read(progress, should_cancel)
        progress(1.0, "Preparing the views")
        return ViewState(volume)

    return job


class ScanWindow(Protocol):
    """What the loader needs of the window: messages, showing labels, unsaved changes."""

    def statusBar(self) -> QStatusBar:
        """Return the window's status bar."""
        ...

    def show_labels(self, labels: LabelMap, model: dict[str, Any] | None = None) -> None:
        """Show ``labels`` over the scan shown."""
        ...

    def show_error(self, message: str, title: str) -> Any:
        """Show an error box."""
        ...

    def may_discard_changes(self) -> bool:
        """Ask to save unsaved changes; False if the surgeon cancels."""
        ...


class ScanLoader(QObject):
    """Opens scans (and, from the same menu, case files) in the background.

    Parameters
    ----------
    window : ScanWindow
        The window (the dialogs' parent, its status bar, showing the scan or labels read).
    session : CaseSession
        The case (the scan shown, whose grid a label map must have).
    work : TaskController
        Runs the read in the ``load`` slot, shows its progress and reports its failure.
    cases : CaseKeeper
        The case being opened, if any: it goes on once the scan is shown.

    Attributes
    ----------
    folder : Path
        Where the file dialogs start: the last scan's folder, or where the case was saved.
    series_dialog : SeriesChooserDialog or None
        The series chooser while it is open.

    Signals
    -------
    failed(object)
        A load ended without a new volume (the exception, already reported to the user;
        :class:`~lumboplan_app.errors.Cancelled` after a cancel,
        :class:`~lumboplan_app.errors.SeriesChoiceRequired` when the chooser opened).
    """

    failed = Signal(object)

    def __init__(
        self, window: ScanWindow, session: CaseSession, work: TaskController, cases: CaseKeeper
    ) -> None:
        super().__init__(work)
        self.window = window
        self.session = session
        self.work = work
        self.cases = cases
        self.folder = Path.home()
        self.series_dialog: SeriesChooserDialog | None = None
        self._path: Path | None = None
        self._series: str | None = None

    @property
    def _parent(self) -> QWidget:
        return cast("QWidget", self.window)

    def open_folder(self) -> None:
        """Ask for a DICOM folder and open it."""
        if not self.window.may_discard_changes():
            return
        folder = dialogs.ask_folder(self._parent, "Open DICOM folder", self.folder)
        if folder is not None:
            self.open_path(folder)

    def open_file(self) -> None:
        """Ask for a NIfTI, NRRD or MetaImage file and open it."""
        if not self.window.may_discard_changes():
            return
        path = dialogs.ask_image_file(self._parent, "Open image file", self.folder, all_files=True)
        if path is not None:
            self.open_path(path)

    def open_labels(self) -> None:
        """Ask for a label map of the scan shown and show it."""
        path = dialogs.ask_image_file(self._parent, "Open labels", self.folder, "Label maps")
        if path is not None:
            self.load_labels(path)

    def load_labels(self, path: Path) -> bool:
        """Show the label map at ``path`` over the scan; False (and a dialog) if it cannot be."""
        from lumboplan_app.io import read_label_map

        view = self.session.view
        if view is None or not self.work.can_start():
            return False
        try:
            labels = read_label_map(path, reference=view.volume.grid)
        except LumboPlanError as error:
            self.window.show_error(str(error), "LumboPlan could not open the labels")
            return False
        self.window.show_labels(labels)
        return True

    def open_case_dialog(self) -> None:
        """Ask for a case file and open it (asking for its scan's folder if the scan moved)."""
        if not self.window.may_discard_changes():
            return
        path = dialogs.ask_case_file(self._parent, self.folder)
        if path is not None:
            self.cases.open_case(path)

    def open_recent_case(self, path: Path) -> bool:
        """Open a recent case (after offering to save the current one); False if not opened."""
        if not self.window.may_discard_changes():
            return False
        return self.cases.open_case(path)

    def fill_recent_menu(self, menu: QMenu) -> None:
        """Fill ``menu`` with the recent cases, each opening its case."""
        from lumboplan_app.recovery import RecentCases

        menu.clear()
        paths = RecentCases().paths()
        for path in paths:
            action = menu.addAction(path.name)
            action.setToolTip(str(path.parent))
            action.triggered.connect(lambda _=False, chosen=path: self.open_recent_case(chosen))
        if not paths:
            menu.addAction("No recent cases").setEnabled(False)

    def open_dropped(self, path: Path) -> None:
        """Open a dropped case file, folder or image file (changes were offered to be saved)."""
        from lumboplan_app.session import CASE_SUFFIX

        if path.suffix == CASE_SUFFIX:
            self.cases.open_case(path)
        else:
            self.open_path(path)

    def is_loading(self) -> bool:
        """Whether a scan is being read."""
        return self.work.tasks.is_running("load")

    def open_path(self, path: Path, series: str | None = None) -> bool:
        """Start reading the scan at ``path`` (folder or file) in a worker.

        ``series`` is the ``series_id`` to read when the folder holds several; without it, a
        folder with several series opens the series chooser. Returns False when the window is
        busy or closing (nothing is started).
        """
        if not self.work.can_start():
            return False
        path = Path(path)
        self.folder = path if path.is_dir() else path.parent
        self._path = path
        self._series = series
        self.work.tasks.start(
            "load", load_state_job(path, series), self._done, self._failed, self.work.progress
        )
        self.window.statusBar().showMessage(f"Opening {path.name}…")
        return True

    def _done(self, state: ViewState) -> None:
        self.session.show_volume(state, self._path, self._series)  # the window follows
        self.cases.volume_shown()
        meta = state.volume.meta
        size = " x ".join(str(n) for n in state.shape_zyx[::-1])
        self.window.statusBar().showMessage(
            f"Opened {meta.series_description or 'the scan'} ({size} voxels)", 8000
        )

    def _failed(self, error: BaseException) -> None:
        if not isinstance(error, SeriesChoiceRequired):
            self.cases.opening_failed()  # a case being opened waits for the series chosen
        if isinstance(error, Cancelled):
            self.window.statusBar().showMessage("Opening cancelled; nothing was changed.", 8000)
        elif isinstance(error, SeriesChoiceRequired):
            planned_on = self.cases.series_planned_on()
            self.window.statusBar().showMessage(
                str(error)
                if planned_on is None
                else f"{error} Choose the series the case was planned on: {planned_on[1]}."
            )
            self._choose_series(error.series, planned_on[0] if planned_on else "")
        else:
            self.work.show_failure(error, "LumboPlan could not open the scan", NOTHING_CHANGED)
        self.failed.emit(error)

    def _choose_series(self, series: list[SeriesInfo], preferred_description: str) -> None:
        dialog = dialogs.series_chooser(self._parent, series, preferred_description)
        dialog.series_chosen.connect(self._on_series_chosen)
        dialog.rejected.connect(self._on_series_rejected)
        self.series_dialog = dialog
        dialog.open()

    def _on_series_rejected(self) -> None:
        self.series_dialog = None
        self.cases.opening_failed()
        self.window.statusBar().showMessage("No series chosen; nothing was changed.", 8000)

    def _on_series_chosen(self, info: SeriesInfo) -> None:
        self.series_dialog = None
        if self._path is None or not self.open_path(self._path, info.series_id):
            self.cases.opening_failed()
