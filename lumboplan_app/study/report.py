"""The study's report, as PDF (reportlab) and as one HTML page: the paper's tables beside ours.

Page 1: what was compared, Table 1 (segmentation per structure beside the paper's test Dice)
and the box plots of Dice per structure. Page 2: Table 2 (Line A, alpha, Line B: means, Wilcoxon
P, Pearson r, ICC(2,1) and ICC(3,1) with 95 % intervals, Bland-Altman bias) beside the paper's,
Table 3 (the group confusion table, the false Group A foramina by name) and Table 4 (whether
the model's confidence foretells a low Dice or a wrong group). Page 3: scatter and
Bland-Altman plots of the three measures. A study that compared no plan (partial labels only, or
every case failed) gets page 1 alone, with the confidence table as Table 2. Everything is read
from ``summary.json``'s content and ``plans.csv`` / ``segmentation.csv``'s rows, so the report
shows what the files hold. The content is built once (:func:`report_blocks`) and rendered by
:func:`write_study_report` (PDF) and :func:`write_study_html` (the same, one self-contained page).
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lumboplan_app.atomic import atomic_output, write_text_atomic
from lumboplan_app.labels import Structure
from lumboplan_app.study import paper
from lumboplan_app.study.plots import MEASURE_NAMES, agreement_plots, dice_box_plot
from lumboplan_app.study.summary import GROUPS, PLANS_CSV, SEGMENTATION_CSV

_GROUP_NAMES = {"A": "A", "B": "B", "not_assessable": "not assessable"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


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
                MEASURE_NAMES[measure],
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
        f"{escape(f['case'])} {f['side']} (GT {f['group_gt']})" for f in plans["false_group_a"]
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
        f"{escape(f['case'])} {f['side']} (exact {f['group_exact']})"
        for f in exact["false_group_a"]
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


@dataclass(frozen=True)
class Block:
    """One piece of the report, rendered alike in the PDF and the HTML.

    ``kind``: "title", "heading", "text" (with <b> and <br/> markup, values escaped), "table"
    (``rows`` of plain text, the first the header; ``font`` its size in the PDF), "image"
    (``png``, ``size_mm`` its width and height in the PDF) or "page" (a page break in the PDF).
    """

    kind: str
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()
    font: float = 7.5
    png: bytes = b""
    size_mm: tuple[float, float] = (0.0, 0.0)


def _text(text: str) -> Block:
    return Block("text", text=text)


def _table(rows: list[list[str]], font: float = 7.5) -> Block:
    return Block("table", rows=tuple(tuple(row) for row in rows), font=font)


def report_blocks(summary: dict[str, Any], folder: Path) -> list[Block]:
    """Return the report's content from ``summary`` and the CSV tables in ``folder``.

    A study that compared no plan (partial labels only, or every case failed) gets its
    segmentation and confidence tables without the empty measurement and group tables and
    agreement plots.
    """
    model = summary["ai_labels"]
    shown = {k: v for k, v in model.items() if k not in ("sha256", "training_data")}
    if "sha256" in model:
        shown["SHA-256"] = model["sha256"][:12]
    model_text = ", ".join(f"{k}: {v}" for k, v in shown.items())
    failures = "; ".join(f"{f['case']}: {f['reason']}" for f in summary["failures"]) or "none"
    refused = ", ".join(summary["model_refused"]) or "none"
    segmentation = [
        Block("title", text="LumboPlan validation study: AI vs ground truth"),
        _text(
            escape(
                f"Data: {summary['data']} ({summary['cases_compared']} of {summary['cases']} "
                f"cases compared). AI labels: {model_text}. LumboPlan {summary['lumboplan']}. "
                f"Median {_n(summary['seconds_per_case_median'], 1)} s per case. "
                f"Failed: {failures}. Segmentation refused by the plausibility check (scored "
                f"anyway): {refused}. {summary['plans_note']}"
            )
        ),
        _text(
            "Reference: Zhu et al., Pain Physician 2024;27:E245 (the paper's test-set Dice is a "
            "mean over 5-fold cross-validation; its measurements were made in Mimics/3-matic "
            "on 100 foramina)."
        ),
        Block("heading", text="Table 1. Segmentation per structure (mean +/- SD over cases)"),
        _table(_segmentation_table(summary)),
        _text(
            "Partially labelled cases are scored only on what they label: L5 within the labelled "
            "body's box grown 5 mm (not behind its posterior face, taken in each axial slice), "
            "and the L5/S1 disc."
        ),
        Block(
            "image",
            png=dice_box_plot(_read_csv(folder / SEGMENTATION_CSV)).getvalue(),
            size_mm=(170, 68),
        ),
    ]
    confidence = [
        _text(
            "Confidence of a structure: the Dice between the model's direct and mirrored passes "
            "(1: they agree voxel for voxel)."
        ),
        _table(_confidence_table(summary), 7.5),
        _text(_confidence_text(summary)),
    ]
    if not summary["plans"]["foramina"]:
        return [
            *segmentation,
            _text(
                "No foramen was measured on both plans, so the measurement and group tables and "
                "the agreement plots are left out."
            ),
            Block("heading", text="Table 2. Does the model's confidence foretell errors?"),
            *confidence,
        ]
    return [
        *segmentation,
        Block("page"),
        Block("heading", text="Table 2. Measurements on AI-derived vs GT-derived models"),
        _text(escape(summary["plans_note"])),
        _table(_measure_table(summary), 6.5),
        _text(
            "Line A on every foramen both plans measured; alpha and Line B on foramina both plans "
            "call Group A (the paper's pairing). Wilcoxon signed-rank and Pearson (SciPy); "
            "ICC(2,1): two-way random, absolute agreement; ICC(3,1): two-way mixed, consistency "
            "(pingouin), single measurement, 95 % CI. Bias: mean AI - GT with the 95 % limits of "
            "agreement. '-': not stated by the paper, or undefined for these data."
        ),
        Block("heading", text="Table 3. Groups: GT (rows) vs AI (columns)"),
        _table(_group_table(summary), 8),
        _text(_group_text(summary)),
        Block("heading", text="Table 4. Does the model's confidence foretell errors?"),
        *confidence,
        Block("page"),
        Block("heading", text="Agreement plots: AI vs GT and Bland-Altman"),
        Block(
            "image",
            png=agreement_plots(_read_csv(folder / PLANS_CSV)).getvalue(),
            size_mm=(160, 192),
        ),
    ]


def write_study_report(blocks: list[Block], path: Path) -> None:
    """Write ``blocks`` as the study's PDF at ``path`` (A4, atomically)."""
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
    story: list[Any] = []
    for block in blocks:
        if block.kind == "title":
            story.append(Paragraph(block.text, styles["Title"]))
        elif block.kind == "heading":
            story += [Spacer(1, 3 * mm), Paragraph(block.text, styles["Heading3"])]
        elif block.kind == "text":
            story += [Paragraph(block.text, small), Spacer(1, 1 * mm)]
        elif block.kind == "table":
            table = Table([list(row) for row in block.rows], repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("FONTSIZE", (0, 0), (-1, -1), block.font),
                        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ]
                )
            )
            story += [table, Spacer(1, 2 * mm)]
        elif block.kind == "image":
            width, height = block.size_mm
            story.append(Image(io.BytesIO(block.png), width * mm, height * mm))
        elif block.kind == "page":
            story.append(PageBreak())
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


_HTML_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;font-size:14px}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:2px 6px}"
    "th{background:#f2f2f2}img{max-width:100%}"
)


def write_study_html(blocks: list[Block], path: Path) -> None:
    """Write ``blocks`` as one self-contained HTML page at ``path`` (plots inlined as PNG)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>LumboPlan validation study</title><style>{_HTML_STYLE}</style></head><body>",
    ]
    for block in blocks:
        if block.kind == "title":
            parts.append(f"<h1>{block.text}</h1>")
        elif block.kind == "heading":
            parts.append(f"<h3>{block.text}</h3>")
        elif block.kind == "text":
            parts.append(f"<p>{block.text}</p>")
        elif block.kind == "table":
            header, *body = block.rows
            parts.append("<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in header) + "</tr>")
            parts += [
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body
            ]
            parts.append("</table>")
        elif block.kind == "image":
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(f'<img alt="plot" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    write_text_atomic(path, "\n".join(parts) + "\n")
