"""The window's background work: one worker per kind of job, and one way to report its failure.

A :class:`TaskRunner` starts :class:`~lumboplan_app.gui.workers.Worker` jobs on their own
QThreads, at most one per *slot* (``"load"``, ``"task"``, ``"meshes"``, ``"autosave"``). The
caller gives plain callables for the result, the error and the progress; the runner receives the
worker's signals on the GUI thread, releases the thread and only then calls them, so a callback
may start the next job in the same slot. A job stopped with :meth:`TaskRunner.stop` or by
:meth:`TaskRunner.shutdown` reports nothing.

:func:`failure_message` is the one place an error becomes the dialog's text: a
:class:`~lumboplan_app.errors.LumboPlanError` is written for the surgeon and shown as is;
anything else is logged with its type and code location (never its message, which may hold a
path or a patient's name) and gets a generic, actionable message.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QApplication

from lumboplan_app.errors import Cancelled, LumboPlanError
from lumboplan_app.gui.workers import Job, Worker, start_worker

logger = logging.getLogger(__name__)

#: Milliseconds a stopping job may take before the runner logs that it is slow to stop; it
#: then goes on waiting (see :meth:`TaskRunner.shutdown`).
WORKER_SLOW_STOP_MS = 5000
#: What a failed job changed, when it changed nothing.
NOTHING_CHANGED = "Nothing was changed."


def code_location(trace: TracebackType | None) -> str:
    """Name where an exception was raised: ``file:line in function`` of each frame.

    Only LumboPlan's and the libraries' code is named, never source text, values or messages,
    which may hold an input path or a patient's name.
    """
    frames = traceback.extract_tb(trace)
    return " <- ".join(
        f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}" for frame in reversed(frames)
    )


def log_unexpected(error: BaseException, doing: str) -> None:
    """Log an unexpected ``error`` raised while ``doing`` something: its type and location only."""
    logger.error(
        "unexpected %s while %s, raised at %s",
        type(error).__name__,
        doing,
        code_location(error.__traceback__),
    )


def failure_message(error: BaseException, title: str, outcome: str = NOTHING_CHANGED) -> str:
    """Return the dialog's message for a job that failed with ``error`` (and log it).

    Parameters
    ----------
    error : BaseException
        What the job raised.
    title : str
        What failed, as the dialog's title says it ("LumboPlan could not plan the case").
    outcome : str, default :data:`NOTHING_CHANGED`
        What the failure left, for the surgeon; added to a typed error's own message unless
        nothing changed (those messages say what to do already).
    """
    if isinstance(error, LumboPlanError):
        logger.info("%s: %s", title, type(error).__name__)
        return str(error) if outcome == NOTHING_CHANGED else f"{error} {outcome}"
    log_unexpected(error, title.removeprefix("LumboPlan ").lower())
    return (
        f"{title} because of an unexpected problem ({type(error).__name__}). {outcome} "
        "Try again; if it happens again, contact LumboPlan's support."
    )


Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]
Progress = Callable[[float, str], None]


@dataclass
class _Task:
    slot: str
    worker: Worker
    thread: QThread
    done: Done
    failed: Failed
    progress: Progress | None
    late_cancel_counts: bool


class TaskRunner(QObject):
    """Runs at most one job per slot on its own QThread; waits for them all on shutdown.

    Signals
    -------
    slot_changed(str)
        A job started in the slot, or ended (emitted before its ``done`` or ``failed``).
    """

    slot_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, _Task] = {}
        self._closed = False

    # -- starting and asking --------------------------------------------------------------------

    def start(
        self,
        slot: str,
        job: Job,
        done: Done,
        failed: Failed,
        progress: Progress | None = None,
        late_cancel_counts: bool = False,
    ) -> Worker | None:
        """Run ``job`` in ``slot``; None (nothing started) if the slot is busy or the runner shut.

        ``done(result)``, ``failed(error)`` and ``progress(fraction, text)`` are called on the
        GUI thread, ``done`` or ``failed`` once the slot is free again. With
        ``late_cancel_counts`` a job that returns after a cancel was asked fails with
        :class:`~lumboplan_app.errors.Cancelled` instead (its result came too late to count).
        """
        if self._closed or slot in self._tasks:
            return None
        worker = Worker(job, name=slot)
        # The runner's own methods: Qt queues the worker's signals to the GUI thread.
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._tasks[slot] = _Task(
            slot, worker, start_worker(worker), done, failed, progress, late_cancel_counts
        )
        self.slot_changed.emit(slot)
        return worker

    def is_running(self, *slots: str) -> bool:
        """Whether a job runs in any of ``slots`` (in any slot when none is named)."""
        return any(slot in self._tasks for slot in slots or self._tasks)

    def worker(self, slot: str) -> Worker | None:
        """Return the worker running in ``slot``, or None."""
        task = self._tasks.get(slot)
        return None if task is None else task.worker

    def is_closed(self) -> bool:
        """Whether :meth:`shutdown` was called: nothing starts any more."""
        return self._closed

    def count(self) -> int:
        """Return the number of jobs whose threads have not been released."""
        return len(self._tasks)

    def cancel(self, slot: str) -> bool:
        """Ask the job in ``slot`` to stop at its next check; False if none runs there."""
        task = self._tasks.get(slot)
        if task is None:
            return False
        task.worker.request_cancel()
        return True

    def is_cancelling(self, slot: str) -> bool:
        """Whether the job in ``slot`` was asked to stop."""
        task = self._tasks.get(slot)
        return task is not None and task.worker.is_cancel_requested()

    # -- stopping -------------------------------------------------------------------------------

    def stop(self, slot: str) -> None:
        """Cancel the job in ``slot`` and wait until its thread has finished; it reports nothing."""
        task = self._tasks.pop(slot, None)
        if task is not None:
            self._wait([task])
            self.slot_changed.emit(slot)

    def shutdown(self, before_waiting: Callable[[], None] | None = None) -> None:
        """Cancel every job and wait until each thread has finished; start nothing from now on.

        There is no time limit: a QThread destroyed while it runs makes Qt abort the process,
        and giving up would leave jobs using the model and the CPU after the window is gone.
        The wait is bounded because every long job stops at its next cancel point, a short step
        away; a wait longer than :data:`WORKER_SLOW_STOP_MS` is logged. ``before_waiting`` is
        called first when some thread still runs (to say why the window is still there).
        """
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.worker.request_cancel()
            task.thread.quit()  # its event loop ends as soon as the job has returned
        if not any(task.thread.isRunning() for task in tasks):
            return
        if before_waiting is not None:
            before_waiting()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        started = time.perf_counter()
        try:
            self._wait(tasks)
        finally:
            QApplication.restoreOverrideCursor()
        logger.info("workers stopped in %.0f ms", 1000 * (time.perf_counter() - started))

    def _wait(self, tasks: list[_Task]) -> None:
        for task in tasks:
            task.worker.request_cancel()
            task.thread.quit()
        for task in tasks:
            if not task.thread.wait(WORKER_SLOW_STOP_MS):
                logger.warning(
                    "the %s worker has not stopped within %d ms; waiting for it",
                    task.slot,
                    WORKER_SLOW_STOP_MS,
                )
                task.thread.wait()

    # -- the worker's signals, on the GUI thread ----------------------------------------------

    def _own_task(self) -> _Task | None:
        """Return the task of the worker that sent the signal, if it is still ours."""
        sender = self.sender()
        return next((task for task in self._tasks.values() if task.worker is sender), None)

    def _release(self, task: _Task) -> None:
        del self._tasks[task.slot]
        task.thread.quit()
        task.thread.wait()  # the job has returned: the thread ends at once
        self.slot_changed.emit(task.slot)

    def _on_progress(self, fraction: float, text: str) -> None:
        task = self._own_task()
        if task is not None and task.progress is not None:
            task.progress(fraction, text)

    def _on_finished(self, result: object) -> None:
        task = self._own_task()
        if task is None:
            return
        self._release(task)
        if task.late_cancel_counts and task.worker.is_cancel_requested():
            task.failed(Cancelled())
        else:
            task.done(result)

    def _on_failed(self, error: BaseException) -> None:
        task = self._own_task()
        if task is None:
            return
        self._release(task)
        task.failed(error)
