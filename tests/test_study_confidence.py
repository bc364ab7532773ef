"""The segmentation's confidence (mirror agreement) and the study of what it foretells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.labels import Structure
from lumboplan_app.segmentation.inference import mirror_agreement
from lumboplan_app.study.cases import COMPARISON_FILE, LabelSource, compare_case, find_study_cases
from lumboplan_app.study.confidence import confidence_summary


def test_mirror_agreement_is_a_dice_per_structure() -> None:
    direct = np.zeros((7, 2, 2, 4), dtype=np.float32)
    direct[Structure.BACKGROUND] = 0.5
    direct[Structure.L5, :, :, :2] = 1.0  # L5 in the first two columns
    mirrored = direct.copy()
    mirrored[Structure.L5, :, :, 1] = 0.0  # the mirrored pass finds only the first column
    agreement = mirror_agreement(direct, mirrored)
    assert agreement[Structure.L5] == pytest.approx(2 * 4 / (8 + 4))
    assert np.isnan(agreement[Structure.DISC])


def test_a_segmented_case_records_its_confidence(phantoms: Path, tmp_path: Path) -> None:
    case = next(c for c in find_study_cases(phantoms) if c.name == "case_22")
    compare_case(tmp_path, case, LabelSource(device="cpu"))  # the shipped model
    comparison = json.loads((tmp_path / COMPARISON_FILE).read_text())
    agreement = comparison["mirror_agreement"]
    assert set(agreement) == {s.name for s in Structure if s != Structure.BACKGROUND}
    found = [v for v in agreement.values() if v is not None]
    assert found
    assert all(0.0 <= v <= 1.0 for v in found)
    for row in comparison["segmentation"]:
        assert row["mirror_agreement"] == agreement[row["structure"]]


def _comparison(case: int, agreement: float, dice: float, wrong: bool) -> dict:
    return {
        "case": f"c{case}",
        "mirror_agreement": {"L5": agreement},
        "segmentation": [{"structure": "L5", "dice": dice, "mirror_agreement": agreement}],
        "plans": {"left": {"group_gt": "A", "group_ai": "B" if wrong else "A"}},
    }


def test_the_study_ranks_confidence_against_dice_and_groups() -> None:
    comparisons = [_comparison(i, 0.5 + 0.1 * i, 0.6 + 0.05 * i, wrong=i < 2) for i in range(5)]
    summary = confidence_summary(comparisons)
    assert summary["dice_vs_confidence"]["L5"]["rho"] == pytest.approx(1.0)
    groups = summary["group_vs_lowest_confidence"]
    assert (groups["wrong_group"]["foramina"], groups["right_group"]["foramina"]) == (2, 3)
    assert groups["wrong_group"]["median"] < groups["right_group"]["median"]
    assert groups["mann_whitney_p"] is not None
    # Labels made elsewhere carry no confidence: nothing to study.
    empty = confidence_summary([{**c, "mirror_agreement": {}} for c in comparisons[:1]])
    assert empty["group_vs_lowest_confidence"]["mann_whitney_p"] is None


def test_the_confidence_file_beside_the_labels() -> None:
    from lumboplan_app.pipeline import confidence_json

    text = confidence_json({Structure.L5: 0.91234, Structure.DISC: float("nan")})
    assert json.loads(text) == {"mirror_agreement": {"L5": 0.9123, "DISC": None}}
