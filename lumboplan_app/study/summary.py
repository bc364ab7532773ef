"""The study's tables and statistics, rebuilt from the case folders' ``comparison.json``.

``segmentation.csv``: one row per case and scored structure. ``plans.csv``: one row per
foramen of a fully labelled case (GT and AI group, Line A, alpha, Line B, the distance between
the points b). ``summary.json`` (schema ``lumboplan.validation/1``): per structure the mean and
standard deviation of each score; the paired statistics of Line A (every foramen both plans
measured) and of alpha and Line B (foramina both plans call Group A), as the paper pairs them;
the group confusion table with the false Group A foramina named, and, on phantoms, both plans
against the plan on the exact shapes (:func:`exact_summary`); whether the model's confidence
foretells a low Dice or a wrong group (:mod:`.confidence`); the failures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.labels import SEGMENTED_STRUCTURES
from lumboplan_app.pipeline import csv_text, finished_cases, write_failures
from lumboplan_app.study.cases import COMPARISON_FILE
from lumboplan_app.study.confidence import confidence_summary
from lumboplan_app.study.statistics import agreement

SUMMARY_SCHEMA = "lumboplan.validation/1"
SEGMENTATION_CSV = "segmentation.csv"
PLANS_CSV = "plans.csv"
SUMMARY_JSON = "summary.json"
SCORES = ("dice", "precision", "recall", "hd95_mm", "predicted_ml", "true_ml")
SEGMENTATION_COLUMNS = ("case", "labels", "structure", *SCORES, "mirror_agreement")
PLAN_COLUMNS = (
    "case",
    "side",
    "group_gt",
    "group_ai",
    "line_a_gt_mm",
    "line_a_ai_mm",
    "alpha_gt_deg",
    "alpha_ai_deg",
    "line_b_gt_mm",
    "line_b_ai_mm",
    "point_b_distance_mm",
    "group_exact",
)
GROUPS = ("A", "B", "not_assessable")
#: (measure, GT column, AI column, which foramina): the paper's pairing.
MEASURES = (
    ("line_a_mm", "line_a_gt_mm", "line_a_ai_mm", "every foramen both plans measured"),
    ("alpha_deg", "alpha_gt_deg", "alpha_ai_deg", "foramina both plans call Group A"),
    ("line_b_mm", "line_b_gt_mm", "line_b_ai_mm", "foramina both plans call Group A"),
)


def read_comparisons(output: Path, names: list[str]) -> list[dict[str, Any]]:
    """Return the ``comparison.json`` of each finished case of ``names``, in order."""
    return [
        json.loads((output / name / COMPARISON_FILE).read_text(encoding="utf-8"))
        for name in finished_cases(output, names)
    ]


def segmentation_rows(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per case and scored structure."""
    return [
        {"case": c["case"], "labels": c["labels"], **score}
        for c in comparisons
        for score in c["segmentation"]
    ]


def plan_rows(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per foramen of the cases whose plans were compared."""
    return [
        {"case": c["case"], "side": side, "group_exact": None, **entry}
        for c in comparisons
        if c["plans"] is not None
        for side, entry in c["plans"].items()
    ]


def _mean_sd(values: list[float | None]) -> dict[str, Any]:
    found = [v for v in values if v is not None]
    if not found:
        return {"n": 0, "mean": None, "sd": None}
    sd = float(np.std(found, ddof=1)) if len(found) > 1 else None
    return {"n": len(found), "mean": float(np.mean(found)), "sd": sd}


def segmentation_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per structure (paper's order), each score's count, mean and standard deviation."""
    summary = {}
    for structure in SEGMENTED_STRUCTURES:
        mine = [r for r in rows if r["structure"] == structure.name]
        if mine:
            summary[structure.name] = {s: _mean_sd([r[s] for r in mine]) for s in SCORES}
    return summary


def _confusion(rows: list[dict[str, Any]], row_key: str, column_key: str) -> dict[str, Any]:
    table = {group: dict.fromkeys(GROUPS, 0) for group in GROUPS}
    for r in rows:
        table[r[row_key]][r[column_key]] += 1
    agree = sum(table[g][g] for g in GROUPS)
    return {"table": table, "agreement": agree / len(rows) if rows else None}


def exact_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Both plans against the plan on the phantom's exact shapes, where a case has one.

    Tells the errors of the voxel reference (GT labels vs exact) from those of the AI (AI
    labels vs exact); a false Group A here is an AI A where the exact plan is not A.
    """
    known = [r for r in rows if r.get("group_exact") is not None]
    return {
        "foramina": len(known),
        "gt_vs_exact": _confusion(known, "group_exact", "group_gt"),
        "ai_vs_exact": _confusion(known, "group_exact", "group_ai"),
        "false_group_a": [
            {"case": r["case"], "side": r["side"], "group_exact": r["group_exact"]}
            for r in known
            if r["group_ai"] == "A" and r["group_exact"] != "A"
        ],
    }


def plan_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the paired statistics of each measure and the group confusion tables."""
    measures = {}
    for measure, gt_key, ai_key, which in MEASURES:
        chosen = [
            r
            for r in rows
            if r[gt_key] is not None
            and r[ai_key] is not None
            and (measure == "line_a_mm" or r["group_gt"] == r["group_ai"] == "A")
        ]
        stats = agreement([r[gt_key] for r in chosen], [r[ai_key] for r in chosen])
        measures[measure] = {"foramina": which, **stats.to_json()}
    confusion = _confusion(rows, "group_gt", "group_ai")
    return {
        "foramina": len(rows),
        "measures": measures,
        "confusion_gt_rows_ai_columns": confusion["table"],
        "group_agreement": confusion["agreement"],
        "false_group_a": [
            {
                "case": r["case"],
                "side": r["side"],
                "group_gt": r["group_gt"],
                "group_exact": r.get("group_exact"),
            }
            for r in rows
            if r["group_ai"] == "A" and r["group_gt"] != "A"
        ],
        "exact": exact_summary(rows),
    }


def write_summary(output: Path, names: list[str], about: dict[str, Any]) -> dict[str, Any]:
    """Write the CSV tables, ``failures.csv`` and ``summary.json``; return the summary.

    ``about`` (the data, the model, the command's arguments) is stored as it is.
    """
    comparisons = read_comparisons(output, names)
    seg_rows = segmentation_rows(comparisons)
    rows = plan_rows(comparisons)
    write_text_atomic(output / SEGMENTATION_CSV, csv_text(SEGMENTATION_COLUMNS, seg_rows))
    write_text_atomic(output / PLANS_CSV, csv_text(PLAN_COLUMNS, rows))
    failures = write_failures(output, names)
    partial = [c["case"] for c in comparisons if c["labels"] == "partial"]
    seconds = [c["seconds"]["total"] for c in comparisons]
    summary = {
        "schema": SUMMARY_SCHEMA,
        **about,
        "cases": len(names),
        "cases_compared": len(comparisons),
        "cases_partial_labels": partial,
        "plans_note": (
            f"Plans not compared on {len(partial)} partially labelled case(s): a plan needs "
            "every structure labelled."
            if partial
            else "Plans compared on every case."
            if comparisons
            else "No case compared, so no plan either."
        ),
        "model_refused": [c["case"] for c in comparisons if not c["model_accepted"]],
        "seconds_per_case_median": float(np.median(seconds)) if seconds else None,
        "segmentation": segmentation_summary(seg_rows),
        "plans": plan_summary(rows),
        "confidence": confidence_summary(comparisons),
        "failures": failures,
    }
    write_text_atomic(output / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary
