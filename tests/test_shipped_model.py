"""The shipped weights and their card: intact, truthful about the data, metrics measured."""

from __future__ import annotations

import re

import pytest

from lumboplan_app.labels import Structure
from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, read_card

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped model weights")

STRUCTURES = [s.name.lower() for s in Structure if s != Structure.BACKGROUND]


def test_the_shipped_card_matches_its_weights_and_says_what_they_saw() -> None:
    card = read_card(DEFAULT_WEIGHTS)  # checks the SHA-256 and the class ids
    assert "synthetic" in card.training_data
    assert card.extra["stopped_at_step"] == card.extra["fold_results"]["0"]["steps"]
    real = card.extra["real_training_cases"] + card.extra["real_validation_cases"]
    if real:  # real scans seen: named, with their sets and the licence caveat
        assert "labelled_t2" in card.training_data
        assert "labelled_waterfat" in card.training_data
        assert "licence" in card.training_data
        assert card.extra["intended_use"]
        assert card.extra["limits"]
    else:
        assert "no patient data" in card.training_data


def _phantom_seeds(card) -> set[int]:
    """Seeds of the phantoms behind the weights, from their card and the card they came from."""
    texts = [card.training_data, card.extra.get("fine_tuned_from", {}).get("training_data", "")]
    seeds: set[int] = set()
    for text in texts:
        for first, last in re.findall(r"seeds (\d+)-(\d+)", text):
            seeds |= set(range(int(first), int(last) + 1))
    return seeds


def test_the_held_out_table_covers_every_structure_on_unseen_seeds() -> None:
    card = read_card(DEFAULT_WEIGHTS)
    held_out = card.metrics["held_out"]
    assert held_out["cases"] >= 20
    first, last = (int(n) for n in re.findall(r"\d+", held_out["seeds"])[:2])
    trained_on = _phantom_seeds(card)
    assert trained_on
    assert not set(range(first, last + 1)) & trained_on
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


def test_the_cross_validation_dice_is_that_of_the_weights_shipped() -> None:
    """Trained weights: the best point of the learning curve; a model soup: its own validation."""
    card = read_card(DEFAULT_WEIGHTS)
    curve = card.extra["learning_curve"]
    steps = [point["step"] for point in curve]
    assert steps == sorted(steps)
    soup = card.extra.get("model_soup")
    if soup is not None:
        assert sum(part["weight"] for part in soup["ingredients"].values()) == pytest.approx(1.0)
        assert soup["validation_dice"] == pytest.approx(
            {name: row["mean"] for name, row in card.metrics["cross_validation_dice"].items()}
        )
    else:
        best = max(curve, key=lambda point: point["validation_dice"]["mean"])
        assert best["validation_dice"]["mean"] == pytest.approx(
            card.metrics["cross_validation_dice"]["mean"]["mean"], abs=1e-3
        )


def test_the_real_scan_table_keeps_the_scans_the_weights_saw_apart() -> None:
    card = read_card(DEFAULT_WEIGHTS)
    real = card.metrics["real"]
    seen = set(card.extra["real_training_cases"] + card.extra["real_validation_cases"])
    for name in ("labelled_t2", "labelled_waterfat"):
        cases = real["sets"][name]["cases"]
        unseen = [case for case in cases if case not in seen]
        summary = real["sets"][name]["summary"]
        assert summary["all"]["cases"] == len(cases)
        if seen & set(cases):
            assert summary["held_out"]["cases"] == len(unseen)
        for row in cases.values():
            assert set(row) >= {"accepted", "l5_body_dice", "disc_dice", "seconds"}
