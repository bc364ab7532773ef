"""The window's case on disk: save, open, autosave and recover; the title and unsaved changes.

A :class:`CaseKeeper` follows the window's :class:`~lumboplan_app.case_session.CaseSession`
(a new scan starts a new case; labels shown or edited, a plan, a channel moved modify it),
marks the case modified (the title's ``*``), and saves what the session says the case file
holds with :func:`lumboplan_app.session.write_case` (atomic: a failed save leaves the previous
file and the window's work as they were). Opening a case reads it in a worker, opens the scan it
references (or the one the surgeon points to), shows its labels, plans them again and puts each
channel back where it was left. The headless equivalents are ``lumboplan plan`` and
:func:`~lumboplan_app.session.read_case`.

While changes are unsaved the case is autosaved every :data:`AUTOSAVE_INTERVAL_MS` in a worker
(:mod:`lumboplan_app.recovery`); a save or a clean close removes the autosave, so one found at
start-up is a case a crash interrupted, and the window offers it back. Opened and saved cases
go to the recent cases.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from lumboplan_app.draft import Draft
from lumboplan_app.errors import LumboPlanError
from lumboplan_app.labels import Side

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession, SessionChange
    from lumboplan_app.gui.tasks import TaskRunner
    from lumboplan_app.recovery import Autosave
    from lumboplan_app.session import CaseFile

logger = logging.getLogger(__name__)


class CaseWindow(Protocol):
    """What the case keeper may ask of the window (the window is not imported here).

    Its case and its background work; the steps of opening a case that run as the window's
    tasks (read the file, open the scan, plan the labels; the labels themselves go to the
    session, which the window follows); the surgeon: questions, errors, messages, the title.
    """

    session: CaseSession
    tasks: TaskRunner

    def read_case_file(self, path: Path, name: str, autosave: bool = False) -> bool:
        """Start reading a case file in a worker; then call :meth:`CaseKeeper.case_read`."""
        ...

    def open_path(self, path: Path, series: str | None = None) -> bool:
        """Start opening a scan; then call :meth:`CaseKeeper.volume_shown`."""
        ...

    def plan(self) -> bool:
        """Start planning the labels shown; then call :meth:`CaseKeeper.planned`."""
        ...

    def ask_scan_path(self, case_name: str, reference: str | None) -> Path | None:
        """Ask where the scan of a case is now; None if the surgeon cancels."""
        ...

    def show_error(self, message: str, title: str = ...) -> None:
        """Show an error dialog."""
        ...

    def show_status(self, message: str, timeout_ms: int = 0) -> None:
        """Show a message in the status bar."""
        ...

    def case_saved(self, path: Path) -> None:
        """Say that the case was saved to ``path``."""
        ...

    def ask_recovery(self, description: str) -> str:
        """Ask what to do with an autosave: ``"recover"``, ``"discard"`` or ``"later"``."""
        ...

    def setWindowTitle(self, title: str, /) -> None:
        """Set the window's title (``[*]`` marks where the modified mark goes)."""
        ...

    def setWindowModified(self, modified: bool, /) -> None:
        """Show or hide the modified mark in the title."""
        ...


#: How often a case with unsaved changes is autosaved (ms).
AUTOSAVE_INTERVAL_MS = 60_000


