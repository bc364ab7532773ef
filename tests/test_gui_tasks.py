"""The task runner: one job per slot, results on the GUI thread, stop and shutdown that wait."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import QThread

from lumboplan_app.errors import Cancelled, LoadError
from lumboplan_app.gui.tasks import NOTHING_CHANGED, TaskRunner, failure_message

pytestmark = pytest.mark.gui


class Record:
    """Collects what a runner reports, and on which thread."""

    def __init__(self) -> None:
        self.done: list[object] = []
        self.failed: list[BaseException] = []
        self.progress: list[tuple[float, str]] = []
        self.threads: list[QThread] = []

    def on_done(self, result: object) -> None:
        self.threads.append(QThread.currentThread())
        self.done.append(result)

    def on_failed(self, error: BaseException) -> None:
        self.threads.append(QThread.currentThread())
        self.failed.append(error)

    def on_progress(self, fraction: float, text: str) -> None:
        self.progress.append((fraction, text))


def held_job(release: threading.Event, result: object = "done"):
    """A job that reports once, then waits for ``release`` (or a cancel) and returns ``result``."""

    def job(progress, should_cancel):
        progress(0.5, "half way")
        while not release.wait(0.01):
            if should_cancel():
                raise Cancelled()
        return result

    return job


@pytest.fixture
def runner(qtbot):
    tasks = TaskRunner()
    yield tasks
    tasks.shutdown()


def test_a_result_arrives_on_the_gui_thread_with_the_slot_free(runner, qtbot) -> None:
    record, release = Record(), threading.Event()
    free_when_done: list[bool] = []

    def done(result: object) -> None:
        free_when_done.append(not runner.is_running("task"))
        record.on_done(result)

    worker = runner.start("task", held_job(release), done, record.on_failed, record.on_progress)
    assert worker is not None
    assert runner.is_running("task")
    assert runner.is_running()
    assert not runner.is_running("load")
    assert runner.start("task", held_job(release), done, record.on_failed) is None  # one a slot
    release.set()
    qtbot.waitUntil(lambda: record.done == ["done"], timeout=5000)
    assert record.progress == [(0.5, "half way")]
    assert record.threads == [QThread.currentThread()]
    assert free_when_done == [True]
    assert runner.count() == 0


def test_slots_run_side_by_side_and_report_their_changes(runner, qtbot) -> None:
    record, release = Record(), threading.Event()
    changes: list[str] = []
    runner.slot_changed.connect(changes.append)
    assert runner.start("load", held_job(release, 1), record.on_done, record.on_failed)
    assert runner.start("meshes", held_job(release, 2), record.on_done, record.on_failed)
    assert runner.count() == 2
    release.set()
    qtbot.waitUntil(lambda: sorted(record.done) == [1, 2], timeout=5000)
    assert sorted(changes) == ["load", "load", "meshes", "meshes"]


def test_cancel_fails_the_job_with_cancelled(runner, qtbot) -> None:
    record = Record()
    assert not runner.cancel("task")
    runner.start("task", held_job(threading.Event()), record.on_done, record.on_failed)
    assert runner.cancel("task")
    assert runner.is_cancelling("task")
    qtbot.waitUntil(lambda: len(record.failed) == 1, timeout=5000)
    assert isinstance(record.failed[0], Cancelled)
    assert record.done == []


def test_a_result_that_comes_after_a_cancel_can_count_as_cancelled(runner, qtbot) -> None:
    record = Record()

    def ends_without_looking(progress, should_cancel):
        return "read"

    worker = runner.start(
        "task", ends_without_looking, record.on_done, record.on_failed, late_cancel_counts=True
    )
    worker.request_cancel()  # before its result reaches the GUI thread
    qtbot.waitUntil(lambda: len(record.failed) == 1, timeout=5000)
    assert isinstance(record.failed[0], Cancelled)
    assert record.done == []


def test_a_job_stopped_is_waited_for_and_reports_nothing(runner, qtbot) -> None:
    record, release = Record(), threading.Event()
    worker = runner.start("autosave", held_job(release), record.on_done, record.on_failed)
    runner.stop("autosave")
    assert worker.is_cancel_requested()
    assert runner.count() == 0
    qtbot.wait(50)  # the worker's last signal, queued, is dropped
    assert (record.done, record.failed) == ([], [])


def test_shutdown_waits_for_a_slow_job_and_starts_nothing_after(
    runner, qtbot, monkeypatch, caplog
) -> None:
    from lumboplan_app.gui import tasks as tasks_module

    monkeypatch.setattr(tasks_module, "WORKER_SLOW_STOP_MS", 20)
    started, told = threading.Event(), []

    def slow_to_stop(progress, should_cancel):
        started.set()
        threading.Event().wait(0.3)  # one step without a cancel point
        raise Cancelled()

    record = Record()
    runner.start("task", slow_to_stop, record.on_done, record.on_failed)
    assert started.wait(5)
    with caplog.at_level(logging.WARNING, logger="lumboplan_app.gui.tasks"):
        runner.shutdown(lambda: told.append(True))
    assert told == [True]
    assert "has not stopped within 20 ms" in caplog.text
    assert runner.count() == 0
    assert runner.start("task", slow_to_stop, record.on_done, record.on_failed) is None
    qtbot.wait(50)
    assert (record.done, record.failed) == ([], [])


def test_a_typed_error_is_shown_as_written_and_an_unexpected_one_by_its_type_only(
    caplog,
) -> None:
    title = "LumboPlan could not plan the case"
    assert failure_message(LoadError("The file is damaged."), title) == "The file is damaged."
    assert (
        failure_message(LoadError("The file is damaged."), title, "The case is open.")
        == "The file is damaged. The case is open."
    )
    try:
        raise KeyError("/cd/Doe Jane/IM1")
    except KeyError as error:
        with caplog.at_level(logging.ERROR):
            message = failure_message(error, title)
    assert message.startswith(f"{title} because of an unexpected problem (KeyError).")
    assert NOTHING_CHANGED in message
    assert "Doe" not in message
    assert "KeyError" in caplog.text
    assert "test_gui_tasks.py" in caplog.text  # where it was raised
    assert "Doe" not in caplog.text
