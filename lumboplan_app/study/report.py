"""The study's PDF: the paper's three tables beside ours, then the plots (reportlab, matplotlib).

Page 1: what was compared, Table 1 (segmentation per structure beside the paper's test Dice)
and the box plots of Dice per structure. Page 2: Table 2 (Line A, alpha, Line B: means, Wilcoxon
P, Pearson r, ICC(2,1) and ICC(3,1) with 95 % intervals, Bland-Altman bias) beside the paper's,
Table 3 (the group confusion table, the false Group A foramina by name) and Table 4 (whether
the model's confidence foretells a low Dice or a wrong group). Page 3: scatter and
Bland-Altman plots of the three measures. Everything is read from ``summary.json``'s content
and ``plans.csv`` / ``segmentation.csv``'s rows, so the report shows what the files hold.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lumboplan_app.atomic import atomic_output
from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.study import paper
from lumboplan_app.study.summary import GROUPS, MEASURES, PLANS_CSV, SEGMENTATION_CSV

_MEASURE_NAMES = {
    "line_a_mm": "Line A (mm)",
    "alpha_deg": "alpha (deg)",
    "line_b_mm": "Line B (mm)",
}
_GROUP_NAMES = {"A": "A", "B": "B", "not_assessable": "not assessable"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _figure_png(figure: Any) -> io.BytesIO:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    buffer.seek(0)
    return buffer


def dice_box_plot(rows: list[dict[str, str]]) -> io.BytesIO:
    """Box plots of Dice per structure (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, values = [], []
    for structure in SEGMENTED_STRUCTURES:
        found = [float(r["dice"]) for r in rows if r["structure"] == structure.name and r["dice"]]
        if found:
            names.append(structure.paper_name)
            values.append(found)
    figure, axes = plt.subplots(figsize=(7.0, 2.8))
    if values:
        axes.boxplot(values, tick_labels=names)
        for index, name in enumerate(names, start=1):
            key = next(s.name for s in Structure if s.paper_name == name)
            if key in paper.TEST_DICE:
                axes.plot(
                    index, paper.TEST_DICE[key], "r^", label="paper (test)" if index == 1 else None
                )
    axes.set_ylabel("Dice")
    axes.set_ylim(0, 1.02)
    plt.setp(axes.get_xticklabels(), rotation=20, ha="right", fontsize=7)
    if values:
        axes.legend(loc="lower left", fontsize=7)
    return _figure_png(figure)


def agreement_plots(rows: list[dict[str, str]]) -> io.BytesIO:
    """Scatter (AI vs GT) and Bland-Altman plots of Line A, alpha and Line B (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(3, 2, figsize=(7.0, 8.4))
    for row, (measure, gt_key, ai_key, which) in enumerate(MEASURES):
        chosen = [
            r
            for r in rows
            if r[gt_key]
            and r[ai_key]
            and (measure == "line_a_mm" or r["group_gt"] == r["group_ai"] == "A")
        ]
        gt = np.array([float(r[gt_key]) for r in chosen])
        ai = np.array([float(r[ai_key]) for r in chosen])
        name = _MEASURE_NAMES[measure]
        scatter, bland = axes[row]
        scatter.set_title(f"{name}: {which} (n = {len(gt)})", fontsize=8)
        bland.set_title(f"{name}: Bland-Altman", fontsize=8)
        scatter.set_xlabel("GT", fontsize=7)
        scatter.set_ylabel("AI", fontsize=7)
        bland.set_xlabel("mean of GT and AI", fontsize=7)
        bland.set_ylabel("AI - GT", fontsize=7)
        if len(gt) == 0:
            scatter.text(0.5, 0.5, "no pairs", ha="center", transform=scatter.transAxes)
            bland.text(0.5, 0.5, "no pairs", ha="center", transform=bland.transAxes)
            continue
        scatter.scatter(gt, ai, s=10)
        low, high = float(min(gt.min(), ai.min())), float(max(gt.max(), ai.max()))
        scatter.plot([low, high], [low, high], "k--", linewidth=0.8)
        difference, mean = ai - gt, (ai + gt) / 2
        bland.scatter(mean, difference, s=10)
        bias = float(difference.mean())
        bland.axhline(bias, color="k", linewidth=0.8)
        if len(gt) > 1:
            spread = 1.96 * float(difference.std(ddof=1))
            for limit in (bias - spread, bias + spread):
                bland.axhline(limit, color="k", linestyle="--", linewidth=0.8)
    figure.tight_layout()
    return _figure_png(figure)


def _n(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _mean_sd(entry: dict[str, Any], digits: int = 3) -> str:
    if entry["mean"] is None:
        return "-"
    sd = "" if entry["sd"] is None else f" +/- {entry['sd']:.{digits}f}"
    return f"{entry['mean']:.{digits}f}{sd}"


def _interval(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "-"
    return f"{entry['value']:.3f} [{entry['low']:.2f}, {entry['high']:.2f}]"


def _segmentation_table(summary: dict[str, Any]) -> list[list[str]]:
    rows = [["structure", "n", "Dice", "precision", "recall", "HD95 mm", "paper test Dice"]]
    for name, scores in summary["segmentation"].items():
        rows.append(
            [
                Structure[name].paper_name,
                str(scores["dice"]["n"]),
                _mean_sd(scores["dice"]),
                _mean_sd(scores["precision"]),
                _mean_sd(scores["recall"]),
                _mean_sd(scores["hd95_mm"], 1),
                _n(paper.TEST_DICE.get(name)),
            ]
        )
    return rows


def _measure_table(summary: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "",
            "n",
            "GT mean",
            "AI mean",
            "Wilcoxon P",
            "Pearson r [95% CI]",
            "ICC(2,1)",
            "ICC(3,1)",
            "bias [LoA]",
        ]
    ]
    for measure, entry in summary["plans"]["measures"].items():
        limits = entry["limits_of_agreement"]
        bias = (
            "-"
            if entry["bias"] is None
            else f"{entry['bias']:.2f} [{limits[0]:.2f}, {limits[1]:.2f}]"
        )
        rows.append(
            [
                _MEASURE_NAMES[measure],
                str(entry["pairs"]),
                _n(entry["mean_gt"], 2),
                _n(entry["mean_ai"], 2),
                _p(entry["wilcoxon_p"]),
                _interval(entry["pearson_r"]),
                _interval(entry["icc_2_1"]),
                _interval(entry["icc_3_1"]),
                bias,
            ]
        )
        gt, ai, p = paper.MEASUREMENTS[measure]
        rows.append(
            [
                "  paper",
                "100" if measure == "line_a_mm" else "-",
                f"{gt:.2f}",
                f"{ai:.2f}",
                f"{p:.3f}",
                "-",
                "-",
                "-",
                "-",
            ]
        )
    return rows


def _group_table(summary: dict[str, Any]) -> list[list[str]]:
    confusion = summary["plans"]["confusion_gt_rows_ai_columns"]
    rows = [["GT \\ AI", *(_GROUP_NAMES[g] for g in GROUPS), "total"]]
    for gt in GROUPS:
        counts = [confusion[gt][ai] for ai in GROUPS]
        rows.append([_GROUP_NAMES[gt], *map(str, counts), str(sum(counts))])
    return rows


def _group_text(summary: dict[str, Any]) -> str:
    plans = summary["plans"]
    confusion = plans["confusion_gt_rows_ai_columns"]
    gt_a = sum(confusion["A"].values())
    gt_b = sum(confusion["B"].values())
    ai_a = sum(confusion[g]["A"] for g in GROUPS)
    agreement = (
        "-" if plans["group_agreement"] is None else f"{100 * plans['group_agreement']:.1f} %"
    )
    false_a = ", ".join(
        f"{f['case']} {f['side']} (GT {f['group_gt']})" for f in plans["false_group_a"]
    )
    return (
        f"Here: {plans['foramina']} foramina; GT {gt_a} A / {gt_b} B; AI {ai_a} A; "
        f"{confusion['A']['B']} of {gt_a} GT-A called B; {confusion['B']['A']} of {gt_b} GT-B "
        f"called A; group agreement {agreement}. "
        f"Paper: {paper.FORAMINA} foramina; GT {paper.GT_GROUP_A} A / "
        f"{paper.FORAMINA - paper.GT_GROUP_A} B; AI {paper.AI_GROUP_A} A / "
        f"{paper.FORAMINA - paper.AI_GROUP_A} B; {paper.GT_A_CALLED_B} of {paper.GT_GROUP_A} "
        f"GT-A called B; {paper.GT_B_CALLED_A} of {paper.FORAMINA - paper.GT_GROUP_A} GT-B "
        f"called A.<br/><b>False Group A</b> (AI A where GT is not): {false_a or 'none'}."
        f"{_exact_text(plans.get('exact'))}"
    )


def _exact_text(exact: dict[str, Any] | None) -> str:
    """Both plans against the plan on the phantom's exact shapes; '' where none is known."""
    if not exact or not exact["foramina"]:
        return ""

    def share(entry: dict[str, Any]) -> str:
        return "-" if entry["agreement"] is None else f"{100 * entry['agreement']:.1f} %"

    false_a = ", ".join(
        f"{f['case']} {f['side']} (exact {f['group_exact']})" for f in exact["false_group_a"]
    )
    return (
        f"<br/><b>Against the exact plan</b> (the placement on the phantom's exact shapes, "
        f"{exact['foramina']} foramina): the GT plan agrees on {share(exact['gt_vs_exact'])}, "
        f"the AI plan on {share(exact['ai_vs_exact'])}; AI A where the exact plan is not: "
        f"{false_a or 'none'}. A GT plan that departs from the exact one is an error of the "
        "voxel reference, not of the AI."
    )


def _confidence_table(summary: dict[str, Any]) -> list[list[str]]:
    rows = [["structure", "cases", "Spearman rho (confidence vs Dice)", "P"]]
    for name, entry in summary["confidence"]["dice_vs_confidence"].items():
        rows.append(
            [Structure[name].paper_name, str(entry["pairs"]), _n(entry["rho"]), _p(entry["p"])]
        )
    return rows


def _confidence_text(summary: dict[str, Any]) -> str:
    groups = summary["confidence"]["group_vs_lowest_confidence"]
    right, wrong = groups["right_group"], groups["wrong_group"]
    if not right["foramina"] and not wrong["foramina"]:
        if summary["confidence"]["dice_vs_confidence"]:
            return "No foramina compared: whether confidence foretells a wrong group is unstudied."
        return "No confidence recorded (AI labels made elsewhere): not studied."
    return (
        f"Lowest structure confidence of the case, median: {_n(wrong['median'])} on "
        f"{wrong['foramina']} foramina with a wrong AI group, {_n(right['median'])} on "
        f"{right['foramina']} with the right one (Mann-Whitney P {_p(groups['mann_whitney_p'])})."
    )


def write_study_report(summary: dict[str, Any], path: Path) -> None:
    """Write the study's PDF from ``summary`` and the CSV tables beside ``path``."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)

    def table(rows: list[list[str]], font: float = 7.5) -> Table:
        result = Table(rows, repeatRows=1)
        result.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), font),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ]
            )
        )
        return result

    folder = path.parent
    model = summary["ai_labels"]
    shown = {k: v for k, v in model.items() if k not in ("sha256", "training_data")}
    if "sha256" in model:
        shown["SHA-256"] = model["sha256"][:12]
    model_text = ", ".join(f"{k}: {v}" for k, v in shown.items())
    failures = "; ".join(f"{f['case']}: {f['reason']}" for f in summary["failures"]) or "none"
    refused = ", ".join(summary["model_refused"]) or "none"
    story: list[Any] = [
        Paragraph("LumboPlan validation study: AI vs ground truth", styles["Title"]),
        Paragraph(
            f"Data: {summary['data']} ({summary['cases_compared']} of {summary['cases']} cases "
            f"compared). AI labels: {model_text}. LumboPlan {summary['lumboplan']}. "
            f"Median {_n(summary['seconds_per_case_median'], 1)} s per case. "
            f"Failed: {failures}. Segmentation refused by the plausibility check (scored "
            f"anyway): {refused}. {summary['plans_note']}",
            small,
        ),
        Paragraph(
            "Reference: Zhu et al., Pain Physician 2024;27:E245 (the paper's test-set Dice is a "
            "mean over 5-fold cross-validation; its measurements were made in Mimics/3-matic "
            "on 100 foramina).",
            small,
        ),
        Spacer(1, 3 * mm),
        Paragraph(
            "Table 1. Segmentation per structure (mean +/- SD over cases)", styles["Heading3"]
        ),
        table(_segmentation_table(summary)),
        Spacer(1, 2 * mm),
        Paragraph(
            "Partially labelled cases are scored only on what they label: L5 within the labelled "
            "body's box grown 5 mm (not behind its posterior face), and the L5/S1 disc.",
            small,
        ),
        Image(dice_box_plot(_read_csv(folder / SEGMENTATION_CSV)), 170 * mm, 68 * mm),
        PageBreak(),
        Paragraph("Table 2. Measurements on AI-derived vs GT-derived models", styles["Heading3"]),
        Paragraph(summary["plans_note"], small),
        table(_measure_table(summary), 6.5),
        Paragraph(
            "Line A on every foramen both plans measured; alpha and Line B on foramina both plans "
            "call Group A (the paper's pairing). Wilcoxon signed-rank and Pearson (SciPy); "
            "ICC(2,1): two-way random, absolute agreement; ICC(3,1): two-way mixed, consistency "
            "(pingouin), single measurement, 95 % CI. Bias: mean AI - GT with the 95 % limits of "
            "agreement. '-': not stated by the paper, or undefined for these data.",
            small,
        ),
        Spacer(1, 3 * mm),
        Paragraph("Table 3. Groups: GT (rows) vs AI (columns)", styles["Heading3"]),
        table(_group_table(summary), 8),
        Spacer(1, 2 * mm),
        Paragraph(_group_text(summary), small),
        Spacer(1, 3 * mm),
        Paragraph("Table 4. Does the model's confidence foretell errors?", styles["Heading3"]),
        Paragraph(
            "Confidence of a structure: the Dice between the model's direct and mirrored passes "
            "(1: they agree voxel for voxel).",
            small,
        ),
        table(_confidence_table(summary), 7.5),
        Spacer(1, 2 * mm),
        Paragraph(_confidence_text(summary), small),
        PageBreak(),
        Paragraph("Agreement plots: AI vs GT and Bland-Altman", styles["Heading3"]),
        Image(agreement_plots(_read_csv(folder / PLANS_CSV)), 160 * mm, 192 * mm),
    ]
    with atomic_output(path) as temporary:
        SimpleDocTemplate(
            str(temporary),
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=15 * mm,
            title="LumboPlan validation study",
        ).build(story)
