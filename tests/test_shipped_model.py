"""The shipped weights and their card: intact, truthful about the data, metrics measured."""

from __future__ import annotations

import re

import pytest

from lumboplan_app.labels import Structure
from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, read_card

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights")

STRUCTURES = [s.name.lower() for s in Structure if s != Structure.BACKGROUND]


def test_the_shipped_card_matches_its_weights_and_says_the_data_is_synthetic() -> None:
    card = read_card(DEFAULT_WEIGHTS)  # checks the SHA-256 and the class ids
    assert "synthetic" in card.training_data
    assert "no patient data" in card.training_data
    assert card.extra["stopped_at_step"] == card.extra["fold_results"]["0"]["steps"]


def test_the_held_out_table_covers_every_structure_on_unseen_seeds() -> None:
    card = read_card(DEFAULT_WEIGHTS)
    held_out = card.metrics["held_out"]
    assert held_out["cases"] >= 20
    first, last = (int(n) for n in re.findall(r"\d+", held_out["seeds"])[:2])
    trained_on = range(1000, 1120)  # "seeds 1000-1119" in training_data
    assert "seeds 1000-1119" in card.training_data
    assert not set(range(first, last + 1)) & set(trained_on)
    for structure in STRUCTURES:
        row = held_out["per_structure"][structure]
        assert set(row) == {"dice", "precision", "recall", "hd95_mm"}
        assert 0.0 < row["dice"] <= 1.0
        assert row["hd95_mm"] >= 0.0
        # Dice is the harmonic mean of precision and recall per case; over cases it lies
        # between the smaller and the larger of their means, within rounding.
        assert min(row["precision"], row["recall"]) - 0.02 <= row["dice"]
        assert row["dice"] <= max(row["precision"], row["recall"]) + 0.02
    mean = sum(held_out["per_structure"][s]["dice"] for s in STRUCTURES) / len(STRUCTURES)
    assert held_out["mean_dice"] == pytest.approx(mean, abs=1e-3)
    assert held_out["seconds_per_case_median"] > 0.0


def test_the_cross_validation_dice_is_the_best_point_of_the_learning_curve() -> None:
    card = read_card(DEFAULT_WEIGHTS)
    curve = card.extra["learning_curve"]
    steps = [point["step"] for point in curve]
    assert steps == sorted(steps)
    best = max(curve, key=lambda point: point["validation_dice"]["mean"])
    assert best["validation_dice"]["mean"] == pytest.approx(
        card.metrics["cross_validation_dice"]["mean"]["mean"], abs=1e-3
    )
