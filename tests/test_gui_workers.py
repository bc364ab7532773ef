"""The window's background work: surface builds replaced by newer ones, closing while work runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.errors import Cancelled
from lumboplan_app.gui import tasks as tasks_module
from lumboplan_app.gui.controllers import surfaces as surfaces_module
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.workers import Worker, mesh_job
from lumboplan_app.labels import Structure
from lumboplan_app.reconstruction import meshes as meshes_module
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume
from tests.conftest import show_main_window

pytestmark = pytest.mark.gui

GRID = Grid((12, 14, 16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
#: How long the fake job's one step runs before it looks at its cancel check again (s).
STEP_S = 1.0


def scan() -> Volume:
    values = np.random.default_rng(0).uniform(0, 1000, GRID.shape_zyx).astype(np.float32)
    return Volume(values, GRID, ScanMeta(modality="MR"))


def boxes(*structures: Structure) -> LabelMap:
    """Each structure as a slab of the grid, one under the other (quick to mesh)."""
    array = np.zeros(GRID.shape_zyx, np.uint8)
    for index, structure in enumerate(structures):
        array[2 + 3 * index : 5 + 3 * index, 3:10, 3:12] = structure
    return LabelMap(array, GRID)


@pytest.fixture
def window(qtbot) -> MainWindow:
    return show_main_window(qtbot, (900, 700), scan())


def slow_mesh_job(started: threading.Event):
    """A stand-in for :func:`mesh_job` whose steps each take :data:`STEP_S`."""

    def make(labels: LabelMap):
        def job(progress, should_cancel):
            started.set()
            for _ in range(30):
                time.sleep(STEP_S)  # one step: a cancel is seen only after it
                if should_cancel():
                    raise Cancelled()
            return {}

        return job

    return make


# -- surfaces ---------------------------------------------------------------------------------


def test_the_mesh_job_honours_cancel(qtbot) -> None:
    worker = Worker(mesh_job(boxes(Structure.L5, Structure.DISC)), name="meshes")
    worker.request_cancel()
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.work()
    assert isinstance(blocker.args[0], Cancelled)


def test_newer_labels_cancel_the_surfaces_still_being_built(window, qtbot, monkeypatch) -> None:
    meshed: list[int] = []
    release = threading.Event()
    build = meshes_module._binary_surface

    def held_surface(labels: LabelMap, label_id: int):
        meshed.append(label_id)
        release.wait(10)  # the first build stays in its first structure until released
        return build(labels, label_id)

    monkeypatch.setattr(meshes_module, "_binary_surface", held_surface)
    window.show_labels(boxes(Structure.L5, Structure.DISC, Structure.S1))
    first = window.tasks.worker("meshes")
    qtbot.waitUntil(lambda: meshed == [int(Structure.L5)], timeout=5000)
    with (
        qtbot.waitSignal(first.failed, timeout=10_000) as failed,
        qtbot.waitSignal(window.meshes_shown, timeout=10_000) as shown,
    ):
        window.show_labels(boxes(Structure.NERVES))
        release.set()
    assert isinstance(failed.args[0], Cancelled)
    # The first build stopped before its second structure; the surfaces shown are the new ones.
    assert meshed == [int(Structure.L5), int(Structure.NERVES)]
    assert set(shown.args[0]) == {Structure.NERVES}
    assert set(window.meshes) == {Structure.NERVES}
    qtbot.waitUntil(lambda: window.active_worker_count() == 0, timeout=5000)


def test_an_edit_cancels_the_surfaces_being_built_at_once(window, qtbot, monkeypatch) -> None:
    started = threading.Event()
    monkeypatch.setattr(surfaces_module, "mesh_job", slow_mesh_job(started))
    window.show_labels(boxes(Structure.L5))
    assert started.wait(5)
    building = window.tasks.worker("meshes")
    with qtbot.waitSignal(building.failed, timeout=5000) as failed:
        assert window.brush.paint(Structure.DISC, (6.0, 6.0, 6.0), "axial", 2.0)
        # At once, not when the rebuild timer fires: its surfaces are of the labels before.
        assert building.is_cancel_requested()
        monkeypatch.setattr(surfaces_module, "mesh_job", mesh_job)
    assert isinstance(failed.args[0], Cancelled)
    with qtbot.waitSignal(window.meshes_shown, timeout=10_000) as shown:
        pass  # the rebuild timer starts the build of the edited labels
    assert set(shown.args[0]) == {Structure.L5, Structure.DISC}
    qtbot.waitUntil(lambda: window.active_worker_count() == 0, timeout=5000)


def test_surfaces_finished_after_an_edit_are_neither_shown_nor_announced(
    window, qtbot, monkeypatch
) -> None:
    started, release = threading.Event(), threading.Event()

    def past_its_last_cancel_point(labels: LabelMap):
        def job(progress, should_cancel):
            started.set()
            release.wait(10)
            return {}  # surfaces of the labels before the edit

        return job

    monkeypatch.setattr(surfaces_module, "mesh_job", past_its_last_cancel_point)
    window.show_labels(boxes(Structure.L5))
    assert started.wait(5)
    building = window.tasks.worker("meshes")
    announced: list[dict] = []
    window.meshes_shown.connect(announced.append)
    assert window.brush.paint(Structure.DISC, (6.0, 6.0, 6.0), "axial", 2.0)
    monkeypatch.setattr(surfaces_module, "mesh_job", mesh_job)
    release.set()
    result_taken = lambda: window.tasks.worker("meshes") is not building  # noqa: E731
    qtbot.waitUntil(result_taken, timeout=5000)
    assert announced == []
    assert window.meshes is None
    with qtbot.waitSignal(window.meshes_shown, timeout=10_000):
        pass  # the rebuild timer starts the build of the edited labels
    assert [set(meshes) for meshes in announced] == [{Structure.L5, Structure.DISC}]
    qtbot.waitUntil(lambda: window.active_worker_count() == 0, timeout=5000)


# -- closing while a worker runs --------------------------------------------------------------


def test_closing_waits_for_a_worker_slower_to_stop_than_the_limit(window, qtbot, monkeypatch):
    monkeypatch.setattr(tasks_module, "WORKER_SLOW_STOP_MS", 50)
    started = threading.Event()
    monkeypatch.setattr(surfaces_module, "mesh_job", slow_mesh_job(started))
    threads = []
    start = tasks_module.start_worker

    def start_and_keep(worker: Worker):
        threads.append(start(worker))
        return threads[-1]

    monkeypatch.setattr(tasks_module, "start_worker", start_and_keep)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    window.show_labels(boxes(Structure.L5))
    assert started.wait(5)
    (thread,) = threads
    try:
        window.close()
        # close() returned only once the job had reached its cancel point and the thread ended.
        assert thread.isFinished()
        assert window.active_worker_count() == 0
        assert not window.isVisible()
    finally:
        thread.wait()  # never let this test destroy a running thread, fixed or not
    assert any("before closing" in message for message in messages)


EXIT_SCRIPT = textwrap.dedent(
    """
    import gc, threading, time
    from PySide6.QtWidgets import QMessageBox
    from lumboplan_app.errors import Cancelled
    from lumboplan_app.gui import main_window, tasks
    from lumboplan_app.gui.controllers import surfaces
    from lumboplan_app.gui.app import create_application
    from tests.test_gui_workers import boxes, scan, slow_mesh_job
    from lumboplan_app.labels import Structure

    tasks.WORKER_SLOW_STOP_MS = 50
    started = threading.Event()
    surfaces.mesh_job = slow_mesh_job(started)
    main_window.MainWindow.ask_unsaved_changes = lambda self: QMessageBox.StandardButton.Discard
    app = create_application()
    window = main_window.MainWindow()
    window.show()
    window.set_volume(scan())
    window.show_labels(boxes(Structure.L5))
    assert started.wait(5)
    window.close()
    del window
    gc.collect()  # the window, and every thread it held, is destroyed here
    print("closed")
    """
)


def test_closing_with_a_slow_worker_never_aborts_the_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LUMBOPLAN_HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert "QThread: Destroyed" not in result.stderr
    assert (result.returncode, result.stdout.strip()) == (0, "closed"), result.stderr[-2000:]
