"""The segmentation pipeline on tiny data: model files, preprocessing, training, inference."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.errors import Cancelled, ModelError, UnsuitableScanError
from lumboplan_app.labels import Structure
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.mr import default_contrast
from lumboplan_app.segmentation.inference import (
    Segmenter,
    check_plausible,
    choose_device,
)
from lumboplan_app.segmentation.model_card import ModelCard, card_path_for, read_card
from lumboplan_app.segmentation.postprocess import keep_main_components, most_probable_labels
from lumboplan_app.segmentation.preprocess import PercentileZScore
from lumboplan_app.segmentation.training import (
    poly_learning_rate,
    split_folds,
    train,
)
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume
from tests.conftest import TINY, TINY_SCAN, ramp_volume

pytestmark = pytest.mark.slow


def test_training_lowers_the_loss_and_writes_a_valid_model(trained) -> None:
    lines = [json.loads(line) for line in (trained / "fold_0" / "metrics.jsonl").open()]
    assert [line["step"] for line in lines] == [6, 12]
    assert lines[-1]["loss"] < lines[0]["loss"]
    card = read_card(trained / "lumboplan_unet.safetensors")  # hash and classes checked
    assert card.features == TINY.features
    assert card.spacing_mm == TINY.spacing_mm
    assert card.training_data == TINY.training_data
    assert set(card.metrics["cross_validation_dice"]) >= {"l5", "nerves", "mean"}
    assert card.extra["training"]["seed"] == 0
    assert card.extra["versions"]["torch"]
    curve = card.extra["learning_curve"]  # from the fold's validation log, not written by hand
    assert curve
    assert [point["step"] for point in curve] == sorted(point["step"] for point in curve)
    assert set(curve[-1]["validation_dice"]) >= {"l5", "mean"}
    assert not list(trained.glob("loaded-cases-*"))  # the mapped cases are removed when done


def test_training_resumes_from_its_checkpoint(phantoms, tmp_path: Path) -> None:
    # Stopped after 6 steps and resumed to 12, on the same 12-step schedule: the same patches
    # and so the same weights as training 12 steps at once (nothing random is left behind).
    import torch

    done: list[float] = []
    with pytest.raises(Cancelled):
        train(
            [phantoms],
            tmp_path / "resumed",
            TINY,
            progress=lambda fraction, _: done.append(fraction),
            should_cancel=lambda: len(done) >= 6,
        )
    train([phantoms], tmp_path / "resumed", TINY)
    log = tmp_path / "resumed" / "fold_0" / "metrics.jsonl"
    assert [json.loads(line)["step"] for line in log.open()] == [6, 12]
    train([phantoms], tmp_path / "straight", TINY)
    resumed, straight = (
        torch.load(tmp_path / name / "fold_0" / "checkpoint.pt", weights_only=True)["model"]
        for name in ("resumed", "straight")
    )
    assert all(torch.allclose(resumed[key], straight[key], atol=1e-6) for key in straight)


def test_a_checkpoint_that_would_run_code_is_refused_and_never_run(
    phantoms, tmp_path: Path
) -> None:
    import pickle

    from lumboplan_app.errors import ModelError

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "fold_0").mkdir()
    (tmp_path / "fold_0" / "checkpoint.pt").write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(ModelError, match="delete it"):
        train([phantoms], tmp_path, replace(TINY, max_steps=2))
    assert not marker.exists()


def test_inference_returns_labels_on_the_scan_grid(trained, phantoms) -> None:
    segmenter = Segmenter(trained / "lumboplan_unet.safetensors", device="cpu")
    from lumboplan_app.io import read_scan

    volume = read_scan(phantoms / "case_21" / "image.nii.gz")
    reports: list[float] = []
    labels = segmenter.predict_labels(volume, progress=lambda f, t: reports.append(f))
    assert labels.grid.matches(volume.grid)
    assert labels.array.shape == volume.array.shape
    assert set(np.unique(labels.array)) <= {int(s) for s in Structure}
    assert reports
    assert reports == sorted(reports)


def test_tampered_or_orphaned_weights_are_refused(trained, tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes((trained / "lumboplan_unet.safetensors").read_bytes())
    card_path_for(weights).write_text(
        card_path_for(trained / "lumboplan_unet.safetensors").read_text()
    )
    assert read_card(weights).sha256
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256 differs"):
        Segmenter(weights, device="cpu")
    card_path_for(weights).unlink()
    with pytest.raises(ModelError, match=r"card .* is missing"):
        Segmenter(weights, device="cpu")
    with pytest.raises(ModelError, match=r"weights 'none\.safetensors' are missing"):
        Segmenter(tmp_path / "none.safetensors", device="cpu")


def test_a_card_for_other_classes_is_refused(trained, tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes((trained / "lumboplan_unet.safetensors").read_bytes())
    card = json.loads(card_path_for(trained / "lumboplan_unet.safetensors").read_text())
    card["class_ids"] = {"background": 0, "liver": 1}
    card_path_for(weights).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="other structures"):
        read_card(weights)


def test_ct_is_refused_before_the_network_runs(trained) -> None:
    segmenter = Segmenter(trained / "lumboplan_unet.safetensors", device="cpu")
    grid = Grid((20, 20, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    ct = Volume(np.full(grid.shape_zyx, -1000.0, np.float32), grid, ScanMeta(modality="CT"))
    with pytest.raises(UnsuitableScanError, match="CT"):
        segmenter.segment(ct)


def test_a_few_thick_slices_are_refused_before_the_network_runs(trained) -> None:
    segmenter = Segmenter(trained / "lumboplan_unet.safetensors", device="cpu")
    grid = Grid((4, 128, 128), (1.0, 1.0, 5.0), (0.0, 0.0, 0.0))  # 4 slices of 5 mm: 20 mm
    few_slices = ramp_volume(grid)
    with pytest.raises(UnsuitableScanError, match="covers only 20 mm"):
        segmenter.segment(few_slices)


def test_a_2d_image_is_refused_by_segment(make_series, trained, tmp_path: Path, capsys) -> None:
    single = make_series(grid=Grid((1, 40, 40), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    weights = trained / "lumboplan_unet.safetensors"
    status = main(
        ["segment", str(single), "-o", str(tmp_path / "l.nii.gz"), "--weights", str(weights)]
    )
    assert status == 1
    assert "single 2-D image" in capsys.readouterr().err


def test_labels_without_anatomy_are_not_handed_on() -> None:
    grid = Grid((30, 30, 30), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(ModelError, match="No plausible L5 vertebra, S1 vertebra"):
        check_plausible(LabelMap(np.zeros(grid.shape_zyx, np.uint8), grid))


def _steep_sacrum() -> LabelMap:
    """L5 above the disc, S1 below it and rising behind it (a steep sacral slope), 1 mm voxels.

    Array order (z, y, x) on an identity grid: z is the patient's superior axis, y posterior.
    """
    labels = np.zeros((80, 90, 40), dtype=np.uint8)
    labels[50:75, 20:50, 5:35] = Structure.L5
    labels[42:50, 25:55, 5:35] = Structure.DISC
    labels[30:42, 25:55, 5:35] = Structure.S1  # the body under the disc
    labels[30:75, 58:80, 5:35] = Structure.S1  # behind the disc, up toward the L5 pedicles
    return LabelMap(labels, Grid(labels.shape, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))


def test_a_steep_sacrum_whose_centre_is_level_with_the_disc_is_plausible() -> None:
    labels = _steep_sacrum()
    s1_height, disc_height = (np.argwhere(labels.array == s)[:, 0].mean() for s in (3, 2))
    assert s1_height > disc_height  # S1's centre lies above the disc's
    check_plausible(labels)  # yet the disc lies between L5 and S1 along the line joining them


def test_a_disc_above_l5_or_a_spine_upside_down_is_out_of_order() -> None:
    labels = _steep_sacrum()
    disc_on_top = labels.array.copy()
    disc_on_top[disc_on_top == Structure.DISC] = Structure.BACKGROUND
    disc_on_top[75:80, 20:50, 5:35] = Structure.DISC  # on L5's upper endplate: the L4/L5 disc
    upside_down = labels.array[::-1].copy()  # S1 above L5
    for array in (disc_on_top, upside_down):
        with pytest.raises(ModelError, match="not found between L5 and S1"):
            check_plausible(LabelMap(array, labels.grid))


def test_true_phantom_labels_are_plausible() -> None:
    case = generate_case(5, acquisition=TINY_SCAN, contrast=default_contrast())
    check_plausible(case.labels)


def test_normalisation_and_folds() -> None:
    values = np.random.default_rng(0).normal(100.0, 20.0, (8, 8, 8))
    normalised = PercentileZScore()(values)
    assert normalised.dtype == np.float32
    assert abs(float(normalised.mean())) < 1e-5
    assert abs(float(normalised.std()) - 1) < 1e-4
    assert not PercentileZScore()(np.ones((4, 4, 4))).any()
    folds = split_folds(10, 5, seed=1)
    assert sorted(i for fold in folds for i in fold) == list(range(10))
    assert folds == split_folds(10, 5, seed=1)


def test_patches_the_network_cannot_take_are_refused(phantoms, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="multiple of 16"):
        train([phantoms], tmp_path, replace(TINY, patch_size=(24, 24, 24)))


def test_device_choice() -> None:
    assert choose_device("cpu").type == "cpu"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="No CUDA GPU"):
            choose_device("cuda")


def test_card_round_trip() -> None:
    card = ModelCard(metrics={"x": 1}, sha256="ab")
    assert ModelCard.from_json(json.loads(json.dumps(card.to_json()))) == card
    with pytest.raises(ModelError, match="schema"):
        ModelCard.from_json({"schema": "other/1"})


def test_learning_rate_decays_to_zero_on_a_schedule_resumable_from_the_step() -> None:
    assert poly_learning_rate(1e-3, 0, 100) == pytest.approx(1e-3)
    assert poly_learning_rate(1e-3, 50, 100) == pytest.approx(1e-3 * 0.5**0.9)
    assert poly_learning_rate(1e-3, 100, 100) == 0.0
    assert poly_learning_rate(1e-3, 120, 100) == 0.0


def test_train_off_a_terminal_logs_its_progress_in_lines(phantoms, tmp_path: Path, capsys) -> None:
    from lumboplan_app.cli import main

    arguments = ["train", str(phantoms), "-o", str(tmp_path / "model"), "--folds", "3"]
    arguments += ["--fold", "0", "--steps", "4", "--patch", "32", "--spacing", "4"]
    arguments += ["--features", "4,4,8,8,16,4", "--validate-every", "2", "--device", "cpu"]
    assert main([*arguments, "--workers", "2"]) == 0  # the patches made by two processes
    assert not list((tmp_path / "model").rglob("worker-files*"))  # the workers' files removed
    assert (
        read_card(tmp_path / "model" / "lumboplan_unet.safetensors").extra["training"]["workers"]
        == 2
    )
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("Training: ")
    assert lines[-1].startswith("Training: 100% fold 0 loss ")
    assert len(lines) <= 101


def test_probabilities_come_back_with_boundaries_finer_than_the_model_voxels() -> None:
    # A 2 mm model grid whose class-1 probability rises linearly along x and crosses one half at
    # x = 10.3 mm; on a 0.5 mm scan grid the label must switch there, not at a 2 mm step.
    coarse = Grid((4, 4, 16), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    x_mm = np.arange(16) * 2.0
    class_one = np.clip(0.5 + (x_mm - 10.3) / 8.0, 0.0, 1.0)
    probabilities = np.zeros((3, 4, 4, 16), dtype=np.float32)
    probabilities[1] = class_one
    probabilities[0] = 1.0 - class_one
    fine = Grid((2, 2, 80), (0.5, 0.5, 0.5), (0.0, 0.0, 0.0))
    labels = most_probable_labels(probabilities, coarse, fine)
    assert labels.grid is fine
    row = labels.array[0, 0]
    fine_x_mm = np.arange(80) * 0.5
    assert (row[fine_x_mm < 10.0] == 0).all()
    assert (row[(fine_x_mm > 10.5) & (fine_x_mm <= 30.0)] == 1).all()
    assert (row[fine_x_mm > 30.5] == 0).all()  # beyond the model grid: background


def test_the_skin_keeps_both_arcs_a_field_of_view_cuts_it_into() -> None:
    labels = np.zeros((20, 40, 40), dtype=np.uint8)
    labels[:, 2:4, 5:35] = Structure.SKIN  # front arc
    labels[:, 36:38, 8:32] = Structure.SKIN  # back arc, the smaller
    labels[5, 20, 20] = Structure.SKIN  # a speck inside the body
    labels[2:6, 10:14, 10:14] = Structure.L5
    labels[10:18, 10:18, 20:28] = Structure.L5  # the larger L5 piece
    cleaned = keep_main_components(labels)
    assert (cleaned[:, 36:38, 8:32] == Structure.SKIN).all()
    assert (cleaned[:, 2:4, 5:35] == Structure.SKIN).all()
    assert cleaned[5, 20, 20] == Structure.BACKGROUND
    assert (cleaned[2:6, 10:14, 10:14] == Structure.BACKGROUND).all()
    assert (cleaned[10:18, 10:18, 20:28] == Structure.L5).all()


def test_training_starts_from_given_weights(trained, phantoms, tmp_path: Path) -> None:
    # With a zero learning rate nothing moves: the best weights are exactly the given ones.
    from safetensors.torch import load_file

    given = trained / "lumboplan_unet.safetensors"
    config = replace(TINY, max_steps=2, validate_every=2, learning_rate=0.0)
    card = train([phantoms], tmp_path, replace(config, init_weights=str(given)))
    assert card.features == read_card(given).features
    start, end = load_file(str(given)), load_file(str(tmp_path / "lumboplan_unet.safetensors"))
    assert start.keys() == end.keys()
    assert all(bool((start[k] == end[k]).all()) for k in start)


def test_training_mixes_full_and_partial_labels(phantoms, tmp_path: Path) -> None:
    # A "real" folder whose scans label only L5 (1) and another level (255, here S1's voxels).
    from lumboplan_app.io import read_label_map, write_image

    real = tmp_path / "real"
    for seed in (21, 22):
        source = phantoms / f"case_{seed}"
        labels = read_label_map(source / "labels.nii.gz")
        partial = np.zeros_like(labels.array)
        partial[labels.array == Structure.L5] = 1
        partial[labels.array == Structure.S1] = 255
        folder = real / f"real_{seed}"
        folder.mkdir(parents=True)
        (folder / "image.nii.gz").write_bytes((source / "image.nii.gz").read_bytes())
        write_image(LabelMap(partial, labels.grid), folder / "partial_labels.nii.gz")
    config = replace(TINY, folds=5, max_steps=4, validate_every=2, fold=None)
    card = train([phantoms, real], tmp_path / "model", config)
    validated = card.extra["folds"][str(card.extra["final_weights_from_fold"])]
    trained_real = card.extra["real_training_cases"]
    assert sorted(trained_real + card.extra["real_validation_cases"]) == ["real_21", "real_22"]
    assert not set(trained_real) & set(validated)  # the final weights' own fold
    lines = (tmp_path / "model" / "fold_0" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
