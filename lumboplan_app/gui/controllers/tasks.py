"""The work the window waits for: segmenting, planning, the report, a case read; its progress.

:class:`TaskController` starts the window's tasks in the task runner's ``task`` slot and takes
their results (the labels shown, the plan shown, the report's path). It watches the foreground
slots, ``"load"`` (a scan being read) and ``"task"``: while a job runs there the window is busy,
the status bar shows its progress and a Cancel button, and nothing else starts. Every failure
of a foreground job is reported one way, :meth:`TaskController.show_failure` (the text from
:func:`~lumboplan_app.gui.tasks.failure_message`); a refused segmentation is offered as a draft
instead. The jobs themselves are :mod:`~lumboplan_app.gui.workers`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QPushButton

from lumboplan_app.errors import Cancelled
from lumboplan_app.gui.tasks import NOTHING_CHANGED, failure_message
from lumboplan_app.gui.workers import case_job, plan_job, report_job, segment_job
from lumboplan_app.planning.advice import GROUP_NAME

if TYPE_CHECKING:
    from pathlib import Path

    from PySide6.QtWidgets import QStatusBar

    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.case_files import CaseKeeper
    from lumboplan_app.gui.controllers.model import ModelController
    from lumboplan_app.gui.tasks import TaskRunner
    from lumboplan_app.gui.workers import Job
    from lumboplan_app.planning.plan import CasePlan
    from lumboplan_app.volume import LabelMap

#: The slots of the jobs the status bar shows, one at a time: a busy window starts no other.
FOREGROUND = ("load", "task")
PROGRESS_STEPS = 1000


class TaskWindow(Protocol):
    """What the controller needs of the window: messages, and showing the tasks' results."""

    def statusBar(self) -> QStatusBar:
        """Return the window's status bar."""
        ...

    def show_error(self, message: str, title: str) -> Any:
        """Show an error box."""
        ...

    def show_labels(self, labels: LabelMap, model: dict[str, Any] | None = None) -> None:
        """Show ``labels`` over the scan (``model``: the model that segmented them)."""
        ...

    def show_plan(self, plan: CasePlan) -> None:
        """Show ``plan``: the foramen panel, the channels."""
        ...

    def may_discard_changes(self) -> bool:
        """Ask to save unsaved changes; False if the surgeon cancels."""
        ...


