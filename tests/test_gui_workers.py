"""The window's background work: a surface build is cancelled when newer labels need one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lumboplan_app.errors import Cancelled
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.workers import Worker, mesh_job
from lumboplan_app.labels import Structure
from lumboplan_app.reconstruction import meshes as meshes_module
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume

pytestmark = pytest.mark.gui

GRID = Grid((12, 14, 16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))


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
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(900, 700)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.volume_loaded, timeout=5000):
        window.set_volume(scan())
    return window


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
    first = window._mesh_worker
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
