"""The ONNX export and the runtime without PyTorch: parity, hash checks, fallbacks, windowing."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.errors import ModelError
from lumboplan_app.io import read_scan
from lumboplan_app.segmentation import inference
from lumboplan_app.segmentation.inference import (
    Segmenter,
    sliding_window_logits,
    window_starts,
)
from lumboplan_app.segmentation.model_card import (
    DEFAULT_WEIGHTS,
    card_path_for,
    onnx_path_for,
    read_card,
)
from lumboplan_app.shipped import DEMO_SCAN, SHIPPED_WEIGHTS
from lumboplan_app.volume import Volume, resample_volume

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trained model, exported to ONNX with the command a release runs."""
    folder = tmp_path_factory.mktemp("exported")
    for name in ("lumboplan_unet.safetensors", "lumboplan_unet.json"):
        shutil.copy(trained / name, folder / name)
    weights = folder / "lumboplan_unet.safetensors"
    assert main(["export-onnx", str(weights)]) == 0
    return weights


@pytest.fixture
def copy_of(exported: Path, tmp_path: Path) -> Path:
    """A copy of the exported model that a test may damage."""
    for path in exported.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / exported.name


def test_export_adds_only_the_onnx_record_to_the_card(exported: Path, trained: Path) -> None:
    before = json.loads(card_path_for(trained / exported.name).read_text())
    after = json.loads(card_path_for(exported).read_text())
    record = after.pop("onnx")
    assert before.pop("onnx") == {}  # training leaves new weights without an export
    assert after == before
    keys = list(json.loads(card_path_for(exported).read_text()))
    assert keys[keys.index("sha256") + 1] == "onnx"  # beside the weights' hash
    card = read_card(exported)
    assert record["file"] == "lumboplan_unet.onnx"
    assert record["weights_sha256"] == card.sha256
    assert record["opset"] == 17
    assert onnx_path_for(exported, card) == exported.with_suffix(".onnx")


def test_onnx_runtime_gives_torch_float32_labels_and_probabilities(
    exported: Path, phantoms: Path
) -> None:
    """Same probabilities within 1e-4; the same labels wherever one class leads by more.

    The two runtimes' kernels round differently (the size of the difference depends on the
    CPU's instruction set), so a voxel where two classes tie within that tolerance may go
    either way; everywhere else the labels are identical.
    """
    onnx = Segmenter(exported, device="cpu")
    torch_fp32 = Segmenter(exported, device="torch-cpu")
    torch_fp32.network.dtype = None  # float32 even on a CPU with native bfloat16
    assert (onnx.runtime, torch_fp32.runtime) == ("onnxruntime", "torch")
    volume = read_scan(phantoms / "case_22" / "image.nii.gz")
    model_grid = onnx._resample(volume).grid
    image = onnx._normalise(onnx._resample(volume).array)
    probabilities = np.stack(onnx._predict(image, None, None))  # (pass, class, z, y, x)
    torch_probabilities = np.stack(torch_fp32._predict(image, None, None))
    assert probabilities.shape[:2] == (2, 7)
    assert np.abs(probabilities - torch_probabilities).max() < 1e-4
    labels = onnx.predict_labels(volume).array
    assert len(np.unique(labels)) > 1  # a model that labels something, not all background
    torch_labels = torch_fp32.predict_labels(volume).array
    differ = labels != torch_labels
    assert differ.sum() <= 1e-4 * differ.size
    mean = torch_probabilities.mean(axis=0)
    on_scan = {  # each class torch's labels or ONNX's took, carried to the scan's grid
        class_id: resample_volume(Volume(mean[class_id], model_grid), volume.grid).array[differ]
        for class_id in np.unique(np.concatenate([labels[differ], torch_labels[differ]]))
    }
    for index, (onnx_class, torch_class) in enumerate(
        zip(labels[differ], torch_labels[differ], strict=True)
    ):
        assert abs(on_scan[onnx_class][index] - on_scan[torch_class][index]) < 1e-4


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_the_onnx_path_never_imports_torch(exported: Path, phantoms: Path, device: str) -> None:
    if device == "auto" and inference._gpu_may_be_present():
        pytest.skip("a GPU may be here: auto runs PyTorch on it")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lumboplan_app.errors import ModelError\n"
        "from lumboplan_app.io import read_scan\n"
        "from lumboplan_app.segmentation.inference import Segmenter\n"
        f"segmenter = Segmenter(Path({str(exported)!r}), device={device!r})\n"
        f"volume = read_scan(Path({str(phantoms / 'case_21' / 'image.nii.gz')!r}))\n"
        "try:\n"
        "    segmenter.segment(volume)\n"
        "except ModelError:\n"
        "    pass  # the tiny model's labels may be implausible; the network ran before\n"
        "print(segmenter.runtime, 'torch' in sys.modules, 'monai' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.split() == ["onnxruntime", "False", "False"]