class TaskController(QObject):
    """Starts the window's tasks, shows their progress and results, cancels them, reports failures.

    Parameters
    ----------
    tasks : TaskRunner
        The window's background work.
    session : CaseSession
        The case (its scan, labels and report).
    cases : CaseKeeper
        The case on disk: a case being read goes on with it, a plan modifies it.
    models : ModelController
        The model "Segment" uses.
    window : TaskWindow
        The window (its status bar gets the progress bar and Cancel; its error box).
    offer_draft : callable
        ``offer_draft(error)``: shows a refused segmentation as a draft; False for other errors.

    Attributes
    ----------
    progress_bar : QProgressBar
        The foreground job's progress (shown while one runs).
    cancel_button : QPushButton
        Cancels the foreground job (shown while one runs).

    Signals
    -------
    busy_changed()
        A foreground job started or ended.
    planned(object)
        Both foramina were planned (the :class:`~lumboplan_app.planning.plan.CasePlan`).
    report_written(object)
        The PDF report was written (its path).
    """

    busy_changed = Signal()
    planned = Signal(object)
    report_written = Signal(object)

    def __init__(
        self,
        tasks: TaskRunner,
        session: CaseSession,
        cases: CaseKeeper,
        models: ModelController,
        window: TaskWindow,
        offer_draft: Callable[[BaseException], bool],
    ) -> None:
        super().__init__(tasks)
        self.tasks = tasks
        self.session = session
        self.cases = cases
        self.models = models
        self.window = window
        self._offer_draft = offer_draft
        bar = window.statusBar()
        self.progress_bar = QProgressBar(bar)
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.setObjectName("cancelLoadButton")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        tasks.slot_changed.connect(self._on_slot_changed)

    # -- the foreground slots -------------------------------------------------------------------

    def is_busy(self) -> bool:
        """Whether a scan is being read or a task runs."""
        return self.tasks.is_running(*FOREGROUND)

    def can_start(self) -> bool:
        """Whether a foreground job may start: none runs and the window is not closing."""
        return not self.is_busy() and not self.tasks.is_closed()

    def cancel(self) -> None:
        """Cancel what the status bar shows running: the load, or the task."""
        if any(self.tasks.cancel(slot) for slot in FOREGROUND):
            self.cancel_button.setEnabled(False)
            self.window.statusBar().showMessage("Cancelling…")

    def progress(self, fraction: float, text: str) -> None:
        """Show a foreground job's progress (its text unless it is being cancelled)."""
        self.progress_bar.setValue(round(fraction * PROGRESS_STEPS))
        if not any(self.tasks.is_cancelling(slot) for slot in FOREGROUND):
            self.window.statusBar().showMessage(text)

    def show_failure(self, error: BaseException, title: str, outcome: str) -> None:
        """Report a failed job in a dialog (see :func:`.tasks.failure_message`)."""
        self.window.statusBar().clearMessage()
        self.window.show_error(failure_message(error, title, outcome), title)

    def _on_slot_changed(self, slot: str) -> None:
        """Show or hide the progress of a foreground job (it started or ended)."""
        if slot in FOREGROUND:
            busy = self.is_busy()
            self.progress_bar.setValue(0)
            self.progress_bar.setVisible(busy)
            self.cancel_button.setEnabled(busy)
            self.cancel_button.setVisible(busy)
            self.busy_changed.emit()

    # -- the tasks ------------------------------------------------------------------------------

    def segment(self) -> bool:
        """Segment the scan shown; the labels appear over it when done.

        Returns False when there is no scan or something is already running.
        """
        view = self.session.view
        if view is None or not self.can_start():
            return False
        if view.labels is not None and not self.window.may_discard_changes():
            return False
        return self._start(
            segment_job(view.volume, self.models.weights, self.models.sha256),
            "Segmenting…",
            self._on_segmented,
            "LumboPlan could not segment the scan",
        )

    def plan(self) -> bool:
        """Plan both foramina of the labels shown; False if it cannot start."""
        view = self.session.view
        if view is None or view.labels is None or not self.can_start():
            return False
        return self._start(
            plan_job(view.labels),
            "Planning…",
            self._on_planned,
            "LumboPlan could not plan the case",
        )

    def write_report(self, path: Path, deidentify: bool = False) -> bool:
        """Write the plan's PDF report to ``path``; False if there is no plan."""
        case = self.session.report_case()
        if case is None or self.session.view is None or not self.can_start():
            return False
        return self._start(
            report_job(case, path, self.session.view.volume, deidentify),
            "Writing the report…",
            self._on_report_written,
            "LumboPlan could not write the report",
        )

    def read_case_file(self, path: Path, name: str, autosave: bool = False) -> bool:
        """Start reading the case file at ``path``; the case keeper goes on with it.

        ``name`` is the case as the surgeon knows it; ``autosave`` says the file is the autosave
        of a case. Returns False when something is already running (nothing is started).
        """
        if not self.can_start():
            return False
        # A cancel that comes as the read ends counts: the case is not opened.
        return self._start(
            case_job(path, name, autosave),
            f"Opening {name}…",
            self.cases.case_read,
            "LumboPlan could not open the case",
            late_cancel_counts=True,
        )

    def _start(
        self,
        job: Job,
        message: str,
        done: Callable[[Any], None],
        failure_title: str,
        late_cancel_counts: bool = False,
    ) -> bool:
        """Run ``job`` in the ``task`` slot; a failure is reported under ``failure_title``."""
        started = self.tasks.start(
            "task",
            job,
            done,
            partial(self._on_failed, title=failure_title),
            self.progress,
            late_cancel_counts,
        )
        if started is not None:
            self.window.statusBar().showMessage(message)
        return started is not None

    def _on_segmented(self, labels: LabelMap) -> None:
        self.window.show_labels(labels, self.models.record)
        self.window.statusBar().showMessage(
            "Segmented: review the labels in the three views.", 8000
        )

    def _on_planned(self, plan: CasePlan) -> None:
        self.window.show_plan(plan)
        self.cases.planned()
        groups = ", ".join(
            f"{side.value} {GROUP_NAME[plan.sides[side].group]}" for side in plan.sides
        )
        self.window.statusBar().showMessage(f"Planned: {groups}", 8000)
        self.planned.emit(plan)

    def _on_report_written(self, path: Path) -> None:
        self.window.statusBar().showMessage(f"Report written: {path.name}", 8000)
        self.report_written.emit(path)

    def _on_failed(self, error: BaseException, title: str) -> None:
        # Planning a case being opened: its scan and labels are shown, it opens without a plan.
        outcome = (
            "The case is open without its plan: plan again (Ctrl+P)."
            if self.cases.opening_failed()
            else NOTHING_CHANGED
        )
        if isinstance(error, Cancelled):
            self.window.statusBar().showMessage(f"Cancelled. {outcome}", 8000)
        elif not self._offer_draft(error):  # a refused segmentation is shown as a draft
            self.show_failure(error, title, outcome)
