"""Shared fixtures: offscreen Qt, no network, small generated scans with known geometry."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from lumboplan_app.io.dicom_export import SeriesHeader, write_dicom_series
from lumboplan_app.phantom.mr import Acquisition
from lumboplan_app.segmentation.training import TrainingConfig
from lumboplan_app.volume import Grid, Volume

if TYPE_CHECKING:
    from lumboplan_app.gui.main_window import MainWindow

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"

#: Direction of a sagittal acquisition: rows run anterior->posterior, columns superior->inferior,
#: slices right->left (columns of the matrix are the x, y, z index axes in LPS).
SAGITTAL_DIRECTION = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

#: A small axial scan of a phantom, and a model small enough to train on it in seconds.
TINY_SCAN = Acquisition(
    plane="axial",
    in_plane_mm=2.0,
    slice_mm=2.0,
    fov_half_mm=(70.0, 60.0, 40.0),
    fov_centre_mm=(0.0, 10.0, 5.0),
)
TINY = TrainingConfig(
    folds=3,
    fold=0,
    max_steps=12,
    batch_size=2,
    learning_rate=3e-3,
    validate_every=6,
    spacing_mm=4.0,
    patch_size=(32, 32, 32),
    features=(4, 4, 8, 8, 16, 4),
    device="cpu",
    training_data="3 tiny synthetic phantoms (tests)",
)


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny phantom cases (seeds 21-23) in :data:`TINY_SCAN`, with their labels."""
    from lumboplan_app.phantom.case import generate_case, write_case
    from lumboplan_app.phantom.mr import default_contrast

    folder = tmp_path_factory.mktemp("phantoms")
    for seed in (21, 22, 23):
        case = generate_case(seed, acquisition=TINY_SCAN, contrast=default_contrast())
        write_case(case, folder / f"case_{seed}")
    return folder


@pytest.fixture(scope="session")
def trained(phantoms: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the :data:`TINY` model trained on :func:`phantoms` (not exported)."""
    from lumboplan_app.segmentation.training import train

    model_dir = tmp_path_factory.mktemp("model")
    train([phantoms], model_dir, TINY)
    return model_dir


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """LumboPlan never uses the network: any attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _private_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep autosaves and recent files in a fresh folder, never the user's.

    A window closed with unsaved changes discards them, and a case whose scan is not found is
    not opened, instead of waiting for a click (tests of these questions answer them
    themselves).
    """
    monkeypatch.setenv("LUMBOPLAN_HOME", str(tmp_path_factory.mktemp("home")))
    window_module = sys.modules.get("lumboplan_app.gui.main_window")
    if window_module is not None:
        from PySide6.QtWidgets import QMessageBox

        monkeypatch.setattr(
            window_module.MainWindow,
            "ask_unsaved_changes",
            lambda self: QMessageBox.StandardButton.Discard,
        )
        monkeypatch.setattr(
            window_module.MainWindow, "ask_scan_path", lambda self, case_name, reference: None
        )


def show_main_window(qtbot: Any, size: tuple[int, int], volume: Volume | None = None) -> MainWindow:
    """Open the main window at ``size`` (pixels), wait until it is on screen, then show ``volume``.

    The import is here, not at the top, so that the headless tests never load Qt.
    """
    from lumboplan_app.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    if volume is not None:
        with qtbot.waitSignal(window.volume_loaded, timeout=5000):
            window.set_volume(volume)
    return window


def ramp_volume(grid: Grid, modality: str = "MR") -> Volume:
    """A volume whose value is the flat C-order index of the voxel (exact in 16-bit DICOM)."""
    from lumboplan_app.volume import ScanMeta

    return Volume(
        array=np.arange(grid.voxel_count, dtype=np.float32).reshape(grid.shape_zyx),
        grid=grid,
        meta=ScanMeta(modality=modality),
    )


def ramp_index(values: np.ndarray, grid: Grid) -> np.ndarray:
    """Invert :func:`ramp_volume`: the (z, y, x) index, on the last axis, each value came from."""
    return np.stack(np.unravel_index(values.astype(np.int64), grid.shape_zyx), axis=-1)


@pytest.fixture
def make_series(tmp_path: Path) -> Callable[..., Path]:
    """Write a DICOM series with known geometry; return its folder.

    Keyword arguments: ``grid`` (default: sagittal 12 slices of 20x16, 0.8 x 0.9 x 1.5 mm),
    ``folder`` name, and any :class:`SeriesHeader` field.
    """

    def make(
        grid: Grid | None = None, folder: str = "series", volume: Volume | None = None, **header
    ) -> Path:
        grid = grid or Grid(
            shape_zyx=(12, 16, 20),
            spacing_xyz_mm=(0.8, 0.9, 1.5),
            origin_lps_mm=(-9.0, -20.0, 30.0),
            direction=SAGITTAL_DIRECTION,
        )
        volume = volume or ramp_volume(grid, header.get("modality", "MR"))
        out = tmp_path / folder
        write_dicom_series(volume, out, SeriesHeader(**header))
        return out

    return make


@pytest.fixture(scope="session")
def realdata() -> Iterator[Path]:
    """The shared corpus of real files; skips where ``../shared/realdata`` is absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present on this machine")
    return REALDATA


@pytest.fixture(scope="session")
def demo_volume() -> Volume:
    """The bundled demo case's scan, read once for the window tests."""
    from lumboplan_app.io import read_scan

    return read_scan(DEMO / "dicom")


def not_assessable_plan() -> dict[str, Any]:
    """A plan of two foramina that could not be assessed, as a case file holds it."""
    side = {
        "group": "not_assessable",
        "reasons": ["The disc was not found."],
        "alpha_deg": None,
        "beta_deg": None,
        "contacts": [],
        "points_lps_mm": {"a": None, "b": None, "c": None, "d": None},
        "line_a_mm": None,
        "line_b_mm": None,
        "best_free": None,
        "feasibility_map": None,
    }
    return {
        "schema": "lumboplan.plan/1",
        "channel": {"diameter_mm": 7.5, "length_mm": 170.0},
        "planes": {},
        "sides": {"left": dict(side), "right": dict(side)},
    }
