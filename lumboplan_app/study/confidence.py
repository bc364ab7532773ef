"""Does the model's own confidence foretell a low Dice or a wrong group (issue 21, item 4).

The confidence of a structure is its mirror agreement: the Dice between the structure as the
model's direct pass and its mirrored pass label it (:meth:`Segmenter.predict_with_confidence`).
Two questions, answered with SciPy: per structure, Spearman's rank correlation between the
confidence and the Dice over the cases; per foramen, whether the cases' lowest structure
confidence is lower where the AI plan's group differs from the GT plan's (Mann-Whitney U,
two-sided). Cases whose labels were made elsewhere carry no confidence and are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Fewest pairs a rank correlation is computed on.
MIN_PAIRS = 5


def _spearman(x: list[float], y: list[float]) -> dict[str, Any]:
    from scipy.stats import spearmanr

    entry: dict[str, Any] = {"pairs": len(x), "rho": None, "p": None}
    if len(x) >= MIN_PAIRS and np.ptp(x) > 0 and np.ptp(y) > 0:
        result = spearmanr(x, y)
        entry["rho"], entry["p"] = float(result.statistic), float(result.pvalue)
    return entry


def lowest_confidence(comparison: dict[str, Any]) -> float | None:
    """Return a case's lowest structure confidence (None without any)."""
    values = [v for v in comparison.get("mirror_agreement", {}).values() if v is not None]
    return min(values) if values else None


def confidence_summary(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the two analyses over the compared cases (see the module's docstring)."""
    from scipy.stats import mannwhitneyu

    per_structure: dict[str, Any] = {}
    scored: dict[str, list[tuple[float, float]]] = {}
    for comparison in comparisons:
        for row in comparison["segmentation"]:
            if row.get("mirror_agreement") is not None and row["dice"] is not None:
                scored.setdefault(row["structure"], []).append(
                    (row["mirror_agreement"], row["dice"])
                )
    for structure, pairs in scored.items():
        per_structure[structure] = _spearman([p[0] for p in pairs], [p[1] for p in pairs])
    right: list[float] = []
    wrong: list[float] = []
    for comparison in comparisons:
        lowest = lowest_confidence(comparison)
        if lowest is None or comparison["plans"] is None:
            continue
        for entry in comparison["plans"].values():
            (wrong if entry["group_gt"] != entry["group_ai"] else right).append(lowest)
    groups: dict[str, Any] = {
        "right_group": {
            "foramina": len(right),
            "median": float(np.median(right)) if right else None,
        },
        "wrong_group": {
            "foramina": len(wrong),
            "median": float(np.median(wrong)) if wrong else None,
        },
        "mann_whitney_p": None,
    }
    if right and wrong:
        groups["mann_whitney_p"] = float(mannwhitneyu(wrong, right).pvalue)
    return {"dice_vs_confidence": per_structure, "group_vs_lowest_confidence": groups}
