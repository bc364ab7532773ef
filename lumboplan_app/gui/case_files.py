"""The window's case on disk: save and open ``.lumboplan`` files, the title, unsaved changes.

A :class:`CaseKeeper` follows the window's work (labels shown, plan, channel moved, labels
edited), marks the case modified (the title's ``*``), and saves it with
:func:`lumboplan_app.session.write_case` (atomic: a failed save leaves the previous file and
the window's work as they were). Opening a case reads it, opens the scan it references (or the
one the surgeon points to), shows its labels, plans them again and puts each channel back where
it was left. The headless equivalents are ``lumboplan plan`` and
:func:`~lumboplan_app.session.read_case`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.labels import Side

if TYPE_CHECKING:
    from lumboplan_app.gui.main_window import MainWindow
    from lumboplan_app.planning.plan import CasePlan
    from lumboplan_app.session import CaseFile
    from lumboplan_app.volume import Volume

logger = logging.getLogger(__name__)


class CaseKeeper(QObject):
    """Keeps the window's case: where it is saved, whether it changed, saving and opening.

    Signals
    -------
    modified_changed(bool)
        The case became modified (True) or was saved or opened (False).
    case_opened(object)
        A case file was opened and its plan restored (the path).
    """

    modified_changed = Signal(bool)
    case_opened = Signal(object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        #: Where the case is saved (None: never saved).
        self.path: Path | None = None
        #: The scan shown, as opened (a folder or file), for the case's reference.
        self.scan_path: Path | None = None
        self.modified = False
        self._opening: CaseFile | None = None
        self._opening_path: Path | None = None

    # -- state ----------------------------------------------------------------------------------

    def set_modified(self, modified: bool = True) -> None:
        """Mark the case changed since it was saved (or not) and update the title."""
        if self.window.state is None or self.window.state.labels is None:
            modified = False  # a scan alone is not a case: nothing to lose
        if modified != self.modified:
            self.modified = modified
            self.modified_changed.emit(modified)
        self.update_title()

    def update_title(self) -> None:
        """Title: the case's file name (or the series), and ``*`` while changes are unsaved."""
        state = self.window.state
        if self.path is not None:
            name = self.path.stem
        elif state is not None:
            name = state.volume.meta.series_description or "untitled case"
        else:
            self.window.setWindowTitle("LumboPlan")
            return
        self.window.setWindowTitle(f"{name}[*] — LumboPlan")
        self.window.setWindowModified(self.modified)

    def scan_shown(self, path: Path | None) -> None:
        """Start a new, unsaved case for a new scan (unless a case is being opened)."""
        self.scan_path = path
        if self._opening is None:
            self.path = None
        self.set_modified(False)

    # -- the case -------------------------------------------------------------------------------

    def current_case(self) -> CaseFile | None:
        """Return the case shown (labels, plan, channels as left); None without labels."""
        from lumboplan_app.session import CaseFile, channel_json, scan_summary

        window = self.window
        state = window.state
        if state is None or state.labels is None:
            return None
        plan: CasePlan | None = window.case_plan
        volume: Volume = state.volume
        patient = volume.meta.patient
        channels = {
            side.value: channel_json(
                window.assessments[side].channel if side in window.assessments else None
            )
            for side in Side
        }
        return CaseFile(
            labels=state.labels,
            plan={} if plan is None else plan.to_json(),
            parts=None if plan is None else plan.parts,
            scan={
                "reference": None if self.scan_path is None else str(self.scan_path),
                "summary": scan_summary(volume),
            },
            channels=channels,
            patient=patient if any((patient.name, patient.patient_id)) else None,
        )

    def save_to(self, path: Path) -> bool:
        """Save the case to ``path`` (atomic); False, with a dialog, if it cannot be written."""
        from lumboplan_app.session import CASE_SUFFIX, write_case

        case = self.current_case()
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
            self.window.show_error(
                f"The case could not be written to '{path.name}' ({type(error).__name__}). "
                "Nothing was lost: the case is still open. Save it to another folder.",
                "LumboPlan could not save the case",
            )
            return False
        self.path = path
        self.set_modified(False)
        self.window.case_saved(path)
        return True

    def open_case(self, path: Path, scan: Path | None = None) -> bool:
        """Open a case file: its scan (``scan`` or the one it references), labels and plan.

        Returns False (with a dialog) if the file or its scan cannot be opened.
        """
        from lumboplan_app.session import read_case

        try:
            case = read_case(Path(path))
        except LumboPlanError as error:
            self.window.show_error(str(error), "LumboPlan could not open the case")
            return False
        reference = case.scan.get("reference")
        scan_path = scan if scan is not None else None if reference is None else Path(reference)
        if scan_path is None or not scan_path.exists():
            self.window.show_error(
                f"The scan of '{Path(path).name}' is not where it was when the case was saved"
                + (f" ('{Path(reference).name}')" if reference else "")
                + ". Open the case again and point LumboPlan to the scan's folder or file.",
                "LumboPlan could not open the case",
            )
            return False
        self._opening = case
        self._opening_path = Path(path)
        if not self.window.open_path(scan_path):
            self._opening = None
            return False
        return True

    def volume_shown(self) -> None:
        """Put the opened case's labels over its scan, now shown, and plan them again."""
        case = self._opening
        if case is None:
            return
        state = self.window.state
        if state is None or not case.labels.grid.matches(state.volume.grid):
            self._opening = None
            self.window.show_error(
                "The case's labels do not lie on this scan's voxel grid: the scan is not the "
                "one the case was planned on. Open the case with its own scan.",
                "LumboPlan could not open the case",
            )
            return
        self.window.show_labels(case.labels)
        if case.plan.get("sides"):
            self.window.plan()
        else:
            self._finish_opening()

    def planned(self) -> None:
        """Put an opened case's channels back once its plan arrived, and finish opening."""
        case = self._opening
        if case is None:
            return
        from lumboplan_app.session import channel_from_json

        window = self.window
        planner = window.channel_planner
        if planner is not None:
            active = window.active_side
            for side in Side:
                channel = channel_from_json(case.channels.get(side.value))
                if channel is not None and window.set_active_side(side):
                    # The channel keeps its direction; its tip is the new plan's point b.
                    window.move_channel_end(planner.point_b(side) + 100.0 * channel.axis)
            window.set_active_side(active)
        self._finish_opening()

    def _finish_opening(self) -> None:
        path = self._opening_path
        self._opening = None
        self._opening_path = None
        self.path = path
        self.set_modified(False)
        self.case_opened.emit(path)

    def opening_failed(self) -> None:
        """Forget the case being opened (its scan could not be opened)."""
        self._opening = None
        self._opening_path = None
