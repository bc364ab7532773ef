"""Workers: a long core call on a QThread that reports through signals and can be cancelled.

A :class:`Worker` wraps a *job*, a plain function ``job(progress, should_cancel)`` that calls
the core (the core takes these two callbacks everywhere). The worker never touches a widget:
the window learns of progress, the result or the error only through queued signals. Cancel is
cooperative: :meth:`Worker.request_cancel` sets a flag the job polls, and the core raises
:class:`~lumboplan_app.errors.Cancelled`.

The body can be tested without a thread: ``worker.work()`` runs the job in the caller's thread
and emits the same signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lumboplan_app.progress import CancelCheck, ProgressCallback

if TYPE_CHECKING:
    from lumboplan_app.session import CaseFile
    from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

Job = Callable[[ProgressCallback, CancelCheck], Any]


class Worker(QObject):
    """Runs ``job(progress, should_cancel)`` once and reports through signals.

    Signals
    -------
    progress(float, str)
        Fraction done (0..1) and what is being done, phrased for the user.
    finished(object)
        The job's return value.
    failed(object)
        The exception the job raised (a :class:`~lumboplan_app.errors.Cancelled` after a
        cancel).
    """

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, job: Job, name: str = "job") -> None:
        super().__init__()
        self._job = job
        self._cancel = threading.Event()
        self.name = name

    def request_cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self._cancel.set()

    def is_cancel_requested(self) -> bool:
        """Whether a cancel was requested (the ``should_cancel`` the job polls)."""
        return self._cancel.is_set()

    def _report(self, fraction: float, text: str) -> None:
        self.progress.emit(float(min(max(fraction, 0.0), 1.0)), str(text))

    @Slot()
    def work(self) -> None:
        """Run the job in the current thread; emit ``finished`` or ``failed``."""
        try:
            result = self._job(self._report, self.is_cancel_requested)
        except Exception as error:  # every failure goes back to the window, none is lost
            self.failed.emit(error)
        else:
            self.finished.emit(result)


def start_worker(worker: Worker) -> QThread:
    """Move ``worker`` to a new QThread, start it, and return the thread.

    The thread quits by itself when the worker has emitted ``finished`` or ``failed``; the
    caller keeps references to both until the thread's own ``finished`` signal.
    """
    thread = QThread()
    thread.setObjectName(f"lumboplan-{worker.name}")
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    worker.finished.connect(thread.quit)
    worker.failed.connect(thread.quit)
    thread.start()
    return thread


def load_scan_job(path: Path, series: str | None) -> Job:
    """Return a job that reads a scan in a child process (a reader crash cannot reach us).

    The job returns the canonical :class:`~lumboplan_app.volume.Volume`. When ``series`` is
    None and the path holds several series it raises
    :class:`~lumboplan_app.errors.SeriesChoiceRequired`, whose ``series`` lists them (the same
    listing as :func:`lumboplan_app.io.list_series`), so the window can ask which one.
    """

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.errors import Cancelled

        if should_cancel():
            raise Cancelled()
        progress(0.0, "Starting the reader")
        from lumboplan_app.io import read_scan_isolated

        return read_scan_isolated(path, series, progress=progress, should_cancel=should_cancel)

    return job


def case_job(path: Path, name: str, autosave: bool = False) -> Job:
    """Return a job that reads the case file at ``path`` (a :class:`CaseFile`).

    ``name`` is the case as the surgeon knows it; ``autosave`` says the file is the autosave
    of a case (its own file name means nothing to the surgeon). A damaged, unknown or missing
    file raises :class:`~lumboplan_app.errors.LoadError`.
    """

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.errors import Cancelled, LoadError
        from lumboplan_app.session import read_case

        progress(0.0, f"Reading {name}")
        try:
            case = read_case(path)
        except LoadError as error:
            if not autosave:
                raise
            raise type(error)(
                f"The work autosaved for {name} cannot be read: the autosave is damaged or "
                "from a newer LumboPlan. Discard it when LumboPlan offers it at its next start, "
                "then open the case or the scan again."
            ) from error
        if should_cancel():
            raise Cancelled()
        return case

    return job


def segment_job(volume: Volume, weights: Path | None, sha256: str | None = None) -> Job:
    """Return a job that segments ``volume`` with the model (``weights``; None: the shipped one).

    The job returns the :class:`~lumboplan_app.volume.LabelMap` on the volume's grid; a missing
    or tampered model and an unsuitable scan raise :class:`~lumboplan_app.errors.ModelError`.
    ``sha256``: the weights whose card the surgeon saw; weights replaced since are refused.
    """

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.errors import ModelError
        from lumboplan_app.segmentation.inference import Segmenter
        from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, read_card

        progress(0.0, "Loading the model")
        if sha256 is not None and read_card(weights or DEFAULT_WEIGHTS).sha256 != sha256:
            raise ModelError(
                "The model's files were replaced since it was chosen. Choose it again (Model "
                "menu) to see its card, then segment."
            )
        segmenter = Segmenter(weights)
        return segmenter.segment(volume, progress=progress, should_cancel=should_cancel)

    return job


def plan_job(labels: LabelMap) -> Job:
    """Return a job that plans both foramina of ``labels`` (a :class:`CasePlan`)."""
    from lumboplan_app.volume import LabelMap as Labels

    snapshot = Labels(labels.array.copy(), labels.grid)  # edits go on while it plans

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.errors import Cancelled
        from lumboplan_app.planning.plan import plan_from_labels

        def report(fraction: float, text: str) -> None:
            # The planner reports between its stages: a cancel takes effect at the next one.
            if should_cancel():
                raise Cancelled("Planning cancelled; nothing was changed.")
            progress(fraction, text)

        report(0.0, "Deriving the parts and landmarks")
        return plan_from_labels(snapshot, progress=report)

    return job


def report_job(case: CaseFile, output: Path, volume: Volume | None, deidentify: bool) -> Job:
    """Return a job that writes the PDF report of ``case`` to ``output`` (returns the path)."""

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.report.pdf import write_report

        write_report(case, output, volume, deidentify, progress)
        return output

    return job


def export_job(case: CaseFile, output: Path, volume: Volume | None, deidentify: bool) -> Job:
    """Return a job that exports ``case`` to ``output`` (format by its ending; returns the paths).

    See :func:`~lumboplan_app.exchange.export.export_case`.
    """

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.exchange.export import export_case

        return export_case(case, output, deidentify, volume, None, progress, should_cancel)

    return job


def mesh_job(labels: LabelMap) -> Job:
    """Return a job that builds the surfaces of a copy of ``labels``, decimated for display.

    A cancel takes effect before the next structure is meshed or decimated for display.
    """
    from lumboplan_app.volume import LabelMap as Labels

    snapshot = Labels(labels.array.copy(), labels.grid)

    def job(progress: ProgressCallback, should_cancel: CancelCheck) -> Any:
        from lumboplan_app.reconstruction.meshes import structure_meshes
        from lumboplan_app.reconstruction.scene import display_meshes

        progress(0.0, "Building the 3-D surfaces")
        meshes = structure_meshes(snapshot, should_cancel=should_cancel)
        return display_meshes(meshes, should_cancel)

    return job
