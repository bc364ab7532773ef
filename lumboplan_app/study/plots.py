"""The study's plots (matplotlib, PNG): Dice per structure, and AI vs GT agreement."""

from __future__ import annotations

import io
from typing import Any

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.study import paper
from lumboplan_app.study.summary import MEASURES

#: How each measure is named on the plots and in the tables.
MEASURE_NAMES = {
    "line_a_mm": "Line A (mm)",
    "alpha_deg": "alpha (deg)",
    "line_b_mm": "Line B (mm)",
}


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
        name = MEASURE_NAMES[measure]
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
