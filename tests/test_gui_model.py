"""The Model menu (issue 22, item 4): a fine-tuned model chosen, shown, used, refused, undone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.gui import dialogs
from lumboplan_app.gui.main_window import MainWindow  # noqa: F401 (conftest answers its dialogs)
from lumboplan_app.labels import Structure
from lumboplan_app.learning.model_choice import MODEL_KEY, settings_path
from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, file_sha256
from lumboplan_app.volume import LabelMap
from tests.conftest import show_main_window
from tests.test_correction_tools import ball_scene
from tests.test_model_choice import SITE_DATA, copy_model

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights"),
]


@pytest.fixture
def fine_tuned(tmp_path: Path) -> Path:
    """A 'fine-tuned' model: the shipped weights, a card naming the site's data."""
    return copy_model(tmp_path / "site_model", training_data=SITE_DATA)


def test_a_fine_tuned_model_is_chosen_shown_used_and_given_back(
    qtbot, monkeypatch, tmp_path: Path, fine_tuned: Path
) -> None:
    from lumboplan_app.report.pdf import _case_rows
    from lumboplan_app.segmentation import inference

    volume, labels, _ = ball_scene()
    used: list[Path | None] = []

    class RecordingSegmenter:
        def __init__(self, weights) -> None:
            used.append(weights)

        def segment(self, volume, progress=None, should_cancel=None) -> LabelMap:
            return LabelMap(labels.array.copy(), labels.grid)

    monkeypatch.setattr(inference, "Segmenter", RecordingSegmenter)
    shipped_hash = file_sha256(DEFAULT_WEIGHTS)
    window = show_main_window(qtbot, (1200, 800), volume)
    models = window.models
    assert models.label.text() == "Model: shipped"
    assert window.choose_model_action.isEnabled()
    # Model > Use a fine-tuned model…: its card is shown, the status bar names it.
    monkeypatch.setattr(dialogs, "ask_model_file", lambda parent, start: fine_tuned)
    window.choose_model_action.trigger()
    qtbot.waitUntil(lambda: models.card_box is not None and models.card_box.isVisible())
    card = models.card_box.text()
    assert SITE_DATA in card
    assert models.model.card.sha256 in card
    assert "Trained:" in card
    assert "Dice" in card
    models.card_box.accept()
    assert models.label.text() == "Model: fine-tuned, site_model/lumboplan_unet.safetensors"
    assert SITE_DATA in models.label.toolTip()
    assert json.loads(settings_path().read_text())[MODEL_KEY] == str(fine_tuned.resolve())
    # Segment uses it, and the case and its report name it.
    assert window.segment()
    qtbot.waitUntil(lambda: window.state.labels is not None, timeout=10_000)
    assert used == [fine_tuned]
    record = window.session.case_file().model
    assert record["training_data"] == SITE_DATA
    rows = dict(_case_rows(window.session.case_file(), False))
    assert rows["Model trained on"] == SITE_DATA
    assert models.model.card.sha256[:12] in rows["Model"]
    # A broken model is refused in a box, and the fine-tuned model kept.
    broken = copy_model(tmp_path / "broken")
    broken.with_suffix(".json").write_text("{")
    assert not models.choose(broken)
    assert "damaged" in window.error_box.text()
    assert "kept (fine-tuned, site_model" in window.error_box.text()
    assert models.weights == fine_tuned
    window.error_box.accept()
    # Model > Use the shipped model: back, remembered as such; the shipped files never changed.
    window.shipped_model_action.trigger()
    qtbot.waitUntil(lambda: models.card_box.isVisible())
    assert "The shipped model." in models.card_box.text()
    models.card_box.accept()
    assert models.label.text() == "Model: shipped"
    assert json.loads(settings_path().read_text())[MODEL_KEY] is None
    assert file_sha256(DEFAULT_WEIGHTS) == shipped_hash
    assert np.any(window.state.labels.array == Structure.L5)


def test_the_window_starts_with_the_remembered_model_or_says_why_it_cannot(
    qtbot, fine_tuned: Path
) -> None:
    from lumboplan_app.learning.model_choice import load_model, remember_model

    remember_model(load_model(fine_tuned))
    window = show_main_window(qtbot, (1000, 700))
    assert window.models.weights == fine_tuned.resolve()
    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.about_box is not None and window.about_box.isVisible())
    assert SITE_DATA in window.about_box.text()
    window.about_box.accept()
    window.close()
    shutil.rmtree(fine_tuned.parent)  # the model's folder went away
    window = show_main_window(qtbot, (1000, 700))
    assert window.models.label.text() == "Model: shipped"
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible())
    assert "cannot be used" in window.error_box.text()
    assert "segments with the shipped model" in window.error_box.text()
