"""The window's model setting (issue 22, item 4): a fine-tuned model chosen, remembered, refused.

The "fine-tuned" model is a copy of the shipped one (weights, card, ONNX export) whose card
names other training data: it loads and runs exactly as the shipped model does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lumboplan_app.errors import ModelError
from lumboplan_app.learning.model_choice import (
    MODEL_KEY,
    load_model,
    model_at_start,
    remember_model,
    remembered_weights,
    settings_path,
)
from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, file_sha256

SITE_DATA = "Fine-tuned on 12 corrected cases of this site (tests)"

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights")


def copy_model(folder: Path, with_onnx: bool = True, **card_changes: object) -> Path:
    """Copy the shipped model into ``folder`` with its card changed; return the weights."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / DEFAULT_WEIGHTS.name
    shutil.copy(DEFAULT_WEIGHTS, weights)
    if with_onnx:
        shutil.copy(DEFAULT_WEIGHTS.with_suffix(".onnx"), folder)
    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    card.update(card_changes)
    weights.with_suffix(".json").write_text(json.dumps(card))
    return weights


@pytest.fixture
def fine_tuned(tmp_path: Path) -> Path:
    """A 'fine-tuned' model: the shipped weights, a card naming the site's data."""
    return copy_model(tmp_path / "site_model", training_data=SITE_DATA)


def test_a_fine_tuned_model_is_remembered_and_used_again_at_start(fine_tuned: Path) -> None:
    shipped_hash = file_sha256(DEFAULT_WEIGHTS)
    model = load_model(fine_tuned)
    assert not model.shipped
    assert model.name == "fine-tuned, site_model/lumboplan_unet.safetensors"
    assert model.runtime == "onnxruntime"
    card = model.description()
    assert SITE_DATA in card
    assert model.card.sha256 in card
    assert "Cross-validation Dice" in card
    assert "Trained: date not recorded" in card
    assert "shipped model stays installed" in card
    assert model.record() == {
        "file": fine_tuned.name,
        "sha256": model.card.sha256,
        "training_data": SITE_DATA,
    }
    remember_model(model)
    assert remembered_weights() == fine_tuned.resolve()
    started, notice = model_at_start()
    assert started is not None
    assert started.weights == fine_tuned.resolve()
    assert notice is None
    remember_model(load_model(None))  # the shipped model: null, whatever the installation
    assert json.loads(settings_path().read_text())[MODEL_KEY] is None
    started, notice = model_at_start()
    assert started is not None
    assert started.shipped
    assert file_sha256(DEFAULT_WEIGHTS) == shipped_hash  # choosing never writes the weights


def test_other_settings_are_kept_and_unreadable_settings_mean_the_shipped_model(
    fine_tuned: Path,
) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "lumboplan.settings/1", "language": "de"}))
    remember_model(load_model(fine_tuned))
    assert json.loads(path.read_text())["language"] == "de"
    for text in ("{not json", "[1, 2]", json.dumps({"schema": "other/9", MODEL_KEY: "x"})):
        path.write_text(text)
        started, notice = model_at_start()
        assert started is not None
        assert started.shipped
        assert notice is None


@pytest.mark.parametrize(
    "damage",
    ["not json", "a list", "wrong hash", "other classes", "no card", "not weights"],
)
def test_a_model_that_does_not_load_is_refused_with_the_reason(tmp_path: Path, damage: str) -> None:
    weights = copy_model(tmp_path / "broken")
    card = weights.with_suffix(".json")
    expected = "damaged or is no LumboPlan model card"
    if damage == "not json":
        card.write_text("{")
    elif damage == "a list":
        card.write_text("[]")
    elif damage == "wrong hash":
        weights = copy_model(tmp_path / "broken", sha256="0" * 64)
        expected = "SHA-256 differs"
    elif damage == "other classes":
        weights = copy_model(tmp_path / "broken", class_ids={"background": 0, "liver": 1})
        expected = "other structures"
    elif damage == "no card":
        card.unlink()
        expected = "is missing beside the weights"
    else:
        weights = card
        expected = "not a model's weights"
    with pytest.raises(ModelError, match=expected):
        load_model(weights)


def test_a_remembered_model_that_no_longer_loads_gives_way_to_the_shipped_one_and_says_so(
    fine_tuned: Path,
) -> None:
    remember_model(load_model(fine_tuned))
    fine_tuned.unlink()
    started, notice = model_at_start()
    assert started is not None
    assert started.shipped
    assert notice is not None
    assert "cannot be used" in notice
    assert "missing" in notice
    assert "shipped model" in notice
    assert remembered_weights() == fine_tuned.resolve()  # kept: the folder may come back


def test_a_model_without_its_onnx_export_runs_on_pytorch_or_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lumboplan_app.segmentation import inference

    weights = copy_model(tmp_path / "trained", with_onnx=False, onnx={})
    monkeypatch.setattr(inference, "_torch_installed", lambda: True)
    model = load_model(weights)
    assert model.runtime == "torch"
    assert "Runs on PyTorch" in model.description()
    monkeypatch.setattr(inference, "_torch_installed", lambda: False)
    with pytest.raises(ModelError, match="export-onnx"):
        load_model(weights)
