"""File > Export: the case's labels, plan, report or meshes for 3D Slicer or PACS.

:class:`ExportController` asks where and in which format (:func:`.dialogs.ask_export_path`),
takes the case as it would be saved (:meth:`~lumboplan_app.case_session.CaseSession.case_file`:
labels, plan, the channels as left, the scan's reference) and runs
:func:`~lumboplan_app.exchange.export.export_case` in the task runner's ``task`` slot, the
same call as ``lumboplan export``. It holds no export logic of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QObject, Signal

from lumboplan_app.errors import Cancelled
from lumboplan_app.gui import dialogs
from lumboplan_app.gui.tasks import failure_message
from lumboplan_app.gui.workers import export_job

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar, QWidget

    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.tasks import TaskRunner

FAILURE_TITLE = "LumboPlan could not export the case"


class ExportWindow(Protocol):
    """What the controller needs of the window: its status bar and its error box."""

    def statusBar(self) -> QStatusBar:
        """Return the window's status bar."""
        ...

    def show_error(self, message: str, title: str) -> Any:
        """Show an error box."""
        ...


class ExportController(QObject):
    """Exports the case shown, in the background.

    Parameters
    ----------
    session : CaseSession
        The case.
    tasks : TaskRunner
        Runs the export (slot ``task``: the window is busy meanwhile).
    window : ExportWindow
        The window (dialogs' parent, status bar, error box).
    progress : callable
        ``progress(fraction, text)``: the window's progress bar.

    Signals
    -------
    exported(object)
        The export finished: the list of paths written.
    """

    exported = Signal(object)

    def __init__(
        self,
        session: CaseSession,
        tasks: TaskRunner,
        window: ExportWindow,
        progress: Callable[[float, str], None],
    ) -> None:
        super().__init__(tasks)
        self.session = session
        self.tasks = tasks
        self.window = window
        self.progress = progress
        self.folder = Path.home()

    def ask_and_export(self) -> None:
        """Ask where, in which format and whether de-identified; then export (File > Export)."""
        choice = dialogs.ask_export_path(cast("QWidget", self.window), self.folder)
        if choice is not None:
            self.export(*choice)

    def export(self, path: Path, deidentify: bool = False) -> bool:
        """Export the case to ``path`` (format by its ending); False if it cannot start."""
        case = self.session.case_file()
        if case is None or self.session.view is None:
            return False
        job = export_job(case, path, self.session.view.volume, deidentify)
        started = self.tasks.start("task", job, self._done, self._failed, self.progress)
        if started is None:
            return False
        self.folder = path.parent
        self.window.statusBar().showMessage("Exporting…")
        return True

    def _done(self, paths: list[Path]) -> None:
        names = ", ".join(path.name for path in paths[:3]) + (" …" if len(paths) > 3 else "")
        self.window.statusBar().showMessage(f"Exported: {names}", 8000)
        self.exported.emit(paths)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            self.window.statusBar().showMessage("Export cancelled; nothing was written.", 8000)
            return
        self.window.statusBar().clearMessage()
        self.window.show_error(failure_message(error, FAILURE_TITLE), FAILURE_TITLE)