def test_onnx_path_for_refuses_a_missing_changed_or_stale_export(copy_of: Path) -> None:
    card = read_card(copy_of)
    onnx = copy_of.with_suffix(".onnx")
    with pytest.raises(ModelError, match="exported from other weights"):
        onnx_path_for(copy_of, replace(card, sha256="0" * 64))
    with pytest.raises(ModelError, match="records no ONNX export"):
        onnx_path_for(copy_of, replace(card, onnx={}))
    data = bytearray(onnx.read_bytes())
    data[-5] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"'lumboplan_unet\.onnx' does not match its model card"):
        onnx_path_for(copy_of, card)
    onnx.unlink()
    with pytest.raises(ModelError, match=r"'lumboplan_unet\.onnx' is missing\. Reinstall"):
        onnx_path_for(copy_of, card)


def test_a_damaged_export_falls_back_to_torch_or_is_refused_without_it(
    copy_of: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    onnx = copy_of.with_suffix(".onnx")
    onnx.write_bytes(onnx.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        segmenter = Segmenter(copy_of, device="cpu")
    assert segmenter.runtime == "torch"
    assert "Running the model on PyTorch instead" in caplog.text
    monkeypatch.setattr(inference, "_torch_installed", lambda: False)
    with pytest.raises(ModelError, match="does not match its model card"):
        Segmenter(copy_of, device="cpu")


def test_devices_that_need_torch_say_so_where_it_is_missing(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelError, match="Unknown device 'tpu'"):
        Segmenter(exported, device="tpu")
    monkeypatch.setattr(inference, "_torch_installed", lambda: False)
    assert Segmenter(exported, device="auto").runtime == "onnxruntime"
    for device in ("torch-cpu", "cuda"):
        with pytest.raises(ModelError, match="needs PyTorch, which is not installed"):
            Segmenter(exported, device=device)


@pytest.mark.parametrize("shape", [(40, 70, 100), (20, 130, 64), (32, 48, 64)])
def test_the_windowing_is_monais_gaussian_sliding_window(shape: tuple[int, int, int]) -> None:
    """One windowing for every runtime, and MONAI's where its grid is already the fewest."""
    import torch
    from monai.inferers import sliding_window_inference

    class TwoChannels:
        runtime, device = "numpy", "cpu"

        def __call__(self, windows: np.ndarray) -> np.ndarray:
            return np.concatenate([windows, windows**2 + 1], axis=1)

    image = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ours = sliding_window_logits(image, TwoChannels(), (32, 48, 64))
    monai = sliding_window_inference(
        torch.from_numpy(image)[None, None],
        (32, 48, 64),
        1,
        lambda batch: torch.cat([batch, batch**2 + 1], 1),
        overlap=inference.WINDOW_OVERLAP,
        mode="gaussian",
    )[0].numpy()
    assert ours.shape == (2, *shape)
    assert np.abs(ours - monai).max() < 1e-5


@pytest.mark.parametrize("patch", [32, 48, 64])
@pytest.mark.parametrize("size", [20, 64, 65, 100, 114, 154, 214, 300])
def test_the_window_grid_covers_the_axis_with_the_fewest_windows(size: int, patch: int) -> None:
    starts = window_starts(max(size, patch), patch)
    size = max(size, patch)
    monai_step = int(patch * (1 - inference.WINDOW_OVERLAP))
    monai_count = -(-(size - patch) // monai_step) + 1
    assert starts[0] == 0
    assert starts[-1] == size - patch
    assert starts == sorted(set(starts))
    assert len(starts) <= monai_count
    least = math.ceil(inference.WINDOW_MIN_OVERLAP * patch)
    if len(starts) < monai_count:  # fewer than MONAI: evenly spread, each overlap large enough
        gaps = np.diff(starts)
        assert gaps.max() - gaps.min() <= 1
        assert patch - gaps.max() >= least
        assert (len(starts) - 2) * (patch - least) + patch < size  # one window fewer cannot


def test_the_blend_of_an_identity_network_is_the_image_on_any_grid() -> None:
    class Identity:
        runtime, device = "numpy", "cpu"

        def __call__(self, windows: np.ndarray) -> np.ndarray:
            return windows.copy()

    image = np.random.default_rng(2).standard_normal((40, 154, 214)).astype(np.float32)
    assert len(window_starts(214, 64)) == 4  # MONAI's grid has 5 here
    blended = sliding_window_logits(image, Identity(), (32, 64, 64))
    assert np.abs(blended[0] - image).max() < 1e-5


def test_the_shipped_model_and_demo_are_found_and_the_export_matches() -> None:
    assert DEFAULT_WEIGHTS == SHIPPED_WEIGHTS
    assert SHIPPED_WEIGHTS.is_file(), "model_weights/ is not where the package looks"
    assert (DEMO_SCAN / "..").resolve().name == "case_00057"
    assert DEMO_SCAN.is_dir(), "resources/ is not where the package looks"
    card = read_card(SHIPPED_WEIGHTS)
    path = onnx_path_for(SHIPPED_WEIGHTS, card)  # raises: run `lumboplan export-onnx`
    assert path.name == "lumboplan_unet.onnx"
