"""The bundled demo case (resources/demo): what `make run` opens."""

import json
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Structure
from lumboplan_app.phantom.anatomy import build_anatomy
from lumboplan_app.phantom.parameters import PhantomParameters
from lumboplan_app.phantom.truth_plan import plan_truth

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"


def test_demo_is_small_and_complete() -> None:
    files = [p for p in DEMO.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 10 * 1024 * 1024
    for name in ("labels.nii.gz", "parts.nii.gz", "truth.json", "preview.png"):
        assert (DEMO / name).is_file(), name


def test_demo_series_loads_with_its_labels_and_truth() -> None:
    volume = read_scan(DEMO / "dicom")
    assert volume.meta.modality == "MR"
    assert volume.meta.acquisition_type == "3D"
    labels = read_label_map(DEMO / "labels.nii.gz", reference=volume.grid)
    assert set(labels.present_ids()) == {int(s) for s in Structure}
    truth = json.loads((DEMO / "truth.json").read_text())
    # The demo shows both outcomes: the left foramen is open, the right one is blocked.
    assert truth["plan"]["left"]["group"] == "A"
    assert truth["plan"]["right"]["group"] == "B"
    # Its truth is what the current phantom code computes from its parameters.
    recomputed = plan_truth(build_anatomy(PhantomParameters.from_json(truth["parameters"])))
    assert recomputed == truth["plan"]


@pytest.mark.gui
def test_window_opens_the_demo(qtbot) -> None:
    from lumboplan_app.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.volume_loaded, timeout=60_000) as blocker:
        assert window.open_path(DEMO / "dicom", None)
    volume = blocker.args[0]
    assert volume.grid.shape_zyx == read_scan(DEMO / "dicom").grid.shape_zyx
    assert np.isfinite(volume.array).all()