class CaseKeeper(QObject):
    """Keeps the window's case: where it is saved, whether it changed, saving and opening.

    Parameters
    ----------
    window : CaseWindow
        The window, as far as the keeper may use it (its session, tasks, steps and dialogs).
    parent : QObject, optional
        The keeper's Qt parent (the window).

    Signals
    -------
    modified_changed(bool)
        The case became modified (True) or was saved or opened (False).
    case_opened(object)
        A case file was opened and its plan restored (the path).
    recovery_ended(bool)
        A recovery started with :meth:`recover` ended: opened (True) or not (False).
    autosaved(object)
        The case was autosaved (the :class:`~lumboplan_app.recovery.Autosave`).
    """

    modified_changed = Signal(bool)
    case_opened = Signal(object)
    recovery_ended = Signal(bool)
    autosaved = Signal(object)

    def __init__(self, window: CaseWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = window
        #: The case shown, and where it is saved (``session.case_path``).
        self.session = window.session
        self.modified = False
        #: The case file being read, and the scan the caller gave for it (None: its own).
        self._reading: tuple[Path, Path | None] | None = None
        #: The case whose scan is being opened, its file, and whether its labels are shown.
        self._opening: CaseFile | None = None
        self._opening_path: Path | None = None
        self._opening_labels_shown = False
        self._recovering: Autosave | None = None
        #: The autosave's key of the case shown (a hash; new for every new case).
        self.autosave_key = ""
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._new_autosave_key()
        self.session.subscribe(self._on_session_changed)

    # -- state ----------------------------------------------------------------------------------

    def _on_session_changed(self, change: SessionChange) -> None:
        if change == "volume":
            self._new_case()
            return
        if change == "plan" and self._opening is not None:
            self._restore_channels(self._opening)
        self.set_modified(True)

    def set_modified(self, modified: bool = True) -> None:
        """Mark the case changed since it was saved (or not) and update the title."""
        if not self.session.has_case:
            modified = False  # a scan alone is not a case: nothing to lose
        if modified != self.modified:
            self.modified = modified
            self.modified_changed.emit(modified)
        self.update_title()

    def update_title(self) -> None:
        """Title: the case's file name (or the series), and ``*`` while changes are unsaved."""
        state = self.session.view
        if self.session.case_path is not None:
            name = self.session.case_path.stem
        elif state is not None:
            name = state.volume.meta.series_description or "untitled case"
        else:
            self.window.setWindowTitle("LumboPlan")
            return
        self.window.setWindowTitle(f"{name}[*] — LumboPlan")
        self.window.setWindowModified(self.modified)

    def _new_case(self) -> None:
        """Start a new, unsaved case for a new scan, or for the scan of the case being opened.

        The case shown before is gone (its changes were saved or discarded when the surgeon
        was asked), so is its autosave. A case being opened gets its file back once open.
        """
        self.discard_autosave()
        self._new_autosave_key()
        self.set_modified(False)

    def _new_autosave_key(self) -> None:
        from lumboplan_app.recovery import autosave_key

        self.autosave_key = autosave_key(f"{id(self)}-{time.time_ns()}")

    # -- the case -------------------------------------------------------------------------------

    def save_to(self, path: Path) -> bool:
        """Save the case to ``path`` (atomic); False, with a dialog, if it cannot be written."""
        from lumboplan_app.session import CASE_SUFFIX, write_case

        case = self.session.case_file()
        if case is None:
            self.window.show_error(
                "There is nothing to save yet: segment the scan or open its labels first.",
                "LumboPlan could not save the case",
            )
            return False
        path = Path(path)
        if path.suffix != CASE_SUFFIX:
            path = path.with_name(path.name + CASE_SUFFIX)
        try:
            write_case(case, path)
        except (OSError, LumboPlanError) as error:
            logger.info("a case could not be saved: %s", type(error).__name__)
            reason = (
                str(error)
                if isinstance(error, LumboPlanError)
                else f"The case could not be written to '{path.name}' "
                f"({error.strerror or type(error).__name__})."
            )
            self.window.show_error(
                f"{reason} Nothing was lost: the case is still open. Save it to another folder.",
                "LumboPlan could not save the case",
            )
            return False
        self.session.case_path = path
        self.set_modified(False)
        self.discard_autosave()
        self._remember(path)
        self.window.case_saved(path)
        return True

    def open_case(self, path: Path, scan: Path | None = None) -> bool:
        """Start opening a case file: its scan (``scan`` or the one it references), labels, plan.

        The file is read in a worker (a large case takes a second or more), then
        :meth:`case_read` goes on. Returns False if it cannot start (the window is busy).
        """
        name = self._case_name(path)
        if not self.window.read_case_file(Path(path), name, self._recovering is not None):
            return False
        self._reading = (Path(path), scan)
        return True

    def case_read(self, case: CaseFile) -> None:
        """Go on opening the case just read: find its scan and open it.

        A scan that is not where the case says (moved, on an unplugged drive) or not named is
        asked for; if the surgeon does not point to it, a status message says the case was not
        opened, and the case shown stays. The case's series is opened wherever its scan is now.
        """
        if self._reading is None:
            return
        path, scan_path = self._reading
        reference = case.scan.get("reference")
        if scan_path is None and reference is not None and Path(reference).exists():
            scan_path = Path(reference)
        if scan_path is None or not scan_path.exists():
            scan_path = self.window.ask_scan_path(self._case_name(path), reference)
            if scan_path is None:
                self.window.show_status(
                    f"Not opened: LumboPlan needs the scan {self._case_name(path)} was planned on.",
                    10_000,
                )
                self.opening_failed()
                return
        self._reading = None
        self._opening = case
        self._opening_path = path
        if not self.window.open_path(scan_path, case.scan.get("series_id")):
            self.opening_failed()

    def _case_name(self, path: Path) -> str:
        """Name the case for the surgeon (an autosave's own file name means nothing to them)."""
        if self._recovering is None:
            return Path(path).name
        case_path = self._recovering.case_path
        return Path(case_path).name if case_path else "the recovered case"

    def volume_shown(self) -> None:
        """Put the opened case's labels over its scan, now shown, and plan them again."""
        case = self._opening
        if case is None:
            return
        state = self.session.view
        if state is None or not case.labels.grid.matches(state.volume.grid):
            self.opening_failed()
            self.window.show_error(
                "The case's labels do not lie on this scan's voxel grid: the scan is not the "
                "one the case was planned on. Open the case with its own scan.",
                "LumboPlan could not open the case",
            )
            return
        self.session.set_labels(case.labels, case.model)  # the window follows
        self._opening_labels_shown = True
        if case.draft is not None:  # still an unverified draft: confirmations as they were left
            self.session.mark_draft(Draft.from_json(case.draft))
        planned_on = case.scan.get("summary") or {}
        if planned_on.get("case_key") and planned_on["case_key"] != state.volume.meta.case_key:
            self.window.show_error(
                f"This is not the series the case was planned on (that was "
                f"'{planned_on.get('series_description') or 'unnamed'}'; this is "
                f"'{state.volume.meta.series_description or 'unnamed'}'). The case's labels lie on "
                "the same voxel grid and are shown over it: check that they fit the anatomy "
                "before relying on the plan.",
                "Check the series",
            )
        if case.plan.get("sides"):
            self.window.plan()
        else:
            self._finish_opening()

    def _restore_channels(self, case: CaseFile) -> None:
        """Put the channels of the case being opened back, on the plan that just arrived."""
        from lumboplan_app.session import channel_from_json

        channels = {side: channel_from_json(case.channels.get(side.value)) for side in Side}
        self.session.restore_channels(
            {side: channel for side, channel in channels.items() if channel is not None}
        )

    def planned(self) -> None:
        """Finish opening a case once its plan arrived (and its channels were put back)."""
        if self._opening is not None:
            self._finish_opening()

    def _finish_opening(self) -> None:
        path = self._opening_path
        recovered = self._recovering
        self._opening = None
        self._opening_path = None
        self._opening_labels_shown = False
        self._recovering = None
        if recovered is not None:
            # Recovered work is unsaved work: it keeps its autosave until saved, under the
            # case file it belonged to (if any). One written while it opened goes.
            self.discard_autosave()
            self.autosave_key = recovered.key
            self.session.case_path = (
                None if recovered.case_path is None else Path(recovered.case_path)
            )
            self.set_modified(True)
        else:
            self.session.case_path = path
            self.set_modified(False)
            if path is not None:
                self._remember(path)
        self.case_opened.emit(path)
        if recovered is not None:
            self.recovery_ended.emit(True)

    def _remember(self, path: Path) -> None:
        from lumboplan_app.recovery import RecentCases

        RecentCases().add(path)

    # -- autosave and recovery --------------------------------------------------------------------

    def autosave(self) -> bool:
        """Write the case's autosave in a worker if it has unsaved changes; False if not started.

        One autosave at a time: a timer tick while one is written is skipped.
        """
        tasks = self.window.tasks
        case = self.session.case_file()
        if not self.modified or case is None or tasks.is_running("autosave"):
            return False
        from lumboplan_app.volume import LabelMap

        case.labels = LabelMap(case.labels.array.copy(), case.labels.grid)  # edits go on
        key, path = self.autosave_key, self.session.case_path

        def job(progress: object, should_cancel: object) -> Autosave:
            from lumboplan_app.recovery import write_autosave

            return write_autosave(case, key, path)

        # An autosave discarded (saved, or closed without keeping changes) while being written
        # is waited for and reports nothing.
        started = tasks.start("autosave", job, self.autosaved.emit, self._on_autosave_failed)
        return started is not None

    def _on_autosave_failed(self, error: BaseException) -> None:
        logger.warning("the autosave could not be written: %s", type(error).__name__)
        self.window.show_status(
            "The case could not be autosaved; save it (Ctrl+S) to keep your changes.", 8000
        )

    def discard_autosave(self) -> None:
        """Remove the case's autosave (after a save, or a close without changes to keep)."""
        from lumboplan_app.recovery import discard_autosave

        self.window.tasks.stop("autosave")
        discard_autosave(self.autosave_key)

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
        choice = self.window.ask_recovery(pending[0].description)
        if choice == "recover":
            return self.recover(pending[0])
        if choice == "discard":
            discard_autosave(pending[0].key)
        return False

    def recover(self, autosave: Autosave, scan: Path | None = None) -> bool:
        """Start opening an autosave a crash left (scan, labels, plan, channels) as unsaved work.

        Returns False if it cannot start (the window is busy).
        """
        if self._reading is not None or self._opening is not None:
            return False
        self._recovering = autosave
        if not self.open_case(autosave.path, scan):
            self._recovering = None
            return False
        return True

    def opening_failed(self, keep_labels_shown: bool = True) -> bool:
        """Forget the case being opened (it, its scan, labels or plan could not be opened).

        Until its scan is shown nothing was changed: the case shown keeps its file and
        autosave. Once shown, the scan is a new, unsaved case (:meth:`scan_shown`). Once its
        labels are shown, only planning failed or was cancelled: with ``keep_labels_shown``
        (not while the window closes) the case is open without its plan, and True is returned.
        """
        if keep_labels_shown and self._opening is not None and self._opening_labels_shown:
            self._finish_opening()
            return True
        if self._reading is None and self._opening is None:
            return False
        recovering = self._recovering is not None
        self._reading = None
        self._opening = None
        self._opening_path = None
        self._opening_labels_shown = False
        self._recovering = None
        if recovering:
            self.recovery_ended.emit(False)
        return False

    def series_planned_on(self) -> tuple[str, str] | None:
        """Describe the series the case being opened was planned on; None if none is opening.

        Returns its series description and a line for the surgeon (description and size).
        """
        if self._opening is None:
            return None
        summary = self._opening.scan.get("summary") or {}
        description = summary.get("series_description") or ""
        size = " x ".join(str(n) for n in summary.get("size_xyz") or [])
        line = f"'{description or 'unnamed'}'" + (f" ({size} voxels)" if size else "")
        return description, line
